"""``sma_cross``'s running averages against a plain recomputation of each window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from libra.strategies.sma_cross import _Averages


def crosses(closes: list[float], fast: int, slow: int) -> list[int]:
    """Recompute both averages from scratch at every close; +1/-1 where fast crosses slow."""
    out, above = [], None
    for i in range(len(closes)):
        if i + 1 < slow:
            out.append(0)
            continue
        now = sum(closes[i + 1 - fast:i + 1]) / fast > sum(closes[i + 1 - slow:i + 1]) / slow
        out.append(0 if above is None or above == now else (1 if now else -1))
        above = now
    return out


@settings(max_examples=300, deadline=None)
@given(
    windows=st.tuples(st.integers(1, 12), st.integers(1, 20)).map(lambda w: (w[0], w[0] + w[1])),
    # Whole-number closes keep every sum exact, so both ways see the same averages.
    closes=st.lists(st.integers(1, 10_000).map(float), max_size=200),
)
def test_running_sums_give_the_crosses_of_the_recomputed_averages(
    windows: tuple[int, int], closes: list[float]
) -> None:
    fast, slow = windows
    averages = _Averages(fast, slow)
    assert [averages.update(c) for c in closes] == crosses(closes, fast, slow)


def test_no_signal_until_the_slow_window_is_full_and_none_on_the_first_comparison() -> None:
    averages = _Averages(2, 4)
    # Rising closes: fast above slow from the first full window, but that is no cross.
    assert [averages.update(c) for c in (1.0, 2.0, 3.0, 4.0, 5.0)] == [0, 0, 0, 0, 0]
    # A fall drags the fast average below the slow one: a cross down, then nothing more.
    assert [averages.update(c) for c in (1.0, 1.0, 1.0)] == [-1, 0, 0]
    assert [averages.update(c) for c in (9.0, 9.0)] == [1, 0]
