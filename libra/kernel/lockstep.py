"""Lockstep: when a kernel has handled everything it was handed, and when its time is the
data's.

A replay of history claims to be the backtest of that history, so it must not run ahead
of the kernel: after each event it waits until every strategy has taken the event and the
orders it placed have reached the venue, as the backtest runner does between two events.
Live, the kernel's parts run in their own tasks (a strategy's runner, the execution
engine's flush task, the state store's writer thread), so "handled" is read from them.

When every gateway replays history, the kernel's clock is a ``ReplayClock``: the time of
the latest replayed event, so that every rule reading time (rate limits, daily loss, the
stamps of fills, strategy timers) reads what a backtest of the same data reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from libra.kernel.runner import StrategyRunner
from libra.plugins.base import GatewayPlugin

# Checked on every loop turn at first, then at this interval (seconds): an order's intent
# on its way to the disk takes a millisecond or more, and spinning would take the CPU the
# writer needs.
_SPINS = 32
_POLL_SECONDS = 0.0002


def only_replays(gateways: Mapping[str, GatewayPlugin]) -> bool:
    """Return whether there are gateways and every one replays history."""
    return bool(gateways) and all(gateway.replays_history for gateway in gateways.values())


class PendingCommands(Protocol):
    """What lockstep reads from the execution engine."""

    @property
    def has_pending(self) -> bool: ...


class Lockstep:
    """Tell, and wait until, the kernel is settled (see the module docstring)."""

    def __init__(self, commands: PendingCommands, runners: Mapping[str, StrategyRunner]) -> None:
        self._commands = commands
        self._runners = runners

    @property
    def is_settled(self) -> bool:
        """Whether every strategy has handled what it took in (no inbox, no callback
        running) and no order command waits (to be sent, or for its intent to reach the
        disk)."""
        return not self._commands.has_pending and all(
            runner.is_idle for runner in self._runners.values())

    async def settled(self) -> None:
        """Return once ``is_settled`` holds, yielding to the loop at least once."""
        await asyncio.sleep(0)
        turns = 0
        while not self.is_settled:
            turns += 1
            await asyncio.sleep(0 if turns < _SPINS else _POLL_SECONDS)
