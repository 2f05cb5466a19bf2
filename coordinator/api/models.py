"""The tenant's models as seen from the estimate ledger: live accuracy."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from coordinator.api.common import json_response, state_of
from coordinator.problems import ServiceUnavailable
from coordinator.store import ledger
from coordinator.store.outage import UNREACHABLE


async def accuracy(request: Request) -> Response:
    """``GET /v1/models/accuracy``: MAE, coverage and counts over recent resolved estimates.

    An estimate is resolved once the actual effort of the item it was issued for is known
    (estimates carry ``item_id`` to be linked). Windows hold the most recently resolved ones.
    """
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    try:
        report = await ledger.accuracy(st.pool, grant.tenant_id)
    except UNREACHABLE as e:
        raise ServiceUnavailable("the database is unreachable; retry shortly",
                                 headers={"Retry-After": "1"}) from e
    return json_response({"tenant": grant.tenant_id, **report})
