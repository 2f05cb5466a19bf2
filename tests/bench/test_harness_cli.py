"""``reckon bench`` argument errors (exit 2, one line), and one short real run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness.cli import main
from bench.harness.options import parse_duration
from bench.harness.scenarios import Scenario, parse_mix


@pytest.mark.parametrize("argv, message", [
    ([], "exactly one target"),
    (["--nodes", "1", "--url", "http://127.0.0.1:9", "--rate", "10"], "exactly one target"),
    (["--nodes", "1"], "--rate R"),
    (["--nodes", "1,2", "--sweep", "rate"], "--sweep nodes"),
    (["--url", "http://127.0.0.1:9", "--sweep", "rate"], "--key"),
    (["--nodes", "1", "--sweep", "rate", "--until-p99", "soon"], "bad duration"),
    (["--nodes", "1", "--sweep", "rate", "--step", "1", "--factor", "2"], "not both"),
    (["--nodes", "0", "--rate", "10"], "node counts"),
    (["--nodes", "1", "--rate", "10", "--scenario", "mix", "--mix", "estimate=x"], "weight"),
    (["--nodes", "1", "--rate", "-5"], "--rate must be positive"),
    (["--nodes", "1", "--rate", "5", "--bogus"], "unrecognized"),
    (["--url", "ftp://127.0.0.1:9", "--key", "k", "--rate", "5"], "http://"),
    (["--peer", "fastapi", "--nodes", "1", "--rate", "5"], "exactly one target"),
    (["--peer", "fastapi", "--echo-server", "--rate", "5"], "exactly one target"),
    (["--compare", "reckon,fastapi", "--peer", "ray", "--rate", "5"], "exactly one target"),
    (["--peer", "nginx", "--rate", "5"], "invalid choice"),
    (["--compare", "reckon", "--rate", "5"], "at least two"),
    (["--compare", "reckon,reckon", "--rate", "5"], "at least two"),
    (["--compare", "reckon,django", "--rate", "5"], "bad --compare entry"),
    (["--compare", "fastapi,ray", "--nodes", "1", "--rate", "5"], "add reckon"),
    (["--compare", "reckon,fastapi", "--nodes", "1,2", "--sweep", "nodes"], "one node count"),
    (["--peer", "fastapi", "--rate", "5", "--scenario", "actual"], "estimates only"),
    (["--peer", "fastapi", "--rate", "5", "--peer-workers", "0"], "--peer-workers"),
    (["--nodes", "1", "--sweep", "rate", "--also-p99", "20ms"], "stricter"),
    (["--nodes", "1", "--rate", "5", "--coordinators", "0"], "--coordinators"),
    (["--nodes", "1", "--rate", "5", "--tenants", "0"], "--tenants"),
    (["--peer", "fastapi", "--rate", "5", "--tenants", "2"], "local cluster"),
    (["--url", "http://127.0.0.1:9", "--key", "k", "--rate", "5", "--coordinators", "2"],
     "local cluster"),
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_peer_package_exits_2_with_the_install_hint(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    for argv in (["--peer", "ray", "--rate", "5"],
                 ["--compare", "reckon,fastapi,ray", "--sweep", "rate"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "install the peers extra: pip install '.[peers]'" in err and "ray" in err


def test_compare_and_peer_configurations() -> None:
    from bench.harness.options import BenchConfig, build_parser, config_from_args

    def config(*argv: str) -> BenchConfig:
        return config_from_args(build_parser().parse_args(list(argv)), environ={})

    c = config("--compare", "reckon,fastapi", "--sweep", "rate", "--until-p99", "100ms",
               "--also-p99", "10ms")
    assert c.compare == ["reckon", "fastapi"] and c.node_counts == [1]
    assert c.also_p99_s == pytest.approx(0.01) and c.name.startswith("compare-estimate-")
    c = config("--compare", "fastapi,reckon", "--nodes", "2", "--rate", "5",
               "--scenario", "batch")
    assert c.compare == ["fastapi", "reckon"] and c.node_counts == [2]
    c = config("--peer", "fastapi", "--rate", "5", "--peer-workers", "2")
    assert c.peer == "fastapi" and c.peer_workers == 2 and c.name.startswith("fastapi-")


def test_unreachable_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cluster_setup import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url, "--key", "k", "--rate", "10"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and err.count("\n") == 1


def test_units_and_mix_parsing() -> None:
    assert parse_duration("10ms", "s") == pytest.approx(0.01)
    assert parse_duration("250us", "s") == pytest.approx(0.00025)
    assert parse_duration("2", "ms") == pytest.approx(0.002)
    assert parse_mix("estimate=80,batch=5,actual=10,forecast=5") == pytest.approx(
        {"estimate": 0.8, "batch": 0.05, "actual": 0.1, "forecast": 0.05})
    with pytest.raises(ValueError):
        parse_mix("estimates=1")


def test_mixed_scenario_is_reproducible_and_shaped() -> None:
    weights = parse_mix("estimate=80,batch=5,actual=10,forecast=5")
    a = Scenario("127.0.0.1", 8080, "k", weights, batch_size=10, seed=1, run_tag="r")
    b = Scenario("127.0.0.1", 8080, "k", weights, batch_size=10, seed=1, run_tag="r")
    ops = [a(i) for i in range(2000)]
    assert ops == [b(i) for i in range(2000)]
    kinds = [op.kind for op in ops]
    assert 0.75 < kinds.count("estimate") / 2000 < 0.85
    actual = next(op for op in ops if op.kind == "actual")
    assert len(actual.requests) == 2 and b"Idempotency-Key" in actual.requests[0]
    assert b"/actual" in actual.requests[1]
    assert next(op for op in ops if op.kind == "batch").units == 10


def test_load_is_spread_over_the_tenants_keys() -> None:
    weights = parse_mix("estimate=50,actual=50")
    s = Scenario("127.0.0.1", 8080, "k1", weights, seed=2, more_keys=("k2", "k3"))
    for i in range(30):
        key = f"Bearer k{i % 3 + 1}".encode()
        op = s(i)
        assert all(key in r for r in op.requests)
        assert all(b"Bearer k" + str(j).encode() not in r for r in op.requests
                   for j in (1, 2, 3) if j != i % 3 + 1)


@pytest.mark.integration
def test_short_real_run_against_a_started_cluster(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "bench", "--nodes", "1", "--rate", "100",
         "--duration", "2s", "--warmup", "1s", "--until-p99", "1s", "--name", "it", "--results-dir",
         str(tmp_path), "--max-time", "60s"],
        capture_output=True, text=True, timeout=90, env={"MPLBACKEND": "Agg",
                                                         **__import__("os").environ})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "it" / "report.md").read_text()
    assert "Rate sweep: 1 node" in text and "you need" in text
