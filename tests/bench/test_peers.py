"""The peers (bench/peers): they start, answer the estimate an in-process estimator trained on
the same history gives, refuse a wrong key, and stop without leaving processes behind; and a
short real ``reckon bench --peer fastapi`` run writes a report."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bench.harness.history import history_csv, history_items
from bench.harness.scenarios import Scenario
from bench.harness.targets import Endpoint, TargetError, server_process, started_peer

ITEM = {"title": "Inventory sync job", "description": "nightly sync with the warehouse",
        "features": {"Transactions": 120, "Entities": 40, "Language": "basic"}}


def _expected(item: dict[str, Any], quantiles: list[float]) -> dict[str, Any]:
    from bench.peers.service import trained_estimator

    p = trained_estimator().predict(item["title"], item.get("description", ""),
                                    item["features"], np.asarray(quantiles))
    return {"quantiles": [float(q) for q in p.quantiles], "point": float(p.median),
            "analogies": [a.item_id for a in p.analogies]}


def _check_answers(endpoint: Endpoint) -> None:
    auth = {"Authorization": f"Bearer {endpoint.key}"}
    r = httpx.post(endpoint.url + "/v1/estimates", json={**ITEM, "quantiles": [0.25]},
                   headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    got = r.json()
    want = _expected(ITEM, [0.1, 0.25, 0.5, 0.9])
    assert list(got["quantiles"]) == ["0.1", "0.25", "0.5", "0.9"]
    assert list(got["quantiles"].values()) == pytest.approx(want["quantiles"], rel=1e-9)
    assert got["point"] == pytest.approx(want["point"], rel=1e-9)
    assert got["p50"] == got["quantiles"]["0.5"]
    assert [a["id"] for a in got["analogies"]] == want["analogies"]
    assert got["model_version"].endswith(f"@{len(history_items())}")
    assert {"id", "item_id", "p10", "p90", "seq", "drivers"} <= set(got)
    batch = httpx.post(endpoint.url + "/v1/estimates/batch",
                       json={"items": [ITEM, {"title": "Order entry screens"}]},
                       headers=auth, timeout=30)
    assert batch.status_code == 200 and batch.json()["count"] == 2
    assert batch.json()["estimates"][0]["point"] == pytest.approx(want["point"], rel=1e-9)
    assert httpx.post(endpoint.url + "/v1/estimates", json=ITEM, timeout=30,
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad = httpx.post(endpoint.url + "/v1/estimates", json={"title": ""}, headers=auth,
                     timeout=30)
    assert bad.status_code == 422


def test_history_items_are_the_imported_csv() -> None:
    items = history_items()
    rows = [x for x in history_csv().decode().splitlines()[1:] if x.strip()]
    assert len(items) == len(rows) == 81
    assert all(it["actual"] > 0 and it["title"] for it in items)
    assert items[0]["id"] == "desharnais-1" and items[0]["features"]["Language"] == "basic"


def test_fastapi_peer_answers_like_an_in_process_estimator() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    with started_peer("fastapi") as endpoint:
        assert endpoint.seeded and endpoint.key
        _check_answers(endpoint)
        # The harness's own requests pass too (what the scenarios send).
        scenario = Scenario(endpoint.host, endpoint.port, endpoint.key, {"batch": 1.0},
                            batch_size=5)
        raw = scenario(0).requests[0]
        r = httpx.post(endpoint.url + "/v1/estimates/batch",
                       content=raw.split(b"\r\n\r\n", 1)[1],
                       headers={"Authorization": f"Bearer {endpoint.key}",
                                "Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200 and r.json()["count"] == 5


def test_ray_peer_answers_and_shuts_ray_down() -> None:
    pytest.importorskip("ray")
    pytest.importorskip("fastapi")
    before = set(Path(tempfile.gettempdir()).glob("rkray*"))
    with started_peer("ray") as endpoint:
        _check_answers(endpoint)
        [ours] = set(Path(tempfile.gettempdir()).glob("rkray*")) - before
        assert subprocess.run(["pgrep", "-f", str(ours)], capture_output=True).stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(endpoint.url + "/health", timeout=2)
    # Ray's processes (raylet, GCS, workers, Serve's proxy) are gone, and so is its temp dir.
    assert subprocess.run(["pgrep", "-f", str(ours)], capture_output=True).stdout == b""
    assert not ours.exists()


def test_a_server_that_exits_while_starting_is_a_target_error() -> None:
    argv = [sys.executable, "-c", "import sys; print('no model here'); sys.exit(3)"]
    with pytest.raises(TargetError, match=r"status 3.*no model here"):
        with server_process(argv, lambda: False, "the test server", timeout=10):
            pass


def test_a_started_server_is_stopped_on_interrupt() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(KeyboardInterrupt):
        with server_process(argv, lambda: True, "the test server", timeout=10, grace=2) as proc:
            raise KeyboardInterrupt
    assert proc.poll() is not None


def test_short_real_run_against_the_fastapi_peer(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    proc = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "bench", "--peer", "fastapi", "--sweep",
         "rate", "--start", "50", "--step", "50", "--max-steps", "2", "--duration", "1s",
         "--warmup", "0.5s", "--until-p99", "1s", "--also-p99", "500ms", "--name", "peer",
         "--results-dir", str(tmp_path), "--max-time", "40s"],
        capture_output=True, text=True, timeout=60, env={"MPLBACKEND": "Agg", **os.environ})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "peer" / "report.md").read_text()
    assert "Rate sweep: FastAPI + Uvicorn" in text and "At p99 ≤ 1000 ms" in text
    assert "fastapi" in text and "uvicorn" in text  # the peers' versions
    assert (tmp_path / "peer" / "p99_vs_offered_load_by_system.png").exists()
