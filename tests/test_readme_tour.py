"""The README's five-minute tour runs as written.

The block under "A five-minute tour" is run with bash, line by line as a new user would
type it, against the real simulator and a real store. Two things differ from a person at a
terminal, and only these: the tour's folder (/tmp/skn-tour) is a temporary one, and the
simulator's ports (8450 and 8451) are free ones, so that tests do not collide; after the
line that starts the simulator in the background the script waits until it answers, as a
person would wait to see its first line. Every command must exit 0.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tour() -> list[str]:
    """The tour's command lines (continuations joined), as the README has them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the tour has no sh block"
    lines: list[str] = []
    pending = ""
    for line in block.group(1).splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [line for line in lines if line.strip()]


def free_port_pair() -> int:
    """A port whose successor is free too (the simulator's admin API takes port + 1)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port >= 65534:
            continue
        with socket.socket() as admin:
            try:
                admin.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def script(lines: list[str], folder: Path, port: int) -> str:
    # a failing line ends the script: the simulator started in the background goes with it
    out = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for line in lines:
        line = line.replace("/tmp/skn-tour", str(folder))
        line = line.replace("8451", str(port + 1)).replace("8450", str(port))
        out.append(f"echo '$ {line.split('#')[0].strip()}'")
        out.append(line)
        if re.search(r"&\s*(#.*)?$", line):
            out.append(
                f"for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:{port + 1}"
                "/_admin/stats && break; sleep 0.1; done"
            )
    return "\n".join(out) + "\n"


def test_the_tour_is_runnable_and_every_command_succeeds(tmp_path: Path) -> None:
    lines = tour()
    assert any(line.startswith("skn-connector init --port 8450") for line in lines)
    folder = tmp_path / "skn-tour"
    port = free_port_pair()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["bash", "-c", script(lines, folder, port)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    # what the tour promises: a saldo answer with the sample debtor's claims, a
    # GeenMedewerking for the stranger, a hold, and a doctor that passed
    assert '"Berichttype": "SaldoverzoekAntwoord"' in done.stdout.replace("'", '"')
    assert "answered: 1 GeenMedewerking, 1 SaldoverzoekAntwoord" in done.stdout
    assert "H_COV_SALDO" in done.stdout
    assert "doctor: all checks passed" in done.stdout
