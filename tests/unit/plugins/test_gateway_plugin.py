"""GatewayPlugin: its id, how its events reach the kernel, and the optional methods' defaults."""

from __future__ import annotations

from typing import Any

import pytest

from libra.plugins.base import GatewayPlugin, PluginMetadata


class Venue(GatewayPlugin):
    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="venue", version="1", description="d")

    async def connect(self) -> None:
        self.emit_data({"kind": "quote", "symbol": "BTC/USDT"})

    async def disconnect(self) -> None:
        pass

    async def submit_order(self, order: Any) -> None:
        self.emit_order_event({"kind": "accepted", "order": order})

    async def cancel_order(self, order: Any) -> None:
        self.emit_order_event({"kind": "canceled", "order": order})


def test_the_required_methods_are_abstract():
    assert GatewayPlugin.__abstractmethods__ == {
        "metadata", "connect", "disconnect", "submit_order", "cancel_order",
    }


def test_id_defaults_to_the_plugin_name():
    assert Venue().id == "venue"
    assert Venue({"a": 1}, gateway_id="venue-2").id == "venue-2"
    assert Venue({"a": 1}).config == {"a": 1}
    assert Venue().data_venue == "venue"


async def test_events_go_nowhere_before_bind():
    gateway = Venue()
    await gateway.connect()
    await gateway.submit_order("o1")


async def test_bound_events_reach_the_kernel_sinks():
    gateway = Venue()
    data: list[Any] = []
    order_events: list[Any] = []
    clock = object()
    gateway.bind(data.append, order_events.append, clock)
    await gateway.connect()
    await gateway.submit_order("o1")
    await gateway.cancel_order("o1")
    assert data == [{"kind": "quote", "symbol": "BTC/USDT"}]
    assert [e["kind"] for e in order_events] == ["accepted", "canceled"]
    assert gateway.clock is clock


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("subscribe", (["BTC/USDT"], ["quote"]), None),
        ("run", (), None),
        ("fetch_open_orders", (), []),
        ("fetch_order", ("c1", "BTC/USDT"), None),
        ("fetch_fills", (), []),
        ("fetch_balances", (), {}),
    ],
)
async def test_optional_methods_have_defaults(method: str, args: tuple[Any, ...], expected: Any):
    assert await getattr(Venue(), method)(*args) == expected


def test_synchronous_defaults():
    gateway = Venue()
    assert gateway.is_connected
    assert gateway.instruments() == {}
    assert Venue.config_model is None
