"""Work items: bulk import (JSON or CSV), actual effort, lookup."""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from coordinator.api.common import json_response, state_of
from coordinator.problems import InvalidInput, NotFound, ServiceUnavailable, UnsupportedMediaType
from coordinator.store import events as event_log
from coordinator.store import items as item_store
from coordinator.store import ledger
from coordinator.store.events import Event
from coordinator.store.outage import UNREACHABLE
from coordinator.validation import (
    parse_effort,
    parse_item_id,
    parse_items_csv,
    parse_items_json,
    parse_json,
    read_body,
    require_json_content,
)
from coordinator.writes import check_idempotency_key, respond_to_write


async def import_items(request: Request) -> Response:
    """``POST /v1/items``: create or replace items; items with ``actual`` teach the model."""
    st = state_of(request)
    grant = await st.keys.verify(request, "write")
    check_idempotency_key(request.headers.get("idempotency-key"))
    body = await read_body(request, st.config.max_body_bytes, st.config.body_timeout)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype == "text/csv":
        items = parse_items_csv(body, st.config.max_import_items)
    elif ctype in ("application/json", ""):
        items = parse_items_json(parse_json(body), st.config.max_import_items)
    else:
        raise UnsupportedMediaType(f"send application/json or text/csv, not {ctype}")
    tenant = grant.tenant_id

    async def write(conn: asyncpg.Connection) -> tuple[int, dict[str, Any], list[Event]]:
        appended = await event_log.append(conn, tenant, [("item", it) for it in items])
        await item_store.upsert_many(conn, tenant, [(it, e.seq) for it, e in
                                                    zip(items, appended, strict=True)])
        await ledger.resolve(conn, tenant, [it["id"] for it in items if "actual" in it])
        response = {
            "imported": len(items),
            "with_actual": sum(1 for it in items if "actual" in it),
            "ids": [it["id"] for it in items],
            "seq": appended[-1].seq,
        }
        return 201, response, appended

    return await respond_to_write(request, st.pool, st.router, tenant, body, write)


async def record_actual(request: Request) -> Response:
    """``POST /v1/items/{id}/actual``: the real effort of a finished item."""
    st = state_of(request)
    grant = await st.keys.verify(request, "write")
    check_idempotency_key(request.headers.get("idempotency-key"))
    item_id = parse_item_id(request.path_params["item_id"], "id")
    require_json_content(request)
    body = await read_body(request, 64 * 1024, st.config.body_timeout)
    data = parse_json(body)
    if not isinstance(data, dict):
        raise InvalidInput("send {\"effort\": <positive number>}", field="effort")
    unknown = set(data) - {"effort"}
    if unknown:
        raise InvalidInput(f"unknown fields {sorted(unknown)}; send only 'effort'",
                           field=sorted(unknown)[0])
    if "effort" not in data:
        raise InvalidInput("effort is required", field="effort")
    effort = parse_effort(data["effort"], "effort")
    tenant = grant.tenant_id

    async def write(conn: asyncpg.Connection) -> tuple[int, dict[str, Any], list[Event]]:
        if not await item_store.exists(conn, tenant, item_id):
            raise NotFound(f"no item {item_id!r}; import it first with POST /v1/items",
                           field="id")
        appended = await event_log.append(conn, tenant, [("actual",
                                                          {"id": item_id, "effort": effort})])
        await item_store.set_actual(conn, tenant, item_id, effort, appended[0].seq)
        await ledger.resolve(conn, tenant, [item_id])
        return 200, {"id": item_id, "actual": effort, "seq": appended[0].seq}, appended

    return await respond_to_write(request, st.pool, st.router, tenant, body, write)


async def get_item(request: Request) -> Response:
    """``GET /v1/items/{id}``: the item, its actual and the estimates issued for it."""
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    item_id = parse_item_id(request.path_params["item_id"], "id")
    try:
        item = await item_store.get(st.pool, grant.tenant_id, item_id)
        if item is None:
            raise NotFound(f"no item {item_id!r}", field="id")
        item["estimates"] = await ledger.for_item(st.pool, grant.tenant_id, item_id)
    except UNREACHABLE as e:
        raise ServiceUnavailable("the database is unreachable; retry shortly",
                                 headers={"Retry-After": "1"}) from e
    return json_response(item)
