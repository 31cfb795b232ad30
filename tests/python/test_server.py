"""The real binary: restarts on the same SQLite file, the static seal, health codes, and bad input
that must get a clear 4xx (or start-up error) and change nothing."""

import json
import os
import subprocess
import time

import requests

from conftest import HUSH_BIN, HushServer, free_port, sqlite_config


def plain_config(tmp_path, port, extra=""):
    return sqlite_config(tmp_path, port, extra)


def start(tmp_path, servers, extra="", env=None):
    port = free_port()
    cfg = plain_config(tmp_path, port, extra)
    s = HushServer(tmp_path, ["--config", str(cfg)], env=env, url=f"http://127.0.0.1:{port}")
    servers.append(s)
    return s.start()


def test_init_unseal_seal_restart_keeps_everything(tmp_path, servers):
    s = start(tmp_path, servers)
    r = requests.put(f"{s.url}/v1/sys/init", json={"secret_shares": 5, "secret_threshold": 3})
    assert r.status_code == 200, r.text
    init = r.json()
    keys, root = init["keys_base64"], init["root_token"]
    for k in keys[:3]:
        status = requests.put(f"{s.url}/v1/sys/unseal", json={"key": k}).json()
    assert status["sealed"] is False
    h = {"X-Vault-Token": root}
    assert requests.put(f"{s.url}/v1/sys/rotate", headers=h).status_code == 204
    term = requests.get(f"{s.url}/v1/sys/key-status", headers=h).json()["term"]
    assert term == 2
    assert requests.put(f"{s.url}/v1/sys/seal", headers=h).status_code == 204
    assert requests.get(f"{s.url}/v1/sys/seal-status").json()["sealed"] is True

    s.stop()
    s.start()
    st = requests.get(f"{s.url}/v1/sys/seal-status").json()
    assert st["initialized"] is True and st["sealed"] is True and st["t"] == 3
    for k in keys[1:4]:
        status = requests.put(f"{s.url}/v1/sys/unseal", json={"key": k}).json()
    assert status["sealed"] is False
    assert requests.get(f"{s.url}/v1/sys/key-status", headers=h).json()["term"] == 2

    # A kill -9 loses nothing acknowledged either.
    assert requests.put(f"{s.url}/v1/sys/rotate", headers=h).status_code == 204
    s.kill()
    s.start()
    for k in keys[:3]:
        requests.put(f"{s.url}/v1/sys/unseal", json={"key": k})
    assert requests.get(f"{s.url}/v1/sys/key-status", headers=h).json()["term"] == 3


def test_static_seal_unseals_with_nobody_present(tmp_path, servers):
    key_file = tmp_path / "unseal.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    extra = f"""
seal "static" {{
  current_key_id = "k1"
  current_key    = "file://{key_file}"
}}
"""
    s = start(tmp_path, servers, extra)
    st = requests.get(f"{s.url}/v1/sys/seal-status").json()
    assert st["type"] == "static" and st["initialized"] is False
    r = requests.put(f"{s.url}/v1/sys/init", json={"recovery_shares": 3, "recovery_threshold": 2})
    assert r.status_code == 200, r.text
    init = r.json()
    assert init["keys"] == [] and len(init["recovery_keys_base64"]) == 3
    root = init["root_token"]
    # Initialized and unsealed at once: nobody enters keys.
    assert requests.get(f"{s.url}/v1/sys/health").status_code == 200

    s.kill()
    s.start()
    st = requests.get(f"{s.url}/v1/sys/seal-status").json()
    assert st["sealed"] is False and st["recovery_seal"] is True
    r = requests.get(f"{s.url}/v1/sys/key-status", headers={"X-Vault-Token": root})
    assert r.status_code == 200 and r.json()["term"] == 1

    # The same key given through an environment variable works too.
    s.stop()
    cfg = tmp_path / "hush.hcl"
    cfg.write_text(cfg.read_text().replace(f"file://{key_file}", "env://HUSH_TEST_SEAL_KEY"))
    s.env["HUSH_TEST_SEAL_KEY"] = key_file.read_bytes().hex()
    s.start()
    assert requests.get(f"{s.url}/v1/sys/health").status_code == 200

    # A wrong key: the server refuses to start and says why.
    s.stop()
    s.env["HUSH_TEST_SEAL_KEY"] = os.urandom(32).hex()
    s.start(wait=False)
    assert s.proc.wait(timeout=10) != 0
    assert "unseal" in s.output().lower()


def hush_cli(url, *args, token=None):
    """Runs the hush CLI against `url` in a clean environment; returns the finished process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUSH_", "VAULT_"))}
    env["HUSH_ADDR"] = url
    if token:
        env["HUSH_TOKEN"] = token
    return subprocess.run([HUSH_BIN, *args], capture_output=True, text=True, env=env, timeout=30)


def test_cli_init_follows_the_seal_type(tmp_path, servers):
    # A static-seal server: `hush operator init` with no flags makes 5 recovery keys, 3 needed,
    # as `vault operator init` does on an auto-unseal seal.
    key_file = tmp_path / "unseal.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    static = tmp_path / "static"
    static.mkdir()
    s = start(static, servers, f'seal "static" {{\n current_key_id = "k1"\n'
              f' current_key = "file://{key_file}"\n}}\n')
    p = hush_cli(s.url, "operator", "init", "-format=json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["recovery_keys_b64"]) == 5 and out["recovery_keys_threshold"] == 3
    assert out["unseal_keys_b64"] == []
    status = requests.get(f"{s.url}/v1/sys/seal-status").json()
    assert status["sealed"] is False and status["recovery_seal"] is True
    r = requests.get(f"{s.url}/v1/auth/token/lookup-self",
                     headers={"X-Vault-Token": out["root_token"]})
    assert r.status_code == 200, r.text

    # One recovery key needs one; the table output names the recovery keys.
    other = tmp_path / "static1"
    other.mkdir()
    s1 = start(other, servers, f'seal "static" {{\n current_key_id = "k1"\n'
               f' current_key = "file://{key_file}"\n}}\n')
    p = hush_cli(s1.url, "init", "-recovery-shares=1")
    assert p.returncode == 0, p.stderr
    assert "Recovery Key 1:" in p.stdout and "Unseal Key" not in p.stdout, p.stdout

    # The Shamir seal keeps the 5/3 unseal-key default, and refuses recovery counts clearly.
    shamir = tmp_path / "shamir"
    shamir.mkdir()
    s2 = start(shamir, servers)
    p = hush_cli(s2.url, "init", "-recovery-shares=3")
    assert p.returncode != 0 and "Shamir seal" in p.stderr, p.stderr
    p = hush_cli(s2.url, "init", "-format=json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["unseal_keys_b64"]) == 5 and out["unseal_threshold"] == 3


def test_health_codes(tmp_path, servers):
    s = start(tmp_path, servers)
    url = f"{s.url}/v1/sys/health"
    assert requests.get(url).status_code == 501
    assert requests.head(url).status_code == 501
    assert requests.get(url, params={"uninitcode": 200}).status_code == 200
    keys = requests.put(
        f"{s.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}
    ).json()["keys"]
    r = requests.get(url)
    assert r.status_code == 503 and r.json()["sealed"] is True
    assert requests.head(url).status_code == 503
    assert requests.get(url, params={"sealedcode": 299}).status_code == 299
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": keys[0]})
    r = requests.get(url)
    assert r.status_code == 200
    body = r.json()
    for field in ["initialized", "sealed", "standby", "replication_performance_mode",
                  "replication_dr_mode", "server_time_utc", "version", "cluster_name",
                  "cluster_id"]:
        assert field in body
    assert requests.head(url).status_code == 200
    assert requests.head(url).content == b""
    assert requests.get(url, params={"activecode": 204}).status_code == 204
    assert requests.get(url, params={"standbyok": "true"}).status_code == 200
    r = requests.get(url, params={"activecode": "abc"})
    assert r.status_code == 400 and "activecode" in r.json()["errors"][0]
    leader = requests.get(f"{s.url}/v1/sys/leader").json()
    assert leader["ha_enabled"] is False


def test_bad_input_gets_clear_errors_and_changes_nothing(tmp_path, servers):
    s = start(tmp_path, servers)
    u = s.url
    r = requests.put(f"{u}/v1/sys/init", data="{not json")
    assert r.status_code == 400 and "JSON" in r.json()["errors"][0]
    assert r.headers["Content-Type"] == "application/json"
    r = requests.put(f"{u}/v1/sys/init", json={"secret_shares": "five", "secret_threshold": 3})
    assert r.status_code == 400 and "secret_shares" in r.json()["errors"][0]
    r = requests.put(f"{u}/v1/sys/init", json=[1, 2])
    assert r.status_code == 400 and "object" in r.json()["errors"][0]
    r = requests.put(f"{u}/v1/sys/init", json={"secret_shares": 2, "secret_threshold": 1})
    assert r.status_code == 400
    r = requests.put(f"{u}/v1/sys/init", json={"secret_shares": 3, "secret_threshold": 2,
                                                "pgp_keys": ["abc"]})
    assert r.status_code == 400 and "pgp_keys" in r.json()["errors"][0]
    r = requests.put(f"{u}/v1/sys/unseal", json={"key": "abc"})
    assert r.status_code == 400 and "initialized" in r.json()["errors"][0]
    assert requests.get(f"{u}/v1/sys/init").json() == {"initialized": False}

    big = b'{"a":"' + b"x" * (33 * 1024 * 1024) + b'"}'
    r = requests.put(f"{u}/v1/sys/init", data=big)
    assert r.status_code == 413 and "32 MiB" in r.json()["errors"][0]
    assert requests.get(f"{u}/v1/sys/init").json() == {"initialized": False}

    init = requests.put(f"{u}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1})
    key, root = init.json()["keys"][0], init.json()["root_token"]
    # Sealed: everything but the unauthenticated sys endpoints answers 503.
    r = requests.get(f"{u}/v1/sys/key-status", headers={"X-Vault-Token": root})
    assert r.status_code == 503 and "sealed" in r.json()["errors"][0]
    r = requests.put(f"{u}/v1/sys/unseal", json={"key": 12})
    assert r.status_code == 400 and "'key' must be a string" in r.json()["errors"][0]
    requests.put(f"{u}/v1/sys/unseal", json={"key": key})
    h = {"X-Vault-Token": root}

    r = requests.get(f"{u}/v1/no/such/path", headers=h)
    assert r.status_code == 404 and "no handler for route" in r.json()["errors"][0]
    # Without a valid token the same path is a plain 403: nothing is revealed.
    assert requests.get(f"{u}/v1/no/such/path").status_code == 403
    r = requests.get(f"{u}/v1/sys/key-status", headers={"Authorization": f"Bearer {root}"})
    assert r.status_code == 200
    r = requests.delete(f"{u}/v1/sys/key-status", headers=h)
    assert r.status_code == 405
    r = requests.get(f"{u}/not-the-api")
    assert r.status_code == 404 and "/v1/" in r.json()["errors"][0]
    r = requests.request("OPTIONS", f"{u}/v1/sys/health")
    assert r.status_code == 405


def run_with_config(tmp_path, text):
    cfg = tmp_path / "bad.hcl"
    cfg.write_text(text)
    p = subprocess.run(
        [HUSH_BIN, "server", "--config", str(cfg)], capture_output=True, text=True, timeout=20
    )
    return p.returncode, p.stdout + p.stderr


def test_config_mistakes_are_startup_errors(tmp_path):
    port = free_port()
    code, out = run_with_config(tmp_path, f'listener "tcp" {{ adress = "127.0.0.1:{port}" }}')
    assert code != 0 and "adress" in out and "address" in out
    code, out = run_with_config(tmp_path, 'storage "consul" { path = "x" }')
    assert code != 0 and "consul" in out and "sqlite" in out
    code, out = run_with_config(tmp_path, 'storage "sqlite" {')
    assert code != 0 and "bad.hcl" in out
    code, out = run_with_config(
        tmp_path, f'listener "tcp" {{ address = "127.0.0.1:{port}" }}\ndisable_mlock = true'
    )
    assert code != 0 and "tls_cert_file" in out


def test_json_config_and_two_listeners(tmp_path, servers, tls_files):
    p1, p2 = free_port(), free_port()
    cfg = tmp_path / "hush.json"
    cfg.write_text(
        f"""{{
  "storage": {{"sqlite": {{"path": "{tmp_path / 'd' / 'hush.db'}"}}}},
  "listener": [
    {{"tcp": {{"address": "127.0.0.1:{p1}", "tls_disable": true}}}},
    {{"tcp": {{"address": "127.0.0.1:{p2}", "tls_cert_file": "{tls_files['cert']}",
              "tls_key_file": "{tls_files['key']}"}}}}
  ],
  "disable_mlock": true
}}"""
    )
    s = HushServer(tmp_path, ["--config", str(cfg)], url=f"http://127.0.0.1:{p1}")
    servers.append(s)
    s.start()
    assert requests.get(f"http://127.0.0.1:{p1}/v1/sys/health").status_code == 501
    r = requests.get(f"https://127.0.0.1:{p2}/v1/sys/health", verify=str(tls_files["ca"]))
    assert r.status_code == 501


def test_startup_is_fast_and_sigterm_is_graceful(tmp_path, servers):
    port = free_port()
    cfg = plain_config(tmp_path, port)
    s = HushServer(tmp_path, ["--config", str(cfg)], url=f"http://127.0.0.1:{port}")
    servers.append(s)
    t0 = time.time()
    s.start()
    assert time.time() - t0 < 5  # generous for CI; the benchmark measures the real figure
    s.proc.terminate()
    assert s.proc.wait(timeout=10) == 0
    assert "stopped" in s.output()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]), int(fields["VmLck"].split()[0])


def test_locked_memory_keeps_the_data_file_out_of_ram(tmp_path, servers):
    # A server as installed (no disable_mlock) locks its memory. Locked pages of a memory-mapped
    # data file would stay resident, so a big database would pin its size in RAM and take
    # seconds to fault in at start; with the lock, SQLite reads with pread instead.
    port = free_port()
    db = tmp_path / "data" / "hush.db"
    cfg = tmp_path / "locked.hcl"
    cfg.write_text(f'storage "sqlite" {{ path = "{db}" }}\n'
                   f'listener "tcp" {{\n address = "127.0.0.1:{port}"\n tls_disable = true\n}}\n')
    s = HushServer(tmp_path, ["--config", str(cfg)], url=f"http://127.0.0.1:{port}")
    servers.append(s)
    s.start()
    init = requests.put(f"{s.url}/v1/sys/init",
                        json={"secret_shares": 1, "secret_threshold": 1}).json()
    key, h = init["keys_base64"][0], {"X-Vault-Token": init["root_token"]}
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": key}).raise_for_status()
    requests.post(f"{s.url}/v1/sys/mounts/secret", headers=h,
                  json={"type": "kv", "options": {"version": "2"}}).raise_for_status()
    value = os.urandom(8192).hex()
    with requests.Session() as http:
        for i in range(1500):
            http.post(f"{s.url}/v1/secret/data/big/{i}", headers=h,
                      json={"data": {"v": value}}).raise_for_status()
    locked_log = s.output()
    if os.geteuid() != 0:
        assert "could not lock memory" in locked_log, locked_log[-2000:]
        return
    assert "pread reads" in locked_log, locked_log[-2000:]

    def idle_rss_after_unseal(server):
        requests.put(f"{server.url}/v1/sys/unseal", json={"key": key}).raise_for_status()
        requests.get(f"{server.url}/v1/secret/data/big/7", headers=h).raise_for_status()
        time.sleep(0.5)
        return rss_kib(server.proc.pid)

    # Locking every page of a mapped 25 MB file faults all of it in at once; with pread, the
    # locked server holds what an unlocked one does.
    s.stop()
    s.start()
    locked, vm_lck = idle_rss_after_unseal(s)
    assert vm_lck > 0
    db_kib = db.stat().st_size // 1024
    assert db_kib > 20_000, db_kib
    s.stop()
    cfg.write_text(cfg.read_text() + "disable_mlock = true\n")
    s.start()
    unlocked, _ = idle_rss_after_unseal(s)
    assert "mmap reads" in s.output()
    assert locked < unlocked + db_kib // 2, (locked, unlocked, db_kib)


def test_rekey_rotates_the_unseal_shares(tmp_path, servers):
    s = start(tmp_path, servers)
    url = f"{s.url}/v1/sys"
    init = requests.put(f"{url}/init", json={"secret_shares": 3, "secret_threshold": 2}).json()
    old, root = init["keys_base64"], init["root_token"]
    for k in old[:2]:
        requests.put(f"{url}/unseal", json={"key": k}).raise_for_status()

    assert requests.get(f"{url}/rekey/init").json()["started"] is False
    st = requests.put(f"{url}/rekey/init", json={"secret_shares": 4, "secret_threshold": 3})
    assert st.status_code == 200, st.text
    st = st.json()
    assert st["started"] is True and (st["n"], st["t"], st["required"]) == (4, 3, 2)
    nonce = st["nonce"]
    # A second start, a wrong nonce and a foreign key are refused and change nothing.
    again = requests.put(f"{url}/rekey/init", json={"secret_shares": 2, "secret_threshold": 2})
    assert again.status_code == 400 and "already in progress" in again.text
    bad = requests.put(f"{url}/rekey/update", json={"key": old[0], "nonce": "nope"})
    assert bad.status_code == 400 and "nonce" in bad.text
    bad = requests.put(f"{url}/rekey/update", json={"key": "ab" * 33, "nonce": nonce})
    assert bad.status_code == 400 and "not one of this server's current key shares" in bad.text
    one = requests.put(f"{url}/rekey/update", json={"key": old[0], "nonce": nonce}).json()
    assert one["progress"] == 1 and one["started"] is True
    done = requests.put(f"{url}/rekey/update", json={"key": old[1], "nonce": nonce}).json()
    assert done["complete"] is True and len(done["keys_base64"]) == 4, done
    new = done["keys_base64"]
    assert not set(new) & set(old)
    assert requests.get(f"{url}/rekey/init").json()["started"] is False
    st = requests.get(f"{url}/seal-status").json()
    assert (st["n"], st["t"]) == (4, 3)

    # Only the new shares unseal, also after a restart.
    s.kill()
    s.start()
    r = requests.put(f"{url}/unseal", json={"key": old[0]})
    assert r.status_code == 400 and "not one of this server's key shares" in r.text
    for k in new[1:4]:
        st = requests.put(f"{url}/unseal", json={"key": k}).json()
    assert st["sealed"] is False
    h = {"X-Vault-Token": root}
    assert requests.get(f"{url}/key-status", headers=h).status_code == 200

    # A cancelled rekey leaves the shares as they are.
    nonce = requests.put(f"{url}/rekey/init",
                         json={"secret_shares": 1, "secret_threshold": 1}).json()["nonce"]
    assert requests.delete(f"{url}/rekey/init").status_code == 204
    r = requests.put(f"{url}/rekey/update", json={"key": new[0], "nonce": nonce})
    assert r.status_code == 400 and "no rekey is in progress" in r.text
    # The static seal's recovery keys are another endpoint.
    r = requests.get(f"{url}/rekey-recovery-key/init")
    assert r.status_code == 400 and "Shamir seal" in r.text


def test_rekey_of_the_recovery_keys_on_the_static_seal(tmp_path, servers):
    key_file = tmp_path / "unseal.key"
    key_file.write_bytes(os.urandom(32))
    s = start(tmp_path, servers, f'seal "static" {{\n current_key_id = "k"\n'
                                 f' current_key = "file://{key_file}"\n}}\n')
    url = f"{s.url}/v1/sys"
    init = requests.put(f"{url}/init", json={"recovery_shares": 3, "recovery_threshold": 2}).json()
    old = init["recovery_keys_base64"]
    r = requests.put(f"{url}/rekey/init", json={"secret_shares": 2, "secret_threshold": 2})
    assert r.status_code == 400 and "rekey-recovery-key" in r.text
    nonce = requests.put(f"{url}/rekey-recovery-key/init",
                         json={"secret_shares": 1, "secret_threshold": 1}).json()["nonce"]
    for k in old[1:3]:
        out = requests.put(f"{url}/rekey-recovery-key/update", json={"key": k, "nonce": nonce})
        assert out.status_code == 200, out.text
    new = out.json()["keys_base64"]
    assert len(new) == 1
    # The next rekey needs the new recovery key; the old ones are refused.
    nonce = requests.put(f"{url}/rekey-recovery-key/init",
                         json={"secret_shares": 3, "secret_threshold": 2}).json()["nonce"]
    r = requests.put(f"{url}/rekey-recovery-key/update", json={"key": old[0], "nonce": nonce})
    assert r.status_code == 400 and "not one of" in r.text
    out = requests.put(f"{url}/rekey-recovery-key/update", json={"key": new[0], "nonce": nonce})
    assert out.json()["complete"] is True and len(out.json()["keys_base64"]) == 3
    assert requests.get(f"{url}/seal-status").json()["sealed"] is False


def test_operator_rekey_from_the_cli(tmp_path, servers):
    s = start(tmp_path, servers)
    url = f"{s.url}/v1/sys"
    keys = requests.put(f"{url}/init", json={"secret_shares": 2, "secret_threshold": 2}).json()[
        "keys_base64"]
    for k in keys:
        requests.put(f"{url}/unseal", json={"key": k}).raise_for_status()
    p = hush_cli(s.url, "operator", "rekey", "-init", "-key-shares=3", "-key-threshold=2",
                 "-format=json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["started"] is True
    p = hush_cli(s.url, "operator", "rekey", "-status")
    assert "Rekey Progress" in p.stdout and "0/2" in p.stdout, p.stdout
    # The nonce is read from the server when not given; the key comes from standard input.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUSH_", "VAULT_"))}
    env["HUSH_ADDR"] = s.url
    first = subprocess.run([HUSH_BIN, "operator", "rekey", "-"], input=keys[0] + "\n",
                           capture_output=True, text=True, env=env, timeout=30)
    assert first.returncode == 0 and "1/2" in first.stdout, first.stdout + first.stderr
    last = hush_cli(s.url, "operator", "rekey", keys[1])
    assert last.returncode == 0, last.stderr
    new = [line.split(": ", 1)[1] for line in last.stdout.splitlines()
           if line.startswith("Key ")]
    assert len(new) == 3 and not set(new) & set(keys), last.stdout
    st = requests.get(f"{url}/seal-status").json()
    assert (st["n"], st["t"]) == (3, 2)
    # Nothing in progress: a clear error, and -cancel is harmless.
    p = hush_cli(s.url, "operator", "rekey", new[0])
    assert p.returncode == 1 and "no rekey is in progress" in p.stderr, p.stderr
    assert hush_cli(s.url, "operator", "rekey", "-cancel").returncode == 0


def test_generate_root_yields_a_working_root_token(tmp_path, servers):
    s = start(tmp_path, servers)
    url = f"{s.url}/v1/sys"
    keys = requests.put(f"{url}/init", json={"secret_shares": 3, "secret_threshold": 2}).json()[
        "keys_base64"]
    for k in keys[:2]:
        requests.put(f"{url}/unseal", json={"key": k}).raise_for_status()
    # A pad of the wrong length is refused.
    r = requests.put(f"{url}/generate-root/attempt", json={"otp": "short"})
    assert r.status_code == 400 and "one-time pad" in r.text
    p = hush_cli(s.url, "operator", "generate-root", "-init", "-format=json")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    otp = st["otp"]
    assert st["started"] is True and st["required"] == 2 and len(otp) == st["otp_length"]
    # The pad is shown once.
    assert requests.get(f"{url}/generate-root/attempt").json()["otp"] == ""
    p = hush_cli(s.url, "operator", "generate-root", keys[2])
    assert p.returncode == 0 and "1/2" in p.stdout, p.stdout + p.stderr
    p = hush_cli(s.url, "operator", "generate-root", "-format=json", keys[0])
    done = json.loads(p.stdout)
    assert done["complete"] is True and done["encoded_token"], done
    p = hush_cli(s.url, "operator", "generate-root", f"-decode={done['encoded_token']}",
                 f"-otp={otp}")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    me = requests.get(f"{s.url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
    assert me.status_code == 200 and me.json()["data"]["policies"] == ["root"], me.text
    # The wrong pad does not decode it.
    p = hush_cli(s.url, "operator", "generate-root", f"-decode={done['encoded_token']}",
                 "-otp=" + "x" * len(otp))
    assert p.returncode != 0 or p.stdout.strip() != token


def test_generate_root_on_the_static_seal_takes_recovery_keys(tmp_path, servers):
    key_file = tmp_path / "unseal.key"
    key_file.write_bytes(os.urandom(32))
    s = start(tmp_path, servers, f'seal "static" {{\n current_key_id = "k"\n'
                                 f' current_key = "file://{key_file}"\n}}\n')
    url = f"{s.url}/v1/sys"
    rec = requests.put(f"{url}/init", json={"recovery_shares": 1, "recovery_threshold": 1}).json()[
        "recovery_keys_base64"]
    st = requests.put(f"{url}/generate-root/attempt", json={}).json()
    done = requests.put(f"{url}/generate-root/update",
                        json={"key": rec[0], "nonce": st["nonce"]}).json()
    assert done["complete"] is True
    import base64
    enc = base64.b64decode(done["encoded_token"] + "=" * (-len(done["encoded_token"]) % 4))
    token = bytes(a ^ b for a, b in zip(enc, st["otp"].encode())).decode()
    me = requests.get(f"{s.url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
    assert me.status_code == 200 and me.json()["data"]["policies"] == ["root"], me.text
