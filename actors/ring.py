"""Rendezvous (highest-random-weight) hashing: which nodes own a tenant.

Every coordinator and node computes the same owners from the same member list, with no
coordination: owners of a key are the ``r`` members with the highest ``hash(key, member)``.
Removing a member only moves the keys it owned; adding one only takes keys onto it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(key: str, member: str) -> int:
    digest = hashlib.blake2b(f"{key}\x00{member}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_owners(key: str, members: Iterable[str], r: int) -> list[str]:
    """The ``r`` owners of ``key`` among ``members``, most preferred first."""
    if r < 1:
        raise ValueError("replication factor must be at least 1")
    ranked = sorted(members, key=lambda m: _weight(key, m), reverse=True)
    return ranked[:r]


class Ring:
    """An immutable membership snapshot with a per-key owner cache."""

    def __init__(self, members: Iterable[str], replication: int) -> None:
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self.replication = replication
        self._cache: dict[str, list[str]] = {}

    def owners(self, key: str) -> list[str]:
        """The owners of ``key`` (fewer than R when fewer members are alive)."""
        found = self._cache.get(key)
        if found is None:
            found = rendezvous_owners(key, self.members, self.replication) if self.members else []
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    def preference(self, key: str) -> list[str]:
        """Every member, in the order a read should try them for ``key``."""
        return rendezvous_owners(key, self.members, len(self.members)) if self.members else []
