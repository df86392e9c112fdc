"""Public test kit for LIBRA and its plugin authors.

``libra.testing.exchange``: a local Binance-like exchange that unmodified ccxt
trades against, with fault switches. ``libra.testing.contract``: the gateway
contract suite any gateway plugin can run.
"""

from libra.testing.waiting import eventually

__all__ = ["eventually"]
