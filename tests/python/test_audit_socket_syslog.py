"""Vault's `socket` and `syslog` audit devices against the real binary: real TCP, UDP and unix
receivers and a syslog daemon's datagram socket get the same chained JSON entries a file gets
(HMAC'd token, the request path), enabling refuses bad options and unreachable receivers
without storing anything, a receiver that goes away fails requests closed until it is back,
and a restart reopens the device, continuing its chain."""

import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import hvac
import pytest
import requests

from conftest import HUSH_BIN, free_port
from test_server import start

ROOT = "root"


def api(server, method, path, token=ROOT, **kw):
    return requests.request(method, f"{server.url}/v1/{path}", headers={"X-Vault-Token": token},
                            timeout=30, **kw)


@pytest.fixture
def root(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


@pytest.fixture
def sockdir():
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    d = tempfile.mkdtemp(prefix="hush-sock-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


class StreamReceiver:
    """Accepts connections on a listening socket (TCP or unix stream) and collects the lines of
    every connection, in order; `close()` drops the connections and stops listening."""

    def __init__(self, listener):
        self.listener = listener
        self.lines = []
        self.raw = b""
        self.connections = 0
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def tcp(cls, port=0):
        s = socket.create_server(("127.0.0.1", port))
        return cls(s)

    @classmethod
    def unix(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen()
        return cls(s)

    @property
    def port(self):
        return self.listener.getsockname()[1]

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            with self.lock:
                self.raw += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.lock:
                    self.lines.append(line.decode())

    def close(self):
        # A listener closed while another thread blocks in accept() stays open in the kernel
        # until that accept returns; shutdown() ends the accept first.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns.clear()

    def entries(self):
        with self.lock:
            return [json.loads(line) for line in self.lines]


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def entries_for(entries, path):
    return [e for e in entries if e.get("request", {}).get("path") == path]


def make_token(server):
    r = api(server, "POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h"})
    assert r.status_code == 200, r.text
    return r.json()["auth"]["client_token"]


def audit_hash(server, device, value):
    r = api(server, "PUT", f"sys/audit-hash/{device}", json={"input": value})
    assert r.status_code == 200, r.text
    return r.json()["data"]["hash"]


def check_logged_lookup(server, device, entries, token):
    """The token's lookup-self is in `entries`, request and response, with the token HMAC'd
    with the device's salt and never in plaintext."""
    logged = entries_for(entries, "auth/token/lookup-self")
    assert {e["type"] for e in logged} == {"request", "response"}, logged
    hashed = audit_hash(server, device, token)
    assert hashed.startswith("hmac-sha256:")
    for e in logged:
        assert e["request"]["client_token"] == hashed, e
        assert e["auth"]["client_token"] == hashed, e
        assert e["hush_chain"]["seq"] >= 1
    assert all(token not in json.dumps(e) for e in entries)


def verify_stream(lines, tmp_path, name="stream.log"):
    log = tmp_path / name
    log.write_text("".join(line + "\n" for line in lines))
    out = subprocess.run([HUSH_BIN, "audit", "verify", "-format=json", str(log)],
                         capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout + out.stderr


# ---------------------------------------------------------------------------------------------
# Receiving


def test_tcp_socket_device_streams_chained_entries(root, dev_server, tmp_path):
    rx = StreamReceiver.tcp()
    try:
        root.sys.enable_audit_device("socket", options={
            "address": f"127.0.0.1:{rx.port}", "socket_type": "tcp", "write_timeout": "3s"})
        listed = api(dev_server, "GET", "sys/audit").json()["data"]
        assert listed["socket/"]["type"] == "socket", listed
        assert listed["socket/"]["options"] == {
            "address": f"127.0.0.1:{rx.port}", "socket_type": "tcp", "write_timeout": "3s"}

        token = make_token(dev_server)
        assert api(dev_server, "GET", "auth/token/lookup-self", token=token).status_code == 200
        root.secrets.kv.v2.create_or_update_secret("app/db", {"password": "s3cr3t-tcp"})
        wait_for(lambda: entries_for(rx.entries(), "secret/data/app/db")[1:],
                 what="the kv entries")
        entries = rx.entries()
        check_logged_lookup(dev_server, "socket", entries, token)
        kv = entries_for(entries, "secret/data/app/db")
        assert kv[0]["request"]["data"]["data"]["password"].startswith("hmac-sha256:")
        assert "s3cr3t-tcp" not in rx.raw.decode()
        assert all(e["hush_chain"]["device"] == entries[0]["hush_chain"]["device"]
                   for e in entries)
        assert [e["hush_chain"]["seq"] for e in entries] == list(range(1, len(entries) + 1))

        # The captured stream verifies, also against the server's head for the device (once
        # the audit-hash call's entries are in: the head the server gives includes them).
        wait_for(lambda: entries_for(rx.entries(), "sys/audit-hash/socket")[1:],
                 what="the audit-hash entries")
        log = tmp_path / "captured.log"
        log.write_bytes(rx.raw)
        env = {"PATH": "/usr/bin:/bin", "VAULT_ADDR": dev_server.url, "VAULT_TOKEN": ROOT}
        out = subprocess.run([HUSH_BIN, "audit", "verify", "-device=socket", str(log)],
                             capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        rx.close()


def test_udp_socket_device_sends_one_datagram_per_entry(root, dev_server, tmp_path):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(10)
    try:
        root.sys.enable_audit_device("socket", path="udp", options={
            "address": f"127.0.0.1:{rx.getsockname()[1]}", "socket_type": "udp"})
        token = make_token(dev_server)
        assert api(dev_server, "GET", "auth/token/lookup-self", token=token).status_code == 200
        datagrams = []
        while not entries_for([json.loads(d) for d in datagrams], "auth/token/lookup-self")[1:]:
            datagrams.append(rx.recv(65536).decode())
        for d in datagrams:
            # One entry per datagram, newline-terminated, as on a stream.
            assert d.endswith("\n") and d.count("\n") == 1, d
        entries = [json.loads(d) for d in datagrams]
        check_logged_lookup(dev_server, "udp", entries, token)
        code, out = verify_stream([d.rstrip("\n") for d in datagrams], tmp_path)
        assert code == 0, out
    finally:
        rx.close()


def test_unix_socket_device(root, dev_server, sockdir, tmp_path):
    path = sockdir / "audit.sock"
    rx = StreamReceiver.unix(path)
    try:
        root.sys.enable_audit_device("socket", path="local", options={
            "address": str(path), "socket_type": "unix"})
        token = make_token(dev_server)
        assert api(dev_server, "GET", "auth/token/lookup-self", token=token).status_code == 200
        wait_for(lambda: entries_for(rx.entries(), "auth/token/lookup-self")[1:],
                 what="the lookup entries")
        check_logged_lookup(dev_server, "local", rx.entries(), token)
        code, out = verify_stream(rx.lines, tmp_path)
        assert code == 0, out
    finally:
        rx.close()


SYSLOG_FRAME = re.compile(
    r"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ([^\s\[\]:]+)\[(\d+)\]: (\{.*\})\n$", re.S)


def syslog_messages(daemon, want_path, count=2):
    msgs = []
    deadline = time.time() + 10
    while time.time() < deadline:
        msg = daemon.recv(1 << 20).decode()
        m = SYSLOG_FRAME.match(msg)
        assert m, msg
        msgs.append(m)
        if len([x for x in msgs if json.loads(x.group(5))["request"]["path"] == want_path]) >= count:
            return msgs
    raise AssertionError("the syslog messages did not arrive")


def drain(sock):
    """Drops what a datagram socket has queued (entries sent before the answer came)."""
    sock.setblocking(False)
    try:
        while True:
            sock.recv(1 << 20)
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(10)


def test_syslog_device_writes_rfc3164_frames(root, dev_server, sockdir):
    path = sockdir / "log"
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(path))
    daemon.settimeout(10)
    try:
        root.sys.enable_audit_device("syslog", options={
            "facility": "local0", "tag": "hush-test", "socket_path": str(path)})
        listed = api(dev_server, "GET", "sys/audit").json()["data"]
        assert listed["syslog/"]["type"] == "syslog"
        assert listed["syslog/"]["options"]["facility"] == "local0"
        token = make_token(dev_server)
        assert api(dev_server, "GET", "auth/token/lookup-self", token=token).status_code == 200
        msgs = syslog_messages(daemon, "auth/token/lookup-self")
        for m in msgs:
            assert m.group(1) == "134", m.group(0)  # LOCAL0 (16) * 8 + INFO (6)
            assert m.group(3) == "hush-test", m.group(0)
            assert int(m.group(4)) == dev_server.proc.pid
        entries = [json.loads(m.group(5)) for m in msgs]
        check_logged_lookup(dev_server, "syslog", entries, token)
        root.sys.disable_audit_device("syslog")
        drain(daemon)

        # Vault's defaults: facility AUTH (<38> at INFO) and tag "vault".
        root.sys.enable_audit_device("syslog", path="defaults",
                                     options={"socket_path": str(path)})
        assert api(dev_server, "GET", "auth/token/lookup-self", token=token).status_code == 200
        msgs = syslog_messages(daemon, "auth/token/lookup-self")
        assert {(m.group(1), m.group(3)) for m in msgs} == {("38", "vault")}
    finally:
        daemon.close()


def test_cli_enables_socket_and_syslog_devices(dev_server, sockdir):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    path = sockdir / "log"
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(path))
    env = {"PATH": "/usr/bin:/bin", "VAULT_ADDR": dev_server.url, "VAULT_TOKEN": ROOT}
    try:
        for args in (["socket", f"address=127.0.0.1:{udp.getsockname()[1]}", "socket_type=udp"],
                     ["syslog", "tag=hushcli", "facility=LOCAL3", f"socket_path={path}"]):
            out = subprocess.run([HUSH_BIN, "audit", "enable", *args], capture_output=True,
                                 text=True, timeout=30, env=env)
            assert out.returncode == 0, out.stdout + out.stderr
            assert f"Enabled the {args[0]} audit device at: {args[0]}/" in out.stdout
        out = subprocess.run([HUSH_BIN, "audit", "list", "-detailed"], capture_output=True,
                             text=True, timeout=30, env=env)
        assert out.returncode == 0, out.stderr
        assert "socket_type=udp" in out.stdout and "facility=LOCAL3" in out.stdout, out.stdout
        # A bad option is the server's error, naming it.
        out = subprocess.run([HUSH_BIN, "audit", "enable", "-path=bad", "socket",
                              "address=127.0.0.1:9", "socket_type=sctp"],
                             capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode != 0
        assert 'socket_type "sctp" is not supported: use tcp, udp or unix' in out.stderr
    finally:
        udp.close()
        daemon.close()


# ---------------------------------------------------------------------------------------------
# Refusals


def test_bad_options_and_unreachable_receivers_are_refused_and_not_stored(dev_server, sockdir):
    closed_port = free_port()
    cases = [
        ("socket", {"address": "127.0.0.1:9090", "socket_type": "foo"},
         'socket_type "foo" is not supported: use tcp, udp or unix'),
        ("socket", {}, "'address' is required"),
        ("socket", {"address": "/tmp/x.sock"}, 'address "/tmp/x.sock" is not host:port'),
        ("socket", {"address": "127.0.0.1:9090", "write_timeout": "soon"}, "'write_timeout'"),
        ("socket", {"address": "127.0.0.1:9090", "write_timeout": "0s"},
         "'write_timeout' must be more than 0"),
        ("socket", {"address": f"127.0.0.1:{closed_port}"},
         f'audit device "bad/" cannot connect to tcp address 127.0.0.1:{closed_port}'),
        ("socket", {"address": str(sockdir / "nobody.sock"), "socket_type": "unix"},
         "cannot connect to unix address"),
        ("syslog", {"facility": "LOCAL9"}, 'facility "LOCAL9" is not supported: use KERN'),
        ("syslog", {"tag": "two words"}, 'tag "two words" is refused'),
        ("syslog", {"socket_path": str(sockdir / "no-daemon")},
         "cannot connect to the syslog socket"),
        ("carrier-pigeon", {}, "supported: file, socket, syslog"),
    ]
    for kind, options, message in cases:
        r = api(dev_server, "PUT", "sys/audit/bad", json={"type": kind, "options": options})
        assert r.status_code == 400, (options, r.text)
        assert message in r.json()["errors"][0], (options, r.text)
    # The refusal that connects tells what to check.
    r = api(dev_server, "PUT", "sys/audit/bad",
            json={"type": "socket", "options": {"address": f"127.0.0.1:{closed_port}"}})
    assert "check that the receiver is listening" in r.json()["errors"][0], r.text
    assert api(dev_server, "GET", "sys/audit").json()["data"] == {}
    # Nothing enabled means nothing refuses requests either.
    assert api(dev_server, "GET", "sys/mounts").status_code == 200


# ---------------------------------------------------------------------------------------------
# Failing closed, reconnecting, restarting


def test_receiver_going_away_fails_requests_closed_until_it_is_back(root, dev_server, tmp_path):
    rx = StreamReceiver.tcp()
    port = rx.port
    root.sys.enable_audit_device("socket", options={"address": f"127.0.0.1:{port}"})
    assert api(dev_server, "GET", "sys/mounts").status_code == 200
    wait_for(lambda: entries_for(rx.entries(), "sys/mounts")[1:], what="the first entries")
    first_lines = list(rx.lines)

    rx.close()
    time.sleep(0.2)
    for _ in range(3):
        r = api(dev_server, "GET", "sys/mounts")
        assert r.status_code == 500, r.text
        err = r.json()["errors"][0]
        assert "no audit device could record" in err and "socket/" in err, err
        assert f"127.0.0.1:{port}" in err, err
    # A root token may still look at the devices meanwhile.
    assert "socket/" in api(dev_server, "GET", "sys/audit").json()["data"]

    rx2 = StreamReceiver.tcp(port)
    try:
        r = api(dev_server, "GET", "sys/mounts")
        assert r.status_code == 200, r.text
        wait_for(lambda: entries_for(rx2.entries(), "sys/mounts")[1:], what="entries after")
        assert rx2.connections == 1
        # Refused entries never took a place in the chain: both connections' lines verify as
        # one chain.
        code, out = verify_stream(first_lines + rx2.lines, tmp_path)
        assert code == 0, out
    finally:
        rx2.close()


def boot(tmp_path, servers):
    s = start(tmp_path, servers)
    init = requests.put(f"{s.url}/v1/sys/init",
                        json={"secret_shares": 1, "secret_threshold": 1}).json()
    key, root = init["keys"][0], init["root_token"]
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    return s, key, root


def restart(s, key):
    s.stop()
    s.start()
    r = requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    assert r.status_code == 200 and r.json()["sealed"] is False, r.text


def test_restart_reopens_a_socket_device_and_continues_its_chain(tmp_path, servers):
    s, key, root = boot(tmp_path, servers)
    rx = StreamReceiver.tcp()
    port = rx.port
    r = api(s, "PUT", "sys/audit/socket", token=root,
            json={"type": "socket", "options": {"address": f"127.0.0.1:{port}"}})
    assert r.status_code == 204, r.text
    assert api(s, "GET", "sys/mounts", token=root).status_code == 200
    wait_for(lambda: entries_for(rx.entries(), "sys/mounts")[1:], what="entries before")

    restart(s, key)
    assert api(s, "GET", "sys/mounts", token=root).status_code == 200
    wait_for(lambda: rx.connections == 2, what="the reconnection after the restart")
    wait_for(lambda: len(entries_for(rx.entries(), "sys/mounts")) >= 4, what="entries after")
    listed = api(s, "GET", "sys/audit", token=root).json()["data"]
    assert listed["socket/"]["type"] == "socket" and "error" not in listed["socket/"], listed
    # The chain went on from the head saved at shutdown.
    code, out = verify_stream(list(rx.lines), tmp_path)
    assert code == 0, out
    rx.close()

    # Started while its receiver is down, the device is kept as broken, as a file device that
    # cannot open: listed with its error, requests refused, and retried until it connects.
    restart(s, key)
    r = api(s, "GET", "sys/mounts", token=root)
    assert r.status_code == 500 and "socket/" in r.json()["errors"][0], r.text
    listed = api(s, "GET", "sys/audit", token=root).json()["data"]
    assert "cannot connect" in listed["socket/"]["error"], listed
    health = requests.get(f"{s.url}/v1/sys/health").json()
    assert [f["path"] for f in health["audit_failures"]] == ["socket/"], health

    rx2 = StreamReceiver.tcp(port)
    try:
        wait_for(lambda: api(s, "GET", "sys/mounts", token=root).status_code == 200,
                 timeout=20, what="the device to reconnect")
        wait_for(lambda: entries_for(rx2.entries(), "sys/mounts"), what="entries once back")
        assert "audit_failures" not in requests.get(f"{s.url}/v1/sys/health").json()
        # Disabling and enabling again works, with a new chain.
        assert api(s, "DELETE", "sys/audit/socket", token=root).status_code == 204
        r = api(s, "PUT", "sys/audit/socket", token=root,
                json={"type": "socket", "options": {"address": f"127.0.0.1:{port}"}})
        assert r.status_code == 204, r.text
        assert api(s, "GET", "sys/mounts", token=root).status_code == 200
        wait_for(lambda: any(e["hush_chain"]["seq"] == 1 for e in rx2.entries()),
                 what="the new device's first line")
    finally:
        rx2.close()
