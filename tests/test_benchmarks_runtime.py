"""The runtime benchmarks (trade, memory, bridge) run with --quick and end with their JSON summary.

Figures only: the targets are the benchmarks' business, never the test suite's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402


def summary(name: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], dict[str, Any]]:
    assert main([name, "--quick"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    result: dict[str, Any] = json.loads(out[-1])
    assert result["benchmark"] == name
    return out[:-1], result


def test_trade_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    table, result = summary("trade", capsys)
    for key in (
        "trade_vs_echo",
        "trades_per_s",
        "trades_per_s_conc32",
        "echo_trades_per_s",
        "echo_trades_per_s_conc32",
        "floor_trades_per_s",
        "floor_trades_per_s_conc32",
        "trade_vs_echo_conc32",
        "trade_vs_floor",
        "trade_vs_floor_conc32",
    ):
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    assert result["targets"] == {"trade_vs_floor": 0.9, "conc32_vs_seq": 3.0, "trade_vs_echo_conc32": 0.5}
    assert result["server_design"] == "direct"  # the default; --server-design trio-bridge is the other
    assert result["layout"] == "apart"  # the default: Bob and the escrow each in a process of their own
    assert result["targets_met"] == {k: result[k] >= v for k, v in result["targets"].items()}
    # The floor's own ratios, measured in the same run, say which targets any trade could reach.
    ceilings = result["floor_ceilings"]
    assert set(ceilings) == set(result["targets"]) and ceilings["trade_vs_floor"] == 1.0
    assert ceilings["conc32_vs_seq"] == pytest.approx(
        result["floor_trades_per_s_conc32"] / result["floor_trades_per_s"] / 0.9, rel=1e-3
    )
    assert ceilings["trade_vs_echo_conc32"] == result["detail"]["floor_vs_echo_conc32"]["median"] > 0
    assert result["targets_within_floor_reach"] == {k: ceilings[k] >= v for k, v in result["targets"].items()}
    assert result["conc32_vs_seq"] == pytest.approx(
        result["trades_per_s_conc32"] / result["trades_per_s"], rel=1e-3
    )
    counts = result["per_trade"]
    for key in ("rpcs", "statements_signed", "signature_checks", "fsyncs"):
        assert isinstance(counts[key], int), key
        assert counts[key] > 0, key
    # offer, accept, 2 bond locks, 2 deliveries, 2 receipts, 2 releases: at least these are signed
    assert counts["statements_signed"] >= 10
    assert counts["rpcs"] == len(result["rpc_plan"])
    assert {target for target, _, _ in result["rpc_plan"]} == {"peer", "escrow"}
    assert any("HEADLINE" in line for line in table)
    # CPU per trade over the three processes, per series and mode, and the floor's over the trade's.
    cpu = result["cpu_ms_per_trade"]
    assert set(cpu) == {f"{s}_{m}" for s in ("trade", "echo", "floor") for m in ("seq", "conc32")}
    assert all(isinstance(v, float) and v >= 0 for v in cpu.values())
    assert cpu["trade_conc32"] > 0 and cpu["floor_conc32"] > 0  # 32 trades: more than a clock tick
    assert result["trade_vs_floor_cpu_conc32"] == result["detail"]["trade_vs_floor_cpu_conc32"]["median"] > 0
    assert any("CPU per trade" in line for line in table)


@pytest.mark.usefixtures("frozen_heap")
def test_memory_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    table, result = summary("memory", capsys)
    for key in ("rss_idle_mb", "rss_10k_delta_mb", "rss_python_mb", "rss_imports_mb", "rss_open_mb"):
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    assert isinstance(result["bytes_per_negotiation"], int)
    assert result["extrapolated"] is True  # --quick measures fewer than 10k and scales
    assert sum(result["states"].values()) == result["negotiations"]
    assert set(result["states"]) <= {"PROPOSED", "ACCEPTED"}
    assert result["idle_target_mb"] == 80.0
    assert result["delta_target_mb"] == 200.0
    assert any("HEADLINE" in line for line in table)
    # Over a long life: both peers forgot every settled trade, and RSS was read at both points.
    assert result["settled_points"] == [20, 60]
    assert result["rss_after_20_settled_mb"] > 0 and result["rss_after_60_settled_mb"] > 0
    assert result["settled_forgotten_negotiations"] == {"alice": 60, "bob": 60}
    assert result["settled_held_statements"] == {"alice": 2, "bob": 2}  # the two mandates


def test_trade_benchmark_profiles_every_thread_of_a_process_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With A2ACOOP_BENCH_PROFILE set, a process writes one pstats file holding what its threads ran,
    the threads started inside the block included; without it, nothing."""
    import pstats
    import threading

    from benchmarks.trade import PROFILE_ENV, profiled

    def spin_in_a_thread() -> None:
        sum(i * i for i in range(20_000))

    monkeypatch.delenv(PROFILE_ENV, raising=False)
    with profiled("off"):
        pass
    monkeypatch.setenv(PROFILE_ENV, str(tmp_path))
    with profiled("bench"):
        worker = threading.Thread(target=spin_in_a_thread)
        worker.start()
        worker.join()
    (written,) = tmp_path.iterdir()
    assert written.name.startswith("bench-") and written.suffix == ".pstats"
    functions = {name for _, _, name in pstats.Stats(str(written)).stats}  # type: ignore[attr-defined]
    assert "spin_in_a_thread" in functions


def test_bridge_benchmark_measures_the_trio_crossing_beside_plain_grpcio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bridge benchmark times the blocking client against a plain and a trio-bridged handler,
    sequentially and 32 in flight, and reports each series' rate, its CPU per RPC and the crossing's
    ratios (bridged over plain)."""
    table, result = summary("bridge", capsys)
    series = ("sync_seq", "sync_conc32", "bridged_seq", "bridged_conc32", "bridge_conc32", "aio_conc32")
    assert set(result["cpu_us_per_rpc"]) == set(series)
    assert all(result["cpu_us_per_rpc"][s] > 0 and result["detail"][s]["median"] > 0 for s in series)
    assert result["crossing_vs_sync_seq"] == result["detail"]["crossing_vs_sync_seq"]["median"] > 0
    assert result["crossing_vs_sync_conc32"] == result["detail"]["crossing_vs_sync_conc32"]["median"] > 0
    assert any("crossing" in line for line in table)
