"""`reckon demo` as a user runs it: embedded PostgreSQL, a cluster, the demo tenant, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from coordinator.launcher import port_is_free
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _run_demo(data_dir: Path, port: int, nodes: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "RECKON_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "demo", "--port", str(port), "--nodes",
         str(nodes), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )
    out = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if "Ctrl-C stops everything" in line:
            return proc, "".join(out)
    proc.kill()
    raise AssertionError("demo did not come up:\n" + "".join(out))


def _stop(proc: subprocess.Popen[str]) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    return proc.wait(timeout=60)


def _children_gone(data_dir: Path) -> bool:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return str(data_dir) not in ps


def test_demo_starts_serves_stops_and_reuses_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    port = free_port()
    while not all(port_is_free(p) for p in (port + 1000, port + 1001, port + 1002)):
        port = free_port()
    proc, out = _run_demo(data_dir, port, nodes=2)
    try:
        key = (data_dir / "demo-api-key").read_text().strip()
        assert key in out and f"http://127.0.0.1:{port}" in out
        assert "imported 81 demo projects" in out
        r = httpx.post(f"http://127.0.0.1:{port}/v1/estimates",
                       headers={"Authorization": f"Bearer {key}"},
                       json={"title": "Order entry", "features": {"Transactions": 120}})
        assert r.status_code == 200, r.text
        assert r.json()["seq"] == 81 and len(r.json()["analogies"]) > 0
        assert httpx.get(f"http://127.0.0.1:{port}/v1/cluster").json()["live_nodes"] == 2
    finally:
        code = _stop(proc)
    assert code == 0
    time.sleep(1)
    assert _children_gone(data_dir), "coordinator, nodes and PostgreSQL all stopped"

    # A second run reuses the data and the key, and imports nothing again.
    proc, out = _run_demo(data_dir, port, nodes=1)
    try:
        assert "imported" not in out
        assert key == (data_dir / "demo-api-key").read_text().strip()
        r = httpx.get(f"http://127.0.0.1:{port}/v1/items/desharnais-7",
                      headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["actual"] > 0
    finally:
        assert _stop(proc) == 0


def test_demo_refuses_a_busy_port_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "coordinator.cli", "demo", "--port", str(port),
                            "--data-dir", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "in use" in r.stderr and "Traceback" not in r.stderr


def test_demo_uses_an_existing_postgresql_from_the_environment(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    while not all(port_is_free(p) for p in (port + 1000, port + 1001)):
        port = free_port()
    data_dir = tmp_path / "d"
    env = {**os.environ, "RECKON_DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "demo", "--port", str(port), "--nodes", "1",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        out = "".join(lines)
        assert "embedded PostgreSQL" not in out, out
        assert not (data_dir / "pgdata").exists()
        key = (data_dir / "demo-api-key").read_text().strip()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/estimates", json={"title": "x"},
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    finally:
        assert _stop(proc) == 0
