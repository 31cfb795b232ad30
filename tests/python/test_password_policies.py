"""sys/policies/password: Vault's password policies, and passwords generated from them."""

import requests

POLICY = """
length = 24
rule "charset" {
  charset   = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 2
}
rule "charset" {
  charset   = "0123456789"
  min-chars = 3
}
rule "charset" {
  charset   = "!@#%"
  min-chars = 1
}
"""


def call(server, method, path, token="root", **kw):
    return requests.request(method, f"{server.url}/v1/{path}", headers={"X-Vault-Token": token},
                            timeout=10, **kw)


def test_write_read_generate_list_delete(dev_server):
    assert call(dev_server, "LIST", "sys/policies/password").status_code == 404
    r = call(dev_server, "PUT", "sys/policies/password/app", json={"policy": POLICY})
    assert r.status_code == 204, r.text
    assert call(dev_server, "GET", "sys/policies/password/app").json()["data"]["policy"] == POLICY
    assert call(dev_server, "LIST", "sys/policies/password").json()["data"]["keys"] == ["app"]
    seen = set()
    for _ in range(50):
        pw = call(dev_server, "GET", "sys/policies/password/app/generate").json()["data"]["password"]
        assert len(pw) == 24
        assert set(pw) <= set("abcdefghijklmnopqrstuvwxyz0123456789!@#%")
        assert sum(c.islower() for c in pw) >= 2
        assert sum(c.isdigit() for c in pw) >= 3
        assert sum(c in "!@#%" for c in pw) >= 1
        seen.add(pw)
    assert len(seen) == 50
    assert call(dev_server, "DELETE", "sys/policies/password/app").status_code == 204
    r = call(dev_server, "GET", "sys/policies/password/app/generate")
    assert r.status_code == 404 and "no password policy named" in r.json()["errors"][0]


def test_bad_policies_are_refused_and_nothing_is_saved(dev_server):
    for text, needle in [
        ('length = 4\nrule "charset" {\n  charset = "ab"\n  min-chars = 5\n}',
         "require at least 5 characters but 4"),
        ("length = 10", "no charset"),
        ('rule "lowercase" { charset = "a" }', "unrecognized rule type"),
        ('length = "x"\nrule "charset" { charset = "a" }', "whole number"),
        ("length = [[[", "syntax"),
        ("", "'policy' is required"),
    ]:
        r = call(dev_server, "PUT", "sys/policies/password/bad", json={"policy": text})
        assert r.status_code == 400, (text, r.text)
        assert needle in r.json()["errors"][0], (text, r.text)
    assert call(dev_server, "GET", "sys/policies/password/bad").status_code == 404
    r = call(dev_server, "PUT", "sys/policies/password/Bad%20Name", json={"policy": POLICY})
    assert r.status_code == 400


def test_needs_a_policy_that_grants_it(dev_server):
    root = requests.post(f"{dev_server.url}/v1/auth/token/create", headers={"X-Vault-Token": "root"},
                         json={"policies": ["default"]}, timeout=10).json()
    token = root["auth"]["client_token"]
    assert call(dev_server, "PUT", "sys/policies/password/app", token=token,
                json={"policy": POLICY}).status_code == 403
