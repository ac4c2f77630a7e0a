"""Accepting statements in context: the normative verification procedure (SPEC.md section 11).

:func:`a2a_coop.protocol.statements.verify_statement` does the stateless steps 1-20.
A :class:`Verifier` holds what a party or an auditor knows (mandates, key
revocations and rotations, chains, seen nonces, negotiations, exposure,
attestations) and runs the contextual steps 21-31 in the SPEC's order, so
that two implementations report the same code for the same input (ERR-002).

Every check runs before any state changes: a rejected statement leaves the
verifier exactly as it was (ERR-003). ``accept`` is check-then-commit; a peer
that wants to know whether it *may sign* something uses ``check`` with the
statement it is about to send (the policy guard, MND-011).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import dropwhile
from types import MappingProxyType
from typing import ClassVar, Final, NamedTuple

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.archive import Archive, ExposureArchive, HeldStatements
from a2a_coop.protocol.chain import ChainView, joins_no_chain
from a2a_coop.protocol.claims import check_opening
from a2a_coop.protocol.errors import (
    AttestationInadmissible,
    BodyInvalid,
    ChainBroken,
    CoopError,
    Equivocation,
    ExclusiveConflict,
    IssuedInFuture,
    IssuedInPast,
    KeyRevoked,
    LogRootMismatch,
    MandateUnknown,
    MandateViolation,
    NonceReused,
    RevocationUnauthorized,
    WrongAudience,
    utc_text,
)
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS, MAX_SKEW_MS, ReplayCache, check_time_window
from a2a_coop.protocol.mandate import ExposureBook, check_against_mandate, committed_value, last_deadline
from a2a_coop.protocol.negotiation import (
    BARGAINING_STATES,
    BOND_GRACE_MS,
    CLAIM_WINDOW_MS,
    DEFAULT_RESPONSE_WINDOW_MS,
    Contract,
    Event,
    HeldSuperseded,
    Negotiation,
    Negotiations,
    State,
    arbitrated,
    chain_place,
    cited,
    proposal_of,
)
from a2a_coop.protocol.statements import (
    PRINCIPAL_BODIES,
    VerifiedStatement,
    verify_statement,
)
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS, WitnessIndex

# The negotiation events that commit value (MND-009, MND-010), and a state read per commit: read once,
# as an Enum class's attribute reads are slow on Python 3.11 (see a2a_coop.protocol.negotiation).
# How many of the last Forfeits' contracts a verifier names (Verifier.forfeited_contracts): a reader
# further behind than that drops whatever it kept on a Release or Refund.
FORFEITS_KEPT = 1024
_VALUE_EVENTS = (Event.OFFER, Event.COUNTER, Event.ACCEPT, Event.WITNESSED_ACCEPT)
# First in a negotiation's list of statements held (Verifier._held_by_negotiation) when it came back from the
# archive: its statements before those listed are read there (ESC-022 (e)).
_ARCHIVED: Final = b""
_ACCEPTED = State.ACCEPTED
_OFFER, _COUNTER = Event.OFFER, Event.COUNTER
_DELIVERY, _RECEIPT, _RECEIPT_COMPLETE = Event.DELIVERY, Event.RECEIPT, Event.RECEIPT_COMPLETE


class _Revocation(NamedTuple):
    """A KeyRevocation held, as its revoker signed it: what its reach (KEY-011) is read from."""

    issuer: str
    effective_ms: int
    issued_at_ms: int
    seq: int
    digest: bytes
    envelope: bytes
    prev: bytes = b""  # its header.prev: a statement of the key at the seq below that is not it forks it
    chain_length: int = 0  # the key's chain its revoker states as the key's own (KEY-011 (e)); 0: none


def _fork_of(r: _Revocation, vs: VerifiedStatement) -> tuple[bytes, bytes] | None:
    """KEY-013: ``r``, a KeyRevocation of a key by the key itself, and ``vs``, another statement of that key,
    as the fork proof they are when no one chain holds both (ATT-012): one seq (CHN-004), a link that does
    not hold (CHN-003), or time running backwards along the seqs (CHN-005) -- the lower seq first, ``r``
    first at one seq; None when they fit one chain."""
    if vs.digest == r.digest:
        return None
    if vs.seq == r.seq:
        return r.envelope, vs.envelope
    if vs.seq > r.seq and ((vs.seq == r.seq + 1 and vs.prev != r.digest) or vs.issued_at_ms < r.issued_at_ms):
        return r.envelope, vs.envelope
    if vs.seq < r.seq and ((vs.seq == r.seq - 1 and r.prev != vs.digest) or vs.issued_at_ms > r.issued_at_ms):
        return vs.envelope, r.envelope
    return None


def _earliest_of(r: _Revocation, key: str) -> int:
    """KEY-011: the earliest time ``r``, a KeyRevocation of ``key``, reaches anything from -- its
    effective_ms, or for the key's own revocation no earlier than its issued_at_ms -- which is also when it
    reaches statements under ``key``'s Mandates, when ``key`` is a principal (MND-012)."""
    return max(r.effective_ms, r.issued_at_ms) if r.issuer == key else r.effective_ms


def _earliest(revocation: VerifiedStatement) -> int:
    """:func:`_earliest_of` for a KeyRevocation statement."""
    r = revocation.statement.key_revocation
    return max(r.effective_ms, revocation.issued_at_ms) if revocation.issuer == r.key else r.effective_ms


@dataclass(frozen=True)
class _MandateRecord:
    principal: str
    mandate: identity_pb2.Mandate
    issued_at_ms: int
    agent: str  # mandate.agent, read once
    # the Mandate statement's seq in its principal's chain: with issued_at_ms, its place there, which
    # decides whether a revocation of the principal's key by a principal above it reaches back over it
    # (KEY-011 (c)); 0 in a record unpickled from before it was kept
    seq: int = 0


@dataclass(frozen=True)
class GuardHolds:
    """What our guard holds at one time (:meth:`Verifier.guard_holds`): copies, read-only, that a restart
    must give back the same.

    exclusive: exclusive_key -> offer digest -> (negotiation id, escrow, expires_at_ms, held until) of our
        Offers and Counters holding the key then (NEG-020), for each key the guard keeps an entry of.
    cut_off_counted: our bonded Counters a lower answer cut off the line, still counted -> (escrow, mandate
        digest, negotiation id) (NEG-021 (d), section 4.5).
    answers_not_taken: answers to our bonded offers their escrow has not taken -> (escrow, mandate digest,
        offer digest, negotiation id) (section 4.5).
    """

    exclusive: dict[bytes, dict[bytes, tuple[bytes, str, int, int]]]
    cut_off_counted: dict[bytes, tuple[str, bytes, bytes]]
    answers_not_taken: dict[bytes, tuple[str, bytes, bytes, bytes]]


def last_ruling_ms(proposal: trade_pb2.Offer) -> int:
    """ESC-020, MND-020: the last time the escrow of a contract of ``proposal`` may have to sign about it --
    the Ruling of a claim on its last item stamped at the end of that item's claim window (CMT-005), due a
    response window later (CMT-002: terms.response_window_ms, or DEFAULT_RESPONSE_WINDOW_MS when 0), signed
    at a tick up to the clock tolerance after that -- or 0 for a proposal with no deadline. Every other
    statement it may owe (a Forfeit or Release after that Ruling, a lapse, a release after a Revoke) falls
    due by then."""
    last = max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0)
    if not last:
        return 0
    window = proposal.terms.response_window_ms or DEFAULT_RESPONSE_WINDOW_MS
    return last + CLAIM_WINDOW_MS + window + CLOCK_TOLERANCE_MS


# The archive's book (ExposureArchive) of the marks of Accepts held off (ESC-022 (f)) whose negotiation was
# forgotten: no exposure's book (those are named by a Mandate's 32-byte digest).
_HELD_OFF_BOOK: Final = b"held-off"
_LET_IN: Final = b"let-in/"  # before an Accept's digest (32 bytes): its key once a Stamp let it in


def _add_answer(
    index: dict[tuple[str, bytes], tuple[list[VerifiedStatement], list[VerifiedStatement]]],
    vs: VerifiedStatement,
) -> None:
    """Add ``vs``, a Counter, Accept or Reject, to an index of answers by key and statement answered
    (:attr:`Verifier._answers_by_key`): last of the key's answers to it, first if highest in its chain."""
    entry = index.get((vs.issuer, cited(vs)))
    if entry is None:
        index[(vs.issuer, cited(vs))] = ([vs], [vs])
        return
    top, every = entry
    every.append(vs)
    if chain_place(vs) > chain_place(top[0]):
        top[0] = vs


def _place(at: VerifiedStatement, party_vs: VerifiedStatement) -> tuple[int, int]:
    """Where ``at`` stands for what ``party_vs``'s issuer counts (SPEC 4.5): its time, and its seq when
    that issuer signed it (a place in the issuer's own chain), else -1 (another key, the same ms)."""
    return (at.issued_at_ms, at.seq if at.issuer == party_vs.issuer else -1)


_PROPOSALS: Final = frozenset({"offer", "counter"})
_NOTHING: Final[Mapping[bytes, VerifiedStatement]] = MappingProxyType({})
# What names a statement's witnessing escrow, link by link (ATT-025, KEY-009): body -> (its field naming
# a statement, the kinds that one may be). An answer or a Withdraw names the Offer or Counter (whose terms
# name the escrow); a party's statement of a contract names the Accept that formed it; a Receipt, the
# Delivery it receipts.
_NAMES: Final[dict[str, tuple[str, frozenset[str]]]] = {
    "accept": ("offer", _PROPOSALS),
    "reject": ("offer", _PROPOSALS),
    "withdraw": ("offer", _PROPOSALS),
    "delivery": ("contract", frozenset({"accept"})),
    "breach_claim": ("contract", frozenset({"accept"})),
    "revoke": ("contract", frozenset({"accept"})),
    "receipt": ("delivery", frozenset({"delivery"})),
}


class Verifier:
    """Statement acceptance with memory.

    Args:
        me: our own did:key; statements addressed to anyone else are refused
            (STM-005), and so are statements addressed to us, received live,
            that were issued further back than the skew (TIM-006). None for an
            auditor, who reads everyone's statements.
        complete_chains: verify each issuer's statements as a complete log
            segment (gaps are CHAIN_GAP, CHN-002) rather than a sparse view.
        skew_ms: clock skew allowance for freshness (TIM-004).
        evidence_view: hold, as a view of evidence, a statement of a negotiation of a revoked or rotated-out
            key, whether an escrow may witness it or not (or a Mandate), weighed by :meth:`disowned`
            (KEY-009 (c)); default: when ``me`` is None (an auditor, an observer, a reputation system). An
            escrow taking evidence passes False: it trades on what it takes.

    Raises:
        ValueError: skew_ms is outside 0..300000 (TIM-004).
    """

    # old escrow key -> the hand-over's time, where it came to be honoured or earlier while a statement was
    # committed: its contracts are rebuilt once that statement is in (ESC-022 (e)). A class default: a
    # verifier pickled before it existed (a node's snapshot) reads None.
    _handed_over_due: dict[str, int] | None = None
    # KEY-009 (d): the digests of the Stamps a view of evidence holds as disowned, recorded in no witness
    # index (:meth:`_reweigh_stamps`); and the keys whose Stamps are to be reweighed once the statement
    # being recorded is. Class defaults, replaced on first use: a verifier pickled before reads none.
    _unwitnessing: AbstractSet[bytes] = frozenset()
    _to_reweigh: tuple[str, ...] = ()
    # ESC-022 (e): negotiation id -> the digests of the statements held that name it, in the order they came,
    # for each negotiation in memory -- what a rebuild of its contract reads, not every statement held
    # (:meth:`_held_of`). One that came back from the archive starts with _ARCHIVED: the statements it held
    # before it was forgotten are read there. It leaves memory with its negotiation
    # (:meth:`forget_negotiation`).
    # And escrow key -> the negotiations held whose contract names it, or did, in the order they came: the
    # contracts a rebuild of its hand-over looks at, kept from its first rebuild on (pruned as they go).
    # Class defaults: a verifier pickled before (a node's snapshot) reads None, and builds them from memory.
    _held_by_negotiation: dict[bytes, list[bytes]] | None = None
    _naming_escrow: dict[str, dict[bytes, None]] | None = None
    # ESC-022 (f) in bounded memory: whether a mark of :attr:`_held_off` left memory with its negotiation,
    # written to the archive (:meth:`_archive_held_off`, read back by :meth:`_held_off_of`). A class default:
    # a verifier pickled before reads False.
    _held_off_archived: bool = False
    # (principal, agent) -> the digests of the Mandates held from that principal for that agent: where a
    # renewal is looked for (:meth:`claimable_until`, :meth:`renewals_of`), instead of every Mandate held
    # -- an escrow holds its counterparties' by the thousand. A class default: a verifier pickled before
    # it existed (a node's snapshot) reads None, and builds it from memory (:meth:`_mandates_from`).
    _mandates_by_grant: dict[tuple[str, str], dict[bytes, None]] | None = None
    # NEG-021 on a line a witnessed Accept cut off: (issuer, the statement it answers) -> ([the one highest in
    # the key's chain], every one in the order taken) of that key's Counters, Accepts and Rejects of that
    # statement held (:meth:`_other_answers_held`, :meth:`_passes_answer_held`): a key flooding answers to one
    # offer costs a lookup per answer, not a pass over its negotiation's superseded statements per answer
    # (neg30: 5,000 Rejects of one Counter visited 12.5 million). They leave with their negotiation. A class
    # default: a verifier pickled before it existed reads None and builds it from memory once.
    _answers_by_key: (
        dict[tuple[str, bytes], tuple[list[VerifiedStatement], list[VerifiedStatement]]] | None
    ) = None
    # SPEC 4.5, NEG-021 (d): negotiation id -> its statements held superseded by what each cites, for each
    # negotiation whose cut-off line was recounted (:meth:`_count_line_as_witnessed_first`), kept in step as
    # statements are taken (:meth:`_superseded_held`): a recount reads the line's own statements, not every
    # statement superseded -- one key's answers to one offer, in reverse chain order, recounted the line
    # once each (flood31: 1,000 Rejects visited 501,498 digests). They leave with their negotiation. A
    # class default: a verifier pickled before it existed reads None.
    _superseded_index: dict[bytes, HeldSuperseded] | None = None
    # NEG-025: whether this kind of verifier holds an Accept of an answered offer naming an escrow until its
    # Stamp (:attr:`Negotiations.hold_unwitnessed`): a view and a live receiver do, an escrow does not. A
    # verifier pickled before NEG-025 kept no setting: its negotiations read the class default, the escrow's
    # (ESC-014) -- a node never loads such a snapshot (another build's fingerprint), a library user may.
    holds_unwitnessed: ClassVar[bool] = True

    def __init__(
        self,
        *,
        me: str | None = None,
        complete_chains: bool = False,
        skew_ms: int = DEFAULT_SKEW_MS,
        evidence_view: bool | None = None,
    ) -> None:
        if not 0 <= skew_ms <= MAX_SKEW_MS:
            raise ValueError(f"skew must be within 0..{MAX_SKEW_MS} ms (TIM-004)")
        self.me = me
        self.evidence_view = me is None if evidence_view is None else evidence_view
        self.complete_chains = complete_chains
        self.skew_ms = skew_ms
        self.statements = HeldStatements()
        self._held_by_negotiation = {}
        self.archive: Archive | None = None
        self.accepted = 0  # statements accepted or recorded, ever (memory may hold fewer)
        # Forfeits accepted, ever, and the contracts of the last FORFEITS_KEPT: a Forfeit may override a
        # Release or Refund of the same bond an escrow at fault signed too (NEG-012), so a rating kept as
        # settled on one of those is stale once one of its contract comes (runtime.reputation).
        self.forfeits = 0
        self.forfeited_contracts: deque[bytes] = deque(maxlen=FORFEITS_KEPT)
        self.mandates: dict[bytes, _MandateRecord] = {}  # written by _hold_mandate and _drop_mandate only
        self._mandates_by_grant = {}
        # key -> the earliest time a KeyRevocation held of it takes effect from (KEY-011: its effective_ms,
        # or for the key's own revocation no earlier than its issued_at_ms): nothing of the key issued
        # before it is reached, and statements under its Mandates (when it is a principal) from then on.
        self.revoked: dict[str, int] = {}
        # key -> the least chain length a principal's KeyRevocation of it held states (KEY-011 (e)): the
        # key's statements from that seq on may be reached whatever their time.
        self.revoked_above: dict[str, int] = {}
        # key -> every KeyRevocation of it held, as signed: whether an escrow stamped a statement before it
        # stamped any revocation covering it (KEY-009) asks of each, not only of the one that set
        # effective_ms; and which of the key's statements each reaches, and from when, is KEY-011's
        # (:meth:`_reach`).
        self.revocations_of: dict[str, list[_Revocation]] = {}
        self._revocation_digests: set[bytes] = set()
        # digest -> an Offer, Counter, Accept or Delivery not held as a statement (it moves no negotiation
        # here, ATT-019), as it travelled with a gossiped proof of statements naming it (ATT-025): it leads
        # to their witnessing escrow (:meth:`naming_chain`), and travels on with the proof. They name its
        # digest, which binds it: whoever sent it chose nothing.
        self.shown_statements: dict[bytes, VerifiedStatement] = {}
        # Stamp digest -> (a Stamp a swap carried with a proof, the revocations it is read for): one that
        # batches a KeyRevocation of the proof's key with other statements (WIT-001 (a)), held as no
        # statement and read for those revocations alone (ATT-024, :meth:`take_revocation_stamp`)
        self.revocation_stamps: dict[bytes, tuple[VerifiedStatement, frozenset[bytes]]] = {}
        # key -> the first fork proof found between a KeyRevocation of the key by itself and another
        # statement of the key, both taken (KEY-013): such a revocation joins no chain, and is taken though
        # it forks the key's chain, so no refusal carries the proof (ATT-011 keeps it, ATT-013 reads it).
        self.own_revocation_forks: dict[str, tuple[bytes, bytes]] = {}
        # key -> the issuers of the KeyRevocations of it held, each with how many: a runtime's newcomer
        # quota takes the first of each revoker uncounted (RPC-016 (c)), not only the first of all, which
        # the key's thief could sign itself, effective years ahead, to have its principal's counted; and
        # its one correction (:meth:`revocation_uncounted`).
        self.revokers: dict[str, dict[str, int]] = {}
        # KeyRevocations, and Stamps naming one, taken so far: what :meth:`disowned` says of a held
        # statement changes only with them, so a view that kept a rating checks it again when this moves.
        self.disowning = 0
        # Times a negotiation's contract gave way to another or to none (NEG-017, NEG-021, a hold-off), or a
        # negotiation was derived again: a rating kept on a contract's settlement may rest on a contract that
        # binds no more (ATT-022 (c)), so a view that kept one reads it again when this moves.
        self.contracts_moved = 0
        self.rotations: dict[str, bytes] = {}  # old key -> the envelope of its KeyRotation, likewise
        self.rotated: dict[str, int] = {}  # old key -> seq of its KeyRotation
        # old key -> (seq, digest) of every KeyRotation of it held: KEY-009 asks whether the escrow stamped
        # a statement before each rotation below it, not only before the lowest, which ends the chain.
        self.rotations_of: dict[str, list[tuple[int, bytes]]] = {}
        # A view of evidence's (KEY-009 (c)): contracts held whose Accept no escrow can witness and that no
        # revocation or rotation held disowns yet, by each key one of which could (the Accept's issuer, its
        # Mandate's principal): {Accept digest: negotiation id}. A contract whose Accept is disowned binds
        # its offerer to nothing -- no exposure, no exclusive_key (MND-010, NEG-009) -- from the revocation
        # or rotation that disowns it, whichever the view heard first (:meth:`_unbook_disowned_accepts`).
        self._bare_accepts: dict[str, dict[bytes, bytes]] = {}
        # NEG-009 read again where a contract holding an exclusive_key came alive (ESC-022 (e), KEY-009 (d)):
        # an unwitnessed Accept held while that contract looked finished, which moves nothing now -> its
        # negotiation (:meth:`_settle_exclusive`); a Stamp of it by its escrow lets it in again.
        self._held_off: dict[bytes, bytes] = {}
        self.chains: dict[str, ChainView] = {}
        self.replay = ReplayCache()
        self.witness = WitnessIndex()
        self.witness.seq_of = self._stamp_seq
        self.negotiations = Negotiations(
            self.witness.stamp_time, self.witness.recorded_stamp_time, hold_unwitnessed=self.holds_unwitnessed
        )
        # Our guard's (``me``): answers to our bonded offers that their escrow has not taken, each with
        # (escrow, mandate digest, offer digest, negotiation id) of the offer still counted (_still_exposed).
        self._exposed_answers: dict[bytes, tuple[str, bytes, bytes, bytes]] = {}
        # Our guard's: our bonded Counters naming an escrow that a lower answer cut off the line while an
        # Accept of them that escrow witnesses still binds us (NEG-021 (d)), still counted, each with
        # (escrow, mandate digest, negotiation id) (_held_cut_off).
        self._cut_off_counted: dict[bytes, tuple[str, bytes, bytes]] = {}
        # Our guard's (``me``): our Offers and Counters carrying an exclusive_key, by key, each with
        # (negotiation id, escrow named, expires_at_ms, held until), held as NEG-020 says.
        self._own_exclusive: dict[bytes, dict[bytes, tuple[bytes, str, int, int]]] = {}
        # Off only to stand for the guard of an earlier version (tests): on, the holding is kept (of the
        # value, section 4.5, and of the exclusive_key, NEG-020).
        self.hold_exposed = True
        # On while a peer replays its journal: its own statements are taken as they were signed, with no
        # MND-009/010 check -- an earlier version's guard signed some without the holding (section 4.5),
        # which replay must still take -- while the holding itself is rebuilt as it was before the restart.
        self.as_signed = False

        # The book lays out each agent's budget periods by the mandate its statements name (a method,
        # not a closure: a node pickles its verifier whole into its snapshot, a2a_coop.runtime.snapshot).
        self.exposure = ExposureBook(self._mandate_of)
        self.bound: dict[str, set[str]] = {}  # key -> principals it accepted a mandate from (KEY-007)
        # (key, principal) -> (issued_at_ms, seq) of the earliest statement held binding the key to it: an
        # escrow's hand-over reads the principals its key was bound to before its revocation (ESC-022), and
        # a principal's revocation reaches back only while no other principal was bound before it (KEY-011).
        self.bound_at: dict[tuple[str, str], tuple[int, int]] = {}
        # old escrow key -> {digest of a Mandate naming it in `succeeds`: (successor, principal)} (ESC-022)
        self.handovers: dict[str, dict[bytes, tuple[str, str]]] = {}
        # (issuer, contract) -> (seq, digest) of the attestation that counts: the lowest seq held (ATT-002).
        self._attested: dict[tuple[str, bytes], tuple[int, bytes]] = {}
        # The statement the last successful check passed, the negotiation event it found, the
        # negotiation's progress it found it at (see _commit_checked), and the issuer's chain view it
        # checked against (a new, empty one when none was held: the commit then keeps that one).
        self._checked: (
            tuple[VerifiedStatement, Event | None, tuple[Negotiation, State, int] | None, ChainView] | None
        )
        self._checked = None

    def _mandate_of(self, digest: bytes) -> identity_pb2.Mandate | None:
        record = self.mandates.get(digest)
        return None if record is None else record.mandate

    # -- public API ---------------------------------------------------------------

    def accept(
        self, data: bytes, now_ms: int | None = None, *, ours: bool = False, received_ms: int | None = None
    ) -> VerifiedStatement:
        """Verify envelope bytes in context and remember them.

        Args:
            data: envelope bytes as received.
            now_ms: the receiver's clock for freshness (TIM-001..003, TIM-006); None
                for offline evidence checks, which skip freshness (TIM-005).
            ours: ``data`` is our own statement, from our own journal (it may be
                addressed to someone else); never set it for what arrives from outside.
            received_ms: the receiver's clock for context it was handed live (no freshness,
                but what is addressed to us must not be dated ahead (TIM-008), nor back
                unwitnessed (TIM-006)).

        Raises:
            CoopError: the first failed check in SPEC order; nothing is recorded.
        """
        return self.accept_statement(verify_statement(data), now_ms, ours=ours, received_ms=received_ms)

    def accept_statement(
        self,
        vs: VerifiedStatement,
        now_ms: int | None = None,
        *,
        ours: bool = False,
        received_ms: int | None = None,
    ) -> VerifiedStatement:
        """:meth:`accept` for a statement already through :func:`verify_statement` (no second
        signature check when a caller needed the decoded statement first). A statement refused only
        ``KEY_REVOKED`` (KEY-004) binds its key all the same (KEY-007: :meth:`_bind_past_revocation`)."""
        try:
            self.check(vs, now_ms, ours=ours, received_ms=received_ms)
        except KeyRevoked as refusal:
            if refusal.requirement == "KEY-004":
                self._bind_past_revocation(vs, now_ms, ours=ours, received_ms=received_ms)
            raise
        self._commit_checked(vs)
        return vs

    def _bind_past_revocation(
        self, vs: VerifiedStatement, now_ms: int | None, *, ours: bool, received_ms: int | None
    ) -> bool:
        """KEY-007: ``vs``, a statement of a key K just refused ``KEY_REVOKED`` (KEY-004: a held
        revocation of K reaches it), binds K to the principal of the Mandate it cites when that Mandate is
        held naming K as agent and ``vs`` passes every check with K's revocations set aside: recorded as
        K's binding (its issued_at_ms and seq), nothing else of it (it joins no chain, replay memory or
        negotiation). A view that heard ``vs`` before the revocation holds it, disowned, and binds K by it:
        refused, it binds K the same, so KEY-011 (b) and (c) read the same binding whatever order a view
        heard the revocation and the binding in (tests/test_attack21_binding_order.py). Its time and seq
        are K's holder's; a revocation reaches it, so it never makes K bound, unrevoked, to a second
        principal (ESC-022: :meth:`successors`). Returns whether it bound K (no later binding held)."""
        principal = self.binds_past_revocation(vs, now_ms, ours=ours, received_ms=received_ms)
        if principal is None:
            return False
        self._note_bound(vs.issuer, principal, vs.issued_at_ms, vs.seq)
        if self._to_reweigh:
            self._flush_reweigh()
        return True

    def binds_past_revocation(
        self,
        vs: VerifiedStatement,
        now_ms: int | None = None,
        *,
        ours: bool = False,
        received_ms: int | None = None,
    ) -> str | None:
        """KEY-007 (a), changing nothing: the principal ``vs`` -- a statement of a revoked key K, refused
        ``KEY_REVOKED`` -- would bind K to (:meth:`_bind_past_revocation`), or None: its Mandate is not
        held naming K, K is bound to that principal no later already, or it is refused for something else
        too with K's revocations set aside (an escrow taking evidence asks first: it stamps the binding
        and keeps it in its transcript, :meth:`a2a_coop.protocol.escrow.Escrow.submit`)."""
        key = vs.issuer
        record = self.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
        if record is None or record.agent != key or key not in self.revoked:
            return None
        held = self.bound_at.get((key, record.principal))
        if held is not None and held <= (vs.issued_at_ms, vs.seq):
            return None  # bound no later already: nothing to learn from it
        revoked, of = self.revoked.pop(key), self.revocations_of.pop(key, None)
        try:
            self.check(vs, now_ms, ours=ours, received_ms=received_ms)
        except CoopError:
            return None  # refused for something else too: it binds nothing
        finally:
            self._checked = None
            self.revoked[key] = revoked
            if of is not None:
                self.revocations_of[key] = of
        return record.principal

    def bound_by(self, vs: VerifiedStatement) -> bool:
        """KEY-007: whether ``vs`` is the earliest statement held binding its issuer to the principal of
        the Mandate it cites (its issued_at_ms and seq are that binding's)."""
        record = self.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
        return (
            record is not None
            and record.agent == vs.issuer
            and self.bound_at.get((vs.issuer, record.principal)) == (vs.issued_at_ms, vs.seq)
        )

    def accept_as_witness(self, vs: VerifiedStatement, escrow: str, stamped_ms: int) -> VerifiedStatement:
        """Accept evidence the escrow ``escrow`` -- the caller -- is stamping at ``stamped_ms``.

        The escrow is the witness of what it receives (WIT-001): its own acceptance
        is the stamp that makes a BreachClaim or Revoke effective, so the checks see
        that stamp. It is recorded only if the statement is accepted.
        """
        self.witness.set_provisional(escrow, vs.digest, stamped_ms)
        try:
            self.check(vs)
            self.witness.record_stamp(escrow, vs.digest, stamped_ms)
            self._commit(vs)
        finally:
            self.witness.clear_provisional()
        return vs

    @contextmanager
    def provisionally(
        self, statements: Sequence[VerifiedStatement], binding: VerifiedStatement | None = None
    ) -> Iterator[None]:
        """Check statements as if ``statements`` -- Mandates and Stamps that passed :meth:`check` -- were
        held, with nothing of them recorded: a Mandate's delegation and a Stamp's witness times are there
        for the block only (RPC-015: a server takes a request's context Mandates, and the Stamps naming
        the request, only once something that needs them passed its checks). ``binding``: a statement
        that passed its check beside them, binding its issuer to its Mandate's principal (KEY-007) for
        the block only (KEY-008: taken only if the revocation it authorises passes)."""
        added = []
        stamps = []
        for vs in statements:
            if vs.body == "mandate" and vs.digest not in self.mandates:
                self._hold_mandate(vs)
                added.append(vs.digest)
            elif vs.body == "stamp":
                stamps += [(vs.issuer, digest, vs.issued_at_ms) for digest in vs.statement.stamp.statements]
        bound: tuple[str, str] | None = None
        record = None if binding is None else self.mandates.get(binding.mandate_digest)
        if binding is not None and record is not None and record.agent == binding.issuer:
            principals = self.bound.setdefault(binding.issuer, set())
            if record.principal not in principals:
                principals.add(record.principal)
                bound = (binding.issuer, record.principal)
        try:
            if stamps:
                with self.witness.stamps_held(stamps):
                    yield
            else:  # nothing for the witness index to hold (a request's Mandates alone, the usual case)
                yield
        finally:
            if bound is not None:
                principals = self.bound[bound[0]]
                principals.discard(bound[1])
                if not principals:
                    del self.bound[bound[0]]
            for digest in added:
                self._drop_mandate(digest)
            self._checked = None  # checked beside records that are gone: never committed as checked

    def record(self, vs: VerifiedStatement) -> None:
        """Record a statement that already passed :meth:`check` (our own, just signed).

        The policy guard checks the unsigned candidate before signing; the
        signature adds nothing to check, so the signed result is recorded as is.
        """
        self._commit_checked(vs)

    def _commit_checked(self, vs: VerifiedStatement) -> None:
        """Commit ``vs`` with the negotiation event the last :meth:`check` found for it, when that
        check was of the same statement (the same digest: the signed form of a checked candidate)
        and its negotiation has not moved since; otherwise classify it again."""
        checked, self._checked = self._checked, None
        if (
            checked is not None
            and checked[0].digest == vs.digest
            and checked[2] == self._progress(vs.negotiation_id)
        ):
            self._commit(vs, checked=True, event=checked[1], checked_view=checked[3])
        else:
            self._commit(vs)

    def _progress(self, negotiation_id: bytes) -> tuple[Negotiation, State, int] | None:
        """How far a negotiation has moved. Everything else a classification reads changes only by a
        commit, which drops what the last check kept."""
        neg = self.negotiations.by_id.get(negotiation_id) if negotiation_id else None
        return None if neg is None else (neg, neg.state, len(neg.history))

    def check(
        self,
        vs: VerifiedStatement,
        now_ms: int | None = None,
        *,
        ours: bool = False,
        received_ms: int | None = None,
        alone: bool = False,
    ) -> None:
        """Run the contextual checks (steps 21-31) without changing anything.

        ``ours``: ``vs`` is our own statement, about to be signed (the policy guard)
        or replayed from our journal; it may be addressed to someone else.
        ``received_ms``: ``vs`` came live as context, at this clock (TIM-008, TIM-006 only).
        ``alone``: leave out the checks against the other statements its issuer signed -- its nonce
        (RPL-001) and its chain (CHN-*) -- for a statement shown as a binding (:meth:`check_binding`).
        """
        self._checked = None
        me = self.me
        issuer, audience = vs.issuer, vs.audience
        if me is not None and audience and audience != me and not (ours and issuer == me):
            raise WrongAudience(requirement="STM-005")
        self._check_key(issuer, vs.issued_at_ms, vs.seq, vs)
        record = self._check_mandate(vs)
        if (
            self.revoked
            and not self.evidence_view
            and (vs.body in _TAKES_EFFECT_AT_STAMP or (me is None and vs.body in _BINDS_AT_STAMP))
        ):
            self._check_revoked_at_stamp(vs, record)
        if now_ms is not None:
            check_time_window(vs, now_ms, self.skew_ms)
        live_at = now_ms if now_ms is not None else received_ms
        if live_at is not None and me is not None and audience == me and not ours:
            if now_ms is None and vs.issued_at_ms > live_at + self.skew_ms:
                # Context acts on us now like a request: dated ahead, it would set our pace (TIM-008).
                raise IssuedInFuture(
                    f"handed over as context, issued {vs.issued_at_ms - live_at} ms ahead of our clock",
                    requirement="TIM-008",
                )
            self._check_not_dated_back(vs, live_at)
        own_revocation = vs.body == "key_revocation" and self._out_of_chain(vs)
        try:
            self.replay.check(vs, vs.digest)
        except NonceReused as reused:
            # KEY-013: a key's own revocation neither takes a nonce nor is refused for one (nor is the
            # archive's copy of one a holder: ReplayCache passes over them)
            if not own_revocation:
                # The statement that holds the nonce, when still in memory: evidence for a party to show an
                # escrow that bonded the other one (ESC-015).
                held = None if alone else self.statements.get(self.replay.holder(vs) or b"")
                if held is not None:
                    raise NonceReused(
                        requirement=reused.requirement, evidence=(held.envelope, vs.envelope)
                    ) from None
                if not alone:
                    raise
        view = self._chain(issuer)
        if own_revocation and not alone:
            with suppress(
                Equivocation, ChainBroken
            ):  # KEY-013: it forks the chain it joins not (kept at commit)
                view.check(vs)
        elif not alone:
            view.check(vs)
        nid = vs.negotiation_id
        neg_event = self.negotiations.check(vs) if nid else None
        if (
            (neg_event is _DELIVERY or neg_event is _RECEIPT or neg_event is _RECEIPT_COMPLETE)
            and live_at is not None
            and me is not None
            and audience == me
            and not ours
        ):
            # CMT-013: received live, a second Delivery of an item, or Receipt of an item, addressed to
            # us is refused -- each made us sign a Receipt or an Ack, journaled, and earned its issuer
            # credit (tests/test_attack18.py). Not offline: views holding the same statements agree.
            neg = self.negotiations.by_id.get(nid)
            again = neg.contract.repeated(vs) if neg is not None and neg.contract is not None else None
            if again is not None:
                raise again
        live_to_me = live_at is not None and me is not None and audience == me and not ours
        if vs.body == "breach_claim" and live_to_me:
            # CMT-005: received live, a second claim of a claimant and item addressed to us is taken only
            # with the escrow's Stamp of it (held, or in its context): held unstamped, each was journaled,
            # Acked and earned its issuer credit (tests/test_attack18.py).
            neg = self.negotiations.by_id.get(nid)
            c = neg.contract if neg is not None else None
            again = c.repeated_claim(vs) if c is not None else None
            if again is not None and c is not None and self.witness.stamp_time(c.escrow, vs.digest) is None:
                raise again
        if record is not None:
            self._check_exposure(vs, record, neg_event, now_ms)
        if ours and issuer == me and (neg_event is _OFFER or neg_event is _COUNTER) and not self.as_signed:
            self._check_exclusive_held(vs, now_ms)
        if ours and issuer == me and record is not None and not self.as_signed:
            self._check_claimable_under_mandate(vs, record)
        body = vs.body
        if body == "reveal":
            self._check_reveal(vs)
        elif body == "attestation":
            self._check_attestation(vs)
        elif body == "key_revocation":
            self._check_revocation_authority(vs)
        # Kept for the commit of vs that follows (accept_statement, record): not classified twice.
        self._checked = None if alone else (vs, neg_event, self._progress(nid), view)

    def check_binding(
        self, vs: VerifiedStatement, now_ms: int | None = None, *, received_ms: int | None = None
    ) -> bool:
        """KEY-007, KEY-008: check ``vs``, a statement of a key K under a Mandate (held, or held
        provisionally) that names K as agent, as the statement binding K to that Mandate's principal for a
        KeyRevocation by that principal. Changes nothing.

        Returns:
            True if it passes every check (it can be taken as any statement); False if it fails only
            against other statements K signed -- its chain (``EQUIVOCATION``, ``CHAIN_BROKEN``,
            ``LOG_ROOT_MISMATCH``) or its nonce (``NONCE_REUSED``): it is shown, not held, and binds K all
            the same (:meth:`bind`). Its signature is K's either way, and a holder of K's private key --
            a thief -- makes those faults at will by signing at the binding's seq or with its nonce first:
            a fork is exactly when the principal needs to revoke K.

        Raises:
            CoopError: any other refusal (the Mandate not in force, the key ended, a time check, ...).
        """
        try:
            self.check(vs, now_ms, received_ms=received_ms)
            return True
        except (Equivocation, ChainBroken, LogRootMismatch, NonceReused):
            self.check(vs, now_ms, received_ms=received_ms, alone=True)
            return False

    def shows_binding(self, vs: VerifiedStatement, revocation: VerifiedStatement) -> str | None:
        """KEY-007, KEY-008 for evidence taken in order (an escrow's Submit, ESC-001; the replay of its
        transcript, AUD-003): whether ``vs``, a statement just refused, is a binding shown, not held,
        for ``revocation``, the statement after it -- a statement of no negotiation by a key K, under a
        Mandate held naming K, refused only for its chain or nonce (:meth:`check_binding`), and
        ``revocation`` a KeyRevocation of K by that Mandate's principal that passes its checks (offline)
        with K bound to that principal for the check alone. Changes nothing.

        Returns:
            The principal, when it is one (bind it with :meth:`bind` once ``revocation`` is taken);
            the principal too when K is bound to it already (the binding is not needed, and nothing of
            it need be kept); else None.
        """
        cited = vs.mandate_digest
        record = self.mandates.get(cited) if cited else None
        if (
            vs.negotiation_id
            or record is None
            or record.agent != vs.issuer
            or revocation.body != "key_revocation"
            or revocation.issuer != record.principal
            or revocation.statement.key_revocation.key != vs.issuer
        ):
            return None
        if record.principal in self.bound.get(vs.issuer, ()):
            return record.principal
        try:
            if self.check_binding(vs):
                return None  # it passes: taken as any statement, not shown
            with self.provisionally((), binding=vs):
                self.check(revocation)
        except CoopError:
            return None
        return record.principal

    def bind(self, vs: VerifiedStatement, mandate: VerifiedStatement | None = None) -> str:
        """KEY-007 widened: record that ``vs``'s issuer K is bound to the principal of the Mandate it
        cites, ``vs`` being a statement :meth:`check_binding` found shown, not held (a KeyRevocation by
        that principal passed beside it, KEY-008). ``mandate``: that Mandate, when it is not held (a
        binding kept across a restart, restored before the journal is replayed). Nothing else of ``vs``
        is recorded: it is in no chain, replay memory or negotiation. Returns the principal.

        Raises:
            ValueError: ``vs`` cites no Mandate naming its issuer as agent (``mandate`` is not it).
        """
        issuer, cited = vs.issuer, vs.mandate_digest
        if mandate is not None:
            if (
                mandate.body != "mandate"
                or mandate.digest != cited
                or mandate.statement.mandate.agent != issuer
            ):
                raise ValueError("the Mandate given is not the one the binding cites for its issuer")
            principal = mandate.issuer
        else:
            record = self.mandates.get(cited) if cited else None
            if record is None or record.agent != issuer:
                raise ValueError("the binding cites no Mandate held naming its issuer as agent")
            principal = record.principal
        self._note_bound(issuer, principal, vs.issued_at_ms, vs.seq)
        if self._to_reweigh:
            self._flush_reweigh()
        return principal

    def _note_bound(self, key: str, principal: str, at_ms: int, seq: int) -> None:
        """KEY-007: ``key`` is bound to ``principal`` by a statement issued at ``at_ms``, at ``seq``."""
        bound = self.bound.get(key)
        if bound is None:
            self.bound[key] = {principal}
        else:
            bound.add(principal)
        held = self.bound_at.get((key, principal))
        if held is None or at_ms < held[0] or (at_ms == held[0] and seq < held[1]):
            self.bound_at[(key, principal)] = (at_ms, seq)
            if key in self.handovers:
                self._refresh_handovers()
            if self.evidence_view and (key in self.revoked or principal in self.revoked):
                # KEY-011's reach reads bindings: a Stamp of ``key`` (or under its Mandates) may be
                # disowned now, or no longer (KEY-009 (d))
                self._to_reweigh = (*self._to_reweigh, key)

    # -- how far back a revocation reaches (KEY-011) -------------------------------------

    def _reach(
        self, r: _Revocation, key: str, authority: str, at: tuple[int, int] | None = None
    ) -> tuple[int, int]:
        """KEY-011: (from when, from which seq) ``r``, a KeyRevocation of ``key``, reaches a statement of
        ``key`` made under the authority of principal ``authority`` (the issuer of the Mandate it names; ""
        for one under no Mandate), issued at ``at`` = (issued_at_ms, seq) when it is one statement. A
        revocation reaches back to its effective_ms only over statements made under the authority of its
        issuer, or of a principal bound to the key after its issuer: a principal's over the key's
        statements under its own Mandates, under none, and under the Mandates of a principal the key bound
        itself to later (a thief's, after the theft); the key's own over none -- it takes effect no earlier
        than its issued_at_ms and reaches none of the key's statements at a seq below its own, which the
        key's chain orders before it. Who chose effective_ms: the revoker, which may be a thief holding the
        key (not its principal's key), or a principal the thief bound the key to; either would otherwise
        disown the key's whole history -- an escrow's ledger, and the hand-over of it (ESC-022)."""
        if r.issuer == key:
            return max(r.effective_ms, r.issued_at_ms), r.seq
        if self._reaches_back(r, key, authority, at):
            return r.effective_ms, 0
        return max(r.effective_ms, r.issued_at_ms), 0

    def _reaches_back(self, r: _Revocation, key: str, authority: str, at: tuple[int, int] | None) -> bool:
        """KEY-011 (b): whether ``r``, a principal's KeyRevocation of ``key``, reaches back to its
        effective_ms over a statement of ``key`` under ``authority`` issued at ``at`` (:meth:`_reach`)."""
        if not authority:  # the key's own word (a principal body): reached back once bound to r's issuer
            bound = self.bound_at.get((key, r.issuer))
            return at is None or (bound is not None and bound <= at)
        return authority == r.issuer or self._bound_first(key, r.issuer, authority, at)

    def _reach_of(self, r: _Revocation, key: str, authority: str, at: tuple[int, int]) -> int | None:
        """KEY-011: from when ``r``, a KeyRevocation of ``key``, reaches ``key``'s own statement under
        ``authority`` issued at ``at`` = (issued_at_ms, seq) -- 0 when it reaches it whatever its time, a
        principal's stating the key's chain length (e) and the statement above it --, or None when it
        does not reach it. Who chose the length: the principal, from the key's journal it runs (an
        escrow's export); a thief holding the key dates what it signs as it likes, before the revocation
        too, but signs it above the head (or forks the chain below it, CHN-004)."""
        when, floor = self._reach(r, key, authority, at)
        if at[0] >= when and at[1] >= floor:
            return when
        if r.issuer != key and 0 < r.chain_length <= at[1] and self._reaches_back(r, key, authority, at):
            return 0
        return None

    def _bound_first(self, key: str, principal: str, other: str, at: tuple[int, int] | None) -> bool:
        """KEY-011 (b): whether ``key`` was bound to ``principal`` no later than to ``other`` -- by the
        earliest statement held binding it to each, (issued_at_ms, seq); ``at``: a statement under
        ``other``'s Mandate being checked, which binds the key to ``other`` too (KEY-007)."""
        mine = self.bound_at.get((key, principal))
        if mine is None:
            return False
        theirs = self.bound_at.get((key, other))
        if at is not None and (theirs is None or at < theirs):
            theirs = at
        return theirs is None or mine <= theirs

    def _authority(self, vs: VerifiedStatement) -> str:
        """The principal whose Mandate ``vs`` names, when held; "" otherwise (KEY-011)."""
        record = self.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
        return "" if record is None else record.principal

    def _reaching(self, key: str, issued_at_ms: int, seq: int, authority: str) -> tuple[int, bytes] | None:
        """KEY-004 with KEY-011: (from when, digest) of the earliest-reaching held revocation of ``key``
        that reaches ``key``'s own statement issued at ``issued_at_ms``, at ``seq``, under ``authority``
        (:meth:`_reach`), of those reaching it at one time the lowest digest (RPC-006 (a): the evidence a
        refusal carries, whatever order they were heard in); None if none does."""
        hit = None
        for r in self.revocations_of.get(key, ()):
            when = self._reach_of(r, key, authority, (issued_at_ms, seq))
            if when is not None and (hit is None or (when, r.digest) < hit):
                hit = (when, r.digest)
        return hit

    def _may_reach(self, key: str, issued_at_ms: int, seq: int) -> bool:
        """A quick bound: whether any revocation of ``key`` held may reach its statement issued at
        ``issued_at_ms``, at ``seq`` -- its time not before the earliest reach, or its seq above a chain
        length a principal stated (KEY-011 (e))."""
        effective = self.revoked.get(key)
        return effective is not None and (
            issued_at_ms >= effective or seq >= self.revoked_above.get(key, seq + 1)
        )

    def _cut(self, key: str, authority: str, at: tuple[int, int] | None = None) -> int | None:
        """KEY-011: the earliest time a held revocation of ``key`` reaches its statements under
        ``authority`` from (its seq floor aside: what is signed from now on is above every one held)."""
        hit = self._cut_by(key, authority, at)
        return None if hit is None else hit[0]

    def _cut_by(
        self, key: str, authority: str, at: tuple[int, int] | None = None
    ) -> tuple[int, bytes] | None:
        """:meth:`_cut` and the digest of the revocation that sets it, of those setting it the lowest
        (RPC-006 (a))."""
        return min(
            ((self._reach(r, key, authority, at)[0], r.digest) for r in self.revocations_of.get(key, ())),
            default=None,
        )

    def _mandate_reach(self, r: _Revocation, record: _MandateRecord | None) -> int:
        """KEY-011 (c), MND-012: from when ``r``, a KeyRevocation of the key that issued the Mandate of
        ``record`` (a principal's), reaches the statements of its agent under that Mandate: back to
        effective_ms only when its issuer is a principal the key was bound to (KEY-007) at or before the
        Mandate's place in the key's chain -- one that answered for the key when it signed the Mandate;
        otherwise (the key's own, or a principal bound later: a thief's, bound with the stolen key) no
        earlier than its issued_at_ms. Who chose the Mandate's place: the key's holder, which may be a
        thief; placing its own principal's binding before the key's earlier Mandates forks the key's chain
        (CHN-004, CHN-005)."""
        if record is not None and r.issuer != record.principal:
            bound = self.bound_at.get((record.principal, r.issuer))
            if bound is not None and bound <= (record.issued_at_ms, record.seq):
                return r.effective_ms
        return max(r.effective_ms, r.issued_at_ms)

    def _principal_cut(self, record: _MandateRecord | None) -> int | None:
        """MND-012 with KEY-011 (c): the earliest time a held revocation of the key that issued the Mandate
        of ``record`` reaches statements under that Mandate from; None when none is held (or no Mandate)."""
        hit = self._principal_cut_by(record)
        return None if hit is None else hit[0]

    def _principal_cut_by(self, record: _MandateRecord | None) -> tuple[int, bytes] | None:
        """:meth:`_principal_cut` and the digest of the revocation that sets it, of those setting it the
        lowest (RPC-006 (a))."""
        held = self.revocations_of.get(record.principal, ()) if record is not None else ()
        return min(((self._mandate_reach(r, record), r.digest) for r in held), default=None)

    def revokes(self, vs: VerifiedStatement) -> bool:
        """Whether a KeyRevocation held of ``vs``'s issuer reaches ``vs`` (KEY-004, KEY-011), whatever
        stamped it (KEY-009's exception is not read here)."""
        return (
            vs.issuer in self.revoked
            and self._reaching(vs.issuer, vs.issued_at_ms, vs.seq, self._authority(vs)) is not None
        )

    def revoked_by(self, vs: VerifiedStatement, revoker: str, trusted: Collection[str] | None = None) -> bool:
        """ATT-013 (b): whether a KeyRevocation held of ``vs``'s issuer that ``revoker`` issued reaches
        ``vs`` and ``vs`` is not witnessed before it (KEY-009: its witnessing escrow stamped ``vs`` before
        it stamped that revocation, or stamped the revocation in no Stamp held) -- the statement is
        disowned by that revocation, for sparing ``revoker``. ``vs`` need not be held (a fork proof's).
        A principal's revocation reaches here back to its effective_ms whatever Mandate ``vs`` names
        (KEY-011's authority reading aside): that reading keeps a revocation from disowning what another
        principal answers for, and sparing the revoker disowns nothing -- read by it, a thief dating its
        statements before the key's binding to the principal, under no Mandate or its own principal's,
        put them out of every revocation's reach and convicted the principal for good
        (tests/test_attack28_prebinding_frame.py). The key's own revocation reads KEY-011 (a).

        ``trusted``: the escrows whose Stamps this view reads "witnessed before" from (ATT-013 (d)); None,
        every escrow. A Stamp by an escrow outside it witnesses nothing here: the escrow an Offer or Counter
        names is whoever holds the key's choice -- a thief's own, after the revocation
        (tests/test_attack31_thiefs_own_escrow_frames.py)."""
        return self.sparing_revocation(vs, revoker, trusted) is not None

    def sparing_revocation(
        self, vs: VerifiedStatement, revoker: str, trusted: Collection[str] | None = None
    ) -> VerifiedStatement | None:
        """The first KeyRevocation held by which :meth:`revoked_by` holds ``vs`` disowned for ``revoker``
        (reading Stamps of ``trusted`` escrows only, None: every escrow), or None: what a swap carries with
        a proof holding ``vs`` (ATT-024)."""
        key = vs.issuer
        mine = [r for r in self.revocations_of.get(key, ()) if r.issuer == revoker]
        if not mine:
            return None
        escrow, first = self._witnessed_at(vs, None)
        if trusted is not None and escrow not in trusted:
            first = None  # spare on an escrow the view does not trust, never convict (ATT-013 (d))
        for r in mine:
            when, floor = (
                self._reach(r, key, "", (vs.issued_at_ms, vs.seq)) if r.issuer == key else (r.effective_ms, 0)
            )
            if vs.issued_at_ms < when or vs.seq < floor:
                continue  # it does not reach vs
            place = self._stamp_place(escrow, r.digest) if first is not None else None
            if (
                first is None
                or (place is not None and not _before(first, place))
                or (trusted is not None and self._told_first(first[0], r.digest, trusted, escrow) is not None)
            ):
                return self.statements.get(r.digest) or verify_statement(r.envelope)
        return None

    def _told_first(
        self, stamped_ms: int, revocation: bytes, trusted: Collection[str], escrow: str
    ) -> str | None:
        """ATT-013 (f): an escrow of ``trusted`` other than ``escrow`` (the statement's witnessing one, whose
        own Stamps KEY-009 orders exactly) whose earliest Stamp held of ``revocation`` is not more than
        WIT-003's tolerance after ``stamped_ms`` -- the first of them by did --, or None: the view cannot
        vouch that the statement was stamped before the revocation was."""
        return next(
            (
                e
                for e in sorted(trusted)
                if e != escrow
                and (at := self.witness.recorded_stamp_time(e, revocation)) is not None
                and at <= stamped_ms + CLOCK_TOLERANCE_MS
            ),
            None,
        )

    # -- an escrow's hand-over (ESC-022) -------------------------------------------------

    def successors(self, old: str) -> tuple[tuple[str, ...], int] | None:
        """The hand-overs of the escrow key ``old`` this verifier honours (ESC-022): (the successor keys,
        sorted; from when their statements about ``old``'s contracts count -- the earliest effective_ms of
        a revocation of ``old`` held), or None.

        Honoured exactly when ``old`` is revoked and was bound (KEY-007) before that revocation's
        effective_ms to one principal P alone (not itself): every agent of a Mandate held that P issued
        naming ``old`` in ``succeeds`` is a successor -- the principal whose Mandate the escrow signed
        under appoints, never the old key (a thief holds it) nor anyone else. Two successors named are
        both honoured: a successor is never un-honoured by a statement heard later, so what a view took
        of one stays taken whatever order it heard the hand-overs in, and where the two contradict each
        other NEG-015's precedence decides, as for one escrow at fault."""
        held = self.handovers.get(old)
        if not held or old not in self.revoked:
            return None
        # bound by a statement under its Mandate that no revocation of ``old`` held reaches (KEY-004, KEY-011)
        principals = self._principals_of(old)
        if len(principals) != 1:
            return None
        (principal,) = principals
        if principal == old:
            return None
        named = tuple(sorted({agent for agent, issuer in held.values() if issuer == principal}))
        if not named:
            return None
        cut = self._cut(old, principal)  # from when its statements under P's Mandates are disowned (KEY-011)
        return None if cut is None else (named, cut)

    def _own_reach(self, old: str) -> tuple[tuple[int, int], ...]:
        """ESC-022 (e) with KEY-011: the reaches (from when, from which seq) of the revocations of ``old``
        held over its own statements under its principal's Mandates -- the key's own revocation's from its
        issued_at_ms and its seq, however early its effective_ms (the thief's choice)."""
        principal = next(iter(self._principals_of(old)), "")
        held = self.revocations_of.get(old, ())
        above = {  # KEY-011 (e): a principal's stating the key's chain length reaches above it from any time
            (0, r.chain_length)
            for r in held
            if r.issuer != old and r.chain_length and self._reaches_back(r, old, principal, None)
        }
        return tuple(sorted({self._reach(r, old, principal) for r in held} | above))

    def _principals_of(self, old: str) -> set[str]:
        """The principals ``old`` is bound to by a statement under its Mandate that no revocation of ``old``
        held reaches (KEY-004, KEY-011)."""
        return {
            p
            for p in self.bound.get(old, ())
            if (at := self.bound_at.get((old, p))) is not None and self._reaching(old, *at, p) is None
        }

    def _refresh_handovers(self) -> None:
        honoured = {}
        reaches = {}
        for old in self.handovers:
            succ = self.successors(old)
            if succ is not None:
                honoured[old] = succ
                reaches[old] = self._own_reach(old)
        was_reach = self.witness._own_reach
        was = self.witness.set_successors(honoured, reaches)
        for old, (_, cut) in honoured.items():
            before = was.get(old)
            if before is None or cut < before[1] or reaches[old] != was_reach.get(old):
                # More of the revoked key's own statements are its thief's now (ESC-022 (e)): the contracts
                # naming it are rebuilt from the statements that count, once the statement being
                # committed is in (:meth:`_rebuild_handed_over`).
                if self._handed_over_due is None:
                    self._handed_over_due = {}
                self._handed_over_due[old] = cut

    def _rebuild_handed_over(self) -> None:
        """ESC-022 (e): the contracts naming an escrow key whose hand-over this verifier came to honour (or
        whose hand-over's time came earlier) are what the statements held that count make them -- the
        revoked key's own statements about them from the hand-over's time on (its Stamps, Rulings,
        Forfeits, Releases, Refunds, BondLocks) count for nothing, whether they came before the hand-over
        or after. Each contract that held one, or a claim or Revoke such a Stamp made effective, is rebuilt
        from its negotiation's statements held, in the order they came, as in a view that heard the
        hand-over first (which refused them): its state, its bonds, its claims' and Revokes' effectiveness
        (WIT-005), the exclusive_key it holds (NEG-009) and the exposure it counts in (MND-010) follow.

        What it reads: the contracts naming the key (:attr:`_naming_escrow`, one pass over the negotiations
        held when the hand-over is first honoured) and each touched one's own statements
        (:meth:`_held_of`) -- never every statement held: the key's thief moves the hand-over's time
        earlier at will with the key's own revocations (KEY-011), and each move costs the touched contracts'
        replays, as many statements of theirs would, not a pass over everything the verifier holds."""
        due, self._handed_over_due = self._handed_over_due or {}, None
        naming = self._naming_escrow
        if naming is None:
            naming = self._naming_escrow = {}
        by_id = self.negotiations.by_id
        touched: dict[bytes, Negotiation] = {}
        for old, cut in due.items():
            nids = naming.get(old)
            if nids is None:  # honoured now: the one pass over the negotiations held
                nids = naming[old] = {
                    nid: None
                    for nid, neg in by_id.items()
                    if (c := neg.contract) is not None and c.escrow == old
                }
            for nid in list(nids):
                neg = by_id.get(nid)
                if neg is None:  # forgotten, or only read back from the archive
                    del nids[nid]
                elif (
                    (c := neg.contract) is not None and c.escrow == old and self._holds_stolen(neg, old, cut)
                ):
                    touched[nid] = neg
        for nid, neg in touched.items():
            self._rebuild_negotiation(nid, neg, self._held_of(nid))
            self._note_naming(nid, by_id[nid])

    def _index_held(self, nid: bytes, digest: bytes, neg: Negotiation) -> None:
        """Note the statement ``digest`` just held, of negotiation ``nid`` (now ``neg``), in
        :attr:`_held_by_negotiation` (and ``neg`` by its contract's escrow, :attr:`_naming_escrow`)."""
        index = self._held_by_negotiation
        if index is None:  # pickled before it existed: built once, from memory (``digest`` is in it)
            self._held_by_negotiation = self._index_from_memory()
        else:
            held = index.get(nid)
            if held is None:  # opened by it, or back from the archive
                held = index[nid] = [] if neg.first.digest == digest else [_ARCHIVED]
            held.append(digest)
        if self._naming_escrow:
            self._note_naming(nid, neg)

    def _note_naming(self, nid: bytes, neg: Negotiation) -> None:
        c = neg.contract
        nids = None if c is None or self._naming_escrow is None else self._naming_escrow.get(c.escrow)
        if nids is not None:
            nids[nid] = None

    def _index_from_memory(self) -> dict[bytes, list[bytes]]:
        """:attr:`_held_by_negotiation` of a verifier pickled before it existed: one pass over memory."""
        index: dict[bytes, list[bytes]] = {}
        for vs in self.statements.values():
            if vs.negotiation_id:
                index.setdefault(vs.negotiation_id, []).append(vs.digest)
        out = {}
        for nid, neg in self.negotiations.by_id.items():
            held = index.get(nid, [])
            out[nid] = held if held and held[0] == neg.first.digest else [_ARCHIVED, *held]
        return out

    def _held_of(self, nid: bytes) -> list[VerifiedStatement]:
        """The statements held of negotiation ``nid``, in the order they came: those it held before it was
        forgotten read back from the archive (in the order it accepted them), then those listed since."""
        index = self._held_by_negotiation
        if index is None:
            index = self._held_by_negotiation = self._index_from_memory()
        digests = index.get(nid) or [_ARCHIVED]  # none: back from the archive, nothing taken since
        out: list[VerifiedStatement] = []
        if digests[0] == _ARCHIVED:
            archive = self.archive
            out = [verify_statement(e) for e in archive.negotiation(nid)] if archive is not None else []
            seen = {vs.digest for vs in out}
            digests = [d for d in digests[1:] if d not in seen]
        out += [vs for d in digests if (vs := self.statements.get(d)) is not None]
        return out

    def _holds_stolen(self, neg: Negotiation, old: str, cut: int) -> bool:
        """Whether ``neg``'s contract, naming escrow key ``old``, moved by a statement of ``old`` itself
        from ``cut`` on, or holds a claim or Revoke effective whose earliest Stamp by ``old`` is from then on
        (one that no longer counts: it may have made it effective)."""
        for held in (neg, *(neg.displaced or {}).values()):
            c = held.contract
            if c is None or c.escrow != old:
                continue
            for *_, digest in held.history:
                vs = self.statements.get(digest) if digest else None
                if (
                    vs is not None
                    and vs.issuer == old
                    and not self.witness.own_counts(old, vs.issued_at_ms, vs.seq)
                ):
                    return True
            for digest in c.stamped_ms:  # effective: its earliest Stamp may be the thief's
                if not self.witness.own_stamp_counts(old, digest):
                    return True
        return False

    def _rebuild_negotiation(self, nid: bytes, neg: Negotiation, held: list[VerifiedStatement]) -> None:
        """``neg`` again, from its statements ``held``, in the order they came (ESC-022 (e)): one refused
        now -- the revoked escrow key's own from its hand-over on, `WRONG_PARTY` -- moves nothing, and
        stays held as evidence, counted nowhere."""
        fresh = self._replay(dropwhile(lambda vs: vs.digest != neg.first.digest, held))
        if fresh is None:
            return
        negotiations = self.negotiations
        old = neg.contract
        if old is not None:
            negotiations._unhold(old, nid, forget=True)
        negotiations.by_id[nid] = fresh
        for each in (fresh, *(fresh.displaced or {}).values()):
            if each.contract is not None:
                for digest in arbitrated(each.contract):
                    negotiations._arbitrated[digest] = nid
        negotiations._index_exclusive(fresh)
        c = fresh.contract
        if c is not None and old is not None and c.id == old.id:
            for party_vs in (c.offer, c.accept):
                self.exposure.contract_reopened(
                    party_vs.mandate_digest, c.id, c.last_deadline_ms, formed_ms=c.accept.issued_at_ms
                )  # one read back from the archive may still count from its compact record
            self._track_activation(fresh)  # dated by the ending the statements that count give, if any
        self.disowning += 1  # a rating kept on the contract's settlement is read again (runtime.reputation)
        self.contracts_moved += 1

    def _reopen_forgotten_handed_over(self) -> None:
        """ESC-022 (e) for what this verifier forgot (bounded memory, section 4.5): a contract naming an
        escrow key whose hand-over it came to honour (or whose hand-over's time came earlier), ended by that
        key's own statements that count no more, and forgotten since, counts in its parties' exposure as in a
        verifier that holds it -- as :meth:`_rebuild_negotiation` counts a held one. Its negotiation read back
        from the archive is the one the statements that count make (:meth:`_restore` refuses the key's own
        statements from the hand-over on); still finished, it is forgotten again, dated by the ending those
        statements give; live again, it is held in memory, as a verifier that never forgot it holds it. One
        read back into memory before (a statement naming it came) is derived again from the archive too: its
        statements are there, not in memory, where :meth:`_rebuild_handed_over` reads.

        Which were touched is read from the archive: the revoked key's statements that count no more are the
        top of its chain (each revocation reaches from a time and a seq on, and a chain's times do not
        decrease, CHN-005), read down from its highest seq to the first that counts -- the thief's, which is
        what a rebuild costs already -- and their negotiations (a Stamp's: those of what it names)."""
        archive, due = self.archive, self._handed_over_due
        if archive is None or not due:
            return
        negotiations = self.negotiations
        for old in due:
            for nid in self._forgotten_by(archive, old):
                held = negotiations.forget(nid) is not None  # read back from the archive whole
                neg = negotiations.find(nid)
                c = neg.contract if neg is not None else None
                if neg is not None and c is not None and c.escrow == old:
                    self._count_again(neg)
                    self.disowning += 1  # a rating kept on the contract's settlement is read again
                    self.contracts_moved += 1
                    if neg.contract_finished and not held:
                        for party_vs in (c.offer, c.accept):
                            self.exposure.contract_forgotten(party_vs.mandate_digest, c.id)
                        continue
                if neg is not None:
                    self._hold_again(nid, neg)  # live again, or held before: in memory, indexed

    def _hold_again(self, nid: bytes, neg: Negotiation) -> None:
        """``neg``, just derived, into memory and indexed, as a forgotten one read back is."""
        restore = self.negotiations.restore
        self.negotiations.restore = lambda _nid: neg
        try:
            self.negotiations._held(nid)
        finally:
            self.negotiations.restore = restore
        if self._naming_escrow:
            self._note_naming(nid, neg)

    def _count_again(self, neg: Negotiation) -> None:
        """``neg``'s contract, derived again, counts in its parties' exposure as the statements that count
        now make it: open again until its last deadline plus the claim window (a compact record of a
        forgotten one read back first), then ended where they end it, if they do (section 4.5, MND-010)."""
        c = neg.contract
        if c is not None:
            for party_vs in (c.offer, c.accept)[c.answered_twice :]:  # NEG-023: the acceptor's alone
                self.exposure.contract_reopened(
                    party_vs.mandate_digest, c.id, c.last_deadline_ms, formed_ms=c.accept.issued_at_ms
                )
        self._track_activation(neg)  # dated by the ending the statements that count give, if any

    def _forgotten_by(self, archive: Archive, old: str) -> list[bytes]:
        """The negotiations a statement of escrow key ``old`` counting no more (ESC-022 (e)) names that are
        not in memory, or were read back into it (their first statement not in memory) -- read down
        ``old``'s chain in ``archive`` from its top to the first that counts."""
        found: dict[bytes, None] = {}
        by_id = self.negotiations.by_id
        seq = 1 << 62
        while (envelope := archive.at_seq(old, seq, nearest="below")) is not None:
            vs = verify_statement(envelope)
            seq = vs.seq
            if self.witness.own_counts(old, vs.issued_at_ms, vs.seq):
                break
            if vs.body == "stamp":
                named = [self.statements.get(d) for d in vs.statement.stamp.statements]
                nids = [n.negotiation_id for n in named if n is not None]
            else:
                nids = [vs.negotiation_id]
            for nid in nids:
                neg = by_id.get(nid) if nid else None
                if nid and (neg is None or not dict.__contains__(self.statements, neg.first.digest)):
                    found[nid] = None
        return list(found)

    def _naming(self, due: dict[str, int]) -> list[bytes]:
        """The negotiations held whose contract holds an exclusive_key (NEG-009's index, live or finished)
        and names one of the escrow keys ``due`` (:meth:`_settle_exclusive` reads them once their rebuild is
        done): read from that index, not from every negotiation held -- the thief moves the hand-over's time
        at will (KEY-011), and each move costs what the contracts under an exclusive_key number."""
        negotiations = self.negotiations
        out: dict[bytes, None] = {}
        for holders in (*negotiations._exclusive.values(), *negotiations._finished_holders.values()):
            for nid in holders:
                neg = negotiations.by_id.get(nid)
                if neg is not None and (c := neg.contract) is not None and c.escrow in due:
                    out[nid] = None
        return list(out)

    def _settle_exclusive(self, nids: Iterable[bytes]) -> None:
        """NEG-009 read again where the contracts of ``nids`` were just derived again -- live again, or
        ending later, once statements that ended them count no more (a revoked escrow key's own from its
        hand-over on, ESC-022 (e); a disowned Stamp's, KEY-009 (d)): an Accept held of another negotiation
        under the same proposer's exclusive_key, formed after such a contract's Accept and at a place that
        contract is not finished before, that no Stamp of its escrow witnesses (NEG-019), was taken only
        while the contract looked finished -- a view that heard what ends it count no more first refused it
        (``EXCLUSIVE_CONFLICT``). It is held, moving nothing: its negotiation is derived again without it,
        as in that view (:meth:`_hold_off`); every order of the same statements ends with one holder."""
        negotiations = self.negotiations
        for nid in nids:
            neg = negotiations.by_id.get(nid)
            c = neg.contract if neg is not None else None
            if c is None or not c.exclusive_key:
                continue
            index = (c.proposer, c.exclusive_key)
            others = [*negotiations._exclusive.get(index, ()), *negotiations._finished_holders.get(index, {})]
            for other in others:
                n2 = negotiations.by_id.get(other) if other != nid else None
                c2 = n2.contract if n2 is not None else None
                if n2 is None or c2 is None or c2.proposer != c.proposer:
                    continue
                a2 = c2.accept
                finished = c.finished_at(a2.issuer)
                place = (a2.issued_at_ms, a2.seq)
                if (
                    _place(c.accept, a2) < place
                    and (finished is None or place <= finished)
                    and not self._witnessed_accept(a2, n2)
                ):
                    self._hold_off(other, n2, a2)

    def _witness_cut_off(self, digest: bytes, acting: tuple[str, ...]) -> None:
        """NEG-021 (d), (e): a Stamp by ``acting`` (its issuer, and the escrows it succeeds) of ``digest``, an
        Accept held superseded in its negotiation (in memory) -- cut back by a lower answer before this Stamp
        came, or in a branch held off the line (:attr:`Negotiation.off_line`) -- derives that negotiation
        again with the Stamp held, as a view that held the Stamp first: a contract its escrow witnessed gives
        way to no lower answer, and of two so witnessed, the lower answer's prevails. Read once every digest
        the Stamp names is recorded (the Stamp an escrow gives a Submit names the Stamp of another escrow
        that witnessed the displaced contract and, after it, the Accept that displaces it), and only for
        the escrow that witnesses the Accept: another escrow's Stamp of it is evidence, witnessing nothing."""
        held = dict.get(self.statements, digest)
        if held is None or held.body != "accept" or not held.negotiation_id:
            return
        neg = self.negotiations.by_id.get(held.negotiation_id)
        if neg is None or digest not in neg.superseded:
            return
        offer = self.statements.get(held.statement.accept.offer)
        witnessing = proposal_of(offer).terms.escrow if offer is not None else ""
        if witnessing in acting and self._witnessed_accept(held, neg):
            self._rederive({digest}, settle=False)  # un-takes nothing taken meanwhile (NEG-021 (d))
            self._count_witnessed(held)

    def _escrow_took_answer(self, digest: bytes, acting: tuple[str, ...]) -> None:
        """NEG-026: a Stamp by ``acting`` (its issuer, and the escrows it succeeds) of ``digest``, a Counter
        or Reject held superseded beside the contract of an Accept of the same offer that offer's escrow has
        not witnessed (:meth:`Negotiation._taken_by_escrow`): that escrow took the answer, and never takes the
        Accept (ESC-014). The negotiation is derived again with the Stamp held -- the answer takes the
        Accept's place, as where the Stamp came first -- and counted so (:meth:`_count_taken_by_escrow`)."""
        held = dict.get(self.statements, digest)
        if held is None or held.body not in ("counter", "reject") or not held.negotiation_id:
            return
        neg = self.negotiations.by_id.get(held.negotiation_id)
        c = neg.contract if neg is not None else None
        if neg is None or c is None or digest not in neg.superseded or cited(held) != c.offer.digest:
            return
        if proposal_of(c.offer).terms.escrow not in acting or neg.witnessed(c.accept, c.offer):
            return
        self._rederive({digest}, settle=False)
        derived = self.negotiations.by_id.get(held.negotiation_id)
        if derived is not None and derived.contract is not c and digest not in derived.superseded:
            self._count_taken_by_escrow(derived, held, c)

    def _count_taken_by_escrow(self, neg: Negotiation, answer: VerifiedStatement, old: Contract) -> None:
        """NEG-026: ``answer``, the Counter or Reject its offer's escrow took, took the place of ``old``'s
        Accept in ``neg`` (derived again): count the line as in a view that held the Stamp first -- ``old``
        nowhere (displaced at ``answer``'s place, before its Accept), the offer until ``answer``, each Counter
        after it from its place until its answer (live if none), and the contract the line holds now from its
        Accept's place -- whatever the statements taken superseded counted before."""
        book = self.exposure
        for party_vs in (old.offer, old.accept):
            book.contract_displaced(party_vs.mandate_digest, old.id, _place(answer, party_vs))
        offers = neg.offers
        k = next((i for i, o in enumerate(offers) if o.digest == old.offer.digest), None)
        if k is None:
            return
        c = neg.contract
        closing = c.accept if c is not None else self.statements.get(neg.closed_by) if neg.closed_by else None
        answers = [*offers[k + 1 :], closing]
        for offer, nxt in zip(offers[k:], answers, strict=True):
            if offer is not old.offer:
                exp = book.by_mandate.get(offer.mandate_digest)
                if exp is None or not exp.holds(offer.digest):
                    self._offer_live(offer)
            if nxt is None:
                book.offer_unanswered(offer.mandate_digest, offer.digest)
            else:
                book.offer_reanswered(offer.mandate_digest, offer.digest, _place(nxt, offer))
        if c is None:
            return
        booked = book.by_mandate.get(c.accept.mandate_digest)
        if booked is None or not booked.holds(c.id):
            offer, accept = c.offer, c.accept
            book.offer_accepted(
                offer.mandate_digest, offer.digest, _place(accept, offer), accept.issued_at_ms
            )
            self._contract_formed(c, c.accept)
        else:
            for party_vs in (c.offer, c.accept):
                book.contract_undisplaced(party_vs.mandate_digest, c.id)
            self._count_again(neg)
        self._track_activation(neg)

    def _count_witnessed(self, accept: VerifiedStatement) -> None:
        """NEG-021 (d): the contract of ``accept``, derived again as the negotiation's
        (:meth:`_witness_cut_off`), counts for both parties from its Accept's place, in its period, as in a
        view that held the Stamp first (SPEC 4.5): booked now if it never was (the Accept was taken
        superseded), its displacement by the lower answer undone if it was cut back."""
        neg = self.negotiations.by_id.get(accept.negotiation_id)
        c = neg.contract if neg is not None else None
        if neg is None or c is None or c.accept.digest != accept.digest:
            return
        booked = self.exposure.by_mandate.get(c.accept.mandate_digest)
        if booked is None or not booked.holds(c.id):
            offer = c.offer
            self.exposure.offer_accepted(
                offer.mandate_digest, offer.digest, _place(accept, offer), accept.issued_at_ms
            )
            self._contract_formed(c, accept)
            self._track_activation(neg)
        else:
            for party_vs in (c.offer, c.accept):
                self.exposure.contract_undisplaced(party_vs.mandate_digest, c.id)
            self._count_again(neg)
        self._count_line_as_witnessed_first(neg)

    def _count_line_as_witnessed_first(self, neg: Negotiation) -> None:
        """NEG-021 (d): the line before ``neg``'s witnessed contract counts as in a view that held that
        contract before the lower answer it passed -- that answer taken superseded, moving nothing (section
        4.5) -- whatever order they came in: the offer it answered counts until the line's answer to it, each
        Counter of the line after it from its own place until the next answer (for the last, the first answer
        held of those the Accept displaced, or the Accept: :meth:`_count_cut_off_line` counts what it cut
        off); the lower answer and what answers it in turn count nowhere -- a Counter, a contract of an
        Accept --, as statements answering a superseded offer. Called when a witnessed Accept took the line
        back past a lower answer held first (the branch, or a cut-back undone by a late Stamp)."""
        c = neg.contract
        if c is None or not neg.superseded:
            return
        book, offers = self.exposure, neg.offers
        fork = len(offers)
        held = self._superseded_held(neg)
        passed: set[bytes] = set()
        for offer in offers:  # a lower answer the line passed answers an offer of the line
            for vs in held.answering.get(offer.digest, ()):
                at = neg.passed_lower_answer(vs)
                if at is not None:
                    fork = min(fork, at)
                    passed.add(vs.digest)
        passed = self._count_nowhere(held, passed)
        refused: set[bytes] = set()

        def refused_held_first(vs: VerifiedStatement, tip: VerifiedStatement) -> bool:
            if self._refused_held_first(vs, tip):
                refused.add(vs.digest)
                return True
            return False

        cut_off = neg.cut_off_line(held, passed, refused_held_first)
        if refused:  # held first it would not have been held: booked as taken before the Stamp, now nowhere
            self._count_nowhere(held, refused)
        answers = [*offers[1:], c.accept]
        for k in range(fork, len(offers)):
            offer = offers[k]
            exp = book.by_mandate.get(offer.mandate_digest)
            if exp is None or not exp.holds(offer.digest):
                if k == fork:
                    continue
                self._offer_live(offer)  # taken superseded, never counted: from its own place
            if offer.issuer == self.me and self._bound_until(offer) is not None:
                continue  # our guard's own, bonded: counted until its escrow took the answer (section 4.5)
            until = _place(answers[k], offer)
            if k == len(offers) - 1 and cut_off:  # the contract's offer: until its first answer held
                until = min(until, _place(cut_off[0], offer))
            book.offer_reanswered(offer.mandate_digest, offer.digest, until)
        self._count_cut_off_line(neg, cut_off)

    def _count_nowhere(self, held: HeldSuperseded, roots: set[bytes]) -> set[bytes]:
        """``roots`` and what answers them in turn, of ``held`` (a negotiation's statements taken
        superseded), count nowhere -- a Counter, a contract of an Accept (displaced at its own Accept) -- as
        in a view that held the witnessed contract first (section 4.5: an answer it passed, or one it
        refused, and what answers either). Returns them all; visits them alone."""
        book = self.exposure
        nowhere = set(roots)
        todo = [vs for d in roots if (vs := self.statements.get(d)) is not None]
        found = list(todo)
        while todo:  # what answers one, in turn
            for vs in held.answering.get(todo.pop().digest, ()):
                if vs.digest not in nowhere:
                    nowhere.add(vs.digest)
                    todo.append(vs)
                    found.append(vs)
        for vs in found:
            if vs.body == "counter":
                book.offer_dead(vs.mandate_digest, vs.digest)
            elif vs.body == "accept" and (accepted := self.statements.get(cited(vs))) is not None:
                for party_vs in (accepted, vs):  # its contract: displaced at its own Accept, nowhere
                    book.contract_displaced(party_vs.mandate_digest, vs.digest, _place(vs, party_vs))
        return nowhere

    def _count_cut_off_line(self, neg: Negotiation, line: list[VerifiedStatement]) -> None:
        """SPEC 4.5, NEG-017: ``line``, what the witnessed Accept of ``neg``'s contract cut off after its
        offer (:meth:`Negotiation.cut_off_line`), counts as in a view that held that Accept before the lower
        answer it passed: each Counter from its own place until its answer or the witnessed Accept,
        whichever is first, and the contract of an Accept on it from that Accept's place, in its period,
        until the witnessed Accept's place -- not until the lower answer's, which moves nothing (NEG-021
        (d)), nor nowhere, as statements answering an offer the lower answer had cut off -- and ended where
        its own statements end it (MND-023), as any displaced contract."""
        c = neg.contract
        assert c is not None, "a line is cut off by a witnessed Accept, whose contract the negotiation holds"
        book, witnessed = self.exposure, c.accept
        for i, vs in enumerate(line):
            if vs.body == "counter":
                exp = book.by_mandate.get(vs.mandate_digest)
                if exp is None or not exp.holds(vs.digest):
                    self._offer_live(vs)  # taken superseded, never counted: from its own place
                if vs.issuer == self.me and self._bound_until(vs) is not None:
                    continue  # our guard's own, bonded: counted until its escrow took the answer
                at = _place(witnessed, vs)
                if i + 1 < len(line):
                    at = min(at, _place(line[i + 1], vs))
                book.offer_reanswered(vs.mandate_digest, vs.digest, at)
            elif vs.body == "accept":
                accepted = line[i - 1] if i else c.offer
                cut = Contract(accepted, vs, proposal_of(accepted))
                twice = self._answered_twice(neg, cut)
                if twice:  # NEG-023: it binds its offerer to nothing -- nowhere, from its own Accept's place
                    book.contract_displaced(accepted.mandate_digest, cut.id, _place(vs, accepted))
                for party_vs in (cut.offer, cut.accept)[twice:]:
                    exp = book.by_mandate.get(party_vs.mandate_digest)
                    if exp is not None and exp.holds(cut.id):
                        book.contract_undisplaced(party_vs.mandate_digest, cut.id)
                        book.contract_reopened(
                            party_vs.mandate_digest, cut.id, cut.last_deadline_ms, formed_ms=vs.issued_at_ms
                        )
                    else:  # taken superseded, never booked
                        book.contract_formed(
                            party_vs.mandate_digest,
                            cut.id,
                            cut.value_given(party_vs.issuer),
                            vs.issued_at_ms,
                            from_offer=accepted.digest,
                            last_deadline_ms=cut.last_deadline_ms,
                            start=_place(vs, party_vs),
                        )
                    book.contract_displaced(party_vs.mandate_digest, cut.id, _place(witnessed, party_vs))
                # reopened: dated again by the ending its statements give -- ``cut`` alone, the one contract
                # reopened here (not every one displaced: displaced31, a key's Accepts in reverse order)
                self._book_ended(neg)
                if (shadow := (neg.displaced or {}).get(vs.digest)) is not None:
                    self._book_ended(shadow)

    def _answered_twice(self, neg: Negotiation, cut: Contract) -> bool:
        """NEG-023 on a line a witnessed Accept cut off: whether ``cut``'s Accept, the lower of its key's
        answers to an offer naming no escrow there, has another answer of that key to the same offer held
        beside it (taken superseded) -- then ``cut`` binds its offerer to nothing, and the recount of the
        line (:meth:`_count_cut_off_line`) books it for its acceptor alone, as a view holding the line and
        both answers before the witnessed Accept counts it, whichever order they came in."""
        offer, accept = cut.offer, cut.accept
        if proposal_of(offer).terms.escrow:
            return False
        return any(
            offer.issued_at_ms <= other.issued_at_ms <= offer.expires_at_ms
            for other in self._other_answers_held(neg, accept)
        )

    def _superseded_held(self, neg: Negotiation) -> HeldSuperseded:
        """``neg``'s statements held superseded, indexed (:attr:`_superseded_index`): built from memory once,
        then kept in step as its statements are taken (:meth:`_keep_superseded_up`)."""
        index = self._superseded_index
        if index is None:
            index = self._superseded_index = {}
        nid = neg.id
        held = index.get(nid)
        if held is None or not held.fits(neg):
            statements = self.statements
            held = index[nid] = HeldSuperseded(
                neg, (vs for d in neg.superseded if (vs := statements.get(d)) is not None)
            )
        return held

    def _keep_superseded_up(self, neg: Negotiation, vs: VerifiedStatement) -> None:
        """``vs`` was just applied to ``neg``: its index of statements superseded, if it has one, takes it
        (or is dropped, built again when next read, if ``neg`` changed otherwise)."""
        index = self._superseded_index
        held = index.get(vs.negotiation_id) if index else None
        if index and held is not None and not held.keep_up(neg, vs):
            del index[vs.negotiation_id]

    def _answers_held(
        self,
    ) -> dict[tuple[str, bytes], tuple[list[VerifiedStatement], list[VerifiedStatement]]]:
        """:attr:`_answers_by_key`, built from memory once if pickled before it existed."""
        index = self._answers_by_key
        if index is None:
            index = self._answers_by_key = {}
            for vs in dict.values(self.statements):
                if vs.negotiation_id and vs.body in ("counter", "accept", "reject"):
                    _add_answer(index, vs)
        return index

    def _note_answer(self, vs: VerifiedStatement) -> None:
        """Note ``vs``, just held, in :attr:`_answers_by_key` if it is a Counter, Accept or Reject."""
        if vs.body in ("counter", "accept", "reject"):
            if self._answers_by_key is None:
                self._answers_held()  # built from memory, ``vs`` in it
            else:
                _add_answer(self._answers_by_key, vs)

    def _forget_answers(self, dropped: Iterable[VerifiedStatement]) -> None:
        """The answers of a negotiation being forgotten leave :attr:`_answers_by_key` with it: every answer to
        one statement is of that statement's negotiation."""
        index = self._answers_by_key
        if index:
            for vs in dropped:
                if vs.body in ("counter", "accept", "reject"):
                    index.pop((vs.issuer, cited(vs)), None)

    def _other_answers_held(self, neg: Negotiation, answer: VerifiedStatement) -> Iterator[VerifiedStatement]:
        """The answers of ``answer``'s key to the statement it answers, but ``answer``, that ``neg`` holds
        superseded (NEG-021, NEG-023 on a line a witnessed Accept cut off), in the order taken: read from
        :attr:`_answers_by_key`, that key's answers to that statement alone."""
        entry = self._answers_held().get((answer.issuer, cited(answer)))
        superseded = neg.superseded
        for other in entry[1] if entry is not None else ():
            if other.digest != answer.digest and other.digest in superseded:
                yield other

    def _unbook_answered_twice(self, vs: VerifiedStatement, neg: Negotiation) -> None:
        """NEG-023 on a line a witnessed Accept cut off: ``vs``, taken superseded, answers the offer of a
        contract kept displaced there (:attr:`Negotiation.displaced`) naming no escrow, by that contract's
        acceptor and higher in its chain than its Accept: the contract binds its offerer to nothing from now
        on -- nowhere, from its own Accept's place -- as :meth:`_count_cut_off_line` books it where ``vs``
        came first.

        Each such contract once (displaced31: a key's Accepts in reverse chain order keep one more each, and
        its answers above them then each read them all): one booked for a higher answer of the key stays
        booked -- only the recount of the cut-off line undoes it, for the Accept on the line, and books it
        again there (``vs`` is held beside it). So an answer reads those it is newly above alone
        (:meth:`Negotiation.displaced_below`), all of one offer, which says whether any is unbooked."""
        offer = self.statements.get(cited(vs))
        if (
            offer is None
            or proposal_of(offer).terms.escrow
            or not offer.issued_at_ms <= vs.issued_at_ms <= offer.expires_at_ms
        ):
            return
        for shadow in neg.displaced_below(offer.digest, vs, newly=True):
            cut = shadow.contract
            if cut is not None:
                self.exposure.contract_displaced(offer.mandate_digest, cut.id, _place(cut.accept, offer))

    def _passes_answer_held(self, vs: VerifiedStatement, neg: Negotiation) -> bool:
        """Whether ``vs``, taken superseded, is lower in its key's chain than another answer of that key to
        the same offer held superseded (NEG-021 on a line a witnessed Accept cut off); only for an answer to
        an offer held superseded. One lookup: the key's answer highest in its chain, held superseded, is
        higher (or is ``vs``, and none is); a pass over the key's answers only where that one is not held
        superseded (the line's own)."""
        entry = self._answers_held().get((vs.issuer, cited(vs)))
        if entry is None:
            return False
        top = entry[0][0]
        if top.digest == vs.digest:
            return False
        if top.digest in neg.superseded:
            return chain_place(vs) < chain_place(top)
        return any(chain_place(vs) < chain_place(other) for other in self._other_answers_held(neg, vs))

    def _witnessed_accept(self, accept: VerifiedStatement, neg: Negotiation) -> bool:
        """NEG-019: whether the escrow the offer ``accept`` accepts names holds a Stamp of it by the bonding
        cutoff (NEG-009 is then no ground to refuse it)."""
        offer = neg.contract.offer if neg.contract is not None and neg.contract.accept is accept else None
        offer = offer or self.statements.get(accept.statement.accept.offer)
        escrow = proposal_of(offer).terms.escrow if offer is not None else ""
        at = self.witness.stamp_time(escrow, accept.digest) if escrow else None
        return offer is not None and at is not None and at <= offer.expires_at_ms + BOND_GRACE_MS

    def _hold_off(self, nid: bytes, neg: Negotiation, accept: VerifiedStatement) -> None:
        """``accept`` moves nothing in ``neg`` from now on (NEG-009, :meth:`_settle_exclusive`): the
        negotiation derived again from its statements held without it (what rested on it refused there and
        held, moving nothing), its contract counted nowhere and its offer live again in the exposure, as in
        a view that refused it."""
        c = neg.contract
        assert c is not None
        self._held_off[accept.digest] = nid
        members = self._members(neg)
        ordered = [vs for vs in self._held_of(nid) if vs.digest in members]
        self._derive_again(nid, ordered)
        for party_vs in (c.offer, c.accept):
            self.exposure.contract_withdrawn(party_vs.mandate_digest, c.id)
        self.exposure.offer_unanswered(c.offer.mandate_digest, c.offer.digest)
        self.disowning += 1

    def _let_in_again(self, digest: bytes) -> None:
        """A Stamp of an Accept held off (:meth:`_hold_off`) came: witnessed (NEG-019), it moves its
        negotiation again -- derived again with it, as a view that heard the Stamp first takes it. Its
        negotiation forgotten (bounded memory, section 4.5), it is read back from the archive into memory and
        let in as in a verifier that holds it (MND-024): read back with this Stamp held, its Accept forms
        the contract already, which no count holds yet -- it was held off until this Stamp."""
        nid = self._held_off_of(digest)
        accept = self.statements.get(digest)
        held = nid is not None and nid in self.negotiations.by_id
        neg = self.negotiations.find(nid) if nid is not None else None  # in memory, or read back
        if nid is None or neg is None or accept is None or not self._witnessed_accept(accept, neg):
            return
        if not held:
            self._hold_again(nid, neg)
        self._held_off.pop(digest, None)
        if self._held_off_archived and not self._archive_held_off_rows([(_LET_IN + digest, nid)]):
            self._held_off[digest] = b""  # let in: kept in memory where the archive cannot take the mark
        members = {*self._members(neg), digest}
        ordered = [vs for vs in self._held_of(nid) if vs.digest in members]
        c = neg.contract  # read back with this Stamp held: the contract its Accept forms, counted nowhere yet
        c_before = c if held or c is None or c.accept.digest != digest else None
        self._derive_again(nid, ordered)
        fresh = self.negotiations.by_id.get(nid)
        c = fresh.contract if fresh is not None else None
        if fresh is not None and c is not None and c_before is None:
            offer = c.offer
            self.exposure.offer_accepted(
                offer.mandate_digest, offer.digest, _place(c.accept, offer), c.accept.issued_at_ms
            )
            self._contract_formed(c, c.accept)
            self._track_activation(fresh)
        self.disowning += 1

    def _members(self, neg: Negotiation) -> set[bytes]:
        """The digests of the statements ``neg`` holds (as :meth:`_rederive` reads them), with every Accept
        held off in it."""
        members = {*(o.digest for o in neg.offers), *(d for *_, d in neg.history if d), *neg.superseded}
        c = neg.contract
        if c is not None:
            members.update(c.deliveries, c.pending, c.claims)
        members.update(d for d, of in self._held_off.items() if of == neg.id)
        return members

    def _held_off_of(self, digest: bytes) -> bytes | None:
        """The negotiation of the Accept ``digest`` if it is held off (:meth:`_hold_off`): its mark in memory,
        or -- its negotiation forgotten since (bounded memory, section 4.5) -- in the archive, where
        :meth:`forget_negotiation` wrote it. Only statements not in memory can have one there: a held-off
        Accept whose negotiation is in memory is marked in memory. One let in since is marked so apart
        (:meth:`_let_in_again`), under its own key: a peer restarting from a snapshot drops the rows written
        after it (``drop_forgotten``), and so drops that mark alone, never the hold-off before it."""
        nid = self._held_off.get(digest)
        if nid is not None or not self._held_off_archived or dict.__contains__(self.statements, digest):
            return nid or None  # empty: let in, its mark kept in memory (the archive did not take it)
        archive = self.archive
        if not isinstance(archive, ExposureArchive):
            return None
        rows = dict(archive.forgotten_since(_HELD_OFF_BOOK, digest, until=digest))  # its marks alone
        return None if _LET_IN + digest in rows else rows.get(digest)

    def _archive_held_off(self, nid: bytes) -> list[bytes]:
        """The marks of :attr:`_held_off` of negotiation ``nid``, being forgotten, leave memory for the
        archive (an :class:`ExposureArchive`), whence :meth:`_held_off_of` reads them: a verifier that
        forgets keeps no mark of what it forgot in memory, and reads its negotiation back held off as before
        (MND-024). Kept in memory when the archive cannot take them (none, or one that only reads). Returns
        the Accepts whose marks it took: they leave memory with the negotiation's other statements."""
        marks = [d for d, of in self._held_off.items() if of == nid]
        if not marks or not self._archive_held_off_rows([(d, nid) for d in marks]):
            return []
        for d in marks:
            del self._held_off[d]
        return marks

    def _archive_held_off_rows(self, rows: list[tuple[bytes, bytes]]) -> bool:
        """Write ``(key, negotiation id)`` marks -- an Accept's digest, or :data:`_LET_IN` and its digest
        once let in -- to the archive's book of held-off Accepts, durably; whether it took them. A mark is
        derived from the statements the archive holds (the hold-off or Stamp a replay of them makes again),
        so one lost before it is written is rebuilt."""
        archive = self.archive
        if not isinstance(archive, ExposureArchive):
            return False
        try:
            archive.keep_forgotten([(_HELD_OFF_BOOK, k, k.removeprefix(_LET_IN), nid) for k, nid in rows])
        except Exception:  # a local fault of the archive (one that only reads): kept in memory, as before
            return False
        self._held_off_archived = True
        return True

    def _derive_again(self, nid: bytes, ordered: list[VerifiedStatement]) -> None:
        """``nid``'s negotiation, derived again from ``ordered`` (:meth:`_replay`), into memory, indexed."""
        restore = self.negotiations.restore
        self.negotiations.forget(nid)
        self.negotiations.restore = lambda _nid: self._replay(ordered)
        try:
            self.negotiations._held(nid)
        finally:
            self.negotiations.restore = restore
        self.contracts_moved += 1

    # -- bounded memory (a2a_coop.protocol.archive) ----------------------------------

    def use_archive(self, archive: Archive, *, replay: bool = True) -> None:
        """Read what is not in memory from ``archive``, which holds every statement accepted so far
        and, from now on, each one before it may be forgotten. ``replay``: also for the replay memory
        (off while memory is being rebuilt from that same archive, where every statement is in it)."""
        self._checked = None
        self.archive = archive
        self.statements.archive = archive
        self.negotiations.restore = self._restore
        for view in self.chains.values():
            view.archive = archive
        self.replay.archive = archive if replay else None
        self.exposure.use_archive(archive if isinstance(archive, ExposureArchive) else None)

    def forget_negotiation(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        """Drop a negotiation and its statements from memory (the archive keeps them); returns the
        statements dropped. A later statement naming it brings it back from the archive."""
        self._checked = None
        held_off = self._archive_held_off(negotiation_id) if self._held_off else []
        neg = self.negotiations.forget(negotiation_id)
        if neg is None:
            return []
        c = neg.contract
        # It stays in the exposure, dated as it was (SPEC 4.5: a forgotten contract counts exactly as a
        # held one, from its Accept until its ending, and in its period from its Accept). One not finished
        # stays as it is, open, for the statements that may still end it. Each contract a witnessed Accept
        # or a lower answer displaced (NEG-017, NEG-021) is dated ended by that displacement already, and
        # leaves with it: kept, a key revealing lower answers one at a time grew every view by a contract
        # and an offer a cut-back, for good.
        ended = [c] if c is not None and neg.contract_finished else []
        live = c.id if c is not None else None  # a contract formed again since is not displaced
        ended += [
            s.contract
            for s in (neg.displaced or {}).values()
            if s.contract is not None and s.contract.id != live
        ]
        for contract in ended:
            for party_vs in (contract.offer, contract.accept):
                self.exposure.contract_forgotten(party_vs.mandate_digest, contract.id)
        digests = {neg.first.digest, *(d for *_, d in neg.history if d), *neg.superseded, *held_off}
        c = neg.contract
        if c is not None:
            digests.update(c.deliveries, c.pending, c.claims)
        if c is not None and self._bare_accepts:
            self._unindex_bare_accept(c.accept)  # forgotten finished: its booking stays as it is
        dropped = [vs for d in digests if (vs := self.forget_statement(d)) is not None]
        self._forget_answers(dropped)
        if self._superseded_index:
            self._superseded_index.pop(negotiation_id, None)
        # An answered offer, kept for statements before its answer: those of the line and those a
        # witnessed Accept or a lower answer cut off it (superseded, NEG-018).
        offers = {o.digest: o for o in (*neg.offers, *(vs for vs in dropped if vs.body in _OFFERS))}
        for offer in offers.values():
            self.exposure.answer_forgotten(offer.mandate_digest, offer.digest)
        if self._held_by_negotiation is not None:
            self._held_by_negotiation.pop(negotiation_id, None)  # the archive keeps them, in that order
        for nids in (self._naming_escrow or {}).values():
            nids.pop(negotiation_id, None)
        for d in digests if self._exposed_answers else ():
            self._exposed_answers.pop(d, None)  # its offer counts until asked_escrow or its bound
        self.witness.forget(digests, neg.parties)
        return dropped

    def forget_statement(self, digest: bytes) -> VerifiedStatement | None:
        """Drop one statement from memory (the archive keeps it)."""
        self._checked = None
        vs = dict.pop(self.statements, digest, None)
        if vs is not None:
            self.replay.forget(vs, digest)
        return vs

    def _restore(self, negotiation_id: bytes) -> Negotiation | None:
        """A forgotten negotiation, rebuilt from its statements in the archive (None if it has none)."""
        envelopes = self.archive.negotiation(negotiation_id) if self.archive is not None else []
        neg = self._replay((verify_statement(envelope) for envelope in envelopes), recorded=False)
        if neg is not None and self._naming_escrow:
            self._note_naming(negotiation_id, neg)  # kept, its contract may be rebuilt (ESC-022 (e))
        return neg

    def _replay(self, statements: Iterable[VerifiedStatement], recorded: bool = True) -> Negotiation | None:
        """The negotiation ``statements`` make, the first opening it, the others applied in the order given
        (the order they were taken): one refused now moves nothing (ERR-003) and stays held as evidence --
        a revoked escrow key's own from a hand-over honoured since (ESC-022 (e)), one only a Stamp disowned
        since let in (KEY-009 (d)). Taken superseded, a Counter or Accept continued the cut-off line only had
        it been held first, and held first it was refused (MND-022): the line's open end comes back where it
        was (MND-024). ``recorded``: read the Stamps recorded apart from one being given now (WIT-003), as a
        negotiation taken live does; an archived one is read with every Stamp held."""
        neg: Negotiation | None = None
        for vs in statements:
            if neg is None:
                neg = Negotiation(
                    vs, self.witness.stamp_time, self.witness.recorded_stamp_time if recorded else None
                )
                neg.hold_unwitnessed = self.negotiations.hold_unwitnessed
                continue
            if (
                (self._held_off or self._held_off_archived)
                and vs.body == "accept"
                and self._held_off_of(vs.digest) is not None
                and not self._witnessed_accept(vs, neg)
            ):
                continue  # NEG-009: held off by a contract holding its exclusive_key (_settle_exclusive)
            branch = neg.branch
            try:
                neg.apply(vs)
            except CoopError:
                continue
            if branch is not None and neg.branch is not branch and not self._counted_on_the_line(vs):
                neg.branch = branch
                neg.drop_displaced(vs.digest)
        return neg

    def _counted_on_the_line(self, vs: VerifiedStatement) -> bool:
        """Whether ``vs``, a Counter or Accept that continued a cut-off line when it was taken (superseded,
        NEG-018), was counted then (:meth:`_track_cut_off`) rather than refused held first (MND-022): the
        exposure of its issuer's Mandate holds its offer, or its contract (an Accept's contract is never
        forgotten: displaced). A Reject or a Withdraw, or a statement under no Mandate, always was."""
        if vs.body not in ("counter", "accept") or not vs.mandate_digest:
            return True
        exp = self.exposure.by_mandate.get(vs.mandate_digest)
        return exp is not None and exp.holds(vs.digest)

    def revocation_uncounted(self, vs: VerifiedStatement) -> bool:
        """RPC-016 (c), ESC-017 (c): whether ``vs``, a KeyRevocation not held yet, is one a newcomer quota
        takes uncounted (of a key it holds a statement of, its caller checks), whoever else spent a
        count: the first of its revoker (the key itself or a principal it is bound to, KEY-004) or that
        revoker's one correction -- its second, moving the key's effective revocation earlier than every
        one held. A later one
        counts for its revoker: counted for the key, the key's thief spent that count with statements of
        the key dated before the first revocation (tests/test_attack18.py); counted for its revoker, a
        party's principal at an escrow -- in its dealings, unfunded, no statement of a contract earning
        it credit -- had no room at all, and its correction was refused every period
        (tests/test_attack19.py). One correction a revoker and key bounds what a principal bound to a key
        of its own can add by stepping the effective time back a millisecond at a time."""
        r = vs.statement.key_revocation
        n = self.revokers.get(r.key, {}).get(vs.issuer, 0)
        if n == 0:
            return True
        if n != 1 or r.key not in self.revoked:
            return False
        return _earliest(vs) < self.revoked[r.key]

    def attested(self, issuer: str, contract: bytes) -> bool:
        """Whether ``issuer``'s attestation of ``contract`` (an Accept's digest) is held (ATT-002)."""
        return (issuer, contract) in self._attested

    def attestation_counts(self, attestation: VerifiedStatement) -> bool:
        """Whether ``attestation``, held, is the one of its issuer for its contract that counts: the one
        at the lowest seq held (ATT-002). Another one at a lower seq, heard later, displaces it, so that
        verifiers holding the same attestations weigh the same one, whatever order they came in."""
        key = (attestation.issuer, attestation.statement.attestation.accept)
        held = self._attested.get(key)
        return held is not None and held[1] == attestation.digest

    # -- steps ----------------------------------------------------------------------

    def _chain(self, issuer: str) -> ChainView:
        view = self.chains.get(issuer)
        if view is None:
            view = ChainView(issuer, complete=self.complete_chains, archive=self.archive)
        return view

    def _check_not_dated_back(self, vs: VerifiedStatement, now_ms: int) -> None:
        """TIM-006: a statement addressed to us, received live, acts now. Dated further back than the
        skew, it was held back or lies about its time -- unless its contract's escrow stamped it within
        the skew of its date (WIT-002): a delivery made on time, re-sent after a crash, stays good; and
        a Delivery the escrow stamped by its item's deadline plus the tolerance is timely (WIT-003),
        whatever it took to reach us, so the ruling that rests on it is one we can follow; and an Accept
        the escrow stamped by its offer's expiry plus the tolerance formed a contract (WIT-004)."""
        issued = vs.issued_at_ms
        if issued >= now_ms - self.skew_ms:
            return
        escrow = self._escrow_of(vs)
        stamped = self.witness.stamp_time(escrow, vs.digest) if escrow else None
        if stamped is not None:
            if stamped <= issued + self.skew_ms:
                return
            deadline = self._deadline_of(vs) if vs.body == "delivery" else None
            if deadline is not None and issued <= deadline and stamped <= deadline + CLOCK_TOLERANCE_MS:
                return
            # An Accept its offer's escrow witnessed in time for WIT-004 formed a contract there, binding
            # our bond whatever we say: its acceptor may have held it back to keep us from performing
            # (ESC-012), and refusing it now would only finish that.
            offer = self.statements.get(vs.statement.accept.offer) if vs.body == "accept" else None
            if offer is not None and stamped <= offer.expires_at_ms + CLOCK_TOLERANCE_MS:
                return
        raise IssuedInPast(
            f"issued {now_ms - issued} ms before our clock (skew {self.skew_ms}) and not witnessed then",
            requirement="TIM-006",
        )

    def _deadline_of(self, delivery: VerifiedStatement) -> int | None:
        """The deadline of the item a Delivery names; None if it names none of its contract's items."""
        neg = self.negotiations.find(delivery.negotiation_id)
        c = neg.contract if neg is not None else None
        index = delivery.statement.delivery.item_index
        if c is None or delivery.issuer not in c.parties or index >= len(c.items(delivery.issuer)):
            return None
        return c.items(delivery.issuer)[index].deadline_ms

    def _escrow_of(self, vs: VerifiedStatement) -> str:
        """The escrow of the contract ``vs`` belongs to, if any: for a statement naming another (an answer or
        a Withdraw its offer, a Delivery, BreachClaim or Revoke its contract's Accept, a Receipt its
        Delivery), the escrow the statements it names lead to (:meth:`naming_chain`), held or as they
        travelled with a gossiped proof (ATT-025) -- its signer's own word, which no order of arrival
        moves: the contract an Accept forms is its offer's whatever the negotiation moved on to since, and a
        Delivery of a contract NEG-017 displaced is that contract's, which a third party reads from its links
        alike (tests/test_gossip_displaced_link.py); none where a statement it names is not held (KEY-009
        (e)); else (an escrow's own statement of a contract), its negotiation held, that negotiation's
        contract's escrow or its outstanding offer's."""
        if vs.body in _NAMES:
            # KEY-009 (e): a link not held, none -- the contract or outstanding offer held is not the one it
            # names, whose escrow its signer chose; read so, a Stamp by an escrow it does not name convicted a
            # principal its revocation spares where the link is held (chains.json AcceptOfAnOfferNotHeld,
            # NamedStatementNotHeld)
            chain = self.naming_chain(vs)
            return proposal_of(chain[-1]).terms.escrow if chain else ""
        neg = self.negotiations.find(vs.negotiation_id)
        if neg is None:
            return ""
        if neg.contract is not None:
            return neg.contract.escrow
        return proposal_of(neg.outstanding).terms.escrow

    def naming_chain(
        self, vs: VerifiedStatement, carried: Mapping[bytes, VerifiedStatement] = _NOTHING
    ) -> list[VerifiedStatement]:
        """ATT-025: the statements ``vs`` names, link by link (:data:`_NAMES`), up to the Offer or Counter
        whose terms name its escrow -- each held as a statement, or as it travelled with a gossiped proof
        (:attr:`shown_statements`), or among ``carried`` (a swap's, verified); empty when a link is missing
        or of another kind."""
        chain: list[VerifiedStatement] = []
        at = vs
        while at.body in _NAMES:
            field, kinds = _NAMES[at.body]
            digest = getattr(getattr(at.statement, at.body), field)
            named = self.statements.get(digest)
            if named is None:
                named = self.shown_statements.get(digest) or carried.get(digest)
            if named is None or named.body not in kinds:
                return []
            chain.append(named)
            at = named
        return chain

    def _revocation(self, key: str, digest: bytes) -> tuple[bytes, ...]:
        """The KeyRevocation held of ``key`` with ``digest``, as a refusal's evidence (RPC-006 (a))."""
        return tuple(r.envelope for r in self.revocations_of.get(key, ()) if r.digest == digest)

    def disowned(
        self,
        vs: VerifiedStatement,
        via: Sequence[VerifiedStatement] = (),
        *,
        read_with: Sequence[VerifiedStatement] = (),
    ) -> bool:
        """Whether ``vs`` is one a KeyRevocation held disowns (KEY-009): issued by a key, or under a
        Mandate of a principal whose key, a revocation held withdraws from at or before its
        issued_at_ms (KEY-004, MND-012), and not witnessed by its escrow before that escrow witnessed
        every such revocation. A view weighs an attestation resting on one as nothing (ATT-020), whether
        it took the statement before the revocation or not: the order it heard them in decides nothing.

        ``via``: for a Mandate (a statement of no negotiation, no escrow of its own), the statements read
        with it (a rating's evidence) that name it: it is witnessed as KEY-009 says when one of their
        witnessing escrows stamped it, or that statement, before each revocation or rotation that escrow
        stamped -- the escrow took the Mandate as evidence then (WIT-001, MND-002). Else its principal
        disowns it, and an escrowed breach under it, by one rotation back below it (test_attack25.py).

        ``read_with``: statements that rest on ``vs`` -- for an Offer or Counter a contract rests on naming
        another escrow or none, the later ones of its negotiation up to the Accept that the contract's
        escrow witnesses (ATT-020 (c)) --: ``vs`` is witnessed as KEY-009 says when one's witnessing escrow
        stamped ``vs``, or it, before each revocation or rotation that escrow stamped; ``vs``'s own
        escrow's Stamps, its issuer's choice, are not read."""
        if read_with:
            return all(self._disowned_by(vs, s) for s in read_with)
        if vs.body == "mandate" and via:
            naming = [s for s in via if s.mandate_digest == vs.digest and s.digest != vs.digest]
            return all(self._disowned_by(vs, s) for s in naming) if naming else self._disowned_by(vs, None)
        return self._disowned_by(vs, None)

    def _disowned_by(self, vs: VerifiedStatement, via: VerifiedStatement | None) -> bool:
        """:meth:`disowned`, ``vs`` witnessed (if at all) by ``via``'s witnessing escrow (a Mandate ``via``
        names), or by its own when ``via`` is None."""
        rotated = self.rotated.get(vs.issuer)
        if rotated is not None and vs.seq > rotated and not self._stamped_before_rotation(vs, via):
            return True  # KEY-005 ends the chain below it, and its escrow did not witness it first
        if not self.revoked:
            return False
        issuer = vs.issuer
        keys = [issuer]
        record = self.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
        if record is not None and record.principal != issuer:
            keys.append(record.principal)
        for key in keys:
            if key == issuer:
                reached = (
                    self._may_reach(key, vs.issued_at_ms, vs.seq)
                    and self._reaching(key, vs.issued_at_ms, vs.seq, self._authority(vs)) is not None
                )
            else:
                effective = self._principal_cut(record)
                reached = effective is not None and vs.issued_at_ms >= effective
            if reached and not self._stamped_first(vs, key, record, via):
                return True
        # KEY-010 in the escrow's order: its escrow stamped it after a revocation it had stamped, at or
        # after that revocation's effective_ms (:meth:`_stamped_after`)
        return vs.body in _STAMP_TIMED and self._stamped_after(vs, record, via) is not None

    def _may_be_disowned(self, digest: bytes) -> bool:
        """Whether ``digest`` is a statement held in memory whose issuer, or whose Mandate's principal, a
        held KeyRevocation names: a Stamp of it may change what :meth:`disowned` says of it."""
        held = dict.get(self.statements, digest)
        if held is None:
            return False
        record = self.mandates.get(held.mandate_digest) if held.mandate_digest else None
        return held.issuer in self.revoked or (record is not None and record.principal in self.revoked)

    def _kept_as_evidence(self, vs: VerifiedStatement | None) -> bool:
        """KEY-009 (b), (c), (d): a view of evidence (``evidence_view``: an auditor, an observer, a reputation
        system, section 11.4) holds ``vs``, which a held KeyRevocation or KeyRotation would reject (KEY-004,
        KEY-005, MND-012, KEY-010 (c), KEY-012), whatever it is -- a statement of a negotiation, with a
        witnessing escrow or none, a Mandate (its witness a statement naming it, KEY-009 (a)), or one of no
        negotiation -- as it holds one it took before them, and derives what counts from the statements
        held (:meth:`disowned`; a disowned Stamp witnesses nothing, :meth:`_reweigh_stamps`). Refused, it
        was weighed by the order alone: a view that held its Stamp first counted the contract, one that
        heard it first kept nothing (tests/test_mandate_order.py); one no escrow can witness moved its
        negotiation only in a view that heard it before the revocation (tests/test_unwitnessed_order.py);
        and a revoked escrow key's Stamp witnessed, a revocation by a revoked key revoked, only there
        (tests/test_no_negotiation_order.py). A live receiver and an escrow taking evidence refuse it
        (KEY-004, KEY-005, KEY-010): they trade with no key its principal revoked or rotated out."""
        return vs is not None and self.evidence_view

    def _stamped_first(
        self,
        vs: VerifiedStatement,
        key: str,
        record: _MandateRecord | None = None,
        via: VerifiedStatement | None = None,
    ) -> bool:
        """Whether the escrow of ``vs`` (:meth:`witnessing_escrow`) stamped it -- a Stamp held, not one it is
        giving now -- before every Stamp of its naming a revocation of ``key`` held whose effective_ms is
        at or before ``vs``'s issued_at_ms (KEY-009). The escrow's Stamps decide, never the revocation's
        times: its revoker chose those. ``via``: a statement naming ``vs``, a Mandate (:meth:`disowned`)."""
        escrow, first = self._witnessed_at(vs, via)
        if first is None:
            return False
        own = key == vs.issuer
        authority = self._authority(vs) if own else ""
        at = (vs.issued_at_ms, vs.seq)
        for r in self.revocations_of.get(key, ()):
            reaches = (
                self._reach_of(r, key, authority, at) is not None
                if own
                else self._mandate_reach(r, record) <= vs.issued_at_ms
            )
            if not reaches:
                continue  # it does not reach vs (KEY-004, KEY-011)
            place = self._stamp_place(escrow, r.digest)
            if place is not None and not _before(first, place):
                return False
        return True

    def _witnessed_at(
        self, vs: VerifiedStatement, via: VerifiedStatement | None
    ) -> tuple[str, _StampPlace | None]:
        """The escrow that witnesses ``vs`` for KEY-009 and where it first stamped it: its own
        (:meth:`witnessing_escrow`); for a Mandate read ``via`` a statement naming it, that statement's
        witnessing escrow, at its earliest Stamp of the Mandate or of that statement (it took the Mandate
        as evidence when it took the statement, MND-002, WIT-001)."""
        if via is None:
            escrow = self.witnessing_escrow(vs)
            return escrow, self._stamp_place(escrow, vs.digest) if escrow else None
        escrow = self.witnessing_escrow(via)
        if not escrow:
            return escrow, None
        places = [p for p in (self._stamp_place(escrow, d) for d in (vs.digest, via.digest)) if p is not None]
        if len(places) == 2 and _before(places[1], places[0]):
            return escrow, places[1]
        return escrow, places[0] if places else None

    def _stamped_before_rotation(self, vs: VerifiedStatement, via: VerifiedStatement | None = None) -> bool:
        """Whether the escrow of ``vs`` stamped it before it stamped each KeyRotation of its issuer held
        at a seq below ``vs``'s (KEY-005 as KEY-009 reads it): the rotation's seq and time are its
        signer's to choose, and a key that signs one back into a gap of its chain below a statement its
        escrow witnessed must not disown that statement for a view that heard the rotation first
        (tests/test_attack20.py) -- nor, by signing one below a rotation the escrow stamped before the
        statement, keep a statement the escrow took past its chain's end (keytime.json). ``via``: a
        statement naming ``vs``, a Mandate (:meth:`disowned`)."""
        escrow, first = self._witnessed_at(vs, via)
        if first is None:
            return False
        for seq, rotation in self.rotations_of.get(vs.issuer, ()):
            place = self._stamp_place(escrow, rotation) if seq < vs.seq else None
            if place is not None and not _before(first, place):
                return False
        return True

    def _stamp_seq(self, stamp: bytes) -> int | None:
        """The seq of the Stamp ``stamp`` (a digest) when it is held, else None."""
        held = self.statements.get(stamp)
        return None if held is None else held.seq

    def _stamp_place(self, escrow: str, digest: bytes) -> _StampPlace | None:
        """Where ``escrow`` first stamped ``digest`` (a Stamp held that witnesses: in a view of evidence none
        disowned, KEY-009 (d), :meth:`_reweigh_stamps`): (time, the Stamp's signer -- the escrow key or a
        successor of it, ESC-022 --, the Stamp's seq, the digest's place in it), or (time,) when that Stamp
        is not at hand; None when unstamped."""
        at = self.witness.recorded_stamp_time(escrow, digest)
        if at is None:
            return None
        stamp_digest = self.witness.stamp_of(escrow, digest)
        stamp = self._held_stamp(stamp_digest) if stamp_digest else None
        if stamp is None or stamp.issued_at_ms != at:  # one the escrow itself recorded, or memory forgot
            return (at,)
        return (at, stamp.issuer, stamp.seq, list(stamp.statement.stamp.statements).index(digest))

    def counting_stamp(self, escrow: str, digest: bytes) -> VerifiedStatement | None:
        """The earliest Stamp held naming ``digest`` by ``escrow`` (or a successor acting for it, ESC-022)
        that witnesses (in a view of evidence, none disowned: KEY-009 (d)); None when none is held (or
        memory forgot it)."""
        stamp_digest = self.witness.stamp_of(escrow, digest)
        return self._held_stamp(stamp_digest) if stamp_digest else None

    def _held_stamp(self, digest: bytes) -> VerifiedStatement | None:
        """The Stamp ``digest``, held as a statement or read for a revocation alone (ATT-024)."""
        held = self.statements.get(digest)
        if held is None and digest in self.revocation_stamps:
            return self.revocation_stamps[digest][0]
        return held

    def take_revocation_stamp(
        self, vs: VerifiedStatement, revocations: Collection[bytes]
    ) -> list[bytes] | None:
        """ATT-024: read the Stamp ``vs``, which a swap carried with a fork proof, for its entries of
        ``revocations`` (the KeyRevocations of the proof's key it carried) alone, when it names other
        statements too -- an escrow batches what it stamps (WIT-001 (a)). Checked as any statement
        (section 11, against nothing its signer signed before: it joins no chain here) and held as no
        statement: its other entries would move what the swap's sender chose, when it chose (ATT-019); the
        same Stamp taken later on its own path is taken whole. Kept only while it is its signer's earliest
        Stamp held of one of those revocations -- one it makes no longer so is dropped --, so what they
        cost is bounded by the escrows whose Mandates we hold times the revocations we hold.

        Returns:
            None when not kept; else the digests of those it replaced (the caller keeps it across
            restarts, and them no longer).

        Raises:
            CoopError: it fails a check.
        """
        if (
            vs.body != "stamp"
            or vs.digest in self.revocation_stamps
            or dict.__contains__(self.statements, vs.digest)
        ):
            return None
        reads = frozenset(revocations) & set(vs.statement.stamp.statements)
        earliest = {
            d
            for d in reads
            if (at := self.witness.recorded_stamp_time(vs.issuer, d)) is None or vs.issued_at_ms < at
        }
        if not earliest:
            return None
        self.check(vs, alone=True)
        replaced = [
            d
            for d, (held, was) in self.revocation_stamps.items()
            if held.issuer == vs.issuer and was <= earliest
        ]
        for d in replaced:
            del self.revocation_stamps[d]
        self.restore_revocation_stamp(vs, frozenset(earliest))
        return replaced

    def restore_revocation_stamp(self, vs: VerifiedStatement, reads: frozenset[bytes]) -> None:
        """Hold ``vs`` as :meth:`take_revocation_stamp` kept it (a restart: checked when it was taken)."""
        self.revocation_stamps[vs.digest] = (vs, reads)
        self._record_revocation_stamp(vs, reads)

    def _record_revocation_stamp(self, vs: VerifiedStatement, reads: frozenset[bytes]) -> None:
        if self._stamp_disowned(vs):
            return  # KEY-009 (d): it witnesses nothing
        for digest in sorted(reads):
            self.witness.record_stamp(vs.issuer, digest, vs.issued_at_ms, vs.digest)
        self.disowning += 1  # a statement its signer stamped after the revocation may be disowned now

    def unwitnessing(self, stamp: VerifiedStatement) -> bool:
        """KEY-009 (d): whether ``stamp``, a Stamp held by this view of evidence, is disowned and so
        witnesses nothing -- no statement it names is stamped by it (WIT-001, WIT-002, WIT-005, KEY-009's
        **witnessed before**, ATT-020 (a))."""
        return stamp.digest in self._unwitnessing

    def _stamp_disowned(self, vs: VerifiedStatement) -> bool:
        """KEY-009 (d): whether a view of evidence holds the Stamp ``vs`` as witnessing nothing -- a held
        KeyRevocation or KeyRotation of its signer, or of its Mandate's principal, would reject it. A Stamp
        has no witnessing escrow, so this reads revocations, rotations and bindings only, never a Stamp:
        no cycle (a Stamp of a revocation never decides whether a Stamp is disowned)."""
        return self.evidence_view and bool(self.revoked or self.rotated) and self._disowned_by(vs, None)

    def _reweigh_stamps(self, key: str) -> None:
        """KEY-009 (d) in a view of evidence: what ``key``'s revocations, rotations or bindings just changed
        -- whether each Stamp held signed by ``key``, or under a Mandate ``key`` issued, is disowned -- is
        carried into the witness index, whatever order the view heard them in: a Stamp now disowned is
        taken out (the earliest of the others that witness takes its place) and one no longer disowned put
        in; the negotiations of what they name are derived again from the statements held, as a view that
        heard the revocation first derived them (:meth:`_rederive`). Only Stamps in memory are read."""
        changed: list[VerifiedStatement] = []
        carried = [vs for vs, _ in self.revocation_stamps.values()]  # ATT-024's, held as no statement
        for held in [*dict.values(self.statements), *carried]:
            if held.body != "stamp":
                continue
            if held.issuer != key:
                record = self.mandates.get(held.mandate_digest) if held.mandate_digest else None
                if record is None or record.principal != key:
                    continue
            if self._stamp_disowned(held) != (held.digest in self._unwitnessing):
                changed.append(held)
        if not changed:
            return
        named: set[tuple[str, bytes]] = set()
        unwitnessing = set(self._unwitnessing)
        for stamp in changed:
            if stamp.digest in unwitnessing:
                unwitnessing.discard(stamp.digest)
            else:
                unwitnessing.add(stamp.digest)
            named.update((stamp.issuer, d) for d in stamp.statement.stamp.statements)
        self._unwitnessing = unwitnessing
        by_issuer: dict[str, set[bytes]] = {}
        for issuer, d in named:
            by_issuer.setdefault(issuer, set()).add(d)
        for issuer, digests in by_issuer.items():
            self.witness.forget_stamps(issuer, digests)
        for held in list(dict.values(self.statements)):  # the Stamps that witness, again (KEY-009's order)
            if held.body != "stamp" or held.issuer not in by_issuer or held.digest in self._unwitnessing:
                continue
            for d in held.statement.stamp.statements:
                if d in by_issuer[held.issuer]:
                    self.witness.record_stamp(
                        held.issuer, d, held.issued_at_ms, held.digest, seq=held.seq, seq_of=self._stamp_seq
                    )
        for held, reads in list(self.revocation_stamps.values()):  # read for their revocations alone
            if held.issuer in by_issuer and held.digest not in self._unwitnessing:
                for d in sorted(reads & by_issuer[held.issuer]):
                    self.witness.record_stamp(held.issuer, d, held.issued_at_ms, held.digest)
        self.disowning += 1
        self._rederive({d for _, d in named})

    def _rederive(self, digests: set[bytes], *, settle: bool = True) -> None:
        """Derive again, from the statements held in the order they were taken, the negotiations of the
        statements ``digests`` names whose Stamps that witness just changed (:meth:`_reweigh_stamps`), as
        :meth:`_restore` derives a forgotten one from the archive."""
        nids = set()
        for d in digests:
            vs = dict.get(self.statements, d)
            if vs is not None and vs.negotiation_id and vs.negotiation_id in self.negotiations.by_id:
                nids.add(vs.negotiation_id)
        if not nids:
            return
        self._checked = None
        for nid in nids:
            neg = self.negotiations.by_id[nid]
            members = {*(o.digest for o in neg.offers), *(d for *_, d in neg.history if d), *neg.superseded}
            c = neg.contract
            if c is not None:
                members.update(c.deliveries, c.pending, c.claims)
            for shadow in (neg.displaced or {}).values():
                members.update(d for *_, d in shadow.history if d)
                sc = shadow.contract
                if sc is not None:
                    members.update(sc.deliveries, sc.pending, sc.claims)
            ordered = [vs for d, vs in dict.items(self.statements) if d in members]
            restore = self.negotiations.restore
            self.negotiations.forget(nid)
            self.negotiations.restore = lambda _nid, held=ordered: self._replay(held)
            try:  # brought back into memory and indexed, as a forgotten one is
                derived = self.negotiations._held(nid)
            finally:
                self.negotiations.restore = restore
            self.contracts_moved += 1
            if derived:
                self._count_again(self.negotiations.by_id[nid])  # a contract live again counts again
        if settle:  # NEG-009 read again for contracts live again (ESC-022 (e), KEY-009 (d)), not a late Stamp
            self._settle_exclusive(nids)

    def witnessing_escrow(self, vs: VerifiedStatement) -> str:
        """The escrow whose Stamp witnesses ``vs`` for KEY-009: an Offer's or Counter's own (a contract
        of it names that one), otherwise that of the contract ``vs`` belongs to (:meth:`_escrow_of`); ""
        for a statement of no negotiation."""
        if vs.body in ("offer", "counter"):
            return proposal_of(vs).terms.escrow
        return self._escrow_of(vs)

    def _check_key(self, key: str, issued_at_ms: int, seq: int, vs: VerifiedStatement | None = None) -> None:
        """KEY-004 (with KEY-011's reach, and KEY-009's exception for ``vs``), KEY-005."""
        hit = (
            self._reaching(key, issued_at_ms, seq, "" if vs is None else self._authority(vs))
            if self._may_reach(key, issued_at_ms, seq)
            else None
        )
        if hit is not None and not self._kept_as_evidence(vs):
            if vs is not None:
                self._check_own_revocation_fork(key, vs)  # KEY-012; one kept as evidence is taken (KEY-013)
            reach, digest = hit
            raise KeyRevoked(
                f"revoked from {utc_text(reach)} (reach_ms={reach})",
                requirement="KEY-004",
                evidence=self._revocation(key, digest),
                reach_ms=reach,
            )
        rotated = self.rotated.get(key)
        # KEY-005 ends the key's chain, which the key's own revocation joins in no sparse view (KEY-013):
        # every verifier takes it above a rotation, its fork with one kept as a proof at commit -- refused
        # there, a live receiver or an escrow revoked the key only if it heard the revocation first
        if rotated is None or seq <= rotated or (vs is not None and self._out_of_chain(vs)):
            return
        if vs is not None:
            self._check_rotation_fork(key, vs)  # KEY-012 (a)
        if not self._kept_as_evidence(vs):
            rotation = self.rotations.get(key)
            raise KeyRevoked(
                "key was rotated out; its chain has ended",
                requirement="KEY-005",
                evidence=() if rotation is None else (rotation,),
            )

    def _check_own_revocation_fork(self, key: str, vs: VerifiedStatement) -> None:
        """KEY-012: ``vs``, a statement of ``key`` that a held revocation reaches, at the seq of a
        KeyRevocation of ``key`` by ``key`` held (another digest), or at the next seq not linking to it, is
        refused as the fork it is -- `EQUIVOCATION` (CHN-004), `CHAIN_BROKEN` (CHN-003) -- with the two
        envelopes as its proof, before KEY-004 would refuse it `KEY_REVOKED` with the revocation alone: else
        a view that heard a thief's revocation signed into a seq the key had used refused the key's
        statements there with no proof of the fork, while a view that heard them first refused the
        revocation with one, and only the latter held the key's principals faulty (ATT-013)."""
        for r in self.revocations_of.get(key, ()):
            if r.issuer != key:
                continue
            if vs.seq == r.seq and vs.digest != r.digest:
                raise Equivocation(
                    f"two statements at seq {vs.seq}, one the key's own revocation (KEY-012)",
                    requirement="CHN-004",
                    evidence=(r.envelope, vs.envelope),
                )
            if vs.seq == r.seq + 1 and vs.prev != r.digest:
                raise ChainBroken(
                    f"prev at seq {vs.seq} does not match the key's own revocation at seq {r.seq} (KEY-012)",
                    requirement="CHN-003",
                    evidence=(r.envelope, vs.envelope),
                )

    def _note_own_revocation_fork(self, view: ChainView, vs: VerifiedStatement) -> None:
        """KEY-013: keep the fork proof ``vs`` -- a KeyRevocation of its issuer by itself, being taken --
        makes with the statements of its issuer's chain held, or with another of its own revocations."""
        try:
            view.check(vs)
        except (Equivocation, ChainBroken) as e:
            if len(e.evidence) == 2:
                self._note_fork(vs.issuer, (e.evidence[0], e.evidence[1]))
                return
        for r in self.revocations_of.get(vs.issuer, ()):
            fork = _fork_of(r, vs) if r.issuer == vs.issuer else None
            if fork is not None:
                self._note_fork(vs.issuer, fork)
                return

    def _note_fork(self, key: str, proof: tuple[bytes, bytes]) -> None:
        """KEY-013: ``proof``, two statements of ``key`` both taken that no one chain holds, one a
        KeyRevocation of ``key`` by itself: kept, the first one per key (ATT-011, ATT-013)."""
        self.own_revocation_forks.setdefault(key, proof)

    def _out_of_chain(self, vs: VerifiedStatement) -> bool:
        """KEY-013: whether ``vs`` is a KeyRevocation of its issuer by itself, read by a sparse view: it joins
        no chain and holds no nonce. A complete log (CHN-002) has its issuer's one order, and holds it as
        any statement."""
        return not self.complete_chains and joins_no_chain(vs)

    def _check_rotation_fork(self, key: str, vs: VerifiedStatement) -> None:
        """KEY-012 (a): ``vs``, a statement of ``key`` above a KeyRotation of ``key`` held (which KEY-005
        refuses), at the rotation's next seq not linking to it, is refused as the fork it is --
        `CHAIN_BROKEN` (CHN-003) -- with the two envelopes as its proof, before KEY-005 would refuse it
        `KEY_REVOKED` with the rotation alone: else a view that heard a thief's rotation signed into a seq the
        key had used refused the key's next statement with no proof of the fork, while a view that heard that
        statement first refused the rotation with one (tests/test_attack21_rotation_fork.py). At the
        rotation's own seq KEY-005 refuses nothing, and the chain check finds the fork."""
        for seq, digest in self.rotations_of.get(key, ()):
            if vs.seq == seq + 1 and vs.prev != digest:
                rotation = self.statements.get(digest)
                if rotation is None:
                    continue  # forgotten: KEY-005 refuses it with the rotation the verifier kept
                raise ChainBroken(
                    f"prev at seq {vs.seq} does not match the key's rotation at seq {seq} (KEY-012)",
                    requirement="CHN-003",
                    evidence=(rotation.envelope, vs.envelope),
                )

    def _check_revoked_at_stamp(self, vs: VerifiedStatement, record: _MandateRecord | None) -> None:
        """KEY-010: a BreachClaim or Revoke takes effect at its escrow's Stamp (WIT-005), an Offer,
        Counter or Accept binds its issuer's bond at the escrow when the escrow takes it (WIT-004), and a
        Receipt discharges an obligation there then (CMT-001), not at the time its signer wrote; a live
        receiver (a claim or Revoke) and an escrow taking evidence and its audit (all six) refuse one
        whose earliest Stamp by its witnessing escrow -- held, or the one the escrow is giving it now --
        is at or after the effective_ms of a KeyRevocation held of its issuer or of its Mandate's
        principal: it would act after the key was withdrawn. Else a thief racing the principal dates its
        Revoke (or its Accept of an accomplice's bonded offer) just before the revocation's effective_ms
        and has the escrow forfeit the bond the principal's key put up (tests/test_attack20.py), or its
        Receipt of an accomplice's worthless Delivery and has the escrow release the accomplice's bond
        the principal could have claimed (tests/test_attack21.py)."""
        escrow = self.witnessing_escrow(vs)
        at = self.witness.stamp_time(escrow, vs.digest) if escrow else None
        if at is None:
            return  # unstamped: no effect yet
        # No shortcut for a Stamp at or before the statement's own time: KEY-004 reads the key's own
        # revocation by seq too (KEY-011 (a)), this rule by the Stamp's time alone (KEY-011 (d)), so a
        # statement below that revocation in its chain, stamped at or after its reach, is refused here
        authority = record.principal if record else ""
        for key, requirement in ((vs.issuer, "KEY-010"), (authority, "KEY-010")):
            if not key or key not in self.revoked:
                continue
            # KEY-011: from when a revocation reaches the key's statements under this authority
            hit = (
                self._cut_by(key, authority, (vs.issued_at_ms, vs.seq))
                if key == vs.issuer
                else self._principal_cut_by(record)
            )
            if hit is not None and at >= hit[0]:
                raise KeyRevoked(
                    f"taken at its escrow's stamp ({at}), after its key was revoked from {hit[0]}",
                    requirement=requirement,
                    evidence=self._revocation(key, hit[1]),
                    reach_ms=hit[0],
                )

    def _stamped_after(
        self, vs: VerifiedStatement, record: _MandateRecord | None, via: VerifiedStatement | None = None
    ) -> tuple[str, int, int] | None:
        """KEY-010 in the escrow's order: (key, effective_ms, the Stamp's time) of a held KeyRevocation of
        ``vs``'s issuer or of its Mandate's principal that ``vs``'s witnessing escrow stamped before its
        earliest Stamp held of ``vs`` (KEY-009's order), that Stamp issued at or after the revocation's
        effective_ms; else None. ``via``: a statement resting on ``vs``, whose witnessing escrow reads it
        at its earliest Stamp of either (:meth:`_witnessed_at`, ATT-020 (c))."""
        escrow, first = self._witnessed_at(vs, via)
        if first is None:
            return None
        at = first[0]
        authority = record.principal if record is not None else ""
        for key in (vs.issuer, authority):
            for r in self.revocations_of.get(key, ()) if key else ():
                effective = (
                    self._reach(r, key, authority, (vs.issued_at_ms, vs.seq))[0]
                    if key == vs.issuer
                    else self._mandate_reach(r, record)
                )
                if effective > at:
                    continue
                place = self._stamp_place(escrow, r.digest)
                if place is not None and _before(place, first):
                    return key, effective, at
        return None

    def _check_mandate(self, vs: VerifiedStatement) -> _MandateRecord | None:
        """MND-002, MND-012, then the stateless content checks MND-003..MND-008."""
        mandate = vs.mandate_digest
        if not mandate and vs.body in PRINCIPAL_BODIES:
            return None
        record = self.mandates.get(mandate)
        if record is None:
            raise MandateUnknown("the verifier does not hold the referenced mandate", requirement="MND-002")
        # MND-012 with KEY-011 (c); not for a key's statement under its own Mandate, which KEY-004 with
        # KEY-011 (a) and (b) reads as any of its statements (MND-025)
        hit = (
            self._principal_cut_by(record)
            if record.principal != vs.issuer and record.principal in self.revoked
            else None
        )
        if hit is not None and vs.issued_at_ms >= hit[0] and not self._kept_as_evidence(vs):
            reach, digest = hit
            raise KeyRevoked(
                f"the mandate's principal key was revoked from {utc_text(reach)} (reach_ms={reach})",
                requirement="MND-012",
                evidence=self._revocation(record.principal, digest),
                reach_ms=reach,
            )
        accepted = self._accepted_proposal(vs) if vs.body == "accept" else None
        check_against_mandate(vs, record.mandate, accepted)
        return record

    def _check_claimable_under_mandate(self, vs: VerifiedStatement, record: _MandateRecord) -> None:
        """MND-019, our guard only: an Offer, Counter or Accept of ours whose terms leave an item of either
        side due so late that the claim window after it (CLAIM_WINDOW_MS) reaches past the validity of
        the Mandates we hold from its principal (:meth:`claimable_until`) is refused. MND-003 refuses
        every statement of ours issued from valid_until_ms on -- our Delivery, Receipt or BreachClaim of
        that contract too -- so the counterparty, who may have written the deadlines, could deliver
        nothing and keep its bond."""
        last = last_deadline(vs, self._accepted_proposal(vs))
        if not last:
            return
        needed = last + CLAIM_WINDOW_MS
        end = self.claimable_until(record, vs.audience, needed)
        if needed >= end:
            raise MandateViolation(
                f"an item falls due at {utc_text(last)}: its claim window ends at {utc_text(needed)}, "
                f"past the validity of our Mandates ({utc_text(end)}), after which we could sign no "
                "Delivery, Receipt or BreachClaim of the contract; a renewed Mandate of the same principal "
                "and agent whose validity joins ours and covers it lets us sign",
                requirement="MND-019",
            )

    def _hold_mandate(self, vs: VerifiedStatement) -> _MandateRecord:
        """Hold the Mandate ``vs``, in :attr:`mandates` and by its grant."""
        m = vs.statement.mandate
        record = self.mandates[vs.digest] = _MandateRecord(vs.issuer, m, vs.issued_at_ms, m.agent, vs.seq)
        if self._mandates_by_grant is not None:
            self._mandates_by_grant.setdefault((vs.issuer, m.agent), {})[vs.digest] = None
        return record

    def _drop_mandate(self, digest: bytes) -> None:
        record = self.mandates.pop(digest)
        index = self._mandates_by_grant
        if index is not None:
            grant = (record.principal, record.agent)
            held = index[grant]
            del held[digest]
            if not held:
                del index[grant]

    def _mandates_from(self, principal: str, agent: str) -> list[tuple[bytes, _MandateRecord]]:
        """The Mandates held from ``principal`` for ``agent`` (digest, record), in the order they came."""
        index = self._mandates_by_grant
        if index is None:  # pickled before it existed: built once, from memory
            index = self._mandates_by_grant = {}
            for d, r in self.mandates.items():
                index.setdefault((r.principal, r.agent), {})[d] = None
        mandates = self.mandates
        return [(d, mandates[d]) for d in index.get((principal, agent), ())]

    def claimable_until(self, record: _MandateRecord, counterparty: str, needed: int | None = None) -> int:
        """MND-019, ESC-019: until when the agent of ``record`` can still sign the statements of a contract
        with ``counterparty`` (its Delivery, Receipt, BreachClaim): the Mandate's valid_until_ms, extended
        -- when ``needed`` (the time it must reach) is None or not before it -- by each held Mandate of the
        same principal for the same key that allows ``counterparty`` (MND-005: a Delivery and our claims
        are addressed to it) and whose [valid_from_ms, valid_until_ms) contains the end reached so far (a
        renewal, section 4.7), then cut at the effective_ms of a held KeyRevocation of the key (KEY-004)
        or of the principal (MND-012): each of these refuses a statement issued after it under every such
        Mandate. A renewal restricted to other counterparties, or one a scheduled revocation cuts short,
        would otherwise stretch the validity the contract's claims need (tests/test_attack21.py)."""
        principal, agent = record.principal, record.agent
        end = record.mandate.valid_until_ms
        if needed is None or needed >= end:
            renewals = sorted(
                (r.mandate.valid_from_ms, r.mandate.valid_until_ms)
                for _, r in self._mandates_from(principal, agent)
                if not r.mandate.allowed_counterparties or counterparty in r.mandate.allowed_counterparties
            )
            for start, until in renewals:  # the stretch of validity joined up with the one we sign under
                if start <= end < until:
                    end = until
        if self.revoked:
            for effective in (self._cut(agent, principal), self._principal_cut(record)):  # KEY-011
                if effective is not None and effective < end:
                    end = effective
        return end

    def renewals_of(self, digest: bytes) -> list[bytes]:
        """The held Mandates of the principal and agent of the Mandate ``digest`` that join its validity
        (each starting at or before the end reached so far and ending after it: a renewal, section 4.7),
        in that order: what :meth:`claimable_until` may read, for a party to send before its Accept."""
        record = self.mandates.get(digest)
        if record is None:
            return []
        end, out = record.mandate.valid_until_ms, []
        for start, until, d in sorted(
            (r.mandate.valid_from_ms, r.mandate.valid_until_ms, d)
            for d, r in self._mandates_from(record.principal, record.agent)
            if d != digest
        ):
            if start <= end < until:
                end = until
                out.append(d)
        return out

    def contract_outlives(
        self, offer: VerifiedStatement, accept: VerifiedStatement
    ) -> MandateViolation | None:
        """ESC-019: the refusal of a contract -- ``accept`` of ``offer`` -- under which the last item
        deadline of either side plus the claim window is at or after the end of either party's
        :meth:`claimable_until` (its Mandate as held), else None. Past that end a party can sign no claim
        of it (MND-003): its counterparty, who may have chosen the deadlines, would take its Delivery and
        keep its own bond, whatever that party's own guard does (MND-019 binds ours only)."""
        proposal = proposal_of(offer)
        last = max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0)
        if not last:
            return None
        needed = last + CLAIM_WINDOW_MS
        for vs, other in ((offer, accept.issuer), (accept, offer.issuer)):
            record = self.mandates.get(vs.mandate_digest) if vs.mandate_digest else None
            if record is None:
                continue  # MND-002 reports it
            end = self.claimable_until(record, other, needed)
            if needed >= end:
                return MandateViolation(
                    f"an item falls due at {utc_text(last)}: its claim window ends at {utc_text(needed)}, "
                    f"past the end of the validity of {vs.issuer:.40}'s Mandates held ({utc_text(end)}), "
                    "after which it could sign no claim of the contract; submit a renewal of its Mandate "
                    "(same principal and agent, joining it and covering the claim window) before the Accept",
                    requirement="ESC-019",
                )
        return None

    def signs_until(self, mandate_digest: bytes) -> int | None:
        """ESC-020: until when the key of the held Mandate ``mandate_digest`` can sign under it -- its
        valid_until_ms (MND-003), cut at the effective_ms of a held KeyRevocation of the key (KEY-004) or
        of its principal (MND-012); None when the Mandate is not held. No renewal extends it: an escrow
        signs under the one Mandate its operator runs it with (ESC-002), and a renewal counts once it runs
        under it."""
        record = self.mandates.get(mandate_digest)
        if record is None:
            return None
        end = record.mandate.valid_until_ms
        for effective in (self._cut(record.agent, record.principal), self._principal_cut(record)):
            if effective is not None and effective < end:  # KEY-011
                end = effective
        return end

    def escrow_outlived(self, offer: VerifiedStatement, mandate_digest: bytes) -> MandateViolation | None:
        """ESC-020: the refusal of a contract of ``offer`` by the escrow signing under the Mandate
        ``mandate_digest``, when the last time it may have to sign about it -- the Ruling of a claim on the
        last item stamped at the end of its claim window, due a response window later, signed at a tick
        up to the clock tolerance after that: last deadline + 86400000 + response window + 30000 -- is at
        or after :meth:`signs_until`; else None. Past that end MND-003 refuses every statement the escrow
        signs: a claim goes unstamped (WIT-005), no Ruling, Forfeit, Release or lapse is signed, and both
        bonds stay locked (tests/test_attack22.py)."""
        needed = last_ruling_ms(proposal_of(offer))
        end = self.signs_until(mandate_digest)
        if not needed or end is None or needed < end:
            return None
        return MandateViolation(
            f"a Ruling on a claim of the contract's last item may be due until {utc_text(needed)} (its "
            "deadline, then the claim window, the response window and the clock tolerance), "
            f"past the end of the escrow's validity ({utc_text(end)}), after which it could sign no Stamp, "
            "Ruling, Forfeit, Release or Refund of the contract; its operator renews its Mandate first",
            requirement="ESC-020",
        )

    def _accepted_proposal(self, vs: VerifiedStatement) -> trade_pb2.Offer | None:
        if vs.body != "accept":
            return None
        offer = self.statements.get(vs.statement.accept.offer)
        return proposal_of(offer) if offer is not None and offer.body in ("offer", "counter") else None

    def _check_exposure(
        self,
        vs: VerifiedStatement,
        record: _MandateRecord,
        event: Event | None,
        now_ms: int | None = None,
        *,
        booked: bool = False,
    ) -> None:
        """MND-009, MND-010 for statements that commit value (``booked``: ``vs`` is held already, and is
        not counted against itself, :meth:`ExposureBook.check`).

        A statement of our own is being checked by our policy guard (MND-011): it counts our offers
        as live for ``skew_ms`` after they expire, since an Accept issued at expiry may reach us that
        much later and will still be taken -- and at least until their bonding cutoff (expires + 30 s),
        until which an escrow may stamp an Accept that binds us however late we learn of it. Everyone
        else's statements are judged by the rule as written (grace 0), so every verifier computes the
        same numbers.
        """
        if event not in _VALUE_EVENTS:
            return
        if self.as_signed and self.me is not None and vs.issuer == self.me:
            return  # replaying our journal: what we signed, as it was signed (section 4.5)
        value = committed_value(vs, self._accepted_proposal(vs))
        if value is None:
            return
        if event is not _OFFER and event is not _COUNTER and self._witnessed_before(vs):
            return  # NEG-019: its escrow checked these caps in its view, which is what bonds it
        # Ours: counted for the skew past expiry, and at least to a bonding cutoff (expires + 30 s), until
        # which an escrow may still stamp an Accept of the offer (NEG-017, section 4.5) -- both by our
        # clock: a statement dated ahead of it (our chain set to a counterparty's pace, NEG-014, CHN-005)
        # shortens neither.
        grace = 0
        if self.me is not None and vs.issuer == self.me:
            ahead = vs.issued_at_ms - now_ms if now_ms is not None and vs.issued_at_ms > now_ms else 0
            grace = max(self.skew_ms, CLOCK_TOLERANCE_MS) + ahead
        # Ours: every offer and contract held binds us, whatever its date; everyone else's statement counts
        # only those that started before it (SPEC 4.5), so a sparse view agrees with a complete one.
        ours = self.me is not None and vs.issuer == self.me
        self.exposure.check(
            vs,
            record.mandate,
            value,
            self._held_in(vs, value),
            grace_ms=grace,
            dated_starts=not ours,
            booked=booked,
        )

    def guard_holds(self, now_ms: int) -> GuardHolds:
        """What our guard holds at ``now_ms``, copied: reading it changes nothing."""
        # Each key we keep an entry for, with the offers still holding it (none: kept, to be dropped).
        exclusive = {
            key: {d: h for d, h in held.items() if h[3] >= now_ms}
            for key, held in self._own_exclusive.items()
        }
        return GuardHolds(exclusive, dict(self._cut_off_counted), dict(self._exposed_answers))

    def guard_refuses(self, vs: VerifiedStatement, now_ms: int) -> str | None:
        """The code our guard would refuse ``vs`` (an Offer or Counter of ours) with at ``now_ms`` for an
        exclusive_key still held (NEG-020), else None. Asked of a statement not taken, it changes nothing
        but what asking always drops: the holds of the key past their time, and the key's entry if none is
        left (:meth:`guard_holds` reads it after)."""
        try:
            self._check_exclusive_held(vs, now_ms)
        except CoopError as exc:
            return exc.code
        return None

    def _check_exclusive_held(self, vs: VerifiedStatement, now_ms: int | None = None) -> None:
        """NEG-020, our guard only: ``vs``, an Offer or Counter of ours carrying an exclusive_key, is
        refused while that key may still bind us in another negotiation through an escrow -- an offer of
        ours with the key naming an escrow that has not taken its answer (an Accept of it the escrow
        witnesses binds us whatever NEG-009 says in our view, NEG-019), or, when ``vs`` names an escrow,
        any offer of ours with the key still acceptable or a live contract holding it (an Accept of
        ``vs`` that escrow witnesses binds us beside it). An offer naming an escrow holds the key past its
        bonding cutoff -- an Accept stamped before it still binds -- until we asked that escrow after the
        cutoff (:meth:`asked_escrow`), or, nobody asking, until a contract of it could no longer be
        claimed under; one naming none, until it expires (plus our skew). Offers naming no escrow may run
        side by side (NEG-009 in our view)."""
        proposal = proposal_of(vs)
        key = proposal.exclusive_key
        if not key or not self.hold_exposed:
            return
        nid, escrow = vs.negotiation_id, proposal.terms.escrow
        if escrow and self.negotiations.exclusive_holder(vs.issuer, key, nid, vs) is not None:
            raise ExclusiveConflict(
                f"a live contract of ours holds this exclusive_key: an Accept escrow {escrow:.40} witnessed"
                " would bind us beside it (NEG-019)",
                requirement="NEG-020",
            )
        held = self._own_exclusive.get(key)
        if held is None:
            return
        at = vs.issued_at_ms if now_ms is None else min(vs.issued_at_ms, now_ms)  # by our clock
        for digest, (of_nid, of_escrow, _, until) in list(held.items()):
            if until < at:
                del held[digest]  # nothing can bind us to it any more, or no claim come of it
            elif of_nid != nid and (escrow or of_escrow) and self._may_still_bind(digest, of_nid, of_escrow):
                raise ExclusiveConflict(
                    f"our offer {digest.hex()[:16]} carries this exclusive_key and may still bind us: "
                    + (
                        f"escrow {of_escrow:.40} has not taken its answer (NEG-017)"
                        if of_escrow
                        else "it is still outstanding"
                    ),
                    requirement="NEG-020",
                )
        if not held:
            del self._own_exclusive[key]

    def asked_escrow(
        self, negotiation_id: bytes, now_ms: int, escrow: str, vouched: Mapping[bytes, int] | None = None
    ) -> int | None:
        """Our runtime showed ``escrow`` the line of our offers in ``negotiation_id`` at ``now_ms`` and
        took its answer (ESC-013): an offer of ours naming it whose bonding cutoff plus the clock
        tolerance was not after ``now_ms``, and that the escrow's word dated past that cutoff names
        (``vouched``: offer digest -> the time of the escrow's Checkpoint naming it, ESC-013 (i)), binds
        us only through the contract that answer revealed, if any, which holds its exclusive_key (NEG-009)
        and counts (MND-010) as any contract does: the hold of NEG-020 ends for it, and so does that of
        section 4.5 -- for it, and for any of our offers there whose answer the escrow took (its Stamp
        held now: the negotiation may have been forgotten). The cutoff alone frees nothing: our own offer's
        expiry is ours to choose, and a Counter of ours held off the line was never shown to the escrow
        with the line, while an Accept of it there still binds us (NEG-021 (d)). Returns, when it freed an
        offer for its cutoff (nothing in our statements says so), until when that holding would have
        lasted -- for a runtime to keep the fact across a restart -- else None."""
        word: Mapping[bytes, int] = vouched or {}

        def vouched_past(digest: bytes, expires_ms: int) -> bool:
            return word.get(digest, 0) > expires_ms + BOND_GRACE_MS

        freed: int | None = None
        me = self.me
        neg = self.negotiations.find(negotiation_id) if me is not None else None
        if me is not None and neg is not None:
            exposed = {o.digest for o in neg.exposed_offers(me)}
            formed = neg.contract.offer.digest if neg.contract is not None else b""
            for offer in neg.offers:
                if offer.issuer != me or offer.digest == formed or self._bound_until(offer) is None:
                    continue
                past = offer.expires_at_ms + BOND_GRACE_MS + CLOCK_TOLERANCE_MS <= now_ms
                ours = past and proposal_of(offer).terms.escrow == escrow
                if (ours and vouched_past(offer.digest, offer.expires_at_ms)) or offer.digest not in exposed:
                    self.exposure.offer_dead(offer.mandate_digest, offer.digest)
                    if offer.digest in exposed:
                        freed = max(freed or 0, self._bound_until(offer) or 0)
        for digest, (of_escrow, mandate, of_nid) in list(self._cut_off_counted.items()):
            counter = self.statements.get(digest)  # its negotiation may be forgotten: the archive's
            expires = counter.expires_at_ms if counter is not None else now_ms
            past = expires + BOND_GRACE_MS + CLOCK_TOLERANCE_MS <= now_ms
            if of_nid == negotiation_id and of_escrow == escrow and past and vouched_past(digest, expires):
                del self._cut_off_counted[digest]  # held off the line: the escrow's word names it
                self.exposure.offer_dead(mandate, digest)
                freed = max(freed or 0, self._bound_until(counter) or 0) if counter is not None else freed
        for key, held in list(self._own_exclusive.items()):
            for digest, (of_nid, of_escrow, expires, _) in list(held.items()):
                past = expires + BOND_GRACE_MS + CLOCK_TOLERANCE_MS <= now_ms
                if (
                    of_nid == negotiation_id
                    and of_escrow == escrow
                    and past
                    and vouched_past(digest, expires)
                ):
                    freed = max(freed or 0, held.pop(digest)[3])
            if not held:
                del self._own_exclusive[key]
        return freed

    def _may_still_bind(self, digest: bytes, negotiation_id: bytes, escrow: str) -> bool:
        """Whether our offer ``digest`` in ``negotiation_id`` may still form a contract binding us: naming
        ``escrow``, while that escrow has not taken its answer (no Stamp of it held, nor a lock of the
        contract by that escrow, which took the whole line first, ESC-014); naming none, while it is
        outstanding. A negotiation we no longer hold (forgotten, no archive): until the cutoff."""
        neg = self.negotiations.find(negotiation_id)
        if neg is None:
            return True
        line = neg.offers
        i = next((k for k, o in enumerate(line) if o.digest == digest), -1)
        if i < 0:
            # Held off the line -- cut off by a lower answer (NEG-021 (a)) or a witnessed Accept, or taken
            # superseded: a Counter naming an escrow still binds us through an Accept of it that escrow
            # witnesses, which takes the line back there (NEG-021 (d)), until it took an answer to it
            # (ESC-014). Who cut it off is the counterparty's choice: its cut-off alone frees nothing.
            if not escrow or neg.off_line is None or digest not in neg.off_line:
                return False
            if self._closed_by_its_lock(neg, digest, escrow):
                return False
            held = self.statements  # the answers of a negotiation read back from the archive: there too
            answers = (held.get(d) for d in (*neg.superseded, *(o.digest for o in line)))
            return all(
                vs is None or cited(vs) != digest or self.witness.stamp_time(escrow, vs.digest) is None
                for vs in answers
            )
        if not escrow:
            return neg.state in BARGAINING_STATES and neg.outstanding.digest == digest
        c = neg.contract
        if c is not None and c.escrow == escrow and c.locked:
            return False
        answer = line[i + 1].digest if i + 1 < len(line) else neg.closed_by
        return not answer or self.witness.stamp_time(escrow, answer) is None

    def _closed_by_its_lock(self, neg: Negotiation, digest: bytes, escrow: str) -> bool:
        """Whether ``escrow`` locked ``neg``'s contract along a line that answers, with another answer than
        the one our Counter ``digest`` (held off the line) descends from, an offer naming ``escrow`` -- its
        Stamp of that answer held: it took that answer (ESC-014), so it takes nothing down our Counter's
        branch, an Accept of it least of all (NEG-018 supersedes it in its view), and no view takes one
        there either (stamp32). Where the line and the branch part at an offer naming no escrow, which
        contract prevails is the order of the two answers (NEG-021 (e)): the hold stays."""
        c = neg.contract
        if c is None or c.escrow != escrow or not c.locked:
            return False
        line = neg.offers
        place = {o.digest: i for i, o in enumerate(line)}
        held = self.statements
        child = held.get(digest)
        seen: set[bytes] = set()
        while child is not None and cited(child) not in place:
            seen.add(child.digest)
            parent = cited(child)
            child = held.get(parent) if parent and parent not in seen else None
        if child is None:
            return False
        i = place[cited(child)]
        answer = line[i + 1].digest if i + 1 < len(line) else neg.closed_by
        if not answer or answer == child.digest or proposal_of(line[i]).terms.escrow != escrow:
            return False
        return self.witness.stamp_time(escrow, answer) is not None

    def _witnessed_before(self, accept: VerifiedStatement) -> bool:
        """Whether we held, before ``accept`` came, a Stamp of it by its offer's escrow by the bonding
        cutoff (NEG-019). Such an Accept binds both bonds whatever our view of its issuer's exposure: that
        view holds statements the escrow never saw (the acceptor's other answers, its offers handed to us
        alone), which the acceptor chooses, and refusing the Accept for them only keeps us from performing.
        A Stamp being given now (an escrow taking the Accept) is not one: the escrow checks the caps."""
        offer = self.statements.get(accept.statement.accept.offer)
        if offer is None or offer.body not in ("offer", "counter"):
            return False
        at = self.witness.recorded_stamp_time(proposal_of(offer).terms.escrow, accept.digest)
        return at is not None and at <= offer.expires_at_ms + CLOCK_TOLERANCE_MS

    def _check_reveal(self, vs: VerifiedStatement) -> None:
        r = vs.statement.reveal
        target = self.statements.get(r.statement)
        if target is None or target.issuer != vs.issuer or target.body not in ("offer", "counter"):
            raise BodyInvalid(
                "a reveal opens a claim in one of its issuer's own offers", requirement="BDY-007"
            )
        claims = proposal_of(target).claims
        if r.claim_index >= len(claims) or claims[r.claim_index].WhichOneof("value") != "commitment":
            raise BodyInvalid("claim_index does not name a committed claim", requirement="BDY-007")
        check_opening(claims[r.claim_index].commitment, r.amount, r.salt)

    def _check_revocation_authority(self, vs: VerifiedStatement) -> None:
        """KEY-004: a key is revoked by itself or by a principal it is bound to (KEY-007).

        A Mandate alone binds nobody: anyone can sign one naming any key. The key
        accepts a principal by signing under its mandate.
        """
        key = vs.statement.key_revocation.key
        if vs.issuer == key or vs.issuer in self.bound.get(key, ()):
            return
        raise RevocationUnauthorized(
            f"{vs.issuer:.40} is not {key:.40} and no principal that key accepted", requirement="KEY-004"
        )

    def _check_attestation(self, vs: VerifiedStatement) -> None:
        """ATT-001, ATT-002."""
        a = vs.statement.attestation
        offer, accept = self.statements.get(a.offer), self.statements.get(a.accept)
        if (
            offer is None
            or accept is None
            or accept.body != "accept"
            or accept.statement.accept.offer != offer.digest
        ):
            raise AttestationInadmissible(
                "the verifier does not hold the co-signed contract", requirement="ATT-001"
            )
        parties = {offer.issuer, accept.issuer}
        if vs.issuer not in parties or a.subject not in parties or a.subject == vs.issuer:
            raise AttestationInadmissible(
                "only a contract party may attest, about the other", requirement="ATT-001"
            )
        held = self._attested.get((vs.issuer, accept.digest))
        if held is not None and held[0] <= vs.seq:
            # One at a lower seq displaces the one held instead (_commit): the issuer's own order of
            # the two decides which counts, not the order a verifier happened to hear them in.
            raise AttestationInadmissible(
                "one attestation per party per contract (the first its issuer signed)", requirement="ATT-002"
            )

    # -- commit -------------------------------------------------------------------

    def _commit(
        self,
        vs: VerifiedStatement,
        *,
        checked: bool = False,
        event: Event | None = None,
        checked_view: ChainView | None = None,
    ) -> None:
        """Record ``vs``. ``checked``: :meth:`check` just returned ``event`` for it, having checked it
        against ``checked_view``, the issuer's chain view (held, or new and empty: kept now)."""
        self._checked = None
        issuer = vs.issuer
        body = vs.body
        self.statements[vs.digest] = vs
        self.accepted += 1
        view = self.chains.get(issuer)
        if view is None:
            view = self.chains[issuer] = checked_view if checked_view is not None else self._chain(issuer)
        if body == "key_revocation" and self._out_of_chain(vs):
            self.replay.add_digest(vs, vs.digest)  # KEY-013: in no chain, holding no nonce
            view.leave_out(vs.digest)  # nor read back from the archive as a link of it
            self._note_own_revocation_fork(view, vs)
        else:
            self.replay.add(vs, vs.digest)  # its header fields, as vs keeps them read
            view.add(vs)
            if issuer in self.revoked:
                for own in self.revocations_of.get(issuer, ()):
                    fork = _fork_of(own, vs) if own.issuer == issuer else None
                    if fork is not None:
                        self._note_fork(issuer, fork)
                        break
        mandate = vs.mandate_digest
        if mandate:
            record = self.mandates.get(mandate)
            if record is not None and record.agent == issuer:  # KEY-007: the key accepts
                self._note_bound(issuer, record.principal, vs.issued_at_ms, vs.seq)
        if body == "mandate":
            m = self._hold_mandate(vs).mandate
            if m.succeeds:
                self.handovers.setdefault(m.succeeds, {})[vs.digest] = (m.agent, issuer)
                self._refresh_handovers()
        elif body == "key_revocation":
            r = vs.statement.key_revocation
            signed = _Revocation(
                issuer,
                r.effective_ms,
                vs.issued_at_ms,
                vs.seq,
                vs.digest,
                vs.envelope,
                vs.prev,
                r.chain_length,
            )
            self.revocations_of.setdefault(r.key, []).append(signed)
            if issuer != r.key and r.chain_length:  # KEY-011 (e): above the head stated, whatever its time
                self.revoked_above[r.key] = min(r.chain_length, self.revoked_above.get(r.key, r.chain_length))
            earliest = _earliest_of(signed, r.key)  # KEY-011
            if r.key not in self.revoked or earliest < self.revoked[r.key]:
                self.revoked[r.key] = earliest
            if r.key in self.handovers:
                self._refresh_handovers()
            revokers = self.revokers.setdefault(r.key, {})
            revokers[issuer] = revokers.get(issuer, 0) + 1
            self._revocation_digests.add(vs.digest)
            self.disowning += 1
            if self.evidence_view:
                self._to_reweigh = (*self._to_reweigh, r.key)
            if r.key in self._bare_accepts:
                self._unbook_disowned_accepts(r.key)
        elif body == "key_rotation":
            if issuer not in self.rotated or vs.seq < self.rotated[issuer]:  # the lowest seq ends the chain
                self.rotated[issuer] = vs.seq
                self.rotations[issuer] = vs.envelope
            self.rotations_of.setdefault(issuer, []).append((vs.seq, vs.digest))
            self._revocation_digests.add(vs.digest)
            self.disowning += 1
            if self.evidence_view:
                self._to_reweigh = (*self._to_reweigh, issuer)
            if issuer in self._bare_accepts:
                self._unbook_disowned_accepts(issuer)
        elif body == "attestation":
            key = (issuer, vs.statement.attestation.accept)
            held = self._attested.get(key)
            if held is None or vs.seq < held[0]:  # ATT-002: the lowest seq counts
                self._attested[key] = (vs.seq, vs.digest)
        elif body == "ack":
            self.witness.record_ack(issuer, vs.statement.ack.statement, vs.issued_at_ms)
        elif body == "forfeit":
            self.forfeits += 1
            self.forfeited_contracts.append(vs.statement.forfeit.contract)
        elif body == "receipt":
            self.witness.record_ack(issuer, vs.statement.receipt.delivery, vs.issued_at_ms)
        elif body == "stamp" and self._stamp_disowned(vs):
            # KEY-009 (d): held, it witnesses nothing -- recorded in no witness index, it moves nothing
            self._unwitnessing = {*self._unwitnessing, vs.digest}
            self.disowning += 1
        elif body == "stamp":
            acting = (issuer, *self.witness.succeeded_by(issuer, vs.issued_at_ms))
            for digest in vs.statement.stamp.statements:
                # of two Stamps in one ms, the lower seq is the earliest, whichever came first (KEY-009)
                self.witness.record_stamp(
                    issuer, digest, vs.issued_at_ms, vs.digest, seq=vs.seq, seq_of=self._stamp_seq
                )
                if (self._held_off or self._held_off_archived) and self._held_off_of(digest) is not None:
                    self._let_in_again(digest)  # NEG-019: witnessed, NEG-009 is no ground to hold it off
                if digest in self._revocation_digests:
                    # A statement this escrow stamped after the revocation may be disowned now.
                    self.disowning += 1
                elif self.revoked and self._may_be_disowned(digest):
                    # ... and one of a revoked key (or principal) whose Stamp we learn only now (KEY-009,
                    # KEY-010 in the escrow's order: :meth:`disowned` reads this Stamp).
                    self.disowning += 1
                exposed = self._exposed_answers.get(digest) if self._exposed_answers else None
                if exposed is not None and exposed[0] == issuer:  # the escrow took the answer: freed
                    del self._exposed_answers[digest]
                    self.exposure.offer_dead(exposed[1], exposed[2])
                if self._cut_off_counted:
                    self._cut_off_answered(digest, acting)
                for escrow in acting:
                    neg = self.negotiations.activate(escrow, digest)
                    if neg is not None:
                        self._track_activation(neg)
            for digest in vs.statement.stamp.statements:  # once every digest it names is recorded
                self._witness_cut_off(digest, acting)
                self._escrow_took_answer(digest, acting)
        nid = vs.negotiation_id
        if nid:
            neg = self.negotiations.by_id.get(nid)
            before = (neg.state, neg.outstanding, neg.contract) if neg is not None else None
            branch = neg.branch if neg is not None else None
            line = neg.offers if neg is not None else None
            refused = branch is not None and self._refused_held_first(vs, branch)
            neg = self.negotiations.apply(vs, checked=checked, event=event)
            if before is not None and before[2] is not None and neg.contract is not before[2]:
                self.contracts_moved += 1  # cut back (NEG-021) or displaced (NEG-017): ATT-022 (c)
            self._index_held(nid, vs.digest, neg)
            self._note_answer(vs)
            self._keep_superseded_up(neg, vs)
            self._track_exposure(vs, neg, before)
            if self._cut_off_counted and vs.body == "bond_lock":
                self._cut_off_locked(nid)
            if line is not None and neg.offers is not line:
                self._track_lower_answer(vs, neg, line[len(neg.offers) :])
                c = neg.contract
                if c is not None and c.accept.digest == vs.digest:
                    self._count_line_as_witnessed_first(neg)  # a witnessed Accept took a branch back
            if branch is not None and neg.branch is not branch and vs.digest in neg.superseded:
                if refused:
                    neg.branch = branch  # held first it was refused: the line's open end stays where it was
                    neg.drop_displaced(vs.digest)  # and it formed no contract
                else:
                    self._track_cut_off(vs, neg, branch)
        if self._handed_over_due:
            due = self._handed_over_due
            self._reopen_forgotten_handed_over()
            self._rebuild_handed_over()
            self._settle_exclusive(self._naming(due))
        if self._to_reweigh:
            self._flush_reweigh()

    def _flush_reweigh(self) -> None:
        """KEY-009 (d): reweigh the Stamps of each key whose revocations, rotations or bindings changed
        (:meth:`_reweigh_stamps`), once the statement that changed them is recorded whole."""
        keys, self._to_reweigh = self._to_reweigh, ()
        for key in dict.fromkeys(keys):
            self._reweigh_stamps(key)

    def _bound_until(self, vs: VerifiedStatement) -> int | None:
        """Our guard's: how long our Offer or Counter ``vs`` counts (MND-009, MND-010) when it carries a
        bond and names an escrow -- until its last item deadline plus the claim window, as a contract of
        it would (MND-010), unless its escrow took its answer or was asked after its cutoff; else None
        (until it expires)."""
        terms = proposal_of(vs).terms
        if not self.hold_exposed or not terms.escrow or not (terms.issuer_bond or terms.audience_bond):
            return None
        proposal = proposal_of(vs)
        return max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0) + CLAIM_WINDOW_MS

    def _hold_exclusive(self, vs: VerifiedStatement, key: bytes) -> None:
        """Our Offer or Counter ``vs`` carries exclusive_key ``key``: held (NEG-020) -- naming an escrow,
        at most until its last item deadline plus the claim window (a contract of it counts until then,
        MND-010, and lapses, CMT-006); naming none, until it expires plus our skew."""
        proposal = proposal_of(vs)
        escrow = proposal.terms.escrow
        if escrow:
            until = (
                max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0) + CLAIM_WINDOW_MS
            )
        else:
            until = vs.expires_at_ms + max(self.skew_ms, CLOCK_TOLERANCE_MS)
        held = (vs.negotiation_id, escrow, vs.expires_at_ms, max(until, vs.expires_at_ms))
        self._own_exclusive.setdefault(key, {})[vs.digest] = held

    def _still_exposed(self, offer: VerifiedStatement, answer: VerifiedStatement, neg: Negotiation) -> bool:
        """Our guard's view only (``me``): whether our bonded ``offer`` naming an escrow, just answered by
        ``answer`` (a Counter, Reject or Withdraw), stays counted (MND-009, MND-010) -- the escrow has
        not taken the answer, and an Accept of the offer it witnessed first would take precedence
        (NEG-017) and bind us to it after all. It then counts until its escrow's Stamp of the answer
        (:meth:`_commit`) or, as any offer, until it expires (the guard's grace, the skew, covers its
        bonding cutoff). Verifiers judge others by the rule as written."""
        if not self.hold_exposed or self.me is None or offer.issuer != self.me:
            return False
        if answer.body not in ("counter", "reject", "withdraw"):
            return False
        if neg.contract is not None or cited(answer) != offer.digest:
            return False
        terms = proposal_of(offer).terms
        if not terms.escrow or not (terms.issuer_bond or terms.audience_bond):
            return False
        if self.witness.stamp_time(terms.escrow, answer.digest) is not None:
            return False
        self._exposed_answers[answer.digest] = (terms.escrow, offer.mandate_digest, offer.digest, neg.id)
        return True

    def _held_in(self, vs: VerifiedStatement, value: int) -> bytes:
        """An offer of ours in ``vs``'s negotiation that :meth:`_still_exposed` keeps counted, of at most
        ``value``: ``vs`` (ours, later in the same line) and that offer never both bind -- a witnessed
        Accept of the offer displaces ``vs`` -- so the larger alone counts (``replaces``). b"" if none."""
        if not self._exposed_answers or vs.issuer != self.me:
            return b""
        nid, mandate = vs.negotiation_id, vs.mandate_digest
        live = self.exposure.exposure(mandate).live_offers
        for _, of_mandate, offer, of_negotiation in self._exposed_answers.values():
            if of_negotiation == nid and of_mandate == mandate and offer in live and live[offer][0] <= value:
                return offer
        return b""

    def _track_activation(self, neg: Negotiation) -> None:
        """An escrow's stamp made a claim or a revoke effective: a contract that ended stops counting
        (MND-010: once it is finished, :attr:`Negotiation.contract_finished`; a claim that
        moves a FULFILLED contract to DISPUTED does not make it count again)."""
        for held in (neg, *(neg.displaced or {}).values()):  # a displaced one's too (MND-023)
            self._book_ended(held)

    def _book_ended(self, held: Negotiation) -> None:
        """``held``'s contract (a negotiation's, or one it keeps displaced), if finished, ends where its
        statements end it (MND-010)."""
        c = held.contract
        if c is not None and held.contract_finished:
            for party_vs in (c.offer, c.accept):
                if (at := c.finished_at(party_vs.issuer)) is not None:
                    self.exposure.contract_ended(party_vs.mandate_digest, c.id, at)

    def _track_exposure(
        self,
        vs: VerifiedStatement,
        neg: Negotiation,
        before: tuple[State, VerifiedStatement, Contract | None] | None,
    ) -> None:
        """Keep the ExposureBook in step with the negotiation (MND-009/010 bookkeeping); ``before``:
        the negotiation's state, outstanding offer and contract before ``vs``, None if ``vs`` opened it."""
        book = self.exposure
        if vs.digest in neg.superseded:
            # Taken with no effect (NEG-018): it neither offers nor binds. But an answer to the witnessed
            # contract's offer dates that offer's end as it would have, had it come before the witnessed
            # Accept: for a statement that Accept is not before, the negotiation counts as if it were not
            # held (SPEC 4.5), whatever order the two came in.
            c = neg.contract
            if c is not None and vs.body in _ANSWERS and cited(vs) == c.offer.digest:
                offer = c.offer
                at = (vs.issued_at_ms, vs.seq if vs.issuer == offer.issuer else -1)
                book.offer_answered(offer.mandate_digest, offer.digest, at)
            if c is not None and c.answered_twice and vs.issuer == c.acceptor and cited(vs) == c.offer.digest:
                # NEG-023: its acceptor's key answered the offer again: the contract binds its offerer to
                # nothing from now on -- nowhere, as one a witnessed Accept displaced at its own Accept's
                # place (before it, it had not started), as if the view had held both answers first.
                offer = c.offer
                book.contract_displaced(offer.mandate_digest, c.id, _place(c.accept, offer))
            if neg.displaced and vs.body in ("counter", "accept", "reject"):
                self._unbook_answered_twice(vs, neg)
            if (
                c is not None
                and vs.body in ("counter", "accept", "reject")
                and cited(vs) in neg.superseded
                and self._passes_answer_held(vs, neg)
            ):
                # NEG-021 on the cut-off line: the lower answer, come after the higher, is the offer's answer
                # there -- the line counted again as in a view that held both before the witnessed Accept
                self._count_line_as_witnessed_first(neg)
            shadow = neg.displaced_of(vs)
            if shadow is not None and shadow.contract_finished:
                # A displaced contract's statement ends it as it would have, held before the witnessed
                # Accept (SPEC 4.5, MND-023): dated by its own statements, as any ending.
                displaced = shadow.contract
                assert displaced is not None
                for party_vs in (displaced.offer, displaced.accept):
                    if (ended := displaced.finished_at(party_vs.issuer)) is not None:
                        book.contract_ended(party_vs.mandate_digest, displaced.id, ended)
            return
        if before is not None and before[2] is not None and before[2] is not neg.contract:
            # Displaced by a witnessed Accept (NEG-019): it counts nowhere for a statement that Accept is
            # before; for any other, as it did (SPEC 4.5).
            displaced = before[2]
            for party_vs in (displaced.offer, displaced.accept):
                at = (vs.issued_at_ms, vs.seq if vs.issuer == party_vs.issuer else -1)
                book.contract_displaced(party_vs.mandate_digest, displaced.id, at)
        if before is not None and before[0] in BARGAINING_STATES:
            old = before[1]
            moved = neg.state is _ACCEPTED or neg.outstanding.digest != old.digest or neg.is_terminal
            c = neg.contract
            accepted = c is not None and vs.digest == c.accept.digest and c.offer.digest == old.digest
            if (
                moved
                and not accepted
                and not self._still_exposed(old, vs, neg)
                and not self._held_cut_off(old, neg)
            ):
                # What moves a bargaining negotiation past its outstanding offer, taken with effect, is an
                # answer citing it (a Counter, Reject or Withdraw), its Accept (accepted, above), or a lower
                # answer or witnessed Accept that cuts it off the line (superseded, NEG-017): dated, it
                # counts still for a statement that answer is not before, whatever order the two came in
                # (SPEC 4.5); the guard's grace is for its expiry alone.
                at = (vs.issued_at_ms, vs.seq if vs.issuer == old.issuer else -1)
                book.offer_answered(old.mandate_digest, old.digest, at)
        if vs.body == "accept" and neg.contract is not None and vs.digest == neg.contract.accept.digest:
            # A witnessed Accept of an offer of ours kept live above (or any Accept): its value moves, in
            # the periods other than the Accept's from the Accept's date (SPEC 4.5).
            offer = neg.contract.offer
            at = (vs.issued_at_ms, vs.seq if vs.issuer == offer.issuer else -1)
            book.offer_accepted(offer.mandate_digest, offer.digest, at, vs.issued_at_ms)
            for digest in neg.superseded:
                # A witnessed Accept cut the line: its later offers count nowhere for a statement it is
                # before, and for any other as they did (SPEC 4.5).
                cut = self.statements.get(digest)
                if cut is not None and cut.body in ("offer", "counter"):
                    cut_at = (vs.issued_at_ms, vs.seq if vs.issuer == cut.issuer else -1)
                    book.offer_answered(cut.mandate_digest, digest, cut_at)
        if vs.body in ("offer", "counter"):
            self._offer_live(vs)
            if vs.issuer == self.me and (key := proposal_of(vs).exclusive_key):  # held (NEG-020)
                self._hold_exclusive(vs, key)
        c = neg.contract
        if c is None:
            return
        if vs.body == "accept":
            # NEG-023 (a lower Accept, the answer it displaced held), KEY-009 (c): for the acceptor alone
            offerer = not c.answered_twice and not self._binds_offerer_to_nothing(c, neg)
            self._contract_formed(c, vs, offerer=offerer)
        elif neg.contract_finished:
            # Dated: it counts still for a statement its ending is not before, whatever order its
            # statements and that one came in (SPEC 4.5).
            for party_vs in (c.offer, c.accept):
                if (ended := c.finished_at(party_vs.issuer)) is not None:
                    book.contract_ended(party_vs.mandate_digest, c.id, ended)

    def _track_lower_answer(
        self, vs: VerifiedStatement, neg: Negotiation, cut: list[VerifiedStatement]
    ) -> None:
        """NEG-021: ``vs``, an answer lower in its issuer's chain than the answer held to the offer it cites,
        cut the line back to that offer (:meth:`Negotiation._cut_back`), ``cut`` the offers after it: the
        offer counts until ``vs``'s place and each offer cut off until ``vs``'s place too -- nowhere, as
        each is above ``vs`` in its issuer's chain or answers what is -- as in a view that held ``vs``
        first, where they were taken superseded; the contract cut off counts until it (:meth:`_track_exposure`
        dates it, as for one a witnessed Accept displaced)."""
        book = self.exposure
        offer = next(o for o in neg.offers if o.digest == cited(vs))
        book.offer_answered(offer.mandate_digest, offer.digest, _place(vs, offer))
        for later in cut:
            if not self._held_cut_off(later, neg):
                book.offer_answered(later.mandate_digest, later.digest, _place(vs, later))

    def _held_cut_off(self, counter: VerifiedStatement, neg: Negotiation) -> bool:
        """Our guard's view only: whether ``counter``, just cut off ``neg``'s line by a lower answer of the
        counterparty's key, stays counted (MND-009, MND-010) -- ours, bonded, naming an escrow that has
        not taken an answer to it: an Accept of it that escrow witnesses takes the line back there (NEG-021
        (d)) and binds us, and who cut it off is the counterparty's choice. It then counts (until its claims
        end, :meth:`_bound_until`) until that escrow's Stamp of an answer to it (:meth:`_cut_off_answered`)
        or its word past the cutoff naming it (:meth:`asked_escrow`), as its exclusive_key is held
        (:meth:`_may_still_bind`). Verifiers judge others by the rule as written."""
        if not self.hold_exposed or counter.issuer != self.me or self._bound_until(counter) is None:
            return False
        if neg.off_line is None or counter.digest not in neg.off_line:
            return False
        escrow = proposal_of(counter).terms.escrow
        if not self._may_still_bind(counter.digest, neg.id, escrow):
            return False
        self._cut_off_counted[counter.digest] = (escrow, counter.mandate_digest, neg.id)
        return True

    def _cut_off_answered(self, digest: bytes, acting: tuple[str, ...]) -> None:
        """A Stamp by ``acting`` of ``digest``: an answer to a cut-off Counter of ours still counted
        (:meth:`_held_cut_off`) that its escrow took frees it -- but an Accept, whose contract counts
        instead once it takes the line back (NEG-021 (d)). The answer may be forgotten (archived) by now, as
        at a journal replay: read from the archive, only while such a Counter is held (restart31)."""
        if not self._cut_off_counted:
            return
        answer = self.statements.get(digest)
        if answer is None or answer.body not in _ANSWERS:
            return
        held = self._cut_off_counted.get(cited(answer))
        if held is not None and held[0] in acting:
            del self._cut_off_counted[cited(answer)]
            self.exposure.offer_dead(held[1], cited(answer))

    def _cut_off_locked(self, negotiation_id: bytes) -> None:
        """A lock of ``negotiation_id``'s contract: a cut-off Counter of ours still counted
        (:meth:`_held_cut_off`) whose escrow, locking it, can take no Accept of it any more
        (:meth:`_closed_by_its_lock`) counts no more, as its exclusive_key is free (stamp32)."""
        for digest, (escrow, mandate, nid) in list(self._cut_off_counted.items()):
            if nid == negotiation_id and not self._may_still_bind(digest, nid, escrow):
                del self._cut_off_counted[digest]
                self.exposure.offer_dead(mandate, digest)

    def _refused_held_first(self, vs: VerifiedStatement, tip: VerifiedStatement) -> bool:
        """Whether ``vs``, a Counter or Accept answering ``tip`` (the open end of a line a witnessed Accept
        cut off, :attr:`Negotiation.branch`), is one a verifier meeting it before that Accept would have
        refused on its issuer's own caps (MND-009, MND-010) or, an Accept, on NEG-009 -- checked as that
        verifier checks it, at ``vs``'s own place against what is held (SPEC 4.5). Taken superseded all the
        same (NEG-018), it then counts nowhere, as held first it would not have been held."""
        if vs.body not in ("counter", "accept") or cited(vs) != tip.digest or not vs.mandate_digest:
            return False
        record = self.mandates.get(vs.mandate_digest)
        if record is None:
            return False
        try:
            if vs.body == "accept" and not self._witnessed_before(vs):
                key = proposal_of(tip).exclusive_key
                nid = vs.negotiation_id
                if key and self.negotiations.exclusive_holder(tip.issuer, key, nid, vs) is not None:
                    return True
            # taken live before the witnessed Accept, it is booked: that verifier did not hold it yet
            event = Event.COUNTER if vs.body == "counter" else Event.ACCEPT
            self._check_exposure(vs, record, event, booked=True)
        except MandateViolation:
            return True
        return False

    def _track_cut_off(self, vs: VerifiedStatement, neg: Negotiation, tip: VerifiedStatement) -> None:
        """``vs``, taken superseded (NEG-018) after the witnessed Accept that cut the line, answers ``tip``,
        the open end of the cut-off line (:attr:`Negotiation.branch`): it counts as it would have, held
        before that Accept (SPEC 4.5) -- ``tip`` until ``vs``'s place; a Counter from its place, a contract
        of an Accept from its Accept's place (in its period), each until the witnessed Accept's place, as
        the displacement of section 4.5 dates them -- so both arrival orders count the same."""
        c = neg.contract
        assert c is not None, "a line is cut by a witnessed Accept, whose contract the negotiation holds"
        witnessed = c.accept
        book = self.exposure
        if vs.body == "accept":
            book.offer_accepted(tip.mandate_digest, tip.digest, _place(vs, tip), vs.issued_at_ms)
            cut = Contract(tip, vs, proposal_of(tip))
            self._contract_formed(cut, vs)
            for party_vs in (cut.offer, cut.accept):
                book.contract_displaced(party_vs.mandate_digest, cut.id, _place(witnessed, party_vs))
            return
        book.offer_answered(tip.mandate_digest, tip.digest, _place(vs, tip))
        if vs.body == "counter":
            self._offer_live(vs)
            book.offer_answered(vs.mandate_digest, vs.digest, _place(witnessed, vs))

    def _offer_live(self, vs: VerifiedStatement) -> None:
        """``vs``, an Offer or Counter, counts from its own place in its issuer's chain (SPEC 4.5)."""
        value = committed_value(vs)
        assert value is not None
        # Ours, bonded at an escrow: an Accept it stamped by the cutoff binds however late we learn of it,
        # so the cutoff alone frees nothing (section 4.5, asked_escrow).
        until = self._bound_until(vs) if vs.issuer == self.me else None
        self.exposure.offer_live(
            vs.mandate_digest, vs.digest, value, vs.issued_at_ms, vs.expires_at_ms, until=until, seq=vs.seq
        )

    def _binds_offerer_to_nothing(self, c: Contract, neg: Negotiation) -> bool:
        """KEY-009 (c) with MND-010 and NEG-009, in a view of evidence: whether ``c``, just formed in ``neg``,
        binds its offerer to nothing -- its Accept has no witnessing escrow (the Offer or Counter it accepts
        names none) and is disowned. Then ``neg`` holds none of the offerer's exclusive_keys (NEG-009) and
        the caller books the contract for the acceptor alone (MND-010); the offer it accepts counted until
        the Accept's place, as for any answer. Not disowned yet, it is indexed by the keys a revocation or
        rotation of which could disown it, which un-book it when they come
        (:meth:`_unbook_disowned_accepts`): every order of the same statements books the same."""
        if not self.evidence_view or self.witnessing_escrow(c.accept):
            return False
        accept = c.accept
        if (self.revoked or self.rotated) and self.disowned(accept):
            self.negotiations.unbind(neg)
            return True
        record = self.mandates.get(accept.mandate_digest) if accept.mandate_digest else None
        for key in {accept.issuer, *((record.principal,) if record is not None else ())}:
            self._bare_accepts.setdefault(key, {})[accept.digest] = neg.id
        return False

    def _unbook_disowned_accepts(self, key: str) -> None:
        """A KeyRevocation or KeyRotation of ``key`` was just taken: each contract held whose Accept, of
        ``key`` or under a Mandate of ``key``'s, no escrow can witness and that is disowned now binds its
        offerer to nothing from now on -- it counts toward the offerer's caps nowhere (as a contract a
        witnessed Accept displaced counts for a statement that Accept is before, at the Accept's own place:
        before it, it had not started) and holds none of the offerer's exclusive_keys -- as if the view
        had held the revocation or rotation before the Accept (:meth:`_binds_offerer_to_nothing`)."""
        held = self._bare_accepts.get(key)
        if not held:
            return
        for digest, nid in list(held.items()):
            neg = self.negotiations.by_id.get(nid)
            c = neg.contract if neg is not None else None
            if neg is None or c is None or c.accept.digest != digest:
                del held[digest]  # displaced by a witnessed Accept (NEG-019): it binds as that rule says
                continue
            if not self.disowned(c.accept):
                continue
            del held[digest]
            self.negotiations.unbind(neg)
            offer = c.offer
            self.exposure.contract_displaced(offer.mandate_digest, c.id, _place(c.accept, offer))
        if not held:
            del self._bare_accepts[key]

    def _unindex_bare_accept(self, accept: VerifiedStatement) -> None:
        """``accept``'s contract is forgotten (:meth:`forget_negotiation`): a revocation or rotation that
        comes later looks no more at it (:meth:`_unbook_disowned_accepts`)."""
        record = self.mandates.get(accept.mandate_digest) if accept.mandate_digest else None
        for key in {accept.issuer, *((record.principal,) if record is not None else ())}:
            held = self._bare_accepts.get(key)
            if held is not None and held.pop(accept.digest, None) is not None and not held:
                del self._bare_accepts[key]

    def _contract_formed(self, c: Contract, accept: VerifiedStatement, *, offerer: bool = True) -> None:
        """``c``, formed by ``accept``, counts for both parties from that Accept's place on (SPEC 4.5), in
        its period, until its last deadline + CLAIM_WINDOW_MS (MND-010) or its ending; ``offerer`` False:
        for the acceptor alone (:meth:`_binds_offerer_to_nothing`)."""
        for party_vs in (c.offer, c.accept) if offerer else (c.accept,):
            self.exposure.contract_formed(
                party_vs.mandate_digest,
                c.id,
                c.value_given(party_vs.issuer),
                accept.issued_at_ms,
                from_offer=c.offer.digest,
                last_deadline_ms=c.last_deadline_ms,
                start=_place(accept, party_vs),
            )


# The answers that end an offer without forming a contract; each frees it from its own date (SPEC 4.5).
_ANSWERS: Final = frozenset({"counter", "reject", "withdraw"})
_OFFERS: Final = frozenset({"offer", "counter"})
# The statements whose effect starts at their escrow's Stamp, not at their issued_at_ms (WIT-005, KEY-010).
_TAKES_EFFECT_AT_STAMP: Final = frozenset({"breach_claim", "revoke"})
# The statements that bind their issuer's bond when the escrow takes them (WIT-004), and the Receipt,
# which discharges an obligation there when the escrow takes it (CMT-001), checked so by an escrow and its
# audit (KEY-010); a live receiver bounds their dates by TIM-006 instead. A thief's Receipt dated before
# the principal's revocation released the accomplice's bond the party could have claimed
# (tests/test_attack21.py). Not a Delivery: refused, one its honest issuer signed in time and shown after
# a revocation would let a claim against it be upheld, while a thief's backdated Delivery only defends the
# key's own principal against a claim.
_BINDS_AT_STAMP: Final = frozenset({"offer", "counter", "accept", "receipt"})
# KEY-010: the six statements whose effect is timed by their escrow's Stamp.
_STAMP_TIMED: Final = _TAKES_EFFECT_AT_STAMP | _BINDS_AT_STAMP


_StampPlace = tuple[int, str, int, int] | tuple[int]  # Verifier._stamp_place


def _before(first: _StampPlace, then: _StampPlace) -> bool:
    """Whether the stamp place ``first`` is provably before ``then`` (:meth:`Verifier._stamp_place`):
    an earlier time, or in the same ms a Stamp by a key whose did comes first in byte order (two sibling
    successors', ESC-022 (e): two chains' seqs order nothing between them), or an earlier Stamp of one
    key's chain, or an earlier place in one Stamp; a tie that the Stamps held cannot order is not before."""
    if first[0] != then[0]:
        return first[0] < then[0]
    if len(first) != 4 or len(then) != 4:
        return False
    return first[1:] < then[1:]


@dataclass
class TranscriptReport:
    """Outcome of :func:`verify_transcript`.

    Attributes:
        statements: the statements accepted, in order, up to the first failure.
        error: the first failure, or None if every envelope was accepted.
        failed_index: index of the envelope that failed, or None.
        verifier: the verifier's state afterwards (negotiations, chains, ...).
    """

    statements: list[VerifiedStatement]
    error: CoopError | None
    failed_index: int | None
    verifier: Verifier

    @property
    def valid(self) -> bool:
        return self.error is None


def verify_transcript(
    envelopes: list[bytes], *, now_ms: int | None = None, complete_chains: bool = False, me: str | None = None
) -> TranscriptReport:
    """Accept a sequence of envelopes, in order, with one fresh :class:`Verifier`.

    Verification stops at the first envelope that fails; protocol failures are
    reported in the result, not raised.
    """
    verifier = Verifier(me=me, complete_chains=complete_chains)
    accepted: list[VerifiedStatement] = []
    for i, data in enumerate(envelopes):
        try:
            accepted.append(verifier.accept(data, now_ms))
        except CoopError as exc:
            return TranscriptReport(accepted, exc, i, verifier)
    return TranscriptReport(accepted, None, None, verifier)
