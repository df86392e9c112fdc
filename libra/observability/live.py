"""The live status page: ``GET /`` (HTML, CSS, JS from the package) and ``GET /api/stream``.

The page is static; its data comes over server-sent events. A page left open must
cost the kernel next to nothing and no number of browsers may take the loop from it:

* one task (``ops:live-feed``) renders the snapshot (``libra.observability.snapshot``)
  at most once per ``tick`` second, and only while a stream is open; every stream
  sends that same rendered text, so ten browsers cost one render. An unchanged
  snapshot is not sent again; a comment line every ``heartbeat`` seconds keeps proxies
  from closing a quiet stream.
* at most ``max_streams`` streams are open at once; one more is answered 503.
* a client that does not read has ``WRITE_TIMEOUT`` seconds per message, then it is
  dropped; ``stop()`` ends every stream at once, so a browser left open never holds up
  the daemon's shutdown.

The equity curve is sampled once per ``tick`` whether or not a page is open (a sum
over balances and open positions), and recent fills come from one lowest-priority bus
handler on fill events only (never on market data).

The page's own files carry a Content-Security-Policy that allows scripts and styles
from this origin only: no inline script, no other host, no frames. The page inserts
every value as text, so an id, a symbol or a log line holding markup stays text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from libra.core.redaction import scrub
from libra.model.fills import Fill
from libra.observability.problems import RECENT_PROBLEMS, ProblemRing
from libra.observability.snapshot import (
    MAX_ROWS,
    EquityHistory,
    SnapshotSource,
    build_snapshot,
    equity_values,
    fill_row,
    iso_time,
)

MAX_STREAMS = 8
WRITE_TIMEOUT = 10.0
FILL_TOPIC = "order.*.filled"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store"}
# The page's files: a fixed table, so no request names a path on disk.
FILES = {"/": ("status.html", "text/html"),
         "/static/status.js": ("status.js", "text/javascript"),
         "/static/status.css": ("status.css", "text/css")}

_log = structlog.get_logger("libra.http")


@dataclass(slots=True)
class _FillRow:
    """A fill and, once rendered, its scrubbed JSON (a fill never changes)."""

    fill: Fill
    text: str | None = None

    def rendered(self) -> str:
        if self.text is None:
            self.text = scrub(json.dumps(fill_row(self.fill), default=str,
                                         separators=(",", ":")))
        return self.text


class LiveFeed:
    """Serve the status page and stream its snapshots (see the module docstring).

    Args:
        source: the service whose kernel is shown (``OpsService``).
        max_streams: how many streams may be open at once.
        tick: seconds between two snapshots (and two equity samples).
        heartbeat: seconds of silence after which a stream gets a comment line.
        problems: where recent warnings and errors are read from.
        clock: POSIX time, for timestamps.
    """

    def __init__(self, source: SnapshotSource, *, max_streams: int = MAX_STREAMS,
                 tick: float = 1.0, heartbeat: float = 15.0,
                 problems: ProblemRing = RECENT_PROBLEMS,
                 clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.max_streams = max_streams
        self.tick = tick
        self.heartbeat = heartbeat
        self.problems = problems
        self.clock = clock
        self.equity = EquityHistory(interval=tick)
        self.fills: deque[_FillRow] = deque(maxlen=MAX_ROWS)
        self.open_streams = 0
        self.renders = 0
        self.render_seconds = 0.0  # time spent rendering, for benchmarks/http_load.py
        self._files: dict[str, bytes] = {}
        self._content = ""
        self._message = b""
        self._rendered_at = float("-inf")
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._failure_logged_at = float("-inf")

    # -- lifecycle --------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Add ``/``, the page's static files and ``/api/stream`` to ``app``."""
        for path in FILES:
            app.router.add_get(path, self._file)
        app.router.add_get("/api/stream", self.stream)

    def start(self) -> None:
        """Read the page's files, follow fills and start sampling."""
        package = resources.files("libra.observability") / "static"
        self._files = {name: (package / name).read_bytes() for name, _ in FILES.values()}
        self._closed = False
        self.source.kernel.bus.subscribe(FILL_TOPIC, self._on_fill, priority=-1000)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ops:live-feed")

    async def stop(self) -> None:
        """End every open stream and stop sampling; idempotent."""
        self._closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            self.source.kernel.bus.unsubscribe(FILL_TOPIC, self._on_fill)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- sampling ---------------------------------------------------------------------------

    def _on_fill(self, fill: Fill) -> None:
        self.fills.appendleft(_FillRow(fill))  # newest first; the deque drops the oldest

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.tick)

    def _sample(self) -> None:
        try:
            self.equity.sample(self.clock(), equity_values(self.source.kernel))
        except Exception:  # the page must never take the feed (or the kernel) down
            self._render_failed()
        if self.open_streams:
            self._render_safely()

    def _render_safely(self) -> None:
        try:
            self._render()
        except Exception:
            self._render_failed()

    def _render_failed(self) -> None:
        # Logged at most once a minute: a bug here must not flood the log each tick.
        now = time.monotonic()
        if now - self._failure_logged_at > 60:
            self._failure_logged_at = now
            _log.exception("status_page.render_failed")

    def _render(self) -> None:
        """Render the snapshot once for every stream; wake them when it changed."""
        started = self._rendered_at = time.monotonic()
        self.renders += 1
        try:
            self._render_once()
        finally:
            self.render_seconds += time.monotonic() - started

    def _render_once(self) -> None:
        snapshot = build_snapshot(self.source, self.equity, self.problems.recent(MAX_ROWS),
                                  self.clock)
        # The fills are most of the text and never change: each is rendered (and scrubbed)
        # once, when first shown, and joined in here.
        fills = ",".join(row.rendered() for row in self.fills)
        content = scrub(json.dumps(snapshot, default=str, separators=(",", ":")))
        content = f'{content[:-1]},"fills":[{fills}]}}'
        if content == self._content:
            return
        self._content = content
        self._message = self._event(content)
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _event(self, content: str) -> bytes:
        # The server's time goes with each event: the page measures ages against it, not
        # against the browser's clock.
        server_time = json.dumps(iso_time(self.clock()))
        return f'event: snapshot\ndata: {{"server_time":{server_time},{content[1:]}\n\n'.encode()

    # -- HTTP -------------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.Response:
        name, content_type = FILES[request.path]
        return web.Response(body=self._files[name], content_type=content_type,
                            charset="utf-8", headers=PAGE_HEADERS)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Stream snapshots as server-sent events until the client leaves or we stop."""
        if self._closed or self._task is None:
            return _unavailable("the status stream is not running")
        if self.open_streams >= self.max_streams:
            return _unavailable(f"too many open status streams (limit {self.max_streams})")
        self.open_streams += 1
        try:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-store",
                "X-Accel-Buffering": "no"})  # nginx: pass each event on at once
            await response.prepare(request)
            await self._send(response, request)
            return response
        finally:
            self.open_streams -= 1

    async def _send(self, response: web.StreamResponse, request: web.Request) -> None:
        if time.monotonic() - self._rendered_at >= self.tick:
            self._render_safely()  # the first stream after a quiet spell must not wait a tick
        try:
            await self._write(response, b"retry: 3000\n\n")
            # The newest snapshot, stamped now: the shared one may be older than this client.
            sent = self._message
            if self._content:
                await self._write(response, self._event(self._content))
            while not self._closed:
                message = self._message
                if message is not sent:
                    await self._write(response, message)
                    sent = message
                wake = self._wake
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await wake.wait()
                except TimeoutError:
                    await self._write(response, b": keepalive\n\n")
        except (ConnectionError, TimeoutError):
            # Gone, or not reading: either way the stream's slot is free again.
            _log.info("status_stream.dropped", remote=request.remote)

    async def _write(self, response: web.StreamResponse, chunk: bytes) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await response.write(chunk)


def _unavailable(why: str) -> web.Response:
    return web.Response(text=json.dumps({"error": why}), status=503,
                        content_type="application/json", headers={"Retry-After": "5"})


def snapshot_payload(message: bytes) -> dict[str, Any]:
    """Return the JSON of one ``snapshot`` event as the stream sent it (for tools and tests)."""
    for line in message.decode().splitlines():
        if line.startswith("data: "):
            data: dict[str, Any] = json.loads(line[len("data: "):])
            return data
    raise ValueError(f"no data line in the event, was {message[:80]!r}")


__all__ = ["CSP", "MAX_STREAMS", "LiveFeed", "snapshot_payload"]
