"""The reputation aggregation vectors (conformance/vectors/reputation.json, SPEC 10.3, ATT-021).

A view is a pure function of (ratings, seeds, faulty principals, now, parameters); these vectors give that
input and the numbers a view must report, so a framework's own aggregation can be checked offline (the
JavaScript verifier checks them too: tests/test_js_verifier.py). Here: every vector passes through the
reference; a figure off by more than ATT-021's tolerance, or an integer off by one, fails; a malformed
file is a typed error and a one-line CLI message; and the generator refuses a case that rounding decides.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.cli import main
from a2a_coop.reputation_vectors import (
    ReputationVectorFormatError,
    n_positive,
    parse_reputation_file,
    run_reputation_vector,
    run_reputation_vectors,
    view_of,
)
from conformance.generate_vectors import reputation

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "conformance" / "vectors" / "reputation.json"
DOC: dict[str, Any] = json.loads(FILE.read_text(encoding="utf-8"))
AGGREGATION = ("ATT-003", "ATT-008", "ATT-009", "ATT-010", "ATT-021")


def _first_test(doc: dict[str, Any], tc_id: int) -> dict[str, Any]:
    return next(t for g in doc["viewGroups"] for t in g["tests"] if t["tcId"] == tc_id)


@pytest.mark.req(*AGGREGATION, "ATT-013", "ATT-016")
def test_every_reputation_vector_holds_in_the_reference() -> None:
    vectors = parse_reputation_file(DOC)
    assert len(vectors) == DOC["numberOfTests"] >= 30
    outcomes = run_reputation_vectors(vectors)
    assert [o.differences for o in outcomes if not o.passed] == []
    assert {v.group_type for v in vectors} == {
        "Aggregation",
        "Order",
        "Decay",
        "Stake",
        "Faulty",
        "Sybil",
        "Tie",
    }


@pytest.mark.req("ATT-021")
def test_a_figure_off_by_more_than_the_tolerance_fails_and_within_it_passes() -> None:
    """ATT-021 (a): trust, score and uncertainty within 1e-9; vouched stake within 1e-9 of its size."""
    doc = copy.deepcopy(DOC)
    test = _first_test(doc, 2)  # one good outcome: alice scores 2/3
    figures = test["expected"]["principals"]["alice"]
    figures["score"] += 0.9e-9
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == 2]
    assert run_reputation_vector(vector).passed
    figures["score"] += 0.2e-9
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == 2]
    [diff] = run_reputation_vector(vector).differences
    assert diff.startswith("alice.score ")
    big = next(t for g in doc["viewGroups"] for t in g["tests"] if "2^53 - 1" in t["comment"])
    stake = big["expected"]["principals"]["alice"]["vouched_stake"]
    assert stake > 2**52
    big["expected"]["principals"]["alice"]["vouched_stake"] = stake * (1 + 0.5e-9)
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == big["tcId"]]
    assert run_reputation_vector(vector).passed  # relative: 0.5e-9 of 2^53 is about 4.5 million
    big["expected"]["principals"]["alice"]["vouched_stake"] = stake * (1 + 2e-9)
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == big["tcId"]]
    assert not run_reputation_vector(vector).passed


@pytest.mark.req("ATT-009", "ATT-010", "ATT-021")
def test_n_positive_and_iterations_are_compared_exactly() -> None:
    doc = copy.deepcopy(DOC)
    test = _first_test(doc, 2)
    test["expected"]["n_positive"] += 1
    test["expected"]["iterations"] -= 1
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == 2]
    assert run_reputation_vector(vector).differences == (
        "n_positive 2, expected 3",
        "iterations 31, expected 30",
    )


@pytest.mark.req("ATT-009", "ATT-010")
def test_the_long_chain_counts_what_the_seed_reaches_not_the_iterate() -> None:
    """ATT-010's n+ counts the principals the seeds reach over pairs of c > 0: the chain's far links, more
    hops from the seed than the iterations ran, have t = 0 in the last iterate and count all the same, as
    they do for a view iterated to the fixed point (which, with n+ counted on the iterate, differed by
    more than 10⁻⁶ in a link's score)."""
    [chain] = [v for v in parse_reputation_file(DOC) if "long chain" in v.comment]
    view = view_of(chain)
    reachable = len({p for r in chain.ratings for p in (r.rater, r.subject)})
    assert view.iterations + 1 < n_positive(view) == chain.n_positive == reachable
    assert view.score(f"link-{view.iterations + 1}").trust == 0
    from a2a_coop.protocol.trust import TrustParams

    deeper = view_of(chain, TrustParams(tolerance=1e-300, max_iterations=200))
    assert n_positive(deeper) == reachable
    assert abs(deeper.score("link-10").score - view.score("link-10").score) < 1e-8


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema="a2a-coop-vectors/1"), "not a reputation vector file"),
        (lambda d: d["parameters"].update(damping=0.25), "parameters must be SPEC 10.3's"),
        (lambda d: d.update(numberOfTests=1), "numberOfTests is 1"),
        (lambda d: d["viewGroups"][0]["tests"][1]["ratings"][0].update(stake=True), "ratings[0]"),
        (lambda d: d["viewGroups"][0]["tests"][1]["ratings"][0].update(score="1"), "ratings[0]"),
        (lambda d: d["viewGroups"][0]["tests"][1].pop("seeds"), "missing 'seeds'"),
        (
            lambda d: d["viewGroups"][0]["tests"][1]["expected"]["principals"]["alice"].pop("trust"),
            "maps a name",
        ),
        (lambda d: d["viewGroups"][0]["tests"][1].update(tcId=1), "tcId values must be unique"),
    ],
)
def test_a_malformed_reputation_file_is_a_typed_error(
    edit: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(DOC)
    edit(doc)
    with pytest.raises(ReputationVectorFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_reputation_file(doc)
    path = tmp_path / "reputation.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["verify", "--vectors", str(path)]) == 2
    err = capsys.readouterr().err
    # another schema is not recognised as a reputation file at all: the CLI says what it reads
    shown = "is neither an envelope" if message.startswith("not a reputation") else message.split("(", 1)[0]
    assert shown in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_cli_runs_reputation_vectors_and_reports_a_disagreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a2a-coop verify --vectors reputation.json`: every vector as expected; an edited expectation fails
    (exit 1, the figure named); without --vectors the file is refused (it states its own results)."""
    assert main(["verify", "--vectors", str(FILE)]) == 0
    n = DOC["numberOfTests"]
    assert f"reputation.json: {n}/{n} vectors as expected" in capsys.readouterr().out
    doc = copy.deepcopy(DOC)
    _first_test(doc, 2)["expected"]["principals"]["alice"]["trust"] = 0.5
    edited = tmp_path / "reputation.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["verify", "--vectors", str(edited)]) == 1
    out = capsys.readouterr().out
    assert f"{n - 1}/{n} vectors as expected" in out and "alice.trust" in out
    assert main(["verify", str(FILE)]) == 2
    assert "--vectors" in capsys.readouterr().err
    assert main(["inspect", str(FILE)]) == 0
    assert "== reputation-2-ATT-003" in capsys.readouterr().out


@pytest.mark.req("ATT-003", "ATT-008", "ATT-021")
def test_the_generator_takes_an_exact_tie_and_refuses_a_near_tie_rounding_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ATT-021 (b). An exact tie -- four good outcomes and four bad ones at the same four times, G and B
    listed in opposite orders -- was refused while G and B were summed left to right (the reference gave
    another n+ for the ratings reversed); with ATT-003's correctly rounded sums it is an exact 0 in either
    order, and a vector (group Tie). A near tie is still rounding's to decide: good outcomes 2 ms apart and
    two bad ones between them, G - B = d (1 - 2^(-1 ms/H))² ≈ 8·10⁻²¹ d, far below an ulp, so which side of
    0 it lands on is the exp2's rounding of each d -- another implementation's exp2 may round it the other
    way -- and the generator refuses it."""
    now, ages = reputation.NOW, reputation.TIE_AGES
    rows = [reputation.RatingRow("viewer", "alice", 100, 1.0, now - a) for a in ages]
    rows += [reputation.RatingRow("viewer", "alice", 100, 0.0, now - a) for a in ages[::-1]]
    tie = reputation._vector(1, "Tie", reputation.Case("an exact tie", ["ATT-008"], rows))
    flipped = view_of(replace(tie, ratings=tie.ratings[::-1]))
    assert n_positive(flipped) == tie.n_positive == 1 and reputation._conditioned(tie) == []

    a = 5_000_000_000
    near = [
        reputation.RatingRow("viewer", "alice", 100, 1.0, now - a),
        reputation.RatingRow("viewer", "alice", 100, 1.0, now - a - 2),
        reputation.RatingRow("viewer", "alice", 100, 0.0, now - a - 1),
        reputation.RatingRow("viewer", "alice", 100, 0.0, now - a - 1),
    ]
    case = reputation.Case("a near tie rounding decides", ["ATT-008"], near)
    moved = [
        p for p in reputation._conditioned(reputation._vector(1, "Edge", case)) if p.startswith("d rounded")
    ]
    assert any("n_positive/iterations move" in p for p in moved)  # another exp2: another n+

    def edge() -> reputation.ViewGroup:
        return reputation.ViewGroup("Edge", [case])

    monkeypatch.setattr(reputation, "GROUPS", (edge,))
    with pytest.raises(SystemExit, match=r"d rounded .* up: n_positive/iterations move"):
        reputation.vectors()


def test_the_generator_refuses_a_case_whose_story_the_view_does_not_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each case asserts what it is about; a ring "gaining nothing" that did gain is refused."""
    ring = [
        reputation.r("viewer", "sybil-0"),
        reputation.r("sybil-0", "sybil-1"),
        reputation.r("sybil-1", "sybil-0"),
    ]
    case = reputation.Case(
        "a ring the seed rated", ["ATT-009"], ring, check=lambda v: reputation.trust(v, "sybil-1") == 0
    )
    monkeypatch.setattr(reputation, "GROUPS", (lambda: reputation.ViewGroup("Sybil", [case]),))
    with pytest.raises(SystemExit, match="does not show what the case says"):
        reputation.vectors()


# --- ratings.json: evidence bundles to ratings (SPEC 10.2) ----------------------------------------------

RATINGS_FILE = ROOT / "conformance" / "vectors" / "ratings.json"
RATINGS: dict[str, Any] = json.loads(RATINGS_FILE.read_text(encoding="utf-8"))


def _rating_test(doc: dict[str, Any], words: str) -> dict[str, Any]:
    return next(t for g in doc["ratingGroups"] for t in g["tests"] if words in t["comment"])


@pytest.mark.req("ATT-002", "ATT-004", "ATT-005", "ATT-006", "ATT-007")
def test_every_rating_vector_holds_in_the_reference() -> None:
    vectors = parse_reputation_file(RATINGS)
    assert len(vectors) == RATINGS["numberOfTests"] >= 15
    assert [o.differences for o in run_reputation_vectors(vectors) if not o.passed] == []
    stakes = {r["stake"] for t in RATINGS["ratingGroups"][0]["tests"] for r in t["expected"]}
    scores = {r["score"] for t in RATINGS["ratingGroups"][0]["tests"] for r in t["expected"] if r["stake"]}
    assert stakes == {0, 100} and scores == {0.0, 0.5, 1.0}


@pytest.mark.req("ATT-004", "ATT-005", "ATT-006")
def test_a_rating_off_in_any_field_fails_and_stake_0_ignores_score_and_time() -> None:
    """Each field of a rating that weighs is compared exactly; a rating of stake 0 changes nothing in a
    view (ATT-004), so its score and settlement time are not held against an implementation."""
    for edit, fails in (
        (lambda r: r.update(stake=99), True),
        (lambda r: r.update(score=0.5), True),
        (lambda r: r.update(settled_ms=r["settled_ms"] + 1), True),
        (lambda r: r.update(rater=r["subject"]), True),
    ):
        doc = copy.deepcopy(RATINGS)
        test = _rating_test(doc, "Alice (whitewashing) attests Bob")
        edit(test["expected"][0])
        [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == test["tcId"]]
        assert run_reputation_vector(vector).passed is not fails
    doc = copy.deepcopy(RATINGS)
    test = _rating_test(doc, "not one the view trusts")
    assert test["expected"][0]["stake"] == 0
    test["expected"][0].update(score=0.0, settled_ms=1)
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == test["tcId"]]
    assert run_reputation_vector(vector).passed
    test["expected"][0].update(stake=100)
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == test["tcId"]]
    assert not run_reputation_vector(vector).passed


def test_a_rating_vector_whose_bundle_is_refused_fails_with_the_code() -> None:
    doc = copy.deepcopy(RATINGS)
    test = doc["ratingGroups"][0]["tests"][0]
    test["envelopes"] = test["envelopes"][1:]  # the first Mandate left out
    [vector] = [v for v in parse_reputation_file(doc) if v.tc_id == test["tcId"]]
    [why] = run_reputation_vector(vector).differences
    assert why.startswith("envelope ") and "MANDATE_UNKNOWN" in why


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("ratingGroups"), "no ratingGroups list"),
        (lambda d: d["ratingGroups"][0]["tests"][0].pop("trusted_escrows"), "missing 'trusted_escrows'"),
        (lambda d: d["ratingGroups"][0]["tests"][0].update(envelopes=["%%%"]), "bad base64 envelope"),
        (lambda d: d["ratingGroups"][0]["tests"][0]["expected"][0].pop("stake"), "expected is a list of"),
        (lambda d: d.update(numberOfTests=0), "numberOfTests is 0"),
    ],
)
def test_a_malformed_rating_file_is_a_typed_error(
    edit: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(RATINGS)
    edit(doc)
    with pytest.raises(ReputationVectorFormatError, match=message):
        parse_reputation_file(doc)
    path = tmp_path / "ratings.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["verify", "--vectors", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_cli_runs_rating_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = RATINGS["numberOfTests"]
    assert main(["verify", "--vectors", str(RATINGS_FILE)]) == 0
    assert f"ratings.json: {n}/{n} vectors as expected" in capsys.readouterr().out
    doc = copy.deepcopy(RATINGS)
    doc["ratingGroups"][0]["tests"][0]["expected"][0]["stake"] = 7
    edited = tmp_path / "ratings.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["verify", "--vectors", str(edited)]) == 1
    assert f"{n - 1}/{n} vectors as expected" in capsys.readouterr().out
    assert main(["inspect", str(RATINGS_FILE)]) == 0
    assert "== ratings-1-ATT-004" in capsys.readouterr().out


def test_the_rating_generator_refuses_a_case_whose_story_the_reference_does_not_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conformance.generate_vectors import ratings

    real = ratings.cases()
    wrong = [replace(real[0], attests=[(100, 0.5)])]  # a FULFILLED rating said to score 1/2
    monkeypatch.setattr(ratings, "cases", lambda: wrong)
    with pytest.raises(SystemExit, match="the case says"):
        ratings.vectors()
