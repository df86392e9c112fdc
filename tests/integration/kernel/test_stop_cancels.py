"""Stopping with ``kernel.cancel_orders_on_stop``: cancels are sent and answered before any
gateway disconnects, and what is still open after the stop is reported, never hidden."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from libra.core.kernel import TradingKernel
from libra.model.events import Quote
from libra.model.order_events import OrderAccepted
from libra.model.orders import Order, OrderStatus
from libra.plugins.base import GatewayPlugin, PluginMetadata
from libra.testing import eventually
from libra.testing.factories import RecordingStrategy, paper_config, paper_gateway

T0 = 1_700_000_000_000_000_000


class DeafVenue(GatewayPlugin):
    """A venue that accepts every order and never answers a cancel."""

    sent_cancels: list[str]

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="deaf", version="0", description="ignores cancels")

    async def connect(self) -> None:
        self.sent_cancels = []

    async def disconnect(self) -> None:
        return None

    async def submit_order(self, order: Order) -> None:
        self.emit_order_event(OrderAccepted.from_order(
            order, T0, venue_order_id=f"V-{order.client_order_id}"))

    async def cancel_order(self, order: Order) -> None:
        self.sent_cancels.append(order.client_order_id)


def _config(**kernel: object) -> object:
    gateway = paper_gateway(data={"source": "none"}, balances={"USD": "100000"})
    return paper_config({"id": "rec", "plugin": f"{__name__}:Recorder",
                         "symbols": ["BTC/USD"]},
                        gateway=gateway, kernel={"cancel_orders_on_stop": True, **kernel},
                        logging={"heartbeat_interval": 60})


class Recorder(RecordingStrategy):
    """The recording strategy, importable by path for the kernel's builder."""


async def test_stop_cancels_at_the_venue_before_it_disconnects():
    kernel = TradingKernel(_config())
    await kernel.start()
    venue = kernel.gateways["paper"]
    venue.on_market_data(Quote(venue="paper", symbol="BTC/USD", bid=Decimal("100"),
                               ask=Decimal("101"), bid_size=Decimal(1), ask_size=Decimal(1),
                               ts_event=T0, ts_recv=T0))
    resting = kernel.orders_for("rec").buy_limit("BTC/USD", "0.1", "90")
    await eventually(lambda: resting.status is OrderStatus.ACCEPTED)

    with capture_logs() as logs:
        await kernel.stop()

    assert resting.status is OrderStatus.CANCELED
    assert await venue.fetch_open_orders() == []
    assert kernel.orders_left_open == []
    (stopped,) = [e for e in logs if e["event"] == "kernel.stopped"]
    assert stopped["open_order_ids"] == []


async def test_orders_a_venue_leaves_open_are_reported_after_the_stop():
    config = _config(shutdown_timeout=1)
    config = config.model_copy(update={"gateways": [
        config.gateways[0].model_copy(update={"plugin": f"{__name__}:DeafVenue"})]})
    kernel = TradingKernel(config)
    await kernel.start()
    order = kernel.orders_for("rec").buy_limit("BTC/USD", "0.1", "90")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)

    with capture_logs() as logs:
        await kernel.stop()

    venue = kernel.gateways["paper"]
    assert venue.sent_cancels == [order.client_order_id]  # sent before it disconnected
    assert kernel.orders_left_open == [order.client_order_id]
    (cancelled,) = [e for e in logs if e["event"] == "kernel.orders_cancelled"]
    assert cancelled["log_level"] == "error"
    assert cancelled["still_open"] == [order.client_order_id]
