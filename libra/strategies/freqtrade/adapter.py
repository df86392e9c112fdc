"""``FreqtradeAdapter``: run a freqtrade ``IStrategy`` on LIBRA bars (backtest, paper, live).

On each closed candle of the strategy's timeframe the adapter appends the candle to a
bounded window, runs freqtrade's ``advise_indicators`` / ``advise_entry`` / ``advise_exit``
on it (or reads the signals computed once over ``history``), and turns the newest row into
LIBRA orders: an entry on ``enter_long``, exits as explained in ``trades``. Orders sent at a
candle's close fill at the next candle's open on a paper venue with ``bar_execution =
"next_open"``, which is where freqtrade's backtester fills them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from libra.core.errors import ConfigError
from libra.model.events import timeframe_to_ns
from libra.plugins.base import PluginMetadata, StrategyPlugin
from libra.plugins.context import StrategyContext
from libra.strategies.freqtrade.candles import (
    CandleWindow,
    Signal,
    analyze,
    last_signal,
    ohlcv_floats,
)
from libra.strategies.freqtrade.config import FreqtradeAdapterConfig
from libra.strategies.freqtrade.history import PrecomputedSignals
from libra.strategies.freqtrade.loader import freqtrade_config, load_strategy
from libra.strategies.freqtrade.trades import Candle, ExitOrder, TradeBook, ns_to_datetime

_DEFAULT_STEP = Decimal("0.00000001")
_SIGNALS_KEPT = 100_000


@dataclass
class _Pair:
    """What the adapter tracks for one pair."""

    window: CandleWindow
    signal: Signal | None = None
    entry_id: str | None = None
    entry_time: int = 0
    entry_tag: str | None = None
    entry_quantity: Decimal = Decimal(0)
    entry_stake: float = 0.0
    entry_left: Decimal = Decimal(0)
    resized: bool = False
    entry_fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    exit_id: str | None = None
    exit_order: ExitOrder | None = None
    wanted: ExitOrder | None = None


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip as freqtrade reports it (times are candle open times, in ns)."""

    pair: str
    open_time: int
    close_time: int
    open_rate: float
    close_rate: float
    amount: float
    enter_tag: str | None
    exit_reason: str


class FreqtradeAdapter(StrategyPlugin):
    """Run a freqtrade strategy class inside LIBRA, long only, on spot."""

    config_model: ClassVar[type[FreqtradeAdapterConfig]] = FreqtradeAdapterConfig

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.raw_options = dict(config or {})
        self.options: FreqtradeAdapterConfig | None = None
        self.strategy: Any = None
        self.book: TradeBook | None = None
        self.closed_trades: list[ClosedTrade] = []
        self.signals: dict[str, deque[Signal]] = {}
        self._pairs: dict[str, _Pair] = {}
        self._pair_list: list[str] = list(self.raw_options.get("pairs") or [])
        self._context: Mapping[str, Any] = {}
        self._timeframe = ""
        self._timeframe_ns = 0
        self._startup = 0
        self._precomputed: PrecomputedSignals | None = None
        self._last_loop_ts = -1

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="freqtrade",
            version="0.2.0",
            description="Run freqtrade IStrategy classes on LIBRA (live, paper, backtest)",
            author="LIBRA developers",
            requires=["freqtrade"],
        )

    @property
    def name(self) -> str:
        return "freqtrade"

    @property
    def symbols(self) -> list[str]:
        return list(self._pair_list)

    # -- start ------------------------------------------------------------------------------

    async def initialize(self, context: StrategyContext) -> None:
        """Load the freqtrade strategy, check it, and prepare one candle window per pair."""
        options = FreqtradeAdapterConfig.model_validate(
            {**self.raw_options, **(context.get("config") or {})})
        self.options = options
        self._context = context
        pairs = list(context.get("symbols") or options.pairs)
        if not pairs:
            raise ConfigError("the freqtrade plugin needs pairs (symbols) to trade")
        self._pair_list = pairs
        quotes = {p.split("/")[1].split(":")[0] for p in pairs}
        if len(quotes) != 1:
            raise ConfigError(f"all pairs must share one stake currency, were {sorted(quotes)}")
        config = freqtrade_config(options, pairs, quotes.pop())
        strategy = load_strategy(config)
        self._attach_data_provider(strategy, strategy.config)
        self.strategy = strategy
        self._timeframe = str(strategy.timeframe)
        self._timeframe_ns = timeframe_to_ns(self._timeframe)
        self._startup = int(strategy.startup_candle_count or 0)
        window = options.window and max(options.window, self._startup + 2)
        self._pairs = {p: _Pair(CandleWindow(window)) for p in pairs}
        # The newest signals of each pair (for reports and parity checks), bounded for live.
        self.signals = {p: deque(maxlen=_SIGNALS_KEPT) for p in pairs}
        self.book = TradeBook(strategy, config["stake_currency"], float(options.fee),
                              self._timeframe_ns // 60_000_000_000)
        if options.history:
            self._precomputed = PrecomputedSignals.load(strategy, options.history, pairs,
                                                        self._timeframe)
        strategy.ft_bot_start()
        self.log.info("freqtrade strategy %s ready: pairs=%s timeframe=%s startup=%d mode=%s",
                      options.strategy, pairs, self._timeframe, self._startup,
                      "precomputed" if self._precomputed else "per_candle")

    @staticmethod
    def _attach_data_provider(strategy: Any, config: dict[str, Any]) -> None:
        from freqtrade.data.dataprovider import DataProvider

        strategy.dp = DataProvider(config, None, None)
        strategy.wallets = None

    # -- candles ----------------------------------------------------------------------------

    async def on_data(self, data: Any) -> None:
        """Evaluate the strategy on each closed candle of its timeframe."""
        if data.kind != "bar" or data.timeframe != self._timeframe:
            return
        state = self._pairs.get(data.symbol)
        if state is None or not state.window.append(data.ts_open, ohlcv_floats(data)):
            return
        if data.ts_event != self._last_loop_ts:
            self._last_loop_ts = data.ts_event
            self.strategy.bot_loop_start(current_time=ns_to_datetime(data.ts_event))
        ready = state.window.count > self._startup
        signal = self._signal(data.symbol, state, ready)
        previous, state.signal = state.signal, signal
        if not ready or signal is None:
            return
        self.signals[data.symbol].append(signal)
        candle = Candle(ns_to_datetime(data.ts_open), float(data.open), float(data.high),
                        float(data.low), float(data.close))
        assert self.book is not None
        trade = self.book.trades.get(data.symbol)
        if trade is not None:
            self._manage_trade(data.symbol, state, trade, candle, previous, signal,
                               data.ts_event)
        elif state.entry_id is None and signal.enter_long and not signal.exit_long:
            self._enter(data.symbol, state, signal, float(data.close), data.ts_event)

    def _signal(self, pair: str, state: _Pair, ready: bool) -> Signal | None:
        if self._precomputed is not None:
            ts_open = state.window.last_open
            assert ts_open is not None
            found = self._precomputed.get(pair, ts_open)
            if found is not None:
                return found
        if not ready:
            return None
        analyzed = analyze(self.strategy, state.window.frame(), pair)
        self.strategy.dp._set_cached_df(pair, self._timeframe, analyzed,
                                        self.strategy.config["candle_type_def"])
        return last_signal(analyzed)

    def _manage_trade(self, pair: str, state: _Pair, trade: Any, candle: Candle,
                      previous: Signal | None, signal: Signal, close_ns: int) -> None:
        assert self.book is not None
        entered_here = trade.open_date_utc == candle.open_time
        late = self.book.candle_exit(trade, candle, entered_here,
                                     bool(previous and previous.enter_long))
        now = ns_to_datetime(close_ns)
        if late is not None:
            self.book.late_exits += 1
            self._want_exit(pair, state, ExitOrder("market", late))
            return
        reason = self.book.signal_exit(trade, signal, candle.close, now)
        if reason is not None:
            self._want_exit(pair, state, ExitOrder("market", reason))
            return
        order = self.book.protective_order(trade, now, candle.close, signal.enter_long)
        if order is not None:
            self._want_exit(pair, state, order)

    # -- entries ----------------------------------------------------------------------------

    def _enter(self, pair: str, state: _Pair, signal: Signal, rate: float, close_ns: int) -> None:
        from freqtrade.strategy.strategy_wrapper import strategy_safe_wrapper

        options = self.options
        strategy = self.strategy
        assert options is not None
        assert self.book is not None
        open_count = len(self.book.trades) + sum(1 for s in self._pairs.values() if s.entry_id)
        if 0 <= options.max_open_trades <= open_count:
            return
        now = ns_to_datetime(close_ns)
        stake = self._stake(pair, open_count)
        if stake <= 0:
            return
        stake = float(strategy_safe_wrapper(strategy.custom_stake_amount,
                                            default_retval=stake)(
            pair=pair, current_time=now, current_rate=rate, proposed_stake=stake,
            min_stake=None, max_stake=self._free_quote(pair), leverage=1.0,
            entry_tag=signal.enter_tag, side="long"))
        quantity = self._instrument_step(pair)[1]
        amount = (Decimal(repr(stake)) / Decimal(repr(rate))).quantize(quantity, ROUND_FLOOR)
        if amount <= 0:
            return
        confirmed = strategy_safe_wrapper(strategy.confirm_trade_entry, default_retval=True)(
            pair=pair, order_type=strategy.order_types["entry"], amount=float(amount),
            rate=rate, time_in_force=strategy.order_time_in_force["entry"], current_time=now,
            entry_tag=signal.enter_tag, side="long")
        if not confirmed:
            return
        order = self.buy_market(pair, amount, tag=signal.enter_tag)
        state.entry_id = order.client_order_id
        state.entry_time = close_ns
        state.entry_tag = signal.enter_tag
        state.entry_quantity = order.quantity
        state.entry_left = order.quantity
        state.entry_stake = stake
        state.resized = False
        state.entry_fills = []

    def _stake(self, pair: str, open_count: int) -> float:
        options = self.options
        assert options is not None
        if options.stake_amount != "unlimited":
            return float(options.stake_amount)
        slots = options.max_open_trades - open_count
        if options.max_open_trades <= 0 or slots <= 0:
            return 0.0
        return self._free_quote(pair) * float(options.tradable_balance_ratio) / slots

    def _free_quote(self, pair: str) -> float:
        portfolio = self._context.get("portfolio")
        if portfolio is None:
            return 0.0
        quote = pair.split("/")[1].split(":")[0]
        return float(portfolio.balance(self._context.get("gateway", ""), quote))

    def _instrument_step(self, pair: str) -> tuple[Decimal, Decimal]:
        cache = self._context.get("cache")
        instrument = cache.instrument(pair) if cache is not None else None
        if instrument is None:
            return _DEFAULT_STEP, _DEFAULT_STEP
        return instrument.tick_size, instrument.lot_size

    # -- exits ------------------------------------------------------------------------------

    def _want_exit(self, pair: str, state: _Pair, order: ExitOrder) -> None:
        """Make ``order`` the pair's working exit: keep, replace (cancel first) or place it."""
        if state.exit_id is not None:
            if state.exit_order == order or (state.exit_order is not None and
                                              state.exit_order.kind == "market"):
                return
            state.wanted = order
            self.cancel_order(state.exit_id)
            return
        self._place_exit(pair, state, order)

    def _place_exit(self, pair: str, state: _Pair, order: ExitOrder) -> None:
        quantity = self.get_position(pair).quantity
        if quantity <= 0:
            return
        if order.kind == "market":
            placed = self.sell_market(pair, quantity, tag=order.reason)
        else:
            tick = self._instrument_step(pair)[0]
            assert order.price is not None
            price = Decimal(repr(order.price)).quantize(tick, ROUND_HALF_EVEN)
            if order.kind == "limit":
                placed = self.sell_limit(pair, quantity, price, tag=order.reason)
            else:
                placed = self.submit_order(symbol=pair, side="sell", quantity=quantity,
                                           type="stop_market", trigger_price=price,
                                           tag=order.reason)
        state.exit_id = placed.client_order_id
        state.exit_order = order
        state.wanted = None

    # -- order events -----------------------------------------------------------------------

    async def on_fill(self, fill: Any) -> None:
        """Turn LIBRA fills into freqtrade trade openings and closings."""
        state = self._pairs.get(fill.symbol)
        if state is None:
            return
        if fill.client_order_id == state.entry_id:
            self._entry_filled(fill.symbol, state, fill)
        elif fill.client_order_id == state.exit_id and self.get_position(fill.symbol).is_flat:
            self._exit_filled(fill.symbol, state, fill, state.exit_order.reason
                              if state.exit_order is not None else "exit_signal")
        elif self.book is not None and fill.symbol in self.book.trades and \
                self.get_position(fill.symbol).is_flat:
            # Closed by an order the adapter did not place: the backtest's end (force_exit)
            # or the operator.
            order = self._context["cache"].order(fill.client_order_id) \
                if self._context.get("cache") is not None else None
            self._exit_filled(fill.symbol, state, fill,
                              getattr(order, "tag", None) or "force_exit")

    def _entry_filled(self, pair: str, state: _Pair, fill: Any) -> None:
        assert self.book is not None
        signed = fill.quantity if fill.side == "buy" else -fill.quantity
        state.entry_fills.append((signed, fill.price))
        state.entry_left -= fill.quantity
        amount = sum((q for q, _ in state.entry_fills), Decimal(0))
        bought = [(q, p) for q, p in state.entry_fills if q > 0]
        rate = sum((q * p for q, p in bought), Decimal(0)) / sum((q for q, _ in bought),
                                                                 Decimal(0))
        tick, lot = self._instrument_step(pair)
        if state.entry_left <= 0:
            state.entry_id = None
            if not state.resized and self._resize_entry(pair, state, fill.price, amount, lot):
                return
        self.book.trades.pop(pair, None)  # a later partial fill rebuilds the trade
        trade = self.book.open(pair, float(rate), float(amount), ns_to_datetime(state.entry_time),
                               state.entry_tag, (float(tick), float(lot)))
        if state.entry_id is None and state.exit_id is None:
            # Placed at the entry's open: a backtest venue trades it against the entry
            # candle, where freqtrade checks ROI and the stop too.
            order = self.book.protective_order(
                trade, ns_to_datetime(state.entry_time), float(fill.price),
                bool(state.signal and state.signal.enter_long))
            if order is not None and order.kind != "market":
                self._want_exit(pair, state, order)

    def _resize_entry(self, pair: str, state: _Pair, price: Decimal, amount: Decimal,
                      lot: Decimal) -> bool:
        """Bring a backtest entry to the stake over its fill price, as freqtrade sizes it.

        The order was sized on the signal candle's close; freqtrade divides the stake by
        the price it enters at. On a backtest venue the difference trades at the same open
        (it arrives while the venue is at that bar's open). Return whether an order went.
        """
        state.resized = True
        if self._context.get("environment") != "backtest":
            return False
        target = (Decimal(repr(state.entry_stake)) / price).quantize(lot, ROUND_FLOOR)
        change = target - amount
        if not change:
            return False
        order = self.buy_market(pair, change) if change > 0 else self.sell_market(pair, -change)
        state.entry_id = order.client_order_id
        state.entry_left = order.quantity
        return True

    def _exit_filled(self, pair: str, state: _Pair, fill: Any, reason: str) -> None:
        assert self.book is not None
        # Bar fills carry the bar's close time; freqtrade dates an exit by its candle's open.
        close_time = fill.ts_event - self._timeframe_ns
        trade = self.book.close(pair, float(fill.price), ns_to_datetime(close_time), reason)
        if trade is not None:
            self.closed_trades.append(ClosedTrade(
                pair=pair, open_time=int(trade.open_date_utc.timestamp() * 1e9),
                close_time=close_time, open_rate=trade.open_rate, close_rate=float(fill.price),
                amount=trade.amount, enter_tag=trade.enter_tag, exit_reason=reason))
        state.exit_id, state.exit_order, state.wanted = None, None, None

    async def on_order_update(self, event: Any) -> None:
        """Forget orders the venue closed without a fill; place an exit waiting on a cancel."""
        if event.kind not in ("canceled", "rejected", "denied", "expired"):
            return
        state = self._pairs.get(event.symbol)
        if state is None:
            return
        if event.client_order_id == state.entry_id:
            state.entry_id = None
        elif event.client_order_id == state.exit_id:
            wanted = state.wanted
            state.exit_id, state.exit_order, state.wanted = None, None, None
            if wanted is not None and self.book is not None and event.symbol in self.book.trades:
                self._place_exit(event.symbol, state, wanted)

    # -- backtest ---------------------------------------------------------------------------

    async def backtest(self, config: dict[str, Any]) -> dict[str, Any]:
        """Backtest through LIBRA's runner on a paper venue that fills at the next open."""
        options = dict(config)
        fee = str(self.raw_options.get("fee", "0.001"))
        options["gateway"] = {"bar_execution": "next_open", "taker_fee": fee, "maker_fee": fee,
                              **options.get("gateway", {})}
        options.setdefault("symbol", (self.raw_options.get("pairs") or [None])[0])
        return await super().backtest(options)

    async def shutdown(self) -> None:
        late = self.book.late_exits if self.book is not None else 0
        self.log.info("freqtrade strategy stopping: trades=%d late_exits=%d",
                      len(self.closed_trades), late)
