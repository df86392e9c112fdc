"""Immutable records that are read both as objects and as mappings.

Strategies written against the published plugin API read events as mappings
(``data.get("price")``, ``fill["symbol"]``); LIBRA's own code reads attributes.
One frozen ``msgspec.Struct`` serves both, with no per-event conversion to
``dict``. Structs are used rather than dataclasses because they are built about
ten times faster, which matters on the per-event hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import msgspec


class Record(msgspec.Struct, frozen=True, gc=False):
    """Base of every event and domain record: immutable, typed, mapping-readable.

    Subclasses list computed keys (properties) in ``_extra_keys`` so that
    ``record["price"]`` works for a derived value as well as for a field.
    """

    _extra_keys: ClassVar[tuple[str, ...]] = ()

    def __getitem__(self, key: str) -> Any:
        if key in _key_set(type(self)):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in _key_set(type(self)):
            return getattr(self, key)
        return default

    def __contains__(self, key: object) -> bool:
        return key in _key_set(type(self))

    def keys(self) -> tuple[str, ...]:
        return _key_tuple(type(self))

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in _key_tuple(type(self))]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in _key_tuple(type(self))]

    def __iter__(self) -> Iterator[str]:
        return iter(_key_tuple(type(self)))

    def __len__(self) -> int:
        return len(_key_tuple(type(self)))

    def to_dict(self) -> dict[str, Any]:
        """Return a plain ``dict`` copy (for serialisation and logs, not the hot path)."""
        return {k: getattr(self, k) for k in _key_tuple(type(self))}


Mapping.register(Record)

_KEY_TUPLES: dict[type, tuple[str, ...]] = {}
_KEY_SETS: dict[type, frozenset[str]] = {}


def _key_tuple(cls: type[Record]) -> tuple[str, ...]:
    keys = _KEY_TUPLES.get(cls)
    if keys is None:
        fields = tuple(cls.__struct_fields__)
        keys = fields + tuple(k for k in cls._extra_keys if k not in fields)
        _KEY_TUPLES[cls] = keys
        _KEY_SETS[cls] = frozenset(keys)
    return keys


def _key_set(cls: type[Record]) -> frozenset[str]:
    keys = _KEY_SETS.get(cls)
    if keys is None:
        _key_tuple(cls)
        keys = _KEY_SETS[cls]
    return keys
