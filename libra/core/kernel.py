"""``TradingKernel`` and ``KernelConfig`` under the published import path.

The kernel is the composition root and lives in ``libra.kernel``, above every part it
wires; this module only re-exports it so that code written from the plugin guide runs
as written. It is the one import from ``libra.core`` upward, and the layers contract in
``pyproject.toml`` names it as such.
"""

from libra.core.config import KernelConfig
from libra.kernel.kernel import TradingKernel

__all__ = ["KernelConfig", "TradingKernel"]
