"""A real PostgreSQL server (Debian's package) on a port of its own, for the database engine's
tests: a fresh cluster in a temporary directory, superuser `hush` with a password, stopped at
the end of the session. PostgreSQL refuses to run as root, so it runs as the `postgres` user."""

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
    def __init__(self):
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
        _as_postgres([_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"),
                      "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                            "-c fsync=off", "start"])

    def url(self, user="{{username}}", password="{{password}}", db="postgres"):
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def psql(self, sql, user=SUPERUSER, password=PASSWORD, check=True):
        """Runs `sql` with psql as `user`; returns (returncode, stdout+stderr)."""
        env = dict(os.environ, PGPASSWORD=password)
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
def postgres():
    pg = Postgres()
    yield pg
    pg.stop()
