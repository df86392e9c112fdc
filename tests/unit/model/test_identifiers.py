import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libra.model.identifiers import ClientOrderIdGenerator, client_order_id_prefix

BINANCE_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def test_ids_are_sequential_and_deterministic() -> None:
    generator = ClientOrderIdGenerator("sma-btc")
    assert [generator.next() for _ in range(3)] == ["sma-btc-1", "sma-btc-2", "sma-btc-3"]
    assert generator.count == 3
    again = ClientOrderIdGenerator("sma-btc")
    assert again.next() == "sma-btc-1"


def test_count_restores_after_restart() -> None:
    first = ClientOrderIdGenerator("sma")
    issued = {first.next() for _ in range(5)}
    restored = ClientOrderIdGenerator("sma", start=first.count)
    assert restored.next() not in issued
    assert restored.count == 6


@given(strategy_id=st.text(min_size=1, max_size=80), count=st.integers(0, 10**14))
def test_ids_are_valid_for_venues(strategy_id: str, count: int) -> None:
    generator = ClientOrderIdGenerator(strategy_id, start=count)
    assert BINANCE_ID.match(generator.next())
    assert len(generator.prefix) <= 20


@given(ids=st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=6, unique=True))
def test_ids_are_unique_across_strategies(ids: list[str]) -> None:
    issued = [g.next() for g in (ClientOrderIdGenerator(sid) for sid in ids) for _ in range(3)]
    assert len(set(issued)) == len(issued)


def test_long_ids_with_same_start_get_distinct_prefixes() -> None:
    a = client_order_id_prefix("mean-reversion-btc-usdt-fast")
    b = client_order_id_prefix("mean-reversion-btc-usdt-slow")
    assert a != b
    assert len(a) == 20
    assert a.startswith("mean-reversio.")


def test_invalid_characters_are_replaced() -> None:
    prefix = client_order_id_prefix("my strategy #1")
    assert prefix.startswith("my_strategy__")
    assert BINANCE_ID.match(prefix)


def test_short_valid_id_is_kept() -> None:
    assert client_order_id_prefix("Grid:BTC/USDT_v2.1") == "Grid:BTC/USDT_v2.1"


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="strategy_id"):
        ClientOrderIdGenerator("")
    with pytest.raises(ValueError, match="start"):
        ClientOrderIdGenerator("sma", start=-1)


def test_sequence_exhaustion() -> None:
    generator = ClientOrderIdGenerator("s" * 20, start=10**15 - 1)
    with pytest.raises(OverflowError):
        generator.next()
