"""Run ``libra run`` as a real subprocess and read its JSON log lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"


class Daemon:
    """A ``libra run`` process whose stdout lines are parsed as they arrive."""

    def __init__(self, config: Path, env: dict[str, str] | None = None,
                 cwd: Path = REPO, args: tuple[str, ...] = (),
                 preexec_fn: Callable[[], None] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(SUPPORT), full_env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "libra", "run", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=cwd,
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        self._stderr: str | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
        """Return the first log record matching ``predicate`` (reading as lines come)."""
        for record in self.records():
            if predicate(record):
                return record
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            record = json.loads(line)
            if predicate(record):
                return record
        raise AssertionError(
            f"no matching log line within {timeout}s; last lines: {self.lines[-5:]}; "
            f"stderr: {self.stderr_text()}"
        )

    def wait_event(self, event: str, timeout: float = 30) -> dict:
        return self.wait_for(lambda r: r.get("event") == event, timeout)

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 30) -> int:
        """Wait for exit; collect the remaining lines; return the exit code."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code

    def records(self) -> list[dict[str, Any]]:
        """Every line read so far, parsed (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.lines]

    def events(self) -> list[str]:
        return [r.get("event", "") for r in self.records()]

    def stderr_text(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        if self._stderr is None:
            self._stderr = self.proc.stderr.read()
        return self._stderr

    def close(self) -> None:
        """Kill the process if it still runs and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
