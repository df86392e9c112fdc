"""How ``StrategyPlugin.backtest()`` and ``StrategyPlugin.optimize()`` reach the backtest runner.

The backtest runner drives a whole kernel, so it sits above the plugin API and the plugin
API cannot import it. It finds the runner the way the kernel finds plugins: through an
entry point, group ``libra.research``, which LIBRA's own distribution fills with
``backtest`` and ``optimize`` (``libra.backtest.api``). Another distribution may register
its own under other names; the defaults are looked up by these two.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
from collections.abc import Awaitable, Callable
from typing import Any

from libra.core.errors import PluginNotFoundError

RESEARCH_GROUP = "libra.research"

#: ``await tool(subject, options)``: a strategy object (backtest) or class (optimize).
ResearchTool = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]


def research_tool(name: str) -> ResearchTool:
    """Return the research tool registered as ``name`` (``backtest`` or ``optimize``).

    Raises:
        PluginNotFoundError: no installed distribution registers it.
    """
    found = [ep for ep in importlib_metadata.entry_points(group=RESEARCH_GROUP)
             if ep.name == name]
    if not found:
        raise PluginNotFoundError(
            f"no {name!r} in entry point group {RESEARCH_GROUP!r}: is libra-trader installed?",
            name=name,
        )
    tool: ResearchTool = found[0].load()
    return tool
