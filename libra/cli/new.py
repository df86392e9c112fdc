"""``libra new strategy NAME``: write a ready strategy plugin package to start from.

The package holds a pyproject with the ``libra.strategies`` entry point, a strategy with
an options model that refuses unknown keys, a test, and a backtest and a paper config on
the sample data shipped with LIBRA. The command prints the commands that install it and
backtest it; they work offline once hatchling is installed.
"""

from __future__ import annotations

import argparse
import keyword
import shlex
from pathlib import Path
from typing import Any

from libra.cli import strategy_template as template
from libra.cli._runtime import EXIT_CONFIG, EXIT_OK, fail


def register(sub: Any) -> None:
    """Add the ``new`` command group to the ``libra`` parser."""
    new = sub.add_parser("new", help="create a plugin package from a template")
    kinds = new.add_subparsers(dest="kind", metavar="KIND", required=True)
    strategy = kinds.add_parser("strategy", help="a strategy plugin package")
    strategy.add_argument("name", metavar="NAME",
                          help="package and plugin name: a lowercase Python identifier")
    strategy.add_argument("--dir", default=".", metavar="DIR",
                          help="where to create the NAME directory (default: here)")
    strategy.set_defaults(func=cmd_new_strategy)


def check_name(name: str) -> str | None:
    """Return why ``name`` cannot name a strategy package, or None when it can."""
    if not name.isidentifier() or not name.isascii():
        return (f"invalid strategy name, was {name!r}; use a Python identifier such as "
                "my_breakout (letters, digits and underscores, not starting with a digit)")
    if keyword.iskeyword(name):
        return f"invalid strategy name, was {name!r}: a Python keyword"
    if name != name.lower():
        return f"invalid strategy name, was {name!r}; use lowercase (e.g. {name.lower()!r})"
    if name in ("libra", "test", "tests"):
        return f"invalid strategy name, was {name!r}: it would shadow another package"
    return None


def write_package(name: str, parent: Path) -> Path:
    """Write the package ``parent/name``; return its directory.

    Raises:
        FileExistsError: ``parent/name`` already exists (nothing is overwritten).
    """
    root = parent / name
    root.mkdir(parents=True, exist_ok=False)
    cls = "".join(part.capitalize() for part in name.split("_") if part) or "Strategy"
    values = {"name": name, "dist": name.replace("_", "-"), "cls": cls}
    files = {
        "pyproject.toml": template.PYPROJECT,
        "README.md": template.README,
        f"src/{name}/__init__.py": template.INIT,
        f"src/{name}/strategy.py": template.STRATEGY,
        f"src/{name}/py.typed": "",
        "tests/test_strategy.py": template.TEST,
        "configs/backtest.toml": template.BACKTEST_CONFIG,
        "configs/paper.toml": template.PAPER_CONFIG,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values, config_path=relative), encoding="utf-8")
    return root


def next_steps(root: Path) -> list[str]:
    """Return the shell commands that install the package and backtest it."""
    where = shlex.quote(str(root))
    return [
        f"python -m pip install --no-build-isolation -e {where}",
        f"python -m libra backtest --config {shlex.quote(str(root / 'configs/backtest.toml'))}"
        f" --report {shlex.quote(str(root / 'reports/backtest.html'))}",
    ]


def cmd_new_strategy(args: argparse.Namespace) -> int:
    problem = check_name(args.name)
    if problem is not None:
        return fail(problem, EXIT_CONFIG)
    target = Path(args.dir) / args.name
    if target.exists():
        return fail(f"{target} already exists; choose another name or --dir "
                    "(nothing was written)", EXIT_CONFIG)
    try:
        root = write_package(args.name, Path(args.dir))
    except OSError as exc:
        return fail(f"cannot write {target}: {exc}", EXIT_CONFIG)
    print(f"Created the strategy plugin {args.name!r} in {root}")
    print("Install it (with hatchling installed: pip install hatchling) and backtest it:")
    for command in next_steps(root):
        print(f"  {command}")
    print(f"Then run its tests (python -m pytest {shlex.quote(str(root / 'tests'))}) and "
          f"paper-trade it (python -m libra run --config "
          f"{shlex.quote(str(root / 'configs/paper.toml'))}).")
    return EXIT_OK
