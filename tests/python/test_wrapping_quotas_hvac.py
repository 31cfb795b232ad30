"""Response wrapping and rate-limit quotas through hvac."""

import time

import hvac
import pytest
import requests


def test_wrap_unwrap_once(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    wrapped = client.sys.wrap(payload={"secret_id": "s-123", "n": 7}, ttl=60)
    info = wrapped["wrap_info"]
    assert info["token"] and info["accessor"]
    assert info["ttl"] == 60 and info["creation_path"] == "sys/wrapping/wrap"
    assert wrapped["data"] is None

    # Looking it up does not spend it.
    lookup = requests.post(
        f"{dev_server.url}/v1/sys/wrapping/lookup", json={"token": info["token"]}
    ).json()
    assert lookup["data"]["creation_path"] == "sys/wrapping/wrap"
    assert lookup["data"]["creation_ttl"] == 60

    # The wrapping token itself unwraps, once.
    unwrapper = hvac.Client(url=dev_server.url, token=info["token"])
    out = unwrapper.sys.unwrap()
    assert out["data"] == {"secret_id": "s-123", "n": 7}
    # Used, it is Vault's 400 about the wrapping token (not a permission problem).
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        unwrapper.sys.unwrap()
    assert "wrapping token is not valid or does not exist" in str(e.value)

    # Unwrapping with another token passes the wrapping token in the body.
    info2 = client.sys.wrap(payload={"a": "b"}, ttl=60)["wrap_info"]
    assert client.sys.unwrap(token=info2["token"])["data"] == {"a": "b"}
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.unwrap(token=info2["token"])


def test_wrapping_token_expires_and_is_limited(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    info = client.sys.wrap(payload={"x": "y"}, ttl=1)["wrap_info"]
    wrapping = hvac.Client(url=dev_server.url, token=info["token"])
    # A wrapping token can do nothing but unwrap.
    with pytest.raises(hvac.exceptions.Forbidden):
        wrapping.secrets.kv.v2.read_secret_version(path="anything", mount_point="secret")
    time.sleep(1.5)
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        client.sys.unwrap(token=info["token"])


def test_wrap_ttl_header_wraps_any_response(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    client.secrets.kv.v2.create_or_update_secret(path="wrapped", secret={"k": "v"})
    r = requests.get(
        f"{dev_server.url}/v1/secret/data/wrapped",
        headers={"X-Vault-Token": "root", "X-Vault-Wrap-TTL": "5m"},
    )
    body = r.json()
    assert body["data"] is None and body["wrap_info"]["ttl"] == 300
    assert body["wrap_info"]["creation_path"] == "secret/data/wrapped"
    out = client.sys.unwrap(token=body["wrap_info"]["token"])
    assert out["data"]["data"] == {"k": "v"}
    r = requests.get(
        f"{dev_server.url}/v1/secret/data/wrapped",
        headers={"X-Vault-Token": "root", "X-Vault-Wrap-TTL": "soon"},
    )
    assert r.status_code == 400 and "Wrap-TTL" in r.json()["errors"][0]


def test_wrapped_token_creation(dev_server):
    r = requests.post(
        f"{dev_server.url}/v1/auth/token/create",
        json={"policies": ["default"], "ttl": "1h"},
        headers={"X-Vault-Token": "root", "X-Vault-Wrap-TTL": "60"},
    ).json()
    assert r["auth"] is None and r["wrap_info"]["wrapped_accessor"]
    client = hvac.Client(url=dev_server.url, token="root")
    out = client.sys.unwrap(token=r["wrap_info"]["token"])
    token = out["auth"]["client_token"]
    assert out["auth"]["accessor"] == r["wrap_info"]["wrapped_accessor"]
    assert hvac.Client(url=dev_server.url, token=token).auth.token.lookup_self()["data"]["ttl"] > 0


def test_rate_limit_quota_answers_429_with_retry_after(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    client.secrets.kv.v2.create_or_update_secret(path="q", secret={"k": "v"})
    client.sys.create_or_update_quota(name="kv", rate=3, path="secret/", interval="10s",
                                      block_interval="20s")
    q = client.sys.read_quota("kv")["data"]
    assert q["rate"] == 3 and q["path"] == "secret/" and q["interval"] == 10
    assert "kv" in client.sys.list_quotas()["data"]["keys"]

    url = f"{dev_server.url}/v1/secret/data/q"
    statuses = [requests.get(url, headers={"X-Vault-Token": "root"}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    r = requests.get(url, headers={"X-Vault-Token": "root"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    message = r.json()["errors"][0]
    assert "rate limit quota exceeded" in message, message
    # It names the path asked for and the quota that refused it.
    assert 'request path "secret/data/q"' in message and 'quota "kv"' in message, message
    assert 'paths under "secret/"' in message, message
    # Other paths, and the health endpoint, are not limited by this quota.
    assert requests.get(f"{dev_server.url}/v1/sys/health").status_code == 200
    assert client.sys.read_quota("kv")["data"]["rate"] == 3

    # A negative rate is named as such, whether sent as a number or a string.
    for bad in (-1, "-1"):
        r = requests.post(f"{dev_server.url}/v1/sys/quotas/rate-limit/neg",
                          headers={"X-Vault-Token": "root"}, json={"rate": bad})
        assert r.status_code == 400 and "'rate' cannot be negative" in r.json()["errors"][0], r.text

    client.sys.delete_quota("kv")
    assert requests.get(url, headers={"X-Vault-Token": "root"}).status_code == 200
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.create_or_update_quota(name="bad", rate=-1)
