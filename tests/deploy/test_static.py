"""Static checks of the deployment: unit files, playbooks, roles and the example inventory."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
ANSIBLE = REPO / "ansible"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", ["reckon-coordinator.service", "reckon-node@.service"])
def test_units_are_hardened_and_stop_gracefully(name: str) -> None:
    service = _unit(name)["Service"]
    expected = {
        "User": "reckon", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "KillSignal": "SIGTERM", "Restart": "on-failure", "CapabilityBoundingSet": "",
    }
    for key, value in expected.items():
        assert service.get(key) == value, f"{name}: {key}={service.get(key)!r}"
    # The node drains for 10 s by default; systemd must wait longer before SIGKILL.
    assert int(service["TimeoutStopSec"]) > 10
    assert "MemoryDenyWriteExecute" not in service  # Numba's JIT writes code pages
    # Repeated keys (Environment=) are not kept by configparser: read the text.
    assert "Environment=NUMBA_CACHE_DIR=/var/cache/reckon/numba" in (UNITS / name).read_text()


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    system_units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                         if (p / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no systemd unit directory to verify against")
    # A root holding the system's units, ours, and the executable they start.
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in ("reckon-coordinator.service", "reckon-node@.service"):
        shutil.copy(UNITS / unit, root / "etc/systemd/system" / unit)
    exe = root / "opt/reckon/current/bin/reckon"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    proc = subprocess.run(
        [analyze, "verify", f"--root={root}", "reckon-coordinator.service",
         "reckon-node@7101.service"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "reckon" not in output, output  # no warnings about our units either


def test_roles_install_the_units_from_the_systemd_directory() -> None:
    assert not list(ANSIBLE.rglob("*.service")), "unit copies under ansible/"
    defaults = (ANSIBLE / "roles/reckon_service/defaults/main.yml").read_text()
    assert 'reckon_units_dir: "{{ playbook_dir }}/../systemd"' in defaults


def test_rolling_upgrade_stops_at_the_first_failed_server() -> None:
    text = (ANSIBLE / "rolling.yml").read_text()
    assert "serial: 1" in text
    assert "max_fail_percentage: 0" in text
    assert "any_errors_fatal: true" in text


def test_example_inventory_parses_with_the_groups_the_playbooks_use() -> None:
    proc = subprocess.run([_tool("ansible-inventory"), "-i", str(REPO / "inventory.example.ini"),
                           "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)
    for group in ("coordinators", "nodes", "postgres"):
        assert groups[group]["hosts"], group


@pytest.mark.parametrize("playbook", ["site.yml", "rolling.yml"])
def test_playbooks_pass_syntax_check(playbook: str) -> None:
    proc = subprocess.run(
        [_tool("ansible-playbook"), "--syntax-check", "-i", str(REPO / "inventory.example.ini"),
         str(ANSIBLE / playbook)],
        capture_output=True, text=True, cwd=ANSIBLE, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ansible-lint"), "--nocolor", "-c", str(ANSIBLE / ".ansible-lint"), str(ANSIBLE)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
