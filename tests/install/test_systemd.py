"""The systemd units: valid to systemd itself, and agreeing on paths, users and hardening."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agents.cli import DEFAULT_STATE_DIR as AGENT_STATE_DIR
from panel import config as configuration
from tests.support import unavailable

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
ENTRY_POINT = "/opt/wadah/venv/bin/wadah"
PANEL_UNITS = ("wadah-web.service", "wadah-worker.service")
# The agent's sandbox, each directive of which fits the panel's processes too (same value).
SHARED_HARDENING = (
    "UMask", "KillMode", "StateDirectoryMode", "ProtectSystem", "ProtectHome", "PrivateTmp",
    "PrivateDevices", "NoNewPrivileges", "RestrictSUIDSGID", "AmbientCapabilities",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "LockPersonality",
    "RemoveIPC", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
)


def _directives(unit: str) -> dict[str, list[str]]:
    """Return {directive: values} of the unit's [Service] section (a directive may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def _environment(unit: str) -> dict[str, str]:
    return dict(value.split("=", 1) for value in _directives(unit).get("Environment", []))


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze is missing (scripts/bootstrap installs systemd)")
    # verify checks that ExecStart's program exists: the copies name a stand-in for the installed one.
    stand_in = tmp_path / "wadah"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    units = sorted(UNITS.glob("*.service"))
    assert [unit.name for unit in units] == ["wadah-agent.service", *PANEL_UNITS]
    for unit in units:
        text = unit.read_text()
        assert ENTRY_POINT in text, unit.name
        (tmp_path / unit.name).write_text(text.replace(ENTRY_POINT, str(stand_in)))
    done = subprocess.run([analyze, "verify", "--man=no", *(str(tmp_path / u.name) for u in units)],
                          capture_output=True, text=True, timeout=120)
    # Unknown or misspelt directives are only warnings to systemd: any output fails here.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("unit", PANEL_UNITS)
def test_the_panel_runs_as_its_own_user_with_its_config_and_state(unit: str) -> None:
    service = _directives(unit)
    assert service["User"] == service["Group"] == ["wadah"]
    assert service["StateDirectory"] == ["wadah"] and service["ConfigurationDirectory"] == ["wadah"]
    assert _environment(unit) == {"WADAH_CONFIG": "/etc/wadah/wadah.toml",
                                  "WADAH_STATE_DIR": "/var/lib/wadah", "PYTHONUNBUFFERED": "1"}
    assert service["ExecStart"][0].split()[0] == ENTRY_POINT
    assert service["CapabilityBoundingSet"] == [""]
    assert "ReadWritePaths" not in service  # StateDirectory= is the only writable place
    for directive in SHARED_HARDENING:
        assert service[directive] == _directives("wadah-agent.service")[directive], directive


def test_the_agent_stays_root_with_its_own_state() -> None:
    agent = _directives("wadah-agent.service")
    assert "User" not in agent and "DynamicUser" not in agent
    assert agent["ExecStart"][0].split()[0] == ENTRY_POINT
    assert agent["StateDirectory"] == ["wadah-agent"]
    assert _environment("wadah-agent.service")["WADAH_AGENT_STATE_DIR"] == AGENT_STATE_DIR


def test_the_system_user_is_the_units_and_the_web_listens_where_proxies_are_trusted(tmp_path: Path) -> None:
    fields = (UNITS / "wadah.sysusers.conf").read_text().strip().splitlines()[-1].split()
    assert fields[:2] == ["u", "wadah"] and "/var/lib/wadah" in fields
    argv = _directives("wadah-web.service")["ExecStart"][0].split()
    host = argv[argv.index("--bind") + 1].rpartition(":")[0]
    # nginx on the same machine connects from loopback: the default trusted proxy network.
    assert host == "127.0.0.1"
    assert "127.0.0.1/32" in configuration.defaults(tmp_path)["TRUSTED_PROXY_NETWORKS"]
