"""Loading evaluation data: CSV or ARFF files into work items with a numeric target.

A row becomes a work item: the text columns make its title (the first) and description
(the rest, one per line); every other column that is not the target and not dropped is a
feature, numeric when every present value parses as a number (or the ARFF header says
so), categorical otherwise. Column names are matched after trimming spaces.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.evaluation.errors import EvaluationError

FeatureValue = float | str | None
MISSING_TOKENS = frozenset({"", "?", "na", "nan", "null", "none"})
DEFAULT_TEXT = ("title", "summary", "description")


@dataclass(frozen=True)
class Table:
    """Raw cells of a data file: column names, per-column kinds, rows of optional strings.

    ``kinds`` maps a column to ``"numeric"``, ``"nominal"``, ``"date"`` or ``"string"``
    where the file declares it (ARFF), and is empty for CSV.
    """

    columns: list[str]
    kinds: dict[str, str]
    rows: list[list[str | None]]


@dataclass(frozen=True)
class Dataset:
    """Work items with their actual effort, in file order."""

    name: str
    titles: list[str]
    descriptions: list[str]
    features: list[dict[str, FeatureValue]]
    efforts: NDArray[np.float64]
    numeric: list[str]
    nominal: list[str]
    has_text: bool

    def __len__(self) -> int:
        return int(self.efforts.shape[0])

    def subset(self, rows: NDArray[np.int64] | Sequence[int]) -> Dataset:
        """The items at ``rows``, in that order."""
        idx = [int(r) for r in rows]
        return Dataset(
            name=self.name,
            titles=[self.titles[i] for i in idx],
            descriptions=[self.descriptions[i] for i in idx],
            features=[self.features[i] for i in idx],
            efforts=self.efforts[np.asarray(idx, dtype=np.int64)],
            numeric=self.numeric,
            nominal=self.nominal,
            has_text=self.has_text,
        )


def read_table(path: Path) -> Table:
    """Read a CSV or ARFF file. Raises EvaluationError if it cannot be read or parsed."""
    if path.is_dir():
        raise EvaluationError(f"{path}: is a directory, not a CSV or ARFF file")
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                              f"offset {exc.start}); is it a CSV or ARFF file?") from exc
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".arff":
        return _parse_arff(text, path)
    return _parse_csv(text, path)


def _parse_csv(text: str, path: Path) -> Table:
    try:
        records = list(csv.reader(text.splitlines(keepends=True)))
    except csv.Error as exc:
        raise EvaluationError(f"{path}: not valid CSV: {exc}") from exc
    if not records or not any(cell.strip() for cell in records[0]):
        raise EvaluationError(f"{path}: empty file or no header row")
    columns = [c.strip() for c in records[0]]
    body = [r for r in records[1:] if any(cell.strip() for cell in r)]
    for line, r in enumerate(body, start=2):
        if len(r) != len(columns):
            raise EvaluationError(
                f"{path}: row {line} has {len(r)} fields, the header has {len(columns)}"
            )
    return Table(columns, {}, [list(r) for r in body])


_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.*)$", re.IGNORECASE)


def _parse_arff(text: str, path: Path) -> Table:
    columns: list[str] = []
    kinds: dict[str, str] = {}
    lines = text.splitlines()
    data_at = -1
    for n, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        low = line.lower()
        if low.startswith("@attribute"):
            m = _ATTRIBUTE.match(line)
            if m is None:
                raise EvaluationError(f"{path}: line {n + 1}: bad @attribute line")
            name = m.group(1).strip("'\"").strip()
            spec = m.group(2).split("%")[0].strip().lower()
            if spec.startswith("{"):
                kind = "nominal"
            elif spec.split()[0] in ("numeric", "real", "integer"):
                kind = "numeric"
            elif spec.startswith("date"):
                kind = "date"
            elif spec.startswith("string"):
                kind = "string"
            else:
                raise EvaluationError(f"{path}: line {n + 1}: unsupported attribute type")
            columns.append(name)
            kinds[name] = kind
        elif low.startswith("@data"):
            data_at = n + 1
            break
    if data_at < 0 or not columns:
        raise EvaluationError(f"{path}: not an ARFF file (no @attribute or @data section)")
    body = [ln for ln in lines[data_at:] if ln.strip() and not ln.strip().startswith("%")]
    if any(ln.strip().startswith("{") for ln in body):
        raise EvaluationError(f"{path}: sparse ARFF data is not supported")
    rows: list[list[str | None]] = []
    try:
        reader = csv.reader(body, quotechar="'", skipinitialspace=True)
        for n, record in enumerate(reader, start=1):
            if len(record) != len(columns):
                raise EvaluationError(
                    f"{path}: data row {n} has {len(record)} values, expected {len(columns)}"
                )
            rows.append([c.strip().strip('"') for c in record])
    except csv.Error as exc:
        raise EvaluationError(f"{path}: bad ARFF data: {exc}") from exc
    return Table(columns, kinds, rows)


def _missing(cell: str | None) -> bool:
    return cell is None or cell.strip().lower() in MISSING_TOKENS


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _date_value(cell: str) -> float | None:
    try:
        day = dt.date.fromisoformat(cell.strip()[:10])
    except ValueError:
        return None
    return day.year + (day.timetuple().tm_yday - 1) / 365.25


def _resolve(table: Table, names: Sequence[str], what: str) -> list[str]:
    by_trimmed = {c.strip(): c for c in table.columns}
    out = []
    for name in names:
        key = name.strip()
        if key not in by_trimmed:
            known = ", ".join(by_trimmed)
            raise EvaluationError(f"{what} column {key!r} not found (columns: {known})")
        out.append(by_trimmed[key])
    return out


def build_dataset(
    table: Table,
    name: str,
    target: str,
    text: Sequence[str] | None = None,
    drop: Sequence[str] = (),
) -> Dataset:
    """Work items from ``table``; ``text=None`` picks columns named title/summary/description.

    Raises EvaluationError for a missing column, a non-numeric or non-positive target.
    """
    (target_col,) = _resolve(table, [target], "target")
    dropped = set(_resolve(table, list(drop), "--drop"))
    if target_col in dropped:
        raise EvaluationError(f"--drop names the target {target.strip()!r}; it cannot be both")
    if text is None:
        text_cols = [c for c in table.columns if c.strip().lower() in DEFAULT_TEXT]
    else:
        text_cols = _resolve(table, [t for t in text if t.strip()], "--text")
    text_cols = [c for c in text_cols if c != target_col and c not in dropped]
    pos = {c: i for i, c in enumerate(table.columns)}
    efforts = np.empty(len(table.rows))
    for n, row in enumerate(table.rows):
        cell = row[pos[target_col]]
        if _missing(cell):
            raise EvaluationError(f"target {target.strip()!r} is missing in data row {n + 1}; "
                                  "every row needs one")
        value = _number(str(cell))
        if value is None:
            raise EvaluationError(
                f"target {target.strip()!r} is not numeric in data row {n + 1}: {cell!r}"
            )
        if value <= 0:
            raise EvaluationError(f"target {target.strip()!r} must be > 0; row {n + 1} has {cell}")
        efforts[n] = value
    if efforts.size < 3:
        raise EvaluationError("need at least 3 rows with a target value")
    feature_cols = [
        c for c in table.columns if c != target_col and c not in dropped and c not in text_cols
    ]
    numeric: list[str] = []
    nominal: list[str] = []
    for c in feature_cols:
        kind = table.kinds.get(c)
        cells = [row[pos[c]] for row in table.rows if not _missing(row[pos[c]])]
        if kind in ("numeric", "date") or (
            kind is None and cells and all(_number(str(x)) is not None for x in cells)
        ):
            numeric.append(c)
        else:
            nominal.append(c)
    features: list[dict[str, FeatureValue]] = []
    titles: list[str] = []
    descriptions: list[str] = []
    for row in table.rows:
        item: dict[str, FeatureValue] = {}
        for c in numeric:
            cell = row[pos[c]]
            if _missing(cell):
                item[c.strip()] = None
            elif table.kinds.get(c) == "date":
                item[c.strip()] = _date_value(str(cell))
            else:
                item[c.strip()] = _number(str(cell))
        for c in nominal:
            cell = row[pos[c]]
            item[c.strip()] = None if _missing(cell) else str(cell).strip()
        features.append(item)
        parts = ["" if _missing(row[pos[c]]) else str(row[pos[c]]) for c in text_cols]
        titles.append(parts[0] if parts else "")
        descriptions.append("\n".join(parts[1:]))
    return Dataset(
        name=name,
        titles=titles,
        descriptions=descriptions,
        features=features,
        efforts=efforts,
        numeric=[c.strip() for c in numeric],
        nominal=[c.strip() for c in nominal],
        has_text=bool(text_cols),
    )


def load_dataset(
    path: Path, target: str, text: Sequence[str] | None = None, drop: Sequence[str] = ()
) -> Dataset:
    """Read and build a dataset in one step (see :func:`read_table`, :func:`build_dataset`)."""
    return build_dataset(read_table(path), path.stem, target, text, drop)
