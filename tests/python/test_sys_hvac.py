"""The system API through hvac, the most used Vault client, over a TLS listener configured from
a Vault-style HCL file."""

import hvac
import pytest

from conftest import HushServer, free_port


def hcl_config(tmp_path, tls_files, port):
    cfg = tmp_path / "hush.hcl"
    cfg.write_text(
        f"""
storage "sqlite" {{
  path = "{tmp_path / 'data' / 'hush.db'}"
}}

listener "tcp" {{
  address       = "127.0.0.1:{port}"
  tls_cert_file = "{tls_files['cert']}"
  tls_key_file  = "{tls_files['key']}"
}}

disable_mlock     = true
default_lease_ttl = "768h"
max_lease_ttl     = "8760h"
cluster_name      = "hvac-test"
"""
    )
    return cfg


def test_hvac_full_lifecycle_over_tls(tmp_path, tls_files, servers):
    port = free_port()
    cfg = hcl_config(tmp_path, tls_files, port)
    url = f"https://127.0.0.1:{port}"
    server = HushServer(tmp_path, ["--config", str(cfg)], url=url, verify=str(tls_files["ca"]))
    servers.append(server)
    server.start()

    client = hvac.Client(url=url, verify=str(tls_files["ca"]))
    assert client.sys.is_initialized() is False
    health = client.sys.read_health_status(method="GET")
    assert health.status_code == 501

    result = client.sys.initialize(5, 3)
    keys, root = result["keys"], result["root_token"]
    assert len(keys) == 5 and len(result["keys_base64"]) == 5
    assert root
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is True

    # One share is progress, not an unseal.
    status = client.sys.submit_unseal_key(keys[0])
    assert status["sealed"] is True and status["progress"] == 1 and status["t"] == 3
    assert status["nonce"]
    status = client.sys.submit_unseal_keys(keys[1:3])
    assert status["sealed"] is False
    seal_status = client.sys.read_seal_status()
    assert seal_status["type"] == "shamir"
    assert seal_status["n"] == 5 and seal_status["t"] == 3 and seal_status["progress"] == 0
    assert seal_status["cluster_name"] == "hvac-test"
    assert seal_status["storage_type"] == "sqlite"

    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    assert health["cluster_name"] == "hvac-test"

    client.token = root
    key_status = client.sys.get_encryption_key_status()
    assert key_status["data"]["term"] == 1
    assert key_status["term"] == 1  # the top-level copy hvac users read
    client.sys.rotate_encryption_key()
    assert client.sys.get_encryption_key_status()["data"]["term"] == 2

    client.sys.seal()
    assert client.sys.is_sealed() is True
    with pytest.raises(hvac.exceptions.VaultDown):
        client.sys.get_encryption_key_status()

    # Restart on the same SQLite file: still initialized, sealed; other shares unseal it.
    server.stop()
    server.start()
    client = hvac.Client(url=url, verify=str(tls_files["ca"]), token=root)
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is True
    assert client.sys.submit_unseal_keys(keys[2:5])["sealed"] is False
    assert client.sys.get_encryption_key_status()["data"]["term"] == 2


def test_hvac_errors_change_nothing(tmp_path, tls_files, servers):
    port = free_port()
    cfg = hcl_config(tmp_path, tls_files, port)
    url = f"https://127.0.0.1:{port}"
    server = HushServer(tmp_path, ["--config", str(cfg)], url=url, verify=str(tls_files["ca"]))
    servers.append(server)
    server.start()
    client = hvac.Client(url=url, verify=str(tls_files["ca"]))

    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.sys.initialize(3, 5)
    assert "threshold" in str(e.value)
    assert client.sys.is_initialized() is False

    keys = client.sys.initialize(3, 2)["keys"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.sys.initialize(3, 2)
    assert "already initialized" in str(e.value)

    # A key from another initialization is refused at once and does not count.
    other = "ab" * 33
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.sys.submit_unseal_key(other)
    assert "not one of this server's key shares" in str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.sys.submit_unseal_key("abcd")
    assert "bytes" in str(e.value)
    assert client.sys.read_seal_status()["progress"] == 0

    client.sys.submit_unseal_key(keys[0])
    assert client.sys.submit_unseal_key(reset=True)["progress"] == 0
    assert client.sys.submit_unseal_keys(keys[:2])["sealed"] is False
    # As in Vault: a key sent to an unsealed server gets the seal status (clients unseal every
    # node without asking first), and a reset is refused.
    status = client.sys.submit_unseal_key(keys[2])
    assert status["sealed"] is False and status["progress"] == 0
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.sys.submit_unseal_key(reset=True)
    assert "no unseal in progress" in str(e.value)

    # Without a token, a protected endpoint is refused.
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.get_encryption_key_status()
    client.token = "not-a-token"
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.seal()
    assert client.sys.is_sealed() is False


def test_remount_status_reports_the_move_and_refuses_unknown_ids(dev_server):
    import requests

    root = hvac.Client(url=dev_server.url, token="root")
    root.sys.enable_secrets_engine("kv", path="move-from")
    moved = root.sys.move_backend("move-from", "move-to")
    migration = moved["data"]["migration_id"]
    status = root.sys.read_mount_move_status(migration) if hasattr(root.sys, "read_mount_move_status") \
        else requests.get(f"{dev_server.url}/v1/sys/remount/status/{migration}",
                          headers={"X-Vault-Token": "root"}, timeout=10).json()
    info = status["data"]["migration_info"]
    assert info == {"source_mount": "move-from/", "target_mount": "move-to/", "status": "success"}
    r = requests.get(f"{dev_server.url}/v1/sys/remount/status/not-a-move",
                     headers={"X-Vault-Token": "root"}, timeout=10)
    assert r.status_code == 400
    assert 'Did not find migration info for migration ID "not-a-move"' in r.json()["errors"][0]
