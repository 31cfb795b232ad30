"""Credentials carried in URL paths never reach the audit log in clear: a full run's log is
searched for every token, accessor and secret ID the run used."""

import requests

ROOT = {"X-Vault-Token": "root"}


def call(server, method, path, token="root", **kw):
    return requests.request(method, f"{server.url}/v1/{path}",
                            headers={"X-Vault-Token": token}, timeout=30, **kw)


def test_no_credential_from_a_path_is_logged_in_clear(dev_server, tmp_path):
    log = tmp_path / "audit.log"
    assert call(dev_server, "PUT", "sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}}).status_code == 204
    secrets = []

    def new_token(**body):
        r = call(dev_server, "POST", "auth/token/create", json=body)
        assert r.status_code == 200, r.text
        auth = r.json()["auth"]
        secrets.extend([auth["client_token"], auth["accessor"]])
        return auth

    # Every token-store path that takes a token or an accessor in the path, known or not.
    for prefix in ["lookup", "revoke", "revoke-orphan", "renew", "lookup-accessor",
                   "revoke-accessor", "renew-accessor"]:
        t = new_token(policies=["default"])
        for cred in (t["client_token"], t["accessor"]):
            call(dev_server, "GET", f"auth/token/{prefix}/{cred}")
            call(dev_server, "POST", f"auth/token/{prefix}/{cred}")
    # The same through a token that may not use those paths: the denial names the path.
    weak = new_token(policies=["default"])
    victim = new_token(policies=["default"])
    r = call(dev_server, "GET", f"auth/token/lookup/{victim['client_token']}", token=weak["client_token"])
    assert r.status_code == 403
    # Wrapping tokens in paths.
    wrapped = requests.post(f"{dev_server.url}/v1/sys/wrapping/wrap", json={"k": "v"},
                            headers={**ROOT, "X-Vault-Wrap-TTL": "60s"}, timeout=30)
    assert wrapped.status_code == 200, wrapped.text
    wrap_token = wrapped.json()["wrap_info"]["token"]
    secrets.append(wrap_token)
    for sub in ("unwrap", "lookup", "rewrap"):
        call(dev_server, "POST", f"sys/wrapping/{sub}/{wrap_token}")
    # AppRole secret IDs travel in bodies; they are HMAC'd there.
    assert call(dev_server, "POST", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    assert call(dev_server, "POST", "auth/approle/role/app", json={"token_ttl": "1h"}).status_code == 204
    role_id = call(dev_server, "GET", "auth/approle/role/app/role-id").json()["data"]["role_id"]
    sid = call(dev_server, "POST", "auth/approle/role/app/secret-id").json()["data"]
    secrets.extend([sid["secret_id"], sid["secret_id_accessor"]])
    login = call(dev_server, "POST", "auth/approle/login", json={"role_id": role_id, "secret_id": sid["secret_id"]})
    assert login.status_code == 200, login.text
    secrets.extend([login.json()["auth"]["client_token"], login.json()["auth"]["accessor"]])

    text = log.read_text()
    assert "auth/token/lookup/hmac-sha256:" in text
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{len(leaked)} credentials appear in clear in the audit log"
