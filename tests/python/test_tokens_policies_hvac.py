"""Tokens (`auth/token/*`), ACL policies (`sys/policies/acl` and legacy `sys/policy`) and
capabilities through hvac against the real binary in dev mode."""

import datetime
import re
import time

import hvac
import pytest
import requests

ROOT = "root"


@pytest.fixture
def root(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


def as_token(server, token):
    return hvac.Client(url=server.url, token=token)


def raw(server, method, path, token=ROOT, **kw):
    return requests.request(method, f"{server.url}/v1/{path}", headers={"X-Vault-Token": token},
                            timeout=10, **kw)


def new_token(root_client, **kw):
    auth = root_client.auth.token.create(**kw)["auth"]
    return auth["client_token"], auth["accessor"]


def forbidden(fn):
    """True when the call is refused with 403 (hvac Forbidden)."""
    try:
        fn()
    except hvac.exceptions.Forbidden:
        return True
    return False


def parse_time(s):
    """RFC 3339 with any number of fractional digits (Python 3.11 takes at most 6)."""
    return datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", s).replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------
# Tokens


def test_create_and_lookup_fields(root, dev_server):
    created = root.auth.token.create(
        policies=["app", "ops"], ttl="1h", meta={"team": "blue"}, num_uses=5, renewable=True,
        display_name="ci job",
    )
    auth = created["auth"]
    token, accessor = auth["client_token"], auth["accessor"]
    assert token and accessor and token != accessor
    assert auth["policies"] == ["app", "default", "ops"]  # sorted, default added
    assert auth["token_policies"] == ["app", "default", "ops"]
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True
    assert auth["orphan"] is False
    assert auth["metadata"] == {"team": "blue"}
    assert auth["token_type"] == "service"
    assert auth["num_uses"] == 5

    before = time.time()
    info = root.auth.token.lookup(token)["data"]
    assert info["id"] == token
    assert info["accessor"] == accessor
    assert info["type"] == "service"
    assert info["policies"] == ["app", "default", "ops"]
    assert info["orphan"] is False
    assert info["num_uses"] == 5
    assert info["path"] == "auth/token/create"
    assert info["meta"] == {"team": "blue"}
    assert info["display_name"] == "token-ci-job"  # Vault prefixes and sanitizes it
    assert info["renewable"] is True
    assert info["creation_ttl"] == 3600
    assert 3590 <= info["ttl"] <= 3600
    assert info["explicit_max_ttl"] == 0
    assert abs(info["creation_time"] - before) < 60
    expire = parse_time(info["expire_time"])
    assert abs(expire.timestamp() - (before + 3600)) < 60
    assert info["issue_time"]

    # lookup-self uses one of the token's uses; the root lookup shows the count going down.
    me = as_token(dev_server, token).auth.token.lookup_self()["data"]
    assert me["accessor"] == accessor and me["policies"] == ["app", "default", "ops"]
    assert root.auth.token.lookup(token)["data"]["num_uses"] == 4

    by_accessor = root.auth.token.lookup_accessor(accessor)["data"]
    assert by_accessor["id"] == ""  # never the token itself
    assert by_accessor["accessor"] == accessor
    assert by_accessor["policies"] == ["app", "default", "ops"]
    assert by_accessor["path"] == "auth/token/create"

    root_info = root.auth.token.lookup_self()["data"]
    assert root_info["id"] == ROOT and root_info["policies"] == ["root"]
    assert root_info["ttl"] == 0 and root_info["expire_time"] is None
    assert root_info["orphan"] is True



def test_unknown_and_revoked_tokens(root, dev_server):
    # A bad token on any request is a 403.
    with pytest.raises(hvac.exceptions.Forbidden):
        as_token(dev_server, "hvs.doesnotexist").auth.token.lookup_self()
    # An unknown accessor is a 400 "invalid accessor".
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.lookup_accessor("nosuchaccessor")
    # Vault answers a lookup of a token that does not exist (never did, or was revoked) with
    # 403 "bad token" (logical.ErrPermissionDenied), which hvac raises as Forbidden.
    token, _ = new_token(root, policies=["default"])
    root.auth.token.revoke(token)
    for t in ("hvs.doesnotexist", token):
        with pytest.raises(hvac.exceptions.Forbidden):
            root.auth.token.lookup(t)


def test_create_orphan_and_no_parent(root):
    orphan = root.auth.token.create_orphan(policies=["app"], ttl="10m")["auth"]
    assert orphan["orphan"] is True
    info = root.auth.token.lookup(orphan["client_token"])["data"]
    assert info["orphan"] is True
    assert info["path"] == "auth/token/create-orphan"
    assert info["policies"] == ["app", "default"]

    no_parent = root.auth.token.create(policies=["app"], no_parent=True)["auth"]
    assert root.auth.token.lookup(no_parent["client_token"])["data"]["orphan"] is True

    # Without a policy granting it, a token may not create an orphan.
    child, _ = new_token(root, policies=["default"])
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=root.url, token=child).auth.token.create_orphan(policies=["default"])


def test_renew_renew_self_renew_accessor_and_periodic(root, dev_server):
    token, accessor = new_token(root, policies=["app"], ttl="1h")
    renewed = root.auth.token.renew(token, increment="2h")["auth"]
    assert renewed["client_token"] == token
    assert renewed["lease_duration"] == 7200
    assert 7190 <= root.auth.token.lookup(token)["data"]["ttl"] <= 7200

    me = as_token(dev_server, token)
    renewed = me.auth.token.renew_self(increment="30m")["auth"]
    assert renewed["lease_duration"] == 1800
    assert 1790 <= me.auth.token.lookup_self()["data"]["ttl"] <= 1800

    renewed = root.auth.token.renew_accessor(accessor, increment="45m")["auth"]
    assert renewed["lease_duration"] == 2700
    assert renewed["client_token"] == ""  # an accessor renewal never reveals the token

    fixed, _ = new_token(root, policies=["app"], ttl="1h", renewable=False)
    assert root.auth.token.lookup(fixed)["data"]["renewable"] is False
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.renew(fixed)

    # A periodic token is renewed to its period, whatever increment is asked for.
    periodic, _ = new_token(root, policies=["app"], period="10m")
    info = root.auth.token.lookup(periodic)["data"]
    assert info["period"] == 600 and 590 <= info["ttl"] <= 600
    renewed = as_token(dev_server, periodic).auth.token.renew_self(increment="5h")["auth"]
    assert renewed["lease_duration"] == 600


def test_root_token_cannot_be_renewed(root):
    # Vault registers no lease for a non-expiring root token: renew-self is a 400 ("lease not
    # found"), not a success.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.renew_self()


def test_revoking_a_parent_revokes_its_children_at_once(root, dev_server):
    root.sys.create_or_update_acl_policy(
        "creator",
        'path "auth/token/create" { capabilities = ["create", "update"] }\n'
        'path "secret/data/tree/*" { capabilities = ["read"] }\n',
    )
    root.secrets.kv.v2.create_or_update_secret("tree/x", {"k": "v"})

    parent, _ = new_token(root, policies=["creator"])
    parent_c = as_token(dev_server, parent)
    child = parent_c.auth.token.create(policies=["creator"])["auth"]
    assert child["orphan"] is False
    # A child's policies must be a subset of its parent's.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        parent_c.auth.token.create(policies=["admin"])
    child_c = as_token(dev_server, child["client_token"])
    grandchild = child_c.auth.token.create(policies=["default"])["auth"]
    grandchild_c = as_token(dev_server, grandchild["client_token"])
    sibling, _ = new_token(root, policies=["creator"])
    for c in (child_c, grandchild_c):
        c.auth.token.lookup_self()
    assert child_c.secrets.kv.v2.read_secret("tree/x", raise_on_deleted_version=True)

    root.auth.token.revoke(parent)
    # The very next request of every descendant is refused.
    assert forbidden(lambda: child_c.secrets.kv.v2.read_secret("tree/x", raise_on_deleted_version=True))
    assert forbidden(grandchild_c.auth.token.lookup_self)
    assert forbidden(parent_c.auth.token.lookup_self)
    # Others are untouched.
    assert as_token(dev_server, sibling).auth.token.lookup_self()["data"]["policies"] == [
        "creator", "default"]
    accessors = root.auth.token.list_accessors()["data"]["keys"]
    assert child["accessor"] not in accessors and grandchild["accessor"] not in accessors


def test_revoke_and_orphan_children_keeps_them(root, dev_server):
    root.sys.create_or_update_acl_policy(
        "creator", 'path "auth/token/create" { capabilities = ["update"] }')
    parent, _ = new_token(root, policies=["creator"])
    child = as_token(dev_server, parent).auth.token.create(policies=["default"])["auth"]
    assert root.auth.token.lookup(child["client_token"])["data"]["orphan"] is False

    root.auth.token.revoke_and_orphan_children(parent)
    assert forbidden(as_token(dev_server, parent).auth.token.lookup_self)
    info = as_token(dev_server, child["client_token"]).auth.token.lookup_self()["data"]
    assert info["orphan"] is True
    assert info["accessor"] == child["accessor"]


def test_revoke_self_and_revoke_accessor(root, dev_server):
    token, _ = new_token(root, policies=["default"])
    me = as_token(dev_server, token)
    me.auth.token.revoke_self()
    assert forbidden(me.auth.token.lookup_self)

    token, accessor = new_token(root, policies=["default"])
    assert accessor in root.auth.token.list_accessors()["data"]["keys"]
    root.auth.token.revoke_accessor(accessor)
    assert forbidden(as_token(dev_server, token).auth.token.lookup_self)
    assert accessor not in root.auth.token.list_accessors()["data"]["keys"]

    # Revoking an unknown token is not an error in Vault (idempotent).
    root.auth.token.revoke("hvs.neverexisted")


def test_list_accessors(root):
    root_accessor = root.auth.token.lookup_self()["data"]["accessor"]
    made = [new_token(root, policies=["default"])[1] for _ in range(3)]
    keys = root.auth.token.list_accessors()["data"]["keys"]
    assert root_accessor in keys
    assert set(made) <= set(keys)
    # It needs sudo: a default token is refused.
    token, _ = new_token(root, policies=["default"])
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=root.url, token=token).auth.token.list_accessors()


def test_num_uses_token_works_twice_then_403(root, dev_server):
    root.sys.create_or_update_acl_policy(
        "nu-read", 'path "secret/data/nu/*" { capabilities = ["read"] }')
    root.secrets.kv.v2.create_or_update_secret("nu/s", {"k": "v"})
    token, _ = new_token(root, policies=["nu-read"], num_uses=2)
    c = as_token(dev_server, token)
    for _ in range(2):
        assert c.secrets.kv.v2.read_secret("nu/s", raise_on_deleted_version=True)["data"]["data"] == {
            "k": "v"}
    assert forbidden(lambda: c.secrets.kv.v2.read_secret("nu/s", raise_on_deleted_version=True))
    assert forbidden(c.auth.token.lookup_self)


def test_expired_token_gets_403(root, dev_server):
    created = time.monotonic()
    token, _ = new_token(root, policies=["default"], ttl="1s")
    c = as_token(dev_server, token)
    assert c.auth.token.lookup_self()["data"]["creation_ttl"] == 1
    time.sleep(max(0.0, created + 2.0 - time.monotonic()))
    assert forbidden(c.auth.token.lookup_self)


def test_token_roles(root, dev_server):
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.token.list_roles()
    root.auth.token.create_or_update_role(
        "ci", allowed_policies=["p1", "p2"], orphan=True, renewable=False, path_suffix="v1",
        token_period="1h",
    )
    role = root.auth.token.read_role("ci")["data"]
    assert role["name"] == "ci"
    assert role["allowed_policies"] == ["p1", "p2"]
    assert role["disallowed_policies"] == []
    assert role["orphan"] is True
    assert role["renewable"] is False
    assert role["path_suffix"] == "v1"
    assert role["token_period"] == 3600
    assert root.auth.token.list_roles()["data"]["keys"] == ["ci"]

    auth = root.auth.token.create(role_name="ci", policies=["p1"])["auth"]
    assert auth["policies"] == ["default", "p1"]
    assert auth["orphan"] is True
    info = root.auth.token.lookup(auth["client_token"])["data"]
    assert info["path"] == "auth/token/create/ci/v1"
    assert info["role"] == "ci"
    assert info["orphan"] is True
    assert info["period"] == 3600
    # Without policies the token gets the role's allowed ones.
    auth = root.auth.token.create(role_name="ci")["auth"]
    assert auth["policies"] == ["default", "p1", "p2"]
    # Policies outside the role are refused.
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        root.auth.token.create(role_name="ci", policies=["p3"])
    assert "p3" in str(e.value)

    # hvac's create_orphan passes role_name in the body; creating against a missing role fails.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.create(role_name="nosuchrole")

    root.auth.token.create_or_update_role("other", allowed_policies=["p1"])
    assert root.auth.token.list_roles()["data"]["keys"] == ["ci", "other"]
    root.auth.token.delete_role("ci")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.token.read_role("ci")
    assert root.auth.token.list_roles()["data"]["keys"] == ["other"]


def test_role_with_renewable_false_makes_non_renewable_tokens(root, dev_server):
    root.auth.token.create_or_update_role("fixed", allowed_policies=["p1"], renewable=False)
    auth = root.auth.token.create(role_name="fixed")["auth"]
    assert auth["renewable"] is False
    assert root.auth.token.lookup(auth["client_token"])["data"]["renewable"] is False
    with pytest.raises(hvac.exceptions.InvalidRequest):
        as_token(dev_server, auth["client_token"]).auth.token.renew_self()


def test_tidy(root, dev_server):
    root.auth.token.tidy()  # hvac accepts any 2xx
    # Vault answers 202 Accepted with a warning that the tidy runs in the background.
    r = raw(dev_server, "POST", "auth/token/tidy")
    assert r.status_code == 202, r.text
    assert r.json()["warnings"]


# ---------------------------------------------------------------------------------------------
# Policies


APP_READ = """path "secret/data/app/*" {
  capabilities = ["read", "list"]
}

path "secret/metadata/app/*" {
  capabilities = ["list"]
}
"""


def test_acl_policy_crud(root):
    root.sys.create_or_update_acl_policy("app-read", APP_READ)
    got = root.sys.read_acl_policy("app-read")["data"]
    assert got["name"] == "app-read"
    assert got["policy"] == APP_READ
    keys = root.sys.list_acl_policies()["data"]["keys"]
    assert keys == sorted(keys) and {"app-read", "default", "root"} <= set(keys)

    # A JSON policy (hvac serializes dicts).
    root.sys.create_or_update_acl_policy(
        "as-json", {"path": {"secret/data/j/*": {"capabilities": ["read"]}}})
    assert '"secret/data/j/*"' in root.sys.read_acl_policy("as-json")["data"]["policy"]

    # Names are lowercased, as in Vault.
    root.sys.create_or_update_acl_policy("MiXeD", 'path "x" { capabilities = ["read"] }')
    assert "mixed" in root.sys.list_acl_policies()["data"]["keys"]
    assert root.sys.read_acl_policy("mixed")["data"]["name"] == "mixed"

    root.sys.delete_acl_policy("app-read")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.sys.read_acl_policy("app-read")
    assert "app-read" not in root.sys.list_acl_policies()["data"]["keys"]
    # The default policy is readable and editable, root is neither editable nor deletable.
    assert 'path "auth/token/lookup-self"' in root.sys.read_acl_policy("default")["data"]["policy"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.create_or_update_acl_policy("root", 'path "x" { capabilities = ["read"] }')
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.delete_acl_policy("root")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.delete_acl_policy("default")


def test_legacy_policy_endpoints(root, dev_server):
    rules = 'path "secret/data/legacy/*" { policy = "write" }'
    root.sys.create_or_update_policy("legacy", rules)
    got = root.sys.read_policy("legacy")
    assert got["name"] == "legacy" and got["rules"] == rules
    assert got["data"]["rules"] == rules
    listed = root.sys.list_policies()
    assert "legacy" in listed["policies"] and "legacy" in listed["data"]["policies"]
    assert "legacy" in root.sys.list_acl_policies()["data"]["keys"]

    # `policy = "write"` grants create, read, update, delete and list.
    token, _ = new_token(root, policies=["legacy"])
    c = as_token(dev_server, token)
    c.secrets.kv.v2.create_or_update_secret("legacy/a", {"k": "1"})
    c.secrets.kv.v2.create_or_update_secret("legacy/a", {"k": "2"})
    assert c.secrets.kv.v2.read_secret("legacy/a", raise_on_deleted_version=True)["data"]["data"] == {
        "k": "2"}
    caps = root.sys.get_capabilities(["secret/data/legacy/a"], token=token)["data"]
    assert sorted(caps["secret/data/legacy/a"]) == ["create", "delete", "list", "read", "update"]

    # `policy = "deny"` / "read" / "sudo" legacy forms parse as well.
    root.sys.create_or_update_policy(
        "legacy2", 'path "a/*" { policy = "read" }\npath "b/*" { policy = "deny" }\n'
                   'path "c/*" { policy = "sudo" }')
    caps = root.sys.get_capabilities(["a/x", "b/x", "c/x"], token=new_token(
        root, policies=["legacy2"])[0])["data"]
    assert sorted(caps["a/x"]) == ["list", "read"]
    assert caps["b/x"] == ["deny"]
    assert sorted(caps["c/x"]) == ["create", "delete", "list", "read", "sudo", "update"]

    root.sys.delete_policy("legacy")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.sys.read_policy("legacy")
    assert "legacy" not in root.sys.list_policies()["policies"]


def test_bad_policies_are_400(root):
    malformed = 'path "a" {\n  capabilities = ["read"]\n}\n\npath "b" {\n  capabilities = ["read"\n}\n'
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        root.sys.create_or_update_acl_policy("broken", malformed)
    msg = str(e.value)
    assert "line" in msg and "7" in msg, msg

    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        root.sys.create_or_update_acl_policy("fly", 'path "a" { capabilities = ["read", "fly"] }')
    assert "fly" in str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.create_or_update_policy("badlegacy", 'path "a" { policy = "superuser" }')
    # Nothing was stored.
    keys = root.sys.list_acl_policies()["data"]["keys"]
    assert "broken" not in keys and "fly" not in keys and "badlegacy" not in keys


# ---------------------------------------------------------------------------------------------
# Capabilities and scoped tokens


SCOPED = """
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/data/app/private" {
  capabilities = ["deny"]
}
path "secret/data/app/rw/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/data/team/+/config" {
  capabilities = ["read"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
"""


def scoped_setup(root):
    root.sys.create_or_update_acl_policy("scoped", SCOPED)
    kv = root.secrets.kv.v2
    for p in ("app/db", "app/private", "app/rw/x", "other/db", "team/a/config", "team/a/b/config",
              "team/a/other"):
        kv.create_or_update_secret(p, {"v": p})
    return new_token(root, policies=["scoped"])


def test_capabilities_self_token_and_accessor(root, dev_server):
    token, accessor = scoped_setup(root)
    paths = ["secret/data/app/db", "secret/data/app/private", "secret/data/app/rw/x",
             "secret/data/other/db", "secret/data/team/a/config", "auth/token/lookup-self"]
    expected = {
        "secret/data/app/db": ["read"],
        "secret/data/app/private": ["deny"],
        "secret/data/app/rw/x": ["create", "read", "update"],
        "secret/data/other/db": ["deny"],
        "secret/data/team/a/config": ["read"],
        "auth/token/lookup-self": ["read"],  # from the default policy
    }
    me = as_token(dev_server, token)
    got = me.sys.get_capabilities(paths)
    for p, caps in expected.items():
        assert sorted(got["data"][p]) == caps, p
        assert sorted(got[p]) == caps, p  # hvac users read the top-level copy too
    for kw in ({"token": token}, {"accessor": accessor}):
        got = root.sys.get_capabilities(paths, **kw)["data"]
        for p, caps in expected.items():
            assert sorted(got[p]) == caps, (kw, p)

    # One path: the legacy `capabilities` key is there as well.
    one = me.sys.get_capabilities(["secret/data/app/db"])
    assert one["data"]["capabilities"] == ["read"]
    assert root.sys.get_capabilities(["anything/at/all"])["data"]["anything/at/all"] == ["root"]
    # A scoped token may not ask about other tokens.
    with pytest.raises(hvac.exceptions.Forbidden):
        me.sys.get_capabilities(paths, token=ROOT)


def test_scoped_token_reads_only_where_allowed(root, dev_server):
    token, _ = scoped_setup(root)
    kv = as_token(dev_server, token).secrets.kv.v2

    def rd(p):
        return kv.read_secret(p, raise_on_deleted_version=True)["data"]["data"]

    assert rd("app/db") == {"v": "app/db"}
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret("app/db", {"v": "overwritten"})
    with pytest.raises(hvac.exceptions.Forbidden):
        rd("other/db")
    # An exact-path deny wins over the glob that would allow it.
    with pytest.raises(hvac.exceptions.Forbidden):
        rd("app/private")
    # The longer glob decides: create/update under app/rw/.
    kv.create_or_update_secret("app/rw/x", {"v": "mine"})
    assert rd("app/rw/x") == {"v": "mine"}
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.delete_latest_version_of_secret("app/rw/x")
    # `+` matches exactly one segment.
    assert rd("team/a/config") == {"v": "team/a/config"}
    with pytest.raises(hvac.exceptions.Forbidden):
        rd("team/a/b/config")
    with pytest.raises(hvac.exceptions.Forbidden):
        rd("team/a/other")
    # Root is unaffected and the value is what root wrote.
    assert root.secrets.kv.v2.read_secret("app/db", raise_on_deleted_version=True)["data"]["data"] == {
        "v": "app/db"}


def test_list_is_checked_against_the_folder_path_with_its_slash(root, dev_server):
    # Vault appends "/" to the path of every LIST request before the ACL check, so the glob
    # "secret/metadata/app/*" allows hvac's list_secrets("app") (LIST secret/metadata/app).
    token, _ = scoped_setup(root)
    kv = as_token(dev_server, token).secrets.kv.v2
    assert kv.list_secrets("app/")["data"]["keys"] == ["db", "private", "rw/"]
    assert kv.list_secrets("app")["data"]["keys"] == ["db", "private", "rw/"]
    r = raw(dev_server, "GET", "secret/metadata/app", token=token, params={"list": "true"})
    assert r.status_code == 200, r.text
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.list_secrets("other")


def test_deny_in_one_policy_wins_over_allow_in_another(root, dev_server):
    root.sys.create_or_update_acl_policy(
        "allow-shared", 'path "secret/data/shared/*" { capabilities = ["read", "update", "create"] }')
    root.sys.create_or_update_acl_policy(
        "deny-shared", 'path "secret/data/shared/*" { capabilities = ["deny"] }')
    root.secrets.kv.v2.create_or_update_secret("shared/x", {"k": "v"})
    allowed, _ = new_token(root, policies=["allow-shared"])
    both, _ = new_token(root, policies=["allow-shared", "deny-shared"])
    assert as_token(dev_server, allowed).secrets.kv.v2.read_secret(
        "shared/x", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    with pytest.raises(hvac.exceptions.Forbidden):
        as_token(dev_server, both).secrets.kv.v2.read_secret("shared/x", raise_on_deleted_version=True)
    assert root.sys.get_capabilities(["secret/data/shared/x"], token=both)["data"][
        "secret/data/shared/x"] == ["deny"]


def test_policy_changes_apply_to_existing_tokens_immediately(root, dev_server):
    root.sys.create_or_update_acl_policy("live", 'path "secret/data/live/*" { capabilities = ["read"] }')
    root.secrets.kv.v2.create_or_update_secret("live/x", {"k": "v"})
    token, _ = new_token(root, policies=["live"])
    kv = as_token(dev_server, token).secrets.kv.v2
    assert kv.read_secret("live/x", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    root.sys.create_or_update_acl_policy("live", 'path "secret/data/elsewhere/*" { capabilities = ["read"] }')
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.read_secret("live/x", raise_on_deleted_version=True)
    root.sys.create_or_update_acl_policy("live", 'path "secret/data/live/*" { capabilities = ["read"] }')
    assert kv.read_secret("live/x", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    root.sys.delete_acl_policy("live")
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.read_secret("live/x", raise_on_deleted_version=True)
    # A 403 body is Vault's.
    r = raw(dev_server, "GET", "secret/data/live/x", token=token)
    assert r.status_code == 403 and r.json()["errors"] == ["permission denied"]
    # A refused token is not a policy: the one message says which, and what to do (Vault's
    # "invalid token" in it).
    r = raw(dev_server, "GET", "secret/data/live/x", token="hvs.unknown")
    errors = r.json()["errors"]
    assert r.status_code == 403 and len(errors) == 1, errors
    assert errors[0].startswith("permission denied: invalid token"), errors
    assert "log in again" in errors[0], errors
    r = raw(dev_server, "GET", "secret/data/live/x", token=None)
    errors = r.json()["errors"]
    assert r.status_code == 403 and len(errors) == 1, errors
    assert errors[0].startswith("permission denied: no token was given"), errors


def test_resultant_acl_shows_the_tokens_merged_policies(root, dev_server):
    root.sys.create_or_update_acl_policy("ra-a", 'path "secret/data/a/*" { capabilities = ["read"] }\n'
                                                 'path "secret/data/x" { capabilities = ["read"] }')
    root.sys.create_or_update_acl_policy("ra-b", 'path "secret/data/x" { capabilities = ["update"] }\n'
                                                 'path "secret/+/y" { capabilities = ["list"] }')
    token, _ = new_token(root, policies=["ra-a", "ra-b"])
    r = raw(dev_server, "GET", "sys/internal/ui/resultant-acl", token=token)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["root"] is False
    assert sorted(data["exact_paths"]["secret/data/x"]["capabilities"]) == ["read", "update"]
    assert data["glob_paths"]["secret/data/a/"]["capabilities"] == ["read"]
    assert data["glob_paths"]["secret/+/y"]["capabilities"] == ["list"]
    # The default policy's own rules are there too (it grants this very path).
    assert "sys/internal/ui/resultant-acl" in data["exact_paths"]
    r = raw(dev_server, "GET", "sys/internal/ui/resultant-acl")
    assert r.json()["data"]["root"] is True
    assert raw(dev_server, "GET", "sys/internal/ui/resultant-acl", token=None).status_code == 403
