"""Load a freqtrade ``IStrategy`` with freqtrade's own resolver, and refuse what LIBRA cannot run.

freqtrade is an optional dependency (``pip install 'libra-trader[freqtrade]'``): this module
imports it only when a strategy is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from libra.core.errors import ConfigError
from libra.strategies.freqtrade.config import FreqtradeAdapterConfig

EXTRA_HINT = "install it with: pip install 'libra-trader[freqtrade]'"

# Callbacks LIBRA does not call: a strategy overriding one would silently lose behaviour.
_UNSUPPORTED_CALLBACKS = {
    "custom_entry_price": "custom entry prices (LIBRA enters at the next candle's open)",
    "custom_exit_price": "custom exit prices (LIBRA exits on signal at the next candle's open)",
    "adjust_entry_price": "replacing unfilled entry orders (adjust_entry_price)",
    "adjust_exit_price": "replacing unfilled exit orders (adjust_exit_price)",
    "adjust_order_price": "replacing unfilled orders (adjust_order_price)",
    "adjust_trade_position": "position adjustment / DCA (adjust_trade_position)",
    "order_filled": "the order_filled callback",
}


def import_freqtrade() -> Any:
    """Import and return the ``freqtrade`` package, or raise a ``ConfigError`` naming the extra."""
    try:
        return importlib.import_module("freqtrade")
    except ImportError as exc:
        raise ConfigError(
            f"the freqtrade strategy plugin needs the freqtrade package ({exc}); {EXTRA_HINT}"
        ) from None


def freqtrade_config(options: FreqtradeAdapterConfig, pairs: Sequence[str],
                     stake_currency: str) -> dict[str, Any]:
    """Return the minimal freqtrade configuration dict a strategy is loaded and run with."""
    from freqtrade.enums import CandleType, RunMode

    config: dict[str, Any] = {
        "strategy": options.strategy,
        "strategy_path": _strategy_folder(options),
        "stake_currency": stake_currency,
        "stake_amount": (options.stake_amount if options.stake_amount == "unlimited"
                         else float(options.stake_amount)),
        "max_open_trades": options.max_open_trades,
        "dry_run": True,
        "trading_mode": "spot",
        "margin_mode": "",
        "candle_type_def": CandleType.SPOT,
        "runmode": RunMode.DRY_RUN,
        "exchange": {"name": "binance", "pair_whitelist": list(pairs)},
        "pairlists": [{"method": "StaticPairList"}],
        "user_data_dir": Path.cwd() / "user_data",
        "fee": float(options.fee),
    }
    if options.timeframe:
        config["timeframe"] = options.timeframe
    config.update(options.strategy_params)
    return config


def load_strategy(config: dict[str, Any]) -> Any:
    """Load the strategy named in ``config`` with freqtrade's ``StrategyResolver``.

    Raises:
        ConfigError: freqtrade is missing, the strategy cannot be loaded, or it uses
            features LIBRA does not run (each one listed).
    """
    import_freqtrade()
    from freqtrade.exceptions import FreqtradeException
    from freqtrade.resolvers import StrategyResolver

    try:
        strategy = StrategyResolver.load_strategy(dict(config))
    except ImportError as exc:
        if "Short strategies" not in str(exc):
            raise ConfigError(f"freqtrade could not load strategy {config['strategy']!r}: "
                              f"{exc}") from None
        # freqtrade refuses a shorting strategy in spot at once; load it as futures only
        # to list everything else it would need, then refuse it.
        strategy = StrategyResolver.load_strategy(
            {**config, "trading_mode": "futures", "margin_mode": "isolated"})
    except FreqtradeException as exc:
        raise ConfigError(f"freqtrade could not load strategy {config['strategy']!r}: {exc}") \
            from None
    problems = unsupported_features(strategy)
    if problems:
        listed = "; ".join(problems)
        raise ConfigError(
            f"freqtrade strategy {config['strategy']!r} uses what LIBRA does not support: "
            f"{listed}"
        )
    return strategy


def unsupported_features(strategy: Any) -> list[str]:
    """Return a description of each feature of ``strategy`` the adapter does not run."""
    from freqtrade.strategy import IStrategy

    problems: list[str] = []
    if getattr(strategy, "can_short", False):
        problems.append("can_short = True (shorting, futures and margin: LIBRA runs spot long)")
    if getattr(strategy, "position_adjustment_enable", False):
        problems.append("position_adjustment_enable = True (DCA / position adjustment)")
    for name, what in _UNSUPPORTED_CALLBACKS.items():
        if name == "adjust_trade_position" and getattr(strategy, "position_adjustment_enable",
                                                       False):
            continue  # already reported above
        if getattr(type(strategy), name, None) is not getattr(IStrategy, name):
            problems.append(f"{name} overridden: {what}")
    if strategy.informative_pairs() or getattr(strategy, "_ft_informative", None):
        problems.append("informative pairs / @informative (other pairs or timeframes)")
    if getattr(strategy, "protections", None):
        problems.append("protections")
    if not getattr(strategy, "process_only_new_candles", True):
        problems.append("process_only_new_candles = False (LIBRA evaluates closed candles only)")
    if getattr(strategy, "freqai_info", None) or _uses_freqai(strategy):
        problems.append("FreqAI")
    if (strategy.order_types or {}).get("stoploss_on_exchange") and \
            (strategy.order_types or {}).get("stoploss") == "limit":
        problems.append("a limit stoploss order on the exchange (LIBRA's stop is stop-market)")
    return problems


def _uses_freqai(strategy: Any) -> bool:
    from freqtrade.strategy import IStrategy

    return any(
        getattr(type(strategy), name, None) is not getattr(IStrategy, name, None)
        for name in ("feature_engineering_expand_all", "set_freqai_targets")
    )


def _strategy_folder(options: FreqtradeAdapterConfig) -> str | None:
    if options.strategy_path:
        return str(Path(options.strategy_path).expanduser())
    if options.module:
        try:
            module = importlib.import_module(options.module)
        except ImportError as exc:
            raise ConfigError(f"cannot import strategy module {options.module!r}: {exc}") \
                from None
        if module.__file__ is None:
            raise ConfigError(f"strategy module {options.module!r} has no file")
        return str(Path(module.__file__).parent)
    return None
