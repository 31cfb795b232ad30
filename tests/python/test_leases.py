"""sys/leases over HTTP with hvac's lease calls, and `hush lease`: the answers for leases that do
not exist (the lease manager itself is tested with an issuing engine in hush-core's tests)."""

import os
import subprocess

import hvac
import pytest

from conftest import HUSH_BIN


def cli(server, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "HUSH_"))}
    env.update({"HUSH_ADDR": server.url, "HUSH_TOKEN": "root"})
    return subprocess.run([HUSH_BIN, *args], env=env, capture_output=True, text=True, timeout=60)


def test_hvac_lease_calls_on_unknown_leases_say_so(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid lease"):
        client.sys.read_lease("database/creds/app/nope")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="lease not found"):
        client.sys.renew_lease("database/creds/app/nope", increment=60)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="lease not found"):
        client.sys.revoke_lease("database/creds/app/nope")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases("database/creds/app")
    # Prefix revocations of nothing succeed; both need sudo, which root has.
    client.sys.revoke_prefix("database/creds/app")
    client.sys.revoke_force("database/creds/app")
    plain = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=dev_server.url, token=plain).sys.revoke_force("database/creds/app")


def test_hush_lease_commands(dev_server):
    r = cli(dev_server, "lease", "lookup", "database/creds/app/nope")
    assert r.returncode != 0 and "invalid lease" in r.stderr
    r = cli(dev_server, "lease", "revoke", "database/creds/app/nope")
    assert r.returncode != 0 and "lease not found" in r.stderr
    r = cli(dev_server, "lease", "renew", "-increment=1h", "database/creds/app/nope")
    assert r.returncode != 0 and "lease not found" in r.stderr
    r = cli(dev_server, "lease", "list", "database/creds/app")
    assert r.returncode == 0 and "No leases below" in r.stdout
    r = cli(dev_server, "lease", "revoke", "-force", "database/creds/app")
    assert r.returncode != 0 and "-force applies with -prefix" in r.stderr
    r = cli(dev_server, "lease", "revoke", "-prefix", "-force", "database/creds/app")
    assert r.returncode == 0 and "Revoked leases below" in r.stdout, r.stderr
