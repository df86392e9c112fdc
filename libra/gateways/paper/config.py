"""Options of the ``paper`` gateway."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from libra.core.config import LibraModel


class ReplayFileConfig(LibraModel):
    """One historical file replayed as market data."""

    path: str = Field(description="file path or bundled:NAME")
    symbol: str | None = None
    kind: Literal["bars", "trades", "quotes"] = "bars"
    timeframe: str | None = None


class PaperDataConfig(LibraModel):
    """Where the paper venue's market data comes from.

    ``replay``: bundled or local files played at ``speed`` times real time
    (0 = as fast as possible). ``gateway``: another gateway's live data
    (paper trading on live ccxt data). ``none``: the backtest runner feeds it.
    """

    source: Literal["replay", "gateway", "none"] = "replay"
    path: str | None = None
    symbol: str | None = None
    kind: Literal["bars", "trades", "quotes"] = "bars"
    timeframe: str | None = None
    files: list[ReplayFileConfig] = Field(default_factory=list)
    speed: float = Field(60.0, ge=0)
    loop: bool = False
    gateway: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PaperDataConfig:
        if self.source == "gateway" and not self.gateway:
            raise ValueError("data.gateway is required when data.source is 'gateway'")
        if self.source == "replay" and not (self.path or self.files):
            raise ValueError("data.path (or data.files) is required when data.source is 'replay'")
        return self

    def replay_files(self) -> list[ReplayFileConfig]:
        files = list(self.files)
        if self.path:
            files.insert(0, ReplayFileConfig(path=self.path, symbol=self.symbol, kind=self.kind,
                                             timeframe=self.timeframe))
        return files


class InstrumentOverride(LibraModel):
    tick_size: Decimal = Field(Decimal("0.00000001"), gt=0)
    lot_size: Decimal = Field(Decimal("0.00000001"), gt=0)
    min_quantity: Decimal | None = Field(None, ge=0)
    min_notional: Decimal | None = Field(None, ge=0)


class PaperGatewayConfig(LibraModel):
    """A simulated venue: balances, fill model, fees, latency and its data source."""

    starting_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal(10_000)})
    data: PaperDataConfig = Field(default_factory=lambda: PaperDataConfig(source="none"))
    maker_fee: Decimal = Field(Decimal("0.0002"), ge=0)
    taker_fee: Decimal = Field(Decimal("0.001"), ge=0)
    slippage_bps: Decimal = Field(Decimal(0), ge=0)
    bar_execution: Literal["close", "next_open"] = "close"
    latency_ms: float = Field(0.0, ge=0)
    allow_short: bool = False
    check_balances: bool = True
    instruments: dict[str, InstrumentOverride] = Field(default_factory=dict)
