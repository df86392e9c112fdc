"""Run freqtrade's own backtester offline on a freqtrade data folder, for parity checks.

freqtrade needs an exchange's market list even to backtest. ``OfflineExchange`` is
freqtrade's Binance class with the market list built locally (spot pairs, price and
amount steps given here) instead of downloaded: nothing touches the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from libra.strategies.freqtrade.loader import import_freqtrade


def spot_market(pair: str, price_step: float, amount_step: float) -> dict[str, Any]:
    """Return a ccxt market dict for a spot ``pair`` with the given precision steps."""
    base, quote = pair.split("/")
    return {
        "id": f"{base}{quote}", "symbol": pair, "base": base, "quote": quote,
        "baseId": base, "quoteId": quote, "active": True, "type": "spot", "spot": True,
        "margin": False, "swap": False, "future": False, "option": False, "contract": False,
        "linear": None, "inverse": None, "contractSize": None, "settle": None,
        "precision": {"amount": amount_step, "price": price_step},
        "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None},
                   "cost": {"min": None, "max": None}, "leverage": {"min": None, "max": None}},
        "info": {},
    }


def offline_exchange(config: dict[str, Any], markets: dict[str, dict[str, Any]]) -> Any:
    """Return freqtrade's Binance exchange object with ``markets`` and no network use."""
    import_freqtrade()
    from freqtrade.exchange import Binance
    from freqtrade.util import dt_ts

    class OfflineExchange(Binance):  # type: ignore[misc]
        """freqtrade's Binance exchange with a local market list."""

        def reload_markets(self, force: bool = False, *,
                           load_leverage_tiers: bool = True) -> None:
            self._api.set_markets(markets)
            self._api_async.set_markets(markets)
            self._markets = self._api.markets
            self._last_markets_refresh = dt_ts()

    return OfflineExchange(config, validate=True, load_leverage_tiers=False)


def backtest_config(*, strategy: str, strategy_path: str | None, datadir: str | Path,
                    pairs: Sequence[str], timeframe: str | None, stake_amount: float | str,
                    max_open_trades: int, fee: float, starting_balance: float,
                    user_data_dir: str | Path, timerange: str | None = None) -> dict[str, Any]:
    """Return a freqtrade backtesting configuration dict."""
    from freqtrade.enums import RunMode

    stake_currency = pairs[0].split("/")[1]
    config: dict[str, Any] = {
        "strategy": strategy, "strategy_path": strategy_path, "runmode": RunMode.BACKTEST,
        "datadir": Path(datadir), "user_data_dir": Path(user_data_dir),
        "stake_currency": stake_currency, "stake_amount": stake_amount,
        "max_open_trades": max_open_trades, "dry_run": True,
        "dry_run_wallet": starting_balance, "fee": fee, "trading_mode": "spot",
        "margin_mode": "", "dataformat_ohlcv": "feather", "export": "none",
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": list(pairs),
                     "pair_blacklist": [], "ccxt_config": {}, "ccxt_async_config": {}},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": False,
                          "order_book_top": 1, "price_last_balance": 0.0},
        "exit_pricing": {"price_side": "same", "use_order_book": False,
                         "order_book_top": 1},
        "unfilledtimeout": {"entry": 10, "exit": 10, "unit": "minutes"},
        "tradable_balance_ratio": 0.99, "cancel_open_orders_on_exit": False,
        "internals": {}, "bot_name": "libra-reference", "timerange": timerange,
        "enable_protections": False, "position_stacking": False, "original_config": {},
    }
    if timeframe:
        config["timeframe"] = timeframe
    return config


def run_backtesting(config: dict[str, Any], markets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run freqtrade's ``Backtesting`` on ``config``; return its trades and a summary.

    Trades are dicts with ``pair``, ``open_date``, ``close_date`` (candle open times),
    ``open_rate``, ``close_rate``, ``amount``, ``exit_reason``, ``enter_tag``.
    """
    from freqtrade.optimize.backtesting import Backtesting

    exchange = offline_exchange(config, markets)
    try:
        backtesting = Backtesting(config, exchange=exchange)
        data, timerange = backtesting.load_bt_data()
        strategy = backtesting.strategylist[0]
        backtesting.backtest_one_strategy(strategy, data, timerange)
        result = backtesting.all_bt_content[strategy.get_strategy_name()]
        frame = result["results"]
        trades = [
            {
                "pair": row["pair"], "open_date": row["open_date"].to_pydatetime(),
                "close_date": row["close_date"].to_pydatetime(),
                "open_rate": float(row["open_rate"]), "close_rate": float(row["close_rate"]),
                "amount": float(row["amount"]), "exit_reason": row["exit_reason"],
                "enter_tag": row["enter_tag"] or None, "profit_abs": float(row["profit_abs"]),
            }
            for row in frame.to_dict("records")
        ]
        return {"trades": trades, "final_balance": result["final_balance"],
                "candles": sum(len(frame) for frame in data.values())}
    finally:
        exchange.close()
        Backtesting.cleanup()

