"""The negotiation state machine (SPEC.md section 8, NEG-*).

Theory of operation. One :class:`Negotiation` per ``negotiation_id`` follows a
bilateral trade from its first Offer to settlement. It is sans-IO and clock
free: statements go in (already verified), the new state comes out.

Each statement becomes an :class:`Event`. Whether ``(state, event)`` is allowed
is decided by one literal table, :data:`TRANSITIONS`; anything not in it raises
IllegalTransition (NEG-001). SPEC.md's table is generated from it
(tools/gen_spec_tables.py), so the two cannot disagree. Who may send an event,
and what it must reference, are checked separately (NEG-003..NEG-014), before
the table is consulted.

Bargaining (PROPOSED, COUNTERED) is ordered by statement times: an offer lapses
when a statement issued after its ``expires_at_ms`` is applied (EXPIRE).

After the contract forms, arrival order must not matter (SPEC 8.9): the same
set of statements gives every verifier the same state. So the table is built
from one precedence over the contract's facts --

    upheld claim > effective Revoke > lapse ruling > pending claim
    > every obligation receipted > a Delivery > every bond locked > formed

-- and every row leads to the state that precedence gives, whatever arrived
before. Events the escrow orders (its rulings, and the claims and revokes it
stamps) may therefore move a contract between ended states; party events
(deliveries, receipts) never can. Several events are *derived* from the
contract's bookkeeping (BOND_COMPLETE, RECEIPT_COMPLETE, DISMISS_PENDING,
DISMISS_COMPLETE) so the table stays literal.

Before the contract, one exception to the table (SPEC 8.9, NEG-017): an acceptor can sign two answers
to one offer, an Accept shown to the offer's escrow alone and another answer sent to the offerer. The
escrow's Stamp decides: an Accept that escrow stamped by the bonding cutoff takes precedence over the
other answer (which an honest escrow never takes too, ESC-014), from whatever state (WITNESSED_ACCEPT);
the line of offers is cut back to the one it accepts, and what the cut-off branch held is
*superseded*: taken, with no effect (SUPERSEDED).

A BreachClaim or Revoke is *arbitrated*: it takes effect only when the
contract's escrow has stamped it (WIT-005), at the stamp's time, never the
claimant's. Until then it is held as pending and changes nothing;
:meth:`Negotiation.activate` applies it when the stamp is accepted, in
whichever order the two arrive.

The deciding layer never talks to this module directly: a peer asks
:meth:`Negotiation.check` whether a statement it is about to sign would be
legal, then signs, then applies it (:meth:`Negotiation.apply`).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Iterable, KeysView, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import (
    BodyInvalid,
    CoopError,
    ExclusiveConflict,
    IllegalTransition,
    RevocationNotAllowed,
    StaleReference,
    UnknownNegotiation,
    WrongParty,
)
from a2a_coop.protocol.statements import VerifiedStatement

# Claims on an item may be stamped until this long after its deadline; an escrowed contract with no
# claim pending lapses this long after its last deadline (CMT-005, CMT-006).
CLAIM_WINDOW_MS: Final = 24 * 3600 * 1000
# How long after stamping a claim the escrow waits for the accused's timely Delivery, when the terms
# leave Terms.response_window_ms at 0 (CMT-002).
DEFAULT_RESPONSE_WINDOW_MS: Final = 3_600_000
# How long after the accepted offer's expires_at_ms its escrow may still lock a bond (ESC-010,
# CMT-010): the same 30 s an escrow has to witness the Accept (WIT-004), so a contract it recognises
# at the last moment can still be bonded then, and no later. Both parties signed expires_at_ms, so
# both know when bonding ends: the party that funds last cannot choose it.
BOND_GRACE_MS: Final = 30_000
# How far two honest clocks may disagree when a deadline is judged on a witness's clock (WIT-003,
# WIT-004). The same value as the default receive skew (TIM-004), fixed so that every verifier reaches
# one verdict.
CLOCK_TOLERANCE_MS: Final = 30_000


class StampLookup(Protocol):
    """A lookup of witness stamps: the earliest time the escrow ``escrow`` stamped ``digest`` -- the
    earliest later than ``after_ms``, when given -- or None."""

    def __call__(self, escrow: str, digest: bytes, after_ms: int | None = None, /) -> int | None: ...


def _no_stamps(escrow: str, digest: bytes, after_ms: int | None = None) -> int | None:
    return None


# What nearly every negotiation has superseded (NEG-018): shared, so that it costs no memory.
_NONE_SUPERSEDED: Final[frozenset[bytes]] = frozenset()


class State(StrEnum):
    PROPOSED = "PROPOSED"  # an Offer is outstanding
    COUNTERED = "COUNTERED"  # a Counter is outstanding
    ACCEPTED = "ACCEPTED"  # contract formed; bonds not all locked
    BONDED = "BONDED"  # every required bond locked
    PERFORMING = "PERFORMING"  # at least one Delivery
    DISPUTED = "DISPUTED"  # a stamped BreachClaim awaits the escrow's ruling
    FULFILLED = "FULFILLED"  # every obligation of both sides receipted
    BREACHED = "BREACHED"  # the escrow upheld a claim
    REVOKED = "REVOKED"  # a party exited under the revocation terms
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"  # the offer lapsed, or the escrow declared the contract lapsed


class Event(StrEnum):
    OFFER = "OFFER"
    COUNTER = "COUNTER"
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    WITHDRAW = "WITHDRAW"
    EXPIRE = "EXPIRE"  # statement time past the outstanding offer's expiry
    BOND_LOCK = "BOND_LOCK"
    BOND_COMPLETE = "BOND_COMPLETE"
    DELIVERY = "DELIVERY"
    RECEIPT = "RECEIPT"
    RECEIPT_COMPLETE = "RECEIPT_COMPLETE"
    BREACH_CLAIM = "BREACH_CLAIM"  # when the escrow's stamp makes it effective
    REVOKE = "REVOKE"  # when the escrow's stamp makes it effective
    UPHOLD = "UPHOLD"
    DISMISS = "DISMISS"
    DISMISS_PENDING = "DISMISS_PENDING"
    DISMISS_COMPLETE = "DISMISS_COMPLETE"
    LAPSE = "LAPSE"
    RELEASE = "RELEASE"
    FORFEIT = "FORFEIT"
    REFUND = "REFUND"
    # Outside the table (SPEC 8.9, NEG-017): an Accept its offer's escrow witnessed in time takes
    # precedence over the answers to that offer the escrow never took, from whatever state; and a
    # statement of a branch it so cut off is taken with no effect.
    WITNESSED_ACCEPT = "WITNESSED_ACCEPT"
    SUPERSEDED = "SUPERSEDED"


S, E = State, Event
_BARGAINING: Final = {
    E.COUNTER: S.COUNTERED,
    E.ACCEPT: S.ACCEPTED,
    E.REJECT: S.REJECTED,
    E.WITHDRAW: S.WITHDRAWN,
    E.EXPIRE: S.EXPIRED,
}
# Escrow money statements never change a contract's state (whether they were due is for the audit).
_MONEY: Final = (E.RELEASE, E.FORFEIT, E.REFUND)
# Facts that never outrank an ended contract's state: its row keeps them as self-loops.
_RECORDED: Final = (
    E.BOND_LOCK,
    E.BOND_COMPLETE,
    E.DELIVERY,
    E.RECEIPT,
    E.RECEIPT_COMPLETE,
    *_MONEY,
)


def _stay(state: State, *events: Event) -> dict[Event, State]:
    return dict.fromkeys(events, state)


# NEG-001: the whole state machine. The initial Offer creates a negotiation in
# PROPOSED (see Negotiation.__init__); every later statement must be a row here.
# After ACCEPT, each row leads where the precedence of SPEC 8.9 puts the facts.
TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
    S.PROPOSED: dict(_BARGAINING),
    S.COUNTERED: dict(_BARGAINING),
    S.ACCEPTED: {
        E.BOND_LOCK: S.ACCEPTED,
        E.BOND_COMPLETE: S.BONDED,
        E.DELIVERY: S.PERFORMING,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
        E.LAPSE: S.EXPIRED,
        **_stay(S.ACCEPTED, *_MONEY),
    },
    S.BONDED: {
        E.DELIVERY: S.PERFORMING,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
        E.LAPSE: S.EXPIRED,
        **_stay(S.BONDED, *_MONEY),
    },
    S.PERFORMING: {
        E.DELIVERY: S.PERFORMING,
        E.RECEIPT: S.PERFORMING,
        E.RECEIPT_COMPLETE: S.FULFILLED,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
        E.UPHOLD: S.BREACHED,  # of a claim a faulty escrow dismissed first (section 8.9)
        E.LAPSE: S.EXPIRED,
        **_stay(S.PERFORMING, *_MONEY),
    },
    S.DISPUTED: {
        **_stay(S.DISPUTED, *_RECORDED, E.BREACH_CLAIM, E.DISMISS_PENDING),
        E.REVOKE: S.REVOKED,
        E.UPHOLD: S.BREACHED,
        E.DISMISS: S.PERFORMING,
        E.DISMISS_COMPLETE: S.FULFILLED,
        E.LAPSE: S.EXPIRED,
    },
    S.FULFILLED: {
        **_stay(S.FULFILLED, E.DELIVERY, E.RECEIPT, E.RECEIPT_COMPLETE, *_MONEY),
        E.BREACH_CLAIM: S.DISPUTED,  # stamped before the last receipt reached the escrow
        E.REVOKE: S.REVOKED,
        E.UPHOLD: S.BREACHED,  # of a claim a faulty escrow dismissed first (section 8.9)
        E.LAPSE: S.EXPIRED,
    },
    S.BREACHED: {
        **_stay(
            S.BREACHED,
            *_RECORDED,
            E.BREACH_CLAIM,
            E.REVOKE,
            E.UPHOLD,
            E.DISMISS,
            E.DISMISS_PENDING,
            E.DISMISS_COMPLETE,
            E.LAPSE,  # a lapse signed beside an upheld claim yields to it (section 8.9)
        ),
    },
    S.REVOKED: {
        **_stay(
            S.REVOKED, *_RECORDED, E.BREACH_CLAIM, E.REVOKE, E.DISMISS, E.DISMISS_PENDING, E.DISMISS_COMPLETE
        ),
        E.UPHOLD: S.BREACHED,
        E.LAPSE: S.REVOKED,  # a lapse signed beside a stamped Revoke yields to it (section 8.9)
    },
    S.EXPIRED: {
        **_stay(S.EXPIRED, *_RECORDED, E.BREACH_CLAIM),
        E.REVOKE: S.REVOKED,  # stamped by a key of the escrow that had not lapsed the contract (section 8.9)
        E.UPHOLD: S.BREACHED,  # of a claim stamped within its window: a lapse beside it yields (section 8.9)
        **_stay(S.EXPIRED, E.DISMISS, E.DISMISS_PENDING, E.DISMISS_COMPLETE, E.LAPSE),
    },
    S.REJECTED: {},
    S.WITHDRAWN: {},
}
INITIAL_STATE: Final = S.PROPOSED
BARGAINING_STATES: Final = frozenset({S.PROPOSED, S.COUNTERED})
# The contract's obligations have ended (an outcome is reached). Only facts the escrow orders, of
# higher precedence, can still move a contract between these states (SPEC 8.9).
TERMINAL_STATES: Final = frozenset({S.FULFILLED, S.BREACHED, S.REVOKED, S.EXPIRED, S.REJECTED, S.WITHDRAWN})
# The members the per-statement paths name, read once: on Python 3.11 a read of an Enum class's
# attribute goes through its metaclass's __getattr__ hook and costs several global reads.
_ACCEPTED, _EXPIRED = S.ACCEPTED, S.EXPIRED
_OFFER, _COUNTER, _ACCEPT, _EXPIRE = E.OFFER, E.COUNTER, E.ACCEPT, E.EXPIRE
_DELIVERY, _RECEIPT, _RECEIPT_COMPLETE = E.DELIVERY, E.RECEIPT, E.RECEIPT_COMPLETE
_WITNESSED_ACCEPT, _SUPERSEDED, _REJECT, _WITHDRAW = E.WITNESSED_ACCEPT, E.SUPERSEDED, E.REJECT, E.WITHDRAW
# The precedence of SPEC 8.9, highest first, for the states a contract can be in.
PRECEDENCE: Final = (
    S.BREACHED,
    S.REVOKED,
    S.EXPIRED,
    S.DISPUTED,
    S.FULFILLED,
    S.PERFORMING,
    S.BONDED,
    S.ACCEPTED,
)


Place = tuple[int, str, int]  # a statement's (issued_at_ms, issuer, seq)
# What answers an offer (NEG-001): an escrow that took one takes no other (ESC-014).
OFFER_ANSWERS: Final = frozenset({"counter", "accept", "reject", "withdraw"})
# The answers NEG-021 orders by their issuer's chain.
_ANSWER_BODIES: Final = frozenset({"counter", "accept", "reject"})


def chain_place(vs: VerifiedStatement) -> tuple[int, int, bytes]:
    """``vs``'s place in its issuer's chain, for NEG-021 (NEG-017 (c)'s tie rule): its seq, then its
    issued_at_ms, then its digest as unsigned bytes."""
    return vs.seq, vs.issued_at_ms, vs.digest


@dataclass
class Contract:
    """The co-signed contract: the accepted offer plus the Accept (NEG-011), and its facts.

    ``proposer`` signed the accepted Offer/Counter and gives ``proposal.gives``;
    ``acceptor`` signed the Accept and gives ``proposal.wants``.
    """

    offer: VerifiedStatement
    accept: VerifiedStatement
    proposal: trade_pb2.Offer
    locked: dict[str, int] = field(default_factory=dict)  # party -> bond amount held by escrow
    locked_ms: dict[str, int] = field(default_factory=dict)  # party -> its BondLock's time (escrow's clock)
    settled: set[str] = field(default_factory=set)  # parties whose bond was released/forfeited/refunded
    # Parties whose bond was forfeited. A Forfeit of a bond already released or refunded -- an escrow at
    # fault signed both (the audit's DOUBLE_SETTLEMENT) -- is taken and prevails, as an UPHOLD over a
    # DISMISS (section 8.9), so that views holding both agree whichever came first (NEG-012).
    forfeited: frozenset[str] = frozenset()
    deliveries: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # delivery digest -> (by, item)
    receipted: set[tuple[str, int]] = field(default_factory=set)  # (deliverer, item_index)
    first_delivered_ms: dict[tuple[str, int], int] = field(default_factory=dict)  # (by, item) -> issued_at
    # SPEC 4.5, 8.1: a contract's ending is dated by the statements that make it (Contract.finished_at).
    # Each as its Place: (issued_at_ms, issuer, seq).
    delivered_at: dict[bytes, Place] = field(default_factory=dict)  # delivery digest -> its place
    # (deliverer, item_index) -> the first Receipt of it taken and the Delivery that Receipt names.
    receipted_by: dict[tuple[str, int], tuple[Place, Place]] = field(default_factory=dict)
    # The statements that put it in an ended state: a Ruling UPHOLD or LAPSE, an effective Revoke (which
    # takes effect at its earliest Stamp, :attr:`stamped_ms`).
    ending_by: dict[bytes, Place] = field(default_factory=dict)
    # finished_at by party, until one of the four above (or stamped_ms) changes: _record, _restamp and
    # _record_effective clear it.
    finished_memo: dict[str, tuple[int, int] | None] = field(default_factory=dict, repr=False)
    # Arbitrated statements (BreachClaim, Revoke) held but not yet stamped by the escrow: digest -> stmt.
    pending: dict[bytes, VerifiedStatement] = field(default_factory=dict)
    claims: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # effective claim -> (accused, item)
    # Effective claim/revoke -> its stamp time: the earliest Stamp of it by the escrow held that counts
    # (WIT-005), lowered when an earlier one arrives.
    stamped_ms: dict[bytes, int] = field(default_factory=dict)
    revokes: dict[bytes, str] = field(default_factory=dict)  # effective Revoke digest -> revoker
    rulings: dict[bytes, int] = field(default_factory=dict)  # claim digest -> RulingDecision
    # Effective claims not ruled on yet, kept as they change so no ruling rescans every claim.
    pending_claims: dict[bytes, tuple[str, int]] = field(default_factory=dict)
    lapsed: bool = False
    # NEG-023: its acceptor's key signed another answer to the offer it accepts (naming no escrow) that the
    # negotiation holds beside it -- it binds its offerer to nothing (no cap, no exclusive_key). Set by
    # :meth:`Negotiation.apply_checked` as the second answer comes, so a replay sets it again. A class
    # default, not a field: a contract holds it only once it is set (no byte per trade otherwise), and one
    # pickled before it existed reads False.
    answered_twice = False

    # Read once from the signed statements, which never change: the checks ask for these often.
    proposer: str = field(init=False)  # signed the accepted Offer/Counter
    acceptor: str = field(init=False)  # signed the Accept
    parties: tuple[str, str] = field(init=False)
    escrow: str = field(init=False)  # the contract's arbiter (terms.escrow); empty when the terms name none
    exclusive_key: bytes = field(init=False)  # the proposal's exclusive_key (NEG-009); empty for none
    _gives: tuple[trade_pb2.Item, ...] = field(init=False, repr=False)  # what the proposer owes
    _wants: tuple[trade_pb2.Item, ...] = field(init=False, repr=False)  # what the acceptor owes
    _owed: frozenset[tuple[str, int]] = field(init=False, repr=False)  # every (party, item_index)
    _bonds: tuple[int, int] = field(init=False, repr=False)  # (issuer_bond, audience_bond)
    _bonds_required: dict[str, int] = field(init=False, repr=False)  # party -> bond, nonzero only
    _values: tuple[int, int] = field(init=False, repr=False)  # (proposer's, acceptor's) value_given
    _last_deadline_ms: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        proposer, acceptor = self.proposer, self.acceptor = self.offer.issuer, self.accept.issuer
        self.parties = (proposer, acceptor)
        proposal = self.proposal
        t = proposal.terms
        self.escrow = t.escrow
        self.exclusive_key = proposal.exclusive_key
        # A slice of a upb repeated field is a list made in C; iterating one makes each item in Python.
        gives, wants = self._gives, self._wants = tuple(proposal.gives[:]), tuple(proposal.wants[:])
        self._owed = frozenset(
            [(proposer, i) for i in range(len(gives))] + [(acceptor, i) for i in range(len(wants))]
        )
        bonds = self._bonds = (t.issuer_bond, t.audience_bond)
        self._bonds_required = {p: b for p, b in ((proposer, bonds[0]), (acceptor, bonds[1])) if b}
        # One pass over the items: each side's declared value plus its bond (MND-004), and the last
        # deadline (MND-010, CMT-006).
        last, values = 0, [bonds[0], bonds[1]]
        for side, items in ((0, gives), (1, wants)):
            for item in items:
                values[side] += item.value
                last = max(last, item.deadline_ms)
        self._values = (values[0], values[1])
        self._last_deadline_ms = last

    @property
    def delivered(self) -> KeysView[tuple[str, int]]:
        """``(deliverer, item_index)`` of every item delivered at least once (a live, read-only view)."""
        return self.first_delivered_ms.keys()

    @property
    def id(self) -> bytes:
        return self.accept.digest

    def other(self, party: str) -> str:
        return self.acceptor if party == self.proposer else self.proposer

    def items(self, party: str) -> tuple[trade_pb2.Item, ...]:
        """The items ``party`` owes under the contract (read-only; :meth:`gives` for a list)."""
        return self._gives if party == self.proposer else self._wants

    def gives(self, party: str) -> list[trade_pb2.Item]:
        """The items ``party`` owes under the contract."""
        return list(self.items(party))

    def bond(self, party: str) -> int:
        return self._bonds[0] if party == self.proposer else self._bonds[1]

    def value_given(self, party: str) -> int:
        """What ``party`` puts at stake: its items' declared value plus its bond (MND-004)."""
        return self._values[0] if party == self.proposer else self._values[1]

    @property
    def bonds_required(self) -> dict[str, int]:
        return dict(self._bonds_required)

    @property
    def bonded(self) -> bool:
        """Every required bond is locked and none of them settled (NEG-012)."""
        return all(p in self.locked and p not in self.settled for p in self._bonds_required)

    @property
    def last_deadline_ms(self) -> int:
        return self._last_deadline_ms

    @property
    def response_window_ms(self) -> int:
        return self.proposal.terms.response_window_ms or DEFAULT_RESPONSE_WINDOW_MS

    def ruling_due_ms(self, claim: bytes) -> int:
        """The first time the escrow may rule on the effective ``claim`` (CMT-002): its stamp plus the
        response window, and never before its item's deadline plus the clock tolerance has passed.

        Until then the escrow may still stamp a Delivery of the item that is timely (WIT-003). The
        response window is the offerer's choice, so without the second bound a window of 1 ms would let
        a claimant stamped just after the deadline win a bond the accused delivered in time."""
        accused, item = self.claims[claim]
        deadline = self.items(accused)[item].deadline_ms
        return max(self.stamped_ms[claim] + self.response_window_ms, deadline + CLOCK_TOLERANCE_MS + 1)

    @property
    def bond_cutoff_ms(self) -> int:
        """The last time the escrow may lock a bond of this contract (ESC-010, CMT-010): the accepted
        offer's expires_at_ms plus :data:`BOND_GRACE_MS`, a time both parties signed."""
        return self.offer.expires_at_ms + BOND_GRACE_MS

    def unbonded_at_cutoff(self, now_ms: int) -> bool:
        """Whether the terms require a bond, ``now_ms`` is past the bonding cutoff and some required
        bond was not locked by then: the contract can never be bonded, and lapses (ESC-010)."""
        cutoff = self.bond_cutoff_ms
        return bool(self._bonds_required) and now_ms > cutoff and not self.bonded_by(cutoff)

    def bonded_by(self, at_ms: int) -> bool:
        """Whether every bond the terms require was locked by a BondLock the escrow issued at or before
        ``at_ms`` (CMT-009); true for terms with no bond."""
        return all(self.locked_ms.get(p, at_ms + 1) <= at_ms for p in self._bonds_required)

    def repeated(self, vs: VerifiedStatement) -> IllegalTransition | None:
        """CMT-013: the refusal of ``vs`` if it is a party's second Delivery of an item of this contract
        (another Delivery by its issuer of that item held; what WIT-003 and CMT-002 read is the earliest)
        or a second Receipt of an item (one of that item held: one discharges it), else None -- for an
        escrow taking evidence and for a live receiver, which take the first only. A party that signs
        either twice gains nothing by it, and one contract between fresh keys carried any number, each
        stamped, each earning ESC-017 credit and an uncounted Ack (tests/test_attack18.py). The same
        statement again (its digest held) is no second one: it is a replay, answered as one."""
        body = vs.body
        if body == "delivery":
            msg = vs.statement.delivery
            if (
                msg.contract == self.accept.digest
                and vs.digest not in self.deliveries
                and (vs.issuer, msg.item_index) in self.first_delivered_ms
            ):
                return IllegalTransition(
                    f"item {msg.item_index} was delivered already: one Delivery a party and item",
                    requirement="CMT-013",
                )
        elif body == "receipt":
            item = self.deliveries.get(vs.statement.receipt.delivery)
            if item is not None and item in self.receipted:
                return IllegalTransition(
                    f"item {item[1]} was receipted already: one Receipt an item", requirement="CMT-013"
                )
        return None

    def repeated_claim(self, vs: VerifiedStatement) -> IllegalTransition | None:
        """CMT-005 at a live receiver: the refusal of ``vs``, a BreachClaim, if this contract holds another
        claim by its issuer on the same item (pending or effective), else None -- the caller takes it
        all the same when the escrow's Stamp of ``vs`` is held (an escrow stamps one claim of a claimant
        and item, CMT-005: a claimant whose first claim it refused signs a second, which it stamps). A
        claim held without its Stamp causes no event, and a peer took any number of one item, each
        journaled, Acked and earning its claimant credit (tests/test_attack18.py). The same statement
        again is no second one: a replay."""
        msg = vs.statement.breach_claim
        claimant, item = vs.issuer, msg.item_index
        accused = self.other(claimant)
        for digest, held in self.pending.items():
            if (
                digest != vs.digest
                and held.body == "breach_claim"
                and held.issuer == claimant
                and held.statement.breach_claim.item_index == item
            ):
                break
        else:
            if not any(d != vs.digest and c == (accused, item) for d, c in self.claims.items()):
                return None
        return IllegalTransition(
            f"a claim by {claimant} on item {item} is held already: a second only with the escrow's Stamp",
            requirement="CMT-005",
        )

    def all_receipted(self, extra: tuple[str, int] | None = None) -> bool:
        done = self.receipted if extra is None else self.receipted | {extra}
        return self._owed <= done

    def finished_at(self, party: str = "") -> tuple[int, int] | None:
        """When the statements held finish this contract (SPEC 4.5, 8.1), as seen by a statement of
        ``party``, or None while they do not: ``(time, seq)``, the earliest over the ways it finishes of
        the latest statement each needs -- every obligation receipted (its Accept, and each obligation's
        Receipt and the Delivery it names), a Ruling UPHOLD or LAPSE, an effective Revoke (and its
        earliest Stamp, WIT-005) -- where ``seq`` is the highest seq of ``party``'s own statements at
        that time among them (-1 if none). A statement of ``party`` issued at ``t`` with seq ``s``
        finds the contract finished iff this is before ``(t, s)``: an ending dated after it, or its
        own statement after it in its chain in the same ms, does not reach back to free it.

        Each time is of a statement held, not of when it came, so this is one value for every order
        the statements came in, and it only comes earlier as statements are added."""
        memo = self.finished_memo
        if party in memo:
            return memo[party]
        best: tuple[int, int] | None = None
        if self._owed <= self.receipted:
            a = self.accept
            places = [(a.issued_at_ms, a.issuer, a.seq)]
            for receipt, delivery in self.receipted_by.values():
                places += (receipt, delivery)
            best = _latest(places, party)
        for digest, place in self.ending_by.items():
            stamped = self.stamped_ms.get(digest)
            mark = _latest([place] if stamped is None else [place, (stamped, self.escrow, -1)], party)
            if best is None or mark < best:
                best = mark
        memo[party] = best
        return best

    def finished_ms(self) -> int | None:
        """The time of :meth:`finished_at`: statements issued after it find the contract finished."""
        at = self.finished_at()
        return None if at is None else at[0]


def _latest(places: list[Place], party: str) -> tuple[int, int]:
    """``(time, seq)``: the latest time of ``places``, and the highest seq of ``party``'s among those at
    that time (-1 if none)."""
    # One pass, no generator frames: called for each party on every statement of a contract that ended.
    at, seq = places[0][0], -1
    for t, issuer, s in places:
        if t > at:
            at, seq = t, (s if issuer == party else -1)
        elif t == at and issuer == party and s > seq:
            seq = s
    return at, seq


def _rank_displaced(
    ranked: dict[tuple[bytes, str], list[tuple[tuple[int, int, bytes], bytes]]], c: Contract
) -> None:
    """Rank displaced contract ``c`` in :attr:`Negotiation._displaced_ranked`, by its Accept's digest."""
    bisect.insort(
        ranked.setdefault((c.offer.digest, c.accept.issuer), []), (chain_place(c.accept), c.accept.digest)
    )


def _held_by_contract(c: Contract) -> list[bytes]:
    """The Deliveries, BreachClaims and Revokes ``c`` holds: what a statement naming one of them reaches
    through it (:attr:`Negotiation._displaced_by`)."""
    return [*c.deliveries, *c.pending, *c.stamped_ms]


def _answers_in_life(offer: VerifiedStatement, answer: VerifiedStatement) -> bool:
    """Whether ``answer`` answers ``offer`` as the table would take it: by its audience, within its life
    (NEG-004, NEG-014, NEG-007)."""
    in_life = offer.issued_at_ms <= answer.issued_at_ms <= offer.expires_at_ms
    return answer.issuer == offer.audience and in_life


def _continues(tip: VerifiedStatement, vs: VerifiedStatement) -> bool:
    """Whether ``vs``, a trade statement, answers the offer ``tip`` as the transition table would take it:
    it cites ``tip``, is issued within its life (NEG-014, NEG-007), and is a Withdraw by its issuer or a
    Counter, Reject or Accept by its audience (NEG-004). What its issuer's caps would say is not asked
    (NEG-018)."""
    if vs.body not in _TRADE_EVENTS or vs.body == "offer" or cited(vs) != tip.digest:
        return False
    if not tip.issued_at_ms <= vs.issued_at_ms <= tip.expires_at_ms:
        return False
    return (vs.issuer == tip.issuer) == (vs.body == "withdraw")


def arbitrated(c: Contract) -> list[bytes]:
    """The BreachClaims and Revokes of ``c`` held, pending or effective."""
    return [*c.pending, *c.stamped_ms]


def cited(vs: VerifiedStatement) -> bytes:
    """The statement of its negotiation that ``vs`` answers or falls under: the offer a Counter, Accept,
    Reject or Withdraw answers, the Delivery a Receipt names, the contract (Accept) of any other
    contract statement; empty for an Offer and for statements outside negotiations."""
    body = vs.body
    if body in _TRADE_EVENTS:
        return b"" if body == "offer" else getattr(vs.statement, body).offer
    if body == "receipt":
        return vs.statement.receipt.delivery
    return getattr(vs.statement, body).contract if body in _CONTRACT_BODIES else b""


def proposal_of(vs: VerifiedStatement) -> trade_pb2.Offer:
    """The Offer carried by an Offer or Counter statement."""
    return vs.statement.offer if vs.body == "offer" else vs.statement.counter.proposal


def claims_end_ms(proposal: trade_pb2.Offer) -> int:
    """When a claim under a contract of ``proposal`` can come no more (SPEC 4.5): its last item deadline
    plus the claim window -- what an offer of it exposes ends then, whatever its escrow took."""
    return max((i.deadline_ms for i in (*proposal.gives, *proposal.wants)), default=0) + CLAIM_WINDOW_MS


def claims_over_ms(proposal: trade_pb2.Offer) -> int:
    """From when a party, by its own clock, takes claims under a contract of ``proposal`` as over
    (NEG-024 (a)): :func:`claims_end_ms` read by the escrow's clock, which stamps a claim, plus the clock
    tolerance (WIT-003), for an escrow's clock a little behind the party's."""
    return claims_end_ms(proposal) + CLOCK_TOLERANCE_MS


_UPHOLD: Final = commitment_pb2.RULING_DECISION_UPHOLD
_DISMISS: Final = commitment_pb2.RULING_DECISION_DISMISS
_LAPSE: Final = commitment_pb2.RULING_DECISION_LAPSE
ARBITRATED_BODIES: Final = frozenset({"breach_claim", "revoke"})
# The bargaining bodies and the event each causes (an Offer's is OFFER only when it opens).
_TRADE_EVENTS: Final = {
    "offer": E.OFFER,
    "counter": E.COUNTER,
    "accept": E.ACCEPT,
    "reject": E.REJECT,
    "withdraw": E.WITHDRAW,
}
ESCROW_BODIES: Final = frozenset({"bond_lock", "release", "forfeit", "refund", "ruling"})
# The bodies that name their contract (``contract`` field), besides the Receipt (it names a Delivery).
_CONTRACT_BODIES: Final = frozenset({"delivery", "breach_claim", "revoke", *ESCROW_BODIES})


class Negotiation:
    """One negotiation's state, driven by verified statements.

    Args:
        first: the Offer statement that opens the negotiation (NEG-002).
        stamps: where the escrow's witness stamps are looked up (WIT-005); the
            verifier that owns this negotiation passes its index.
    """

    # The open end of the line the last witnessed Accept cut off, as it would stand had that Accept not
    # come: the offer the line left outstanding then (an Accept taken by the table, which its escrow may
    # witness now or later: the offer it accepts), and after it each Counter taken superseded that
    # answers it in turn (:meth:`continues_branch`); None once that line is closed, or if it was closed
    # then. A statement taken superseded that continues it counts as it would have, held before the
    # witnessed Accept, until that Accept's place (SPEC 4.5). A class default: a negotiation pickled
    # before it existed reads None.
    branch: VerifiedStatement | None = None
    # The contracts a witnessed Accept displaced (NEG-017) -- or that an Accept taken superseded formed on
    # the cut-off line (SPEC 4.5) -- each as the negotiation would stand had that Accept not come, by its
    # Accept's digest: a contract statement of one taken superseded (NEG-018) is applied there, so that
    # its ending is dated as it would have been, held first (SPEC 4.5, MND-023). None: none. A class
    # default: a negotiation pickled before it existed reads None.
    displaced: dict[bytes, Negotiation] | None = None
    # Each Delivery, BreachClaim and Revoke a displaced contract holds -> that contract's key in
    # :attr:`displaced` (its Accept's digest): :meth:`displaced_of` finds a Receipt's contract, and
    # :meth:`displaced_holding` a claim's, in one lookup however many were displaced (a key revealing k
    # lower answers displaces k - 1). Kept in step with what the displaced contracts hold
    # (:meth:`_keep_displaced`, :meth:`apply_to_displaced`, :meth:`drop_displaced`); each lookup checks the
    # contract it names, so an entry answers only for a statement that contract holds. None: not built
    # (none displaced, or a negotiation pickled before it existed: built from :attr:`displaced` when first
    # asked). A class default.
    _displaced_by: dict[bytes, bytes] | None = None
    # The keys of :attr:`displaced` by their contract's offer and acceptor, each list ranked by its Accept's
    # place in that acceptor's chain (:func:`chain_place`): :meth:`displaced_below` reads the contracts an
    # answer of that key to that offer is above in one search, however many a key's answers in reverse
    # chain order displaced (displaced31: each Accept, the new lowest, keeps one more). Kept in step by
    # :meth:`_keep_displaced` and :meth:`drop_displaced`. None: not built (as :attr:`_displaced_by`). A
    # class default.
    _displaced_ranked: dict[tuple[bytes, str], list[tuple[tuple[int, int, bytes], bytes]]] | None = None
    # Per (offer, acceptor) of :attr:`_displaced_ranked`: the highest answer's place :meth:`displaced_below`
    # was asked for with ``newly``. None: none asked. A class default (a copy kept displaced, or one derived
    # again, starts with none: every one below is returned again).
    _displaced_asked: dict[tuple[bytes, str], tuple[int, int, bytes]] | None = None
    # Of a copy kept displaced: formed on a line a witnessed Accept cut off (:meth:`cut_off_line`), not
    # this negotiation's contract displaced -- dropped once a lower answer of its key takes its place
    # there (:meth:`_drop_displaced_above`). A class default.
    formed_off_line: bool = False
    # The Reject that closed the line, kept for NEG-021 (a lower answer of its issuer to the same offer
    # takes its place). None: none. A class default: set on a Reject alone, and a negotiation pickled
    # before it existed reads None.
    rejected_by: VerifiedStatement | None = None
    # NEG-021 (d), (e): each Counter held off the line -- taken superseded, or cut off by a lower answer or a
    # witnessed Accept --, by its digest: the branches a witnessed Accept of one of them may take the line
    # back to (:meth:`_off_line_path`), whatever order its statements, the lower answer and the Stamps came
    # in. None: none. A class default: a negotiation pickled before it existed reads None.
    off_line: dict[bytes, VerifiedStatement] | None = None
    # NEG-025: whether an Accept of an answered offer naming an escrow, not witnessed yet, is held until its
    # Stamp (a view, a live receiver) or checked as the table says (False: an escrow taking evidence, and
    # its audit, ESC-014). Set from :attr:`Negotiations.hold_unwitnessed` as one is made. A class default,
    # the escrow's: one pickled before NEG-025 refuses such an Accept, as ESC-014 asks of an escrow.
    hold_unwitnessed: bool = False
    # How many times :attr:`superseded` changed: what tells a :class:`HeldSuperseded` built from it that it
    # still fits. A class default: a negotiation pickled before it existed reads 0.
    superseded_changes: int = 0

    def __init__(
        self, first: VerifiedStatement, stamps: StampLookup = _no_stamps, recorded: StampLookup | None = None
    ) -> None:
        self.check_opening(first)
        self.first: VerifiedStatement = first  # the opening Offer (its id derives from it, NEG-013)
        self.id: bytes = first.negotiation_id
        self.initiator: str = first.issuer
        self.responder: str = first.audience
        self.state: State = INITIAL_STATE
        self.outstanding: VerifiedStatement = first  # the offer that can be accepted now
        self.contract: Contract | None = None
        self.history: list[tuple[State, Event, State, bytes]] = []  # (from, event, to, digest)
        self._stamps = stamps
        # The stamps held, leaving out the one an escrow is giving now (WitnessIndex.set_provisional).
        self._recorded = stamps if recorded is None else recorded
        # The bargaining, in order: the opening Offer and each Counter (a negotiation is one line, each
        # Counter answering the offer before it), and the Reject, Withdraw or Accept that closed it.
        self.offers: list[VerifiedStatement] = [first]
        self.closed_by: bytes = b""  # its digest
        # Digests of the statements of a branch a witnessed Accept cut off (SPEC 8.9, NEG-017): the
        # answers its escrow never took, what followed them, and the contract they formed, if any.
        self.superseded: AbstractSet[bytes] = _NONE_SUPERSEDED  # a set of its own once one is
        self.replaced: Contract | None = None  # the contract the last witnessed Accept displaced
        self.branch: VerifiedStatement | None = None  # see the class attribute

    @staticmethod
    def check_opening(first: VerifiedStatement) -> None:
        """Raise the error opening a negotiation with ``first`` would (NEG-002, NEG-003); change nothing."""
        if first.body != "offer":
            raise UnknownNegotiation(
                f"a negotiation starts with an offer, not a {first.body}", requirement="NEG-002"
            )
        if not first.audience or first.audience == first.issuer:
            raise WrongParty("an offer is addressed to one other party", requirement="NEG-003")

    # -- queries ------------------------------------------------------------------

    @property
    def parties(self) -> tuple[str, str]:
        return self.initiator, self.responder

    def other(self, party: str) -> str:
        return self.responder if party == self.initiator else self.initiator

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def contract_finished(self) -> bool:
        """Whether the statements held show this negotiation's contract finished (SPEC 4.5, 8.1): an
        ended state, or every obligation of both sides receipted -- FULFILLED's fact, which a claim the
        escrow stamps later moves to DISPUTED without undoing. So it never turns false again as statements
        are added (save a witnessed Accept forming another contract, NEG-017), and it is the same for
        every order the statements came in: a contract stops holding its exclusive_key (NEG-009) and
        counting toward its parties' outstanding value (MND-010) once it holds; MND-009 still charges
        it to the period it was formed in."""
        c = self.contract
        return c is not None and (self.state in TERMINAL_STATES or c.all_receipted())

    @property
    def contract_finished_ms(self) -> int | None:
        """When the statements held finished this negotiation's contract (:meth:`Contract.finished_ms`),
        None while it is live: a statement checked at ``t`` still counts it (MND-010) and meets its
        exclusive_key held (NEG-009) unless this is before ``t`` -- an ending dated at or after the
        statement does not reach back to free it, whatever order the two came in."""
        c = self.contract
        if c is None or not (self.state in TERMINAL_STATES or c.all_receipted()):
            return None
        at = c.finished_ms()
        assert at is not None, "an ended contract has a statement that ended it"
        return at

    # -- driving ------------------------------------------------------------------

    def check(self, vs: VerifiedStatement) -> Event | None:
        """The event ``vs`` would cause, or None for an arbitrated statement not yet stamped (it
        is held and takes effect when the stamp is); raises the SPEC error; changes nothing."""
        when = vs.issued_at_ms
        state = self._state_at(when)
        event = self._classify(vs, state)
        if (
            event is not None
            and event is not _WITNESSED_ACCEPT  # those two are outside the table (NEG-017, NEG-018)
            and event is not _SUPERSEDED
            and not self._cuts_back(vs, event)  # NEG-021: checked against the offer it answers instead
        ):
            self._check_row(vs, state, event)
        return event

    def _check_row(self, vs: VerifiedStatement, state: State, event: Event) -> None:
        if event not in TRANSITIONS[state]:
            req = "NEG-001"
            if event is E.ACCEPT and self.contract is not None:
                req = "NEG-006"  # acceptance is exclusive
            elif state is S.EXPIRED and self.state in BARGAINING_STATES:
                req = "NEG-007"  # the outstanding offer lapsed before this statement
            raise IllegalTransition(
                f"{vs.body} ({event.value}) not allowed in {state.value}", requirement=req
            )

    def apply(self, vs: VerifiedStatement) -> State:
        """Advance the machine with a verified statement. Raises like :meth:`check`."""
        return self.apply_checked(vs, self.check(vs))

    def apply_checked(self, vs: VerifiedStatement, event: Event | None) -> State:
        """:meth:`apply` with the event :meth:`check` returned for ``vs``, nothing having changed
        since (classifying a statement is the costliest part of applying it: do it once)."""
        if event is _SUPERSEDED:
            self._supersede([vs.digest])  # what answers it, or cites it, is superseded in turn
            self._second_answer(vs)
            self._keep_off_line([vs])
            if self.continues_branch(vs):
                tip, self.branch = self.branch, vs if vs.body == "counter" else None
                if vs.body == "accept" and tip is not None:  # formed on the cut-off line
                    self._keep_displaced(Contract(tip, vs, proposal_of(tip)), tip).formed_off_line = True
            else:
                self.apply_to_displaced(vs)
            return self.state
        if event is _WITNESSED_ACCEPT:
            self._adopt(vs)
            return self.state
        lower = self._cuts_back(vs, event)
        if lower:
            self._cut_back(vs)
        if self.state in BARGAINING_STATES and self._state_at(vs.issued_at_ms) is _EXPIRED:
            self._move(_EXPIRE, b"")
        self._record(vs, event)
        if event is not None:
            self._move(event, vs.digest)
        if lower and event is _ACCEPT and self.contract is not None:
            self.contract.answered_twice = True  # NEG-023: the answer it displaced is held beside it
        if event is _ACCEPT and self.contract is not None:
            # Should its escrow witness it (now or later), another answer to its offer is superseded
            # (NEG-018), and counts as it would have, held first (SPEC 4.5).
            self.branch = self.contract.offer
        return self.state

    def activate(self, digest: bytes) -> State | None:
        """A Stamp by the escrow of the held BreachClaim or Revoke ``digest`` arrived (it is in the stamp
        lookup now). Pending, it takes effect now if that Stamp counts (WIT-005; for a claim, one within
        its claim window, CMT-005; else it stays pending: an earlier Stamp may still come). Effective
        already, its stamp time is lowered to the new Stamp's if that is earlier and counts: its effective
        time is its earliest Stamp that counts, whatever order they came in (NEG-015). Lowering it moves
        no state, and leaves a Ruling taken valid: the ruling bound (CMT-002) only comes earlier.

        Returns the new state, or None when ``digest`` took no effect now.
        """
        c = self.contract
        if c is None:
            return None
        vs = c.pending.get(digest)
        if vs is None:
            self._restamp(c, digest)
            return None
        stamped = self._effective_ms(vs, c)
        if stamped is None:
            return None  # outside its claim window (CMT-005): held, an earlier Stamp may still come
        del c.pending[digest]
        event = self._effective(vs)
        self._check_row(vs, self.state, event)  # every post-contract row takes them (SPEC 8.9)
        self._record_effective(vs, c, stamped)
        self._move(event, digest)
        return self.state

    def _restamp(self, c: Contract, digest: bytes) -> None:
        """The effective claim or revoke ``digest`` takes the earliest Stamp of it that counts (WIT-005)."""
        at = c.stamped_ms.get(digest)
        if at is None:
            return
        claim = c.claims.get(digest)
        earliest = self._stamps(c.escrow, digest) if claim is None else self._claim_stamp(c, digest, claim)
        if earliest is not None and earliest < at:
            c.stamped_ms[digest] = earliest
            c.finished_memo.clear()

    def expire_due(self, now_ms: int) -> bool:
        """Apply EXPIRE if the outstanding offer has lapsed by ``now_ms`` (a runtime's clock)."""
        if self.state in BARGAINING_STATES and self._state_at(now_ms) is S.EXPIRED:
            self._move(E.EXPIRE, b"")
            return True
        return False

    # -- internals ----------------------------------------------------------------

    def _move(self, event: Event, digest: bytes) -> None:
        before = self.state
        self.state = TRANSITIONS[before][event]
        self.history.append((before, event, self.state, digest))

    def _state_at(self, now_ms: int) -> State:
        state = self.state
        if state in BARGAINING_STATES and now_ms > self.outstanding.expires_at_ms:
            return _EXPIRED
        return state

    def _classify(self, vs: VerifiedStatement, state: State) -> Event | None:
        body = vs.body
        issuer = vs.issuer
        if vs.negotiation_id != self.id:
            raise UnknownNegotiation("statement belongs to another negotiation", requirement="NEG-002")
        if body in _TRADE_EVENTS:
            if issuer not in self.parties or vs.audience != self.other(issuer):
                raise WrongParty("trade statements go from one party to the other", requirement="NEG-003")
            if body == "offer":
                return _OFFER
            ref = getattr(vs.statement, body).offer
            bargaining = state in BARGAINING_STATES
            if not bargaining or ref != self.outstanding.digest:
                if body == "accept" and self._takes_precedence(vs, ref):
                    return _WITNESSED_ACCEPT
                if self._answers_superseded(vs, ref):
                    return _SUPERSEDED
                lower = self._lower_than_answer(vs, ref)
                if lower is not None:
                    return _TRADE_EVENTS[body] if lower else _SUPERSEDED  # NEG-021
                if body == "accept" and self._awaits_witness(vs, ref):
                    return _SUPERSEDED  # NEG-025: held until its escrow's Stamp orders it
            if bargaining:
                outstanding = self.outstanding
                if ref != outstanding.digest:
                    raise StaleReference("does not reference the outstanding offer", requirement="NEG-005")
                if vs.issued_at_ms < outstanding.issued_at_ms:
                    raise IllegalTransition("issued before the offer it answers", requirement="NEG-014")
            if body == "withdraw":
                if bargaining and issuer != self.outstanding.issuer:
                    raise WrongParty("only the offer's issuer may withdraw it", requirement="NEG-004")
                return E.WITHDRAW
            if bargaining and issuer == self.outstanding.issuer:
                raise WrongParty(f"the offer's own issuer cannot {body} it", requirement="NEG-004")
            return _TRADE_EVENTS[body]
        c = self.contract
        if c is None:
            if self.superseded and cited(vs) in self.superseded:
                return _SUPERSEDED  # of a contract a lower answer took the place of (NEG-021, NEG-018)
            raise IllegalTransition(f"{body} before a contract exists", requirement="NEG-001")
        if body == "receipt":
            return self._classify_receipt(vs, c)
        ref = getattr(vs.statement, body).contract
        if ref != c.accept.digest:
            if ref in self.superseded:
                return _SUPERSEDED  # of a contract a witnessed Accept displaced (NEG-018)
            raise StaleReference("does not reference this negotiation's contract", requirement="NEG-005")
        if body in ESCROW_BODIES:
            return self._classify_escrow(vs, c)
        if issuer not in c.parties:
            raise WrongParty(f"only contract parties send {body}", requirement="NEG-008")
        if vs.issued_at_ms < c.accept.issued_at_ms:
            raise IllegalTransition("issued before the contract was formed", requirement="NEG-014")
        if body == "delivery":
            if vs.audience != c.other(issuer):
                raise WrongParty("a delivery is addressed to the other party", requirement="NEG-008")
            idx = vs.statement.delivery.item_index
            if idx >= len(c.items(issuer)):
                raise BodyInvalid(f"item_index {idx} out of range", requirement="NEG-008")
            if state is _ACCEPTED and not c.bonded:
                raise IllegalTransition("deliveries start once every bond is locked", requirement="NEG-012")
            return _DELIVERY
        if body == "breach_claim":
            if not c.escrow:
                raise IllegalTransition(
                    "a breach claim needs an arbiter: these terms name no escrow", requirement="CMT-005"
                )
            idx = vs.statement.breach_claim.item_index
            items = c.items(c.other(issuer))
            if idx >= len(items):
                raise BodyInvalid(f"item_index {idx} out of range", requirement="NEG-008")
            if vs.issued_at_ms <= items[idx].deadline_ms:
                raise IllegalTransition(
                    "a breach claim must follow the item's deadline", requirement="CMT-002"
                )
            if not c.bonded_by(items[idx].deadline_ms):
                raise IllegalTransition(
                    "a breach claim on an item due before every bond was locked: the accused could not "
                    "deliver it (NEG-012)",
                    requirement="CMT-009",
                )
            if c.accept.issued_at_ms > items[idx].deadline_ms:
                raise IllegalTransition(
                    "a breach claim on an item due before the contract's Accept: no Delivery of it could be "
                    "timely (NEG-014, WIT-003)",
                    requirement="CMT-011",
                )
        elif body == "revoke":
            if not c.proposal.terms.revocation.allowed:
                raise RevocationNotAllowed(requirement="NEG-010")
        else:
            raise IllegalTransition(f"{body} is not a negotiation statement", requirement="NEG-001")
        if self._effective_ms(vs, c) is None:
            # held; takes effect when a Stamp of it by the escrow that counts arrives (WIT-005) -- never,
            # when the escrow stamped it only outside its claim window (CMT-005)
            return None
        return self._effective(vs)

    # -- the witnessed Accept (SPEC 8.9, NEG-017) ---------------------------------------

    def witnessed(self, accept: VerifiedStatement, offer: VerifiedStatement) -> bool:
        """Whether the escrow ``offer`` names stamped ``accept`` by the offer's bonding cutoff (its
        expires_at_ms + 30 s, WIT-004): that escrow recognised the contract and bonds it. Not by the
        Stamp an escrow is giving it now (SPEC 8.9): that escrow checks the Accept as any verifier does,
        so one that took another answer to the offer first takes no Accept of it (ESC-014)."""
        escrow = proposal_of(offer).terms.escrow
        if not escrow:
            return False
        at = self._recorded(escrow, accept.digest)
        return at is not None and at <= offer.expires_at_ms + BOND_GRACE_MS

    def exposed_offer(self, party: str) -> VerifiedStatement | None:
        """``party``'s earliest Offer or Counter in the line that carries a bond and names an escrow, and
        whose answer (the next Counter, or the Reject, Withdraw or Accept that closed the line) that escrow
        has not taken -- no Stamp of it held, nor a BondLock of the contract by that escrow -- or None. An
        Accept of it that escrow witnessed may still take precedence (NEG-017) and bind ``party`` to it,
        displacing what followed. Not the contract's own offer: its bonds lock only once its escrow took
        its Accept (NEG-012)."""
        return next(iter(self.exposed_offers(party)), None)

    def exposed_offers(self, party: str, *, bonded: bool = True) -> list[VerifiedStatement]:
        """Every offer :meth:`exposed_offer` could return, in the line's order: each of them an escrow
        may still bind ``party`` to, displacing what followed it. ``bonded=False``: also those that carry
        no bond (an Accept of one its escrow witnessed binds no bond, but its claim ends BREACHED)."""
        offers = self.offers
        c = self.contract
        last = len(offers) - 1 if c is not None else len(offers)
        # A lock of the contract by the escrow an earlier offer names proves that escrow took the whole
        # line up to the contract's Accept -- the answer to that offer too, and then no Accept of it
        # (ESC-014) -- whether or not its Stamp of the answer reached us.
        taken_by = c.escrow if c is not None and c.locked else ""
        out = []
        for i in range(last):
            offer = offers[i]
            terms = proposal_of(offer).terms
            if offer.issuer != party or not terms.escrow:
                continue
            if bonded and not (terms.issuer_bond or terms.audience_bond):
                continue
            if terms.escrow == taken_by:
                continue
            answer = offers[i + 1].digest if i + 1 < len(offers) else self.closed_by
            if not answer or self._stamps(terms.escrow, answer) is None:
                out.append(offer)
        return out

    def supersedes(self, vs: VerifiedStatement) -> bool:
        """Whether ``vs`` belongs to a branch a witnessed Accept cut off (NEG-018), judged without any
        stamp of ``vs`` itself: an escrow asks before it takes (and so stamps) a statement."""
        ref = cited(vs)
        if vs.body in _TRADE_EVENTS:
            # An Accept another escrow witnessed of a branch held off the line takes it back (NEG-021 (e))
            return self._answers_superseded(vs, ref) and not (
                vs.body == "accept" and self._takes_precedence(vs, ref)
            )
        return ref in self.superseded

    def _answers_superseded(self, vs: VerifiedStatement, ref: bytes) -> bool:
        """``vs`` answers an offer of a branch a witnessed Accept cut off, or is another answer to the
        witnessed contract's offer (stamped by its escrow or not: NEG-018)."""
        if ref in self.superseded:
            return True
        c = self.contract
        if c is None or ref != c.offer.digest or vs.digest == c.accept.digest:
            return False
        return self.witnessed(c.accept, c.offer)

    def continues_branch(self, vs: VerifiedStatement) -> bool:
        """Whether ``vs``, a trade statement taken superseded, answers :attr:`branch` as the transition
        table would have taken it had the witnessed Accept not come (:func:`_continues`, SPEC 4.5)."""
        tip = self.branch
        return tip is not None and _continues(tip, vs)

    def cut_off_line(
        self,
        held: HeldSuperseded,
        left_out: AbstractSet[bytes],
        refused: Callable[[VerifiedStatement, VerifiedStatement], bool],
    ) -> list[VerifiedStatement]:
        """SPEC 4.5, NEG-021 (d): the line the witnessed contract's Accept cut off, as a view that held that
        Accept before the lower answer it passed holds it -- of ``held`` (statements taken superseded; the
        lower answer and what answers it, ``left_out``, left out), the answer to the contract's offer the
        table would have taken (:func:`_continues`; of two, the lower in its issuer's chain), then the answer
        to that one, and so on, to an Accept, Reject or Withdraw or the last Counter -- or to one that view
        would have refused (``refused(answer, offer)``: on its issuer's caps, MND-022), which counts nowhere.
        Its open end becomes :attr:`branch` (the contract's offer when nothing answered it, None once an
        answer closed it), and the contract of an Accept on it is kept displaced (:attr:`displaced`), as in
        that view. A lookup per step of the line (:meth:`HeldSuperseded.first_answer`), not a pass over
        ``held``."""
        c = self.contract
        assert c is not None, "a line is cut off by a witnessed Accept, whose contract the negotiation holds"
        left_out = {*left_out, c.accept.digest}
        line: list[VerifiedStatement] = []
        tip: VerifiedStatement | None = c.offer
        while tip is not None and len(line) < len(held.answering):  # no cycle (each cites an earlier one)
            answer = held.first_answer(tip, left_out)
            if answer is None or refused(answer, tip):
                break
            line.append(answer)
            self._drop_displaced_above(tip, answer)
            if answer.body == "accept" and answer.digest not in (self.displaced or {}):
                self._keep_displaced(Contract(tip, answer, proposal_of(tip)), tip).formed_off_line = True
                self._apply_held_to_displaced(answer, held.answering)
            tip = answer if answer.body == "counter" else None
        self.branch = tip
        return line

    def _apply_held_to_displaced(
        self, accept: VerifiedStatement, answering: Mapping[bytes, list[VerifiedStatement]]
    ) -> None:
        """The statements held (``answering``: by what each cites) of the contract ``accept`` formed, kept
        displaced only now, applied to it as a view that held it first applied them (MND-023): its
        contract statements, then the Receipts of its Deliveries, each in its issuer's time order."""
        named = sorted(answering.get(accept.digest, ()), key=lambda vs: (vs.issued_at_ms, vs.seq))
        receipts = [r for vs in named for r in answering.get(vs.digest, ()) if r.body == "receipt"]
        for vs in [*named, *sorted(receipts, key=lambda vs: (vs.issued_at_ms, vs.seq))]:
            self.apply_to_displaced(vs)

    def _takes_precedence(self, accept: VerifiedStatement, ref: bytes) -> bool:
        """NEG-017: ``accept`` accepts an earlier offer of this negotiation (or the last one, beside
        another Accept), its issuer being that offer's audience, issued between the offer and its
        expiry; the offer's escrow witnessed it in time; and no contract witnessed by its escrow answers
        that offer or one before it, nor (two witnessed Accepts of one offer) was stamped first. Or it
        accepts a Counter held off the line whose branch prevails there (:meth:`_branch_prevails`, NEG-021
        (d), (e))."""
        offers = self.offers
        i = next((k for k, o in enumerate(offers) if o.digest == ref), -1)
        found = self._off_line_path(ref) if i < 0 else None
        if i < 0 and found is None:
            return False
        offer = offers[i] if found is None else found[1][-1]
        if accept.issuer != offer.audience or not (
            offer.issued_at_ms <= accept.issued_at_ms <= offer.expires_at_ms
        ):
            return False
        if not self.witnessed(accept, offer):
            return False
        # A verifier does not ask whether the escrow that stamped the Accept stamped another answer too:
        # an honest one never does (ESC-014), and for one that did, the order in which its Stamps reached
        # the verifier would decide (NEG-015). The audit reports that escrow (ANSWER_TAKEN_TWICE).
        if found is not None:
            return self._branch_prevails(*found)  # NEG-021 (d), (e)
        c = self.contract
        if c is None:
            return True
        if c.accept.digest == accept.digest:
            return False
        if not self.witnessed(c.accept, c.offer):
            return True  # an Accept no escrow witnessed gives way
        # Both witnessed: the earlier offer's wins (the contract's is the line's last) ...
        if i < len(offers) - 1:
            return True
        # ... and of two Accepts of one offer, both stamped by its escrow (at fault, ESC-014), the one it
        # stamped first, at one time the smaller digest: whichever a verifier met first (NEG-015).
        escrow = c.escrow
        mine = (self._recorded(escrow, accept.digest) or 0, accept.digest)
        return mine < (self._recorded(escrow, c.accept.digest) or 0, c.accept.digest)

    def _awaits_witness(self, accept: VerifiedStatement, ref: bytes) -> bool:
        """NEG-025: ``accept`` accepts an offer of the line that was answered (or accepted) already, whose
        terms name an escrow, meeting NEG-017's conditions (by the offer's audience, in its life) but not yet
        witnessed (no Stamp of it by that escrow by the offer's bonding cutoff held). Its escrow's order of
        the two answers, not the order a verifier heard them in, decides which binds (ESC-014), so it is
        taken with no event and held
        superseded until a Stamp of it comes (then NEG-017 takes it, the negotiation derived again) -- save
        at that escrow itself, stamping it now: there it is checked as the table says (ESC-014)."""
        offer = next((o for o in self.offers if o.digest == ref), None)
        if offer is None or accept.issuer != offer.audience:
            return False
        if not offer.issued_at_ms <= accept.issued_at_ms <= offer.expires_at_ms:
            return False
        escrow = proposal_of(offer).terms.escrow
        if not escrow or not self.hold_unwitnessed or self.witnessed(accept, offer):
            return False  # witnessed: NEG-017 decides (an earlier witnessed contract prevails)
        # A Stamp of it after the bonding cutoff witnesses nothing: held all the same, as before it came
        return (
            self._stamps(escrow, accept.digest) is None or self._recorded(escrow, accept.digest) is not None
        )

    def _adopt(self, accept: VerifiedStatement) -> None:
        """Apply a witnessed Accept that takes precedence: the line is cut back to its offer, and what
        the cut-off branch held -- later offers, the answer the escrow never took, a contract and its
        statements -- is superseded."""
        ref = accept.statement.accept.offer
        found = self._off_line_path(ref) if all(o.digest != ref for o in self.offers) else None
        cut = []
        if found is not None:
            # NEG-021 (d), (e): the branch held off the line is the line's again, from the offer of the line
            # it answers, in place of the answer held to that offer and what followed it (cut below, with
            # any contract formed from them).
            j, path = found
            self._keep_off_line(self.offers[j + 1 :])
            cut = [o.digest for o in self.offers[j + 1 :]]
            self.offers = [*self.offers[: j + 1], *path]
            off_line, superseded = self.off_line, self.superseded
            assert off_line is not None and isinstance(superseded, set), "the branch was taken superseded"
            for o in path:
                del off_line[o.digest]
                superseded.discard(o.digest)
            superseded.discard(accept.digest)
            self.superseded_changes += 1
        i = next(k for k, o in enumerate(self.offers) if o.digest == ref)
        offer = self.offers[i]
        cut += [o.digest for o in self.offers[i + 1 :]]
        if self.closed_by:
            cut.append(self.closed_by)
        old = self.replaced = self.contract
        if old is not None:
            self._keep_displaced(old, self.outstanding)
        # A branch taken back passes the line it leaves -- a lower answer's (NEG-021 (d): moving nothing, as
        # held after the witnessed contract) or another witnessed contract's (e) --: no open end to continue.
        bargaining = found is None and self.state in BARGAINING_STATES
        self.branch = self.outstanding if bargaining else None
        if old is not None:
            cut += [old.accept.digest, *old.deliveries, *old.pending, *old.claims]
        self._supersede(cut)
        del self.offers[i + 1 :]
        self.outstanding = offer
        self.closed_by = accept.digest
        self.contract = Contract(offer, accept, proposal_of(offer))
        before = self.state
        self.state = _ACCEPTED
        self.history.append((before, _WITNESSED_ACCEPT, _ACCEPTED, accept.digest))

    def _keep_displaced(self, contract: Contract, outstanding: VerifiedStatement) -> Negotiation:
        """Keep ``contract``, displaced, as this negotiation would stand with it (ACCEPTED, or the state it
        reached): a copy sharing its statements, which the contract's later statements move.

        The copy keeps what those statements can meet, and no more (redteam24: a key that reveals k lower
        answers one at a time displaces k - 1 contracts, NEG-021): its contract, its state, and its
        contract's own moves -- from the one that formed it, when this negotiation's contract is the one
        displaced; none for one formed on the cut-off line, whose Accept moved nothing here. Not the line,
        but its contract's offer, nor what was superseded before it: only statements naming its own
        contract or Deliveries reach it (:meth:`displaced_of`), a contract statement, checked against its
        contract alone, and the moves before its contract's stay in this negotiation's history, which
        every reader of a displaced contract's moves reads beside them. So what the copies keep is linear
        in the statements held, not in the contracts displaced before each."""
        shadow = copy.copy(self)
        shadow.offers = [contract.offer]
        shadow.superseded = _NONE_SUPERSEDED
        shadow.displaced, shadow.branch, shadow.replaced, shadow.off_line = None, None, None, None
        shadow.__dict__.pop("_displaced_by", None)  # the class default: it displaced nothing
        shadow.__dict__.pop("_displaced_ranked", None)
        shadow.__dict__.pop("_displaced_asked", None)
        if shadow.contract is contract:
            shadow.history = self._moves_of(contract)
        else:
            shadow.history = []
            shadow.contract, shadow.outstanding, shadow.state = contract, outstanding, _ACCEPTED
        if self.displaced is None:
            self.displaced = {}
        key = contract.accept.digest
        self.displaced[key] = shadow
        if self._displaced_by is not None:  # else built when first asked
            self._displaced_by.update(dict.fromkeys(_held_by_contract(contract), key))
        if self._displaced_ranked is not None:  # else built when first asked
            _rank_displaced(self._displaced_ranked, contract)
        return shadow

    def _moves_of(self, contract: Contract) -> list[tuple[State, Event, State, bytes]]:
        """The moves of :attr:`history` from the one that formed ``contract``, this negotiation's contract,
        on: read back from the end, over that contract's own moves alone."""
        history = self.history
        formed = contract.accept.digest
        for i in range(len(history) - 1, -1, -1):
            if history[i][3] == formed:
                return history[i:]
        return []

    def displaced_of(self, vs: VerifiedStatement) -> Negotiation | None:
        """The displaced contract's negotiation (:attr:`displaced`) that contract statement ``vs`` names."""
        displaced = self.displaced
        if not displaced or vs.body in _TRADE_EVENTS:
            return None
        ref = cited(vs)
        named = displaced.get(ref)  # by its Accept's digest: one lookup, however many were displaced
        if named is not None:
            return named
        shadow = displaced.get(self._displaced_index().get(ref, b""))  # a Receipt names a Delivery
        c = shadow.contract if shadow is not None else None
        return shadow if c is not None and ref in c.deliveries else None

    def displaced_holding(self, digest: bytes) -> Negotiation | None:
        """The displaced contract's negotiation (:attr:`displaced`) holding the BreachClaim or Revoke
        ``digest``, pending or effective, or None."""
        displaced = self.displaced
        if not displaced:
            return None
        shadow = displaced.get(self._displaced_index().get(digest, b""))
        c = shadow.contract if shadow is not None else None
        return shadow if c is not None and (digest in c.pending or digest in c.stamped_ms) else None

    def apply_to_displaced(self, vs: VerifiedStatement) -> Negotiation | None:
        """``vs``, taken superseded, applied to the displaced contract it names as it would have been, held
        before the witnessed Accept (SPEC 4.5, MND-023); one refused there moves nothing. Returns that
        contract's negotiation, or None."""
        shadow = self.displaced_of(vs)
        if shadow is None:
            return None
        try:
            shadow.apply(vs)
        except CoopError:
            return None
        c, index = shadow.contract, self._displaced_by
        if index is not None and c is not None and vs.digest in _held_by_contract(c):
            index[vs.digest] = c.accept.digest  # else built when first asked
        return shadow

    def drop_displaced(self, key: bytes) -> None:
        """Keep the contract displaced under ``key`` (:attr:`displaced`) no more: its Accept formed
        nothing."""
        shadow = self.displaced.pop(key, None) if self.displaced else None
        ranked = self._displaced_ranked
        if shadow is not None and shadow.contract is not None and ranked is not None:
            c = shadow.contract
            of_key = ranked.get((c.offer.digest, c.accept.issuer), [])
            if (entry := (chain_place(c.accept), key)) in of_key:
                of_key.remove(entry)
        index = self._displaced_by
        if shadow is None or shadow.contract is None or index is None:
            return
        for digest in _held_by_contract(shadow.contract):
            if index.get(digest) == key:
                del index[digest]

    def _drop_displaced_above(self, offer: VerifiedStatement, answer: VerifiedStatement) -> None:
        """Keep no more the contracts formed on the cut-off line (:attr:`formed_off_line`) of Accepts of
        ``offer`` (naming no escrow) by ``answer``'s issuer higher in its chain than ``answer``, the line's
        answer to ``offer`` now: each was the line's answer until a lower answer of its key took its place
        (NEG-021), and counts nowhere since (the recount, section 4.5) -- a view that held the lower answer
        first never formed it (proof32: a key's n Accepts of a cut-off Counter in reverse chain order kept
        n copies; now one). Not this negotiation's own contract displaced (cut back, NEG-021 (a)): that one
        bound, and its statements move it (MND-023)."""
        displaced = self.displaced
        if not displaced or proposal_of(offer).terms.escrow:
            return
        of_key = self._ranked_displaced().get((offer.digest, answer.issuer))
        if not of_key:
            return
        at = bisect.bisect_right(of_key, (chain_place(answer), b"\xff" * 64))
        for _, key in of_key[at:]:
            if displaced[key].formed_off_line:
                self.drop_displaced(key)

    def displaced_below(
        self, offer: bytes, answer: VerifiedStatement, *, newly: bool = False
    ) -> list[Negotiation]:
        """The displaced contracts (:attr:`displaced`) of ``offer`` whose Accept is by ``answer``'s issuer and
        lower than ``answer`` in that issuer's chain, lowest first: one search of :attr:`_displaced_ranked`,
        then those alone. ``newly``: only those not below an answer asked for before with ``newly``
        (:attr:`_displaced_asked`) -- each returned once, however the key's answers come."""
        displaced = self.displaced
        if not displaced:
            return []
        ranked = self._ranked_displaced()
        group, place = (offer, answer.issuer), chain_place(answer)
        of_key = ranked.get(group, [])
        start = 0
        if newly:
            asked = self._displaced_asked
            if asked is None:
                asked = self._displaced_asked = {}
            if group in asked:
                if place <= asked[group]:
                    return []
                start = bisect.bisect_left(of_key, (asked[group],))
            asked[group] = place
        below = of_key[start : bisect.bisect_left(of_key, (place,))]
        return [displaced[key] for _, key in below]

    def _ranked_displaced(self) -> dict[tuple[bytes, str], list[tuple[tuple[int, int, bytes], bytes]]]:
        """:attr:`_displaced_ranked`, built from :attr:`displaced` if it is not yet."""
        ranked = self._displaced_ranked
        if ranked is None:
            ranked = self._displaced_ranked = {}
            for shadow in (self.displaced or {}).values():
                if shadow.contract is not None:
                    _rank_displaced(ranked, shadow.contract)
        return ranked

    def _displaced_index(self) -> dict[bytes, bytes]:
        """:attr:`_displaced_by`, built from :attr:`displaced` if it is not yet."""
        index = self._displaced_by
        if index is None:
            index = self._displaced_by = {}
            for key, shadow in (self.displaced or {}).items():
                if shadow.contract is not None:
                    index.update(dict.fromkeys(_held_by_contract(shadow.contract), key))
        return index

    # -- two answers of one key to one offer naming no escrow (NEG-021) ------------------

    def _answer_of(self, i: int) -> VerifiedStatement | None:
        """The answer held to ``self.offers[i]``: the next Counter of the line, or the Accept or Reject that
        closed it after that offer (a Withdraw is its issuer's, not its audience's); None if none."""
        offers = self.offers
        if i + 1 < len(offers):
            return offers[i + 1]
        c = self.contract
        if c is not None:
            return c.accept if c.offer.digest == offers[i].digest else None
        rejected = self.rejected_by
        return rejected if rejected is not None and rejected.digest == self.closed_by else None

    def _lower_than_answer(self, vs: VerifiedStatement, ref: bytes) -> bool | None:
        """NEG-021: ``vs``, a Counter, Accept or Reject of the offer ``ref`` of the line -- one naming no
        escrow, by its audience, issued no earlier than it and no later than its expires_at_ms -- where the
        line holds another answer to that offer by the same key: True when ``vs`` is lower in that key's
        chain (by seq, then issued_at_ms, then digest) and takes its place, False when it is higher and is
        superseded (NEG-018); None when the rule does not apply (the table decides)."""
        if vs.body not in _ANSWER_BODIES:
            return None
        offers = self.offers
        i = next((k for k, o in enumerate(offers) if o.digest == ref), -1)
        if i < 0:
            return None
        offer = offers[i]
        if vs.issuer != offer.audience or not offer.issued_at_ms <= vs.issued_at_ms <= offer.expires_at_ms:
            return None
        if proposal_of(offer).terms.escrow:
            return self._taken_by_escrow(vs, offer)  # its escrow orders the answers it takes (ESC-014)
        answer = self._answer_of(i)
        if answer is None or answer.issuer != vs.issuer or answer.digest == vs.digest:
            return None
        if chain_place(vs) > chain_place(answer):
            return False
        return not self._passes_witnessed()

    def _taken_by_escrow(self, vs: VerifiedStatement, offer: VerifiedStatement) -> bool | None:
        """NEG-026: ``vs``, a Counter or Reject of ``offer`` (naming an escrow E; by its audience in its
        life), where the line's answer to ``offer`` is an Accept E has not witnessed (the contract's): True
        when E stamped ``vs`` -- E took it, and so never takes that Accept (ESC-014) --, which takes the
        Accept's place (the line cut back to ``offer``, as for NEG-021's lower answer); False when E has not
        yet, held superseded until it does (NEG-025's mirror: the negotiation is then derived again, the Stamp
        held); None when the rule does not apply (the table decides; and at an escrow itself, ESC-014)."""
        c = self.contract
        if vs.body == "accept" or not self.hold_unwitnessed or c is None or c.offer.digest != offer.digest:
            return None
        if self.witnessed(c.accept, offer):
            return None  # NEG-017: E took the Accept; what answers its offer beside it is superseded
        return self._recorded(proposal_of(offer).terms.escrow, vs.digest) is not None

    def _passes_witnessed(self) -> bool:
        """NEG-021 (d): whether the line holds a contract its escrow witnessed (its Stamp of the Accept,
        issued by the bonding cutoff, held: WIT-004), which no lower answer cuts back past: that answer is
        taken superseded, as a higher one."""
        c = self.contract
        return c is not None and self.witnessed(c.accept, c.offer)

    def passed_lower_answer(self, vs: VerifiedStatement) -> int | None:
        """NEG-021 (d): where ``vs``, taken superseded, is an answer lower in its issuer's chain than the
        line's answer to an offer of the line naming no escrow -- the pair's lower answer, which the line's
        witnessed contract passed -- that offer's index in :attr:`offers`; else None. It moves nothing, as
        held after that contract (SPEC 4.5)."""
        c = self.contract
        if c is None or vs.body not in _ANSWER_BODIES or vs.digest not in self.superseded:
            return None
        ref = cited(vs)
        i = next((k for k, o in enumerate(self.offers) if o.digest == ref), -1)
        if i < 0 or proposal_of(self.offers[i]).terms.escrow or not self.witnessed(c.accept, c.offer):
            return None
        answer = self.offers[i + 1] if i + 1 < len(self.offers) else c.accept
        if answer.issuer != vs.issuer or not _answers_in_life(self.offers[i], vs):
            return None
        return i if chain_place(vs) < chain_place(answer) else None

    def _keep_off_line(self, held: Iterable[VerifiedStatement]) -> None:
        """NEG-021 (d), (e): keep each Counter of ``held``, taken superseded or cut off the line, in
        :attr:`off_line`: a witnessed Accept of it, or of a Counter answering it in turn, may take the line
        back. Linear in the Counters held, as :attr:`superseded` is."""
        for vs in held:
            if vs.body == "counter":
                if self.off_line is None:
                    self.off_line = {}
                self.off_line[vs.digest] = vs

    def _off_line_path(self, ref: bytes) -> tuple[int, list[VerifiedStatement]] | None:
        """The branch held off the line that the offer ``ref`` ends: the index of the offer of the line it
        answers, and its Counters (:attr:`off_line`) from that offer's answer down to ``ref``; None when
        ``ref`` is held off no branch leading back to the line."""
        off = self.off_line
        node = off.get(ref) if off else None
        if node is None or off is None:
            return None
        at = {o.digest: k for k, o in enumerate(self.offers)}
        path = [node]
        while len(path) <= len(off):  # a Counter cites an earlier statement: no cycle, but bound it anyway
            parent = cited(node)
            j = at.get(parent)
            if j is not None:
                path.reverse()
                return j, path
            node = off.get(parent)
            if node is None:
                return None
            path.append(node)
        return None

    def _branch_prevails(self, j: int, path: list[VerifiedStatement]) -> bool:
        """NEG-021 (d), (e): whether a witnessed Accept of ``path[-1]``, in the branch held off the line that
        ``path[0]`` opens as an answer to ``self.offers[j]``, takes the line back. Only where that offer names
        no escrow and ``path[0]`` and the answer held to it are two answers of one key to it, by its
        audience within its life (NEG-021's pair; an offer naming an escrow is that escrow's to order,
        NEG-017): then the witnessed branch prevails over one holding no witnessed contract (d), and of two
        branches each holding one, the lower answer's (e). Each Counter after ``path[0]`` answers the one
        before it as the table would have taken it, by its audience within its life (NEG-004, NEG-014,
        NEG-007): taken superseded, it was never checked against them."""
        fork, root = self.offers[j], path[0]
        if proposal_of(fork).terms.escrow or not all(map(_answers_in_life, (fork, *path), path)):
            return False
        held = self._answer_of(j)
        if held is None or held.issuer != root.issuer:
            return False
        c = self.contract
        witnessed = c is not None and self.witnessed(c.accept, c.offer)
        return not witnessed or chain_place(root) < chain_place(held)

    def _second_answer(self, vs: VerifiedStatement) -> None:
        """NEG-023: ``vs``, taken superseded, is an answer higher in its issuer's chain than the Accept of
        the same key to the same offer naming no escrow that formed the contract (NEG-021 (b)): from now
        on that contract binds its offerer to nothing."""
        c = self.contract
        if (
            c is not None
            and not c.answered_twice
            and vs.body in _ANSWER_BODIES
            and vs.issuer == c.acceptor
            and vs.digest != c.accept.digest
            and not c.escrow
            and cited(vs) == c.offer.digest
        ):
            c.answered_twice = True

    def accepts_again(self, vs: VerifiedStatement, event: Event | None) -> bool:
        """NEG-023: whether ``vs``, classified ``event``, is an Accept lower in its key's chain than that
        key's answer held to the same offer naming no escrow (NEG-021 (a)): its contract binds its offerer
        to nothing, so NEG-009 is no ground to refuse it."""
        return event is _ACCEPT and self._cuts_back(vs, event)

    def _cuts_back(self, vs: VerifiedStatement, event: Event | None) -> bool:
        """Whether ``event``, classified for ``vs``, is NEG-021's: an answer lower in its issuer's chain than
        the answer held to the offer it answers, which is not the outstanding one (or the line is closed)."""
        if event is not _COUNTER and event is not _ACCEPT and event is not _REJECT:
            return False
        ref = cited(vs)
        if self.state in BARGAINING_STATES and ref == self.outstanding.digest:
            return False
        return bool(self._lower_than_answer(vs, ref))

    def _cut_back(self, vs: VerifiedStatement) -> None:
        """NEG-021: the line is cut back to the offer ``vs`` answers, which is outstanding again (in the
        state it left the negotiation in); the answer it held, the offers after it and any contract formed
        from them are superseded (NEG-018), a contract kept displaced for its statements (SPEC 4.5)."""
        ref = cited(vs)
        i = next(k for k, o in enumerate(self.offers) if o.digest == ref)
        cut = [o.digest for o in self.offers[i + 1 :]]
        if self.closed_by:
            cut.append(self.closed_by)
        old = self.contract
        if old is not None:
            self._keep_displaced(old, self.outstanding)
            cut += [old.accept.digest, *old.deliveries, *old.pending, *old.claims]
        self._supersede(cut)
        self._keep_off_line(self.offers[i + 1 :])  # NEG-021 (d): a witnessed Accept may take them back
        self.offers = self.offers[: i + 1]  # a new list: the verifier reads the line cut off from the old one
        self.outstanding = self.offers[i]
        self.closed_by = b""
        self.contract = None
        self.branch = None
        if self.rejected_by is not None:
            self.rejected_by = None
        self.state = S.PROPOSED if i == 0 else S.COUNTERED

    def _supersede(self, digests: Iterable[bytes]) -> None:
        superseded = self.superseded
        if not isinstance(superseded, set):
            # The shared empty one -- or an empty frozenset of its own, read back from a pickle that did
            # not go through the node's snapshot (which restores the shared one by name).
            superseded = self.superseded = set(superseded)
        superseded.update(digests)
        self.superseded_changes += 1

    def _effective_ms(self, vs: VerifiedStatement, c: Contract) -> int | None:
        """The effective time of the held BreachClaim or Revoke ``vs`` (WIT-005): the earliest Stamp of it
        by the contract's escrow held -- for a claim, the earliest within its item's claim window (after
        the deadline, by it plus :data:`CLAIM_WINDOW_MS`, CMT-005) -- or None: not effective (yet)."""
        if vs.body != "breach_claim":
            return self._stamps(c.escrow, vs.digest)
        return self._claim_stamp(c, vs.digest, (c.other(vs.issuer), vs.statement.breach_claim.item_index))

    def _claim_stamp(self, c: Contract, digest: bytes, claim: tuple[str, int]) -> int | None:
        """The earliest Stamp of the claim ``digest`` on ``claim`` (accused, item index) held within the
        item's claim window, or None."""
        deadline = c.items(claim[0])[claim[1]].deadline_ms
        at = self._stamps(c.escrow, digest, deadline)
        return at if at is not None and at <= deadline + CLAIM_WINDOW_MS else None

    @staticmethod
    def _effective(vs: VerifiedStatement) -> Event:
        return E.BREACH_CLAIM if vs.body == "breach_claim" else E.REVOKE

    def _classify_receipt(self, vs: VerifiedStatement, c: Contract) -> Event:
        ref = vs.statement.receipt.delivery
        if ref not in c.deliveries:
            if ref in self.superseded:
                return _SUPERSEDED  # a Delivery under a displaced contract (NEG-018)
            raise StaleReference("receipt for an unknown delivery", requirement="NEG-005")
        deliverer, idx = c.deliveries[ref]
        if vs.issuer != c.other(deliverer):
            raise WrongParty("only the receiving party issues a receipt", requirement="NEG-008")
        if vs.issued_at_ms < c.accept.issued_at_ms:
            raise IllegalTransition("issued before the contract was formed", requirement="NEG-014")
        return _RECEIPT_COMPLETE if c.all_receipted((deliverer, idx)) else _RECEIPT

    def _acts_for_escrow(self, vs: VerifiedStatement, c: Contract) -> bool:
        """Whether ``vs`` is the contract's escrow's: issued by the key its terms name before a hand-over
        of it, or by that key's successor from the hand-over's time on (ESC-022, (e)), as the stamp
        lookup's witness index -- the verifier's, which keeps the hand-overs it honours -- says."""
        acts_for = getattr(getattr(self._stamps, "__self__", None), "acts_for", None)
        if acts_for is None:
            return vs.issuer == c.escrow
        return bool(acts_for(vs.issuer, c.escrow, vs.issued_at_ms, vs.seq))

    def _classify_escrow(self, vs: VerifiedStatement, c: Contract) -> Event:
        body = vs.body
        if not self._acts_for_escrow(vs, c):
            raise WrongParty(
                f"only the contract's escrow issues {body} (or its successor, from its hand-over on)",
                requirement="NEG-008",
            )
        msg = getattr(vs.statement, body)
        if body == "ruling":
            return self._classify_ruling(vs, c)
        if msg.party not in c.parties:
            raise BodyInvalid(f"{body}.party is not a contract party", requirement="NEG-008")
        if body == "bond_lock":
            if msg.party in c.locked or msg.amount != c.bond(msg.party):
                raise BodyInvalid(
                    "bond lock must lock each required bond once, in full", requirement="NEG-012"
                )
            if vs.issued_at_ms > c.bond_cutoff_ms:
                raise IllegalTransition(
                    f"a bond lock after the bonding cutoff (the accepted offer's expiry + "
                    f"{BOND_GRACE_MS} ms, {c.bond_cutoff_ms}): bonding ends at a time both parties signed",
                    requirement="CMT-010",
                )
            after = {**c.locked, msg.party: msg.amount}
            complete = all(p in after and p not in c.settled for p in c._bonds_required)
            return E.BOND_COMPLETE if complete else E.BOND_LOCK
        if (
            msg.party not in c.locked
            or msg.amount != c.locked[msg.party]
            or (msg.party in c.settled and (body != "forfeit" or msg.party in c.forfeited))
        ):
            raise BodyInvalid(f"{body} must settle a locked bond once, in full", requirement="NEG-012")
        if body == "forfeit":
            self._check_forfeit_cause(msg.party, msg.beneficiary, msg.cause, c)
        return {"release": E.RELEASE, "forfeit": E.FORFEIT, "refund": E.REFUND}[body]

    def _classify_ruling(self, vs: VerifiedStatement, c: Contract) -> Event:
        """CMT-002, CMT-006: what a Ruling decides, and whether it could be made when it was."""
        r = vs.statement.ruling
        when = vs.issued_at_ms
        if r.decision == _LAPSE:
            if c.lapsed:
                raise BodyInvalid("the contract already lapsed", requirement="CMT-006")
            earliest = c.last_deadline_ms + CLAIM_WINDOW_MS
            if c._bonds_required:  # or once bonding has ended (ESC-010); whether it was due: AUD-004
                earliest = min(earliest, c.bond_cutoff_ms)
            if when <= earliest:
                raise IllegalTransition(
                    "a contract lapses only after its last deadline plus the claim window, or, when "
                    "its terms require a bond, after the bonding cutoff",
                    requirement="CMT-006",
                )
            return E.LAPSE
        if r.claim not in c.claims:
            raise StaleReference(
                "the ruling names no effective claim of this contract", requirement="CMT-002"
            )
        if r.claim in c.rulings and (r.decision != _UPHOLD or c.rulings[r.claim] == _UPHOLD):
            # A second ruling on one claim is the escrow's fault (AUD-004) -- save an UPHOLD after a
            # DISMISS: a Ruling UPHOLD held makes the contract BREACHED (section 8.9, row 1) whatever
            # else is held, so that two verifiers shown both rulings, in either order, agree.
            raise BodyInvalid("the claim was already ruled on", requirement="CMT-002")
        if when < c.ruling_due_ms(r.claim):
            raise IllegalTransition(
                "ruled before the claim's response window ended, or while a Delivery of its item could "
                "still be timely",
                requirement="CMT-002",
            )
        if r.decision == _UPHOLD:
            return E.UPHOLD
        # Whether r.evidence is a timely Delivery is for the audit (AUD-004), as whether an UPHOLD
        # was right is: a verifier that does not hold it must reach the same state as one that does.
        if len(c.pending_claims) > 1:
            return E.DISMISS_PENDING
        return E.DISMISS_COMPLETE if c.all_receipted() else E.DISMISS

    @staticmethod
    def _check_forfeit_cause(party: str, beneficiary: str, cause: bytes, c: Contract) -> None:
        """A Forfeit pays the bond of the party its cause blames to the other party (CMT-002, CMT-003).

        The cause is a claim against ``party`` the escrow upheld, or ``party``'s own effective Revoke
        under forfeit_bond terms. Whether the ruling was right is for the audit (AUD-004).
        """
        if beneficiary != c.other(party):
            raise BodyInvalid("a forfeited bond goes to the other party", requirement="CMT-002")
        if cause in c.revokes:
            if c.revokes[cause] != party or not c.proposal.terms.revocation.forfeit_bond:
                raise BodyInvalid(
                    "a revoke forfeits only the revoker's bond, and only under forfeit_bond terms",
                    requirement="CMT-003",
                )
            return
        claim = c.claims.get(cause)
        if claim is None or claim[0] != party or c.rulings.get(cause) != _UPHOLD:
            raise BodyInvalid("forfeit.cause is no upheld claim against this party", requirement="CMT-002")

    def _record(self, vs: VerifiedStatement, event: Event | None) -> None:
        body = vs.body
        if event is _COUNTER:
            self.outstanding = vs
            self.offers.append(vs)
        elif event is _ACCEPT:
            self.contract = Contract(self.outstanding, vs, proposal_of(self.outstanding))
            self.closed_by = vs.digest
        elif event is _REJECT or event is _WITHDRAW:
            self.closed_by = vs.digest
            if event is _REJECT:
                self.rejected_by = vs  # NEG-021 reads its place in its issuer's chain
        elif self.contract is not None and body not in _TRADE_EVENTS:
            c = self.contract
            c.finished_memo.clear()
            msg = getattr(vs.statement, body)
            if body == "bond_lock":
                c.locked[msg.party] = msg.amount
                c.locked_ms[msg.party] = vs.issued_at_ms
            elif body in ("release", "forfeit", "refund"):
                c.settled.add(msg.party)
                if body == "forfeit":
                    c.forfeited = c.forfeited | {msg.party}
            elif body == "delivery":
                c.deliveries[vs.digest] = (vs.issuer, msg.item_index)
                key, at = (vs.issuer, msg.item_index), vs.issued_at_ms
                c.first_delivered_ms[key] = min(at, c.first_delivered_ms.get(key, at))
                c.delivered_at[vs.digest] = (at, vs.issuer, vs.seq)
            elif body == "receipt":
                item = c.deliveries[msg.delivery]
                c.receipted.add(item)
                pair = ((vs.issued_at_ms, vs.issuer, vs.seq), c.delivered_at[msg.delivery])
                held = c.receipted_by.get(item)  # one Receipt an item (CMT-013); offline, the earliest
                if held is None or max(pair)[0] < max(held)[0]:
                    c.receipted_by[item] = pair
            elif body in ARBITRATED_BODIES:
                stamped = self._effective_ms(vs, c)  # None exactly when the check found no event
                if stamped is None:
                    c.pending[vs.digest] = vs
                else:
                    self._record_effective(vs, c, stamped)
            elif body == "ruling":
                if msg.decision in (_LAPSE, _UPHOLD):
                    c.ending_by[vs.digest] = (vs.issued_at_ms, vs.issuer, vs.seq)  # EXPIRED or BREACHED
                if msg.decision == _LAPSE:
                    c.lapsed = True
                else:
                    c.rulings[msg.claim] = msg.decision
                    c.pending_claims.pop(msg.claim, None)

    @staticmethod
    def _record_effective(vs: VerifiedStatement, c: Contract, stamped_ms: int) -> None:
        c.finished_memo.clear()
        c.stamped_ms[vs.digest] = stamped_ms
        if vs.body == "breach_claim":
            claim = (c.other(vs.issuer), vs.statement.breach_claim.item_index)
            c.claims[vs.digest] = c.pending_claims[vs.digest] = claim
        else:
            c.revokes[vs.digest] = vs.issuer
            c.ending_by[vs.digest] = (vs.issued_at_ms, vs.issuer, vs.seq)  # REVOKED, from its earliest Stamp


_NEVER: Final = -(1 << 65)  # before any uint64 time


class Negotiations:
    """Every negotiation a party or auditor tracks, plus the cross-negotiation
    exclusive-key index (NEG-009) and the pending arbitrated statements by digest.

    ``apply`` routes a verified statement to its negotiation, creating one for
    an opening Offer; ``activate`` applies a pending BreachClaim or Revoke once
    its escrow's stamp is accepted.
    """

    # NEG-025 (:attr:`Negotiation.hold_unwitnessed`): False in an escrow's verifier. The class default is
    # the escrow's, the refusing one: read by one pickled before NEG-025 (ESC-014).
    hold_unwitnessed: bool = False

    def __init__(
        self,
        stamps: StampLookup = _no_stamps,
        recorded: StampLookup | None = None,
        *,
        hold_unwitnessed: bool = True,
    ) -> None:
        self.hold_unwitnessed = hold_unwitnessed
        self.by_id: dict[bytes, Negotiation] = {}
        self._stamps = stamps
        # The stamps held before the statement being checked (not one an escrow is giving it now).
        self._recorded = stamps if recorded is None else recorded
        # (issuer, key) -> the negotiations whose live contract holds it (NEG-009): more than one when a
        # witnessed Accept formed a contract beside one holding the key (NEG-019).
        self._exclusive: dict[tuple[str, bytes], tuple[bytes, ...]] = {}
        # (issuer, key) -> the latest finish of a contract in its holders, or more (it never falls): an
        # Accept issued after it meets no finished holder, so none is looked at.
        self._latest_finish: dict[tuple[str, bytes], int] = {}
        # (issuer, key) -> {negotiation id: its contract's finish time} of finished contracts holding it.
        self._finished_holders: dict[tuple[str, bytes], dict[bytes, int]] = {}
        # Negotiations whose contract holds no exclusive_key of its offerer (NEG-009 read with KEY-009 (c)):
        # its Accept is disowned and no escrow can witness it (:meth:`unbind`).
        self._unbinding: set[bytes] = set()
        # Held arbitrated statement (pending or effective) digest -> negotiation id: a Stamp of one makes
        # it effective, or, effective, may lower its stamp time (WIT-005).
        self._arbitrated: dict[bytes, bytes] = {}
        # Where a forgotten negotiation comes back from (a2a_coop.protocol.archive), if anywhere.
        self.restore: Callable[[bytes], Negotiation | None] | None = None

    def get(self, negotiation_id: bytes) -> Negotiation:
        """The negotiation (a forgotten one is read back, not kept: reading it changes no memory)."""
        neg = self.find(negotiation_id)
        if neg is None:
            raise UnknownNegotiation(requirement="NEG-002")
        return neg

    def find(self, negotiation_id: bytes) -> Negotiation | None:
        """:meth:`get`, or None for a negotiation never seen."""
        neg = self.by_id.get(negotiation_id)
        if neg is None and self.restore is not None and negotiation_id:
            neg = self.restore(negotiation_id)
        return neg

    def forget(self, negotiation_id: bytes) -> Negotiation | None:
        """Drop a negotiation from memory; :attr:`restore` brings it back when a statement names it."""
        neg = self.by_id.pop(negotiation_id, None)
        c = neg.contract if neg is not None else None
        if c is not None:
            self._unhold(c, negotiation_id, forget=True)
            for digest in arbitrated(c):
                self._arbitrated.pop(digest, None)
        for shadow in (neg.displaced or {}).values() if neg is not None else ():
            for digest in arbitrated(shadow.contract) if shadow.contract is not None else ():
                self._arbitrated.pop(digest, None)
        return neg

    def _held(self, negotiation_id: bytes) -> bool:
        """Whether the negotiation is in memory, after bringing it back if it was forgotten."""
        if negotiation_id in self.by_id:
            return True
        neg = self.restore(negotiation_id) if self.restore is not None else None
        if neg is None:
            return False
        self.by_id[negotiation_id] = neg
        for held in (neg, *(neg.displaced or {}).values()):
            c = held.contract
            for digest in arbitrated(c) if c is not None else ():
                self._arbitrated[digest] = negotiation_id
        self._index_exclusive(neg)
        return True

    def check(self, vs: VerifiedStatement) -> Event | None:
        """What applying ``vs`` would do, without doing it."""
        nid = vs.negotiation_id
        if not self._held(nid):
            Negotiation.check_opening(vs)
            return _OFFER
        neg = self.by_id[nid]
        event = neg.check(vs)
        if event is _ACCEPT and not self._witnessed_before(neg, vs):
            self._check_exclusive(neg, vs)
        return event

    def apply(
        self, vs: VerifiedStatement, *, checked: bool = False, event: Event | None = None
    ) -> Negotiation:
        """Route ``vs`` to its negotiation (opening one for an Offer) and advance it.

        ``checked``: ``event`` is what :meth:`check` returned for ``vs``, nothing having changed
        since, so ``vs`` is not classified again (the verifier's check-then-commit).
        """
        nid = vs.negotiation_id
        if not self._held(nid):
            # Raises UnknownNegotiation unless vs is an opening Offer.
            neg = Negotiation(vs, self._stamps, self._recorded)
            neg.hold_unwitnessed = self.hold_unwitnessed
            self.by_id[nid] = neg
            return neg
        neg = self.by_id[nid]
        if not checked:
            event = neg.check(vs)
            if event is _ACCEPT and not self._witnessed_before(neg, vs):
                self._check_exclusive(neg, vs)
        held = neg.contract
        neg.apply_checked(vs, event)
        c = neg.contract
        if c is not None and (vs.digest in c.pending or vs.digest in c.stamped_ms):
            self._arbitrated[vs.digest] = nid
        elif event is _SUPERSEDED and neg.displaced_holding(vs.digest) is not None:
            self._arbitrated[vs.digest] = nid  # a displaced contract's claim or revoke
        if event is _WITNESSED_ACCEPT and neg.replaced is not None:
            self._drop_displaced(neg, neg.replaced)
        elif held is not None and neg.contract is not held:
            self._drop_displaced(
                neg, held
            )  # a lower answer of its acceptor took its Accept's place (NEG-021)
            self._unbinding.discard(neg.id)  # a contract formed next is read afresh (KEY-009 (c))
        if c is not None and c.answered_twice and c.exclusive_key:
            self._unhold(c, nid, forget=True)  # NEG-023: it holds no exclusive_key of its offerer
        self._index_exclusive(neg)
        return neg

    def _drop_displaced(self, neg: Negotiation, old: Contract) -> None:
        """A witnessed Accept displaced ``old`` (NEG-017): the exclusive_key it held is free (NEG-009 counts
        live contracts). Its held claims and revokes stay indexed: a Stamp of one moves the displaced
        contract alone (:attr:`Negotiation.displaced`, SPEC 4.5)."""
        self._unhold(old, neg.id, forget=True)

    def activate(self, escrow: str, digest: bytes) -> Negotiation | None:
        """``escrow`` stamped ``digest`` (the stamp lookup holds it now): apply it if it is a held
        BreachClaim or Revoke of a contract that names that escrow and the Stamp counts, or lower its
        stamp time if it is effective already and the Stamp is earlier (WIT-005). Returns the
        negotiation, or None when ``digest`` is no such statement."""
        nid = self._arbitrated.get(digest)
        if nid is None:
            return None
        neg = self.by_id[nid]
        shadow = neg.displaced_holding(digest)
        if shadow is not None:  # of a displaced contract (SPEC 4.5, MND-023): it moves that contract alone
            if shadow.contract is not None and shadow.contract.escrow == escrow:
                try:
                    shadow.activate(digest)
                except CoopError:
                    return None  # held first, that verifier would have refused it: it moves nothing
                return neg
            return None
        c = neg.contract
        if c is None or c.escrow != escrow:
            return None  # another key's stamp witnesses nothing for this contract
        neg.activate(digest)
        self._index_exclusive(neg)
        return neg

    def _index_exclusive(self, neg: Negotiation) -> None:
        """A contract holds its proposer's exclusive_key (NEG-009) from its Accept until it is finished
        (:attr:`Negotiation.contract_finished_ms`), and, finished, still for an Accept issued at or before
        its ending (SPEC 8.6: an ending dated after a statement does not reach back to free the key for
        it). Every live contract holding the key is kept, not only the first: a witnessed Accept (NEG-019)
        forms one beside another, and the key stays held until both are finished, whichever was indexed
        first. A finished one is kept, with its ending's time, until its negotiation is forgotten."""
        c = neg.contract
        if c is None or not c.exclusive_key or neg.id in self._unbinding or c.answered_twice:
            return
        key = (c.proposer, c.exclusive_key)
        finished = neg.contract_finished_ms
        if finished is None:
            holders = self._exclusive.get(key, ())
            if neg.id not in holders:
                self._exclusive[key] = (*holders, neg.id)
            return
        self._unhold(c, neg.id)
        self._finished_holders.setdefault(key, {})[neg.id] = finished
        if finished > self._latest_finish.get(key, _NEVER):
            self._latest_finish[key] = finished

    def unbind(self, neg: Negotiation) -> None:
        """``neg``'s contract holds no exclusive_key of its offerer from now on, live or finished (NEG-009):
        its Accept is disowned and no escrow can witness it (KEY-009 (c)) -- the offerer's own guard, a live
        receiver, refused it (KEY-004), and no Stamp can ever make it count."""
        c = neg.contract
        if c is None or neg.id in self._unbinding:
            return
        self._unbinding.add(neg.id)
        self._unhold(c, neg.id, forget=True)

    def _unhold(self, c: Contract, negotiation_id: bytes, *, forget: bool = False) -> None:
        key = (c.proposer, c.exclusive_key)
        holders = self._exclusive.get(key)
        if c.exclusive_key and holders is not None and negotiation_id in holders:
            left = tuple(h for h in holders if h != negotiation_id)
            if left:
                self._exclusive[key] = left
            else:
                del self._exclusive[key]
        finished = self._finished_holders.get(key) if forget else None
        if finished is not None and finished.pop(negotiation_id, None) is not None and not finished:
            del self._finished_holders[key]
            self._latest_finish.pop(key, None)

    def exclusive_holder(
        self, issuer: str, key: bytes, other_than: bytes = b"", at: VerifiedStatement | None = None
    ) -> bytes | None:
        """A negotiation other than ``other_than`` whose contract holds ``issuer``'s exclusive ``key``
        (NEG-009) for the statement ``at``: one not finished, or one whose ending is not before ``at``
        (:meth:`Contract.finished_at` for ``at``'s issuer, against ``at``'s time and seq); with ``at``
        None, only one not finished. None if there is none."""
        index = (issuer, key)
        for holder in self._exclusive.get(index, ()):
            if holder != other_than:
                return holder
        if at is None or at.issued_at_ms > self._latest_finish.get(index, _NEVER):
            return None  # no finished holder ended at or after its time
        place = (at.issued_at_ms, at.seq)
        for holder in self._finished_holders.get(index, {}):
            c = self.by_id[holder].contract
            finished = c.finished_at(at.issuer) if c is not None else None
            if holder != other_than and finished is not None and place <= finished:
                return holder
        return None

    def _witnessed_before(self, neg: Negotiation, accept: VerifiedStatement) -> bool:
        """NEG-019: NEG-009 does not apply to an Accept of the outstanding offer its escrow witnessed (a
        Stamp of it by the bonding cutoff, held before it came): the offer's issuer committed the key when
        it signed the offer, and the escrow, which checked NEG-009 in its view as it took the Accept,
        bonds it. Refused here, the Accept would only keep the offerer from performing. An escrow taking
        the Accept now still checks (its Stamp is not recorded yet)."""
        offer = neg.outstanding
        escrow = proposal_of(offer).terms.escrow
        at = self._recorded(escrow, accept.digest) if escrow else None
        return at is not None and at <= offer.expires_at_ms + BOND_GRACE_MS

    def _check_exclusive(self, neg: Negotiation, accept: VerifiedStatement) -> None:
        if neg.accepts_again(accept, _ACCEPT):
            return  # NEG-023: its contract binds its offerer to nothing: NEG-009 is no ground to refuse it
        ref = accept.statement.accept.offer
        # the offer it accepts: the outstanding one, or an earlier one of the line (NEG-021)
        offer = next((o for o in neg.offers if o.digest == ref), neg.outstanding)
        proposal = proposal_of(offer)
        if not proposal.exclusive_key:
            return
        if self.exclusive_holder(offer.issuer, proposal.exclusive_key, neg.id, accept) is not None:
            raise ExclusiveConflict(
                f"{offer.issuer:.40} already committed this exclusive_key in another contract",
                requirement="NEG-009",
            )


class HeldSuperseded:
    """A negotiation's statements held superseded (NEG-018) by the statement each cites -- what the recount
    of a line its witnessed Accept cut off reads (SPEC 4.5, NEG-021 (d)) -- and, of each statement, the
    answers that may continue it ranked by their place in their issuer's chain: a key's flood of answers to
    one statement costs each recount a lookup, not a pass over them, whatever order they came in -- the
    sender's choice (flood31: 1,000 Rejects in reverse chain order visited half a million digests). Kept in
    step as statements are taken superseded one by one (:meth:`keep_up`); built again from the statements
    held once :attr:`Negotiation.superseded` changed otherwise (:meth:`fits`)."""

    def __init__(self, neg: Negotiation, held: Iterable[VerifiedStatement]) -> None:
        self.neg, self.of, self.changes = neg, neg.superseded, neg.superseded_changes
        self.size = len(neg.superseded)
        self.answering: dict[bytes, list[VerifiedStatement]] = {}  # in the order taken
        self._ranked: dict[bytes, list[VerifiedStatement]] = {}  # lowest in its issuer's chain first
        for vs in held:
            self._add(vs)

    def _add(self, vs: VerifiedStatement) -> None:
        ref = cited(vs)
        self.answering.setdefault(ref, []).append(vs)
        if vs.body in _TRADE_EVENTS and vs.body != "offer":
            bisect.insort(self._ranked.setdefault(ref, []), vs, key=chain_place)

    def fits(self, neg: Negotiation) -> bool:
        """Whether it is built from ``neg``'s superseded statements as they stand."""
        return neg is self.neg and neg.superseded is self.of and neg.superseded_changes == self.changes

    def keep_up(self, neg: Negotiation, vs: VerifiedStatement) -> bool:
        """``vs`` was just applied to ``neg``: add it if that took it superseded, the set's one change since;
        False if the set changed otherwise (build it again)."""
        if self.fits(neg):
            return True
        if (
            neg is not self.neg
            or neg.superseded is not self.of
            or neg.superseded_changes != self.changes + 1
            or len(self.of) != self.size + 1
            or vs.digest not in self.of
        ):
            return False
        self.changes, self.size = neg.superseded_changes, self.size + 1
        self._add(vs)
        return True

    def first_answer(self, tip: VerifiedStatement, left_out: AbstractSet[bytes]) -> VerifiedStatement | None:
        """The answer to ``tip`` held superseded, but those of ``left_out``, the transition table would have
        taken (:func:`_continues`; of two, the lower in its issuer's chain). One that cannot continue ``tip``
        never will (it depends on the two statements alone): dropped from the ranking for good."""
        ranked = self._ranked.get(tip.digest)
        i = 0
        while ranked is not None and i < len(ranked):
            vs = ranked[i]
            if not _continues(tip, vs):
                del ranked[i]
            elif vs.digest in left_out:
                i += 1
            else:
                return vs
        return None
