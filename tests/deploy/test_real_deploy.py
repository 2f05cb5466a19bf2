"""Deploy to real servers and upgrade them under load, with zero failed requests.

Two systemd-nspawn test hosts (systemd as PID 1, SSH, no internet) get the whole cluster
from ``ansible/site.yml``: PostgreSQL on the first, a coordinator and two node processes on
each (replication 2). After estimates are served, ``ansible/rolling.yml`` upgrades both to a
new release one at a time while a bounded load (at most 30,000 requests, at most 9 minutes,
addressed only to the test hosts) runs against both coordinators with client-side fail-over.
Needs root, systemd-nspawn, debootstrap and ansible-core; skipped otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy.load import FailoverLoad
from tests.deploy.nspawn_hosts import TestHosts, unavailable_reason

# Building the rootfs once, site.yml and rolling.yml under load: several minutes.
pytestmark = [pytest.mark.deploy, pytest.mark.integration, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
NODES_PER_HOST = 2


def _skip_reason() -> str | None:
    reason = unavailable_reason()
    if reason:
        return reason
    if not ANSIBLE_PLAYBOOK.exists() and shutil.which("ansible-playbook") is None:
        return "ansible-playbook is not installed (pip install ansible-core)"
    return None


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with TestHosts(tmp_path_factory.mktemp("hosts"), 2) as booted:
        yield booted


def _playbook(name: str, inventory: Path,
              *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    command = str(ANSIBLE_PLAYBOOK) if ANSIBLE_PLAYBOOK.exists() else "ansible-playbook"
    began = time.monotonic()
    proc = subprocess.run(
        [command, "-i", str(inventory), str(REPO / "ansible" / name), *extra],
        cwd=REPO / "ansible", text=True, capture_output=True, timeout=900,
    )
    return proc, time.monotonic() - began


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-6000:]


def _next_release_source(dest: Path) -> Path:
    """A copy of the checkout whose version differs: what the next release looks like."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".reckon", ".build",
        "secrets", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "*.nbi",
        "*.nbc"))
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(re.sub(r'(?m)^version = "([^"+]+)"', r'version = "\1+next"', text,
                                count=1))
    return dest


def test_site_then_rolling_upgrade_under_load(hosts: TestHosts, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    inventory = tmp_path / "inventory.ini"
    lines = ["[coordinators]"]
    lines += [f"{h.name} {hosts.inventory_vars(h)}" for h in hosts.hosts]
    lines += ["", "[nodes]", *(h.name for h in hosts.hosts)]
    lines += ["", "[postgres]", hosts.hosts[0].name, "", "[all:vars]",
              f"reckon_node_processes={NODES_PER_HOST}", "reckon_replication=2",
              f"reckon_build_dir={tmp_path / 'build'}",
              f"reckon_secrets_dir={tmp_path / 'secrets'}"]
    inventory.write_text("\n".join(lines) + "\n")

    proc, timings["site.yml"] = _playbook("site.yml", inventory)
    assert proc.returncode == 0, _tail(proc)
    assert f"{2 * NODES_PER_HOST} of {2 * NODES_PER_HOST} nodes live" in proc.stdout

    key_file = tmp_path / "secrets" / "admin.key"
    assert key_file.stat().st_mode & 0o077 == 0
    key = key_file.read_text().strip()
    urls = [f"http://{h.address}:8080" for h in hosts.hosts]
    auth = {"Authorization": f"Bearer {key}"}
    history = [{"id": f"h{i}", "title": f"{verb} {noun}", "actual": 1 + (i * 5) % 13}
               for i, (verb, noun) in enumerate(
                   (v, n) for v in ("add", "fix", "redesign") for n in
                   ("login page", "csv export", "billing report", "search", "audit log"))]
    r = httpx.post(urls[0] + "/v1/items", json={"items": history}, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    for url in urls:
        r = httpx.post(url + "/v1/estimates", json={"title": "add signup page"}, headers=auth,
                       timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert 0 < body["p10"] <= body["p50"] <= body["p90"]

    for h in hosts.hosts:
        check = hosts.ssh(h, "stat -c %a /etc/reckon/database.env /etc/reckon/cluster_secret; "
                             "systemctl show -p User -p ProtectSystem reckon-node@7101; "
                             "systemctl is-active reckon-coordinator reckon-node@7101 "
                             "reckon-node@7102")
        out = check.stdout.split()
        assert out[:2] == ["600", "600"], check.stdout
        assert "User=reckon" in out and "ProtectSystem=strict" in out, check.stdout
        assert out[-3:] == ["active"] * 3, check.stdout

    source = _next_release_source(tmp_path / "next-release")
    load = FailoverLoad(urls, key, workers=4, rate=40, max_requests=30_000, max_seconds=540)
    load.start()
    time.sleep(3)
    proc, timings["rolling.yml"] = _playbook("rolling.yml", inventory,
                                             "-e", f"reckon_source_dir={source}")
    time.sleep(3)
    report = load.stop()
    timings["load"] = report.seconds
    print(f"\ntimings (s): {timings}\nload: {report.summary()}")
    assert proc.returncode == 0, _tail(proc)
    assert report.failed == 0, report.summary()
    assert report.requests >= 1000, report.summary()
    assert all(report.by_coordinator[url] > 0 for url in urls), report.summary()

    for h in hosts.hosts:
        current = hosts.ssh(h, "readlink /opt/reckon/current").stdout.strip()
        assert "+next-" in current, current
        pid = hosts.ssh(h, "systemctl show -p MainPID --value reckon-node@7101").stdout.strip()
        cmdline = hosts.ssh(h, f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
        assert current in cmdline, cmdline
