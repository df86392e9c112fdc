"""The ``freqtrade`` strategy plugin: run freqtrade ``IStrategy`` classes inside LIBRA.

Needs the optional freqtrade package: ``pip install 'libra-trader[freqtrade]'``. Importing
this package does not import freqtrade; loading a strategy does.
"""

from libra.strategies.freqtrade.adapter import ClosedTrade, FreqtradeAdapter
from libra.strategies.freqtrade.config import FreqtradeAdapterConfig

__all__ = ["ClosedTrade", "FreqtradeAdapter", "FreqtradeAdapterConfig"]
