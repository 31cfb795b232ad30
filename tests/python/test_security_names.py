"""An exact `deny` holds for every spelling of the name it denies.

The pipeline canonicalizes a request path once, before the ACL check, and hands the handler only
that form. Each named object type is attacked with the spellings that handlers used to normalize
after the check (trailing '/', '//', upper case, %20, %2F, spaces): every attempt must be refused
and the object must be unchanged.
"""

import requests

ROOT = "root"

# Spellings of a name: each either canonicalizes to the name (and meets the deny) or is refused.
VARIANTS = [
    lambda n: n + "/",
    lambda n: "/" + n,
    lambda n: n + "//",
    lambda n: n.upper(),
    lambda n: n[0].upper() + n[1:],
    lambda n: "%20" + n,
    lambda n: n + "%20",
    lambda n: n + "%2F",
    lambda n: "%2F" + n,
    lambda n: n + "%2F%2F",
    lambda n: " " + n,
    lambda n: n + " ",
    lambda n: n + "%09",
    lambda n: n + "/.",
    lambda n: n + "/./",
]


def call(server, method, path, token=ROOT, **kw):
    # The path is sent as written: requests keeps percent-escapes and slashes in a prepared URL.
    sess = requests.Session()
    req = requests.Request(method, f"{server.url}/v1/{path}", headers={"X-Vault-Token": token}, **kw)
    prepped = sess.prepare_request(req)
    prepped.url = f"{server.url}/v1/{path.replace(' ', '%20')}"
    return sess.send(prepped, timeout=10)


def ok(resp):
    assert resp.status_code < 300, (resp.status_code, resp.text)
    return resp


def setup(server):
    ok(call(server, "POST", "sys/auth/userpass", json={"type": "userpass"}))
    ok(call(server, "POST", "sys/auth/approle", json={"type": "approle"}))
    ok(call(server, "POST", "auth/userpass/users/admin", json={"password": "admin-pw", "policies": "root-like"}))
    ok(call(server, "POST", "auth/approle/role/builder", json={"token_ttl": "1h"}))
    ok(call(server, "POST", "auth/token/roles/deployer", json={"allowed_policies": ["default"]}))
    ok(call(server, "POST", "sys/policies/acl/target", json={"policy": 'path "a/*" { capabilities = ["read"] }'}))
    ok(call(server, "PUT", "sys/policy/legacy", json={"rules": 'path "b/*" { capabilities = ["read"] }'}))
    ok(call(server, "POST", "sys/mounts/vault", json={"type": "kv", "options": {"version": "2"}}))
    ok(call(server, "POST", "vault/data/db", json={"data": {"password": "s3cret"}}))
    ok(call(server, "POST", "sys/quotas/rate-limit/guard", json={"rate": 100000}))
    denied = [
        "auth/userpass/users/admin",
        "auth/userpass/users/admin/password",
        "auth/userpass/users/admin/policies",
        "auth/approle/role/builder",
        "auth/approle/role/builder/secret-id",
        "auth/token/roles/deployer",
        "auth/token/create/deployer",
        "sys/policies/acl/target",
        "sys/policy/legacy",
        "sys/mounts/vault",
        "sys/mounts/vault/tune",
        "sys/auth/approle",
        "sys/auth/approle/tune",
        "sys/quotas/rate-limit/guard",
    ]
    rules = ['path "*" { capabilities = ["create", "read", "update", "delete", "list", "patch", "sudo"] }']
    rules += [f'path "{p}" {{ capabilities = ["deny"] }}' for p in denied]
    ok(call(server, "POST", "sys/policies/acl/attacker", json={"policy": "\n".join(rules)}))
    tok = ok(call(server, "POST", "auth/token/create", json={"policies": ["attacker"], "no_default_policy": True}))
    return tok.json()["auth"]["client_token"]


def snapshot(server):
    """Everything the attacker is denied, as root sees it."""

    def read(path):
        r = call(server, "GET", path)
        return r.status_code, (r.json().get("data") if r.status_code == 200 else None)

    login = call(server, "POST", "auth/userpass/login/admin", json={"password": "admin-pw"})
    return {
        "user": read("auth/userpass/users/admin"),
        "admin_login": login.status_code,
        "approle": read("auth/approle/role/builder"),
        "approle_secret_ids": call(server, "LIST", "auth/approle/role/builder/secret-id").status_code,
        "token_role": read("auth/token/roles/deployer"),
        "policy": read("sys/policies/acl/target"),
        "legacy": read("sys/policy/legacy"),
        "mount": read("sys/mounts/vault/tune"),
        "kv": (read("vault/data/db")[1] or {}).get("data"),
        "auth": read("sys/auth/approle/tune"),
        "quota": read("sys/quotas/rate-limit/guard"),
    }


# (method, path template with {} for the name, name, body)
ATTACKS = [
    ("POST", "auth/userpass/users/{}", "admin", {"password": "owned", "policies": "root"}),
    ("POST", "auth/userpass/users/{}/password", "admin", {"password": "owned"}),
    ("POST", "auth/userpass/users/{}/policies", "admin", {"policies": "root"}),
    ("DELETE", "auth/userpass/users/{}", "admin", None),
    ("POST", "auth/approle/role/{}", "builder", {"token_ttl": "999h", "token_policies": "root"}),
    ("POST", "auth/approle/role/{}/secret-id", "builder", {}),
    ("DELETE", "auth/approle/role/{}", "builder", None),
    ("POST", "auth/token/roles/{}", "deployer", {"allowed_policies": ["root"]}),
    ("DELETE", "auth/token/roles/{}", "deployer", None),
    ("POST", "sys/policies/acl/{}", "target", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
    ("DELETE", "sys/policies/acl/{}", "target", None),
    ("PUT", "sys/policy/{}", "legacy", {"rules": 'path "*" { capabilities = ["sudo"] }'}),
    ("DELETE", "sys/policy/{}", "legacy", None),
    ("POST", "sys/mounts/{}/tune", "vault", {"default_lease_ttl": "1234s"}),
    ("DELETE", "sys/mounts/{}", "vault", None),
    ("POST", "sys/auth/{}/tune", "approle", {"default_lease_ttl": "1234s"}),
    ("DELETE", "sys/auth/{}", "approle", None),
    ("POST", "sys/quotas/rate-limit/{}", "guard", {"rate": 1000000}),
    ("DELETE", "sys/quotas/rate-limit/{}", "guard", None),
]


def test_exact_deny_holds_for_every_spelling_of_the_name(dev_server):
    attacker = setup(dev_server)
    before = snapshot(dev_server)
    assert before["admin_login"] == 200 and before["kv"] == {"password": "s3cret"}
    # The exact paths themselves are denied.
    for method, template, name, body in ATTACKS:
        r = call(dev_server, method, template.format(name), token=attacker, json=body)
        assert r.status_code == 403, (method, template, r.status_code, r.text)
    failures = []
    for method, template, name, body in ATTACKS:
        for variant in VARIANTS:
            path = template.format(variant(name))
            r = call(dev_server, method, path, token=attacker, json=body)
            spelled = variant(name)
            if r.status_code < 300 and spelled != name and spelled.lower() == name:
                # A case-sensitive name spelled differently is another object: allowed, but it
                # must not have touched the denied one (checked below).
                continue
            if r.status_code not in (400, 403, 404, 405):
                failures.append((method, path, r.status_code, r.text[:200]))
        after = snapshot(dev_server)
        if after != before:
            failures.append(("changed", template, before, after))
            before = after
    assert not failures, failures


def test_canonical_names_reach_the_same_object(dev_server):
    """Root's own requests: the spellings Vault accepts name the object; the others are 400."""
    ok(call(dev_server, "POST", "sys/policies/acl/MixedCase", json={"policy": 'path "x" { capabilities = ["read"] }'}))
    assert ok(call(dev_server, "GET", "sys/policies/acl/mixedcase")).json()["data"]["name"] == "mixedcase"
    ok(call(dev_server, "POST", "sys/mounts/kv2/", json={"type": "kv"}))
    assert "kv2/" in ok(call(dev_server, "GET", "sys/mounts")).json()["data"]
    ok(call(dev_server, "DELETE", "sys/mounts//kv2/"))
    assert "kv2/" not in ok(call(dev_server, "GET", "sys/mounts")).json()["data"]
    for bad in ["sys/policies/acl/%20p", "sys/policies/acl/p%20", "auth/token/roles/..",
                "sys/mounts/%20m", "auth/token/roles/a%20b", "secret/a/../b", "secret/%00x"]:
        r = call(dev_server, "POST", bad, json={"policy": "", "type": "kv", "data": {"a": "b"}})
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.json()["errors"][0], r.text
