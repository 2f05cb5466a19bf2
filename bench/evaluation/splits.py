"""Train/test partitions: chronological split, leave-one-out, repeated k-fold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bench.evaluation.errors import EvaluationError

Fold = tuple[NDArray[np.int64], NDArray[np.int64]]


@dataclass(frozen=True)
class SplitSpec:
    """How to partition ``n`` items: ``kind`` is ``chrono``, ``loo`` or ``kfold``."""

    kind: str
    fraction: float = 0.8
    folds: int = 10
    repeats: int = 1
    seed: int = 0

    def describe(self) -> str:
        """The spec as written on the command line."""
        if self.kind == "chrono":
            return f"chrono:{self.fraction:g}"
        if self.kind == "loo":
            return "loo"
        return f"kfold:{self.folds}x{self.repeats}"

    def count(self, n: int) -> int:
        """Number of folds over ``n`` items."""
        if self.kind == "chrono":
            return 1
        if self.kind == "loo":
            return n
        return self.folds * self.repeats

    def folds_of(self, n: int) -> Iterator[Fold]:
        """``(train, test)`` index arrays; chronological order is kept inside each part.

        Raises EvaluationError when ``n`` is too small for the split.
        """
        rows = np.arange(n, dtype=np.int64)
        if self.kind == "chrono":
            cut = int(self.fraction * n)
            if cut < 2 or cut >= n:
                raise EvaluationError(f"split {self.describe()} leaves an empty part of {n} rows")
            yield rows[:cut], rows[cut:]
        elif self.kind == "loo":
            for i in range(n):
                yield np.delete(rows, i), rows[i : i + 1]
        else:
            if self.folds > n:
                raise EvaluationError(f"{self.folds} folds need at least {self.folds} rows")
            rng = np.random.default_rng(self.seed)
            for _ in range(self.repeats):
                parts = np.array_split(rng.permutation(n), self.folds)
                for part in parts:
                    test = np.sort(part)
                    yield np.setdiff1d(rows, test), test


def parse_split(split: str | None, cv: str | None) -> SplitSpec:
    """Parse ``--split chrono:F`` or ``--cv loo|kfold:KxR`` (default ``chrono:0.8``).

    Raises EvaluationError on a malformed value or when both are given.
    """
    if split and cv:
        raise EvaluationError("give either --split or --cv, not both")
    if cv:
        if cv == "loo":
            return SplitSpec("loo")
        m = re.fullmatch(r"kfold:(\d+)(?:x(\d+))?", cv)
        if not m:
            raise EvaluationError(f"--cv must be 'loo' or 'kfold:K' or 'kfold:KxR', got {cv!r}")
        if int(m.group(1)) < 2 or (m.group(2) and int(m.group(2)) < 1):
            raise EvaluationError(f"--cv {cv}: K must be at least 2 and R at least 1")
        return SplitSpec("kfold", folds=int(m.group(1)), repeats=int(m.group(2) or 1))
    m = re.fullmatch(r"chrono:(0?\.\d+|1\.0*|0)", split or "chrono:0.8")
    if not m or not 0 < float(m.group(1)) < 1:
        raise EvaluationError(f"--split must be 'chrono:F' with 0 < F < 1, got {split!r}")
    return SplitSpec("chrono", fraction=float(m.group(1)))
