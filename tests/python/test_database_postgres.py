"""The database secrets engine against a real PostgreSQL (Debian's package, started on a port of
its own by pg_fixture), through hvac's database and lease calls."""

import re
import time

import hvac
import pytest

from conftest import sqlite_server, wait_for
from pg_fixture import PASSWORD, SUPERUSER, postgres, tls_postgres  # noqa: F401  (fixtures)

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    "GRANT SELECT ON hush_probe TO \"{{name}}\";",
]


def setup_engine(client, pg, ttl="1h", name="app"):
    pg.psql("CREATE TABLE IF NOT EXISTS hush_probe (v int); INSERT INTO hush_probe VALUES (42)")
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["app", "short"],
        connection_url=pg.url(), username=SUPERUSER, password=PASSWORD,
    )
    client.secrets.database.create_role(name=name, db_name="pg", creation_statements=CREATE,
                                        default_ttl=ttl, max_ttl="2h")


def can_login(pg, user, password):
    code, out = pg.psql("SELECT v FROM hush_probe LIMIT 1", user=user, password=password,
                        check=False)
    return code == 0 and out == "42"


def test_creds_work_until_the_lease_is_revoked(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    config = client.secrets.database.read_connection("pg")["data"]
    assert config["plugin_name"] == "postgresql-database-plugin"
    assert PASSWORD not in str(config) and config["connection_details"]["username"] == SUPERUSER
    assert client.secrets.database.list_roles()["data"]["keys"] == ["app"]

    creds = client.secrets.database.generate_credentials("app")
    user, pw = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_id"].startswith("database/creds/app/")
    assert creds["lease_duration"] == 3600 and creds["renewable"] is True
    assert user.startswith("v-root-app-") and len(user) <= 63 and len(pw) == 20
    assert can_login(postgres, user, pw)

    lease = client.sys.read_lease(creds["lease_id"])["data"]
    assert lease["id"] == creds["lease_id"] and lease["renewable"] is True
    renewed = client.sys.renew_lease(creds["lease_id"], increment=1800)
    assert 0 < renewed["lease_duration"] <= 1800
    _, until = postgres.psql(f"SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{user}'")
    assert until, "the database's own expiry follows the renewal"
    keys = client.sys.list_leases("database/creds/app")["data"]["keys"]
    assert len(keys) == 1

    client.sys.revoke_lease(creds["lease_id"])
    assert not can_login(postgres, user, pw)
    _, n = postgres.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")
    assert n == "0"


def test_expiry_drops_the_user_and_prefix_revocation(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres, ttl="2s", name="short")
    creds = client.secrets.database.generate_credentials("short")
    user, pw = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_duration"] == 2 and can_login(postgres, user, pw)
    assert wait_for(lambda: not can_login(postgres, user, pw), 8)
    client.secrets.database.create_role(name="app", db_name="pg", creation_statements=CREATE)
    many = [client.secrets.database.generate_credentials("app")["data"] for _ in range(3)]
    client.sys.revoke_prefix("database/creds/app")
    for c in many:
        assert not can_login(postgres, c["username"], c["password"])


def test_bad_input_is_refused_and_changes_nothing(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.secrets.database.configure(
            name="nowhere", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
            connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:1/postgres",
            username="x", password="y",
        )
    assert "127.0.0.1:1" in str(e.value) and "not saved" in str(e.value)
    assert "nowhere" not in client.secrets.database.list_connections()["data"]["keys"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not available"):
        client.secrets.database.configure(name="m", plugin_name="mongodb-database-plugin",
                                          connection_url="x")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="does not exist"):
        client.secrets.database.create_role(name="app", db_name="nope", creation_statements=CREATE)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not allowed"):
        client.secrets.database.create_role(name="other", db_name="pg", creation_statements=CREATE)
    client.secrets.database.create_role(
        name="app", db_name="pg",
        creation_statements=["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';",
                             "GRNAT SELECT ON hush_probe TO \"{{name}}\";"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="syntax error"):
        client.secrets.database.generate_credentials("app")
    # The transaction was rolled back: no user was left behind.
    _, n = postgres.psql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-root-app-%'")
    assert n == "0"


def test_rotate_root_keeps_hush_connected_and_retires_the_old_password(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    postgres.psql("DROP ROLE IF EXISTS hush_admin")
    postgres.psql("CREATE ROLE hush_admin WITH LOGIN CREATEROLE PASSWORD 'first-pass'")
    postgres.psql("CREATE TABLE IF NOT EXISTS hush_probe (v int); INSERT INTO hush_probe VALUES (42)")
    postgres.psql("GRANT SELECT ON hush_probe TO hush_admin WITH GRANT OPTION")
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["app"],
        connection_url=postgres.url(), username="hush_admin", password="first-pass",
    )
    client.secrets.database.create_role(name="app", db_name="pg", creation_statements=CREATE)
    client.secrets.database.rotate_root_credentials("pg")
    code, _ = postgres.psql("SELECT 1", user="hush_admin", password="first-pass", check=False)
    assert code != 0
    creds = client.secrets.database.generate_credentials("app")["data"]
    assert can_login(postgres, creds["username"], creds["password"])
    assert "first-pass" not in str(client.secrets.database.read_connection("pg"))


def test_a_lease_that_expired_while_the_server_was_down_is_revoked_at_start(
        tmp_path, servers, postgres):
    server = sqlite_server(tmp_path, servers).start()
    init = hvac.Client(url=server.url).sys.initialize(secret_shares=1, secret_threshold=1)
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    client = hvac.Client(url=server.url, token=init["root_token"])
    setup_engine(client, postgres, ttl="2s", name="short")
    creds = client.secrets.database.generate_credentials("short")["data"]
    assert can_login(postgres, creds["username"], creds["password"])
    server.kill()
    time.sleep(3)
    server.start()
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    assert wait_for(lambda: not can_login(postgres, creds["username"], creds["password"]), 8)


def test_static_role_rotates_the_real_password_on_its_period(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    postgres.psql("DROP ROLE IF EXISTS app_static")
    postgres.psql("CREATE ROLE app_static WITH LOGIN PASSWORD 'set-by-hand'")
    postgres.psql("GRANT SELECT ON hush_probe TO app_static")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
        connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
    )
    def static_role(period):
        client.secrets.database.create_static_role(
            name="static", db_name="pg", username="app_static",
            rotation_statements=["ALTER USER \"{{name}}\" WITH PASSWORD '{{password}}';"],
            rotation_period=period,
        )

    static_role(3600)
    # Set at creation: the hand-made password is gone at once.
    assert not can_login(postgres, "app_static", "set-by-hand")
    first = client.secrets.database.get_static_credentials("static")["data"]
    assert first["username"] == "app_static" and first["rotation_period"] == 3600
    assert can_login(postgres, "app_static", first["password"])
    static_role(2)
    # The period runs out (rotations are checked every 5 s): a new password, the old one dead.
    assert wait_for(lambda: client.secrets.database.get_static_credentials("static")["data"]
                    ["password"] != first["password"], 15)
    # A long period from here on, so the checks below do not race the next rotation.
    static_role(3600)
    second = client.secrets.database.get_static_credentials("static")["data"]["password"]
    assert second != first["password"]
    assert can_login(postgres, "app_static", second)
    assert not can_login(postgres, "app_static", first["password"])
    # rotate-role: at once.
    client.secrets.database.rotate_static_role_credentials("static")
    third = client.secrets.database.get_static_credentials("static")["data"]["password"]
    assert third != second and can_login(postgres, "app_static", third)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown static role"):
        client.secrets.database.get_static_credentials("nope")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="rotation_period"):
        client.secrets.database.create_static_role(name="bad", db_name="pg",
                                                   username="app_static", rotation_statements=[],
                                                   rotation_period=0)


def test_tls_verify_full_verify_ca_require_and_disable(dev_server, tls_postgres):
    pg = tls_postgres
    client = hvac.Client(url=dev_server.url, token="root")
    client.sys.enable_secrets_engine("database", path="database")
    pg.psql("CREATE TABLE IF NOT EXISTS hush_probe (v int); INSERT INTO hush_probe VALUES (42)")

    def configure(url, name="pg"):
        client.secrets.database.configure(
            name=name, plugin_name="postgresql-database-plugin", allowed_roles=["*"],
            connection_url=url, username=SUPERUSER, password=PASSWORD)

    def url(host, query):
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{pg.port}/postgres?{query}"

    # verify-full with the CA, by the name the certificate holds: connects, and creds work.
    configure(url("localhost", f"sslmode=verify-full&sslrootcert={pg.ca}"))
    client.secrets.database.create_role(name="app", db_name="pg", creation_statements=CREATE)
    creds = client.secrets.database.generate_credentials("app")["data"]
    assert can_login(pg, creds["username"], creds["password"])
    assert client.secrets.database.read_connection("pg")["data"]["connection_details"][
        "connection_url"].endswith(f"sslmode=verify-full&sslrootcert={pg.ca}")

    # The CA that did not sign it: refused, naming the server and the certificate.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        configure(url("localhost", f"sslmode=verify-full&sslrootcert={pg.other_ca}"), "bad")
    msg = str(e.value)
    assert f"localhost:{pg.port}" in msg and "certificate did not verify" in msg, msg
    assert PASSWORD not in msg and "not saved" in msg
    # verify-full checks the name (the certificate is for localhost, not 127.0.0.1) ...
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        configure(url("127.0.0.1", f"sslmode=verify-full&sslrootcert={pg.ca}"), "bad")
    assert f"127.0.0.1:{pg.port}" in str(e.value) and "certificate" in str(e.value)
    # ... verify-ca the chain only, and require (no CA) encrypts without checking, as libpq.
    configure(url("127.0.0.1", f"sslmode=verify-ca&sslrootcert={pg.ca}"), "ca")
    configure(url("127.0.0.1", "sslmode=require"), "req")
    # require with a root file is verify-ca (libpq's rule): the wrong CA is refused.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="did not verify"):
        configure(url("127.0.0.1", f"sslmode=require&sslrootcert={pg.other_ca}"), "bad")
    # libpq's key=value form.
    configure(f"host=localhost port={pg.port} dbname=postgres user={{{{username}}}} "
              f"password={{{{password}}}} sslmode=verify-full sslrootcert='{pg.ca}'", "words")
    # No TLS against a server that takes TLS only: the server's own refusal.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        configure(url("127.0.0.1", "sslmode=disable"), "bad")
    assert "no pg_hba.conf entry" in str(e.value) and "no encryption" in str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="sslmode=sometimes"):
        configure(url("127.0.0.1", "sslmode=sometimes"), "bad")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="cannot be read"):
        configure(url("127.0.0.1", "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"), "bad")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="mysql-database-plugin settings"):
        client.secrets.database.configure(
            name="bad", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
            connection_url=url("localhost", "sslmode=require"), username=SUPERUSER,
            password=PASSWORD, tls_ca="x")
    assert sorted(client.secrets.database.list_connections()["data"]["keys"]) == [
        "ca", "pg", "req", "words"]


def test_username_template(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["app"],
        connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
        username_template='{{ .RoleName | uppercase }}_{{ random 8 }}_{{ unix_time | truncate 4 }}')
    details = client.secrets.database.read_connection("pg")["data"]["connection_details"]
    assert details["username_template"].startswith("{{ .RoleName")
    creds = client.secrets.database.generate_credentials("app")["data"]
    user = creds["username"]
    assert re.fullmatch(r"APP_[A-Za-z0-9]{8}_\d{4}", user), user
    assert can_login(postgres, user, creds["password"])

    # A template that does not parse is refused, naming the problem; nothing changes.
    for bad, why in [("{{ .Nope }}", "no field .Nope"), ("{{ random }}", "random takes 1"),
                     ("{{ if .RoleName }}x{{ end }}", "'if' is not supported"),
                     ("v-{{ .RoleName", "not closed")]:
        with pytest.raises(hvac.exceptions.InvalidRequest, match="username_template") as e:
            client.secrets.database.configure(
                name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["app"],
                connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
                username_template=bad)
        assert why in str(e.value), str(e.value)
    assert client.secrets.database.read_connection("pg")["data"]["connection_details"][
        "username_template"] == details["username_template"]

    # Too long for PostgreSQL: a 400 at creds time that says how to fix it.
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["app"],
        connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
        username_template="{{ random 70 }}")
    with pytest.raises(hvac.exceptions.InvalidRequest, match=r"truncate 63"):
        client.secrets.database.generate_credentials("app")


def test_password_policy_for_creds_static_roles_and_rotate_root(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    postgres.psql("DROP ROLE IF EXISTS app_pp")
    postgres.psql("CREATE ROLE app_pp WITH LOGIN PASSWORD 'set-by-hand'")
    postgres.psql("GRANT SELECT ON hush_probe TO app_pp")

    def configure():
        client.secrets.database.configure(
            name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
            connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
            password_policy="digits")

    # Accepted before the policy exists, as in Vault; creds then name the missing policy.
    configure()
    assert client.secrets.database.read_connection("pg")["data"]["password_policy"] == "digits"
    with pytest.raises(hvac.exceptions.InvalidRequest, match='password policy "digits" does not'):
        client.secrets.database.generate_credentials("app")
    client.adapter.post("/v1/sys/policies/password/digits", json={
        "policy": 'length = 30\nrule "charset" {\n  charset = "0123456789"\n  min-chars = 30\n}'})
    creds = client.secrets.database.generate_credentials("app")["data"]
    assert re.fullmatch(r"\d{30}", creds["password"]) and can_login(
        postgres, creds["username"], creds["password"])
    client.adapter.post("/v1/database/static-roles/pp", json={
        "db_name": "pg", "username": "app_pp", "rotation_period": 3600})
    static = client.secrets.database.get_static_credentials("pp")["data"]["password"]
    assert re.fullmatch(r"\d{30}", static) and can_login(postgres, "app_pp", static)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.secrets.database.configure(
            name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
            connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD,
            password_policy="not a/name")


def test_static_role_on_a_cron_schedule(dev_server, postgres):
    client = hvac.Client(url=dev_server.url, token="root")
    setup_engine(client, postgres)
    postgres.psql("DROP ROLE IF EXISTS app_cron")
    postgres.psql("CREATE ROLE app_cron WITH LOGIN PASSWORD 'set-by-hand'")
    postgres.psql("GRANT SELECT ON hush_probe TO app_cron")
    client.secrets.database.configure(
        name="pg", plugin_name="postgresql-database-plugin", allowed_roles=["*"],
        connection_url=postgres.url(), username=SUPERUSER, password=PASSWORD)
    adapter = client.adapter

    def write(**fields):
        return adapter.post("/v1/database/static-roles/cron",
                            json={"db_name": "pg", "username": "app_cron", **fields})

    # Bad input: refused with the reason, nothing made.
    for fields, why in [
        ({"rotation_schedule": "61 * * * *"}, "minute 61 is out of range 0-59"),
        ({"rotation_schedule": "* * * *"}, "4 fields, not 5"),
        ({"rotation_schedule": "0 0 30 2 *"}, "never occurs"),
        ({"rotation_schedule": "* * * * *", "rotation_period": 3600}, "mutually exclusive"),
        ({"rotation_schedule": "* * * * *", "rotation_window": 60}, "3600 seconds or more"),
        ({"rotation_period": 3600, "rotation_window": 3600}, "invalid with use of rotation_period"),
        ({}, "one of 'rotation_period'"),
    ]:
        with pytest.raises(hvac.exceptions.InvalidRequest) as e:
            write(**fields)
        assert why in str(e.value), (fields, str(e.value))
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown static role"):
        client.secrets.database.get_static_credentials("cron")
    assert can_login(postgres, "app_cron", "set-by-hand")

    # Every minute: set at creation, then rotated at the next minute (checked every 5 s).
    write(rotation_schedule="* * * * *", rotation_window="1h")
    role = client.secrets.database.read_static_role("cron")["data"]
    assert role["rotation_schedule"] == "* * * * *" and role["rotation_window"] == 3600
    assert "rotation_period" not in role
    first = client.secrets.database.get_static_credentials("cron")["data"]
    assert first["rotation_schedule"] == "* * * * *" and 0 <= first["ttl"] <= 60
    assert can_login(postgres, "app_cron", first["password"])
    assert not can_login(postgres, "app_cron", "set-by-hand")
    assert wait_for(lambda: client.secrets.database.get_static_credentials("cron")["data"]
                    ["password"] != first["password"], 75)
    # Back to a period: the schedule and its window are gone.
    write(rotation_period=3600)
    role = client.secrets.database.read_static_role("cron")["data"]
    assert role["rotation_period"] == 3600 and "rotation_schedule" not in role
    now = client.secrets.database.get_static_credentials("cron")["data"]
    assert can_login(postgres, "app_cron", now["password"])
    assert not can_login(postgres, "app_cron", first["password"])
    assert 3500 < now["ttl"] <= 3600
