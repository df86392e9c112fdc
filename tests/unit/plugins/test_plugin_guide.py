"""docs/plugin_development.md: its examples run, and it tells authors to depend on libra-trader."""

from __future__ import annotations

import inspect
import re
import sys
import tomllib
import types
from decimal import Decimal
from pathlib import Path

import pytest

from libra.core.config import KernelConfig, load_config
from libra.core.errors import ConfigError
from libra.kernel.builder import build_all
from libra.plugins.base import GatewayPlugin, StrategyPlugin

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugin_development.md"


def blocks(lang: str) -> list[str]:
    """Return the guide's fenced blocks of language ``lang`` ("" for plain ones), in order."""
    found: list[str] = []
    fence: tuple[str, list[str]] | None = None
    for line in GUIDE.read_text().splitlines(keepends=True):
        if not line.startswith("```"):
            if fence is not None:
                fence[1].append(line)
        elif fence is None:
            fence = (line[3:].strip(), [])
        else:
            if fence[0] == lang:
                found.append("".join(fence[1]))
            fence = None
    return found


@pytest.fixture
def guide_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The guide's Python blocks run in order as one module, importable as ``guide_plugins``."""
    module = types.ModuleType("guide_plugins")
    monkeypatch.setitem(sys.modules, "guide_plugins", module)
    for code in blocks("python"):
        exec(compile(code, str(GUIDE), "exec"), module.__dict__)
    return module


def test_guide_says_plugins_depend_on_libra_trader():
    text = GUIDE.read_text()
    assert "depends on **`libra-trader`**" in text
    (pyproject,) = [tomllib.loads(b) for b in blocks("toml") if "[project]" in b]
    assert pyproject["project"]["dependencies"] == ["libra-trader>=0.1"]
    assert "libra>=" not in text


def test_guide_pyproject_registers_both_groups():
    (pyproject,) = [tomllib.loads(b) for b in blocks("toml") if "[project]" in b]
    assert set(pyproject["project"]["entry-points"]) == {"libra.strategies", "libra.gateways"}


async def test_guide_examples_run(guide_module: types.ModuleType):
    assert issubclass(guide_module.DipBuyer, StrategyPlugin)
    assert issubclass(guide_module.EchoGateway, GatewayPlugin)
    tests = [
        f for name, f in vars(guide_module).items()
        if name.startswith("test_") and inspect.iscoroutinefunction(f)
    ]
    assert tests
    for test in tests:
        await test()


def test_guide_options_are_validated_by_config_model(guide_module: types.ModuleType):
    def config(drop: str) -> KernelConfig:
        return KernelConfig.model_validate({
            "gateways": [{"id": "echo", "plugin": "guide_plugins:EchoGateway", "region": "eu"}],
            "strategies": [{"id": "dips", "plugin": "guide_plugins:DipBuyer",
                            "params": {"drop": drop, "quantity": "0.05"}}],
        })

    gateways, strategies = build_all(config("0.03"))
    assert gateways["echo"].config == {"region": "eu"}
    strategy, params = strategies["dips"]
    assert params["drop"] == Decimal("0.03")
    assert strategy.params.drop == Decimal("0.03")
    with pytest.raises(ConfigError, match=r"strategies\[0\]\.params\.drop"):
        build_all(config("-1"))


def test_guide_config_example_loads(tmp_path: Path):
    (toml,) = [b for b in blocks("toml") if "[[strategies]]" in b]
    path = tmp_path / "libra.toml"
    path.write_text(toml)
    loaded = load_config(path)
    assert loaded.strategies[0].plugin == "dip_buyer"
    assert loaded.strategies[0].params == {"drop": "0.03", "quantity": "0.05"}


def test_guide_warning_matches_the_loader():
    (line,) = [b for b in blocks("") if b.startswith("WARNING:")]
    assert re.fullmatch(
        r"WARNING:libra\.plugins\.loader:Failed to load plugin \w+: \w+: .+\n", line
    )
