"""Load the recorded Binance spot data shipped with the local exchange.

The files live in ``libra/testing/exchange/data/`` (see the ``NOTICE`` file there for
their origin and licences). Every loader returns fresh objects, so callers may
mutate what they get.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "DepthSnapshot",
    "MarketData",
    "RecordedFrame",
    "load_market_data",
]

_PACKAGE = "libra.testing.exchange"


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One websocket frame received from Binance, with its offset in the recording.

    Attributes:
        offset: seconds since the first frame of the recording.
        stream: the Binance stream name, e.g. ``"nknusdt@depth@100ms"``.
        payload: the bare event, unwrapped from the combined-stream envelope.
    """

    offset: float
    stream: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A recorded ``GET /api/v3/depth`` body for one symbol."""

    symbol: str
    last_update_id: int
    bids: list[list[str]]
    asks: list[list[str]]


@dataclass(frozen=True, slots=True)
class MarketData:
    """Everything the local exchange replays: markets, book snapshots, stream frames."""

    exchange_info: dict[str, Any]
    snapshots: dict[str, DepthSnapshot]
    frames: tuple[RecordedFrame, ...]
    templates: dict[str, dict[str, Any]]

    def template(self, name: str) -> dict[str, Any]:
        """Return a deep copy of the payload template called ``name``."""
        return copy.deepcopy(self.templates[name])


def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")


def _load_frames() -> tuple[RecordedFrame, ...]:
    rows = [json.loads(line) for line in _read_text("binance_spot_ws_frames.jsonl").splitlines()]
    start = rows[0][0]
    return tuple(
        RecordedFrame(offset=ts - start, stream=stream, payload=data) for ts, stream, data in rows
    )


def _load_snapshots() -> dict[str, DepthSnapshot]:
    raw = json.loads(_read_text("binance_spot_depth_snapshots.json"))
    return {
        symbol: DepthSnapshot(
            symbol=symbol,
            last_update_id=int(entry["body"]["lastUpdateId"]),
            bids=entry["body"]["bids"],
            asks=entry["body"]["asks"],
        )
        for symbol, entry in raw.items()
    }


def load_market_data() -> MarketData:
    """Load the shipped exchangeInfo, depth snapshots, frames and payload templates."""
    templates = json.loads(_read_text("binance_spot_payload_templates.json"))
    return MarketData(
        exchange_info=json.loads(_read_text("binance_spot_exchange_info.json")),
        snapshots=_load_snapshots(),
        frames=_load_frames(),
        templates={name: entry["payload"] for name, entry in templates.items()},
    )
