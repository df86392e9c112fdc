"""The daemon's HTTP API against a real kernel: health, readiness, metrics, status, control."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from libra.cli import main as libra_main
from libra.core.lifecycle import ComponentState
from libra.model.orders import OrderStatus
from libra.trading.risk import TradingState

TOKEN = "op-token-5f1c2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse an exposition into ``{(name, sorted labels): value}``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_readyz_is_503_until_the_kernel_runs(daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=60), start_kernel=False)
    async with http.get(daemon.url + "/healthz") as response:
        assert response.status == 200
    async with http.get(daemon.url + "/readyz") as response:
        assert response.status == 503
        body = await response.json()
    assert "kernel is created" in body["reasons"]
    assert "reconciliation is not done" in body["reasons"]

    await daemon.kernel.start()
    async with http.get(daemon.url + "/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"ready": True, "reasons": []}


async def test_readyz_reports_a_stale_stream(daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=0), stale_after=0.2)
    await eventually(lambda: daemon.feed_finished)
    async with http.get(daemon.url + "/readyz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["reasons"] == ["gateway paper data stream has ended"]


async def test_metrics_parse_and_move_while_trading(daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=30_000), cache_ttl=0)
    kernel = daemon.kernel
    async with http.get(daemon.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        first = samples(await response.text())
    def handled() -> int:
        return kernel.status()["strategies"]["sma"]["events"]

    seen = handled()
    await eventually(lambda: kernel.status()["orders"].get("filled", 0) >= 2
                     and handled() > seen + 100)
    async with http.get(daemon.url + "/metrics") as response:
        second = samples(await response.text())

    def value(metrics: dict, name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value(second, "libra_market_events_total") > value(first, "libra_market_events_total")
    topic = "data.bar.paper.BTC/USD.1m"
    assert value(second, "libra_events_in_total", topic=topic) > \
        value(first, "libra_events_in_total", topic=topic)
    assert value(second, "libra_strategy_events_handled_total", strategy="sma") > \
        value(first, "libra_strategy_events_handled_total", strategy="sma")
    assert value(second, "libra_order_events_total", kind="filled") >= 2
    assert value(second, "libra_fill_latency_seconds_count") >= 2
    assert value(second, "libra_gateway_connected", gateway="paper") == 1
    assert value(second, "libra_gateway_stale", gateway="paper") == 0
    assert value(second, "libra_kernel_state", state="running") == 1
    assert value(second, "libra_trading_state", state="active") == 1
    assert ("libra_strategy_inbox_depth", (("strategy", "sma"),)) in second
    assert value(second, "libra_account_equity", account="paper", currency="USD") > 0


async def test_control_needs_the_right_bearer_token(daemon_factory, make_config, http):
    daemon = await daemon_factory(make_config(speed=60))
    kernel = daemon.kernel
    async with http.post(daemon.url + "/api/control/halt") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer not-the-token"}
    async with http.post(daemon.url + "/api/control/halt", headers=wrong) as response:
        assert response.status == 401
    assert kernel.trading_state is TradingState.ACTIVE

    async with http.post(daemon.url + "/api/control/halt", headers=AUTH) as response:
        assert response.status == 200
        assert (await response.json())["trading_state"] == "halted"
    assert kernel.trading_state is TradingState.HALTED
    order = kernel.orders_for("sma").buy_market("BTC/USD", "0.01")
    assert order.status is OrderStatus.DENIED
    assert order.reason.startswith("trading_halted")

    async with http.post(daemon.url + "/api/control/reduce", headers=AUTH) as response:
        assert response.status == 200
    assert kernel.trading_state is TradingState.REDUCING
    async with http.post(daemon.url + "/api/control/resume", headers=AUTH) as response:
        assert response.status == 200
    assert kernel.trading_state is TradingState.ACTIVE
    async with http.post(daemon.url + "/api/control/explode", headers=AUTH) as response:
        assert response.status == 404


async def test_control_is_disabled_without_a_configured_token(daemon_factory, make_config, http):
    daemon = await daemon_factory(make_config(speed=60, token=None))
    async with http.post(daemon.url + "/api/control/halt", headers=AUTH) as response:
        assert response.status == 403
        assert "no http.token configured" in (await response.json())["error"]
    assert daemon.kernel.trading_state is TradingState.ACTIVE


async def test_flatten_cancels_orders_and_closes_positions(
        daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=0))
    kernel = daemon.kernel
    await eventually(lambda: daemon.feed_finished)
    orders = kernel.orders_for("sma")
    orders.buy_market("BTC/USD", "0.5")
    last = kernel.portfolio.mark_price("BTC/USD")  # the latest price the kernel saw
    resting = orders.buy_limit("BTC/USD", "0.1", (last / 2).quantize(Decimal("0.01")))
    await eventually(lambda: orders.get_position("BTC/USD").quantity >= Decimal("0.5")
                     and resting.status is OrderStatus.ACCEPTED)

    async with http.post(daemon.url + "/api/control/flatten", headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    assert body["cancel_requested"] == 1
    assert [o["symbol"] for o in body["close_orders"]] == ["BTC/USD"]
    await eventually(lambda: all(p.is_flat for p in kernel.portfolio.positions()))
    await eventually(lambda: not kernel.open_orders())
    closing = kernel.order(body["close_orders"][0]["client_order_id"])
    assert closing.reduce_only


async def test_a_strategy_can_be_stopped_and_started(daemon_factory, make_config, http):
    daemon = await daemon_factory(make_config(speed=60))
    kernel = daemon.kernel
    async with http.post(daemon.url + "/api/strategies/sma/stop", headers=AUTH) as response:
        assert response.status == 200
        assert (await response.json())["state"] == "stopped"
    assert kernel.strategy_state("sma") is ComponentState.STOPPED
    async with http.post(daemon.url + "/api/strategies/sma/start", headers=AUTH) as response:
        assert response.status == 200
    assert kernel.strategy_state("sma") is ComponentState.RUNNING
    async with http.post(daemon.url + "/api/strategies/nope/stop", headers=AUTH) as response:
        assert response.status == 404


async def test_status_reports_strategies_positions_orders_and_risk(
        daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=0))
    await eventually(lambda: daemon.feed_finished)
    daemon.kernel.orders_for("sma").buy_market("BTC/USD", "0.2")
    await eventually(lambda: daemon.kernel.portfolio.positions(open_only=True) != [])
    async with http.get(daemon.url + "/api/status") as response:
        assert response.status == 200
        status = await response.json()
    assert status["state"] == "running"
    assert status["strategies"]["sma"]["state"] == "running"
    assert status["trading_state"] == "active"
    assert "USD" in status["balances"]["paper"]
    assert any(p["symbol"] == "BTC/USD" for p in status["portfolio"]["positions"])
    assert status["streams"]["paper"]["ended"] is True
    assert isinstance(status["open_order_list"], list)


async def test_libra_ctl_talks_to_the_running_daemon(
        daemon_factory, make_config, monkeypatch, capsys):
    daemon = await daemon_factory(make_config(speed=60))
    monkeypatch.setenv("LIBRA_HTTP_TOKEN", TOKEN)
    monkeypatch.setenv("WRONG_TOKEN", "nope-nope")

    def ctl(*args: str) -> int:
        return libra_main(["ctl", "--url", daemon.url, *args])

    capsys.readouterr()
    with capture_logs():  # keep the daemon's log lines out of the command's output
        assert await asyncio.to_thread(ctl, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["strategies"]["sma"]["state"] == "running"
    assert await asyncio.to_thread(ctl, "health") == 0
    assert await asyncio.to_thread(ctl, "ready") == 0
    assert await asyncio.to_thread(ctl, "--token-env", "WRONG_TOKEN", "halt") == 1
    assert daemon.kernel.trading_state is TradingState.ACTIVE
    assert await asyncio.to_thread(ctl, "halt") == 0
    assert daemon.kernel.trading_state is TradingState.HALTED
    assert await asyncio.to_thread(ctl, "stop-strategy", "sma") == 0
    assert daemon.kernel.strategy_state("sma") is ComponentState.STOPPED
    capsys.readouterr()
    assert await asyncio.to_thread(ctl, "stop-strategy") == 2


async def test_libra_ctl_status_prints_a_short_summary(daemon_factory, make_config, capsys):
    daemon = await daemon_factory(make_config(speed=60))
    capsys.readouterr()

    with capture_logs():
        code = await asyncio.to_thread(libra_main, ["ctl", "--url", daemon.url, "status"])

    text = capsys.readouterr().out
    assert code == 0
    assert len(text.splitlines()) <= 20
    assert text.startswith("kernel ops-test: running")
    assert "trading: active" in text
    assert "paper: connected" in text
    assert "sma: running, " in text
    assert "open orders: " in text
    assert "PnL: " in text


async def test_the_http_server_binds_the_configured_address(daemon_factory, make_config):
    daemon = await daemon_factory(make_config(speed=60))
    assert daemon.ops.port is not None
    assert daemon.ops.port > 0
    async with aiohttp.ClientSession() as session, session.get(daemon.url + "/healthz") as r:
        assert (await r.json())["kernel"] == "running"


async def test_flatten_closes_a_position_five_times_the_order_limit_while_halted(
        daemon_factory, make_config, http, eventually):
    daemon = await daemon_factory(make_config(speed=0, risk={"max_order_notional": "5000"}))
    kernel = daemon.kernel
    await eventually(lambda: daemon.feed_finished)
    last = kernel.portfolio.mark_price("BTC/USD")
    quantity = (Decimal(25000) / last).quantize(Decimal("0.01"))  # five times the limit
    kernel.trading.risk.config = kernel.trading.risk.config.model_copy(
        update={"max_order_notional": None})
    kernel.orders_for("sma").buy_market("BTC/USD", quantity)
    await eventually(lambda: kernel.portfolio.position("sma", "BTC/USD") is not None
                     and kernel.portfolio.position("sma", "BTC/USD").quantity == quantity)
    kernel.trading.risk.config = kernel.trading.risk.config.model_copy(
        update={"max_order_notional": Decimal(5000)})
    kernel.actions.set_trading_state("halt")

    async with http.post(daemon.url + "/api/control/flatten", headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()

    assert body["ok"] is True
    assert len(body["close_orders"]) >= 5
    assert {o["status"] for o in body["close_orders"]} == {"filled"}
    assert body["positions_left"] == []
    assert all(p.is_flat for p in kernel.portfolio.positions())


async def test_flatten_that_cannot_close_answers_409(daemon_factory, make_config, http,
                                                      eventually):
    daemon = await daemon_factory(make_config(speed=0))
    kernel = daemon.kernel
    await eventually(lambda: daemon.feed_finished)
    kernel.orders_for("sma").buy_market("BTC/USD", "0.5")
    await eventually(lambda: kernel.portfolio.position("sma", "BTC/USD") is not None)
    # One lot per order, worth less than the venue's minimum: no close can pass.
    kernel.trading.risk.config = kernel.trading.risk.config.model_copy(
        update={"max_order_notional": Decimal("0.000001")})

    async with http.post(daemon.url + "/api/control/flatten", headers=AUTH) as response:
        assert response.status == 409
        body = await response.json()

    assert body["ok"] is False
    assert body["positions_left"][0]["symbol"] == "BTC/USD"
    async with http.get(daemon.url + "/metrics") as response:
        metrics = await response.text()
    assert 'libra_control_actions_total{action="flatten",outcome="incomplete"} 1.0' in metrics


async def test_a_paused_strategy_is_resumed_over_http(daemon_factory, make_config, http):
    daemon = await daemon_factory(make_config(speed=60))
    kernel = daemon.kernel
    kernel.trading.risk.pause("sma", "test: paused by hand")
    assert kernel.status()["risk"]["paused"] == {"sma": "test: paused by hand"}
    async with http.get(daemon.url + "/metrics") as response:
        metrics = await response.text()
    assert 'libra_strategy_paused{strategy="sma"} 1.0' in metrics

    async with http.post(daemon.url + "/api/strategies/sma/resume", headers=AUTH) as response:
        assert response.status == 200
        assert (await response.json())["changed"] is True
    assert kernel.status()["risk"]["paused"] == {}
