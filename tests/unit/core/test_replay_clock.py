"""ReplayClock: the time of a replay is the time of its latest event, and only moves on."""

from __future__ import annotations

from libra.core.clock import Clock, ReplayClock, TimeEvent

MINUTE = 60_000_000_000
T0 = 1_640_995_260 * 1_000_000_000  # 2021-12-31 23:01 UTC


def test_time_is_the_latest_replayed_event_and_never_goes_back() -> None:
    clock: Clock = ReplayClock()
    assert isinstance(clock, ReplayClock)
    clock.advance_to(T0)
    clock.advance_to(T0 + MINUTE)
    clock.advance_to(T0)  # a second replay behind the first one

    assert clock.timestamp_ns() == T0 + MINUTE


def test_timers_fire_in_the_data_time_as_in_a_backtest() -> None:
    clock = ReplayClock()
    clock.advance_to(T0)
    fired: list[TimeEvent] = []
    clock.set_timer("every-5m", 5 * MINUTE, fired.append)

    clock.advance_to(T0 + 12 * MINUTE)

    assert [e.ts_event for e in fired] == [T0 + 5 * MINUTE, T0 + 10 * MINUTE]
    assert clock.timestamp_ns() == T0 + 12 * MINUTE
