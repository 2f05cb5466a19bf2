"""Bad HTTP input gets a 4xx problem+json that names what is wrong, never a 500."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant, metrics_count, running_cluster

pytestmark = pytest.mark.integration

BODY_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def cluster3(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The shared three-node cluster, with a short body timeout to test it."""
    tmp: Path = tmp_path_factory.mktemp("cluster3-bad-input")
    with running_cluster(
        database_url, nodes=3, replication=2, tmp=tmp, heartbeat_timeout=1.5, hedge_delay=0.05,
        extra_env={"RECKON_BODY_TIMEOUT": str(BODY_TIMEOUT)},
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def keys(database_url: str) -> dict[str, str]:
    _, full = make_tenant(database_url)
    _, read_only = make_tenant(database_url, scopes=("read",))
    return {"full": full, "read": read_only}


def _check(
    r: httpx.Response, status: int, field: str | None = None, detail_has: str | None = None
) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    if detail_has is not None:
        assert detail_has in body["detail"], body


CASES = [
    # (method, path, kwargs, status, field, detail fragment)
    ("POST", "/v1/estimates", {"content": b"{not json"}, 400, None, "invalid JSON"),
    ("POST", "/v1/estimates", {"content": b""}, 400, None, "empty"),
    ("POST", "/v1/estimates", {"content": b"\xff\xfe"}, 400, None, None),
    ("POST", "/v1/estimates", {"json": {}}, 422, "title", "required"),
    ("POST", "/v1/estimates", {"json": {"title": ""}}, 422, "title", "empty"),
    ("POST", "/v1/estimates", {"json": {"title": 5}}, 422, "title", "string"),
    ("POST", "/v1/estimates", {"json": [1, 2]}, 422, None, "object"),
    ("POST", "/v1/estimates", {"json": {"title": "x", "colour": "red"}}, 422, "colour", "unknown"),
    ("POST", "/v1/estimates", {"json": {"title": "x", "features": [1]}}, 422, "features", None),
    (
        "POST",
        "/v1/estimates",
        {"json": {"title": "x", "features": {"a": [1]}}},
        422,
        "features.a",
        None,
    ),
    (
        "POST",
        "/v1/estimates",
        {"json": {"title": "x", "quantiles": [0.5, 1.5]}},
        422,
        "quantiles[1]",
        None,
    ),
    ("POST", "/v1/estimates", {"json": {"title": "x", "quantiles": "p90"}}, 422, "quantiles", None),
    ("POST", "/v1/estimates", {"json": {"title": "x", "min_seq": -1}}, 422, "min_seq", None),
    ("POST", "/v1/estimates", {"json": {"title": "x" * 5000}}, 422, "title", "longer"),
    (
        "POST",
        "/v1/estimates",
        {"content": b"title=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        None,
        None,
    ),
    ("POST", "/v1/estimates", {"content": '{"title": "caf\xe9"}'.encode("latin-1"),
                               "headers": {"Content-Type": "application/json; charset=latin-1"}},
     415, None, "UTF-8"),
    ("POST", "/v1/estimates/batch", {"json": {"items": []}}, 422, "items", None),
    (
        "POST",
        "/v1/estimates/batch",
        {"json": {"items": [{"title": "a"}, {}]}},
        422,
        "items[1].title",
        None,
    ),
    (
        "POST",
        "/v1/estimates/batch",
        {"json": {"items": [{"title": "a"}] * 1001}},
        422,
        "items",
        "at most",
    ),
    (
        "POST",
        "/v1/items",
        {"json": {"items": [{"title": "a", "actual": -3}]}},
        422,
        "items[0].actual",
        "positive",
    ),
    (
        "POST",
        "/v1/items",
        {"json": {"items": [{"title": "a", "actual": "3h"}]}},
        422,
        "items[0].actual",
        "number",
    ),
    (
        "POST",
        "/v1/items",
        {"json": {"items": [{"id": "a", "title": "a"}, {"id": "a", "title": "b"}]}},
        422,
        "items[1].id",
        "duplicate",
    ),
    ("POST", "/v1/items", {"json": {"things": []}}, 422, "items", None),
    (
        "POST",
        "/v1/items",
        {"content": b"id,name\n1,x\n", "headers": {"Content-Type": "text/csv"}},
        422,
        "header",
        "title",
    ),
    (
        "POST",
        "/v1/items",
        {"content": b"title,effort\nx,abc\n", "headers": {"Content-Type": "text/csv"}},
        422,
        "line 2.effort",
        None,
    ),
    (
        "POST",
        "/v1/items",
        {"content": b"title,effort\nx,1,2\n", "headers": {"Content-Type": "text/csv"}},
        422,
        "line 2",
        "cells",
    ),
    (
        "POST",
        "/v1/items",
        {"content": b"<xml/>", "headers": {"Content-Type": "application/xml"}},
        415,
        None,
        None,
    ),
    ("POST", "/v1/estimates", {"json": {"title": "a\x00b"}}, 422, "title", "NUL"),
    ("POST", "/v1/estimates", {"json": {"title": "a", "item_id": "\x00"}}, 422, "item_id",
     "NUL"),
    ("POST", "/v1/estimates", {"json": {"title": "a", "features": {"k": "\x00"}}}, 422,
     "features.k", "NUL"),
    ("POST", "/v1/estimates/batch", {"json": {"items": [{"title": "a", "description": "\x00"}]}},
     422, "items[0].description", "NUL"),
    ("POST", "/v1/items", {"json": {"items": [{"id": "x\x00", "title": "a"}]}}, 422,
     "items[0].id", "NUL"),
    ("POST", "/v1/items", {"content": b"title,team\nok,a\x00\n",
                           "headers": {"Content-Type": "text/csv"}}, 422, "line 2.team", "NUL"),
    ("POST", "/v1/items", {"json": {"items": [{"title": "a", "actual": 1e308}]}}, 422,
     "items[0].actual", "between"),
    ("POST", "/v1/items", {"json": {"items": [{"title": "a", "actual": 5e-324}]}}, 422,
     "items[0].actual", "between"),
    ("POST", "/v1/items/nope/actual", {"json": {"effort": 1e308}}, 422, "effort", "between"),
    ("POST", "/v1/items/a%00b/actual", {"json": {"effort": 3}}, 422, "id", "NUL"),
    ("GET", "/v1/items/a%00b", {}, 422, "id", "NUL"),
    ("POST", "/v1/forecasts", {"json": {"tasks": [{"id": "a", "effort": 1e308}]}}, 422,
     "tasks[0].effort", "between"),
    ("POST", "/v1/forecasts", {"json": {"tasks": [{"id": "a", "effort": 1}], "risks": [
        {"probability": 0.5, "extra_effort": 1e308, "tasks": ["a"]}]}}, 422,
     "risks[0].extra_effort", "between"),
    ("POST", "/v1/forecasts", {"json": {"tasks": [{"id": f"t{i}", "effort": 1}
                                                  for i in range(10_000)], "trials": 5_000_000}},
     422, "trials", "task-trials"),
    ("POST", "/v1/items/nope/actual", {"content": b"effort\n3\n",
                                       "headers": {"Content-Type": "text/csv"}}, 415, None, None),
    ("POST", "/v1/estimates", {"json": {"title": "a", "min_seq": 10**12}}, 422, "min_seq",
     "past the last write"),
    ("POST", "/v1/estimates/batch", {"json": {"items": [{"title": "a", "quantiles": [0.2]}]}},
     422, "items[0].quantiles", "whole batch"),
    ("POST", "/v1/items", {"json": {"items": [{"title": "a"}], "mode": "replace"}}, 422, "mode",
     "unknown"),
    ("POST", "/v1/items", {"content": b'title,effort\n"open,1\n',
                           "headers": {"Content-Type": "text/csv"}}, 400, None, "line"),
    ("POST", "/v1/items/nope/actual", {"json": {"effort": 3}}, 404, "id", "no item"),
    ("POST", "/v1/items/nope/actual", {"json": {"effort": 0}}, 422, "effort", None),
    ("POST", "/v1/items/nope/actual", {"json": {"hours": 3}}, 422, "hours", None),
    ("POST", "/v1/items/nope/actual", {"json": {}}, 422, "effort", "required"),
    ("GET", "/v1/items/nope", {}, 404, "id", None),
    ("GET", "/v1/nothing-here", {}, 404, None, None),
    ("DELETE", "/v1/estimates", {}, 405, None, "DELETE is not allowed on /v1/estimates; use POST"),
    (
        "POST",
        "/v1/items",
        {"json": {"items": [{"title": "a"}]}, "headers": {"Idempotency-Key": "x" * 300}},
        422,
        "Idempotency-Key",
        None,
    ),
]


@pytest.mark.parametrize(
    "method,path,kwargs,status,field,detail",
    CASES,
    ids=[f"{c[0]} {c[1]} {c[3]} {c[4]}" for c in CASES],
)
def test_bad_request(
    cluster3: LocalCluster,
    keys: dict[str, str],
    method: str,
    path: str,
    kwargs: dict,
    status: int,
    field: str | None,
    detail: str | None,
) -> None:
    headers = {"Authorization": f"Bearer {keys['full']}", **kwargs.pop("headers", {})}
    r = httpx.request(method, cluster3.url + path, headers=headers, timeout=30, **kwargs)
    _check(r, status, field, detail)


def test_oversized_body_is_413(cluster3: LocalCluster, keys: dict[str, str]) -> None:
    big = b'{"items": [' + b'{"title": "x"},' * 1_200_000 + b'{"title": "y"}]}'
    r = httpx.post(
        cluster3.url + "/v1/items",
        content=big,
        timeout=60,
        headers={"Authorization": f"Bearer {keys['full']}", "Content-Type": "application/json"},
    )
    _check(r, 413)


@pytest.mark.parametrize(
    "header", [None, "Basic abc", "Bearer", "Bearer nope", "Bearer rk_abc_def"]
)
def test_missing_or_wrong_key_is_401(cluster3: LocalCluster, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    r = httpx.post(cluster3.url + "/v1/estimates", json={"title": "x"}, headers=headers)
    _check(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


def test_read_only_key_cannot_write(cluster3: LocalCluster, keys: dict[str, str]) -> None:
    r = httpx.post(
        cluster3.url + "/v1/items",
        json={"items": [{"title": "x"}]},
        headers={"Authorization": f"Bearer {keys['read']}"},
    )
    _check(r, 403, detail_has="write")
    r = httpx.post(
        cluster3.url + "/v1/estimates",
        json={"title": "x"},
        headers={"Authorization": f"Bearer {keys['read']}"},
    )
    assert r.status_code == 200


def test_a_client_that_leaves_mid_body_is_not_a_server_error(
    cluster3: LocalCluster, keys: dict[str, str]
) -> None:
    """Headers promise 10,000 bytes, 20 arrive, the connection closes: counted as 499 (the
    client closed the request), not as a 500."""
    url = urlsplit(cluster3.url)
    before_500 = metrics_count(cluster3.url, "/v1/estimates", 500)
    before_499 = metrics_count(cluster3.url, "/v1/estimates", 499)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/estimates HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + keys["full"].encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
                     b'{"title": "half a bo')
    deadline = time.monotonic() + 10
    while metrics_count(cluster3.url, "/v1/estimates", 499) == before_499:
        assert time.monotonic() < deadline, "the abandoned request was never counted"
        time.sleep(0.05)
    assert metrics_count(cluster3.url, "/v1/estimates", 500) == before_500


def test_a_body_trickled_past_the_body_timeout_is_refused_with_408(
    cluster3: LocalCluster, keys: dict[str, str]
) -> None:
    """A byte every 0.3 s keeps the connection's read timeout from firing, but the whole
    body must arrive within the body timeout: the client gets a 408 problem and the
    connection is closed."""
    url = urlsplit(cluster3.url)
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(b"POST /v1/estimates HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + keys["full"].encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        sock.settimeout(0.3)
        reply = b""
        for _ in range(100):  # at most 30 s
            try:
                sock.sendall(b" ")
            except OSError:  # the server closed the connection after answering
                pass
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            reply += data
        elapsed = time.monotonic() - started
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply[:300]
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 408 and "did not arrive within 3 s" in problem["detail"]
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 10


@pytest.mark.parametrize("request_line,auth", [
    (b"POST /v1/estimates", True),
    (b"POST /v1/estimates", False),  # before authentication
    (b"GET /health", False),  # on any route
    (b"POST /health", False),  # and any method
])
def test_a_body_framed_both_by_length_and_by_chunks_is_refused(
    cluster3: LocalCluster, keys: dict[str, str], request_line: bytes, auth: bool
) -> None:
    """Content-Length next to Transfer-Encoding: chunked (a request-smuggling pattern when
    a proxy frames the body the other way) is a 400, not read as either, and the
    connection is closed: a request hidden in the body is never answered."""
    url = urlsplit(cluster3.url)
    body = b'{"title": "x"}'
    smuggled = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request_line + b" HTTP/1.1\r\nHost: x\r\n"
                     + (b"Authorization: Bearer " + keys["full"].encode() + b"\r\n"
                        if auth else b"")
                     + b"Content-Type: application/json\r\nContent-Length: 3\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" + smuggled)
        reply = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"connection: close" in head.lower()
    assert "not both" in json.loads(payload)["detail"]
    assert reply.count(b"HTTP/1.1") == 1  # the request after it was not read



def _raw_exchange(url: str, request: bytes) -> tuple[bytes, bytes]:
    """Send ``request`` on a fresh connection; the answer's head and body once it closes."""
    parts = urlsplit(url)
    reply = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        while data := sock.recv(65536):
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("request_bytes,status,slug", [
    (b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400, "malformed-request"),
    (b"GET /health HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed-request"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
     431, "headers-too-large"),
], ids=["request-line", "header-line", "headers-too-large"])
def test_a_request_that_is_not_valid_http_gets_a_problem_body(
    cluster3: LocalCluster, request_bytes: bytes, status: int, slug: str
) -> None:
    """Requests the HTTP server refuses before the app sees them (a malformed request line
    or header, headers over the limit) are answered as problem+json like every other
    error, not with an empty body, and the connection is closed."""
    head, body = _raw_exchange(cluster3.url, request_bytes)
    assert head.startswith(f"HTTP/1.1 {status}".encode()), head
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["type"].endswith("/" + slug)
    assert problem["status"] == status and problem["detail"]
    # The server still answers well-formed requests afterwards.
    head, _ = _raw_exchange(cluster3.url, b"GET /health HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head


def test_a_batch_larger_than_one_message_is_answered_in_full(
    cluster3: LocalCluster, keys: dict[str, str]
) -> None:
    """180 items of 48,000 characters each (8.6 MB, more than a transport frame) are
    estimated in several asks and answered in order."""
    items = [{"title": f"item {i}", "description": f"{i} " + "lorem ipsum " * 4000,
              "item_id": f"big-{i}"} for i in range(180)]
    r = httpx.post(cluster3.url + "/v1/estimates/batch", json={"items": items}, timeout=120,
                   headers={"Authorization": f"Bearer {keys['full']}"})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["count"] == 180
    assert [e["item_id"] for e in body["estimates"]] == [f"big-{i}" for i in range(180)]
    assert len({e["id"] for e in body["estimates"]}) == 180
    assert all(0 < e["p10"] <= e["p50"] <= e["p90"] for e in body["estimates"])
