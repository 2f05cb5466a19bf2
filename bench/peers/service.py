"""The estimate endpoints both peers serve, computed in-process.

A :class:`PeerService` holds one :class:`kernels.Estimator` with the node's packaged
cold-start prior, trained on :func:`~bench.harness.history.history_items` (the history a
benchmark cluster's tenant imports), and answers ``POST /v1/estimates`` and
``POST /v1/estimates/batch`` with the request validation and response shape of reckon's
coordinator (the JSON parsed by the coordinator's own ``parse_json`` and written with
orjson, as the coordinator does). What it leaves out, because a monolith without a database
has nowhere to keep it: the estimate ledger, replication and read-your-writes sequence
numbers (``seq`` is the fixed number of items learned).

Auth: when the service has a key, requests need ``Authorization: Bearer <key>`` (401
otherwise), as in reckon; with no key, the header is ignored.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bench.harness.history import history_items
from coordinator.jsonio import JSONResponse as FastJSONResponse
from coordinator.problems import ApiError, InvalidInput, Unauthorized
from coordinator.validation import (
    parse_estimate_item,
    parse_json,
    parse_quantiles,
    read_body,
    require_json_content,
)
from kernels import Estimator, EstimatorConfig, Prediction
from node.prior_file import load_prior

MAX_BODY = 8 * 1024 * 1024
BODY_TIMEOUT = 60.0  # as the coordinator's default
MAX_BATCH_ITEMS = 1000
TENANT = "peer"


def trained_estimator(items: list[dict[str, Any]] | None = None) -> Estimator:
    """An estimator with the packaged prior that has learned ``items`` (default: the
    benchmark history) in one batch, as a node folds an imported history."""
    items = history_items() if items is None else items
    model = Estimator(EstimatorConfig(), prior=load_prior(None))
    learned = [it for it in items if it.get("actual") is not None]
    model.learn_many([it["id"] for it in learned], [it["title"] for it in learned],
                     [it.get("description", "") for it in learned],
                     [it.get("features") or {} for it in learned],
                     np.array([it["actual"] for it in learned], dtype=np.float64))
    return model


def estimate_json(item: dict[str, Any], quantiles: list[float], p: Prediction,
                  model_version: str, seq: int) -> dict[str, Any]:
    """One estimate in the shape reckon's coordinator answers."""
    qs = {f"{q:g}": float(v) for q, v in zip(quantiles, p.quantiles, strict=True)}
    return {
        "id": "est_" + uuid.uuid4().hex,
        "item_id": item.get("item_id"),
        "p10": qs["0.1"], "p50": qs["0.5"], "p90": qs["0.9"],
        "quantiles": qs,
        "point": float(p.median),
        "model_version": model_version,
        "seq": seq,
        "analogies": [{"id": a.item_id, "title": a.title, "effort": float(a.effort),
                       "similarity": float(a.similarity)} for a in p.analogies],
        "drivers": [{"feature": name, "effect": float(v)} for name, v in p.drivers],
    }


def problem(error: ApiError) -> Response:
    """An :class:`ApiError` as a problem+json response."""
    body = {"title": error.title, "status": error.status, "detail": error.detail}
    if error.field is not None:
        body["field"] = error.field
    return JSONResponse(body, status_code=error.status, headers=error.headers,
                        media_type="application/problem+json")


class PeerService:
    """The estimator and the request handling around it; one per server process."""

    def __init__(self, key: str | None = None, model: Estimator | None = None) -> None:
        self.key = key or None
        self.model = model if model is not None else trained_estimator()
        self.seq = self.model.n_observations
        self.model_version = f"{self.model.model_name}/{TENANT}@{self.seq}"

    def check_key(self, request: Request) -> None:
        """Raise :class:`Unauthorized` unless the request carries the key (when there is
        one)."""
        if self.key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), self.key):
            raise Unauthorized("send Authorization: Bearer <API key>")

    def estimate(self, items: list[dict[str, Any]], quantiles: list[float]
                 ) -> list[dict[str, Any]]:
        """Estimates for validated ``items`` at ``quantiles``, in order."""
        preds = self.model.predict_many(
            [it["title"] for it in items], [it["description"] for it in items],
            [it["features"] for it in items], np.asarray(quantiles, dtype=np.float64))
        return [estimate_json(it, quantiles, p, self.model_version, self.seq)
                for it, p in zip(items, preds, strict=True)]

    async def create_estimate(self, request: Request) -> Response:
        """``POST /v1/estimates``: one item."""
        try:
            self.check_key(request)
            require_json_content(request)
            data = parse_json(await read_body(request, 1024 * 1024, BODY_TIMEOUT))
            item = parse_estimate_item(data, "")
            [estimate] = self.estimate([item], parse_quantiles(data.get("quantiles")))
        except ApiError as e:
            return problem(e)
        return FastJSONResponse(estimate)

    async def create_estimates_batch(self, request: Request) -> Response:
        """``POST /v1/estimates/batch``: ``{"items": [...]}``, answered in order."""
        try:
            self.check_key(request)
            require_json_content(request)
            data = parse_json(await read_body(request, MAX_BODY, BODY_TIMEOUT))
            if not isinstance(data, dict) or not isinstance(data.get("items"), list) \
                    or not data["items"]:
                raise InvalidInput("send {\"items\": [...], \"quantiles\": [...]}",
                                   field="items")
            if len(data["items"]) > MAX_BATCH_ITEMS:
                raise InvalidInput(f"at most {MAX_BATCH_ITEMS} items per batch", field="items")
            items = [parse_estimate_item(x, f"items[{i}]") for i, x in enumerate(data["items"])]
            estimates = self.estimate(items, parse_quantiles(data.get("quantiles")))
        except ApiError as e:
            return problem(e)
        return FastJSONResponse({"estimates": estimates, "count": len(estimates)})

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        return {"status": "ok", "model_version": self.model_version,
                "observations": self.model.n_observations}
