"""Tenant model snapshots: what a node saves and loads on taking a tenant over.

A snapshot is a tenant's model with its analogy graph (so loading skips the index
rebuild, most of a large tenant's load time), the tenant's item table, and the log
position ``seq`` they reflect. A tenant's first owner saves one after each refit and,
between refits, once enough events arrived since the last one (so the tail a node taking
over replays stays short); the model is then the one in use, with what it learned online.
It is msgpack (numpy arrays as the wire's ext type), cut into parts that each fit a message,
and stored through a coordinator in PostgreSQL (:mod:`coordinator.store.snapshots`). A node
loading a tenant takes the newest snapshot and replays only the events after its ``seq``;
whatever goes wrong on the way (no coordinator, a missing part, a digest or format that does
not match, a model built on another cold-start prior) is counted in ``snapshots_failed`` and
leaves it replaying the whole log, as without snapshots.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import anyio

from actors import AskTimeout, RemoteError
from actors.errors import ProtocolError
from actors.messages import FetchSnapshot, SnapshotPart, snapshot_digest
from actors.system import ActorSystem
from actors.wire import pack, unpack
from kernels import Estimator, PublicPrior

log = logging.getLogger("reckon.node.snapshots")

COORDINATOR_ACTOR = "coordinator"
FORMAT = 2
#: Snapshots a coordinator keeps per tenant, so a node may try as many, newest first.
KEPT = 2


@dataclass
class TenantSnapshot:
    """A tenant's state as of log position ``seq``: a model that went through ``refits``
    refits, the last of the log prefix up to ``refit_seq`` holding ``fitted_on`` actuals
    (which set when the next refit is due), then learned online up to ``seq``."""

    tenant: str
    seq: int
    refits: int
    items: dict[str, dict[str, Any]]
    model: Estimator
    refit_seq: int
    fitted_on: int


@dataclass
class SnapshotCounters:
    """What this node's snapshots did (reported in heartbeats)."""

    saved: int = 0
    loaded: int = 0
    failed: int = 0


COUNTERS = SnapshotCounters()


def _prior_key(prior: PublicPrior | None) -> list[float] | None:
    return None if prior is None else [float(v) for v in dataclasses.astuple(prior)]


def capture(snapshot: TenantSnapshot, prior: PublicPrior | None) -> dict[str, Any]:
    """The snapshot as plain data that shares nothing the model changes later: taken
    between two messages, the model in use can go on learning while it is encoded
    (about 15 ms for 21,000 items, against 100 ms for :func:`encode`; 35-50 ms when some
    actuals were corrected since the model's index was rebuilt, and :func:`encode` then
    rebuilds the graph, 2 s)."""
    ids = list(snapshot.items)
    return {
        "format": FORMAT, "tenant": snapshot.tenant, "seq": snapshot.seq,
        "refits": snapshot.refits, "refit_seq": snapshot.refit_seq,
        "fitted_on": snapshot.fitted_on, "prior": _prior_key(prior),
        "item_ids": ids,
        "item_titles": [snapshot.items[i]["title"] for i in ids],
        "item_descriptions": [snapshot.items[i]["description"] for i in ids],
        "item_features": [snapshot.items[i]["features"] for i in ids],
        "item_actuals": [snapshot.items[i].get("actual") for i in ids],
        "model": snapshot.model.to_state(with_index=True),
    }


def encode(snapshot: TenantSnapshot | dict[str, Any], prior: PublicPrior | None) -> bytes:
    """The snapshot (or what :func:`capture` took of it) as bytes; the model's own arrays
    are read, not changed. A model captured without its analogy graph (some learned item
    had been replaced since its index was last rebuilt) gets one built here, so a node
    loading it does not have to."""
    body = snapshot if isinstance(snapshot, dict) else capture(snapshot, prior)
    model = body["model"]
    if model.get("items.ids") and not any(key.startswith("index.") for key in model):
        body = {**body, "model": Estimator.from_state(model).to_state(with_index=True)}
    return pack(body)


def decode(data: bytes, tenant: str, prior: PublicPrior | None) -> TenantSnapshot:
    """A snapshot from :func:`encode` output; ValueError if it is not one of ``tenant``'s
    made with this node's format and cold-start prior."""
    try:
        body = unpack(data)
        if body["format"] != FORMAT or body["tenant"] != tenant:
            raise ValueError("a snapshot of another format or tenant")
        if body["prior"] != _prior_key(prior):
            raise ValueError("a snapshot made with another cold-start prior")
        ids, titles = body["item_ids"], body["item_titles"]
        descriptions, features = body["item_descriptions"], body["item_features"]
        actuals = body["item_actuals"]
        if not len(ids) == len(titles) == len(descriptions) == len(features) == len(actuals):
            raise ValueError("item table columns differ in length")
        items: dict[str, dict[str, Any]] = {}
        for i, t, d, f, a in zip(ids, titles, descriptions, features, actuals, strict=True):
            items[str(i)] = {"title": str(t), "description": str(d), "features": dict(f)}
            if a is not None:
                items[str(i)]["actual"] = float(a)
        model = Estimator.from_state(body["model"])
        seq = int(body["seq"])
        # Snapshots saved only after refits had neither key: the refit was of all of them.
        return TenantSnapshot(tenant, seq, int(body["refits"]), items, model,
                              int(body.get("refit_seq", seq)),
                              int(body.get("fitted_on", model.n_observations)))
    except (ProtocolError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"malformed snapshot: {e!r}") from e


def split(data: bytes, part_bytes: int) -> tuple[bytes, list[bytes]]:
    """The blake2b-256 digest of ``data`` and ``data`` cut into parts."""
    parts = [data[i:i + part_bytes] for i in range(0, len(data), part_bytes)] or [b""]
    return snapshot_digest([data]), parts


#: How long the last part may take: the coordinator stores the whole snapshot before it
#: answers (about 0.3 s for 87 MB).
LAST_PART_TIMEOUT = 60.0


class SnapshotTooLarge(Exception):
    """A coordinator refused a snapshot as larger than it can hold (a tenant's snapshots
    only grow: the next will be refused too)."""


async def save(system: ActorSystem, coordinators: list[str], tenant: str, seq: int,
               data: bytes, part_bytes: int, timeout: float) -> bool:
    """Send a snapshot to the first coordinator that takes all its parts; False if none did.

    Raises :class:`SnapshotTooLarge` if a coordinator refuses it as too large."""
    digest, parts = await anyio.to_thread.run_sync(split, data, part_bytes)
    for address in coordinators:
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                await system.ask(address, COORDINATOR_ACTOR, SnapshotPart(
                    tenant, seq, i, len(parts), len(data), digest, part),
                    max(timeout, LAST_PART_TIMEOUT) if last else timeout)
        except (AskTimeout, RemoteError) as e:
            log.warning("snapshot not stored tenant=%s seq=%d coordinator=%s error=%s",
                        tenant, seq, address, e)
            if isinstance(e, RemoteError) and e.code == "too-large":
                raise SnapshotTooLarge(str(e)) from e
            continue
        COUNTERS.saved += 1
        log.info("snapshot stored tenant=%s seq=%d bytes=%d parts=%d", tenant, seq,
                 len(data), len(parts))
        return True
    return False


class SnapshotUnavailable(Exception):
    """A snapshot exists but could not be read whole, or its digest does not match;
    ``seq`` is its seq where a coordinator named it (else None)."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


def _joined(chunks: list[bytes], size: int, digest: bytes, seq: int) -> tuple[int, bytes]:
    data = b"".join(chunks)
    if len(data) != size or snapshot_digest([data]) != digest:
        raise SnapshotUnavailable("snapshot digest or size does not match", seq)
    return seq, data


async def fetch(system: ActorSystem, coordinators: list[str], tenant: str,
                timeout: float, below: int = -1) -> tuple[int, bytes] | None:
    """The seq and bytes of the newest snapshot (at or below ``below``, if that is not -1),
    digest checked; None if a coordinator says there is none. Raises
    :class:`SnapshotUnavailable` if none could be read whole."""
    errors = []
    seq = None
    for address in coordinators:
        try:
            first = await system.ask(address, COORDINATOR_ACTOR,
                                     FetchSnapshot(tenant, 0, below), timeout)
            if not isinstance(first, SnapshotPart) or first.parts == 0:
                return None
            if below >= 0 and first.seq > below:
                return None  # a coordinator that reads seq as exact, and has none older
            seq = first.seq
            chunks = [first.data]
            for i in range(1, first.parts):
                part = await system.ask(address, COORDINATOR_ACTOR,
                                        FetchSnapshot(tenant, i, first.seq), timeout)
                if not isinstance(part, SnapshotPart) or (part.seq, part.part, part.digest) != (
                        first.seq, i, first.digest):
                    raise ValueError(f"part {i} is missing or of another snapshot")
                chunks.append(part.data)
        except (AskTimeout, RemoteError, ValueError) as e:
            errors.append(f"{address}: {e}")
            continue
        return await anyio.to_thread.run_sync(_joined, chunks, first.size, first.digest,
                                              first.seq)
    raise SnapshotUnavailable(f"no coordinator served the snapshot: {errors}", seq)
