"""One grammar for every ``libra`` command: ``--config FILE``, help text, readable output."""

from __future__ import annotations

import argparse
import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest

from libra.cli import build_parser, main
from libra.cli.ctl import render_status
from libra.core.clock import iso_utc
from libra.persistence import StateStore
from libra.testing import factories

CONFIG = """
[kernel]
name = "k1"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { USDT = "1000" }
data = { source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USDT", speed = 0 }

[[strategies]]
id = "s1"
plugin = "sma_cross"
symbols = ["BTC/USDT"]
params = { fast = 5, slow = 20, quantity = "0.01" }
"""

#: 2023-11-14T22:13:20.123Z
T0 = 1_700_000_000_123_456_789


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "libra.toml"
    path.write_text(CONFIG)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("flag", ["--config", "-c"])
def test_config_check_takes_the_config_option(flag: str, config_file: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "check", flag, str(config_file))

    assert code == 0, err
    assert json.loads(out)["kernel"]["name"] == "k1"


def test_config_check_keeps_the_positional_form(config_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "check", str(config_file))

    assert code == 0
    assert json.loads(out)["kernel"]["name"] == "k1"


@pytest.mark.parametrize("form", ["neither", "both"])
def test_config_check_needs_exactly_one_config(form: str, config_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["config", "check"]
    if form == "both":
        argv += [str(config_file), "--config", str(config_file)]

    code, out, err = run(capsys, *argv)

    assert code == 2
    assert out == ""
    assert "usage: libra config check" in err
    assert "--config FILE" in err.splitlines()[-1]


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_option_and_positional_has_help_text() -> None:
    missing = [f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
               for p in _parsers(build_parser()) for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]

    assert missing == []


def test_every_command_has_help_text() -> None:
    missing = [f"{p.prog} {choice.dest}"
               for p in _parsers(build_parser()) for a in p._actions
               if isinstance(a, argparse._SubParsersAction)
               for choice in a._choices_actions if not choice.help]

    assert missing == []


def test_bare_libra_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)

    assert code == 0
    assert out.startswith("usage: libra")
    assert "config check" in out or "config" in out
    assert err == ""


def test_bare_config_prints_the_config_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config")

    assert code == 0
    assert out.startswith("usage: libra config")
    assert "check" in out
    assert err == ""


def test_ctl_help_shows_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ctl", "--help")

    assert code == 0
    assert "``" not in out
    assert "LIBRA_HTTP_TOKEN" in out


def test_ctl_takes_the_address_from_the_config(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = tmp_path / "libra.toml"
    config.write_text(f'[http]\nenabled = true\nport = {port}\n')

    code, _, err = run(capsys, "ctl", "--config", str(config), "--timeout", "2", "health")

    assert code == 1
    assert f"cannot reach http://127.0.0.1:{port}/healthz" in err


STATUS = {
    "name": "k1", "state": "running", "environment": "paper", "ready": True,
    "trading_state": "active",
    "gateways": {"paper": {"connected": True, "state": "running"}},
    "strategies": {"sma": {"state": "running", "inbox": 0, "events": 1200, "dropped": 0,
                           "errors": 1}},
    "open_orders": 2,
    "orders": {"submitted": 10, "filled": 8},
    "positions": {"sma:BTC/USD": {"quantity": "0.01", "avg_entry_price": "30000",
                                  "realized_pnl": "-1.5", "unrealized_pnl": "2.25",
                                  "fees": "0.30", "currency": "USD"}},
    "pnl": "0.75",
    "pnl_currency": "USD",
    "balances": {"paper": {"USD": "1000000"}},
    "portfolio": {"balances": {"paper": {"USD": "1000000"}}, "positions": [], "pnl": {}},
    "open_order_list": [],
    "streams": {},
    "risk": {"state": "active"},
}


def test_ctl_status_summary_is_short_and_names_what_matters() -> None:
    text = render_status(STATUS)

    lines = text.splitlines()
    assert len(lines) <= 20
    assert lines[0].startswith("kernel k1: running")
    assert "trading: active" in text
    assert "paper: connected" in text
    assert "sma: running, 1200 events, 1 errors" in text
    assert "open orders: 2" in text
    header = next(line for line in lines if "unrealized PnL" in line).split()
    assert header[:3] == ["strategy", "symbol", "quantity"]
    assert next(line for line in lines if "BTC/USD" in line).split() == [
        "sma", "BTC/USD", "0.01", "30000", "-1.5", "2.25", "0.30", "USD"]
    assert "PnL: 0.75 USD" in text
    assert "{" not in text


def test_iso_utc_has_milliseconds_and_z() -> None:
    assert iso_utc(T0) == "2023-11-14T22:13:20.123Z"
    assert iso_utc(None) == "-"


def test_state_text_prints_times_as_iso_utc(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path, durability="block")
    try:
        order = factories.build_order(1, side="buy", quantity="2", price="100",
                                      strategy_id="s1", venue="paper", symbol="BTC/USDT",
                                      ts_init=T0)
        order.submit(T0)
        store.record_order(order)
        fill = factories.build_fill("0.5", "100", order=order, trade_id="T1", fee="0.1",
                                    venue_order_id="V-1", ts_event=T0)
        from libra.model.order_events import apply_event

        assert apply_event(order, fill)
        store.record_event(order, fill)
        store.record_balances("paper", {"USDT": Decimal("950")})
        store.sync()

        code, text, err = run(capsys, "state", "--path", str(path))
        json_code, raw, _ = run(capsys, "state", "--path", str(path), "--json")
    finally:
        store.close()

    assert (code, json_code) == (0, 0), err
    assert "2023-11-14T22:13:20.123Z" in text
    assert str(T0) not in text
    data = json.loads(raw)
    assert data["fills"][0]["ts_event"] == T0
    assert data["last_fill_ns"] == {"paper": T0}
