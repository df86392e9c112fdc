"""Every code block of the seed plugin guide runs verbatim against LIBRA (or, for a
signature listing, is true of LIBRA). ``CHECKED`` maps each block to its test."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.metadata
import inspect
import json
import logging
import re
import shlex
import subprocess
import sys
import types
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

import libra
import libra.plugins
from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.model.fills import Fill
from libra.model.orders import OrderSide
from libra.plugins import loader
from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin

GOOD_DIST = "my-libra-plugin"
BROKEN_DIST = "libra-broken-plugins"
BUILTIN_STRATEGIES = {"freqtrade", "sma_cross"}
BUILTIN_GATEWAYS = {"paper", "ccxt"}


def run(code: str, namespace: dict[str, Any] | None = None, name: str = "seed") -> dict[str, Any]:
    """Execute a seed block as written, in ``namespace``; return the namespace."""
    ns = {"__name__": f"seed_{name}"} if namespace is None else namespace
    exec(compile(code, f"<{name}>", "exec"), ns)
    return ns


def run_statements(code: str, namespace: dict[str, Any], variable: str) -> list[Any]:
    """Execute a block one top-level statement at a time; return ``variable`` after each."""
    seen = []
    for stmt in ast.parse(code).body:
        exec(compile(ast.Module(body=[stmt], type_ignores=[]), "<seed>", "exec"), namespace)
        seen.append(namespace.get(variable))
    return seen


# -- Overview and Architecture ----------------------------------------------------------------


def test_architecture_diagram(seed, plugins):
    diagram = seed.block("Architecture", "")
    groups = {loader.STRATEGY_GROUP, loader.GATEWAY_GROUP}
    assert groups == {"libra.strategies", "libra.gateways"}
    assert all(group in diagram for group in groups)
    # The built-ins the diagram lists are LIBRA's own entry points.
    own = importlib.metadata.distribution("libra-trader").entry_points
    assert {ep.name for ep in own.select(group="libra.strategies")} == BUILTIN_STRATEGIES
    assert {ep.name for ep in own.select(group="libra.gateways")} == BUILTIN_GATEWAYS
    # The discovery functions it shows exist; ``list_strategy_plugins`` also on the kernel.
    for function in ("discover_strategies", "discover_gateways", "list_strategy_plugins"):
        assert callable(getattr(libra.plugins, function))
    assert [m.name for m in TradingKernel(KernelConfig()).list_strategy_plugins()] == sorted(
        libra.plugins.discover_strategies()
    )


def test_architecture_diagram_kernel_methods():
    kernel = TradingKernel(KernelConfig(discover_plugins=False))
    assert set(kernel.discover_strategies()) >= {"freqtrade", "sma_cross"}
    assert set(kernel.discover_gateways()) >= {"paper", "ccxt"}


# -- Quick Start ------------------------------------------------------------------------------


async def test_create_a_strategy_plugin_block(
    seed, plugins, caplog: pytest.LogCaptureFixture
):
    code = seed.block("1. Create a Strategy Plugin", "python")
    # The installed plugin's module is this block, byte for byte.
    installed = importlib.import_module("my_package.strategies")
    assert Path(installed.__file__).read_text() == code

    ns = run(code)
    cls = ns["MyAwesomeStrategy"]
    assert issubclass(cls, StrategyPlugin)
    assert cls.metadata() == PluginMetadata(
        name="my_awesome_strategy", version="1.0.0",
        description="My awesome trading strategy", author="Your Name", requires=(),
    )
    strategy = cls()
    assert strategy.name == "my_awesome_strategy"
    assert strategy.symbols == ["BTC/USDT", "ETH/USDT"]
    caplog.set_level(logging.INFO)
    await strategy.initialize({})
    await strategy.on_data({"symbol": "BTC/USDT", "price": 50000})
    await strategy.shutdown()
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("libra.plugins")]
    assert messages == ["Initializing my_awesome_strategy", "Shutting down my_awesome_strategy"]


def test_register_in_pyproject_block(seed, plugins):
    seed.block("2. Register in pyproject.toml", "toml")
    (ep,) = importlib.metadata.entry_points(group="libra.strategies", name="my_awesome_strategy")
    assert ep.value == "my_package.strategies:MyAwesomeStrategy"
    assert ep.dist is not None
    assert ep.dist.metadata["Name"] == GOOD_DIST


def test_use_the_plugin_block(
    seed, plugins, capsys: pytest.CaptureFixture[str]
):
    ns = run(seed.block("3. Use the Plugin", "python"))
    from my_package.strategies import MyAwesomeStrategy

    assert set(ns["strategies"]) >= BUILTIN_STRATEGIES | {"my_awesome_strategy"}
    assert ns["strategies"]["my_awesome_strategy"] is MyAwesomeStrategy
    assert ns["MyStrategy"] is MyAwesomeStrategy
    assert isinstance(ns["strategy"], MyAwesomeStrategy)
    printed = capsys.readouterr().out
    assert "'freqtrade'" in printed
    assert "'my_awesome_strategy'" in printed


# -- Plugin Types ----------------------------------------------------------------------------


def _table(seed, title: str) -> list[str]:
    """Return the first-column entries of the markdown table after ``**title**``."""
    section = seed.text.split(f"**{title}**", 1)[1].split("\n\n", 2)[1]
    return re.findall(r"^\| `([a-z_]+)", section, flags=re.M)


def test_strategy_required_and_optional_methods(seed):
    required = _table(seed, "Required Methods:")
    optional = _table(seed, "Optional Methods:")
    assert set(required) == set(StrategyPlugin.__abstractmethods__)
    assert set(required) == {"metadata", "name", "symbols", "initialize", "on_data"}
    assert optional == ["on_tick", "on_fill", "backtest", "optimize", "shutdown"]
    for method in optional:
        assert method not in StrategyPlugin.__abstractmethods__
        assert inspect.iscoroutinefunction(getattr(StrategyPlugin, method))


async def test_complete_strategy_block(seed):
    # The block continues the Quick Start module, whose imports it uses.
    ns = run(seed.block("Strategy Plugins", "python"),
             {"__name__": "seed_complete", "PluginMetadata": PluginMetadata,
              "StrategyPlugin": StrategyPlugin})
    cls = ns["CompleteStrategy"]
    meta = cls.metadata()
    assert meta.requires == ("numpy>=1.20", "pandas>=2.0")
    assert meta.author == "LIBRA Team"

    assert cls().symbols == ["BTC/USDT"]
    strategy = cls({"symbols": ["ETH/USDT"]})
    assert strategy.symbols == ["ETH/USDT"]
    bus, cache = MessageBus(), Cache()
    await strategy.initialize({"bus": bus, "cache": cache, "clock": None})
    assert strategy.bus is bus
    assert strategy.cache is cache
    await strategy.on_data({"symbol": "ETH/USDT", "price": 3000})
    await strategy.on_tick({"symbol": "ETH/USDT", "price": 3001})
    await strategy.on_fill({"symbol": "ETH/USDT", "quantity": 2})
    # A LIBRA fill event is read the same way as the dict.
    await strategy.on_fill(Fill(
        client_order_id="c1", venue_order_id="v1", trade_id="t1", strategy_id="s1",
        venue="paper", symbol="BTC/USDT", side=OrderSide.BUY, quantity=Decimal("0.5"),
        price=Decimal("50000"), fee=Decimal("0"), fee_currency="USDT", liquidity="taker",
        ts_event=1, ts_recv=2,
    ))
    assert strategy._positions == {"ETH/USDT": 2, "BTC/USDT": Decimal("0.5")}
    assert await strategy.backtest({}) == {"sharpe": 1.5, "max_dd": 0.15}
    assert await strategy.optimize({}) == {"best_params": {"fast": 10, "slow": 20}}
    await strategy.shutdown()


def test_gateway_registration_block(seed, plugins):
    seed.block("Gateway Plugins", "toml")
    (ep,) = importlib.metadata.entry_points(group="libra.gateways", name="my_exchange")
    assert ep.value == "my_package.gateways:MyExchangeGateway"


async def test_gateway_usage_block(
    seed, plugins, capsys: pytest.CaptureFixture[str]
):
    # ``config`` is the reader's own gateway configuration; the block leaves it to them.
    config = {"api_key": "key", "secret": "secret"}
    ns = run(seed.block("Gateway Plugins", "python"),
             {"__name__": "seed_gateway", "config": config})
    from my_package.gateways import MyExchangeGateway

    assert set(ns["gateways"]) >= BUILTIN_GATEWAYS | {"my_exchange"}
    assert ns["MyGateway"] is MyExchangeGateway
    gateway = ns["gateway"]
    assert isinstance(gateway, GatewayPlugin)
    assert gateway.config is config
    assert gateway.id == "my_exchange"
    await gateway.connect()
    assert gateway.is_connected
    await gateway.disconnect()
    assert not gateway.is_connected
    assert "'my_exchange'" in capsys.readouterr().out


# -- Plugin Metadata --------------------------------------------------------------------------


def test_plugin_metadata_listing_block(seed):
    code = seed.block("Plugin Metadata", "python", 0)
    tree = ast.parse(code)
    run(ast.unparse(tree.body[0]))  # the import line
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    listed = {
        node.target.id: ast.unparse(node.annotation)
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    fields = {f.name: f.type for f in dataclasses.fields(PluginMetadata)}
    assert list(listed) == list(fields)
    # ``requires`` is listed as list[str] but is a tuple, as the next block says.
    assert {k: v for k, v in listed.items() if k != "requires"} == {
        k: v for k, v in fields.items() if k != "requires"
    }
    assert fields["requires"] == "tuple[str, ...]"
    meta = PluginMetadata(name="p", version="1", description="d", author="a", requires=["x"])
    assert meta.requires == ("x",)


def test_creating_metadata_block(seed):
    code = seed.block("Plugin Metadata", "python", 1)
    created, direct = run_statements(code, {"PluginMetadata": PluginMetadata}, "meta")
    assert created == PluginMetadata(
        name="my_plugin", version="1.0.0", description="My awesome plugin",
        author="Your Name <you@example.com>", requires=("numpy>=1.20",),
    )
    assert isinstance(created.requires, tuple)
    assert direct.requires == ()
    assert direct.author == "Your Name"


# -- Kernel Integration -----------------------------------------------------------------------


def test_kernel_integration_block(
    seed, plugins, capsys: pytest.CaptureFixture[str]
):
    with structlog.testing.capture_logs() as logs:
        ns = run(seed.block("Kernel Integration", "python"))
    assert ns["config"] == KernelConfig()  # both flags are the defaults
    assert isinstance(ns["kernel"], TradingKernel)
    plugins_found = ns["plugins"]
    assert set(plugins_found) == {"strategies", "gateways"}
    assert set(plugins_found["strategies"]) >= BUILTIN_STRATEGIES | {"my_awesome_strategy"}
    assert set(plugins_found["gateways"]) >= BUILTIN_GATEWAYS | {"my_exchange"}
    assert set(ns["gateways"]) == set(plugins_found["gateways"])
    assert set(ns["strategies"]) == set(plugins_found["strategies"])
    out = capsys.readouterr().out.splitlines()
    assert "'sma_cross'" in out[0]
    assert "'paper'" in out[1]
    # log_plugins=True: at construction and at the manual discovery.
    discovered = [e for e in logs if e["event"] == "kernel.plugins_discovered"]
    assert len(discovered) == 2
    assert set(discovered[0]["gateways"]) >= BUILTIN_GATEWAYS


def test_kernel_plugin_flags_off():
    with structlog.testing.capture_logs() as logs:
        kernel = TradingKernel(KernelConfig(discover_plugins=False, log_plugins=False))
        plugins = kernel.discover_plugins()
    assert logs == []
    assert set(plugins["gateways"]) >= BUILTIN_GATEWAYS


# -- Publishing Your Plugin -------------------------------------------------------------------


def test_package_structure_block(seed, plugins):
    tree = seed.block("1. Package Structure", "")
    for name in ("pyproject.toml", "src/", "my_plugin/", "__init__.py", "strategy.py"):
        assert name in tree
    module = importlib.import_module("my_plugin.strategy")
    assert module.__file__ == str(plugins.good / "src" / "my_plugin" / "strategy.py")
    assert (plugins.good / "pyproject.toml").is_file()


def test_publishing_pyproject_block(seed, plugins):
    seed.block("2. pyproject.toml", "toml")
    dist = importlib.metadata.distribution(GOOD_DIST)
    assert dist.version == "1.0.0"
    assert dist.metadata["Summary"] == "A custom LIBRA strategy plugin"
    # The seed depends on ``libra``; LIBRA is published as ``libra-trader``.
    assert dist.requires == ["libra-trader>=0.1.0"]
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("libra")  # the seed's name would not resolve
    assert importlib.metadata.version("libra-trader") == libra.__version__
    (ep,) = dist.entry_points.select(group="libra.strategies", name="my_strategy")
    assert ep.value == "my_plugin.strategy:MyStrategy"


def test_install_and_test_block(seed, plugins):
    commands = [
        line for line in seed.block("3. Install and Test", "bash").splitlines()
        if line and not line.startswith("#")
    ]
    assert commands[0] == "pip install -e ."
    # The fixture ran that (as ``pip install --no-build-isolation --no-index -e DIR``).
    direct_url = json.loads(importlib.metadata.distribution(GOOD_DIST).read_text("direct_url.json"))
    assert direct_url["dir_info"] == {"editable": True}
    argv = shlex.split(commands[1])
    assert argv[0] == "python"
    result = subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, timeout=60,
        cwd=plugins.good, check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    for name in (*BUILTIN_STRATEGIES, "my_awesome_strategy", "my_strategy", "survivor"):
        assert f"'{name}'" in printed
    assert "needs_missing_dep" not in printed
    assert "Failed to load plugin needs_missing_dep" in result.stderr


def test_publish_to_pypi_block(seed, plugins, tmp_path):
    """The wheel that ``python -m build`` would upload holds the plugin and its entry points.

    The upload itself (twine) is not LIBRA's behaviour and needs the network; not run.
    """
    assert "python -m build" in seed.block("4. Publish to PyPI", "bash")
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=plugins.good, check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("my_libra_plugin-1.0.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("my_libra_plugin-1.0.0.dist-info/entry_points.txt").decode()
    assert {"my_plugin/strategy.py", "my_package/strategies.py"} <= names
    assert "my_strategy = my_plugin.strategy:MyStrategy" in entry_points


# -- Best Practices ---------------------------------------------------------------------------


def test_handle_dependencies_block(seed):
    ns = run(seed.block("2. Handle Dependencies", "python"), {"PluginMetadata": PluginMetadata})
    holder = type("WithDeps", (), {"metadata": ns["metadata"]})
    meta = holder.metadata()
    assert meta.requires == ("numpy>=1.20", "scipy>=1.7")
    assert meta.author == ""


@pytest.mark.parametrize("numpy_installed", [True, False])
async def test_graceful_degradation_block(
    seed, numpy_installed: bool, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    # ``None`` in sys.modules makes ``import numpy`` raise ImportError.
    fake = types.ModuleType("numpy") if numpy_installed else None
    monkeypatch.setitem(sys.modules, "numpy", fake)
    ns = run(seed.block("3. Graceful Degradation", "python"))
    holder = type("Degrading", (), {"initialize": ns["initialize"], "log": logging.getLogger("x")})
    strategy = holder()
    await strategy.initialize({})
    assert strategy._use_numpy is numpy_installed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ([] if numpy_installed else ["NumPy not available, using fallback"])


async def test_logging_block(seed, caplog: pytest.LogCaptureFixture):
    ns = run(seed.block("4. Logging", "python"),
             {"__name__": "seed_logging", "StrategyPlugin": StrategyPlugin})

    class Concrete(ns["MyStrategy"]):  # the block's class leaves the required methods out
        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="logging_demo", version="1", description="d")

        @property
        def name(self) -> str:
            return "logging_demo"

        @property
        def symbols(self) -> list[str]:
            return []

        async def initialize(self, context: dict) -> None:
            pass

    strategy = Concrete()
    assert strategy.log is logging.getLogger("libra.plugins.logging_demo")
    caplog.set_level(logging.DEBUG, logger="libra.plugins.logging_demo")
    await strategy.on_data({"price": 1})
    (record,) = [r for r in caplog.records if r.name == "libra.plugins.logging_demo"]
    assert (record.levelname, record.getMessage()) == ("DEBUG", "Received data: {'price': 1}")


async def test_testing_block(seed, plugins):
    ns = run(seed.block("5. Testing", "python"))
    await ns["test_strategy_initialization"]()
    await ns["test_strategy_on_data"]()


def test_testing_block_with_pytest(plugins):
    """The plugin's own test file (the seed's block) passes under pytest in the plugin's tree."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_default_fixture_loop_scope=function", "tests/test_my_strategy.py"],
        capture_output=True, text=True, timeout=60, cwd=plugins.good, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# -- API Reference ---------------------------------------------------------------------------


def test_api_reference_block(seed):
    code = seed.block("libra.plugins Module", "python")
    listed = re.findall(r"^(\w+)\((.*)\) -> (.+)$", code, flags=re.M)
    assert [name for name, _, _ in listed] == [
        "discover_strategies", "discover_gateways", "load_strategy", "load_gateway",
        "list_strategy_plugins",
    ]
    for name, params, returns in listed:
        signature = inspect.signature(getattr(libra.plugins, name))
        required = [
            f"{p.name}: {p.annotation}" for p in signature.parameters.values()
            if p.default is inspect.Parameter.empty
        ]
        assert required == ([params] if params else []), name
        assert signature.return_annotation == returns, name


def test_entry_point_groups_table(seed):
    groups = re.findall(r"^\| `(libra\.\w+)` \|", seed.text, flags=re.M)
    assert groups == ["libra.strategies", "libra.gateways"]
    own = importlib.metadata.distribution("libra-trader").entry_points
    registered = {ep.group for ep in own if ep.group.startswith("libra.")}
    assert registered >= set(groups)
    # Any further group is LIBRA's own wiring, documented in the project's guide.
    guide = (Path(__file__).resolve().parents[3] / "docs" / "plugin_development.md").read_text()
    assert all(f"`{group}`" in guide for group in registered - set(groups))


# -- Troubleshooting -------------------------------------------------------------------------


def test_debug_discovery_block(seed, plugins):
    root = logging.getLogger()
    level = root.level
    try:
        ns = run(seed.block("Plugin Not Discovered", "python"))
    finally:
        root.setLevel(level)
    assert set(ns["strategies"]) >= BUILTIN_STRATEGIES | {"my_awesome_strategy", "my_strategy"}


def test_import_errors_log_line(
    seed, plugins, caplog: pytest.LogCaptureFixture
):
    expected = seed.block("Import Errors", "").strip()
    caplog.set_level(logging.WARNING, logger="libra.plugins.loader")
    libra.plugins.discover_strategies(refresh=True)
    formatter = logging.Formatter(logging.BASIC_FORMAT)  # what logging.basicConfig() prints
    lines = [formatter.format(r) for r in caplog.records]
    assert expected.replace("my_strategy", "needs_missing_dep") in lines


def test_version_conflicts_block(seed, plugins):
    assert seed.block("Version Conflicts", "bash").strip() == "pip check"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=60,
        check=False,
    )
    problems = result.stdout.lower()
    for dist in ("libra-trader", GOOD_DIST, BROKEN_DIST):
        assert dist not in problems


# -- Coverage of the guide -------------------------------------------------------------------

CHECKED: dict[tuple[str, str, int], str] = {
    ("Architecture", "", 0): "test_architecture_diagram",
    ("1. Create a Strategy Plugin", "python", 0): "test_create_a_strategy_plugin_block",
    ("2. Register in pyproject.toml", "toml", 0): "test_register_in_pyproject_block",
    ("3. Use the Plugin", "python", 0): "test_use_the_plugin_block",
    ("Strategy Plugins", "python", 0): "test_complete_strategy_block",
    ("Gateway Plugins", "toml", 0): "test_gateway_registration_block",
    ("Gateway Plugins", "python", 0): "test_gateway_usage_block",
    ("Plugin Metadata", "python", 0): "test_plugin_metadata_listing_block",
    ("Plugin Metadata", "python", 1): "test_creating_metadata_block",
    ("Kernel Integration", "python", 0): "test_kernel_integration_block",
    ("1. Package Structure", "", 0): "test_package_structure_block",
    ("2. pyproject.toml", "toml", 0): "test_publishing_pyproject_block",
    ("3. Install and Test", "bash", 0): "test_install_and_test_block",
    ("4. Publish to PyPI", "bash", 0): "test_publish_to_pypi_block",
    ("2. Handle Dependencies", "python", 0): "test_handle_dependencies_block",
    ("3. Graceful Degradation", "python", 0): "test_graceful_degradation_block",
    ("4. Logging", "python", 0): "test_logging_block",
    ("5. Testing", "python", 0): "test_testing_block",
    ("libra.plugins Module", "python", 0): "test_api_reference_block",
    ("Plugin Not Discovered", "python", 0): "test_debug_discovery_block",
    ("Import Errors", "", 0): "test_import_errors_log_line",
    ("Version Conflicts", "bash", 0): "test_version_conflicts_block",
}


def test_every_seed_block_is_checked(seed):
    keys = [block.key for block in seed.blocks]
    assert keys == list(CHECKED), "a block of the seed guide was added, moved or removed"
    for test_name in CHECKED.values():
        assert callable(globals()[test_name])
