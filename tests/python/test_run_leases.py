"""`hush run` following the leases of dynamic database credentials, against the real binary and
a real PostgreSQL (pg_fixture): renewals, a new user near the role's max TTL with the child
restarted on it, the old user dropped, the last lease revoked when hush run exits, `--watch`
re-reading only the static sources, and a server outage reported and survived."""

import json
import os
import signal
import subprocess
import sys
import time

import hvac

from conftest import HUSH_BIN, sqlite_server, wait_for
from pg_fixture import PASSWORD, SUPERUSER, _bin, postgres  # noqa: F401  (the fixture)

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    "GRANT SELECT ON hush_probe TO \"{{name}}\";",
]

# The child: on every start, appends one JSON line with its pid, the credentials it was given
# and whether they log in to PostgreSQL (psql, as the child would use them); then waits, and
# exits 0 on SIGTERM.
CHILD = r"""
import json, os, signal, subprocess, sys, time
out, psql, port = sys.argv[1], sys.argv[2], sys.argv[3]
env = dict(os.environ, PGPASSWORD=os.environ.get("password", ""))
r = subprocess.run([psql, "-h", "127.0.0.1", "-p", port, "-U", os.environ.get("username", ""),
                    "-d", "postgres", "-tAc", "SELECT v FROM hush_probe LIMIT 1"],
                   env=env, capture_output=True, text=True, timeout=20)
line = {"pid": os.getpid(), "username": os.environ.get("username"),
        "password": os.environ.get("password"), "kv": os.environ.get("GREETING"),
        "login": r.returncode == 0 and r.stdout.strip() == "42"}
with open(out, "a") as f:
    f.write(json.dumps(line) + "\n")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.2)
"""


def setup_role(client, pg, role, ttl, max_ttl):
    pg.psql("CREATE TABLE IF NOT EXISTS hush_probe (v int); "
            "INSERT INTO hush_probe SELECT 42 WHERE NOT EXISTS (SELECT 1 FROM hush_probe)")
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
        connection_url=pg.url(), username=SUPERUSER, password=PASSWORD,
    )
    client.secrets.database.create_role(name=role, db_name="pg", creation_statements=CREATE,
                                        default_ttl=ttl, max_ttl=max_ttl)


class Run:
    """A `hush run` of the CHILD program, its stderr collected in a file."""

    def __init__(self, server_url, token, tmp_path, pg, args):
        self.out = tmp_path / f"child-{time.time_ns()}.jsonl"
        self.err_path = tmp_path / f"hush-{time.time_ns()}.err"
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        env = dict(os.environ, HUSH_ADDR=server_url, HUSH_TOKEN=token)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [HUSH_BIN, "run", *args, "--", sys.executable, str(script), str(self.out),
             _bin("psql"), str(pg.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=self.err,
        )

    def starts(self):
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def stderr(self):
        return self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.err.close()
        return code


def user_exists(pg, user):
    _, n = pg.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")
    return n == "1"


def leases(client, role):
    try:
        return client.sys.list_leases(f"database/creds/{role}")["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return []


def expire_time(client, role):
    (key,) = leases(client, role)
    return client.sys.read_lease(f"database/creds/{role}/{key}")["data"]["expire_time"]


def test_leases_are_renewed_then_replaced_near_max_ttl_and_revoked_at_exit(
        dev_server, postgres, tmp_path):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_role(client, postgres, "leased", ttl="4s", max_ttl="10s")
    began = time.monotonic()
    run = Run(dev_server.url, "root", tmp_path, postgres, ["--path", "database/creds/leased"])
    try:
        assert wait_for(lambda: len(run.starts()) == 1, 10), run.stderr()
        first = run.starts()[0]
        assert first["login"], "the child logs in with the credentials in its environment"
        assert first["username"].startswith("v-") and first["password"]
        assert len(leases(client, "leased")) == 1
        issued = expire_time(client, "leased")

        # Renewed at about 2/3 of the 4 s TTL: the expiry moves while the child runs.
        assert wait_for(lambda: expire_time(client, "leased") != issued, 6), run.stderr()
        assert user_exists(postgres, first["username"])
        assert len(run.starts()) == 1, "a renewal does not restart the child"

        # Near the 10 s max TTL: a new user, the child restarted with it, the old user dropped.
        assert wait_for(lambda: len(run.starts()) >= 2, 14), run.stderr()
        switched = time.monotonic() - began
        second = run.starts()[1]
        assert second["username"] != first["username"] and second["pid"] != first["pid"]
        assert second["login"]
        assert wait_for(lambda: not user_exists(postgres, first["username"]), 5)
        assert "new credentials from database/creds/leased (password, username)" in run.stderr()
        # It was replaced before it expired: the old lease never reached its max TTL here.
        assert switched < 11, f"switched after {switched:.1f}s"
        assert len(leases(client, "leased")) == 1
    finally:
        code = run.stop()
    # hush run exits with the child's code (0 on SIGTERM) and revokes the lease it held.
    assert code == 0, run.stderr()
    last = run.starts()[-1]["username"]
    assert not user_exists(postgres, last)
    assert leases(client, "leased") == []
    err = run.stderr()
    for start in run.starts():
        assert start["password"] not in err, "no secret value on stderr"
    print(f"switched to new credentials after {switched:.1f}s; stderr:\n{err}")


def test_watch_rereads_only_static_sources(dev_server, postgres, tmp_path):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_role(client, postgres, "watched", ttl="1h", max_ttl="2h")
    client.secrets.kv.v2.create_or_update_secret(path="app", secret={"GREETING": "hello"})
    run = Run(dev_server.url, "root", tmp_path, postgres,
              ["--path", "secret/app", "--path", "database/creds/watched", "--watch",
               "--interval", "500ms", "--grace", "2s"])
    try:
        assert wait_for(lambda: len(run.starts()) == 1, 10), run.stderr()
        first = run.starts()[0]
        assert first["login"] and first["kv"] == "hello"
        # Six intervals: no new user, no new lease, no restart.
        time.sleep(3)
        assert len(leases(client, "watched")) == 1, run.stderr()
        _, n = postgres.psql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%watched%'")
        assert n == "1"
        assert len(run.starts()) == 1
        # A KV change restarts the child with the same database user.
        client.secrets.kv.v2.create_or_update_secret(path="app", secret={"GREETING": "bye"})
        assert wait_for(lambda: len(run.starts()) == 2, 10), run.stderr()
        second = run.starts()[1]
        assert second["kv"] == "bye" and second["username"] == first["username"]
        assert second["login"]
        assert "secrets changed (GREETING); restarting" in run.stderr()
        assert len(leases(client, "watched")) == 1
    finally:
        assert run.stop() == 0, run.stderr()
    assert not user_exists(postgres, first["username"])


def test_keep_leases_leaves_the_user_to_its_ttl(dev_server, postgres, tmp_path):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_role(client, postgres, "kept", ttl="1h", max_ttl="2h")
    run = Run(dev_server.url, "root", tmp_path, postgres,
              ["--path", "database/creds/kept", "--keep-leases"])
    try:
        assert wait_for(lambda: len(run.starts()) == 1, 10), run.stderr()
    finally:
        assert run.stop() == 0, run.stderr()
    assert user_exists(postgres, run.starts()[0]["username"])
    assert len(leases(client, "kept")) == 1
    client.sys.revoke_prefix("database/creds/kept")


def test_an_outage_is_retried_reported_and_survived(tmp_path, servers, postgres):
    server = sqlite_server(tmp_path, servers).start()
    init = hvac.Client(url=server.url).sys.initialize(secret_shares=1, secret_threshold=1)
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    client = hvac.Client(url=server.url, token=init["root_token"])
    setup_role(client, postgres, "outage", ttl="4s", max_ttl="1h")
    run = Run(server.url, init["root_token"], tmp_path, postgres,
              ["--path", "database/creds/outage"])
    try:
        assert wait_for(lambda: len(run.starts()) == 1, 10), run.stderr()
        first = run.starts()[0]
        server.kill()
        # The renewal fails, is retried, and the expiry is said plainly.
        assert wait_for(lambda: "could not renew the lease of database/creds/outage"
                        in run.stderr(), 10), run.stderr()
        assert wait_for(lambda: "has EXPIRED" in run.stderr(), 10), run.stderr()
        assert len(run.starts()) == 1, "the child keeps running meanwhile"
        server.start()
        hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
        # Back up: new credentials, the child restarted with them.
        assert wait_for(lambda: len(run.starts()) >= 2, 20), run.stderr()
        second = run.starts()[-1]
        assert second["username"] != first["username"] and second["login"]
    finally:
        assert run.stop() == 0, run.stderr()
    assert not user_exists(postgres, second["username"])
    err = run.stderr()
    for start in run.starts():
        assert start["password"] not in err
    assert init["root_token"] not in err
    assert "database/creds/outage/" not in err, "no lease ID on stderr"
    print(f"stderr through the outage:\n{err}")


def test_template_watch_refuses_dynamic_credentials(dev_server, postgres, tmp_path):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_role(client, postgres, "tmpl", ttl="1h", max_ttl="2h")
    tmpl = tmp_path / "app.conf.tmpl"
    tmpl.write_text('user = {{ secret("database/creds/tmpl").username }}\n')
    out = tmp_path / "app.conf"
    env = dict(os.environ, HUSH_ADDR=dev_server.url, HUSH_TOKEN="root")
    cmd = [HUSH_BIN, "template", "-i", str(tmpl), "-o", str(out)]
    # --watch would create a user per interval: refused before writing, its lease given back.
    r = subprocess.run([*cmd, "--watch", "--interval", "1s"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "database/creds/tmpl" in r.stderr, r.stderr
    assert "does not follow" in r.stderr and "hush run" in r.stderr
    assert not out.exists()
    assert leases(client, "tmpl") == []
    # A single render is fine: the lease ends at its TTL.
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    user = out.read_text().split("=", 1)[1].strip()
    assert user_exists(postgres, user)
    client.sys.revoke_prefix("database/creds/tmpl")
