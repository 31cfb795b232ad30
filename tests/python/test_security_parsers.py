"""Deeply nested input is refused with a clear error and never crashes the server or the CLI."""

import subprocess
import time

import pytest
import requests

from conftest import HUSH_BIN

ROOT = {"X-Vault-Token": "root"}


def nested(kind, depth):
    if kind == "[":
        return "[" * depth + "]" * depth
    if kind == "{":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "mixed":
        return "[{(" * (depth // 3) + ")}]" * (depth // 3)
    # Operators nest in the parser as brackets do: unary, binary and conditional chains.
    if kind == "!":
        return "!" * depth + "true"
    if kind == "+":
        return "+".join(["1"] * depth)
    return "true ? 1 : " * depth + "2"


@pytest.mark.parametrize("depth", [500, 5000, 100000])
@pytest.mark.parametrize("kind", ["[", "{", "mixed", "!", "+", "?:"])
def test_deep_policies_are_400_and_the_server_stays_up(dev_server, kind, depth):
    bodies = [
        f'path "secret/*" {{ capabilities = ["read"] allowed_parameters = {{ "x" = {nested(kind, depth)} }} }}',
        f'{{"path": {{"secret/*": {{"capabilities": {nested(kind, depth)}}}}}}}',
        f'x = "${{{nested(kind, depth)}}}"',
    ]
    for text in bodies:
        r = requests.put(f"{dev_server.url}/v1/sys/policies/acl/deep", json={"policy": text},
                         headers=ROOT, timeout=30)
        assert r.status_code == 400, r.text[:300]
        error = r.json()["errors"][0]
        assert "nested" in error or "syntax" in error or "limit" in error, r.text[:300]
    # The server is alive and nothing was stored.
    assert requests.get(f"{dev_server.url}/v1/sys/health", timeout=10).status_code == 200
    assert requests.get(f"{dev_server.url}/v1/sys/policies/acl/deep", headers=ROOT).status_code == 404


def test_a_policy_over_the_size_limit_is_400(dev_server):
    text = 'path "secret/*" { capabilities = ["read"] }\n' + "# filler\n" * 200_000
    r = requests.put(f"{dev_server.url}/v1/sys/policies/acl/big", json={"policy": text},
                     headers=ROOT, timeout=30)
    assert r.status_code == 400 and "limit" in r.json()["errors"][0], r.text[:300]


def test_a_deeply_nested_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "deep.hcl"
    for kind in ["[", "!", "+", "?:"]:
        cfg.write_text('storage "inmem" {}\nx = ' + nested(kind, 100000) + "\n")
        out = subprocess.run([HUSH_BIN, "server", "--config", str(cfg)], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 1, (kind, out.returncode, out.stderr[-500:])
        assert "nested more than 64 levels" in out.stderr, out.stderr[-500:]


def test_arithmetic_in_a_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "nan.hcl"
    cfg.write_text('storage "inmem" {}\nui = 0/0\n')
    out = subprocess.run([HUSH_BIN, "server", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1, (out.returncode, out.stderr[-500:])
    assert "arithmetic" in out.stderr and "must be literals" in out.stderr, out.stderr[-500:]


def test_unbalanced_policies_are_refused_at_once(dev_server):
    # Unclosed `[` inside `{`: the HCL parser's backtracking doubled per level (30 levels took
    # minutes); such text is refused before the parser sees it.
    text = 'path "a" {\n' + "z.hcl[# c\n" * 30
    start = time.time()
    r = requests.put(f"{dev_server.url}/v1/sys/policies/acl/slow", json={"policy": text},
                     headers=ROOT, timeout=30)
    assert time.time() - start < 2
    assert r.status_code == 400 and "is not closed" in r.json()["errors"][0], r.text[:300]
    assert requests.get(f"{dev_server.url}/v1/sys/policies/acl/slow", headers=ROOT).status_code == 404
