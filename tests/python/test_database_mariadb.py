"""The database engine's mysql-database-plugin against a real MariaDB, with the seed's example
(Vault's MySQL walk-through) through hvac."""

import hvac
import pytest

from conftest import wait_for
from mariadb_fixture import PASSWORD, SUPERUSER, mariadb  # noqa: F401  (the fixture)

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
