"""Estimates: one item or a batch, answered by the tenant's owner node, recorded in the ledger."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors.messages import EstimateReply, EstimateRequest
from coordinator.api.common import json_response, state_of
from coordinator.problems import InvalidInput, ServiceUnavailable
from coordinator.router import NoNodesAvailable
from coordinator.state import AppState
from coordinator.store.ledger import IssuedEstimate
from coordinator.validation import (
    parse_estimate_item,
    parse_json,
    parse_min_seq,
    parse_quantiles,
    read_body,
    require_json_content,
)


def _qkey(q: float) -> str:
    return f"{q:g}"


async def _estimate(st: AppState, tenant: str, items: list[dict[str, Any]],
                    quantiles: list[float], min_seq: int) -> list[dict[str, Any]]:
    wire_items = [{k: it[k] for k in ("title", "description", "features")} for it in items]
    msg = EstimateRequest(tenant, wire_items, quantiles,
                          max(min_seq, st.router.known_head(tenant)))
    try:
        reply = await st.router.read(tenant, msg, items=len(items))
    except NoNodesAvailable as e:
        raise ServiceUnavailable(str(e), headers={"Retry-After": "1"}) from e
    if not isinstance(reply, EstimateReply) or len(reply.results) != len(items):
        raise ServiceUnavailable("an owner node answered with an unexpected reply",
                                 headers={"Retry-After": "1"})
    out = []
    issued = []
    keys = [_qkey(q) for q in quantiles]
    # One random 96-bit prefix per request and the item's position: unique ids without a
    # system call per estimate.
    prefix = "est_" + secrets.token_hex(12)
    version, seq = reply.model_version, reply.seq
    for i, (item, result) in enumerate(zip(items, reply.results, strict=True)):
        values = result["quantiles"]
        if len(values) != len(keys):
            raise ServiceUnavailable("an owner node answered with an unexpected reply",
                                     headers={"Retry-After": "1"})
        qs = dict(zip(keys, map(float, values), strict=True))
        est_id = f"{prefix}{i:04x}"
        item_id = item.get("item_id")
        p10, p50, p90 = qs["0.1"], qs["0.5"], qs["0.9"]
        out.append({
            "id": est_id,
            "item_id": item_id,
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "quantiles": qs,
            "point": float(result["median"]),
            "model_version": version,
            "seq": seq,
            "analogies": result["analogies"],
            "drivers": [{"feature": n, "effect": v} for n, v in result["drivers"]],
        })
        issued.append(IssuedEstimate(est_id, tenant, item_id, qs, p10, p50, p90, version, seq))
    st.ledger.record_many(issued)
    return out


async def create_estimate(request: Request) -> Response:
    """``POST /v1/estimates``: an effort distribution for one work item."""
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    require_json_content(request)
    data = parse_json(await read_body(request, 1024 * 1024))
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
    data = parse_json(await read_body(request, st.config.max_body_bytes))
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
