"""The files of a new strategy plugin package, as ``libra new strategy NAME`` writes them.

A working strategy rather than an empty skeleton: a channel breakout that a backtest on
the bundled sample data trades at once, so the first command a new author runs shows a
real report. Placeholders are ``{name}`` (the package and entry point), ``{dist}`` (the
distribution), ``{cls}`` (the strategy class); braces meant literally are doubled.
"""

from __future__ import annotations

PYPROJECT = '''\
[project]
name = "{dist}"
version = "0.1.0"
description = "The {name} strategy for LIBRA"
requires-python = ">=3.11"
dependencies = ["libra-trader>=0.1"]

# `plugin = "{name}"` in a LIBRA config finds the class through this entry point.
[project.entry-points."libra.strategies"]
{name} = "{name}.strategy:{cls}"

[project.optional-dependencies]
test = ["pytest>=8.0", "pytest-asyncio>=0.24"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]
dev-mode-dirs = ["src"]  # an editable install is a plain .pth: no extra build packages

[tool.pytest.ini_options]
asyncio_mode = "auto"
'''

INIT = '''\
"""The {name} strategy plugin for LIBRA."""

from {name}.strategy import {cls}, {cls}Config

__all__ = ["{cls}", "{cls}Config"]
'''

STRATEGY = '''\
"""``{name}``: buy a breakout above the recent high, sell a breakdown below the recent low.

A channel breakout, long only, one position per symbol. Replace the rule in ``on_data``
with your own; the rest (options, metadata, tags) is what every strategy needs.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from libra.plugins import (
    Fill,
    MarketData,
    PluginMetadata,
    PluginOptions,
    StrategyContext,
    StrategyPlugin,
)


class {cls}Config(PluginOptions):
    """The strategy's options (its ``params`` table); an unknown key is refused at start."""

    lookback: int = Field(20, ge=2, le=100_000)  # bars in the channel
    quantity: Decimal = Field(Decimal("0.01"), gt=0)  # base currency per entry
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USD"])


class {cls}(StrategyPlugin):
    """Enter when the price closes above the last ``lookback`` highs; exit below the lows."""

    config_model: ClassVar[type[{cls}Config]] = {cls}Config

    def __init__(self, config: dict[str, object] | None = None) -> None:
        self.params = {cls}Config.model_validate(config or {{}})
        self.windows: dict[str, deque[Decimal]] = {{}}

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="{name}", version="0.1.0", description="Channel breakout, long only"
        )

    @property
    def name(self) -> str:
        return "{name}"

    @property
    def symbols(self) -> list[str]:
        return list(self.params.symbols)

    async def initialize(self, context: StrategyContext) -> None:
        self.log.info("{name} ready for %s in %s", self.symbols, context.environment)

    async def on_data(self, data: MarketData) -> None:
        price = data.price
        if price is None:  # an order book with neither side
            return
        window = self.windows.setdefault(data.symbol, deque(maxlen=self.params.lookback))
        if len(window) == window.maxlen:
            if price > max(window) and self.is_flat(data.symbol):
                # The tag names the reason: the backtest report groups trades by it.
                self.buy_market(data.symbol, self.params.quantity, tag="breakout")
            elif price < min(window) and self.is_long(data.symbol):
                self.close_position(data.symbol, tag="breakdown")
        window.append(price)

    async def on_fill(self, fill: Fill) -> None:
        self.log.info("%s %s %s at %s", fill.side, fill.quantity, fill.symbol, fill.price)
'''

TEST = '''\
"""The {name} strategy: its options, and a backtest on the sample data shipped with LIBRA."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libra.backtest.api import run_backtest, strategy_config
from {name} import {cls}, {cls}Config


def test_options_refuse_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="lookbak"):
        {cls}Config.model_validate({{"lookbak": 10}})


async def test_backtest_on_sample_data_trades_with_tags() -> None:
    config = strategy_config({cls}, {{
        "data": "bundled:BTC_USD-1m", "symbol": "BTC/USD", "start": "2022-01-03",
        "end": "2022-01-05", "starting_balances": {{"USD": "100000"}},
        "params": {{"lookback": 60, "quantity": "0.1"}},
    }})

    run = await run_backtest(config)

    assert run.trades
    assert {{trade.entry_tag for trade in run.trades}} == {{"breakout"}}
'''

BACKTEST_CONFIG = '''\
# Backtest of {name} on real BTC/USD 1-minute bars shipped with LIBRA:
#   libra backtest --config {config_path} --report reports/{name}.html
environment = "backtest"

[kernel]
name = "{name}-backtest"

[logging]
log_orders = false

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "100000" }}
taker_fee = "0.0007"
maker_fee = "0.0002"
slippage_bps = "1"
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD" }}

[[strategies]]
id = "{name}"
plugin = "{name}"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ lookback = 60, quantity = "0.1" }}

[backtest]
start = "2022-01-01"
end = "2022-01-15"

[optimize]
method = "tpe"
objective = "sharpe"
trials = 30
workers = 2
space.lookback = {{ low = 10, high = 240, step = 10 }}
'''

PAPER_CONFIG = '''\
# Paper trading of {name}: the same bundled bars replayed at 600x, no network, no keys.
#   libra run --config {config_path}
environment = "paper"

[kernel]
name = "{name}-paper"
state_path = "state/{name}.db"

[logging]
level = "info"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "100000" }}
taker_fee = "0.0007"
maker_fee = "0.0002"
slippage_bps = "1"
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = 600 }}

[[strategies]]
id = "{name}"
plugin = "{name}"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ lookback = 60, quantity = "0.1" }}

[risk]
max_order_notional = "10000"
max_position_quantity = "1"
'''

README = '''\
# {name}

A LIBRA strategy plugin (a channel breakout to start from).

    python -m pip install --no-build-isolation -e .
    python -m libra backtest --config configs/backtest.toml --report reports/{name}.html
    python -m pytest tests -q
    python -m libra run --config configs/paper.toml

`--no-build-isolation` builds with the hatchling already installed (`pip install
hatchling`), so no network is needed; drop it to let pip fetch hatchling itself.
'''
