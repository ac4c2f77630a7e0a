"""The mutant servers: one deviation from SPEC.md each, the rule it breaks and what a suite should see.

A mutant is the reference peer with exactly one fault (:mod:`.faults`) injected at one seam. The
catalogue is data: :mod:`.server` builds a mutant's process from it, :mod:`.probes` names the probe
that shows the deviation, and ``python -m conformance.mutants list`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from a2a_coop.protocol import errors
from a2a_coop.runtime.peer import Peer, PeerVerifier
from conformance.mutants import faults

REFERENCE = "reference"  # the unmutated peer, served by the same launcher


@dataclass(frozen=True)
class Mutant:
    """One fault-injected server.

    Attributes:
        name: what ``serve NAME`` takes.
        violates: the SPEC requirement IDs the deviation breaks.
        deviation: what the mutant does differently from the reference peer.
        expect: what a conformance suite should observe.
        probe: the name of the probe in :mod:`.probes` that shows the deviation.
    """

    name: str
    violates: tuple[str, ...]
    deviation: str
    expect: str
    probe: str
    peer_class: type[Peer] = Peer
    verifier_class: type[PeerVerifier] | None = None
    install: Callable[[], None] | None = None
    rewrite: Callable[[errors.CoopError], Exception] | None = None
    interceptor: type[grpc.ServerInterceptor[Any, Any]] | None = None
    forget_answers: bool = False

    @property
    def seam(self) -> str:
        """Where the fault is injected, in words (see :mod:`.faults`)."""
        parts = []
        if self.install is not None:
            parts.append(f"module: faults.{self.install.__name__}")
        if self.verifier_class is not None:
            parts.append(f"verifier: Peer.verifier_class = faults.{self.verifier_class.__name__}")
        if self.peer_class is not Peer:
            parts.append(f"peer: faults.{self.peer_class.__name__}")
        if self.forget_answers:
            parts.append("journal: faults.AnswersForgotten")
        if self.rewrite is not None:
            parts.append(f"handler: faults.RejectionRewritten with faults.{self.rewrite.__name__}")
        if self.interceptor is not None:
            parts.append(f"interceptor: faults.{self.interceptor.__name__}")
        return " + ".join(parts)


MUTANTS: tuple[Mutant, ...] = (
    # -- envelope and signature ---------------------------------------------------------------
    Mutant(
        "skip-signature",
        ("ENV-006",),
        "does not verify Ed25519 signatures (length and S are still checked)",
        "an Offer with a flipped signature bit is answered with an Accept instead of SIGNATURE_INVALID",
        probe="bad-signature",
        install=faults.skip_signature_check,
    ),
    Mutant(
        "accept-high-s",
        ("ENV-007",),
        "reduces a signature's S mod L before verifying (malleable signatures pass)",
        "an Offer whose S was replaced by S + L is accepted instead of SIGNATURE_NONCANONICAL",
        probe="high-s",
        install=faults.reduce_high_s,
    ),
    Mutant(
        "signs-without-pae",
        ("ENV-002",),
        "signs its statements over the bare payload, not PAE(payload type, payload)",
        "none of its statements verify: its Ack (or Accept) fails SIGNATURE_INVALID at the caller",
        probe="ack",
        install=faults.sign_payload_not_pae,
    ),
    Mutant(
        "payload-type-unchecked",
        ("ENV-003",),
        "takes any payload type (and verifies the signature over the type sent)",
        "an Offer under payload type ...statement.v2+protobuf is accepted, not UNSUPPORTED_PAYLOAD_TYPE",
        probe="payload-type",
        install=faults.payload_type_unchecked,
    ),
    Mutant(
        "noncanonical-accepted",
        ("STM-002",),
        "takes a payload that parses, whether or not it is the canonical encoding",
        "an Offer whose payload puts the body before the header is accepted, not NONCANONICAL_ENCODING",
        probe="noncanonical",
        install=faults.noncanonical_accepted,
    ),
    Mutant(
        "version-unchecked",
        ("STM-003",),
        "never compares header.version with 1",
        "an Offer with header.version 2 is accepted instead of UNSUPPORTED_VERSION",
        probe="version",
        install=faults.version_unchecked,
    ),
    Mutant(
        "keyid-unchecked",
        ("STM-004",),
        "believes header.issuer whoever signed: anyone can sign in another key's name",
        "an Offer in one key's name signed by another is accepted instead of KEYID_MISMATCH",
        probe="keyid",
        install=faults.keyid_unchecked,
    ),
    # -- header, identity, mandate ------------------------------------------------------------
    Mutant(
        "audience-unchecked",
        ("STM-005",),
        "takes a statement addressed to another key as if it were public",
        "an Offer addressed to a third key gets an empty answer instead of WRONG_AUDIENCE",
        probe="wrong-audience",
        peer_class=faults.AudienceUncheckedPeer,
    ),
    Mutant(
        "revocation-ignored",
        ("KEY-004",),
        "records KeyRevocations but never consults them",
        "an Offer by a key whose self-revocation came as context is accepted instead of KEY_REVOKED",
        probe="revoked-key",
        verifier_class=faults.RevocationIgnored,
    ),
    Mutant(
        "mandate-caps-unchecked",
        ("MND-004", "MND-003", "MND-005", "MND-006", "MND-007", "MND-008", "MND-013"),
        "checks that the mandate is held and names the issuer, never what it allows",
        "an Offer above the issuer's max_per_deal is accepted instead of MANDATE_VIOLATION",
        probe="mandate-violation",
        verifier_class=faults.MandateCapsUnchecked,
    ),
    Mutant(
        "budget-ignored",
        ("MND-009",),
        "never charges the budget per period",
        "a second Offer that takes the issuer's period over its budget is accepted, not MANDATE_VIOLATION",
        probe="budget",
        verifier_class=faults.BudgetIgnored,
    ),
    Mutant(
        "ratchet-ignored",
        ("MND-010",),
        "never charges the ratchet cap (max_outstanding)",
        "a second Offer above the issuer's outstanding cap is accepted instead of MANDATE_VIOLATION",
        probe="ratchet",
        verifier_class=faults.RatchetIgnored,
    ),
    # -- time -----------------------------------------------------------------------------------
    Mutant(
        "future-allowance-wide",
        ("TIM-003", "TIM-004"),
        "accepts statements issued up to 600 s ahead of its clock (TIM-004 allows a skew of 300 s at most)",
        "a statement issued 120 s in the future is accepted instead of ISSUED_IN_FUTURE",
        probe="issued-in-future",
        install=faults.future_allowance_wide,
    ),
    Mutant(
        "expiry-skew-twice",
        ("TIM-001",),
        "treats a statement as expired only past expires_at_ms + 2 * skew",
        "a statement expired 40 s ago (skew 30 s) is accepted instead of EXPIRED",
        probe="expired-beyond-skew",
        install=faults.expiry_skew_twice,
    ),
    Mutant(
        "expiry-without-skew",
        ("TIM-001",),
        "treats a statement as expired past expires_at_ms, ignoring the skew",
        "a statement expired 10 s ago (inside the 30 s skew) is refused EXPIRED instead of accepted",
        probe="expired-within-skew",
        install=faults.expiry_without_skew,
    ),
    Mutant(
        "not-before-ignored",
        ("TIM-002",),
        "ignores header.not_before_ms",
        "a statement valid only from 120 s ahead is accepted instead of NOT_YET_VALID",
        probe="not-yet-valid",
        install=faults.not_before_ignored,
    ),
    Mutant(
        "dated-back-accepted",
        ("TIM-006",),
        "takes a statement addressed to it live however far back it is dated",
        "an Offer dated 120 s back is accepted instead of ISSUED_IN_PAST",
        probe="dated-back",
        verifier_class=faults.DatedBackAccepted,
    ),
    # -- replay -----------------------------------------------------------------------------------
    Mutant(
        "nonce-reuse-accepted",
        ("RPL-001",),
        "remembers accepted digests but not (issuer, nonce) pairs",
        "a second, different statement under a used nonce is accepted instead of NONCE_REUSED",
        probe="nonce-reuse",
        verifier_class=faults.NonceReuseAccepted,
    ),
    Mutant(
        "retry-refused",
        ("RPC-003",),
        "does not find the answer it gave: a retried request is refused REPLAYED",
        "the same request twice: the second gets REPLAYED instead of the first answer again",
        probe="retry",
        forget_answers=True,
    ),
    # -- chains -----------------------------------------------------------------------------------
    Mutant(
        "equivocation-accepted",
        ("CHN-004",),
        "lets a second statement at a held seq overwrite the first",
        "two statements of one issuer at one seq: the second is accepted instead of EQUIVOCATION",
        probe="equivocation",
        verifier_class=faults.EquivocationAccepted,
    ),
    Mutant(
        "broken-link-accepted",
        ("CHN-003",),
        "never compares a statement's prev with the digest of the issuer's held predecessor",
        "a statement whose prev is not its predecessor's digest is accepted instead of CHAIN_BROKEN",
        probe="broken-link",
        verifier_class=faults.BrokenLinkAccepted,
    ),
    Mutant(
        "checkpoint-root-wrong",
        ("CHN-007",),
        "hashes Merkle leaves without RFC 6962's 0x00 prefix",
        "its Checkpoint's log_root differs from the tree hash of its statements: LOG_ROOT_MISMATCH",
        probe="checkpoint-root",
        install=faults.leaf_hash_without_prefix,
    ),
    # -- negotiation ----------------------------------------------------------------------------
    Mutant(
        "accepts-expired-offer",
        ("NEG-007",),
        "its state machine never expires the outstanding offer, so it accepts an offer after its expiry",
        "an Offer that expired 5 s ago (still fresh under the skew) gets an Accept dated after it",
        probe="expired-offer",
        install=faults.offer_expiry_ignored,
    ),
    Mutant(
        "exclusive-key-ignored",
        ("NEG-009",),
        "never consults the exclusive_key index",
        "a second Offer with an exclusive_key the proposer already holds a contract for is accepted",
        probe="exclusive",
        install=faults.exclusive_key_ignored,
    ),
    # -- answers (RPC-002) ------------------------------------------------------------------------
    Mutant(
        "ack-missing",
        ("RPC-002",),
        "answers a statement addressed to it that needs no other answer with nothing",
        "an empty answer where one Ack of the request is due",
        probe="ack",
        peer_class=faults.AckMissingPeer,
    ),
    Mutant(
        "ack-wrong-digest",
        ("RPC-002", "STM-012"),
        "its Ack names the SHA-256 of the envelope bytes, not the statement's digest",
        "an Ack that does not name the request's digest",
        probe="ack",
        peer_class=faults.AckWrongDigestPeer,
    ),
    Mutant(
        "mandate-omitted",
        ("RPC-002",),
        "leaves its Mandate out of the answer to an Offer",
        "its Accept cannot be verified from the answer: MANDATE_UNKNOWN at the caller",
        probe="offer-answer",
        peer_class=faults.MandateOmittedPeer,
    ),
    # -- limits (RPC-012) --------------------------------------------------------------------------
    Mutant(
        "context-offers-uncounted",
        ("RPC-012",),
        "counts only an Offer sent as the request toward its cap on one issuer's open negotiations, "
        "not one among the request's context",
        "once one key is at the cap, a Delivery with its negotiation's opening Offer as context is "
        "refused for its own fault (ILLEGAL_TRANSITION), the Offer taken, instead of RATE_LIMITED",
        probe="context-offer-over-cap",
        peer_class=faults.ContextOffersUncountedPeer,
    ),
    # -- the error model (RPC-005, ERR-001) --------------------------------------------------------
    Mutant(
        "no-error-info",
        ("RPC-005", "ERR-001"),
        "reports rejections with the right gRPC status and a message, but no ErrorInfo",
        "a rejection without google.rpc.ErrorInfo in grpc-status-details-bin",
        probe="bad-signature",
        rewrite=faults.without_error_info,
    ),
    Mutant(
        "signature-status-swapped",
        ("RPC-005",),
        "reports SIGNATURE_INVALID with gRPC PERMISSION_DENIED (the registry says UNAUTHENTICATED)",
        "SIGNATURE_INVALID under the wrong gRPC status",
        probe="bad-signature",
        rewrite=faults.signature_as_permission_denied,
    ),
    Mutant(
        "nonce-code-swapped",
        ("ERR-001", "RPL-001"),
        "reports NONCE_REUSED as REPLAYED",
        "a reused nonce refused REPLAYED instead of NONCE_REUSED",
        probe="nonce-reuse",
        rewrite=faults.nonce_reuse_as_replayed,
    ),
    Mutant(
        "audience-code-swapped",
        ("ERR-001", "STM-005"),
        "reports WRONG_AUDIENCE as WRONG_PARTY",
        "a misaddressed Offer refused WRONG_PARTY instead of WRONG_AUDIENCE",
        probe="wrong-audience",
        rewrite=faults.wrong_audience_as_wrong_party,
    ),
    Mutant(
        "origin-local",
        ("RPC-005",),
        "says origin = local in the ErrorInfo of a rejection of the caller's statement",
        "ErrorInfo metadata origin 'local' where the SPEC says 'remote'",
        probe="bad-signature",
        rewrite=faults.origin_local,
    ),
    # -- requests (RPC-007, RPC-011) ----------------------------------------------------------------
    Mutant(
        "gossip-takes-all",
        ("ATT-019",),
        "holds every statement a Gossip swap carries, not only Checkpoints and their Mandates",
        "a Delivery handed over in a swap, then sent as a request, is refused REPLAYED instead of answered",
        probe="gossip-moves-no-trade",
        install=faults.gossip_takes_everything,
    ),
    Mutant(
        "gossip-links-dropped",
        ("ATT-025",),
        "reads no link a gossiped fork proof carries: a statement's escrow only from what it holds",
        "an answer proof passed on without the offer it answers and the escrow's Stamp of it",
        probe="gossip-proof-links",
        install=faults.gossip_links_dropped,
    ),
    Mutant(
        "untrusted-escrow-convicts",
        ("ATT-013",),
        "reads a fork proof's statement witnessed before the principal's revocation from any escrow's Stamp",
        "a principal held faulty (its revocation not passed on with the proof) on a Stamp by an escrow the "
        "target does not trust",
        probe="gossip-untrusted-stamp",
        verifier_class=faults.EveryEscrowTrusted,
    ),
    Mutant(
        "from-seq-unchecked",
        ("RPC-011",),
        "answers GetLog with from_seq above 2^53 - 1 with an empty page",
        "GetLog(from_seq = 2^53) succeeds instead of REQUEST_INVALID (INVALID_ARGUMENT)",
        probe="getlog-range",
        interceptor=faults.FromSeqUnchecked,
    ),
    Mutant(
        "malformed-as-internal",
        ("RPC-007",),
        "fails an Exchange request that does not parse with INTERNAL (grpcio's default)",
        "INTERNAL instead of INVALID_ARGUMENT for request bytes that are not an ExchangeRequest",
        probe="malformed-request",
        interceptor=faults.MalformedAsInternal,
    ),
)

BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}


def markdown_table() -> str:
    """The catalogue as the Markdown table of conformance/mutants/README.md (a test keeps them equal)."""
    rows = [
        "| Mutant | Breaks | Deviation | A suite should see | Seam | Probe |",
        "|---|---|---|---|---|---|",
    ]
    for m in MUTANTS:
        cells = [f"`{m.name}`", ", ".join(m.violates), m.deviation, m.expect, m.seam, f"`{m.probe}`"]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"
