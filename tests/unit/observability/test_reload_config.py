"""``reload_config`` on a built kernel: what is applied, what waits for a restart."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field
from structlog.testing import capture_logs

from libra.core.config import KernelConfig, LibraModel
from libra.core.kernel import TradingKernel
from libra.observability import logging as libra_logging
from libra.observability.reload import reload_config
from libra.plugins.base import PluginMetadata, StrategyPlugin


class TunedParams(LibraModel):
    threshold: int = Field(1, gt=0)


class Tuned(StrategyPlugin):
    """A strategy that takes new params at run time."""

    config_model: ClassVar[type[TunedParams]] = TunedParams

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="tuned", version="0", description="test")

    @property
    def name(self) -> str:
        return "tuned"

    @property
    def symbols(self) -> list[str]:
        return ["BTC/USD"]

    async def initialize(self, context: dict[str, Any]) -> None:
        pass

    async def on_data(self, data: Any) -> None:
        pass

    async def on_params(self, params: dict[str, Any]) -> None:
        if self.fail:
            raise ValueError("threshold too bold")
        self.received.append(params)


def raw_config() -> dict[str, Any]:
    return {
        "kernel": {"name": "reload"},
        "http": {"token": "first-token"},
        "gateways": [{"id": "paper", "plugin": "paper"}],
        "strategies": [{"id": "tuned", "plugin": "sma_cross", "gateway": "paper",
                        "params": {"threshold": 1}}],
        "risk": {"max_order_quantity": "1"},
    }


def built_kernel(raw: dict[str, Any]) -> tuple[TradingKernel, Tuned]:
    strategy = Tuned()
    kernel = TradingKernel(KernelConfig.model_validate(copy.deepcopy(raw)),
                           strategy_instances={"tuned": strategy})
    kernel.build()
    return kernel, strategy


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def test_params_go_to_the_hook_validated(tmp_path):
    raw = raw_config()
    kernel, strategy = built_kernel(raw)
    raw["strategies"][0]["params"]["threshold"] = 7
    result = await reload_config(kernel, write(tmp_path / "c.yaml", raw))
    assert result.ok
    assert strategy.received == [{"threshold": 7}]
    assert result.applied == {"strategies.params": ["tuned"]}
    assert kernel.config.strategies[0].params == {"threshold": 7}
    assert kernel.runners["tuned"].params == {"threshold": 7}


async def test_invalid_params_fail_the_whole_reload(tmp_path):
    raw = raw_config()
    kernel, strategy = built_kernel(raw)
    raw["strategies"][0]["params"]["threshold"] = 0
    raw["risk"]["max_order_quantity"] = "2"
    with capture_logs() as logs:
        result = await reload_config(kernel, write(tmp_path / "c.yaml", raw))
    assert not result.ok
    assert "strategies[0].params.threshold" in (result.error or "")
    assert strategy.received == []
    assert str(kernel.trading.risk.config.max_order_quantity) == "1"
    assert [e["event"] for e in logs] == ["config.reload_failed"]


async def test_a_failing_hook_keeps_the_old_params(tmp_path):
    raw = raw_config()
    kernel, strategy = built_kernel(raw)
    strategy.fail = True
    raw["strategies"][0]["params"]["threshold"] = 3
    result = await reload_config(kernel, write(tmp_path / "c.yaml", raw))
    assert result.ok
    assert result.applied == {}
    assert result.requires_restart == ["strategies.tuned.params (hook failed)"]
    assert kernel.config.strategies[0].params == {"threshold": 1}


async def test_level_token_and_log_orders_are_applied(tmp_path):
    raw = raw_config()
    kernel, _ = built_kernel(raw)
    raw["logging"] = {"level": "warning", "log_orders": False}
    raw["http"]["token"] = "second-token"
    try:
        result = await reload_config(kernel, write(tmp_path / "c.yaml", raw))
        assert result.applied == {"logging.level": "warning", "logging.log_orders": False,
                                  "http.token": "rotated"}
        assert logging.getLogger().level == logging.WARNING
    finally:
        libra_logging.set_level("info")
    assert kernel.trading.log_orders is False
    assert kernel.config.http.token.get_secret_value() == "second-token"


async def test_a_changed_strategy_set_needs_a_restart(tmp_path):
    raw = raw_config()
    kernel, _ = built_kernel(raw)
    raw["strategies"].append({"id": "extra", "plugin": "sma_cross", "gateway": "paper"})
    raw["strategies"][0]["symbols"] = ["ETH/USD"]
    result = await reload_config(kernel, write(tmp_path / "c.yaml", raw))
    assert result.ok
    assert result.applied == {}
    assert result.requires_restart == ["strategies.extra (added)", "strategies.tuned.symbols"]
    assert [s.id for s in kernel.config.strategies] == ["tuned"]


async def test_a_missing_file_is_a_failed_reload(tmp_path):
    kernel, _ = built_kernel(raw_config())
    result = await reload_config(kernel, tmp_path / "missing.toml")
    assert not result.ok
    assert "file not found" in (result.error or "")
