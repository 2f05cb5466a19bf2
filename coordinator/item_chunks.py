"""Splitting the items of one request into asks that fit the transport's frames.

A batch of estimates (or a forecast's work-item tasks) goes to the tenant's owner as one
message when it is small, which is the common case; one whose text would not fit in a frame
(8 MiB by default), or whose reply might not, goes as several asks (a batch of estimates
asks them at once, a forecast one after the other).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Items per ask: a reply carries up to five analogies per item, each with a title of up
#: to 1,000 characters, so this keeps the largest reply near 5 MiB.
MAX_ITEMS = 250
#: Encoded text per ask, a quarter of the default frame limit.
MAX_BYTES = 2 * 1024 * 1024
_ITEM_OVERHEAD = 64  # msgpack map keys and headers of one item
_FEATURE_OVERHEAD = 16


def _size(item: dict[str, Any]) -> int:
    """Bytes ``item`` takes in a message, give or take its headers."""
    size = _ITEM_OVERHEAD + len(item["title"].encode()) + len(item["description"].encode())
    for name, value in item["features"].items():
        size += _FEATURE_OVERHEAD + len(name.encode())
        if isinstance(value, str):
            size += len(value.encode())
    return size


def item_chunks(items: Sequence[dict[str, Any]], max_items: int = MAX_ITEMS,
                max_bytes: int = MAX_BYTES) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges covering ``items`` in order, each at most ``max_items`` long
    and about ``max_bytes`` of text (an item larger than that alone gets a range of its own)."""
    n = len(items)
    if n == 1:
        return [(0, 1)]
    ranges: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, item in enumerate(items):
        size = _size(item)
        if i > start and (i - start >= max_items or used + size > max_bytes):
            ranges.append((start, i))
            start, used = i, 0
        used += size
    ranges.append((start, n))
    return ranges
