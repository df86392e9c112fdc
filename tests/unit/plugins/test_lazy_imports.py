"""Discovering plugins must not import what only a used plugin needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_discovery_and_a_paper_backtest_do_not_import_ccxt() -> None:
    """ccxt takes about half a second to import; only connecting a ccxt gateway needs it."""
    code = textwrap.dedent("""
        import asyncio, sys
        from libra.plugins.loader import discover_gateways, list_gateway_plugins
        from libra.backtest.engine import BacktestEngine
        from libra.core.config import KernelConfig
        from libra.data import synthetic_bars

        assert "ccxt" in discover_gateways()
        assert "ccxt" in {m.name for m in list_gateway_plugins()}
        config = KernelConfig.model_validate({
            "environment": "backtest", "log_plugins": False,
            "gateways": [{"id": "sim", "plugin": "paper", "data": {"source": "none"},
                          "starting_balances": {"USD": "1000"}}],
            "strategies": [{"id": "s", "plugin": "sma_cross", "symbols": ["SYN/USD"]}],
        })
        bars = synthetic_bars(500, "SYN/USD", "1m", seed=1, venue="sim")
        asyncio.run(BacktestEngine(config).run(bars))
        print(sorted(m for m in sys.modules if m == "ccxt" or m.startswith("ccxt.")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
