"""Historical market data: file loaders, bundled real samples, stream merging, synthetic bars.

```python
from libra.data import load_bars, merge_streams
btc = load_bars("bundled:BTC_USD-1m", symbol="BTC/USD", venue="ftx")
eth = load_bars("bundled:ETH_BTC-5m", symbol="ETH/BTC")
for bar in merge_streams(btc, eth):
    ...
```
"""

from libra.data._bars import infer_timeframe
from libra.data._rows import DataFormatError, Loaded, Rejection
from libra.data.bundled import list_bundled, resolve_data_path
from libra.data.freqtrade import find_freqtrade_file, pair_to_filename
from libra.data.loaders import (
    bars_from_ohlcv,
    load_bars,
    load_quotes,
    load_trades,
)
from libra.data.streams import merge_streams
from libra.data.synthetic import synthetic_bars

__all__ = [
    "DataFormatError",
    "Loaded",
    "Rejection",
    "bars_from_ohlcv",
    "find_freqtrade_file",
    "infer_timeframe",
    "list_bundled",
    "load_bars",
    "load_quotes",
    "load_trades",
    "merge_streams",
    "pair_to_filename",
    "resolve_data_path",
    "synthetic_bars",
]
