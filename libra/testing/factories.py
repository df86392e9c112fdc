"""Factories of the objects tests build again and again: orders, fills, paper configs.

They live in the package, not in ``tests/``, so that LIBRA's own tests and a plugin
author's tests build the same things the same way: one ``Order`` with sensible defaults,
one ``Fill`` of it, one paper kernel replaying bundled bars, one strategy that records
what it receives. Every default can be overridden by keyword.

* ``build_order``: an INITIALIZED limit order ``sma-1`` (buy 1 BTC/USDT at 100 on ``paper``).
* ``build_fill``: a taker fill, of that default order or of the ``order`` given.
* ``paper_config_data`` / ``paper_config``: one paper gateway replaying a bundled file,
  and the strategies given, trading its symbol on it.
* ``RecordingStrategy``: keeps every market event, order update and fill it gets.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from itertools import count
from typing import Any, TypeAlias

from libra.core.config import KernelConfig
from libra.model.enums import OrderSide, OrderType
from libra.model.fills import Fill
from libra.model.orders import Order
from libra.plugins.base import PluginMetadata, StrategyPlugin

#: A quantity or price as tests write it: ``"0.5"`` (made a ``Decimal``) or a ``Decimal``.
Numeric: TypeAlias = Decimal | str | int

_TRADE_IDS = count(1)


def _decimal(value: Any) -> Any:
    """Make a string or int a ``Decimal``; pass anything else through, so tests of
    validation can hand a float or ``None`` to the model unchanged."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return Decimal(value)
    return value


# -- orders and fills ----------------------------------------------------------------------


def build_order(
    number: int = 1,
    *,
    client_order_id: str | None = None,
    strategy_id: str = "sma",
    venue: str = "paper",
    symbol: str = "BTC/USDT",
    side: OrderSide | str = OrderSide.BUY,
    type: OrderType | str = OrderType.LIMIT,
    quantity: Numeric = "1",
    price: Numeric | None = "100",
    ts_init: int = 0,
    **options: Any,
) -> Order:
    """Return an INITIALIZED order ``<strategy_id>-<number>`` (pass ``price=None`` for a
    market order). ``options`` go to ``Order`` as given: ``trigger_price``,
    ``time_in_force``, ``post_only``, ``reduce_only``."""
    if "trigger_price" in options:
        options["trigger_price"] = _decimal(options["trigger_price"])
    return Order(
        client_order_id=client_order_id or f"{strategy_id}-{number}",
        strategy_id=strategy_id, venue=venue, symbol=symbol,
        side=OrderSide(side), type=OrderType(type),
        quantity=_decimal(quantity), price=_decimal(price), ts_init=ts_init, **options,
    )


def build_fill(
    quantity: Numeric = "1",
    price: Numeric = "100",
    *,
    order: Order | None = None,
    side: OrderSide | str | None = None,
    trade_id: str | None = None,
    fee: Numeric = "0",
    ts_event: int = 1,
    ts_recv: int | None = None,
    **fields: Any,
) -> Fill:
    """Return a taker fill with its fee in USDT.

    Its order ids, venue, symbol and side are ``order``'s when given, else those of the
    default ``build_order()``. ``trade_id`` defaults to a new one each call; ``ts_recv`` to
    ``ts_event``. ``fields`` override any other ``Fill`` field (``venue_order_id``,
    ``fee_currency``, ``liquidity``, ``client_order_id``, ...).
    """
    values: dict[str, Any] = {
        "client_order_id": "sma-1", "venue_order_id": "v1", "strategy_id": "sma",
        "venue": "paper", "symbol": "BTC/USDT", "side": OrderSide.BUY,
        "fee_currency": "USDT", "liquidity": "taker",
    }
    if order is not None:
        values.update(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                      venue=order.venue, symbol=order.symbol, side=order.side)
    if side is not None:
        values["side"] = OrderSide(side)
    values.update(
        trade_id=trade_id or f"t{next(_TRADE_IDS)}",
        quantity=_decimal(quantity), price=_decimal(price), fee=_decimal(fee),
        ts_event=ts_event, ts_recv=ts_event if ts_recv is None else ts_recv,
    )
    values.update(fields)
    return Fill(**values)


# -- paper kernel configs ------------------------------------------------------------------


def paper_gateway(
    *,
    gateway_id: str = "paper",
    symbol: str = "BTC/USD",
    data: str | Mapping[str, Any] = "bundled:BTC_USD-1m",
    balances: Mapping[str, str] | None = None,
    speed: float = 0,
    **options: Any,
) -> dict[str, Any]:
    """Return one paper gateway section replaying the bars of ``data`` for ``symbol``.

    ``data`` is a file path or ``bundled:NAME`` (played at ``speed``, 0 meaning as fast
    as possible), or a whole ``data`` section (``{"source": "none"}``). ``balances``
    default to 100,000 USD; ``options`` are further gateway fields (fees, instruments).
    """
    if isinstance(data, Mapping):
        data_section = dict(data)
    else:
        data_section = {"source": "replay", "path": data, "symbol": symbol, "speed": speed}
    return copy.deepcopy({
        "id": gateway_id, "plugin": "paper",
        "starting_balances": dict(balances or {"USD": "100000"}),
        "data": data_section, **options,
    })


def paper_config_data(
    *strategies: Mapping[str, Any],
    gateway: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """Return a raw kernel config: one paper gateway and ``strategies`` trading on it.

    ``gateway`` is a ``paper_gateway()`` section (the default one if ``None``). Each
    strategy gets that gateway and its replayed symbol unless it names its own.
    ``sections`` are further top-level keys: ``environment``, ``kernel``, ``logging``,
    ``risk``, ``backtest``, ... Everything is copied: the result is fresh plain data.
    """
    venue = dict(gateway) if gateway is not None else paper_gateway()
    symbol = venue.get("data", {}).get("symbol")
    defaults: dict[str, Any] = {"gateway": venue["id"]}
    if symbol is not None:
        defaults["symbols"] = [symbol]
    return copy.deepcopy({
        "gateways": [venue],
        "strategies": [{**defaults, **strategy} for strategy in strategies],
        **sections,
    })


def paper_config(
    *strategies: Mapping[str, Any],
    gateway: Mapping[str, Any] | None = None,
    **sections: Any,
) -> KernelConfig:
    """Return ``paper_config_data(...)`` validated as a ``KernelConfig``."""
    return KernelConfig.model_validate(paper_config_data(*strategies, gateway=gateway,
                                                         **sections))


# -- strategies ----------------------------------------------------------------------------


class RecordingStrategy(StrategyPlugin):
    """A strategy that trades nothing and keeps what it receives.

    ``seen``: market data, in order; ``order_updates`` and ``fills``: its order events;
    ``context``: what ``initialize`` got; ``shutdown_called``: whether it was shut down.
    Its symbols come from ``config["symbols"]`` (the kernel's config gives them too).
    Subclass it to add behaviour to a strategy that still records.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.seen: list[Any] = []
        self.order_updates: list[Any] = []
        self.fills: list[Any] = []
        self.context: Any = None
        self.shutdown_called = False

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name=cls.__name__.lower(), version="0",
                                     description="test strategy recording what it receives")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def symbols(self) -> list[str]:
        return list(self.config.get("symbols", []))

    async def initialize(self, context: Any) -> None:
        self.context = context

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)

    async def on_order_update(self, event: Any) -> None:
        self.order_updates.append(event)

    async def on_fill(self, fill: Any) -> None:
        self.fills.append(fill)

    async def shutdown(self) -> None:
        self.shutdown_called = True


__all__ = [
    "Numeric",
    "RecordingStrategy",
    "build_fill",
    "build_order",
    "paper_config",
    "paper_config_data",
    "paper_gateway",
]
