"""The report: ``<results>/<name>/report.md``, PNG plots and ``results.json``.

Plots are drawn with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.harness.capacity import CapacityAnswer
from bench.harness.comparison import Comparison, ratio_text
from bench.harness.machine import Machine
from bench.harness.sweep import Objective, SweepResult, scaling_efficiency

LATENCY_PNG = "latency_vs_offered_load.png"
NODES_PNG = "throughput_vs_nodes.png"
COMPARE_PNG = "p99_vs_offered_load_by_system.png"
SYSTEM_COLOURS = {"reckon": "C0", "fastapi": "C1", "ray": "C2"}  # the same in every report


@dataclass(frozen=True)
class SweepRecord:
    """One rate sweep against one target; ``nodes`` is None when the count is unknown;
    ``system`` names what was measured in a comparison (``reckon`` or a peer)."""

    label: str
    nodes: int | None
    result: SweepResult
    system: str | None = None


@dataclass
class ReportData:
    """Everything the report shows."""

    name: str
    command: str
    machine: Machine
    scenario: str
    target: str
    objective: Objective
    sweeps: list[SweepRecord]
    capacity: CapacityAnswer | None = None
    units: str | None = None  # e.g. "estimates" for batches
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    comparison: Comparison | None = None

    def sustainable_by_nodes(self) -> dict[int, float]:
        """Sustainable throughput per known node count."""
        return {s.nodes: s.result.sustainable_rate for s in self.sweeps if s.nodes is not None}


def _steps_table(record: SweepRecord, units: str | None) -> list[str]:
    retried = any(s.tries > 1 for s in record.result.steps)
    head = "| offered/s | achieved/s |" + (f" {units}/s |" if units else "") + \
        " p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | failures |" + \
        (" tries |" if retried else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for s in record.result.steps:
        extra = f" {s.units_rate:,.0f} |" if units else ""
        lines.append(f"| {s.offered:,.0f} | {s.achieved:,.0f} |{extra} {s.p50_ms:.2f} | "
                     f"{s.p90_ms:.2f} | {s.p99_ms:.2f} | {s.p999_ms:.2f} | {s.max_ms:.2f} | "
                     f"{s.failures}/{s.scheduled} |" + (f" {s.tries} |" if retried else ""))
    return lines


def _kinds_table(record: SweepRecord) -> list[str]:
    """Per operation kind latency of each step of a mixed load (empty for one kind)."""
    steps = [s for s in record.result.steps if s.by_kind]
    if not steps:
        return []
    lines = ["", "Per operation kind (latency from the scheduled send time):", "",
             "| offered/s | kind | ok | failed | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for s in steps:
        for kind, k in s.by_kind.items():
            lines.append(f"| {s.offered:,.0f} | {kind} | {k.ok} | {k.failed} | "
                         f"{k.p50_ms:.2f} | {k.p99_ms:.2f} |")
    return lines


def _failures_list(record: SweepRecord) -> list[str]:
    """What the failed operations of each step ran into (empty when none failed)."""
    steps = [s for s in record.result.steps if s.failures]
    if not steps:
        return []
    lines = ["", "Failures by kind (HTTP status, timeout, error, dropped):", ""]
    for s in steps:
        lines.append(f"- {s.offered:,.0f}/s offered, {s.failures} of {s.scheduled} failed"
                     + (f" — {s.failures_text}" if s.failures_text else ""))
        for kind, body in sorted(s.failure_examples.items()):
            text = " ".join(body.split()).replace("`", "'")
            lines.append(f"  - the first {kind} answered: `{text}`")
    return lines


def _outcome(record: SweepRecord, units: str | None) -> list[str]:
    """What the sweep found, and why it stopped; never contradicts itself."""
    r = record.result
    if not r.steps:
        return [f"No step was measured ({r.cut_short or 'no rate to measure'}): no result."]
    lines = []
    if r.sustainable is not None:
        s = r.sustainable
        extra = f" ({s.units_rate:,.0f} {units}/s)" if units else ""
        lines.append(f"Highest sustainable throughput: **{s.achieved:,.0f} ops/s**{extra} "
                     f"at p99 {s.p99_ms:.2f} ms.")
    if r.capacity_reached:
        if r.sustainable is None:
            lines.append("Even the first step broke the objective.")
        lines.append(f"Stopped: {r.broken_by}.")
    else:
        lines.append("The objective never broke"
                     + (f" ({r.cut_short})" if r.cut_short else "")
                     + ": capacity was not reached; it is at least the last step.")
    return lines


def _comparison_section(c: Comparison) -> list[str]:
    base = c.baseline
    head = "| system |"
    for p in c.objectives:
        head += f" ops/s at p99 ≤ {p:g} ms | p99 there (ms) |"
        head += f" {base} ÷ system |" if base else ""
    head += " lowest p99 (ms) | at offered/s |"
    lines = ["## Comparison", "", head, "|" + "---|" * (head.count("|") - 1)]
    for low in c.lowest:
        row = f"| {low.label} |"
        for p in c.objectives:
            s = next(x for x in c.under(p) if x.label == low.label)
            p99 = f"{s.p99_ms:.2f}" if s.p99_ms is not None else "—"
            row += f" {s.shown_rate} | {p99} |"
            if base:
                base_s = next(x for x in c.under(p) if x.label == base)
                row += (" 1.0x |" if s.label == base and s.rate > 0 else
                        f" {ratio_text(s, base_s)} |" if s.ratio is not None else " n/a |")
        lines.append(row + f" {low.p99_ms:.2f} | {low.offered:,.0f} |")
    lines += ["", "Each system ran the same sweep (same offered rates, requests, generator and "
              "machine), one after the other. Sustainable: the highest achieved rate before the "
              "first step that broke that objective; 0 when the first step broke it, ≥ when no "
              "step did (the capacity is at least that)."
              + (f" {base} ÷ system is {base}'s sustainable throughput over the system's; "
                 "n/a where either sustained no step." if base else ""), "",
              f"![p99 against offered load, by system]({COMPARE_PNG})", ""]
    return lines


def render_markdown(data: ReportData) -> str:
    """The report as markdown text."""
    m = data.machine
    out = [f"# Capacity report: {data.name}", "",
           f"Run {time.strftime('%Y-%m-%d %H:%M %Z')}, scenario **{data.scenario}**, "
           f"target: {data.target}.", "", "```", data.command, "```", ""]
    out += ["## Answer", ""]
    if data.capacity is not None:
        out.append(data.capacity.sentence())
    if data.comparison is not None:
        out += [data.comparison.sentence(p) for p in data.comparison.objectives]
        out += ["", *_comparison_section(data.comparison)]
    elif data.capacity is None:
        out.append("No capacity answer: no node count sustained the objective, or the node "
                   "count of the target is unknown.")
    out += ["", "## Machine", "",
            f"- CPU: {m.cpu_model}, {m.cores} usable cores",
            f"- memory: {m.memory_gib:.1f} GiB", f"- {m.python} on {m.system}",
            "- packages: " + ", ".join(f"{k} {v}" for k, v in m.packages.items()),
            "- load average when the run ended (1, 5, 15 min): "
            + ", ".join(f"{x:.2f}" for x in m.load_average)
            + " (this run's own processes included)", ""]
    obj = data.objective
    out += ["## Objective and settings", "",
            f"A step is sustainable when p99 ≤ {obj.p99_ms:g} ms, at most "
            f"{obj.max_failure_rate:.1%} of operations fail (non-2xx, errors, timeouts, "
            f"drops) and achieved throughput is at least {obj.min_achieved:.0%} of offered. "
            "Latency runs from each operation's scheduled send time (open loop), so queueing "
            "in the generator and the connection pool counts."
            + (" The comparison also evaluates "
               + ", ".join(f"p99 ≤ {p:g} ms" for p in data.comparison.objectives
                           if p != obj.p99_ms)
               + " from the same steps (the sweep stops only when the objective above breaks)."
               if data.comparison is not None and len(data.comparison.objectives) > 1 else ""),
            ""]
    out += [f"- {k}: {v}" for k, v in data.settings.items()]
    out.append("")
    for record in data.sweeps:
        out += [f"## Rate sweep: {record.label}", ""]
        out += _steps_table(record, data.units)
        out += _kinds_table(record)
        out += _failures_list(record)
        out.append("")
        out += _outcome(record, data.units)
        out.append("")
    by_nodes = data.sustainable_by_nodes()
    eff = scaling_efficiency(by_nodes)
    if len(by_nodes) > 1:
        out += ["## Scaling with nodes", "", "| nodes | sustainable ops/s | efficiency |",
                "|---|---|---|"]
        for n, rate in sorted(by_nodes.items()):
            e = f"{eff[n]:.0%}" if n in eff else "n/a"
            out.append(f"| {n} | {rate:,.0f} | {e} |")
        out += ["", "Efficiency is throughput(N) / (N * throughput(1)).", ""]
    out += [f"![latency against offered load]({LATENCY_PNG})", ""]
    if len(by_nodes) > 1:
        out += [f"![throughput against nodes]({NODES_PNG})", ""]
    if data.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in data.notes] + [""]
    return "\n".join(out)


def plot_latency(data: ReportData, path: Path) -> None:
    """Latency percentiles against offered load, one colour per sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {"p50": ":", "p90": "-.", "p99": "-", "p99.9": "--"}
    for i, record in enumerate(data.sweeps):
        steps = record.result.steps
        x = [s.offered for s in steps]
        for name, attr in (("p50", "p50_ms"), ("p90", "p90_ms"), ("p99", "p99_ms"),
                           ("p99.9", "p999_ms")):
            ax.plot(x, [max(getattr(s, attr), 1e-3) for s in steps], styles[name],
                    marker="o", markersize=3, color=f"C{i}", label=f"{record.label} {name}")
    ax.axhline(data.objective.p99_ms, color="red", linewidth=0.8,
               label=f"p99 objective {data.objective.p99_ms:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (operations/s)")
    ax.set_ylabel("latency from scheduled send (ms)")
    ax.set_title(f"{data.scenario}: latency against offered load")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_comparison(data: ReportData, path: Path) -> None:
    """p99 against offered load, one line per system, with each objective."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(8, 5))
    offered = [s.offered for r in data.sweeps for s in r.result.steps]
    for i, record in enumerate(data.sweeps):
        steps = record.result.steps
        color = SYSTEM_COLOURS.get(record.system or "", f"C{i + len(SYSTEM_COLOURS)}")
        ax.plot([s.offered for s in steps], [max(s.p99_ms, 1e-3) for s in steps], "-",
                marker="o", markersize=4, color=color, label=record.label)
    objectives = data.comparison.objectives if data.comparison else [data.objective.p99_ms]
    for j, p in enumerate(sorted(objectives)):
        ax.axhline(p, color="red", linewidth=0.8, linestyle=("-", "--", ":")[j % 3],
                   label=f"p99 objective {p:g} ms")
    if offered and max(offered) > 10 * min(offered):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([x for x in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
                       if min(offered) / 1.5 <= x <= max(offered) * 1.5])
    ax.set_yscale("log")
    ax.set_xlabel("offered load (operations/s)")
    ax.set_ylabel("p99 latency from scheduled send (ms)")
    ax.set_title(f"{data.scenario}: p99 against offered load, by system")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_nodes(data: ReportData, path: Path) -> None:
    """Sustainable throughput against node count, with the linear-scaling line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_nodes = sorted(data.sustainable_by_nodes().items())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([n for n, _ in by_nodes], [r for _, r in by_nodes], "o-", label="measured")
    if by_nodes and by_nodes[0][0] == 1:
        ax.plot([n for n, _ in by_nodes], [n * by_nodes[0][1] for n, _ in by_nodes], "--",
                color="grey", label="linear from 1 node")
    ax.set_xlabel("nodes")
    ax.set_ylabel(f"sustainable operations/s (p99 ≤ {data.objective.p99_ms:g} ms)")
    ax.set_xticks([n for n, _ in by_nodes])
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prepare_output(results_dir: Path, name: str) -> Path:
    """Create ``results_dir`` (before any load, so a long run's results are not lost at the
    end) and check that the report folder ``results_dir/name`` can be written; return it.
    Raises :class:`OSError` with a one-line reason when not."""
    out = results_dir / name
    if results_dir.exists() and not results_dir.is_dir():
        raise NotADirectoryError(f"{results_dir} is not a directory")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is not a directory")
    results_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=out if out.is_dir() else results_dir):
        pass
    return out


def write_report(data: ReportData, results_dir: Path) -> Path:
    """Write ``report.md``, the plots and ``results.json`` under ``results_dir/name``;
    return the report's path."""
    out = results_dir / data.name
    out.mkdir(parents=True, exist_ok=True)
    plot_latency(data, out / LATENCY_PNG)
    if len(data.sustainable_by_nodes()) > 1 and data.comparison is None:
        plot_nodes(data, out / NODES_PNG)
    if data.comparison is not None:
        plot_comparison(data, out / COMPARE_PNG)
    (out / "results.json").write_text(json.dumps(asdict(data), indent=2, default=str) + "\n")
    path = out / "report.md"
    path.write_text(render_markdown(data) + "\n", encoding="utf-8")
    return path
