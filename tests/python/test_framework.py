"""Backends on the path framework answer as Vault's do: unknown parameters are named in a
warning, unsupported operations and unknown paths say what the backend serves, and declared
fields are checked before anything is stored."""

import requests

ROOT = {"X-Vault-Token": "root"}


def test_userpass_through_the_path_framework(dev_server):
    url = f"{dev_server.url}/v1"
    assert requests.post(f"{url}/sys/auth/userpass", json={"type": "userpass"},
                         headers=ROOT).status_code == 204
    r = requests.post(f"{url}/auth/userpass/users/alice",
                      json={"password": "pw", "token_ttl": "1h", "colour": "blue"}, headers=ROOT)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [colour]"]
    # Without unknown parameters there is nothing to say.
    r = requests.post(f"{url}/auth/userpass/users/alice", json={"password": "pw2"}, headers=ROOT)
    assert r.status_code == 204, r.text
    r = requests.request("PATCH", f"{url}/auth/userpass/users/alice", json={},
                         headers={**ROOT, "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 405, r.text
    assert "this path accepts GET, POST/PUT and DELETE" in r.json()["errors"][0]
    r = requests.get(f"{url}/auth/userpass/nothing/here", headers=ROOT)
    assert r.status_code == 404
    assert "users/{name}/password" in r.json()["errors"][0]
    # A declared field of the wrong kind is refused and nothing changes.
    r = requests.post(f"{url}/auth/userpass/users/bob", json={"password": ["a", "b"]},
                      headers=ROOT)
    assert r.status_code == 400 and "'password' must be a string, got a list" in r.text, r.text
    assert requests.get(f"{url}/auth/userpass/users/bob", headers=ROOT).status_code == 404
    login = requests.post(f"{url}/auth/userpass/login/ALICE", json={"password": "pw2"})
    assert login.status_code == 200, login.text
    assert login.json()["auth"]["metadata"]["username"] == "alice"


def test_openapi_document_is_valid_and_filtered_by_token(dev_server):
    from openapi_spec_validator import validate

    url = f"{dev_server.url}/v1"
    for kind in ("userpass", "approle", "kubernetes", "jwt"):
        assert requests.post(f"{url}/sys/auth/{kind}", json={"type": kind},
                             headers=ROOT).status_code == 204
    r = requests.get(f"{url}/sys/internal/specs/openapi", headers=ROOT)
    assert r.status_code == 200, r.text
    doc = r.json()
    validate(doc)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ["/auth/userpass/users", "/auth/userpass/users/{name}",
              "/auth/userpass/users/{name}/password", "/auth/userpass/login/{name}",
              "/auth/approle/login", "/auth/approle/role/{role_name}",
              "/auth/approle/role/{role_name}/secret-id", "/auth/approle/role/{role_name}/token-ttl",
              "/auth/kubernetes/config", "/auth/kubernetes/role/{name}", "/auth/kubernetes/login",
              "/auth/jwt/config", "/auth/jwt/role/{name}", "/auth/jwt/login",
              "/sys/internal/specs/openapi"]:
        assert p in paths, sorted(paths)
    assert paths["/auth/userpass/login/{name}"]["x-vault-unauthenticated"] is True
    body = paths["/auth/userpass/users/{name}"]["post"]["requestBody"]
    assert "password" in body["content"]["application/json"]["schema"]["properties"]
    # A token without access to the mount does not see its paths.
    pol = 'path "secret/*" { capabilities = ["read"] }'
    assert requests.put(f"{url}/sys/policies/acl/narrow", json={"policy": pol},
                        headers=ROOT).status_code == 204
    tok = requests.post(f"{url}/auth/token/create", json={"policies": ["narrow"]},
                        headers=ROOT).json()["auth"]["client_token"]
    r = requests.get(f"{url}/sys/internal/specs/openapi", headers={"X-Vault-Token": tok})
    assert r.status_code in (200, 403), r.text
    if r.status_code == 200:
        assert not any(p.startswith("/auth/userpass/") for p in r.json()["paths"])


def test_tuning_a_mount_keeps_check_and_set_exact(dev_server):
    """A tune keeps the engine instance, so check-and-set writes in flight during a tune still
    serialize: every successful write with cas=N creates version N+1, and no N succeeds twice."""
    import threading

    url = f"{dev_server.url}/v1"
    assert requests.post(f"{url}/sys/mounts/cas", json={"type": "kv", "options": {"version": "2"}},
                         headers=ROOT).status_code == 204
    assert requests.post(f"{url}/cas/data/k", json={"data": {"v": "0"}}, headers=ROOT).ok
    results, stop = [], threading.Event()

    def writer():
        s = requests.Session()
        for _ in range(25):
            cur = s.get(f"{url}/cas/data/k", headers=ROOT).json()["data"]["metadata"]["version"]
            r = s.post(f"{url}/cas/data/k", json={"options": {"cas": cur}, "data": {"v": str(cur)}},
                       headers=ROOT)
            if r.ok:
                results.append((cur, r.json()["data"]["version"]))
            else:
                assert r.status_code == 400 and "check-and-set" in r.text, r.text

    def tuner():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            assert s.post(f"{url}/sys/mounts/cas/tune", json={"description": f"tune {i}"},
                          headers=ROOT).status_code == 204

    t = threading.Thread(target=tuner)
    t.start()
    writers = [threading.Thread(target=writer) for _ in range(6)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    t.join()
    assert results
    assert all(after == cas + 1 for cas, after in results), results
    assert len({cas for cas, _ in results}) == len(results)
    final = requests.get(f"{url}/cas/data/k", headers=ROOT).json()["data"]["metadata"]["version"]
    assert final == 1 + len(results)


def test_help_is_served_from_the_path_tables(dev_server):
    url = f"{dev_server.url}/v1"
    r = requests.get(f"{url}/secret/data/app/db?help=1", headers=ROOT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["help"].startswith("## DESCRIPTION")
    assert "PATCH" in body["help"] and "## PARAMETERS" in body["help"]
    assert list(body["openapi"]["paths"]) == ["/secret/data/{path}"]
    # A mount's root lists every path of the backend.
    r = requests.get(f"{url}/secret?help=1", headers=ROOT)
    assert r.status_code == 200, r.text
    assert "metadata/{path**}" in r.json()["help"]
    assert "/secret/metadata/{path}" in r.json()["openapi"]["paths"]
    r = requests.get(f"{url}/sys/mounts/secret?help=1", headers=ROOT)
    assert r.status_code == 200 and "/sys/mounts/{path}" in r.json()["openapi"]["paths"]
    r = requests.get(f"{url}/auth/token/lookup-self?help=1", headers=ROOT)
    assert r.status_code == 200 and "/auth/token/lookup-self" in r.json()["openapi"]["paths"]
    # As in Vault, help needs a valid token but no capability on the path, and reveals no data.
    assert requests.post(f"{url}/secret/data/app/db", json={"data": {"pw": "hidden-value"}},
                         headers=ROOT).status_code == 200
    tok = requests.post(f"{url}/auth/token/create", json={"policies": ["default"]},
                        headers=ROOT).json()["auth"]["client_token"]
    r = requests.get(f"{url}/secret/data/app/db?help=1", headers={"X-Vault-Token": tok})
    assert r.status_code == 200, r.text
    assert "hidden-value" not in r.text
    assert requests.get(f"{url}/secret/data/app/db", headers={"X-Vault-Token": tok}).status_code == 403
    assert requests.get(f"{url}/secret/data/app/db?help=1").status_code == 403
    assert requests.get(f"{url}/secret/data/app/db?help=1",
                        headers={"X-Vault-Token": "not-a-token"}).status_code == 403
    # help=0 is an ordinary read.
    r = requests.get(f"{url}/secret/data/app/db?help=0", headers=ROOT)
    assert r.status_code == 200 and r.json()["data"]["data"] == {"pw": "hidden-value"}
