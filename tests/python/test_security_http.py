"""The listener under slow, idle and oversized clients, and signals."""

import signal
import socket
import time

import requests


def test_slow_header_connections_are_dropped(dev_server):
    port = int(dev_server.url.rsplit(":", 1)[1])
    slow = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"G")
        slow.append(s)
    idle = socket.create_connection(("127.0.0.1", port), timeout=30)
    start = time.time()
    closed = set()
    # One byte a second, never finishing the headers: the server gives up after its
    # header-read timeout (10 s) instead of holding the connections forever.
    while len(closed) < 6 and time.time() - start < 25:
        for i, s in enumerate(slow):
            if i in closed:
                continue
            try:
                s.sendall(b"E")
            except OSError:
                closed.add(i)
        time.sleep(1)
        for i, s in enumerate(slow + [idle]):
            if i in closed:
                continue
            s.setblocking(False)
            try:
                if s.recv(1024) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
            finally:
                s.setblocking(True)
    elapsed = time.time() - start
    assert len(closed) == 6, f"only {len(closed)} of 6 slow/idle connections were closed in {elapsed:.0f}s"
    assert 8 <= elapsed <= 20, elapsed
    # A normal client is served all along.
    assert requests.get(f"{dev_server.url}/v1/sys/health", timeout=5).status_code == 200


def test_content_length_over_the_limit_is_413_before_the_body(dev_server):
    port = int(dev_server.url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PUT /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: root\r\n"
              b"Content-Type: application/json\r\nContent-Length: 40000000000\r\n\r\n")
    start = time.time()
    reply = s.recv(4096)
    assert time.time() - start < 2
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"larger than the limit" in reply


def test_sighup_does_not_stop_the_server(dev_server):
    dev_server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert dev_server.proc.poll() is None, dev_server.output()[-500:]
    assert requests.get(f"{dev_server.url}/v1/sys/health", timeout=5).status_code == 200
    assert "SIGHUP received" in dev_server.output()
