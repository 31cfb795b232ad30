"""An enabled audit device that cannot be opened at start-up fails requests closed: nothing is
served unrecorded, the device stays listed with its error, it recovers when its file can be
written again, and a root token can still disable it."""

import shutil
import time

import requests

from test_server import start


def boot(tmp_path, servers):
    s = start(tmp_path, servers)
    init = requests.put(f"{s.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
    key, root = init["keys"][0], init["root_token"]
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    return s, key, {"X-Vault-Token": root}


def restart(s, key):
    s.stop()
    s.start()
    r = requests.put(f"{s.url}/v1/sys/unseal", json={"key": key})
    assert r.status_code == 200 and r.json()["sealed"] is False, r.text


def test_unopenable_device_at_start_refuses_requests_until_fixed_or_disabled(tmp_path, servers):
    s, key, h = boot(tmp_path, servers)
    logdir = tmp_path / "logs"
    logdir.mkdir()
    r = requests.put(f"{s.url}/v1/sys/audit/main", headers=h,
                     json={"type": "file", "options": {"file_path": str(logdir / "audit.log")}})
    assert r.status_code == 204, r.text
    shutil.rmtree(logdir)
    restart(s, key)

    # Every request is refused, a new root token included, with the reason.
    for method, path in [("GET", "auth/token/lookup-self"), ("POST", "auth/token/create"),
                         ("GET", "sys/mounts")]:
        r = requests.request(method, f"{s.url}/v1/{path}", headers=h, json={})
        assert r.status_code == 500, (path, r.status_code, r.text)
        assert "main/" in r.json()["errors"][0] and "audit" in r.json()["errors"][0], r.text
    listed = requests.get(f"{s.url}/v1/sys/audit", headers=h)
    assert listed.status_code == 200, listed.text
    assert "main/" in listed.json()["data"] and listed.json()["data"]["main/"]["error"]
    assert "audit device could not be opened" in s.output()
    health = requests.get(f"{s.url}/v1/sys/health").json()
    assert [f["path"] for f in health["audit_failures"]] == ["main/"], health

    # Once the directory is back, the device opens again by itself.
    logdir.mkdir()
    deadline = time.time() + 15
    while time.time() < deadline:
        r = requests.get(f"{s.url}/v1/auth/token/lookup-self", headers=h)
        if r.status_code == 200:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    assert "lookup-self" in (logdir / "audit.log").read_text()
    assert "audit_failures" not in requests.get(f"{s.url}/v1/sys/health").json()

    # Broken again at the next start: the root token can disable it, then requests flow.
    shutil.rmtree(logdir)
    restart(s, key)
    assert requests.get(f"{s.url}/v1/sys/mounts", headers=h).status_code == 500
    r = requests.delete(f"{s.url}/v1/sys/audit/main", headers=h)
    assert r.status_code == 204, r.text
    assert requests.get(f"{s.url}/v1/sys/mounts", headers=h).status_code == 200
    assert "no audit device could record" in s.output()


def test_file_path_may_not_point_at_other_files(dev_server, tmp_path):
    h = {"X-Vault-Token": "root"}
    key = tmp_path / "seal.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")  # no newline: a partial "line"
    key.chmod(0o640)
    config = tmp_path / "hush.hcl"
    config.write_text('storage "sqlite" { path = "/var/lib/hush/hush.db" }\n')
    real = tmp_path / "real.log"
    link = tmp_path / "link.log"
    link.symlink_to(real)
    cases = [
        (key, "is not a hush audit log"),
        (config, "is not a hush audit log"),
        (link, "symbolic link"),
        (tmp_path / "missing" / "audit.log", "does not exist"),
        (tmp_path / "a" / "b" / "audit.log", "does not exist"),
    ]
    for i, (path, why) in enumerate(cases):
        r = requests.put(f"{dev_server.url}/v1/sys/audit/f{i}", headers=h,
                         json={"type": "file", "options": {"file_path": str(path)}})
        assert r.status_code == 400 and why in r.json()["errors"][0], (path, r.text)
    # Nothing was changed: not the files, their modes, nor the directories.
    assert key.read_bytes() == b"0123456789abcdef0123456789abcdef"
    assert key.stat().st_mode & 0o777 == 0o640
    assert config.read_text().startswith('storage "sqlite"')
    assert not real.exists() and not (tmp_path / "missing").exists() and not (tmp_path / "a").exists()
    assert requests.get(f"{dev_server.url}/v1/sys/audit", headers=h).json()["data"] == {}
    # A new file in an existing directory is fine, and so is reopening its own log.
    ok = tmp_path / "audit.log"
    r = requests.put(f"{dev_server.url}/v1/sys/audit/good", headers=h,
                     json={"type": "file", "options": {"file_path": str(ok)}})
    assert r.status_code == 204, r.text


def test_log_directory_removed_while_running_fails_closed(dev_server, tmp_path):
    h = {"X-Vault-Token": "root"}
    logdir = tmp_path / "running"
    logdir.mkdir()
    r = requests.put(f"{dev_server.url}/v1/sys/audit/main", headers=h,
                     json={"type": "file", "options": {"file_path": str(logdir / "audit.log")}})
    assert r.status_code == 204, r.text
    assert requests.get(f"{dev_server.url}/v1/sys/mounts", headers=h).status_code == 200
    shutil.rmtree(logdir)
    deadline = time.time() + 10
    while time.time() < deadline:
        r = requests.get(f"{dev_server.url}/v1/sys/mounts", headers=h)
        if r.status_code != 200:
            break
        time.sleep(0.2)
    assert r.status_code == 500 and "deleted" in r.text, r.text
    assert "audit log file was deleted" in dev_server.output()
    # The root token can still take the device out; then requests flow again.
    assert requests.delete(f"{dev_server.url}/v1/sys/audit/main", headers=h).status_code == 204
    assert requests.get(f"{dev_server.url}/v1/sys/mounts", headers=h).status_code == 200
