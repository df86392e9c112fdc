"""A strategy whose ``on_save`` raises is isolated: the stop goes on and the store closes."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from libra.core.kernel import TradingKernel
from libra.persistence import StateStore
from libra.testing.factories import RecordingStrategy, paper_config, paper_gateway


class SaveFails(RecordingStrategy):
    """Records, and fails to save its state."""

    def on_save(self) -> dict[str, object] | None:
        raise RuntimeError("cannot save")


async def test_the_store_closes_even_when_a_strategy_cannot_save(tmp_path: Path) -> None:
    path = tmp_path / "state" / "libra.db"
    config = paper_config(
        {"id": "s1", "plugin": f"{__name__}:SaveFails", "symbols": ["BTC/USD"]},
        gateway=paper_gateway(data={"source": "none"}),
        kernel={"state_path": str(path)}, logging={"heartbeat_interval": 60})
    kernel = TradingKernel(config)
    await kernel.start()

    with capture_logs() as logs:
        await kernel.stop()

    assert [e["strategy_id"] for e in logs if e["event"] == "strategy.save_failed"] == ["s1"]
    assert any(e["event"] == "kernel.stopped" for e in logs)
    store = StateStore.open(path)  # the lock was released: the store was closed
    store.close()
