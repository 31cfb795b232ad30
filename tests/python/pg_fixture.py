"""A real PostgreSQL server (Debian's package) on a port of its own, for the database engine's
tests: a fresh cluster in a temporary directory, superuser `hush` with a password, stopped at
the end of the session. PostgreSQL refuses to run as root, so it runs as the `postgres` user.

`tls_postgres` is a second server that takes TLS only (`ssl=on`, every TCP login `hostssl`),
with a certificate for `localhost` from a test CA, so the shared server's tests stay as they
are."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SUPERUSER = "hush"
PASSWORD = "hush-super-secret"


def _bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: scripts/test installs Debian's postgresql package"
        )
    return found[-1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Postgres:
    def __init__(self, tls=None):
        """`tls`: {"cert": path, "key": path} to take TLS connections only."""
        self.dir = tempfile.mkdtemp(prefix="hush-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        _as_postgres([_bin("initdb"), "-D", self.data, "-U", SUPERUSER, "--pwfile", pwfile,
                      "-A", "scram-sha-256", "--no-sync"])
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.tls = tls is not None
        if tls:
            # The server reads its key only if the postgres user owns it and no one else can.
            for name, src in (("server.crt", tls["cert"]), ("server.key", tls["key"])):
                dst = os.path.join(self.data, name)
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o600)
                if os.geteuid() == 0:
                    shutil.chown(dst, "postgres", "postgres")
            with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
                f.write("local all all scram-sha-256\n"
                        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
                        "hostssl all all ::1/128 scram-sha-256\n")
            options += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        _as_postgres([_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"),
                      "-o", options, "start"])

    def url(self, user="{{username}}", password="{{password}}", db="postgres"):
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def psql(self, sql, user=SUPERUSER, password=PASSWORD, check=True):
        """Runs `sql` with psql as `user`; returns (returncode, stdout+stderr)."""
        env = dict(os.environ, PGPASSWORD=password)
        if self.tls:
            env["PGSSLMODE"] = "require"
        r = subprocess.run(
            [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", "postgres",
             "-tAc", sql],
            env=env, capture_output=True, text=True, timeout=30,
        )
        if check and r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        return r.returncode, (r.stdout + r.stderr).strip()

    def stop(self):
        try:
            _as_postgres([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_postgres(tmp_path_factory):
    """A PostgreSQL that takes TLS logins only; `.ca` is its CA's PEM file, `.other_ca` one
    that did not sign its certificate (for `localhost` only)."""
    import trustme
    d = tmp_path_factory.mktemp("pg-tls")
    ca, other = trustme.CA(), trustme.CA()
    cert = ca.issue_cert("localhost")
    paths = {k: str(d / f"{k}.pem") for k in ("ca", "other_ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    other.cert_pem.write_to_path(paths["other_ca"])
    cert.private_key_pem.write_to_path(paths["key"])
    with open(paths["cert"], "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    for p in paths.values():
        os.chmod(p, 0o644)
    pg = Postgres(tls={"cert": paths["cert"], "key": paths["key"]})
    pg.ca, pg.other_ca = paths["ca"], paths["other_ca"]
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def postgres():
    pg = Postgres()
    yield pg
    pg.stop()
