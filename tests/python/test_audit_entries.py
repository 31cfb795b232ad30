"""Audit entries follow Vault's field rules through the real server: a mount's
`audit_non_hmac_request_keys` / `audit_non_hmac_response_keys` keep those top-level data keys in
clear (and only those, only on that mount), and a wrapped response's entry carries `wrap_info`
with its token and accessors HMAC'd."""

import json

import requests

ROOT = {"X-Vault-Token": "root"}


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def audit_hash(url, value):
    r = requests.post(f"{url}/sys/audit-hash/file", json={"input": value}, headers=ROOT)
    assert r.status_code == 200, r.text
    return r.json()["data"]["hash"]


def test_mount_non_hmac_keys_apply_to_that_mount_only(dev_server, tmp_path):
    url = f"{dev_server.url}/v1"
    log = tmp_path / "audit.log"
    assert requests.put(f"{url}/sys/audit/file", json={"type": "file",
                        "options": {"file_path": str(log)}}, headers=ROOT).status_code == 204
    for mount in ("open", "closed"):
        assert requests.post(f"{url}/sys/mounts/{mount}", json={"type": "kv"},
                             headers=ROOT).status_code == 204
    r = requests.post(f"{url}/sys/mounts/open/tune", headers=ROOT, json={
        "audit_non_hmac_request_keys": ["region"],
        "audit_non_hmac_response_keys": ["owner"]})
    assert r.status_code == 204, r.text
    body = {"region": "eu-west-1", "owner": "team-a", "password": "pw-kept-secret"}
    for mount in ("open", "closed"):
        assert requests.put(f"{url}/{mount}/app", json=body, headers=ROOT).status_code == 204
        assert requests.get(f"{url}/{mount}/app", headers=ROOT).status_code == 200
    entries = lines(log)
    text = log.read_text()
    assert "pw-kept-secret" not in text

    def entry(kind, op, path):
        found = [e for e in entries if e["type"] == kind and e["request"]["path"] == path
                 and e["request"]["operation"] == op]
        assert len(found) == 1, (kind, op, path, found)
        return found[0]

    write = entry("request", "create", "open/app")["request"]["data"]
    assert write["region"] == "eu-west-1"
    assert write["owner"] == audit_hash(url, "team-a")
    assert write["password"] == audit_hash(url, "pw-kept-secret")
    read = entry("response", "read", "open/app")["response"]["data"]
    assert read["owner"] == "team-a"
    assert read["region"] == audit_hash(url, "eu-west-1")
    assert read["password"] == audit_hash(url, "pw-kept-secret")
    # The other mount keeps Vault's default: everything HMAC'd.
    other = entry("request", "create", "closed/app")["request"]["data"]
    assert other["region"] == audit_hash(url, "eu-west-1")
    other = entry("response", "read", "closed/app")["response"]["data"]
    assert other["owner"] == audit_hash(url, "team-a")


def test_wrapped_response_entries_carry_wrap_info(dev_server, tmp_path):
    url = f"{dev_server.url}/v1"
    log = tmp_path / "audit.log"
    assert requests.put(f"{url}/sys/audit/file", json={"type": "file",
                        "options": {"file_path": str(log)}}, headers=ROOT).status_code == 204
    assert requests.post(f"{url}/secret/data/wrapped", json={"data": {"k": "v"}},
                         headers=ROOT).status_code == 200
    r = requests.get(f"{url}/secret/data/wrapped", headers={**ROOT, "X-Vault-Wrap-TTL": "90"})
    assert r.status_code == 200, r.text
    wrap = r.json()["wrap_info"]
    r = requests.post(f"{url}/auth/token/create", json={"policies": ["default"]},
                      headers={**ROOT, "X-Vault-Wrap-TTL": "2m"})
    assert r.status_code == 200, r.text
    token_wrap = r.json()["wrap_info"]
    assert token_wrap["wrapped_accessor"]
    text = log.read_text()
    for secret in (wrap["token"], wrap["accessor"], token_wrap["token"],
                   token_wrap["wrapped_accessor"]):
        assert secret not in text

    responses = [e for e in lines(log) if e["type"] == "response"]
    read = [e for e in responses if e["request"]["path"] == "secret/data/wrapped"
            and e["request"]["operation"] == "read"]
    assert len(read) == 1
    info = read[0]["response"]["wrap_info"]
    assert info["token"] == audit_hash(url, wrap["token"])
    assert info["accessor"] == audit_hash(url, wrap["accessor"])
    assert info["ttl"] == 90
    assert info["creation_path"] == "secret/data/wrapped"
    assert info["creation_time"] == wrap["creation_time"]
    assert read[0]["request"]["wrap_ttl"] == 90
    created = [e for e in responses if e["request"]["path"] == "auth/token/create"]
    assert len(created) == 1
    info = created[0]["response"]["wrap_info"]
    assert info["wrapped_accessor"] == audit_hash(url, token_wrap["wrapped_accessor"])
    assert info["ttl"] == 120

    # With hmac_accessor=false, a second device keeps the accessors readable.
    log2 = tmp_path / "plain-accessors.log"
    assert requests.put(f"{url}/sys/audit/plain", json={"type": "file", "options": {
        "file_path": str(log2), "hmac_accessor": "false"}}, headers=ROOT).status_code == 204
    r = requests.get(f"{url}/secret/data/wrapped", headers={**ROOT, "X-Vault-Wrap-TTL": "60"})
    wrap = r.json()["wrap_info"]
    entry = [e for e in lines(log2) if e["type"] == "response"
             and e["request"]["path"] == "secret/data/wrapped"][0]
    assert entry["response"]["wrap_info"]["accessor"] == wrap["accessor"]
    assert entry["response"]["wrap_info"]["token"] != wrap["token"]
