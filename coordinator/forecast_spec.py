"""The ``/v1/forecasts`` contract: a project request parsed and validated into a
:class:`kernels.forecast.ForecastPlan`, and a merged forecast shaped into the response.

Request (JSON object)::

    {"tasks": [{"id": "api", "depends_on": ["db"],
                "optimistic": 3, "likely": 5, "pessimistic": 10}      # beta-PERT
               | {"effort": 4}                                        # fixed
               | {"title": "...", "description": "...", "features": {...}}],  # the model
     "risks": [{"id": "vendor", "probability": 0.2, "extra_effort": 5, "tasks": ["api"]}],
     "correlation": 0.3, "trials": 10000, "seed": 42,
     "percentiles": [10, 50, 90], "bins": 20, "min_seq": 0}

A task with a fixed or three-point estimate uses it even if it also describes a work item;
only tasks with a work item alone need the tenant's model. Every rejection is an
:class:`~coordinator.problems.InvalidInput` naming the field at fault (HTTP 422).
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.wire import pack
from coordinator.problems import InvalidInput
from coordinator.validation import (
    MAX_DESCRIPTION,
    MAX_EFFORT,
    MAX_TITLE,
    MIN_EFFORT,
    parse_features,
    parse_min_seq,
    parse_text,
    reject_nul,
)
from kernels.forecast import GRID_PROBS, KIND_FIXED, KIND_GRID, KIND_PERT, ForecastPlan
from kernels.forecast_merge import ForecastSummary, OutcomeSummary

MAX_TASKS = 10_000
MAX_DEPENDENCIES = 100_000
MAX_RISKS = 1_000
MAX_RISK_MEMBERS = 100_000  # tasks named by all risks together
#: The plan travels to every node in one message: it must fit in a frame (8 MiB) with room
#: to spare. Work-item tasks cost most (99 quantiles each, about 800 bytes).
MAX_PLAN_BYTES = 6 * 1024 * 1024
MIN_TRIALS, MAX_TRIALS, DEFAULT_TRIALS = 100, 5_000_000, 10_000
#: Tasks times trials: the work of one forecast (about a minute of one core at 1,000 tasks
#: and 1,000,000 trials), so no request can hold the nodes for long.
MAX_TASK_TRIALS = 1_000_000_000
MAX_BINS, DEFAULT_BINS = 200, 20
DEFAULT_PERCENTILES = (10.0, 25.0, 50.0, 75.0, 80.0, 90.0, 95.0)
MAX_ID = 200
TOP_FIELDS = {"tasks", "risks", "correlation", "trials", "seed", "percentiles", "bins",
              "min_seq"}
TASK_FIELDS = {"id", "depends_on", "effort", "optimistic", "likely", "pessimistic",
               "title", "description", "features"}  # fmt: skip
RISK_FIELDS = {"id", "probability", "extra_effort", "tasks"}
THREE_POINT = ("optimistic", "likely", "pessimistic")


@dataclass(frozen=True)
class ForecastRequest:
    """A validated forecast request.

    ``model_tasks`` lists ``(task index, work item)`` for tasks the tenant's model must
    estimate; the service fills their log-effort grids at :data:`GRID_PROBS`
    (``plan.with_grids``) before simulating.
    """

    plan: ForecastPlan
    model_tasks: list[tuple[int, dict[str, Any]]]
    trials: int
    seed: int
    percentiles: tuple[float, ...]
    bins: int
    #: Work-item tasks are estimated by a model that reflects at least this write.
    min_seq: int = 0


def _number(value: Any, field: str, *, lo: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number", field=field)
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInput(f"{field} must be finite", field=field)
    if lo is not None and v < lo:
        raise InvalidInput(f"{field} must not be negative", field=field)
    return v


def _effort(value: Any, field: str) -> float:
    """An effort in a forecast: 0 (a milestone) or in [MIN_EFFORT, MAX_EFFORT]."""
    v = _number(value, field)
    if v != 0.0 and not MIN_EFFORT <= v <= MAX_EFFORT:
        raise InvalidInput(f"{field} must be 0 or between {MIN_EFFORT:g} and {MAX_EFFORT:g}",
                           field=field)  # fmt: skip
    return v


def _integer(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer", field=field)
    if not lo <= value <= hi:
        raise InvalidInput(f"{field} must be between {lo:,} and {hi:,}", field=field)
    return value


def _list(value: Any, field: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{field} must be a list", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} has more than {limit:,} entries", field=field)
    return value


def _object(value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field or 'the request body'} must be an object", field=field or None)
    for name in value:
        if name not in allowed:
            where = f"{field}.{name}" if field else name
            raise InvalidInput(f"unknown field {name!r}; expected one of {sorted(allowed)}",
                               field=where)  # fmt: skip
    return value


def _id(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_ID:
        raise InvalidInput(f"{field} must be a non-empty string of at most {MAX_ID} characters",
                           field=field)  # fmt: skip
    return reject_nul(value.strip(), field)


def _estimate(task: dict[str, Any], f: str) -> tuple[int, tuple[float, float, float]] | None:
    """The task's own estimate as (kind, params), or None if it has none."""
    if "effort" in task:
        if any(k in task for k in THREE_POINT):
            raise InvalidInput("give either effort or a three-point estimate, not both",
                               field=f"{f}.effort")  # fmt: skip
        return KIND_FIXED, (_effort(task["effort"], f"{f}.effort"), 0.0, 0.0)
    given = [k for k in THREE_POINT if k in task]
    if not given:
        return None
    if len(given) < 3:
        missing = next(k for k in THREE_POINT if k not in task)
        raise InvalidInput("a three-point estimate needs optimistic, likely and pessimistic",
                           field=f"{f}.{missing}")  # fmt: skip
    o, m, p = (_effort(task[k], f"{f}.{k}") for k in THREE_POINT)
    if o > m:
        raise InvalidInput(f"optimistic ({o:g}) is greater than likely ({m:g})",
                           field=f"{f}.optimistic")  # fmt: skip
    if m > p:
        raise InvalidInput(f"likely ({m:g}) is greater than pessimistic ({p:g})",
                           field=f"{f}.pessimistic")  # fmt: skip
    if o == p:
        return KIND_FIXED, (o, 0.0, 0.0)
    return KIND_PERT, (o, m, p)


def topological_order(ids: list[str], preds: list[list[int]]) -> list[int]:
    """Task indices in dependency order (input order among ready tasks).

    Raises :class:`InvalidInput` on ``tasks`` naming the tasks of one cycle.
    """
    n = len(ids)
    waiting = [len(p) for p in preds]
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    ready = deque(i for i in range(n) if waiting[i] == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for s in succs[i]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    if len(order) == n:
        return order
    # Every task left over waits on another left-over task: walk back until one repeats.
    seen: dict[int, int] = {}
    path: list[int] = []
    i = next(j for j in range(n) if waiting[j] > 0)
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(p for p in preds[i] if waiting[p] > 0)
    cycle = path[seen[i]:][::-1]
    names = " -> ".join(ids[j] for j in [*cycle, cycle[0]])
    raise InvalidInput(f"the dependencies form a cycle: {names}", field="tasks",
                       cycle=[ids[j] for j in cycle])  # fmt: skip


def parse_forecast_request(body: Any) -> ForecastRequest:
    """Validate a forecast request body (decoded JSON) into a plan and its options."""
    body = _object(body, "", TOP_FIELDS)
    if "tasks" not in body:
        raise InvalidInput("tasks is required", field="tasks")
    tasks = _list(body["tasks"], "tasks", MAX_TASKS)
    if not tasks:
        raise InvalidInput("tasks must not be empty", field="tasks")
    ids: list[str] = []
    index: dict[str, int] = {}
    for i, t in enumerate(tasks):
        task = _object(t, f"tasks[{i}]", TASK_FIELDS)
        if "id" not in task:
            raise InvalidInput("id is required", field=f"tasks[{i}].id")
        tid = _id(task["id"], f"tasks[{i}].id")
        if tid in index:
            raise InvalidInput(f"duplicate task id {tid!r} (also tasks[{index[tid]}])",
                               field=f"tasks[{i}].id")  # fmt: skip
        index[tid] = i
        ids.append(tid)
    n = len(ids)
    kind = np.zeros(n, np.int8)
    params = np.zeros((n, 3))
    grid_row = np.full(n, -1, np.int64)
    preds: list[list[int]] = []
    model_tasks: list[tuple[int, dict[str, Any]]] = []
    n_deps = 0
    for i, task in enumerate(tasks):
        f = f"tasks[{i}]"
        deps: dict[int, None] = {}  # ordered, with constant-time membership
        named = _list(task.get("depends_on", []), f"{f}.depends_on", MAX_TASKS)
        if n_deps + len(named) > MAX_DEPENDENCIES:
            raise InvalidInput(f"more than {MAX_DEPENDENCIES:,} dependencies", field="tasks")
        for j, d in enumerate(named):
            did = _id(d, f"{f}.depends_on[{j}]")
            if did not in index:
                raise InvalidInput(f"unknown task {did!r} in depends_on",
                                   field=f"{f}.depends_on[{j}]")  # fmt: skip
            deps[index[did]] = None
        n_deps += len(deps)
        preds.append(list(deps))
        estimate = _estimate(task, f)
        item = None
        if estimate is None and "title" not in task:
            raise InvalidInput("a task needs an effort, optimistic/likely/pessimistic, or a "
                               "title (and description, features) to estimate it from",
                               field=f)
        if "title" in task or estimate is None:
            item = {"title": parse_text(task.get("title"), f"{f}.title", required=True,
                                        limit=MAX_TITLE),
                    "description": parse_text(task.get("description"), f"{f}.description",
                                              required=False, limit=MAX_DESCRIPTION),
                    "features": parse_features(task.get("features"), f"{f}.features")}  # fmt: skip
        if estimate is not None:
            kind[i], params[i] = estimate[0], estimate[1]
        else:
            assert item is not None
            kind[i] = KIND_GRID
            grid_row[i] = len(model_tasks)
            model_tasks.append((i, item))
    order = topological_order(ids, preds)
    risk_ids, risk_prob, risk_extra, risk_ptr, risk_tasks = _risks(body.get("risks", []), index)
    correlation = _number(body.get("correlation", 0.0), "correlation")
    if not correlation < 1.0:
        raise InvalidInput("correlation must be in [0, 1)", field="correlation")
    trials = _integer(body.get("trials", DEFAULT_TRIALS), "trials", MIN_TRIALS, MAX_TRIALS)
    if n * trials > MAX_TASK_TRIALS:
        raise InvalidInput(f"{n:,} tasks x {trials:,} trials is more than the limit of "
                           f"{MAX_TASK_TRIALS:,} task-trials; at most {MAX_TASK_TRIALS // n:,} "
                           "trials for this project", field="trials")  # fmt: skip
    seed = body.get("seed")
    seed = secrets.randbits(63) if seed is None else _integer(seed, "seed", 0, 2**63 - 1)
    bins = _integer(body.get("bins", DEFAULT_BINS), "bins", 1, MAX_BINS)
    percentiles = _percentiles(body.get("percentiles", list(DEFAULT_PERCENTILES)))
    plan = ForecastPlan(
        task_ids=tuple(ids), order=np.asarray(order, np.int64),
        pred_ptr=np.concatenate([[0], np.cumsum([len(p) for p in preds])]).astype(np.int64),
        pred_idx=np.asarray([p for ps in preds for p in ps], np.int64), kind=kind,
        params=params, grid_row=grid_row,
        grid_log=np.full((len(model_tasks), GRID_PROBS.size), np.nan),
        risk_ids=tuple(risk_ids), risk_prob=risk_prob, risk_extra=risk_extra,
        risk_ptr=risk_ptr, risk_tasks=risk_tasks, correlation=correlation)  # fmt: skip
    size = len(pack(plan.to_dict()))  # its grids are NaN until filled: the same size
    if size > MAX_PLAN_BYTES:
        raise InvalidInput(f"the project takes {size / 2**20:.1f} MiB as a message to the "
                           f"nodes, more than the {MAX_PLAN_BYTES / 2**20:.0f} MiB they take: "
                           f"split it, or use shorter ids or fewer work-item tasks "
                           f"({len(model_tasks):,} here, about 800 bytes each)",
                           field="tasks")  # fmt: skip
    return ForecastRequest(plan=plan, model_tasks=model_tasks, trials=trials, seed=seed,
                           percentiles=percentiles, bins=bins,
                           min_seq=parse_min_seq(body.get("min_seq")))  # fmt: skip


def _risks(value: Any, index: dict[str, int]) -> tuple[list[str], Any, Any, Any, Any]:
    risks = _list(value, "risks", MAX_RISKS)
    ids: list[str] = []
    prob, extra, ptr = [], [], [0]
    members: list[int] = []
    for r, raw in enumerate(risks):
        f = f"risks[{r}]"
        risk = _object(raw, f, RISK_FIELDS)
        ids.append(_id(risk["id"], f"{f}.id") if "id" in risk else f"risk-{r + 1}")
        for name in ("probability", "extra_effort", "tasks"):
            if name not in risk:
                raise InvalidInput(f"{name} is required", field=f"{f}.{name}")
        p = _number(risk["probability"], f"{f}.probability")
        if not 0.0 <= p <= 1.0:
            raise InvalidInput("probability must be in [0, 1]", field=f"{f}.probability")
        prob.append(p)
        extra.append(_effort(risk["extra_effort"], f"{f}.extra_effort"))
        affected: dict[int, None] = {}
        targets = _list(risk["tasks"], f"{f}.tasks", MAX_TASKS)
        if not targets:
            raise InvalidInput("a risk event must affect at least one task", field=f"{f}.tasks")
        if len(members) + len(targets) > MAX_RISK_MEMBERS:
            raise InvalidInput(f"the risks name more than {MAX_RISK_MEMBERS:,} tasks in all",
                               field=f"{f}.tasks")  # fmt: skip
        for j, t in enumerate(targets):
            tid = _id(t, f"{f}.tasks[{j}]")
            if tid not in index:
                raise InvalidInput(f"unknown task {tid!r}", field=f"{f}.tasks[{j}]")
            affected[index[tid]] = None
        members.extend(affected)
        ptr.append(len(members))
    return (ids, np.asarray(prob, np.float64), np.asarray(extra, np.float64),
            np.asarray(ptr, np.int64), np.asarray(members, np.int64))  # fmt: skip



def _percentiles(value: Any) -> tuple[float, ...]:
    values = _list(value, "percentiles", 100)
    if not values:
        raise InvalidInput("percentiles must not be empty", field="percentiles")
    out: list[float] = []
    for j, v in enumerate(values):
        # Taken to the six significant digits of its label, so two labels never collide.
        p = float(percentile_label(_number(v, f"percentiles[{j}]", lo=None))[1:])
        if not 0.0 < p < 100.0:
            raise InvalidInput("a percentile must be strictly between 0 and 100 (to six "
                               "significant digits)", field=f"percentiles[{j}]")  # fmt: skip
        if p not in out:
            out.append(p)
    return tuple(out)


def percentile_label(p: float) -> str:
    """``P10``, ``P2.5``: the key of a percentile in the response."""
    return f"P{p:g}"


def _outcome(o: OutcomeSummary) -> dict[str, Any]:
    return {"mean": o.mean, "std": o.std, "min": o.minimum, "max": o.maximum,
            "percentiles": {percentile_label(float(p)): float(v)
                            for p, v in zip(o.percentiles, o.values, strict=True)},
            "histogram": {"edges": [float(e) for e in o.edges],
                          "counts": [int(c) for c in o.counts]}}  # fmt: skip


def forecast_response(plan: ForecastPlan, summary: ForecastSummary,
                      elapsed_s: float) -> dict[str, Any]:  # fmt: skip
    """The JSON answer of a forecast (the CLI prints local and server answers alike)."""
    tasks = [{"id": tid, "criticality": float(summary.criticality[i]),
              "sensitivity": float(summary.sensitivity[i])}
             for i, tid in enumerate(plan.task_ids)]  # fmt: skip
    return {"trials": summary.trials, "seed": summary.seed,
            "elapsed_ms": round(elapsed_s * 1000.0, 3),
            "effort": _outcome(summary.effort), "duration": _outcome(summary.duration),
            "tasks": tasks, "sensitivity_trials": summary.sensitivity_trials}  # fmt: skip
