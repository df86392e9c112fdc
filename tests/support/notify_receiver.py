"""A webhook receiver on 127.0.0.1 for apprise's ``json://`` targets, and addresses that fail.

``Receiver`` keeps every JSON body posted to it (apprise sends ``title``, ``message`` and
``type``) with the path and the Authorization header it came with. Posting to ``/hang``
never gets an answer until the receiver closes: a target that hangs.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web


class Receiver:
    """A real aiohttp server recording what notifications it gets."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hang", self._hang)
        app.router.add_post("/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "hook", credentials: str = "") -> str:
        """Return the apprise URL of ``path`` (``credentials``: ``"user:password"``)."""
        auth = f"{credentials}@" if credentials else ""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        return [str(m["body"].get("title", "")) for m in self.messages]

    def with_title(self, text: str) -> list[dict[str, Any]]:
        return [m["body"] for m in self.messages if text in str(m["body"].get("title", ""))]

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.messages.append({"path": request.path, "body": body,
                              "authorization": request.headers.get("Authorization")})
        return web.json_response({"ok": True})

    async def _hang(self, request: web.Request) -> web.Response:
        await self._release.wait()
        return web.json_response({"ok": True})


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
