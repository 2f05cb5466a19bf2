"""What the harness sends: single and batch estimates, actuals, forecasts, a mix, or a no-op.

A :class:`Scenario` prepares the tenant (imports the shipped Desharnais history so estimates
have something to learn from) and then builds each scheduled :class:`Operation` from its index,
deterministically: the same index and seed give the same request bytes.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field

import httpx
import numpy as np

from bench.harness.history import history_csv
from bench.harness.openloop import Operation
from bench.loadgen import build_request

KINDS = ("estimate", "batch", "actual", "forecast")
TITLES = (
    "Rewrite invoicing module", "Customer portal with reporting", "Inventory sync job",
    "Payroll export to bank format", "Order entry screens", "Data warehouse loader",
)
LANGUAGES = ("basic", "advanced", "4gl")


class ScenarioError(Exception):
    """The scenario could not be set up (bad mix, the history import failed)."""


def parse_mix(text: str) -> dict[str, float]:
    """``"estimate=80,batch=5"`` → normalised weights; raises :class:`ValueError` when bad."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in KINDS:
            raise ValueError(f"bad mix entry {part!r}: expected KIND=WEIGHT, KIND one of "
                             f"{', '.join(KINDS)}")
        try:
            w = float(value)
        except ValueError as e:
            raise ValueError(f"bad weight in mix entry {part!r}") from e
        if not math.isfinite(w):
            raise ValueError(f"bad weight in mix entry {part!r}: not a finite number")
        if w < 0:
            raise ValueError(f"negative weight in mix entry {part!r}")
        weights[name] = weights.get(name, 0.0) + w
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the mix has no positive weight")
    return {k: w / total for k, w in weights.items() if w > 0}


def _features(i: int) -> dict[str, object]:
    return {"Transactions": 50 + (17 * i) % 400, "Entities": 20 + (5 * i) % 300,
            "Language": LANGUAGES[i % 3]}


def _item(i: int) -> dict[str, object]:
    return {"title": TITLES[i % len(TITLES)], "features": _features(i)}


def forecast_project(seed: int, n_tasks: int = 8, trials: int = 2000) -> dict[str, object]:
    """A small project: a chain with a few parallel branches of three-point tasks."""
    tasks: list[dict[str, object]] = []
    for t in range(n_tasks):
        task: dict[str, object] = {"id": f"t{t}", "optimistic": 1 + t % 3,
                                   "likely": 2 + t % 4, "pessimistic": 6 + t % 5}
        if t >= 2:
            task["depends_on"] = [f"t{t - 2}"]
        tasks.append(task)
    return {"tasks": tasks, "trials": trials, "seed": seed, "correlation": 0.2}


@dataclass
class Scenario:
    """Builds operations for one kind of load against ``host:port`` with an API key.

    ``weights`` maps operation kinds to their share; a single kind is weight 1. The kind of
    operation ``i`` is drawn with ``seed`` up front, so the schedule is reproducible.
    """

    host: str
    port: int
    key: str
    weights: dict[str, float]
    batch_size: int = 50
    seed: int = 0
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    max_operations: int = 1_000_000
    #: Keys of further tenants: operation ``i`` goes to tenant ``i % tenants``.
    more_keys: tuple[str, ...] = ()
    _kinds: np.ndarray = field(init=False, repr=False)
    _cache: dict[tuple[str, int], list[bytes]] = field(init=False, repr=False,
                                                       default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(KINDS) - {"noop"}
        if unknown:
            raise ScenarioError(f"unknown operation kinds: {sorted(unknown)}")
        if not self.weights or not all(math.isfinite(w) and w >= 0
                                       for w in self.weights.values()) \
                or sum(self.weights.values()) <= 0:
            raise ScenarioError("the weights must be finite, not negative, and not all 0")
        if not 1 <= self.batch_size <= 1000:
            raise ScenarioError("the batch size must be between 1 and 1000")
        names = sorted(self.weights)
        p = np.array([self.weights[k] for k in names], dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        self._names = names
        self._host_header = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        self._kinds = rng.choice(len(names), size=self.max_operations, p=p / p.sum())

    @property
    def name(self) -> str:
        """``estimate``, ``batch``..., or ``mix(estimate=80,...)``."""
        if len(self.weights) == 1:
            return next(iter(self.weights))
        return "mix(" + ",".join(f"{k}={round(w * 100)}" for k, w in
                                 sorted(self.weights.items())) + ")"

    @property
    def needs_history(self) -> bool:
        """Whether the tenant needs an imported history first."""
        return set(self.weights) != {"noop"}

    @property
    def keys(self) -> list[str]:
        """One API key per tenant the load goes to."""
        return [self.key, *self.more_keys]

    def _post(self, path: str, body: object, extra: dict[str, str] | None = None,
              tenant: int = 0) -> bytes:
        headers = {"Authorization": f"Bearer {self.keys[tenant]}", **(extra or {})}
        return build_request(self._host_header, self.port, path, json.dumps(body).encode(), headers)

    def _cached(self, kind: str, tenant: int) -> list[bytes]:
        # Estimates and forecasts repeat a small set of bodies: building them once keeps the
        # generator's per-request cost low.
        if (kind, tenant) not in self._cache:
            def post(path: str, body: object) -> bytes:
                return self._post(path, body, tenant=tenant)

            if kind == "estimate":
                bodies = [post("/v1/estimates", _item(i)) for i in range(64)]
            elif kind == "batch":
                bodies = [post("/v1/estimates/batch",
                               {"items": [_item(b * self.batch_size + j)
                                          for j in range(self.batch_size)]})
                          for b in range(8)]
            elif kind == "forecast":
                bodies = [post("/v1/forecasts", forecast_project(s)) for s in range(16)]
            else:
                bodies = [post("/noop", {})]
            self._cache[kind, tenant] = bodies
        return self._cache[kind, tenant]

    def operation(self, i: int) -> Operation:
        """The operation with index ``i`` in the schedule."""
        kind = self._names[int(self._kinds[i % self.max_operations])]
        tenant = i % (1 + len(self.more_keys))
        if kind == "actual":
            item_id = f"bench-{self.run_tag}-{i}"
            item = {"id": item_id, **_item(i)}
            effort = round(500.0 + 37.0 * (i % 97), 1)
            return Operation(kind, (
                self._post("/v1/items", {"items": [item]},
                           {"Idempotency-Key": f"{item_id}-import"}, tenant),
                self._post(f"/v1/items/{item_id}/actual", {"effort": effort},
                           {"Idempotency-Key": f"{item_id}-actual"}, tenant),
            ))
        bodies = self._cached(kind, tenant)
        units = self.batch_size if kind == "batch" else 1
        return Operation(kind, (bodies[i % len(bodies)],), units)

    __call__ = operation

    def prepare(self, base_url: str, timeout: float = 120.0) -> None:
        """Import the Desharnais history into each tenant (an upsert: safe to repeat).

        Raises :class:`ScenarioError` when the server refuses it or cannot be reached.
        """
        if not self.needs_history:
            return
        for key in self.keys:
            try:
                r = httpx.post(base_url + "/v1/items", content=history_csv(), timeout=timeout,
                               headers={"Authorization": f"Bearer {key}",
                                        "Content-Type": "text/csv"})
            except httpx.HTTPError as e:
                raise ScenarioError(f"importing the history failed: {e}") from e
            if r.status_code >= 300:
                raise ScenarioError(f"importing the history failed: HTTP {r.status_code} "
                                    f"{r.text[:200]}")
        self._wait_until_answered(base_url, timeout)

    def _wait_until_answered(self, base_url: str, timeout: float) -> None:
        """Ask each tenant for an estimate until one is answered, so the measured load does
        not start while the nodes still load the tenants' histories (a fresh cluster loads a
        tenant on its first read, which would count as the service's latency)."""
        deadline = time.monotonic() + timeout
        for key in self.keys:
            while True:
                try:
                    r = httpx.post(base_url + "/v1/estimates", json=_item(0), timeout=timeout,
                                   headers={"Authorization": f"Bearer {key}"})
                    if r.status_code == 200:
                        break
                    why = f"HTTP {r.status_code} {r.text[:200]}"
                    if r.status_code != 503:
                        raise ScenarioError(f"the tenant did not answer an estimate: {why}")
                except httpx.HTTPError as e:
                    why = str(e) or type(e).__name__
                if time.monotonic() > deadline:
                    raise ScenarioError(f"no estimate was answered within {timeout:g} s of "
                                        f"the import: {why}")
                time.sleep(0.2)
