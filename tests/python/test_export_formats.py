"""`hush export` output read back by the tools that consume it: python-dotenv for .env files and
kubernetes-validate (offline schemas) for Kubernetes Secret manifests."""

import base64
import os
import subprocess

import hvac
from dotenv import dotenv_values

from conftest import HUSH_BIN

HOSTILE = {
    "PLAIN": "value",
    "QUOTES": "it's \"quoted\"",
    "NEWLINES": "line one\nline two\n",
    "DOLLAR": "price $5 and ${HOME} and $(whoami)",
    "EQUALS": "a=b=c",
    "UNICODE": "héllo wörld ✓ 秘密",
    "BACKSLASH": "C:\\path\\to\\file",
    "SPACES": "  padded  ",
}


def hush(dev_server, *args, check=True):
    env = dict(os.environ, HUSH_ADDR=dev_server.url, HUSH_TOKEN="root")
    return subprocess.run([HUSH_BIN, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=check)


def seed(dev_server):
    client = hvac.Client(url=dev_server.url, token="root")
    client.secrets.kv.v2.create_or_update_secret(path="app/hostile", secret=HOSTILE)


def test_dotenv_output_reads_back_exactly(dev_server, tmp_path):
    seed(dev_server)
    for fmt in ["dotenv", "dotenv-export"]:
        out = tmp_path / f"{fmt}.env"
        hush(dev_server, "export", "--path", "secret/app/hostile", "--format", fmt, "-o", str(out))
        assert oct(out.stat().st_mode & 0o777) == "0o600"
        # python-dotenv expands ${...} unless told not to; nothing in a .env file can stop that.
        assert dotenv_values(out, interpolate=False) == HOSTILE, out.read_text()
        # -o refuses to overwrite without --force.
        r = hush(dev_server, "export", "--path", "secret/app/hostile", "--format", fmt, "-o",
                 str(out), check=False)
        assert r.returncode != 0 and "force" in r.stderr


def test_k8s_secret_manifest_is_valid(dev_server, tmp_path):
    seed(dev_server)
    out = tmp_path / "secret.yaml"
    hush(dev_server, "export", "--path", "secret/app/hostile", "--format", "k8s-secret",
         "--name", "app-secrets", "--namespace", "prod", "-o", str(out))
    r = subprocess.run([os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..",
                                     ".venv", "bin", "kubernetes-validate"), "--strict",
                        str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    import yaml  # installed with kubernetes-validate

    doc = yaml.safe_load(out.read_text())
    assert doc["kind"] == "Secret" and doc["metadata"]["name"] == "app-secrets"
    assert doc["metadata"]["namespace"] == "prod"
    decoded = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert decoded == HOSTILE
