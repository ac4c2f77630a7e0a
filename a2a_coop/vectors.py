"""Run the offline conformance vectors (conformance/vectors/*.json) through this library.

A vector file is Wycheproof-shaped (conformance/vectors/README.md describes
it): groups of tests, each test an ordered list of envelopes with the expected
outcome. A test is run by feeding every envelope, in order, to one fresh
:class:`~a2a_coop.protocol.verifier.Verifier` (complete chains iff the group's mode is
``"complete"``; a view of evidence unless the group's ``role`` is ``"escrow"``), at the test's
reference time ``now_ms`` (freshness is skipped when it is null, TIM-005). The outcome matches
when the transcript is valid and the test says ``"valid"``, or when the first failure has the
expected SPEC code at the expected envelope index -- and, when the test states ``faulty``, the keys and
principals the fork proof its refusal carries convicts in that view (ATT-013), reading "witnessed
before" only from the Stamps of the escrows its ``trusted_escrows`` names (ATT-013 (d); absent: every
escrow's).

This module parses and runs; it prints nothing and exits nothing (the CLI
does that). :func:`load_vector_file` is the only function that touches disk.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import fork_proof_from, verify_fork_proof
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.reputation import convicted, faulty_of
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier

SCHEMA: Final = "a2a-coop-vectors/1"
MODES: Final = ("sparse", "complete")
# The verifier a group runs (its optional ``role``, SPEC 17): an auditor -- a view of evidence, which takes
# a statement witnessed before its revocation (KEY-009) -- by default; or an escrow taking evidence, and
# its audit (AUD-003), which refuses it and applies KEY-010 to every statement it names.
ROLES: Final = ("auditor", "escrow")
RESULTS: Final = ("valid", "invalid")


class VectorFormatError(ValueError):
    """A vector file does not follow the a2a-coop-vectors/1 format."""


@dataclass(frozen=True)
class Vector:
    """One test of a vector file.

    Attributes:
        source: a short name of the file it came from (e.g. ``"statements"``).
        group_type: the ``type`` of its test group.
        mode: ``"sparse"`` or ``"complete"`` (the group's chain mode).
        tc_id: the test's id, unique within its file.
        comment: what the test is about.
        flags: names explained in the file's ``notes``.
        requirements: SPEC requirement IDs the test exercises.
        now_ms: reference time for freshness checks, or None for none.
        envelopes: envelope bytes, in the order they are fed to the verifier.
        result: ``"valid"`` or ``"invalid"``.
        error: the expected SPEC error code of an invalid test.
        failed_index: index of the envelope expected to fail.
        role: ``"auditor"`` (a view of evidence, the default) or ``"escrow"`` (an escrow taking
            evidence and its audit: no KEY-009 exception, KEY-010 on all five statements).
        trusted_escrows: the escrows the view trusts (ATT-013 (d)), or None: every escrow.
        faulty: the keys and principals the view must hold faulty after the run (ATT-013), sorted, or
            None: the test states none.
    """

    source: str
    group_type: str
    mode: str
    tc_id: int
    comment: str
    flags: tuple[str, ...]
    requirements: tuple[str, ...]
    now_ms: int | None
    envelopes: tuple[bytes, ...]
    result: str
    error: str | None
    failed_index: int | None
    role: str = "auditor"
    trusted_escrows: tuple[str, ...] | None = None
    faulty: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        """A stable test id: ``<source>-<tcId>-<first requirement>``."""
        first = self.requirements[0] if self.requirements else "none"
        return f"{self.source}-{self.tc_id}-{first}"

    @property
    def expected(self) -> str:
        """``"valid"``, or ``"CODE at N"`` for an invalid test; then ``"; faulty: ..."`` when it states
        them."""
        verdict = "valid" if self.result == "valid" else f"{self.error} at {self.failed_index}"
        return verdict + faulty_text(self.faulty)


def faulty_text(faulty: Sequence[str] | None) -> str:
    """How a verdict's faulty set is written beside it (none when not stated)."""
    return "" if faulty is None else f"; faulty: {', '.join(faulty) or 'none'}"


@dataclass(frozen=True)
class VectorOutcome:
    """What running one vector produced.

    Attributes:
        vector: the test that ran.
        error: the SPEC code of the first failure, or None if all envelopes were accepted.
        failed_index: index of the envelope that failed, or None.
        requirement: the requirement ID the failure named (may be empty).
        detail: the failure's human-readable detail (empty when valid).
    """

    vector: Vector
    error: str | None
    failed_index: int | None
    requirement: str = ""
    detail: str = ""
    faulty: tuple[str, ...] | None = None  # what the view held faulty, when the vector states it

    @property
    def actual(self) -> str:
        """``"valid"``, or ``"CODE at N"``, and the faulty set read; compare with :attr:`Vector.expected`."""
        verdict = "valid" if self.error is None else f"{self.error} at {self.failed_index}"
        return verdict + faulty_text(self.faulty)

    @property
    def passed(self) -> bool:
        v = self.vector
        if v.faulty is not None and self.faulty != v.faulty:
            return False
        if v.result == "valid":
            return self.error is None
        return self.error == v.error and self.failed_index == v.failed_index


def escrow_refusal(verifier: Verifier, vs: VerifiedStatement) -> CoopError | None:
    """ESC-019 and ESC-020 for a group of role ``"escrow"`` (SPEC 17), as the escrow's audit replays them
    (AUD-003): an Accept, taken by the verifier, of an Offer or Counter naming an escrow, under which a
    party could sign no claim through the claim window by the Mandates, renewals and revocations held
    before it -- or, when a Stamp of that escrow naming the Accept is held, whose last ruling time is at
    or after the end of the validity of the Mandate the earliest such Stamp cites, cut at the held
    revocations of the escrow's key and that Mandate's principal (``MANDATE_VIOLATION``) -- else None."""
    if vs.body != "accept":
        return None
    offer = verifier.statements.get(vs.statement.accept.offer)
    if offer is None or offer.body not in ("offer", "counter") or not proposal_of(offer).terms.escrow:
        return None
    refusal = verifier.contract_outlives(offer, vs)
    stamp = verifier.witness.stamp_of(proposal_of(offer).terms.escrow, vs.digest)
    held = verifier.statements.get(stamp) if refusal is None and stamp is not None else None
    return refusal if held is None else verifier.escrow_outlived(offer, held.mandate_digest)


def run_vector(vector: Vector, view: type[Verifier] = Verifier) -> VectorOutcome:
    """Feed a vector's envelopes to one fresh verifier (a ``view``: the core's :class:`Verifier`, or a class
    built on it) and report the first failure (an escrow's verifier also applies ESC-019 to each Accept it
    takes: :func:`escrow_refusal`), and, when the vector states ``faulty``, what the view holds faulty then
    (:func:`faulty_after`)."""
    verifier = view(complete_chains=vector.mode == "complete", evidence_view=vector.role == "auditor")
    for i, data in enumerate(vector.envelopes):
        try:
            vs = verifier.accept(data, vector.now_ms)
            refusal = escrow_refusal(verifier, vs) if vector.role == "escrow" else None
            if refusal is not None:
                raise refusal
        except CoopError as exc:
            faulty = None if vector.faulty is None else faulty_after(verifier, exc, vector.trusted_escrows)
            return VectorOutcome(vector, exc.code, i, exc.requirement, exc.detail, faulty)
    faulty = None if vector.faulty is None else faulty_after(verifier, None, vector.trusted_escrows)
    return VectorOutcome(vector, None, None, faulty=faulty)


def faulty_after(
    verifier: Verifier, refusal: CoopError | None, trusted: Sequence[str] | None
) -> tuple[str, ...]:
    """ATT-013: the keys and principals ``verifier``'s view holds faulty once it stopped at ``refusal``
    (None: it took every envelope), reading "witnessed before" only from the Stamps of the ``trusted``
    escrows (ATT-013 (d); None: every escrow's) -- what every fork and answer proof it was shown convicts
    (SPEC 17.1), when it keeps them (a ``forks`` mapping, issuer -> proof: the runtime's view of evidence,
    which keeps two answers of one key to one statement both taken too, ATT-022); else, a core verifier
    keeping no proof, what the fork proof the refusal carries convicts (ATT-012: an EQUIVOCATION,
    CHAIN_BROKEN or NONCE_REUSED with its two envelopes) -- short of SPEC 17.1 for a transcript holding an
    answer pair (F125): run a vector stating ``faulty`` in a view that keeps them."""
    forks = getattr(verifier, "forks", None)
    if forks is not None:
        return tuple(sorted(faulty_of(verifier, forks, trusted)))
    proof = None if refusal is None else fork_proof_from(refusal)
    if proof is None:
        return ()
    return tuple(sorted(convicted(verifier, verify_fork_proof(proof), proof, trusted)))


def run_vectors(vectors: Sequence[Vector], view: type[Verifier] = Verifier) -> list[VectorOutcome]:
    """:func:`run_vector` for each vector, in order."""
    return [run_vector(v, view) for v in vectors]


def parse_vector_file(doc: Any, source: str = "vectors") -> list[Vector]:
    """The tests of a decoded vector file (the JSON object), in file order.

    Args:
        doc: the decoded JSON document.
        source: a short name for the file, used in :attr:`Vector.name`.

    Raises:
        VectorFormatError: the document is not an a2a-coop-vectors/1 file.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("testGroups"), list):
        raise VectorFormatError("not a vector file: no testGroups list")
    if doc.get("schema") != SCHEMA:
        raise VectorFormatError(f"unsupported vector schema {doc.get('schema')!r:.40}; expected {SCHEMA}")
    out: list[Vector] = []
    for g, group in enumerate(doc["testGroups"]):
        where = f"testGroups[{g}]"
        if not isinstance(group, Mapping) or not isinstance(group.get("tests"), list):
            raise VectorFormatError(f"{where}: a group needs a tests list")
        mode = group.get("mode")
        if mode not in MODES:
            raise VectorFormatError(f"{where}: mode must be one of {MODES}")
        role = group.get("role", "auditor")
        if role not in ROLES:
            raise VectorFormatError(f"{where}: role must be one of {ROLES}")
        for t, test in enumerate(group["tests"]):
            out.append(
                _parse_test(test, f"{where}.tests[{t}]", source, str(group.get("type", "")), mode, role=role)
            )
    ids = [v.tc_id for v in out]
    if len(set(ids)) != len(ids):
        raise VectorFormatError("tcId values must be unique within a file")
    declared = doc.get("numberOfTests")
    if declared is not None and declared != len(out):
        raise VectorFormatError(f"numberOfTests is {declared} but the file holds {len(out)} tests")
    return out


def load_vector_file(path: Path) -> list[Vector]:
    """Read and parse a vector file. Raises OSError, VectorFormatError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VectorFormatError(f"{path}: not JSON: {exc}") from None
    return parse_vector_file(doc, path.stem)


def _parse_test(test: Any, where: str, source: str, group_type: str, mode: str, *, role: str) -> Vector:
    if not isinstance(test, Mapping):
        raise VectorFormatError(f"{where}: a test is a JSON object")
    try:
        tc_id, result, error, failed = test["tcId"], test["result"], test["error"], test["failedIndex"]
        now_ms, envelopes = test["now_ms"], test["envelopes"]
    except KeyError as exc:
        raise VectorFormatError(f"{where}: missing {exc}") from None
    if not isinstance(tc_id, int) or isinstance(tc_id, bool):
        raise VectorFormatError(f"{where}: tcId must be an integer")
    if result not in RESULTS:
        raise VectorFormatError(f"{where}: result must be one of {RESULTS}")
    if result == "valid" and (error is not None or failed is not None):
        raise VectorFormatError(f"{where}: a valid test has null error and failedIndex")
    if not isinstance(envelopes, list) or not all(isinstance(e, str) for e in envelopes):
        raise VectorFormatError(f"{where}: envelopes must be a list of base64 strings")
    if result == "invalid" and not (
        isinstance(error, str) and isinstance(failed, int) and 0 <= failed < len(envelopes)
    ):
        raise VectorFormatError(f"{where}: an invalid test names its error code and a failedIndex")
    if now_ms is not None and not isinstance(now_ms, int):
        raise VectorFormatError(f"{where}: now_ms must be an integer or null")
    try:
        decoded = tuple(base64.b64decode(e, validate=True) for e in envelopes)
    except (binascii.Error, ValueError) as exc:
        raise VectorFormatError(f"{where}: bad base64 envelope: {exc}") from None
    trusted, faulty = (_keys(test, name, where) for name in ("trusted_escrows", "faulty"))
    return Vector(
        source=source,
        group_type=group_type,
        mode=mode,
        tc_id=tc_id,
        comment=str(test.get("comment", "")),
        flags=tuple(str(f) for f in test.get("flags", ())),
        requirements=tuple(str(r) for r in test.get("requirements", ())),
        now_ms=now_ms,
        envelopes=decoded,
        result=result,
        error=error,
        failed_index=failed,
        role=role,
        trusted_escrows=trusted,
        faulty=None if faulty is None else tuple(sorted(faulty)),
    )


def _keys(test: Mapping[str, Any], name: str, where: str) -> tuple[str, ...] | None:
    """A test's optional list of did:keys ``name`` (``trusted_escrows``, ``faulty``), or None when absent."""
    value = test.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise VectorFormatError(f"{where}: {name} must be a list of did:key strings")
    return tuple(value)


# --- pairs that are no proof ---------------------------------------------------------------------

NON_PROOF_SCHEMA: Final = "a2a-coop-equivocation-non-proofs/1"


@dataclass(frozen=True)
class NonProof:
    """One test of an equivocation-non-proofs file: two envelopes that each verify and together prove
    nothing -- no equivocation (CHN-003, CHN-004), fork (ATT-012) or answer proof (ATT-022).

    Attributes:
        source: a short name of the file it came from.
        tc_id: the test's id, unique within its file.
        comment: why the pair is no proof.
        requirements: SPEC requirement IDs the test exercises.
        first, second: the two envelopes (protobuf bytes; the file holds their DSSE JSON).
    """

    source: str
    tc_id: int
    comment: str
    requirements: tuple[str, ...]
    first: bytes
    second: bytes

    @property
    def name(self) -> str:
        """A stable test id: ``<source>-<tcId>-<first requirement>``."""
        return f"{self.source}-{self.tc_id}-{self.requirements[0] if self.requirements else 'none'}"

    @property
    def expected(self) -> str:
        return "not a proof"


@dataclass(frozen=True)
class NonProofOutcome:
    """What checking a :class:`NonProof` as a fork proof produced, in both orders of its envelopes.

    Attributes:
        vector: the test that ran.
        actual: ``"not a proof"`` when both orders were refused as no proof; else what came instead (a
            proof by some issuer, or an envelope that did not verify).
        requirement: the requirement a failure names (the test's first).
        detail: the refusal's reason, or what held.
    """

    vector: NonProof
    actual: str
    requirement: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.actual == self.vector.expected


def parse_non_proofs(doc: Any, source: str = "non-proofs") -> list[NonProof]:
    """The tests of a decoded a2a-coop-equivocation-non-proofs/1 file, in file order.

    Raises:
        VectorFormatError: the document is not such a file.
    """
    from a2a_coop.protocol.envelope import envelope_from_json

    if not isinstance(doc, Mapping) or doc.get("schema") != NON_PROOF_SCHEMA:
        raise VectorFormatError(f"not a {NON_PROOF_SCHEMA} file")
    tests = doc.get("tests")
    if not isinstance(tests, list):
        raise VectorFormatError("a non-proofs file needs a tests list")
    out: list[NonProof] = []
    for t, test in enumerate(tests):
        where = f"tests[{t}]"
        if not isinstance(test, Mapping):
            raise VectorFormatError(f"{where}: a test is a JSON object")
        tc_id = test.get("tcId")
        if not isinstance(tc_id, int) or isinstance(tc_id, bool):
            raise VectorFormatError(f"{where}: tcId must be an integer")
        try:
            first, second = envelope_from_json(test["first"]), envelope_from_json(test["second"])
        except KeyError as exc:
            raise VectorFormatError(f"{where}: missing {exc}") from None
        except CoopError as exc:
            raise VectorFormatError(f"{where}: not a DSSE JSON envelope: {exc.detail}") from None
        requirements = tuple(str(r) for r in test.get("requirements", ()))
        out.append(NonProof(source, tc_id, str(test.get("comment", "")), requirements, first, second))
    if len({v.tc_id for v in out}) != len(out):
        raise VectorFormatError("tcId values must be unique within a file")
    return out


def run_non_proof(vector: NonProof) -> NonProofOutcome:
    """Check the pair as a fork proof (:func:`~a2a_coop.protocol.forks.verify_fork_proof`: an
    equivocation, time running backwards along a chain, or two answers to one statement), in both
    orders: it passes when each order is refused as no proof (ValueError). An envelope that does not
    verify fails it -- the file's envelopes are valid, so the refusal must come from the pair."""
    from a2a_coop.protocol.forks import ForkProof, verify_fork_proof

    requirement = vector.requirements[0] if vector.requirements else ""
    reasons = []
    for a, b, order in ((vector.first, vector.second, "first"), (vector.second, vector.first, "second")):
        try:
            issuer = verify_fork_proof(ForkProof(a, b))
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        except CoopError as exc:
            return NonProofOutcome(vector, f"{exc.code} ({order} first)", requirement, exc.detail)
        return NonProofOutcome(vector, f"a proof by {issuer} ({order} first)", requirement)
    return NonProofOutcome(vector, vector.expected, requirement, "; ".join(dict.fromkeys(reasons)))


def run_non_proofs(vectors: Sequence[NonProof]) -> list[NonProofOutcome]:
    """:func:`run_non_proof` for each test, in order."""
    return [run_non_proof(v) for v in vectors]
