"""Drive headless Chromium over the DevTools protocol with aiohttp's websocket client.

Enough for page tests: open a tab, run JavaScript in it, wait for a condition, resize it
to a phone, take screenshots, and record console errors, uncaught exceptions and failed
requests as they happen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class Tab:
    """One page target, attached over a flat session."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session_id)

    async def evaluate(self, expression: str) -> Any:
        """Return the value of ``expression`` (awaited when it is a promise)."""
        answer = await self.send("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression!r} raised: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Return the first truthy value of ``expression``, checked every 50 ms."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.05)
        except TimeoutError:
            text = await self.evaluate("document.body ? document.body.innerText : ''")
            raise AssertionError(
                f"not true within {timeout}s: {expression}; console errors: "
                f"{self.console_errors}; failed requests: {self.failed_requests}; "
                f"page text: {str(text)[:1500]!r}") from None

    async def goto(self, url: str) -> None:
        loaded = self.browser.expect("Page.loadEventFired", self.session_id)
        await self.send("Page.navigate", url=url)
        async with asyncio.timeout(20):
            await loaded

    async def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=2 if mobile else 1, mobile=mobile)

    async def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": size["height"], "scale": 1}
        shot = await self.send("Page.captureScreenshot", **params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.console_errors.append(json.dumps(params["args"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console_errors.append(params["entry"].get("text", "")[:500])
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            response = params["response"]
            self.failed_requests.append(f"{response['status']} {response['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.failed_requests.append(f"{params.get('errorText')} {params['requestId']}")


class Browser:
    """A headless Chromium process and its DevTools websocket."""

    def __init__(self, process: subprocess.Popen[bytes], ws: aiohttp.ClientWebSocketResponse
                 ) -> None:
        self.process = process
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self.tabs: dict[str, Tab] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="cdp-reader")

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str | None = None) -> dict[str, Any]:
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        await self.ws.send_str(json.dumps(message))
        async with asyncio.timeout(30):
            return await future

    def expect(self, method: str, session_id: str | None) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session_id, future))
        return future

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(AssertionError(f"DevTools error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            method, session = data.get("method", ""), data.get("sessionId")
            tab = self.tabs.get(session or "")
            if tab is not None:
                tab.on_event(method, data.get("params", {}))
            for waiter in [w for w in self._waiters if w[0] == method and w[1] == session]:
                self._waiters.remove(waiter)
                if not waiter[2].done():
                    waiter[2].set_result(data.get("params", {}))

    async def new_tab(self) -> Tab:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
        tab = Tab(self, attached["sessionId"])
        self.tabs[tab.session_id] = tab
        for domain in ("Page", "Runtime", "Log", "Network"):
            await tab.send(f"{domain}.enable")
        return tab

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.send("Browser.close")
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.ws.close()


@contextlib.asynccontextmanager
async def chromium_browser(executable: str, profile: Path) -> AsyncIterator[Browser]:
    """Start headless Chromium in its own process group; kill the group at the end."""
    command = [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        endpoint = await asyncio.wait_for(asyncio.to_thread(_endpoint, process), timeout=60)
        # Keep reading its stderr, or a chatty browser fills the pipe and stalls.
        threading.Thread(target=_drain, args=(process,), daemon=True).start()
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(endpoint, max_msg_size=64 * 1024 * 1024)
            browser = Browser(process, ws)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the browser's helpers share its group
        process.wait(timeout=10)


def _endpoint(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    seen = []
    for raw in process.stderr:
        line = raw.decode(errors="replace")
        seen.append(line)
        found = _LISTENING.search(line)
        if found:
            return found.group(1)
    raise AssertionError(f"chromium exited without a DevTools endpoint: {''.join(seen)[-2000:]}")


def _drain(process: subprocess.Popen[bytes]) -> None:
    assert process.stderr is not None
    with contextlib.suppress(OSError, ValueError):
        for _ in process.stderr:
            pass
    with contextlib.suppress(OSError):
        process.stderr.close()
