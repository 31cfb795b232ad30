"""A real MariaDB server (Debian's mariadb-server) on a port of its own, for the database
engine's tests: a fresh data directory, superuser `hush` with a password, stopped at the end of
the session. It runs as the `mysql` user, as the package does.

`tls_mariadb` is a second server that takes TLS connections only (`require_secure_transport`),
with a certificate for `localhost` from a test CA, so the shared server's tests stay as they
are."""

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
    def __init__(self, tls=None):
        """`tls`: {"cert", "key", "ca": paths} to take TLS connections only."""
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
        self.tls = tls
        tls_args = []
        if tls:
            for name in ("cert", "key", "ca"):
                dst = os.path.join(self.dir, f"{name}.pem")
                shutil.copyfile(tls[name], dst)
                if os.geteuid() == 0:
                    shutil.chown(dst, "mysql", "mysql")
            tls_args = [f"--ssl-cert={self.dir}/cert.pem", f"--ssl-key={self.dir}/key.pem",
                        f"--ssl-ca={self.dir}/ca.pem", "--require-secure-transport=ON"]
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", *user,
             f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={os.path.join(self.dir, 'pid')}", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0", *tls_args],
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
            if self.tls:
                args.append("--ssl")
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
def tls_mariadb(tmp_path_factory):
    """A MariaDB that takes TLS connections only; `.ca_pem` is its CA, `.other_ca_pem` one that
    did not sign its certificate (for `localhost` only)."""
    import trustme
    d = tmp_path_factory.mktemp("maria-tls")
    ca, other = trustme.CA(), trustme.CA()
    # mysql_async reads RSA keys only (for client certificates); the server's may be any kind.
    cert = ca.issue_cert("localhost")
    paths = {k: str(d / f"{k}.pem") for k in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.private_key_pem.write_to_path(paths["key"])
    with open(paths["cert"], "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    for p in paths.values():
        os.chmod(p, 0o644)
    db = MariaDB(tls=paths)
    db.ca_pem = ca.cert_pem.bytes().decode()
    db.other_ca_pem = other.cert_pem.bytes().decode()
    yield db
    db.stop()


@pytest.fixture(scope="session")
def mariadb():
    db = MariaDB()
    yield db
    db.stop()
