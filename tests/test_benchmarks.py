"""The benchmarks run and report; their speed targets are judged only by the benchmarks themselves."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402

RATIOS = (
    "verify_ratio",
    "verify_ratio_offer",
    "sign_ratio",
    "sign_ratio_offer",
    "floor_ratio",
    "floor_ratio_offer",
    "rules_floor_ratio",
    "rules_floor_ratio_offer",
    "verify_vs_floor",
    "verify_vs_floor_offer",
    "verify_vs_rules_floor",
    "verify_vs_rules_floor_offer",
)
RATES = tuple(
    f"{series}_per_s{suffix}"
    for series in (
        "statement_verify",
        "rules_floor_verify",
        "floor_verify",
        "raw_verify",
        "statement_sign",
        "raw_sign",
    )
    for suffix in ("", "_offer")
)


def test_the_dispatcher_lists_benchmarks_and_refuses_a_wrong_name_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m benchmarks` and `python -m reliability` share one dispatcher: --help lists on stdout
    (exit 0); no name, or a misspelt one (with the closest name), is a usage error on stderr (exit 2)."""
    assert main(["--help"]) == 0
    listing = capsys.readouterr()
    assert "available benchmarks:" in listing.out and "  trade " in listing.out and not listing.err
    assert main([]) == 2
    missing = capsys.readouterr()
    assert not missing.out and missing.err.startswith("python -m benchmarks: name a benchmark\n")
    assert main(["tarde", "--quick"]) == 2
    wrong = capsys.readouterr()
    assert not wrong.out
    assert wrong.err.startswith("python -m benchmarks: unknown benchmark 'tarde' (did you mean trade?)")


@pytest.mark.usefixtures("frozen_heap")
def test_envelope_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envelope", "--quick"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    for key in (
        "benchmark",
        *RATIOS,
        *RATES,
        "envelope_bytes",
        "rounds",
        "ops",
        "verify_target",
        "verify_target_met",
    ):
        assert key in summary, key
    assert summary["benchmark"] == "envelope"
    for key in RATIOS + RATES:  # figures only; the targets are the benchmark's business
        assert isinstance(summary[key], float), key
        assert summary[key] > 0, key
    assert summary["verify_target"] == 0.9
    assert isinstance(summary["verify_target_met"], bool)
    # what the target leaves the rules follows from the floor measured in the same run
    needed = summary["verify_target"] / summary["floor_ratio"]
    assert summary["verify_vs_floor_needed"] == pytest.approx(needed, abs=1e-3)
    assert summary["rules_share_allowed"] == pytest.approx(1 - needed, abs=1e-3)
    assert summary["verify_target_within_floor_reach"] == (summary["floor_ratio"] >= summary["verify_target"])
    assert any("protocol rules may take at most" in line for line in out[:-1])
    # and the rules floor says whether the target is within reach of any verifier of the SPEC
    within = summary["verify_target_within_rules_floor_reach"]
    assert within == (summary["rules_floor_ratio"] >= summary["verify_target"])
    assert summary["logic_share_allowed"] == pytest.approx(
        1 - summary["verify_target"] / summary["rules_floor_ratio"], abs=1e-3
    )
    verdict = "within its reach" if within else "OUT OF REACH by measurement"
    assert any(line.startswith("Rules floor:") and verdict in line for line in out[:-1])
    assert summary["ops"] % 11 == 0  # whole bonded trades per round
    sizes = summary["envelope_bytes"]
    assert set(sizes) == {"trade_mix", "offer"}
    assert 300 <= sizes["trade_mix"] < sizes["offer"] <= 750  # the Offer is the biggest statement
    assert any("headline" in line for line in out[:-1])
    assert any("worst case" in line for line in out[:-1])


SCALING_SHAPES = ("trades", "live_offers", "open_contracts")
ESCROW_FIGURES = (
    "escrow_submit_ms_0_unrelated",
    "escrow_submit_ms_10k_unrelated",
    "escrow_tick_ms_0_unrelated",
    "escrow_tick_ms_10k_unrelated",
)


@pytest.mark.usefixtures("frozen_heap")
def test_scaling_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    # smaller than --quick's own sizes (what is checked is the run and its summary, not a figure): the
    # default suite's budget
    assert main(["scaling", "--quick", "--sizes", "50,100,200", "--unrelated", "100"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "scaling"
    assert summary["quick"] is True
    ratios, per_stmt = summary["per_stmt_ratio_100k_vs_1k"], summary["per_stmt_us"]
    assert set(ratios) == set(per_stmt) == set(SCALING_SHAPES)
    sizes = summary["sizes"]
    assert len(sizes) == 3
    assert sizes == sorted(sizes)
    for shape in SCALING_SHAPES:  # figures only; the targets are the benchmark's business
        assert isinstance(ratios[shape], float), shape
        assert ratios[shape] > 0, shape
        assert len(per_stmt[shape]) == len(sizes), shape
        for size, us in per_stmt[shape].items():
            assert isinstance(us, float), (shape, size)
            assert us > 0, (shape, size)
    for key in ESCROW_FIGURES:
        assert isinstance(summary[key], float), key
        assert summary[key] > 0, key
    assert summary["escrow_unrelated"] > 0
    assert summary["targets"] == {"per_stmt_ratio_max": 2.0, "escrow_submit_ratio_max": 2.0}
    assert set(summary["targets_met"]) == {*SCALING_SHAPES, "escrow_submit"}
    assert all(isinstance(met, bool) for met in summary["targets_met"].values())
    assert any("QUICK" in line for line in out[:-1])  # a smoke run says its figures mean nothing


def test_reputation_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reputation", "--quick", "--repeat", "1"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "reputation" and summary["quick"] is True
    for key in ("s_10k", "s_100k", "s_1m", "baseline_s_10k", "baseline_s_100k", "baseline_s_1m"):
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert summary["ratio_1m_vs_100k"] > 0 and "QUICK" in "\n".join(out[:-1])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_js_rederive_benchmark_takes_every_statement_and_ends_with_a_json_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two trades whose late Stamp takes a cut-back contract back (NEG-021 (d)): the JS view takes every
    statement (the story is one a conforming view takes), and the summary says how long it took, in wall
    and in CPU seconds."""
    assert main(["js_rederive", "--trades", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert (summary["trades"], summary["statements"], summary["refused"]) == (2, 13, 0)
    assert summary["seconds"] > 0 and summary["cpu_seconds"] > 0


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_js_rederive_benchmark_hands_over_and_rates(capsys: pytest.CaptureFixture[str]) -> None:
    """``--hand-overs``: the escrow key's hand-over, then each trade by an offerer of its own (its Mandate
    first) stamped by the successor -- every statement taken; ``--ratings``: bonded, settled, attested trades,
    every Attestation weighing when rated, the rating timed apart."""
    assert main(["js_rederive", "--trades", "2", "--hand-overs", "--role", "escrow"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert (summary["hand_overs"], summary["statements"], summary["refused"]) == (True, 18, 0)
    assert main(["js_rederive", "--trades", "2", "--ratings"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert (summary["statements"], summary["refused"], summary["rated"]) == (25, 0, 2)
    assert summary["rating_seconds"] >= 0 and summary["rating_cpu_seconds"] >= 0


POPULATION_FIGURES = ("model_vs_axelrod_match", "crypto_vs_floor", "s_1000x100", "moran_vs_axelrod")


def test_population_benchmark_without_axelrod_says_which_extra_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the axelrod package the benchmark printed argparse's usage before its error, as if the
    command were wrong: now one line naming the extra to install, exit 2, nothing on stdout."""
    import reference_agents.axelrod_adapter as adapter

    def missing() -> object:
        raise adapter.AxelrodUnavailable("no axelrod")

    monkeypatch.setattr(adapter, "axelrod_module", missing)
    assert main(["population", "--quick"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage" not in err
    assert err.count("\n") == 1 and "'sim'" in err and "pip install -e '.[sim]'" in err, err


@pytest.mark.slow  # imports axelrod (about 10 s, 0.9 GiB)
def test_population_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("axelrod")
    assert main(["population", "--quick"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "population" and summary["quick"] is True
    for key in POPULATION_FIGURES:  # figures only; the targets are the benchmark's business
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert set(summary["met"]) == set(POPULATION_FIGURES)
    assert summary["targets_met"] == all(summary["met"].values())
    baselines = summary["baselines"]
    for key in (
        "axelrod_match_turns_per_s",
        "raw_sign_verify_per_s",
        "floor_turns_per_s",
        "rules_floor_turns_per_s",
        "crypto_rules_floor_per_s",
        "moran_axelrod_s",
    ):
        assert baselines[key] > 0, key
    # (a)'s rules floor decides whether its target is within reach of any implementation of the rules
    within_reach = baselines["rules_floor_vs_axelrod_match"] >= 0.5
    assert summary["model_target_within_rules_floor_reach"] == within_reach
    assert "rules floor (+ one read of each ruled field)" in "\n".join(out[:-1])
    within_reach = baselines["crypto_rules_floor_vs_floor"] >= 0.6
    assert summary["crypto_target_within_rules_floor_reach"] == within_reach
    sizes = summary["sizes"]
    assert (
        baselines["population_trades"] == sizes["agents"] // 2 * sizes["rounds"]
    )  # one trade per agent per round
    assert sizes["statements"] > 0 and len(summary["strategies"]) == sizes["strategies"]
    # (c)'s own floor: raw Ed25519 over the statements it signed, printed beside its wall time
    assert baselines["population_statements"] > 0 and baselines["population_raw_crypto_s"] >= 0
    assert "floor: raw sign+verify" in "\n".join(out[:-1])
    # (c) on the machine's cores, its one-process run beside it, the same trades, CPU in every process
    workers = os.cpu_count() or 1
    assert baselines["population_workers"] == workers and summary["s_1000x100_one_process"] > 0
    assert baselines["population_same_results"] is True and "on one process" in "\n".join(out[:-1])
    assert len(baselines["population_worker_cpu_s"]) == (workers if workers > 1 else 0)
    # (a) and (b) play with the collector paused, as (c) does: what a pass would have freed is counted
    assert baselines["pairings_cyclic_garbage"] == 0 and "WARNING" not in "\n".join(out[:-1])
    assert "QUICK" in "\n".join(out[:-1])


def test_the_rules_floor_checks_the_envelope_and_reads_every_constrained_header_field() -> None:
    """The rules floor does ENV-009 (which the plain floor does not) and reads all twelve header fields
    (STM-003..STM-013 and MND-001 constrain each); it covers every body the workloads sign, and the
    stamps and acks of a served trade besides (the trade benchmark's rules floor)."""
    from benchmarks import envelope as bench

    trade, offer = bench.bonded_trade(), bench.realistic_offer()
    bodies = {s.WhichOneof("body") for s, _ in trade + offer}
    assert bodies | {"stamp", "ack"} == set(bench.BODY_READS)
    keys = {key.did: key.public_key for _, key in trade}
    data = bench.build_columns(trade, 1, "test").envelopes[0]
    floor, rules_floor = bench.make_floor_verify(keys), bench.make_rules_floor_verify(keys)
    digest, stmt, reads = rules_floor(data)
    assert (digest, stmt) == floor(data)
    payload_type, header, _ = reads
    assert payload_type == bench.STATEMENT_PAYLOAD_TYPE
    assert len(header) == len(stmt.header.DESCRIPTOR.fields) == 12
    padded = data + b"\xf8\x01\x00"  # an unknown field 31 after the known ones: not canonical (ENV-009)
    floor(padded)
    with pytest.raises(ValueError, match="non-canonical envelope"):
        rules_floor(padded)


def test_answer_flood_benchmark_times_each_order_and_ends_with_a_json_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Five Rejects of a cut-off Counter in chain order, reversed and shuffled (flood31), then five Accepts
    (displaced31): each order's CPU seconds, and the reverse/forward ratio, in the summary."""
    assert main(["answer_flood", "--answers", "5"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert summary["answers"] == 5 and summary["verifier"] == "python"
    for prefix in ("", "accept-"):
        assert all(summary[prefix + order]["cpu_s"] >= 0 for order in ("forward", "reverse", "shuffled"))
        assert summary[prefix + "reverse_vs_forward_cpu"] >= 0
