"""Spreading a forecast's parts over nodes, against stand-in nodes that fail on cue."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from actors import RemoteError
from actors.messages import SimulateReply, SimulateRequest
from coordinator.forecast_spec import parse_forecast_request
from coordinator.forecasting import ForecastFailed, run_forecast
from kernels import ForecastPlan, simulate_part

REQUEST = parse_forecast_request({"tasks": [{"id": "a", "optimistic": 1, "likely": 2,
                                             "pessimistic": 5}], "trials": 300, "seed": 1})


class Members:
    def live(self) -> list[Any]:
        return [SimpleNamespace(address=a) for a in ("n0", "n1", "n2")]


class Nodes:
    """Simulate parts in-process; ``fails(address, msg)`` says which asks fail."""

    def __init__(self, fails: Any) -> None:
        self.fails = fails

    async def ask(self, address: str, target: str, msg: SimulateRequest, timeout: float
                  ) -> SimulateReply:
        await anyio.sleep(0.02 * int(address[1:]))
        if self.fails(address, msg):
            raise RemoteError("handler_failed", f"{address} fails part {msg.start}")
        plan = ForecastPlan.from_dict(msg.plan)
        return SimulateReply(simulate_part(plan, msg.start, msg.count, msg.seed,
                                           n_chunks=1).to_dict())


def _run(nodes: Nodes) -> dict[str, Any]:
    return anyio.run(run_forecast, nodes, Members(), REQUEST.plan, REQUEST, 10.0)


def test_a_part_that_fails_on_one_node_runs_on_another_with_the_same_answer() -> None:
    healthy = _run(Nodes(lambda address, msg: False))
    flaky = _run(Nodes(lambda address, msg: address == "n0"))
    assert flaky["effort"]["percentiles"] == healthy["effort"]["percentiles"]
    assert flaky["parts"] == healthy["parts"] == 3


def test_a_part_that_fails_everywhere_is_a_forecast_failure_not_a_crash() -> None:
    with pytest.raises(ForecastFailed, match="failed 3 times"):
        _run(Nodes(lambda address, msg: msg.start == 0))
