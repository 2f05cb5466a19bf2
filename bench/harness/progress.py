"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Shows ``label``, a bar and counts; :meth:`update` is cheap and rate-limited."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.label = ""
        self._last = 0.0

    def start(self, label: str) -> None:
        """Begin a new phase with its own label."""
        self.label = label
        self._last = 0.0

    def update(self, done: int, total: int) -> None:
        """Redraw with ``done`` of ``total``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label[:50]:<50} [{bar}] {done}/{total}")
        self.stream.flush()

    def finish(self, line: str = "") -> None:
        """End the phase; print ``line`` (always, terminal or not) on its own line."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
        if line:
            self.stream.write(line + "\n")
        self.stream.flush()
