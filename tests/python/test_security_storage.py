"""What the storage file shows to someone who has it: keys are visible (values are encrypted),
so no token ID or accessor may appear in them."""

import requests

from test_server import start


def test_storage_keys_hold_no_token_or_accessor(tmp_path, servers):
    s = start(tmp_path, servers)
    init = requests.put(f"{s.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": init["keys"][0]})
    h = {"X-Vault-Token": init["root_token"]}
    creds = [init["root_token"]]
    for _ in range(5):
        auth = requests.post(f"{s.url}/v1/auth/token/create", json={"policies": ["default"]}, headers=h).json()["auth"]
        creds += [auth["client_token"], auth["accessor"]]
    accessors = requests.request("LIST", f"{s.url}/v1/auth/token/accessors", headers=h).json()["data"]["keys"]
    assert set(creds[2::2]) <= set(accessors)
    # Lookups by accessor still work through the hashed index.
    r = requests.post(f"{s.url}/v1/auth/token/lookup-accessor", json={"accessor": creds[2]}, headers=h)
    assert r.status_code == 200 and r.json()["data"]["accessor"] == creds[2], r.text
    s.stop()
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("hush.db*"))
    assert blob, "no database file found"
    leaked = [c for c in creds if c.encode() in blob or c.split(".", 1)[-1].encode() in blob]
    assert not leaked, f"{len(leaked)} tokens or accessors appear in the storage file"
