"""Backtest results: statistics (`libra.backtest.stats`) and reports (`libra.backtest.report`)."""
