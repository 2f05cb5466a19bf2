"""Supervision: an actor that raises is restarted with exponential backoff.

The process never dies from an actor's failure. The mailbox outlives the actor instance, so
messages queued behind the one that failed are handled by the restarted instance; the failed
ask gets an error reply. Backoff doubles per consecutive failure up to a cap and resets once an
instance has run for ``reset_after`` seconds without failing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """How quickly a failing actor is restarted."""

    min_backoff: float = 0.05
    max_backoff: float = 5.0
    reset_after: float = 10.0


@dataclass
class RestartTracker:
    """Per-actor failure bookkeeping for a :class:`RestartPolicy`."""

    policy: RestartPolicy
    restarts: int = 0
    consecutive: int = 0
    last_start: float = field(default_factory=time.monotonic)

    def started(self) -> None:
        """Record that a fresh instance began running."""
        self.last_start = time.monotonic()

    def failed(self) -> float:
        """Record a failure; return how long to wait before the next start."""
        if time.monotonic() - self.last_start >= self.policy.reset_after:
            self.consecutive = 0
        self.restarts += 1
        self.consecutive += 1
        delay = self.policy.min_backoff * (2 ** (self.consecutive - 1))
        return float(min(delay, self.policy.max_backoff))
