"""Options of the ``paper`` gateway."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from libra.core.config import LibraModel
from libra.core.errors import ConfigError
from libra.data.freqtrade import find_freqtrade_file
from libra.data.store import DEFAULT_DATA_DIR, dataset_path, download_command


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

    With ``exchange``, a replay names datasets of the data directory that ``libra data
    download`` fills: ``<directory>/<exchange>/<symbol>/<timeframe>.parquet`` (``directory``
    defaults to ``data``) for each of ``symbols``, by default the symbols of the strategies
    trading on this venue.
    """

    source: Literal["replay", "gateway", "none"] = "replay"
    path: str | None = None
    symbol: str | None = None
    kind: Literal["bars", "trades", "quotes"] = "bars"
    timeframe: str | None = None
    files: list[ReplayFileConfig] = Field(default_factory=list)
    directory: str | None = Field(
        None, description="a folder of candle files named as freqtrade names them "
                          "(ETH_BTC-5m.feather, .parquet, .json): one per symbol of data.symbols")
    symbols: list[str] = Field(default_factory=list,
                               description="the symbols whose files data.directory holds")
    exchange: str | None = Field(
        None, min_length=1, description="replay datasets of this exchange from the data "
                                        "directory (data.directory, default 'data')")
    speed: float = Field(60.0, ge=0, le=1_000_000)
    loop: bool = False
    lockstep: bool = True
    gateway: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PaperDataConfig:
        if self.source == "gateway" and not self.gateway:
            raise ValueError("data.gateway is required when data.source is 'gateway'")
        if self.source == "replay" and not (self.path or self.files or self.directory
                                            or self.exchange):
            raise ValueError("data.path (or data.files, or data.directory) is required when "
                             "data.source is 'replay'")
        if self.exchange is not None:
            self._check_dataset(self.exchange)
        elif self.directory and not (self.symbols and self.timeframe):
            raise ValueError("data.directory needs data.symbols and data.timeframe "
                             "(its files are named <PAIR>-<timeframe>)")
        return self

    def _check_dataset(self, exchange: str) -> None:
        if self.path:
            raise ValueError("data.path and data.exchange both name the data: keep one")
        if self.timeframe is None:
            raise ValueError("data.timeframe is required with data.exchange (it names the "
                             "dataset, e.g. '1m')")
        try:
            dataset_path(self.directory or DEFAULT_DATA_DIR, exchange, "X", self.timeframe)
        except ValueError as exc:
            raise ValueError(f"data: {exc}") from None

    def replay_files(self, symbols: Sequence[str] = ()) -> list[ReplayFileConfig]:
        """Return the files to replay. A dataset (``exchange``) is looked up for the
        strategies' ``symbols`` unless ``data.symbols`` or ``data.symbol`` names them.

        Raises:
            ConfigError: a named dataset is not in the data directory; the message gives
                the ``libra data download`` command that fetches it.
        """
        if self.exchange is not None and self.timeframe is not None:
            return [*self._dataset_files(self.exchange, self.timeframe, symbols), *self.files]
        files = list(self.files)
        if self.path:
            files.insert(0, ReplayFileConfig(path=self.path, symbol=self.symbol, kind=self.kind,
                                             timeframe=self.timeframe))
        if self.directory:
            assert self.timeframe is not None  # checked above
            for symbol in self.symbols:
                try:
                    path = find_freqtrade_file(self.directory, symbol, self.timeframe)
                except FileNotFoundError as exc:
                    raise ValueError(f"data.directory: {exc}") from None
                files.append(ReplayFileConfig(path=str(path), symbol=symbol,
                                              timeframe=self.timeframe))
        return files

    def _dataset_files(self, exchange: str, timeframe: str,
                       symbols: Sequence[str]) -> list[ReplayFileConfig]:
        wanted = self.symbols or ([self.symbol] if self.symbol else list(symbols))
        if not wanted:
            raise ConfigError("field data.symbols: required, since no strategy trades on this "
                              "venue to say which symbols to replay", field="data.symbols")
        directory = self.directory or DEFAULT_DATA_DIR
        paths = {s: dataset_path(directory, exchange, s, timeframe) for s in wanted}
        missing = [s for s, path in paths.items() if not path.is_file()]
        if missing:
            raise ConfigError(
                f"field data.exchange: no {timeframe} data of {', '.join(missing)} from "
                f"{exchange} in {directory!r} (looked for {paths[missing[0]]}); get it with: "
                f"{download_command(exchange, missing, timeframe, directory)}",
                field="data.exchange")
        return [ReplayFileConfig(path=str(path), symbol=symbol, timeframe=timeframe)
                for symbol, path in paths.items()]


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
