"""Limits that used to fail open: ancestors deep in a token chain, sub-second wrap TTLs,
fractional rate limits and num_uses beyond what is stored."""

import time

import requests

ROOT = {"X-Vault-Token": "root"}


def post(server, path, body, headers=ROOT):
    return requests.post(f"{server.url}/v1/{path}", json=body, headers=headers, timeout=30)


def test_expired_ancestor_refuses_the_whole_subtree_at_any_depth(dev_server):
    rules = 'path "auth/token/create" { capabilities = ["update"] }'
    assert post(dev_server, "sys/policies/acl/creator", {"policy": rules}).status_code == 204
    first = post(dev_server, "auth/token/create", {"ttl": "2s", "policies": ["creator"]})
    assert first.status_code == 200, first.text
    chain = [first.json()["auth"]["client_token"]]
    for _ in range(70):
        r = post(dev_server, "auth/token/create", {"ttl": "1h"}, headers={"X-Vault-Token": chain[-1]})
        assert r.status_code == 200, r.text
        chain.append(r.json()["auth"]["client_token"])
    look = lambda t: requests.get(f"{dev_server.url}/v1/auth/token/lookup-self",
                                  headers={"X-Vault-Token": t}, timeout=30).status_code
    assert look(chain[-1]) == 200
    time.sleep(2.5)
    for depth in (1, 2, 63, 64, 65, 66, 70):
        assert look(chain[depth]) == 403, f"token {depth} levels below the expired one still works"


def test_wrap_ttl_under_one_second_is_refused_and_fractions_round_up(dev_server):
    for ttl in ("500ms", "1ns", "0.9s"):
        r = requests.post(f"{dev_server.url}/v1/sys/wrapping/wrap", json={"a": "b"},
                          headers={**ROOT, "X-Vault-Wrap-TTL": ttl}, timeout=30)
        assert r.status_code == 400 and "under one second" in r.json()["errors"][0], (ttl, r.text)
    r = requests.post(f"{dev_server.url}/v1/sys/wrapping/wrap", json={"a": "b"},
                      headers={**ROOT, "X-Vault-Wrap-TTL": "1500ms"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["wrap_info"]["ttl"] == 2


def test_rate_limit_below_one_is_refused(dev_server):
    for rate in (0.5, 0, -1):
        r = post(dev_server, "sys/quotas/rate-limit/slow", {"rate": rate})
        assert r.status_code == 400 and "'rate'" in r.json()["errors"][0], (rate, r.text)
    assert requests.get(f"{dev_server.url}/v1/sys/quotas/rate-limit/slow", headers=ROOT).status_code == 404
    # Nothing was stored, so requests still flow.
    assert requests.get(f"{dev_server.url}/v1/sys/health").status_code == 200
    assert requests.get(f"{dev_server.url}/v1/auth/token/lookup-self", headers=ROOT).status_code == 200


def test_num_uses_beyond_the_stored_range_is_refused(dev_server):
    for n in (2**64 - 1, 2**63):
        r = post(dev_server, "auth/token/create", {"num_uses": n})
        assert r.status_code == 400 and "num_uses" in r.json()["errors"][0], (n, r.text)
    r = post(dev_server, "auth/token/create", {"num_uses": 2**63 - 1})
    assert r.status_code == 200, r.text
    tok = r.json()["auth"]["client_token"]
    assert requests.get(f"{dev_server.url}/v1/auth/token/lookup-self",
                        headers={"X-Vault-Token": tok}).status_code == 200
