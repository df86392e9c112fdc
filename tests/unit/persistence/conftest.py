"""A state store in a temporary file; builders live in ``persistence_support``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from libra.persistence import StateStore

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def open_store(state_path: Path) -> Iterator[Callable[..., StateStore]]:
    """Open stores on ``state_path``; every one is closed at the end of the test."""
    stores: list[StateStore] = []

    def open_(**options: Any) -> StateStore:
        store = StateStore.open(state_path, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()
