"""Errors as RFC 9457 problem+json, mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from coordinator.jsonio import JSONResponse

log = logging.getLogger("reckon.http")

PROBLEM_TYPE_BASE = "https://reckon.dev/problems/"


class ApiError(Exception):
    """An error the client should see: status, a short title, a clear detail, the field at fault."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.extra = extra


class InvalidInput(ApiError):
    """The body or a parameter does not match what the endpoint takes."""

    status, slug, title = 422, "invalid-input", "Invalid input"


class MalformedBody(ApiError):
    """The body is not parseable as the declared content type."""

    status, slug, title = 400, "malformed-body", "Malformed body"


class Unauthorized(ApiError):
    """Missing or wrong API key."""

    status, slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(ApiError):
    """The key lacks the scope the endpoint needs."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ApiError):
    """The resource does not exist (for this tenant)."""

    status, slug, title = 404, "not-found", "Not found"


class Conflict(ApiError):
    """The request conflicts with an earlier one (e.g. an Idempotency-Key reused)."""

    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ApiError):
    """The body is larger than the configured limit."""

    status, slug, title = 413, "payload-too-large", "Payload too large"


class RequestTimeout(ApiError):
    """The body did not arrive in time (a client trickling it would hold a connection)."""

    status, slug, title = 408, "request-timeout", "Request timeout"


class UnsupportedMediaType(ApiError):
    """The Content-Type is not one the endpoint takes."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ClientClosedRequest(ApiError):
    """The client went away before sending its whole request (nobody reads the answer; the
    status is for the metrics and the access log, as nginx's 499)."""

    status, slug, title = 499, "client-closed-request", "Client closed request"


class ServiceUnavailable(ApiError):
    """The cluster cannot serve right now (no nodes, database down); retry later."""

    status, slug, title = 503, "unavailable", "Service unavailable"


def problem_document(status: int, slug: str, title: str, detail: str,
                     instance: str | None = None, field: str | None = None,
                     **extra: Any) -> dict[str, Any]:
    """The RFC 9457 document of a problem (``instance`` and ``field`` where known)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def problem(status: int, slug: str, title: str, detail: str, instance: str,
            field: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    """Build a problem+json response."""
    return JSONResponse(problem_document(status, slug, title, detail, instance, field, **extra),
                        status_code=status, headers=headers,
                        media_type="application/problem+json")


async def api_error_handler(request: Request, exc: Exception) -> Response:
    """Map :class:`ApiError` to problem+json."""
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path, exc.field,
                   exc.headers, **exc.extra)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) as problem+json too."""
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    if exc.status_code == 405 and headers.get("Allow"):
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}"
    return problem(exc.status_code, slug, title, detail, request.url.path, headers=headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything else is our fault: log it, answer a plain 500 with no internals."""
    log.error("unhandled error path=%s error=%r", request.url.path, exc, exc_info=exc)
    return problem(500, "internal", "Internal error",
                   "The server failed to handle this request; it has been logged.",
                   request.url.path)
