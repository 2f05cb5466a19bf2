"""Every message type the cluster exchanges, in one place.

Naming: ``<noun>.v<version>``. A change to a message's fields is a new version. Bodies carry
only msgpack-able values (numpy arrays travel as an ext type).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from actors.message import Message, message

# ---- membership (node -> coordinator) -------------------------------------------------------


@message
class Heartbeat(Message):
    """A node announces itself (first beat = join) and its load; the reply is the cluster view."""

    TYPE = "heartbeat.v1"
    node_id: str
    address: str
    draining: bool = False
    stats: dict[str, Any] | None = None


@message
class ClusterView(Message):
    """The coordinator's view of live members, as ``[[node_id, address], ...]``, and R."""

    TYPE = "cluster-view.v1"
    members: list[list[str]]
    replication: int
    coordinator_id: str


@message
class Leave(Message):
    """A node says it is going away (graceful shutdown): route nothing new to it."""

    TYPE = "leave.v1"
    node_id: str


# ---- the tenant event log -------------------------------------------------------------------


@message
class TenantEvents(Message):
    """Committed events of one tenant, in ascending sequence order.

    Each event is ``{"seq": int, "kind": str, "data": {...}}``. ``head_seq`` is the tenant's
    last committed sequence number as the sender knew it (0 if unknown).
    """

    TYPE = "tenant-events.v1"
    tenant: str
    events: list[dict[str, Any]]
    head_seq: int = 0


@message
class FetchEvents(Message):
    """Ask a coordinator for a tenant's events with ``seq > after_seq`` (at most ``limit``)."""

    TYPE = "fetch-events.v1"
    tenant: str
    after_seq: int
    limit: int = 5000


# ---- model snapshots (node -> coordinator) ---------------------------------------------------


@message
class SnapshotPart(Message):
    """One part of a tenant's model snapshot as of log position ``seq``: a node sends every
    part in order to one coordinator, which stores the whole once the last one arrives
    (``digest``: blake2b-256 of all parts joined; ``size``: their total length). Also the
    reply to :class:`FetchSnapshot`, where ``parts == 0`` means there is no snapshot."""

    TYPE = "snapshot-part.v1"
    tenant: str
    seq: int
    part: int
    parts: int
    size: int
    digest: bytes
    data: bytes


def snapshot_digest(parts: Iterable[bytes]) -> bytes:
    """The digest a :class:`SnapshotPart` carries: blake2b-256 of all parts joined."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part)
    return digest.digest()


@message
class FetchSnapshot(Message):
    """Ask a coordinator for part ``part`` of a tenant's newest snapshot at or below ``seq``
    (-1: the newest of all). The reply names the snapshot's own seq: a node asks for every
    later part by it, and one below the newest when the newest could not be used."""

    TYPE = "fetch-snapshot.v1"
    tenant: str
    part: int = 0
    seq: int = -1


# ---- estimation -----------------------------------------------------------------------------


@message
class EstimateRequest(Message):
    """Estimate work items for a tenant; the owner first catches up to ``min_seq``.

    Each item is ``{"title": str, "description": str, "features": {...}}``.
    """

    TYPE = "estimate.v1"
    tenant: str
    items: list[dict[str, Any]]
    quantiles: list[float]
    min_seq: int = 0


@message
class EstimateReply(Message):
    """One result per requested item, in order, and the model state they came from."""

    TYPE = "estimate-reply.v1"
    results: list[dict[str, Any]]
    model_version: str
    seq: int


@message
class EstimateJSONRequest(Message):
    """:class:`EstimateRequest`, answered with an :class:`EstimateJSONReply`: what the
    coordinator passes on to HTTP clients comes already written as JSON. Nodes that handle
    it say so in their heartbeat (``stats["speaks"]``)."""

    TYPE = "estimate-json.v1"
    tenant: str
    items: list[dict[str, Any]]
    quantiles: list[float]
    min_seq: int = 0


@message
class EstimateJSONReply(Message):
    """Results in columns: ``quantiles`` (items x levels) and ``medians`` as arrays, and per
    item its analogies and drivers as JSON arrays, in the shape of the HTTP API's
    ``analogies`` and ``drivers`` fields."""

    TYPE = "estimate-json-reply.v1"
    quantiles: np.ndarray
    medians: np.ndarray
    analogies: list[bytes]
    drivers: list[bytes]
    model_version: str
    seq: int


# ---- diagnostics ----------------------------------------------------------------------------


@message
class Ping(Message):
    """Liveness probe; answered with :class:`Pong`."""

    TYPE = "ping.v1"
    payload: str = ""


@message
class Pong(Message):
    """Answer to :class:`Ping`, echoing its payload."""

    TYPE = "pong.v1"
    payload: str = ""


@message
class Crash(Message):
    """Makes a test actor raise (fault injection in tests; no production actor handles it)."""

    TYPE = "crash.v1"
    reason: str = ""


@message
class Ack(Message):
    """The reply to an ask whose handler returned nothing."""

    TYPE = "ack.v1"


# ---- forecasting ----------------------------------------------------------------------------


@message
class SimulateRequest(Message):
    """Simulate trials ``start .. start+count-1`` of a forecast plan (its wire dict)."""

    TYPE = "simulate.v1"
    plan: dict[str, Any]
    start: int
    count: int
    seed: int


@message
class SimulateReply(Message):
    """One part of a forecast (a ``ForecastPart`` wire dict), to be merged exactly."""

    TYPE = "simulate-reply.v1"
    part: dict[str, Any]
