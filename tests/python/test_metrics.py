"""sys/metrics: Vault's metric names as JSON and Prometheus text, the telemetry stanza, and a
listener's unauthenticated_metrics_access."""

import json
import re
import time

import hvac
import requests

from conftest import sqlite_server


def prom(server, token="root", **params):
    r = requests.get(
        f"{server.url}/v1/sys/metrics",
        params={"format": "prometheus", **params},
        headers={"X-Vault-Token": token} if token else {},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def value(text, series):
    """The value of one exposition line, e.g. `vault_core_unsealed` or
    `vault_core_response_status_code{code="403",type="4xx"}`."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[-1])
    return None


def configured(tmp_path, servers, telemetry="", listener_telemetry=""):
    return sqlite_server(tmp_path, servers, extra=telemetry, listener_extra=listener_telemetry)


def init_unseal(server):
    c = hvac.Client(url=server.url)
    init = c.sys.initialize(secret_shares=1, secret_threshold=1)
    c.sys.submit_unseal_key(init["keys"][0])
    return init


def test_needs_a_token_by_default_and_answers_json(dev_server):
    r = requests.get(f"{dev_server.url}/v1/sys/metrics", timeout=10)
    assert r.status_code == 403
    # The default policy does not grant it either.
    root = hvac.Client(url=dev_server.url, token="root")
    plain = root.auth.token.create(policies=["default"])["auth"]["client_token"]
    r = requests.get(f"{dev_server.url}/v1/sys/metrics", headers={"X-Vault-Token": plain}, timeout=10)
    assert r.status_code == 403

    root.secrets.kv.v2.create_or_update_secret("app", secret={"k": "v"})
    root.secrets.kv.v2.read_secret_version("app", raise_on_deleted_version=True)
    r = requests.get(f"{dev_server.url}/v1/sys/metrics", headers={"X-Vault-Token": "root"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert set(doc) >= {"Timestamp", "Gauges", "Counters", "Samples", "Points"}
    gauges = {g["Name"]: g["Value"] for g in doc["Gauges"]}
    # Dev mode runs without disable_hostname, as Vault: the host is in gauge names.
    assert any(n.endswith(".core.unsealed") and v == 1 for n, v in gauges.items()), gauges
    samples = {s["Name"]: s for s in doc["Samples"]}
    assert samples["vault.core.handle_request"]["Count"] >= 3
    assert samples["vault.route.read.secret-"]["Count"] == 1
    route = samples["vault.route.create.secret-"] if "vault.route.create.secret-" in samples \
        else samples["vault.route.update.secret-"]
    assert route["Count"] == 1 and route["Min"] > 0 and route["Max"] >= route["Min"]


def test_prometheus_text_counts_requests_statuses_and_storage(dev_server):
    root = hvac.Client(url=dev_server.url, token="root")
    for i in range(5):
        root.secrets.kv.v2.create_or_update_secret(f"s{i}", secret={"k": "v"})
    requests.get(f"{dev_server.url}/v1/secret/data/s0", headers={"X-Vault-Token": "bogus"},
                 timeout=10)
    text = prom(dev_server)
    assert "# TYPE vault_route_update_secret_ summary" in text or \
        "# TYPE vault_route_create_secret_ summary" in text
    creates = (value(text, "vault_route_create_secret__count") or 0) + \
        (value(text, "vault_route_update_secret__count") or 0)
    assert creates == 5
    assert value(text, 'vault_core_response_status_code{code="403",type="4xx"}') == 1
    assert value(text, 'vault_core_response_status_code{code="200",type="2xx"}') >= 5
    assert value(text, 'vault_route_update_secret_{quantile="0.99"}') or \
        value(text, 'vault_route_create_secret_{quantile="0.99"}')
    assert value(text, "vault_inmem_put_count") >= 5 or value(text, "vault_sqlite_put_count") >= 5
    assert re.search(r"^vault_\S*core_unsealed 1$", text, re.M)

    # Prometheus scrapers may ask by Accept header instead.
    r = requests.get(
        f"{dev_server.url}/v1/sys/metrics",
        headers={"X-Vault-Token": "root", "Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    )
    assert r.status_code == 200 and r.text.startswith("# HELP")

    r = requests.get(f"{dev_server.url}/v1/sys/metrics", params={"format": "xml"},
                     headers={"X-Vault-Token": "root"}, timeout=10)
    assert r.status_code == 400
    assert 'metric response format "xml" unknown' in r.json()["errors"][0]


def test_telemetry_stanza_gauges_quota_lockout_and_unauthenticated_listener(tmp_path, servers):
    s = configured(
        tmp_path,
        servers,
        telemetry='telemetry {\n  disable_hostname = true\n  usage_gauge_period = "1s"\n}',
        listener_telemetry="telemetry { unauthenticated_metrics_access = true }",
    ).start()
    # Served while sealed, without a token.
    assert value(prom(s, token=None), "vault_core_unsealed") == 0
    init = init_unseal(s)
    root = hvac.Client(url=s.url, token=init["root_token"])
    text = prom(s, token=None)
    assert value(text, "vault_core_unsealed") == 1
    assert value(text, "vault_token_count") == 1  # the root token

    # Tokens and their leases.
    for _ in range(3):
        root.auth.token.create(policies=["default"], ttl="1h")
    # A rate limit quota turned away.
    root.sys.create_or_update_quota(name="tight", rate=1, interval="1m", path="sys/")
    codes = [requests.get(f"{s.url}/v1/sys/mounts", headers={"X-Vault-Token": init["root_token"]},
                          timeout=10).status_code for _ in range(3)]
    assert 429 in codes
    root.sys.delete_quota(name="tight")
    # A user locked out after failed logins, then refused while locked.
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("alice", password="right")
    for _ in range(6):
        requests.post(f"{s.url}/v1/auth/userpass/login/alice", json={"password": "wrong"},
                      timeout=10)
    time.sleep(1.1)  # past usage_gauge_period
    text = prom(s, token=None)
    assert value(text, "vault_token_count") == 4
    assert value(text, "vault_expire_num_leases") == 3
    assert value(text, "vault_quota_rate_limit_violation") >= 1
    # As sys/locked-users counts them: the user, and the client address it failed from.
    assert value(text, "vault_core_locked_users") == 2
    assert value(text, "vault_core_lockout_rejected_logins") >= 1
    assert value(text, "vault_core_handle_login_request_count") >= 6
    assert value(text, 'vault_core_mount_table_num_entries{local="false",type="auth"}') == 2

    # Served on such a listener, the metrics are not audited (a scraper polling every few
    # seconds is not an access to record), as in Vault; other requests are.
    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    prom(s, token=None)
    prom(s, token=init["root_token"])
    root.sys.list_mounted_secrets_engines()
    paths = [json.loads(line)["request"]["path"] for line in log.read_text().splitlines()]
    assert "sys/metrics" not in paths and paths.count("sys/mounts") == 2, paths


def test_prometheus_can_be_turned_off_and_hostname_label(tmp_path, servers):
    s = configured(
        tmp_path,
        servers,
        telemetry='telemetry {\n  prometheus_retention_time = "0s"\n  disable_hostname = true\n'
                  '  enable_hostname_label = true\n}',
    ).start()
    init = init_unseal(s)
    token = init["root_token"]
    r = requests.get(f"{s.url}/v1/sys/metrics", params={"format": "prometheus"},
                     headers={"X-Vault-Token": token}, timeout=10)
    assert r.status_code == 400 and "prometheus is not enabled" in r.json()["errors"][0]
    # No unauthenticated access on this listener.
    assert requests.get(f"{s.url}/v1/sys/metrics", timeout=10).status_code == 403
    doc = requests.get(f"{s.url}/v1/sys/metrics", headers={"X-Vault-Token": token},
                       timeout=10).json()
    unsealed = [g for g in doc["Gauges"] if g["Name"] == "vault.core.unsealed"]
    assert len(unsealed) == 1 and unsealed[0]["Labels"]["host"]


def test_bad_telemetry_config_is_refused(tmp_path, servers):
    for telemetry, listener, needle in [
        ('telemetry { prometheus_retention = "1h" }', "", "prometheus_retention"),
        ('telemetry { usage_gauge_period = "0s" }', "", "usage_gauge_period"),
        ("telemetry { disable_hostname = \"maybe\" }", "", "disable_hostname"),
        ("", "telemetry { unauthenticated_metric_access = true }", "unauthenticated_metric_access"),
    ]:
        s = configured(tmp_path, servers, telemetry=telemetry, listener_telemetry=listener)
        try:
            s.start()
        except RuntimeError as e:
            assert needle in str(e), str(e)
        else:
            raise AssertionError(f"started with {telemetry or listener}")
