"""The escrow node's ticker outlives a tick that raises (a bug, not an input): it says so in the log and
ticks on, where the thread died silently and nothing was ruled on, lapsed or refunded after it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import FixedClock, Party


def test_a_failing_tick_is_logged_and_the_ticker_ticks_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock()
    escrow = Party("escrow", clock)
    node = EscrowNode(
        escrow.agent.key, escrow.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms
    )
    ticks, ticked_again = [], threading.Event()

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 1:
            raise RuntimeError("a bug in a rule")
        ticked_again.set()

    monkeypatch.setattr(node, "tick", tick)
    with caplog.at_level(logging.ERROR, logger="a2a_coop.runtime.node"):
        node.start_ticking(0.01)
        try:
            assert ticked_again.wait(5), "the ticker died with its first failing tick"
        finally:
            node.close()
    assert "a tick failed" in caplog.text and "a bug in a rule" in caplog.text
