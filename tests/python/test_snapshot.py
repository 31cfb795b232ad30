"""Snapshots: `hush operator snapshot save` under write load, restored into a new server over
the API and offline into a stopped one, unsealed with the original keys only."""

import os
import stat
import subprocess
import threading

import hvac
import pytest
import requests

from conftest import HUSH_BIN, sqlite_server


def cli(server, token, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "HUSH_"))}
    env.update({"HUSH_ADDR": server.url, "HUSH_TOKEN": token or ""})
    r = subprocess.run([HUSH_BIN, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def initialized(server):
    server.start()
    c = hvac.Client(url=server.url)
    init = c.sys.initialize(secret_shares=3, secret_threshold=2)
    for k in init["keys"][:2]:
        c.sys.submit_unseal_key(k)
    return init


def unseal(server, keys):
    c = hvac.Client(url=server.url)
    status = None
    for k in keys:
        status = c.sys.submit_unseal_key(k)
    return status


def test_snapshot_under_write_load_restores_every_acknowledged_write(tmp_path, servers):
    src_dir, new_dir, old_dir = (tmp_path / n for n in ("src", "new", "old"))
    for d in (src_dir, new_dir, old_dir):
        d.mkdir()
    src = sqlite_server(src_dir, servers)
    init = initialized(src)
    token = init["root_token"]
    root = hvac.Client(url=src.url, token=token)
    root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    root.sys.create_or_update_policy("p", 'path "secret/*" { capabilities = ["read"] }')

    acked, stop = [], threading.Event()

    def writer(n):
        c = hvac.Client(url=src.url, token=token)
        i = 0
        while not stop.is_set():
            c.secrets.kv.v2.create_or_update_secret(f"w{n}/{i}", secret={"i": str(i)})
            acked.append((n, i))
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    while len(acked) < 150:
        threading.Event().wait(0.01)
    before = list(acked)  # acknowledged before the snapshot was asked for
    snap = tmp_path / "hush.snap"
    out = cli(src, token, "operator", "snapshot", "save", str(snap))
    stop.set()
    for t in threads:
        t.join()
    assert "Success!" in out.stdout
    assert stat.S_IMODE(os.stat(snap).st_mode) == 0o600
    data = snap.read_bytes()
    # Encrypted: neither secret names nor values appear.
    assert b"w0/" not in data and b'"i"' not in data
    # An existing file is never overwritten.
    again = cli(src, token, "operator", "snapshot", "save", str(snap), check=False)
    assert again.returncode != 0 and "never overwritten" in again.stderr
    # Taking one needs sudo: a plain token is refused.
    plain = root.auth.token.create(policies=["p"])["auth"]["client_token"]
    r = requests.get(f"{src.url}/v1/sys/storage/raft/snapshot",
                     headers={"X-Vault-Token": plain}, timeout=10)
    assert r.status_code == 403

    # 1. Over the API into a new server; it is sealed until the original keys unseal it.
    new = sqlite_server(new_dir, servers).start()
    out = cli(new, None, "operator", "snapshot", "restore", str(snap))
    assert "Success!" in out.stdout, out.stdout + out.stderr
    c = hvac.Client(url=new.url)
    assert c.sys.is_initialized() and c.sys.is_sealed()
    # Another server's keys do not open it, and change nothing.
    with pytest.raises(hvac.exceptions.VaultError):
        unseal(new, ["aa" * 33, "bb" * 33])
    assert c.sys.is_sealed()
    status = unseal(new, init["keys"][1:3])
    assert status["sealed"] is False
    check = hvac.Client(url=new.url, token=token)
    for n, i in before:
        got = check.secrets.kv.v2.read_secret_version(f"w{n}/{i}", raise_on_deleted_version=True)
        assert got["data"]["data"] == {"i": str(i)}
    assert check.sys.read_policy("p")["data"]["rules"]
    # Survives a restart (the restore finished writing before the unseal answered).
    new.kill()
    new.start()
    unseal(new, init["keys"][:2])
    assert hvac.Client(url=new.url, token=token).secrets.kv.v2.read_secret_version(
        "w0/0", raise_on_deleted_version=True)["data"]["data"] == {"i": "0"}
    # A server that holds data refuses a restore over the API.
    r = cli(new, None, "operator", "snapshot", "restore", str(snap), check=False)
    assert r.returncode != 0 and "is initialized" in r.stderr

    # 2. Offline into a stopped server that has data of its own (-force), with its own keys.
    old = sqlite_server(old_dir, servers)
    other = initialized(old)
    hvac.Client(url=old.url, token=other["root_token"]).sys.enable_secrets_engine("kv", path="gone")
    cfg = old_dir / "hush.hcl"
    r = cli(old, None, "operator", "snapshot", "restore", "-config", str(cfg), str(snap),
            check=False)
    assert r.returncode != 0 and "stop the server" in r.stderr  # still running: locked
    old.stop()
    r = cli(old, None, "operator", "snapshot", "restore", "-config", str(cfg), str(snap),
            check=False)
    assert r.returncode != 0 and "already holds data" in r.stderr
    cli(old, None, "operator", "snapshot", "restore", "-config", str(cfg), "-force", str(snap))
    old.start()
    with pytest.raises(hvac.exceptions.VaultError):
        unseal(old, other["keys"][:2])
    unseal(old, init["keys"][:2])
    restored = hvac.Client(url=old.url, token=token)
    mounts = restored.sys.list_mounted_secrets_engines()["data"]
    assert "secret/" in mounts and "gone/" not in mounts
    assert len(restored.secrets.kv.v2.list_secrets("w1")["data"]["keys"]) >= \
        len([1 for n, _ in before if n == 1])


def test_damaged_snapshot_is_refused_and_changes_nothing(tmp_path, servers):
    new = sqlite_server(tmp_path, servers).start()
    bad = tmp_path / "bad.snap"
    bad.write_bytes(b"HUSHSNAP\x01\x00\x00")
    r = cli(new, None, "operator", "snapshot", "restore", str(bad), check=False)
    assert r.returncode != 0 and "not a usable hush snapshot" in r.stderr
    assert hvac.Client(url=new.url).sys.is_initialized() is False
