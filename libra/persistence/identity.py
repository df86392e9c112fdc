"""The store's own history: an identity and a commit count, mirrored in a marker file.

SQLite cannot tell a state file that lost its write-ahead log, was emptied or was swapped
for another from a new one: it opens them all and starts over. So each state file carries a
``store_id`` and a ``commit_seq`` (one more per committed transaction), and a small marker
file beside it, ``.<name>.marker``, repeats them after every durable commit. Its name does
not match ``<name>*``: removing the state files by pattern leaves the marker, which then
says what was lost.

At open the file must be the marker's store and hold at least the marker's commits. A
missing, empty, foreign or rolled-back file is refused unless the operator asks to start
fresh (``kernel.fresh_start``, ``libra run --fresh-start``). While running, the writer
checks after each commit that the paths still name the files it has open (``FileIdentity``):
a state file deleted or replaced under a running daemon stops it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from libra.core.errors import StateStoreError

_MAGIC = "libra-state-marker 1"
_FRESH_HINT = ("LIBRA refuses to trade on it; if that loss is accepted (or a backup was put "
               "back on purpose), start once with `libra run --fresh-start` "
               "(kernel.fresh_start = true)")


def marker_path(path: Path) -> Path:
    """Return the marker file of the state file at ``path``."""
    return path.with_name(f".{path.name}.marker")


@dataclass(frozen=True, slots=True)
class History:
    """A store's identity and how many transactions it has committed."""

    store_id: str
    commit_seq: int


def read_history(conn: sqlite3.Connection) -> History | None:
    """Return the history recorded in an open state file (None before schema 3)."""
    try:
        row = conn.execute("SELECT store_id, commit_seq FROM store_history").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else History(row[0], row[1])


def read_marker(path: Path) -> History | None:
    """Return what the marker of ``path`` says, or None if there is no marker.

    Raises:
        StateStoreError: the marker exists but cannot be read.
    """
    marker = marker_path(path)
    try:
        text = marker.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateStoreError(f"marker {str(marker)!r} of state file {str(path)!r} cannot be "
                              f"read: {exc}; {_FRESH_HINT}") from exc
    parts = text.split()
    if len(parts) != 4 or " ".join(parts[:2]) != _MAGIC or not parts[3].isdigit():
        raise StateStoreError(f"marker {str(marker)!r} of state file {str(path)!r} is "
                              f"damaged, was {text[:80]!r}; {_FRESH_HINT}")
    return History(parts[2], int(parts[3]))


def refuse_missing(path: Path, marker: History) -> None:
    """Refuse a state file that is missing or empty although its marker has history.

    Raises:
        StateStoreError: always.
    """
    what = "is missing" if not path.exists() else "is empty"
    raise StateStoreError(
        f"state file {str(path)!r} {what}, but its marker says store {marker.store_id} had "
        f"committed {marker.commit_seq} transactions: its orders, fills and positions are "
        f"lost; {_FRESH_HINT}")


def check_history(path: Path, found: History | None, marker: History) -> None:
    """Refuse a state file that is not the marker's store or has fewer commits.

    Raises:
        StateStoreError: the file was replaced by another store or rolled back.
    """
    if found is None or found.store_id != marker.store_id:
        other = "no LIBRA history" if found is None else f"store {found.store_id}"
        raise StateStoreError(
            f"state file {str(path)!r} was replaced: it holds {other}, but its marker says "
            f"store {marker.store_id}; {_FRESH_HINT}")
    if found.commit_seq < marker.commit_seq:
        raise StateStoreError(
            f"state file {str(path)!r} was rolled back: it holds {found.commit_seq} committed "
            f"transactions, its marker says {marker.commit_seq} "
            f"({marker.commit_seq - found.commit_seq} lost, e.g. a deleted or damaged "
            f"'-wal' file); {_FRESH_HINT}")


class Marker:
    """The open marker file, rewritten in place after each durable commit."""

    def __init__(self, path: Path, store_id: str) -> None:
        self.path = marker_path(path)
        self._store_id = store_id
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def write(self, commit_seq: int) -> None:
        # A fixed length: the pwrite replaces the whole line, no truncation needed.
        line = f"{_MAGIC} {self._store_id} {commit_seq:020d}\n".encode("ascii")
        os.pwrite(self._fd, line, 0)

    def create(self, commit_seq: int) -> None:
        """Write the marker and make its existence durable (a new or accepted store)."""
        os.ftruncate(self._fd, 0)
        self.write(commit_seq)
        os.fsync(self._fd)
        _fsync_directory(self.path.parent)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileIdentity:
    """The inodes of the state file and its ``-wal`` and ``-shm`` files, as opened."""

    def __init__(self, path: Path) -> None:
        self._paths = (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        self._ids: list[tuple[int, int] | None] = [_inode(p) for p in self._paths]

    def problem(self) -> str | None:
        """Return what changed since open (deleted or replaced), or None if nothing did."""
        for i, path in enumerate(self._paths):
            current = _inode(path)
            expected = self._ids[i]
            if expected is None:
                # The -wal and -shm files appear with the first transaction.
                self._ids[i] = current
                continue
            if current is None:
                return f"{str(path)!r} was deleted while the daemon ran"
            if current != expected:
                return f"{str(path)!r} was replaced by another file while the daemon ran"
        return None


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
