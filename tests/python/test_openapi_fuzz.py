"""The OpenAPI document covers every backend's paths, and schemathesis, generating requests from
it against a real dev server, finds no answer in the 5xx range."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import requests
from openapi_spec_validator import validate

ROOT = {"X-Vault-Token": "root"}
AUTH_METHODS = ("userpass", "approle", "kubernetes", "jwt")


def _mount_everything(url):
    for kind in AUTH_METHODS:
        r = requests.post(f"{url}/sys/auth/{kind}", json={"type": kind}, headers=ROOT)
        assert r.status_code == 204, r.text
    r = requests.post(f"{url}/sys/mounts/kv1", json={"type": "kv"}, headers=ROOT)
    assert r.status_code == 204, r.text


def test_openapi_covers_sys_token_kv_and_auth_paths(dev_server):
    url = f"{dev_server.url}/v1"
    _mount_everything(url)
    r = requests.get(f"{url}/sys/internal/specs/openapi", headers=ROOT)
    assert r.status_code == 200, r.text
    doc = r.json()
    validate(doc)
    paths = doc["paths"]
    for p in ["/sys/mounts/{path}", "/sys/mounts/{path}/tune", "/sys/policies/acl/{name}",
              "/sys/capabilities-self", "/sys/audit/{path}", "/sys/wrapping/unwrap",
              "/sys/quotas/rate-limit/{name}", "/sys/leases/revoke-prefix/{prefix}",
              "/sys/seal-status", "/sys/health",
              "/auth/token/create", "/auth/token/lookup-self", "/auth/token/roles/{role_name}",
              "/secret/config", "/secret/data/{path}", "/secret/metadata/{path}",
              "/secret/subkeys/{path}", "/secret/destroy/{path}", "/kv1/{path}",
              "/auth/userpass/users/{name}", "/auth/approle/role/{role_name}",
              "/auth/kubernetes/login", "/auth/jwt/role/{name}"]:
        assert p in paths, (p, sorted(paths))
    assert paths["/sys/auth/{path}"]["x-vault-sudo"] is True
    assert "list" in str(paths["/secret/metadata/{path}"]["get"]["parameters"])
    assert set(paths["/secret/data/{path}"]) >= {"get", "post", "patch", "delete"}
    token_create = paths["/auth/token/create"]["post"]["requestBody"]
    assert "policies" in token_create["content"]["application/json"]["schema"]["properties"]


def test_schemathesis_finds_no_server_error(dev_server, tmp_path):
    url = f"{dev_server.url}/v1"
    _mount_everything(url)
    spec = tmp_path / "openapi.json"
    spec.write_bytes(requests.get(f"{url}/sys/internal/specs/openapi", headers=ROOT).content)
    report = tmp_path / "junit.xml"
    exe = Path(sys.executable).with_name("schemathesis")
    # Sealing, stepping down and revoking the request token would end the run early; every
    # other operation, writes and deletes included, is exercised with the root token.
    cmd = [str(exe), "run", str(spec), "--url", url, "-H", "X-Vault-Token: root",
           "--checks", "not_a_server_error", "--max-examples",
           os.environ.get("HUSH_SCHEMATHESIS_EXAMPLES", "25"), "--seed", "20261203",
           "--exclude-path-regex", r"^/(sys/seal|sys/step-down|auth/token/revoke-self)$",
           "--phases", "coverage,fuzzing", "--no-shrink", "--warnings", "off",
           "--request-timeout", "10", "--report-junit-path", str(report)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    suite = ET.parse(report).getroot()
    cases = suite.iter("testcase")
    tested = sum(1 for _ in cases)
    assert tested >= 150, f"only {tested} operations were tested:\n{run.stdout[-3000:]}"
    assert "panicked" not in dev_server.output()
    # The run was authenticated throughout and left the server serving.
    r = requests.get(f"{url}/auth/token/lookup-self", headers=ROOT)
    assert r.status_code == 200, r.text
    assert requests.get(f"{url}/sys/seal-status").json()["sealed"] is False
