"""``reckon forecast project.json``: a Monte Carlo project forecast, locally or on a server.

Locally the project is simulated in this process (tasks need a fixed or three-point
estimate: only a server has the tenant's model). With ``--server URL`` the project is
posted to ``URL/v1/forecasts``. Both answers have the same shape
(:func:`coordinator.forecast_spec.forecast_response`) and are printed by one formatter.
``--plot out.png`` also draws both histograms (with matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from coordinator.problems import InvalidInput

PROG = "reckon forecast"
BAR_WIDTH = 40
TOP_TASKS = 15


class ForecastFailed(Exception):
    """A forecast that could not be made; the message is one line for the user."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _located(field: str | None, detail: str) -> str:
    """``field: detail``, unless the detail already starts by naming the field."""
    if not field or detail == field or detail.startswith(f"{field} "):
        return detail
    return f"{field}: {detail}"


def load_project(path: str) -> Any:
    """The decoded JSON of a project file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ForecastFailed(f"cannot read {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ForecastFailed(f"{path} is not UTF-8 text") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ForecastFailed(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: "
                             f"{e.msg}") from e  # fmt: skip


def run_local(body: Any) -> dict[str, Any]:
    """Validate and simulate the project in this process; the response dict."""
    from coordinator.forecast_spec import forecast_response, parse_forecast_request
    from kernels.forecast import simulate_part
    from kernels.forecast_merge import merge_parts

    try:
        request = parse_forecast_request(body)
    except InvalidInput as e:
        raise ForecastFailed(_located(e.field, e.detail)) from e
    if request.model_tasks:
        names = ", ".join(request.plan.task_ids[i] for i, _ in request.model_tasks[:5])
        more = "" if len(request.model_tasks) <= 5 else f" and {len(request.model_tasks) - 5} more"
        raise ForecastFailed(
            f"only the tenant's model can estimate work items without an estimate ({names}{more}); "
            "run against a server with --server URL, or give them 'effort' or "
            "'optimistic'/'likely'/'pessimistic'")
    t0 = time.perf_counter()
    part = simulate_part(request.plan, 0, request.trials, request.seed)
    summary = merge_parts(request.plan, [part], request.percentiles, request.bins)
    return forecast_response(request.plan, summary, time.perf_counter() - t0)


def run_server(body: Any, server: str, key: str, timeout: float) -> dict[str, Any]:
    """POST the project to ``server``'s ``/v1/forecasts``; the response dict."""
    import httpx

    url = server.rstrip("/") + "/v1/forecasts"
    try:
        r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"},
                       timeout=timeout)  # fmt: skip
    except httpx.HTTPError as e:
        raise ForecastFailed(f"cannot reach {url}: {e}", exit_code=1) from e
    try:
        answer = r.json()
    except ValueError:
        answer = None
    if r.status_code >= 400:
        if isinstance(answer, dict) and "detail" in answer:
            message = _located(answer.get("field") and str(answer["field"]),
                               str(answer["detail"]))
        else:
            message = r.text.strip()[:200] or r.reason_phrase
        raise ForecastFailed(f"server answered {r.status_code}: {message}",
                             exit_code=2 if r.status_code in (400, 422) else 1)  # fmt: skip
    if not isinstance(answer, dict):
        raise ForecastFailed(f"server answered {r.status_code} without a JSON object", 1)
    return answer


def _fmt(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.2f}"


def _histogram(title: str, hist: dict[str, Any]) -> list[str]:
    edges, counts = hist["edges"], hist["counts"]
    top = max(max(counts), 1)
    total = max(sum(counts), 1)
    lines = [f"{title} histogram"]
    for k, c in enumerate(counts):
        bar = "#" * round(BAR_WIDTH * c / top)
        lines.append(f"  {_fmt(edges[k]):>10} - {_fmt(edges[k + 1]):>10} | "
                     f"{bar:<{BAR_WIDTH}} {100.0 * c / total:5.1f}%")  # fmt: skip
    return lines


def format_forecast(answer: dict[str, Any]) -> str:
    """A summary table, text histograms and the riskiest tasks of a forecast answer."""
    effort, duration = answer["effort"], answer["duration"]
    labels = list(effort["percentiles"])
    head = ["", "mean", *labels]
    rows = [head] + [[name, _fmt(o["mean"]), *(_fmt(o["percentiles"][p]) for p in labels)]
                     for name, o in (("effort", effort), ("duration", duration))]  # fmt: skip
    widths = [max(len(r[j]) for r in rows) for j in range(len(head))]
    lines = [f"{answer['trials']:,} trials, seed {answer['seed']}, "
             f"{answer['elapsed_ms'] / 1000.0:.2f}s", ""]  # fmt: skip
    for r in rows:
        cells = zip(r, widths, strict=True)
        lines.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(cells)))
    lines.append("")
    lines += _histogram("effort", effort["histogram"])
    lines.append("")
    lines += _histogram("duration", duration["histogram"])
    tasks = sorted(answer["tasks"], key=lambda t: (-t["criticality"], -abs(t["sensitivity"])))
    width = max([4, *(len(t["id"]) for t in tasks[:TOP_TASKS])])
    lines += ["", f"{'task':<{width}}  criticality  sensitivity"]
    for t in tasks[:TOP_TASKS]:
        lines.append(f"{t['id']:<{width}}  {t['criticality']:11.3f}  {t['sensitivity']:11.3f}")
    if len(tasks) > TOP_TASKS:
        lines.append(f"... {len(tasks) - TOP_TASKS} more tasks")
    return "\n".join(lines)


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (imported only for --plot: a dependency of
    reckon, but not needed for anything else)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ForecastFailed("--plot needs matplotlib (pip install matplotlib)") from e
    return plt


def check_plot_path(path: str) -> None:
    """Refuse, before the forecast is made, an image format matplotlib cannot write or a
    path in no directory."""
    plt = _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = os.path.splitext(path)[1][1:].lower() or str(plt.rcParams["savefig.format"])
    if fmt not in FigureCanvasBase.get_supported_filetypes():
        raise ForecastFailed(f"--plot: unsupported image format {fmt!r} (use png, svg, pdf, ...)")
    folder = Path(path).parent
    if not folder.is_dir():
        raise ForecastFailed(f"cannot write the plot to {path}: no directory {folder}")


def write_plot(answer: dict[str, Any], path: str) -> None:
    """Bar charts of both histograms in one image."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, name in zip(axes, ("effort", "duration"), strict=True):
        hist = answer[name]["histogram"]
        edges = hist["edges"]
        widths = [b - a for a, b in pairwise(edges)]
        ax.bar(edges[:-1], hist["counts"], width=widths, align="edge", edgecolor="white")
        for label, value in answer[name]["percentiles"].items():
            ax.axvline(value, color="black", linewidth=0.7, linestyle=":")
            ax.text(value, ax.get_ylim()[1] * 0.95, label, rotation=90, fontsize=7)
        ax.set_title(f"{name} ({answer['trials']:,} trials)")
        ax.set_xlabel(name)
    axes[0].set_ylabel("trials")
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as e:
        raise ForecastFailed(f"cannot write the plot to {path}: {e.strerror or e}") from e
    finally:
        plt.close(fig)


def render(answer: dict[str, Any], as_json: bool) -> str:
    """The text to print; a ForecastFailed if the answer is not the forecast shape (a
    server's answer: the table reads every field that --plot draws)."""
    try:
        table = format_forecast(answer)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise ForecastFailed(f"malformed forecast answer: {e!r}", exit_code=1) from e
    return json.dumps(answer, indent=2) if as_json else table


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reckon forecast``; 0 on success, 2 on bad input, 1 on other failures."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("project", help="project file (JSON: tasks, depends_on, risks, ...)")
    p.add_argument("--server", help="coordinator URL; forecast there with the tenant's model")
    p.add_argument("--key", help="API key for --server (default: $RECKON_API_KEY)")
    p.add_argument("--timeout", type=positive_seconds, default=120.0,
                   help="seconds to wait for --server")
    p.add_argument("--plot", metavar="PNG", help="also draw both histograms to this file")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = p.parse_args(argv)
    try:
        if args.plot:
            check_plot_path(args.plot)
        body = load_project(args.project)
        if args.server:
            key = args.key or os.environ.get("RECKON_API_KEY")
            if not key:
                raise ForecastFailed("--server needs --key or RECKON_API_KEY")
            answer = run_server(body, args.server, key, args.timeout)
        else:
            answer = run_local(body)
        print(render(answer, args.json))
        if args.plot:
            write_plot(answer, args.plot)
    except ForecastFailed as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return e.exit_code
    return 0
