"""Merging streams and generating synthetic bars."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from libra.data import merge_streams, synthetic_bars
from libra.model.events import Trade, timeframe_to_ns


def trade(ts: int, tag: str) -> Trade:
    return Trade("v", "X", Decimal(1), Decimal(1), "buy", tag, ts, ts)


def test_equal_times_keep_argument_order_then_stream_order() -> None:
    a = [trade(1, "a1"), trade(2, "a2"), trade(2, "a3")]
    b = [trade(0, "b0"), trade(2, "b2")]
    c = [trade(2, "c2")]
    expected = ["b0", "a1", "a2", "a3", "b2", "c2"]
    assert [t.trade_id for t in merge_streams(a, b, c)] == expected
    lazy = merge_streams(iter(a), (t for t in b), iter(c))
    assert [t.trade_id for t in lazy] == expected


def test_merge_of_real_symbols_is_time_ordered() -> None:
    btc = synthetic_bars(300, "BTC/USD", "1m")
    eth = synthetic_bars(60, "ETH/BTC", "5m")
    merged = list(merge_streams(btc, eth))
    assert len(merged) == 360
    assert [b.ts_event for b in merged] == sorted(b.ts_event for b in merged)
    # At a shared close time the first argument's bar comes first.
    five = timeframe_to_ns("5m")
    at_first_close = [b.symbol for b in merged if b.ts_event == merged[0].ts_open + five]
    assert at_first_close == ["BTC/USD", "ETH/BTC"]


sorted_lists = st.lists(st.integers(0, 50), max_size=30).map(sorted)


@given(st.lists(sorted_lists, max_size=5))
def test_merge_is_a_sorted_permutation(stamps: list[list[int]]) -> None:
    streams = [[trade(ts, f"{s}:{i}") for i, ts in enumerate(row)] for s, row in enumerate(stamps)]
    merged = list(merge_streams(*streams))
    assert [t.ts_event for t in merged] == sorted(t.ts_event for t in merged)
    assert Counter(t.trade_id for t in merged) == Counter(
        t.trade_id for stream in streams for t in stream
    )
    assert list(merge_streams(*(iter(s) for s in streams))) == merged


def test_synthetic_bars_are_deterministic_per_seed() -> None:
    assert synthetic_bars(1_000, "X", seed=7) == synthetic_bars(1_000, "X", seed=7)
    assert synthetic_bars(1_000, "X", seed=7) != synthetic_bars(1_000, "X", seed=8)
    assert synthetic_bars(0, "X") == []


def test_synthetic_bars_are_valid_ohlc() -> None:
    bars = synthetic_bars(20_000, "X", "5m", seed=3, start_price="2500.5")
    step = timeframe_to_ns("5m")
    assert bars[0].open == Decimal("2500.5")
    assert bars[0].timeframe == "5m"
    for previous, bar in pairwise(bars):
        assert bar.ts_event - previous.ts_event == step
        assert bar.open == previous.close
    for bar in bars:
        assert bar.high >= max(bar.open, bar.close)
        assert bar.low <= min(bar.open, bar.close)
        assert bar.low > 0
        assert bar.volume > 0
        assert bar.ts_recv == bar.ts_event


def test_synthetic_small_start_price_keeps_resolution() -> None:
    bars = synthetic_bars(5_000, "X", seed=1, start_price="1")
    assert all(b.low > 0 for b in bars)
    assert len({b.close for b in bars}) > 100
