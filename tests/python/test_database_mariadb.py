"""The database engine's mysql-database-plugin against a real MariaDB, with the seed's example
(Vault's MySQL walk-through) through hvac."""

import re

import hvac
import pytest

from conftest import wait_for
from mariadb_fixture import PASSWORD, SUPERUSER, mariadb, tls_mariadb  # noqa: F401  (fixtures)

CREATE = ["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
          "GRANT SELECT ON app.* TO '{{name}}'@'%';"]


def can_login(db, user, password):
    code, out = db.sql("SELECT v FROM app.probe LIMIT 1", user=user, password=password,
                       check=False)
    return code == 0 and out == "42"


def configure(client, db):
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="mydb", plugin_name="mysql-database-plugin", allowed_roles=["myapp", "short"],
        connection_url=db.url(), username=SUPERUSER, password=PASSWORD,
    )


def test_creds_revoke_and_expiry(dev_server, mariadb):
    client = hvac.Client(url=dev_server.url, token="root")
    configure(client, mariadb)
    client.secrets.database.create_role(name="myapp", db_name="mydb", creation_statements=CREATE,
                                        default_ttl="1h", max_ttl="24h")
    creds = client.secrets.database.generate_credentials("myapp")
    user, pw = creds["data"]["username"], creds["data"]["password"]
    assert len(user) <= 32 and creds["lease_duration"] == 3600
    assert can_login(mariadb, user, pw)
    client.sys.revoke_lease(creds["lease_id"])
    assert not can_login(mariadb, user, pw)
    _, n = mariadb.sql(f"SELECT count(*) FROM mysql.user WHERE User = '{user}'")
    assert n == "0"

    client.secrets.database.create_role(name="short", db_name="mydb", creation_statements=CREATE,
                                        default_ttl="2s")
    short = client.secrets.database.generate_credentials("short")["data"]
    assert can_login(mariadb, short["username"], short["password"])
    assert wait_for(lambda: not can_login(mariadb, short["username"], short["password"]), 8)


def test_a_failed_creation_leaves_no_user(dev_server, mariadb):
    client = hvac.Client(url=dev_server.url, token="root")
    configure(client, mariadb)
    client.secrets.database.create_role(
        name="myapp", db_name="mydb",
        creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                             "GRANT SELEKT ON app.* TO '{{name}}'@'%';"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="syntax"):
        client.secrets.database.generate_credentials("myapp")
    _, n = mariadb.sql("SELECT count(*) FROM mysql.user WHERE User LIKE 'v-myap-%'")
    assert n == "0"
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.secrets.database.configure(
            name="nowhere", plugin_name="mysql-database-plugin", allowed_roles=["*"],
            connection_url="{{username}}:{{password}}@tcp(127.0.0.1:1)/", username="x",
            password="y")
    assert "127.0.0.1:1" in str(e.value)


def test_static_role_and_rotate_root(dev_server, mariadb):
    client = hvac.Client(url=dev_server.url, token="root")
    configure(client, mariadb)
    mariadb.sql("DROP USER IF EXISTS 'app_static'@'%'; CREATE USER 'app_static'@'%' IDENTIFIED "
                "BY 'by-hand'; GRANT SELECT ON app.* TO 'app_static'@'%';")
    client.secrets.database.configure(
        name="mydb", plugin_name="mysql-database-plugin", allowed_roles=["*"],
        connection_url=mariadb.url(), username=SUPERUSER, password=PASSWORD,
    )
    client.secrets.database.create_static_role(name="static", db_name="mydb",
                                               username="app_static", rotation_statements=[],
                                               rotation_period=3600)
    creds = client.secrets.database.get_static_credentials("static")["data"]
    assert not can_login(mariadb, "app_static", "by-hand")
    assert can_login(mariadb, "app_static", creds["password"])
    mariadb.sql("DROP USER IF EXISTS 'hush_admin'@'%'; CREATE USER 'hush_admin'@'%' IDENTIFIED BY "
                "'first-pass'; GRANT ALL PRIVILEGES ON *.* TO 'hush_admin'@'%' WITH GRANT OPTION;")
    client.secrets.database.configure(
        name="admin", plugin_name="mysql-database-plugin", allowed_roles=["*"],
        connection_url=mariadb.url(), username="hush_admin", password="first-pass",
    )
    client.secrets.database.rotate_root_credentials("admin")
    code, _ = mariadb.sql("SELECT 1", user="hush_admin", password="first-pass", check=False)
    assert code != 0
    client.secrets.database.create_role(name="myapp", db_name="admin", creation_statements=CREATE)
    fresh = client.secrets.database.generate_credentials("myapp")["data"]
    assert can_login(mariadb, fresh["username"], fresh["password"])


def test_tls_with_vaults_fields(dev_server, tls_mariadb):
    db = tls_mariadb
    client = hvac.Client(url=dev_server.url, token="root")
    client.sys.enable_secrets_engine("database", path="database")

    def configure(name="mydb", url=None, **tls):
        client.secrets.database.configure(
            name=name, plugin_name="mysql-database-plugin", allowed_roles=["*"],
            connection_url=url or db.url(), username=SUPERUSER, password=PASSWORD, **tls)

    # The CA, and the name its certificate holds (the URL says 127.0.0.1): connects.
    configure(tls_ca=db.ca_pem, tls_server_name="localhost")
    details = client.secrets.database.read_connection("mydb")["data"]["connection_details"]
    assert details["tls_ca"] == db.ca_pem and details["tls_server_name"] == "localhost"
    client.secrets.database.create_role(name="myapp", db_name="mydb", creation_statements=CREATE)
    creds = client.secrets.database.generate_credentials("myapp")["data"]
    assert can_login(db, creds["username"], creds["password"])

    # A CA that did not sign it: refused, naming the server and the certificate.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        configure("bad", tls_ca=db.other_ca_pem, tls_server_name="localhost")
    msg = str(e.value)
    assert f"127.0.0.1:{db.port}" in msg and "certificate did not verify" in msg, msg
    assert PASSWORD not in msg
    # The right CA but not the name: refused too.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="certificate"):
        configure("bad", tls_ca=db.ca_pem)
    # Encrypted, unverified: Vault's tls_skip_verify, and the DSN's tls=skip-verify.
    configure("skip", tls_ca=db.other_ca_pem, tls_skip_verify=True)
    configure("dsn", url=f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{db.port})/?tls=skip-verify")
    # No TLS against a server that requires it: the server's own refusal (MariaDB says access
    # denied), with the hint that TLS may be what is missing.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        configure("bad")
    assert "Access denied" in str(e.value) and "tls_ca" in str(e.value), str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not PEM|no PEM"):
        configure("bad", tls_ca="not a certificate")
    assert sorted(client.secrets.database.list_connections()["data"]["keys"]) == [
        "dsn", "mydb", "skip"]


def test_username_template_and_its_limit(dev_server, mariadb):
    client = hvac.Client(url=dev_server.url, token="root")
    configure(client, mariadb)
    client.secrets.database.configure(
        name="mydb", plugin_name="mysql-database-plugin", allowed_roles=["myapp"],
        connection_url=mariadb.url(), username=SUPERUSER, password=PASSWORD,
        username_template='{{ printf "%s-%s" (.RoleName | truncate 3) (random 10) | lowercase }}')
    client.secrets.database.create_role(name="myapp", db_name="mydb", creation_statements=CREATE)
    creds = client.secrets.database.generate_credentials("myapp")["data"]
    assert re.fullmatch(r"mya-[a-z0-9]{10}", creds["username"]), creds["username"]
    assert can_login(mariadb, creds["username"], creds["password"])
    client.secrets.database.configure(
        name="mydb", plugin_name="mysql-database-plugin", allowed_roles=["myapp"],
        connection_url=mariadb.url(), username=SUPERUSER, password=PASSWORD,
        username_template="{{ .RoleName }}-{{ random 30 }}")
    with pytest.raises(hvac.exceptions.InvalidRequest, match=r"truncate 32"):
        client.secrets.database.generate_credentials("myapp")
