"""JSON in and out of the HTTP API, with orjson (several times faster than the standard
library on the estimate responses, which carry analogies and drivers per item).

Differences from :mod:`json` that clients can see: ``NaN`` and ``Infinity`` are refused
in request bodies (they are not JSON), integers beyond 64 bits are read as floats, and
non-finite floats in responses are written as ``null``. As with :mod:`json`, an object
that repeats a key keeps the last value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse

#: Raised by :func:`loads` on invalid JSON; has ``msg``, ``lineno`` and ``colno``.
JSONDecodeError = orjson.JSONDecodeError


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value`` (numpy scalars and arrays included)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises :data:`JSONDecodeError`."""
    return orjson.loads(data)


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSON response, rendered with :func:`dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
