"""Fixtures for the data loader tests: the real market data files in the shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = (Path(__file__).parents[3] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real market data described in PROVENANCE.md (skips if absent)."""
    if not (SHARED_DATA / "PROVENANCE.md").is_file():
        pytest.skip(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write lines to a CSV file in a temporary folder and return its path."""

    def write(lines: list[str], name: str = "bars.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
