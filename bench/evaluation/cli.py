"""``reckon eval``: offline accuracy of reckon against baselines on a data file.

Usage::

    reckon eval DATA.csv|DATA.arff --target COLUMN [--text COL,COL]
                [--split chrono:0.8 | --cv loo | --cv kfold:10x3]
                [--drop COL,COL] [--online] [--json]
    reckon eval --train A --test B --target COLUMN [...]

Prints a table (or one JSON object with ``--json``) of MAE, MdAE, SA, MMRE, Pred(25) and
80%-interval coverage and width for reckon and for the mean, median, ATLM and ABE
baselines, all on the same folds. Bad input gives one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from bench.evaluation.datasets import Dataset, Table, build_dataset, read_table
from bench.evaluation.errors import EvaluationError
from bench.evaluation.progress import ProgressBar
from bench.evaluation.runner import DEFAULT_MODELS, Evaluation, evaluate
from bench.evaluation.splits import Fold, SplitSpec, parse_split

COLUMNS = (
    ("mae", "MAE", "{:.3f}"),
    ("mdae", "MdAE", "{:.3f}"),
    ("sa", "SA%", "{:.1f}"),
    ("mmre", "MMRE", "{:.3f}"),
    ("pred25", "Pred25", "{:.3f}"),
    ("coverage80", "Cov80", "{:.3f}"),
    ("width80", "Width80", "{:.2f}"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise EvaluationError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="reckon eval", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("data", nargs="?", help="CSV or ARFF file (omit with --train/--test)")
    p.add_argument("--train", help="training file (with --test)")
    p.add_argument("--test", help="test file (with --train); same columns as --train")
    p.add_argument("--target", required=True, help="column holding the actual effort")
    p.add_argument("--text", help="comma-separated text columns (default: title/description)")
    p.add_argument("--drop", default="", help="comma-separated columns to leave out")
    p.add_argument("--split", help="chrono:F, train on the first F of the rows (default 0.8)")
    p.add_argument("--cv", help="loo, or kfold:K or kfold:KxR (K folds repeated R times)")
    p.add_argument("--online", action="store_true", help="estimate then learn each test item")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v for v in value.split(",") if v.strip()]


def _concat(a: Table, b: Table) -> Table:
    if [c.strip() for c in a.columns] != [c.strip() for c in b.columns]:
        raise EvaluationError("--train and --test files must have the same columns")
    return Table(a.columns, a.kinds, a.rows + b.rows)


def _prepare(args: argparse.Namespace) -> tuple[Dataset, list[Fold], SplitSpec | None]:
    text, drop = _names(args.text), _names(args.drop) or []
    if args.train or args.test:
        if not (args.train and args.test) or args.data:
            raise EvaluationError("give DATA, or both --train and --test")
        if args.split or args.cv:
            raise EvaluationError("--split/--cv do not apply with --train/--test")
        train_table, test_table = read_table(Path(args.train)), read_table(Path(args.test))
        data = build_dataset(
            _concat(train_table, test_table), Path(args.train).stem, args.target, text, drop
        )
        n_train = len(train_table.rows)
        rows = np.arange(len(data), dtype=np.int64)
        return data, [(rows[:n_train], rows[n_train:])], None
    if not args.data:
        raise EvaluationError("missing DATA file (or --train and --test)")
    spec = parse_split(args.split, args.cv)
    if args.online and spec.kind != "chrono":
        raise EvaluationError("--online replays the data in order: use it with --split")
    data = build_dataset(read_table(Path(args.data)), Path(args.data).stem, args.target, text, drop)
    return data, list(spec.folds_of(len(data))), spec


def _cell(value: float, fmt: str) -> str:
    """A score as the table shows it: huge values (a baseline gone wild) in three
    significant digits, so that no cell runs into the next."""
    if math.isfinite(value) and abs(value) >= 1e7:
        return f"{value:.3g}"
    return fmt.format(value)


def format_table(result: Evaluation) -> str:
    """A text table of every model's scores; each column as wide as its widest cell."""
    cells = {name: [_cell(s.as_dict()[key], fmt) for key, _, fmt in COLUMNS]
             for name, s in result.scores.items()}
    first = max([len("model"), *map(len, cells)])
    widths = [max([len(title), *(len(row[j]) for row in cells.values())])
              for j, (_, title, _) in enumerate(COLUMNS)]
    head = f"{'model':<{first}}" + "".join(
        f"  {title:>{w}}" for (_, title, _), w in zip(COLUMNS, widths, strict=True))
    lines = [head, "-" * len(head)]
    for name, row in cells.items():
        lines.append(f"{name:<{first}}" + "".join(
            f"  {cell:>{w}}" for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad input)."""
    try:
        args = _parser().parse_args(argv)
        data, folds, spec = _prepare(args)
        bar = ProgressBar(len(folds) * len(DEFAULT_MODELS), f"eval {data.name}")
        try:
            result = evaluate(data, folds, len(folds), online=args.online, progress=bar)
        finally:
            bar.close()
    except EvaluationError as exc:
        print(f"reckon eval: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        how = spec.describe() if spec is not None else "train/test files"
        mode = ", online" if args.online else ""
        print(f"{data.name}: {len(data)} items, {how}{mode}; "
              f"n_train={result.n_train} n_test={result.n_test}")  # fmt: skip
        print(format_table(result))
    return 0
