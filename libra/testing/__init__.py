"""Public test kit for LIBRA and its plugin authors.

``libra.testing.exchange``: a local Binance-like exchange that unmodified ccxt
trades against, with fault switches. ``libra.testing.contract``: the gateway
contract suite any gateway plugin can run. ``libra.testing.factories``: orders,
fills, paper kernel configs and a recording strategy, built the same way everywhere.
"""

from libra.testing.factories import (
    RecordingStrategy,
    build_fill,
    build_order,
    paper_config,
    paper_config_data,
    paper_gateway,
)
from libra.testing.waiting import eventually

__all__ = [
    "RecordingStrategy",
    "build_fill",
    "build_order",
    "eventually",
    "paper_config",
    "paper_config_data",
    "paper_gateway",
]
