"""Durability under crashes: clients write KV v2 secrets to an embedded-SQLite server with a file
audit device while the server is killed with SIGKILL at random moments, again and again. After
each restart the server must unseal normally, every write a client saw acknowledged (HTTP 200)
must read back intact, and the audit log's hash chain must verify.

A write whose answer never arrived (the kill cut it off) may or may not have happened; only
acknowledged writes are checked. The audit sink removes a torn last line when it reopens the log
after a crash and documents it with a chained `hush_audit_notice` line; that is the one notice
tolerated here, because the torn bytes were never acknowledged. Any other notice (for example a
head mismatch) means the log lost or changed lines that were durable, and fails the test.

Bounded: about 25-45 s on a 2-core machine with the debug binary; the test asserts < 90 s.
"""

import hashlib
import json
import os
import random
import threading
import time

import requests

from conftest import sqlite_server

KILLS = 22  # the issue asks for at least 20
WRITERS = 4
TIME_LIMIT_S = 90
GENESIS = "0" * 64
TORN_TAIL_WARNING = "audit log ended with an incomplete line"


def verify_audit_chain(path):
    """Checks the hush hash chain of an audit log: seq counts up by one from 1, each prev is
    the hex SHA-256 of the previous line's exact bytes (without its newline), the first prev is
    64 zeros, one device throughout, no partial last line. Returns (lines, notices)."""
    data = path.read_bytes()
    assert data, "the audit log is empty"
    assert data.endswith(b"\n"), (
        f"the audit log ends with a partial line: {data[-200:]!r}"
    )
    prev_hash, device, notices = GENESIS, None, []
    lines = data[:-1].split(b"\n")
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"audit line {number} is not JSON ({e}): {line[:200]!r}")
        chain = entry.get("hush_chain")
        assert chain is not None, f"audit line {number} has no hush_chain: {line[:200]!r}"
        assert line.startswith(b'{"hush_chain":'), f"audit line {number}: hush_chain not first"
        assert chain["seq"] == number, (
            f"audit line {number} has seq {chain['seq']}: a line is missing, repeated or moved"
        )
        assert chain["prev"] == prev_hash, (
            f"audit line {number}: prev {chain['prev']} != sha256 of line {number - 1} "
            f"({prev_hash}): the chain is broken there"
        )
        if device is None:
            device = chain["device"]
        assert chain["device"] == device, f"audit line {number} belongs to another device"
        if entry.get("type") == "hush_audit_notice":
            notices.append((number, entry))
        prev_hash = hashlib.sha256(line).hexdigest()
    return len(lines), notices


def check_notices(notices):
    for number, entry in notices:
        warnings = entry.get("hush_notice", {}).get("warnings", [])
        unexpected = [w for w in warnings if not w.startswith(TORN_TAIL_WARNING)]
        assert not unexpected, (
            f"audit line {number}: the sink reopened the log with warnings other than a torn "
            f"tail: {unexpected}"
        )


class Writers:
    """Threads writing new KV v2 secrets as fast as the server answers; each acknowledged write
    is recorded as (path, value, version)."""

    def __init__(self, url, token, cycle):
        self.url, self.token, self.cycle = url, token, cycle
        self.stop = threading.Event()
        self.acked = []
        self.lock = threading.Lock()
        # Per writer: whether a request is on the wire, so the test knows the kill hit writes
        # in flight rather than an idle server.
        self.in_flight = [False] * WRITERS
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(WRITERS)
        ]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)
            assert not t.is_alive(), "a writer thread did not stop"

    def _run(self, writer):
        session = requests.Session()
        session.headers["X-Vault-Token"] = self.token
        seq = 0
        while not self.stop.is_set():
            seq += 1
            path = f"dur/c{self.cycle}/w{writer}-{seq}"
            value = f"{self.cycle}:{writer}:{seq}:{os.urandom(12).hex()}"
            self.in_flight[writer] = True
            try:
                r = session.post(
                    f"{self.url}/v1/secret/data/{path}",
                    json={"data": {"value": value}},
                    timeout=10,
                )
            except requests.exceptions.RequestException:
                self.in_flight[writer] = False
                # The kill cut this write off: its outcome is unknown, so it is not checked.
                time.sleep(0.005)
                continue
            self.in_flight[writer] = False
            if r.status_code == 200:
                version = r.json()["data"]["version"]
                with self.lock:
                    self.acked.append((path, value, version))
            else:
                # Not acknowledged; only a server in trouble answers anything but 200 here.
                time.sleep(0.005)


def unseal(url, key):
    r = requests.put(f"{url}/v1/sys/unseal", json={"key": key}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["sealed"] is False, r.text
    health = requests.get(f"{url}/v1/sys/health", timeout=10)
    assert health.status_code == 200, health.text


def read_back(session, url, acked):
    for path, value, version in acked:
        r = session.get(f"{url}/v1/secret/data/{path}", timeout=10)
        assert r.status_code == 200, f"acknowledged write {path} is gone: {r.status_code} {r.text}"
        body = r.json()["data"]
        assert body["data"] == {"value": value}, f"acknowledged write {path} changed: {body}"
        assert body["metadata"]["version"] == version, f"{path}: {body['metadata']}"


def test_no_acknowledged_write_is_lost_across_sigkills(tmp_path, servers):
    began = time.monotonic()
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)  # printed on failure, so a failing schedule can be replayed

    audit_log = tmp_path / "audit" / "audit.log"
    audit_log.parent.mkdir(mode=0o700)  # audit devices never create directories
    server = sqlite_server(tmp_path, servers)
    url = server.start().url

    init = requests.put(
        f"{url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=30
    ).json()
    key, root = init["keys_base64"][0], init["root_token"]
    unseal(url, key)
    session = requests.Session()
    session.headers["X-Vault-Token"] = root
    r = session.post(
        f"{url}/v1/sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}
    )
    assert r.status_code in (200, 204), r.text
    r = session.put(
        f"{url}/v1/sys/audit/file",
        json={"type": "file", "options": {"file_path": str(audit_log)}},
    )
    assert r.status_code in (200, 204), r.text

    all_acked, kills_mid_write = [], 0
    for cycle in range(1, KILLS + 1):
        delay = rng.uniform(0.05, 0.4)
        with Writers(url, root, cycle) as writers:
            time.sleep(delay)
            if any(writers.in_flight):
                kills_mid_write += 1
            server.kill()  # SIGKILL, with writes in flight
        acked = writers.acked
        all_acked.extend(acked)

        server.start()
        try:
            unseal(url, key)
            session = requests.Session()
            session.headers["X-Vault-Token"] = root
            read_back(session, url, acked)
            # Earlier cycles' writes must survive later crashes too: spot-check a sample.
            read_back(session, url, rng.sample(all_acked, min(50, len(all_acked))))
            _, notices = verify_audit_chain(audit_log)
            check_notices(notices)
        except AssertionError as e:
            raise AssertionError(
                f"cycle {cycle} (seed {seed}, killed after {delay * 1000:.0f} ms, "
                f"{len(acked)} writes acknowledged in it): {e}\n--- server log ---\n"
                f"{server.output()[-3000:]}"
            ) from e
        assert time.monotonic() - began < TIME_LIMIT_S, (
            f"only {cycle} kills in {TIME_LIMIT_S} s: the server restarts too slowly"
        )

    # The kills really hit a server under write load: writes were on the wire at nearly every
    # kill, and writes were acknowledged between kills.
    assert kills_mid_write >= KILLS - 2, f"only {kills_mid_write}/{KILLS} kills hit writes in flight"
    assert len(all_acked) >= KILLS, f"only {len(all_acked)} writes acknowledged in total"

    # Finally everything, after a clean stop and start.
    server.stop()
    server.start()
    unseal(url, key)
    session = requests.Session()
    session.headers["X-Vault-Token"] = root
    read_back(session, url, all_acked)
    lines, notices = verify_audit_chain(audit_log)
    check_notices(notices)
    assert lines > len(all_acked), "the audit log has fewer lines than acknowledged writes"
    elapsed = time.monotonic() - began
    print(
        f"{KILLS} SIGKILLs ({kills_mid_write} with writes in flight), {len(all_acked)} "
        f"acknowledged writes read back, {lines} audit lines "
        f"verified, {len(notices)} torn-tail notices, {elapsed:.1f} s"
    )
    assert elapsed < TIME_LIMIT_S
