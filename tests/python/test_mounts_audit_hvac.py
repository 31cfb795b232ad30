"""Mounts (`sys/mounts`, `sys/remount`, `sys/auth`, `sys/internal/ui/mounts`) and the file audit
device (`sys/audit`, `sys/audit-hash`, `sys/audit-head`) through hvac against the real binary:
what the audit log holds (Vault's fields, HMAC'd secrets, nothing in plaintext, also not in the
server's own debug log) and that its hash chain exposes every kind of tampering."""

import hashlib
import json
import secrets

import hvac
import pytest
import requests

from conftest import HushServer, free_port, sqlite_server

ROOT = "root"


@pytest.fixture
def root(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


def raw(server, method, path, token=ROOT, **kw):
    return requests.request(method, f"{server.url}/v1/{path}", headers={"X-Vault-Token": token},
                            timeout=10, **kw)


def read_kv(client, path, mount="secret"):
    return client.secrets.kv.v2.read_secret(path, mount_point=mount,
                                            raise_on_deleted_version=True)["data"]["data"]


# ---------------------------------------------------------------------------------------------
# Mounts


def test_enable_list_read_tune_mounts(root, dev_server):
    mounts = root.sys.list_mounted_secrets_engines()
    # hvac users read both the top-level copy and `data`.
    assert "secret/" in mounts and "secret/" in mounts["data"]
    assert mounts["data"]["secret/"]["type"] == "kv"
    assert mounts["data"]["secret/"]["options"] == {"version": "2"}
    assert mounts["data"]["sys/"]["type"] == "system"

    root.sys.enable_secrets_engine("kv", path="apps", description="app secrets",
                                   options={"version": "2"})
    mounts = root.sys.list_mounted_secrets_engines()
    assert "apps/" in mounts and "apps/" in mounts["data"]
    apps = mounts["data"]["apps/"]
    assert apps["type"] == "kv" and apps["description"] == "app secrets"
    assert apps["options"] == {"version": "2"}
    assert apps["accessor"].startswith("kv_")
    assert apps["uuid"]

    cfg = root.sys.read_mount_configuration("apps")
    assert cfg["data"]["description"] == "app secrets"
    assert isinstance(cfg["data"]["default_lease_ttl"], int)
    assert isinstance(cfg["data"]["max_lease_ttl"], int)
    assert cfg["default_lease_ttl"] == cfg["data"]["default_lease_ttl"]

    root.sys.tune_mount_configuration("apps", default_lease_ttl="1h", max_lease_ttl="2h",
                                      description="tuned")
    cfg = root.sys.read_mount_configuration("apps")["data"]
    assert cfg["default_lease_ttl"] == 3600
    assert cfg["max_lease_ttl"] == 7200
    assert cfg["description"] == "tuned"
    listed = root.sys.list_mounted_secrets_engines()["data"]["apps/"]
    assert listed["config"]["default_lease_ttl"] == 3600
    assert listed["config"]["max_lease_ttl"] == 7200
    assert listed["description"] == "tuned"
    assert root.sys.retrieve_mount_option("apps", "version") == "2"

    # Errors: a taken path, a reserved one, an unknown engine type.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        root.sys.enable_secrets_engine("kv", path="apps")
    assert "apps/" in str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.enable_secrets_engine("kv", path="sys")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.enable_secrets_engine("no-such-engine", path="x")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.disable_secrets_engine("sys")


def test_move_backend_keeps_data_and_disable_drops_it(root):
    kv = root.secrets.kv.v2
    root.sys.enable_secrets_engine("kv", path="team-a", options={"version": "2"})
    kv.create_or_update_secret("db/creds", {"user": "u", "password": "p"}, mount_point="team-a")
    kv.create_or_update_secret("db/creds", {"user": "u", "password": "p2"}, mount_point="team-a")

    root.sys.move_backend("team-a", "team-b")
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert "team-b/" in mounts and "team-a/" not in mounts
    assert mounts["team-b/"]["options"] == {"version": "2"}
    assert read_kv(root, "db/creds", "team-b") == {"user": "u", "password": "p2"}
    assert kv.read_secret_version("db/creds", version=1, mount_point="team-b",
                                  raise_on_deleted_version=True)["data"]["data"]["password"] == "p"
    assert kv.read_secret_metadata("db/creds", mount_point="team-b")["data"]["current_version"] == 2
    with pytest.raises(hvac.exceptions.InvalidPath):
        read_kv(root, "db/creds", "team-a")
    # Moving onto a taken path or moving sys/ is refused.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.move_backend("team-b", "secret")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.move_backend("sys", "elsewhere")

    root.sys.disable_secrets_engine("team-b")
    assert "team-b/" not in root.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        read_kv(root, "db/creds", "team-b")
    # Re-enabled at the same path, it starts empty.
    root.sys.enable_secrets_engine("kv", path="team-b", options={"version": "2"})
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets("", mount_point="team-b")
    with pytest.raises(hvac.exceptions.InvalidPath):
        read_kv(root, "db/creds", "team-b")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("db/creds", mount_point="team-b")


def test_list_auth_methods(root):
    auths = root.sys.list_auth_methods()
    assert "token/" in auths and "token/" in auths["data"]
    assert auths["data"]["token/"]["type"] == "token"
    assert auths["data"]["token/"]["accessor"]


def test_internal_ui_mounts_needs_access_to_the_mount(root, dev_server):
    root.sys.create_or_update_acl_policy(
        "app-read", 'path "secret/data/app/*" { capabilities = ["read"] }')
    scoped = root.auth.token.create(policies=["app-read"])["auth"]["client_token"]
    nothing = root.auth.token.create(policies=["default"])["auth"]["client_token"]

    r = raw(dev_server, "GET", "sys/internal/ui/mounts/secret", token=scoped)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "kv"
    assert data["options"]["version"] == "2"
    assert data["path"] == "secret/"
    # A path below the mount resolves to the mount too.
    r = raw(dev_server, "GET", "sys/internal/ui/mounts/secret/data/app/x", token=scoped)
    assert r.status_code == 200 and r.json()["data"]["path"] == "secret/"

    r = raw(dev_server, "GET", "sys/internal/ui/mounts/secret", token=nothing)
    assert r.status_code == 403, r.text
    assert raw(dev_server, "GET", "sys/internal/ui/mounts/secret", token="bogus").status_code == 403


# ---------------------------------------------------------------------------------------------
# Audit: enabling, hashing, disabling


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_device_enable_hash_disable(root, dev_server, tmp_path):
    log = tmp_path / "audit.log"
    assert root.sys.list_enabled_audit_devices()["data"] == {}
    root.sys.enable_audit_device("file", options={"file_path": str(log)}, description="main log")
    devices = root.sys.list_enabled_audit_devices()
    assert "file/" in devices["data"] and "file/" in devices
    dev = devices["data"]["file/"]
    assert dev["type"] == "file" and dev["path"] == "file/"
    assert dev["options"]["file_path"] == str(log)
    assert dev["description"] == "main log"
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.enable_audit_device("file", options={"file_path": str(log)})

    known = "known-value-" + secrets.token_hex(8)
    root.secrets.kv.v2.create_or_update_secret("audit/known", {"value": known})
    assert read_kv(root, "audit/known") == {"value": known}
    expected = root.sys.calculate_hash("file", known)["data"]["hash"]
    assert expected.startswith("hmac-sha256:") and len(expected) == len("hmac-sha256:") + 64
    # The same input always hashes the same; another input differently.
    assert root.sys.calculate_hash("file", known)["data"]["hash"] == expected
    assert root.sys.calculate_hash("file", known + "x")["data"]["hash"] != expected

    entries = audit_lines(log)
    write_req = [e for e in entries if e["type"] == "request"
                 and e["request"]["path"] == "secret/data/audit/known"
                 and e["request"]["operation"] == "create"]
    assert len(write_req) == 1
    assert write_req[0]["request"]["data"]["data"]["value"] == expected
    read_resp = [e for e in entries if e["type"] == "response"
                 and e["request"]["path"] == "secret/data/audit/known"
                 and e["request"]["operation"] == "read"]
    assert len(read_resp) == 1
    assert read_resp[0]["response"]["data"]["data"]["value"] == expected
    # A read changes nothing, so its request entry may go out in the same write as its response
    # entry; both are there all the same, request first, with one request id.
    read_entries = [e for e in entries if e["request"]["path"] == "secret/data/audit/known"
                    and e["request"]["operation"] == "read"]
    assert [e["type"] for e in read_entries] == ["request", "response"]
    assert read_entries[0]["request"]["id"] == read_entries[1]["request"]["id"]
    # The root token is HMAC'd with the same key.
    root_hash = root.sys.calculate_hash("file", ROOT)["data"]["hash"]
    assert write_req[0]["request"]["client_token"] == root_hash

    # A second device has its own salt.
    log2 = tmp_path / "audit2.log"
    root.sys.enable_audit_device("file", path="second", options={"file_path": str(log2)})
    assert root.sys.calculate_hash("second", known)["data"]["hash"] != expected
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.calculate_hash("nosuchdevice", known)

    root.sys.disable_audit_device("file")
    devices = root.sys.list_enabled_audit_devices()["data"]
    assert "file/" not in devices and "second/" in devices
    size = log.stat().st_size
    root.secrets.kv.v2.create_or_update_secret("audit/after", {"value": "x"})
    read_kv(root, "audit/after")
    assert log.stat().st_size == size  # the disabled device writes nothing more
    assert "secret/data/audit/after" in log2.read_text()
    root.sys.disable_audit_device("second")
    assert root.sys.list_enabled_audit_devices()["data"] == {}


# ---------------------------------------------------------------------------------------------
# Audit: no secrets in plaintext, Vault's entry format


def test_no_secret_or_token_in_audit_log_or_server_log(tmp_path, servers):
    port = free_port()
    server = HushServer(
        tmp_path,
        ["--dev", "--dev-root-token-id", ROOT, "--dev-listen-address", f"127.0.0.1:{port}",
         "--log-level", "debug"],
        url=f"http://127.0.0.1:{port}",
    )
    servers.append(server)
    server.start()
    root = hvac.Client(url=server.url, token=ROOT)
    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})

    secret_values = [f"pw-{secrets.token_hex(12)}" for _ in range(4)]
    kv = root.secrets.kv.v2
    kv.create_or_update_secret("app/db", {"password": secret_values[0],
                                          "nested": {"key": secret_values[1]}})
    kv.patch("app/db", {"extra": secret_values[2]})
    root.sys.create_or_update_acl_policy(
        "app-read", 'path "secret/data/app/*" { capabilities = ["read"] }')
    tokens = []
    for _ in range(2):
        auth = root.auth.token.create(policies=["app-read"], ttl="1h")["auth"]
        tokens.append(auth["client_token"])
    reader = hvac.Client(url=server.url, token=tokens[0])
    assert read_kv(reader, "app/db")["password"] == secret_values[0]
    root.auth.token.lookup(tokens[1])
    root.auth.token.renew(tokens[1])
    kv.create_or_update_secret("app/other", {"v": secret_values[3]})
    # A denied request, from the scoped token.
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.create_or_update_secret("app/db", {"password": "nope"})
    with pytest.raises(hvac.exceptions.Forbidden):
        read_kv(reader, "other/thing")
    root.auth.token.revoke(tokens[1])
    server.stop()

    audit_text = log.read_text()
    server_text = server.output()
    assert "DEBUG" in server_text or "debug" in server_text  # the debug log was really on
    for needle in secret_values + tokens:
        assert needle not in audit_text, f"{needle!r} in the audit log"
        assert needle not in server_text, f"{needle!r} in the server log"

    entries = audit_lines(log)
    by_id = {}
    for e in entries:
        for field in ("time", "type", "auth", "request"):
            assert field in e, (field, e)
        assert e["type"] in ("request", "response")
        assert e["request"]["client_token"].startswith("hmac-sha256:")
        assert e["request"]["operation"] in ("create", "read", "update", "delete", "list", "patch")
        by_id.setdefault(e["request"]["id"], []).append(e)

    denied = [es for es in by_id.values() if any(x.get("error") for x in es)]
    allowed = [es for es in by_id.values() if not any(x.get("error") for x in es)
               and not es[0]["request"]["path"].startswith("sys/audit")]
    assert len(allowed) >= 10
    for es in allowed:
        # One request entry and one response entry with Vault's fields.
        assert sorted(x["type"] for x in es) == ["request", "response"], es
        resp = next(x for x in es if x["type"] == "response")
        assert "response" in resp
        req = next(x for x in es if x["type"] == "request")
        assert req["request"]["path"] == resp["request"]["path"]
        assert req["auth"]["policies"]

    # Token creations: the new token and accessor are HMAC'd in the response.
    creates = [next(x for x in es if x["type"] == "response") for es in allowed
               if es[0]["request"]["path"] == "auth/token/create"]
    assert len(creates) == 2
    for c in creates:
        assert c["response"]["auth"]["client_token"].startswith("hmac-sha256:")
        assert c["response"]["auth"]["accessor"].startswith("hmac-sha256:")

    # The denied write and read: recorded with an error naming the path and the capability.
    assert len(denied) == 2
    errors = {es[0]["request"]["path"]: next(x["error"] for x in es if x.get("error"))
              for es in denied}
    assert set(errors) == {"secret/data/app/db", "secret/data/other/thing"}
    assert "permission denied" in errors["secret/data/app/db"]
    assert "secret/data/app/db" in errors["secret/data/app/db"]
    assert "update" in errors["secret/data/app/db"]
    assert "secret/data/other/thing" in errors["secret/data/other/thing"]
    assert "read" in errors["secret/data/other/thing"]
    for es in denied:
        assert es[0]["auth"]["policies"] == ["app-read", "default"]


# ---------------------------------------------------------------------------------------------
# Audit: the hash chain
#
# `hush audit verify` does not exist yet, so the chain is checked here. The format relied on
# (crates/hush-audit/src/lib.rs):
#   - every line is one JSON object whose first field is
#       "hush_chain": {"seq": N, "prev": "<hex>", "device": "<device id>"}
#   - seq counts the device's lines from 1 and increments by exactly 1 per line;
#   - prev is the lowercase hex SHA-256 of the previous line's exact bytes (without its "\n");
#     the first line of a new device has prev = 64 zeros;
#   - device is the same on every line of one device's file;
#   - every line ends with "\n" (a partial last line is a torn or cut write);
#   - GET sys/audit-head/<path> returns the server's own {seq, hash} of the last line it wrote,
#     which is what exposes whole lines cut off the end (or an edit of the last line).

GENESIS = "0" * 64
NL = b"\n"


def verify_chain(data: bytes, head=None):
    """None when `data` is an intact chain (ending at or after `head`), else the reason, naming
    the 1-based line where the chain breaks."""
    if not data:
        return "empty log" if head and head["seq"] else None
    if not data.endswith(NL):
        return f"line {data.count(NL) + 1}: incomplete (no newline)"
    lines = data[:-1].split(NL)
    prev_hash, prev_seq, device = GENESIS, 0, None
    hashes = {}
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
            chain = obj["hush_chain"]
            seq, prev, dev = chain["seq"], chain["prev"], chain["device"]
        except (ValueError, KeyError, TypeError) as e:
            return f"line {n}: not a chained entry ({e})"
        if not line.startswith(b'{"hush_chain":'):
            return f"line {n}: hush_chain is not the first field"
        if seq != prev_seq + 1:
            return f"line {n}: seq {seq} after {prev_seq}"
        if prev != prev_hash:
            return f"line {n}: prev does not match the previous line"
        if device is not None and dev != device:
            return f"line {n}: device {dev} != {device}"
        device = dev
        prev_seq, prev_hash = seq, hashlib.sha256(line).hexdigest()
        hashes[seq] = prev_hash
    if head:
        if head["seq"] not in hashes:
            return f"line {len(lines) + 1}: log ends at seq {prev_seq}, server head is {head['seq']}"
        if hashes[head["seq"]] != head["hash"]:
            return f"line {head['seq']}: does not match the server's head"
    return None


def test_audit_chain_detects_tampering(root, dev_server, tmp_path):
    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    for i in range(6):
        root.secrets.kv.v2.create_or_update_secret(f"chain/{i}", {"v": f"value-{i}"})
        read_kv(root, f"chain/{i}")
    head = root.adapter.get("/v1/sys/audit-head/file")["data"]
    assert head["head"] == f"{head['seq']}:{head['hash']}"
    assert head["path"] == "file/"
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.adapter.get("/v1/sys/audit-head/nosuchdevice")
    root.sys.disable_audit_device("file")

    data = log.read_bytes()
    lines = data.splitlines(keepends=True)
    assert len(lines) >= 24
    assert json.loads(lines[0])["hush_chain"]["seq"] == 1
    assert json.loads(lines[0])["hush_chain"]["prev"] == GENESIS
    assert head["seq"] <= len(lines)
    assert verify_chain(data, head) is None
    assert verify_chain(data) is None

    def tampered(new_lines):
        return b"".join(new_lines)

    mid = len(lines) // 2
    # Edited: one value changed in the middle -> caught at the next line.
    edited = list(lines)
    assert b'"operation":"update"' in edited[mid] or b'"operation":"read"' in edited[mid]
    edited[mid] = edited[mid].replace(b'"operation":"update"', b'"operation":"delete"').replace(
        b'"operation":"read"', b'"operation":"list"')
    reason = verify_chain(tampered(edited), head)
    assert reason and reason.startswith(f"line {mid + 2}:"), reason
    # Edited last line: only the server's head exposes it.
    last = head["seq"] - 1
    edited_last = list(lines[:head["seq"]])
    edited_last[last] = edited_last[last].replace(b'"remote_address":"127.0.0.1"',
                                                  b'"remote_address":"10.9.9.9"')
    assert edited_last[last] != lines[last]
    assert verify_chain(tampered(edited_last)) is None
    assert verify_chain(tampered(edited_last), head) is not None
    # Deleted.
    reason = verify_chain(tampered(lines[:mid] + lines[mid + 1:]), head)
    assert reason and reason.startswith(f"line {mid + 1}:"), reason
    # Inserted: a copy of an earlier line.
    reason = verify_chain(tampered(lines[:mid] + [lines[2]] + lines[mid:]), head)
    assert reason and reason.startswith(f"line {mid + 1}:"), reason
    # Inserted: a fabricated line with a plausible seq and prev.
    forged = json.loads(lines[mid - 1])
    forged["hush_chain"]["seq"] += 1
    forged["hush_chain"]["prev"] = hashlib.sha256(lines[mid - 1].rstrip(b"\n")).hexdigest()
    forged_line = json.dumps(forged, separators=(",", ":")).encode() + b"\n"
    reason = verify_chain(tampered(lines[:mid] + [forged_line] + lines[mid:]), head)
    assert reason and reason.startswith(f"line {mid + 2}:"), reason
    # Swapped.
    reason = verify_chain(tampered(lines[:mid] + [lines[mid + 1], lines[mid]] + lines[mid + 2:]), head)
    assert reason and reason.startswith(f"line {mid + 1}:"), reason
    # Truncated: whole lines cut off the end -> only the head exposes it.
    cut = tampered(lines[:head["seq"] - 2])
    assert verify_chain(cut) is None
    reason = verify_chain(cut, head)
    assert reason and "server head" in reason, reason
    # Truncated in the middle of a line.
    reason = verify_chain(data[:len(data) - 10], head)
    assert reason and "incomplete" in reason, reason
    # A line from another device's log.
    log2 = tmp_path / "other.log"
    root.sys.enable_audit_device("file", path="other", options={"file_path": str(log2)})
    root.secrets.kv.v2.create_or_update_secret("chain/x", {"v": "x"})
    other = log2.read_bytes().splitlines(keepends=True)
    assert json.loads(other[0])["hush_chain"]["device"] != json.loads(lines[0])["hush_chain"]["device"]
    reason = verify_chain(tampered(lines[:1] + other[1:2] + lines[2:]), head)
    assert reason and reason.startswith("line 2:"), reason


def test_audit_chain_continues_after_reenable_and_restart(tmp_path, servers):
    """The chain of a device continues across a disable/enable with the same file only as a new
    device (its own genesis), and across a server restart on persistent storage."""
    server = sqlite_server(tmp_path, servers)
    server.start()
    client = hvac.Client(url=server.url)
    init = client.sys.initialize(1, 1)
    client.sys.submit_unseal_key(init["keys"][0])
    client.token = init["root_token"]
    log = tmp_path / "audit.log"
    client.sys.enable_audit_device("file", options={"file_path": str(log)})
    client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret("a", {"v": "1"})
    before = client.adapter.get("/v1/sys/audit-head/file")["data"]

    server.stop()
    server.start()
    client = hvac.Client(url=server.url, token=init["root_token"])
    client.sys.submit_unseal_key(init["keys"][0])
    client.secrets.kv.v2.create_or_update_secret("a", {"v": "2"})
    after = client.adapter.get("/v1/sys/audit-head/file")["data"]
    assert after["seq"] > before["seq"]
    assert after["device_id"] == before["device_id"]
    data = log.read_bytes()
    assert verify_chain(data, after) is None, verify_chain(data, after)
    assert verify_chain(data, before) is None


def test_an_audit_file_is_reused_after_its_device_is_disabled(root, dev_server, tmp_path):
    # Vault users disable a device and enable one again onto the same file: the new device
    # continues the file with a chain of its own, linked to the last line before it, and
    # `hush audit verify` proves the whole file.
    import subprocess

    from conftest import HUSH_BIN

    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    root.secrets.kv.v2.create_or_update_secret("reuse/a", {"k": "1"})
    root.sys.disable_audit_device("file")
    lines_before = len(log.read_text().splitlines())
    root.sys.enable_audit_device("file", path="again", options={"file_path": str(log)})
    root.secrets.kv.v2.create_or_update_secret("reuse/b", {"k": "2"})
    assert len(log.read_text().splitlines()) > lines_before
    # Against the server's head for the new device (hush audit verify -device asks for it).
    env = {"PATH": "/usr/bin:/bin", "VAULT_ADDR": dev_server.url, "VAULT_TOKEN": ROOT}
    out = subprocess.run([HUSH_BIN, "audit", "verify", "-format=json", "-device=again", str(log)],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True and report["segments"] == 2, report
    # Enabled once more on the same path it was: a third segment.
    root.sys.disable_audit_device("again")
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    root.secrets.kv.v2.create_or_update_secret("reuse/c", {"k": "3"})
    out = subprocess.run([HUSH_BIN, "audit", "verify", str(log)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and "3 device chains" in out.stdout, out.stdout + out.stderr


def test_generic_is_vaults_old_name_for_kv_v1(root):
    root.sys.enable_secrets_engine("generic", path="old")
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["old/"]["type"] == "generic", mounts["old/"]
    root.secrets.kv.v1.create_or_update_secret("app", {"k": "v"}, mount_point="old")
    assert root.secrets.kv.v1.read_secret("app", mount_point="old")["data"] == {"k": "v"}
