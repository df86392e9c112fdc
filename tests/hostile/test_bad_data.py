"""The hostile market data corpus: every bad file is a counted, named rejection or exit 2.

One table, one row per bad file: its content and what must happen. ``Rejected`` files
load with the bad rows left out, counted (``Loaded.skipped``) and named (row, field,
reason), and every good row kept; ``Refused`` files stop ``libra config check`` with
exit 2, naming the config file, the field and the data file. No file changes a result
silently.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from libra.cli import main
from libra.data import load_bars, load_quotes, load_trades

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD_ROWS = [f"2022-01-01 00:{m:02d}:00,100,101,99,100,5\n" for m in range(50)]


def bars(bad: str, at: int = 25) -> str:
    """A 50-row file of good bars with ``bad`` inserted at row ``at``."""
    return HEADER + "".join(GOOD_ROWS[:at]) + bad + "".join(GOOD_ROWS[at:])


def epoch_bars(bad: str) -> str:
    rows = [f"{1_640_995_200_000 + m * 60_000},100,101,99,100,5\n" for m in range(50)]
    return "".join(rows[:25]) + bad + "".join(rows[25:])


TRADES_HEADER = "timestamp,trade_id,price,quantity,side\n"
TRADES = [f"2022-01-01 00:00:{s:02d},{s},100,1,buy\n" for s in range(50)]
QUOTES_HEADER = "timestamp,bid,ask,bid_size,ask_size\n"
QUOTES = [f"2022-01-01 00:00:{s:02d},99,101,1,1\n" for s in range(50)]


@dataclass(frozen=True)
class Rejected:
    field: str
    count: int = 1
    kept: int = 50


@dataclass(frozen=True)
class Refused:
    words: str


@dataclass(frozen=True)
class BadData:
    id: str
    content: str | bytes
    outcome: Rejected | Refused
    kind: str = "bars"
    name: str = "data.csv"


CORPUS: list[BadData] = [
    # -- one bad row among good ones: left out, counted, named --------------------------------
    BadData("nan-open", bars("2022-01-01 01:00:00,NaN,101,99,100,5\n"), Rejected("open")),
    BadData("infinite-high", bars("2022-01-01 01:00:00,100,inf,99,100,5\n"), Rejected("high")),
    BadData("negative-low", bars("2022-01-01 01:00:00,100,101,-99,100,5\n"), Rejected("low")),
    BadData("zero-close", bars("2022-01-01 01:00:00,100,101,99,0,5\n"), Rejected("close")),
    BadData("high-below-low", bars("2022-01-01 01:00:00,100,98,99,100,5\n"), Rejected("high")),
    BadData("open-above-high", bars("2022-01-01 01:00:00,102,101,99,100,5\n"), Rejected("open")),
    BadData("close-below-low", bars("2022-01-01 01:00:00,100,101,99,98,5\n"), Rejected("close")),
    BadData("negative-volume", bars("2022-01-01 01:00:00,100,101,99,100,-5\n"),
            Rejected("volume")),
    BadData("empty-volume", bars("2022-01-01 01:00:00,100,101,99,100,\n"), Rejected("volume")),
    BadData("text-price", bars("2022-01-01 01:00:00,abc,101,99,100,5\n"), Rejected("open")),
    BadData("too-few-columns", bars("2022-01-01 01:00:00,100,101\n"), Rejected("row")),
    BadData("garbage-timestamp", bars("yesterday,100,101,99,100,5\n"), Rejected("timestamp")),
    BadData("duplicate-time", bars(GOOD_ROWS[3]), Rejected("timestamp")),
    BadData("row-dated-1970", bars("1970-01-05 00:00:00,100,101,99,100,5\n", at=0),
            Rejected("timestamp")),
    BadData("row-dated-2200", bars("2200-01-05 00:00:00,100,101,99,100,5\n", at=50),
            Rejected("timestamp")),
    BadData("row-dated-9999", bars("9999-12-31 00:00:00,100,101,99,100,5\n"),
            Rejected("timestamp")),
    BadData("row-before-epoch", bars("1960-01-01 00:00:00,100,101,99,100,5\n"),
            Rejected("timestamp")),
    BadData("two-rows-from-2030", bars("2030-01-01 00:00:00,100,101,99,100,5\n"
                                       "2030-01-01 00:01:00,100,101,99,100,5\n"),
            Rejected("timestamp", 2)),
    BadData("epoch-seconds-among-ms", epoch_bars("1640998800,100,101,99,100,5\n"),
            Rejected("timestamp")),
    BadData("json-null-price", json.dumps(
        [[1_640_995_200_000 + m * 60_000, 100, 101, 99, None if m == 7 else 100, 5]
         for m in range(50)]), Rejected("close", kept=49), name="data.json"),
    BadData("json-nan-price", "[" + ",".join(
        f"[{1_640_995_200_000 + m * 60_000}, {'NaN' if m == 9 else 100}, 101, 99, 100, 5]"
        for m in range(50)) + "]", Rejected("open", kept=49), name="data.json"),
    BadData("json-row-dated-2200", json.dumps(
        [[7_258_118_400_000 if m == 49 else 1_640_995_200_000 + m * 60_000, 100, 101, 99, 100,
          5] for m in range(50)]), Rejected("timestamp", kept=49), name="data.json"),
    BadData("gzip-bad-row", gzip.compress(bars("2022-01-01 01:00:00,NaN,1,1,1,1\n").encode()),
            Rejected("open"), name="data.csv.gz"),
    BadData("trade-negative-size", TRADES_HEADER + "".join(TRADES)
            + "2022-01-01 00:01:00,99,100,-1,buy\n", Rejected("size"), kind="trades"),
    BadData("trade-dated-2200", TRADES_HEADER + "".join(TRADES)
            + "2200-01-01 00:01:00,99,100,1,buy\n", Rejected("timestamp"), kind="trades"),
    BadData("trade-dated-1970", TRADES_HEADER + "1970-01-02 00:00:00,98,100,1,buy\n"
            + "".join(TRADES), Rejected("timestamp"), kind="trades"),
    BadData("quote-bid-above-ask", QUOTES_HEADER + "".join(QUOTES)
            + "2022-01-01 00:01:00,102,101,1,1\n", Rejected("bid"), kind="quotes"),
    BadData("quote-dated-9999", QUOTES_HEADER + "".join(QUOTES)
            + "9999-01-01 00:01:00,99,101,1,1\n", Rejected("timestamp"), kind="quotes"),
    # -- nothing usable, or not a data file at all: refused before anything starts ------------
    BadData("header-only", HEADER, Refused("no usable rows")),
    BadData("all-rows-rejected", HEADER + "".join(r.replace(",100,5", ",NaN,5")
                                                  for r in GOOD_ROWS),
            Refused("50 rows rejected")),
    BadData("all-rows-far-in-the-future", HEADER + "".join(
        r.replace("2022", "2400") for r in GOOD_ROWS), Refused("no usable rows")),
    BadData("empty-file", "", Refused("gateways[0].data.path")),
    BadData("binary-garbage", bytes(range(256)) * 8, Refused("not UTF-8")),
    BadData("latin-1-text", (HEADER + "2022-01-01 00:00:00,100,101,99,100,5 \xe9\n")
            .encode("latin-1"), Refused("not UTF-8")),
    BadData("unknown-header", "when,price,amount\n" + "2022-01-01,1,2\n" * 5,
            Refused("gateways[0].data.path")),
    BadData("headerless-three-columns", "1640995200,100,5\n" * 5,
            Refused("cannot read bars from a headerless csv file with 3 columns")),
    BadData("json-object", '{"open": 1}', Refused("expected a JSON array"), name="data.json"),
    BadData("json-truncated", "[[1640995200000, 1, 1, 1", Refused("invalid JSON"),
            name="data.json"),
    BadData("single-row", HEADER + GOOD_ROWS[0], Refused("pass timeframe=")),
    BadData("truncated-gzip", gzip.compress(bars("").encode())[:40], Refused("data.path"),
            name="data.csv.gz"),
    BadData("parquet-magic-only", b"PAR1" + b"\x00" * 64, Refused("data.path"),
            name="data.parquet"),
]

CONFIG = """
[[gateways]]
id = "paper"
plugin = "paper"
data = {{ source = "replay", path = "{path}", symbol = "BTC/USD", kind = "{kind}" }}

[[strategies]]
id = "s1"
plugin = "sma_cross"
symbols = ["BTC/USD"]
params = {{ fast = 5, slow = 20 }}
"""
LOADERS = {"bars": load_bars, "trades": load_trades, "quotes": load_quotes}


def write(tmp_path: Path, case: BadData) -> Path:
    path = tmp_path / case.name
    content = case.content
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_the_corpus_is_large_and_unique() -> None:
    assert len(CORPUS) >= 30
    assert len({case.id for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", [c for c in CORPUS if isinstance(c.outcome, Rejected)],
                         ids=lambda c: c.id)
def test_bad_rows_are_counted_and_named(case: BadData, tmp_path: Path) -> None:
    assert isinstance(case.outcome, Rejected)
    loaded = LOADERS[case.kind](write(tmp_path, case), symbol="BTC/USD")
    assert loaded.skipped == case.outcome.count
    assert len(loaded) == case.outcome.kept  # every good row kept
    assert [r.field for r in loaded.rejections] == [case.outcome.field] * case.outcome.count
    assert all(r.row > 0 and r.reason for r in loaded.rejections)
    stamps = [event.ts_event for event in loaded]
    # What is kept spans the good rows only: no stray date stretches the period.
    assert max(stamps) - min(stamps) < 2 * 3_600 * 10**9


@pytest.mark.parametrize("case", [c for c in CORPUS if isinstance(c.outcome, Refused)],
                         ids=lambda c: c.id)
def test_unusable_files_stop_config_check(case: BadData, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(case.outcome, Refused)
    data = write(tmp_path, case)
    config = tmp_path / "libra.toml"
    config.write_text(CONFIG.format(path=data, kind=case.kind))
    code = main(["config", "check", str(config)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"libra: error: {config}: field gateways[0].data.path: "), err
    assert case.outcome.words in err, err
