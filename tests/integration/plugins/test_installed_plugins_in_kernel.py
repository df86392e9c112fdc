"""Plugins installed from a third-party package run in a kernel like the built-ins."""

from __future__ import annotations

import functools

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.testing import eventually as eventually_
from libra.testing.factories import paper_config_data

CONTEXT_KEYS = {
    "strategy_id", "bus", "cache", "clock", "config", "symbols", "gateway", "orders",
    "portfolio", "log", "environment",
}


eventually = functools.partial(eventually_, timeout=20.0)


def config() -> KernelConfig:
    """s1 on the bundled BTC/USD replay of a paper venue, s2 on the installed gateway."""
    data = paper_config_data({"id": "s1", "plugin": "my_strategy", "params": {"threshold": 3}},
                             kernel={"name": "third-party"}, logging={"heartbeat_interval": 60})
    data["gateways"].append({"id": "mx", "plugin": "my_exchange"})
    data["strategies"].append({"id": "s2", "plugin": "my_awesome_strategy", "gateway": "mx"})
    return KernelConfig.model_validate(data)


async def test_installed_strategy_and_gateway_run_in_a_kernel(plugins):
    from my_package.gateways import MyExchangeGateway
    from my_package.strategies import MyAwesomeStrategy
    from my_plugin.strategy import MyStrategy

    kernel = TradingKernel(config())
    await kernel.start()
    try:
        s1, s2 = kernel.strategies["s1"], kernel.strategies["s2"]
        mx = kernel.gateways["mx"]
        assert isinstance(s1, MyStrategy)
        assert isinstance(s2, MyAwesomeStrategy)
        assert isinstance(mx, MyExchangeGateway)
        assert mx.is_connected
        context = s1.context
        assert set(context) == CONTEXT_KEYS
        assert isinstance(context["bus"], MessageBus)
        assert isinstance(context["cache"], Cache)
        assert context["config"] == {"threshold": 3}
        assert (context["strategy_id"], context["gateway"]) == ("s1", "paper")
        assert (context["symbols"], context["environment"]) == (["BTC/USD"], "paper")
        await eventually(lambda: len(s1.seen) >= 5)
        bar = s1.seen[0]
        # An event reads as a mapping (the published API) and as attributes.
        assert bar["symbol"] == bar.symbol == "BTC/USD"
        assert bar.get("price") == bar.close
    finally:
        await kernel.stop()
    assert not mx.is_connected
