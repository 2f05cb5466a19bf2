"""``reckon bench`` argument errors (exit 2, one line), and one short real run."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bench.harness import cli, runner
from bench.harness.cli import main, rate_unit
from bench.harness.options import (
    BenchConfig,
    UsageError,
    build_parser,
    config_from_args,
    parse_duration,
    redact_key,
)
from bench.harness.progress import ProgressBar
from bench.harness.scenarios import Scenario, ScenarioError, parse_mix
from bench.harness.sweep import SweepResult
from bench.harness.targets import Endpoint, TargetError, check_reachable, parse_url


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
    # Not numbers, or numbers out of range: one line each, never a traceback.
    (["--echo-server", "--rate", "nan"], "--rate must be a finite number"),
    (["--echo-server", "--rate", "inf"], "--rate must be a finite number"),
    (["--echo-server", "--rate", "1e308"], "--rate must be at most"),
    (["--echo-server", "--sweep", "rate", "--start", "inf"], "--start must be a finite"),
    (["--echo-server", "--sweep", "rate", "--step", "nan"], "--step must be a finite"),
    (["--echo-server", "--sweep", "rate", "--factor", "nan"], "--factor must be a finite"),
    (["--echo-server", "--sweep", "rate", "--max-rate", "inf"], "--max-rate must be a finite"),
    (["--echo-server", "--rate", "10", "--arrivals", "poisson", "--seed", "-1"],
     "--seed must be 0 or more"),
    (["--url", "http://[::1", "--key", "k", "--rate", "10"], "not a usable URL"),
    (["--url", "http://[::1]:99999", "--key", "k", "--rate", "10"], "not a usable URL"),
    (["--nodes", "1", "--rate", "10", "--scenario", "mix", "--mix", "estimate=inf,batch=1"],
     "not a finite number"),
    (["--nodes", "1", "--rate", "10", "--scenario", "mix", "--mix", "estimate=nan"],
     "not a finite number"),
    (["--echo-server", "--rate", "10", "--max-failure-rate", "-1"], "--max-failure-rate"),
    (["--echo-server", "--rate", "10", "--max-failure-rate", "nan"], "--max-failure-rate"),
    (["--echo-server", "--rate", "10", "--max-failure-rate", "1"], "--max-failure-rate"),
    (["--echo-server", "--sweep", "rate", "--start", "200", "--max-rate", "100"],
     "--max-rate 100 is below --start 200"),
    (["--nodes", "1", "--rate", "10", "--cores-per-server", "-1"],
     "--cores-per-server must be positive"),
    (["--nodes", "1", "--rate", "10", "--cores-per-server", "0"],
     "--cores-per-server must be positive"),
    (["--nodes", "1", "--rate", "10", "--capacity-for", "-100"],
     "--capacity-for must be positive"),
    (["--nodes", "1", "--rate", "10", "--capacity-for", "0"], "--capacity-for must be positive"),
    (["--nodes", "1", "--rate", "10", "--capacity-for", "inf"], "--capacity-for must be a"),
    (["--echo-server", "--rate", "10", "--duration", "0.0001s"], "holds no operation"),
    (["--echo-server", "--sweep", "rate", "--start", "10", "--duration", "50ms"],
     "holds no operation at 10/s"),
    (["--echo-server", "--rate", "10", "--duration", "9" * 400], "bad duration"),
    (["--echo-server", "--rate", "10", "--max-time", "2s"], "no room for one step"),
    (["--nodes", "1", "--sweep", "rate", "--start-per-node"], "--start-per-node is for"),
    (["--echo-server", "--rate", "10", "--warmup", "2s", "--duration", "5s", "--max-time",
      "12s"], "give at least 13s"),
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


def test_a_node_sweep_can_start_each_count_at_its_share_of_the_rate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    starts: dict[int, list[float]] = {}

    @contextmanager
    def no_postgres() -> Iterator[tuple[str, ExitStack]]:
        with ExitStack() as stack:
            yield "postgresql://unused", stack

    @contextmanager
    def cluster(admin: str, n: int, *_: object, **__: object) -> Iterator[int]:
        yield n

    def sweep(config: BenchConfig, endpoint: int, *_: object) -> SweepResult:
        starts.setdefault(endpoint, []).append(config.start)
        return SweepResult()

    monkeypatch.setattr(runner, "_admin_postgres", no_postgres)
    monkeypatch.setattr(runner, "started_cluster", cluster)
    monkeypatch.setattr(runner, "_sweep_endpoint", sweep)
    for flag, expected in (([], {1: [30.0], 4: [30.0]}), (["--start-per-node"],
                                                          {1: [30.0], 4: [120.0]})):
        starts.clear()
        runner.run_all(_config("--sweep", "nodes", "--nodes", "1,4", "--start", "30",
                               "--factor", "1.2", *flag), ProgressBar(io.StringIO()))
        assert starts == expected


def _config(*argv: str) -> BenchConfig:
    return config_from_args(build_parser().parse_args(list(argv)), environ={})


def test_the_results_dir_is_checked_before_any_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def no_load(*_: object) -> None:
        raise AssertionError("the load started before the results folder was checked")

    monkeypatch.setattr(cli, "run_all", no_load)
    afile = tmp_path / "afile"
    afile.write_text("")
    for results in (afile, afile / "sub"):
        assert main(["--echo-server", "--rate", "10", "--warmup", "0", "--duration", "1s",
                     "--results-dir", str(results)]) == 2
        err = capsys.readouterr().err
        assert "cannot write the report under --results-dir" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    # A folder that does not exist yet is created before the load starts.
    fresh = tmp_path / "a" / "b"

    def interrupted(*_: object) -> None:
        assert fresh.is_dir()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_all", interrupted)
    assert main(["--echo-server", "--rate", "10", "--warmup", "0", "--duration", "1s",
                 "--results-dir", str(fresh)]) == 130


def test_the_api_key_is_redacted_from_the_recorded_command() -> None:
    argv = ["--url", "http://h:1", "--key", "s3cret", "--rate", "5", "--key=s3cret2",
            "--ke", "s3cret3", "--k=s3cret4", "--name", "key"]
    redacted = redact_key(argv)
    assert not any("s3cret" in a for a in redacted)
    assert redacted == ["--url", "http://h:1", "--key", "REDACTED", "--rate", "5",
                        "--key=REDACTED", "--ke", "REDACTED", "--k=REDACTED", "--name", "key"]
    # argparse takes the abbreviations as --key too: what is redacted is the key.
    assert build_parser().parse_args(["--ke", "x"]).key == "x"


def test_ipv6_urls_keep_their_brackets() -> None:
    assert parse_url("http://[::1]:8080") == "http://[::1]:8080"
    assert parse_url("http://[::1]") == "http://[::1]:80"
    assert parse_url("http://10.0.0.5:8080/") == "http://10.0.0.5:8080"
    for bad in ("http://[::1", "http://[::1]:x", "https://h:1", "http://:80"):
        with pytest.raises(TargetError):
            parse_url(bad)
    e = Endpoint(parse_url("http://[::1]:8080"), "k", "d")
    assert (e.host, e.port, e.addresses) == ("::1", 8080, [("::1", 8080)])
    op = Scenario("::1", 8080, "k", {"estimate": 1.0})(0)
    assert b"Host: [::1]:8080\r\n" in op.requests[0]


def test_a_mix_with_no_usable_weight_is_refused() -> None:
    for text in ("estimate=nan", "estimate=inf", "estimate=0", "estimate=-1"):
        with pytest.raises(ValueError):
            parse_mix(text)
    with pytest.raises(ScenarioError, match="finite"):
        Scenario("127.0.0.1", 1, "k", {"estimate": float("nan")})
    with pytest.raises(ScenarioError, match="finite"):
        Scenario("127.0.0.1", 1, "k", {})


def test_max_time_must_fit_one_step_and_the_runner_agrees() -> None:
    c = _config("--echo-server", "--rate", "10", "--warmup", "1s", "--duration", "2s",
                "--start-timeout", "1s", "--request-timeout", "2s", "--max-time", "6s")
    assert c.step_bound == 5.0 and c.warmup + c.step_bound == c.max_time
    with pytest.raises(UsageError, match="give at least 16s"):
        _config("--echo-server", "--rate", "10", "--warmup", "1s", "--duration", "2s",
                "--start-timeout", "1s", "--request-timeout", "2s", "--max-time", "6s",
                "--confirm", "2")


def test_a_run_stopped_by_max_time_before_any_step_says_so_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from bench.harness.progress import ProgressBar
    from bench.harness.report import SweepRecord
    from bench.harness.runner import Runner

    c = _config("--echo-server", "--rate", "10", "--warmup", "0", "--duration", "1s",
                "--results-dir", str(tmp_path), "--name", "late")
    # The deadline has passed (e.g. a cluster took all of --max-time to start).
    result = Runner(c, None, None, ProgressBar(), time.monotonic() - 1).sweep()  # type: ignore
    assert result.steps == [] and result.broken_by is None and not result.capacity_reached
    assert result.cut_short is not None and "--max-time" in result.cut_short
    status = cli._report(c, ["--echo-server"], [SweepRecord("echo server", None, result)],
                         "echo")
    assert status == 1 and "no step was measured" in capsys.readouterr().err
    text = (tmp_path / "late" / "report.md").read_text()
    assert "No step was measured" in text
    assert "Even the first step broke" not in text and "never broke" not in text


def test_the_capacity_unit_follows_the_scenario() -> None:
    assert rate_unit({"batch": 1.0}) == "batches/s"
    assert rate_unit({"estimate": 1.0}) == "estimates/s"
    assert rate_unit({"estimate": 0.5, "batch": 0.5}) == "operations/s"
    assert rate_unit({"actual": 1.0}) == "operations/s"


class _FakeReckon:
    """A stand-in for a cluster: ``/health`` and ``/v1/cluster`` answer anyone (as reckon's
    do); every other path wants ``Bearer <key>`` (401 otherwise) and then answers 404 for an
    item, 415 for a write of a media type it does not take, and ``{}`` for the rest."""

    def __init__(self, key: str, host: str = "127.0.0.1") -> None:
        import threading

        self.key, self.host, self.port = key, host, 0
        self.paths: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _FakeReckon:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _answer(self, head: bytes) -> tuple[int, bytes]:
        lines = head.decode().split("\r\n")
        method, path = lines[0].split(" ")[:2]
        self.paths.append(path)
        if path in ("/health", "/v1/cluster"):
            return 200, b'{"live_nodes": 1}'
        if f"authorization: bearer {self.key}".lower() not in (x.lower() for x in lines):
            return 401, b"{}"
        if method == "GET" and path.startswith("/v1/items/"):
            return 404, b"{}"
        if path == "/v1/items" and "content-type: application/json" not in head.decode().lower():
            return 415, b"{}"
        return 200, b"{}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                status, body = self._answer(head)
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _run(self) -> None:
        async def serve() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            server = await asyncio.start_server(self._handle, self.host, 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            async with server:
                await self._stop.wait()

        asyncio.run(serve())

    @property
    def url(self) -> str:
        return f"http://[{self.host}]:{self.port}" if ":" in self.host else \
            f"http://{self.host}:{self.port}"


def test_a_wrong_key_is_refused_before_any_load(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with _FakeReckon("right") as server:
        check_reachable(Endpoint(server.url, "right", "fake"), scopes=("read", "write"))
        with pytest.raises(TargetError, match="refused the API key"):
            check_reachable(Endpoint(server.url, "WRONG", "fake"))
        assert main(["--url", server.url, "--key", "WRONG", "--no-prepare", "--rate", "10",
                     "--warmup", "0", "--duration", "1s", "--results-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "refused the API key (HTTP 401)" in err and err.count("\n") == 1
        assert not any(p.startswith("/v1/estimates") for p in server.paths)


def test_a_run_against_an_ipv6_url_records_no_key_and_no_server_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import socket

    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    key = "rk_test_secret_0123456789"
    with _FakeReckon(key, "::1") as server:
        status = main(["--url", server.url, f"--key={key}", "--no-prepare", "--rate", "20",
                       "--warmup", "0", "--duration", "0.5s", "--max-time", "10s",
                       "--results-dir", str(tmp_path), "--name", "v6"])
    out = capsys.readouterr().out
    assert status == 0
    report = (tmp_path / "v6" / "report.md").read_text()
    saved = (tmp_path / "v6" / "results.json").read_text()
    assert key not in report and key not in saved and key not in out
    assert "--key=REDACTED" in json.loads(saved)["command"]
    assert "| 20 | 20 |" in report and "0/10 |" in report
    # One unsaturated step at 20/s: a bound, not an answer; the servers' cores are unknown.
    for text in (report, out):
        assert "Upper bound only" in text and "capacity was not reached" in text
        assert "no server count" in text and "servers of this kind" not in text
        assert "estimates/s" in text and "req/s" not in text
