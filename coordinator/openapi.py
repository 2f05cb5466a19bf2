"""The OpenAPI 3.1 document of the HTTP API (kept beside the code it describes)."""

from __future__ import annotations

from typing import Any

from coordinator import __version__

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_STD_ERRORS = {"400": _PROBLEM, "401": _PROBLEM, "403": _PROBLEM, "408": _PROBLEM,
               "413": _PROBLEM, "415": _PROBLEM, "422": _PROBLEM, "503": _PROBLEM}
# Writes also answer 409 when an Idempotency-Key is reused for a different request.
_WRITE_ERRORS = {**_STD_ERRORS, "409": _PROBLEM}
_QUANTILES = {"type": "array", "minItems": 1, "maxItems": 50,
              "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
              "description": "0.1, 0.5 and 0.9 are always added"}
_MIN_SEQ = {"type": "integer", "minimum": 0,
            "description": "reflect at least this write (read-your-writes)"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "Retrying with the same key returns the first response."}
_ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}

# What to estimate; a single estimate may also carry quantiles and min_seq, a batch's items
# may not (the batch gives them for all).
_WORK_ITEM = {
    "title": {"type": "string", "minLength": 1, "maxLength": 1000},
    "description": {"type": "string", "maxLength": 50000},
    "features": _ref("Features"),
    "item_id": {"type": "string", "description": "links the estimate to an item"},
}

_SCHEMAS: dict[str, Any] = {
    "Features": {"type": "object", "maxProperties": 200,
                 "additionalProperties": {"type": ["number", "string", "boolean", "null"]}},
    "BatchItem": {"type": "object", "required": ["title"], "additionalProperties": False,
                  "properties": _WORK_ITEM},
    "EstimateInput": {"type": "object", "required": ["title"], "additionalProperties": False,
                      "properties": {**_WORK_ITEM, "quantiles": _QUANTILES,
                                     "min_seq": _MIN_SEQ}},
    "Estimate": {
        "type": "object",
        "required": ["id", "item_id", "p10", "p50", "p90", "quantiles", "point",
                     "model_version", "seq", "analogies", "drivers"],
        "properties": {
            "id": {"type": "string"}, "item_id": {"type": ["string", "null"]},
            "p10": {"type": "number"}, "p50": {"type": "number"}, "p90": {"type": "number"},
            "point": {"type": "number"},
            "quantiles": {"type": "object", "additionalProperties": {"type": "number"}},
            "model_version": {"type": "string"}, "seq": {"type": "integer"},
            "analogies": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"type": "string"},
                "effort": {"type": "number"}, "similarity": {"type": "number"}}}},
            "drivers": {"type": "array", "items": {"type": "object", "properties": {
                "feature": {"type": "string"}, "effect": {"type": "number"}}}},
        },
    },
    "ItemInput": {
        "type": "object", "required": ["title"], "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "maxLength": 200},
            "title": {"type": "string", "minLength": 1, "maxLength": 1000},
            "description": {"type": "string", "maxLength": 50000},
            "features": _ref("Features"),
            "actual": {"type": "number", "minimum": 1e-6, "maximum": 1e9},
        },
    },
    "AccuracyWindow": {
        "type": "object",
        "properties": {k: {"type": ["number", "null"]} for k in
                       ("count", "mae", "mdae", "mmre", "pred25", "coverage80", "width80")},
    },
    "Accuracy": {
        "type": "object",
        "properties": {
            "tenant": {"type": "string"},
            "estimates_issued": {"type": "integer"},
            "estimates_resolved": {"type": "integer"},
            "windows": {"type": "object", "properties": {
                w: _ref("AccuracyWindow") for w in ("last_50", "last_200", "all")}},
        },
    },
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"},
                       "instance": {"type": "string"}, "field": {"type": "string"}},
    },
}


def openapi_document() -> dict[str, Any]:
    """The API description served at ``/openapi.json``."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "reckon", "version": __version__,
                 "description": "Effort estimates as calibrated distributions, per tenant."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
            "responses": {"Problem": {"description": "An error (RFC 9457)", "content": {
                "application/problem+json": {"schema": _ref("Problem")}}}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/estimates": {"post": {
                "summary": "Estimate one work item", "requestBody": _json(_ref("EstimateInput")),
                "responses": {"200": {"description": "the estimate", **_json(_ref("Estimate"))},
                              **_STD_ERRORS}}},
            "/v1/estimates/batch": {"post": {
                "summary": "Estimate many work items",
                "requestBody": _json({"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": _ref("BatchItem"), "maxItems": 1000},
                    "quantiles": _QUANTILES,
                    "min_seq": _MIN_SEQ}}),
                "responses": {"200": {"description": "estimates in request order", **_json({
                    "type": "object", "properties": {
                        "estimates": {"type": "array", "items": _ref("Estimate")},
                        "count": {"type": "integer"}}})}, **_STD_ERRORS}}},
            "/v1/items": {"post": {
                "summary": "Import work items (JSON or CSV)", "parameters": [_IDEMPOTENCY],
                "requestBody": {"content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "items": {"type": "array", "items": _ref("ItemInput")}}}},
                    "text/csv": {"schema": {"type": "string", "description":
                                 "header: id,title,description,actual (or effort), then "
                                 "feature columns"}}}},
                "responses": {"201": {"description": "imported", **_json({
                    "type": "object", "properties": {
                        "imported": {"type": "integer"}, "with_actual": {"type": "integer"},
                        "ids": {"type": "array", "items": {"type": "string"}},
                        "seq": {"type": "integer"}}})}, **_WRITE_ERRORS}}},
            "/v1/items/{item_id}": {"get": {
                "summary": "An item with its actual and issued estimates",
                "parameters": [_ITEM_ID],
                "responses": {"200": {"description": "the item"}, "404": _PROBLEM,
                              **_STD_ERRORS}}},
            "/v1/items/{item_id}/actual": {"post": {
                "summary": "Record the actual effort of an item",
                "parameters": [_ITEM_ID, _IDEMPOTENCY],
                "requestBody": _json({"type": "object", "required": ["effort"], "properties": {
                    "effort": {"type": "number", "minimum": 1e-6, "maximum": 1e9}}}),
                "responses": {"200": {"description": "recorded"}, "404": _PROBLEM,
                              **_WRITE_ERRORS}}},
            "/v1/forecasts": {"post": {
                "summary": "Monte Carlo forecast of a project's task graph",
                "requestBody": _json({"type": "object", "required": ["tasks"], "properties": {
                    "tasks": {"type": "array", "items": {"type": "object", "required": ["id"],
                              "description": "id, depends_on, then effort | optimistic/likely/"
                                             "pessimistic | title/description/features"}},
                    "risks": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "probability": {"type": "number"},
                        "extra_effort": {"type": "number", "minimum": 0, "maximum": 1e9},
                        "tasks": {"type": "array", "items": {"type": "string"}}}}},
                    "correlation": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                    "trials": {"type": "integer", "minimum": 100, "maximum": 5_000_000,
                               "description": "tasks x trials at most 1,000,000,000"},
                    "seed": {"type": "integer", "minimum": 0},
                    "percentiles": {"type": "array", "items": {"type": "number"}},
                    "bins": {"type": "integer", "minimum": 1, "maximum": 200},
                    "min_seq": {"type": "integer", "minimum": 0}}}),
                "responses": {"200": {"description": "percentiles, histograms, criticality "
                                                     "and sensitivity per task"},
                              **_STD_ERRORS}}},
            "/v1/models/accuracy": {"get": {
                "summary": "Live accuracy of the tenant's estimates (resolved by actuals)",
                "responses": {"200": {"description": "windows of recent resolved estimates",
                                      **_json(_ref("Accuracy"))}, **_STD_ERRORS}}},
            "/v1/cluster": {"get": {"summary": "Cluster membership (no key: operators' checks)",
                                    "security": [],
                                    "responses": {"200": {"description": "members"}}}},
            "/health": {"get": {"summary": "Liveness", "security": [],
                                "responses": {"200": {"description": "up"}}}},
            "/ready": {"get": {"summary": "Readiness", "security": [],
                               "responses": {"200": {"description": "ready"},
                                             "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                                 "responses": {"200": {"description": "text exposition"}}}},
        },
    }
