"""The live status page of a real paper daemon (``libra run``), in headless Chromium."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from daemon_process import Daemon
from devtools import Tab, chromium_browser

from libra.core.kernel import TradingKernel
from libra.model.positions import Position
from libra.observability.service import OpsService
from libra.testing.factories import paper_config, paper_config_data, paper_gateway

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "build" / "test-artifacts"
TOKEN = "page-token-7d21e9"
HOSTILE_ID = "<img src=x onerror=alert(1)>"

# Stored with the page and re-read from the DOM: how many fill rows it shows.
FILL_ROWS = "document.querySelectorAll('#fills tbody tr:not(:has(td.empty))').length"
RESULT = "document.getElementById('action-result').textContent"
TRADING = "document.getElementById('trading-state').textContent"


class Page:
    """The daemon's URL and a tab showing its status page (``daemon``: when a subprocess)."""

    def __init__(self, daemon: Daemon | None, url: str, tab: Tab) -> None:
        self.daemon = daemon
        self.url = url
        self.tab = tab

    async def act(self, action: str, token: str | None) -> None:
        """Click an action button, confirm it (entering ``token`` when asked)."""
        tab = self.tab
        await tab.evaluate(f"document.querySelector('button[data-action={action}]').click()")
        await tab.wait_for("document.getElementById('confirm').open")
        if token is not None:
            asked = await tab.evaluate("!document.getElementById('confirm-token').hidden")
            assert asked, "the page did not ask for the token"
            await tab.evaluate(f"document.getElementById('token-input').value = {token!r}")
        await tab.evaluate("document.getElementById('confirm-yes').click()")

    async def status(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, \
                session.get(self.url + "/api/status") as response:
            data: dict[str, Any] = await response.json()
            return data


def write_config(path: Path) -> Path:
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 3, "slow": 8, "quantity": "0.01"}}
    raw = paper_config_data(
        sma, gateway=paper_gateway(balances={"USD": "1000000"}, speed=600),
        kernel={"name": "page-test", "shutdown_timeout": 5},
        logging={"heartbeat_interval": 60, "log_orders": False},
        http={"enabled": True, "port": 0, "token": TOKEN})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
async def page(chromium: str, tmp_path: Path) -> AsyncIterator[Page]:
    """A trading paper daemon, a hostile id in its log, and its page open in Chromium."""
    daemon = Daemon(write_config(tmp_path / "libra.yaml"))
    try:
        started = await asyncio.to_thread(daemon.wait_event, "http.started", 30)
        url = f"http://127.0.0.1:{started['port']}"
        # A refused request logs its path: markup the page must show as text.
        hostile = f"{url}/api/strategies/{HOSTILE_ID}/stop"
        async with aiohttp.ClientSession() as session, session.post(hostile) as refused:
            assert refused.status == 401
        async with chromium_browser(chromium, tmp_path / "profile") as browser:
            tab = await browser.new_tab()
            await tab.viewport(1280, 900)
            await tab.goto(url + "/")
            yield Page(daemon, url, tab)
    finally:
        daemon.signal()
        await asyncio.to_thread(daemon.finish, 30)
        daemon.close()


async def test_page_shows_live_fills_and_fits_a_phone(page: Page) -> None:
    tab = page.tab
    await tab.wait_for("document.getElementById('stream-state').textContent === 'LIVE'")
    assert await tab.evaluate("document.getElementById('kernel-name').textContent") == \
        "page-test"
    assert await tab.evaluate(TRADING) == "TRADING ACTIVE"
    assert await tab.evaluate("document.getElementById('kernel-state').textContent") == \
        "RUNNING"
    # The page stays the same document while fills arrive over the stream.
    await tab.evaluate("window.sameDocument = true")
    first = await tab.evaluate(FILL_ROWS)
    await tab.wait_for(f"{FILL_ROWS} > {first}", timeout=30)
    assert await tab.evaluate("window.sameDocument") is True
    row = await tab.evaluate("document.querySelector('#fills tbody tr').innerText")
    assert "BTC/USD" in row
    assert "0.01" in row
    await tab.wait_for("document.querySelectorAll('#equity svg polyline').length === 1")
    # Log lines holding markup are shown as text, never parsed.
    problems = await tab.evaluate("document.getElementById('problems').textContent")
    assert HOSTILE_ID in problems
    assert await tab.evaluate("document.querySelectorAll('#problems img').length") == 0
    assert tab.console_errors == []
    assert tab.failed_requests == []
    await tab.screenshot(ARTIFACTS / "status-page.png")

    await tab.viewport(390, 844, mobile=True)
    await tab.wait_for("window.innerWidth === 390")
    overflow = await tab.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, "
        "...Array.from(document.querySelectorAll('section, header'), "
        "e => Math.ceil(e.getBoundingClientRect().right))]")
    assert max(overflow) <= 390, f"wider than the phone: {overflow}"
    await tab.screenshot(ARTIFACTS / "status-page-phone.png")


async def test_a_wrong_token_is_refused_and_the_right_one_halts(page: Page) -> None:
    tab = page.tab
    await tab.wait_for("document.getElementById('stream-state').textContent === 'LIVE'")

    await page.act("halt", "not-the-token")
    result = await tab.wait_for(f"{RESULT}.includes('REFUSED') && {RESULT}")
    assert "401" in result
    assert (await page.status())["trading_state"] == "active"
    assert await tab.evaluate(TRADING) == "TRADING ACTIVE"
    assert await tab.evaluate("sessionStorage.length") == 0  # a refused token is forgotten

    await page.act("halt", TOKEN)
    result = await tab.wait_for(f"{RESULT}.includes('done') && {RESULT}")
    assert "halted" in result
    assert (await page.status())["trading_state"] == "halted"
    await tab.wait_for(f"{TRADING} === 'TRADING HALTED'")
    # The token lives in this tab's session storage only: no cookie, not in the URL.
    assert await tab.evaluate("document.cookie") == ""
    assert TOKEN not in await tab.evaluate("location.href")
    stored = await tab.evaluate("JSON.stringify(Object.values(sessionStorage))")
    assert json.loads(stored) == [TOKEN]

    # An open page does not hold up the daemon's stop: its stream ends with the server.
    assert page.daemon is not None
    page.daemon.signal()
    assert await asyncio.to_thread(page.daemon.finish, 20) == 0
    await tab.wait_for("document.getElementById('stream-state').textContent !== 'LIVE'")


async def test_an_incomplete_flatten_is_shown_as_a_failure(chromium: str, tmp_path: Path) -> None:
    """Dust below the lot size cannot be closed: the venue answer is 409, not success."""
    sma = {"id": "sma", "plugin": "sma_cross", "params": {"quantity": "0.01"}}
    kernel = TradingKernel(paper_config(
        sma, gateway=paper_gateway(data={"source": "none"}),
        kernel={"name": "dust-test", "shutdown_timeout": 5},
        http={"enabled": True, "port": 0, "token": TOKEN}))
    await kernel.start()
    # As the state store restores it after fees were paid in the base currency.
    kernel.portfolio.add_position(Position.from_snapshot({
        "strategy_id": "sma", "venue": "paper", "symbol": "BTC/USD", "base": "BTC",
        "quote": "USD", "quantity": "0.000000001", "cost": "0.00004", "realized_pnl": "0",
        "fees": "0", "other_fees": {}, "fill_count": 1, "ts_opened": 1, "ts_last": 1}))
    ops = OpsService(kernel)
    await ops.start()
    try:
        async with chromium_browser(chromium, tmp_path / "profile") as browser:
            tab = await browser.new_tab()
            await tab.goto(f"http://127.0.0.1:{ops.port}/")
            page = Page(None, f"http://127.0.0.1:{ops.port}", tab)
            await tab.wait_for("!!document.querySelector('#positions tbody td.num')")
            assert tab.console_errors == []
            assert "0.000000001" in await tab.evaluate(
                "document.querySelector('#positions tbody tr').innerText")
            await page.act("flatten", TOKEN)
            result = await tab.wait_for(f"{RESULT}.includes('FAILED') && {RESULT}")
            assert "INCOMPLETE (409)" in result
            assert "positions left 1" in result
            assert "done" not in result
            assert await tab.evaluate("document.getElementById('action-result').className") \
                == "result fail"
    finally:
        await ops.stop()
        await kernel.stop()
