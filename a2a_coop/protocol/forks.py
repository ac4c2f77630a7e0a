"""Fork proofs: two statements of one issuer that no single chain holds (SPEC.md section 10.5, ATT-012).

Theory of operation. An issuer keeps one chain (CHN-001) whose times never run
backwards (CHN-005). Two of its statements prove it broke that, offline and
forever, when they are

* at one seq with different digests, or at seqs n and n + 1 where the second's
  prev is not the first's digest: an equivocation proof (SPEC 6.8, CHN-004,
  CHN-003); or
* at seqs m < n with the statement at m issued later than the one at n: a time
  inversion (CHN-005); or
* two different answers -- Counter, Accept or Reject -- to one statement (their
  ``offer`` fields equal): an **answer proof** (ATT-022). Not a fork of the chain,
  but the same kind of evidence: an honest key answers a statement once (NEG-005:
  after its answer the statement is no longer the outstanding offer in its own
  view), and NEG-021 lets the key that signs two keep one back and reveal it after
  the other party performed (tests/test_attack25_answer_proof.py).

The second kind closes the gap a forker would use against the first: a key that
keeps two branches alive at far-apart seqs never signs twice at one position, but
as soon as both branches are in use at once, some statement of the higher
branch is older than one of the lower. An honest issuer produces none of the three: its
guard refuses to sign what its own chain view rejects, it persists each seq
before sending (SPEC 16.6), and it answers each statement once.

A verifier's chain view reports both kinds with the two envelopes as evidence
(EQUIVOCATION, CHAIN_BROKEN) -- and its replay memory, which checks first (RPL-001,
ERR-002), a statement at a used seq carrying that statement's nonce (NONCE_REUSED,
the nonce's holder then the statement); :func:`fork_proof_from` keeps them, and
:func:`verify_fork_proof` checks a proof received from anyone. A view that takes
or refuses a second answer of a key to one statement keeps the two as an answer
proof (:class:`~a2a_coop.runtime.evidence.EvidenceVerifier`). A view holding a
proof zeroes the issuer's trust (ATT-013).
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

from a2a_coop.protocol.chain import EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.envelope import envelope_to_json, parse_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, decode_statement, verify_statement

PROOF_SCHEMA: Final = "a2a-coop-equivocation-proof/1"  # a proof's file: what `a2a-coop verify` checks


@dataclass(frozen=True)
class ForkProof:
    """Two envelopes by one issuer that no chain kept by CHN-001 and CHN-005 holds, or two answers of one
    issuer to one statement (ATT-022)."""

    first: bytes
    second: bytes
    # What travels with the proof in a swap (ATT-024): the KeyRevocations that spare a principal of its
    # issuer on it, and their Stamps. No part of the proof -- two proofs of the same pair are one --, and
    # not kept with it: the receiver takes them as statements, and reads ATT-013 (b) on what it holds.
    revocations: tuple[bytes, ...] = field(default=(), compare=False, repr=False)
    # And the witnessing escrows' earliest Stamps of its two statements, each after its Mandate (ATT-025):
    # what ATT-013 (b) reads to tell a pair witnessed before the principal's revocation from a disowned one.
    stamps: tuple[bytes, ...] = field(default=(), compare=False, repr=False)

    def to_json(self, issuer: str) -> dict[str, Any]:
        """The proof as a file (conformance/vectors/README.md: ``first`` and ``second`` in DSSE JSON), the
        form ``a2a-coop verify`` checks and the vectors' proofs take; gossip and the journal carry the same
        two envelopes in binary."""
        return {
            "schema": PROOF_SCHEMA,
            "issuer": issuer,
            "first": envelope_to_json(self.first),
            "second": envelope_to_json(self.second),
        }


# A held proof's two statements are read again at every swap it goes in (ATT-024, ATT-025: up to 32 proofs a
# swap) and whenever a view weighs it (ATT-013 (b)): each envelope's signature is verified once, the result
# kept by the envelope's hash -- its key, payload and signature -- in a bounded map, the first verified
# dropped first. Plain dict operations, each atomic: peers in threads share it without a lock.
PROOF_STATEMENTS_KEPT: Final = 512
_proof_statements: dict[bytes, VerifiedStatement] = {}


def proof_statements(proof: ForkProof) -> tuple[VerifiedStatement, VerifiedStatement]:
    """``proof``'s two statements, verified (section 11 steps 1-20) -- each once while kept in the bounded
    map of :data:`PROOF_STATEMENTS_KEPT`.

    Raises:
        CoopError: an envelope does not verify.
    """
    return _verified(proof.first), _verified(proof.second)


def _verified(envelope: bytes) -> VerifiedStatement:
    key = hashlib.sha256(envelope).digest()
    vs = _proof_statements.get(key)
    if vs is None:
        vs = _proof_statements[key] = verify_statement(envelope)
        while len(_proof_statements) > PROOF_STATEMENTS_KEPT:
            with suppress(StopIteration, RuntimeError, KeyError):  # another thread dropped it first
                del _proof_statements[next(iter(_proof_statements))]
    return vs


def verify_fork_proof(proof: ForkProof) -> str:
    """Check a fork proof offline (ATT-012).

    Returns:
        The did:key of the issuer whose chain forked.

    Raises:
        CoopError: an envelope does not verify (section 11, steps 1-20).
        ValueError: the statements have different issuers, are the same, or do not conflict.
    """
    try:
        return verify_equivocation_proof(EquivocationProof(proof.first, proof.second))
    except ValueError as not_equivocation:
        a, b = verify_statement(proof.first), verify_statement(proof.second)
        lo, hi = (a, b) if a.header.seq < b.header.seq else (b, a)
        inverted = lo.header.seq < hi.header.seq and lo.header.issued_at_ms > hi.header.issued_at_ms
        if a.issuer == b.issuer and inverted:
            return a.issuer  # time runs backwards along the chain (CHN-005)
        if a.issuer == b.issuer and answers_one_statement(a, b):
            return a.issuer  # two answers to one statement (ATT-022)
        raise not_equivocation


ANSWERS: Final = frozenset({"counter", "accept", "reject"})


def answered(vs: VerifiedStatement) -> bytes:
    """The statement ``vs`` answers -- its ``offer`` field -- when it is a Counter, Accept or Reject;
    else empty."""
    return getattr(vs.statement, vs.body).offer if vs.body in ANSWERS else b""


def answers_one_statement(a: VerifiedStatement, b: VerifiedStatement) -> bool:
    """ATT-022: whether ``a`` and ``b`` are two different answers (Counter, Accept, Reject) to one
    statement. Their issuer is the caller's to compare; the statement answered need not be held: an
    honest key answers any statement once, whatever its terms or escrow."""
    ref = answered(a)
    return bool(ref) and ref == answered(b) and a.digest != b.digest


def proof_rank(proof: ForkProof) -> tuple[int, bytes, bytes]:
    """ATT-013 (c): of two proofs against one key, the one kept ranks first -- its later statement dated
    earliest, then by digests. A revocation of the key spares its principal on a proof only if it reaches a
    statement of it (ATT-013 (b), KEY-011 (a): dated at or after its effective_ms), so the earliest-dated
    proof is the last any revocation spares -- a later pair its holder signs after revoking the key back
    over a witnessed one hides nothing. Both halves were checked when the proof was taken (ATT-012): parsed
    here, no signature checked again."""
    first, second = parse_envelope(proof.first), parse_envelope(proof.second)
    dated = (decode_statement(p.envelope.payload).header.issued_at_ms for p in (first, second))
    return pair_rank(next(dated), first.digest, next(dated), second.digest)


def pair_rank(dated_a: int, digest_a: bytes, dated_b: int, digest_b: bytes) -> tuple[int, bytes, bytes]:
    """ATT-013 (c)'s rank of a pair (first first): its later statement's issued_at_ms, then its digests
    sorted, compared bytewise."""
    low, high = sorted((digest_a, digest_b))
    return max(dated_a, dated_b), low, high


def fork_proof_from(error: CoopError) -> ForkProof | None:
    """The fork proof a chain error carries (EQUIVOCATION, or CHAIN_BROKEN under CHN-003 or CHN-005), or a
    replay error whose two envelopes are one (NONCE_REUSED: a second statement at the nonce holder's seq,
    refused for the nonce before the chain check could refuse it as the fork, ATT-011), or None when it
    carries none. Else a forker reusing the nonce of the statement it forks left no proof anywhere
    (tests/test_attack23_nonce_fork.py)."""
    # An escrow's EQUIVOCATION carries its Mandate and its Stamp of the held half after them (RPC-006 (c)).
    sizes = (2, 4) if error.code == "EQUIVOCATION" else (2,)
    if error.code not in ("EQUIVOCATION", "CHAIN_BROKEN", "NONCE_REUSED") or len(error.evidence) not in sizes:
        return None
    proof = ForkProof(error.evidence[0], error.evidence[1])
    try:
        verify_fork_proof(proof)
    except (CoopError, ValueError):
        return None
    return proof
