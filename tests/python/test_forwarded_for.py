"""A listener behind a proxy (Vault's x_forwarded_for_* keys) against the real binary: which
address counts as the client's for lockout, bound CIDRs and rate limits, and what is refused."""

import requests

from conftest import HushServer, free_port


def start(tmp_path, servers, listener_extra):
    port = free_port()
    cfg = tmp_path / "hush.hcl"
    cfg.write_text(f"""
storage "inmem" {{}}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
  {listener_extra}
}}
disable_mlock = true
""")
    s = HushServer(tmp_path, ["--config", str(cfg)], url=f"http://127.0.0.1:{port}")
    servers.append(s)
    return s.start(wait=False)


def call(s, method, path, xff=None, token=None, **kw):
    headers = {}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    if token:
        headers["X-Vault-Token"] = token
    return requests.request(method, f"{s.url}/v1/{path}", headers=headers, timeout=10, **kw)


def ready(s, xff):
    import time
    for _ in range(200):
        try:
            if call(s, "GET", "sys/seal-status", xff=xff).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError(s.output())


def init(s, xff):
    ready(s, xff)
    out = call(s, "PUT", "sys/init", xff=xff, json={"secret_shares": 1, "secret_threshold": 1})
    assert out.status_code == 200, out.text
    body = out.json()
    call(s, "PUT", "sys/unseal", xff=xff, json={"key": body["keys_base64"][0]}).raise_for_status()
    return body["root_token"]


def test_a_trusted_proxy_names_the_client(tmp_path, servers):
    s = start(tmp_path, servers, 'x_forwarded_for_authorized_addrs = "127.0.0.1/32"\n'
                                 '  x_forwarded_for_hop_skips = 1')
    # Every request must come through the proxy (Vault's default reject_not_present).
    ready(s, "10.0.0.1, 10.200.0.1")
    r = call(s, "GET", "sys/seal-status")
    assert r.status_code == 400 and "missing X-Forwarded-For" in r.json()["errors"][0], r.text
    root = init(s, "10.0.0.1, 10.200.0.1")

    # hop_skips = 1: the proxy appended its own peer; the client is the address before it.
    call(s, "POST", "sys/auth/userpass", xff="10.0.0.1, 10.200.0.1", token=root,
         json={"type": "userpass"}).raise_for_status()
    for user in ("ann", "bob"):
        call(s, "POST", f"auth/userpass/users/{user}", xff="10.0.0.1, 10.200.0.1", token=root,
             json={"password": "pw"}).raise_for_status()
    for _ in range(5):
        r = call(s, "POST", "auth/userpass/login/nobody", xff="10.6.6.6, 10.200.0.1",
                 json={"password": "guess"})
        assert r.status_code == 400, r.text
    # The sprayer's address is locked; another client behind the same proxy is not.
    r = call(s, "POST", "auth/userpass/login/ann", xff="10.6.6.6, 10.200.0.1",
             json={"password": "pw"})
    message = r.json()["errors"][0]
    assert r.status_code == 400 and "from client address 10.6.6.6" in message, r.text
    r = call(s, "POST", "auth/userpass/login/bob", xff="10.7.7.7, 10.200.0.1",
             json={"password": "pw"})
    assert r.status_code == 200, r.text
    token = r.json()["auth"]["client_token"]
    locked = call(s, "GET", "sys/locked-users", xff="10.0.0.1, 10.200.0.1", token=root).json()
    aliases = locked["data"]["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"]
    assert "addr:10.6.6.6" in aliases and not any("127.0.0.1" in a for a in aliases), aliases

    # Bound CIDRs see the forwarded address too.
    call(s, "POST", "auth/token/roles/near", xff="10.0.0.1, 10.200.0.1", token=root,
         json={"token_bound_cidrs": ["10.7.0.0/16"]}).raise_for_status()
    r = call(s, "POST", "auth/token/create/near", xff="10.0.0.1, 10.200.0.1", token=root, json={})
    bound = r.json()["auth"]["client_token"]
    assert call(s, "GET", "auth/token/lookup-self", xff="10.7.1.1, 10.200.0.1",
                token=bound).status_code == 200
    assert call(s, "GET", "auth/token/lookup-self", xff="10.8.1.1, 10.200.0.1",
                token=bound).status_code == 403
    assert call(s, "GET", "auth/token/lookup-self", xff="10.7.1.1, 10.200.0.1",
                token=token).status_code == 200

    # Too few addresses for the hops to skip, and a value that is no address: refused.
    r = call(s, "GET", "sys/health", xff="10.0.0.1")
    assert r.status_code == 400 and "hops to skip (1)" in r.json()["errors"][0], r.text
    r = call(s, "GET", "sys/health", xff="not-an-ip, 10.200.0.1")
    assert r.status_code == 400 and "not an IP address" in r.json()["errors"][0], r.text


def test_an_untrusted_client_may_not_name_itself(tmp_path, servers):
    s = start(tmp_path, servers, 'x_forwarded_for_authorized_addrs = ["10.0.0.0/8"]\n'
                                 '  x_forwarded_for_reject_not_present = false')
    ready(s, None)
    # 127.0.0.1 is no authorized proxy: a header from it is refused (Vault's default) ...
    r = call(s, "GET", "sys/health", xff="10.1.1.1")
    assert r.status_code == 400 and "not authorized to send X-Forwarded-For" in r.text, r.text
    # ... and without the header the connection's address is used.
    assert call(s, "GET", "sys/seal-status").status_code == 200


def test_an_untrusted_header_can_be_ignored(tmp_path, servers):
    s = start(tmp_path, servers, 'x_forwarded_for_authorized_addrs = "10.0.0.0/8"\n'
                                 '  x_forwarded_for_reject_not_authorized = false\n'
                                 '  x_forwarded_for_reject_not_present = false')
    root = init(s, "10.9.9.9")
    call(s, "POST", "auth/token/roles/near", xff="10.9.9.9", token=root,
         json={"token_bound_cidrs": ["10.9.9.9/32"]}).raise_for_status()
    r = call(s, "POST", "auth/token/create/near", xff="10.9.9.9", token=root, json={})
    bound = r.json()["auth"]["client_token"]
    # The header is ignored: the client is 127.0.0.1, outside the token's CIDR.
    assert call(s, "GET", "auth/token/lookup-self", xff="10.9.9.9", token=bound).status_code == 403


def test_xff_settings_without_authorized_addrs_are_a_config_error(tmp_path):
    import subprocess

    from conftest import HUSH_BIN

    cfg = tmp_path / "bad.hcl"
    cfg.write_text('storage "inmem" {}\nlistener "tcp" {\n address = "127.0.0.1:0"\n'
                   ' tls_disable = true\n x_forwarded_for_hop_skips = 1\n}\n')
    p = subprocess.run([HUSH_BIN, "server", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode != 0
    assert "x_forwarded_for_authorized_addrs" in p.stdout + p.stderr, p.stdout + p.stderr
