"""Real market data samples shipped inside the package, named ``bundled:<name>``.

See ``libra/data/samples/NOTICE.md`` for where each sample comes from and its licence.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

BUNDLED_PREFIX = "bundled:"
_SAMPLE_SUFFIX = ".csv.gz"


def _samples_dir() -> Path:
    folder = resources.files("libra.data") / "samples"
    if not isinstance(folder, Path):
        raise RuntimeError("bundled samples need LIBRA installed as files, not inside a zip")
    return folder


def list_bundled() -> list[str]:
    """Return the names of the bundled samples, e.g. ``["BTC_USD-1m", "ETH_BTC-5m"]``."""
    return sorted(
        p.name.removesuffix(_SAMPLE_SUFFIX)
        for p in _samples_dir().iterdir()
        if p.name.endswith(_SAMPLE_SUFFIX)
    )


def resolve_data_path(path: str | os.PathLike[str]) -> Path:
    """Return the file for ``"bundled:<name>"``, or ``path`` itself (with ``~`` expanded).

    Raises:
        ValueError: an unknown bundled name; the message lists the available ones.
    """
    text = os.fspath(path)
    if not text.startswith(BUNDLED_PREFIX):
        return Path(text).expanduser()
    name = text.removeprefix(BUNDLED_PREFIX)
    available = list_bundled()
    if name not in available:
        names = ", ".join(BUNDLED_PREFIX + n for n in available)
        raise ValueError(f"unknown bundled sample {text!r}; available: {names}")
    return _samples_dir() / f"{name}{_SAMPLE_SUFFIX}"
