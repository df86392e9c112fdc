"""The composition root: builds every part from a ``KernelConfig`` and runs its lifecycle.

Everything else in LIBRA is wired here and knows nothing of it: the kernel passes each part
its own config and the objects it depends on. ``libra.core.kernel`` re-exports
``TradingKernel`` under the path the plugin guide publishes.
"""

from libra.kernel.kernel import TradingKernel

__all__ = ["TradingKernel"]
