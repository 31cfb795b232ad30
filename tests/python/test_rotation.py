"""Rotation of KV v2 secrets (`<mount>/rotation/<path>`, `rotate/<path>`, `?label=`, `hush
rotate`), with a real PostgreSQL as the database rotator (pg_fixture) and a kill -9 between the
steps."""

import json
import os
import subprocess
import threading
import time

import hvac
import psycopg
import pytest
import requests

from conftest import HUSH_BIN, sqlite_server, wait_for
from pg_fixture import PASSWORD, SUPERUSER, postgres  # noqa: F401  (the fixture)


def hush(server, *args, token="root", check=True):
    env = dict(os.environ, VAULT_ADDR=server.url, VAULT_TOKEN=token)
    r = subprocess.run([HUSH_BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"hush {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def api(server, method, path, token="root", **kw):
    return requests.request(method, f"{server.url}/v1/{path}",
                            headers={"X-Vault-Token": token}, timeout=30, **kw)


def read(server, path, **params):
    return api(server, "GET", f"secret/data/{path}", params=params)


def status(server, path):
    r = api(server, "GET", f"secret/rotation/{path}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_rotation_moves_labels_keeps_other_fields_and_is_audited(dev_server, tmp_path):
    client = hvac.Client(url=dev_server.url, token="root")
    log = tmp_path / "audit.log"
    client.sys.enable_audit_device("file", options={"file_path": str(log)})
    client.secrets.kv.v2.create_or_update_secret("app/api", {"password": "orig", "user": "svc"})
    r = api(dev_server, "PUT", "secret/rotation/app/api",
            json={"rotation_period": "1h", "grace_period": "10m"})
    assert r.status_code == 200, r.text
    st = r.json()["data"]
    assert st["generator"] == "password" and st["rotation_period"] == 3600
    assert st["next_rotation"] and st["rotations"] == 0

    out = hush(dev_server, "rotate", "secret/app/api", "--format", "json").stdout
    assert json.loads(out)["data"]["rotations"] == 1
    latest = client.secrets.kv.v2.read_secret_version("app/api", raise_on_deleted_version=True)
    new = latest["data"]["data"]
    assert new["user"] == "svc" and new["password"] != "orig" and len(new["password"]) == 20
    assert latest["data"]["metadata"]["version"] == 2

    prev = read(dev_server, "app/api", label="previous").json()["data"]
    assert prev["data"]["password"] == "orig" and prev["metadata"]["staging_label"] == "previous"
    cur = read(dev_server, "app/api", label="current").json()["data"]
    assert cur["data"] == new and cur["metadata"]["version"] == 2
    r = read(dev_server, "app/api", label="pending")
    assert r.status_code == 404 and "no rotation is under way" in r.text

    st = json.loads(hush(dev_server, "rotate", "status", "secret/app/api",
                         "--format", "json").stdout)["data"]
    assert [e["step"] for e in st["history"]] == ["create", "set", "test", "finish"]
    assert st["previous_version"] == 1 and st["previous_expires"] and st["step"] == "idle"
    assert "orig" not in json.dumps(st) and new["password"] not in json.dumps(st)

    lines = [json.loads(x) for x in log.read_text().splitlines()]
    steps = [e["request"]["data"]["step"] for e in lines
             if e["type"] == "response" and e["request"]["path"] == "secret/rotate/app/api"
             and "step" in (e["request"].get("data") or {})]
    assert len(steps) == 4, "each step has its own audit entry"
    assert new["password"] not in log.read_text()

    # Bad input: a clear 400, and nothing changes.
    before = status(dev_server, "app/api")
    for body, words in [
        ({"rotation_period": "1h", "grace_period": "2h"}, "grace_period"),
        ({"rotation_period": "1h", "generator": "bogus"}, "unknown generator"),
        ({"rotation_period": "1h", "password_policy": "nope"}, "no password policy named"),
        ({"rotation_period": "1h", "rotation_window": "1h"}, "rotation_window only applies"),
        ({"generator": "database"}, "db_name"),
        ({"generator": "random", "random_bytes": 0}, "random_bytes"),
        ({"rotation_schedule": "61 * * * *"}, "invalid rotation_schedule"),
        ({"rotation_schedule": "0 3 * * *", "rotation_window": "10m"}, "rotation_window"),
        ({"rotation_schedule": "0 3 * * *", "rotation_period": "1h"}, "exclude each other"),
    ]:
        r = api(dev_server, "PUT", "secret/rotation/app/api", json=body)
        assert r.status_code == 400 and words in r.text, (body, r.text)
    assert status(dev_server, "app/api") == before
    r = read(dev_server, "app/api", label="bogus")
    assert r.status_code == 400 and "current, previous or pending" in r.text
    r = read(dev_server, "app/api", label="current", version=1)
    assert r.status_code == 400
    r = api(dev_server, "PUT", "secret/rotate/app/none")
    assert r.status_code == 404 and "no rotation is configured" in r.text
    assert hush(dev_server, "rotate", "frob", "secret/app/api", check=False).returncode != 0

    # A cron schedule: the next rotation is at the next scheduled time (UTC).
    r = api(dev_server, "PUT", "secret/rotation/app/api",
            json={"rotation_schedule": "30 4 * * SUN", "rotation_window": "2h",
                  "grace_period": "1h"})
    assert r.status_code == 200, r.text
    nxt = r.json()["data"]["next_rotation"]
    when = time.strptime(nxt.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    assert (when.tm_hour, when.tm_min, when.tm_wday) == (4, 30, 6), nxt

    keys = api(dev_server, "LIST", "secret/rotation/app").json()["data"]["keys"]
    assert keys == ["api"]
    client.secrets.kv.v2.delete_metadata_and_all_versions("app/api")
    assert api(dev_server, "GET", "secret/rotation/app/api").status_code == 404


def test_a_period_rotates_on_its_own_and_previous_ends_with_the_grace(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    client.secrets.kv.v2.create_or_update_secret("svc/key", {"token": "first"})
    r = api(dev_server, "PUT", "secret/rotation/svc/key",
            json={"rotation_period": "3s", "grace_period": "1s", "generator": "random",
                  "random_bytes": 16, "encoding": "hex", "key": "token"})
    assert r.status_code == 200, r.text
    assert wait_for(lambda: status(dev_server, "svc/key")["rotations"] >= 1, 15)
    token = read(dev_server, "svc/key").json()["data"]["data"]["token"]
    assert len(token) == 32 and int(token, 16) >= 0
    # The grace period (1 s) ends before the next rotation: previous is gone.
    assert wait_for(lambda: read(dev_server, "svc/key", label="previous").status_code == 404, 10)
    assert wait_for(lambda: any(e["step"] == "revoke"
                                for e in status(dev_server, "svc/key")["history"]), 10)
    assert wait_for(lambda: status(dev_server, "svc/key")["rotations"] >= 2, 15)


def make_users(pg):
    pg.psql("CREATE TABLE IF NOT EXISTS hush_probe (v int); INSERT INTO hush_probe VALUES (42)")
    for u in ("app_a", "app_b"):
        pg.psql(f"REVOKE ALL ON hush_probe FROM {u}", check=False)
        pg.psql(f"DROP ROLE IF EXISTS {u}")
        pg.psql(f"CREATE ROLE {u} WITH LOGIN PASSWORD 'by-hand'")
        pg.psql(f"GRANT SELECT ON hush_probe TO {u}")


def connect(pg, creds):
    return psycopg.connect(host="127.0.0.1", port=pg.port, dbname="postgres",
                           user=creds["username"], password=creds["password"],
                           connect_timeout=5, autocommit=True)


def query(pg, creds):
    with connect(pg, creds) as c:
        return c.execute("SELECT v FROM hush_probe LIMIT 1").fetchone()[0]


def can_login(pg, creds):
    try:
        return query(pg, creds) == 42
    except psycopg.OperationalError:
        return False


def configure_database(client, pg):
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
        connection_url=pg.url(), username=SUPERUSER, password=PASSWORD,
    )


def test_database_rotator_alternates_users_without_a_failed_query(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    make_users(postgres)
    configure_database(client, postgres)
    # Bad input first: an unknown connection, hush's own user.
    for body, words in [
        ({"db_name": "nope", "usernames": ["app_a", "app_b"]}, "nope"),
        ({"db_name": "pg", "usernames": [SUPERUSER]}, "rotate-root"),
        ({"db_name": "pg", "usernames": ["app_a", "app_a"]}, "two different"),
    ]:
        r = api(dev_server, "PUT", "secret/rotation/db/app",
                json={"generator": "database", "rotation_period": "1h", **body})
        assert r.status_code == 400 and words in r.text, r.text
    assert api(dev_server, "GET", "secret/rotation/db/app").status_code == 404

    r = api(dev_server, "PUT", "secret/rotation/db/app",
            json={"generator": "database", "db_name": "pg", "usernames": ["app_a", "app_b"],
                  "rotation_period": "1h", "grace_period": "4s"})
    assert r.status_code == 200, r.text
    # No secret yet: the first rotation runs at once and creates it.
    assert wait_for(lambda: read(dev_server, "db/app").status_code == 200, 15)
    first = read(dev_server, "db/app").json()["data"]["data"]
    assert first["username"] == "app_a" and can_login(postgres, first)
    assert not can_login(postgres, {"username": "app_a", "password": "by-hand"})

    held = connect(postgres, first)
    failures = []
    stop = threading.Event()

    def keep_querying():
        while not stop.is_set():
            try:
                assert held.execute("SELECT v FROM hush_probe LIMIT 1").fetchone()[0] == 42
                assert query(postgres, first) == 42  # new logins with previous, too
            except Exception as e:  # noqa: BLE001 (every failure counts)
                failures.append(repr(e))
            time.sleep(0.05)

    t = threading.Thread(target=keep_querying)
    t.start()
    try:
        hush(dev_server, "rotate", "secret/db/app")
        second = read(dev_server, "db/app").json()["data"]["data"]
        assert second["username"] == "app_b" and can_login(postgres, second)
        prev = read(dev_server, "db/app", label="previous").json()["data"]["data"]
        assert prev == first
        time.sleep(2)
    finally:
        stop.set()
        t.join()
    assert failures == [], failures[:3]
    # After the grace period the previous password is revoked; the held session lives on.
    assert wait_for(lambda: not can_login(postgres, first), 15)
    assert held.execute("SELECT 1").fetchone()[0] == 1
    held.close()
    assert can_login(postgres, second)
    # The next rotation goes back to app_a, with a new password.
    hush(dev_server, "rotate", "secret/db/app")
    third = read(dev_server, "db/app").json()["data"]["data"]
    assert third["username"] == "app_a" and third["password"] != first["password"]
    assert can_login(postgres, third) and can_login(postgres, second)


def test_a_crash_between_set_and_finish_resumes_after_restart(tmp_path, servers, postgres):
    server = sqlite_server(tmp_path, servers,
                           env={"HUSH_TEST_CRASH_AFTER_ROTATION_STEP": "set"}).start()
    init = hvac.Client(url=server.url).sys.initialize(secret_shares=1, secret_threshold=1)
    key, root = init["keys"][0], init["root_token"]
    hvac.Client(url=server.url).sys.submit_unseal_key(key)
    client = hvac.Client(url=server.url, token=root)
    client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    make_users(postgres)
    configure_database(client, postgres)
    postgres.psql("ALTER ROLE app_a WITH PASSWORD 'known-a'")
    client.secrets.kv.v2.create_or_update_secret(
        "db/app", {"username": "app_a", "password": "known-a", "dbname": "postgres"})
    r = api(server, "PUT", "secret/rotation/db/app", token=root,
            json={"generator": "database", "db_name": "pg", "usernames": ["app_a", "app_b"],
                  "rotation_period": "1h", "grace_period": "30m"})
    assert r.status_code == 200, r.text

    with pytest.raises(requests.exceptions.ConnectionError):
        api(server, "PUT", "secret/rotate/db/app", token=root)
    assert wait_for(lambda: server.proc.poll() is not None, 10), "the server stopped after set"
    # app_b's password was set, but the secret still says app_a.
    assert not can_login(postgres, {"username": "app_b", "password": "by-hand"})

    server.env.pop("HUSH_TEST_CRASH_AFTER_ROTATION_STEP")
    server.start()
    hvac.Client(url=server.url).sys.submit_unseal_key(key)
    # Before the maintenance round resumes it, the labels are untouched.
    pending = api(server, "GET", "secret/data/db/app", token=root, params={"label": "pending"})
    current = api(server, "GET", "secret/data/db/app", token=root).json()["data"]
    if pending.status_code == 200:
        assert current["data"]["username"] == "app_a" and current["metadata"]["version"] == 1
        assert pending.json()["data"]["data"]["username"] == "app_b"

    def finished():
        d = api(server, "GET", "secret/data/db/app", token=root).json()["data"]
        return d["metadata"]["version"] == 2 and d
    assert wait_for(finished, 20)
    now = finished()["data"]
    assert now["username"] == "app_b" and now["dbname"] == "postgres" and can_login(postgres, now)
    # The previous credentials still work in their grace period.
    assert can_login(postgres, {"username": "app_a", "password": "known-a"})
    st = api(server, "GET", "secret/rotation/db/app", token=root).json()["data"]
    assert st["rotations"] == 1 and st["step"] == "idle" and st["previous_username"] == "app_a"
    assert [e["step"] for e in st["history"]][-3:] == ["set", "test", "finish"]


def test_a_failed_step_keeps_current_backs_off_and_resumes(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    make_users(postgres)
    configure_database(client, postgres)
    postgres.psql("DROP ROLE IF EXISTS app_ghost")
    client.secrets.kv.v2.create_or_update_secret(
        "db/ghost", {"username": "app_a", "password": "by-hand"})
    r = api(dev_server, "PUT", "secret/rotation/db/ghost",
            json={"generator": "database", "db_name": "pg", "usernames": ["app_a", "app_ghost"],
                  "rotation_period": "1h"})
    assert r.status_code == 200, r.text
    # app_ghost does not exist in the database: set fails, current stays.
    r = hush(dev_server, "rotate", "secret/db/ghost", check=False)
    assert r.returncode != 0 and "failed at step set" in r.stderr and "app_ghost" in r.stderr
    assert "the current value is unchanged" in r.stderr
    st = status(dev_server, "db/ghost")
    assert st["step"] == "created" and st["attempts"] == 1 and st["next_attempt"]
    assert st["last_error"].startswith("set:") and st["history"][-1]["outcome"].startswith("failed")
    cur = read(dev_server, "db/ghost").json()["data"]
    assert cur["metadata"]["version"] == 1 and cur["data"]["password"] == "by-hand"
    pending = read(dev_server, "db/ghost", label="pending").json()["data"]["data"]
    assert pending["username"] == "app_ghost"
    assert pending["password"] not in json.dumps(st)
    # Once the user exists, the rotation resumes where it stopped, with the same pending value.
    postgres.psql("CREATE ROLE app_ghost WITH LOGIN")
    postgres.psql("GRANT SELECT ON hush_probe TO app_ghost")
    hush(dev_server, "rotate", "secret/db/ghost")
    now = read(dev_server, "db/ghost").json()["data"]["data"]
    assert now == pending and can_login(postgres, now)
    st = status(dev_server, "db/ghost")
    assert st["attempts"] == 0 and st["last_error"] == "" and st["rotations"] == 1
    postgres.psql("REVOKE ALL ON hush_probe FROM app_ghost")
    postgres.psql("DROP ROLE app_ghost")
