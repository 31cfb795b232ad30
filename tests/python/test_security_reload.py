"""SIGHUP reloads as Vault does (audit logs reopened for logrotate, TLS certificates, the log
level) and never stops the server; an audit log whose directory comes back is reopened by the
device itself; the listener's timeouts and connection cap are configurable."""

import shutil
import signal
import socket
import ssl
import subprocess
import time

import requests
import trustme

from conftest import HUSH_BIN, HushServer, free_port


def write_config(path, port, extra_listener="", extra="", tls=None, log_level="info"):
    tls_lines = (
        f'tls_cert_file = "{tls["cert"]}"\n  tls_key_file = "{tls["key"]}"'
        if tls else "tls_disable = true"
    )
    path.write_text(
        f"""
storage "inmem" {{}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  {tls_lines}
  {extra_listener}
}}
disable_mlock = true
log_level = "{log_level}"
{extra}
"""
    )


def start(tmp_path, servers, **kw):
    port = free_port()
    cfg = tmp_path / "hush.hcl"
    write_config(cfg, port, **kw)
    scheme = "https" if kw.get("tls") else "http"
    verify = str(kw["tls"]["ca"]) if kw.get("tls") else True
    s = HushServer(tmp_path, ["--config", str(cfg)], url=f"{scheme}://127.0.0.1:{port}",
                   verify=verify)
    servers.append(s)
    s.start()
    s.port, s.cfg = port, cfg
    init = requests.put(f"{s.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1},
                        verify=verify, timeout=10).json()
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": init["keys_base64"][0]}, verify=verify,
                 timeout=10).raise_for_status()
    s.token = init["root_token"]
    return s


def api(s, method, path, **kw):
    return requests.request(method, f"{s.url}/v1/{path}", headers={"X-Vault-Token": s.token},
                            verify=s.verify, timeout=10, **kw)


def verify(*args):
    return subprocess.run([HUSH_BIN, "audit", "verify", *args], capture_output=True, text=True,
                          timeout=30)


def test_sighup_reopens_audit_logs_for_logrotate(tmp_path, servers):
    s = start(tmp_path, servers)
    log = tmp_path / "audit" / "audit.log"
    log.parent.mkdir(mode=0o700)
    assert api(s, "PUT", "sys/audit/file", json={"type": "file",
                                                 "options": {"file_path": str(log)}}).ok
    assert api(s, "PUT", "sys/mounts/kv", json={"type": "kv"}).ok
    for i in range(3):
        assert api(s, "PUT", "kv/a", json={"v": str(i)}).ok
    # logrotate: rename, then SIGHUP; the old file gets nothing more.
    rotated = log.with_name("audit.log.1")
    log.rename(rotated)
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while not log.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert log.exists(), s.output()[-2000:]
    size = rotated.stat().st_size
    for i in range(3):
        assert api(s, "PUT", "kv/b", json={"v": str(i)}).ok
    assert rotated.stat().st_size == size
    assert s.proc.poll() is None
    assert (log.stat().st_mode & 0o777) == 0o600
    # Each file verifies alone (the new one starts where the old ended), and both together.
    for f in (rotated, log):
        out = verify(str(f))
        assert out.returncode == 0, out.stdout + out.stderr
    both = tmp_path / "both.log"
    both.write_bytes(rotated.read_bytes() + log.read_bytes())
    out = verify(str(both))
    assert out.returncode == 0 and "chain intact" in out.stdout, out.stdout + out.stderr
    # The server's head is in the new file.
    env = {"VAULT_ADDR": s.url, "VAULT_TOKEN": s.token}
    out = subprocess.run([HUSH_BIN, "audit", "verify", "-device=file", str(log)],
                         capture_output=True, text=True, timeout=30,
                         env={**env, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "reaches the expected head" in out.stdout, out.stdout + out.stderr
    # Without a rotation, SIGHUP keeps appending to the same file, chain unbroken.
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert api(s, "GET", "kv/b").ok
    out = verify(str(log))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "audit log reopened" in s.output()


def test_an_audit_log_whose_directory_returns_is_reopened_by_itself(tmp_path, servers):
    s = start(tmp_path, servers)
    d = tmp_path / "audit"
    d.mkdir(mode=0o700)
    log = d / "audit.log"
    assert api(s, "PUT", "sys/audit/file", json={"type": "file",
                                                 "options": {"file_path": str(log)}}).ok
    assert api(s, "PUT", "sys/mounts/kv", json={"type": "kv"}).ok
    assert api(s, "PUT", "kv/a", json={"v": "1"}).ok
    shutil.rmtree(d)
    # Within the syncer's second the device stops, and requests fail closed.
    deadline = time.time() + 10
    while time.time() < deadline and api(s, "GET", "kv/a").ok:
        time.sleep(0.2)
    r = api(s, "GET", "kv/a")
    assert r.status_code >= 500, r.text
    d.mkdir(mode=0o700)
    # Once the directory is back the device opens its path again (retried every 5 s).
    deadline = time.time() + 15
    while time.time() < deadline and not api(s, "GET", "kv/a").ok:
        time.sleep(0.5)
    assert api(s, "GET", "kv/a").ok, s.output()[-2000:]
    assert log.exists()
    text = log.read_text()
    # The new file says what was lost with the deleted one.
    assert "hush_chain" in text
    assert "audit device opened its log again" in s.output()


def test_sighup_reloads_the_tls_certificate(tmp_path, servers):
    ca = trustme.CA()
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))

    def issue(name):
        cert = ca.issue_cert("127.0.0.1", name)
        cert.private_key_pem.write_to_path(str(files["key"]))
        with open(files["cert"], "wb") as f:
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())

    def served_names(port):
        ctx = ssl.create_default_context(cafile=str(files["ca"]))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                cert = tls.getpeercert()
        return {v for kind, v in cert.get("subjectAltName", ()) if kind == "DNS"}

    issue("first.example")
    s = start(tmp_path, servers, tls=files)
    assert "first.example" in served_names(s.port)
    issue("second.example")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "second.example" not in served_names(s.port):
        time.sleep(0.1)
    assert "second.example" in served_names(s.port)
    # A broken file on reload keeps the current certificate and the server up.
    files["cert"].write_text("not a certificate")
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert s.proc.poll() is None
    assert "second.example" in served_names(s.port)
    assert "could not reload the TLS certificate" in s.output()


def test_sighup_applies_the_log_level(tmp_path, servers):
    s = start(tmp_path, servers, log_level="info")
    requests.get(f"{s.url}/v1/sys/mounts", headers={"X-Vault-Token": "wrong"}, timeout=5)
    time.sleep(0.2)
    assert "permission denied" not in s.output()
    write_config(s.cfg, s.port, log_level="debug")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "log level set" not in s.output():
        time.sleep(0.1)
    requests.get(f"{s.url}/v1/sys/mounts", headers={"X-Vault-Token": "wrong"}, timeout=5)
    time.sleep(0.2)
    assert "permission denied" in s.output(), s.output()[-2000:]
    assert "wrong" not in s.output()
    # A bad level on reload is reported; the server goes on at the level it had.
    write_config(s.cfg, s.port, log_level="loud")
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert s.proc.poll() is None
    assert "the log level stays" in s.output() and "loud" in s.output()


def raw_request(port, request, timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(request)
    return sock


def test_http_read_timeout_answers_408(tmp_path, servers):
    s = start(tmp_path, servers, extra_listener='http_read_timeout = "1s"')
    sock = raw_request(s.port, (f"PUT /v1/sys/policies/acl/x HTTP/1.1\r\nHost: x\r\n"
                                f"X-Vault-Token: {s.token}\r\nContent-Length: 100\r\n\r\n{{").encode())
    start_t = time.time()
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"http_read_timeout" in reply
    assert 0.8 <= time.time() - start_t <= 5
    assert api(s, "GET", "sys/policies/acl/x").status_code == 404


def test_http_idle_timeout_closes_silent_connections(tmp_path, servers):
    s = start(tmp_path, servers,
              extra_listener='http_idle_timeout = "2s"\n  http_read_header_timeout = "30s"')
    sock = raw_request(s.port, b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    start_t = time.time()
    sock.settimeout(20)
    # The keep-alive connection then stays silent: closed after about 2 s.
    assert sock.recv(4096) == b""
    assert 1.5 <= time.time() - start_t <= 10


def test_max_connections_keeps_headroom_for_health_checks(tmp_path, servers):
    s = start(tmp_path, servers, extra_listener="max_connections = 4")
    held = []
    for _ in range(4):
        sock = raw_request(s.port, b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        held.append(sock)
    # Over the cap: health checks are answered, anything else gets 503 and a closed connection.
    r = requests.get(f"{s.url}/v1/sys/health", timeout=5)
    assert r.status_code == 200
    r = requests.get(f"{s.url}/v1/sys/mounts", headers={"X-Vault-Token": s.token}, timeout=5)
    assert r.status_code == 503 and "max_connections = 4" in r.json()["errors"][0], r.text
    assert r.headers.get("Retry-After") == "1"
    # Beyond the headroom (16) connections are closed at once instead of piling up.
    extra = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(20)]
    time.sleep(0.5)
    closed = 0
    for sock in extra:
        sock.settimeout(2)
        try:
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
            if sock.recv(4096) == b"":
                closed += 1
        except OSError:
            closed += 1
    assert closed >= 4, closed
    for sock in extra + held:
        sock.close()
    # Once connections close, the cap frees up.
    deadline = time.time() + 5
    while time.time() < deadline:
        r = requests.get(f"{s.url}/v1/sys/mounts", headers={"X-Vault-Token": s.token}, timeout=5)
        if r.status_code == 200:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text


def test_http_write_timeout_closes_a_client_that_stops_reading(tmp_path, servers):
    s = start(tmp_path, servers, extra_listener='http_write_timeout = "1s"')
    assert api(s, "PUT", "sys/mounts/kv", json={"type": "kv"}).ok
    big = "x" * (8 * 1024 * 1024)
    assert api(s, "PUT", "kv/big", json={"v": big}).ok
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", s.port))
    sock.sendall(f"GET /v1/kv/big HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {s.token}\r\n\r\n".encode())
    # Read nothing for a while: the server's writes stall and it gives up after 1 s.
    time.sleep(4)
    sock.settimeout(10)
    got = 0
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except OSError:
        pass
    assert got < len(big), got
    # Everyone else is served.
    assert api(s, "GET", "sys/mounts").ok
