"""deploy/skn-connector.service: systemd's own systemd-analyze verifies it (with ExecStart
pointed at this checkout's skn-connector, since verify looks for the program) and rates its
exposure; its hardening and supervision keys are checked by reading the file. systemd-analyze
must be installed: without it the verify tests fail, saying how to install it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "skn-connector.service"
INSTALLED_AT = "/opt/skn-connector/bin/skn-connector"
CLI = str(Path(sys.executable).parent / "skn-connector")


def service() -> dict[str, list[str]]:
    """The [Service] section: each key with its values (a key may repeat)."""
    values: dict[str, list[str]] = {}
    section = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        if section == "[Service]":
            values.setdefault(key, []).append(value)
    return values


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail(
            "systemd-analyze is not installed; on Debian or Ubuntu: apt-get install -y "
            "--no-install-recommends systemd (.ci/run does so)",
            pytrace=False,
        )
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def checkable(tmp_path: Path) -> Path:
    """The unit as it is, but for ExecStart's program: this checkout's skn-connector."""
    text = UNIT.read_text()
    assert text.count(INSTALLED_AT) == 1
    unit = tmp_path / "skn-connector.service"
    unit.write_text(text.replace(INSTALLED_AT, CLI))
    return unit


def test_systemd_analyze_verifies_the_unit(checkable: Path) -> None:
    verified = systemd_analyze("verify", str(checkable))
    # verify exits 0 on an unknown key too, and says so: nothing may be said
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "" and verified.stderr.strip() == "", verified.stderr


def test_systemd_rates_the_unit_well_hardened(checkable: Path) -> None:
    rated = systemd_analyze("security", "--offline=yes", "--threshold=25", str(checkable))
    assert rated.returncode == 0, rated.stdout[-2000:]
    assert "Overall exposure level for skn-connector.service:" in rated.stdout


def test_the_unit_is_a_supervised_and_hardened_service() -> None:
    keys = service()
    expected = {
        "Type": ["notify"],
        "NotifyAccess": ["main"],
        "Restart": ["on-failure"],
        "User": ["skn-connector"],
        "Group": ["skn-connector"],
        "StateDirectory": ["skn-connector"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "CapabilityBoundingSet": [""],
        "SystemCallFilter": ["@system-service"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "UMask": ["0077"],
    }
    for key, value in expected.items():
        assert keys.get(key) == value, (key, keys.get(key))
    assert keys["ExecStart"] == [f"{INSTALLED_AT} run -c /etc/skn-connector/skn-connector.toml"]
    # the watchdog: the daemon pings every half of it; a stop waits 10 s for the running step
    assert keys["WatchdogSec"] == ["60s"]
    assert int(keys["TimeoutStopSec"][0].removesuffix("s")) > 10
    # the private key's password as a credential, read as secret:client-key
    assert "client-key:/etc/skn-connector/client-key.pass" in keys["LoadCredential"]
    commented = UNIT.read_text()
    assert "# LoadCredential=" in commented  # and how an adapter's secret goes
    # no section or key systemd would not parse
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"
