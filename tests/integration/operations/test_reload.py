"""SIGHUP reload against a running kernel: a real signal, a valid and an invalid file."""

from __future__ import annotations

import os
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from structlog.testing import capture_logs

from libra.model.orders import OrderStatus


def write(path: Path, raw: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")


async def test_sighup_applies_a_new_risk_limit(daemon_factory, make_config, tmp_path, eventually):
    raw = make_config(speed=60)
    path = tmp_path / "libra.yaml"
    write(path, raw)
    daemon = await daemon_factory(raw, config_path=path)
    raw["risk"] = {"max_order_quantity": "0.001"}
    write(path, raw)

    with capture_logs() as logs:
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: daemon.ops.reloader.last is not None)

    assert daemon.ops.reloader.last.ok
    assert daemon.kernel.config.risk.max_order_quantity == Decimal("0.001")
    # The risk engine applies it: an order over the new limit (and under the old) is denied.
    order = daemon.kernel.orders_for("sma").buy_market("BTC/USD", "0.01")
    assert order.status is OrderStatus.DENIED
    assert order.reason.startswith("max_order_quantity")
    reloaded = [e for e in logs if e["event"] == "config.reloaded"]
    assert reloaded[0]["changed"] == {"risk": {"max_order_quantity": "0.001"}}


async def test_an_invalid_file_keeps_the_running_config(daemon_factory, make_config, tmp_path):
    raw = make_config(speed=60)
    path = tmp_path / "libra.yaml"
    write(path, raw)
    daemon = await daemon_factory(raw, config_path=path)
    before = daemon.kernel.config
    raw["risk"] = {"max_order_quantity": "-1"}
    write(path, raw)

    with capture_logs() as logs:
        result = await daemon.ops.reloader.reload()

    assert not result.ok
    assert "risk.max_order_quantity" in (result.error or "")
    assert daemon.kernel.config is before
    assert daemon.kernel.trading.risk.config.max_order_quantity == Decimal("5")
    failed = [e for e in logs if e["event"] == "config.reload_failed"]
    assert len(failed) == 1
    assert failed[0]["log_level"] == "error"
    assert "risk.max_order_quantity" in failed[0]["error"]


async def test_unsafe_changes_are_reported_and_not_applied(daemon_factory, make_config, tmp_path):
    raw = make_config(speed=60)
    path = tmp_path / "libra.yaml"
    write(path, raw)
    daemon = await daemon_factory(raw, config_path=path)
    raw["gateways"][0]["data"]["speed"] = 1
    raw["strategies"][0]["params"]["fast"] = 3
    raw["kernel"]["shutdown_timeout"] = 7
    write(path, raw)

    result = await daemon.ops.reloader.reload()

    assert result.ok
    assert result.applied == {}
    assert result.requires_restart == [
        "gateways.paper", "kernel.shutdown_timeout",
        "strategies.sma.params (no on_params hook)",
    ]
    assert daemon.kernel.config.kernel.shutdown_timeout == 5
