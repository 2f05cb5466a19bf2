"""The report: markdown with the capacity answer and machine description, and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness.capacity import capacity_for
from bench.harness.machine import describe_machine
from bench.harness.report import LATENCY_PNG, NODES_PNG, ReportData, SweepRecord, write_report
from bench.harness.sweep import Objective, rate_steps, rate_sweep
from tests.bench.test_harness_sweep import synthetic

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_has_markdown_plots_and_json(tmp_path: Path) -> None:
    objective = Objective(10.0)
    records = [SweepRecord(f"{n} node(s)", n,
                           rate_sweep(synthetic(1000 * n * 0.9 ** (n - 1)),
                                      rate_steps(200, step=200), objective)) for n in (1, 2)]
    sustainable = {r.nodes: r.result.sustainable_rate for r in records if r.nodes}
    data = ReportData(
        name="unit", command="reckon bench --sweep nodes --nodes 1,2", machine=describe_machine(),
        scenario="estimate", target="synthetic", objective=objective, sweeps=records,
        capacity=capacity_for(10_000, 10.0, sustainable, 2), settings={"arrivals": "constant"})
    path = write_report(data, tmp_path)
    text = path.read_text()
    assert path == tmp_path / "unit" / "report.md"
    assert "you need" in text and "extrapolated" in text
    assert "reckon bench --sweep nodes --nodes 1,2" in text
    assert "Scaling with nodes" in text and "| 2 |" in text
    for pkg in ("hypercorn", "starlette", "pynng", "numba"):
        assert pkg in text
    assert data.machine.cores >= 1 and "CPU:" in text
    for png in (LATENCY_PNG, NODES_PNG):
        assert (tmp_path / "unit" / png).read_bytes()[:8] == PNG
    assert json.loads((tmp_path / "unit" / "results.json").read_text())["name"] == "unit"
