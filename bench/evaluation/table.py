"""The accuracy table: every public development dataset, reckon against the baselines and
the published figures, written as markdown to ``bench/results/accuracy.md``.

Run ``python -m bench.evaluation.table [--data DIR] [--out FILE] [--only NAME,NAME]``.
Story-point projects use the literature's chronological 80/20 split on raw story points
(published Deep-SE figures from the replication study); project-level datasets use
leave-one-out cross-validation. Full runs take minutes; run them one at a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.evaluation.datasets import load_dataset
from bench.evaluation.progress import ProgressBar
from bench.evaluation.runner import DEFAULT_MODELS, Evaluation, evaluate
from bench.evaluation.splits import SplitSpec

DATA_DIR = Path("/work/shared/datasets")
OUT = Path(__file__).resolve().parents[1] / "results" / "accuracy.md"

#: Published test-set MAE on raw story points: (Deep-SE, mean, median); see the
#: datasets' README (Tawosi, Moussa and Sarro, TSE 2023, supplementary Table 1).
PUBLISHED = {
    "MESOS": (1.12, 1.41, 1.22), "USERGRID": (1.18, 1.19, 1.15), "TISTUD": (1.42, 1.91, 1.30),
    "APSTUD": (4.14, 3.59, 3.61), "TIMOB": (2.09, 3.02, 2.04), "BAM": (0.81, 1.22, 0.75),
    "CLOV": (3.39, 4.57, 3.71), "JRESERVER": (1.70, 2.40, 2.31), "DURACLOUD": (0.82, 1.00, 0.82),
    "DM": (5.86, 8.66, 6.19), "MDL": (7.89, 12.63, 6.59), "MULE": (2.59, 2.60, 2.47),
    "MULESTUDIO": (3.67, 3.74, 3.66), "XD": (1.70, 2.05, 1.71),
}  # fmt: skip


@dataclass(frozen=True)
class ProjectSet:
    """A project-level ARFF dataset: its effort column and the columns left out (ids)."""

    name: str
    target: str
    drop: tuple[str, ...] = ()


PROJECT_SETS = (
    ProjectSet("albrecht", "Effort"),
    ProjectSet("cocomo811", "actual"),
    ProjectSet("desharnais", "Effort", ("Project",)),
    ProjectSet("kemerer", "EffortMM", ("ID",)),
    ProjectSet("kitchenham", "Actual.effort", ("Project",)),
    ProjectSet("maxwell", "Effort"),
    ProjectSet("nasa93", "act_effort", ("recordnumber",)),
)


def run_storypoints(data_dir: Path, name: str) -> Evaluation:
    """Chronological 80/20 evaluation of one story-point project."""
    data = load_dataset(data_dir / "storypoints" / f"{name}.csv", "storypoint",
                        ["title", "description"], ["issuekey"])  # fmt: skip
    spec = SplitSpec("chrono", fraction=0.8)
    return evaluate(data, spec.folds_of(len(data)), 1)


def run_project(data_dir: Path, ps: ProjectSet) -> Evaluation:
    """Leave-one-out evaluation of one project-level dataset."""
    data = load_dataset(data_dir / "projects" / f"{ps.name}.arff", ps.target, [], ps.drop)
    spec = SplitSpec("loo")
    return evaluate(data, spec.folds_of(len(data)), len(data))


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def storypoint_section(results: dict[str, Evaluation]) -> list[str]:
    """Markdown rows of the story-point table."""
    lines = [
        "| project | n test | reckon MAE | median MAE | mean MAE | ATLM MAE | ABE MAE | "
        "Deep-SE raw (published) | reckon / median | reckon SA | reckon MdAE | "
        "reckon cov80 | reckon width80 | median-conformal width80 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ev in results.items():
        s = ev.scores
        lines.append(
            f"| {name} | {ev.n_test} | **{_f(s['reckon'].mae)}** | {_f(s['median'].mae)} | "
            f"{_f(s['mean'].mae)} | {_f(s['atlm'].mae)} | {_f(s['abe'].mae)} | "
            f"{_f(PUBLISHED[name][0])} | {_f(s['reckon'].mae / s['median'].mae, 3)} | "
            f"{_f(s['reckon'].sa, 1)} | {_f(s['reckon'].mdae)} | "
            f"{_f(s['reckon'].coverage80, 3)} | {_f(s['reckon'].width80)} | "
            f"{_f(s['median'].width80)} |"
        )
    return lines


def project_section(results: dict[str, Evaluation]) -> list[str]:
    """Markdown rows of the project-level table."""
    lines = [
        "| dataset | n | reckon SA | ATLM SA | ABE SA | median SA | reckon MAE | ATLM MAE | "
        "ABE MAE | reckon MMRE | reckon Pred25 | reckon cov80 | reckon width80 | "
        "median-conformal width80 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ev in results.items():
        s = ev.scores
        lines.append(
            f"| {name} | {ev.n_test} | **{_f(s['reckon'].sa, 1)}** | {_f(s['atlm'].sa, 1)} | "
            f"{_f(s['abe'].sa, 1)} | {_f(s['median'].sa, 1)} | {_f(s['reckon'].mae, 1)} | "
            f"{_f(s['atlm'].mae, 1)} | {_f(s['abe'].mae, 1)} | {_f(s['reckon'].mmre, 3)} | "
            f"{_f(s['reckon'].pred25, 3)} | {_f(s['reckon'].coverage80, 3)} | "
            f"{_f(s['reckon'].width80, 1)} | {_f(s['median'].width80, 1)} |"
        )
    return lines


def render(story: dict[str, Evaluation], projects: dict[str, Evaluation], seconds: float) -> str:
    """The whole markdown document."""
    parts = [
        "# reckon accuracy on the public development data",
        "",
        "Generated by `python -m bench.evaluation.table` "
        f"({seconds:.0f} s). Baselines are computed in the same run on the same splits; "
        "SA is against random guessing (1000 runs); cov80/width80 are the coverage and mean "
        "width of the P10..P90 interval. Published figures: Tawosi, Moussa and Sarro, "
        "TSE 2023 (Deep-SE on raw story points).",
        "",
        "## Story points (chronological split: first 80% train, last 20% test)",
        "",
        *storypoint_section(story),
        "",
        "## Project-level datasets (leave-one-out)",
        "",
        *project_section(projects),
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Evaluate every dataset (or ``--only`` some) and write the markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation.table")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    story_names = [n for n in PUBLISHED if not only or n in only]
    project_sets = [p for p in PROJECT_SETS if not only or p.name in only]
    bar = ProgressBar(len(story_names) + len(project_sets), "accuracy table", delay=0.0)
    start = time.monotonic()
    story: dict[str, Evaluation] = {}
    projects: dict[str, Evaluation] = {}
    for name in story_names:
        story[name] = run_storypoints(args.data, name)
        bar.advance()
    for ps in project_sets:
        projects[ps.name] = run_project(args.data, ps)
        bar.advance()
    bar.close()
    text = render(story, projects, time.monotonic() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"models: {', '.join(DEFAULT_MODELS)}; written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
