"""Run the reputation vectors (conformance/vectors/reputation.json, ratings.json) through this library.

A reputation vector is data, like a statement vector, but of another shape: no envelopes, only what
SPEC 10.3 says a view is a pure function of -- ratings ``(rater, subject, stake, score, settled_ms)``,
the viewer's seeds, the faulty principals and ``now_ms`` -- and what the view must report of each
principal it names: trust, score, uncertainty and vouched stake, within the tolerance ATT-021 allows,
and ``n_positive`` (the ``n₊`` of ATT-010) and ``iterations`` (ATT-009's stop) exactly.

A rating vector (ratings.json) is the step before: an evidence bundle -- envelopes an auditor takes, all
accepted -- and the escrows the view trusts, to the exact rating of each attestation it holds that counts
(SPEC 10.2, ATT-004..ATT-007).

This module parses and runs; it prints nothing and exits nothing (the CLI does that).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.reputation import ratings
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.trust import RatingTable, TrustParams, TrustView, aggregate
from a2a_coop.protocol.verifier import Verifier

_V = TypeVar("_V", "ReputationVector", "RatingVector")  # a vector file's tests, parsed

SCHEMA: Final = "a2a-coop-reputation-vectors/1"
RATING_SCHEMA: Final = "a2a-coop-rating-vectors/1"
SCHEMAS: Final = (SCHEMA, RATING_SCHEMA)
RATING_FIELDS: Final = ("attestation", "rater", "subject", "stake", "score", "settled_ms")
# ATT-021: how far a reported figure may be from the vector's (trust, score and uncertainty lie in [0, 1];
# vouched stake is an amount, compared relative to its size).
ABSOLUTE_TOLERANCE: Final = 1e-9
RELATIVE_TOLERANCE: Final = 1e-9
FIGURES: Final = ("trust", "score", "uncertainty", "vouched_stake")


class ReputationVectorFormatError(ValueError):
    """A file does not follow the a2a-coop-reputation-vectors/1 format."""


@dataclass(frozen=True)
class RatingRow:
    """One rating of a vector (SPEC 10.2): principals as opaque strings, stake an integer amount, score in
    [0, 1], settled_ms the settlement's time in Unix milliseconds."""

    rater: str
    subject: str
    stake: int
    score: float
    settled_ms: int


@dataclass(frozen=True)
class ReputationVector:
    """One test: a view's inputs and what it must report.

    Attributes:
        source, group_type, tc_id, comment, requirements: as for a statement vector.
        now_ms: the view's time.
        seeds: the viewer's seeds; faulty: principals with a fork proof against them.
        ratings: the ratings the viewer holds, in the order it holds them.
        n_positive: the expected ``n₊`` (ATT-010); iterations: the expected ATT-009 stop.
        expected: principal -> {figure: value} for every principal the test names.
    """

    source: str
    group_type: str
    tc_id: int
    comment: str
    requirements: tuple[str, ...]
    now_ms: int
    seeds: tuple[str, ...]
    faulty: tuple[str, ...]
    ratings: tuple[RatingRow, ...]
    n_positive: int
    iterations: int
    expected: Mapping[str, Mapping[str, float]]

    @property
    def name(self) -> str:
        first = self.requirements[0] if self.requirements else "none"
        return f"{self.source}-{self.tc_id}-{first}"


@dataclass(frozen=True)
class RatingVector:
    """One rating test: an evidence bundle, the escrows the view trusts, and the expected ratings (each
    ``{attestation (hex digest), rater, subject, stake, score, settled_ms}``, in the order taken)."""

    source: str
    group_type: str
    tc_id: int
    comment: str
    requirements: tuple[str, ...]
    trusted_escrows: tuple[str, ...]
    envelopes: tuple[bytes, ...]
    expected: tuple[Mapping[str, Any], ...]

    @property
    def name(self) -> str:
        first = self.requirements[0] if self.requirements else "none"
        return f"{self.source}-{self.tc_id}-{first}"


@dataclass(frozen=True)
class ReputationOutcome:
    """What running one reputation or rating vector produced: the differences found (none: it passed)."""

    vector: ReputationVector | RatingVector
    differences: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.differences


def view_of(vector: ReputationVector, params: TrustParams | None = None) -> TrustView:
    """The reference view (:func:`a2a_coop.protocol.trust.aggregate`) of a vector's inputs, at SPEC 10.3's
    parameters unless ``params`` says otherwise."""
    principals = list(dict.fromkeys(p for r in vector.ratings for p in (r.rater, r.subject)))
    index = {p: i for i, p in enumerate(principals)}
    table = RatingTable(
        principals,
        rater=[index[r.rater] for r in vector.ratings],
        subject=[index[r.subject] for r in vector.ratings],
        stake=[r.stake for r in vector.ratings],
        score=[r.score for r in vector.ratings],
        settled_ms=[r.settled_ms for r in vector.ratings],
    )
    return aggregate(table, vector.seeds, vector.now_ms, params or TrustParams(), vector.faulty)


def figures(view: TrustView, principal: str) -> dict[str, float]:
    """What a view reports of one principal, as a vector states it."""
    s = view.score(principal)
    return {
        "trust": s.trust,
        "score": s.score,
        "uncertainty": s.uncertainty,
        "vouched_stake": s.vouched_stake,
    }


def n_positive(view: TrustView) -> int:
    """``n₊`` of ATT-010: the principals the seeds that are not faulty reach over pairs of ``c > 0``."""
    return view.n_positive


def agrees(figure: str, got: float, want: float) -> bool:
    """ATT-021's tolerance for one reported figure."""
    if figure == "vouched_stake":
        return abs(got - want) <= RELATIVE_TOLERANCE * max(1.0, abs(want))
    return abs(got - want) <= ABSOLUTE_TOLERANCE


def rate_bundle(vector: RatingVector) -> list[dict[str, Any]] | str:
    """The ratings (SPEC 10.2) of every attestation the vector's bundle holds that counts, in the order
    taken, by :func:`a2a_coop.protocol.reputation.ratings`; or why the bundle was not taken in full."""
    verifier = Verifier(complete_chains=False, evidence_view=True)
    held: list[VerifiedStatement] = []
    for i, data in enumerate(vector.envelopes):
        try:
            vs = verifier.accept(data, None)
        except CoopError as exc:
            return f"envelope {i} refused: {exc.code} [{exc.requirement}] {exc.detail}"
        if vs.body == "attestation":
            held.append(vs)
    return [
        {
            "attestation": r.attestation.hex(),
            "rater": r.rater,
            "subject": r.subject,
            "stake": r.stake,
            "score": r.score,
            "settled_ms": r.settled_ms,
        }
        for r in ratings(verifier, held, frozenset(vector.trusted_escrows))
    ]


def _weighed(rating: Mapping[str, Any]) -> dict[str, Any]:
    """What a rating vector holds an implementation to: every field, but score and settled time only when
    the stake is above 0 (a rating of stake 0 changes nothing, ATT-004)."""
    keep = RATING_FIELDS if rating["stake"] > 0 else ("attestation", "rater", "subject", "stake")
    return {k: rating[k] for k in keep}


def _run_rating_vector(vector: RatingVector) -> ReputationOutcome:
    got = rate_bundle(vector)
    if isinstance(got, str):
        return ReputationOutcome(vector, (got,))
    want = [dict(r) for r in vector.expected]
    if [_weighed(r) for r in got] == [_weighed(r) for r in want]:
        return ReputationOutcome(vector, ())
    return ReputationOutcome(vector, (f"ratings {got}, expected {want}",))


def run_reputation_vector(vector: ReputationVector | RatingVector) -> ReputationOutcome:
    """Aggregate a vector's ratings and compare every figure it states (ATT-021's tolerance); for a
    rating vector, rate its bundle and compare each rating exactly."""
    if isinstance(vector, RatingVector):
        return _run_rating_vector(vector)
    try:
        view = view_of(vector)
    except ValueError as exc:
        return ReputationOutcome(vector, (f"aggregation refused: {exc}",))
    diffs = []
    if (got := n_positive(view)) != vector.n_positive:
        diffs.append(f"n_positive {got}, expected {vector.n_positive}")
    if view.iterations != vector.iterations:
        diffs.append(f"iterations {view.iterations}, expected {vector.iterations}")
    for principal, want in vector.expected.items():
        have = figures(view, principal)
        diffs += [
            f"{principal}.{k} {have[k]!r}, expected {v!r}"
            for k, v in want.items()
            if not agrees(k, have[k], v)
        ]
    return ReputationOutcome(vector, tuple(diffs))


def run_reputation_vectors(vectors: Sequence[ReputationVector | RatingVector]) -> list[ReputationOutcome]:
    """:func:`run_reputation_vector` for each vector, in order."""
    return [run_reputation_vector(v) for v in vectors]


def parse_reputation_file(
    doc: Any, source: str = "reputation"
) -> list[ReputationVector] | list[RatingVector]:
    """The tests of a decoded reputation (or rating) vector file, in file order.

    Raises:
        ReputationVectorFormatError: the document is not an a2a-coop-reputation-vectors/1 or
            a2a-coop-rating-vectors/1 file, or its parameters are not SPEC 10.3's (this library checks
            views at those only).
    """
    if isinstance(doc, Mapping) and doc.get("schema") == RATING_SCHEMA:
        return _parse_rating_file(doc, source)
    if not isinstance(doc, Mapping) or doc.get("schema") != SCHEMA:
        raise ReputationVectorFormatError(f"not a reputation vector file (schema {SCHEMA})")
    params = TrustParams()
    expected_params = {
        "damping": params.damping,
        "half_life_ms": params.half_life_ms,
        "pair_cap": params.pair_cap,
        "tolerance": params.tolerance,
        "max_iterations": params.max_iterations,
    }
    if doc.get("parameters") != expected_params:
        raise ReputationVectorFormatError(f"parameters must be SPEC 10.3's: {expected_params}")
    return _parse_groups(doc, "viewGroups", _parse_test, source)


def _parse_groups(
    doc: Mapping[str, Any], key: str, parse_test: Callable[[Any, str, str, str], _V], source: str
) -> list[_V]:
    """The tests of every group under ``key``, each read by ``parse_test(test, where, source, group
    type)``; tcIds unique and as many as ``numberOfTests`` says."""
    groups = doc.get(key)
    if not isinstance(groups, list):
        raise ReputationVectorFormatError(f"no {key} list")
    out = []
    for g, group in enumerate(groups):
        if not isinstance(group, Mapping) or not isinstance(group.get("tests"), list):
            raise ReputationVectorFormatError(f"{key}[{g}]: a group needs a tests list")
        for t, test in enumerate(group["tests"]):
            out.append(parse_test(test, f"{key}[{g}].tests[{t}]", source, str(group.get("type", ""))))
    ids = [v.tc_id for v in out]
    if len(set(ids)) != len(ids):
        raise ReputationVectorFormatError("tcId values must be unique within a file")
    if doc.get("numberOfTests") != len(out):
        raise ReputationVectorFormatError(
            f"numberOfTests is {doc.get('numberOfTests')} but the file holds {len(out)}"
        )
    return out


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return (_integer(value) or isinstance(value, float)) and math.isfinite(value)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ReputationVectorFormatError(f"{where}: a list of principal names")
    return tuple(value)


def _parse_test(test: Any, where: str, source: str, group_type: str) -> ReputationVector:
    if not isinstance(test, Mapping):
        raise ReputationVectorFormatError(f"{where}: a test is a JSON object")
    try:
        tc_id, now_ms, ratings, expected = test["tcId"], test["now_ms"], test["ratings"], test["expected"]
        seeds, faulty = _names(test["seeds"], f"{where}.seeds"), _names(test["faulty"], f"{where}.faulty")
        count, iterations, principals = expected["n_positive"], expected["iterations"], expected["principals"]
    except (KeyError, TypeError) as exc:
        raise ReputationVectorFormatError(f"{where}: missing {exc}") from None
    if not (_integer(tc_id) and _integer(now_ms) and _integer(count) and _integer(iterations)):
        raise ReputationVectorFormatError(f"{where}: tcId, now_ms, n_positive and iterations are integers")
    if not isinstance(ratings, list):
        raise ReputationVectorFormatError(f"{where}: ratings must be a list")
    rows = []
    for i, r in enumerate(ratings):
        ok = isinstance(r, Mapping) and isinstance(r.get("rater"), str) and isinstance(r.get("subject"), str)
        if not (
            ok and _integer(r.get("stake")) and _number(r.get("score")) and _integer(r.get("settled_ms"))
        ):
            raise ReputationVectorFormatError(
                f"{where}.ratings[{i}]: rater, subject, stake, score, settled_ms"
            )
        rows.append(RatingRow(r["rater"], r["subject"], r["stake"], float(r["score"]), r["settled_ms"]))
    if not isinstance(principals, Mapping) or not all(
        isinstance(v, Mapping) and set(v) == set(FIGURES) and all(_number(x) for x in v.values())
        for v in principals.values()
    ):
        raise ReputationVectorFormatError(f"{where}: expected.principals maps a name to {FIGURES}")
    return ReputationVector(
        source=source,
        group_type=group_type,
        tc_id=tc_id,
        comment=str(test.get("comment", "")),
        requirements=tuple(str(r) for r in test.get("requirements", ())),
        now_ms=now_ms,
        seeds=seeds,
        faulty=faulty,
        ratings=tuple(rows),
        n_positive=count,
        iterations=iterations,
        expected={p: {k: float(x) for k, x in v.items()} for p, v in principals.items()},
    )


def _parse_rating_file(doc: Mapping[str, Any], source: str) -> list[RatingVector]:
    return _parse_groups(doc, "ratingGroups", _parse_rating_test, source)


def _parse_rating_test(test: Any, where: str, source: str, group_type: str) -> RatingVector:
    if not isinstance(test, Mapping):
        raise ReputationVectorFormatError(f"{where}: a test is a JSON object")
    try:
        tc_id, envelopes, expected = test["tcId"], test["envelopes"], test["expected"]
        trusted = _names(test["trusted_escrows"], f"{where}.trusted_escrows")
    except KeyError as exc:
        raise ReputationVectorFormatError(f"{where}: missing {exc}") from None
    if not _integer(tc_id):
        raise ReputationVectorFormatError(f"{where}: tcId is an integer")
    if not isinstance(envelopes, list) or not all(isinstance(e, str) for e in envelopes):
        raise ReputationVectorFormatError(f"{where}: envelopes must be a list of base64 strings")
    try:
        decoded = tuple(base64.b64decode(e, validate=True) for e in envelopes)
    except (binascii.Error, ValueError) as exc:
        raise ReputationVectorFormatError(f"{where}: bad base64 envelope: {exc}") from None
    if not isinstance(expected, list) or not all(
        isinstance(r, Mapping) and tuple(r) == RATING_FIELDS for r in expected
    ):
        raise ReputationVectorFormatError(f"{where}: expected is a list of {{{', '.join(RATING_FIELDS)}}}")
    return RatingVector(
        source=source,
        group_type=group_type,
        tc_id=tc_id,
        comment=str(test.get("comment", "")),
        requirements=tuple(str(r) for r in test.get("requirements", ())),
        trusted_escrows=trusted,
        envelopes=decoded,
        expected=tuple(dict(r) for r in expected),
    )
