"""A running agent's core: verifier, chain writer, journal and strategy behind the policy guard.

Theory of operation. A :class:`Peer` turns statements in into statements out.
It is synchronous and single-threaded by contract (the transport hands every
call to one thread), and it is the only place where a statement gets signed:

1. A statement arrives (``exchange`` on the serving side, ``on_replies`` on the
   calling side). The :class:`~a2a_coop.protocol.verifier.Verifier` runs the whole
   SPEC section 11 procedure with our clock; a rejection raises the SPEC error
   and changes nothing.
2. The strategy is asked what to do (accept, counter, reject, deliver, receipt).
3. Each decision becomes a candidate statement, stamped with the next seq of our
   chain, and the **policy guard** runs the contextual checks on the unsigned
   candidate: mandate caps, negotiation rules, chain (MND-011). Only a candidate
   that passes is signed.
4. Write-ahead: the incoming statement and every reply are journaled in one
   transaction *before* the replies leave the process, so after a crash the
   chain resumes at the next unused seq (no accidental equivocation) and a
   retried request gets the same replies (RPL-002 idempotency).
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, NamedTuple, Protocol, cast

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, statement_pb2, trade_pb2
from a2a_coop.protocol.archive import Archive, Replaying, ReplayingExposure
from a2a_coop.protocol.bodies import MAX_RESPONSE_WINDOW_MS
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.envelope import (
    STATEMENT_PAYLOAD_TYPE,
    ParsedEnvelope,
    decode_envelope,
    parse_envelope,
    statement_digest,
)
from a2a_coop.protocol.errors import (
    CoopError,
    IssuedInFuture,
    MandateUnknown,
    MandateViolation,
    Origin,
    RateLimited,
    Replayed,
    WrongAudience,
)
from a2a_coop.protocol.escrow import revoke_until
from a2a_coop.protocol.forks import ForkProof, fork_proof_from
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS, check_time_window
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import (
    BARGAINING_STATES,
    CLAIM_WINDOW_MS,
    Contract,
    Event,
    Negotiation,
    State,
    cited,
    claims_over_ms,
    proposal_of,
)
from a2a_coop.protocol.reputation import attestation_due
from a2a_coop.protocol.statements import (
    PRINCIPAL_BODIES,
    VerifiedStatement,
    decode_statement,
    new_statement,
    sign_candidate,
    verify_statement,
)
from a2a_coop.protocol.verifier import last_ruling_ms
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.runtime import gossip, snapshot
from a2a_coop.runtime.alarm import ForkAlarm, KeyForked
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.journal import PEER_MARK, Journal, check_journal_kind, meta_of_kind
from a2a_coop.runtime.perform_time import (
    CounterpartyItemUnclaimable,
    TooLittleTimeToPerform,
    revocable_hold_until,
    time_to_perform_refusal,
    unclaimable_item_refusal,
)
from a2a_coop.runtime.renewal import RenewedExposureBook
from a2a_coop.runtime.reputation import (
    Reputation,
    TrustPolicy,
    TrustRefused,
    counterparty_bond,
    demand_bond,
    value_at_risk,
)
from a2a_coop.runtime.strangers import (
    META_DEALINGS,
    META_NEWCOMER_OFFERS,
    META_REVOCATION_MARKS,
    META_STRANGERS,
    META_VOUCHED,
    KeyedCount,
    NewcomerOffers,
    StrangerCount,
    StrangerQuota,
    about,
    open_part,
)
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Counter,
    Deliver,
    DeliveryView,
    HonestStrategy,
    OfferView,
    Reject,
    Strategy,
)
from a2a_coop.transport.limits import claimed

DEFAULT_OFFER_TTL_MS = 5 * 60_000
# Open negotiations we hold with any one counterparty before refusing its new offers (RPC-012): each
# offer we take costs a signature and a durable write, and an abandoned contract stays open until it
# ends. Far above what an honest counterparty keeps open (a trade settles in a few round trips).
DEFAULT_MAX_OPEN_PER_COUNTERPARTY = 256
# Open negotiations we hold in all before refusing new offers (RPC-012): the per-counterparty cap does
# not bound what many fresh identities open (a key and a Mandate cost nothing to make). About 100 MB of
# memory at ~11 kB a negotiation (python -m benchmarks memory).
DEFAULT_MAX_OPEN_TOTAL = 10_000
# The share of that total counterparties we never settled a contract with may fill: the rest is kept for
# those we did, so a flood of fresh identities cannot lock our known counterparties out.
NEWCOMER_SHARE = 0.75
OPEN_REFUSAL_RETRY_MS = 1_000
DEFAULT_REPLY_TTL_MS = 24 * 3600_000
# ATT-013 (e): how long, on our clock, evidence that only re-ranks the proof against a key already
# convicted durably (a refused answer's row, the better-ranked proof) may wait for a commit some other
# request makes before a refusal waits for it: a crash loses at most that much re-ranking.
RERANKED_EVIDENCE_MS = 1_000

log = logging.getLogger(__name__)

PERFORMING_STATES = frozenset({State.BONDED, State.PERFORMING, State.DISPUTED})
# Negotiations in these states are over for good, whatever arrives later (SPEC 8.9: no escrow-ordered
# fact moves them): a peer with a journal forgets them (bounded memory, a2a_coop.protocol.archive).
# A contract naming an escrow is over for good only once EXPIRED (the escrow's lapse ruling).
FINAL_STATES = frozenset({State.REJECTED, State.WITHDRAWN, State.EXPIRED})
FINAL_WITHOUT_ESCROW = frozenset({State.FULFILLED, State.BREACHED, State.REVOKED}) | FINAL_STATES
# How long in all drive() waits out TIM-009 hints for one statement before it gives up: the skew, which
# bounds how far ahead of the counterparty's clock that statement can be dated (TIM-003).
MAX_HINTED_WAIT_MS = DEFAULT_SKEW_MS
# The requests whose date what we sign in their negotiation follows (NEG-014): our answer to an Offer or
# Counter, everything under the contract an Accept forms, the Receipt of a Delivery. Only these are
# refused under TIM-009: nothing we sign follows an escrow's statement, a Receipt, a claim or a Revoke,
# and refusing an escrow's BondLock dated a little ahead would keep us from learning our bonds are locked.
PACE_SETTING = frozenset({"offer", "counter", "accept", "delivery"})
# Entries the TIM-009 heap may hold beyond twice the live ones before it is swept (Peer._enter_owed).
OWED_HEAP_SLACK = 64
# Likewise for the heap of when open negotiations go dormant (Peer._push_dormant).
DORMANT_HEAP_SLACK = 64
# Contract states in which a party owes nothing any more (TIM-009; REVOKED owes what fell due before).
_SETTLED = frozenset({State.FULFILLED, State.BREACHED, State.EXPIRED})
# Context envelopes whose digest _hold remembers (a few mandates in practice; the bound is for floods).
MAX_REMEMBERED_CONTEXT = 1024
# Read once: an Enum's .value and its class's attributes are slow reads on Python 3.11.
_STATE_NAMES: dict[State, str] = {s: s.value for s in State}
_ACCEPTED, _FULFILLED, _REVOKED, _COUNTER_EVENT = (
    State.ACCEPTED,
    State.FULFILLED,
    State.REVOKED,
    Event.COUNTER,
)
# Journal meta: the fork proofs we hold, one key per forked issuer (META_FORKS + "/" + did), each
# [first, second], or [first, second, 1] while spared the bound (its key in our dealings, ATT-018);
# journals before 0.2 kept them all as one list under META_FORKS, still read (counted toward the bound).
META_FORKS = "a2a-coop/fork-proofs"
# Journal meta: the bindings shown, not held (KEY-007, KEY-008), one key per key and principal
# (META_BINDINGS + "/" + key did + "/" + principal did), each [binding envelope, its Mandate's envelope]:
# a statement of a key whose only fault was its chain (a thief's fork at its seq) that a principal's
# KeyRevocation was taken beside. It is in no chain, so not among the journal's statements (their seq and
# nonce indexes serve the chain and replay checks); restored before the journal is replayed, so that the
# revocation it authorised is taken again.
META_BINDINGS = "a2a-coop/shown-bindings"
# Journal meta: what travelled with gossiped proofs to link their statements to the escrow whose Stamp of
# them we took (ATT-025, Verifier.shown_statements), one row per digest (META_SHOWN + "/" + hex): the
# envelope. Held as no statement (ATT-019), so the journal's statements do not bring them back.
META_SHOWN = "a2a-coop/shown-statements"
# Journal meta: Stamps a swap carried with a proof that name a revocation of the proof's key among other
# statements, read for those revocations alone (ATT-024, Verifier.revocation_stamps), one row per Stamp
# (META_REVOCATION_STAMPS + "/" + hex): [the envelope, the revocations' digests]. Held as no statement.
META_REVOCATION_STAMPS = "a2a-coop/revocation-stamps"
# Journal meta: what an escrow answered, past the bonding cutoff, about a bonded offer of ours nothing
# answered (Verifier.asked_escrow), one key per negotiation and escrow (META_ASKED/<id hex>/<escrow>), as
# [asked at, until when the holding it ended would have lasted, the word's [offer digest hex, time] pairs
# of every ask, whether one was past the cutoff (Peer.asked_at_escrow)]: our statements do not say it,
# and a restart would hold that offer's value and exclusive_key again. Dropped once that time has passed.
META_ASKED = "a2a-coop/asked-escrow"


def _asked_record(value: Any) -> tuple[int, int, list[tuple[bytes, int]], bool]:
    """A META_ASKED record read: (asked at, until, the word's (offer digest, time) pairs, whether the
    ask was past the cutoff) -- (0, 0, [], False) for none. An earlier version's record ([at, until] or
    [at, until, named]) says nothing of the cutoff: taken as past it, as that version did."""
    if not value:
        return 0, 0, [], False
    at, until, *rest = value
    named = [(bytes.fromhex(d), t) for d, t in (rest[0] if rest else [])]
    return at, until, named, bool(rest[1]) if len(rest) > 1 else True


# Journal meta: our Withdraws of a cut-off bonded Counter (NEG-024 (a)) that its escrow refused for good or
# answered without taking (Peer.withdraw_final), one key per Counter (META_WITHDRAW_FINAL/<negotiation id
# hex>/<Counter digest hex>), as [why, until when a claim under its contract could come]: the escrow answers
# the same Submit the same way (ESC-007), so asking again on every resume and sweep gains nothing. Dropped
# once that time has passed.
META_WITHDRAW_FINAL = "a2a-coop/withdraw-final"
# Journal meta: the Mandates our key was given, every one a run of the journal started with (envelopes, in
# that order). Our statements cite them and are never journaled with them, so a replay holds these first:
# a renewed mandate (a new Mandate for the same key, SPEC 4.7) leaves what we signed under the old one
# verifiable (MND-017). META_MANDATE (the mandate the journal's last run started with, written by
# a2a_coop.runtime.node.remember_run) is held too: journals from before this list kept only that one.
META_OWN_MANDATES = PEER_MARK  # "a2a-coop/own-mandates": also what marks a journal as a peer's
META_MANDATE = "a2a-coop/mandate"


class JournalLike(Protocol):
    """What the peer needs from a journal (a2a_coop.runtime.journal.Journal implements it)."""

    def record_outgoing(self, vs: VerifiedStatement, *, at_ms: int) -> None: ...
    def record_incoming(
        self,
        vs: VerifiedStatement,
        replies: Sequence[VerifiedStatement],
        *,
        at_ms: int,
        answered: bool = True,
    ) -> None: ...
    def record_batch(
        self,
        items: Sequence[tuple[VerifiedStatement | None, Sequence[VerifiedStatement], bool]],
        *,
        at_ms: int,
        meta: Any = None,
    ) -> None: ...
    def replies_for(self, request_digest: bytes) -> list[bytes] | None: ...
    def wait(self, ticket: Any) -> None: ...
    def chain_head(self, issuer: str) -> tuple[int, bytes]: ...
    def statements(self, *, since_rowid: int = 0) -> Any: ...
    def put_meta(self, key: str, value: Any) -> None: ...
    def get_meta(self, key: str, default: Any = None) -> Any: ...
    def meta_under(self, prefix: str) -> list[tuple[str, Any]]: ...
    def delete_meta(self, key: str) -> None: ...


_Record = tuple[VerifiedStatement | None, Sequence[VerifiedStatement], bool]


class EscrowNotShown(Exception):
    """Our guard refuses to accept, or counter with, terms naming an escrow while a bonded offer of ours
    earlier in the line names another escrow that has not taken its answer (its Stamp of the answer not
    held; ESC-013, section 16.14). That escrow may hold an Accept of our offer, which would displace the
    new contract (NEG-017) while the escrow the new terms name, never shown it, bonds that contract and
    rules on claims under it. Not a protocol error: once the earlier offer's escrow took the answer, the
    same decision may be signed (:meth:`Peer.answer_held`)."""


class PeerVerifier(EvidenceVerifier):
    """The protocol's verifier with the evidence reputation and gossip read (attestations, Checkpoints,
    fork proofs), also remembering which Ack acknowledged what (its WitnessIndex keeps only the time):
    an Ack of our Delivery is evidence an escrow needs to see it was on time (WIT-002)."""

    def __init__(self, *, me: str) -> None:
        super().__init__(me=me)
        self._acks: dict[tuple[str, bytes], bytes] = {}  # (acknowledger, statement) -> earliest Ack
        self._attestations_of: dict[bytes, list[bytes]] = {}  # contract -> attestations held in memory
        # Told of each statement refused KEY_REVOKED that bound its key (KEY-007 (a)), to keep the binding.
        self.on_bound: Callable[[VerifiedStatement], None] | None = None

    def _bind_past_revocation(
        self, vs: VerifiedStatement, now_ms: int | None, *, ours: bool, received_ms: int | None
    ) -> bool:
        bound = super()._bind_past_revocation(vs, now_ms, ours=ours, received_ms=received_ms)
        if bound and self.on_bound is not None:
            self.on_bound(vs)
        return bound

    def forget_negotiation(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        """As the Verifier's, also dropping the Acks of its statements and the attestations of its
        contract held in memory."""
        dropped = super().forget_negotiation(negotiation_id)
        parties = {vs.issuer for vs in dropped}
        for vs in list(dropped):
            for by in parties:
                ack = self._acks.pop((by, vs.digest), None)
                forgotten = None if ack is None else self.forget_statement(ack)
                if forgotten is not None:
                    dropped.append(forgotten)
            for attestation in self._attestations_of.pop(vs.digest, ()) if vs.body == "accept" else ():
                forgotten = self.forget_statement(attestation)
                if forgotten is not None:
                    dropped.append(forgotten)
        return dropped

    def forget_statement(self, digest: bytes) -> VerifiedStatement | None:
        vs = super().forget_statement(digest)
        if vs is not None and vs.body == "ack":
            key = (vs.issuer, vs.statement.ack.statement)
            if self._acks.get(key) == digest:
                del self._acks[key]
            self.witness.forget({key[1]}, (vs.issuer,))
        return vs

    def verify(self, data: bytes, parsed: ParsedEnvelope | None = None) -> VerifiedStatement:
        """Stateless acceptance of envelope bytes (:func:`verify_statement`: signature, encoding, header);
        ``parsed``: ``data`` as :func:`parse_envelope` parsed it, if the caller did. A method so that a
        simulation's model mode (``reference_agents.engine``) can leave the cryptography out; no
        runtime path does."""
        return verify_statement(data, parsed=parsed)

    def ack_of(self, by: str, digest: bytes) -> VerifiedStatement | None:
        """The earliest Ack by ``by`` naming ``digest`` that we hold, if any."""
        ack = self._acks.get((by, digest))
        return None if ack is None else self.statements[ack]

    def accept_statement(
        self,
        vs: VerifiedStatement,
        now_ms: int | None = None,
        *,
        ours: bool = False,
        received_ms: int | None = None,
    ) -> VerifiedStatement:
        super().accept_statement(vs, now_ms, ours=ours, received_ms=received_ms)
        self._index(vs)
        return vs

    def record(self, vs: VerifiedStatement) -> None:
        super().record(vs)
        self._index(vs)

    def _index(self, vs: VerifiedStatement) -> None:
        if vs.body == "attestation" and dict.__contains__(self.statements, vs.statement.attestation.accept):
            self._attestations_of.setdefault(vs.statement.attestation.accept, []).append(vs.digest)
        if vs.body != "ack":
            return
        key = (vs.issuer, vs.statement.ack.statement)
        earlier = self._acks.get(key)
        if earlier is None or vs.issued_at_ms < self.statements[earlier].issued_at_ms:
            self._acks[key] = vs.digest


def _meta(journal: JournalLike, key: str, kind: type, items: type | None = None) -> Any:
    """A journal record read back and checked to be what was written (JournalCorrupt names it if not)."""
    what = f"{getattr(journal, 'path', 'the journal')}: its record {key!r}"
    return meta_of_kind(journal.get_meta(key), what, kind, items)


_AGENT_PAGE: Final = 10_000  # signed_as_agent reads a key's statements so many at a time


def signed_as_agent(journal: Journal, did: str) -> VerifiedStatement | None:
    """The first statement ``did`` signed in ``journal`` under another key's Mandate (a trade,
    commitment or attestation statement, or a principal body whose header names one), or None: the key
    is then an agent, bound to that Mandate's principal (KEY-007), and signs no Mandate (MND-021). A
    Mandate the journal does not hold counts as another key's; a key's Mandate for itself does not."""

    own: dict[bytes, bool] = {}  # each Mandate named, whether it is another key's: read once

    def under_another(digest: bytes) -> bool:
        if digest not in own:
            mandate = journal.by_digest(digest)
            own[digest] = mandate is None or verify_statement(mandate).issuer != did
        return own[digest]

    # Every statement of its chain, not its first only: a key that traded under its own Mandate first
    # and under another principal's after is an agent all the same (tests/test_sub_delegation.py).
    # Its own records: the header is read without checking the signature again, a page at a time.
    bodies, seq = sorted(PRINCIPAL_BODIES - {"checkpoint"}), 0
    while page := journal.issued(did, bodies, other=True, limit=_AGENT_PAGE, from_seq=seq):
        for envelope in page:
            header = decode_statement(decode_envelope(envelope).payload).header
            if header.mandate and under_another(header.mandate):  # a binding Checkpoint names one
                return verify_statement(envelope)
        seq = header.seq + 1
    return None


def signed_as_principal(journal: Journal, did: str) -> VerifiedStatement | None:
    """The first Mandate ``did`` signed in ``journal`` for another key, or None: the key is then a
    principal, and signs nothing under a Mandate (MND-021)."""
    for envelope in journal.issued(did, ["mandate"]):
        if (vs := verify_statement(envelope)).statement.mandate.agent != did:
            return vs
    return None


def refuse_principal_as_agent(journal: Journal, did: str, mandate: bytes) -> None:
    """MND-021 for a key about to sign under ``mandate`` (an envelope): refused (MandateViolation) if
    another key issued it and the key signed a Mandate for another key in ``journal`` -- its chain,
    where every statement it signs goes. Under its own Mandate a key is its own principal."""
    if verify_statement(mandate).issuer == did:
        return
    issued = signed_as_principal(journal, did)
    if issued is not None:
        raise MandateViolation(
            f"{did} is a principal's key: it signed a Mandate for {issued.statement.mandate.agent} (its seq "
            f"{issued.header.seq}), and a principal's key signs nothing under a Mandate -- give the agent a "
            "key of its own (a2a-coop keygen) and a Mandate for it",
            requirement="MND-021",
        )


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "an offer", "a receipt"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def refuse_agent_as_principal(journal: Journal, did: str) -> None:
    """MND-021 for a key about to sign a Mandate: refused (MandateViolation) if it signed a statement
    under a Mandate in ``journal`` (an agent's key: its Mandate would delegate what its own principal
    never granted, outside that principal's caps)."""
    bound = signed_as_agent(journal, did)
    ran = journal.get_meta(META_MANDATE, kind=bytes)
    if (
        bound is None
        and ran is not None
        and (vs := verify_statement(ran)).statement.mandate.agent == did != vs.issuer
    ):
        raise MandateViolation(  # a run served it as an agent; it may have signed nothing yet
            f"{did} is an agent's key: it was served under its Mandate "
            f"{vs.digest.hex()[:16]}, and an agent's key signs no Mandate (no sub-delegation) -- sign it "
            "with its principal's key",
            requirement="MND-021",
        )
    if bound is not None:
        raise MandateViolation(
            f"{did} is an agent's key: it signed {_a(bound.body)} under a Mandate (its seq "
            f"{bound.header.seq}), and an agent's key signs no Mandate (no sub-delegation) -- sign it with "
            "its principal's key",
            requirement="MND-021",
        )


# How far ahead of this machine's clock this process's clock runs, in ms: 0 but in a test that moved the
# test clocks of its processes and starts a command on the same offset (``a2a-coop --test-clock-offset``,
# CTL-003; :func:`test_clock_offset`). Only ever set by the process's own operator, never negative.
_test_offset_ms = 0


def wall_clock_ms() -> int:
    """Unix ms by this machine's clock (plus the test clock offset :func:`test_clock_offset` set: 0
    outside tests)."""
    return time.time_ns() // 1_000_000 + _test_offset_ms


@contextmanager
def test_clock_offset(offset_ms: int) -> Iterator[None]:
    """Run this process ``offset_ms`` ahead of the machine's clock within the block (``a2a-coop
    --test-clock-offset``, CTL-003): a command a test starts after it moved its served processes' test
    clocks by ``offset_ms`` signs and judges on the same time as they do.

    Raises:
        ValueError: ``offset_ms`` is negative (a test clock never goes back).
    """
    global _test_offset_ms  # noqa: PLW0603  # the process's one clock: a test-only setting
    if offset_ms < 0:
        raise ValueError(f"a test clock only moves forward (CTL-003): offset {offset_ms} ms is negative")
    before, _test_offset_ms = _test_offset_ms, offset_ms
    try:
        yield
    finally:
        _test_offset_ms = before


test_clock_offset.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class _Dealing(NamedTuple):
    """How RPC-016 counts a statement of a key in our dealings (:meth:`Peer._dealings_room`): one public
    statement of ``key`` counted, or (``earns``) one statement of a negotiation with us, which earns
    ``key`` credit."""

    key: str
    earns: bool


class _Reserved(NamedTuple):
    """RPC-016: statements counting for ``keys`` (one entry a statement) -- a KeyRevocation the quota
    counts and what its authority depends on -- that the revocations' reserve takes, the quota having no
    room for them (:meth:`Peer._strangers_room`)."""

    keys: list[str]


class _Count:
    """How the newcomer quota (RPC-016) counts what one exchange or gossip swap takes.

    Attributes:
        inside: what is taken now is what a statement of our dealings depends on (a request of our
            dealings' own context, RPC-015): none of it counts.
        solicited: taken from a swap we started ourselves (the whole quota, not only the newcomer share).
        chosen: keys counted as in our dealings for this swap: the counterparty we chose to swap with.
        charged: the digests counted already (a Mandate held provisionally, counted with what took it).
    """

    __slots__ = ("charged", "chosen", "inside", "newcomer", "solicited")

    def __init__(
        self,
        *,
        inside: bool = False,
        solicited: bool = False,
        chosen: frozenset[str] = frozenset(),
        newcomer: VerifiedStatement | None = None,
    ):
        self.inside = inside
        self.solicited = solicited
        self.chosen = chosen
        self.charged: set[bytes] = set()
        # A newcomer's opening Offer whose context this counts: not the Offer (RPC-017 counts it), nor
        # the Mandate it cites, but the rest it takes (RPC-016).
        self.newcomer = newcomer


class _Provisional:
    """RPC-015, a request's context: the Mandates in it, and the Stamps naming the request or a statement
    held here, held provisionally, and a KeyRevocation's binding statement (KEY-008). Such a statement
    is checked (:meth:`defer`, a Stamp or the binding beside what is held here: it may cite a Mandate
    held here) but not taken; each statement after it -- another context envelope, or the request --
    is checked beside what is held so (:meth:`check`: a Stamp may witness a request dated back,
    TIM-006; the binding binds the revoked key to the revoker, KEY-007), and if it passes, what it
    depends on is taken (:meth:`take`), before it, in order, and journaled with it: for a context
    envelope the Mandate it cites and the Stamps held naming it, for the request all that is held. A
    refused request, or context envelope, leaves none of the rest in memory or the journal: fresh keys
    each sending a request we refuse, their Mandate (and a Stamp they signed of the request) as its
    context, would otherwise grow our journal apiece; and a statement passing after any number of
    Mandates naming its issuer would take them all, kept though the request was then refused."""

    def __init__(self, peer: Peer, now: int, request: bytes, count: _Count | None = None) -> None:
        self.peer = peer
        self.now = now
        self.request = request
        self.count = count if count is not None else _Count(inside=True)  # the newcomer quota (RPC-016)
        self.taken: list[VerifiedStatement] = []  # the context taken, in order (journaled by the caller)
        self.held: list[
            VerifiedStatement
        ] = []  # Mandates and Stamps held provisionally, not taken yet, in order
        self._named = {request}  # what a Stamp names to be held here: the request, and what is held here
        # KEY-008: the digest of a KeyRevocation request's binding statement (:func:`_binding_of`), and
        # that statement once checked: held as the Mandates are, taken only if the revocation passes.
        self.binding_digest: bytes | None = None
        self.binding: VerifiedStatement | None = None
        # Whether that statement is shown, not held: its only faults are against other statements of its
        # key (a thief's fork at its seq, or of its nonce): it binds all the same (KEY-007), and is never
        # held itself (Verifier.check_binding).
        self.binding_shown = False
        # The request's context envelopes as Peer._needed_context parsed them (parse_envelope: a function
        # of the bytes alone), for Peer._hold: parsed and hashed once.
        self.parsed: dict[bytes, ParsedEnvelope] = {}

    def defer(self, vs: VerifiedStatement) -> bool:
        """``vs``, a context envelope verified and not held: a Mandate, a revocation's binding statement,
        or a Stamp naming the request or a statement held here, is checked and held here (True);
        anything else is checked beside what is held here, and what it depends on is then taken (False:
        the caller takes ``vs`` next). Raises the refusal of either."""
        if vs.digest in self._named and vs.digest != self.request:
            return True  # held here already: context may carry an envelope twice (taken once, as a held one)
        if vs.body == "mandate":
            self.peer.verifier.check(vs, received_ms=self.now)
        elif vs.digest == self.binding_digest:
            with self.peer.verifier.provisionally(self.held):
                self.binding_shown = not self.peer.verifier.check_binding(vs, received_ms=self.now)
            self.binding = vs
            self._named.add(vs.digest)
            return True
        elif vs.body == "stamp" and self._named.intersection(vs.statement.stamp.statements):
            self.check(vs, received_ms=self.now)
        else:
            if self.held:
                self.check(vs, received_ms=self.now)
                chosen = self.chosen(passed=vs)
                keys = self.peer._strangers_room(vs, chosen, self.count, self.now)  # RPC-016
                self.take(passed=vs)
                self.peer._strangers_charge(keys, self.now)
            return False
        self.held.append(vs)
        self._named.add(vs.digest)
        return True

    @property
    def pending(self) -> bool:
        """Whether anything is held here, not taken yet."""
        return bool(self.held) or self.binding is not None

    def check(
        self, vs: VerifiedStatement, *, now_ms: int | None = None, received_ms: int | None = None
    ) -> None:
        binding = None if vs is self.binding else self.binding
        with self.peer.verifier.provisionally(self.held, binding):
            self.peer.verifier.check(vs, now_ms, received_ms=received_ms)

    def chosen(self, *, passed: VerifiedStatement | None = None) -> list[VerifiedStatement]:
        """What :meth:`take` takes, in order, without taking it."""
        if passed is None:
            # A shown binding is not taken as a statement: it binds its key (KEY-007), see take.
            binding = [] if self.binding is None or self.binding_shown else [self.binding]
            return [*self.held, *binding]
        stamps = {
            vs.digest
            for vs in self.held
            if vs.body == "stamp" and passed.digest in vs.statement.stamp.statements
        }
        cited = {passed.mandate_digest} | {vs.mandate_digest for vs in self.held if vs.digest in stamps}
        return [vs for vs in self.held if vs.digest in stamps or vs.digest in cited]

    def take(self, *, passed: VerifiedStatement | None = None) -> None:
        """Take what is held here, in order (into :attr:`taken`), then the binding statement held: the
        request passed. ``passed``: a context statement passed instead: only what it depends on is
        taken -- the Mandate it cites, and the Stamps held naming it (they may witness it, TIM-006) with
        the Mandates they cite -- the rest held on for what needs it (not the binding: the revocation
        has not passed)."""
        chosen = self.chosen(passed=passed)
        shown = None
        if passed is None:
            if self.binding is not None and self.binding_shown:
                shown = self.binding  # bound once its Mandate is held, below: never held itself
            self.held, self.binding = [], None
        else:
            taking = {vs.digest for vs in chosen}
            self.held = [vs for vs in self.held if vs.digest not in taking]
        self._named = {self.request, *(vs.digest for vs in self.held)}
        if self.binding is not None:
            self._named.add(self.binding.digest)
        for vs in chosen:
            self.peer.verifier.accept_statement(vs, received_ms=self.now)
            self.peer._context_taken(vs)
            self.taken.append(vs)
        if shown is not None:
            self.peer._bind_shown(shown)


class _Remembered(NamedTuple):
    """What a peer's snapshot holds (a2a_coop.runtime.snapshot): all that a replay of its journal builds
    and a start does not derive again from what remains in memory or from the journal's meta rows."""

    verifier: PeerVerifier
    contracted_with: dict[str, int]
    settled_with: set[str]


class Peer:
    """One agent key acting under one mandate.

    Args:
        key: the agent key.
        mandate: envelope of the principal's Mandate delegating to ``key``.
        strategy: the deciding layer (default :class:`HonestStrategy`).
        journal: durable store; None keeps everything in memory (tests, demos).
        clock: Unix ms; injected so tests control time.
        nonce: 16 random bytes per statement.
        context: further envelopes to hold from the start. The agent of every Mandate among them is
            an escrow we trust (``trusted_escrows``): we accept and perform only contracts that
            name no escrow or one of those, since the escrow named holds the bonds, witnesses time
            and rules on claims -- a key the counterparty controls would do all three for it.
        trust: the trust policy our guard enforces on every Offer, Counter and Accept (ATT-016);
            None trades with anyone.
        reputation: where scores come from; default: our own view of the evidence we hold, seeded
            with our principal and ``trust.seeds``, counting the locks of ``trusted_escrows``.
        attest: attest the counterparty of every contract once it is settled (ATT-015).
        forget: with a journal, forget each negotiation once it is over for good and durable (its
            statements stay in the journal, where whatever needs them reads them: bounded memory over
            a long life, a2a_coop.protocol.archive); False keeps everything in memory (a one-shot
            reader listing every negotiation, such as ``a2a-coop status``).
        max_open_per_counterparty: refuse an opening Offer, RATE_LIMITED (RPC-012) before anything
            is recorded or signed, from a counterparty that already has this many negotiations with
            us not ended; None or 0: no limit (in process), and a PeerNode serving the peer sets
            :data:`DEFAULT_MAX_OPEN_PER_COUNTERPARTY` when given None.
        max_open_total: likewise once we hold this many negotiations not ended in all, and, from a
            counterparty we never settled a contract with (FULFILLED), once we hold
            :data:`NEWCOMER_SHARE` of it; None or 0: no limit, and a PeerNode sets
            :data:`DEFAULT_MAX_OPEN_TOTAL` when given None.
        min_time_to_perform_ms: refuse to sign an Offer, Counter or Accept of bonded terms under which
            one of our items is due less than this long after the bonding cutoff (the accepted offer's
            expiry + 30 s, ESC-010): the most a counterparty that funds its bond last can take from our
            time to perform. None: no such check.
        stranger_quota: the newcomer quota on the public statements we keep of keys outside our
            dealings, as requests, their context or gossip (RPC-016, :mod:`.strangers`); None: no limit
            (in process), and a PeerNode sets :class:`~a2a_coop.runtime.strangers.StrangerQuota`'s
            defaults when given None.
        newcomer_offers: the budget of newcomers' negotiations: opening Offers addressed to us from
            issuers outside our dealings that we take per period, however each ends (RPC-017,
            :class:`~a2a_coop.runtime.strangers.NewcomerOffers`); None: no limit (in process), and a
            PeerNode sets its defaults when given None.
        snapshot_every: with ``forget`` and a :class:`~a2a_coop.runtime.journal.Journal`, a snapshot of
            what memory holds is journaled once that many statements were journaled since the last one
            (and at :meth:`save_snapshot`, which a PeerNode calls at close), and a start replays only
            the statements after it (a2a_coop.runtime.snapshot); 0: none, a start replays the whole
            journal.
    """

    # The verifier every check runs on; a subclass may name its own (the fault-injected servers of
    # conformance.mutants replace one check this way, never by editing this module).
    verifier_class: type[PeerVerifier] = PeerVerifier

    def __init__(
        self,
        key: Keypair,
        mandate: bytes,
        *,
        strategy: Strategy | None = None,
        journal: JournalLike | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        nonce: Callable[[], bytes] = lambda: os.urandom(16),
        context: Sequence[bytes] = (),
        trust: TrustPolicy | None = None,
        reputation: Reputation | None = None,
        attest: bool = True,
        forget: bool = True,
        max_open_per_counterparty: int | None = None,
        max_open_total: int | None = None,
        min_time_to_perform_ms: int | None = None,
        stranger_quota: StrangerQuota | None = None,
        newcomer_offers: NewcomerOffers | None = None,
        snapshot_every: int = snapshot.EVERY_ROWS,
    ) -> None:
        self.key = key
        self.did: str = key.did  # read on every statement handled: an attribute, not a property
        self.forget = forget
        self.max_open_per_counterparty = max_open_per_counterparty
        self.max_open_total = max_open_total
        self.min_time_to_perform_ms = min_time_to_perform_ms
        # Negotiations not ended, by counterparty, and their number: kept as statements are handled
        # (RPC-012 refusals); and the counterparties we settled a contract with (FULFILLED).
        self._open_with: dict[str, set[bytes]] = {}
        self._open_total = 0
        self._settled_with: set[str] = set()
        # The opening Offers of newcomers we took this period (RPC-017); None: no budget (set, with what
        # the journal counted, once it is replayed: a replay takes what was taken, whatever the budget).
        self._newcomers: StrangerCount | None = None
        self._newcomer_offers: NewcomerOffers | None = None
        # When each open negotiation goes dormant (nothing its counterparty signs can move it any more),
        # a heap of (time, id, counterparty); then it leaves the counts above (RPC-012), or fresh keys
        # could hold them for good with negotiations nothing ends. See _release_dormant.
        self._dormant_at: list[tuple[int, bytes, str]] = []
        self._dormant_due: dict[bytes, int] = {}
        self._dormant: set[bytes] = set()
        # Superseded entries (a negotiation that ended or moved) stay in the heap until their time; when
        # it has doubled since it was last swept, they are swept out (_push_dormant), or a peer settling
        # trades all day would hold one per trade until each one's claim window had passed.
        self._dormant_sweep_at = DORMANT_HEAP_SLACK
        # The items we owe under our contracts, or would owe if an Offer or Counter of ours outstanding
        # were accepted: a heap of (deadline, negotiation id, item index, the contract's id or the
        # proposal's digest), and the contracts and proposals entered in it (that key -> negotiation id).
        # No statement of ours is dated after such a deadline while our clock is before it and the item
        # is not delivered (TIM-009, see _owed_deadline). Delivered, ended, superseded and past entries
        # leave lazily.
        self._owed_due: list[tuple[int, bytes, int, bytes]] = []
        self._owed_entered: dict[bytes, bytes] = {}
        self._owed_rebuild_at = OWED_HEAP_SLACK  # its size at which the dead entries are swept out
        # Negotiations whose Delivery or Receipt TIM-009 held back, and when (our clock) its hint passes:
        # nothing else would perform them again, since the counterparty that dated the contract ahead
        # may send nothing more in it (see perform_deferred); and those whose Delivery we hold back under
        # revocable terms (CMT-012, runtime.perform_time.revocable_hold_until), until the hold ends. One
        # entry per contract at most, the earliest. Memory only: a peer rebuilt from its journal derives
        # it again -- every contract where something is due that we have not signed is due at once
        # (_replay, _due), and held back again, it is deferred again.
        self._deferred: dict[bytes, int] = {}
        # The parties, escrows and principals of our contracts, ever, each with the order it came in
        # (gossip's tie-break, ATT-011): with the counterparties of our negotiations not ended, the keys
        # in our dealings (ATT-018 bound, gossip rank: deals_with, dealing_rank).
        self._contracted_with: dict[str, int] = {}
        self._replaying = False
        self.strategy: Strategy = strategy or HonestStrategy()
        self.journal = journal
        self.clock = clock
        self.nonce = nonce
        self.lock = threading.RLock()
        # What the guard refused.
        self.guard_refusals: list[
            CoopError | TrustRefused | KeyForked | TooLittleTimeToPerform | EscrowNotShown
        ] = []
        # Negotiations whose counterparty's outstanding offer our guard held our answer to
        # (EscrowNotShown), until :meth:`answer_held`; found again by a journal replay.
        self._held_answers: set[bytes] = set()
        self._answered_twice_logged: set[bytes] = set()  # NEG-022, logged once each
        # Our cut-off Counters whose Withdraw its escrow answered for good (withdraw_final): digest ->
        # (negotiation id, why); read back from the journal's meta at start.
        self._withdraws_final: dict[bytes, tuple[bytes, str]] = {}
        # Negotiations whose escrow we asked past our offers' cutoff, on its signed word (asked_escrow).
        self._asked_at_escrow: set[bytes] = set()
        # Set once a fork proof convicts our own key (ATT-017, a2a_coop.runtime.alarm); while set, the
        # guard signs no new commitment. Only a misbehaving implementation (reference_agents.unsafe)
        # turns alarm_on_own_fork off, to act as one without ATT-017: no alarm, and it signs on.
        self.fork_alarm: ForkAlarm | None = None
        self.alarm_on_own_fork = True
        # Requests answered in memory whose answer waits for the journal's group commit: digest ->
        # (replies, ticket). Not sent until durable; a retry meanwhile waits for the same commit.
        self._staged: dict[bytes, tuple[list[VerifiedStatement], Any]] = {}
        # While a request is handled (:meth:`_handling`): the thread handling it, and the evidence writes it
        # staged (refused answers set aside, fork proofs kept), waited for once our lock is released.
        self._evidence: tuple[int, list[Any]] | None = None
        # ATT-013 (e): the keys whose first fork proof's write is staged and not known durable: issuer ->
        # its ticket (until then, evidence against the key is waited for); and the writes of evidence that
        # only re-rank, staged and not waited for, not known durable: ticket -> our clock when first staged,
        # oldest first. Each is owed to the disk one window after that time (:meth:`flush_due_evidence`).
        self._convicting: dict[str, Any] = {}
        self._reranked: dict[Any, int] = {}
        # Told, when a re-ranking write opens a window (none was pending), the time on our clock that
        # window ends: a PeerNode arms its timer there (:meth:`flush_due_evidence`), so that the write
        # reaches the disk on an idle peer too.
        self.on_reranked: Callable[[int], None] | None = None
        # Bounded memory: what to forget once the commit holding it is durable. ``_finished`` collects
        # it while a request is handled; ``_forgettable`` pairs it with that request's ticket.
        self._finished: list[tuple[bool, bytes]] = []  # (is a negotiation, its id or a statement's digest)
        self._forgettable: list[tuple[bool, bytes, Any]] = []
        self.forgotten = 0  # negotiations forgotten since start
        self._context_digests: dict[bytes, bytes] = {}  # context envelope -> its digest (see _hold)
        # What we kept of strangers' public statements this period (RPC-016); None: no quota (set by the
        # stranger_quota setter below; _hold reads it for the context given here).
        self._strangers: StrangerCount | None = None
        # Snapshots of what memory holds (a2a_coop.runtime.snapshot): when the next is due, the journal
        # position of the one this start resumed from, and the last write staged (a snapshot is taken
        # only once it is durable: memory then holds exactly what the journal does).
        # Only a peer that forgets (a reader holding everything replays all) on a Journal, whose verifier
        # is ours (a simulation's engine makes its own: reference_agents.engine).
        own_verifier = type(self)._make_verifier is Peer._make_verifier
        self._cadence = snapshot.Cadence(
            snapshot_every if forget and isinstance(journal, Journal) and own_verifier else 0
        )
        self.resumed_from: int | None = None
        self._last_ticket: Any = None
        resumed = self._snapshot_held(journal, mandate, context) if self._cadence.every else None
        if resumed is not None:
            self._contracted_with, self._settled_with = resumed.contracted_with, resumed.settled_with
        self.verifier = self._new_verifier(None if resumed is None else resumed.verifier)
        had = dict.get(self.verifier.statements, statement_digest(decode_envelope(mandate).payload))
        self.mandate_vs = had if resumed is not None and had is not None else self.verifier.accept(mandate)
        if self.mandate_vs.body != "mandate" or self.mandate_vs.statement.mandate.agent != key.did:
            raise ValueError("the mandate does not delegate to this key")
        if isinstance(journal, Journal):
            refuse_principal_as_agent(journal, key.did, mandate)
        # What we attach to our requests: our mandate and any escrow mandates we were given.
        self.context: list[bytes] = [mandate, *context]
        for env in context:
            self._hold(env, durable=False)  # given again at every start
        given = (self.verifier.statements[statement_digest(decode_envelope(env).payload)] for env in context)
        granted = [vs for vs in given if vs.body == "mandate" and vs.statement.mandate.agent != self.did]
        self.trusted_escrows = frozenset(vs.statement.mandate.agent for vs in granted)
        # (escrow, its principal) of each Mandate given (an earlier mandate of ours makes us no escrow):
        # what an escrow's answer may start with held as given (hold_escrow_mandate).
        self._escrow_grants = frozenset((vs.statement.mandate.agent, vs.issuer) for vs in granted)
        # MND-020: each trusted escrow's Mandates given, whose validity our guard reads first.
        self._escrow_given: dict[str, list[bytes]] = {}
        for vs in granted:
            self._escrow_given.setdefault(vs.statement.mandate.agent, []).append(vs.digest)
        # The escrows our runtime reaches (a served node's escrow witness): it asks them about our own
        # bonded offers (ESC-013), fetches a bonded contract's locks there (ESC-009) and has our
        # Deliveries witnessed there (WIT-007). A bonded Offer or Counter of ours names one of them, and
        # we take bonded terms from a counterparty only there. None: any escrow we trust (a run that
        # reaches its trade's escrow itself).
        self.offer_escrows: frozenset[str] | None = None
        self.trust, self.attest = trust, attest
        self.reputation = reputation or Reputation(
            lambda: self.verifier,
            seeds={self.mandate_vs.issuer, *(trust.seeds if trust else ())},
            escrows=lambda: self.trusted_escrows,
            clock=self.clock,
            params=trust.params if trust else None,
        )
        self.writer = ChainWriter(key)
        # Our last signed statement's digest and issue time: the next one is never dated before it
        # (CHN-005), and once its negotiation is forgotten, reading it back would cost a journal read
        # and a signature check at every trade's first answer.
        self._last_signed: tuple[bytes, int] = (b"", 0)
        if journal is not None:
            check_journal_kind(journal, "peer")  # an escrow's: its statements were never addressed to us
            self._replay(journal, after=0 if resumed is None else self.resumed_from or 0)
            if resumed is not None and not self._resumed_as_journaled(journal):
                self._reload()  # the whole journal, as before snapshots
            self._keep_mandates(journal)
        else:
            self._join_renewals(())
        # The count of keys in our dealings, per key, with the credit their negotiations with us earned
        # (RPC-016; the strangers' count, self._strangers, is declared above).
        self._dealings: KeyedCount | None = None
        self._stranger_quota: StrangerQuota | None = None
        self.stranger_quota = stranger_quota
        # RPC-017: what each vouching principal (not our own) took of the reserve this period.
        self._vouched: KeyedCount | None = None
        self.newcomer_offers = newcomer_offers
        # Every Mandate our key holds, oldest first, when it holds more than the one we run with (a
        # renewal, SPEC 4.7): what we signed cites one of them, and a counterparty that was shown only
        # the one an earlier answer carried could not verify the rest (RPC-002, MND-017). Empty while
        # there is only the one: nothing changes for a key never renewed.
        # Only our operator's: those our runs started with (the journal keeps them, MND-017) and those
        # given as context now -- a Mandate naming our key that a counterparty handed over, by any
        # principal, is theirs, never one we answer with.
        kept = (_meta(journal, META_OWN_MANDATES, list, bytes) or []) if journal is not None else []
        operators = [mandate, *context, *kept]
        held = [self.verifier.statements.get(statement_digest(decode_envelope(e).payload)) for e in operators]
        mine = {vs.digest: vs for vs in held if vs is not None and vs.body == "mandate"}
        ours = sorted(
            (vs for vs in mine.values() if vs.statement.mandate.agent == self.did),
            key=lambda vs: vs.issued_at_ms,
        )
        self.renewed: dict[bytes, bytes] = {vs.digest: vs.envelope for vs in ours} if len(ours) > 1 else {}
        # Our requests carry the older ones too (a statement re-sent after the renewal may cite one).
        self._older_mandates = [env for env in self.renewed.values() if env != mandate]
        self.save_snapshot(force=False)  # a long journal replayed whole (an earlier version's): one now

    # -- serving side -------------------------------------------------------------

    def exchange(
        self, envelope: bytes, context: Sequence[bytes] = (), *, verified: VerifiedStatement | None = None
    ) -> list[bytes]:
        """Handle one incoming statement; return our signed answers (at least an Ack).

        The answer to an opening Offer starts with our Mandate envelope, which
        the caller needs to verify the rest (dependencies first).

        Args:
            verified: ``envelope`` as the caller verified it already (a limiter needs its issuer).

        Raises:
            CoopError: the statement (or its context) is refused; nothing was recorded.
        """
        request = verified if verified is not None else self._request(envelope)
        self._refuse_other_audience(request)
        # Whoever opens a negotiation with us needs our mandate to check our answers; after a renewal,
        # every answer carries the Mandates its statements cite (RPC-002).
        prefix = [self.mandate_vs.envelope] if request.body == "offer" else []
        earlier = self._answered(request)
        if earlier is not None:  # a retried request, durable: read without our lock
            return self._with_mandates(prefix, self._for_repeat(request, context, earlier))
        with self._handling():
            self._check_open(request.body, request.negotiation_id, request.issuer)
            staged = self._staged.get(request.digest)
            repeat = staged is not None  # a retry of a request still on its way to the disk
            held = dict.__contains__(self.verifier.statements, request.digest)  # in memory
            if staged is None and self.journal is not None and held:
                # Only a statement we hold can have been answered: no journal read for a new one.
                earlier = self.journal.replies_for(request.digest)
                if earlier is not None:  # a retried request: same answers, nothing redone (RPL-002)
                    return self._with_mandates(prefix, self._for_repeat(request, context, earlier))
            if staged is None:
                now = self.clock()
                # Negotiations gone dormant leave our dealings now (RPC-014), before anything asks who is
                # in them (RPC-016, RPC-017, ATT-018): else a key one countered Offer let in stayed
                # uncounted until something else swept them out (an open cap reached).
                self._release_dormant(now)
                if request.negotiation_id and request.body in PACE_SETTING:  # our answers follow it
                    self._refuse_dated_after_owed(request.issued_at_ms, now)  # TIM-009, nothing held yet
                # Context first, in order (SPEC 13.2), only what the request depends on (RPC-015);
                # journaled in the request's own commit below. Its Mandates, the Stamps naming the request,
                # and a KeyRevocation's binding (KEY-008) are held provisionally until something that
                # needs them passes: a refused request leaves none of them.
                # The newcomer quota (RPC-016): a request outside our dealings counts, with what it
                # takes; one in our dealings does not, nor does what it depends on.
                inside = self._strangers is None or self._inside(request)
                count = _Count(inside=inside)
                if not inside or self._strangers is None:
                    pass
                elif (
                    request.body == "offer"
                    and request.audience == self.did
                    and request.negotiation_id not in self.verifier.negotiations.by_id
                    and not self.deals_with(request.issuer)
                ):
                    # A newcomer's opening Offer (RPC-017 counts it): what its context brings beside the
                    # Mandate it cites counts (tests/test_attack16.py: thirty Mandates naming its issuer,
                    # minted by fresh principals, rode in uncounted with one rejected Offer).
                    inside = False
                    count = _Count(newcomer=request)
                provisional = _Provisional(self, now, request.digest, count)
                needed, addressed = self._needed_context(request, context, provisional)
                taken = self._hold_context(needed, provisional)
                if addressed:
                    # The other statements addressed to us (other negotiations) and what only they
                    # need: taken once the request passed its checks, before it, in their order; a
                    # refused request leaves none of them (RPC-015).
                    passed = True
                    try:
                        provisional.check(request, now_ms=now)
                    except Exception:  # refused: checked again, and refused so, below
                        passed = False
                    if passed:
                        provisional.count.inside = False  # each counts as what it is (RPC-016)
                        self._hold_context(addressed, provisional)
                        provisional.count.inside = inside
                try:
                    pending = provisional.pending
                    if pending:
                        provisional.check(request, now_ms=now)
                    keys: list[str] | _Dealing | _Reserved | None = None
                    extra: list[str] | _Reserved = []
                    try:
                        self._refuse_marked(request, now)  # a revocation of its key is pending here
                        if not inside:
                            keys = self._strangers_room(request, provisional.chosen(), provisional.count, now)
                        else:
                            extra = self._uncited_room(request, provisional, now)
                            if self._dealings is not None:
                                keys = self._dealings_room(request, frozenset(), now)
                    except RateLimited as over:  # its own refusal first, if it has one (ERR-002)
                        if pending:  # checked beside what is held (its binding): a revocation passed
                            self._mark_refused(request, now)
                            raise over from None
                        raise self._over_quota(request, over, now_ms=now) from None
                    try:  # RPC-017: a newcomer's opening Offer, within the period's budget
                        newcomer = self._newcomer_room(request, provisional, now)
                    except RateLimited as over:
                        if not pending:
                            raise self._over_quota(request, over, now_ms=now) from None
                        earlier = None if self.journal is None else self.journal.replies_for(request.digest)
                        if earlier is not None:  # a retry of one we answered (and forgot): RPC-003
                            self._record_context(taken, now)
                            return self._with_mandates(prefix, self._for_repeat(request, context, earlier))
                        raise
                    if pending:
                        provisional.take()
                    self.verifier.accept_statement(request, now)
                    self._strangers_charge(keys, now)
                    self._strangers_charge(extra, now)
                    self._newcomer_charge(newcomer, now)
                    if count.newcomer is request and self._dealings is not None:
                        # A newcomer's opening Offer, a statement of a negotiation with us, earns its
                        # issuer -- in our dealings now -- RPC-016 credit, as its later ones do (one a
                        # unit of RPC-017's budget): a key in our dealings by a contract without bonds
                        # has no base count (_based), and an honest newcomer's Checkpoint after its one
                        # Offer was refused once a flood filled the quota (tests/test_stranger_quota.py).
                        self._dealings.earn(request.issuer, now)
                except Replayed:
                    self._record_context(taken, now)
                    # Held in the journal only (forgotten since): the same answers from there (RPC-003).
                    earlier = (
                        None if held or self.journal is None else self.journal.replies_for(request.digest)
                    )
                    if earlier is None:
                        raise
                    return self._with_mandates(prefix, self._for_repeat(request, context, earlier))
                except BaseException:
                    self._record_context(taken, now)
                    raise
                try:
                    # Context first, as it was taken: what it moved elsewhere gets its reaction too.
                    moved = self._react_to_context(taken, request.negotiation_id)
                    replies = moved + self._react(request, ack=not moved)
                    records: list[_Record] = [(vs, [], False) for vs in taken]
                    staged = (replies, self._stage([*records, (request, replies, True)], now))
                except BaseException:
                    self._finished.clear()
                    self._reload()  # memory ran ahead of the journal: rebuild from what is durable
                    raise
                self._forget_after(staged[1])
                self._staged[request.digest] = staged
        # Outside the lock, so that other exchanges go on meanwhile and share the fsync (group commit);
        # a retry of a request still on its way to the disk waits for the same commit (RPL-002).
        self._durable(request.digest, staged[1])
        answers = [r.envelope for r in staged[0]]
        return self._with_mandates(prefix, self._for_repeat(request, context, answers) if repeat else answers)

    @contextmanager
    def _handling(self) -> Iterator[None]:
        """Our lock, for one request: the evidence writes its handling causes (ATT-013 (c)'s refused
        answers set aside, fork proofs kept) are staged for the journal's group commit, not committed under
        the lock -- one fsync each under it let a key flooding refused answers stall every other trade --
        and waited for once the lock is released, before anything is returned or raised to the caller
        (write-ahead, as for our answers: a refusal is not told before its evidence is durable)."""
        staged: list[Any] = []
        try:
            with self.lock:
                outermost = self._evidence is None
                if outermost:
                    self._evidence = (threading.get_ident(), staged)
                try:
                    yield
                finally:
                    if outermost:
                        self._evidence = None
        finally:
            if staged:
                for ticket in staged:
                    self._durable(b"", ticket)
                with self.lock:
                    self.verifier.settle()  # the copies in memory of the rows now durable: dropped
                    self._convicting = {k: t for k, t in self._convicting.items() if not t.done}

    @property
    def negotiations_asked(self) -> frozenset[bytes]:
        """The negotiations whose escrow we asked past our offers' cutoff (:meth:`asked_escrow`): a copy."""
        return frozenset(self._asked_at_escrow)

    def _stage_evidence(self, write: Callable[[Journal], Any], issuer: str, *, reranks: bool = True) -> Any:
        """``write``, evidence against ``issuer``, staged on our journal while this thread handles a request,
        its ticket; else None: the caller writes at once.

        Waited for by :meth:`_handling` (before the refusal is told) unless it only re-ranks (ATT-013 (e)):
        ``issuer`` is convicted by a proof already durable and ``reranks`` (a proof replacing the one held,
        a refused answer's row). That write joins the next commit another request waits for -- a row or
        proof rewritten meanwhile is written once (:meth:`Journal.stage`'s slot) --, or the one our timer
        makes once the oldest such write is :data:`RERANKED_EVIDENCE_MS` old on our clock
        (:attr:`on_reranked`), or the one a refusal waits for once it is: a key flooding refused answers,
        each dated before the last (each a better pair), cost a commit each."""
        journal, handling = self.journal, self._evidence
        if handling is None or handling[0] != threading.get_ident():
            return None
        if not isinstance(journal, Journal) or not journal.writer:
            return None
        ticket = write(journal)
        if reranks and self._convicted_durably(issuer):
            pending, now = self._pending_reranked(), self.clock()
            opens = not pending
            pending.setdefault(ticket, now)  # a slot rewritten in place keeps the time it was first staged
            due = next(iter(pending.values())) + RERANKED_EVIDENCE_MS
            if now < due:
                if opens and self.on_reranked is not None:
                    self.on_reranked(due)
                return ticket
            # Due: this refusal waits for them all -- one commit takes every write staged before its last,
            # and one a commit on its way to the disk took is done once that commit is.
            handling[1].extend(pending)
            pending.clear()
            return ticket
        handling[1].append(ticket)
        return ticket

    def _pending_reranked(self) -> dict[Any, int]:
        """The re-ranking writes staged and not waited for (:attr:`_reranked`), less those a commit made
        durable since; under our lock."""
        if any(ticket.done for ticket in self._reranked):
            self._reranked = {t: at for t, at in self._reranked.items() if not t.done}
        return self._reranked

    def _convicted_durably(self, issuer: str) -> bool:
        """Whether a fork proof against ``issuer`` is held and its record durable (the first proof's write,
        if staged, done -- a later one replacing it leaves that record until it lands)."""
        if issuer not in self.verifier.forks:
            return False
        ticket = self._convicting.get(issuer)
        if ticket is None:
            return True
        if not ticket.done:
            return False
        del self._convicting[issuer]
        return ticket.error is None

    def flush_evidence(self) -> None:
        """Make durable the evidence staged and not waited for (ATT-013 (e)): at close, and when our timer
        finds it due (:meth:`flush_due_evidence`). Not under our lock: other requests go on meanwhile."""
        journal = self.journal
        with self.lock:
            pending, self._reranked = list(self._reranked), {}
        if pending and isinstance(journal, Journal):
            for ticket in pending:  # one commit takes them all; the later ones are done by then
                journal.wait(ticket)
            with self.lock:
                self.verifier.settle()

    def flush_due_evidence(self) -> int | None:
        """The job of a PeerNode's timer (ATT-013 (e)): make durable the re-ranking evidence once the oldest
        write of it is :data:`RERANKED_EVIDENCE_MS` old on our clock, so that an idle peer's reaches the disk
        within a window too. Returns when that window ends if it has not yet (None: nothing pending)."""
        with self.lock:
            pending = self._pending_reranked()
            if not pending:
                return None
            due = next(iter(pending.values())) + RERANKED_EVIDENCE_MS
            if self.clock() < due:
                return due
        self.flush_evidence()
        return None

    @staticmethod
    def _for_repeat(
        request: VerifiedStatement, context: Sequence[bytes], answers: list[bytes]
    ) -> list[bytes]:
        """RPC-020: our first answers to ``request``, for a repeat of it, less those of another negotiation
        (signed because a context envelope moved it, RPC-002) that no envelope of the repeat's own context
        shows a statement of. A repeat is answered to whoever sends the request's bytes (RPC-003), and the
        request alone is no key to what its context, which the sender may never have held, moved."""
        own = request.negotiation_id
        tagged = [
            (env, decode_statement(decode_envelope(env).payload).header.negotiation_id) for env in answers
        ]
        if all(not nid or nid == own for _, nid in tagged):
            return answers
        shown: set[bytes] = set()
        for env in context:
            try:
                shown.add(verify_statement(env).header.negotiation_id)  # signed, not merely named
            except CoopError:
                continue
        return [env for env, nid in tagged if not nid or nid == own or nid in shown]

    def _with_mandates(self, prefix: list[bytes], answers: list[bytes]) -> list[bytes]:
        """``prefix`` (our Mandate, for an answer to an Offer) and ``answers``; after a renewal, first
        every Mandate of ours the answers cite, oldest first (RPC-002): a counterparty shown our old
        Mandate with our answer to its Offer holds no newer one, and one that never was shown the old one
        (a retried request answered from the journal) needs it."""
        if not self.renewed:
            return prefix + answers
        cited = {decode_statement(decode_envelope(env).payload).header.mandate for env in answers}
        if prefix:
            cited.add(self.mandate_vs.digest)
        return [env for digest, env in self.renewed.items() if digest in cited] + answers

    def _stage(self, items: Sequence[_Record], now: int) -> Any:
        """Stage ``items`` for the journal's next group commit; a ticket for :meth:`_durable`, or None
        without a journal (or with one that writes at once)."""
        if self.journal is None:
            return None
        meta = self._quota_meta() or None  # in the same commit as what the quota counted (RPC-016)
        stage = getattr(self.journal, "stage_batch", None)
        if stage is None:
            self.journal.record_batch(items, at_ms=now, meta=meta)
            return None
        self._last_ticket = stage(items, at_ms=now, meta=meta)
        return self._last_ticket

    def _durable(self, key: bytes, ticket: Any) -> None:
        """Wait until what ``ticket`` staged is on disk. If the write failed, memory ran ahead of the
        journal: rebuild it from what is durable, and raise."""
        try:
            if ticket is not None:
                assert self.journal is not None
                self.journal.wait(ticket)
        except BaseException:
            with self.lock:
                self._staged.pop(key, None)
                self._forgettable.clear()
                self._reload()
            raise
        with self.lock:
            self._staged.pop(key, None)
            self._forget_durable()
            # save_snapshot's own first test, asked here first: it is False for nearly every request.
            if self._cadence.may_be_due(self.verifier.accepted):
                self.save_snapshot(force=False)

    def _forget_after(self, ticket: Any) -> None:
        """What handling this request finished is forgotten once ``ticket`` is durable."""
        self._forgettable += [(is_negotiation, key, ticket) for is_negotiation, key in self._finished]
        self._finished.clear()

    def _forget_durable(self) -> None:
        """Forget what the journal now holds durably (a2a_coop.protocol.archive: reads go there)."""
        keep = []
        for is_negotiation, key, ticket in self._forgettable:
            if ticket is not None and not ticket.done:
                keep.append((is_negotiation, key, ticket))
            elif ticket is None or ticket.error is None:
                self._forget(is_negotiation, key)
        self._forgettable = keep

    def _forget(self, is_negotiation: bool, key: bytes) -> None:
        if not is_negotiation:
            self.verifier.forget_statement(key)
            return
        neg = self.verifier.negotiations.by_id.get(key)
        if neg is not None and self._finished_for_good(neg):  # nothing moved it back meanwhile
            self.verifier.forget_negotiation(key)
            self._deferred.pop(key, None)  # over for good: nothing left to perform
            self.forgotten += 1

    def _finished_for_good(self, neg: Negotiation) -> bool:
        c = neg.contract
        final = FINAL_STATES if c is not None and c.escrow else FINAL_WITHOUT_ESCROW
        return neg.state in final

    def _request(self, envelope: bytes) -> VerifiedStatement:
        """The statement a request carries, verified, as cheaply as the SPEC allows, outside our lock:

        * a byte-for-byte repeat of a statement we hold in memory is the one we verified when we took it
          (the stateless checks, steps 1-20, depend on nothing but these bytes): no second signature
          check, and RPC-003 answers it from the journal;
        * an opening Offer whose claimed issuer already has too many negotiations open with us is
          refused ``RATE_LIMITED`` before its signature check (RPC-013): a forger naming someone else
          is refused only while that one is over the cap, which costs that one nothing;
        * anything else is verified (:func:`verify_statement`, which reads nothing of ours: other
          exchanges go on meanwhile).
        """
        try:
            parsed = parse_envelope(envelope)
        except CoopError:
            parsed = None  # the full checks say why, in their order (ERR-002)
        if parsed is not None:
            held = dict.get(self.verifier.statements, parsed.digest)
            if held is not None and held.envelope == envelope:
                return held
        # Without caps _check_open refuses nothing: no parse for it then.
        said = claimed(envelope) if self.max_open_per_counterparty or self.max_open_total else None
        if said is not None:  # unlocked: a check ahead of the one under our lock, which decides
            self._check_open(said.body, said.negotiation_id, said.issuer)
        return self.verifier.verify(envelope, parsed)  # parsed and hashed once

    def request_of(self, envelope: bytes) -> VerifiedStatement:
        """The statement a request carries, verified as :meth:`exchange` verifies it (a byte-for-byte
        repeat of one we hold needs no second signature check, RPC-003), for a caller that must know its
        issuer before it is handled (a server's per-issuer limits, RPC-012)."""
        return self._request(envelope)

    def holds(self, request: VerifiedStatement) -> bool:
        """Whether we took ``request`` already (in memory, or in the journal once forgotten): sent again,
        it is answered as the first time or refused ``REPLAYED``, and moves nothing (RPC-003)."""
        return self.verifier.replay.holder(request, held=True) == request.digest

    def counts_for_issuer(self, request: VerifiedStatement) -> bool:
        """RPC-018: whether a server's limits on ``request``'s issuer (RPC-012) count it while it is
        handled: a new statement (not one we took already), addressed to us or public, within its time
        window by our clock -- what only a sender holding a current statement of the issuer meant for us
        can send. Any other is handled uncounted, and refused or answered as ever: a statement travels
        without its sender, and whoever holds one the issuer signed (an escrow's transcript, a relay, a
        Gossip answer) could send it again and again to keep the issuer over its limit here."""
        audience = request.audience
        if (audience and audience != self.did) or self.holds(request):
            return False
        try:
            check_time_window(request, self.clock(), self.verifier.skew_ms)
        except CoopError:
            return False
        return True

    def _answered(self, request: VerifiedStatement) -> list[bytes] | None:
        """Our durable answers to ``request`` if we answered it before (RPC-003), read without our lock
        so that retries and replays wait for nobody: only a statement we hold, and whose answer is not
        still on its way to the disk (:attr:`_staged`), can have one; the journal's reading connection
        sees only what is committed, hence durable. None sends it the long way."""
        digest = request.digest
        if self.journal is None or digest in self._staged:
            return None
        if not dict.__contains__(self.verifier.statements, digest):
            return None
        return self.journal.replies_for(digest)

    def _check_open(self, body: str, negotiation_id: bytes, issuer: str) -> None:
        """RPC-012: refuse a new negotiation from a counterparty with too many open with us, or when we
        hold too many in all (a newcomer sooner than a counterparty we settled a contract with)."""
        if body != "offer" or negotiation_id in self._staged:
            return
        held = self._open_with.get(issuer)
        if held is not None and negotiation_id in held:
            return  # not a new one: the state machine decides
        if self._over_open_caps(issuer, held):
            with self.lock:  # reentrant: exchange() holds it already; the unlocked pre-check does not
                self._release_dormant(self.clock())
            held = self._open_with.get(issuer)
        cap = self.max_open_per_counterparty
        if cap and held is not None and len(held) >= cap:
            raise RateLimited(
                f"{len(held)} negotiations of yours with us have not ended; end some before opening more",
                retry_after_ms=OPEN_REFUSAL_RETRY_MS,
                requirement="RPC-012",
                origin=Origin.REMOTE,
            )
        total = self.max_open_total
        if total:
            limit = total if issuer in self._settled_with else open_part(total, NEWCOMER_SHARE)
            if self._open_total >= limit:
                raise RateLimited(
                    f"we hold {self._open_total} negotiations not ended; retry later",
                    retry_after_ms=OPEN_REFUSAL_RETRY_MS,
                    requirement="RPC-012",
                    origin=Origin.REMOTE,
                )

    def _over_open_caps(self, issuer: str, held: set[bytes] | None) -> bool:
        """Whether a new negotiation from ``issuer`` would exceed a cap of RPC-012 now."""
        cap, total = self.max_open_per_counterparty, self.max_open_total
        if cap and held is not None and len(held) >= cap:
            return True
        if not total:
            return False
        limit = total if issuer in self._settled_with else open_part(total, NEWCOMER_SHARE)
        return self._open_total >= limit

    def _dormant_from(self, neg: Negotiation) -> int:
        """When nothing the counterparty signs can move ``neg`` any more: its outstanding offer's expiry
        plus skew (an answer after it is refused, NEG-007), or for a contract its last deadline plus the
        claim window (no claim is stamped later, CMT-005; exposure ends there too, MND-010). What the
        escrow signs later (rulings, settlements) still moves it, but opens nothing: it needs no slot."""
        c = neg.contract
        if c is None:
            return neg.outstanding.expires_at_ms + self.verifier.skew_ms
        return c.last_deadline_ms + CLAIM_WINDOW_MS

    def _release_dormant(self, now: int) -> None:
        """RPC-012: negotiations gone dormant by ``now`` stop counting toward the open caps. Without
        this, fresh keys would hold every newcomer slot for good: a contract the other side never
        performs, whose escrow never hears of it (or that names none), or a Counter of ours it never
        answers, is never ended in our view (a peer applies no EXPIRE of its own)."""
        heap = self._dormant_at
        while heap and heap[0][0] < now:
            at, nid, other = heapq.heappop(heap)
            if self._dormant_due.get(nid) != at:
                continue  # superseded: the negotiation moved (a contract formed) or ended
            neg = self.verifier.negotiations.by_id.get(nid)
            if neg is not None and (later := self._dormant_from(neg)) >= now:
                self._dormant_due[nid] = later
                heapq.heappush(heap, (later, nid, other))
                continue
            del self._dormant_due[nid]
            held = self._open_with.get(other)
            if held is not None and nid in held:
                held.discard(nid)
                self._open_total -= 1
                self._dormant.add(nid)
                if not held:
                    del self._open_with[other]
                    self._left_dealings(other)

    def _track_open(self, neg: Negotiation) -> None:
        other = neg.other(self.did)
        c = neg.contract
        known = self._contracted_with
        if c is not None:
            # The counterparty's principal: the issuer of the Mandate its statement of the contract cites,
            # not every principal its key is bound to -- a Checkpoint under each of n fresh principals'
            # Mandates, then one contract, put all n in our dealings for good (ATT-018, RPC-016, RPC-017).
            theirs = c.offer if c.proposer == other else c.accept
            record = self.verifier.mandates.get(theirs.mandate_digest)
            principal = "" if record is None else record.principal
            if (
                other not in known
                or (c.escrow and c.escrow not in known)
                or (principal and principal not in known)
            ):
                # Our consent made this contract: a flood of fresh keys cannot put itself here.
                for key in sorted({other, c.escrow, principal} - {""}):
                    known.setdefault(key, len(known))
        if not neg.is_terminal or neg.state is _REVOKED:  # a Revoke leaves owed what falls due first
            self._enter_owed(neg)
        if neg.is_terminal:
            held = self._open_with.get(other)
            if held is not None and neg.id in held:
                held.discard(neg.id)
                self._open_total -= 1
                if not held:
                    del self._open_with[other]
                    self._left_dealings(other)
            self._dormant_due.pop(neg.id, None)
            self._dormant.discard(neg.id)
            if neg.state is _FULFILLED:
                self._settled_with.add(other)
        elif neg.id not in self._dormant:  # a dormant one gets no slot back (_release_dormant)
            held = self._open_with.get(other)
            if held is None:
                held = self._open_with[other] = set()
            if neg.id not in held:
                held.add(neg.id)
                self._open_total += 1
            due = self._dormant_from(neg)
            if self._dormant_due.get(neg.id) != due:
                self._dormant_due[neg.id] = due
                self._push_dormant((due, neg.id, other))

    def _push_dormant(self, entry: tuple[int, bytes, str]) -> None:
        """Push onto the dormant heap; sweep out the superseded entries once it has doubled since the
        last sweep (amortised constant cost an entry; the heap stays within twice the live ones)."""
        heap = self._dormant_at
        heapq.heappush(heap, entry)
        if len(heap) > self._dormant_sweep_at:
            due = self._dormant_due
            heap[:] = [e for e in heap if due.get(e[1]) == e[0]]
            heapq.heapify(heap)
            self._dormant_sweep_at = 2 * len(heap) + DORMANT_HEAP_SLACK

    def _enter_owed(self, neg: Negotiation) -> None:
        """Enter in the TIM-009 heap the items we owe under ``neg``'s contract, or would owe if our Offer
        or Counter outstanding in it were accepted (once per contract or proposal). Entries leave lazily,
        so when the heap and its keys have doubled since they were last swept, the dead ones are swept
        out: they stay within twice what we still owe (and the negotiations we hold open), plus a little,
        at an amortised constant cost per entry."""
        c = neg.contract
        # A contract's items are entered under the contract, never under the proposal it accepted: that
        # proposal's entries may have been dropped for good (past its expiry by our clock) before an
        # Accept made in time reached us with its Stamp (TIM-006), and the items are owed all the same.
        items: Sequence[trade_pb2.Item]
        if c is not None:
            key, items = c.id, c.items(self.did)
        elif neg.outstanding.issuer == self.did:
            key, items = neg.outstanding.digest, proposal_of(neg.outstanding).gives
        else:
            return  # an offer to us: we owe nothing until we accept it (then it is a contract)
        if key in self._owed_entered:
            return
        self._owed_entered[key] = neg.id
        heap = self._owed_due
        for i, item in enumerate(items):
            heapq.heappush(heap, (item.deadline_ms, neg.id, i, key))
        # The keys count too: _owed_deadline pops dead entries without them, so a heap kept small that
        # way would never reach the sweep while they piled up, one per trade.
        if len(heap) + len(self._owed_entered) > self._owed_rebuild_at:
            now = self.clock()
            heap[:] = [e for e in heap if e[0] >= now and self._still_owed(e[1], e[2], e[3], now)]
            heapq.heapify(heap)
            by_id = self.verifier.negotiations.by_id
            self._owed_entered = {
                k: n
                for k, n in self._owed_entered.items()
                if n in by_id and (not by_id[n].is_terminal or by_id[n].state is _REVOKED)
            }  # an ended negotiation is never entered again (_track_open)
            self._owed_rebuild_at = 2 * (len(heap) + len(self._owed_entered)) + OWED_HEAP_SLACK

    def _still_owed(self, negotiation_id: bytes, item_index: int, source: bytes, now: int) -> bool:
        """Whether we still owe item ``item_index`` of the contract ``source`` (its id) in
        ``negotiation_id``, or would owe it if ``source``, our outstanding proposal, were accepted."""
        neg = self.verifier.negotiations.by_id.get(negotiation_id)
        if neg is None:
            return False
        c = neg.contract
        if c is None:  # our Offer or Counter, while it can still be accepted (NEG-007)
            out = neg.outstanding
            return (
                not neg.is_terminal
                and out.digest == source
                and now <= out.expires_at_ms + self.verifier.skew_ms
            )
        if c.id != source or (self.did, item_index) in c.delivered:
            return False
        deadline = c.items(self.did)[item_index].deadline_ms
        if deadline < c.accept.issued_at_ms:
            return False  # due before the contract: nobody may claim it (CMT-011)
        state = neg.state
        if state is State.REVOKED:
            until = revoke_until(c)
            return until is not None and deadline < until  # what the Revoke left owed (CMT-003)
        return state not in _SETTLED

    def _owed_deadline(self, now: int, skip: tuple[bytes, int] | None = None) -> int | None:
        """The earliest deadline, not before ``now``, of an item we still owe (but ``skip``), or None."""
        heap = self._owed_due
        skipped = None
        while heap:
            deadline, nid, i, source = heap[0]
            if deadline < now or not self._still_owed(nid, i, source, now):
                heapq.heappop(heap)  # past by our clock, delivered, ended or superseded: for good
            elif skipped is None and (nid, i) == skip:
                skipped = heapq.heappop(heap)
            else:
                break
        found = heap[0][0] if heap else None
        if skipped is not None:
            heapq.heappush(heap, skipped)
        return found

    def _refuse_dated_after_owed(
        self, issued_ms: int, now: int, skip: tuple[bytes, int] | None = None
    ) -> None:
        """TIM-009: a statement of ours dated ``issued_ms``, ahead of our clock (to follow what it
        answers, NEG-014, or our chain, CHN-005), must not be dated after the deadline of an item we
        still owe while our clock is before that deadline: every Delivery we sign after it is dated
        at least as late (CHN-005), so whoever chose the date we follow would make that item late
        however soon we deliver it."""
        if issued_ms <= now:
            return
        deadline = self._owed_deadline(now, skip)
        if deadline is not None and issued_ms > deadline:
            raise IssuedInFuture(
                f"dated {issued_ms - now} ms ahead of our clock, after the deadline of an item we owe "
                f"(due in {deadline - now} ms); retry once it is delivered or due",
                requirement="TIM-009",
                retry_after_ms=deadline - now + 1,
            )

    def _note_finished(self, vs: VerifiedStatement) -> None:
        """After ``vs`` was handled: keep the open negotiations per counterparty, and note what it
        finished for good, to forget once durable."""
        nid = vs.negotiation_id
        neg = self.verifier.negotiations.by_id.get(nid) if nid else None
        if neg is not None and self.did in neg.parties:
            self._track_open(neg)
        if self.journal is None or not self.forget:
            return
        if neg is not None and self._finished_for_good(neg):
            self._finished.append((True, nid))
        elif (
            not nid
            and (about := _about(vs)) is not None
            and not dict.__contains__(self.verifier.statements, about)
        ):
            self._finished.append((False, vs.digest))  # an Ack or attestation of what is forgotten

    # -- calling side -------------------------------------------------------------

    def propose(
        self, counterparty: str, proposal: trade_pb2.Offer, *, ttl_ms: int = DEFAULT_OFFER_TTL_MS
    ) -> VerifiedStatement:
        """Open a negotiation with an offer (guarded, signed and journaled).

        Raises:
            ValueError: the terms name an escrow we do not trust (see ``context``), or a response
                window longer than the claim window (BDY-003, MND-016).
            CoopError: the policy guard refused the offer.
            TrustRefused: our trust policy refuses the counterparty, or asks more bond of it.
            TooLittleTimeToPerform: bonded terms leave one of our items too little time to perform
                after the bonding cutoff (``min_time_to_perform_ms``).
            KeyForked: a fork proof against our own key is held (ATT-017).
        """
        untrusted = self._unsignable_terms(proposal) or self._unreached(proposal, ours=True)
        if untrusted:
            raise ValueError(untrusted)
        with self.lock:
            # The negotiation id derives from the offer's nonce (NEG-013).
            offer = self._sign_body("offer", proposal, audience=counterparty, ttl_ms=ttl_ms)
            ticket = self._stage_ours([offer])
        self._durable(b"", ticket)
        return offer

    def perform(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        """Sign now, under the contract of ``negotiation_id``, the Receipts our strategy gives of the
        counterparty's Deliveries we hold and have not receipted, then what our strategy delivers and we
        have not delivered yet (guarded, signed and journaled before they are returned): what TIM-009
        held back, or what a restart or a crash kept us from signing. The caller sends them to the
        escrow (WIT-007) and the counterparty."""
        with self.lock:
            self._deferred.pop(negotiation_id, None)
            neg = self.verifier.negotiations.by_id.get(negotiation_id)
            out = [] if neg is None else self._receipts(neg, self._unreceipted(neg)) + self._perform(neg)
            ticket = self._stage_ours(out)  # held back again: deferred again
        self._durable(b"", ticket)
        return out

    def deferred_until(self, negotiation_id: bytes | None = None) -> int | None:
        """When (our clock) the hint of a Delivery or Receipt TIM-009 held back passes, or the hold of a
        Delivery under revocable terms ends (CMT-012): the earliest, or that of ``negotiation_id``'s; None
        if nothing is held back. After a restart, every contract where
        one is due and not signed counts, due at once: which of them TIM-009 held back is not kept."""
        with self.lock:
            if negotiation_id is not None:
                return self._deferred.get(negotiation_id)
            return min(self._deferred.values(), default=None)

    def perform_deferred(self) -> list[VerifiedStatement]:
        """:meth:`perform` every contract whose held-back Delivery's hint (or revocable hold, CMT-012)
        has passed by our clock."""
        with self.lock:
            now = self.clock()
            due = [nid for nid, at in self._deferred.items() if at <= now]
        out: list[VerifiedStatement] = []
        for nid in due:  # each under the lock, its fsync outside it; one performed meanwhile signs nothing
            out += self.perform(nid)
        return out

    def send_context(self) -> list[bytes]:
        """Envelopes a counterparty needs before our statements (our mandates, escrow mandates)."""
        return [*self._older_mandates, *self.context]

    def on_replies(
        self, envelopes: Sequence[bytes], *, parsed: Sequence[ParsedEnvelope] | None = None
    ) -> list[VerifiedStatement]:
        """Take a counterparty's answers to something we sent; return what we must send next.
        ``parsed``: each of ``envelopes`` as :func:`parse_envelope` parsed it, if the caller did.

        Under the newcomer quota (RPC-016), what is no answer's own (:meth:`_answer_carries`) counts as a
        swap we started does, and is skipped, never refused, over it.

        Raises:
            CoopError: an answer is refused; nothing of this call is kept (the first refusal in order).
        """
        # Signature and encoding checks first, outside the lock (they need no state): the answers of
        # other negotiations are taken meanwhile. What we hold in memory needs no second check (its
        # payload bytes were verified before); held here but not by the time we take the lock, or the
        # other way round, it is refused Replayed below or skipped, as it would be under the lock.
        if parsed is None:
            verified = [self._verify_unless_held(env) for env in envelopes]
        else:
            verified = [self._verify_unless_held(env, p) for env, p in zip(envelopes, parsed, strict=True)]
        with self.lock:
            out: list[VerifiedStatement] = []
            records: list[_Record] = []
            now = self.clock()
            ticket = None
            changed = False  # a refusal before anything was accepted changed nothing (ERR-003)
            counted = self._answer_count(verified, now)
            try:
                for vs in verified:
                    if vs is None:
                        continue  # as a Replayed one is: e.g. their mandate, re-sent with every answer
                    if self._opens(vs):
                        continue  # an answer opens no negotiation (RPC-016): RPC-012, RPC-017 count those
                    keys: list[str] | _Dealing | _Reserved | None = None
                    if counted is not None and vs.digest not in counted[0]:
                        # Counted as a swap's statements are (RPC-016): one over the quota, or refused
                        # (kept as a fork proof if it forks a chain we hold), is skipped, no error.
                        try:
                            try:
                                self._refuse_marked(vs, now)
                                keys = self._strangers_room(vs, (), counted[1], now)
                            except RateLimited as over:
                                raise self._over_quota(vs, over, now_ms=now) from None
                            self.verifier.accept_statement(vs, now)
                        except CoopError as refused:
                            self._keep_fork_proof(refused)
                            continue
                    else:
                        try:
                            self.verifier.accept_statement(vs, now)
                        except Replayed:
                            continue  # we already hold it: answers to a retried request
                    changed = True
                    self._strangers_charge(keys, now)
                    ours = self._react(vs, ack=False)
                    records.append((vs, ours, False))  # answers, not requests: no idempotency entry
                    out += ours
                if records:
                    ticket = self._stage(records, now)  # one transaction for the whole answer
            except BaseException:
                self._finished.clear()
                if changed:  # memory ran ahead of the journal: rebuild it from what is durable
                    self._reload()
                raise
            self._forget_after(ticket)
        self._durable(b"", ticket)  # before any of ``out`` can be sent (write-ahead)
        return out

    def _opens(self, vs: VerifiedStatement) -> bool:
        """Whether ``vs``, in an answer to a request we sent, is an Offer opening a negotiation we do not
        hold (not ours): ignored there -- an answer opens no negotiation, or a counterparty's one answer
        with fresh keys' Offers opened as many past RPC-012's caps and RPC-017's budget, each answered by
        our strategy (tests/test_attack17.py). None of the reference's answers carries one: a
        counterparty's counter-proposal is a Counter of the same negotiation."""
        return (
            vs.body == "offer"
            and vs.issuer != self.did
            and vs.negotiation_id not in self.verifier.negotiations.by_id
        )

    def _answer_count(
        self, verified: Sequence[VerifiedStatement | None], now: int
    ) -> tuple[set[bytes], _Count] | None:
        """For an answer to a request we sent, under the newcomer quota (RPC-016): what it carries
        (:meth:`_answer_carries`) when it brings anything else, and how that counts -- as a swap we
        started does: a stranger's statement against the whole quota, a key in our dealings' own against
        its count, what ends a key as RPC-016 (c) says. None: all of it is taken, nothing counted (no
        quota, or nothing else)."""
        if self._strangers is None or not verified:
            return None
        carried = self._answer_carries(verified)
        if carried is None:
            return None
        self._release_dormant(now)  # who is in our dealings, now (RPC-014, RPC-016)
        return carried, _Count(solicited=True)

    def hold(self, envelopes: Sequence[bytes], *, answer_of: str | None = None) -> None:
        """Accept context envelopes (mandates, escrow statements) without reacting to them.
        ``answer_of``: they are an answer to a request we sent, from that escrow (its key; "" for a
        counterparty): under the newcomer quota, counted as :meth:`on_replies` counts an answer."""
        if not envelopes:
            return
        if answer_of is None or self._strangers is None:
            with self.lock:
                now = self.clock()
                for env in envelopes:
                    self._hold(env, received_ms=now)
            return
        verified = [self._verify_unless_held(env) for env in envelopes]
        with self.lock:
            now = self.clock()
            counted = self._answer_count(verified, now)
            taken: list[VerifiedStatement] = []
            try:
                for env, vs in zip(envelopes, verified, strict=True):
                    if vs is None:
                        continue
                    if counted is not None and vs.digest not in counted[0]:
                        try:  # over the quota, or refused: skipped, as in on_replies
                            held = self._hold(env, durable=False, received_ms=now, count=counted[1])
                        except CoopError as refused:
                            self._keep_fork_proof(refused)
                            continue
                    else:
                        held = self._hold(env, durable=False, received_ms=now)
                    if held is not None:
                        taken.append(held)
            finally:
                if taken:  # with what it counted (RPC-016)
                    self._record_context(taken, now)

    def hold_escrow_mandate(self, envelope: bytes) -> VerifiedStatement | None:
        """Take the envelope an escrow's answer starts with (ESC-002: its Mandate). Held as given context
        when it is a Mandate of an escrow we trust by the principal that granted the one we were given
        (that escrow's renewal, which its statements may cite); anything else is counted as an answer's
        other statements (RPC-016: skipped over the quota, never refused). Held as given whatever it was,
        whoever answered at the escrow's address put a fresh principal's Mandate first in each answer,
        one row for good per Submit we sent (tests/test_holes21.py). Returns the statement held in memory
        for ``envelope`` once it is remembered as context, else None."""
        vs = self._verify_unless_held(envelope)
        if vs is not None:
            if vs.body == "mandate" and (vs.statement.mandate.agent, vs.issuer) in self._escrow_grants:
                self.hold([envelope])
            else:
                self.hold([envelope], answer_of="")
        digest = self._context_digests.get(envelope)
        return None if digest is None else dict.get(self.verifier.statements, digest)

    def take_gossip(self, envelopes: Sequence[bytes], *, started_with: str | None = None) -> None:
        """Take a swap's Checkpoints and the Mandates they name (:func:`gossip.take` kept only those,
        ATT-019), each as evidence, and journal them in one commit; one refused -- a fork of a chain we
        hold (kept as a fork proof), or over the newcomer quota (RPC-016) -- is skipped. ``started_with``:
        a swap we started, with that counterparty (its own statements taken as our dealings', the rest
        counted against the whole quota, not only the newcomer share); None for a swap we serve."""
        with self.lock:
            now = self.clock()
            self._release_dormant(now)  # who is in our dealings, now (RPC-014, RPC-016)
            count = _Count(
                solicited=started_with is not None,
                chosen=frozenset({started_with}) if started_with else frozenset(),
            )
            taken = []
            for env in envelopes:
                try:
                    vs = self._hold(env, durable=False, received_ms=now, count=count)
                except CoopError:
                    continue
                if vs is not None:
                    taken.append(vs)
            self._record_context(taken, now)

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        """A counterparty's Checkpoints and fork proofs in, ours out (ATT-011; :mod:`.gossip`)."""
        return gossip.answer(self, envelopes, proofs)

    def take_refusal(self, refusal: CoopError) -> str | None:
        """Keep the fork proof a counterparty's or an escrow's refusal of our statement carries
        (EQUIVOCATION, CHAIN_BROKEN: the two envelopes, ATT-012), if it verifies. Against our own key,
        this is how a peer whose key was stolen usually learns it: it raises the alarm (ATT-017).

        Returns:
            The key the proof convicts, or None.
        """
        proof = fork_proof_from(refusal)
        if proof is None:
            return None
        with self.lock:
            return self.verifier.take_fork_proof(proof)

    # -- views --------------------------------------------------------------------

    def negotiation(self, negotiation_id: bytes) -> Negotiation:
        return self.verifier.negotiations.get(negotiation_id)

    def deals_with(self, key: str) -> bool:
        """Whether ``key`` is in our dealings: the counterparty of a negotiation of ours not ended, or a
        party, the escrow or a principal of a party of a contract of ours. Fork proofs against such keys
        are kept even at the bound while they are (ATT-018) and gossiped before others (ATT-011): a
        flood of fresh keys cannot get here without our consent (a contract) or an open negotiation
        with us (bounded, RPC-012; and a proof spared for it is dropped once the negotiation ends)."""
        return key in self._open_with or key in self._contracted_with

    @property
    def stranger_quota(self) -> StrangerQuota | None:
        """The newcomer quota on strangers' public statements (RPC-016) as configured (an inactive one,
        all zeros, is no limit, and a PeerNode leaves it so), or None: not configured (no limit)."""
        return self._stranger_quota

    @stranger_quota.setter
    def stranger_quota(self, quota: StrangerQuota | None) -> None:
        """Set (or lift) the quota; what the journal counted in the current window counts on."""
        self._stranger_quota = quota
        if quota is None or not quota.active:
            self._strangers = self._dealings = None
            return
        earlier, self._dealings = self._dealings, None
        if quota.dealings_per_key:
            self._dealings = self._keyed_count(
                earlier,
                META_DEALINGS,
                quota.dealings_per_key,
                quota.dealings_credit,
                quota.period_ms,
                requirement="RPC-016",
                what="public statements outside our negotiations of",
            )
        stored = self.journal.get_meta(META_STRANGERS) if self.journal is not None else None
        earlier_count = self._strangers
        if earlier_count is not None:  # what this process counted (not journaled yet, perhaps)
            stored = [earlier_count.window, earlier_count.count, earlier_count.reserved]
        # The keys marked (RPC-016) stay so: this process's, or what the journal kept of them.
        marks = self.journal.get_meta(META_REVOCATION_MARKS) if self.journal is not None else None
        self._strangers = StrangerCount(quota, stored, self.clock(), marks=marks)
        if earlier_count is not None and earlier_count.quota.period_ms == quota.period_ms:
            self._strangers.pending = earlier_count.pending

    def _keyed_count(
        self,
        earlier: KeyedCount | None,
        prefix: str,
        base: int,
        per_credit: int,
        period_ms: int,
        **how: str,
    ) -> KeyedCount:
        """A per-key count (:class:`KeyedCount`) with what the journal counted in the current window, and
        what ``earlier`` (this process's, not journaled yet perhaps) counted."""
        stored = self.journal.meta_under(prefix + "/") if self.journal is not None else []
        count = KeyedCount(base, per_credit, period_ms, stored, self.clock(), prefix=prefix, **how)
        if earlier is not None and earlier.window >= count.window:
            count.counted, count.credit, count.dirty = earlier.counted, earlier.credit, earlier.dirty
        return count

    def _inside(self, vs: VerifiedStatement, chosen: frozenset[str] = frozenset()) -> bool:
        """RPC-016: whether ``vs`` is a statement of our dealings, which the newcomer quota does not
        count: ours or a key's in our dealings (or in ``chosen``, the counterparty of a swap we started);
        one of a negotiation we are party to, or an Offer addressed to us, which opens one (RPC-012's
        caps count those); a Mandate our principal grants us, or one for the counterparty of a swap we
        started (not one for a key in our dealings by another issuer: anyone can mint that); or what ends
        a key we hold a statement of: its KeyRotation, while nothing we hold ended it, and the first
        KeyRevocation of it by each revoker (the key itself, a principal it is bound to, KEY-004) --
        always taken, once, so that a flood of strangers never keeps out the revocation of a key a thief
        holds, nor does the thief's own revocation of it, effective years ahead."""
        issuer = vs.issuer
        body = vs.body
        if body == "mandate" and issuer != self.did:
            # Anyone can sign a Mandate naming any key as its agent, so one naming us or a key in our
            # dealings is no claim to them; and a key in our dealings (one contract makes a principal so
            # for good, ATT-018) minting Mandates for keys outside them is no more (tests/test_attack16.py:
            # fifty kept over a quota of four). Not counted: our own principal's for us, one for the
            # counterparty of a swap we started, and one by a key in our dealings (or that counterparty)
            # for a key in our dealings -- a renewal. A newcomer's Offer carrying its Mandate as context
            # takes it as what the Offer depends on (count.inside), uncounted all the same. One naming the
            # swap's counterparty counts for it, whoever issued it (_dealings_room): that counterparty
            # sent it, and a fresh principal's, counted for its issuer in nobody's dealings, was counted
            # for no one -- some 60 a swap, a swap a minute (tests/test_attack19.py).
            agent = vs.statement.mandate.agent
            if agent == self.did:
                return issuer == self.mandate_vs.issuer
            return agent in chosen or (
                (issuer in chosen or self.deals_with(issuer)) and self.deals_with(agent)
            )
        if issuer == self.did or issuer in chosen or self.deals_with(issuer):
            return True
        nid = vs.negotiation_id
        if nid:
            neg = self.verifier.negotiations.by_id.get(nid)
            if neg is not None and self.did in neg.parties:
                return True
            return body == "offer" and vs.audience == self.did
        v = self.verifier
        if body == "key_revocation":
            # The first of each revoker (the key itself, a principal it is bound to, KEY-004): not the
            # first of all, which a thief holding the key signed itself, effective years ahead, and then
            # spent the key's count to keep its principal's out (tests/test_attack17.py).
            key = vs.statement.key_revocation.key
            return key in chosen or self.deals_with(key) or (key in v.chains and v.revocation_uncounted(vs))
        if body == "key_rotation":
            return issuer in v.chains and issuer not in v.rotated and issuer not in v.revoked
        return False

    def _answer_carries(self, answer: Sequence[VerifiedStatement | None]) -> set[bytes] | None:
        """RPC-016: the digests of the statements of ``answer`` -- a counterparty's or an escrow's answer to
        a request we sent -- that are what an answer carries,
        taken uncounted and never skipped (None: all of them, the usual answer); :meth:`on_replies`
        counts the rest as a swap we started. What the reference's answers carry:

        - the statements of a negotiation but an Offer opening one (:meth:`_opens`, ignored) (a peer holds
          only its own, STM-005: the counterparty's Accept,
          Delivery, Receipt; an escrow's locks, Releases, Rulings; the Accept of our offer it reveals,
          ESC-012);
        - an Ack of a statement we signed by its audience, or of a statement of a negotiation of ours by
          one of its parties: its issuer's first of that statement (WIT-002: the Ack of our Delivery an
          escrow needs);
        - its issuer's first Attestation about us of a contract we hold (ATT-015);
        - a Stamp by an escrow we trust naming a statement we hold in memory or take from this answer (its
          Stamp of our bonded Offer, of the counterparty's Ack of our Delivery): an honest escrow stamps a
          statement once (WIT-006): its first Stamp of each such statement -- none held, none earlier in
          the answer -- so that these are as many as what we hold, whoever relays them (the escrow chose
          how many it signs: a hundred Stamps of one statement we hold were journaled uncounted,
          tests/test_holes21.py); not any Stamp of its in its own answer: trusted with the bonds, not
          with our disk, it answered a Submit with a hundred Stamps naming statements we never saw, all
          journaled uncounted (tests/test_attack19.py);
        - the Mandates these cite (a counterparty's renewed Mandate, RPC-002), and those these cite.

        Each is what the request the answer answers could have caused. Not a Deposit: no Submit makes an
        escrow sign one (funds come in through its payment rail; the reference's answers carry none), and
        a hundred Deposits to us in one answer were journaled uncounted (tests/test_holes21.py).
        """
        for vs in answer:
            if vs is not None and not vs.negotiation_id:
                break
        else:
            return None  # statements of negotiations only (or nothing new): the usual answer, all its own
        v, me = self.verifier, self.did
        held, by_id = v.statements, v.negotiations.by_id
        stmts = [vs for vs in answer if vs is not None and not self._opens(vs)]
        taken = {vs.digest: vs for vs in stmts if vs.negotiation_id}

        def known(digest: bytes) -> VerifiedStatement | None:
            return dict.get(held, digest) or taken.get(digest)

        firsts: set[tuple[str, str, bytes]] = set()  # (body, issuer, what it is about): one of each here
        trusted = self.trusted_escrows
        for vs in stmts:
            body, issuer = vs.body, vs.issuer
            if body == "ack":
                about = vs.statement.ack.statement
                named = known(about)
                if named is None or ("ack", issuer, about) in firsts or v.ack_of(issuer, about) is not None:
                    continue
                neg = by_id.get(named.negotiation_id) if named.negotiation_id else None
                if (neg is not None and me in neg.parties and issuer in neg.parties) or (
                    named.issuer == me and issuer == named.audience
                ):
                    firsts.add(("ack", issuer, about))
                    taken[vs.digest] = vs
            elif body == "attestation":
                about = vs.statement.attestation.accept
                if (
                    vs.statement.attestation.subject == me
                    and known(about) is not None
                    and ("attestation", issuer, about) not in firsts
                    and not v.attested(issuer, about)
                ):
                    firsts.add(("attestation", issuer, about))
                    taken[vs.digest] = vs
        stamped = v.witness.recorded_stamp_time
        for vs in stmts:
            if vs.body != "stamp" or vs.issuer not in trusted or vs.digest in taken:
                continue
            firsts_of = [
                ("stamp", vs.issuer, d)
                for d in vs.statement.stamp.statements
                if known(d) is not None
                and ("stamp", vs.issuer, d) not in firsts
                and stamped(vs.issuer, d) is None
            ]
            if firsts_of:  # the escrow's first Stamp of a statement we hold or take (WIT-006)
                firsts.update(firsts_of)
                taken[vs.digest] = vs
        keep = set(taken)
        mandates = {vs.digest: vs for vs in stmts if vs.body == "mandate"}
        todo = [vs.mandate_digest for vs in taken.values()]
        while todo:  # the Mandates they cite, and those these cite
            mandate = mandates.get(todo.pop())
            if mandate is not None and mandate.digest not in keep:
                keep.add(mandate.digest)
                todo.append(mandate.mandate_digest)
        return None if all(vs.digest in keep for vs in stmts) else keep

    def _strangers_room(
        self,
        anchor: VerifiedStatement,
        along: Sequence[VerifiedStatement],
        count: _Count,
        now: int,
    ) -> list[str] | _Dealing | _Reserved | None:
        """The keys that ``anchor`` and what it takes ``along`` (its Mandate, the Stamps naming it) count
        for under the newcomer quota (RPC-016), one entry a statement, for :meth:`_strangers_charge`:
        None when they do not count -- the quota is off, or what is taken is what a statement of our
        dealings depends on (``count.inside``); if ``anchor`` is of our dealings (:meth:`_inside`), how
        the count of keys in our dealings takes it (:meth:`_dealings_room`); :class:`_Reserved` when
        ``anchor`` is a KeyRevocation that, with what it takes (:meth:`_revocation_package`), the quota
        has no room for and the revocations' reserve has. Raises the quota's RateLimited (the
        reserve's, for such a revocation) when it has no room for them now."""
        strangers = self._strangers
        if strangers is None or count.inside:
            return None
        if anchor is count.newcomer:
            # RPC-017 counts the Offer; its own Mandate is what it depends on; the rest of what it
            # takes counts as what it is.
            todo = [
                vs
                for vs in along
                if vs.digest not in count.charged
                and vs.digest != anchor.mandate_digest
                and not self._inside(vs, count.chosen)
            ]
        elif self._inside(anchor, count.chosen):
            return self._dealings_room(anchor, count.chosen, now)
        else:
            todo = [vs for vs in (*along, anchor) if vs.digest not in count.charged]
        if not todo:
            return None
        keys = [self._counts_for(vs) for vs in todo]
        refusal = strangers.refusal(keys, now, solicited=count.solicited)
        if refusal is not None:
            if not self._revocation_package(anchor, todo):
                raise refusal
            # A revocation of a key a thief holds, which a flood of other statements filled the quota
            # against: its reserve (tests/test_stranger_quota.py). Over that too, it is refused, and its
            # key marked by the caller once it passed its checks (_mark_refused).
            refusal = strangers.reserve_refusal(keys, now)
            if refusal is not None:
                raise refusal
            count.charged.update(vs.digest for vs in todo)
            return _Reserved(keys)
        count.charged.update(vs.digest for vs in todo)
        return keys

    def _revocation_package(self, anchor: VerifiedStatement, todo: Sequence[VerifiedStatement]) -> bool:
        """RPC-016's revocations' reserve: whether ``todo``, the statements counted with ``anchor``, are a
        KeyRevocation and what its authority depends on -- its binding (a statement of the revoked key)
        and the revoker's Mandates naming that key (KEY-008) -- and nothing else."""
        if anchor.body != "key_revocation":
            return False
        key, revoker = anchor.statement.key_revocation.key, anchor.issuer
        return all(
            vs is anchor
            or vs.issuer == key
            or (vs.body == "mandate" and vs.issuer == revoker and vs.statement.mandate.agent == key)
            for vs in todo
        )

    def _refuse_marked(self, vs: VerifiedStatement, now: int) -> None:
        """RPC-016: refuse ``vs`` (RateLimited) while a revocation of its issuer's key that passed its
        checks here was refused over the quota (:meth:`_mark_refused`): the thief holding a stolen key
        does not trade with us while a flood keeps its principal's revocation out. Never a KeyRevocation
        (a binding taken with one never comes here), nor a statement of ours or of a key in our
        dealings: a mark is set only by a revocation the key or its principal signed, but another key
        may look marked (:class:`~.strangers.PendingRevocations`), and a flood must never keep out a
        counterparty with real dealings."""
        strangers = self._strangers
        if strangers is None or vs.body == "key_revocation":
            return
        issuer = vs.issuer
        if issuer == self.did or self.deals_with(issuer):
            return
        refusal = strangers.marked(issuer, now)
        if refusal is not None:
            raise refusal

    def _mark_refused(self, vs: VerifiedStatement, now: int) -> None:
        """``vs`` was refused over the quota (RPC-016) once it passed its checks: if it is a KeyRevocation,
        mark its key (:meth:`_refuse_marked`). Only the key itself or a principal it is bound to signs
        one that passes (KEY-004): whoever marks a key revoked it."""
        if vs.body == "key_revocation" and self._strangers is not None:
            self._strangers.mark(vs.statement.key_revocation.key, now)
            if self.journal is not None and self._strangers.pending.due(now):
                # Journaled at once (at most once a minute, MARKS_SAVE_MS): a refusal writes nothing else,
                # and a restart must not forget the mark (tests/test_revocation_reserve.py).
                self.journal.put_meta(META_REVOCATION_MARKS, self._strangers.pending.dump(now))

    def save_marks(self) -> None:
        """Journal the revocation marks (RPC-016) set since they last were: at a clean close."""
        strangers = self._strangers
        if strangers is not None and strangers.pending.dirty and self.journal is not None:
            with self.lock:
                self.journal.put_meta(META_REVOCATION_MARKS, strangers.pending.dump(self.clock()))

    def _uncited_room(
        self, request: VerifiedStatement, provisional: _Provisional, now: int
    ) -> list[str] | _Reserved:
        """RPC-016 for a request of our dealings: the keys that the Mandates held provisionally for it
        (RPC-015: those whose agent is a key it names) count for, one entry a Mandate, when nothing taken
        with it cites them and they are no statement of our dealings (:meth:`_inside`) -- counted for
        their issuer as a stranger's request is, all or nothing with the request. Anyone can sign a
        Mandate naming any key: forty fresh principals' Mandates naming us, or the request's issuer, rode
        in uncounted as what a request of our dealings depends on, with every request
        (tests/test_attack19.py). What the request's checks read is what it and the rest taken with it
        cite (and a revocation's binding). A KeyRevocation's revoker's Mandates naming its key (renewals,
        which ``a2a-coop revoke-key`` sends with the one its binding cites) go to the revocations' reserve
        when the quota has no room for them (:class:`_Reserved`). Raises the quota's RateLimited (the
        reserve's) when it has no room for them."""
        strangers = self._strangers
        if strangers is None or not provisional.held:
            return []
        taking = provisional.chosen()
        cited = {request.mandate_digest, *(vs.mandate_digest for vs in taking)}
        if provisional.binding is not None:
            cited.add(provisional.binding.mandate_digest)
        extra = [
            vs
            for vs in taking
            if vs.body == "mandate"
            and vs.digest not in cited
            and not self._inside(vs, provisional.count.chosen)
        ]
        if not extra:
            return []
        keys = [self._counts_for(vs) for vs in extra]
        refusal = strangers.refusal(keys, now)
        if refusal is not None:
            if not self._revocation_package(request, extra):
                raise refusal
            refusal = strangers.reserve_refusal(keys, now)
            if refusal is not None:
                raise refusal
            return _Reserved(keys)
        return keys

    def _dealings_room(self, vs: VerifiedStatement, chosen: frozenset[str], now: int) -> _Dealing | None:
        """RPC-016 for a statement of our dealings (:meth:`_inside`), for :meth:`_strangers_charge`: a
        public statement of a key in our dealings counts for it (:data:`~.strangers.META_DEALINGS`), and
        a statement of a negotiation with us it issued (or an Offer to us, or its Stamp as the escrow of
        a contract of ours, :meth:`_witnesses_ours`) earns it credit; a public statement of the
        counterparty of a swap we started (``chosen``) counts for it too, in our dealings or not, and so
        does a Mandate naming it by a key outside our dealings (exempt, it answered each swap with some
        60 Checkpoints of its own chain, or 60 fresh principals' Mandates naming it, a swap a minute,
        tests/test_attack19.py); None
        when it does neither: ours or our principal's, what ends a key (a KeyRotation, a revoker's first
        KeyRevocation of a key or its one correction: always taken, once; a later one counts for its
        revoker), its issuer's first Attestation of a contract of ours (:meth:`_attests_ours`), or one
        of a key outside our dealings that :meth:`_inside` let in. One contract without bonds keeps a
        party and its principal in our dealings for good (ATT-018), and their own public statements -- a
        Checkpoint at each next seq of a chain -- were journaled without bound (tests/test_attack16.py);
        a flat per-key limit refused an honest counterparty's Attestations (one a bonded trade) past the
        256th trade of an hour. Raises RateLimited when the key has no room now."""
        dealings = self._dealings
        issuer = vs.issuer
        if dealings is None or issuer in (self.did, self.mandate_vs.issuer):
            return None
        if vs.body == "key_rotation":
            return None  # the last statement of its key's chain (KEY-005): one a key
        if vs.body == "key_revocation":
            if self.verifier.revocation_uncounted(vs):
                return None  # the first of its revoker, or its one correction: always taken, once
            # A later one counts for the key it revokes: a key in our dealings revoking itself, effective
            # years ahead, again and again was journaled uncounted (tests/test_attack17.py).
        elif not self.deals_with(issuer) and issuer not in chosen and vs.body != "mandate":
            if vs.body == "offer" and vs.audience == self.did:
                return _Dealing(issuer, earns=True)  # a newcomer's opening Offer, as a request's: credit
            return None  # one of a key outside our dealings that _inside let in (a Mandate: below)
        nid = vs.negotiation_id
        if nid:
            neg = self.verifier.negotiations.by_id.get(nid)
            if (neg is not None and self.did in neg.parties) or (
                vs.body == "offer" and vs.audience == self.did
            ):
                return _Dealing(issuer, earns=True)
        elif vs.body == "stamp" and self._witnesses_ours(vs):
            return _Dealing(issuer, earns=True)
        elif vs.body == "attestation" and self._attests_ours(vs):
            return None
        key = self._counts_for(vs)
        if vs.body == "mandate" and key not in chosen and not self.deals_with(key):
            # Its issuer outside our dealings: _inside let it in as naming the swap's counterparty, which
            # sent it -- counted for that counterparty (tests/test_attack19.py).
            key = vs.statement.mandate.agent
        refusal = dealings.refusal(key, now, credit_only=not self._based(key, chosen))
        if refusal is not None:
            raise refusal
        return _Dealing(key, earns=False)

    def _based(self, key: str, chosen: frozenset[str] = frozenset()) -> bool:
        """RPC-016: whether ``key`` has the dealings' base count here -- a key an escrow we trust locked
        a bond of, or for, in a contract of ours (``bonded_with``: the locking party, its principals, the
        escrow; funds, which keys cannot mint), an escrow we trust (our choice), or the counterparty of a
        swap we started (our choice too). Any other key of our dealings has only the credit its
        negotiations with us earn: a contract without bonds needs only our strategy's consent to an Offer
        good enough, which costs a fresh key nothing (it promises, never delivers), and each newcomer
        Offer the budget took gave its key and its principal the base count for good, every period,
        outside the quota's total (tests/test_attack19.py) -- ESC-017's funded keys at a peer."""
        return self.verifier.bonded_with.get(key, 0) > 0 or key in self.trusted_escrows or key in chosen

    def _counts_for(self, vs: VerifiedStatement) -> str:
        """The key ``vs`` counts for under RPC-016 (:func:`~.strangers.about`), but a KeyRevocation by a
        revoker that revoked its key before -- a correction, say an earlier effective time -- counts for
        its revoker: counted for the key, the key's thief spent that count with statements of the key
        dated before the first revocation, and kept the principal's corrected one out, every period
        (tests/test_attack18.py)."""
        if vs.body == "key_revocation" and vs.issuer in self.verifier.revokers.get(
            vs.statement.key_revocation.key, ()
        ):
            return vs.issuer
        return about(vs.body, vs.issuer, vs.statement)

    def _witnesses_ours(self, stamp: VerifiedStatement) -> bool:
        """Whether ``stamp`` is the escrow's witness of a trade of ours: it names a statement (held in
        memory) of a negotiation we are party to whose contract names the Stamp's issuer as its escrow.
        A relay sends a lone new Stamp as a request of its own (trade._relay), as a served peer's lock
        fetch does the escrow's last answer (ESC-009): statements of no negotiation, which a trade with
        an escrow brings at every step. Only a Stamp naming such a statement the escrow had not stamped yet:
        an escrow stamps each statement once (WIT-006), and one re-stamping a contract's Accept a hundred
        times had each journaled uncounted, earning credit (tests/test_attack17.py); a re-stamp counts."""
        held, by_id = self.verifier.statements, self.verifier.negotiations.by_id
        stamped = self.verifier.witness.recorded_stamp_time
        escrow = stamp.issuer
        for digest in stamp.statement.stamp.statements:
            named = dict.get(held, digest)
            neg = by_id.get(named.negotiation_id) if named is not None and named.negotiation_id else None
            c = None if neg is None or self.did not in neg.parties else neg.contract
            if c is not None and c.escrow == escrow and stamped(escrow, digest) is None:
                return True
        return False

    def _attests_ours(self, attestation: VerifiedStatement) -> bool:
        """Whether ``attestation`` is its issuer's first of a contract of ours (ATT-002: one counts per
        party and contract), about us: what a trade with us makes its counterparty send (ATT-015). Counted
        against its issuer's key, anyone holding that key's public statements -- its head Checkpoints,
        which a Gossip call answers with -- could spend its count by relaying them, and get the
        Attestation of a trade refused (tests/test_attack17.py). Its other checks (ATT-001: the contract
        held, its issuer the other party) are the verifier's; one they refuse is kept nowhere."""
        a = attestation.statement.attestation
        return a.subject == self.did and not self.verifier.attested(attestation.issuer, a.accept)

    def _strangers_charge(self, keys: list[str] | _Dealing | _Reserved | None, now: int) -> None:
        """Count what :meth:`_strangers_room` (or :meth:`_dealings_room`) let in, now that it is taken."""
        if isinstance(keys, _Dealing):
            if self._dealings is not None:
                (self._dealings.earn if keys.earns else self._dealings.charge)(keys.key, now)
        elif isinstance(keys, _Reserved):
            if self._strangers is not None:
                self._strangers.charge(keys.keys, now, reserved=True)
        elif keys and self._strangers is not None:
            self._strangers.charge(keys, now)

    def _keep_fork_proof(self, refusal: CoopError) -> None:
        """Keep the fork proof ``refusal`` of a statement we skip carries, if any (ATT-011)."""
        proof = fork_proof_from(refusal)
        if proof is not None:
            self.verifier.take_fork_proof(proof)

    def _over_quota(self, vs: VerifiedStatement, refusal: CoopError, **check: Any) -> CoopError:
        """The refusal of ``vs``, over the newcomer quota: its own, if its checks refuse it (a defect's code
        first, ERR-002; a statement forking a chain we hold still leaves its fork proof, ATT-011), else
        ``refusal`` -- and a KeyRevocation refused so marks its key (:meth:`_mark_refused`)."""
        try:
            self.verifier.check(vs, **check)
        except CoopError as own:
            proof = fork_proof_from(own)
            if proof is not None:
                self.verifier.take_fork_proof(proof)
            return own
        if isinstance(refusal, RateLimited) and refusal.requirement == "RPC-016":
            self._mark_refused(vs, self.clock())
        return refusal

    def _quota_meta(self, *, prune: bool = True) -> dict[str, Any]:
        """The newcomer quota's window and count (RPC-016), and the newcomers' negotiations' (RPC-017),
        to journal in the commit that holds what they counted; with ``prune`` (a commit made anyway) or
        any of those, some per-key rows of past periods to delete (None: KeyedCount.meta)."""
        meta = {} if self._strangers is None else self._strangers.meta(self.clock())
        if self._newcomers is not None:
            meta.update(self._newcomers.meta())
        for count in (self._dealings, self._vouched):
            if count is not None:
                meta.update(count.meta(prune=prune or bool(meta)))
        return meta

    @property
    def newcomer_offers(self) -> NewcomerOffers | None:
        """The budget of newcomers' negotiations (RPC-017) as configured (an inactive one is no limit),
        or None: not configured (no limit)."""
        return self._newcomer_offers

    @newcomer_offers.setter
    def newcomer_offers(self, budget: NewcomerOffers | None) -> None:
        """Set (or lift) the budget; what the journal counted in the current window counts on."""
        self._newcomer_offers = budget
        if budget is None or not budget.active:
            self._newcomers = self._vouched = None
            return
        self._vouched = self._keyed_count(
            self._vouched,
            META_VOUCHED,
            budget.voucher_cap,
            0,
            budget.period_ms,
            requirement="RPC-017",
            what="opening Offers of the reserve vouched for by",
        )
        stored = self.journal.get_meta(META_NEWCOMER_OFFERS) if self.journal is not None else None
        if self._newcomers is not None:  # what this process counted (not journaled yet, perhaps)
            stored = [self._newcomers.window, self._newcomers.count]
        self._newcomers = StrangerCount(
            budget.as_quota(),
            stored,
            self.clock(),
            meta_key=META_NEWCOMER_OFFERS,
            requirement="RPC-017",
            what="opening Offers of issuers outside our dealings",
        )

    def _newcomer_room(
        self, vs: VerifiedStatement, provisional: _Provisional | None, now: int
    ) -> tuple[str, str | None] | None:
        """RPC-017: ``vs``'s issuer if ``vs`` is a newcomer's opening Offer (else None), which the budget
        of newcomers' negotiations counts once taken (:meth:`_newcomer_charge`): addressed to us, of a
        negotiation we do not hold, by an issuer outside our dealings (no negotiation of ours not ended
        with it, a dormant one released first; no contract of ours naming it, :meth:`deals_with`).
        Raises the budget's RateLimited when it has no room for it now -- the share any newcomer may
        fill, or, for one introduced by a principal in our dealings (:meth:`_introducer`), the whole
        budget: by our own principal, always; by another, while it took less than its part of the
        reserve this period (:attr:`NewcomerOffers.voucher_cap`, journaled per principal): one contract
        with us puts a principal in our dealings for good (ATT-018), and its fresh agents drew on the
        whole reserve (tests/test_attack16.py). Returns the issuer and, if the Offer draws on the
        reserve, the vouching principal it counts for."""
        newcomers = self._newcomers
        if newcomers is None or vs.body != "offer" or vs.audience != self.did:
            return None
        if vs.negotiation_id in self.verifier.negotiations.by_id:
            return None
        issuer = vs.issuer
        if issuer in self._open_with and issuer not in self._contracted_with:
            with self.lock:  # a negotiation gone dormant is ended here too (RPC-014), or it would keep
                self._release_dormant(now)  # its issuer in our dealings, uncounted, for as long as it liked
        if self.deals_with(issuer):
            return None
        voucher = self._introducer(vs, provisional)
        ours = voucher == self.mandate_vs.issuer
        vouched = self._vouched
        solicited = voucher is not None and (ours or vouched is None or vouched.room(voucher, now) > 0)
        refusal = newcomers.refusal((issuer,), now, solicited=solicited)
        if refusal is not None:
            raise refusal
        budget = self._newcomer_offers
        open_share = budget.open_share if budget is not None else 0
        draws = solicited and not ours and newcomers.count >= open_share
        return issuer, (voucher if draws else None)

    def _introducer(self, vs: VerifiedStatement, provisional: _Provisional | None) -> str | None:
        """The issuer of the Mandate ``vs`` cites if it is our principal or a key a contract of ours put in
        our dealings: a newcomer a principal we know vouches for (RPC-017's reserve), which fresh
        principals cannot be; for a key bound to a principal of our contracts (a party vouching for agents
        of its own), that principal, whose part it takes; else None. Never the counterparty of a
        negotiation alone: a fresh key whose one Offer we countered vouched, while it stayed open, for as
        many fresh agents as it minted Mandates for (tests/test_newcomer_offers.py)."""
        mandate = dict.get(self.verifier.statements, vs.mandate_digest)
        if mandate is None and provisional is not None:
            mandate = next((m for m in provisional.held if m.digest == vs.mandate_digest), None)
        if mandate is None or mandate.body != "mandate":
            return None
        principal = mandate.issuer
        ours, known = self.mandate_vs.issuer, self._contracted_with
        if principal == ours:
            return principal
        if principal not in known:
            return None
        # A party of a contract of ours vouching for agents of its own takes from its principal's part:
        # one contract put both in our dealings, and gave two parts (tests/test_attack17.py).
        over = sorted(p for p in self.verifier.bound.get(principal, ()) if p in known and p != ours)
        return over[0] if over else principal

    def _newcomer_charge(self, newcomer: tuple[str, str | None] | None, now: int) -> None:
        """Count a newcomer's opening Offer that :meth:`_newcomer_room` let in, now that it is taken, and
        the reserve's Offer against its vouching principal."""
        if newcomer and self._newcomers is not None:
            issuer, voucher = newcomer
            self._newcomers.charge((issuer,), now)
            if voucher is not None and self._vouched is not None:
                self._vouched.charge(voucher, now)

    def dealing_rank(self, key: str) -> tuple[int, int] | None:
        """Where gossip ranks a proof against ``key`` (ATT-011): None outside our dealings; else, lowest
        first, the bond value escrows locked for it in our contracts, the most first (a Sybil cannot
        raise it without locking funds at an escrow we trust), then the order it joined our contracts,
        the first first (a free contract made later buys no rank), then counterparties of
        negotiations only."""
        if not self.deals_with(key):
            return None
        since = self._contracted_with.get(key, len(self._contracted_with))
        return -self.verifier.bonded_with.get(key, 0), since

    def _left_dealings(self, key: str) -> None:
        """``key``'s last negotiation with us ended without a contract: a proof against it that came at
        the bound, spared it while ``key`` dealt with us, is dropped if the bound is still reached, else
        counts (ATT-018) -- in the journal too, or the next start would keep it again."""
        if self._replaying or key in self._contracted_with or key not in self.verifier.spared:
            return  # replaying: the proof came at some point of the journal we do not know; see _replay
        kept = self.verifier.count_against_bound(key)
        if self.journal is None:
            return
        row = f"{META_FORKS}/{key}"
        if kept:
            proof = self.verifier.forks[key]
            self.journal.put_meta(row, [proof.first, proof.second])
        else:
            self.journal.delete_meta(row)

    def trusts_escrow(self, escrow: str) -> bool:
        """Whether we take part in a contract whose terms name ``escrow`` ("" for none)."""
        return not escrow or escrow in self.trusted_escrows

    def _unsignable_terms(self, proposal: trade_pb2.Offer) -> str:
        """Why we will not sign these terms, or "" if we will: they name an escrow we do not trust
        (MND-015), or a response window longer than MAX_RESPONSE_WINDOW_MS (BDY-003: the guard would
        refuse them as BODY_INVALID; checked here first so that a strategy's Counter becomes a Reject
        that says why)."""
        terms = proposal.terms
        if not self.trusts_escrow(terms.escrow):
            return f"escrow {terms.escrow} is not trusted here (no mandate of it was configured)"
        if terms.response_window_ms > MAX_RESPONSE_WINDOW_MS:
            return (
                f"terms.response_window_ms {terms.response_window_ms} is above {MAX_RESPONSE_WINDOW_MS}: "
                "one claim would keep the accused's bond locked that long (BDY-003, MND-016)"
            )
        return self._escrow_outlived(proposal)

    def _escrow_outlived(self, proposal: trade_pb2.Offer) -> str:
        """MND-020: why the escrow the terms name could not sign about their contract until its last Ruling
        (:func:`last_ruling_ms`) -- the end of its validity as we hold it is at or before then -- or "".
        Its validity: the latest end (Verifier.signs_until: valid_until_ms cut at a held revocation of its
        key or principal) among its Mandates we were given and those of the same principal for its key we
        hold (its renewal, which an answer of it starts with: hold_escrow_mandate). An escrow that does not
        refuse such a contract (ESC-020) bonds it, and from that end on stamps no claim and signs no Ruling,
        Forfeit, Release or lapse: our claim is lost and both bonds stay locked (tests/test_attack22.py)."""
        escrow = proposal.terms.escrow
        needed = last_ruling_ms(proposal) if escrow in self._escrow_given else 0
        if not needed:
            return ""
        v = self.verifier
        ends = [v.signs_until(d) or 0 for d in self._escrow_given[escrow]]
        if max(ends) > needed:
            return ""
        for digest, record in v.mandates.items():  # a renewal held: rare, read only when the given fall short
            if record.agent == escrow and (escrow, record.principal) in self._escrow_grants:
                end = v.signs_until(digest) or 0
                if end > needed:
                    return ""
                ends.append(end)
        return (
            f"escrow {escrow:.40}'s Mandate ends at {max(ends)}, while a Ruling on a claim under these terms "
            f"may be due until {needed} (the last deadline, the claim window, the response window and the "
            "clock tolerance): it could not stamp our claim or rule on it (MND-020, ESC-020)"
        )

    def status(self) -> dict[str, Any]:
        """Open negotiations, obligations and exposure, for ``a2a-coop status``."""
        with self.lock:
            negs = list(self.verifier.negotiations.by_id.values())
            exposure = self.verifier.exposure.exposure(self.mandate_vs.digest)
            return {
                "did": self.did,
                "seq": self.writer.next_seq,
                "negotiations": {s.value: sum(1 for n in negs if n.state is s) for s in State},
                "open": [n.id.hex() for n in negs if not n.is_terminal],
                "outstanding_value": exposure.outstanding(self.clock()),
                "key_forked": None if self.fork_alarm is None else self.fork_alarm.report(),
            }

    # -- internals ----------------------------------------------------------------

    def _hold_context(self, context: Sequence[bytes], provisional: _Provisional) -> list[VerifiedStatement]:
        """Accept the context envelopes of a request that we lack, in order; return those taken now,
        which the caller journals with the request, in one commit (so that a relay of several of an
        escrow's statements, the last as the request, costs one fsync). Mandates, Stamps naming the
        request, and a revocation's binding are held in ``provisional`` until a statement after them
        that needs them passes its checks (:class:`_Provisional`). If one is refused, those taken before
        it are journaled at once, and the refusal raised (what is held provisionally is dropped)."""
        taken = provisional.taken
        try:
            for env in context:
                vs = self._hold(env, durable=False, received_ms=provisional.now, provisional=provisional)
                if vs is not None:
                    taken.append(vs)
        except BaseException:
            self._record_context(taken, provisional.now)
            raise
        return taken

    def _needed_context(
        self, request: VerifiedStatement, context: Sequence[bytes], provisional: _Provisional | None = None
    ) -> tuple[list[bytes], list[bytes]]:
        """RPC-015: the context envelopes ``request`` depends on, in their order, in two parts; the
        others are not taken. Keys cost nothing, so a request we then refuse would otherwise make us
        keep and journal, for good, whatever strangers' statements it carried.

        First, what the request's own checks can depend on, taken before it is checked: the statements
        of the request's negotiation (an escrow's relayed answer among them), the Stamps naming one of
        those or the request (or a statement of its negotiation we hold), the Mandates any of these cite
        or that name as agent a key they name (issuer, audience, an offer's escrow), and the key
        statements that end those keys or their principals (KeyRotation, KeyRevocation). An envelope
        that does not decode is kept here, so that holding it raises its typed error.

        Second, the other statements addressed to us (other negotiations: an Accept of our offer handed
        over with an Ack; refused as requests are if dated back or ahead, TIM-008), the Stamps naming
        those, and the Mandates and key statements only they need, by the same rules: taken only once
        the request passed its checks (:meth:`exchange`), so that a refused request leaves none of them.
        Only context we do not hold is decoded. ``provisional`` is told which statement is a
        KeyRevocation's binding (KEY-008), held there until the revocation passes."""
        remembered = self._context_digests
        fresh: list[tuple[int, bytes, statement_pb2.Statement | None]] = []
        for i, env in enumerate(context):
            digest = remembered.get(env)
            if digest is not None and dict.__contains__(self.verifier.statements, digest):
                continue  # held already: _hold skips it
            try:
                parsed = parse_envelope(env)  # decode_envelope, and the digest under its payload type
                payload = parsed.envelope.payload
                is_statement = parsed.envelope.payload_type == STATEMENT_PAYLOAD_TYPE
                digest = parsed.digest if is_statement else statement_digest(payload)
                fresh.append((i, digest, statement_pb2.Statement.FromString(payload)))
                if provisional is not None:
                    provisional.parsed[env] = parsed  # _hold parses these same bytes: not again
            except Exception:  # malformed: _hold raises its typed error (ENV-004, ENV-008, ...)
                fresh.append((i, b"", None))
        if not fresh:
            return [], []
        nid, me = request.negotiation_id, self.did
        first = {i for i, _, stmt in fresh if stmt is None or (nid and stmt.header.negotiation_id == nid)}
        ours = {request.digest} | {digest for i, digest, _ in fresh if i in first}
        if request.body == "key_revocation":
            # Not among ``ours``: a Stamp naming the binding is not needed (KEY-008's binding is the key's
            # public Checkpoint, which no Stamp need witness, TIM-006), and any key can sign one, which
            # would be taken, with its Mandate, before a revocation we then refuse (RPC-015).
            binding = _binding_of(fresh, request, me, self.verifier)
            if binding is not None:
                first.add(binding[0])
                if provisional is not None:
                    provisional.binding_digest = binding[1]
        held = self.verifier.statements
        if nid:  # what we hold of the request's negotiation, which a relayed Stamp may name
            ours.update(d for d in _stamped_candidates(fresh) if _of(held, d) == nid)
        mandates = {request.mandate_digest}
        keys = {request.issuer, request.audience}
        if request.body in ("offer", "counter"):
            keys.add(proposal_of(request).terms.escrow)
        self._context_needs(fresh, first, ours, mandates, keys, taken=set())
        # statements addressed to us: checked as requests are (TIM-006, TIM-008)
        second = {
            i for i, _, stmt in fresh if i not in first and stmt is not None and stmt.header.audience == me
        }
        addressed = {digest for i, digest, _ in fresh if i in second}
        self._context_needs(fresh, second, addressed, set(), set(), taken=first)
        return [context[i] for i in sorted(first)], [context[i] for i in sorted(second)]

    def _context_needs(
        self,
        fresh: Sequence[tuple[int, bytes, statement_pb2.Statement | None]],
        keep: set[int],
        named: set[bytes],
        mandates: set[bytes],
        keys: set[str],
        *,
        taken: set[int],
    ) -> None:
        """Add to ``keep`` (indices of ``fresh``) the Stamps naming a digest in ``named``, then the
        Mandates that ``keep``'s statements cite (or ``mandates`` holds) or whose agent is a key they
        name (or ``keys`` holds), then the statements ending those keys or their principals
        (:meth:`_needed_context`); none of ``taken``, which another part keeps."""
        for i, _, stmt in fresh:
            if stmt is None or i in taken:
                continue
            if i in keep or (
                stmt.WhichOneof("body") == "stamp" and named.intersection(stmt.stamp.statements)
            ):
                keep.add(i)
                mandates.add(stmt.header.mandate)
                keys.add(stmt.header.issuer)
                if stmt.WhichOneof("body") in ("offer", "counter"):
                    terms = stmt.offer.terms if stmt.HasField("offer") else stmt.counter.proposal.terms
                    keys.add(terms.escrow)
        for i, digest, stmt in fresh:
            if (
                i not in keep
                and i not in taken
                and stmt is not None
                and stmt.HasField("mandate")
                and (stmt.mandate.agent in keys or digest in mandates)
            ):
                keep.add(i)
                keys.add(stmt.header.issuer)  # its principal, who may revoke the key (KEY-004)
        for agent_mandate in mandates:  # the principals of the Mandates we hold that they cite
            record = self.verifier.mandates.get(agent_mandate)
            if record is not None:
                keys.add(record.principal)
        for i, _, stmt in fresh:
            if i in keep or i in taken or stmt is None:
                continue
            body = stmt.WhichOneof("body")
            # The key statements a check can depend on: what ends a key (KEY-004, KEY-005). Not its
            # Checkpoints (no check reads one; KEY-008's binding is chosen apart, _binding_of), nor other
            # Mandates it issued: a fresh key's request we refuse kept its every Checkpoint, journaled.
            if body in _KEY_ENDINGS and (
                stmt.header.issuer in keys or (body == "key_revocation" and stmt.key_revocation.key in keys)
            ):
                keep.add(i)

    def _context_taken(self, vs: VerifiedStatement) -> None:
        """``vs``, a context envelope just taken: its digest remembered by its bytes, and the negotiation of
        ours it moved, if any, tracked."""
        self._remember_context(vs.envelope, vs.digest)
        nid = vs.negotiation_id
        neg = self.verifier.negotiations.by_id.get(nid) if nid else None
        if neg is not None and self.did in neg.parties:
            # Taken without a reaction (context, gossip), it may still have moved a negotiation of ours
            # -- an Accept of our offer forms a contract: count it, and enter what we owe (TIM-009).
            self._track_open(neg)

    def _record_context(self, taken: Sequence[VerifiedStatement], now: int) -> None:
        """Journal context we hold, without its request (which was refused): durable before we answer."""
        if self.journal is None:
            return
        meta = self._quota_meta(prune=bool(taken))
        if taken or meta:
            self.journal.record_batch([(vs, [], False) for vs in taken], at_ms=now, meta=meta or None)

    def _hold(
        self,
        envelope: bytes,
        *,
        durable: bool = True,
        received_ms: int | None = None,
        provisional: _Provisional | None = None,
        count: _Count | None = None,
    ) -> VerifiedStatement | None:
        """Accept a context envelope unless we hold it; return it if taken now. ``durable``: journal it
        at once (else the caller does). ``provisional``: a request's context -- a Mandate, a Stamp naming
        the request, or a revocation's binding, is checked and held there, not taken (None returned);
        another statement is checked beside those first, and what it depends on is taken before it
        (:class:`_Provisional`). ``count``: how the newcomer quota counts it (RPC-016; a request's
        context: its ``provisional``'s); None: not at all (what our operator gave us)."""
        # The same context (a counterparty's mandate, an escrow's) comes with every request: its digest
        # is remembered by its bytes, so neither the parse nor the hash is redone while it is held.
        digest = self._context_digests.get(envelope)
        if digest is not None and dict.__contains__(self.verifier.statements, digest):
            return None
        parsed = provisional.parsed.get(envelope) if provisional is not None else None
        if parsed is None:
            parsed = parse_envelope(envelope)
        digest = parsed.digest
        held = self.verifier.statements
        # A held digest means these exact payload bytes were verified before: skip the signature check.
        if dict.__contains__(held, digest):  # in memory
            self._remember_context(envelope, digest)
            return None
        # Context: no freshness, it may be old (TIM-005); but what is addressed to us and handed over
        # live must not be dated back unwitnessed (TIM-006), or context would smuggle what a request can't.
        try:
            vs = self.verifier.verify(envelope, parsed)
            if self._strangers is not None and (
                provisional is None or vs.digest != provisional.binding_digest
            ):
                at = self.clock() if received_ms is None else received_ms
                try:
                    self._refuse_marked(vs, at)  # a revocation of its key is pending here (RPC-016)
                except RateLimited as marked:
                    raise self._over_quota(vs, marked, received_ms=received_ms) from None
            if vs.body == "offer" and vs.audience == self.did:
                # RPC-012 as for a request: an Offer handed over as context opens a negotiation just the
                # same, and would otherwise get past the caps -- a refused request of its negotiation kept
                # it, one apiece (tests/test_attack15.py).
                self._check_open(vs.body, vs.negotiation_id, vs.issuer)
            newcomer = None
            if self._newcomers is not None:  # RPC-017, before what it depends on is taken (defer)
                at = self.clock() if received_ms is None else received_ms
                try:
                    newcomer = self._newcomer_room(vs, provisional, at)
                except RateLimited as over:
                    if provisional is not None and provisional.held:
                        provisional.check(vs, received_ms=received_ms)  # its own refusal first (ERR-002)
                        raise
                    raise self._over_quota(vs, over, received_ms=received_ms) from None
            if provisional is not None:
                if provisional.defer(vs):
                    return None
                count = provisional.count
            keys = None
            if count is not None and self._strangers is not None:
                now = self.clock() if received_ms is None else received_ms
                try:
                    keys = self._strangers_room(vs, (), count, now)
                except RateLimited as over:
                    raise self._over_quota(vs, over, received_ms=received_ms) from None
            self.verifier.accept_statement(vs, received_ms=received_ms)
            if keys is not None:
                self._strangers_charge(keys, now)
            if newcomer:
                self._newcomer_charge(newcomer, at)
        except CoopError:
            # Held in the journal only (forgotten since: it is refused, Replayed or older than a check
            # allows): held all the same. Asked only now, so that a new statement, which the journal
            # cannot hold, costs no read of it (4 a bonded trade for a responder: the escrow's, relayed).
            if digest in held:
                self._remember_context(envelope, digest)
                return None
            raise
        if durable and self.journal is not None:
            # Journaled so that a restart can still verify what depends on it (a counterparty's or an
            # escrow's mandate); held, not answered, so it gets no idempotency entry.
            self.journal.record_incoming(vs, [], at_ms=self.clock(), answered=False)
        self._context_taken(vs)
        return vs

    def _remember_context(self, envelope: bytes, digest: bytes) -> None:
        if len(self._context_digests) >= MAX_REMEMBERED_CONTEXT:  # bounded, whoever sends what
            self._context_digests.clear()
        self._context_digests[envelope] = digest

    def _verify_unless_held(
        self, envelope: bytes, parsed: ParsedEnvelope | None = None
    ) -> VerifiedStatement | None:
        """The statement ``envelope`` carries, verified; None if we already hold it in memory: then it
        needs no second signature check. Its digest covers the payload type and the payload, not the
        signature, so a held digest means these exact payload bytes were verified and accepted before.
        Another signature over them (valid, or not) is never checked, but nothing of ``envelope`` is
        kept, journaled or answered either: the statement we act on is the one we hold, with the
        signature we verified, as for a Replayed refusal. A malformed envelope raises as
        :meth:`accept` would (the same first checks, ENV-004/008/009). A statement only the archive
        holds takes the full path, which refuses it as Replayed: no journal read for every new
        statement. ``parsed``: ``envelope`` as :func:`parse_envelope` parsed it, if the caller did."""
        digest = self._context_digests.get(envelope)
        if digest is not None and dict.__contains__(self.verifier.statements, digest):
            return None  # context we took, sent again: the mandate that opens each answer to an Offer
        if parsed is None:
            parsed = parse_envelope(envelope)
        held = dict.get(self.verifier.statements, parsed.digest)
        if held is not None:
            if held.body == "mandate":  # it will come again, with each answer to an Offer of ours
                self._remember_context(envelope, parsed.digest)
            return None
        return self.verifier.verify(envelope, parsed)  # parsed and hashed once

    def _react(self, vs: VerifiedStatement, *, ack: bool) -> list[VerifiedStatement]:
        """Our statements in answer to ``vs`` (already accepted): the strategy's, guarded."""
        replies = self._react_in_negotiation(vs)
        # Ack what was addressed to us (never an Ack: no ack loops); relayed public statements need none.
        if ack and not replies and vs.body != "ack" and vs.audience == self.did:
            replies = [self._sign_body("ack", commitment_pb2.Ack(statement=vs.digest), audience=vs.issuer)]
        self._note_finished(vs)
        return replies

    def _react_in_negotiation(self, vs: VerifiedStatement) -> list[VerifiedStatement]:
        nid = vs.negotiation_id
        if not nid:
            return []
        neg = self.verifier.negotiations.get(nid)
        out: list[VerifiedStatement] = []
        if vs.body in ("offer", "counter") and vs.audience == self.did and not neg.is_terminal:
            answer = self._respond(neg, vs)
            out += [] if answer is None else [answer]
        elif vs.body == "delivery" and vs.audience == self.did:
            out += self._receipts(neg, [vs])
        out += self._perform(neg)
        out += self._attest(neg)
        return out

    def _react_to_context(
        self, taken: Sequence[VerifiedStatement], request_nid: bytes
    ) -> list[VerifiedStatement]:
        """What we sign because context moved a negotiation of ours other than the request's -- an
        Accept of our offer handed over with an Ack, an escrow's locks relayed with another trade's
        request: what we now owe there is performed, as it would be had it come as a request (else an
        unbonded contract formed that way would never be delivered on, and its claim upheld)."""
        out: list[VerifiedStatement] = []
        seen = {request_nid}
        for vs in taken:
            nid = vs.negotiation_id
            if not nid or nid in seen:
                continue
            seen.add(nid)
            neg = self.verifier.negotiations.by_id.get(nid)
            if neg is not None and self.did in neg.parties:
                out += self._perform(neg)
        return out

    def _attest(self, neg: Negotiation) -> list[VerifiedStatement]:
        """Once our contract is settled, attest the counterparty (ATT-015): public, guarded like
        every statement (ATT-001, ATT-002), and answered or sent to the counterparty with the rest."""
        msg = attestation_due(self.verifier, neg, self.did) if self.attest else None
        signed = None if msg is None else self._guarded(lambda: self._sign_body("attestation", msg))
        return [] if signed is None else [signed]

    def _respond(self, neg: Negotiation, offer: VerifiedStatement) -> VerifiedStatement | None:
        """Our strategy's answer to ``offer``, guarded; None when the guard holds it back until the escrow
        of an earlier bonded offer of ours took the answer to it (:class:`EscrowNotShown`,
        :meth:`answer_held`)."""
        rounds = sum(1 for h in neg.history if h[1] is _COUNTER_EVENT) + 1
        view = OfferView(neg.id, offer.issuer, _copy(proposal_of(offer)), rounds, offer.expires_at_ms)
        # Never ask the strategy about terms we will not sign, nor sign its counter with such terms:
        # an escrow we do not trust could be the counterparty's own key, locking no money (MND-015),
        # and a response window above a day (BDY-003) would let one claim lock our bond for long. Nor
        # about a counterparty our trust policy refuses (ATT-016).
        untrusted = (
            self._unsignable_terms(proposal_of(offer))
            or self._unreached(proposal_of(offer), ours=False)
            or self._refused(offer.issuer)
        )
        twice = self._answered_twice(neg)
        if twice is not None:
            untrusted = twice  # NEG-022: what it answers next, it can answer again below it
        decision = Reject(untrusted) if untrusted else self.strategy.respond(view)
        if isinstance(decision, Counter) and (untrusted := self._unsignable_terms(decision.proposal)):
            decision = Reject(untrusted)
        decision = self._demand_bond(decision, offer)
        if isinstance(decision, Counter) and (unasked := self._unreached(decision.proposal, ours=True)):
            decision = Reject(unasked)
        reply_to: dict[str, Any] = {
            "audience": offer.issuer,
            "negotiation_id": neg.id,
            "refs": [offer.digest],
        }
        msg: trade_pb2.Accept | trade_pb2.Counter | None
        if isinstance(decision, Accept):
            body, msg, ttl = "accept", trade_pb2.Accept(offer=offer.digest), DEFAULT_REPLY_TTL_MS
        elif isinstance(decision, Counter):
            body, ttl = "counter", DEFAULT_OFFER_TTL_MS
            msg = trade_pb2.Counter(offer=offer.digest, proposal=decision.proposal)
        elif isinstance(decision, Reject):
            body, msg, ttl = "reject", None, 0
        else:
            raise TypeError(f"strategy returned {decision!r}, not Accept, Counter or Reject")
        reason = getattr(decision, "reason", "")
        if msg is not None:
            signed = self._guarded(lambda: self._sign_body(body, msg, ttl_ms=ttl, **reply_to))
            if signed is not None:
                return signed
            refusal = self.guard_refusals[-1]
            if isinstance(refusal, EscrowNotShown):
                self._held_answers.add(neg.id)
                return None  # held, not refused: answered once that escrow took the line (ESC-013)
            why = refusal.code if isinstance(refusal, CoopError) else str(refusal)
            reason = f"policy guard refused our {body}: {why}"
        # Rejecting commits nothing, so the guard allows it: the negotiation ends cleanly.
        return self._sign_body("reject", trade_pb2.Reject(offer=offer.digest, reason=reason), **reply_to)

    def _guarded(self, decide: Callable[[], VerifiedStatement | None]) -> VerifiedStatement | None:
        """Run one strategy decision through the guard; a refusal is recorded, not sent.

        The counterparty did nothing wrong when *our* strategy proposes something
        our mandate or trust policy forbids, so the refusal is ours to keep
        (``guard_refusals``), not an error for the caller.
        """
        try:
            return decide()
        except (CoopError, TrustRefused, KeyForked, TooLittleTimeToPerform, EscrowNotShown) as exc:
            self.guard_refusals.append(exc)
            return None

    def _unreached(self, proposal: trade_pb2.Offer, *, ours: bool) -> str:
        """Why we will not sign, or take, these terms, or "": bonded at an escrow our runtime does not
        reach (``offer_escrows``). ``ours``: an Offer or Counter of ours -- an Accept of it shown to that
        escrow alone would bind us unseen (ESC-013). Else the counterparty's terms: no lock watch there
        (ESC-009) -- it could have both bonds locked and relay nothing, so we never deliver (NEG-012)
        and its claim takes our bond -- and no Delivery of ours witnessed there (WIT-007)."""
        terms = proposal.terms
        if self.offer_escrows is None or not (terms.issuer_bond or terms.audience_bond):
            return ""
        if terms.escrow in self.offer_escrows:
            return ""
        if ours:
            return (
                f"escrow {terms.escrow:.40} is not one we ask about our bonded offers (ESC-013): an Accept"
                " of it shown to that escrow alone would bind us unseen"
            )
        return (
            f"escrow {terms.escrow:.40} is trusted here but not reached: no lock watch there (ESC-009) and "
            "no Delivery witnessed there (WIT-007); bonded terms only at "
            + ", ".join(sorted(e[:40] for e in self.offer_escrows))
        )

    def _refused(self, counterparty: str) -> str:
        """Why our trust policy refuses ``counterparty`` outright, or "" (ATT-016)."""
        return (
            ""
            if self.trust is None
            else self.trust.refusal(counterparty, self.reputation.score(counterparty))
        )

    def _demand_bond(self, decision: Any, offer: VerifiedStatement) -> Any:
        """An Accept or Counter that leaves the offer's issuer a smaller bond than our trust policy asks
        of it becomes a Counter that demands it, under the offer's escrow or one we trust (ATT-016)."""
        if self.trust is None or not isinstance(decision, Accept | Counter):
            return decision
        ours = proposal_of(offer) if isinstance(decision, Accept) else decision.proposal
        body = "accept" if isinstance(decision, Accept) else "counter"
        required = self.trust.required_bond(self.reputation.score(offer.issuer), value_at_risk(body, ours))
        if counterparty_bond(body, ours) >= required:
            return decision
        # An escrow our runtime reaches, when it reaches any (a served node's witness): a bond demanded
        # at another would make our own Counter one we refuse to sign (ESC-013).
        reached = self.trusted_escrows if self.offer_escrows is None else self.offer_escrows
        escrow = ours.terms.escrow or min(reached, default="")
        if not escrow:
            return Reject(f"trust policy: a bond of {required} is required and no escrow is trusted here")
        if isinstance(decision, Accept):
            return Counter(demand_bond(ours, required, escrow))
        demanded = _copy(ours)
        demanded.terms.audience_bond, demanded.terms.escrow = required, escrow
        return Counter(demanded)

    def _proposal_signed(
        self, body: str, message: Any
    ) -> tuple[trade_pb2.Offer, VerifiedStatement | None] | None:
        """The proposal an Offer, Counter or Accept we are about to sign commits us to, and for an
        Accept the offer it accepts; None when an Accept names an offer we do not hold (the negotiation
        checks refuse it, NEG-005)."""
        if body != "accept":
            return (message if body == "offer" else message.proposal), None
        offer = self.verifier.statements.get(message.offer)
        return None if offer is None else (proposal_of(offer), offer)

    def _check_trust(self, body: str, message: Any, audience: str) -> None:
        """The guard's trust rule (ATT-016) for an Offer, Counter or Accept we are about to sign."""
        if self.trust is None or body not in ("offer", "counter", "accept"):
            return
        signed = self._proposal_signed(body, message)
        if signed is None:
            return
        proposal, offer = signed
        counterparty = audience if offer is None else offer.issuer
        score = self.reputation.score(counterparty)
        self.trust.check(
            counterparty, score, counterparty_bond(body, proposal), value_at_risk(body, proposal)
        )

    def _check_time_to_perform(self, body: str, message: Any, expires_at_ms: int) -> None:
        """The guard's time-to-perform rule (SPEC 9.4) for an Offer, Counter or Accept we are about to
        sign: ``expires_at_ms`` is the candidate's own expiry (an Offer's or Counter's, which the
        bonding cutoff follows)."""
        if self.min_time_to_perform_ms is None or body not in ("offer", "counter", "accept"):
            return
        signed = self._proposal_signed(body, message)
        if signed is None:
            return
        proposal, offer = signed
        mine = proposal.gives if offer is None else proposal.wants
        if offer is not None:
            expires_at_ms = offer.header.expires_at_ms
        why = time_to_perform_refusal(mine, proposal.terms, expires_at_ms, self.min_time_to_perform_ms)
        if why:
            raise TooLittleTimeToPerform(why)

    def _check_counterparty_deadlines(self, body: str, message: Any, cand: VerifiedStatement) -> None:
        """CMT-014 in the guard: no Offer, Counter or Accept under which an item the counterparty gives may
        fall due before the contract forms or is bonded, which the counterparty alone can delay."""
        if body not in ("offer", "counter", "accept"):
            return
        signed = self._proposal_signed(body, message)
        if signed is None:
            return
        proposal, offer = signed
        if offer is None:
            theirs, mine, expires, accept_at = proposal.wants, proposal.gives, cand.expires_at_ms, None
        else:
            theirs, mine = proposal.gives, proposal.wants
            expires, accept_at = offer.expires_at_ms, cand.issued_at_ms
        why = unclaimable_item_refusal(theirs, mine, proposal.terms, expires, accept_at)
        if why:
            raise CounterpartyItemUnclaimable(why)

    def _escrow_not_shown(self, body: str, message: Any, negotiation_id: bytes) -> str:
        """The guard's rule of ESC-013 for a Counter or Accept we are about to sign in ``negotiation_id``:
        why its terms, naming an escrow, must wait for the escrow of a bonded offer of ours earlier in the
        line, which names another and has not taken its answer -- or "". That escrow may hold an Accept of
        our offer, which displaces what we sign now (NEG-017); the escrow our new terms name would not
        know, bond the contract and uphold a claim under it. Shown the line, the earlier escrow takes the
        answer (and no Accept of our offer after it, ESC-014) or reveals the Accept."""
        if body not in ("counter", "accept") or not negotiation_id:
            return ""
        neg = self.verifier.negotiations.by_id.get(negotiation_id)
        signed = self._proposal_signed(body, message)
        if neg is None or signed is None or not signed[0].terms.escrow:
            return ""
        escrow = signed[0].terms.escrow
        for offer in neg.exposed_offers(self.did):
            named = proposal_of(offer).terms.escrow
            if named != escrow:
                return (
                    f"our bonded offer {offer.digest.hex()[:16]} names escrow {named:.40}, which has not"
                    f" taken its answer: terms naming {escrow:.40} wait until it has (ESC-013)"
                )
        return ""

    def asked_escrow(
        self,
        negotiation_id: bytes,
        escrow: str,
        *,
        sent_at: int | None = None,
        past_cutoff: bool = False,
        vouched: Mapping[bytes, int] | None = None,
    ) -> None:
        """Our runtime took the answer of ``escrow`` to a Submit of the line of our offers naming it in
        ``negotiation_id``, sent at ``sent_at`` (now if None): what it did not reveal past an offer's
        bonding cutoff binds us no more (NEG-020, section 4.5, :meth:`Verifier.asked_escrow`). By the
        time the Submit was sent, not the answer's arrival: the escrow may have taken it, and stamped an
        Accept after it, before the cutoff however late its answer reaches us. The caller takes the
        answer so only on the escrow's Checkpoint naming each offer it frees past its cutoff (ESC-013
        (i)); ``past_cutoff``: there was one (:meth:`asked_at_escrow`); ``vouched``: the offers that word
        names, each with its time (:func:`~a2a_coop.runtime.trade.vouched_offers`) -- the cutoff alone
        frees none, the guard's own check (NEG-020), kept with the fact across a restart."""
        with self.lock:
            now = self.clock() if sent_at is None else min(sent_at, self.clock())
            if past_cutoff:
                self._asked_at_escrow.add(negotiation_id)
            word = dict(vouched or {})
            until = self.verifier.asked_escrow(negotiation_id, now, escrow, word)
            if past_cutoff and until is None:  # the fact alone, kept while claims under our offers may come
                until = self._claims_end(negotiation_id)
            if until is not None and self.journal is not None:
                key = f"{META_ASKED}/{negotiation_id.hex()}/{escrow}"
                # One record per negotiation and escrow: an earlier ask's word (what it freed) is kept with
                # this one's, and so is the fact (restart31: a second ask lost the first's, the offer it
                # freed held again after a restart).
                at, before, named, was_past = _asked_record(self.journal.get_meta(key))
                for d, t in named:
                    word[d] = max(word.get(d, 0), t)
                record = [
                    max(now, at),
                    max(until, before),
                    [[d.hex(), t] for d, t in sorted(word.items())],
                    past_cutoff or was_past,
                ]
                self.journal.put_meta(key, record)

    def _claims_end(self, negotiation_id: bytes) -> int | None:
        """Until when a claim under a contract of one of our bonded offers in ``negotiation_id`` -- on its
        line, or a Counter cut off it (NEG-021 (d)) -- could come (None: none held)."""
        v = self.verifier
        neg = v.negotiations.find(negotiation_id)
        cut_off = [
            v.statements.get(d) for d, (*_, nid) in v._cut_off_counted.items() if nid == negotiation_id
        ]
        ours = [*(neg.offers if neg is not None else ()), *(c for c in cut_off if c is not None)]
        return max((e for e in (v._bound_until(o) for o in ours) if e), default=None)

    def asked_at_escrow(self, negotiation_id: bytes) -> bool:
        """Whether :meth:`asked_escrow` recorded the escrow's answer about ``negotiation_id`` -- taken only
        on the escrow's signed word dated past the cutoff (ESC-013 (i)) -- in this run, or in an earlier
        one while what it freed would still be held."""
        with self.lock:
            return negotiation_id in self._asked_at_escrow

    def withdraw_cut_off(self, negotiation_id: bytes) -> tuple[VerifiedStatement, VerifiedStatement] | None:
        """Our bonded Counter naming an escrow in ``negotiation_id`` that a lower answer of the counterparty's
        key cut off the line (NEG-021 (a)), while that escrow stamped no answer to it we hold, with our
        Withdraw of it: the one we signed before (a run stopped before the escrow took it: ``a2a-coop
        resume``, a served node's restart; the escrow answers a repeat as the first time, ESC-007), or one
        signed and journaled now -- also when the counterparty answered the Counter (its Counter, Reject
        or Accept of it the escrow never saw). Shown to that escrow, it closes the Counter there (ESC-014),
        or the escrow answers with an Accept of it it witnessed first, which stands (ESC-012, NEG-021 (d)).
        Or None -- also once the escrow answered our Withdraw for good (:meth:`withdraw_final`). Without it
        the counterparty accepts the Counter at the escrow alone, which locks our bond
        while our view holds the negotiation ended (tests/test_attack27_cut_off_counter.py,
        tests/test_cutoff27_withdraw_everywhere.py, tests/test_attack28_cut_off_answered_counter.py)."""
        with self.lock:
            found = self._cut_off_counter(negotiation_id)
        if found is None:
            return None
        counter, withdraw = found
        if withdraw is None:
            withdraw = self.sign(
                "withdraw",
                trade_pb2.Withdraw(offer=counter.digest, reason="cut off the line by a lower answer"),
                audience=counter.header.audience,
                negotiation_id=negotiation_id,
                refs=[counter.digest],
            )
        return counter, withdraw

    def withdraw_final(self, counter: VerifiedStatement, why: str, until_ms: int) -> None:
        """Our Withdraw of our cut-off bonded ``counter`` (:meth:`withdraw_cut_off`) was refused for good by
        the escrow it names, or answered without being taken (``why`` says which, with the code), and we
        hold that escrow's signed statements closing the Counter (:meth:`closed_at_escrow`): recorded
        in the journal until ``until_ms`` (when a claim under its contract could come no more), and
        neither signed nor shown again -- the escrow answers the same Submit the same way (ESC-007), and a
        run that asked on every `a2a-coop resume` and sweep met the same answer each time
        (tests/test_cutoff28_final_withdraw.py). A refusal that may pass later (a limit, a time not
        reached yet) or a failure to reach the escrow is not final: the caller asks again."""
        with self.lock:
            nid = counter.header.negotiation_id
            self._withdraws_final[counter.digest] = (nid, why)
            if self.journal is not None:
                self.journal.put_meta(
                    f"{META_WITHDRAW_FINAL}/{nid.hex()}/{counter.digest.hex()}", [why, until_ms]
                )

    def stamped_ours(self, escrow: str, vs: VerifiedStatement) -> bool:
        """Whether our view holds a Stamp of our own statement ``vs`` by the escrow key ``escrow`` (or a
        successor from its hand-over on, ESC-022) dated no more than the clock tolerance (WIT-003) before we
        signed ``vs``. No escrow stamps what it has not received, and we know when we signed ours: a Stamp
        dated earlier is its signer's lie -- a leaked escrow key's thief dating its Stamp before the key's
        revocation, which no revocation then reaches, kept our Delivery from the escrow's successor and our
        bond went to the counterparty (red team 33, tests/test_attack33_stamp_dated_before_delivery.py); of
        our Withdraw, it stopped our asking while the escrow could still take the counterparty's Accept
        (floor33)."""
        earliest = vs.issued_at_ms - CLOCK_TOLERANCE_MS - 1  # stamp_time reads Stamps after it
        return self.verifier.witness.stamp_time(escrow, vs.digest, after_ms=earliest) is not None

    def _stamped(self, escrow: str, vs: VerifiedStatement) -> bool:
        """Whether the escrow stamped ``vs`` (ours: by a Stamp :meth:`stamped_ours` reads)."""
        if vs.issuer == self.did:
            return self.stamped_ours(escrow, vs)
        return self.verifier.witness.stamp_time(escrow, vs.digest) is not None

    def closed_at_escrow(self, counter: VerifiedStatement, besides: bytes = b"") -> bool:
        """Whether we hold signed statements of the escrow our ``counter`` names closing it there, so that it
        takes no Accept of it (ESC-014): its Stamp of an answer to it (the counterparty's Counter, Reject or
        Accept, our Withdraw) other than ``besides``, or of the Accept of the negotiation's contract, which
        supersedes what the line left off (NEG-018). What :meth:`withdraw_final` needs: a refusal is
        unsigned, anyone answering for the escrow can forge it (tests/test_attack29_forged_final_refusal.py).
        Also what ends the showing of our Accept a lower answer cut back (``counter`` the offer it
        accepts, ``besides`` the Accept, NEG-024): the escrow took another answer to that offer first and
        takes no Accept of it, ours included (tests/test_cutback30_final_refusal.py)."""
        with self.lock:
            neg = self.verifier.negotiations.find(counter.header.negotiation_id)
            if neg is None:
                return False
            escrow, held = proposal_of(counter).terms.escrow, self.verifier.statements
            answers = (held.get(d) for d in (*neg.superseded, *(step[3] for step in neg.history)))
            if any(
                vs is not None
                and vs.digest != besides
                and cited(vs) == counter.digest
                and self._stamped(escrow, vs)
                for vs in answers
            ):
                return True
            return neg.contract is not None and self._stamped(escrow, neg.contract.accept)

    def withdraw_final_why(self, negotiation_id: bytes) -> str:
        """Why the escrow's answer to our Withdraw of a cut-off Counter in ``negotiation_id`` was final
        (:meth:`withdraw_final`), or "" when none was."""
        with self.lock:
            return next((why for nid, why in self._withdraws_final.values() if nid == negotiation_id), "")

    def cut_off_counter(self, negotiation_id: bytes) -> VerifiedStatement | None:
        """:meth:`withdraw_cut_off`'s Counter, nothing signed: whether there is one to withdraw."""
        with self.lock:
            found = self._cut_off_counter(negotiation_id)
        return None if found is None else found[0]

    def lapsed_cut_off_counter(self, negotiation_id: bytes) -> VerifiedStatement | None:
        """Our bonded Counter in ``negotiation_id`` that :meth:`withdraw_cut_off` would withdraw but for its
        claims having ended (:func:`claims_over_ms` passed): no claim under a contract of it can come any
        more (SPEC 4.5), so no Accept of it at its escrow takes our bond, and nothing is owed there -- what
        `a2a-coop status` and `resume` say instead of a Withdraw still owed; None when there is none."""
        with self.lock:
            found = self._cut_off_counter(negotiation_id, lapsed=True)
        return None if found is None else found[0]

    def _cut_off_counter(
        self, negotiation_id: bytes, *, lapsed: bool = False
    ) -> tuple[VerifiedStatement, VerifiedStatement | None] | None:
        """:meth:`withdraw_cut_off`'s Counter and our Withdraw of it not stamped yet, if any, while claims
        under it can come (``lapsed``: once they cannot); or None."""
        neg = self.verifier.negotiations.find(negotiation_id)
        if neg is None or not neg.off_line:
            return None
        now = self.clock()
        held = self.verifier.statements
        answers: dict[bytes, list[VerifiedStatement]] = {}
        for vs in (*(held.get(d) for d in neg.superseded), *neg.offers):
            if vs is not None:
                answers.setdefault(cited(vs), []).append(vs)
        for counter in neg.off_line.values():
            terms = proposal_of(counter).terms
            bonded = terms.issuer_bond or terms.audience_bond
            if (
                counter.issuer != self.did
                or not terms.escrow
                or not bonded
                or counter.digest in self._withdraws_final
                or (claims_over_ms(proposal_of(counter)) < now) != lapsed
            ):
                continue
            got = answers.get(counter.digest, [])
            # Unanswered, or answered -- by the counterparty (its choice: a Counter before its lower
            # answer, red team 28) or by our Withdraw -- with no answer taken by the escrow: withdrawn (our
            # Withdraw signed before, or a new one), or the counterparty's Accept of it at the escrow alone
            # still binds us. Ours, not its answer, which the escrow may refuse where our view took it
            # superseded (NEG-018).
            if not any(self._stamped(terms.escrow, vs) for vs in got):
                mine = (vs for vs in got if vs.issuer == self.did and vs.body == "withdraw")
                return counter, next(mine, None)
        return None

    def answer_held(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        """Our strategy's answer to the counterparty's outstanding offer in ``negotiation_id`` that the
        guard held back (:class:`EscrowNotShown`), now that the earlier offer's escrow took the line --
        signed and journaled before it is returned, for the caller to send to the counterparty; [] when
        nothing is held or it is still held."""
        with self.lock:
            if negotiation_id not in self._held_answers:
                return []
            self._held_answers.discard(negotiation_id)
            neg = self.verifier.negotiations.by_id.get(negotiation_id)
            if neg is None or neg.state not in BARGAINING_STATES or neg.contract is not None:
                return []
            offer = neg.outstanding  # still theirs: neither our Counter, Accept nor Reject answered it
            if offer.issuer == self.did or offer.header.audience != self.did:
                return []
            answer = self._respond(neg, offer)
            out = [] if answer is None else [answer]
            ticket = self._stage_ours(out)
        self._durable(b"", ticket)
        return out

    def holds_answer(self, negotiation_id: bytes) -> bool:
        """Whether our answer in ``negotiation_id`` is held back (:meth:`answer_held`)."""
        with self.lock:
            return negotiation_id in self._held_answers

    def _contract_view(self, neg: Negotiation) -> ContractView | None:
        c = neg.contract
        if c is None or self.did not in c.parties:
            return None
        me = self.did
        other = c.other(me)
        mine = frozenset([i for by, i in c.delivered if by == me])
        # The contract's own item tuples: a ContractView is read-only (its items are Sequences).
        return ContractView(neg.id, c.id, other, c.items(me), c.items(other), mine, _STATE_NAMES[neg.state])

    def _perform(self, neg: Negotiation) -> list[VerifiedStatement]:
        may = self._may_deliver(neg)
        if may is None:
            return []
        c, owed = may  # owed: the items we may deliver; None: all of them
        view = self._contract_view(neg)
        assert view is not None
        out = []
        now = self.clock()
        for d in self.strategy.perform(view):
            if not isinstance(d, Deliver) or d.item_index in view.delivered_by_me:
                continue
            if owed is not None and d.item_index not in owed:
                continue  # discharged by the Revoke: nothing is owed there
            if owed is None and 0 <= d.item_index < len(view.my_items):
                # Revocable terms (CMT-012): held while the counterparty could revoke and keep it, owing
                # nothing in return; the watch on _deferred performs it then (perform_deferred).
                # A Revoke already effective (owed is not None) fixed what is owed: nothing to hold.
                at = revocable_hold_until(c, self.did, d.item_index)
                if at > now:
                    was = self._deferred.get(neg.id)
                    self._deferred[neg.id] = min(at, at if was is None else was)
                    if was is None and not self._replaying:  # an operator reads why nothing went out
                        log.info(
                            "holding our delivery in negotiation %s for %d s: under revocable terms the "
                            "counterparty could revoke until then and keep it (CMT-012)",
                            neg.id.hex()[:12],
                            (at - now) // 1000,
                        )
                    continue
            msg = commitment_pb2.Delivery(
                contract=c.id, item_index=d.item_index, artifact_digest=d.artifact_digest, uri=d.uri
            )
            signed = self._sign_or_defer(neg.id, "delivery", msg, view.counterparty)
            if signed is not None:
                out.append(signed)
        return out

    def _due(self, neg: Negotiation) -> bool:
        """Whether something of ours may be due under ``neg``'s contract that we have not signed: an item
        we owe and may deliver now but have not delivered, or a Receipt of a Delivery we hold. Does not
        ask the strategy (a strategy may decide once, or record what it decided): :meth:`perform` does."""
        may = self._may_deliver(neg)
        if may is not None:
            c, owed = may
            mine = {i for by, i in c.delivered if by == self.did}
            if any(i not in mine for i in (range(len(c.items(self.did))) if owed is None else owed)):
                return True
        return bool(self._unreceipted(neg))

    def _may_deliver(self, neg: Negotiation) -> tuple[Contract, set[int] | None] | None:
        """``neg``'s contract and the items of ours its state lets us deliver now (None: all of them), or
        None when it lets us deliver nothing."""
        c = neg.contract
        if c is None or self.did not in c.parties:
            return None
        unbonded = neg.state is _ACCEPTED and not c.bonds_required
        owed: set[int] | None = None
        if neg.state is State.REVOKED:
            # CMT-003: what fell due before the Revoke's stamp plus notice is still owed, and claimable;
            # a counterparty that revokes as it relays the locks would otherwise win our bond for it.
            # Not when some bond was never locked: no claim can come then (CMT-009).
            until = revoke_until(c)
            if until is None or any(p not in c.locked for p in c.bonds_required):
                return None
            owed = {i for i, item in enumerate(c.items(self.did)) if item.deadline_ms < until}
        elif not (unbonded or neg.state in PERFORMING_STATES):
            return None
        if not self.trusts_escrow(c.escrow):
            return None  # formed while we trusted it (an older configuration): its locks prove nothing now
        if self._answered_twice(neg) is not None and not neg.witnessed(c.accept, c.offer):
            # NEG-022: the counterparty's key answered an offer of ours twice. Not under a contract its
            # escrow witnessed (NEG-022 (a)): no lower answer cuts it back (NEG-021 (d)), and its claim
            # would take our bond for what we held back.
            return None
        if neg.exposed_offer(self.did) is not None:
            # A bonded offer of ours earlier in the line, whose answer its escrow has not taken: an
            # Accept of it that escrow witnessed would displace this contract (NEG-017) -- our Delivery
            # given for nothing, and our bond there forfeited. Held back until the escrow takes the
            # answer (the runtime shows it, ESC-013) or reveals that Accept.
            return None
        return c, owed

    def _answered_twice(self, neg: Negotiation) -> str | None:
        """NEG-022: why we sign nothing more in ``neg`` -- the counterparty's key signed two answers
        (Counter, Accept, Reject) to one offer of ours naming no escrow, one of them taken superseded
        (NEG-021: the lower one revealed late cut the line back) -- or None. Such a key can hold back
        an answer lower still and cut again whatever we perform next; an honest one never signs two."""
        superseded = neg.superseded
        if not superseded:
            return None  # the common case: nothing superseded, nothing to read
        held, me = self.verifier.statements, self.did
        answers: dict[bytes, int] = {}
        c = neg.contract
        found = [held.get(d) for d in superseded]
        found += [*neg.offers, neg.rejected_by, None if c is None else c.accept]
        for vs in found:
            if vs is None or vs.issuer == me or vs.body not in ("counter", "accept", "reject"):
                continue
            ref = cited(vs)
            offer = held.get(ref)
            if offer is None or offer.issuer != me or proposal_of(offer).terms.escrow:
                continue
            answers[ref] = answers.get(ref, 0) + 1
            if answers[ref] > 1:
                if neg.id not in self._answered_twice_logged and not self._replaying:
                    self._answered_twice_logged.add(neg.id)
                    log.warning(
                        "signing nothing more in negotiation %s: the counterparty's key signed two answers "
                        "to one offer of ours naming no escrow (NEG-021, NEG-022)",
                        neg.id.hex()[:12],
                    )
                return (
                    "the counterparty's key answered one offer of ours twice (NEG-021): nothing more signed"
                )
        return None

    def _unreceipted(self, neg: Negotiation) -> list[VerifiedStatement]:
        """The counterparty's Deliveries under ``neg``'s contract that we hold and whose item we have not
        receipted, one per item (the first we took)."""
        c = neg.contract
        if c is None or self.did not in c.parties:
            return []
        other, held = c.other(self.did), self.verifier.statements
        found: dict[int, VerifiedStatement] = {}
        for digest, (by, i) in c.deliveries.items():
            if by == other and (by, i) not in c.receipted and i not in found:
                vs = held.get(digest)
                if vs is not None:
                    found[i] = vs
        return list(found.values())

    def _receipts(self, neg: Negotiation, deliveries: Sequence[VerifiedStatement]) -> list[VerifiedStatement]:
        """Our Receipts of ``deliveries`` (the counterparty's, under ``neg``'s contract) that our strategy
        rates, guarded; one TIM-009 holds back (it is dated no earlier than the Delivery, NEG-014) is
        deferred like a Delivery (:meth:`_defer`)."""
        out = []
        for delivery in deliveries:
            rating = self._rating(neg, delivery)
            if rating is None:
                continue
            msg = commitment_pb2.Receipt(delivery=delivery.digest, rating=rating)
            signed = self._sign_or_defer(neg.id, "receipt", msg, delivery.issuer)
            if signed is not None:
                out.append(signed)
        return out

    def _sign_or_defer(
        self, negotiation_id: bytes, body: str, message: Any, audience: str
    ) -> VerifiedStatement | None:
        """Sign a Delivery or Receipt the contract makes due; when the guard refuses it, remember it to
        perform once the refusal's hint passes (:meth:`_defer`) and return None."""
        signed = self._guarded(
            partial(self._sign_body, body, message, audience=audience, negotiation_id=negotiation_id)
        )
        if signed is None:
            self._defer(negotiation_id, self.guard_refusals[-1])
        return signed

    def _defer(self, negotiation_id: bytes, refusal: object) -> None:
        """Remember a Delivery or Receipt TIM-009 held back, to perform once its hint passes
        (perform_deferred)."""
        if (
            isinstance(refusal, IssuedInFuture)
            and refusal.requirement == "TIM-009"
            and refusal.retry_after_ms
        ):
            at = self.clock() + refusal.retry_after_ms
            self._deferred[negotiation_id] = min(at, self._deferred.get(negotiation_id, at))

    def _rating(self, neg: Negotiation, delivery: VerifiedStatement) -> int | None:
        """The rating our strategy gives ``delivery`` (the counterparty's, under ``neg``'s contract), or
        None: no Receipt."""
        view = self._contract_view(neg)
        if view is None:
            return None
        d = delivery.statement.delivery
        dv = DeliveryView(
            view,
            d.item_index,
            view.their_items[d.item_index],
            d.artifact_digest,
            d.uri,
            delivery.issued_at_ms,
        )
        return self.strategy.rate(dv)

    def _sign_body(
        self,
        body: str,
        message: Any,
        *,
        audience: str = "",
        negotiation_id: bytes = b"",
        refs: Sequence[bytes] = (),
        ttl_ms: int = DEFAULT_REPLY_TTL_MS,
    ) -> VerifiedStatement:
        """The policy guard: build, stamp, check the unsigned candidate in context, then sign (MND-011).

        Raises:
            CoopError: the guard refused; nothing was signed and the chain did not advance.
            TrustRefused: our trust policy refuses the commitment (ATT-016); nothing was signed.
            TooLittleTimeToPerform: bonded terms leave one of our items less than
                ``min_time_to_perform_ms`` after the bonding cutoff; nothing was signed.
            KeyForked: a fork proof against our key is held and ``body`` is a commitment (ATT-017).
        """
        now = self.clock()
        if self.fork_alarm is not None:
            self.fork_alarm.refuse(body, now)
        # Never date an answer before what it answers (NEG-014): a counterparty's clock may run ahead
        # of ours by up to the skew its statements were accepted with. Nor before our own previous
        # statement (CHN-005): an answer dated ahead to follow such a counterparty sets our chain's pace.
        chain_floor = 0
        if self.writer.prev:
            digest, issued_ms = self._last_signed
            if digest == self.writer.prev:
                chain_floor = issued_ms
            else:  # after a start or a rebuild: from memory, or from the journal if forgotten
                prev = self.verifier.statements.get(self.writer.prev)
                chain_floor = prev.issued_at_ms if prev is not None else 0
        issued = max(now, chain_floor, self._causal_floor(negotiation_id, body, message))
        if issued > now:  # TIM-009 (a Delivery never holds back the very item it delivers)
            skip = (negotiation_id, message.item_index) if body == "delivery" else None
            self._refuse_dated_after_owed(issued, now, skip)
        stmt = new_statement(
            body,
            message,
            issued_at_ms=issued,
            ttl_ms=ttl_ms,
            audience=audience,
            negotiation_id=negotiation_id,
            mandate=self.mandate_vs.digest,
            refs=refs,
        )
        cand = self.writer.stamp(stmt, nonce=self.nonce())
        self.verifier.check(cand, now, ours=True)
        self._check_escrow_validity(body, message)
        self._check_trust(body, message, audience)
        self._check_time_to_perform(body, message, cand.expires_at_ms)
        self._check_counterparty_deadlines(body, message, cand)
        why = self._escrow_not_shown(body, message, negotiation_id)
        if why:
            raise EscrowNotShown(why)
        vs = sign_candidate(cand, self.key)
        self.verifier.record(vs)
        self.writer.advance(vs)
        self._last_signed = (vs.digest, vs.issued_at_ms)
        if body in ("offer", "counter"):  # what we would owe if it were accepted counts now (TIM-009)
            neg = self.verifier.negotiations.by_id.get(vs.negotiation_id)
            if neg is not None:
                self._enter_owed(neg)
        return vs

    def _check_escrow_validity(self, body: str, message: Any) -> None:
        """MND-020 in the guard: no Offer, Counter or Accept of a contract its escrow could not sign about
        until its last Ruling (:meth:`_escrow_outlived`), whatever path proposes it."""
        if body == "accept":
            offer = self.verifier.statements.get(message.offer)
            proposal = None
            if offer is not None and offer.body in ("offer", "counter"):
                proposal = proposal_of(offer)
        else:
            proposal = message if body == "offer" else message.proposal if body == "counter" else None
        why = self._escrow_outlived(proposal) if proposal is not None else ""
        if why:
            raise MandateViolation(why, requirement="MND-020")

    def _causal_floor(self, negotiation_id: bytes, body: str, message: Any) -> int:
        """The earliest time a statement of ours in this negotiation may carry (NEG-014)."""
        neg = self.verifier.negotiations.by_id.get(negotiation_id) if negotiation_id else None
        if neg is None:
            return 0
        floor = neg.outstanding.issued_at_ms
        c = neg.contract
        if c is not None:
            floor = max(floor, c.accept.issued_at_ms)
        if body == "receipt":
            delivery = self.verifier.statements.get(message.delivery)
            if delivery is not None:
                floor = max(floor, delivery.issued_at_ms)
        return floor

    def sign(self, body: str, message: Any, **header: Any) -> VerifiedStatement:
        """Sign one statement of ours on our own initiative (a claim, a revoke, a checkpoint), guarded
        like every other and journaled before it is returned (write-ahead); header as in ``_sign_body``.

        Raises:
            CoopError: the guard refused; nothing was signed.
        """
        with self.lock:
            vs = self._sign_body(body, message, **header)
            ticket = self._stage_ours([vs])
        self._durable(b"", ticket)
        return vs

    def _stage_ours(self, signed: Sequence[VerifiedStatement]) -> Any:
        """Stage statements we signed on our own initiative, under the lock (chain order), for the caller
        to wait for outside it (:meth:`_durable`), as an answer's are: our other trades go on during the
        fsync, and nothing is returned (to be sent) before it is durable (write-ahead)."""
        return self._stage([(None, list(signed), False)], self.clock()) if signed else None

    def _replay(self, journal: JournalLike, *, after: int = 0) -> None:
        """Rebuild memory from the journal: every statement after the position ``after`` (0: all; else
        memory holds those up to it, from a snapshot), in journal order, offline (TIM-005), forgetting
        what is finished for good as it goes (bounded memory at start too)."""
        archive: Replaying | None = None
        if isinstance(journal, Journal):
            # Exposures' forgotten records written after ``after`` concern what memory does not hold yet:
            # dropped, and written again as the replay forgets it (a crash between a negotiation being
            # forgotten and its records written loses nothing: they are derived from its statements).
            journal.drop_forgotten(after)  # a reader's (lock=False) drops nothing: see forgotten_since
            archive = _ReplayExposureArchive(journal, after)
        elif isinstance(journal, Archive):
            archive = _ReplayArchive(journal, after)
        if archive is not None:
            self.verifier.use_archive(archive, replay=False)  # every statement is in it: no replay reads
        self._replaying = True  # negotiations end here before the journal's end: see _left_dealings
        self.verifier.as_signed = True  # our own statements as signed; what the guard holds, rebuilt
        try:
            own = self._own_mandates(journal)
            for vs in own:  # first: our statements cite them (MND-017)
                if not dict.__contains__(self.verifier.statements, vs.digest):
                    self.verifier.accept_statement(vs)
            self._join_renewals(own)  # before what they have at stake is recorded (MND-018)
            for rowid, _direction, envelope in journal.statements(since_rowid=after):
                vs = verify_statement(envelope)
                try:
                    self.verifier.accept_statement(vs, ours=vs.issuer == self.did)
                except Replayed:
                    continue
                except MandateUnknown as exc:  # its evidence: the statement, for who it is and what it cites
                    raise MandateUnknown(
                        f"its {vs.body} seq {vs.header.seq} of {vs.issuer} cites mandate "
                        f"{vs.header.mandate.hex()}: {exc.detail}",
                        requirement=exc.requirement,
                        origin=exc.origin,
                        evidence=(vs.envelope,),
                    ) from None
                if archive is not None:
                    archive.upto = rowid
                    self._note_finished(vs)
                    for is_negotiation, key in self._finished:
                        self._forget(is_negotiation, key)
                    self._finished.clear()
        finally:
            self._replaying = False
            self.verifier.as_signed = False
        if isinstance(journal, Archive):
            self.verifier.use_archive(journal)
        now = self.clock()
        for meta_key, value in journal.meta_under(META_ASKED + "/"):
            _, nid, escrow = meta_key.rsplit("/", 2)
            at, until, named, past_cutoff = _asked_record(value)
            if until < now:
                journal.delete_meta(meta_key)
            else:
                if past_cutoff:
                    self._asked_at_escrow.add(bytes.fromhex(nid))
                # The escrow's word it was freed on (asked31; a record of asked30 has none: it frees nothing
                # for its cutoff again, held until its claims end)
                self.verifier.asked_escrow(bytes.fromhex(nid), at, escrow, dict(named))
        for meta_key, (why, until) in journal.meta_under(META_WITHDRAW_FINAL + "/"):
            _, nid, counter = meta_key.rsplit("/", 2)
            if until < now:
                journal.delete_meta(meta_key)
            else:
                self._withdraws_final[bytes.fromhex(counter)] = (bytes.fromhex(nid), why)
        self._open_with, self._open_total = {}, 0
        self._dormant_at, self._dormant_due, self._dormant = [], {}, set()
        self._dormant_sweep_at = DORMANT_HEAP_SLACK
        self._owed_due, self._owed_entered, self._owed_rebuild_at = [], {}, OWED_HEAP_SLACK
        now = self.clock()
        for neg in self.verifier.negotiations.by_id.values():
            if self.did in neg.parties:
                self._track_open(neg)
                # What TIM-009 held back lived in memory only, and the counterparty that dated the
                # contract ahead may send nothing more: whatever is due and not signed is due at once
                # (perform_deferred; held back again, it is deferred again with its hint).
                if neg.contract is not None and self._due(neg):
                    self._deferred[neg.id] = min(now, self._deferred.get(neg.id, now))
                # Our answer the guard held back (EscrowNotShown) lived in memory only: their live offer,
                # unanswered, after a bonded offer of ours whose escrow has not taken its answer.
                theirs = neg.outstanding
                if (
                    neg.state in BARGAINING_STATES
                    and theirs.issuer != self.did
                    and theirs.header.audience == self.did
                    and theirs.header.expires_at_ms >= now
                    and neg.exposed_offer(self.did) is not None
                ):
                    self._held_answers.add(neg.id)
        for spared in sorted(self.verifier.spared - {self.did}):
            if not self.deals_with(spared):  # its negotiation ended, and we stopped before we counted it
                self._left_dealings(spared)
        next_seq, prev = journal.chain_head(self.did)
        self.writer = ChainWriter(self.key, next_seq=next_seq, prev=prev)

    def _join_renewals(self, mandates: Sequence[VerifiedStatement]) -> None:
        """MND-018: our guard counts what our other Mandates from the principal of the one we sign under
        (a renewal, section 4.7) still have at stake against that one's caps -- a principal that renews
        with lower caps lowers what we may commit in all, not only under the new Mandate. Given as
        context too (an old one of ours passed again)."""
        given = (verify_statement(env) for env in self.context[1:])
        current = self.mandate_vs
        older = {
            vs.digest
            for vs in (*mandates, *(g for g in given if g.body == "mandate"))
            if vs.statement.mandate.agent == self.did
            and vs.issuer == current.issuer
            and vs.digest != current.digest
        }
        book = self.verifier.exposure
        if older and not isinstance(book, RenewedExposureBook):
            self.verifier.exposure = RenewedExposureBook(
                book, current.digest, current.statement.mandate, sorted(older)
            )

    def _own_mandates(self, journal: JournalLike) -> list[VerifiedStatement]:
        """The Mandates for our key the journal keeps: those runs started with (META_OWN_MANDATES) and
        the last run's (META_MANDATE); the others (a journal shared with another key) are left out."""
        kept = [
            *(_meta(journal, META_OWN_MANDATES, list, bytes) or []),
            _meta(journal, META_MANDATE, bytes),
        ]
        mandates = (verify_statement(env) for env in dict.fromkeys(kept) if env is not None)
        return [vs for vs in mandates if vs.body == "mandate" and vs.statement.mandate.agent == self.did]

    def _keep_mandates(self, journal: JournalLike) -> None:
        """Journal the Mandates we hold for our key -- the one we run with, any earlier one the journal
        named -- before we sign under them (MND-017): a replay holds them first, so that a new
        Mandate (a renewal) leaves what we signed under the old one verifiable without its file."""
        kept = list(_meta(journal, META_OWN_MANDATES, list, bytes) or [])
        given = (verify_statement(env) for env in self.context[1:])  # an old one of ours passed as context
        held = [*self._own_mandates(journal), *(vs for vs in given if vs.body == "mandate")]
        mine = [vs.envelope for vs in held if vs.statement.mandate.agent == self.did]
        ours = [env for env in dict.fromkeys([*mine, self.mandate_vs.envelope]) if env not in kept]
        if ours:
            journal.put_meta(META_OWN_MANDATES, [*kept, *ours])

    def _reload(self) -> None:
        """Drop memory state and rebuild it from the whole journal (after a failed write, or a snapshot
        that did not hold what the journal does)."""
        if self.journal is None:
            return
        held = list(self.context)
        if self.resumed_from is not None:  # what the snapshot held goes too: rebuilt from the journal
            self._contracted_with, self._settled_with, self.resumed_from = {}, set(), None
            self._deferred, self._held_answers = {}, set()
        self.verifier = self._new_verifier()
        for env in held:
            self.verifier.accept(env)
        self._replay(self.journal)

    def _snapshot_setup(self, journal: JournalLike, mandate: bytes, context: Sequence[bytes]) -> list[bytes]:
        """What a start holds before its journal (a snapshot is of one start's setup): our Mandate, the
        context given, and the earlier Mandates of ours the journal keeps."""
        return [mandate, *context, *(vs.envelope for vs in self._own_mandates(journal))]

    def _snapshot_held(
        self, journal: JournalLike | None, mandate: bytes, context: Sequence[bytes]
    ) -> _Remembered | None:
        """What the journal's snapshot holds, if it has one this start can use (a2a_coop.runtime.snapshot:
        ours, of this build and setup, ending with the statement the journal holds where it says); else
        None, and the whole journal is replayed."""
        if not isinstance(journal, Journal):
            return None
        loaded = snapshot.read(
            journal,
            snapshot.META_PEER_SNAPSHOT,
            kind="peer",
            key=self.key,
            setup=self._snapshot_setup(journal, mandate, context),
            live={"archive": journal},
            expect=_Remembered,
        )
        if loaded is None or type(loaded[0].verifier) is not self.verifier_class:
            return None
        self.resumed_from = loaded[1]
        return cast(_Remembered, loaded[0])

    def _resumed_as_journaled(self, journal: JournalLike) -> bool:
        """After a start from a snapshot and the statements after it: whether our chain as memory holds
        it ends where the journal's does (else the whole journal is replayed)."""
        assert isinstance(journal, Journal) and self.resumed_from is not None
        view = self.verifier.chains.get(self.did)
        next_seq, prev = journal.chain_head(self.did)
        held = 0 if view is None or view.head is None else view.head + 1
        if held != next_seq or (prev and not self.verifier.statements.get(prev)):
            log.warning("peer: the chain resumed from the snapshot is not the journal's: ignored")
            return False
        tail = self._cadence.resumed(self.resumed_from, self.verifier.accepted, journal)
        log.info(
            "peer: resumed from its snapshot at journal row %d, %d statements after it replayed",
            self.resumed_from,
            tail,
        )
        return True

    def save_snapshot(self, *, force: bool = True) -> bool:
        """Journal a snapshot of what memory holds (a2a_coop.runtime.snapshot), if one is due -- ``force``:
        if anything was journaled since the last one (at close) -- and memory holds exactly what the
        journal does: nothing staged that is not durable yet, nothing left to forget. Whether one was
        written. Under our lock."""
        cadence = self._cadence
        journal = self.journal
        with self.lock:
            if not cadence.may_be_due(self.verifier.accepted, force=force) or self._replaying:
                return False
            if self._staged or self._forgettable or self._finished or not isinstance(journal, Journal):
                return False
            ticket = self._last_ticket
            if ticket is not None and (not ticket.done or ticket.error is not None):
                return False
            last = journal.last_position()
            if not cadence.due(last, force=force) or last is None:
                return False
            verifier = self.verifier
            verifier._checked = None  # a cache of the last check, of no use after a restart
            memory = _Remembered(verifier, self._contracted_with, self._settled_with)
            try:
                value = snapshot.dump(
                    memory,
                    kind="peer",
                    key=self.key,
                    setup=self._snapshot_setup(journal, self.context[0], self.context[1:]),
                    last=last,
                    live={"archive": journal},
                    dropped=(verifier.on_fork, verifier.deals_with, verifier.on_bound, verifier.stage_rows),
                )
            except Exception:  # something it holds cannot be pickled: restarts replay more, that is all
                log.warning("peer: no snapshot of its memory could be made", exc_info=True)
                cadence.every = 0
                return False
            meta = {snapshot.META_PEER_SNAPSHOT: value, **journal.filter_meta()}  # the next open scans less
            journal.record_batch([], at_ms=self.clock(), meta=meta)
            cadence.written(last[0], verifier.accepted, value)
            return True

    def _new_verifier(self, verifier: PeerVerifier | None = None) -> PeerVerifier:
        """A fresh verifier (or ``verifier``, a snapshot's), wired to us, holding the fork proofs and
        bindings the journal kept (restored once: a snapshot's holds those it kept then)."""
        verifier = self._make_verifier() if verifier is None else verifier
        if self.journal is not None:
            kept = [
                *(self.journal.get_meta(META_FORKS, []) or []),
                *(v for _, v in self.journal.meta_under(META_FORKS + "/")),
            ]
            for first, second, *spared in kept:  # ATT-013: kept across restarts, whatever the bound
                verifier.restore_fork_proof(ForkProof(first, second), spared=bool(spared))
            for _, (binding, mandate) in self.journal.meta_under(META_BINDINGS + "/"):
                verifier.bind(verify_statement(binding), verify_statement(mandate))  # KEY-007, KEY-008
            for _, envelope in self.journal.meta_under(META_SHOWN + "/"):
                shown = verify_statement(envelope)
                verifier.shown_statements[shown.digest] = shown  # ATT-025
            for _, (envelope, *reads) in self.journal.meta_under(META_REVOCATION_STAMPS + "/"):
                verifier.restore_revocation_stamp(verify_statement(envelope), frozenset(reads))  # ATT-024
        verifier.on_fork = self._fork_seen
        verifier.stage_rows = lambda rows, issuer: self._stage_evidence(
            lambda journal: journal.stage_forgotten(rows), issuer
        )
        verifier.on_bound = self._keep_binding
        verifier.deals_with = self.deals_with
        own = verifier.forks.get(self.key.did)
        if own is not None and self.fork_alarm is None and self.alarm_on_own_fork:
            self.fork_alarm = ForkAlarm.restore(self.key.did, own, self.clock(), self.journal)
        return verifier

    def _refuse_other_audience(self, request: VerifiedStatement) -> None:
        """Step 21, the first contextual check (ERR-002), before a request's context is held or
        journaled: a statement for someone else costs us no lock, no write, whatever it carries."""
        audience = request.audience
        if audience and audience != self.did:
            raise WrongAudience(requirement="STM-005")

    def _make_verifier(self) -> PeerVerifier:
        """A fresh verifier of :attr:`verifier_class`, before :meth:`_new_verifier` wires it to us (a
        simulation's engine makes its own here: reference_agents.engine)."""
        return self.verifier_class(me=self.key.did)

    def _bind_shown(self, binding: VerifiedStatement) -> None:
        """KEY-007, KEY-008: ``binding``, a statement of a revoked key whose only fault is its chain, shown
        with a principal's KeyRevocation that passed beside it: bind the key to that principal, and keep
        the binding, with its Mandate, across restarts (the journal's replay takes the revocation again
        only if the key is bound to its issuer). Kept before the revocation is journaled: a crash between
        leaves a binding that the key's own signature justifies, and nothing it authorises."""
        self.verifier.bind(binding)
        self._keep_binding(binding)

    def _keep_binding(self, binding: VerifiedStatement) -> None:
        """KEY-007: keep ``binding``, a statement binding its key that no chain holds (shown with a
        revocation, or refused only ``KEY_REVOKED``), with its Mandate, across restarts: restored before
        the journal is replayed, as what it authorised (a KeyRevocation by its principal) was taken."""
        if self.journal is not None:
            mandate = self.verifier.statements[binding.mandate_digest]
            self.journal.put_meta(
                f"{META_BINDINGS}/{binding.issuer}/{mandate.issuer}", [binding.envelope, mandate.envelope]
            )

    def take_revocation_stamps(self, stamps: Sequence[tuple[bytes, frozenset[bytes]]]) -> None:
        """ATT-024: read each Stamp a swap carried with a proof for the revocations given with it alone
        (:meth:`Verifier.take_revocation_stamp`), and keep those read across restarts; one that does not
        verify, or fails a check, is skipped."""
        with self.lock:
            for envelope, reads in stamps:
                try:
                    vs = verify_statement(envelope)
                    replaced = self.verifier.take_revocation_stamp(vs, reads)
                except CoopError:
                    continue
                if replaced is None or self.journal is None:
                    continue
                _, kept = self.verifier.revocation_stamps[vs.digest]
                self.journal.put_meta(
                    f"{META_REVOCATION_STAMPS}/{vs.digest.hex()}", [envelope, *sorted(kept)]
                )
                for digest in replaced:
                    self.journal.delete_meta(f"{META_REVOCATION_STAMPS}/{digest.hex()}")

    def keep_shown(self, chain: Sequence[VerifiedStatement]) -> None:
        """ATT-025: keep ``chain``, what links a gossiped proof's statement to its witnessing escrow (an
        Offer or Counter it answers or its contract's Accept accepts, that Accept, a Receipt's Delivery)
        whose Stamp of it we take, across restarts: it goes on with the proof. Held as no statement
        (ATT-019): it would move a negotiation at a time the sender chose."""
        verifier = self.verifier
        for vs in chain:
            if vs.digest in verifier.shown_statements or vs.digest in verifier.statements:
                continue
            verifier.shown_statements[vs.digest] = vs
            if self.journal is not None:
                self.journal.put_meta(f"{META_SHOWN}/{vs.digest.hex()}", vs.envelope)

    def _fork_seen(self, issuer: str, proof: ForkProof, replaces: bool = False) -> None:
        """A fork proof is evidence forever (ATT-012): keep it across restarts; one against our own key
        raises the alarm (ATT-017). ``replaces``: it replaces the one held against ``issuer`` (ATT-013
        (c): a better-ranked one)."""
        if self.journal is not None:  # one row per forked issuer: a flood of forked keys writes each once
            spared = [1] if issuer in self.verifier.spared else []
            key, value = f"{META_FORKS}/{issuer}", [proof.first, proof.second, *spared]
            ticket = self._stage_evidence(
                lambda journal: journal.stage_meta(key, value), issuer, reranks=replaces
            )
            if ticket is None:
                self.journal.put_meta(key, value)
            elif not replaces:
                self._convicting[issuer] = ticket  # the key's evidence is waited for until this lands
        if issuer == self.key.did and self.fork_alarm is None and self.alarm_on_own_fork:
            self.fork_alarm = ForkAlarm.raise_for(issuer, proof, self.clock(), self.journal)


def _about(vs: VerifiedStatement) -> bytes | None:
    """What an Ack or an attestation is about (the acknowledged statement, the contract), else None."""
    if vs.body == "ack":
        return vs.statement.ack.statement
    if vs.body == "attestation":
        return vs.statement.attestation.accept
    return None


# The journal as an archive while memory is rebuilt from it (upto: a journal rowid).
_ReplayArchive = Replaying


class _ReplayExposureArchive(ReplayingExposure):
    """A :class:`Replaying` over a journal that keeps exposures' forgotten records too (what it holds was
    written by this replay, or before the snapshot it resumed from: see Peer._replay)."""

    archive: Journal

    def forgotten_since(
        self, book: bytes, latest: bytes, *, until: bytes | None = None
    ) -> list[tuple[bytes, bytes]]:
        # A reader's (lock=False) journal keeps the rows its writer wrote after what memory holds: not those.
        upto = None if self.archive.writer else self.after
        return self.archive.forgotten_since(book, latest, until=until, upto=upto)


def _copy(proposal: trade_pb2.Offer) -> trade_pb2.Offer:
    out = trade_pb2.Offer()
    out.CopyFrom(proposal)
    return out


# What :func:`drive_steps` asks its transport to send, and what it returns: every statement it sent.
Request = tuple[bytes, Sequence[bytes]]
Steps = Generator[Request, list[bytes], list[VerifiedStatement]]


def drive(
    initiator: Peer,
    send: Callable[[bytes, Sequence[bytes]], list[bytes]],
    first: VerifiedStatement,
    *,
    max_steps: int = 64,
    take: Callable[[Sequence[bytes]], list[VerifiedStatement]] | None = None,
) -> list[VerifiedStatement]:
    """Send ``first`` and keep sending whatever our peer owes next until nothing is left.

    ``send(envelope, context) -> answers`` is the transport (a gRPC client's
    ``exchange`` or, in tests, the other Peer's ``exchange``). A statement refused
    with a TIM-009 retry hint is sent again after it (at most the skew in all).
    ``take(answers)`` takes each answer (default: ``initiator.on_replies``).
    Returns every statement we sent, in order. The work is :func:`drive_steps`'s; this
    only carries each of its requests to ``send`` (:func:`run_steps`).
    """
    return run_steps(drive_steps(initiator, first, max_steps=max_steps, take=take), send)


def drive_steps(
    initiator: Peer,
    first: VerifiedStatement,
    *,
    max_steps: int = 64,
    take: Callable[[Sequence[bytes]], list[VerifiedStatement]] | None = None,
) -> Steps:
    """:func:`drive` one request at a time: a generator that yields each ``(envelope, context)`` to send
    and is sent the answers (``list[bytes]``), or has the refusal (:class:`CoopError`) thrown into it,
    as ``send`` would have raised it. It returns every statement sent, in order. Whoever runs it
    chooses when and where each request goes: :func:`drive` at once, a simulation sharded over
    processes (reference_agents/shards.py) with the other trades of its round."""
    take = initiator.on_replies if take is None else take
    queue = [first]
    sent: list[VerifiedStatement] = []
    for _ in range(max_steps):
        if not queue:
            return sent
        vs = queue.pop(0)
        try:
            answers = yield from _send_after_hints(vs.envelope, initiator.send_context(), initiator.clock)
        except CoopError as refusal:
            initiator.take_refusal(refusal)
            raise
        sent.append(vs)
        queue += take(answers)
    raise CoopError(f"negotiation did not settle within {max_steps} exchanges")


def run_steps(steps: Steps, send: Callable[[bytes, Sequence[bytes]], list[bytes]]) -> list[VerifiedStatement]:
    """Run :func:`drive_steps`'s generator to its end, each request through ``send`` as it comes: its
    answers sent in, its refusal thrown in. Returns what the generator returns."""
    try:
        request = next(steps)
        while True:
            try:
                answers = send(*request)
            except CoopError as refusal:
                request = steps.throw(refusal)
            else:
                request = steps.send(answers)
    except StopIteration as done:
        return cast("list[VerifiedStatement]", done.value)


def _send_after_hints(
    envelope: bytes, context: Sequence[bytes], clock: Callable[[], int]
) -> Generator[Request, list[bytes], list[bytes]]:
    """Yield ``(envelope, context)`` for sending and return its answers; refused ``ISSUED_IN_FUTURE`` under
    TIM-009 (dated past a deadline the counterparty owes and its clock has not reached: ours runs a
    little ahead of its), the same envelope again after the hint, as the rule asks of a sender. Its
    date is fixed, so the waits end once the counterparty's clock reaches it: they are bounded by the
    skew it was accepted within. A ``clock`` that did not move while we slept (a simulation's) would
    never get there: the refusal is raised."""
    waited_ms = 0
    while True:
        try:
            return (yield envelope, context)
        except IssuedInFuture as refusal:
            hint = refusal.retry_after_ms
            if refusal.requirement != "TIM-009" or not hint or waited_ms + hint > MAX_HINTED_WAIT_MS:
                raise
            before = clock()
            time.sleep(hint / 1000)
            if clock() == before:
                raise
            waited_ms += hint


def _stamped_candidates(fresh: Sequence[tuple[int, bytes, statement_pb2.Statement | None]]) -> set[bytes]:
    """Every digest the Stamps among ``fresh`` context name."""
    return {
        bytes(d)
        for _, _, stmt in fresh
        if stmt is not None and stmt.HasField("stamp")
        for d in stmt.stamp.statements
    }


# Key statements that end a key from some point (KEY-004, KEY-005): context a request's checks read.
_KEY_ENDINGS: frozenset[str] = frozenset({"key_rotation", "key_revocation"})


def _binding_of(
    fresh: Sequence[tuple[int, bytes, statement_pb2.Statement | None]],
    revocation: VerifiedStatement,
    me: str,
    verifier: PeerVerifier,
) -> tuple[int, bytes] | None:
    """KEY-008: of a principal's KeyRevocation's context, the first statement of the revoked key under a
    Mandate the revocation's issuer granted that key (in the context, or held) that we can take (a
    public one, its Checkpoint, or one addressed to us: STM-005) -- it binds the key to the issuer
    (KEY-007), and the revocation's authority depends on it: its index in the context and its digest,
    held as the request's Mandates are (:class:`_Provisional`), taken only if the revocation passes
    beside it (one whose only fault is its chain or nonce -- a thief's fork -- is shown, not held, and binds
    the key all the same: :meth:`_Provisional.defer`). None when the key revokes itself or is bound to the
    issuer here already: the revocation then needs nothing more, and a statement of the key we would
    refuse (dated after an effective revocation we hold) would fail it. Another one binds nothing more;
    one under someone else's Mandate authorises nothing (the revocation is refused), so it is not taken:
    a refused request keeps none of its context."""
    key, issuer = revocation.statement.key_revocation.key, revocation.issuer
    if key == issuer or issuer in verifier.bound.get(key, ()):
        return None
    granted = {
        digest
        for _, digest, stmt in fresh
        if stmt is not None
        and stmt.WhichOneof("body") == "mandate"
        and stmt.header.issuer == issuer
        and stmt.mandate.agent == key
    }
    for i, digest, stmt in fresh:
        if (
            stmt is not None
            and stmt.header.issuer == key
            and stmt.header.mandate
            and (stmt.WhichOneof("body") in PRINCIPAL_BODIES or stmt.header.audience == me)
        ):
            mandate = stmt.header.mandate
            record = verifier.mandates.get(mandate)
            if mandate in granted or (
                record is not None and (record.principal, record.agent) == (issuer, key)
            ):
                return i, digest
    return None


def _of(held: Any, digest: bytes) -> bytes | None:
    """The negotiation id of a statement held in memory (no journal read), or None."""
    vs = dict.get(held, digest)
    return None if vs is None else vs.negotiation_id
