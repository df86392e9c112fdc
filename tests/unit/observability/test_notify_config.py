"""The ``[notify]`` section: defaults that change nothing, and URLs that never show."""

from __future__ import annotations

import subprocess
import sys

import pytest

from libra.core.config import KernelConfig, redact, validate_config
from libra.core.errors import ConfigError
from libra.core.redaction import REDACTED, scrub
from libra.observability.notify import notify_services

TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_without_targets_no_service_runs_and_apprise_is_not_imported():
    assert KernelConfig().notify.targets == []
    assert notify_services(KernelConfig()) == []
    probe = ("import sys; from libra.core.config import KernelConfig; "
             "from libra.observability.notify import notify_services; "
             "assert notify_services(KernelConfig()) == []; print('apprise' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_a_backtest_notifies_no_one():
    config = validate_config({"environment": "backtest", "notify": {
        "targets": [{"name": "desk", "url": "json://127.0.0.1:9/x"}]}})
    assert notify_services(config) == []
    assert len(notify_services(config.model_copy(update={"environment": "paper"}))) == 1


def test_a_bot_token_in_the_url_is_scrubbed_from_every_output():
    config = validate_config({"notify": {"targets": [
        {"name": "desk", "url": f"tgram://{TELEGRAM_TOKEN}/-100123456"}]}})
    token = TELEGRAM_TOKEN.split(":")[1]
    assert token not in scrub(f"POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage")
    assert redact(config)["notify"]["targets"][0]["url"] == REDACTED


def test_targets_need_distinct_names_and_events_listed_once():
    with pytest.raises(ConfigError, match=r"duplicate id 'desk' in notify\.targets"):
        validate_config({"notify": {"targets": [{"name": "desk", "url": "json://a/x"},
                                                {"name": "desk", "url": "json://b/x"}]}})
    with pytest.raises(ConfigError, match=r"field notify.targets\[0\].events: .*listed twice"):
        validate_config({"notify": {"targets": [
            {"name": "desk", "url": "json://a/x", "events": ["fill", "fill"]}]}})
