"""Splitting a request's items into asks that fit the transport's frames."""

from __future__ import annotations

from itertools import pairwise

from coordinator.item_chunks import MAX_BYTES, MAX_ITEMS, item_chunks


def _item(chars: int, text: str = "a") -> dict:
    return {"title": "t", "description": text * chars, "features": {"team": "core", "n": 1.0}}


def test_small_batches_go_whole() -> None:
    assert item_chunks([_item(100)] * 50) == [(0, 50)]
    assert item_chunks([_item(10**6)]) == [(0, 1)]


def test_ranges_cover_everything_in_order_within_the_limits() -> None:
    items = [_item(48_000)] * 180 + [_item(10)] * 600
    ranges = item_chunks(items)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(items)
    assert all(a[1] == b[0] for a, b in pairwise(ranges))
    for start, stop in ranges:
        assert stop - start <= MAX_ITEMS
        text = sum(len(it["description"]) for it in items[start:stop])
        assert text <= MAX_BYTES


def test_multibyte_text_is_counted_in_bytes() -> None:
    ranges = item_chunks([_item(30_000, "\N{GREEK SMALL LETTER ALPHA}")] * 100)  # 2 bytes each
    assert all((stop - start) * 60_000 <= MAX_BYTES for start, stop in ranges)
    assert len(ranges) == 3  # 34 items a range (as ASCII, 69: two ranges)


def test_an_item_larger_than_the_budget_stands_alone() -> None:
    items = [_item(10), _item(3 * MAX_BYTES), _item(10)]
    assert item_chunks(items) == [(0, 1), (1, 2), (2, 3)]
