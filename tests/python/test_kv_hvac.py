"""KV v1 and v2 through hvac's `secrets.kv` API (every kv.v2 call) against the real binary in dev
mode, with the raw HTTP bodies checked with `requests` where hvac hides them (404 bodies of
deleted and destroyed versions, JSON merge PATCH, subkeys)."""

import time

import hvac
import pytest
import requests

ROOT = "root"
CAS_MISMATCH = "check-and-set parameter did not match the current version"
CAS_REQUIRED = "check-and-set parameter required for this call"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def client(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


def raw(server, method, path, token=ROOT, headers=None, **kw):
    h = {"X-Vault-Token": token, **(headers or {})}
    return requests.request(method, f"{server.url}/v1/{path}", headers=h, timeout=10, **kw)


def read(kv, path, version=None, **kw):
    return kv.read_secret_version(path, version=version, raise_on_deleted_version=True, **kw)


def wait_until(cond, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def assert_version_metadata(meta, version):
    assert meta["version"] == version
    assert meta["created_time"].endswith("Z") and "T" in meta["created_time"]
    assert meta["deletion_time"] == ""
    assert meta["destroyed"] is False
    assert "custom_metadata" in meta


# ---------------------------------------------------------------------------------------------
# KV v2


def test_configure_and_read_configuration(client):
    kv = client.secrets.kv.v2
    cfg = kv.read_configuration()["data"]
    # Vault's defaults on a fresh mount: 0 means "10" for max_versions.
    assert cfg == {"max_versions": 0, "cas_required": False, "delete_version_after": "0s"}

    kv.configure(max_versions=5, cas_required=True, delete_version_after="1h")
    cfg = kv.read_configuration()["data"]
    assert cfg["max_versions"] == 5
    assert cfg["cas_required"] is True
    assert cfg["delete_version_after"] == "1h0m0s"  # Go's time.Duration text, as Vault prints it

    # cas_required on the mount: a write without cas is refused, with cas it goes through.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret("cfg/x", {"k": "v"})
    assert CAS_REQUIRED in str(e.value)
    created = kv.create_or_update_secret("cfg/x", {"k": "v"}, cas=0)["data"]
    assert created["version"] == 1
    # The mount's delete_version_after applies to new versions: the deletion time is set ahead.
    assert created["deletion_time"] != ""

    kv.configure(max_versions=10, cas_required=False, delete_version_after="0s")
    cfg = kv.read_configuration()["data"]
    assert cfg == {"max_versions": 10, "cas_required": False, "delete_version_after": "0s"}
    assert kv.create_or_update_secret("cfg/x", {"k": "w"})["data"]["version"] == 2


def test_create_or_update_secret_with_cas(client):
    kv = client.secrets.kv.v2
    r = kv.create_or_update_secret("app/db", {"user": "admin", "password": "s3cr3t"}, cas=0)
    assert_version_metadata(r["data"], 1)
    assert r["data"]["custom_metadata"] is None

    # cas=0 means "only if it does not exist yet".
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret("app/db", {"user": "other"}, cas=0)
    assert CAS_MISMATCH in str(e.value)
    # A stale version is refused too, and nothing changed.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret("app/db", {"user": "other"}, cas=2)
    assert CAS_MISMATCH in str(e.value)
    assert read(kv, "app/db")["data"]["data"] == {"user": "admin", "password": "s3cr3t"}

    r = kv.create_or_update_secret("app/db", {"user": "admin", "password": "n3w"}, cas=1)
    assert_version_metadata(r["data"], 2)
    r = kv.create_or_update_secret("app/db", {"user": "admin", "password": "n3w3r"})
    assert r["data"]["version"] == 3

    latest = read(kv, "app/db")
    assert latest["data"]["data"] == {"user": "admin", "password": "n3w3r"}
    assert_version_metadata(latest["data"]["metadata"], 3)

    # Values of any JSON type are kept as given.
    typed = {"n": 5, "f": 1.5, "b": True, "z": None, "l": [1, "two"], "o": {"deep": {"x": 1}}}
    kv.create_or_update_secret("app/typed", typed)
    assert read(kv, "app/typed")["data"]["data"] == typed


def test_patch_merges_through_hvac_and_json_merge_patch(client, dev_server):
    kv = client.secrets.kv.v2
    kv.create_or_update_secret("p/cfg", {"a": "1", "b": "2", "nested": {"x": "1", "y": "1"}})

    # hvac's patch: read, dict.update, write back with cas = the version it read.
    r = kv.patch("p/cfg", {"b": "3", "c": "4"})
    assert r["data"]["version"] == 2
    assert read(kv, "p/cfg")["data"]["data"] == {
        "a": "1", "b": "3", "c": "4", "nested": {"x": "1", "y": "1"},
    }
    # hvac 2.4 sends a None through that write-back, so the server stores a JSON null.
    kv.patch("p/cfg", {"c": None})
    assert read(kv, "p/cfg")["data"]["data"] == {
        "a": "1", "b": "3", "c": None, "nested": {"x": "1", "y": "1"},
    }
    # hvac's patch of a missing secret is an InvalidPath from its read.
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.patch("p/missing", {"a": "1"})

    # The server-side PATCH (what `vault kv patch` sends): RFC 7386 merge, null deletes a key,
    # objects merge recursively, with cas honoured.
    body = {"data": {"a": None, "c": None, "nested": {"x": None, "y": "2"}, "d": "5"},
            "options": {"cas": 3}}
    r = raw(dev_server, "PATCH", "secret/data/p/cfg", json=body, headers=MERGE_PATCH)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["version"] == 4
    assert read(kv, "p/cfg")["data"]["data"] == {"b": "3", "d": "5", "nested": {"y": "2"}}

    r = raw(dev_server, "PATCH", "secret/data/p/cfg", json={"data": {"b": "x"}, "options": {"cas": 1}},
            headers=MERGE_PATCH)
    assert r.status_code == 400 and CAS_MISMATCH in r.text
    r = raw(dev_server, "PATCH", "secret/data/p/missing", json={"data": {"a": "1"}}, headers=MERGE_PATCH)
    assert r.status_code == 404
    assert read(kv, "p/cfg")["data"]["metadata"]["version"] == 4


def test_patch_needs_the_merge_patch_content_type(client, dev_server):
    # Vault's HTTP layer answers any PATCH whose Content-Type is not
    # application/merge-patch+json with 415, before the request reaches the engine.
    client.secrets.kv.v2.create_or_update_secret("p/ct", {"b": "1"})
    for path, body in (("secret/data/p/ct", {"data": {"b": "x"}}),
                       ("secret/metadata/p/ct", {"max_versions": 3})):
        r = raw(dev_server, "PATCH", path, json=body)  # requests sends application/json
        assert r.status_code == 415, (path, r.status_code, r.text)
    assert read(client.secrets.kv.v2, "p/ct")["data"]["data"] == {"b": "1"}
    assert read(client.secrets.kv.v2, "p/ct")["data"]["metadata"]["version"] == 1


def test_read_secret_version_deleted_and_destroyed(client, dev_server):
    kv = client.secrets.kv.v2
    for i in (1, 2, 3):
        kv.create_or_update_secret("rv/s", {"v": str(i)})
    assert read(kv, "rv/s", version=1)["data"]["data"] == {"v": "1"}
    assert read(kv, "rv/s", version=2)["data"]["metadata"]["version"] == 2
    # hvac >= 2 helper: the latest version.
    latest = kv.read_secret("rv/s", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"v": "3"} and latest["data"]["metadata"]["version"] == 3
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "rv/s", version=99)
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "rv/nothing")

    kv.delete_latest_version_of_secret("rv/s")
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "rv/s")
    # With raise_on_deleted_version=False hvac hands back the 404 body: data None + metadata.
    soft = kv.read_secret("rv/s", raise_on_deleted_version=False)
    assert soft["data"]["data"] is None
    assert soft["data"]["metadata"]["deletion_time"] != ""
    assert soft["data"]["metadata"]["version"] == 3
    r = raw(dev_server, "GET", "secret/data/rv/s")
    assert r.status_code == 404
    body = r.json()
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["deletion_time"] != ""
    assert body["data"]["metadata"]["destroyed"] is False
    assert body["data"]["metadata"]["version"] == 3
    # An older version is still readable.
    assert read(kv, "rv/s", version=2)["data"]["data"] == {"v": "2"}

    kv.destroy_secret_versions("rv/s", [2])
    r = raw(dev_server, "GET", "secret/data/rv/s", params={"version": 2})
    assert r.status_code == 404
    body = r.json()
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["destroyed"] is True
    assert body["data"]["metadata"]["version"] == 2
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version("rv/s", version=2, raise_on_deleted_version=True)


def test_list_secrets(client, dev_server):
    kv = client.secrets.kv.v2
    for p in ("ls/one", "ls/two", "ls/sub/three", "ls/sub/deeper/four", "other"):
        kv.create_or_update_secret(p, {"k": "v"})
    assert kv.list_secrets("ls")["data"]["keys"] == ["one", "sub/", "two"]
    assert kv.list_secrets("ls/")["data"]["keys"] == ["one", "sub/", "two"]
    assert kv.list_secrets("ls/sub")["data"]["keys"] == ["deeper/", "three"]
    assert kv.list_secrets("")["data"]["keys"] == ["ls/", "other"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets("nothing-here")
    # The plain-GET spelling of LIST.
    r = raw(dev_server, "GET", "secret/metadata/ls", params={"list": "true"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["one", "sub/", "two"]
    # A soft-deleted secret is still listed; a secret whose metadata is gone is not.
    kv.delete_latest_version_of_secret("ls/one")
    assert "one" in kv.list_secrets("ls")["data"]["keys"]
    kv.delete_metadata_and_all_versions("ls/one")
    assert kv.list_secrets("ls")["data"]["keys"] == ["sub/", "two"]


def test_delete_undelete_destroy_versions(client):
    kv = client.secrets.kv.v2
    for i in (1, 2, 3, 4):
        kv.create_or_update_secret("dud/s", {"v": str(i)})

    kv.delete_secret_versions("dud/s", [1, 2])
    for v in (1, 2):
        with pytest.raises(hvac.exceptions.InvalidPath):
            read(kv, "dud/s", version=v)
    versions = kv.read_secret_metadata("dud/s")["data"]["versions"]
    assert versions["1"]["deletion_time"] != "" and versions["2"]["deletion_time"] != ""
    assert versions["3"]["deletion_time"] == ""

    kv.undelete_secret_versions("dud/s", [1])
    assert read(kv, "dud/s", version=1)["data"]["data"] == {"v": "1"}
    versions = kv.read_secret_metadata("dud/s")["data"]["versions"]
    assert versions["1"]["deletion_time"] == ""
    assert versions["2"]["deletion_time"] != ""

    kv.destroy_secret_versions("dud/s", [1, 3])
    versions = kv.read_secret_metadata("dud/s")["data"]["versions"]
    assert versions["1"]["destroyed"] is True and versions["3"]["destroyed"] is True
    assert versions["4"]["destroyed"] is False
    # A destroyed version cannot be undeleted.
    kv.undelete_secret_versions("dud/s", [1, 3])
    for v in (1, 3):
        with pytest.raises(hvac.exceptions.InvalidPath):
            read(kv, "dud/s", version=v)
    assert read(kv, "dud/s")["data"]["data"] == {"v": "4"}

    # hvac validates the versions argument itself.
    with pytest.raises(hvac.exceptions.ParamValidationError):
        kv.delete_secret_versions("dud/s", [])
    # A write after deleting the latest version creates a new, readable version.
    kv.delete_latest_version_of_secret("dud/s")
    assert kv.create_or_update_secret("dud/s", {"v": "5"})["data"]["version"] == 5
    assert read(kv, "dud/s")["data"]["data"] == {"v": "5"}


def test_read_and_update_metadata(client, dev_server):
    kv = client.secrets.kv.v2
    kv.create_or_update_secret("md/s", {"k": "1"})
    kv.create_or_update_secret("md/s", {"k": "2"})
    md = kv.read_secret_metadata("md/s")["data"]
    assert md["current_version"] == 2
    assert md["oldest_version"] == 0 or md["oldest_version"] == 1
    assert md["max_versions"] == 0
    assert md["cas_required"] is False
    assert md["delete_version_after"] == "0s"
    assert md["custom_metadata"] is None
    assert sorted(md["versions"]) == ["1", "2"]
    assert md["created_time"] == md["versions"]["1"]["created_time"]
    assert md["updated_time"] == md["versions"]["2"]["created_time"]
    for v in md["versions"].values():
        assert v["deletion_time"] == "" and v["destroyed"] is False
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("md/missing")

    kv.update_metadata(
        "md/s",
        max_versions=7,
        cas_required=True,
        delete_version_after="30m",
        custom_metadata={"owner": "ops", "tier": "gold"},
    )
    md = kv.read_secret_metadata("md/s")["data"]
    assert md["max_versions"] == 7
    assert md["cas_required"] is True
    assert md["delete_version_after"] == "30m0s"
    assert md["custom_metadata"] == {"owner": "ops", "tier": "gold"}
    assert md["current_version"] == 2

    # The key's cas_required is enforced on writes; custom metadata shows in read responses.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret("md/s", {"k": "3"})
    assert CAS_REQUIRED in str(e.value)
    r = kv.create_or_update_secret("md/s", {"k": "3"}, cas=2)["data"]
    assert r["version"] == 3
    assert r["custom_metadata"] == {"owner": "ops", "tier": "gold"}
    assert read(kv, "md/s")["data"]["metadata"]["custom_metadata"] == {"owner": "ops", "tier": "gold"}

    # hvac 2.4 has no patch_metadata: the server's metadata PATCH, through requests.
    assert not hasattr(kv, "patch_metadata")
    r = raw(dev_server, "PATCH", "secret/metadata/md/s", headers=MERGE_PATCH,
            json={"max_versions": 9, "custom_metadata": {"owner": None, "team": "blue"}})
    assert r.status_code == 204, r.text
    md = kv.read_secret_metadata("md/s")["data"]
    assert md["max_versions"] == 9
    assert md["cas_required"] is True  # untouched
    assert md["custom_metadata"] == {"tier": "gold", "team": "blue"}

    # Metadata can be written before any version exists.
    kv.update_metadata("md/fresh", max_versions=2, custom_metadata={"a": "b"})
    md = kv.read_secret_metadata("md/fresh")["data"]
    assert md["max_versions"] == 2 and md["current_version"] == 0 and md["versions"] == {}
    with pytest.raises(hvac.exceptions.ParamValidationError):
        kv.update_metadata("md/s", custom_metadata="not-a-dict")


def test_delete_metadata_and_all_versions(client):
    kv = client.secrets.kv.v2
    for i in range(3):
        kv.create_or_update_secret("dm/s", {"v": str(i)})
    kv.create_or_update_secret("dm/keep", {"v": "k"})
    kv.delete_metadata_and_all_versions("dm/s")
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "dm/s")
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "dm/s", version=1)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("dm/s")
    assert kv.list_secrets("dm")["data"]["keys"] == ["keep"]
    # Writing again starts from version 1.
    assert kv.create_or_update_secret("dm/s", {"v": "new"}, cas=0)["data"]["version"] == 1


def test_read_secret_subkeys(client, dev_server):
    kv = client.secrets.kv.v2
    # hvac 2.4 has no read_secret_subkeys; the endpoint is read with requests.
    assert not hasattr(kv, "read_secret_subkeys")
    kv.create_or_update_secret("sk/s", {"db": {"user": "u", "pass": {"cur": "p"}}, "port": 5432})
    kv.create_or_update_secret("sk/s", {"only": "one"})

    r = raw(dev_server, "GET", "secret/subkeys/sk/s")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["subkeys"] == {"only": None}
    assert data["metadata"]["version"] == 2

    r = raw(dev_server, "GET", "secret/subkeys/sk/s", params={"version": 1})
    assert r.json()["data"]["subkeys"] == {"db": {"user": None, "pass": {"cur": None}}, "port": None}
    r = raw(dev_server, "GET", "secret/subkeys/sk/s", params={"version": 1, "depth": 1})
    assert r.json()["data"]["subkeys"] == {"db": None, "port": None}
    r = raw(dev_server, "GET", "secret/subkeys/sk/s", params={"version": 1, "depth": 2})
    assert r.json()["data"]["subkeys"] == {"db": {"user": None, "pass": None}, "port": None}
    assert raw(dev_server, "GET", "secret/subkeys/sk/missing").status_code == 404
    # No values ever.
    assert "5432" not in r.text and '"u"' not in r.text


def test_pruning_beyond_max_versions(client):
    kv = client.secrets.kv.v2
    kv.configure(max_versions=3)
    for i in range(1, 6):
        kv.create_or_update_secret("pr/s", {"v": str(i)})
    md = kv.read_secret_metadata("pr/s")["data"]
    assert md["current_version"] == 5
    assert md["oldest_version"] == 3
    assert sorted(md["versions"]) == ["3", "4", "5"]
    for v in (1, 2):
        with pytest.raises(hvac.exceptions.InvalidPath):
            read(kv, "pr/s", version=v)
    assert read(kv, "pr/s", version=3)["data"]["data"] == {"v": "3"}

    # A key's own max_versions wins over the mount's.
    kv.update_metadata("pr/s", max_versions=2)
    kv.create_or_update_secret("pr/s", {"v": "6"})
    md = kv.read_secret_metadata("pr/s")["data"]
    assert sorted(md["versions"]) == ["5", "6"]
    assert md["oldest_version"] == 5
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "pr/s", version=4)


def test_delete_version_after_expires_a_version(client, dev_server):
    kv = client.secrets.kv.v2
    kv.update_metadata("exp/s", delete_version_after="1s")
    r = kv.create_or_update_secret("exp/s", {"v": "short-lived"})["data"]
    assert r["deletion_time"] != ""  # set ahead, as Vault does
    assert read(kv, "exp/s")["data"]["data"] == {"v": "short-lived"}

    assert wait_until(lambda: raw(dev_server, "GET", "secret/data/exp/s").status_code == 404), \
        "version 1 did not expire within 5s of a 1s delete_version_after"
    body = raw(dev_server, "GET", "secret/data/exp/s").json()
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["deletion_time"] != ""
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "exp/s")
    # Undelete clears the deletion time (Vault: the version stays readable until a new delete).
    kv.update_metadata("exp/s", delete_version_after="0s")
    kv.undelete_secret_versions("exp/s", [1])
    assert read(kv, "exp/s")["data"]["data"] == {"v": "short-lived"}


def test_kv_v2_mounted_through_hvac(client):
    client.sys.enable_secrets_engine("kv", path="kv2", options={"version": "2"})
    client.sys.enable_secrets_engine("kv-v2", path="kvv2")
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    for m in ("kv2/", "kvv2/"):
        assert mounts[m]["type"] == "kv"
        assert mounts[m]["options"] == {"version": "2"}
    kv = client.secrets.kv.v2
    kv.create_or_update_secret("a", {"k": "v"}, mount_point="kv2")
    assert read(kv, "a", mount_point="kv2")["data"]["data"] == {"k": "v"}
    kv.create_or_update_secret("b", {"k": "w"}, mount_point="kvv2")
    assert kv.list_secrets("", mount_point="kvv2")["data"]["keys"] == ["b"]
    # Mounts are separate.
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(kv, "a", mount_point="kvv2")


# ---------------------------------------------------------------------------------------------
# KV v1


def test_kv_v1_through_hvac(client, dev_server):
    client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts["kv1/"]["type"] == "kv"
    assert mounts["kv1/"]["options"] == {"version": "1"}
    kv = client.secrets.kv.v1

    r = kv.create_or_update_secret("app/db", {"user": "u", "password": "p"}, mount_point="kv1")
    assert r.status_code == 204
    got = kv.read_secret("app/db", mount_point="kv1")
    assert got["data"] == {"user": "u", "password": "p"}  # no data.data / metadata wrapper in v1
    kv.create_or_update_secret("app/cache", {"url": "redis://x"}, mount_point="kv1")
    kv.create_or_update_secret("app/sub/deep", {"k": "v"}, mount_point="kv1")
    assert kv.list_secrets("app", mount_point="kv1")["data"]["keys"] == ["cache", "db", "sub/"]
    assert kv.list_secrets("", mount_point="kv1")["data"]["keys"] == ["app/"]

    # An update replaces the whole value (no versions in v1).
    kv.create_or_update_secret("app/db", {"user": "u2"}, mount_point="kv1")
    assert kv.read_secret("app/db", mount_point="kv1")["data"] == {"user": "u2"}

    kv.create_or_update_secret("app/ttl", {"ttl": "1h", "v": "x"}, mount_point="kv1")
    r = kv.delete_secret("app/db", mount_point="kv1")
    assert r.status_code == 204
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret("app/db", mount_point="kv1")
    assert kv.list_secrets("app", mount_point="kv1")["data"]["keys"] == ["cache", "sub/", "ttl"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets("nothing", mount_point="kv1")

    # v2-only endpoints do not exist on a v1 mount: "data/x" is just a key there.
    assert raw(dev_server, "GET", "kv1/metadata/app", params={"list": "true"}).status_code == 404


def test_kv_v1_ttl_key_is_the_lease_duration(client):
    # Vault's v1 (passthrough) engine returns a `ttl` (or `lease`) key of the secret as the read's
    # lease_duration; `vault kv get` shows it as refresh_interval.
    client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    kv = client.secrets.kv.v1
    kv.create_or_update_secret("cfg", {"ttl": "1h", "v": "x"}, mount_point="kv1")
    got = kv.read_secret("cfg", mount_point="kv1")
    assert got["data"] == {"ttl": "1h", "v": "x"}
    assert got["lease_duration"] == 3600
    assert got["lease_id"] == ""  # no lease is registered for KV
