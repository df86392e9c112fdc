"""Every POSIX signal LIBRA handles, installed and removed in one place.

SIGTERM and SIGINT: the first asks the kernel to stop gracefully, a second one forces the
stop (the main task is cancelled). SIGHUP: reload the config file, when a service that
can reload (``libra.observability``) registered a handler for it. Handlers are set on the
running loop, never at import time, and removed when the kernel stops.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class KernelSignals:
    """Install the process's signal handlers on the running loop and remove them again."""

    def __init__(self, request_stop: Callable[[str], None]) -> None:
        self._request_stop = request_stop
        self._main_task: asyncio.Task[object] | None = None
        self._received = 0
        self._installed: list[signal.Signals] = []
        self._log = structlog.get_logger("libra.kernel")

    def install(self) -> None:
        """First SIGTERM/SIGINT stops gracefully; a second one cancels the calling task."""
        self._main_task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
            self._installed.append(sig)

    def on_reload(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on SIGHUP until ``remove_reload`` (or ``remove``)."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
        if signal.SIGHUP not in self._installed:
            self._installed.append(signal.SIGHUP)

    def remove_reload(self) -> None:
        """Stop handling SIGHUP."""
        if signal.SIGHUP in self._installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._installed.remove(signal.SIGHUP)

    def remove(self) -> None:
        """Remove every handler this object installed."""
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self._received += 1
        if self._received == 1:
            self._request_stop(f"signal {sig.name}")
            return
        self._log.warning("kernel.forced_stop", signal=sig.name)
        if self._main_task is not None:
            self._main_task.cancel()
