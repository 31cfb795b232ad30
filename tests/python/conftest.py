"""Fixtures that run the real hush binary for client-compatibility tests."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import trustme

HUSH_BIN = os.path.abspath(os.environ.get("HUSH_BIN") or str(
    Path(__file__).resolve().parents[2] / "target" / "debug" / "hush"
))


def wait_for(predicate, seconds: float) -> bool:
    """Polls `predicate` every 0.2 s until it holds or `seconds` pass; returns its last answer."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HushServer:
    """A `hush server` child process with its own temp directory and log file."""

    def __init__(self, workdir: Path, args, env=None, url=None, verify=True):
        self.workdir = workdir
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.url = url
        self.verify = verify
        self.proc = None
        self.log_path = workdir / f"server-{int(time.time() * 1000)}.log"

    def start(self, wait=True):
        self.log_path = self.workdir / f"server-{int(time.time() * 1000)}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [HUSH_BIN, "server", *self.args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.workdir,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hush exited with {self.proc.returncode}:\n{self.output()}")
            try:
                requests.get(f"{self.url}/v1/sys/health", verify=self.verify, timeout=1)
                return
            except requests.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"hush did not answer within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()


def sqlite_config(tmp_path: Path, port: int, extra: str = "", listener_extra: str = "") -> Path:
    """Writes `hush.hcl` for a server on the embedded SQLite file under `tmp_path/data`, plain
    HTTP on `port`, with `extra` appended (and `listener_extra` inside the listener); returns
    its path."""
    cfg = tmp_path / "hush.hcl"
    cfg.write_text(
        f"""
storage "sqlite" {{ path = "{tmp_path / 'data' / 'hush.db'}" }}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
  {listener_extra}
}}
disable_mlock = true
{extra}
"""
    )
    return cfg


def sqlite_server(tmp_path: Path, servers, extra: str = "", env=None,
                  listener_extra: str = "") -> "HushServer":
    """A (not yet started) server on [`sqlite_config`], stopped at the end of the test."""
    port = free_port()
    cfg = sqlite_config(tmp_path, port, extra, listener_extra)
    server = HushServer(tmp_path, ["--config", str(cfg)], env=env, url=f"http://127.0.0.1:{port}")
    servers.append(server)
    return server


@pytest.fixture
def tls_files(tmp_path):
    """A CA and a server certificate for 127.0.0.1/localhost, written as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = tmp_path / "ca.pem"
    cert_path = tmp_path / "server.pem"
    key_path = tmp_path / "server-key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    with open(cert_path, "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    return {"ca": ca_path, "cert": cert_path, "key": key_path}


@pytest.fixture
def servers():
    """Collects started servers and stops them at the end of the test."""
    started = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def dev_server(tmp_path, servers):
    """A `hush server --dev` with root token `root`."""
    port = free_port()
    s = HushServer(
        tmp_path,
        ["--dev", "--dev-root-token-id", "root", "--dev-listen-address", f"127.0.0.1:{port}"],
        url=f"http://127.0.0.1:{port}",
    )
    servers.append(s)
    return s.start()
