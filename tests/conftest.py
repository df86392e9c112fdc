"""Shared test set-up: the test plugins module is importable as ``libra_test_plugins``."""

import logging
import sys
from pathlib import Path

import pytest
import structlog

SUPPORT = Path(__file__).parent / "support"
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
