"""Estimates: one item or a batch, answered by the tenant's owner node, recorded in the ledger."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response

from actors.message import Message
from actors.messages import EstimateJSONReply, EstimateJSONRequest, EstimateReply, EstimateRequest
from coordinator.api.common import check_min_seq, json_response, state_of
from coordinator.item_chunks import item_chunks
from coordinator.problems import InvalidInput, ServiceUnavailable
from coordinator.router import NoNodesAvailable
from coordinator.state import AppState
from coordinator.store.ledger import IssuedEstimate
from coordinator.validation import (
    parse_estimate_item,
    parse_json,
    parse_min_seq,
    parse_quantiles,
    quantile_key,
    read_body,
    require_json_content,
)

#: A node's answer in columns: quantile rows, medians, analogies and drivers (the last two
#: as values for the response, or as JSON written by the node), model version and seq.
Columns = tuple[list[list[float]], list[float], list[Any], list[Any], str, int]


def _unexpected() -> ServiceUnavailable:
    return ServiceUnavailable("an owner node answered with an unexpected reply",
                              headers={"Retry-After": "1"})


def _columns(reply: Message, n_items: int, n_levels: int) -> Columns:
    """The results of a node's reply, checked against what was asked."""
    if isinstance(reply, EstimateJSONReply):
        if (reply.quantiles.shape != (n_items, n_levels) or reply.medians.shape != (n_items,)
                or len(reply.analogies) != n_items or len(reply.drivers) != n_items):
            raise _unexpected()
        return (reply.quantiles.astype(float).tolist(), reply.medians.astype(float).tolist(),
                [orjson.Fragment(a) for a in reply.analogies],
                [orjson.Fragment(d) for d in reply.drivers], reply.model_version, reply.seq)
    if not isinstance(reply, EstimateReply) or len(reply.results) != n_items:
        raise _unexpected()
    rows = [[float(v) for v in r["quantiles"]] for r in reply.results]
    if any(len(row) != n_levels for row in rows):
        raise _unexpected()
    return (rows, [float(r["median"]) for r in reply.results],
            [r["analogies"] for r in reply.results],
            [[{"feature": n, "effect": v} for n, v in r["drivers"]] for r in reply.results],
            reply.model_version, reply.seq)


async def _ask(st: AppState, tenant: str, items: list[dict[str, Any]],
               quantiles: list[float], head: int) -> Columns:
    """One ask of the tenant's owners for ``items``, as columns."""
    try:
        # Nodes write the results as JSON; one of an older release answers in maps.
        reply = await st.router.read(
            tenant, EstimateJSONRequest(tenant, items, quantiles, head), items=len(items),
            fallback=EstimateRequest(tenant, items, quantiles, head))
    except NoNodesAvailable as e:
        raise ServiceUnavailable(str(e), headers={"Retry-After": "1"}) from e
    return _columns(reply, len(items), len(quantiles))


async def _ask_in_parts(st: AppState, tenant: str, items: list[dict[str, Any]],
                        ranges: list[tuple[int, int]], quantiles: list[float], head: int
                        ) -> list[Columns]:
    """A batch too big for one message, asked in parts at once (the owner computes one
    while the coordinator sends or reads another); the first failure is raised as is."""
    parts: list[Columns | None] = [None] * len(ranges)
    failed: list[Exception] = []

    async def ask(i: int, start: int, stop: int, scope: anyio.CancelScope) -> None:
        try:
            parts[i] = await _ask(st, tenant, items[start:stop], quantiles, head)
        except Exception as e:  # noqa: BLE001 (raised below, not in an ExceptionGroup)
            failed.append(e)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for i, (start, stop) in enumerate(ranges):
            tg.start_soon(ask, i, start, stop, tg.cancel_scope)
    if failed:
        raise failed[0]
    return [p for p in parts if p is not None]


async def _estimate(st: AppState, tenant: str, items: list[dict[str, Any]],
                    quantiles: list[float], min_seq: int) -> list[dict[str, Any]]:
    """Estimates of ``items`` (as :func:`parse_estimate_item` returns them: each one's
    ``item_id`` is taken out, and what is left is the item as nodes take it)."""
    item_ids = [it.pop("item_id", None) for it in items]
    await check_min_seq(st, tenant, min_seq)
    head = max(min_seq, st.router.known_head(tenant))
    ranges = item_chunks(items)
    if len(ranges) == 1:
        parts = [await _ask(st, tenant, items, quantiles, head)]
    else:
        parts = await _ask_in_parts(st, tenant, items, ranges, quantiles, head)
    rows, medians, analogies, drivers = [], [], [], []
    versions: list[tuple[str, int]] = []
    for (start, stop), part in zip(ranges, parts, strict=True):
        rows += part[0]
        medians += part[1]
        analogies += part[2]
        drivers += part[3]
        versions += [(part[4], part[5])] * (stop - start)
    out = []
    issued = []
    keys = [quantile_key(q) for q in quantiles]
    # One random 96-bit prefix per request and the item's position: unique ids without a
    # system call per estimate.
    prefix = "est_" + secrets.token_hex(12)
    issued_at = datetime.datetime.now(datetime.UTC)
    for i, (item_id, row, median, found, drove, (version, seq)) in enumerate(
            zip(item_ids, rows, medians, analogies, drivers, versions, strict=True)):
        qs = dict(zip(keys, row, strict=True))
        est_id = f"{prefix}{i:04x}"
        p10, p50, p90 = qs["0.1"], qs["0.5"], qs["0.9"]
        out.append({
            "id": est_id,
            "item_id": item_id,
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "quantiles": qs,
            "point": median,
            "model_version": version,
            "seq": seq,
            "analogies": found,
            "drivers": drove,
        })
        issued.append(IssuedEstimate(est_id, tenant, item_id, qs, p10, p50, p90, version, seq,
                                     issued_at))
    st.ledger.record_many(issued)
    return out


async def create_estimate(request: Request) -> Response:
    """``POST /v1/estimates``: an effort distribution for one work item."""
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    require_json_content(request)
    data = parse_json(await read_body(request, 1024 * 1024, st.config.body_timeout))
    item = parse_estimate_item(data, "")
    quantiles = parse_quantiles(data.get("quantiles"))
    min_seq = parse_min_seq(data.get("min_seq"))
    [estimate] = await _estimate(st, grant.tenant_id, [item], quantiles, min_seq)
    return json_response(estimate)


async def create_estimates_batch(request: Request) -> Response:
    """``POST /v1/estimates/batch``: many items in one request, answered in order."""
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    require_json_content(request)
    data = parse_json(await read_body(request, st.config.max_body_bytes, st.config.body_timeout))
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise InvalidInput("send {\"items\": [...], \"quantiles\": [...]}", field="items")
    raw_items = data["items"]
    if not raw_items:
        raise InvalidInput("items must not be empty", field="items")
    if len(raw_items) > st.config.max_batch_items:
        raise InvalidInput(f"at most {st.config.max_batch_items} items per batch", field="items")
    unknown = set(data) - {"items", "quantiles", "min_seq"}
    if unknown:
        raise InvalidInput(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
    items = [parse_estimate_item(x, f"items[{i}]") for i, x in enumerate(raw_items)]
    quantiles = parse_quantiles(data.get("quantiles"))
    min_seq = parse_min_seq(data.get("min_seq"))
    estimates = await _estimate(st, grant.tenant_id, items, quantiles, min_seq)
    return json_response({"estimates": estimates, "count": len(estimates)})
