"""Find candle files in a freqtrade data directory, so data downloaded with freqtrade is reusable.

freqtrade names files ``<PAIR>-<timeframe>[-<candle_type>].<ext>``: the pair with ``/``, ``:``
and a few other characters replaced by ``_`` (``ETH/BTC`` -> ``ETH_BTC``, ``XRP/USDT:USDT`` ->
``XRP_USDT_USDT``). Spot candles sit in the data directory, every other candle type in its
``futures/`` subfolder: ``futures/XRP_USDT_USDT-1h-futures.feather``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CANDLE_TYPES = ("spot", "futures", "mark", "index", "premiumIndex", "funding_rate")
# The order freqtrade users are most likely to have: feather is its default format.
_EXTENSIONS = (".feather", ".json", ".json.gz", ".parquet")
_UNSAFE = re.compile(r"[/ .@$+:]")


def pair_to_filename(pair: str) -> str:
    """Return the file-name form of a pair (``"XRP/USDT:USDT"`` -> ``"XRP_USDT_USDT"``)."""
    return _UNSAFE.sub("_", pair)


def find_freqtrade_file(
    datadir: str | os.PathLike[str],
    pair: str,
    timeframe: str,
    candle_type: str = "spot",
) -> Path:
    """Return the candle file freqtrade stored for ``pair``, ``timeframe`` and ``candle_type``.

    ``pair`` may be given as ``"ETH/BTC"`` or already as ``"ETH_BTC"``.

    Raises:
        ValueError: an unknown candle type.
        FileNotFoundError: no such file; the message lists every path tried.
    """
    if candle_type not in CANDLE_TYPES:
        names = ", ".join(CANDLE_TYPES)
        raise ValueError(f"candle_type must be one of {names}, was {candle_type!r}")
    root = Path(datadir).expanduser()
    stem = f"{pair_to_filename(pair)}-{timeframe}"
    if candle_type != "spot":
        stem += f"-{candle_type}"
    # Futures files live in futures/, but accept a datadir that already points there.
    folders = [root] if candle_type == "spot" else [root / "futures", root]
    tried = [folder / f"{stem}{ext}" for folder in folders for ext in _EXTENSIONS]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no freqtrade {candle_type} candles for {pair} {timeframe}; tried "
        + ", ".join(str(p) for p in tried)
    )
