"""The shipped daemon keeps state, says when it cannot, and refuses to trade on lost history.

Each test runs ``libra run`` on ``config/libra.toml`` as shipped (state on, relative state
path), from an empty working directory, only with a faster replay and strategy.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import Daemon

from libra.persistence import read_state
from libra.persistence.schema import connect_read_only

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "config" / "libra.toml"
FAST = {
    "LIBRA__GATEWAYS__0__DATA__SPEED": "60000",
    "LIBRA__STRATEGIES__0__PARAMS__FAST": "2",
    "LIBRA__STRATEGIES__0__PARAMS__SLOW": "4",
    "LIBRA__STRATEGIES__0__PARAMS__QUANTITY": "0.01",
    "LIBRA__KERNEL__RECONCILE_CONFIRM_DELAY": "0",
}
EXIT_STATE = 3


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def start(workdir: Path) -> Iterator[object]:
    """Start daemons on the shipped config in ``workdir``; each is killed at the end."""
    workdir.mkdir(exist_ok=True)
    daemons: list[Daemon] = []

    def start_(*args: str, **options: object) -> Daemon:
        daemon = Daemon(SHIPPED, env=FAST, cwd=workdir, args=args, **options)  # type: ignore[arg-type]
        daemons.append(daemon)
        return daemon

    yield start_
    for daemon in daemons:
        daemon.close()


@pytest.fixture
def state_dir(workdir: Path) -> Path:
    """The state directory made beforehand (only the first test needs LIBRA to make it)."""
    path = workdir / "state"
    path.mkdir(mode=0o700, parents=True)
    return path


def _state(workdir: Path) -> Path:
    return workdir / "state" / "libra.db"


def _libra(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "libra", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=60, check=False)


def _trade_then(daemon: Daemon, sig: signal.Signals) -> int:
    daemon.wait_event("kernel.started")
    daemon.wait_event("order.filled")
    daemon.signal(sig)
    return daemon.finish()


def test_the_shipped_config_keeps_a_complete_state_file(start, workdir: Path) -> None:
    """State is on by default, in a new 0700 directory, whole in one file after a stop."""
    daemon = start()
    assert _trade_then(daemon, signal.SIGTERM) == 0, daemon.stderr_text()

    state_dir = _state(workdir).parent
    assert state_dir.stat().st_mode & 0o777 == 0o700
    # The main file alone, without any -wal, holds every fill the daemon logged.
    alone = workdir / "copy.db"
    shutil.copy(_state(workdir), alone)
    logged = {r["trade_id"] for r in daemon.records() if r.get("event") == "order.filled"}
    conn = connect_read_only(alone)
    try:
        stored = {f.trade_id for f in read_state(conn).fills}
    finally:
        conn.close()
    assert logged
    assert logged <= stored
    shown = _libra(workdir, "state", "--config", str(SHIPPED), "positions", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"BTC/USD"' in shown.stdout


def test_state_files_deleted_while_running_stop_the_daemon_with_exit_3(
        state_dir: Path, start, workdir: Path) -> None:
    daemon = start()
    daemon.wait_event("kernel.started")
    daemon.wait_event("order.filled")
    for name in ("libra.db", "libra.db-wal", "libra.db-shm"):
        (_state(workdir).parent / name).unlink()

    assert daemon.finish() == EXIT_STATE
    failed = daemon.wait_event("state_store.write_failed", timeout=0)
    assert "deleted" in failed["error"]

    again = start()
    assert again.finish() == EXIT_STATE
    assert "is missing" in again.stderr_text()
    assert "kernel.started" not in again.events()

    fresh = start("--fresh-start")
    fresh.wait_event("kernel.started")
    fresh.signal(signal.SIGTERM)
    assert fresh.finish() == 0


def _limit_file_size() -> None:
    # A full disk, as the daemon sees it: writes past 2 MB fail (EFBIG), no signal.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


def test_a_full_disk_stops_the_daemon_with_exit_3(state_dir: Path, start) -> None:
    daemon = start(preexec_fn=_limit_file_size)

    assert daemon.finish(timeout=60) == EXIT_STATE
    failed = daemon.wait_event("state_store.write_failed", timeout=0)
    assert "write failed" in failed["error"]
    events = daemon.events()
    # Trading halted before the stop, and nothing was saved after the failure.
    assert events.index("state_store.write_failed") < events.index("kernel.stopping")


def _seq_without_wal(state: Path, scratch: Path) -> int | None:
    """Return the commit count the main file holds without its WAL (None: unknown)."""
    copy = scratch / "main-only.db"
    shutil.copy(state, copy)
    conn = sqlite3.connect(copy)
    try:
        row = conn.execute("SELECT commit_seq FROM store_history").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
        copy.unlink()
    return None if row is None else int(row[0])


def _marker_seq(state: Path) -> int | None:
    marker = state.with_name(f".{state.name}.marker")
    return int(marker.read_text().split()[3]) if marker.exists() else None


def _kill_with_commits_in_the_wal(start, workdir: Path, tmp_path: Path) -> None:
    """Trade, then kill -9 at a moment the WAL holds durable commits the main file lacks."""
    for _ in range(5):
        daemon = start()
        _trade_then(daemon, signal.SIGKILL)
        marker, alone = _marker_seq(_state(workdir)), _seq_without_wal(_state(workdir), tmp_path)
        if marker is None or alone is None or alone < marker:
            return
    pytest.fail("every kill came right after a checkpoint")


def _damage(how: str, state: Path) -> None:
    wal = Path(f"{state}-wal")
    if how == "deleted_wal":
        wal.unlink()
    elif how == "random_wal":
        wal.write_bytes(os.urandom(wal.stat().st_size))
    elif how == "empty":
        state.write_bytes(b"")
        wal.unlink(missing_ok=True)
    elif how == "truncated":
        with state.open("r+b") as file:
            file.truncate(state.stat().st_size // 2)


@pytest.mark.parametrize("how", ["deleted_wal", "random_wal", "empty", "truncated"])
def test_a_start_on_lost_history_is_refused_with_exit_3(state_dir: Path, start, workdir: Path,
                                                         tmp_path: Path, how: str) -> None:
    if how in ("deleted_wal", "random_wal"):
        _kill_with_commits_in_the_wal(start, workdir, tmp_path)
    else:
        assert _trade_then(start(), signal.SIGTERM) == 0
    _damage(how, _state(workdir))

    refused = start()

    assert refused.finish() == EXIT_STATE
    assert "kernel.started" not in refused.events()
    # A damaged file is refused as corrupt; a consistent but shorter one as lost history.
    assert "fresh-start" in refused.stderr_text() or "corrupt" in refused.stderr_text()


def test_backup_while_the_daemon_runs(state_dir: Path, start, workdir: Path,
                                     tmp_path: Path) -> None:
    daemon = start()
    daemon.wait_event("kernel.started")
    daemon.wait_event("order.filled")
    out = tmp_path / "backup.db"

    made = _libra(workdir, "state", "backup", "--config", str(SHIPPED), str(out))

    assert made.returncode == 0, made.stderr
    assert not Path(f"{out}-wal").exists()
    conn = connect_read_only(out)
    try:
        copied = read_state(conn)
    finally:
        conn.close()
    assert copied.fills
    daemon.signal(signal.SIGTERM)
    assert daemon.finish() == 0
