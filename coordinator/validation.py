"""Input validation for the HTTP API: every rejection names the field at fault."""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

from coordinator import jsonio
from coordinator.problems import (
    ClientClosedRequest,
    InvalidInput,
    MalformedBody,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

MAX_TITLE = 1000
MAX_DESCRIPTION = 50_000
MAX_FEATURES = 200
MAX_ID = 200
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
#: The range of an effort (hours, days or points): wide enough for any real unit, narrow
#: enough that sums, ratios and logarithms of efforts stay finite.
MIN_EFFORT, MAX_EFFORT = 1e-6, 1e9
ITEM_FIELDS = {"id", "title", "description", "features", "actual"}
ESTIMATE_FIELDS = {"title", "description", "features", "item_id", "quantiles", "min_seq"}


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading it all, and a body
    that has not arrived in full within ``timeout`` seconds (a client sending a byte now
    and then would otherwise hold its connection and buffer for ever)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    with anyio.move_on_after(timeout) as deadline:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise ClientClosedRequest("the client closed the connection before sending the "
                                      "whole body") from None
    if deadline.cancelled_caught:
        raise RequestTimeout(f"the body did not arrive within {timeout:g} s "
                             f"({size} bytes came)", headers={"Connection": "close"})
    return b"".join(chunks)


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def csv_number(cell: str) -> float | None:
    """A CSV cell's number, when it is written as a decimal number (digits with an optional
    sign, decimal point and exponent, such as ``-3``, ``2.5``, ``.5`` or ``1e3``); None for
    anything else, such as ``1_000``, ``nan`` or ``inf``, which Python's float() would also
    take."""
    return float(cell) if _DECIMAL.fullmatch(cell) else None


def reject_nul(value: str, field: str) -> str:
    """``value``, unless it holds a NUL character (no text column can store one)."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL (\\u0000) characters", field=field)
    return value


def parse_json(body: bytes) -> Any:
    """Decode a JSON body or raise a 400 problem saying where it broke."""
    if not body.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        return jsonio.loads(body)
    except jsonio.JSONDecodeError as e:
        if "UTF-8" in e.msg:
            raise MalformedBody("the body is not valid UTF-8") from e
        raise MalformedBody(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e


def require_json_content(request: Request) -> None:
    """Refuse bodies that are not declared as JSON, or declared in a charset other than
    UTF-8 (the only encoding of JSON between systems, RFC 8259)."""
    ctype, *params = request.headers.get("content-type", "application/json").split(";")
    ctype = ctype.strip().lower()
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"expected application/json, got {ctype}")
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"JSON bodies are UTF-8; got charset={charset}")


def parse_text(value: Any, field: str, *, required: bool, limit: int) -> str:
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if required and not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return reject_nul(value, field)


def parse_effort(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number", field=field)
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{field} must be a positive finite number", field=field)
    if not MIN_EFFORT <= value <= MAX_EFFORT:
        raise InvalidInput(f"{field} must be between {MIN_EFFORT:g} and {MAX_EFFORT:g}",
                           field=field)
    return value


def parse_features(value: Any, field: str) -> dict[str, float | str | None]:
    """A flat map of feature name to number, string or null."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object of name -> number, string or null",
                           field=field)
    if len(value) > MAX_FEATURES:
        raise InvalidInput(f"{field} has more than {MAX_FEATURES} entries", field=field)
    out: dict[str, float | str | None] = {}
    for name, v in value.items():
        if not name or len(name) > 100:
            raise InvalidInput("feature names must be 1-100 characters", field=f"{field}.{name}")
        reject_nul(name, f"{field}.{name}")
        if v is None or (type(v) is str and len(v) <= 200):
            out[name] = v if v is None else reject_nul(v, f"{field}.{name}")
        elif (type(v) is float and math.isfinite(v)) or type(v) is int:
            out[name] = float(v)
        else:
            out[name] = _odd_feature(v, f"{field}.{name}")
    return out


def _odd_feature(v: Any, path: str) -> float:
    """A feature value that is not a plain string, finite float or int: a bool (as 0/1), a
    number of another type, or an error naming ``path``."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        if not math.isfinite(float(v)):
            raise InvalidInput(f"{path} must be finite", field=path)
        return float(v)
    if isinstance(v, str):
        raise InvalidInput(f"{path} is longer than 200 characters", field=path)
    raise InvalidInput(f"{path} must be a number, a string or null", field=path)


def parse_item_id(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    value = value.strip()  # the id is what is left once stripped
    if len(value) > MAX_ID or "/" in value:
        raise InvalidInput(f"{field} must be at most {MAX_ID} characters, without '/'",
                           field=field)
    return reject_nul(value, field)


def parse_item(raw: Any, field: str) -> dict[str, Any]:
    """One work item for import: id (generated if absent), title, description, features, actual."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    unknown = set(raw) - ITEM_FIELDS
    if unknown:
        raise InvalidInput(f"{field} has unknown fields {sorted(unknown)}; allowed: "
                           f"{sorted(ITEM_FIELDS)}", field=f"{field}.{sorted(unknown)[0]}")
    item: dict[str, Any] = {
        "id": parse_item_id(raw["id"], f"{field}.id") if "id" in raw else uuid.uuid4().hex,
        "title": parse_text(raw.get("title"), f"{field}.title", required=True, limit=MAX_TITLE),
        "description": parse_text(raw.get("description"), f"{field}.description", required=False,
                             limit=MAX_DESCRIPTION),
        "features": parse_features(raw.get("features"), f"{field}.features"),
    }
    if raw.get("actual") is not None:
        item["actual"] = parse_effort(raw["actual"], f"{field}.actual")
    return item


def parse_items_json(data: Any, limit: int) -> list[dict[str, Any]]:
    """``{"items": [...]}`` (or a bare list) into validated items."""
    if isinstance(data, dict) and "items" in data and set(data) - {"items"}:
        unknown = sorted(set(data) - {"items"})
        raise InvalidInput(f"unknown fields {unknown}; send {{\"items\": [...]}}",
                           field=unknown[0])
    raw = data.get("items") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise InvalidInput("send {\"items\": [...]}", field="items")
    if not raw:
        raise InvalidInput("items must not be empty", field="items")
    if len(raw) > limit:
        raise InvalidInput(f"at most {limit} items per import", field="items")
    items = [parse_item(x, f"items[{i}]") for i, x in enumerate(raw)]
    seen: set[str] = set()
    for i, it in enumerate(items):
        if it["id"] in seen:
            raise InvalidInput(f"duplicate id {it['id']!r}", field=f"items[{i}].id")
        seen.add(it["id"])
    return items


def parse_items_csv(body: bytes, limit: int) -> list[dict[str, Any]]:
    """CSV with a header row: id, title, description, actual (or effort); other columns are
    features (numbers where they parse, else categories; empty cells are missing)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MalformedBody("the CSV body is not valid UTF-8") from e
    # Any line ending (\n, \r\n, a lone \r); a quote left open is an error, not a cell
    # that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=None), strict=True)
    try:
        rows = list(reader)
    except csv.Error as e:
        raise MalformedBody(f"invalid CSV at line {reader.line_num}: {e}") from e
    if not rows or not any(c.strip() for c in rows[0]):
        raise InvalidInput("the CSV needs a header row", field="header")
    header = [c.strip() for c in rows[0]]
    lower = [h.lower() for h in header]
    if "title" not in lower:
        raise InvalidInput("the CSV header needs a 'title' column", field="header")
    seen: set[str] = set()
    for name in filter(None, lower):
        if name in seen or (name == "effort" and "actual" in lower):
            raise InvalidInput(f"the CSV header has the column {name!r} twice"
                               if name in seen else "the CSV header has both 'actual' and "
                               "'effort'; keep one", field="header")
        seen.add(name)
    items = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InvalidInput(f"line {lineno} has {len(row)} cells, the header {len(header)}",
                               field=f"line {lineno}")
        raw: dict[str, Any] = {}
        features: dict[str, Any] = {}
        for name, key, cell in zip(header, lower, row, strict=True):
            cell = cell.strip()
            if key in ("id", "title", "description"):
                if cell:
                    raw[key] = cell
            elif key in ("actual", "effort"):
                if cell:
                    number = csv_number(cell)
                    if number is None:
                        raise InvalidInput(f"line {lineno}: {name} must be a number",
                                           field=f"line {lineno}.{name}")
                    raw["actual"] = number
            elif cell:
                number = csv_number(cell)
                features[name] = cell if number is None else number
        raw["features"] = features
        try:
            items.append(parse_item(raw, f"line {lineno}"))
        except InvalidInput as e:  # name a feature's cell as the file does: line N.column
            inner = f"line {lineno}.features."
            if e.field and e.field.startswith(inner):
                e.field = f"line {lineno}." + e.field[len(inner):]
                e.detail = e.detail.replace(inner, f"line {lineno}.")
            raise
        if len(items) > limit:
            raise InvalidInput(f"at most {limit} items per import", field="items")
    if not items:
        raise InvalidInput("the CSV has no data rows", field="items")
    return parse_items_json({"items": items}, limit)


def parse_quantiles(value: Any, field: str = "quantiles") -> list[float]:
    """Requested quantiles: numbers strictly between 0 and 1 (always adds 0.1, 0.5, 0.9),
    each taken to six significant digits, the precision of its key in the response."""
    if value is None:
        return list(DEFAULT_QUANTILES)
    if not isinstance(value, list) or not value or len(value) > 50:
        raise InvalidInput(f"{field} must be a list of 1-50 numbers in (0, 1)", field=field)
    out = set(DEFAULT_QUANTILES)
    for i, q in enumerate(value):
        if not isinstance(q, bool) and isinstance(q, int | float):
            q = float(quantile_key(q))
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1:
            raise InvalidInput(f"{field}[{i}] must be a number strictly between 0 and 1 (to six "
                               "significant digits)", field=f"{field}[{i}]")
        out.add(float(q))
    return sorted(out)


def quantile_key(q: float) -> str:
    """The key of quantile ``q`` in responses: six significant digits (``0.1``, ``0.975``)."""
    return f"{q:g}"


def parse_estimate_item(raw: Any, field: str) -> dict[str, Any]:
    """One item to estimate."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field or 'body'} must be an object", field=field or None)
    prefix = f"{field}." if field else ""
    if field:  # an item of a batch: the batch sets these for all its items
        for name in ("quantiles", "min_seq"):
            if name in raw:
                raise InvalidInput(f"{name} applies to the whole batch: give it next to "
                                   "items, not in an item", field=prefix + name)
    unknown = set(raw) - ESTIMATE_FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields {sorted(unknown)}; allowed: {sorted(ESTIMATE_FIELDS)}",
                           field=prefix + sorted(unknown)[0])
    item: dict[str, Any] = {
        "title": parse_text(raw.get("title"), prefix + "title", required=True, limit=MAX_TITLE),
        "description": parse_text(raw.get("description"), prefix + "description", required=False,
                             limit=MAX_DESCRIPTION),
        "features": parse_features(raw.get("features"), prefix + "features"),
    }
    if raw.get("item_id") is not None:
        item["item_id"] = parse_item_id(raw["item_id"], prefix + "item_id")
    return item


def parse_min_seq(value: Any, field: str = "min_seq") -> int:
    """A read-your-writes sequence number (0 = none)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be a non-negative integer", field=field)
    return value
