"""The runtime benchmarks (trade, memory, bridge) run with --quick and end with their JSON summary.

Figures only: the targets are the benchmarks' business, never the test suite's.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402


def summary(name: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[str], dict[str, Any]]:
    assert main([name, "--quick", *argv]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    result: dict[str, Any] = json.loads(out[-1])
    assert result["benchmark"] == name
    return out[:-1], result


def _trade_quick() -> tuple[list[str], dict[str, Any]]:
    """One ``trade --quick`` run (three processes, every series), read by each check of its summary."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["trade", "--quick"]) == 0
    lines = out.getvalue().rstrip("\n").splitlines()
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["benchmark"] == "trade"
    return lines[:-1], result


def test_trade_benchmark_quick_run_ends_with_a_json_summary_and_a_rules_floor() -> None:
    """One run read by both checks: as two tests of a module-scoped fixture, each xdist worker ran the
    benchmark (17 s a run) -- the default suite's budget."""
    table, result = _trade_quick()
    _check_the_summary(table, result)
    _check_the_rules_floor(table, result)


def _check_the_summary(table: list[str], result: dict[str, Any]) -> None:
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
    assert set(cpu) == {
        f"{s}_{m}" for s in ("trade", "echo", "floor", "rules_floor") for m in ("seq", "conc32")
    }
    assert all(isinstance(v, float) and v >= 0 for v in cpu.values())
    assert cpu["trade_conc32"] > 0 and cpu["floor_conc32"] > 0  # 32 trades: more than a clock tick
    assert result["trade_vs_floor_cpu_conc32"] == result["detail"]["trade_vs_floor_cpu_conc32"]["median"] > 0
    assert any("CPU per trade" in line for line in table)
    # ... and per process: Alice's here, Bob's and the escrow's each in its own (the default layout);
    # with the CPUs the machine left idle, and the rate all of them would carry at 32 in flight.
    by_party = result["cpu_ms_per_trade_by_party"]
    assert set(by_party) == set(cpu) and all(set(v) == {"alice", "bob", "escrow"} for v in by_party.values())
    assert all(v >= 0 for parts in by_party.values() for v in parts.values())
    assert set(result["idle_cpus"]) == set(cpu) and all(v >= 0 for v in result["idle_cpus"].values())
    bound = result["cpu_bound"]
    assert bound["trades_per_s_conc32"] > 0 and bound["conc32_vs_seq"] > 0


def _check_the_rules_floor(table: list[str], result: dict[str, Any]) -> None:
    """The rules floor runs beside the floor in the same run: its rates, its ratios to the floor and to the
    trade, and whether trade_vs_floor's target is within its reach, in the table and the JSON line; it
    handles as many statements as the trade checks and signs."""
    detail = result["detail"]
    for key in ("rules_floor_trades_per_s", "rules_floor_trades_per_s_conc32"):
        assert isinstance(result[key], float) and result[key] > 0, key
    for key in (
        "rules_floor_vs_floor",
        "rules_floor_vs_floor_conc32",
        "trade_vs_rules_floor",
        "trade_vs_rules_floor_conc32",
    ):
        assert result[key] == detail[key]["median"], key
        assert 0.1 < result[key] < 10, key  # a few trades on a busy machine: rates, not nonsense
    assert result["rules_floor_trades_per_s"] == detail["rules_floor_seq"]["median"]
    target = result["targets"]["trade_vs_floor"]
    within = result["trade_vs_floor_target_within_rules_floor_reach"]
    assert within is (result["rules_floor_vs_floor"] >= target)
    assert result["trade_vs_rules_floor_needed"] == pytest.approx(
        target / result["rules_floor_vs_floor"], abs=1e-3
    )
    assert result["logic_share_allowed"] == pytest.approx(1 - result["trade_vs_rules_floor_needed"], abs=1e-3)
    # Its statements are the trade's: one rules-floor check per statement signature checked, one
    # statement built per statement signed (in a trade, every signature is a statement's).
    counts = result["per_trade"]
    assert counts["statements_checked"] == counts["signature_checks"] > 0
    assert counts["statements_checked_server"] == counts["signature_checks_server"] > 0
    assert counts["statements_built"] == counts["statements_signed"] > 0
    assert result["cpu_ms_per_trade"]["rules_floor_seq"] > 0
    assert result["rules_floor_vs_floor_cpu"] == detail["rules_floor_vs_floor_cpu"]["median"] > 0
    assert result["trade_vs_rules_floor_cpu"] == detail["trade_vs_rules_floor_cpu"]["median"] > 0
    text = "\n".join(table)
    for label in ("rules floor, sequential", "rules floor / floor, sequential", "trade / rules floor"):
        assert label in text, label
    (verdict,) = [line for line in table if line.startswith("Rules floor:")]
    assert ("within its reach" in verdict) is within
    assert ("OUT OF REACH" in verdict) is not within


def test_the_trade_rules_floor_handles_the_envelopes_the_trade_checked_byte_for_byte() -> None:
    """A signature check's bytes give back the very envelope checked (a verifier takes only canonical
    envelopes, ENV-009); the rules floor checks each one once, signature included, when it is made (a
    tampered envelope stops the run), then runs the envelope benchmark's rules floor on it; a statement
    it signs is rebuilt from its fields to the very payload signed."""
    import nacl.bindings

    from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, Envelope, pae
    from a2a_coop.protocol.identity import public_key_from_did
    from a2a_coop.testing import FixedClock, Party
    from a2a_coop.testing import bonded_trade as testing_bonded_trade
    from benchmarks import trade as bench

    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    statements = testing_bonded_trade(alice, bob, escrow, clock)
    checked = []
    for vs in statements:
        env = Envelope.FromString(vs.envelope)
        signed = env.signatures[0].sig + pae(STATEMENT_PAYLOAD_TYPE, env.payload)
        public_key = public_key_from_did(env.signatures[0].keyid)
        nacl.bindings.crypto_sign_open(signed, public_key)
        assert bench.statement_envelope(signed, public_key) == vs.envelope
        checked.append(vs.envelope)
    assert bench.statement_envelope(b"\0" * 64 + b"not a statement's PAE", b"\0" * 32) is None
    payloads = [Envelope.FromString(e).payload for e in checked]
    step = bench.RulesStep.of(bench.Work(checked=checked, signed=payloads))
    assert [bench.Statement(**f).SerializeToString(deterministic=True) for f in step.signed] == payloads
    rules = bench.RulesFloor([step])
    rules.run(0)
    tampered = bytearray(checked[0])
    tampered[-1] ^= 1  # the last byte of the signature
    with pytest.raises(nacl.exceptions.BadSignatureError):
        bench.RulesFloor([bench.RulesStep(checked=(bytes(tampered),), signed=())])


def test_the_trade_benchmark_runs_sequential_trades_in_turns_of_every_series() -> None:
    """Sequentially, the series take turns every SEQ_TURN trades, the order reversed at each turn, so load
    from other processes falls on all of them alike; each series' time and CPU are summed over its turns."""
    from benchmarks.trade import SEQ_TURN, run_in_turns

    ran: list[str] = []
    ones = {name: (lambda name=name: ran.append(name)) for name in ("a", "b", "c")}
    cpu = iter(range(1000))
    elapsed, used = run_in_turns(ones, 2 * SEQ_TURN + 1, lambda name: [next(cpu), 10.0 * next(cpu)])
    turns = [ran[i : i + SEQ_TURN] for i in range(0, 6 * SEQ_TURN, SEQ_TURN)]
    assert [t[0] for t in turns] == ["a", "b", "c", "c", "b", "a"] and all(len(set(t)) == 1 for t in turns)
    assert ran[6 * SEQ_TURN :] == ["a", "b", "c"]  # the last turn: one trade each
    assert set(elapsed) == set(used) == set(ones) and all(v >= 0 for v in elapsed.values())
    # one reading after another (two numbers each, per process): 2 and 20 a turn, 3 turns
    assert used == {"a": [6.0, 60.0], "b": [6.0, 60.0], "c": [6.0, 60.0]}
    assert run_in_turns(ones, 1, lambda name: None)[1] == {"a": None, "b": None, "c": None}


# The memory benchmark's long lives: by default fewer settled trades than --quick's (each point read is
# the same); --quick's own under -m slow.
_SHORT_LIVES = (["--settled", "10,20", "--escrow-settled", "20,60"], [10, 20], [20, 60])
_QUICK_LIVES = ([], [20, 60], [100, 400])


@pytest.mark.usefixtures("frozen_heap")
@pytest.mark.parametrize(
    "lives",
    [pytest.param(_SHORT_LIVES, id="short"), pytest.param(_QUICK_LIVES, id="quick", marks=pytest.mark.slow)],
)
def test_memory_benchmark_quick_run_ends_with_a_json_summary(
    capsys: pytest.CaptureFixture[str], lives: tuple[list[str], list[int], list[int]]
) -> None:
    argv, (few, many), (escrow_few, escrow_many) = lives
    table, result = summary("memory", capsys, *argv)
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
    assert result["settled_points"] == [few, many]
    assert result[f"rss_after_{few}_settled_mb"] > 0 and result[f"rss_after_{many}_settled_mb"] > 0
    assert result["settled_forgotten_negotiations"] == {"alice": many, "bob": many}
    assert result["settled_held_statements"] == {"alice": 2, "bob": 2}  # the two mandates
    # An escrow over a long life: RSS read at both points, every bonded trade settled (no contract open).
    assert result["escrow_settled_points"] == [escrow_few, escrow_many]
    assert result[f"escrow_rss_after_{escrow_few}_settled_mb"] > 0
    assert result[f"escrow_rss_after_{escrow_many}_settled_mb"] > 0
    assert isinstance(result["escrow_settled_bytes_per_trade"], int)
    # two Deposits and the Stamp of the two Mandates; per trade a Stamp, two locks, a Stamp, two releases
    assert result["escrow_settled_ledger_size"] == 3 + escrow_many * 6
    assert result["escrow_settled_held_negotiations"] == 0  # each forgotten once over for good
    assert result["escrow_settled_forgotten_contracts"] == escrow_many
    assert any(f"escrow_settled_{escrow_many}_vs_{escrow_few}" in line for line in table)


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


def test_the_bridge_benchmarks_aio_series_reads_a_cut_answer_whole() -> None:
    """The grpc.aio series serves and reads Exchange as our servers and clients do: an answer past a page
    goes in parts (RPC-021), joined by the client -- here five 1,000-byte echoes in pages of 2,500 bytes,
    three parts each; a series that read only the first part would come back with two and fail its
    check."""
    from benchmarks import bridge

    payload = b"x" * 1000
    aio = bridge.Aio(payload, copies=5, page_bytes=2500)
    try:
        assert aio.run(40) > 0
    finally:
        aio.close()


def test_the_trade_recorder_counts_the_signs_and_checks_the_package_makes() -> None:
    """The trade benchmark's floor repeats the signs and signature checks its recorder counted in a trade;
    the recorder wraps libsodium's functions where the package calls them (a2a_coop.protocol.identity).
    Expect a statement signed and one verified to count one sign with its payload and one check with its
    envelope, byte for byte, and the functions restored afterwards."""
    from a2a_coop.protocol import identity
    from a2a_coop.protocol.envelope import decode_envelope
    from a2a_coop.protocol.statements import verify_statement
    from a2a_coop.testing import FixedClock, Party
    from benchmarks import trade as bench

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    before = identity._crypto_sign, identity._crypto_sign_open
    recorder = bench.Recorder()
    with recorder.installed():
        offer = alice.offer(bob)
        verify_statement(offer.envelope)
    assert (recorder.client.signs, recorder.client.verifies) == (1, 1)
    assert recorder.client.signed == [decode_envelope(offer.envelope).payload]
    assert recorder.client.checked == [offer.envelope]
    assert (identity._crypto_sign, identity._crypto_sign_open) == before
