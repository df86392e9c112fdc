"""Options of the ``paper`` gateway."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

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

    A replay plays in ``lockstep`` with the kernel: each event waits until the strategies
    have handled the previous one and their orders have reached the venue, so the fills
    are a backtest's. ``lockstep = false`` plays on regardless, as a live feed does (a load
    test: a slow strategy lags and its market data is conflated; fills differ).
    """

    source: Literal["replay", "gateway", "none"] = "replay"
    path: str | None = None
    symbol: str | None = None
    kind: Literal["bars", "trades", "quotes"] = "bars"
    timeframe: str | None = None
    files: list[ReplayFileConfig] = Field(default_factory=list)
    speed: float = Field(60.0, ge=0, le=1_000_000)
    loop: bool = False
    lockstep: bool = True
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

    # Bounds a trader would call sane: a fee above 10 %, slippage above 10 % (1000 bps) or a
    # latency above a minute is a typo ("5" for "0.0005"), and would quietly ruin a result.
    starting_balances: dict[
        Annotated[str, Field(min_length=1, max_length=32)],
        Annotated[Decimal, Field(ge=0, le=Decimal("1e15"))],
    ] = Field(default_factory=lambda: {"USDT": Decimal(10_000)})
    data: PaperDataConfig = Field(default_factory=lambda: PaperDataConfig(source="none"))
    maker_fee: Decimal = Field(Decimal("0.0002"), ge=0, le=Decimal("0.1"))
    taker_fee: Decimal = Field(Decimal("0.001"), ge=0, le=Decimal("0.1"))
    slippage_bps: Decimal = Field(Decimal(0), ge=0, le=1000)
    bar_execution: Literal["close", "next_open"] = "close"
    latency_ms: float = Field(0.0, ge=0, le=60_000)
    allow_short: bool = False
    check_balances: bool = True
    instruments: dict[str, InstrumentOverride] = Field(default_factory=dict)

    def default_replay_symbol(self) -> str | None:
        """Return the symbol of a replay file that names none: ``data.symbol``, else the
        first configured instrument."""
        return self.data.symbol or next(iter(self.instruments), None)
