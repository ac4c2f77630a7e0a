"""Claim readers in the population (README "Population simulation", claim-aware runs): what the
exaggerator's lie earns there, why, and what the public attestation pool's evidence does about it."""

from __future__ import annotations

import pytest

from a2a_coop.cli.main import main
from reference_agents import evolve, report, sweep
from reference_agents.population import Population
from reference_agents.sim import SIM_TYPES

WITH_READERS = (*SIM_TYPES, "claim-aware")


def _trades(world: str, kinds: tuple[str, ...], pairs: list[tuple[int, int]], **kw: bool) -> list[object]:
    pop = Population(world, seed=5, **kw)
    for kind in kinds:
        pop.add(kind)
    return [(r.state, r.payoffs) for p in pairs for r in pop.play_round([p])]


def test_the_exaggerator_is_paid_by_a_believer_caught_by_a_tester_and_trades_with_no_exaggerator() -> None:
    """Verifiable world. The reader offers the exaggerator an even trade; the exaggerator counters
    asking 1.5 with a reservation claim of 1.35; the reader, believing it, concedes to 0.72, which
    leaves the liar 1.39 -- above its claim, so it never signs the Accept that would prove the lie:
    it earns 0.905 of the trade's value, the reader 0.095, again and again (1.17 and 0.12 until the
    twentieth session, when the counters grew the trade and the payoff counted the volume). Nash
    counters at an even trade instead; the liar accepts below its claim and the audit ends their
    trading (NO_OFFER). Two exaggerators never agree (each asks 1.5 of the other). Under cheap talk
    the believer pays too."""
    kinds = ("claim-aware", "exaggerator", "nash", "exaggerator")
    pairs = [(0, 1), (0, 1), (2, 1), (1, 2), (1, 3)]
    assert _trades("verifiable", kinds, pairs) == [
        ("FULFILLED", (0.095, 0.905)),
        ("FULFILLED", (0.095, 0.905)),
        ("FULFILLED", (0.5, 0.5)),  # nash's counter re-splits the pie evenly (it scaled it to 750 before)
        ("NO_OFFER", (0.0, 0.0)),
        ("REJECTED", (0.0, 0.0)),
    ]
    assert _trades("cheap-talk", kinds, [(0, 1)]) == [("FULFILLED", (0.22, 0.78))]


def test_with_the_pool_audit_a_believer_learns_the_lie_from_a_testers_attestation() -> None:
    """The proof nash's trade makes (the exaggerator's claim and its Accept below it) travels in the
    evidence bundle of the attestations of that trade (ATT-014). With ``pool_audit`` the reader reads
    the pool, believes the exaggerator no more, offers an even trade (which the liar accepts below its
    claim: its own audit then ends their trading). Without it the reader keeps paying."""
    kinds = ("claim-aware", "exaggerator", "nash")
    pairs = [(2, 1), (0, 1), (0, 1)]
    assert _trades("verifiable", kinds, pairs)[1:] == [("FULFILLED", (0.095, 0.905))] * 2
    assert _trades("verifiable", kinds, pairs, pool_audit=True)[1:] == [
        ("FULFILLED", (0.5, 0.5)),
        ("NO_OFFER", (0.0, 0.0)),
    ]


def test_a_claim_aware_population_run_is_pinned() -> None:
    """README's command ``a2a-coop sim evolve --world verifiable --seed 1 --types ...,claim-aware``:
    12 types, 30 individuals, 100 Moran steps. The exaggerator ends at 12 of 30 (it had 3; 9 before
    the twentieth session's fixed pie, 13 before the nineteenth session's fix of the time-based
    agents' counters)."""
    doc = evolve.run("verifiable", 1, types=WITH_READERS).as_json()
    assert doc["shares"] == {
        "honest": 0.0,
        "reciprocal": 0.0333,
        "boulware": 0.0,
        "conceder": 0.0667,
        "nash": 0.0,
        "exaggerator": 0.4,
        "bluffer": 0.0,
        "equivocator": 0.2,
        "reneger": 0.0,
        "feinter": 0.0,
        "opportunist": 0.1,
        "claim-aware": 0.2,
    }


def test_the_pool_audit_is_a_sweep_option_of_its_own_row_and_not_for_the_table_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    types = ("claim-aware", "exaggerator", "nash", "honest")
    specs = [
        sweep.RunSpec("verifiable", 2, "replicator", 4, 2, types, pool_audit=audit) for audit in (False, True)
    ]
    assert "pool-audit" in specs[1].label() and "pool-audit" not in specs[0].label()
    results = [sweep.run_spec(s) for s in specs]
    rows = sweep.summarize(results)
    assert [r.get("pool_audit") for r in rows] == [None, True]
    page = report.render(results, rows)
    assert page.count("verifiable (pool audit)") == 1 and page.count("audit the attestation pool</h2>") == 1
    assert sweep.grid(worlds=["verifiable"], seeds=[0], types=types, pool_audit=True)[0].pool_audit
    assert main(["sim", "evolve", "--world", "verifiable", "--model", "table", "--pool-audit"]) == 2
    assert "--pool-audit applies to --model population" in capsys.readouterr().err
