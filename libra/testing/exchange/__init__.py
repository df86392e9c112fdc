"""A local Binance spot exchange that unmodified ``ccxt.pro.binance`` can trade against.

Gateway authors use it to test against real recorded Binance data and injected faults::

    import ccxt.pro
    from libra.testing.exchange import LocalExchange, ccxt_config_for

    async with LocalExchange() as exchange:
        client = ccxt.pro.binance(ccxt_config_for(exchange))
        try:
            ticker = await client.watch_ticker("NKN/USDT")
            exchange.faults.http_status(429, path="/api/v3/order")
            ...
        finally:
            await client.close()

For downloads of history, declare candles and trades the ``klines`` and ``aggTrades``
endpoints page through (``history.py``)::

    exchange.history.add_candles("BTCUSDT", "1m", start_ms, 50_000, missing=[(100, 119)])

The recorded data and its licences are described in ``data/NOTICE``.
"""

from libra.testing.exchange.ccxt_config import (
    CCXT_OPTIONS,
    ccxt_config_for,
    configure_ccxt,
    non_local_urls,
)
from libra.testing.exchange.errors import BinanceApiError
from libra.testing.exchange.faults import REMOVE, Faults
from libra.testing.exchange.server import DEFAULT_BALANCES, LocalExchange, LocalExchangeConfig

__all__ = [
    "CCXT_OPTIONS",
    "DEFAULT_BALANCES",
    "REMOVE",
    "BinanceApiError",
    "Faults",
    "LocalExchange",
    "LocalExchangeConfig",
    "ccxt_config_for",
    "configure_ccxt",
    "non_local_urls",
]
