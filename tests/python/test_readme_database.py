"""README.md's MySQL example (Vault's own, with `hush` in place of `vault`), run as written
against a real MariaDB (mariadb_fixture): only the port and the placeholder password change."""

import os
import re
import subprocess
from pathlib import Path

from conftest import HUSH_BIN
from mariadb_fixture import PASSWORD, SUPERUSER, mariadb  # noqa: F401  (the fixture)

README = Path(__file__).resolve().parents[2] / "README.md"


def example():
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if "database/config/mydb" in b]
    return block


def test_the_readme_mysql_example_issues_working_credentials(dev_server, mariadb):
    script = example()
    assert "plugin_name=mysql-database-plugin" in script and "hush read database/creds/myapp" in script
    script = script.replace("127.0.0.1:3306", f"127.0.0.1:{mariadb.port}")
    script = script.replace("username=root password=...", f"username={SUPERUSER} password={PASSWORD}")
    env = dict(os.environ, VAULT_ADDR=dev_server.url, VAULT_TOKEN="root",
               PATH=f"{Path(HUSH_BIN).parent}:{os.environ['PATH']}")
    subprocess.run([HUSH_BIN, "secrets", "enable", "database"], env=env, check=True,
                   capture_output=True)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines()[2:] if line.strip())
    assert rows["lease_id"].startswith("database/creds/myapp/")
    assert rows["lease_duration"].strip() == "1h" and rows["lease_renewable"].strip() == "true"
    user, password = rows["username"].strip(), rows["password"].strip()
    code, out = mariadb.sql("SELECT v FROM app.probe LIMIT 1", user=user, password=password,
                            check=False)
    assert code == 0 and out == "42", out
