"""Fixtures for the plugin contract tests: the seed guide's code blocks and real plugin packages.

``installed_plugins`` builds two third-party plugin packages in a temp dir and
``pip install -e`` them into the running venv once for this directory (package
scope: this directory has an ``__init__.py``, so they are uninstalled before
any other test directory runs). One package is well-behaved and made from the
seed guide's own code blocks; the other holds broken and clashing plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from libra.plugins import clear_cache

SEED_PATH = Path(__file__).resolve().parents[3].parent / "shared" / "seed" / "plugin_development.md"

GOOD_DIST = "my-libra-plugin"
BROKEN_DIST = "libra-broken-plugins"
PLUGIN_MODULES = ("my_plugin", "my_package", "broken_plugins")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the seed guide, under its nearest heading."""

    heading: str
    lang: str
    index: int  # among the blocks with this heading and language
    code: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.heading, self.lang, self.index)


class SeedGuide:
    """The seed plugin guide split into code blocks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks = _parse_blocks(text)

    def block(self, heading: str, lang: str, index: int = 0) -> str:
        for b in self.blocks:
            if b.key == (heading, lang, index):
                return b.code
        raise LookupError(
            f"the seed guide has no {lang or 'plain'} block #{index} under {heading!r}"
        )


def _parse_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    counts: dict[tuple[str, str], int] = {}
    heading = ""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        title = re.match(r"#{1,6}\s+(.*)", line)
        if title:
            heading = title.group(1).strip()
        elif line.startswith("```"):
            lang = line[3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            index = counts.get((heading, lang), 0)
            counts[(heading, lang)] = index + 1
            blocks.append(Block(heading, lang, index, "".join(lines[i + 1 : end])))
            i = end
        i += 1
    return blocks


@pytest.fixture(scope="session")
def seed() -> SeedGuide:
    if not SEED_PATH.is_file():
        pytest.skip(f"the seed plugin guide is not at {SEED_PATH}; nothing to check against")
    return SeedGuide(SEED_PATH.read_text(encoding="utf-8"))


# -- the plugin packages ----------------------------------------------------------------------

MY_STRATEGY = '''
"""The seed's publishing example: the strategy ``my_plugin.strategy:MyStrategy``."""

from typing import Any

from libra.plugins.base import PluginMetadata, StrategyPlugin


class MyStrategy(StrategyPlugin):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.context: dict[str, Any] | None = None
        self.seen: list[Any] = []

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="my_strategy", version="1.0.0", description="Seed publishing example"
        )

    @property
    def name(self) -> str:
        return "my_strategy"

    @property
    def symbols(self) -> list[str]:
        return ["BTC/USDT"]

    async def initialize(self, context: dict[str, Any]) -> None:
        self.context = context

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
'''

MY_GATEWAY = '''
"""A third-party gateway: accepts every order and never fills it."""

from typing import Any

from libra.model.order_events import OrderAccepted, OrderCanceled
from libra.plugins.base import GatewayPlugin, PluginMetadata


class MyExchangeGateway(GatewayPlugin):
    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="my_exchange", version="1.0.0", description="Test exchange"
        )

    def __init__(self, config: Any = None, *, gateway_id: str | None = None) -> None:
        super().__init__(config, gateway_id=gateway_id)
        self.connected = False

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    async def submit_order(self, order: Any) -> None:
        self.emit_order_event(OrderAccepted(
            client_order_id=order.client_order_id, strategy_id=order.strategy_id,
            venue=self.id, symbol=order.symbol, ts_event=0, venue_order_id="v1",
        ))

    async def cancel_order(self, order: Any) -> None:
        self.emit_order_event(OrderCanceled(
            client_order_id=order.client_order_id, strategy_id=order.strategy_id,
            venue=self.id, symbol=order.symbol, ts_event=0, venue_order_id="v1",
        ))
'''

_STRATEGY_TEMPLATE = '''
class {cls}(StrategyPlugin):
    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="{name}", version="9.9.9", description="{cls}")

    @property
    def name(self) -> str:
        return "{name}"

    @property
    def symbols(self) -> list[str]:
        return ["BTC/USDT"]

    async def initialize(self, context) -> None:
        pass

    async def on_data(self, data) -> None:
        pass
'''

_PLUGIN_IMPORTS = "from libra.plugins.base import PluginMetadata, StrategyPlugin\n"

MY_DUPES = _PLUGIN_IMPORTS + _STRATEGY_TEMPLATE.format(cls="DupeStrategy", name="dupe_strategy")

BROKEN_FILES = {
    "needs_dep.py": "import missing_dep  # noqa: F401\n\n\nclass NeedsDep:\n    pass\n",
    "wrong_base.py": textwrap.dedent('''
        from libra.plugins.base import PluginMetadata


        class NotAStrategy:
            """Looks like a plugin but does not subclass StrategyPlugin."""

            @classmethod
            def metadata(cls):
                return PluginMetadata.create(
                    name="not_a_strategy", version="1", description="x"
                )
        '''),
    "bad_metadata.py": _PLUGIN_IMPORTS + _STRATEGY_TEMPLATE.format(
        cls="BadMetadata", name="bad_metadata"
    ) + textwrap.dedent('''

        def _explode(cls):
            raise RuntimeError("metadata exploded")


        BadMetadata.metadata = classmethod(_explode)
        '''),
    "shadows.py": _PLUGIN_IMPORTS
    + _STRATEGY_TEMPLATE.format(cls="ShadowSmaCross", name="sma_cross")
    + _STRATEGY_TEMPLATE.format(cls="DupeStrategy", name="dupe_strategy")
    + _STRATEGY_TEMPLATE.format(cls="Survivor", name="survivor"),
}


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """Write a TOML document of tables, strings and lists of strings (JSON is valid there)."""
    lines = [f"[{prefix}]"] if prefix else []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in data.items() if k not in tables]
    out = "\n".join(lines) + "\n\n"
    for key, value in tables.items():
        out += _toml(value, f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key))
    return out


def good_pyproject(seed: SeedGuide) -> dict[str, Any]:
    """The seed's publishing pyproject with its registration blocks, as installed.

    Changes from the seed, each needed: the dependency is ``libra-trader`` (LIBRA's
    distribution; ``libra`` on PyPI is another project), and hatchling is told where
    the ``src/`` packages are (it cannot guess them from the project name) and to use a
    plain ``.pth`` for the editable install (so no ``editables`` download is needed).
    """
    project = tomllib.loads(seed.block("2. pyproject.toml", "toml"))
    strategies_block = tomllib.loads(seed.block("2. Register in pyproject.toml", "toml"))
    gateways_block = tomllib.loads(seed.block("Gateway Plugins", "toml"))
    deps = project["project"]["dependencies"]
    project["project"]["dependencies"] = [d.replace("libra>=", "libra-trader>=") for d in deps]
    entry_points = project["project"]["entry-points"]
    entry_points["libra.strategies"].update(strategies_block["project"]["entry-points"]["libra.strategies"])
    entry_points["libra.strategies"]["dupe_strategy"] = "my_package.dupes:DupeStrategy"
    entry_points["libra.gateways"] = gateways_block["project"]["entry-points"]["libra.gateways"]
    project["tool"] = {"hatch": {"build": {"targets": {"wheel": {
        "packages": ["src/my_plugin", "src/my_package"], "dev-mode-dirs": ["src"],
    }}}}}
    return project


def broken_pyproject() -> dict[str, Any]:
    return {
        "project": {
            "name": BROKEN_DIST,
            "version": "0.0.1",
            "dependencies": ["libra-trader"],
            "entry-points": {
                "libra.strategies": {
                    "needs_missing_dep": "broken_plugins.needs_dep:NeedsDep",
                    "not_a_strategy": "broken_plugins.wrong_base:NotAStrategy",
                    "bad_metadata": "broken_plugins.bad_metadata:BadMetadata",
                    "sma_cross": "broken_plugins.shadows:ShadowSmaCross",
                    "dupe_strategy": "broken_plugins.shadows:DupeStrategy",
                    "survivor": "broken_plugins.shadows:Survivor",
                },
                "libra.gateways": {
                    "strategy_as_gateway": "broken_plugins.shadows:Survivor",
                },
            },
        },
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "tool": {"hatch": {"build": {"targets": {"wheel": {
            "packages": ["src/broken_plugins"], "dev-mode-dirs": ["src"],
        }}}}},
    }


def _write_package(root: Path, pyproject: dict[str, Any], files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(_toml(pyproject))
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _installed_paths(dist_name: str) -> list[str]:
    """Return the directories the distribution's installed ``.pth`` file adds to ``sys.path``."""
    dist = importlib.metadata.distribution(dist_name)
    paths: list[str] = []
    for file in dist.files or ():
        if file.name.endswith(".pth"):
            text = Path(str(dist.locate_file(file))).read_text()
            paths += [line.strip() for line in text.splitlines() if line.strip()]
    return paths


def _forget_plugin_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in PLUGIN_MODULES:
            del sys.modules[name]


@dataclass(frozen=True)
class InstalledPlugins:
    good: Path  # the source tree of my-libra-plugin
    broken: Path  # the source tree of libra-broken-plugins


@pytest.fixture(scope="package")
def installed_plugins(
    seed: SeedGuide, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InstalledPlugins]:
    """Install the two plugin packages (editable) for this directory's tests; always uninstall."""
    base = tmp_path_factory.mktemp("plugin_packages")
    good = _write_package(base / "my_libra_plugin", good_pyproject(seed), {
        "src/my_plugin/__init__.py": "",
        "src/my_plugin/strategy.py": MY_STRATEGY,
        "src/my_package/__init__.py": "",
        "src/my_package/strategies.py": seed.block("1. Create a Strategy Plugin", "python"),
        "src/my_package/gateways.py": MY_GATEWAY,
        "src/my_package/dupes.py": MY_DUPES,
        "tests/test_my_strategy.py": seed.block("5. Testing", "python"),
    })
    broken = _write_package(
        base / "libra_broken_plugins",
        broken_pyproject(),
        {"src/broken_plugins/__init__.py": ""}
        | {f"src/broken_plugins/{name}": text for name, text in BROKEN_FILES.items()},
    )
    added: list[str] = []
    try:
        result = _pip(
            "install", "--no-build-isolation", "--no-index", "-e", str(good), "-e", str(broken)
        )
        assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
        importlib.invalidate_caches()
        # The running interpreter read its .pth files at start-up; add the new ones' paths.
        for dist in (GOOD_DIST, BROKEN_DIST):
            for path in _installed_paths(dist):
                if path not in sys.path:
                    sys.path.append(path)
                    added.append(path)
        clear_cache()
        yield InstalledPlugins(good=good, broken=broken)
    finally:
        result = _pip("uninstall", "-y", GOOD_DIST, BROKEN_DIST)
        for path in added:
            sys.path.remove(path)
        _forget_plugin_modules()
        importlib.invalidate_caches()
        clear_cache()
        assert result.returncode == 0, f"pip uninstall failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def plugins(installed_plugins: InstalledPlugins) -> Iterator[InstalledPlugins]:
    """The installed packages, with discovery starting fresh and left fresh for the next test."""
    clear_cache()
    yield installed_plugins
    clear_cache()
