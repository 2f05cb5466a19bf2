"""The history every target is seeded with: the shipped Desharnais projects with their actual
effort.

A cluster gets it over HTTP (the CSV bytes, ``POST /v1/items``); an in-process model (the
peers in :mod:`bench.peers`) gets the same rows parsed by the same code the coordinator uses,
so both learn from identical items.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from coordinator.validation import parse_items_csv

MAX_ITEMS = 100_000


def history_csv() -> bytes:
    """The Desharnais history as the CSV the coordinator imports."""
    return resources.files("coordinator.demo_data").joinpath("desharnais.csv").read_bytes()


def history_items() -> list[dict[str, Any]]:
    """The same history as validated items (``id``, ``title``, ``description``,
    ``features``, ``actual``), in file order, as the coordinator parses the CSV."""
    return parse_items_csv(history_csv(), MAX_ITEMS)
