"""``reckon``'s dispatcher and ``reckon demo``'s argument checks (nothing is started)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coordinator import __version__, demo
from coordinator.cli import main
from coordinator.launcher import port_is_free


def test_version_flag_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"reckon {__version__}\n"
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"reckon {__version__}\n"


def test_version_from_the_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "coordinator.cli", "--version"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, f"reckon {__version__}\n", "")


def test_help_lists_commands_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out
    for command in ("demo", "tenant", "forecast", "warmup", "version"):
        assert f"\n  {command} " in out


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_warmup_help_is_usage_exit_0(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert main(["warmup", flag]) == 0  # and compiles nothing
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: reckon warmup\n") and captured.err == ""


def test_warmup_with_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warmup", "now"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "reckon warmup: takes no arguments; try 'reckon warmup --help'"


@pytest.mark.parametrize(("args", "words"), [
    (["--port", "70000"], "--port must be between 1 and 65535, not 70000"),
    (["--port", "0"], "--port must be between 1 and 65535"),
    (["--port", "64535", "--nodes", "1"], "needs ports up to 65536"),
    (["--port", "64534", "--nodes", "2"], "use --port 64533 or lower"),
    (["--nodes", "70000"], "--nodes 70000 is too many"),
    (["--nodes", "0"], "--nodes must be at least 1"),
])  # fmt: skip
def test_demo_refuses_ports_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    args: list[str], words: str,
) -> None:
    def too_far(*_: object, **__: object) -> None:
        pytest.fail("reckon demo went past its argument checks")

    # Nothing may be bound or started, even by a regression that lets the arguments through.
    for name in ("port_is_free", "EmbeddedPostgres", "LocalCluster"):
        monkeypatch.setattr(demo, name, too_far)
    data_dir = tmp_path / "demo"
    assert main(["demo", *args, "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("reckon demo: ") and words in err
    assert not data_dir.exists()  # refused before anything was made or started


@pytest.mark.parametrize(("port", "nodes"), [(8080, 2), (64533, 2), (64534, 1), (1, 1)])
def test_demo_ports_that_fit_are_accepted(port: int, nodes: int) -> None:
    assert demo.argument_problem(port, nodes) is None
    ports = demo.demo_ports(port, nodes)
    assert ports == [port, port + 1000, *(port + 1001 + i for i in range(nodes))]
    assert max(ports) <= 65535


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_no_port_outside_the_range_is_free(port: int) -> None:
    assert not port_is_free(port)  # not an OverflowError, nor an ephemeral port for 0


def test_the_coordinators_frame_settings_come_from_the_environment() -> None:
    from coordinator.main import build_parser, config_from_args

    env = {"RECKON_DATABASE_URL": "postgresql://x/y", "RECKON_CLUSTER_SECRET": "s"}
    args = build_parser().parse_args([])
    config = config_from_args(args, {**env, "RECKON_ACCEPT_UNSTAMPED_FRAMES": "true"})
    assert config.transport.accept_unstamped
    assert config.transport.max_frame_age_s == 60.0
    with pytest.raises(SystemExit, match="reckon coordinator: RECKON_ACCEPT_UNSTAMPED_FRAMES"):
        config_from_args(args, {**env, "RECKON_ACCEPT_UNSTAMPED_FRAMES": "sometimes"})
