"""``libra state``: read-only, usable while the daemon holds the file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from persistence_support import T0, apply_and_record, build_fill, build_order

from libra.cli import main
from libra.persistence import StateStore, VenueAccountRecord, VenueOrderRecord

Open = Callable[..., StateStore]


@pytest.fixture
def held_store(open_store: Open) -> StateStore:
    """A store still open (as a running daemon holds it) with one partly filled order."""
    store = open_store(durability="block")
    order = build_order(1)
    order.submit(T0)
    store.record_order(order)
    apply_and_record(store, order, build_fill(order, "T1", "0.5", "100"))
    store.record_balances("paper", {"USDT": Decimal("950")})
    store.sync()
    return store


def test_state_json_while_the_store_is_open(held_store: StateStore, state_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    code = main(["state", "--path", str(state_path), "--json"])

    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(o["client_order_id"], o["status"], o["filled_quantity"])
            for o in data["orders"]] == [("s1-1", "partially_filled", "0.5")]
    assert [f["trade_id"] for f in data["fills"]] == ["T1"]
    assert [(p["symbol"], p["quantity"]) for p in data["positions"]] == [("BTC/USDT", "0.5")]
    assert data["balances"] == {"paper": {"USDT": "950"}}
    assert data["id_counters"] == {"s1": 1}


def test_state_text_section(held_store: StateStore, state_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    code = main(["state", "--path", str(state_path), "fills"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("fills (1):")
    assert "T1" in out
    assert "orders" not in out


def test_venue_section_shows_the_paper_venue(open_store: Open, state_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(durability="block")
    store.record_venue_changes("paper", [VenueOrderRecord(
        client_order_id="s1-1", venue_order_id="P-1", strategy_id="s1", symbol="BTC/USDT",
        side="buy", type="limit", quantity=Decimal(2), price=Decimal(95), trigger_price=None,
        time_in_force="gtc", post_only=False, filled=Decimal(0), reserved=Decimal("190.19"),
        triggered=True, activate_at=0, status="open")], [], VenueAccountRecord(
        {"USDT": Decimal(1000)}, {"USDT": Decimal("190.19")}, order_seq=1, trade_seq=0))
    store.record_venue_market("paper", "BTC/USDT", Decimal(99), Decimal(100), None, False,
                              T0)
    store.sync()
    capsys.readouterr()

    assert main(["state", "--path", str(state_path), "venues", "--json"]) == 0
    venue = json.loads(capsys.readouterr().out)["venues"]["paper"]
    assert main(["state", "--path", str(state_path), "venues"]) == 0
    text = capsys.readouterr().out

    assert venue["balances"] == {"USDT": "1000"}
    assert venue["reserved"] == {"USDT": "190.19"}
    assert [o["client_order_id"] for o in venue["open_orders"]] == ["s1-1"]
    assert (venue["order_seq"], venue["trade_seq"], venue["replay_ts"]) == (1, 0, T0)
    assert text.startswith("venue paper (its own state): 1 orders, 0 fills")
    assert "P-1" in text


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["state", "--path", str(tmp_path / "none.db")])

    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_corrupt_file_exits_2_and_is_untouched(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    content = os.urandom(4096)
    path.write_bytes(content)

    code = main(["state", "--path", str(path), "orders"])

    assert code == 2
    assert "not an SQLite database" in capsys.readouterr().err
    assert path.read_bytes() == content
