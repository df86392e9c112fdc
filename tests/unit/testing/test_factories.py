"""The public test factories build valid model objects and configs."""

from __future__ import annotations

from decimal import Decimal

from libra.model.enums import OrderSide, OrderStatus, OrderType
from libra.testing.factories import (
    RecordingStrategy,
    build_fill,
    build_order,
    paper_config,
    paper_config_data,
    paper_gateway,
)


def test_a_default_fill_fills_the_default_order() -> None:
    order = build_order()
    order.submit(1)

    assert order.apply_fill(build_fill())
    assert order.status is OrderStatus.FILLED
    assert (order.client_order_id, order.type, order.price) == ("sma-1", OrderType.LIMIT,
                                                               Decimal("100"))


def test_a_fill_of_an_order_takes_its_identity() -> None:
    order = build_order(3, strategy_id="grid", side="sell", type="market", price=None,
                        symbol="ETH/USDT")

    fill = build_fill("0.5", "2000", order=order, fee="0.1")

    assert (fill.client_order_id, fill.strategy_id, fill.symbol) == ("grid-3", "grid", "ETH/USDT")
    assert fill.side is OrderSide.SELL
    assert (fill.quantity, fill.price, fill.fee) == (Decimal("0.5"), Decimal("2000"),
                                                     Decimal("0.1"))
    assert fill.ts_recv == fill.ts_event
    assert build_fill().trade_id != build_fill().trade_id


def test_paper_config_gives_each_strategy_the_replayed_symbol() -> None:
    config = paper_config({"id": "a", "plugin": "sma_cross"},
                          {"id": "b", "plugin": "sma_cross", "symbols": ["ETH/USD"]},
                          kernel={"name": "t"})

    (gateway,) = config.gateways
    assert gateway.plugin == "paper"
    assert gateway.model_dump()["data"]["path"] == "bundled:BTC_USD-1m"
    assert [(s.gateway, s.symbols) for s in config.strategies] == [
        ("paper", ["BTC/USD"]), ("paper", ["ETH/USD"])]
    assert config.kernel.name == "t"


def test_paper_config_data_is_fresh_plain_data() -> None:
    gateway = paper_gateway(gateway_id="sim", data={"source": "none"})
    first = paper_config_data({"id": "a", "plugin": "sma_cross"}, gateway=gateway)
    first["gateways"][0]["starting_balances"]["USD"] = "1"

    second = paper_config_data({"id": "a", "plugin": "sma_cross"}, gateway=gateway)

    assert second["gateways"][0]["starting_balances"] == {"USD": "100000"}
    assert second["strategies"] == [{"gateway": "sim", "id": "a", "plugin": "sma_cross"}]


async def test_recording_strategy_keeps_what_it_receives() -> None:
    strategy = RecordingStrategy({"symbols": ["BTC/USD"]})
    fill = build_fill()

    await strategy.initialize({"strategy_id": "r"})
    await strategy.on_data("bar")
    await strategy.on_fill(fill)
    await strategy.shutdown()

    assert strategy.symbols == ["BTC/USD"]
    assert (strategy.seen, strategy.fills) == (["bar"], [fill])
    assert strategy.context == {"strategy_id": "r"}
    assert strategy.shutdown_called
