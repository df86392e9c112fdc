"""Shared test set-up: the test plugins module is importable as ``libra_test_plugins``."""

import contextlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

SUPPORT = Path(__file__).parent / "support"
ENSURE_CHROMIUM = Path(__file__).parents[1] / "scripts" / "ensure-chromium.sh"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


@pytest.fixture(autouse=True)
def _reset_logging():
    """Undo a test's ``configure_logging`` so no later line goes to a closed capture."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Return the path of a headless-capable chromium, installing it once if we may."""
    path = shutil.which("chromium")
    if path is None and ENSURE_CHROMIUM.exists():
        # The script is best effort (root + apt-get only) and bounds itself to 600 s.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["/bin/sh", str(ENSURE_CHROMIUM)], check=False, timeout=660)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium not on PATH and scripts/ensure-chromium.sh could not install it")
    return path
