"""The report: markdown with the capacity answer and machine description, and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.harness.capacity import capacity_for
from bench.harness.comparison import compare_systems
from bench.harness.machine import describe_machine
from bench.harness.report import (
    COMPARE_PNG,
    LATENCY_PNG,
    NODES_PNG,
    ReportData,
    SweepRecord,
    write_report,
)
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


def test_comparison_report_renders_from_synthetic_results(tmp_path: Path) -> None:
    objectives = [Objective(10.0), Objective(100.0)]
    capacities = {"reckon": 2000.0, "fastapi": 800.0, "ray": 58.0}
    labels = {"reckon": "reckon (1 node)", "fastapi": "FastAPI + Uvicorn", "ray": "Ray Serve"}
    records = [SweepRecord(labels[s], 1 if s == "reckon" else None,
                           rate_sweep(synthetic(c), rate_steps(50, factor=1.5, max_steps=12),
                                      objectives[1]), s) for s, c in capacities.items()]
    comparison = compare_systems(records, objectives)
    assert comparison.baseline == "reckon (1 node)"
    at10 = {s.label: s for s in comparison.under(10.0)}
    assert at10["Ray Serve"].rate == 0 and at10["Ray Serve"].ratio is None
    fast = at10["FastAPI + Uvicorn"]
    assert fast.ratio == pytest.approx(at10["reckon (1 node)"].rate / fast.rate)
    at100 = {s.label: s for s in comparison.under(100.0)}
    assert at100["Ray Serve"].rate > 0 and at100["Ray Serve"].ratio > 5
    data = ReportData(
        name="cmp", command="reckon bench --compare reckon,fastapi,ray", machine=describe_machine(),
        scenario="estimate", target="synthetic", objective=objectives[1], sweeps=records,
        comparison=comparison)
    text = write_report(data, tmp_path).read_text()
    assert "## Comparison" in text and "reckon (1 node) ÷ system" in text
    assert "| Ray Serve | 0 | — | n/a |" in text
    assert f"{fast.ratio:.1f}x" in text
    assert "At p99 ≤ 10 ms" in text and "Ray Serve: no step met it" in text
    assert (tmp_path / "cmp" / COMPARE_PNG).read_bytes()[:8] == PNG
    saved = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert saved["comparison"]["objectives"] == [10.0, 100.0]


def test_comparison_marks_a_capacity_that_never_broke_as_a_lower_bound() -> None:
    objective = Objective(10.0)
    records = [SweepRecord("reckon (1 node)", 1,
                           rate_sweep(synthetic(500), rate_steps(100, step=100), objective),
                           "reckon"),
               SweepRecord("FastAPI + Uvicorn", None,
                           rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=3),
                                      objective), "fastapi")]
    comparison = compare_systems(records, [objective])
    reckon, fast = comparison.under(10.0)
    assert not reckon.at_least and fast.at_least and fast.rate == 300
    assert "FastAPI + Uvicorn: ≥300 ops/s" in comparison.sentence(10.0)
    assert f"≤{fast.ratio:.1f}x" in comparison.sentence(10.0)


def test_a_mixed_load_reports_latency_per_operation_kind(tmp_path: Path) -> None:
    import asyncio

    from bench.cluster_setup import free_port
    from bench.harness.echo_server import EchoServer
    from bench.harness.openloop import Operation, PoolConfig, Schedule, run_open_loop
    from bench.harness.runner import to_step
    from bench.harness.sweep import SweepResult
    from bench.loadgen import build_request

    async def mixed() -> object:
        server = EchoServer(delay=0.0)
        port = free_port()
        started = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(server.serve(port, started))
            await asyncio.wait_for(started.wait(), 5)
            request = build_request("127.0.0.1", port, "/", b"{}", {})
            ops = [Operation("estimate", (request,)), Operation("batch", (request,), 50)]
            result = await run_open_loop("127.0.0.1", port, lambda i: ops[i % 3 == 0],
                                         Schedule(300, 1.0, 1000), PoolConfig(connections=4))
            serving.cancel()
        return result

    step = to_step(asyncio.run(mixed()))  # type: ignore[arg-type]
    assert set(step.by_kind) == {"batch", "estimate"}
    assert step.by_kind["batch"].ok == 100 and step.by_kind["estimate"].ok == 200
    assert 0 < step.by_kind["estimate"].p50_ms <= step.by_kind["estimate"].p99_ms
    objective = Objective(1000.0)
    record = SweepRecord("mix", None, SweepResult([step], step, None))
    data = ReportData(name="mix", command="reckon bench --scenario mix", machine=describe_machine(),
                      scenario="mix(estimate=67,batch=33)", target="echo", objective=objective,
                      sweeps=[record])
    text = write_report(data, tmp_path).read_text()
    assert "Per operation kind" in text
    assert "| 300 | batch | 100 | 0 |" in text and "| 300 | estimate | 200 | 0 |" in text
    saved = json.loads((tmp_path / "mix" / "results.json").read_text())
    assert saved["sweeps"][0]["result"]["steps"][0]["by_kind"]["batch"]["ok"] == 100


def _data(records: list[SweepRecord], **kw: object) -> ReportData:
    return ReportData(name="r", command="reckon bench", machine=describe_machine(),
                      scenario="estimate", target="synthetic", objective=Objective(10.0),
                      sweeps=records, **kw)  # type: ignore[arg-type]


def test_the_outcome_of_a_sweep_never_contradicts_itself() -> None:
    from bench.harness.report import render_markdown
    from bench.harness.sweep import SweepResult

    objective = Objective(10.0)
    cases = {
        "broke": rate_sweep(synthetic(1001), rate_steps(200, step=200), objective),
        "at once": rate_sweep(synthetic(50), rate_steps(100, step=100), objective),
        "never": rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=2), objective),
        "cut": SweepResult(rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=2),
                                      objective).steps[:1], None, None,
                           "stopped at the --max-time bound before 200/s"),
        "nothing": SweepResult([], None, None, "stopped at the --max-time bound before 10/s"),
    }
    cases["cut"].sustainable = cases["cut"].steps[0]
    texts = {k: render_markdown(_data([SweepRecord(k, None, r)])) for k, r in cases.items()}
    for k, text in texts.items():
        said = [p for p in ("Even the first step broke", "never broke", "No step was measured",
                            "Stopped:") if p in text]
        assert said, k
        assert not ("Even the first step broke" in text and "never broke" in text), k
    assert "Stopped: at 1000/s offered" in texts["broke"]
    assert "Even the first step broke" in texts["at once"]
    assert "capacity was not reached" in texts["never"]
    assert "never broke (stopped at the --max-time bound before 200/s)" in texts["cut"]
    assert "No step was measured (stopped at the --max-time bound" in texts["nothing"]
    assert "Highest sustainable" not in texts["nothing"]


def test_failures_are_reported_by_kind() -> None:
    from bench.harness.report import render_markdown
    from bench.harness.sweep import Step, SweepResult

    bad = Step(10, 0, 0, 1, 1, 1, 1, 1, 10, 10, failure_kinds={"HTTP 401": 10},
               failure_examples={"HTTP 401": '{"title": "Unauthorized",\n "detail": "bad key"}'})
    text = render_markdown(_data([SweepRecord("wrong key", None,
                                              SweepResult([bad], None, "at 10/s offered: "
                                                          "10 of 10 operations failed "
                                                          "(HTTP 401: 10)"))]))
    assert "Failures by kind" in text and "- 10/s offered, 10 of 10 failed — HTTP 401: 10" in text
    assert "Stopped: at 10/s offered: 10 of 10 operations failed (HTTP 401: 10)." in text
    assert ('  - the first HTTP 401 answered: `{"title": "Unauthorized", "detail": "bad key"}`'
            in text)
    clean = rate_sweep(synthetic(1e6), rate_steps(100, step=100, max_steps=2), Objective(10.0))
    assert "Failures by kind" not in render_markdown(_data([SweepRecord("ok", None, clean)]))


def test_an_unsaturated_run_gives_no_server_count_as_the_answer(tmp_path: Path) -> None:
    objective = Objective(10.0)
    single = rate_sweep(synthetic(1e6), iter([10.0]), objective)  # one --rate 10 step
    assert not single.capacity_reached
    answer = capacity_for(100, 10.0, {1: single.sustainable_rate}, 2, not_reached={1},
                          unit="batches/s")
    text = write_report(_data([SweepRecord("1 node", 1, single)], capacity=answer),
                        tmp_path).read_text()
    assert "For 100 batches/s at p99 under 10 ms you need 5 servers" not in text
    assert "Upper bound only" in text and "No exact server count" in text
    assert "at most 5 servers" in text and "100 batches/s" in text
