"""The median of a multiset of numbers that grows and shrinks one value at a time."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def exact_logs(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``math.log`` of each value. numpy's vectorised log may differ from the scalar one in
    the last bit (by CPU, and by where a value sits in the array), and a value added with
    ``math.log`` must be found again bit for bit by :meth:`RunningMedian.remove`."""
    return np.array([math.log(v) for v in np.asarray(values, dtype=np.float64).tolist()],
                    dtype=np.float64)


class RunningMedian:
    """Keeps the values sorted (insertion by bisection), so the median is O(1) to read."""

    def __init__(self, values: NDArray[np.float64] | None = None) -> None:
        self.sorted = np.sort(np.asarray(values if values is not None else [], dtype=np.float64))

    def __len__(self) -> int:
        return int(self.sorted.shape[0])

    def add(self, value: float) -> None:
        """Insert one value."""
        self.sorted = np.insert(self.sorted, np.searchsorted(self.sorted, value), value)

    def remove(self, value: float) -> None:
        """Remove one occurrence of ``value``; raises ValueError if it is not held."""
        pos = int(np.searchsorted(self.sorted, value))
        if pos >= len(self) or self.sorted[pos] != value:
            raise ValueError(f"{value} is not held")
        self.sorted = np.delete(self.sorted, pos)

    def median(self) -> float:
        """The median (NaN when empty), read from the middle of the sorted values."""
        n = self.sorted.shape[0]
        if n == 0:
            return float("nan")
        mid = n // 2
        if n % 2:
            return float(self.sorted[mid])
        return 0.5 * (float(self.sorted[mid - 1]) + float(self.sorted[mid]))
