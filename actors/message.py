"""The message base: small, immutable, versioned definitions with validated decoding.

A message class is a frozen dataclass that declares ``TYPE`` (its wire name, versioned, e.g.
``"estimate.v1"``). :func:`message` registers it. Decoding a body from a peer checks that the
fields are exactly the declared ones and of the declared simple types, so a handler never sees
a half-formed message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar, dataclass_transform

import numpy as np

from actors.errors import ProtocolError

_REGISTRY: dict[str, type[Message]] = {}


class Message:
    """Base of every message type. Subclasses are frozen dataclasses with a ``TYPE``."""

    TYPE: ClassVar[str] = ""

    def to_body(self) -> dict[str, Any]:
        """The msgpack-able field mapping sent on the wire."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_body(cls: type[M], body: Any) -> M:
        """Build from an untrusted body; raise :class:`ProtocolError` if it does not fit."""
        if not isinstance(body, dict):
            raise ProtocolError(f"{cls.TYPE}: body is not a map")
        checks = _field_checks(cls)
        unknown = set(body) - set(checks)
        if unknown:
            raise ProtocolError(f"{cls.TYPE}: unknown fields {sorted(map(str, unknown))}")
        values: dict[str, Any] = {}
        for name, (check, has_default) in checks.items():
            if name not in body:
                if has_default:
                    continue
                raise ProtocolError(f"{cls.TYPE}: missing field {name!r}")
            value = body[name]
            if not check(value):
                raise ProtocolError(f"{cls.TYPE}: field {name!r} has the wrong type")
            values[name] = value
        return cls(**values)


M = TypeVar("M", bound=Message)


@dataclass_transform(frozen_default=True)
def message(cls: type[M]) -> type[M]:
    """Class decorator: make ``cls`` a frozen dataclass and register its ``TYPE``."""
    if not cls.TYPE:
        raise TypeError(f"{cls.__name__} must declare TYPE")
    if cls.TYPE in _REGISTRY:
        raise TypeError(f"message type {cls.TYPE!r} registered twice")
    dc = dataclasses.dataclass(frozen=True, slots=True)(cls)
    _REGISTRY[cls.TYPE] = dc
    return dc


def message_class(type_name: str) -> type[Message]:
    """The registered class for a wire type name; :class:`ProtocolError` if unknown."""
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise ProtocolError(f"unknown message type {type_name!r}") from None


def decode_message(type_name: str, body: Any) -> Message:
    """Decode an untrusted (type, body) pair into a message instance."""
    return message_class(type_name).from_body(body)


def registered_types() -> dict[str, type[Message]]:
    """A copy of the registry (for tests and documentation)."""
    return dict(_REGISTRY)


_CHECK_CACHE: dict[type, dict[str, tuple[typing.Callable[[Any], bool], bool]]] = {}


def _field_checks(cls: type) -> dict[str, tuple[typing.Callable[[Any], bool], bool]]:
    cached = _CHECK_CACHE.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = {}
        for f in dataclasses.fields(cls):
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            cached[f.name] = (_checker(hints[f.name]), has_default)
        _CHECK_CACHE[cls] = cached
    return cached


def _checker(hint: Any) -> typing.Callable[[Any], bool]:
    """A shallow type check for the simple field types messages use."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return lambda v: True
    if origin in (typing.Union, types.UnionType):
        subs = [_checker(a) for a in typing.get_args(hint)]
        return lambda v: any(s(v) for s in subs)
    if hint is type(None):
        return lambda v: v is None
    if hint is float:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if hint is int:
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    if hint is np.ndarray:
        return lambda v: isinstance(v, np.ndarray)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        inner = _checker(args[0]) if args and args[0] is not Ellipsis else (lambda v: True)
        return lambda v: isinstance(v, list | tuple) and all(inner(x) for x in v)
    if origin is dict:
        return lambda v: isinstance(v, dict)
    if isinstance(hint, type):
        return lambda v: isinstance(v, hint)
    return lambda v: True
