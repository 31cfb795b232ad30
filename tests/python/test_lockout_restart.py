"""A failed-login lockout survives a restart of the server (it lives inside the barrier)."""

import requests

from test_server import start


def test_lockout_survives_restart(tmp_path, servers):
    s = start(tmp_path, servers)
    init = requests.put(f"{s.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1})
    key, root = init.json()["keys"][0], init.json()["root_token"]
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    h = {"X-Vault-Token": root}
    assert requests.post(f"{s.url}/v1/sys/auth/userpass", json={"type": "userpass"},
                         headers=h).status_code == 204
    r = requests.post(f"{s.url}/v1/auth/userpass/users/erin",
                      json={"password": "correct horse", "token_policies": ["default"]}, headers=h)
    assert r.status_code == 204, r.text
    login = f"{s.url}/v1/auth/userpass/login/erin"
    for _ in range(5):
        assert requests.post(login, json={"password": "wrong"}).status_code == 400
    locked = requests.post(login, json={"password": "correct horse"})
    assert locked.status_code == 400 and "locked" in locked.json()["errors"][0]

    s.kill()
    s.start()
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    r = requests.post(login, json={"password": "correct horse"})
    assert r.status_code == 400 and "locked" in r.json()["errors"][0]
    assert "auth" not in r.json()
    users = requests.get(f"{s.url}/v1/sys/locked-users", headers=h).json()["data"]
    accessors = users["by_namespace"][0]["mount_accessors"]
    assert any("erin" in a["alias_identifiers"] for a in accessors)
    acc = accessors[0]["mount_accessor"]
    assert requests.post(f"{s.url}/v1/sys/locked-users/{acc}/unlock/erin",
                         headers=h).status_code == 204
    r = requests.post(login, json={"password": "correct horse"})
    assert r.status_code == 200 and r.json()["auth"]["client_token"]
