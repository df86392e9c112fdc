"""Orders, fills and balances of the local exchange's single account, and their Binance views."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Account", "Fill", "Order", "SymbolRules", "fmt"]

_ZERO = Decimal(0)


def fmt(value: Decimal) -> str:
    """Render a Decimal the way Binance does: fixed point, 8 decimals."""
    return f"{value:.8f}"


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """What the matching engine needs from one ``exchangeInfo`` symbol."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal

    @classmethod
    def from_exchange_info(cls, info: dict[str, Any]) -> SymbolRules:
        """Build the rules from one entry of ``exchangeInfo["symbols"]``."""
        filters = {f["filterType"]: f for f in info["filters"]}
        notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL") or {}
        return cls(
            symbol=info["symbol"],
            base=info["baseAsset"],
            quote=info["quoteAsset"],
            tick_size=Decimal(filters["PRICE_FILTER"]["tickSize"]),
            step_size=Decimal(filters["LOT_SIZE"]["stepSize"]),
            min_qty=Decimal(filters["LOT_SIZE"]["minQty"]),
            min_notional=Decimal(notional.get("minNotional", "0")),
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order (a Binance account trade)."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool

    def my_trade(self) -> dict[str, Any]:
        """Return this fill as an element of ``GET /api/v3/myTrades``."""
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


@dataclass(slots=True)
class Order:
    """A spot order as the venue tracks it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    quantity: Decimal
    created_ms: int
    updated_ms: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    cumulative_quote: Decimal = _ZERO
    locked: Decimal = _ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.quantity - self.executed

    @property
    def is_open(self) -> bool:
        """Return True while the order can still fill or be canceled."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def view(self) -> dict[str, Any]:
        """Return the order as ``GET /api/v3/order`` shows it."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.quantity),
            "executedQty": fmt(self.executed),
            "cummulativeQuoteQty": fmt(self.cumulative_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(_ZERO),
            "icebergQty": fmt(_ZERO),
            "time": self.created_ms,
            "updateTime": self.updated_ms,
            "isWorking": True,
            "workingTime": self.created_ms,
            "origQuoteOrderQty": fmt(_ZERO),
            "selfTradePreventionMode": "NONE",
        }

    def ack(self, fills: list[Fill]) -> dict[str, Any]:
        """Return the ``FULL`` response of ``POST /api/v3/order``."""
        keys = (
            "symbol",
            "orderId",
            "orderListId",
            "clientOrderId",
            "price",
            "origQty",
            "executedQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
            "workingTime",
            "selfTradePreventionMode",
        )
        view = self.view()
        ack = {key: view[key] for key in keys}
        ack["transactTime"] = self.created_ms
        ack["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills
        ]
        return ack


@dataclass(slots=True)
class Account:
    """Free and locked balances per asset."""

    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    update_ms: int = 0

    def set(self, asset: str, free: Decimal) -> None:
        """Set the free balance of ``asset``."""
        self.free[asset] = free
        self.locked.setdefault(asset, _ZERO)

    def available(self, asset: str) -> Decimal:
        """Return the free balance of ``asset``."""
        return self.free.get(asset, _ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked."""
        self.free[asset] = self.available(asset) - amount
        self.locked[asset] = self.locked.get(asset, _ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from locked back to free."""
        self.locked[asset] = self.locked.get(asset, _ZERO) - amount
        self.free[asset] = self.available(asset) + amount

    def add(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` (may be negative) to the free balance."""
        self.free[asset] = self.available(asset) + amount
        self.locked.setdefault(asset, _ZERO)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Remove ``amount`` from the locked balance (it left the account)."""
        self.locked[asset] = self.locked.get(asset, _ZERO) - amount

    def balances(self, assets: list[str] | None = None) -> list[dict[str, str]]:
        """Return balances in the shape of ``GET /api/v3/account``."""
        names = sorted(set(self.free) | set(self.locked)) if assets is None else assets
        return [
            {"asset": a, "free": fmt(self.available(a)), "locked": fmt(self.locked.get(a, _ZERO))}
            for a in names
        ]
