"""Forecasts: Monte Carlo over a project's task graph, spread across the nodes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from coordinator.api.common import json_response, state_of
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
    forecast = parse_forecast_request(parse_json(await read_body(request,
                                                                 st.config.max_body_bytes)))
    try:
        plan = await fill_model_grids(st.router, grant.tenant_id, forecast)
        body = await run_forecast(st.system, st.membership, plan, forecast,
                                  st.config.forecast_part_timeout)
    except (NoNodesAvailable, ForecastFailed) as e:
        raise ServiceUnavailable(str(e), headers={"Retry-After": "2"}) from e
    return json_response(body)
