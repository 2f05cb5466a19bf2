"""``reckon forecast``: local runs, server runs (against a stub), and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator import forecast_cli
from coordinator.forecast_cli import format_forecast, main

PROJECT = {
    "tasks": [
        {"id": "design", "optimistic": 2, "likely": 3, "pessimistic": 6},
        {"id": "api", "depends_on": ["design"], "optimistic": 3, "likely": 5, "pessimistic": 12},
        {"id": "ui", "depends_on": ["design"], "optimistic": 4, "likely": 6, "pessimistic": 9},
        {"id": "release", "depends_on": ["api", "ui"], "effort": 1},
    ],
    "risks": [{"id": "vendor", "probability": 0.2, "extra_effort": 4, "tasks": ["api"]}],
    "trials": 2000, "seed": 11, "percentiles": [10, 50, 90], "bins": 8,
}


def write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "project.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_local_run_prints_table_and_histogram(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([write(tmp_path, PROJECT)]) == 0
    out = capsys.readouterr().out
    assert "2,000 trials, seed 11" in out
    lines = out.splitlines()
    header = next(line for line in lines if "P50" in line).split()
    assert header == ["mean", "P10", "P50", "P90"]
    assert any(line.startswith("effort ") for line in lines)
    assert any(line.startswith("duration ") for line in lines)
    assert "duration histogram" in out and sum("|" in line for line in lines) == 16
    assert "design" in out and "criticality" in out


def test_local_json_is_the_response_format(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main([write(tmp_path, PROJECT), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["trials"] == 2000 and answer["effort"]["percentiles"].keys() == {
        "P10", "P50", "P90"}
    assert format_forecast(answer)  # the one formatter takes what a server would send


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "invalid JSON at line 1"),
    ({"tasks": [{"id": "a", "effort": 1, "depends_on": ["b"]},
                {"id": "b", "effort": 1, "depends_on": ["a"]}]}, "cycle"),
    ({"tasks": [{"id": "a", "title": "Build the login page"}]}, "--server"),
    ({"tasks": [{"id": "a", "optimistic": 3, "likely": 1, "pessimistic": 4}]},
     "tasks[0].optimistic"),
])  # fmt: skip
def test_bad_project_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        content: Any, words: str) -> None:  # fmt: skip
    assert main([write(tmp_path, content)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and err.startswith("reckon forecast:")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_server_mode_posts_and_prints_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main([write(tmp_path, PROJECT), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    seen: dict[str, Any] = {}

    def post(url: str, json: Any, headers: dict[str, str], timeout: float) -> httpx.Response:
        seen.update(url=url, body=json, auth=headers["Authorization"])
        return httpx.Response(200, json=local, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    monkeypatch.setenv("RECKON_API_KEY", "k-123")
    assert main([write(tmp_path, PROJECT), "--server", "http://h:8080/"]) == 0
    out = capsys.readouterr().out
    assert seen == {"url": "http://h:8080/v1/forecasts", "body": PROJECT, "auth": "Bearer k-123"}
    assert out.strip() == format_forecast(local)


def test_server_problem_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    problem = {"title": "Invalid input", "detail": "unknown task 'x' in depends_on",
               "field": "tasks[0].depends_on[0]"}  # fmt: skip

    def post(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(422, json=problem, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    assert main([write(tmp_path, PROJECT), "--server", "http://h", "--key", "k"]) == 2
    err = capsys.readouterr().err
    assert "422" in err and "tasks[0].depends_on[0]: unknown task" in err


def test_server_needs_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("RECKON_API_KEY", raising=False)
    assert main([write(tmp_path, PROJECT), "--server", "http://h"]) == 2
    assert "RECKON_API_KEY" in capsys.readouterr().err


def test_plot_without_matplotlib_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main([write(tmp_path, PROJECT), "--plot", str(tmp_path / "out.png")]) == 2
    assert "matplotlib" in capsys.readouterr().err
    assert forecast_cli.PROG == "reckon forecast"


def test_plot_writes_a_png_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "forecast.png"
    assert main([write(tmp_path, PROJECT), "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 5000


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("reckon forecast: "), err
    return err


def test_plot_into_a_missing_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "out.png"
    assert main([write(tmp_path, PROJECT), "--plot", str(out)]) == 2
    assert f"cannot write the plot to {out}: " in one_line_error(capsys)


def test_plot_that_cannot_be_saved_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "taken.png"
    out.mkdir()  # savefig cannot open a directory
    assert main([write(tmp_path, PROJECT), "--plot", str(out)]) == 2
    assert f"cannot write the plot to {out}: " in one_line_error(capsys)


def test_plot_format_is_checked_first(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main([write(tmp_path, PROJECT), "--plot", str(tmp_path / "out.txt")]) == 2
    assert one_line_error(capsys) == (
        "reckon forecast: --plot: unsupported image format 'txt' (use png, svg, pdf, ...)")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_timeout_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  value: str) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main([write(tmp_path, PROJECT), "--timeout", value, "--server", "http://h", "--key", "k"])
    assert exit_.value.code == 2
    assert "argument --timeout: must be a positive number of seconds" in capsys.readouterr().err


def test_a_field_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = {"tasks": [{"id": "a", "effort": float("nan")}]}
    assert main([write(tmp_path, project)]) == 2
    assert one_line_error(capsys) == "reckon forecast: tasks[0].effort must be finite"


def test_a_server_problem_names_its_field_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = {"detail": "tasks[0].effort must be finite", "field": "tasks[0].effort"}

    def post(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(422, json=problem, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    assert main([write(tmp_path, PROJECT), "--server", "http://h", "--key", "k"]) == 2
    assert one_line_error(capsys) == (
        "reckon forecast: server answered 422: tasks[0].effort must be finite")


def test_malformed_server_answer_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def post(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(200, json={"trials": 10}, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    assert main([write(tmp_path, PROJECT), "--server", "http://h", "--key", "k", "--json"]) == 1
    assert "malformed forecast answer: KeyError('effort')" in one_line_error(capsys)
