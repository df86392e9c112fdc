"""RiskEngine: every order is checked here before it leaves the process.

A check returns the reason an order is denied, or ``None``. Denials become
``OrderDenied`` events for the strategy; the strategy never sees an exception.

Trading state: ACTIVE (everything passes the limits), REDUCING (only orders
that reduce a position pass), HALTED (only orders that reduce a position pass;
a strategy's new exposure never does). The daily loss limit switches to HALTED;
an operator can switch back at run time.

Risk never blocks reducing risk. An order the engine can prove only reduces a
position (its quantity, with every open order on the same side, fits within the
position) passes the trading state, the position limits, the open-order count,
the price band and the rate limits, which all exist to cap risk. The venue's own
limits and the per-order size limits (``max_order_quantity``,
``max_order_notional``) still hold: ``close_clip`` sizes the pieces a close is
split into so that each passes them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from libra.core.config import RiskConfig
from libra.model.instrument import Instrument
from libra.model.orders import Order, OrderSide
from libra.model.positions import Position

_NS_PER_DAY = 86_400_000_000_000
_ZERO = Decimal(0)


class TradingState(enum.Enum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class _RateLimiter:
    """At most ``rate`` events in any one-second window."""

    __slots__ = ("limit", "window")

    def __init__(self, rate: float) -> None:
        self.limit = max(1, int(rate))
        self.window: deque[int] = deque()

    def allow(self, now_ns: int) -> bool:
        window = self.window
        cutoff = now_ns - 1_000_000_000
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= self.limit:
            return False
        window.append(now_ns)
        return True


class RiskEngine:
    """Pre-trade checks and the trading state switch."""

    def __init__(self, config: RiskConfig,
                 on_pause: Callable[[str, str], None] | None = None) -> None:
        self.config = config
        #: Called with (strategy_id, reason) when the breaker pauses a strategy.
        self._on_pause = on_pause
        #: Paused strategies and why: their orders that would add risk are denied.
        self.paused: dict[str, str] = {}
        self._recent_denials: dict[str, deque[int]] = {}
        self._in_a_row: dict[str, int] = {}
        self.state = TradingState(config.trading_state)
        #: Called with (previous, new, reason) after each change of ``state`` (notifiers).
        self.state_listeners: list[Callable[[TradingState, TradingState, str], None]] = []
        self._global_rate = (
            _RateLimiter(config.max_orders_per_second_global)
            if config.max_orders_per_second_global
            else None
        )
        self._strategy_rates: dict[str, _RateLimiter] = {}
        self._day: int | None = None
        self._day_start_pnl = _ZERO
        self._last_pnl = _ZERO
        self.denials: dict[str, int] = {}
        self._log = structlog.get_logger("libra.risk")

    def set_state(self, state: TradingState | str, reason: str = "operator") -> None:
        """Switch the trading state (ACTIVE / REDUCING / HALTED)."""
        new = TradingState(state)
        if new is not self.state:
            self._log.warning("risk.trading_state_changed", from_state=self.state.value,
                              to_state=new.value, reason=reason)
            previous, self.state = self.state, new
            for listener in self.state_listeners:
                try:
                    listener(previous, new, reason)
                except Exception:  # an observer may not undo an operator's halt
                    self._log.exception("risk.state_listener_failed")

    def update_config(self, config: RiskConfig) -> None:
        """Apply new limits (a reload); the trading state follows only an explicit change."""
        old_state = self.config.trading_state
        self.config = config
        if config.trading_state != old_state:
            self.set_state(config.trading_state, reason="config reload")
        self._global_rate = (
            _RateLimiter(config.max_orders_per_second_global)
            if config.max_orders_per_second_global
            else None
        )
        self._strategy_rates.clear()

    def check(
        self,
        order: Order,
        instrument: Instrument,
        last_price: Decimal | None,
        position: Position | None,
        open_orders: int,
        now_ns: int,
        closing: Decimal = _ZERO,
    ) -> str | None:
        """Return why ``order`` is denied, or ``None`` when it may be sent.

        ``closing`` is the quantity of the strategy's open orders in this symbol on the
        order's side: with them, the order must still fit within the position to count
        as reducing.
        """
        reason = self._check(order, instrument, last_price, position, open_orders, now_ns,
                             closing)
        if reason is not None:
            rule = reason.split(":", 1)[0]
            self.denials[rule] = self.denials.get(rule, 0) + 1
            if rule != "strategy_paused":
                self._count_towards_breaker(order.strategy_id, reason, now_ns)
        elif self._in_a_row:
            self._in_a_row.pop(order.strategy_id, None)
        return reason

    def _count_towards_breaker(self, strategy_id: str, reason: str, now_ns: int) -> None:
        """Pause ``strategy_id`` after ``breaker_denials`` denials within ``breaker_window``
        seconds of the kernel's clock, or as many in a row with no order passing between
        (in a replay the clock is the data's: a strategy denied once per one-minute bar is
        as stuck as one denied twenty times a second). Unpaused, it would be denied
        forever, flooding the log."""
        cfg = self.config
        window = self._recent_denials.get(strategy_id)
        if window is None:
            window = self._recent_denials[strategy_id] = deque()
        window.append(now_ns)
        cutoff = now_ns - int(cfg.breaker_window * 1e9)
        while window and window[0] <= cutoff:
            window.popleft()
        in_a_row = self._in_a_row[strategy_id] = self._in_a_row.get(strategy_id, 0) + 1
        if strategy_id in self.paused:
            return
        if len(window) >= cfg.breaker_denials:
            self.pause(strategy_id, f"{len(window)} orders denied within "
                                    f"{cfg.breaker_window:g}s; last: {reason}")
        elif in_a_row >= cfg.breaker_denials:
            self.pause(strategy_id, f"{in_a_row} orders denied in a row; last: {reason}")

    def pause(self, strategy_id: str, reason: str) -> None:
        """Deny ``strategy_id``'s orders that would add risk until ``resume``."""
        if strategy_id in self.paused:
            return
        self.paused[strategy_id] = reason
        self._log.error("strategy.paused", strategy_id=strategy_id, reason=reason)
        if self._on_pause is not None:
            self._on_pause(strategy_id, reason)

    def resume(self, strategy_id: str) -> bool:
        """Let a paused strategy trade again; return whether it was paused."""
        self._recent_denials.pop(strategy_id, None)
        self._in_a_row.pop(strategy_id, None)
        if self.paused.pop(strategy_id, None) is None:
            return False
        self._log.warning("strategy.resumed", strategy_id=strategy_id)
        return True

    def _check(
        self,
        order: Order,
        instrument: Instrument,
        last_price: Decimal | None,
        position: Position | None,
        open_orders: int,
        now_ns: int,
        closing: Decimal,
    ) -> str | None:
        reducing = reduces(order, position, closing)
        reason = self._check_state(order, reducing)
        if reason is None and not reducing and order.strategy_id in self.paused:
            reason = f"strategy_paused: {self.paused[order.strategy_id]}"
        if reason is not None:
            return reason
        price = order.price if order.price is not None else (order.trigger_price or last_price)
        problem = instrument.check_order(order.quantity, order.price)
        if problem is None and order.price is None and price is not None:
            problem = instrument.check_notional(order.quantity * price)
        if problem is not None:
            return f"instrument: {problem}"
        reason = self._check_order_size(order, price)
        if reason is not None or reducing:
            return reason
        reason = self._check_position(order, position, price)
        if reason is not None:
            return reason
        cfg = self.config
        if cfg.max_open_orders is not None and open_orders >= cfg.max_open_orders:
            return f"max_open_orders: {open_orders} orders already open"
        reason = self._check_price_band(order, last_price)
        if reason is not None:
            return reason
        return self._check_rates(order.strategy_id, now_ns)

    def _check_state(self, order: Order, reducing: bool) -> str | None:
        if reducing:
            return None
        if order.reduce_only:
            return "reduce_only: order would not reduce the position"
        if self.state is TradingState.HALTED:
            return "trading_halted: trading state is HALTED; only position-reducing orders pass"
        if self.state is TradingState.REDUCING:
            return "trading_reducing: only position-reducing orders pass in REDUCING state"
        return None

    def close_clip(self, instrument: Instrument, price: Decimal | None) -> Decimal | None:
        """Return the largest quantity one closing order may have under the per-order
        limits (rounded down to the lot size), or ``None`` when no limit applies."""
        cfg = self.config
        clip = cfg.max_order_quantity
        if cfg.max_order_notional is not None and price:
            by_notional = cfg.max_order_notional / price
            clip = by_notional if clip is None else min(clip, by_notional)
        return None if clip is None else instrument.make_quantity(clip)

    def _check_order_size(self, order: Order, price: Decimal | None) -> str | None:
        cfg = self.config
        if cfg.max_order_quantity is not None and order.quantity > cfg.max_order_quantity:
            return (f"max_order_quantity: quantity {order.quantity} exceeds "
                    f"{cfg.max_order_quantity}")
        if cfg.max_order_notional is not None:
            if price is None:
                return "max_order_notional: no price known to value the order"
            notional = order.quantity * price
            if notional > cfg.max_order_notional:
                return f"max_order_notional: notional {notional} exceeds {cfg.max_order_notional}"
        return None

    def _check_position(
        self, order: Order, position: Position | None, price: Decimal | None
    ) -> str | None:
        cfg = self.config
        if cfg.max_position_quantity is None and cfg.max_position_notional is None:
            return None
        current = position.quantity if position is not None else _ZERO
        after = abs(current + order.quantity * order.side.sign)
        if after <= abs(current):
            return None  # reducing orders never breach a position limit
        if cfg.max_position_quantity is not None and after > cfg.max_position_quantity:
            return (f"max_position_quantity: position would be {after}, "
                    f"limit {cfg.max_position_quantity}")
        if cfg.max_position_notional is not None and price is not None:
            notional = after * price
            if notional > cfg.max_position_notional:
                return (f"max_position_notional: position would be worth {notional}, "
                        f"limit {cfg.max_position_notional}")
        return None

    def _check_price_band(self, order: Order, last_price: Decimal | None) -> str | None:
        band = self.config.price_band
        if band is None or last_price is None or not last_price:
            return None
        for label, price in (("price", order.price), ("trigger_price", order.trigger_price)):
            if price is not None and abs(price - last_price) / last_price > band:
                return (f"price_band: {label} {price} is more than {band:%} "
                        f"from the last price {last_price}")
        return None

    def _check_rates(self, strategy_id: str, now_ns: int) -> str | None:
        rate = self.config.max_orders_per_second
        if rate is not None:
            limiter = self._strategy_rates.get(strategy_id)
            if limiter is None:
                limiter = self._strategy_rates[strategy_id] = _RateLimiter(rate)
            if not limiter.allow(now_ns):
                return f"rate_limit: more than {rate} orders per second for {strategy_id}"
        if self._global_rate is not None and not self._global_rate.allow(now_ns):
            return f"rate_limit_global: more than {self._global_rate.limit} orders per second"
        return None

    def on_pnl(self, total_pnl: Decimal, now_ns: int) -> None:
        """Track the day's PnL; breach of the daily loss limit halts trading."""
        day = now_ns // _NS_PER_DAY
        if day != self._day:
            # The day starts from the PnL last seen before it, so the loss of the day's first
            # fill (and its fee) counts against the limit.
            self._day = day
            self._day_start_pnl = self._last_pnl
        self._last_pnl = total_pnl
        limit = self.config.daily_loss_limit
        if limit is None or self.state is TradingState.HALTED:
            return
        loss = self._day_start_pnl - total_pnl
        if loss >= limit:
            self.set_state(TradingState.HALTED, reason=f"daily loss {loss} reached limit {limit}")

    def snapshot(self) -> dict[str, Any]:
        return {"trading_state": self.state.value, "denials": dict(self.denials),
                "paused": dict(self.paused)}


def reduces(order: Order, position: Position | None, closing: Decimal = _ZERO) -> bool:
    """Return whether ``order`` only reduces ``position``, counting ``closing``: the open
    orders already on its side (together they must not go past flat)."""
    if position is None or position.quantity == 0:
        return False
    if position.quantity > 0:
        return order.side is OrderSide.SELL and order.quantity + closing <= position.quantity
    return order.side is OrderSide.BUY and order.quantity + closing <= -position.quantity
