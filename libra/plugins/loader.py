"""Plugin discovery through entry points (``libra.strategies``, ``libra.gateways``).

A plugin that fails to import, whose class has the wrong base, or whose
``metadata()`` raises is skipped with one WARNING from the logger
``libra.plugins.loader``; it never breaks discovery of the others. Results are
cached per group; ``refresh=True`` (or ``clear_cache()``) discovers again, e.g.
after ``pip install`` of a new plugin in the same process.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import logging
from dataclasses import dataclass
from typing import Any

from libra.core.errors import PluginNotFoundError
from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin

log = logging.getLogger("libra.plugins.loader")

STRATEGY_GROUP = "libra.strategies"
GATEWAY_GROUP = "libra.gateways"
_BASES: dict[str, type] = {STRATEGY_GROUP: StrategyPlugin, GATEWAY_GROUP: GatewayPlugin}
_KINDS = {STRATEGY_GROUP: "strategy", GATEWAY_GROUP: "gateway"}
#: Our own distribution: its built-ins win a name clash with a third-party package.
_OWN_DISTRIBUTION = "libra-trader"


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One discovered plugin: its class, metadata and where it came from."""

    name: str
    cls: type
    metadata: PluginMetadata
    distribution: str
    value: str


_cache: dict[str, dict[str, PluginEntry]] = {}


def clear_cache() -> None:
    """Forget every discovered plugin; the next discovery reads entry points again."""
    _cache.clear()


def discover_entries(group: str, *, refresh: bool = False) -> dict[str, PluginEntry]:
    """Return every loadable plugin of an entry-point group by name."""
    if refresh or group not in _cache:
        _cache[group] = _discover(group)
    return _cache[group]


def discover_strategies(*, refresh: bool = False) -> dict[str, type[StrategyPlugin]]:
    """Return the installed strategy plugin classes by name."""
    return {n: e.cls for n, e in discover_entries(STRATEGY_GROUP, refresh=refresh).items()}


def discover_gateways(*, refresh: bool = False) -> dict[str, type]:
    """Return the installed gateway plugin classes by name."""
    return {n: e.cls for n, e in discover_entries(GATEWAY_GROUP, refresh=refresh).items()}


def load_strategy(name: str) -> type[StrategyPlugin]:
    """Return the strategy plugin class registered as ``name``.

    Raises:
        PluginNotFoundError: no loadable strategy has that name; the message
            lists the available ones.
    """
    return _load(STRATEGY_GROUP, name)


def load_gateway(name: str) -> type:
    """Return the gateway plugin class registered as ``name``.

    Raises:
        PluginNotFoundError: no loadable gateway has that name; the message
            lists the available ones.
    """
    return _load(GATEWAY_GROUP, name)


def list_strategy_plugins() -> list[PluginMetadata]:
    """Return the metadata of every installed strategy plugin, sorted by name."""
    entries = discover_entries(STRATEGY_GROUP)
    return [entries[name].metadata for name in sorted(entries)]


def list_gateway_plugins() -> list[PluginMetadata]:
    """Return the metadata of every installed gateway plugin, sorted by name."""
    entries = discover_entries(GATEWAY_GROUP)
    return [entries[name].metadata for name in sorted(entries)]


def _load(group: str, name: str) -> type:
    entries = discover_entries(group)
    entry = entries.get(name)
    if entry is None:
        # A plugin installed since the last discovery is found without a restart.
        entry = discover_entries(group, refresh=True).get(name)
    if entry is None:
        available = ", ".join(sorted(_cache[group])) or "none"
        raise PluginNotFoundError(
            f"unknown {_KINDS[group]} plugin {name!r}; available: {available}",
            name=name,
            available=sorted(_cache[group]),
        )
    return entry.cls


def _discover(group: str) -> dict[str, PluginEntry]:
    found: dict[str, PluginEntry] = {}
    for ep in _sorted_entry_points(group):
        entry = _load_entry_point(group, ep)
        if entry is None:
            continue
        previous = found.get(entry.name)
        if previous is None:
            found[entry.name] = entry
            continue
        log.warning(
            "Duplicate %s plugin %s: using %s from %s, ignoring %s from %s",
            _KINDS[group],
            entry.name,
            previous.value,
            previous.distribution,
            entry.value,
            entry.distribution,
        )
    return found


def _sorted_entry_points(group: str) -> list[importlib_metadata.EntryPoint]:
    """Order entry points so a name clash has one deterministic winner.

    Our own distribution's built-ins come first, then distributions by name.
    """
    eps = list(importlib_metadata.entry_points(group=group))

    def key(ep: importlib_metadata.EntryPoint) -> tuple[int, str, str, str]:
        dist = _distribution_name(ep)
        return (0 if dist == _OWN_DISTRIBUTION else 1, dist, ep.name, ep.value)

    # The same distribution can be visible twice (e.g. an editable install
    # plus a stale copy); keep one entry per (distribution, name, value).
    unique = {(_distribution_name(ep), ep.name, ep.value): ep for ep in eps}
    return sorted(unique.values(), key=key)


def _distribution_name(ep: importlib_metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return ""
    name = dist.metadata["Name"] if dist.metadata else None
    return str(name or getattr(dist, "name", "") or "")


def _load_entry_point(group: str, ep: importlib_metadata.EntryPoint) -> PluginEntry | None:
    base = _BASES[group]
    try:
        cls = ep.load()
        if not isinstance(cls, type) or not issubclass(cls, base):
            raise TypeError(
                f"{ep.value} is not a subclass of {base.__module__}.{base.__qualname__}"
            )
        metadata = cls.metadata()  # type: ignore[attr-defined]
        if not isinstance(metadata, PluginMetadata):
            raise TypeError(
                f"{ep.value}.metadata() must return PluginMetadata, was {type(metadata).__name__}"
            )
    except Exception as exc:  # any plugin failure is isolated here
        log.warning("Failed to load plugin %s: %s: %s", ep.name, type(exc).__name__, exc)
        return None
    if metadata.name != ep.name:
        log.debug(
            "Plugin %s registered under entry point %s; using the entry point name",
            metadata.name,
            ep.name,
        )
    return PluginEntry(
        name=ep.name,
        cls=cls,
        metadata=metadata,
        distribution=_distribution_name(ep),
        value=ep.value,
    )


def describe_plugins() -> dict[str, list[dict[str, Any]]]:
    """Return every discovered plugin as plain data (for ``libra plugins`` and logs)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group, kind in _KINDS.items():
        entries = discover_entries(group)
        out[kind] = [
            {
                "name": name,
                "version": e.metadata.version,
                "description": e.metadata.description,
                "author": e.metadata.author,
                "requires": list(e.metadata.requires),
                "distribution": e.distribution,
                "class": e.value,
            }
            for name, e in sorted(entries.items())
        ]
    return out
