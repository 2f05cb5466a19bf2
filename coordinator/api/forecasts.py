"""Forecasts: Monte Carlo over a project's task graph, spread across the nodes."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from coordinator.api.common import check_min_seq, json_response, state_of, unless_client_leaves
from coordinator.forecast_spec import parse_forecast_request
from coordinator.forecasting import ForecastFailed, fill_model_grids, run_forecast
from coordinator.problems import ServiceUnavailable
from coordinator.router import NoNodesAvailable
from coordinator.validation import parse_json, read_body, require_json_content


async def create_forecast(request: Request) -> Response:
    """``POST /v1/forecasts``: percentiles, histograms, criticality and sensitivity."""
    st = state_of(request)
    grant = await st.keys.verify(request, "read")
    require_json_content(request)
    data = parse_json(await read_body(request, st.config.max_body_bytes, st.config.body_timeout))
    # In a worker thread: a project of 10,000 tasks takes a while to check, and the event
    # loop must go on answering heartbeats and other requests meanwhile.
    forecast = await anyio.to_thread.run_sync(parse_forecast_request, data)
    await check_min_seq(st, grant.tenant_id, forecast.min_seq)

    async def simulate() -> dict[str, Any]:
        plan = await fill_model_grids(st.router, grant.tenant_id, forecast)
        return await run_forecast(st.system, st.membership, plan, forecast,
                                  st.config.forecast_part_timeout)

    try:
        # A forecast can take a minute of every node: one whose client left is stopped.
        body = await unless_client_leaves(request, simulate, "forecast")
    except (NoNodesAvailable, ForecastFailed) as e:
        raise ServiceUnavailable(str(e), headers={"Retry-After": "2"}) from e
    return json_response(body)
