"""PaperGateway: a simulated venue behind the gateway contract.

It takes market data from a replay of historical files, from another gateway
(paper trading on live data), or from the backtest runner, matches orders
against it (``MatchingEngine``) and reports what a venue would: acceptances,
rejections, cancels and fills.

With the kernel's state store attached (``attach_store``), the venue survives a restart as a
real one would: its orders, balances, fills and counters are restored, and a replay resumes
after the last market event the venue processed instead of playing history again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import structlog

from libra.core.clock import ReplayClock
from libra.gateways.paper.config import InstrumentOverride, PaperGatewayConfig
from libra.gateways.paper.matching import MatchingEngine
from libra.gateways.paper.venue_state import (
    VenueStore,
    account_record,
    restore_venue,
    save_changes,
    save_market,
)
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
        #: The strategies' symbols, known when the kernel is built: a replay of datasets
        #: (``data.exchange``) loads theirs at connect, before anything subscribes.
        self.expected_symbols: list[str] = []
        self._connected = False
        self._store: VenueStore | None = None
        self._resume_after: int | None = None

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
    def replays_history(self) -> bool:
        """Whether this venue's market data is a replay of files (``data.source = "replay"``)."""
        return self.options.data.source == "replay"

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        """Load the replay data (if any); the paper venue itself needs no connection."""
        data = self.options.data
        if data.source == "replay":
            self.replay_events = load_replay_events(
                data.replay_files(self.expected_symbols), self.options.default_replay_symbol(),
                self.id)
            for symbol in dict.fromkeys(event.symbol for event in self.replay_events):
                self.instrument(symbol)
            if self.replay_events:
                # Before the first event the replay's time is where its data begins: a
                # restore and the strategies' initialize() read it.
                self._advance_replay_clock(self.replay_events[0].ts_event)
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
        """Play the replay feed (live and paper modes); return when it ends.

        After a restart the replay resumes after the last event the venue processed.
        """
        if self.options.data.source != "replay":
            return
        emit = self.on_market_data
        if isinstance(self.clock, ReplayClock):
            emit = self._on_replayed
        data = self.options.data
        feed = self.feed = ReplayFeed(self.replay_events, emit, speed=data.speed, loop=data.loop,
                                      settled=self.settled if data.lockstep else None)
        if self._resume_after is not None:
            skipped = feed.resume_after(self._resume_after)
            structlog.get_logger("libra.paper").info(
                "replay.resumed", gateway=self.id, after_ts=self._resume_after, skipped=skipped,
                remaining=len(self.replay_events) - skipped)
        await feed.run()

    def _on_replayed(self, event: Any) -> None:
        """Move the kernel's replay clock to ``event``, then match and publish it.

        The clock moves first, as the backtest runner's does: an order arriving while this
        event is the latest is stamped with its time, in a replay as in a backtest.
        """
        self._advance_replay_clock(event.ts_event)
        self.on_market_data(event)

    def _advance_replay_clock(self, ts_ns: int) -> None:
        clock = self.clock
        if isinstance(clock, ReplayClock):
            clock.advance_to(ts_ns)

    def on_market_data(self, event: Any) -> None:
        """Match resting orders against one event, then hand it to the kernel.

        The venue sees the event before strategies do, as a real venue would.
        """
        matching = self.matching
        reports = matching.on_market_data(event)
        store = self._store
        if store is not None:
            # The replay position first: a change saved without it would have this event
            # replayed after a restart, and a trade could fill the same order twice.
            save_market(store, matching, event)
            if reports or matching.changed:
                save_changes(store, matching)
        for report in reports:
            self.emit_order_event(report)
        if event.venue == self.id:
            self.emit_data(event)

    # -- the state store --------------------------------------------------------------------

    @property
    def has_store(self) -> bool:
        """Whether the venue saves itself to the kernel's state store."""
        return self._store is not None

    async def attach_store(self, store: Any) -> None:
        """Restore the venue saved in ``store``, then save every change to it.

        A saved venue wins over ``starting_balances``: a real venue keeps its balances.
        """
        state = await asyncio.to_thread(store.load_venue_state, self.id)
        if state is not None:
            restore_venue(self.matching, state)
            self._resume_after = state.replay_ts
            if state.replay_ts is not None:
                self._advance_replay_clock(state.replay_ts)
            structlog.get_logger("libra.paper").info(
                "venue.restored", gateway=self.id, orders=len(state.orders),
                open_orders=len(state.open_orders), fills=len(state.fills),
                replay_ts=state.replay_ts)
        self._store = store
        self.matching.track_changes = True
        if state is None or state.account is None:
            store.record_venue_changes(self.id, [], [], account_record(self.matching))

    def _save(self) -> None:
        if self._store is not None:
            save_changes(self._store, self.matching)

    # -- orders -----------------------------------------------------------------------------

    async def submit_order(self, order: Any) -> None:
        reports = self.matching.submit(order)
        self._save()  # the venue's state is saved before what it reports
        for report in reports:
            self.emit_order_event(report)

    async def cancel_order(self, order: Any) -> None:
        reports = self.matching.cancel(order.client_order_id)
        self._save()
        for report in reports:
            self.emit_order_event(report)

    async def fetch_open_orders(self, symbols: Sequence[str] | None = None) -> list[Any]:
        return [
            vo for orders in self.matching.open_orders.values() for vo in orders
            if symbols is None or vo.symbol in symbols
        ]

    async def fetch_order(self, client_order_id: str, symbol: str) -> Any | None:
        return self.matching.orders.get(client_order_id)

    async def fetch_fills(self, since_ns: int | None = None) -> list[Any]:
        """Return every fill the venue made; ``since_ns`` is not applied.

        A replay stamps fills of resting orders with the replayed bar's time and
        fills on arrival with the clock's, so a time filter could hide a missed
        fill; reconciliation applies each trade id once, so all is safe.
        """
        return list(self.matching.fills)

    async def fetch_balances(self) -> dict[str, Decimal]:
        return dict(self.matching.balances)

    def _now(self) -> int:
        clock = self.clock
        return clock.timestamp_ns() if clock is not None else 0

