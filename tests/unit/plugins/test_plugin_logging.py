"""``self.log`` of a plugin: present without ``super().__init__()``, replaceable, stdlib logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin


class NoSuperInit(StrategyPlugin):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}  # never calls super().__init__()

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="no_super", version="1", description="d")

    @property
    def name(self) -> str:
        return "no_super"

    @property
    def symbols(self) -> list[str]:
        return []

    async def initialize(self, context: dict[str, Any]) -> None:
        self.log.info("initialized with %d keys", len(context))

    async def on_data(self, data: Any) -> None:
        self.log.debug("data %s", data)


class OwnLogger(NoSuperInit):
    """The seed's "Logging" practice: the strategy assigns its own logger."""

    def __init__(self) -> None:
        self.log = logging.getLogger(f"libra.plugins.{self.name}")


async def test_log_works_without_super_init(caplog: pytest.LogCaptureFixture):
    strategy = NoSuperInit()
    assert isinstance(strategy.log, logging.Logger)
    assert strategy.log.name == "libra.plugins.NoSuperInit"
    assert strategy.log is strategy.log
    caplog.set_level(logging.DEBUG, logger="libra.plugins")
    await strategy.initialize({"bus": None})
    await strategy.on_data({"price": 1})
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("libra.plugins.NoSuperInit", "INFO", "initialized with 1 keys"),
        ("libra.plugins.NoSuperInit", "DEBUG", "data {'price': 1}"),
    ]


async def test_a_strategy_may_assign_its_own_log(caplog: pytest.LogCaptureFixture):
    strategy = OwnLogger()
    assert strategy.log is logging.getLogger("libra.plugins.no_super")
    caplog.set_level(logging.INFO, logger="libra.plugins")
    await strategy.initialize({})
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("libra.plugins.no_super", "initialized with 0 keys"),
    ]


def test_instances_may_hold_different_loggers():
    first, second = NoSuperInit(), NoSuperInit()
    replacement = logging.getLogger("libra.plugins.replacement")
    first.log = replacement
    assert first.log is replacement
    assert second.log is logging.getLogger("libra.plugins.NoSuperInit")


def test_gateways_have_a_log_too():
    class Quiet(GatewayPlugin):
        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="quiet", version="1", description="d")

        async def connect(self) -> None: ...
        async def disconnect(self) -> None: ...
        async def submit_order(self, order: Any) -> None: ...
        async def cancel_order(self, order: Any) -> None: ...

    assert Quiet().log is logging.getLogger("libra.plugins.Quiet")
