"""Lockout under parallel guesses: with a threshold of N, at most N wrong guesses are ever
checked for one user or one address, however many arrive at once."""

from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = {"X-Vault-Token": "root"}
INVALID = "invalid username or password"


def post(server, path, body, headers=ROOT):
    return requests.post(f"{server.url}/v1/{path}", json=body, headers=headers, timeout=60)


def test_parallel_wrong_passwords_check_at_most_the_threshold(dev_server):
    assert post(dev_server, "sys/auth/userpass", {"type": "userpass"}).status_code == 204
    assert post(dev_server, "auth/userpass/users/victim", {"password": "right-password"}).status_code == 204
    # Threshold 5 (Vault's default); each check is an argon2 verification (~25 ms).
    login = "auth/userpass/login/victim"

    def guess(i):
        r = requests.post(f"{dev_server.url}/v1/{login}", json={"password": f"wrong-{i}"}, timeout=60)
        return r.status_code, r.json()["errors"][0]

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(guess, range(100)))
    checked = [e for s, e in results if e == INVALID]
    assert all(s == 400 for s, _ in results), results
    assert len(checked) <= 5, f"{len(checked)} wrong guesses were checked"
    print(f"guesses checked under 100 parallel attempts with threshold 5: {len(checked)}")
    # The user is locked now: even the right password is refused.
    r = requests.post(f"{dev_server.url}/v1/{login}", json={"password": "right-password"}, timeout=60)
    assert r.status_code == 400 and "locked" in r.json()["errors"][0], r.text


def test_parallel_right_passwords_all_succeed(dev_server):
    """Reserving attempts never locks out a user's own concurrent logins."""
    assert post(dev_server, "sys/auth/userpass", {"type": "userpass"}).status_code == 204
    assert post(dev_server, "auth/userpass/users/ci", {"password": "pw"}).status_code == 204

    def login(_):
        return requests.post(f"{dev_server.url}/v1/auth/userpass/login/ci", json={"password": "pw"}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(login, range(40)))
    assert codes == [200] * 40, codes


def test_parallel_wrong_secret_ids_check_at_most_the_threshold(dev_server):
    assert post(dev_server, "sys/auth/approle", {"type": "approle"}).status_code == 204
    assert post(dev_server, "auth/approle/role/app", {"token_ttl": "1h"}).status_code == 204
    role_id = requests.get(f"{dev_server.url}/v1/auth/approle/role/app/role-id", headers=ROOT).json()["data"]["role_id"]

    def guess(i):
        r = requests.post(f"{dev_server.url}/v1/auth/approle/login",
                          json={"role_id": role_id, "secret_id": f"wrong-{i}"}, timeout=60)
        return r.status_code, r.json()["errors"][0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(guess, range(50)))
    assert all(s == 400 for s, _ in results), results
    locked = [e for _, e in results if "too many failed logins" in e]
    # At most 5 were checked: every other guess was refused without a check.
    assert len(results) - len(locked) <= 5, results
