"""Fixtures: a local exchange with a declared candle history, in the test's loop or a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from libra.testing.exchange import LocalExchange, LocalExchangeConfig


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    """A local exchange without replay, in the test's own loop."""
    async with LocalExchange(LocalExchangeConfig(replay=False)) as local:
        yield local


@pytest.fixture
def threaded_exchange() -> Iterator[LocalExchange]:
    """A local exchange serving from a thread of its own, for commands that run their own
    event loop (``libra data download`` called through ``main``)."""
    loop = asyncio.new_event_loop()
    local = LocalExchange(LocalExchangeConfig(replay=False))
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with local:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the local exchange did not start"
    yield local
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
