"""PaperGateway: a simulated venue behind the gateway contract.

It takes market data from a replay of historical files, from another gateway
(paper trading on live data), or from the backtest runner, matches orders
against it (``MatchingEngine``) and reports what a venue would: acceptances,
rejections, cancels and fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from libra.gateways.paper.config import InstrumentOverride, PaperGatewayConfig
from libra.gateways.paper.matching import MatchingEngine
from libra.gateways.replay import ReplayFeed, load_replay_events
from libra.model.instrument import Instrument, parse_symbol
from libra.plugins.base import GatewayPlugin, PluginMetadata


class PaperGateway(GatewayPlugin):
    """Simulated fills against replayed, live or backtest market data."""

    config_model: ClassVar[type[PaperGatewayConfig]] = PaperGatewayConfig

    def __init__(self, config: Any = None, *, gateway_id: str | None = None) -> None:
        if not isinstance(config, PaperGatewayConfig):
            config = PaperGatewayConfig.model_validate(config or {})
        super().__init__(config, gateway_id=gateway_id)
        self.options: PaperGatewayConfig = config
        self._instruments: dict[str, Instrument] = {}
        self.matching = MatchingEngine(self.id, config, self.instrument, self._now)
        self.feed: ReplayFeed | None = None
        self.replay_events: list[Any] = []
        self._symbols: list[str] = []
        self._connected = False

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="paper",
            version="0.1.0",
            description="Simulated venue: fills orders against replayed or live market data",
            author="LIBRA developers",
        )

    # -- instruments ------------------------------------------------------------------------

    def instrument(self, symbol: str) -> Instrument:
        """Return the paper venue's instrument for ``symbol`` (built on first use)."""
        instrument = self._instruments.get(symbol)
        if instrument is None:
            override = self.options.instruments.get(symbol) or InstrumentOverride()
            base, quote = parse_symbol(symbol)
            instrument = Instrument(
                symbol=symbol, venue=self.id, base=base, quote=quote,
                tick_size=override.tick_size, lot_size=override.lot_size,
                min_quantity=override.min_quantity or override.lot_size,
                min_notional=override.min_notional,
                maker_fee=self.options.maker_fee, taker_fee=self.options.taker_fee,
            )
            self._instruments[symbol] = instrument
        return instrument

    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    # -- connection and data ----------------------------------------------------------------

    @property
    def data_venue(self) -> str:
        data = self.options.data
        return data.gateway if data.source == "gateway" and data.gateway else self.id

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        """Load the replay data (if any); the paper venue itself needs no connection."""
        data = self.options.data
        if data.source == "replay":
            default_symbol = data.symbol or next(iter(self.options.instruments), None)
            self.replay_events = load_replay_events(data.replay_files(), default_symbol, self.id)
            for symbol in dict.fromkeys(event.symbol for event in self.replay_events):
                self.instrument(symbol)
        # The kernel reads ``instruments()`` once, after connect: every configured instrument
        # must exist by then, or orders are rounded to a default precision the venue ignores.
        for symbol in self.options.instruments:
            self.instrument(symbol)
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def subscribe(self, symbols: Sequence[str], channels: Sequence[str]) -> None:
        self._symbols = list(symbols)
        for symbol in symbols:
            self.instrument(symbol)

    async def run(self) -> None:
        """Play the replay feed (live and paper modes); return when it ends."""
        if self.options.data.source != "replay":
            return
        self.feed = ReplayFeed(self.replay_events, self.on_market_data,
                               speed=self.options.data.speed, loop=self.options.data.loop)
        await self.feed.run()

    def on_market_data(self, event: Any) -> None:
        """Match resting orders against one event, then hand it to the kernel.

        The venue sees the event before strategies do, as a real venue would.
        """
        for report in self.matching.on_market_data(event):
            self.emit_order_event(report)
        if event.venue == self.id:
            self.emit_data(event)

    # -- orders -----------------------------------------------------------------------------

    async def submit_order(self, order: Any) -> None:
        for report in self.matching.submit(order):
            self.emit_order_event(report)

    async def cancel_order(self, order: Any) -> None:
        for report in self.matching.cancel(order.client_order_id):
            self.emit_order_event(report)

    async def fetch_open_orders(self, symbols: Sequence[str] | None = None) -> list[Any]:
        return [
            vo for orders in self.matching.open_orders.values() for vo in orders
            if symbols is None or vo.symbol in symbols
        ]

    async def fetch_order(self, client_order_id: str, symbol: str) -> Any | None:
        return self.matching.orders.get(client_order_id)

    async def fetch_fills(self, since_ns: int | None = None) -> list[Any]:
        return [f for f in self.matching.fills if since_ns is None or f.ts_event >= since_ns]

    async def fetch_balances(self) -> dict[str, Decimal]:
        return dict(self.matching.balances)

    def _now(self) -> int:
        clock = self.clock
        return clock.timestamp_ns() if clock is not None else 0
