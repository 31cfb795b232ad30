"""cubbyhole/: mounted on every server, private to each token, destroyed with the token."""

import hvac
import pytest
import requests

from conftest import sqlite_server


def client(server, token):
    return hvac.Client(url=server.url, token=token)


def raw(server, method, path, token, headers=None, **kw):
    headers = {"X-Vault-Token": token, **(headers or {})}
    return requests.request(method, f"{server.url}/v1/{path}", headers=headers, timeout=10, **kw)


def test_listed_as_a_builtin_that_cannot_be_changed(dev_server):
    root = client(dev_server, "root")
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["cubbyhole/"]["type"] == "cubbyhole"
    assert mounts["cubbyhole/"]["local"] is True
    for method, path, body in [
        ("DELETE", "sys/mounts/cubbyhole", None),
        ("POST", "sys/mounts/cubbyhole", {"type": "kv"}),
        ("POST", "sys/mounts/cubbyhole/tune", {"default_lease_ttl": "1h"}),
        ("POST", "sys/remount", {"from": "cubbyhole", "to": "elsewhere"}),
        ("POST", "sys/remount", {"from": "secret", "to": "cubbyhole"}),
    ]:
        r = raw(dev_server, method, path, "root", json=body)
        assert r.status_code == 400, (method, path, r.text)
        assert "cubbyhole/ is built in" in r.json()["errors"][0]
    r = raw(dev_server, "POST", "sys/mounts/other", "root", json={"type": "cubbyhole"})
    assert r.status_code == 400
    assert 'mount type of "cubbyhole" is not mountable' in r.json()["errors"][0]
    # Still there and working after all of that.
    assert "cubbyhole/" in root.sys.list_mounted_secrets_engines()["data"]
    assert root.sys.read_mount_configuration("cubbyhole")["data"]["default_lease_ttl"] > 0


def test_private_per_token_and_crud(dev_server):
    root = client(dev_server, "root")
    alice = client(dev_server, root.auth.token.create(policies=["default"])["auth"]["client_token"])
    bob = client(dev_server, root.auth.token.create(policies=["default"])["auth"]["client_token"])

    alice.write("cubbyhole/app/db", password="alice-secret", user="alice")
    alice.write("cubbyhole/top", v="1")
    bob.write("cubbyhole/app/db", password="bob-secret")

    assert alice.read("cubbyhole/app/db")["data"] == {"password": "alice-secret", "user": "alice"}
    assert bob.read("cubbyhole/app/db")["data"] == {"password": "bob-secret"}
    # Root's policies reach everything, but not another token's cubbyhole.
    assert root.read("cubbyhole/app/db") is None
    assert root.read("cubbyhole/top") is None

    assert sorted(alice.list("cubbyhole/")["data"]["keys"]) == ["app/", "top"]
    assert alice.list("cubbyhole/app")["data"]["keys"] == ["db"]
    assert bob.list("cubbyhole/")["data"]["keys"] == ["app/"]
    assert raw(dev_server, "LIST", "cubbyhole/nothing", bob.token).status_code == 404

    # A write replaces the whole secret.
    alice.write("cubbyhole/app/db", password="rotated")
    assert alice.read("cubbyhole/app/db")["data"] == {"password": "rotated"}
    alice.delete("cubbyhole/app/db")
    assert alice.read("cubbyhole/app/db") is None
    assert bob.read("cubbyhole/app/db")["data"] == {"password": "bob-secret"}


def test_bad_requests_are_refused_and_change_nothing(dev_server):
    root = client(dev_server, "root")
    token = root.auth.token.create(policies=["default"])["auth"]["client_token"]
    r = raw(dev_server, "POST", "cubbyhole/empty", token, json={})
    assert r.status_code == 400 and "missing data fields" in r.json()["errors"][0]
    r = raw(dev_server, "GET", "cubbyhole/", "root")
    assert r.status_code == 400 and "missing path" in r.json()["errors"][0]
    r = raw(dev_server, "PATCH", "cubbyhole/x", "root", json={"a": "b"},
            headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 405 and "no partial updates" in r.text
    assert raw(dev_server, "LIST", "cubbyhole/", token).status_code == 404
    # No token, no cubbyhole.
    r = requests.get(f"{dev_server.url}/v1/cubbyhole/x", timeout=10)
    assert r.status_code == 403


def test_policy_still_decides_access(dev_server):
    root = client(dev_server, "root")
    root.sys.create_or_update_policy("ro-cubby", 'path "cubbyhole/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["ro-cubby"], no_default_policy=True)["auth"][
        "client_token"
    ]
    r = raw(dev_server, "POST", "cubbyhole/x", token, json={"a": "b"})
    assert r.status_code == 403
    assert raw(dev_server, "GET", "cubbyhole/x", token).status_code == 404


def test_destroyed_with_the_token_and_its_children(dev_server):
    root = client(dev_server, "root")
    root.sys.create_or_update_policy(
        "token-maker", 'path "auth/token/create" { capabilities = ["update"] }'
    )
    parent = client(
        dev_server,
        root.auth.token.create(policies=["default", "token-maker"])["auth"]["client_token"],
    )
    child_token = parent.auth.token.create(policies=["default"])["auth"]["client_token"]
    child = client(dev_server, child_token)
    parent.write("cubbyhole/s", v="parent")
    child.write("cubbyhole/s", v="child")
    root.auth.token.revoke(parent.token)
    # A new token never sees a revoked one's data; the revoked token itself is refused.
    assert raw(dev_server, "GET", "cubbyhole/s", parent.token).status_code == 403
    assert raw(dev_server, "GET", "cubbyhole/s", child_token).status_code == 403


def test_revoked_token_data_is_deleted_and_the_rest_survives_a_kill(tmp_path, servers):
    """The data lives in storage, so it outlives a kill -9; a revoked token's cubbyhole is
    deleted from the database, not merely unreachable."""
    import sqlite3

    server = sqlite_server(tmp_path, servers).start()
    init = hvac.Client(url=server.url).sys.initialize(secret_shares=1, secret_threshold=1)
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    root = client(server, init["root_token"])
    kept = client(server, root.auth.token.create(policies=["default"])["auth"]["client_token"])
    gone = client(server, root.auth.token.create(policies=["default"])["auth"]["client_token"])
    kept.write("cubbyhole/k", v="kept")
    gone.write("cubbyhole/k", v="gone")
    gone.write("cubbyhole/deep/er/k", v="gone")
    root.auth.token.revoke(gone.token)
    server.kill()
    server.start()
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    assert kept.read("cubbyhole/k")["data"] == {"v": "kept"}

    db = sqlite3.connect(tmp_path / "data" / "hush.db")
    keys = [r[0] for r in db.execute("select key from kv where key like '%cubbyhole/%'")]
    db.close()
    assert len(keys) == 1, keys
