"""A bad or busy state file is refused with a clear StateStoreError and left untouched."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from persistence_support import T0, build_order

from libra.core.errors import StateStoreError
from libra.persistence import SCHEMA_VERSION, StateStore
from libra.persistence.schema import APPLICATION_ID, MIGRATIONS

Open = Callable[..., StateStore]


def _open_refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StateStoreError, match=match):
        StateStore.open(path)
    assert path.read_bytes() == before
    assert not path.with_name(path.name + "-wal").exists()


def test_random_bytes_are_refused(state_path: Path) -> None:
    state_path.write_bytes(os.urandom(8192))

    _open_refused(state_path, "is not an SQLite database")


def test_text_file_is_refused(state_path: Path) -> None:
    state_path.write_text("[kernel]\nname = 'libra'\n")

    _open_refused(state_path, "is not an SQLite database")


def test_corrupt_database_is_refused(open_store: Open, state_path: Path) -> None:
    store = open_store(durability="block")
    for number in range(1, 200):
        order = build_order(number)
        order.submit(T0)
        store.record_order(order)
    store.close()
    data = bytearray(state_path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)  # keep the header page, ruin the rest
    state_path.write_bytes(bytes(data))

    _open_refused(state_path, "corrupt")


def test_newer_schema_is_refused(state_path: Path) -> None:
    with sqlite3.connect(state_path) as conn:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE future (x)")
    conn.close()

    _open_refused(state_path, f"schema version {SCHEMA_VERSION + 1}, newer than this LIBRA")


def test_another_programs_database_is_refused(state_path: Path) -> None:
    with sqlite3.connect(state_path) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER)")
    conn.close()

    _open_refused(state_path, "database of another program")


def test_second_opener_is_refused_while_the_first_holds_the_file(open_store: Open,
                                                                 state_path: Path) -> None:
    open_store()

    with pytest.raises(StateStoreError, match=rf"in use by another process \(pid {os.getpid()}\)"):
        StateStore.open(state_path)


def test_file_can_be_reopened_after_close(open_store: Open) -> None:
    open_store().close()

    assert open_store().load_state().orders == {}


def test_empty_file_becomes_a_new_state_file(open_store: Open, state_path: Path) -> None:
    state_path.touch()

    store = open_store()

    assert store.load_state().orders == {}
    with sqlite3.connect(state_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_version_1_file_is_migrated_and_keeps_its_rows(open_store: Open,
                                                        state_path: Path) -> None:
    conn = sqlite3.connect(state_path, isolation_level=None)
    version, statements = MIGRATIONS[0]
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO id_counters VALUES ('s1', 7)")
    conn.close()

    store = open_store()

    assert store.load_state().id_counters == {"s1": 7}
    assert store.load_venue_state("paper") is None
    with sqlite3.connect(state_path) as check:
        assert check.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    check.close()
