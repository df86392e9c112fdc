"""freqtrade's view of LIBRA positions: one ``LocalTrade`` per open position, and exit rules.

freqtrade's backtester evaluates exits on each candle in this order: the exit signal of the
previous candle (exit at this candle's open), then stoploss (at the stop price), then ROI (at
the ROI price), then the trailing stop. It moves the stop with the candle's high before it
compares the low with the stop. LIBRA sees a candle only once it has closed, so:

* signal and ``custom_exit`` exits are decided at the close of the previous candle and sent
  as market orders, which the paper venue fills at this candle's open (``next_open``);
* the stop or the ROI target (the nearer one: spot venues hold one exit order per position)
  rests at the venue for this candle, priced as freqtrade prices it; one the last close
  has passed rests all the same, and a ``next_open`` venue fills it within the next candle;
* the entry is sized again from its fill (freqtrade divides the stake by the price it
  enters at), and its exit order is placed at the entry's open: a backtest venue trades
  both against the entry candle, where freqtrade checks ROI and the stop too;
* after the candle, ``candle_exit`` replays freqtrade's stop and ROI rules on it (which also
  moves trailing and custom stops); an exit freqtrade took that the resting order missed
  is sent as a market order: a late exit, counted in ``late_exits``.

What still differs from freqtrade's backtester, and why: a trailing stop that freqtrade
raises with a candle's high and hits with the same candle's low exits a candle later at its
open, since the resting stop is the one set before (12 of 170 trades of
``tests/integration/freqtrade``'s trailing strategy on ETH/BTC 5m).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from libra.strategies.freqtrade.candles import Signal

_TICK_SIZE_MODE = 4  # ccxt.TICK_SIZE: precisions below are step sizes


def ns_to_datetime(ts_ns: int) -> datetime:
    """Return the UTC datetime of a nanosecond timestamp."""
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC)


@dataclass(frozen=True, slots=True)
class ExitOrder:
    """An exit to place: a market order, or a stop or a limit resting at ``price``."""

    kind: Literal["market", "stop", "limit"]
    reason: str
    price: float | None = None


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle, as freqtrade's exit rules read it."""

    open_time: datetime
    open: float
    high: float
    low: float
    close: float


class TradeBook:
    """freqtrade ``LocalTrade`` objects mirroring this adapter's open LIBRA positions."""

    def __init__(self, strategy: Any, stake_currency: str, fee: float,
                 timeframe_minutes: int) -> None:
        self.strategy = strategy
        self.stake_currency = stake_currency
        self.fee = fee
        self.timeframe_minutes = timeframe_minutes
        self.trades: dict[str, Any] = {}
        self._next_id = 0
        self.late_exits = 0

    def open(self, pair: str, rate: float, amount: float, open_time: datetime,
             enter_tag: str | None, precision: tuple[float, float]) -> Any:
        """Record a filled entry as a freqtrade trade, with its initial stoploss."""
        from freqtrade.persistence import LocalTrade, Order

        self._next_id += 1
        price_precision, amount_precision = precision
        trade = LocalTrade(
            id=self._next_id, pair=pair, base_currency=pair.split("/")[0],
            stake_currency=self.stake_currency, open_rate=rate, open_rate_requested=rate,
            open_date=open_time, stake_amount=rate * amount, amount=0, amount_requested=amount,
            fee_open=self.fee, fee_close=self.fee, is_open=True, enter_tag=enter_tag,
            timeframe=self.timeframe_minutes, exchange="libra", is_short=False,
            trading_mode="spot", leverage=1.0, amount_precision=amount_precision,
            price_precision=price_precision, precision_mode=_TICK_SIZE_MODE,
            precision_mode_price=_TICK_SIZE_MODE, contract_size=1.0, orders=[],
        )
        trade.adjust_stop_loss(trade.open_rate, self.strategy.stoploss, initial=True)
        order = Order(
            id=self._next_id, ft_trade_id=trade.id, ft_is_open=True, ft_pair=pair,
            order_id=str(self._next_id), symbol=pair, ft_order_side="buy", side="buy",
            order_type="market", status="open", order_date=open_time,
            order_filled_date=open_time, order_update_date=open_time, ft_price=rate,
            price=rate, average=rate, amount=amount, filled=0, remaining=amount,
            cost=amount * rate * (1 + self.fee), ft_order_tag=enter_tag,
        )
        order._trade_bt = trade
        trade.orders.append(order)
        order.close_bt_order(open_time, trade)
        trade.recalc_trade_from_orders()
        self.trades[pair] = trade
        return trade

    def close(self, pair: str, rate: float, close_time: datetime, reason: str) -> Any:
        """Close the trade of ``pair`` at ``rate``; return it (None if there was none)."""
        trade = self.trades.pop(pair, None)
        if trade is not None:
            trade.exit_reason = reason
            trade.close_date = close_time
            trade.close_rate = rate
            trade.is_open = False
        return trade

    # -- decisions --------------------------------------------------------------------------

    def signal_exit(self, trade: Any, signal: Signal, rate: float,
                    now: datetime) -> str | None:
        """Return the exit reason of the signal or ``custom_exit`` for the next candle, if any."""
        from freqtrade.constants import CUSTOM_TAG_MAX_LENGTH
        from freqtrade.strategy.strategy_wrapper import strategy_safe_wrapper

        strategy = self.strategy
        if not strategy.use_exit_signal:
            return None
        profit = trade.calc_profit_ratio(rate)
        if signal.exit_long and not signal.enter_long:
            if strategy.exit_profit_only and profit <= strategy.exit_profit_offset:
                return None
            return self._confirm_exit(trade, rate, signal.exit_tag or "exit_signal", now)
        reason = strategy_safe_wrapper(strategy.custom_exit, default_retval=False)(
            pair=trade.pair, trade=trade, current_time=now, current_rate=rate,
            current_profit=profit)
        if not reason:
            return None
        text = reason[:CUSTOM_TAG_MAX_LENGTH] if isinstance(reason, str) and reason \
            else "custom_exit"
        return self._confirm_exit(trade, rate, text, now)

    def _confirm_exit(self, trade: Any, rate: float, reason: str, now: datetime) -> str | None:
        from freqtrade.strategy.strategy_wrapper import strategy_safe_wrapper

        strategy = self.strategy
        confirmed = strategy_safe_wrapper(strategy.confirm_trade_exit, default_retval=True)(
            pair=trade.pair, trade=trade, order_type=strategy.order_types["exit"],
            amount=trade.amount, rate=rate,
            time_in_force=strategy.order_time_in_force["exit"], exit_reason=reason,
            sell_reason=reason, current_time=now)
        return reason if confirmed else None

    def candle_exit(self, trade: Any, candle: Candle, entered_here: bool,
                    enter_signal: bool) -> str | None:
        """Replay freqtrade's stop and ROI rules on one candle; return the exit it takes.

        This is freqtrade's backtest check of one candle without the exit signal (decided a
        candle earlier). It also moves the trade's stop as freqtrade does (trailing stop,
        ``custom_stoploss``) using the candle's high.
        """
        from freqtrade.enums import ExitType

        strategy = self.strategy
        profit = trade.calc_profit_ratio(candle.open)
        profit_best = trade.calc_profit_ratio(candle.high)
        trade.adjust_min_max_rates(candle.high, candle.low)
        stop = strategy.ft_stoploss_reached(
            current_rate=candle.open, trade=trade, current_time=candle.open_time,
            current_profit=profit, force_stoploss=0, low=candle.low, high=candle.high,
            bound_profit=profit_best)
        roi = not (enter_signal and strategy.ignore_roi_if_entry_signal) and \
            strategy.min_roi_reached(trade=trade, current_profit=profit_best,
                                     current_time=candle.open_time)
        if stop.exit_type == ExitType.STOP_LOSS:
            return "stop_loss"
        if roi and not (entered_here and _red_opening_candle(strategy, trade, candle)):
            return "roi"
        if stop.exit_type == ExitType.TRAILING_STOP_LOSS:
            return "trailing_stop_loss"
        return None

    def protective_order(self, trade: Any, next_open: datetime, last_close: float,
                         enter_signal: bool) -> ExitOrder | None:
        """Return the stop or ROI order to rest for the next candle (the nearer of the two).

        A target the last close has already passed is placed all the same: a venue filling
        at the next open ("next_open") trades it within the next candle, as freqtrade does,
        and one filling at the close takes it at once.
        """
        strategy = self.strategy
        stop_price = float(trade.stop_loss or 0.0)
        roi_price: float | None = None
        if not (enter_signal and strategy.ignore_roi_if_entry_signal):
            duration = int((next_open - trade.open_date_utc).total_seconds() // 60)
            _, roi = strategy.min_roi_reached_entry(trade, duration, next_open)
            if roi is not None:
                roi_price = trade.calc_close_rate_for_roi(roi)
        if roi_price is not None and roi_price <= last_close:
            return ExitOrder("limit", "roi", roi_price)
        if stop_price >= last_close:
            return ExitOrder("stop", "stop_loss", stop_price)
        stop_gap = (last_close - stop_price) / last_close if stop_price > 0 else None
        roi_gap = (roi_price - last_close) / last_close if roi_price is not None else None
        if roi_gap is not None and (stop_gap is None or roi_gap <= stop_gap):
            return ExitOrder("limit", "roi", roi_price)
        if stop_gap is not None:
            reason = "trailing_stop_loss" if trade.is_stop_loss_trailing else "stop_loss"
            return ExitOrder("stop", reason, stop_price)
        return None


def _red_opening_candle(strategy: Any, trade: Any, candle: Candle) -> bool:
    """Return whether freqtrade refuses an ROI exit on the entry candle (its issue 6261)."""
    _, roi = strategy.min_roi_reached_entry(trade, 0, candle.open_time)
    if roi is None:
        return False
    close_rate = trade.calc_close_rate_for_roi(roi)
    return bool(candle.open > candle.close and trade.open_rate < candle.open
                and close_rate > candle.close)
