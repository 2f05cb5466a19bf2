"""Spreading a forecast's parts over nodes, against stand-in nodes that fail on cue."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from actors import RemoteError
from actors.messages import SimulateReply, SimulateRequest
from coordinator.forecast_spec import parse_forecast_request
from coordinator.forecasting import (
    PART_BYTES,
    PART_TASK_TRIALS,
    ForecastFailed,
    run_forecast,
    split_trials,
)
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
        self.asked: list[tuple[str, int]] = []

    async def ask(self, address: str, target: str, msg: SimulateRequest, timeout: float
                  ) -> SimulateReply:
        self.asked.append((address, msg.start))
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


def test_as_many_parts_as_nodes_go_one_to_each_node() -> None:
    """Each node may hold two parts at once, but not while another node has none."""
    nodes = Nodes(lambda address, msg: False)
    assert _run(nodes)["parts"] == 3
    assert sorted(a for a, _ in nodes.asked) == ["n0", "n1", "n2"]


def test_a_node_that_failed_a_part_gets_no_more() -> None:
    """n1 always fails and n2 fails once: n1 is asked once only (its second worker does not
    retry on it), so the part's three attempts are not spent on one broken node."""
    failed_once: set[str] = set()

    def fails(address: str, msg: SimulateRequest) -> bool:
        if address == "n2" and address not in failed_once:
            failed_once.add(address)
            return True
        return address == "n1"

    nodes = Nodes(fails)
    answer = _run(nodes)
    assert answer["effort"] == _run(Nodes(lambda address, msg: False))["effort"]
    assert [a for a, _ in nodes.asked].count("n1") == 1
    assert [a for a, _ in nodes.asked].count("n2") == 1


def test_a_part_for_another_range_than_asked_is_run_again_elsewhere() -> None:
    class WrongRange(Nodes):
        async def ask(self, address: str, target: str, msg: SimulateRequest,
                      timeout: float) -> SimulateReply:
            if address == "n0":  # answers a part one trial short
                msg = SimulateRequest(msg.plan, msg.start, msg.count - 1, msg.seed)
            return await super().ask(address, target, msg, timeout)

    healthy = _run(Nodes(lambda address, msg: False))
    answer = _run(WrongRange(lambda address, msg: False))
    assert answer["effort"] == healthy["effort"] and answer["parts"] == 3


@pytest.mark.parametrize("trials,tasks,workers", [
    (1_000_000, 200, 2), (1_000_000, 1000, 3), (30_000, 5, 3), (10, 5, 4), (1, 1, 3),
    (1_000_000, 10_000, 1), (10_000_000, 1, 3),
])
def test_parts_cover_the_trials_in_equal_shares_of_bounded_work(trials: int, tasks: int,
                                                                 workers: int) -> None:
    """A big forecast is cut into parts of at most PART_TASK_TRIALS, as many as the workers
    or a multiple of that, so a forecast given up stops within a part and no worker is left
    with one part more than the others."""
    parts = split_trials(trials, tasks, 0, workers)
    assert parts[0].start == 0 and sum(p.count for p in parts) == trials
    assert all(a.start + a.count == b.start for a, b in itertools.pairwise(parts))
    assert all(p.count * tasks <= max(PART_TASK_TRIALS, tasks) for p in parts)
    assert all(p.count * 16 <= PART_BYTES for p in parts)
    assert len(parts) % workers == 0 or len(parts) == trials
    sizes = [p.count for p in parts]
    assert max(sizes) - min(sizes) <= 1
