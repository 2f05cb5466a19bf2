"""A plain text progress bar on a stream (stderr), redrawn at most a few times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Counts steps towards ``total``; draws only when ``enabled`` (e.g. stderr is a terminal).

    Drawing starts after ``delay`` seconds so short runs stay silent.
    """

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        delay: float = 1.0,
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self._start = time.monotonic()
        self._delay = delay
        self._last_draw = 0.0
        self._drawn = False

    def advance(self, steps: int = 1) -> None:
        """Record ``steps`` finished steps and redraw if due."""
        self.done = min(self.total, self.done + steps)
        now = time.monotonic()
        if not self.enabled or now - self._start < self._delay:
            return
        if now - self._last_draw >= 0.2 or self.done == self.total:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = now - self._start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {elapsed:5.0f}s eta {eta:4.0f}s"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line if anything was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
