"""A real MariaDB server (Debian's mariadb-server) on a port of its own, for the database
engine's tests: a fresh data directory, superuser `hush` with a password, stopped at the end of
the session. It runs as the `mysql` user, as the package does."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SUPERUSER = "hush"
PASSWORD = "hush-maria-secret"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    def __init__(self):
        if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
            raise RuntimeError("MariaDB is not installed: scripts/test installs mariadb-server")
        self.dir = tempfile.mkdtemp(prefix="hush-maria-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.port = _free_port()
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "mysql", "mysql")
        subprocess.run(["mariadb-install-db", f"--datadir={self.data}", *user,
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, text=True)
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", *user,
             f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={os.path.join(self.dir, 'pid')}", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run(["mariadb", "-S", self.sock, "-uroot", "-e", "SELECT 1"],
                               capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("MariaDB did not start: " + open(os.path.join(self.dir, "log")).read())
        self.sql(f"CREATE USER '{SUPERUSER}'@'%' IDENTIFIED BY '{PASSWORD}';"
                 f"GRANT ALL PRIVILEGES ON *.* TO '{SUPERUSER}'@'%' WITH GRANT OPTION;"
                 "CREATE DATABASE IF NOT EXISTS app;"
                 "CREATE TABLE IF NOT EXISTS app.probe (v int); INSERT INTO app.probe VALUES (42);",
                 via_socket=True)

    def url(self):
        return f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{self.port})/"

    def sql(self, statement, user=SUPERUSER, password=PASSWORD, via_socket=False, check=True):
        """Runs `statement`; returns (returncode, output)."""
        if via_socket:
            args = ["mariadb", "-S", self.sock, "-uroot"]
        else:
            args = ["mariadb", "-h", "127.0.0.1", "-P", str(self.port), f"-u{user}",
                    f"-p{password}", "--protocol=tcp"]
        r = subprocess.run([*args, "-N", "-B", "-e", statement], capture_output=True, text=True,
                           timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        return r.returncode, (r.stdout + r.stderr).strip()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb():
    db = MariaDB()
    yield db
    db.stop()
