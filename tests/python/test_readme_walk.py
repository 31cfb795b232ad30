"""README.md's "From install to production" walk, run as written (paths moved under a temp
directory, the interactive prompts answered from `hush init`'s output), then its restore."""

import os
import re
import subprocess
from pathlib import Path

from conftest import HUSH_BIN, free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def walk_blocks():
    text = README.read_text()
    start = text.index("### From install to production, step by step")
    section = text[start:text.index("### Configuration", start)]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_production_walk_works_as_written(tmp_path):
    port = free_port()
    setup, restore = walk_blocks()

    def localize(script):
        for real, local in [
            ("/etc/hush", tmp_path / "etc"),
            ("/var/lib/hush", tmp_path / "lib"),
            ("/var/log/hush", tmp_path / "log"),
            ("/var/backups", tmp_path / "backups"),
        ]:
            script = script.replace(real, str(local))
        return script.replace(":8200", f":{port}")

    script = localize(setup)
    # Installing is what built the binary under test.
    assert "cargo install --locked --path crates/hush" in script
    script = script.replace("cargo install --locked --path crates/hush", "true")
    # The server runs as the binary itself, so that `kill %1` stops it, not a shell around it.
    script, started = re.subn(r"^hush (server --config \S+) &$",
                              rf'"{HUSH_BIN}" \1 > server.log 2>&1 &\nwait_up', script, flags=re.M)
    assert started == 1
    script = script.replace("hush init -recovery-shares=5 -recovery-threshold=3",
                            "hush init -recovery-shares=5 -recovery-threshold=3 | tee init.out")
    script = re.sub(r"^hush login .*$", 'hush login "$(awk \'/Initial Root Token/ {print $NF}\' '
                    'init.out)"', script, flags=re.M)
    script = re.sub(r"^hush operator rekey -target=recovery$",
                    'for i in 1 2 3; do hush operator rekey -target=recovery '
                    '"$(awk "/Recovery Key $i:/ {print \\$NF}" init.out)"; done',
                    script, flags=re.M)
    # The server started in the background is stopped however the script ends, so a failing
    # step leaves no server behind.
    prelude = f"""set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
hush() {{ "{HUSH_BIN}" "$@"; }}
wait_up() {{ for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && return; sleep 0.1; done; cat server*.log; exit 1; }}
mkdir -p {tmp_path / 'backups'}
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "HUSH_"))}
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    run = subprocess.run(["bash", "-c", prelude + script + "\nkill %1; wait\n"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "Recovery Key 5" in out and "chain intact" in out
    assert "The key shares were replaced" in out
    assert "Success! Snapshot of" in out and "Revoked token" in out
    snaps = list((tmp_path / "backups").glob("hush-*.snap"))
    assert len(snaps) == 1

    # The restore block: the second (offline, -force) form, into the stopped server's storage.
    lines = [l for l in localize(restore).splitlines() if l.startswith("hush ")]
    assert len(lines) == 2
    offline = lines[1].replace(re.search(r"\S+\.snap", lines[1]).group(0), str(snaps[0]))
    script = prelude + offline + f"""
"{HUSH_BIN}" server --config {tmp_path / 'etc' / 'hush.hcl'} > server2.log 2>&1 &
wait_up
export HUSH_ADDR=https://127.0.0.1:{port} HUSH_CACERT={tmp_path / 'etc' / 'tls' / 'server.pem'}
hush status
kill %1; wait
"""
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Restored the snapshot" in run.stdout
    assert re.search(r"Sealed\s+false", run.stdout), run.stdout
