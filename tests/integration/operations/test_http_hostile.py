"""The HTTP API facing unfriendly clients: no growth from unknown actions, slow headers cut."""

from __future__ import annotations

import asyncio

import aiohttp

TOKEN_HEADER = {"Authorization": "Bearer wrong"}


async def test_unknown_actions_add_no_metric_series(daemon_factory, make_config, http):
    daemon = await daemon_factory(make_config())
    async with http.get(daemon.url + "/metrics") as response:
        before = await response.text()
    for index in range(50):
        async with http.post(f"{daemon.url}/api/control/junk-{index}",
                             headers=TOKEN_HEADER) as response:
            assert response.status == 404
            assert f"junk-{index}" not in await response.text()
        async with http.post(f"{daemon.url}/api/strategies/sma/junk-{index}") as response:
            assert response.status == 404
    daemon.ops.http._cache.clear()  # type: ignore[union-attr]
    async with http.get(daemon.url + "/metrics") as response:
        after = await response.text()
    assert "junk" not in after

    def control_series(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("libra_control")]

    assert control_series(after) == control_series(before)


async def test_a_client_that_never_finishes_its_headers_is_disconnected(
        daemon_factory, make_config):
    daemon = await daemon_factory(make_config(http={"enabled": True, "port": 0,
                                                   "read_timeout": 0.5}))
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.ops.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # the server closed the connection
    writer.close()
    async with aiohttp.ClientSession() as http, http.get(daemon.url + "/healthz") as response:
        assert response.status == 200
