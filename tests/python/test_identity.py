"""Vault's identity system through hvac's identity API against the real binary: entities,
entity aliases, internal and external groups, group aliases and lookups; logins that create
entities and aliases; identity policies evaluated on every request (group changes reach tokens
already issued); templated policies; JWT group claims mapped to external groups; disabled
entities."""

import json
import os
import re
import subprocess
import time

import hvac
import jwt as pyjwt
import pytest
import requests

from conftest import HUSH_BIN, sqlite_server
from k8s_fixture import private_pem, public_pem, rsa_key

ROOT = "root"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
GENERATED_NAME = re.compile(r"entity_[A-Za-z0-9]{8}")


@pytest.fixture
def root(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


def as_token(server, token):
    return hvac.Client(url=server.url, token=token)


def raw(server, method, path, token=ROOT, **kw):
    headers = {"X-Vault-Token": token} if token else {}
    return requests.request(method, f"{server.url}/v1/{path}", headers=headers, timeout=30, **kw)


def refused(call, status, message):
    """A call that must fail with `status` and an error containing `message` (a string, or a
    regex matching the whole error)."""
    expected = {400: hvac.exceptions.InvalidRequest, 403: hvac.exceptions.Forbidden,
                404: hvac.exceptions.InvalidPath}[status]
    with pytest.raises(hvac.exceptions.VaultError) as info:
        call()
    e = info.value
    assert type(e) is expected, f"expected {status}, got {type(e).__name__}: {e}"
    if message == "":
        # Vault's plain "nothing here" 404 carries no message.
        assert not e.errors, e.errors
        return e
    assert len(e.errors) == 1, e.errors
    if isinstance(message, re.Pattern):
        assert message.fullmatch(e.errors[0]), e.errors[0]
    else:
        assert message in e.errors[0], e.errors[0]
    return e


def ident(client):
    return client.secrets.identity


def enable_userpass(root, path="userpass", users=("alice", "bob")):
    root.sys.enable_auth_method("userpass", path=path)
    for u in users:
        root.auth.userpass.create_or_update_user(u, password=f"{u}-pw", mount_point=path)
    return root.sys.list_auth_methods()["data"][f"{path}/"]["accessor"]


def login(server, user, path="userpass"):
    c = hvac.Client(url=server.url)
    return c.auth.userpass.login(user, f"{user}-pw", mount_point=path)["auth"]


def new_entity(root, name, **kw):
    return ident(root).create_or_update_entity(name=name, **kw)["data"]["id"]


# ---------------------------------------------------------------------------------------------
# The mount


def test_identity_is_a_builtin_mount_that_cannot_be_changed(root, dev_server):
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["identity/"]["type"] == "identity"
    assert mounts["identity/"]["description"] == "identity store"
    for method, path, body in [
        ("DELETE", "sys/mounts/identity", None),
        ("POST", "sys/mounts/identity", {"type": "kv"}),
        ("POST", "sys/mounts/identity/tune", {"default_lease_ttl": "1h"}),
        ("POST", "sys/remount", {"from": "identity", "to": "elsewhere"}),
        ("POST", "sys/remount", {"from": "secret", "to": "identity"}),
    ]:
        r = raw(dev_server, method, path, json=body)
        assert r.status_code == 400, (method, path, r.text)
        assert "identity/ is built in" in r.json()["errors"][0]
    r = raw(dev_server, "POST", "sys/mounts/other", json={"type": "identity"})
    assert r.status_code == 400
    assert 'mount type of "identity" is not mountable' in r.json()["errors"][0]
    assert raw(dev_server, "GET", "sys/mounts/identity").json()["data"]["type"] == "identity"
    # Still routed after all of that.
    assert raw(dev_server, "LIST", "identity/entity/id").status_code == 404


# ---------------------------------------------------------------------------------------------
# Entities


def test_entity_crud(root, dev_server):
    idn = ident(root)
    created = idn.create_or_update_entity(
        name="alice", metadata={"team": "payments"}, policies=["Eng", "ops", "eng"])["data"]
    eid = created["id"]
    assert created["name"] == "alice" and created["aliases"] is None
    e = idn.read_entity(eid)["data"]
    assert e["id"] == eid and e["name"] == "alice"
    assert e["metadata"] == {"team": "payments"}
    assert e["policies"] == ["eng", "ops"]
    assert e["disabled"] is False and e["namespace_id"] == "root"
    assert e["aliases"] == [] and e["group_ids"] == [] and e["direct_group_ids"] == []
    assert e["inherited_group_ids"] == []
    assert TIME.fullmatch(e["creation_time"]) and TIME.fullmatch(e["last_update_time"])
    assert idn.read_entity_by_name("alice")["data"]["id"] == eid

    # The same name updates the entity (204), as in Vault.
    r = idn.create_or_update_entity(name="alice", policies=["other"])
    assert r.status_code == 204
    assert idn.read_entity(eid)["data"]["policies"] == ["other"]
    assert idn.read_entity(eid)["data"]["metadata"] == {"team": "payments"}
    # By id, with a rename; the id field of identity/entity updates too.
    assert idn.update_entity(eid, name="alice2", disabled=True).status_code == 204
    e = idn.read_entity_by_name("alice2")["data"]
    assert e["id"] == eid and e["disabled"] is True
    refused(lambda: idn.read_entity_by_name("alice"), 404, "")
    assert idn.create_or_update_entity(name="alice2", entity_id=eid,
                                       disabled=False).status_code == 204
    assert idn.read_entity(eid)["data"]["disabled"] is False

    # By name in the path: created when missing.
    carol = idn.create_or_update_entity_by_name("carol", policies=["p"])["data"]
    assert carol["name"] == "carol"
    assert idn.create_or_update_entity_by_name("carol", metadata={"k": "v"}).status_code == 204
    assert idn.read_entity_by_name("carol")["data"]["metadata"] == {"k": "v"}
    # Without a name, Vault's generated entity_<random> name.
    anon = idn.create_or_update_entity(name=None)["data"]
    assert GENERATED_NAME.fullmatch(anon["name"]), anon

    listed = idn.list_entities()["data"]
    assert sorted(listed["keys"]) == sorted([eid, carol["id"], anon["id"]])
    assert listed["key_info"][eid]["name"] == "alice2"
    assert sorted(idn.list_entities_by_name()["data"]["keys"]) == sorted(
        ["alice2", "carol", anon["name"]])
    assert idn.list_entities(method="GET")["data"]["keys"] == listed["keys"]

    idn.delete_entity_by_name("carol")
    idn.delete_entity(anon["id"])
    refused(lambda: idn.read_entity(carol["id"]), 404, "")
    assert idn.list_entities()["data"]["keys"] == [eid]
    # Deleting what is not there is fine.
    assert idn.delete_entity("no-such-id").status_code == 204

    ids = [new_entity(root, f"batch{i}") for i in range(3)]
    r = raw(dev_server, "POST", "identity/entity/batch-delete", json={"entity_ids": ids[:2]})
    assert r.status_code == 204, r.text
    assert sorted(idn.list_entities()["data"]["keys"]) == sorted([eid, ids[2]])
    idn.delete_entity(ids[2])
    idn.delete_entity(eid)
    refused(lambda: idn.list_entities(), 404, "")


def test_entity_errors(root, dev_server):
    idn = ident(root)
    eid = new_entity(root, "alice")
    new_entity(root, "bob")
    refused(lambda: idn.create_or_update_entity(name="bad name"), 400, 'invalid entity name "bad name"')
    refused(lambda: idn.create_or_update_entity(name="x", policies=["root"]), 400,
            "policies cannot contain root")
    refused(lambda: idn.create_or_update_entity(name="x", policies=["a/b"]), 400,
            'invalid policy name "a/b"')
    refused(lambda: idn.update_entity(eid, name="bob"), 400,
            'entity name "bob" is already in use by another entity')
    refused(lambda: idn.update_entity("no-such-id", name="z"), 400,
            'entity not found from ID "no-such-id"')
    for body, message in [
        ({"name": "x", "disabled": "perhaps"}, "'disabled' must be true or false"),
        ({"name": "x", "metadata": 5}, "'metadata' must be an object of string values"),
        ({"name": "x", "metadata": {"k": 1}}, "the value of \"k\" must be a string"),
        ({"name": "x", "metadata": ["novalue"]}, '"novalue" is not a key=value pair'),
        ({"name": "x", "metadata": {f"k{i}": "v" for i in range(65)}}, "at most 64"),
        ({"name": "x", "policies": {"a": 1}}, "'policies' must be a list of strings"),
        ({"entity_ids": []}, "'entity_ids' is required"),
    ]:
        path = "identity/entity/batch-delete" if "entity_ids" in body else "identity/entity"
        r = raw(dev_server, "POST", path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert message in r.json()["errors"][0], (body, r.text)
    # Vault's key=value list form of metadata.
    r = raw(dev_server, "POST", "identity/entity", json={"name": "kv", "metadata": ["a=1", "b=x=y"]})
    assert r.status_code == 200, r.text
    assert idn.read_entity_by_name("kv")["data"]["metadata"] == {"a": "1", "b": "x=y"}
    # A name that breaks the naming rule is refused before anything looks at it.
    assert raw(dev_server, "GET", "identity/entity/name/a%20b").status_code == 400
    # Nothing was created by the refused writes.
    assert sorted(idn.list_entities_by_name()["data"]["keys"]) == ["alice", "bob", "kv"]


# ---------------------------------------------------------------------------------------------
# Entity aliases


def test_entity_alias_crud(root, dev_server):
    idn = ident(root)
    acc = enable_userpass(root)
    eid = new_entity(root, "alice")
    created = idn.create_or_update_entity_alias(name="alice", canonical_id=eid,
                                                mount_accessor=acc)["data"]
    aid = created["id"]
    assert created["canonical_id"] == eid
    a = idn.read_entity_alias(aid)["data"]
    assert a["name"] == "alice" and a["canonical_id"] == eid and a["mount_accessor"] == acc
    assert a["mount_path"] == "auth/userpass/" and a["mount_type"] == "userpass"
    assert TIME.fullmatch(a["creation_time"])
    e = idn.read_entity(eid)["data"]
    assert [x["id"] for x in e["aliases"]] == [aid]
    assert e["aliases"][0]["mount_path"] == "auth/userpass/"

    # One alias per (mount, name), and per entity at most one alias of each mount.
    refused(lambda: idn.create_or_update_entity_alias(name="al2", canonical_id=eid,
                                                      mount_accessor=acc), 400,
            "alias already exists for requested entity and mount accessor")
    bob = new_entity(root, "bob")
    bob_alias = idn.create_or_update_entity_alias(name="bob", canonical_id=bob,
                                                  mount_accessor=acc)["data"]["id"]
    refused(lambda: idn.update_entity_alias(bob_alias, name="alice", canonical_id=bob,
                                            mount_accessor=acc), 400,
            "alias with combination of mount accessor and name already exists")
    refused(lambda: idn.create_or_update_entity_alias(name="x", canonical_id=eid,
                                                      mount_accessor="userpass_nope"), 400,
            'invalid mount accessor "userpass_nope": no enabled auth method has it')
    refused(lambda: idn.create_or_update_entity_alias(name="x", canonical_id="nope",
                                                      mount_accessor=acc), 400,
            'invalid canonical ID: no entity "nope"')
    r = raw(dev_server, "POST", "identity/entity-alias", json={"mount_accessor": acc})
    assert r.status_code == 400 and "'name' is required" in r.json()["errors"][0]
    refused(lambda: idn.read_entity_alias("nope"), 404, "")

    # An alias without canonical_id gets a new entity.
    lone = idn.create_or_update_entity_alias(name="carol", canonical_id=None,
                                             mount_accessor=acc)["data"]
    assert lone["canonical_id"] not in (eid, bob)
    assert GENERATED_NAME.fullmatch(idn.read_entity(lone["canonical_id"])["data"]["name"])

    # Rename, and custom metadata.
    idn.update_entity_alias(aid, name="alice-renamed", canonical_id=eid, mount_accessor=acc)
    r = raw(dev_server, "POST", f"identity/entity-alias/id/{aid}",
            json={"custom_metadata": {"desk": "42"}})
    assert r.status_code == 200, r.text
    a = idn.read_entity_alias(aid)["data"]
    assert a["name"] == "alice-renamed" and a["custom_metadata"] == {"desk": "42"}

    listed = idn.list_entity_aliases()["data"]
    assert sorted(listed["keys"]) == sorted([aid, bob_alias, lone["id"]])
    assert listed["key_info"][aid]["mount_accessor"] == acc

    idn.delete_entity_alias(aid)
    refused(lambda: idn.read_entity_alias(aid), 404, "")
    assert idn.read_entity(eid)["data"]["aliases"] == []
    # Deleting an entity deletes its aliases.
    idn.delete_entity(bob)
    refused(lambda: idn.read_entity_alias(bob_alias), 404, "")
    assert idn.list_entity_aliases()["data"]["keys"] == [lone["id"]]


# ---------------------------------------------------------------------------------------------
# Groups and group aliases


def test_groups_membership_nesting_and_errors(root, dev_server):
    idn = ident(root)
    alice, bob = new_entity(root, "alice"), new_entity(root, "bob")
    child = idn.create_or_update_group(name="devs", policies=["dev"], metadata={"site": "eu"},
                                       member_entity_ids=[alice, bob])["data"]
    assert child["name"] == "devs"
    g = idn.read_group(child["id"])["data"]
    assert g["type"] == "internal" and g["policies"] == ["dev"]
    assert sorted(g["member_entity_ids"]) == sorted([alice, bob])
    assert g["metadata"] == {"site": "eu"} and g["alias"] == {}
    assert g["parent_group_ids"] is None and g["member_group_ids"] is None
    assert TIME.fullmatch(g["creation_time"])

    parent = idn.create_or_update_group(name="eng", policies=["eng"],
                                        member_group_ids=[child["id"]])["data"]
    assert idn.read_group(child["id"])["data"]["parent_group_ids"] == [parent["id"]]
    assert idn.read_group_by_name("eng")["data"]["member_group_ids"] == [child["id"]]
    e = idn.read_entity(alice)["data"]
    assert e["direct_group_ids"] == [child["id"]]
    assert e["inherited_group_ids"] == [parent["id"]]
    assert sorted(e["group_ids"]) == sorted([child["id"], parent["id"]])

    # Updates answer 204; the name in identity/group finds the group.
    assert idn.create_or_update_group(name="devs", policies=["dev", "qa"]).status_code == 204
    assert idn.read_group(child["id"])["data"]["policies"] == ["dev", "qa"]
    assert idn.create_or_update_group_by_name("devs", metadata={}).status_code == 204
    byname = idn.create_or_update_group_by_name("ops")["data"]
    assert byname["name"] == "ops"

    refused(lambda: idn.create_or_update_group(name="devs", group_id=child["id"],
                                               member_group_ids=[parent["id"]]), 400,
            f'cyclic relationship detected for member group ID "{parent["id"]}"')
    refused(lambda: idn.update_group(child["id"], name="devs",
                                     member_group_ids=[child["id"]]), 400,
            "cyclic relationship detected")
    refused(lambda: idn.create_or_update_group(name="x", member_entity_ids=["nope"]), 400,
            'invalid member entity ID "nope"')
    refused(lambda: idn.create_or_update_group(name="x", member_group_ids=["nope"]), 400,
            'invalid member group ID "nope"')
    refused(lambda: idn.update_group(parent["id"], name="devs"), 400,
            'group name "devs" is already in use')
    refused(lambda: idn.update_group(parent["id"], name="eng", group_type="external"), 400,
            "group type cannot be changed")
    refused(lambda: idn.create_or_update_group(name="x", policies=["root"]), 400,
            "policies cannot contain root")
    r = raw(dev_server, "POST", "identity/group", json={"name": "x", "type": "weird"})
    assert r.status_code == 400 and 'invalid group type "weird"' in r.json()["errors"][0]
    ext = idn.create_or_update_group(name="ext", group_type="external")["data"]
    r = raw(dev_server, "POST", f"identity/group/id/{ext['id']}", json={"member_entity_ids": [alice]})
    assert r.status_code == 400
    assert "member entities can't be set manually for external groups" in r.json()["errors"][0]
    r = raw(dev_server, "POST", "identity/group",
            json={"name": "big", "member_entity_ids": [f"e{i}" for i in range(513)]})
    assert r.status_code == 400 and "limit of 512" in r.json()["errors"][0]

    listed = idn.list_groups()["data"]
    assert sorted(listed["keys"]) == sorted([child["id"], parent["id"], byname["id"], ext["id"]])
    assert listed["key_info"][child["id"]]["num_member_entities"] == 2
    assert sorted(idn.list_groups_by_name()["data"]["keys"]) == ["devs", "eng", "ext", "ops"]

    # Deleting an entity takes it out of its groups; deleting a group out of its parents.
    idn.delete_entity(bob)
    assert idn.read_group(child["id"])["data"]["member_entity_ids"] == [alice]
    idn.delete_group(child["id"])
    assert idn.read_group(parent["id"])["data"]["member_group_ids"] is None
    assert idn.read_entity(alice)["data"]["group_ids"] == []
    idn.delete_group_by_name("ops")
    refused(lambda: idn.read_group_by_name("ops"), 404, "")


def test_group_aliases(root, dev_server):
    idn = ident(root)
    root.sys.enable_auth_method("jwt")
    acc = root.sys.list_auth_methods()["data"]["jwt/"]["accessor"]
    ext = idn.create_or_update_group(name="eng", group_type="external", policies=["eng"])["data"]
    internal = idn.create_or_update_group(name="internal")["data"]
    created = idn.create_or_update_group_alias(name="engineering", mount_accessor=acc,
                                               canonical_id=ext["id"])["data"]
    assert created["canonical_id"] == ext["id"]
    a = idn.read_group_alias(created["id"])["data"]
    assert a["name"] == "engineering" and a["mount_accessor"] == acc
    assert a["mount_path"] == "auth/jwt/" and a["mount_type"] == "jwt"
    g = idn.read_group(ext["id"])["data"]
    assert g["alias"]["id"] == created["id"] and g["alias"]["name"] == "engineering"

    refused(lambda: idn.create_or_update_group_alias(name="x", mount_accessor=acc,
                                                     canonical_id=internal["id"]), 400,
            "alias can't be set on an internal group")
    refused(lambda: idn.create_or_update_group_alias(name="engineering", mount_accessor=acc),
            400, "combination of mount and group alias name is already in use")
    refused(lambda: idn.create_or_update_group_alias(name="other", mount_accessor=acc,
                                                     canonical_id=ext["id"]), 400,
            "the group already has an alias")
    refused(lambda: idn.create_or_update_group_alias(name="x", mount_accessor="jwt_nope"), 400,
            "invalid mount accessor")
    # Without canonical_id, a new external group is made for the alias.
    lone = idn.create_or_update_group_alias(name="ops", mount_accessor=acc)["data"]
    assert idn.read_group(lone["canonical_id"])["data"]["type"] == "external"

    idn.update_group_alias(created["id"], name="eng-team", mount_accessor=acc,
                           canonical_id=ext["id"])
    assert idn.read_group_alias(created["id"])["data"]["name"] == "eng-team"
    listed = idn.list_group_aliases()["data"]
    assert sorted(listed["keys"]) == sorted([created["id"], lone["id"]])
    idn.delete_group_alias(created["id"])
    refused(lambda: idn.read_group_alias(created["id"]), 404, "")
    assert idn.read_group(ext["id"])["data"]["alias"] == {}
    # Deleting a group deletes its alias.
    idn.delete_group(lone["canonical_id"])
    refused(lambda: idn.read_group_alias(lone["id"]), 404, "")


def test_lookups(root, dev_server):
    idn = ident(root)
    acc = enable_userpass(root)
    eid = new_entity(root, "alice")
    aid = idn.create_or_update_entity_alias(name="al", canonical_id=eid,
                                            mount_accessor=acc)["data"]["id"]
    for kw in [dict(name="alice"), dict(entity_id=eid), dict(alias_id=aid),
               dict(alias_name="al", alias_mount_accessor=acc)]:
        found = idn.lookup_entity(**kw)
        assert found["data"]["id"] == eid, kw
        assert found["data"]["aliases"][0]["id"] == aid
    # Nothing found: 204.
    assert idn.lookup_entity(name="nobody").status_code == 204
    assert idn.lookup_entity(alias_name="al", alias_mount_accessor="other").status_code == 204
    for body, message in [
        ({}, "query parameter not supplied"),
        ({"name": "alice", "id": eid}, "query parameter conflict"),
        ({"alias_name": "al"}, "both 'alias_name' and 'alias_mount_accessor' need to be set"),
    ]:
        r = raw(dev_server, "POST", "identity/lookup/entity", json=body)
        assert r.status_code == 400 and message in r.json()["errors"][0], (body, r.text)

    root.sys.enable_auth_method("jwt")
    jwt_acc = root.sys.list_auth_methods()["data"]["jwt/"]["accessor"]
    gid = idn.create_or_update_group(name="eng", group_type="external")["data"]["id"]
    gaid = idn.create_or_update_group_alias(name="engineering", mount_accessor=jwt_acc,
                                            canonical_id=gid)["data"]["id"]
    for kw in [dict(name="eng"), dict(group_id=gid), dict(alias_id=gaid),
               dict(alias_name="engineering", alias_mount_accessor=jwt_acc)]:
        assert idn.lookup_group(**kw)["data"]["id"] == gid, kw
    assert idn.lookup_group(name="nope").status_code == 204


# ---------------------------------------------------------------------------------------------
# Logins


def test_userpass_login_creates_entity_and_alias_once(root, dev_server):
    acc = enable_userpass(root)
    first = login(dev_server, "alice")
    eid = first["entity_id"]
    assert eid
    assert login(dev_server, "alice")["entity_id"] == eid
    assert login(dev_server, "bob")["entity_id"] not in ("", eid)
    e = ident(root).read_entity(eid)["data"]
    assert GENERATED_NAME.fullmatch(e["name"]), e["name"]
    assert [(a["name"], a["mount_accessor"]) for a in e["aliases"]] == [("alice", acc)]
    me = as_token(dev_server, first["client_token"])
    assert me.auth.token.lookup_self()["data"]["entity_id"] == eid
    # The default policy lets a token read its own entity, by id and by name, and no other.
    assert me.secrets.identity.read_entity(eid)["data"]["id"] == eid
    assert me.secrets.identity.read_entity_by_name(e["name"])["data"]["id"] == eid
    other = login(dev_server, "bob")["entity_id"]
    refused(lambda: me.secrets.identity.read_entity(other), 403, "permission denied")
    # Concurrent first logins of one user make one entity.
    root.auth.userpass.create_or_update_user("carol", password="carol-pw")
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: login(dev_server, "carol")["entity_id"], range(8)))
    assert len(ids) == 1, ids
    carols = [a for a in ident(root).list_entity_aliases()["data"]["key_info"].values()
              if a["name"] == "carol"]
    assert len(carols) == 1


def test_approle_alias_is_the_role_id(root, dev_server):
    root.sys.enable_auth_method("approle")
    acc = root.sys.list_auth_methods()["data"]["approle/"]["accessor"]
    root.auth.approle.create_or_update_approle("ci", token_policies=["ci"])
    role_id = root.auth.approle.read_role_id("ci")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("ci", metadata={"job": "7"})["data"]["secret_id"]
    auth = hvac.Client(url=dev_server.url).auth.approle.login(role_id, secret_id)["auth"]
    found = ident(root).lookup_entity(alias_name=role_id, alias_mount_accessor=acc)["data"]
    assert found["id"] == auth["entity_id"]
    assert found["aliases"][0]["metadata"] == {"role_name": "ci", "job": "7"}


def test_child_tokens_act_for_the_same_entity(root, dev_server):
    enable_userpass(root)
    root.sys.create_or_update_policy("mk", 'path "auth/token/create" { capabilities = ["update"] }')
    root.auth.userpass.create_or_update_user("alice", password="alice-pw", policies=["mk"])
    auth = login(dev_server, "alice")
    assert auth["entity_id"]
    child = as_token(dev_server, auth["client_token"]).auth.token.create(policies=["default"])
    assert child["auth"]["entity_id"] == auth["entity_id"]
    lookup = root.auth.token.lookup(child["auth"]["client_token"])["data"]
    assert lookup["entity_id"] == auth["entity_id"]


def test_disabled_and_deleted_entities_refuse_their_tokens(root, dev_server):
    enable_userpass(root)
    auth = login(dev_server, "alice")
    me = as_token(dev_server, auth["client_token"])
    eid = auth["entity_id"]
    ident(root).update_entity(eid, disabled=True)
    refused(lambda: me.auth.token.lookup_self(), 403,
            "permission denied: the identity entity of this token is disabled")
    refused(lambda: hvac.Client(url=dev_server.url).auth.userpass.login("alice", "alice-pw"),
            403, "permission denied: the identity entity of this login is disabled")
    # The token was refused, not revoked: enabling the entity lets it work again.
    ident(root).update_entity(eid, disabled=False)
    assert me.auth.token.lookup_self()["data"]["entity_id"] == eid
    ident(root).delete_entity(eid)
    refused(lambda: me.auth.token.lookup_self(), 403,
            "permission denied: the identity entity of this token was deleted")
    # A new login makes a new entity.
    assert login(dev_server, "alice")["entity_id"] not in ("", eid)


def test_disabling_an_auth_method_forgets_its_aliases(root, dev_server):
    enable_userpass(root)
    eid = login(dev_server, "alice")["entity_id"]
    root.sys.disable_auth_method("userpass")
    assert ident(root).read_entity(eid)["data"]["aliases"] == []


def test_audit_entries_carry_the_entity_id(root, dev_server, tmp_path):
    enable_userpass(root)
    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    auth = login(dev_server, "alice")
    as_token(dev_server, auth["client_token"]).auth.token.lookup_self()
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    mine = [e for e in entries if e["request"]["path"] == "auth/token/lookup-self"]
    assert [e["type"] for e in mine] == ["request", "response"]
    assert all(e["auth"]["entity_id"] == auth["entity_id"] for e in mine), mine


# ---------------------------------------------------------------------------------------------
# Identity policies


def kv_put(root, path, **data):
    root.secrets.kv.v2.create_or_update_secret(path=path, secret=data)


def kv_get(client, path):
    return client.secrets.kv.v2.read_secret_version(
        path=path, raise_on_deleted_version=True)["data"]["data"]


def test_identity_policies_in_login_lookup_and_cli(root, dev_server):
    enable_userpass(root)
    root.sys.create_or_update_policy("ent", 'path "secret/data/ent/*" { capabilities = ["read"] }')
    root.sys.create_or_update_policy("grp", 'path "secret/data/grp/*" { capabilities = ["read"] }')
    eid = login(dev_server, "alice")["entity_id"]
    ident(root).update_entity(eid, policies=["ent"])
    ident(root).create_or_update_group(name="g", policies=["grp"], member_entity_ids=[eid])
    auth = login(dev_server, "alice")
    assert auth["entity_id"] == eid
    assert auth["token_policies"] == ["default"]
    assert auth["identity_policies"] == ["ent", "grp"]
    assert auth["policies"] == ["default", "ent", "grp"]
    data = as_token(dev_server, auth["client_token"]).auth.token.lookup_self()["data"]
    assert data["entity_id"] == eid and data["identity_policies"] == ["ent", "grp"]
    assert data["policies"] == ["default"]
    # Root tokens have no entity, and no identity_policies.
    assert "identity_policies" not in root.auth.token.lookup_self()["data"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUSH_", "VAULT_"))}
    env.update(HUSH_ADDR=dev_server.url, HUSH_TOKEN=auth["client_token"])
    p = subprocess.run([HUSH_BIN, "token", "lookup"], capture_output=True, text=True, env=env,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert re.search(rf"^entity_id\s+{eid}$", p.stdout, re.M), p.stdout
    assert re.search(r"^identity_policies\s+\[ent grp\]$", p.stdout, re.M), p.stdout
    p = subprocess.run([HUSH_BIN, "token", "lookup", "-format=json"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert json.loads(p.stdout)["data"]["identity_policies"] == ["ent", "grp"]


def test_group_policies_reach_existing_tokens_at_once(root, dev_server):
    enable_userpass(root)
    root.sys.create_or_update_policy("ops-read",
                                     'path "secret/data/ops/*" { capabilities = ["read"] }')
    root.sys.create_or_update_policy("all-read",
                                     'path "secret/data/all/*" { capabilities = ["read"] }')
    kv_put(root, "ops/db", password="s3cret")
    kv_put(root, "all/motd", text="hello")
    auth = login(dev_server, "alice")
    me = as_token(dev_server, auth["client_token"])
    eid = auth["entity_id"]
    refused(lambda: kv_get(me, "ops/db"), 403, "permission denied")

    ops = ident(root).create_or_update_group(name="ops", policies=["ops-read"],
                                             member_entity_ids=[eid])["data"]["id"]
    assert kv_get(me, "ops/db") == {"password": "s3cret"}
    assert me.auth.token.lookup_self()["data"]["identity_policies"] == ["ops-read"]
    # Inherited through a parent group.
    refused(lambda: kv_get(me, "all/motd"), 403, "permission denied")
    ident(root).create_or_update_group(name="everyone", policies=["all-read"],
                                       member_group_ids=[ops])
    assert kv_get(me, "all/motd") == {"text": "hello"}
    # A change of the group's policies, then of its members, applies at once.
    ident(root).create_or_update_group(name="ops", policies=["default"])
    refused(lambda: kv_get(me, "ops/db"), 403, "permission denied")
    assert kv_get(me, "all/motd") == {"text": "hello"}
    ident(root).create_or_update_group(name="ops", policies=["ops-read"], member_entity_ids=[])
    refused(lambda: kv_get(me, "ops/db"), 403, "permission denied")
    refused(lambda: kv_get(me, "all/motd"), 403, "permission denied")
    # Entity policies too; and capabilities-self sees what the pipeline sees.
    ident(root).update_entity(eid, policies=["ops-read"])
    assert kv_get(me, "ops/db") == {"password": "s3cret"}
    caps = me.sys.get_capabilities(paths=["secret/data/ops/db"], accessor=None)
    assert caps["capabilities"] == ["read"] or caps["data"]["capabilities"] == ["read"]


def test_templated_policy_scopes_each_user_to_their_own_path(root, dev_server):
    acc = enable_userpass(root)
    root.sys.create_or_update_policy("per-user", """
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["create", "update", "read"] }
path "secret/data/teams/{{identity.entity.metadata.team}}/*" { capabilities = ["read"] }
path "secret/data/by-alias/{{identity.entity.aliases.%s.name}}" { capabilities = ["read"] }
""" % acc)
    root.auth.userpass.create_or_update_user("alice", password="alice-pw", policies=["per-user"])
    root.auth.userpass.create_or_update_user("bob", password="bob-pw", policies=["per-user"])
    # alice's entity is made first and tied to her username; bob's comes from his login and
    # is renamed while his token is out.
    alice_id = new_entity(root, "alice", metadata={"team": "payments"})
    ident(root).create_or_update_entity_alias(name="alice", canonical_id=alice_id,
                                              mount_accessor=acc)
    alice = as_token(dev_server, login(dev_server, "alice")["client_token"])
    bob_auth = login(dev_server, "bob")
    bob = as_token(dev_server, bob_auth["client_token"])
    assert login(dev_server, "alice")["entity_id"] == alice_id

    kv_put(alice, "alice/app", v="a")
    assert kv_get(alice, "alice/app") == {"v": "a"}
    # Before the rename bob's entity is entity_xxxx: "bob/" is not his.
    refused(lambda: kv_put(bob, "bob/app", v="b"), 403, "permission denied")
    ident(root).update_entity(bob_auth["entity_id"], name="bob")
    kv_put(bob, "bob/app", v="b")
    assert kv_get(bob, "bob/app") == {"v": "b"}
    refused(lambda: kv_get(alice, "bob/app"), 403, "permission denied")
    refused(lambda: kv_get(bob, "alice/app"), 403, "permission denied")
    refused(lambda: kv_put(bob, "alice/app", v="x"), 403, "permission denied")
    assert kv_get(alice, "alice/app") == {"v": "a"}

    kv_put(root, "teams/payments/key", k="1")
    kv_put(root, "by-alias/bob", k="2")
    assert kv_get(alice, "teams/payments/key") == {"k": "1"}
    refused(lambda: kv_get(bob, "teams/payments/key"), 403, "permission denied")
    assert kv_get(bob, "by-alias/bob") == {"k": "2"}
    refused(lambda: kv_get(alice, "by-alias/bob"), 403, "permission denied")
    # A metadata value is never a glob: "*" leaves the rule out instead of matching every team.
    ident(root).update_entity(bob_auth["entity_id"], metadata={"team": "*"})
    refused(lambda: kv_get(bob, "teams/payments/key"), 403, "permission denied")
    ident(root).update_entity(bob_auth["entity_id"], metadata={"team": "pay+"})
    refused(lambda: kv_get(bob, "teams/payments/key"), 403, "permission denied")
    # Tokens without an entity get nothing from templated rules.
    plain = as_token(dev_server, root.auth.token.create(policies=["per-user"])["auth"]["client_token"])
    refused(lambda: kv_get(plain, "alice/app"), 403, "permission denied")


# ---------------------------------------------------------------------------------------------
# JWT groups claim -> external groups

ISSUER = "https://idp.example.test"


def sign(key, sub, groups=None, **extra):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": sub, "aud": "hush", "iat": now, "nbf": now,
              "exp": now + 300, **extra}
    if groups is not None:
        claims["groups"] = groups
    return pyjwt.encode(claims, private_pem(key), algorithm="RS256")


def test_jwt_groups_claim_maps_to_external_groups(root, dev_server):
    key = rsa_key()
    root.sys.enable_auth_method("jwt")
    acc = root.sys.list_auth_methods()["data"]["jwt/"]["accessor"]
    root.auth.jwt.configure(jwt_validation_pubkeys=[public_pem(key)], bound_issuer=ISSUER)
    root.auth.jwt.create_role(name="dev", role_type="jwt", user_claim="sub", groups_claim="groups",
                              bound_audiences=["hush"], allowed_redirect_uris=None,
                              claim_mappings={"email": "email"}, token_policies=["default"])
    root.sys.create_or_update_policy("eng-read",
                                     'path "secret/data/eng/*" { capabilities = ["read"] }')
    kv_put(root, "eng/plan", step="1")
    eng = ident(root).create_or_update_group(name="eng", group_type="external",
                                             policies=["eng-read"])["data"]["id"]
    ident(root).create_or_update_group_alias(name="engineering", mount_accessor=acc,
                                             canonical_id=eng)
    # An external group of another mount stays as it is.
    root.sys.enable_auth_method("jwt", path="jwt2")
    acc2 = root.sys.list_auth_methods()["data"]["jwt2/"]["accessor"]
    other = ident(root).create_or_update_group(name="other", group_type="external")["data"]["id"]
    ident(root).create_or_update_group_alias(name="engineering", mount_accessor=acc2,
                                             canonical_id=other)

    c = hvac.Client(url=dev_server.url)
    auth = c.auth.jwt.jwt_login(role="dev", jwt=sign(key, "user-1", ["engineering", "sales"],
                                                     email="u1@example.test"))["auth"]
    assert auth["identity_policies"] == ["eng-read"]
    assert auth["policies"] == ["default", "eng-read"]
    eid = auth["entity_id"]
    group = ident(root).read_group(eng)["data"]
    assert group["member_entity_ids"] == [eid]
    assert ident(root).read_group(other)["data"]["member_entity_ids"] == []
    entity = ident(root).read_entity(eid)["data"]
    assert entity["direct_group_ids"] == [eng]
    assert entity["aliases"][0]["name"] == "user-1"
    assert entity["aliases"][0]["metadata"] == {"email": "u1@example.test"}
    assert kv_get(c, "eng/plan") == {"step": "1"}

    # The next login without the claim value leaves the group, and the earlier token loses
    # the group's policies at once.
    later = hvac.Client(url=dev_server.url)
    auth2 = later.auth.jwt.jwt_login(role="dev", jwt=sign(key, "user-1", ["sales"]))["auth"]
    assert auth2["entity_id"] == eid and auth2["identity_policies"] == []
    assert ident(root).read_group(eng)["data"]["member_entity_ids"] == []
    refused(lambda: kv_get(c, "eng/plan"), 403, "permission denied")
    # And joins again with it.
    later.auth.jwt.jwt_login(role="dev", jwt=sign(key, "user-1", "engineering"))
    assert kv_get(c, "eng/plan") == {"step": "1"}
    # Another user's claim does not make them a member of a group of another name.
    auth3 = hvac.Client(url=dev_server.url).auth.jwt.jwt_login(
        role="dev", jwt=sign(key, "user-2", ["Engineering"]))["auth"]
    assert auth3["identity_policies"] == [] and auth3["entity_id"] != eid


# ---------------------------------------------------------------------------------------------
# Storage


def test_identity_survives_a_restart(tmp_path, servers):
    server = sqlite_server(tmp_path, servers).start()
    init = hvac.Client(url=server.url).sys.initialize(secret_shares=1, secret_threshold=1)
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    root = as_token(server, init["root_token"])
    acc = enable_userpass(root)
    eid = login(server, "alice")["entity_id"]
    gid = ident(root).create_or_update_group(name="g", member_entity_ids=[eid])["data"]["id"]
    server.kill()
    server.start()
    hvac.Client(url=server.url).sys.submit_unseal_key(init["keys"][0])
    assert login(server, "alice")["entity_id"] == eid
    e = ident(root).read_entity(eid)["data"]
    assert e["direct_group_ids"] == [gid] and e["aliases"][0]["mount_accessor"] == acc
    # Nothing of it is readable in the database file.
    import sqlite3
    db = sqlite3.connect(tmp_path / "data" / "hush.db")
    rows = db.execute("select key, value from kv where key like '%identity/%'").fetchall()
    db.close()
    assert rows and all(b"alice" not in bytes(v) for _, v in rows)
