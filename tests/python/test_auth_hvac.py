"""The auth methods for people and machines through hvac against the real binary (issue 4):
userpass (with the failed-login lockout), AppRole (with response-wrapped secret IDs), JWT
(fixed public keys, and a JWKS endpoint served by the test with key rotation), Kubernetes
(an HTTPS TokenReview endpoint served by the test with real service-account JWTs), and
bound CIDRs on login and on every use of a token.

Every client here connects from 127.0.0.1, and the failed-login lockout also counts failures
per client address, so tests that fail logins on purpose raise the mount's lockout threshold
(except the lockout tests themselves). Every refused login is checked for its status, its
message as returned and the absence of a token.
"""

import json
import re
import statistics
import time

import hvac
import jwt as pyjwt
import pytest
import requests
import trustme
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import free_port
from test_server import start
from k8s_fixture import (
    CLUSTER_ISSUER,
    JwksServer,
    TokenReviewServer,
    private_pem,
    public_pem,
    rsa_jwk,
    rsa_key,
)

ROOT = "root"
INVALID_USERPASS = "invalid username or password"
INVALID_APPROLE = "invalid role ID or secret ID"
# A locked login names the lock (the user, or the client address), for how long, and how an
# operator lifts it.
LOCKED = re.compile(r"too many failed logins for .+ at auth/\S+: .*locked for \d+ more "
                    r"seconds; an operator can lift it now: POST sys/locked-users/\S+/unlock/\S+ "
                    r"\(GET sys/locked-users lists locks\)")
LOCKED_ADDRESS = re.compile(r"too many failed logins from client address 127\.0\.0\.1 at "
                            r"auth/userpass/: .*locked for \d+ more seconds.*"
                            r"x_forwarded_for_authorized_addrs.*unlock/erin.*")


@pytest.fixture
def root(dev_server):
    return hvac.Client(url=dev_server.url, token=ROOT)


def anon(server):
    """A client without a token, as a machine or person has before logging in."""
    return hvac.Client(url=server.url)


def as_token(server, token):
    return hvac.Client(url=server.url, token=token)


def raw(server, method, path, token=ROOT, **kw):
    headers = {"X-Vault-Token": token} if token else {}
    return requests.request(method, f"{server.url}/v1/{path}", headers=headers, timeout=30, **kw)


# A revoked, expired or unknown token: Vault's "permission denied" and "invalid token", and
# what to do.
INVALID_TOKEN = re.compile(r"permission denied: invalid token: .*log in again.*")


def refused(call, status, message):
    """Runs a call that must be refused: checks the status (through hvac's exception class),
    the error message exactly as returned (a string, or a regex that must match it all), and
    that no token came back. Returns the hvac exception."""
    expected = {400: hvac.exceptions.InvalidRequest, 403: hvac.exceptions.Forbidden,
                502: hvac.exceptions.BadGateway}[status]
    with pytest.raises(hvac.exceptions.VaultError) as info:
        call()
    e = info.value
    assert type(e) is expected, f"expected {status}, got {type(e).__name__}: {e}"
    assert isinstance(e.errors, list) and len(e.errors) == 1, e.errors
    if isinstance(message, re.Pattern):
        assert message.fullmatch(e.errors[0]), e.errors[0]
    else:
        assert e.errors[0] == message
    body = e.json or {}
    assert not body.get("auth"), body
    assert "hvs." not in (e.text or "")
    return e


def refused_login(client, call, status, message):
    """`refused` for an hvac login call, also checking the client did not pick up a token."""
    before = client.token
    e = refused(call, status, message)
    assert client.token == before
    return e


def relax_lockout(root, path):
    """Tests that fail logins on purpose raise the threshold: all clients share 127.0.0.1."""
    root.sys.tune_auth_method(path=path, user_lockout_threshold=1000)


def accessor_of(root, path):
    return root.sys.list_auth_methods()["data"][f"{path}/"]["accessor"]


def lookup_self(server, token):
    return as_token(server, token).auth.token.lookup_self()["data"]


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# ---------------------------------------------------------------------------------------------
# userpass


def test_userpass_users_and_login(root, dev_server):
    root.sys.enable_auth_method("userpass")
    up = root.auth.userpass
    up.create_or_update_user("alice", password="correct horse", token_policies=["ops", "app"],
                             token_ttl="30m")
    # hvac's own `policies` argument is the older name of token_policies.
    up.create_or_update_user("bob", password="battery staple", policies="viewer")
    assert sorted(up.list_user()["data"]["keys"]) == ["alice", "bob"]
    alice = up.read_user("alice")["data"]
    assert alice["token_policies"] == ["app", "ops"] and alice["policies"] == ["app", "ops"]
    assert alice["token_ttl"] == 1800 and alice["ttl"] == 1800
    assert "password" not in alice and "password_hash" not in alice

    client = anon(dev_server)
    resp = client.auth.userpass.login("alice", "correct horse")
    auth = resp["auth"]
    assert client.token == auth["client_token"] and auth["client_token"].startswith("hvs.")
    assert auth["policies"] == ["app", "default", "ops"]
    assert auth["token_policies"] == ["app", "default", "ops"]
    assert auth["metadata"] == {"username": "alice"}
    assert auth["lease_duration"] == 1800 and auth["renewable"] is True
    assert resp["mount_type"] == "userpass"
    me = client.auth.token.lookup_self()["data"]
    assert me["policies"] == ["app", "default", "ops"]
    assert me["meta"] == {"username": "alice"}
    assert me["path"] == "auth/userpass/login/alice"
    assert me["display_name"] == "userpass-alice"

    # Usernames are case-insensitive, as in Vault.
    assert anon(dev_server).auth.userpass.login("ALICE", "correct horse")["auth"]["metadata"] == {
        "username": "alice"}
    assert anon(dev_server).auth.userpass.login("bob", "battery staple")["auth"]["policies"] == [
        "default", "viewer"]

    # Password change: the old one stops working, the new one works.
    relax_lockout(root, "userpass")
    up.update_password_on_user("alice", "new password")
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.userpass.login("alice", "correct horse"), 400,
                  INVALID_USERPASS)
    assert c.auth.userpass.login("alice", "new password")["auth"]["policies"] == [
        "app", "default", "ops"]
    # users/:name/policies replaces the policies only.
    root.write_data("auth/userpass/users/alice/policies", data={"token_policies": ["audit"]})
    assert anon(dev_server).auth.userpass.login("alice", "new password")["auth"][
        "policies"] == ["audit", "default"]
    # A deleted user is refused like any unknown user.
    up.delete_user("alice")
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.userpass.login("alice", "new password"), 400,
                  INVALID_USERPASS)


def test_userpass_wrong_password_and_unknown_user_are_indistinguishable(root, dev_server):
    root.sys.enable_auth_method("userpass")
    relax_lockout(root, "userpass")
    root.auth.userpass.create_or_update_user("carol", password="s3cret", token_policies=["a"])
    c = anon(dev_server)
    wrong = refused_login(c, lambda: c.auth.userpass.login("carol", "guess"), 400,
                          INVALID_USERPASS)
    unknown = refused_login(c, lambda: c.auth.userpass.login("mallory", "guess"), 400,
                            INVALID_USERPASS)
    assert wrong.json == unknown.json == {"errors": [INVALID_USERPASS]}

    # Unknown users cost the same password hashing as wrong passwords (a dummy hash is
    # verified), so timing does not tell them apart either. Loose bound: without the dummy
    # hash an unknown user would answer in a small fraction of the time.
    def timed(user):
        t0 = time.perf_counter()
        r = raw(dev_server, "POST", f"auth/userpass/login/{user}", token=None,
                json={"password": "guess"})
        assert r.status_code == 400 and r.json() == {"errors": [INVALID_USERPASS]}
        return time.perf_counter() - t0

    for _ in range(2):  # warm up
        timed("carol"), timed("nobody")
    wrong_t = statistics.median(timed("carol") for _ in range(5))
    unknown_t = statistics.median(timed("nobody") for _ in range(5))
    assert unknown_t > 0.5 * wrong_t, (wrong_t, unknown_t)

    # A missing password is a plain bad request, not a failed login.
    r = raw(dev_server, "POST", "auth/userpass/login/carol", token=None, json={})
    assert r.status_code == 400 and r.json() == {"errors": ["missing 'password'"]}
    assert c.auth.userpass.login("carol", "s3cret")["auth"]["policies"] == ["a", "default"]


def test_userpass_lockout_and_unlock(root, dev_server):
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("dave", password="right", token_policies=["d"])
    accessor = accessor_of(root, "userpass")
    c = anon(dev_server)
    for _ in range(5):
        refused_login(c, lambda: c.auth.userpass.login("dave", "wrong"), 400, INVALID_USERPASS)
    # The 6th attempt fails even with the right password.
    refused_login(c, lambda: c.auth.userpass.login("dave", "right"), 400, LOCKED)

    locked = root.read("sys/locked-users")["data"]
    [ns] = locked["by_namespace"]
    [mount] = ns["mount_accessors"]
    assert mount["mount_accessor"] == accessor
    assert "dave" in mount["alias_identifiers"]
    assert locked["total"] >= 1

    # Unlocking the user (what Vault's API, CLI and UI do) lets them log in again.
    r = raw(dev_server, "POST", f"sys/locked-users/{accessor}/unlock/dave")
    assert r.status_code == 204
    auth = c.auth.userpass.login("dave", "right")["auth"]
    assert auth["policies"] == ["d", "default"] and auth["metadata"] == {"username": "dave"}
    assert "dave" not in json.dumps(root.read("sys/locked-users")["data"])


def test_userpass_lockout_per_client_address(root, dev_server):
    """Failures for any names (even users that do not exist) lock the client address: a
    password-spraying client is stopped, and the lock reveals nothing about which users exist."""
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("erin", password="pw-erin", token_policies=["e"])
    accessor = accessor_of(root, "userpass")
    c = anon(dev_server)
    for i in range(5):
        refused_login(c, lambda: c.auth.userpass.login(f"ghost{i}", "x"), 400, INVALID_USERPASS)
    # erin never failed, but her login comes from the locked address.
    refused_login(c, lambda: c.auth.userpass.login("erin", "pw-erin"), 400, LOCKED_ADDRESS)
    mounts = root.read("sys/locked-users")["data"]["by_namespace"][0]["mount_accessors"]
    [m] = [m for m in mounts if m["mount_accessor"] == accessor]
    assert "addr:127.0.0.1" in m["alias_identifiers"]
    assert not any(a.startswith("ghost") for a in m["alias_identifiers"])
    r = raw(dev_server, "POST", f"sys/locked-users/{accessor}/unlock/addr:127.0.0.1")
    assert r.status_code == 204
    assert c.auth.userpass.login("erin", "pw-erin")["auth"]["policies"] == ["default", "e"]


def test_userpass_lockout_tuning(root, dev_server):
    root.sys.enable_auth_method("userpass")
    up = root.auth.userpass
    up.create_or_update_user("fay", password="pw", token_policies=["f"])
    c = anon(dev_server)

    # A lower threshold with a short lock: the lock ends by itself.
    root.sys.tune_auth_method(path="userpass", user_lockout_threshold=2,
                              user_lockout_duration="2s")
    for _ in range(2):
        refused_login(c, lambda: c.auth.userpass.login("fay", "no"), 400, INVALID_USERPASS)
    refused_login(c, lambda: c.auth.userpass.login("fay", "pw"), 400, LOCKED)

    def logs_in():
        r = raw(dev_server, "POST", "auth/userpass/login/fay", token=None,
                json={"password": "pw"})
        return r.status_code == 200 and r.json()["auth"]["policies"] == ["default", "f"]

    wait_until(logs_in, timeout=10, interval=0.25)

    # Lockout switched off: any number of failures, then the right password works.
    root.sys.tune_auth_method(path="userpass", user_lockout_disable=True)
    for _ in range(8):
        refused_login(c, lambda: c.auth.userpass.login("fay", "no"), 400, INVALID_USERPASS)
    assert c.auth.userpass.login("fay", "pw")["auth"]["policies"] == ["default", "f"]


def test_userpass_lockout_tuning_vault_wire_form(root, dev_server):
    """Vault's API (and `vault auth tune -user-lockout-threshold=...`) sends the lockout
    settings as `user_lockout_config {lockout_threshold, lockout_duration,
    lockout_counter_reset_duration, lockout_disable}`."""
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("gus", password="pw", token_policies=["g"])
    root.sys.tune_auth_method(path="userpass", user_lockout_config={
        "lockout_threshold": "2", "lockout_duration": "10m"})
    c = anon(dev_server)
    for _ in range(2):
        refused_login(c, lambda: c.auth.userpass.login("gus", "no"), 400, INVALID_USERPASS)
    refused_login(c, lambda: c.auth.userpass.login("gus", "pw"), 400, LOCKED)


def test_userpass_user_token_bound_cidrs(root, dev_server):
    root.sys.enable_auth_method("userpass")
    relax_lockout(root, "userpass")
    up = root.auth.userpass
    up.create_or_update_user("remote", password="pw", token_bound_cidrs=["10.0.0.0/8"])
    up.create_or_update_user("local", password="pw", token_bound_cidrs=["127.0.0.1/32"])
    c = anon(dev_server)
    refused_login(
        c, lambda: c.auth.userpass.login("remote", "pw"), 400,
        "login from 127.0.0.1 is not allowed by the user's token_bound_cidrs (10.0.0.0/8)")
    token = c.auth.userpass.login("local", "pw")["auth"]["client_token"]
    assert lookup_self(dev_server, token)["bound_cidrs"] == ["127.0.0.1/32"]


def renew_self(server, token, increment=None):
    return as_token(server, token).auth.token.renew_self(increment=increment)["auth"]


def test_userpass_renewal_follows_the_user_as_it_is_now(root, dev_server):
    """A login token's renewal asks the auth method again, as Vault's does: the user's
    token_max_ttl (counted from login) caps it, a lowered maximum applies to tokens already
    out, and a deleted user or changed policies refuse it."""
    root.sys.enable_auth_method("userpass")
    up = root.auth.userpass
    up.create_or_update_user("carol", password="pw-carol", token_policies=["app"],
                             token_ttl="10m", token_max_ttl="1h")
    token = anon(dev_server).auth.userpass.login("carol", "pw-carol")["auth"]["client_token"]

    # A bigger increment than the maximum: held to what is left of the hour.
    auth = renew_self(dev_server, token, increment="24h")
    assert 3590 <= auth["lease_duration"] <= 3600, auth["lease_duration"]
    # No increment: the user's token_ttl.
    assert 590 <= renew_self(dev_server, token)["lease_duration"] <= 600

    # The maximum lowered after login applies at the next renewal.
    up.create_or_update_user("carol", token_max_ttl="20m")
    assert 1190 <= renew_self(dev_server, token, increment="24h")["lease_duration"] <= 1200
    # So does the auth mount's maximum when it is lower.
    root.sys.tune_auth_method(path="userpass", max_lease_ttl="15m")
    assert 890 <= renew_self(dev_server, token, increment="24h")["lease_duration"] <= 900

    # Changed policies: the token is not renewed (it keeps working until it expires).
    root.write_data("auth/userpass/users/carol/policies", data={"token_policies": ["other"]})
    refused(lambda: as_token(dev_server, token).auth.token.renew_self(), 400,
            'the policies of the user "carol" changed after this token was issued, so it '
            "cannot be renewed; log in again for a token with the current policies")
    assert lookup_self(dev_server, token)["policies"] == ["app", "default"]
    # Back to the same set (in another order, with `default` spelled out): renewable again.
    root.write_data("auth/userpass/users/carol/policies",
                    data={"token_policies": ["default", "APP"]})
    renew_self(dev_server, token)

    # A deleted user: no renewal either.
    up.delete_user("carol")
    refused(lambda: as_token(dev_server, token).auth.token.renew_self(), 400,
            'the user "carol" this token was issued for no longer exists, so it cannot be '
            "renewed")


def test_token_role_max_ttl_holds_on_renewal(root, dev_server):
    # hvac's helper predates the token_* names; the role API takes them as Vault's does.
    root.write_data("auth/token/roles/short", data={"token_max_ttl": "30m", "token_ttl": "5m"})
    token = root.auth.token.create(role_name="short")["auth"]["client_token"]
    assert 1790 <= renew_self(dev_server, token, increment="48h")["lease_duration"] <= 1800
    assert 290 <= renew_self(dev_server, token)["lease_duration"] <= 300
    # Without the role the token cannot be renewed.
    root.auth.token.delete_role("short")
    refused(lambda: as_token(dev_server, token).auth.token.renew_self(), 400,
            'the token role "short" this token was created with no longer exists, so it '
            "cannot be renewed")


def test_disabling_an_auth_method_logs_its_users_out(root, dev_server):
    root.sys.enable_auth_method("userpass", path="people")
    root.auth.userpass.create_or_update_user("dan", password="pw-dan", mount_point="people")
    token = anon(dev_server).auth.userpass.login("dan", "pw-dan", mount_point="people")[
        "auth"]["client_token"]
    other = root.auth.token.create(policies=["default"])["auth"]["client_token"]
    assert lookup_self(dev_server, token)["meta"] == {"username": "dan"}
    root.sys.disable_auth_method("people")
    refused(lambda: lookup_self(dev_server, token), 403, INVALID_TOKEN)
    # Tokens from elsewhere are untouched.
    assert lookup_self(dev_server, other)["policies"] == ["default"]
    # Enabled again at the same path, the method is a new one: the old token stays revoked.
    root.sys.enable_auth_method("userpass", path="people")
    refused(lambda: lookup_self(dev_server, token), 403, INVALID_TOKEN)


# ---------------------------------------------------------------------------------------------
# AppRole


def enable_approle(root):
    root.sys.enable_auth_method("approle")
    relax_lockout(root, "approle")
    return root.auth.approle


def test_approle_role_role_id_secret_id_and_login(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("ci", token_policies=["ci", "deploy"], token_ttl="20m",
                                secret_id_num_uses=5, secret_id_ttl="10m")
    assert ar.list_roles()["data"]["keys"] == ["ci"]
    role = ar.read_role("ci")["data"]
    assert role["token_policies"] == ["ci", "deploy"] and role["token_ttl"] == 1200
    assert role["secret_id_num_uses"] == 5 and role["secret_id_ttl"] == 600
    assert role["bind_secret_id"] is True
    assert "role_id" not in role

    generated_role_id = ar.read_role_id("ci")["data"]["role_id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", generated_role_id)
    ar.update_role_id("ci", "ci-pipeline-role-id")
    assert ar.read_role_id("ci")["data"]["role_id"] == "ci-pipeline-role-id"

    gen = ar.generate_secret_id("ci", metadata={"job": "build-42", "team": "payments"})["data"]
    secret_id, accessor = gen["secret_id"], gen["secret_id_accessor"]
    assert secret_id and accessor and secret_id != accessor
    assert gen["secret_id_ttl"] == 600 and gen["secret_id_num_uses"] == 5
    assert ar.list_secret_id_accessors("ci")["data"]["keys"] == [accessor]
    info = ar.read_secret_id("ci", secret_id)["data"]
    assert info["metadata"] == {"job": "build-42", "team": "payments"}
    assert info["secret_id_accessor"] == accessor and info["secret_id_num_uses"] == 5
    assert ar.read_secret_id_accessor("ci", accessor)["data"]["metadata"] == info["metadata"]

    machine = anon(dev_server)
    resp = machine.auth.approle.login(role_id="ci-pipeline-role-id", secret_id=secret_id)
    auth = resp["auth"]
    assert machine.token == auth["client_token"]
    assert auth["policies"] == ["ci", "default", "deploy"]
    assert auth["metadata"] == {"role_name": "ci", "job": "build-42", "team": "payments"}
    assert auth["lease_duration"] == 1200
    me = machine.auth.token.lookup_self()["data"]
    assert me["path"] == "auth/approle/login" and me["meta"]["role_name"] == "ci"
    # One use of five is spent.
    assert ar.read_secret_id("ci", secret_id)["data"]["secret_id_num_uses"] == 4

    # The generated role ID was replaced: it no longer logs in.
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.approle.login(role_id=generated_role_id,
                                                   secret_id=secret_id), 400, INVALID_APPROLE)


def test_approle_bad_credentials_look_the_same(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("svc", token_policies=["svc"])
    role_id = ar.read_role_id("svc")["data"]["role_id"]
    secret_id = ar.generate_secret_id("svc")["data"]["secret_id"]
    c = anon(dev_server)
    unknown_role = refused_login(
        c, lambda: c.auth.approle.login(role_id="no-such-role", secret_id=secret_id), 400,
        INVALID_APPROLE)
    wrong_secret = refused_login(
        c, lambda: c.auth.approle.login(role_id=role_id, secret_id="not-the-secret"), 400,
        INVALID_APPROLE)
    no_secret = refused_login(c, lambda: c.auth.approle.login(role_id=role_id), 400,
                              INVALID_APPROLE)
    assert unknown_role.json == wrong_secret.json == no_secret.json
    r = raw(dev_server, "POST", "auth/approle/login", token=None, json={"secret_id": secret_id})
    assert r.status_code == 400 and r.json() == {"errors": ["missing 'role_id'"]}
    assert c.auth.approle.login(role_id=role_id, secret_id=secret_id)["auth"]["policies"] == [
        "default", "svc"]


def test_approle_wrapped_secret_id(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("worker", token_policies=["worker"])
    role_id = ar.read_role_id("worker")["data"]["role_id"]

    wrapped = ar.generate_secret_id("worker", metadata={"host": "w1"}, wrap_ttl="60s")
    assert wrapped["data"] is None and wrapped.get("auth") is None
    info = wrapped["wrap_info"]
    assert info["token"] and info["ttl"] == 60
    assert info["creation_path"] == "auth/approle/role/worker/secret-id"

    # The machine receives only the wrapping token and unwraps it, once.
    machine = as_token(dev_server, info["token"])
    data = machine.sys.unwrap()["data"]
    assert set(data) >= {"secret_id", "secret_id_accessor"}
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        machine.sys.unwrap()
    assert ar.read_secret_id("worker", data["secret_id"])["data"]["metadata"] == {"host": "w1"}

    c = anon(dev_server)
    auth = c.auth.approle.login(role_id=role_id, secret_id=data["secret_id"])["auth"]
    assert auth["policies"] == ["default", "worker"]
    assert auth["metadata"] == {"role_name": "worker", "host": "w1"}

    # Vault names the wrapped secret ID's accessor in wrap_info.wrapped_accessor, so that the
    # one who generated it can track or destroy it without ever seeing it (Terraform's
    # vault_approle_auth_backend_role_secret_id with_wrapped_accessor relies on this).
    assert info.get("wrapped_accessor") == data["secret_id_accessor"], info


def test_approle_custom_secret_id_and_no_secret_id(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("custom", token_policies=["p"])
    role_id = ar.read_role_id("custom")["data"]["role_id"]
    made = ar.create_custom_secret_id("custom", "my-own-secret-id-0001",
                                      metadata={"origin": "hsm"})["data"]
    assert made["secret_id"] == "my-own-secret-id-0001" and made["secret_id_accessor"]
    refused(lambda: ar.create_custom_secret_id("custom", "my-own-secret-id-0001"), 400,
            "this secret ID is already registered on the role: choose another one")
    auth = anon(dev_server).auth.approle.login(role_id=role_id,
                                               secret_id="my-own-secret-id-0001")["auth"]
    assert auth["metadata"] == {"role_name": "custom", "origin": "hsm"}

    # bind_secret_id=false: the role ID alone logs in, but only from the bound addresses.
    refused(lambda: ar.create_or_update_approle("open", bind_secret_id=False), 400,
            "at least one constraint must be enabled on the role: set bind_secret_id to true, "
            "or give secret_id_bound_cidrs or token_bound_cidrs")
    ar.create_or_update_approle("open", bind_secret_id=False, token_policies=["p"],
                                secret_id_bound_cidrs=["127.0.0.0/8"])
    ar.create_or_update_approle("open-far", bind_secret_id=False, token_policies=["p"],
                                secret_id_bound_cidrs=["10.0.0.0/8"])
    rid = ar.read_role_id("open")["data"]["role_id"]
    auth = anon(dev_server).auth.approle.login(role_id=rid)["auth"]
    assert auth["policies"] == ["default", "p"] and auth["metadata"] == {"role_name": "open"}
    c = anon(dev_server)
    rid_far = ar.read_role_id("open-far")["data"]["role_id"]
    refused_login(c, lambda: c.auth.approle.login(role_id=rid_far), 400,
                  "login from 127.0.0.1 is not allowed by the role's secret_id_bound_cidrs "
                  "(10.0.0.0/8)")


def test_approle_lockout_by_role_id(root, dev_server):
    root.sys.enable_auth_method("approle")
    ar = root.auth.approle
    ar.create_or_update_approle("locked", token_policies=["p"])
    role_id = ar.read_role_id("locked")["data"]["role_id"]
    secret_id = ar.generate_secret_id("locked")["data"]["secret_id"]
    accessor = accessor_of(root, "approle")
    c = anon(dev_server)
    for i in range(5):
        refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=f"guess-{i}"),
                      400, INVALID_APPROLE)
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=secret_id), 400,
                  LOCKED)
    mounts = root.read("sys/locked-users")["data"]["by_namespace"][0]["mount_accessors"]
    [m] = [m for m in mounts if m["mount_accessor"] == accessor]
    assert role_id in m["alias_identifiers"]
    for alias in m["alias_identifiers"]:
        assert raw(dev_server, "POST",
                   f"sys/locked-users/{accessor}/unlock/{alias}").status_code == 204
    assert c.auth.approle.login(role_id=role_id, secret_id=secret_id)["auth"]["policies"] == [
        "default", "p"]


def test_approle_secret_id_num_uses(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("once", token_policies=["p"], secret_id_num_uses=1)
    role_id = ar.read_role_id("once")["data"]["role_id"]
    gen = ar.generate_secret_id("once")["data"]
    assert gen["secret_id_num_uses"] == 1
    c = anon(dev_server)
    assert c.auth.approle.login(role_id=role_id, secret_id=gen["secret_id"])["auth"][
        "policies"] == ["default", "p"]
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=gen["secret_id"]),
                  400, INVALID_APPROLE)
    # The exhausted secret ID is gone.
    with pytest.raises(hvac.exceptions.InvalidPath):
        ar.list_secret_id_accessors("once")
    # A secret ID may not ask for more uses than the role allows.
    e = refused(lambda: root.write_data("auth/approle/role/once/secret-id",
                                        data={"num_uses": 3}), 400,
                "'num_uses' (3, 0 meaning unlimited) cannot be more than the role's "
                "secret_id_num_uses (1)")
    assert e.json == {"errors": [e.errors[0]]}


def test_approle_expired_secret_id(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("brief", token_policies=["p"], secret_id_ttl="1s")
    role_id = ar.read_role_id("brief")["data"]["role_id"]
    gen = ar.generate_secret_id("brief")["data"]
    assert gen["secret_id_ttl"] == 1
    expires = time.time() + 1
    wait_until(lambda: time.time() > expires + 0.1, timeout=5)
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=gen["secret_id"]),
                  400, INVALID_APPROLE)


def test_approle_destroy_secret_id(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("app", token_policies=["p"])
    role_id = ar.read_role_id("app")["data"]["role_id"]
    first = ar.generate_secret_id("app")["data"]
    second = ar.generate_secret_id("app")["data"]
    assert sorted(ar.list_secret_id_accessors("app")["data"]["keys"]) == sorted(
        [first["secret_id_accessor"], second["secret_id_accessor"]])

    ar.destroy_secret_id("app", first["secret_id"])
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=first["secret_id"]),
                  400, INVALID_APPROLE)
    assert ar.list_secret_id_accessors("app")["data"]["keys"] == [second["secret_id_accessor"]]

    # The second still works until it is destroyed by its accessor.
    assert anon(dev_server).auth.approle.login(role_id=role_id, secret_id=second["secret_id"])
    ar.destroy_secret_id_accessor("app", second["secret_id_accessor"])
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id,
                                                   secret_id=second["secret_id"]),
                  400, INVALID_APPROLE)
    with pytest.raises(hvac.exceptions.InvalidPath):
        ar.list_secret_id_accessors("app")


def test_approle_cidr_bindings(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("net", token_policies=["p"])
    role_id = ar.read_role_id("net")["data"]["role_id"]
    c = anon(dev_server)

    # A secret ID bound to 10.0.0.0/8 cannot log in from 127.0.0.1 ...
    bound = ar.generate_secret_id("net", cidr_list=["10.0.0.0/8"])["data"]["secret_id"]
    assert ar.read_secret_id("net", bound)["data"]["cidr_list"] == ["10.0.0.0/8"]
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=bound), 400,
                  "login from 127.0.0.1 is not allowed by the secret ID's cidr_list "
                  "(10.0.0.0/8)")
    # ... one bound to loopback can.
    local = ar.generate_secret_id("net", cidr_list=["127.0.0.0/8"])["data"]["secret_id"]
    assert c.auth.approle.login(role_id=role_id, secret_id=local, use_token=False)

    # A secret ID whose tokens are bound to 10.0.0.0/8: Vault also checks token_bound_cidrs
    # at login, so the login itself is refused from 127.0.0.1.
    tb = ar.generate_secret_id("net", token_bound_cidrs=["10.0.0.0/8"])["data"]["secret_id"]
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=tb), 400,
                  "login from 127.0.0.1 is not allowed by the token_bound_cidrs of the role or "
                  "secret ID (10.0.0.0/8)")

    # The role's own bindings.
    ar.create_or_update_approle("net-role", token_policies=["p"],
                                secret_id_bound_cidrs=["10.0.0.0/8"])
    rid = ar.read_role_id("net-role")["data"]["role_id"]
    sid = ar.generate_secret_id("net-role")["data"]["secret_id"]
    refused_login(c, lambda: c.auth.approle.login(role_id=rid, secret_id=sid), 400,
                  "login from 127.0.0.1 is not allowed by the role's secret_id_bound_cidrs "
                  "(10.0.0.0/8)")
    refused(lambda: ar.generate_secret_id("net-role", cidr_list=["127.0.0.0/8"]), 400,
            "'cidr_list' must lie within the role's secret_id_bound_cidrs (10.0.0.0/8)")

    ar.create_or_update_approle("net-token", token_policies=["p"],
                                token_bound_cidrs=["10.0.0.0/8"])
    rid = ar.read_role_id("net-token")["data"]["role_id"]
    sid = ar.generate_secret_id("net-token")["data"]["secret_id"]
    refused_login(c, lambda: c.auth.approle.login(role_id=rid, secret_id=sid), 400,
                  "login from 127.0.0.1 is not allowed by the token_bound_cidrs of the role or "
                  "secret ID (10.0.0.0/8)")

    # A role bound to loopback logs in, and its token carries the binding.
    ar.create_or_update_approle("loop", token_policies=["p"],
                                token_bound_cidrs=["127.0.0.1/32"])
    rid = ar.read_role_id("loop")["data"]["role_id"]
    sid = ar.generate_secret_id("loop")["data"]["secret_id"]
    token = anon(dev_server).auth.approle.login(role_id=rid, secret_id=sid)["auth"][
        "client_token"]
    assert lookup_self(dev_server, token)["bound_cidrs"] == ["127.0.0.1/32"]


def test_approle_renewal_checks_the_role(root, dev_server):
    ar = enable_approle(root)
    ar.create_or_update_approle("batch", token_policies=["batch"], token_ttl="5m",
                                token_max_ttl="40m")
    role_id = ar.read_role_id("batch")["data"]["role_id"]
    secret_id = ar.generate_secret_id("batch")["data"]["secret_id"]
    token = anon(dev_server).auth.approle.login(role_id=role_id, secret_id=secret_id)[
        "auth"]["client_token"]
    assert 2390 <= renew_self(dev_server, token, increment="10h")["lease_duration"] <= 2400
    assert 290 <= renew_self(dev_server, token)["lease_duration"] <= 300
    ar.create_or_update_approle("batch", token_policies=["batch", "more"])
    refused(lambda: as_token(dev_server, token).auth.token.renew_self(), 400,
            'the policies of the role "batch" changed after this token was issued, so it '
            "cannot be renewed; log in again for a token with the current policies")
    ar.delete_role("batch")
    refused(lambda: as_token(dev_server, token).auth.token.renew_self(), 400,
            'the role "batch" this token was issued for no longer exists, so it cannot be '
            "renewed")


# ---------------------------------------------------------------------------------------------
# JWT / OIDC

ISSUER = "https://idp.example.test"


def sign(key, claims=None, kid=None, alg="RS256", now=None, **overrides):
    """A CI-style identity token (GitHub Actions-like claims) signed with `key`."""
    now = int(now or time.time())
    payload = {
        "iss": ISSUER,
        "sub": "repo:acme/app:ref:refs/heads/main",
        "aud": "hush",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "repository": "acme/app",
        "ref": "refs/heads/main",
        "actor": "octocat",
        "run_id": 4242,
    }
    payload.update(claims or {})
    for k, v in overrides.items():
        if v is None:
            payload.pop(k, None)
        else:
            payload[k] = v
    headers = {"kid": kid} if kid else None
    secret = key if isinstance(key, (str, bytes)) else private_pem(key)
    return pyjwt.encode(payload, secret, algorithm=alg, headers=headers)


def jwt_role(root, name="ci", **extra):
    params = dict(
        name=name,
        role_type="jwt",
        user_claim="sub",
        allowed_redirect_uris=None,
        bound_audiences=["hush"],
        bound_claims_type="glob",
        bound_claims={"repository": "acme/*", "ref": ["refs/heads/main", "refs/tags/v*"]},
        claim_mappings={"repository": "repo", "ref": "git_ref", "actor": "actor",
                        "run_id": "run"},
        token_policies=["ci-deploy"],
        token_ttl="15m",
    )
    params.update(extra)
    root.auth.jwt.create_role(**params)


def test_jwt_validation_pubkeys_login(root, dev_server):
    rsa_k = rsa_key()
    ec_k = ec.generate_private_key(ec.SECP256R1())
    ed_k = ed25519.Ed25519PrivateKey.generate()
    root.sys.enable_auth_method("jwt")
    root.auth.jwt.configure(jwt_validation_pubkeys=[public_pem(k) for k in (rsa_k, ec_k, ed_k)],
                            bound_issuer=ISSUER)
    config = root.auth.jwt.read_config()["data"]
    assert config["bound_issuer"] == ISSUER and len(config["jwt_validation_pubkeys"]) == 3
    jwt_role(root)
    role = root.auth.jwt.read_role("ci")["data"]
    assert role["role_type"] == "jwt" and role["bound_audiences"] == ["hush"]
    assert role["user_claim"] == "sub" and role["token_policies"] == ["ci-deploy"]
    assert role["claim_mappings"]["repository"] == "repo"
    assert root.auth.jwt.list_roles()["data"]["keys"] == ["ci"]

    for key, alg in ((rsa_k, "RS256"), (ec_k, "ES256"), (ed_k, "EdDSA")):
        c = anon(dev_server)
        resp = c.auth.jwt.jwt_login(role="ci", jwt=sign(key, alg=alg))
        auth = resp["auth"]
        assert c.token == auth["client_token"], alg
        assert auth["policies"] == ["ci-deploy", "default"], alg
        assert auth["metadata"] == {"role": "ci", "repo": "acme/app", "git_ref": "refs/heads/main",
                                    "actor": "octocat", "run": "4242"}, alg
        assert auth["lease_duration"] == 900
    me = c.auth.token.lookup_self()["data"]
    assert me["path"] == "auth/jwt/login"
    assert me["display_name"] == "jwt-repo:acme/app:ref:refs/heads/main"

    # A tag that matches the glob.
    c = anon(dev_server)
    tag = sign(rsa_k, {"ref": "refs/tags/v1.2.0"})
    assert c.auth.jwt.jwt_login(role="ci", jwt=tag)["auth"]["metadata"]["git_ref"] == \
        "refs/tags/v1.2.0"

    # Renewal reads the role as it is now: its token_ttl, then its policies.
    assert 890 <= renew_self(dev_server, c.token)["lease_duration"] <= 900
    jwt_role(root, token_ttl="7m")
    assert 410 <= renew_self(dev_server, c.token)["lease_duration"] <= 420
    jwt_role(root, token_policies=["ci-deploy", "prod"])
    refused(lambda: c.auth.token.renew_self(), 400,
            'the policies of the role "ci" changed after this token was issued, so it cannot '
            "be renewed; log in again for a token with the current policies")


def test_jwt_bad_tokens(root, dev_server):
    key, other = rsa_key(), rsa_key()
    root.sys.enable_auth_method("jwt")
    root.auth.jwt.configure(jwt_validation_pubkeys=[public_pem(key)], bound_issuer=ISSUER)
    jwt_role(root)
    c = anon(dev_server)
    now = int(time.time())

    def bad(token, status, message, role="ci"):
        refused_login(c, lambda: c.auth.jwt.jwt_login(role=role, jwt=token), status, message)

    bad(sign(key, now=now - 7200), 400,
        re.compile(r"the JWT is expired: exp is \S+ \(allowed leeway 210s\)"))
    bad(sign(key, nbf=now + 3600, iat=now), 400,
        re.compile(r"the JWT is not valid yet: nbf is \S+ \(allowed leeway 210s\)"))
    bad(sign(key, aud="someone-else"), 400,
        "the JWT's audience (someone-else) matches none of the role's bound_audiences (hush)")
    bad(sign(other), 400,
        "the JWT's signature does not verify with any of the configured jwt_validation_pubkeys")
    # A valid signature over different claims: a tampered payload.
    header, _, sig = sign(key).split(".")
    _, payload, _ = sign(key, {"repository": "acme/other"}).split(".")
    bad(f"{header}.{payload}.{sig}", 400,
        "the JWT's signature does not verify with any of the configured jwt_validation_pubkeys")
    bad(sign(key, iss="https://evil.example"), 400,
        f"the JWT's issuer \"https://evil.example\" is not the configured bound_issuer "
        f"\"{ISSUER}\"")
    bad(sign(key, {"repository": "evil/app"}), 400,
        "the JWT's claim \"repository\" does not match the role's bound_claims "
        "(allowed: acme/*)")
    bad(sign(key, repository=None), 400,
        "the JWT lacks the claim \"repository\" that the role's bound_claims require")
    bad(sign(key, sub=None), 400,
        "the JWT has no claim \"sub\" (the role's user_claim) with a string value")
    # HMAC with the public key as the secret (the classic algorithm-confusion forgery).
    bad(sign(public_pem(key).encode()[:32], alg="HS256"), 400,
        re.compile(r"the JWT is signed with HS256, which this mount does not accept "
                   r"\(allowed: .*RS256.*\)"))
    bad("not.a.jwt", 400, re.compile(r"'jwt' is not a valid JWT: .+"))
    bad(sign(key), 400, "role \"nope\" could not be found", role="nope")
    # The good token still works after all that.
    assert c.auth.jwt.jwt_login(role="ci", jwt=sign(key))["auth"]["policies"] == [
        "ci-deploy", "default"]


def test_jwt_config_bad_input(root, dev_server):
    root.sys.enable_auth_method("jwt")
    both = "exactly one of 'oidc_discovery_url', 'jwks_url' or 'jwt_validation_pubkeys' must " \
           "be set: it says where the keys that verify JWTs come from"
    refused(lambda: root.auth.jwt.configure(bound_issuer=ISSUER), 400, both)
    refused(lambda: root.auth.jwt.configure(jwks_url="http://127.0.0.1:1/jwks",
                                            jwt_validation_pubkeys=[public_pem(rsa_key())]),
            400, both)
    port = free_port()  # nothing listens there
    refused(lambda: root.auth.jwt.configure(jwks_url=f"http://127.0.0.1:{port}/jwks"), 400,
            re.compile(rf"the key source could not be checked: could not fetch the JWKS: "
                       rf".*127\.0\.0\.1:{port}.*"))
    refused(lambda: root.auth.jwt.configure(jwt_validation_pubkeys=["not a key"]), 400,
            "'jwt_validation_pubkeys' entry 0: not an RSA, EC (P-256/P-384) or Ed25519 public "
            "key in PEM form")
    # An OIDC role is stored but cannot log in with a JWT.
    key = rsa_key()
    root.auth.jwt.configure(jwt_validation_pubkeys=[public_pem(key)])
    root.auth.jwt.create_role(name="web", role_type="oidc", user_claim="sub",
                              allowed_redirect_uris=["https://app.example/cb"])
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.jwt.jwt_login(role="web", jwt=sign(key)), 400,
                  re.compile(r"role \"web\" is an OIDC role \(role_type \"oidc\"\).*"))


def test_jwt_jwks_https_with_key_rotation(root, dev_server, tls_files):
    k1, k2, attacker = rsa_key(), rsa_key(), rsa_key()
    idp = JwksServer(keys=[rsa_jwk(k1, "key-2024")], tls=tls_files).start()
    try:
        root.sys.enable_auth_method("jwt")
        root.auth.jwt.configure(jwks_url=idp.jwks_url, jwks_ca_pem=tls_files["ca"].read_text(),
                                bound_issuer=ISSUER)
        assert idp.fetches == 1  # fetched when configured, so a bad URL shows at once
        assert root.auth.jwt.read_config()["data"]["jwks_url"] == idp.jwks_url
        jwt_role(root)

        c = anon(dev_server)
        auth = c.auth.jwt.jwt_login(role="ci", jwt=sign(k1, kid="key-2024"))["auth"]
        assert auth["policies"] == ["ci-deploy", "default"]
        assert auth["metadata"]["repo"] == "acme/app" and auth["metadata"]["role"] == "ci"
        assert idp.fetches == 1  # served from the cache

        # The provider rotates: a new kid is published next to the old one.
        idp.keys = [rsa_jwk(k1, "key-2024"), rsa_jwk(k2, "key-2025")]
        c = anon(dev_server)
        auth = c.auth.jwt.jwt_login(role="ci", jwt=sign(k2, kid="key-2025"))["auth"]
        assert auth["policies"] == ["ci-deploy", "default"]
        assert idp.fetches == 2  # refetched once for the unknown kid
        # The old key still works.
        assert anon(dev_server).auth.jwt.jwt_login(role="ci", jwt=sign(k1, kid="key-2024"))

        # A kid the JWKS does not have at all (the refresh is rate-limited: no new fetch now).
        refused_login(c, lambda: c.auth.jwt.jwt_login(role="ci", jwt=sign(attacker,
                                                                          kid="key-9999")),
                      400, f"the JWT's key ID (kid) \"key-9999\" is unknown: no such key in the "
                           f"JWKS of {idp.jwks_url}")
        assert idp.fetches == 2
        # A known kid with someone else's signature.
        refused_login(c, lambda: c.auth.jwt.jwt_login(role="ci", jwt=sign(attacker,
                                                                          kid="key-2025")),
                      400, "the JWT's signature does not verify with key \"key-2025\"")
        refused_login(c, lambda: c.auth.jwt.jwt_login(
            role="ci", jwt=sign(k2, kid="key-2025", aud=["other", "more"])), 400,
            "the JWT's audience (other, more) matches none of the role's bound_audiences (hush)")
        refused_login(c, lambda: c.auth.jwt.jwt_login(
            role="ci", jwt=sign(k2, kid="key-2025", now=time.time() - 3600)), 400,
            re.compile(r"the JWT is expired: .*"))
    finally:
        idp.stop()



def test_jwt_provider_down_after_a_restart_is_a_502(tmp_path, servers, tls_files):
    """After a restart hush has no cached keys: with the provider down, a login cannot be
    checked at all. That is the provider's failure, not the client's: 502."""
    key = rsa_key()
    idp = JwksServer(keys=[rsa_jwk(key, "key-1")], tls=tls_files).start()
    s = start(tmp_path, servers)
    init = requests.put(f"{s.url}/v1/sys/init",
                        json={"secret_shares": 1, "secret_threshold": 1}).json()
    unseal_key = init["keys"][0]
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": unseal_key})
    root = hvac.Client(url=s.url, token=init["root_token"])
    try:
        root.sys.enable_auth_method("jwt")
        root.auth.jwt.configure(jwks_url=idp.jwks_url, jwks_ca_pem=tls_files["ca"].read_text(),
                                bound_issuer=ISSUER)
        jwt_role(root)
        assert anon(s).auth.jwt.jwt_login(role="ci", jwt=sign(key, kid="key-1"))["auth"]
    finally:
        idp.stop()
    s.kill()
    s.start()
    requests.put(f"{s.url}/v1/sys/unseal", json={"key": unseal_key})
    c = anon(s)
    refused_login(c, lambda: c.auth.jwt.jwt_login(role="ci", jwt=sign(key, kid="key-1")),
                  502, re.compile(rf"JWT verification keys unavailable: could not fetch the "
                                  rf"JWKS: could not reach {re.escape(idp.jwks_url)}: .+"))


def test_jwt_jwks_unknown_kid_is_refetched_once(root, dev_server):
    key = rsa_key()
    idp = JwksServer(keys=[rsa_jwk(key, "a")]).start()
    try:
        root.sys.enable_auth_method("jwt", path="ci-jwt")
        root.auth.jwt.configure(jwks_url=idp.jwks_url, path="ci-jwt")
        jwt_role(root, path="ci-jwt")
        c = anon(dev_server)
        msg = (f"the JWT's key ID (kid) \"b\" is unknown: no such key in the JWKS of "
               f"{idp.jwks_url}")
        refused_login(c, lambda: c.auth.jwt.jwt_login(role="ci", jwt=sign(key, kid="b"),
                                                      path="ci-jwt"), 400, msg)
        assert idp.fetches == 2  # config + one refresh for the unknown kid
        for _ in range(5):
            refused_login(c, lambda: c.auth.jwt.jwt_login(role="ci", jwt=sign(key, kid="b"),
                                                          path="ci-jwt"), 400, msg)
        assert idp.fetches == 2  # made-up kids cannot make hush hammer the provider
        auth = c.auth.jwt.jwt_login(role="ci", jwt=sign(key, kid="a"), path="ci-jwt")["auth"]
        assert auth["policies"] == ["ci-deploy", "default"]
        assert lookup_self(dev_server, auth["client_token"])["path"] == "auth/ci-jwt/login"
    finally:
        idp.stop()


# ---------------------------------------------------------------------------------------------
# Kubernetes


@pytest.fixture
def cluster(tls_files):
    server = TokenReviewServer(tls=tls_files).start()
    yield server
    server.stop()


def configure_kubernetes(root, cluster, tls_files, **kw):
    root.sys.enable_auth_method("kubernetes")
    params = dict(kubernetes_host=cluster.url,
                  kubernetes_ca_cert=tls_files["ca"].read_text(),
                  token_reviewer_jwt=cluster.reviewer_jwt,
                  disable_local_ca_jwt=True)
    params.update(kw)
    root.auth.kubernetes.configure(**params)
    root.auth.kubernetes.create_role(
        "apps",
        bound_service_account_names=["web", "batch-*"],
        bound_service_account_namespaces=["prod", "team-*"],
        policies=["k8s-app"],
        ttl="10m",
    )


def test_kubernetes_login(root, dev_server, cluster, tls_files):
    configure_kubernetes(root, cluster, tls_files)
    config = root.auth.kubernetes.read_config()  # hvac returns "data"
    assert config["kubernetes_host"] == cluster.url
    assert config["token_reviewer_jwt_set"] is True
    assert "token_reviewer_jwt" not in config and cluster.reviewer_jwt not in json.dumps(config)
    role = root.auth.kubernetes.read_role("apps")  # hvac returns "data"
    assert role["bound_service_account_names"] == ["web", "batch-*"]
    assert role["bound_service_account_namespaces"] == ["prod", "team-*"]
    assert role["token_policies"] == ["k8s-app"] and role["token_ttl"] == 600
    assert root.auth.kubernetes.list_roles()["keys"] == ["apps"]  # hvac returns "data"

    # A pod's projected service-account token.
    sa_jwt = cluster.service_account_token("prod", "web")
    pod = anon(dev_server)
    auth = pod.auth.kubernetes.login("apps", sa_jwt)["auth"]
    assert pod.token == auth["client_token"]
    assert auth["policies"] == ["default", "k8s-app"] and auth["lease_duration"] == 600
    assert auth["metadata"] == {
        "role": "apps",
        "service_account_name": "web",
        "service_account_namespace": "prod",
        "service_account_secret_name": "",
        "service_account_uid": cluster.uid("prod", "web"),
    }
    me = pod.auth.token.lookup_self()["data"]
    assert me["path"] == "auth/kubernetes/login"
    assert me["display_name"] == "kubernetes-prod-web"

    # hush asked the cluster, authenticated as the token reviewer, about exactly that token.
    [review] = cluster.requests
    assert review["path"] == "/apis/authentication.k8s.io/v1/tokenreviews"
    assert review["authorization"] == f"Bearer {cluster.reviewer_jwt}"
    assert review["content_type"] == "application/json"
    assert review["body"]["kind"] == "TokenReview"
    assert review["body"]["apiVersion"] == "authentication.k8s.io/v1"
    assert review["body"]["spec"]["token"] == sa_jwt

    # A legacy (secret-based) token of a globbed name in a globbed namespace.
    legacy = cluster.service_account_token("team-blue", "batch-7", legacy=True)
    auth = anon(dev_server).auth.kubernetes.login("apps", legacy)["auth"]
    assert auth["metadata"]["service_account_name"] == "batch-7"
    assert auth["metadata"]["service_account_namespace"] == "team-blue"
    assert auth["metadata"]["service_account_secret_name"] == "batch-7-token-x7k2p"
    assert auth["metadata"]["service_account_uid"] == cluster.uid("team-blue", "batch-7")

    # Renewal needs the role the pod logged in with (and does not ask the cluster again).
    assert 590 <= renew_self(dev_server, pod.token)["lease_duration"] <= 600
    root.auth.kubernetes.delete_role("apps")
    refused(lambda: pod.auth.token.renew_self(), 400,
            'the role "apps" this token was issued for no longer exists, so it cannot be '
            "renewed")
    assert len(cluster.requests) == 2


def test_kubernetes_role_audience(root, dev_server, cluster, tls_files):
    configure_kubernetes(root, cluster, tls_files)
    root.auth.kubernetes.create_role("aud", bound_service_account_names=["web"],
                                     bound_service_account_namespaces=["prod"],
                                     policies=["p"], audience="hush")
    ok = cluster.service_account_token("prod", "web", audiences=["hush"])
    assert anon(dev_server).auth.kubernetes.login("aud", ok)["auth"]["policies"] == [
        "default", "p"]
    assert cluster.requests[-1]["body"]["spec"]["audiences"] == ["hush"]
    wrong = cluster.service_account_token("prod", "web")  # the API server's own audience
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.kubernetes.login("aud", wrong), 400, re.compile(
        rf"the Kubernetes API at {re.escape(cluster.url)} did not authenticate the service "
        rf"account token \(TokenReview: \[invalid bearer token, token audiences "
        rf"\[{re.escape(CLUSTER_ISSUER)}\] is invalid for the target audiences \[hush\]\]\)"))


def test_kubernetes_bad_logins(root, dev_server, cluster, tls_files):
    configure_kubernetes(root, cluster, tls_files)
    c = anon(dev_server)
    unauth = "the Kubernetes API at {} did not authenticate the service account token " \
             "(TokenReview: [invalid bearer token, {}])"

    def bad(role, token, message):
        refused_login(c, lambda: c.auth.kubernetes.login(role, token), 400, message)

    # Signed by some other key: the cluster says unauthenticated.
    forged = cluster.service_account_token("prod", "web", key=rsa_key())
    bad("apps", forged, unauth.format(cluster.url,
                                      "square/go-jose: error in cryptographic primitive"))
    # Expired.
    expired = cluster.service_account_token("prod", "web", ttl=-60)
    bad("apps", expired, unauth.format(cluster.url, "token has expired"))
    # Revoked in the cluster (its pod was deleted).
    revoked = cluster.service_account_token("prod", "web")
    cluster.revoked.add(revoked)
    bad("apps", revoked,
        unauth.format(cluster.url, "service account token has been invalidated"))
    # Authenticated, but the wrong namespace or name for the role.
    bad("apps", cluster.service_account_token("kube-system", "web"),
        "namespace \"kube-system\" is not allowed by role \"apps\" "
        "(bound_service_account_namespaces: prod, team-*)")
    bad("apps", cluster.service_account_token("prod", "db"),
        "service account name \"db\" is not allowed by role \"apps\" "
        "(bound_service_account_names: web, batch-*)")
    bad("apps", "not-a-jwt",
        "'jwt' is not a JWT (expected three base64url parts separated by '.')")
    bad("nope", cluster.service_account_token("prod", "web"), "invalid role name \"nope\"")
    r = raw(dev_server, "POST", "auth/kubernetes/login", token=None, json={"role": "apps"})
    assert r.status_code == 400
    assert r.json() == {"errors": ["missing 'jwt': send the pod's service account token"]}
    # The good token still logs in.
    assert c.auth.kubernetes.login("apps", cluster.service_account_token("prod", "web"))


def test_kubernetes_cluster_refuses_or_cannot_be_reached(root, dev_server, cluster, tls_files):
    configure_kubernetes(root, cluster, tls_files, token_reviewer_jwt="eyJ.wrong.reviewer")
    c = anon(dev_server)
    token = cluster.service_account_token("prod", "web")
    refused_login(c, lambda: c.auth.kubernetes.login("apps", token), 502, re.compile(
        rf"the Kubernetes API at {re.escape(cluster.url)} refused the TokenReview with HTTP "
        rf"401 .*token reviewer JWT must be valid.*"))

    # Nothing listens at the configured host.
    dead = f"https://127.0.0.1:{free_port()}"
    root.auth.kubernetes.configure(kubernetes_host=dead,
                                   kubernetes_ca_cert=tls_files["ca"].read_text(),
                                   token_reviewer_jwt=cluster.reviewer_jwt,
                                   disable_local_ca_jwt=True)
    refused_login(c, lambda: c.auth.kubernetes.login("apps", token), 502, re.compile(
        rf"could not reach the Kubernetes API at {re.escape(dead)} for a TokenReview: .+; "
        rf"check kubernetes_host and kubernetes_ca_cert in auth/kubernetes/config"))

    # The cluster answers, but its certificate is not from the configured CA.
    root.auth.kubernetes.configure(kubernetes_host=cluster.url,
                                   kubernetes_ca_cert=trustme.CA().cert_pem.bytes().decode(),
                                   token_reviewer_jwt=cluster.reviewer_jwt,
                                   disable_local_ca_jwt=True)
    refused_login(c, lambda: c.auth.kubernetes.login("apps", token), 502, re.compile(
        rf"could not reach the Kubernetes API at {re.escape(cluster.url)} for a TokenReview: "
        rf".*certificate.*"))

    # Fixed configuration: the same token logs in.
    root.auth.kubernetes.configure(kubernetes_host=cluster.url,
                                   kubernetes_ca_cert=tls_files["ca"].read_text(),
                                   token_reviewer_jwt=cluster.reviewer_jwt,
                                   disable_local_ca_jwt=True)
    assert c.auth.kubernetes.login("apps", token)["auth"]["metadata"][
        "service_account_name"] == "web"


# ---------------------------------------------------------------------------------------------
# Bound CIDRs on tokens


def test_token_role_bound_cidrs_enforced_on_use(root, dev_server):
    root.sys.policy.create_or_update_policy(
        "reader", 'path "secret/data/*" { capabilities = ["read"] }')
    root.secrets.kv.v2.create_or_update_secret("cidr", {"v": "1"})
    root.adapter.post("/v1/auth/token/roles/remote",
                      json={"allowed_policies": ["reader"], "token_bound_cidrs": ["10.0.0.0/8"]})
    root.adapter.post("/v1/auth/token/roles/local",
                      json={"allowed_policies": ["reader"],
                            "token_bound_cidrs": ["127.0.0.0/8"]})
    assert root.adapter.get("/v1/auth/token/roles/remote")["data"]["token_bound_cidrs"] == [
        "10.0.0.0/8"]

    remote = root.auth.token.create(role_name="remote", policies=["reader"])["auth"][
        "client_token"]
    local = root.auth.token.create(role_name="local", policies=["reader"])["auth"][
        "client_token"]
    denied = "permission denied"
    c = as_token(dev_server, remote)
    refused(lambda: c.auth.token.lookup_self(), 403, denied)
    refused(lambda: c.secrets.kv.v2.read_secret_version("cidr", raise_on_deleted_version=True),
            403, denied)
    # Root still sees the token and its binding.
    assert root.auth.token.lookup(remote)["data"]["bound_cidrs"] == ["10.0.0.0/8"]

    ok = as_token(dev_server, local)
    assert ok.auth.token.lookup_self()["data"]["bound_cidrs"] == ["127.0.0.0/8"]
    assert ok.secrets.kv.v2.read_secret_version(
        "cidr", raise_on_deleted_version=True)["data"]["data"] == {"v": "1"}


# ---------------------------------------------------------------------------------------------
# Audit


def test_failed_logins_are_audited_without_secrets(root, dev_server, tmp_path):
    log = tmp_path / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(log)})
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("gina", password="gina-password-123")
    ar = enable_approle(root)
    ar.create_or_update_approle("audited", token_policies=["p"])
    role_id = ar.read_role_id("audited")["data"]["role_id"]
    secret_id = ar.generate_secret_id("audited", cidr_list=["10.0.0.0/8"])["data"]["secret_id"]
    c = anon(dev_server)
    refused_login(c, lambda: c.auth.userpass.login("gina", "wrong-password-456"), 400,
                  INVALID_USERPASS)
    cidr_msg = "login from 127.0.0.1 is not allowed by the secret ID's cidr_list (10.0.0.0/8)"
    refused_login(c, lambda: c.auth.approle.login(role_id=role_id, secret_id=secret_id), 400,
                  cidr_msg)

    def entries():
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def failed(path, message):
        return [e for e in entries() if e.get("type") == "response"
                and e["request"]["path"] == path and message in (e.get("error") or "")]

    wait_until(lambda: failed("auth/userpass/login/gina", INVALID_USERPASS)
               and failed("auth/approle/login", cidr_msg))
    text = log.read_text()
    for secret in ("gina-password-123", "wrong-password-456", secret_id):
        assert secret not in text, f"{secret!r} in the audit log"


def test_kubernetes_config_takes_a_pem_shaped_ca_as_vault_does(root, dev_server):
    """hvac's own integration tests configure a placeholder PEM; Vault stores it (and fails only
    when it calls the API server). hush stores it too, with a warning that says why logins will
    fail; a value that is not PEM at all is refused."""
    root.sys.enable_auth_method("kubernetes", path="kubernetes-test")
    placeholder = "-----BEGIN CERTIFICATE-----\\n.....\\n-----END CERTIFICATE-----"
    r = requests.post(f"{dev_server.url}/v1/auth/kubernetes-test/config",
                      headers={"X-Vault-Token": "root"},
                      json={"kubernetes_host": "https://192.168.99.100:8443",
                            "kubernetes_ca_cert": placeholder, "issuer": "stanley"}, timeout=10)
    assert r.status_code == 200, r.text
    (warning,) = r.json()["warnings"]
    assert "no matching" in warning and "logins will fail" in warning
    config = root.auth.kubernetes.read_config(mount_point="kubernetes-test")
    assert config["kubernetes_ca_cert"] == placeholder and config["issuer"] == "stanley"
    r = requests.post(f"{dev_server.url}/v1/auth/kubernetes-test/config",
                      headers={"X-Vault-Token": "root"},
                      json={"kubernetes_host": "https://h:8443", "kubernetes_ca_cert": "ca_cert"},
                      timeout=10)
    assert r.status_code == 400 and "is not PEM" in r.json()["errors"][0]
    assert root.auth.kubernetes.read_config(mount_point="kubernetes-test")["kubernetes_ca_cert"] \
        == placeholder
