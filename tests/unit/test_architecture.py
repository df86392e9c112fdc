"""The architecture, checked: layers import one way, no import cycle, no giant class.

``lint-imports`` (run by ``make test`` and ``make lint``) enforces the layers contract in
``pyproject.toml``. These tests add what it does not see: cycles between modules of one
package, counting imports inside functions and under ``TYPE_CHECKING``, and the size of
classes. They read the source with ``ast`` and import nothing.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "libra"
MAX_CLASS_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Yield every libra module ``module`` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                     else source for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules) if name.startswith("libra") else None
            if target is not None and target != module:
                yield target


def import_graph() -> dict[str, set[str]]:
    """Return ``module -> the libra modules it imports`` over the whole package."""
    modules = _modules()
    return {m: set(_imported(m, p, modules)) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others():
    assert cycles(import_graph()) == []


def test_the_cycle_scan_sees_imports_inside_functions_and_type_checking(tmp_path):
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert cycles(graph) == [["a", "b"]]
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from libra.core import bus\n"
              "def f():\n    from libra.model import orders\n")
    tree_modules = {"libra.x": Path("x.py"), "libra.core.bus": Path(), "libra.model.orders": Path()}
    probe = tmp_path / "x.py"
    probe.write_text(source)
    assert set(_imported("libra.x", probe, tree_modules)) == {
        "libra.core.bus", "libra.model.orders"}


def test_no_class_is_longer_than_the_limit():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert long == []


def test_every_top_level_package_is_in_the_layers_contract():
    import tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"][0]["layers"]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    packages = {f"libra.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == named


@pytest.mark.slow
def test_lint_imports_keeps_the_layers_contract():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_plugin_api_callbacks_and_gateway_methods_are_typed_without_any():
    import inspect
    import typing

    from libra.plugins.base import GatewayPlugin, StrategyPlugin

    untyped = []
    for cls in (StrategyPlugin, GatewayPlugin):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            hints = typing.get_type_hints(member)
            for argument, hint in hints.items():
                if hint is typing.Any or "typing.Any" in repr(hint):
                    untyped.append(f"{cls.__name__}.{name}({argument})")
    assert untyped == []
