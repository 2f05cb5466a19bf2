"""Forecast requests: parsing into a plan, and every rejection naming its field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from coordinator.forecast_spec import (
    forecast_response,
    parse_forecast_request,
    topological_order,
)
from coordinator.problems import InvalidInput
from kernels.forecast import GRID_PROBS, KIND_FIXED, KIND_GRID, KIND_PERT, simulate_part
from kernels.forecast_merge import merge_parts


def body(**extra: Any) -> dict[str, Any]:
    tasks = [{"id": "c", "depends_on": ["a", "b"], "effort": 2},
             {"id": "a", "optimistic": 1, "likely": 2, "pessimistic": 4},
             {"id": "b", "title": "Login page", "features": {"size": 3}}]  # fmt: skip
    return {"tasks": tasks, **extra}


def rejected(b: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as e:
        parse_forecast_request(b)
    return e.value


def test_parses_a_project() -> None:
    r = parse_forecast_request(body(seed=5, trials=2000, correlation=0.2, percentiles=[50, 90],
                                    risks=[{"probability": 0.1, "extra_effort": 3,
                                            "tasks": ["a"]}]))  # fmt: skip
    plan = r.plan
    assert plan.task_ids == ("c", "a", "b")
    assert plan.kind.tolist() == [KIND_FIXED, KIND_PERT, KIND_GRID]
    assert plan.order.tolist() == [1, 2, 0]
    assert r.model_tasks == [(2, {"title": "Login page", "description": "",
                                  "features": {"size": 3.0}})]  # fmt: skip
    assert (r.trials, r.seed, r.percentiles, r.bins) == (2000, 5, (50.0, 90.0), 20)
    assert plan.risk_ids == ("risk-1",) and plan.risk_tasks.tolist() == [1]
    assert plan.missing_grids() == [2]
    filled = plan.with_grids({2: np.log(3.0) + 0.3 * np.linspace(-2.3, 2.3, GRID_PROBS.size)})
    summary = merge_parts(filled, [simulate_part(filled, 0, r.trials, r.seed)], r.percentiles, 8)
    answer = forecast_response(filled, summary, 0.01)
    assert set(answer) == {"trials", "seed", "elapsed_ms", "effort", "duration", "tasks",
                           "sensitivity_trials"}  # fmt: skip
    assert list(answer["effort"]["percentiles"]) == ["P50", "P90"]
    assert len(answer["duration"]["histogram"]["edges"]) == 9
    assert answer["tasks"][0] == {"id": "c", "criticality": 1.0, "sensitivity": 0.0}


def test_estimate_wins_over_work_item_and_equal_points_are_fixed() -> None:
    r = parse_forecast_request({"tasks": [
        {"id": "x", "title": "t", "optimistic": 3, "likely": 3, "pessimistic": 3}]})
    assert r.model_tasks == [] and r.plan.kind.tolist() == [KIND_FIXED]
    assert r.plan.params[0, 0] == 3.0


def test_cycle_names_its_tasks() -> None:
    e = rejected({"tasks": [{"id": "a", "effort": 1, "depends_on": ["c"]},
                            {"id": "b", "effort": 1, "depends_on": ["a"]},
                            {"id": "c", "effort": 1, "depends_on": ["b"]},
                            {"id": "d", "effort": 1}]})  # fmt: skip
    assert e.field == "tasks" and e.status == 422
    assert e.detail.startswith("the dependencies form a cycle: ")
    names = e.detail.split(": ")[1].split(" -> ")
    assert sorted(names[:-1]) == ["a", "b", "c"] and names[0] == names[-1]
    assert sorted(e.extra["cycle"]) == ["a", "b", "c"]


def test_self_dependency_is_a_cycle() -> None:
    e = rejected({"tasks": [{"id": "a", "effort": 1, "depends_on": ["a"]}]})
    assert e.extra["cycle"] == ["a"]


def test_topological_order_keeps_input_order_among_ready_tasks() -> None:
    assert topological_order(["x", "y", "z"], [[], [], [1]]) == [0, 1, 2]
    assert topological_order(["x", "y", "z"], [[2], [], []]) == [1, 2, 0]


@pytest.mark.parametrize(("task", "field", "words"), [
    ({"id": "a", "optimistic": 5, "likely": 2, "pessimistic": 9}, "tasks[0].optimistic",
     "greater than likely"),
    ({"id": "a", "optimistic": 1, "likely": 9, "pessimistic": 4}, "tasks[0].pessimistic",
     "greater than pessimistic"),
    ({"id": "a", "optimistic": -1, "likely": 2, "pessimistic": 4}, "tasks[0].optimistic",
     "negative"),
    ({"id": "a", "optimistic": 1, "likely": 2}, "tasks[0].pessimistic", "three-point"),
    ({"id": "a", "effort": -2}, "tasks[0].effort", "negative"),
    ({"id": "a", "effort": "x"}, "tasks[0].effort", "number"),
    ({"id": "a", "effort": 1, "likely": 2}, "tasks[0].effort", "not both"),
    ({"id": "a"}, "tasks[0]", "needs an effort, optimistic/likely/pessimistic, or a title"),
    ({"id": "a", "effort": 1, "depends_on": ["zz"]}, "tasks[0].depends_on[0]", "unknown task"),
    ({"id": "a", "effort": 1, "pesimistic": 3}, "tasks[0].pesimistic", "unknown field"),
    ({"effort": 1}, "tasks[0].id", "required"),
])  # fmt: skip
def test_bad_tasks_name_the_field(task: dict[str, Any], field: str, words: str) -> None:
    e = rejected({"tasks": [task]})
    assert e.field == field and words in e.detail


def test_duplicate_ids() -> None:
    e = rejected({"tasks": [{"id": "a", "effort": 1}, {"id": "a", "effort": 2}]})
    assert e.field == "tasks[1].id" and "duplicate" in e.detail


@pytest.mark.parametrize(("extra", "field"), [
    ({"trials": 10}, "trials"), ({"trials": 10**9}, "trials"), ({"trials": 1.5}, "trials"),
    ({"percentiles": [50, 100]}, "percentiles[1]"), ({"percentiles": [0]}, "percentiles[0]"),
    ({"percentiles": []}, "percentiles"), ({"correlation": 1.0}, "correlation"),
    ({"correlation": -0.1}, "correlation"), ({"bins": 0}, "bins"), ({"seed": -1}, "seed"),
    ({"risks": [{"probability": 1.5, "extra_effort": 1, "tasks": ["a"]}]},
     "risks[0].probability"),
    ({"risks": [{"probability": 0.5, "extra_effort": 1, "tasks": ["nope"]}]},
     "risks[0].tasks[0]"),
    ({"risks": [{"probability": 0.5, "extra_effort": 1, "tasks": []}]}, "risks[0].tasks"),
    ({"risks": [{"probability": 0.5, "tasks": ["a"]}]}, "risks[0].extra_effort"),
    ({"colour": 1}, "colour"),
])  # fmt: skip
def test_bad_options_name_the_field(extra: dict[str, Any], field: str) -> None:
    assert rejected(body(**extra)).field == field


def test_empty_or_missing_tasks() -> None:
    assert rejected({"tasks": []}).field == "tasks"
    assert rejected({}).field == "tasks"
    e = rejected([1])
    assert e.field is None and e.detail == "the request body must be an object"


def test_seed_is_drawn_when_absent() -> None:
    r = parse_forecast_request({"tasks": [{"id": "a", "effort": 1}]})
    assert 0 <= r.seed < 2**63


@pytest.mark.parametrize(("task", "field"), [
    ({"id": "a", "effort": 1e308}, "tasks[0].effort"),
    ({"id": "a", "effort": 5e-324}, "tasks[0].effort"),
    ({"id": "a", "optimistic": 0, "likely": 5e-324, "pessimistic": 1e-323}, "tasks[0].likely"),
    ({"id": "a", "optimistic": 1, "likely": 2, "pessimistic": 1e300}, "tasks[0].pessimistic"),
    ({"id": "a\x00", "effort": 1}, "tasks[0].id"),
    ({"id": "a", "title": "x\x00"}, "tasks[0].title"),
])  # fmt: skip
def test_efforts_out_of_range_and_nul_text_are_refused(task: dict[str, Any], field: str) -> None:
    assert rejected({"tasks": [task]}).field == field


def test_zero_efforts_are_milestones() -> None:
    r = parse_forecast_request({"tasks": [{"id": "a", "effort": 0}, {"id": "b", "optimistic": 0,
                                "likely": 1e-6, "pessimistic": 1e9}]})
    assert r.plan.params[0, 0] == 0.0


def test_risk_extra_effort_is_bounded() -> None:
    e = rejected(body(risks=[{"probability": 0.5, "extra_effort": 1e308, "tasks": ["a"]}]))
    assert e.field == "risks[0].extra_effort"


def test_tasks_times_trials_is_bounded() -> None:
    tasks = [{"id": f"t{i}", "effort": 1} for i in range(2000)]
    e = rejected({"tasks": tasks, "trials": 1_000_000})
    assert e.field == "trials" and "at most 500,000 trials" in e.detail
    assert parse_forecast_request({"tasks": tasks, "trials": 500_000}).trials == 500_000


def test_percentiles_are_taken_to_the_precision_of_their_labels() -> None:
    r = parse_forecast_request(body(percentiles=[10.0000001, 10.0000002, 50, 2.5]))
    assert r.percentiles == (10.0, 50.0, 2.5)
    assert rejected(body(percentiles=[50, 99.99999999])).field == "percentiles[1]"


def test_risks_name_at_most_so_many_tasks_in_all() -> None:
    tasks = [{"id": str(i), "effort": 1} for i in range(10_000)]
    every = [str(i) for i in range(10_000)]
    risks = [{"probability": 0.1, "extra_effort": 1, "tasks": every} for _ in range(11)]
    e = rejected({"tasks": tasks, "risks": risks, "trials": 100})
    assert e.field == "risks[10].tasks" and "100,000" in e.detail
    r = parse_forecast_request({"tasks": tasks, "risks": [*risks[:9],
        {"probability": 0.1, "extra_effort": 1, "tasks": ["1", "1", "2"]}], "trials": 100})
    assert r.plan.risk_ptr[-1] == 90_002  # a task named twice by one risk counts once


def test_a_plan_too_big_for_one_message_is_refused() -> None:
    tasks = [{"id": f"t{i}", "title": "work item", **({"depends_on": [f"t{i - 1}"]} if i else {})}
             for i in range(10_000)]  # fmt: skip
    e = rejected({"tasks": tasks, "trials": 100})
    assert e.field == "tasks" and "MiB" in e.detail and "10,000 here" in e.detail
    assert parse_forecast_request({"tasks": tasks[:6000], "trials": 100}).plan.n_tasks == 6000


def test_min_seq_is_taken() -> None:
    assert parse_forecast_request(body(min_seq=7)).min_seq == 7
    assert parse_forecast_request(body()).min_seq == 0
    assert rejected(body(min_seq=-1)).field == "min_seq"
