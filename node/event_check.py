"""What a tenant actor needs of each event it folds.

Coordinators append only validated events, so a malformed one comes from a faulty member.
It must not fail the actor (the supervisor would restart it with an empty model): a pushed
one is dropped, and its seq is then fetched from the log; one the log itself holds is
skipped at its seq, the same way on every owner.
"""

from __future__ import annotations

import math
from typing import Any


def event_seq(event: Any) -> int | None:
    """The event's seq, or None if it has none that can be placed."""
    if not isinstance(event, dict):
        return None
    seq = event.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return None
    return seq


def _effort(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def event_problem(event: dict[str, Any]) -> str | None:
    """Why an event (with a seq) cannot be folded as its kind says, or None if it can.
    Events of unknown kinds pass: folding skips them."""
    kind, data = event.get("kind"), event.get("data")
    if kind not in ("item", "actual"):
        return None
    if not isinstance(data, dict):
        return "data is not a map"
    if not isinstance(data.get("id"), str) or not data["id"]:
        return "id is not a non-empty string"
    if kind == "actual":
        return None if _effort(data.get("effort")) else "effort is not a positive number"
    if not isinstance(data.get("title", ""), str) or not isinstance(
            data.get("description", ""), str):
        return "title or description is not a string"
    if not isinstance(data.get("features") or {}, dict):
        return "features is not a map"
    actual = data.get("actual")
    if actual is not None and not _effort(actual):
        return "actual is not a positive number"
    return None
