"""The negotiation state machine (SPEC.md section 8, NEG-*).

Theory of operation. One :class:`Negotiation` per ``negotiation_id`` follows a
bilateral trade from its first Offer to settlement. It is sans-IO and clock
free: statements go in (already verified), the new state comes out, and the
only notion of time is the ``issued_at_ms`` of the statement being applied (or
an explicit :meth:`Negotiation.expire_due` call by a runtime), so a transcript
replays to the same states for every auditor.

Each statement becomes an :class:`Event`. A few events are *derived*: a BondLock
is ``BOND_COMPLETE`` when it locks the last bond the terms require, a Receipt is
``RECEIPT_COMPLETE`` when it acknowledges the last obligation of either side.
Whether ``(state, event)`` is allowed is decided by one literal table,
:data:`TRANSITIONS`; anything not in it raises IllegalTransition (NEG-001).
SPEC.md's table is generated from it (tools/gen_spec_tables.py), so the two
cannot disagree. Who may send an event, and what it must reference, are
checked separately (NEG-003..NEG-012), before the table is consulted.

The deciding layer never talks to this module directly: a peer asks
:meth:`Negotiation.check` whether a statement it is about to sign would be
legal, then signs, then :meth:`Negotiation.apply`s it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import (
    BodyInvalid,
    ExclusiveConflict,
    IllegalTransition,
    RevocationNotAllowed,
    StaleReference,
    UnknownNegotiation,
    WrongParty,
)
from a2a_coop.protocol.statements import VerifiedStatement

# A contract nobody performed lapses this long after its last deadline, unless
# someone filed a breach claim first (CMT-004).
CLAIM_WINDOW_MS: Final = 24 * 3600 * 1000


class State(StrEnum):
    PROPOSED = "PROPOSED"  # an Offer is outstanding
    COUNTERED = "COUNTERED"  # a Counter is outstanding
    ACCEPTED = "ACCEPTED"  # contract formed; bonds not all locked
    BONDED = "BONDED"  # every required bond locked
    PERFORMING = "PERFORMING"  # at least one Delivery
    DISPUTED = "DISPUTED"  # a BreachClaim awaits the escrow
    FULFILLED = "FULFILLED"  # every obligation of both sides receipted
    BREACHED = "BREACHED"  # the escrow upheld a claim and forfeited a bond
    REVOKED = "REVOKED"  # a party exited under the revocation terms
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"  # offer lapsed, or contract lapsed unperformed


class Event(StrEnum):
    OFFER = "OFFER"
    COUNTER = "COUNTER"
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    WITHDRAW = "WITHDRAW"
    EXPIRE = "EXPIRE"  # from the clock, not from a statement
    BOND_LOCK = "BOND_LOCK"
    BOND_COMPLETE = "BOND_COMPLETE"
    DELIVERY = "DELIVERY"
    RECEIPT = "RECEIPT"
    RECEIPT_COMPLETE = "RECEIPT_COMPLETE"
    BREACH_CLAIM = "BREACH_CLAIM"
    REVOKE = "REVOKE"
    RELEASE = "RELEASE"
    FORFEIT = "FORFEIT"
    REFUND = "REFUND"


S, E = State, Event
_BARGAINING: Final = {
    E.COUNTER: S.COUNTERED,
    E.ACCEPT: S.ACCEPTED,
    E.REJECT: S.REJECTED,
    E.WITHDRAW: S.WITHDRAWN,
    E.EXPIRE: S.EXPIRED,
}

# NEG-001: the whole state machine. The initial Offer creates a negotiation in
# PROPOSED (see Negotiation.start); every later statement must be a row here.
TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
    S.PROPOSED: dict(_BARGAINING),
    S.COUNTERED: dict(_BARGAINING),
    S.ACCEPTED: {
        E.BOND_LOCK: S.ACCEPTED,
        E.BOND_COMPLETE: S.BONDED,
        E.DELIVERY: S.PERFORMING,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
        E.EXPIRE: S.EXPIRED,
        E.REFUND: S.ACCEPTED,
    },
    S.BONDED: {
        E.DELIVERY: S.PERFORMING,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
        E.EXPIRE: S.EXPIRED,
    },
    S.PERFORMING: {
        E.DELIVERY: S.PERFORMING,
        E.RECEIPT: S.PERFORMING,
        E.RECEIPT_COMPLETE: S.FULFILLED,
        E.BREACH_CLAIM: S.DISPUTED,
        E.REVOKE: S.REVOKED,
    },
    S.DISPUTED: {
        E.DELIVERY: S.DISPUTED,
        E.RECEIPT: S.DISPUTED,
        E.RECEIPT_COMPLETE: S.FULFILLED,
        E.BREACH_CLAIM: S.DISPUTED,
        E.FORFEIT: S.BREACHED,
    },
    S.FULFILLED: {E.RELEASE: S.FULFILLED},
    S.BREACHED: {E.RELEASE: S.BREACHED, E.FORFEIT: S.BREACHED},
    S.REVOKED: {
        E.DELIVERY: S.REVOKED,
        E.RECEIPT: S.REVOKED,
        E.RECEIPT_COMPLETE: S.REVOKED,
        E.RELEASE: S.REVOKED,
        E.FORFEIT: S.REVOKED,
        E.REFUND: S.REVOKED,
    },
    S.EXPIRED: {E.REFUND: S.EXPIRED},
    S.REJECTED: {},
    S.WITHDRAWN: {},
}
INITIAL_STATE: Final = S.PROPOSED
TERMINAL_STATES: Final = frozenset(
    s for s, row in TRANSITIONS.items() if all(nxt == s for nxt in row.values())
)
BARGAINING_STATES: Final = frozenset({S.PROPOSED, S.COUNTERED})


def _side_value(items: Iterator[trade_pb2.Item] | list[trade_pb2.Item]) -> int:
    return sum(item.value for item in items)


@dataclass
class Contract:
    """The co-signed contract: the accepted offer plus the Accept (NEG-011).

    ``proposer`` signed the accepted Offer/Counter and gives ``proposal.gives``;
    ``acceptor`` signed the Accept and gives ``proposal.wants``.
    """

    offer: VerifiedStatement
    accept: VerifiedStatement
    proposal: trade_pb2.Offer
    locked: dict[str, int] = field(default_factory=dict)  # party -> bond amount held by escrow
    settled: set[str] = field(default_factory=set)  # parties whose bond was released/forfeited/refunded
    deliveries: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # delivery digest -> (by, item)
    receipted: set[tuple[str, int]] = field(default_factory=set)  # (deliverer, item_index)
    first_delivered_ms: dict[tuple[str, int], int] = field(default_factory=dict)  # (by, item) -> issued_at
    claims: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # claim digest -> (accused, item)
    revokes: dict[bytes, str] = field(default_factory=dict)  # Revoke digest -> revoker

    @property
    def delivered(self) -> set[tuple[str, int]]:
        """``(deliverer, item_index)`` of every item delivered at least once."""
        return set(self.first_delivered_ms)

    @property
    def id(self) -> bytes:
        return self.accept.digest

    @property
    def proposer(self) -> str:
        return self.offer.issuer

    @property
    def acceptor(self) -> str:
        return self.accept.issuer

    @property
    def parties(self) -> tuple[str, str]:
        return self.proposer, self.acceptor

    def other(self, party: str) -> str:
        return self.acceptor if party == self.proposer else self.proposer

    def gives(self, party: str) -> list[trade_pb2.Item]:
        """The items ``party`` owes under the contract."""
        return list(self.proposal.gives if party == self.proposer else self.proposal.wants)

    def bond(self, party: str) -> int:
        t = self.proposal.terms
        return t.issuer_bond if party == self.proposer else t.audience_bond

    def value_given(self, party: str) -> int:
        """What ``party`` puts at stake: its items' declared value plus its bond (MND-004)."""
        return _side_value(self.gives(party)) + self.bond(party)

    @property
    def bonds_required(self) -> dict[str, int]:
        return {p: self.bond(p) for p in self.parties if self.bond(p)}

    @property
    def last_deadline_ms(self) -> int:
        return max(i.deadline_ms for p in self.parties for i in self.gives(p))


def proposal_of(vs: VerifiedStatement) -> trade_pb2.Offer:
    """The Offer carried by an Offer or Counter statement."""
    return vs.statement.offer if vs.body == "offer" else vs.statement.counter.proposal


class Negotiation:
    """One negotiation's state, driven by verified statements.

    Args:
        first: the Offer statement that opens the negotiation (NEG-002).
    """

    def __init__(self, first: VerifiedStatement) -> None:
        if first.body != "offer":
            raise UnknownNegotiation(
                f"a negotiation starts with an offer, not a {first.body}", requirement="NEG-002"
            )
        if not first.header.audience or first.header.audience == first.issuer:
            raise WrongParty("an offer is addressed to one other party", requirement="NEG-003")
        self.id: bytes = first.header.negotiation_id
        self.initiator: str = first.issuer
        self.responder: str = first.header.audience
        self.state: State = INITIAL_STATE
        self.outstanding: VerifiedStatement = first  # the offer that can be accepted now
        self.contract: Contract | None = None
        self.history: list[tuple[State, Event, State, bytes]] = []  # (from, event, to, digest)

    # -- queries ------------------------------------------------------------------

    @property
    def parties(self) -> tuple[str, str]:
        return self.initiator, self.responder

    def other(self, party: str) -> str:
        return self.responder if party == self.initiator else self.initiator

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    # -- driving ------------------------------------------------------------------

    def check(self, vs: VerifiedStatement) -> Event:
        """Return the event ``vs`` would cause, or raise the SPEC error; changes nothing."""
        when = vs.header.issued_at_ms
        state = self._state_at(when)
        event = self._classify(vs, state)
        if event not in TRANSITIONS[state]:
            req = "NEG-001"
            if event is E.ACCEPT and self.contract is not None:
                req = "NEG-006"  # acceptance is exclusive
            elif state is S.EXPIRED and self.state in BARGAINING_STATES:
                req = "NEG-007"  # the outstanding offer lapsed before this statement
            raise IllegalTransition(
                f"{vs.body} ({event.value}) not allowed in {state.value}", requirement=req
            )
        return event

    def apply(self, vs: VerifiedStatement) -> State:
        """Advance the machine with a verified statement. Raises like :meth:`check`."""
        event = self.check(vs)
        self.expire_due(vs.header.issued_at_ms)
        before = self.state
        self._record(vs, event)
        self.state = TRANSITIONS[before][event]
        self.history.append((before, event, self.state, vs.digest))
        return self.state

    def expire_due(self, now_ms: int) -> bool:
        """Apply EXPIRE if the outstanding offer or the unperformed contract has lapsed."""
        if self._state_at(now_ms) is S.EXPIRED and self.state is not S.EXPIRED:
            before = self.state
            self.state = S.EXPIRED
            self.history.append((before, E.EXPIRE, S.EXPIRED, b""))
            return True
        return False

    # -- internals ----------------------------------------------------------------

    def _state_at(self, now_ms: int) -> State:
        if self.state in BARGAINING_STATES and now_ms > self.outstanding.header.expires_at_ms:
            return S.EXPIRED
        if (
            self.state in (S.ACCEPTED, S.BONDED)
            and self.contract is not None
            and now_ms > self.contract.last_deadline_ms + CLAIM_WINDOW_MS
        ):
            return S.EXPIRED
        return self.state

    def _classify(self, vs: VerifiedStatement, state: State) -> Event:
        body = vs.body
        issuer = vs.issuer
        if vs.header.negotiation_id != self.id:
            raise UnknownNegotiation("statement belongs to another negotiation", requirement="NEG-002")
        if body in ("offer", "counter", "accept", "reject", "withdraw"):
            if issuer not in self.parties or vs.header.audience != self.other(issuer):
                raise WrongParty("trade statements go from one party to the other", requirement="NEG-003")
            if body == "offer":
                return E.OFFER
            ref = getattr(vs.statement, body).offer
            if ref != self.outstanding.digest and state in BARGAINING_STATES:
                raise StaleReference("does not reference the outstanding offer", requirement="NEG-005")
            if body == "withdraw":
                if state in BARGAINING_STATES and issuer != self.outstanding.issuer:
                    raise WrongParty("only the offer's issuer may withdraw it", requirement="NEG-004")
                return E.WITHDRAW
            if state in BARGAINING_STATES and issuer == self.outstanding.issuer:
                raise WrongParty(f"the offer's own issuer cannot {body} it", requirement="NEG-004")
            return {"counter": E.COUNTER, "accept": E.ACCEPT, "reject": E.REJECT}[body]
        c = self.contract
        if c is None:
            raise IllegalTransition(f"{body} before a contract exists", requirement="NEG-001")
        if body == "receipt":
            return self._classify_receipt(vs, c)
        ref = getattr(vs.statement, body).contract
        if ref != c.id:
            raise StaleReference("does not reference this negotiation's contract", requirement="NEG-005")
        if body in ("bond_lock", "release", "forfeit", "refund"):
            return self._classify_escrow(vs, c)
        if issuer not in c.parties:
            raise WrongParty(f"only contract parties send {body}", requirement="NEG-008")
        if body == "delivery":
            if vs.header.audience != c.other(issuer):
                raise WrongParty("a delivery is addressed to the other party", requirement="NEG-008")
            idx = vs.statement.delivery.item_index
            if idx >= len(c.gives(issuer)):
                raise BodyInvalid(f"item_index {idx} out of range", requirement="NEG-008")
            if state is S.ACCEPTED and len(c.locked) < len(c.bonds_required):
                raise IllegalTransition("deliveries start once every bond is locked", requirement="NEG-012")
            return E.DELIVERY
        if body == "breach_claim":
            accused = c.other(issuer)
            idx = vs.statement.breach_claim.item_index
            items = c.gives(accused)
            if idx >= len(items):
                raise BodyInvalid(f"item_index {idx} out of range", requirement="NEG-008")
            if vs.header.issued_at_ms <= items[idx].deadline_ms:
                raise IllegalTransition(
                    "a breach claim must follow the item's deadline", requirement="CMT-002"
                )
            return E.BREACH_CLAIM
        if body == "revoke":
            if not c.proposal.terms.revocation.allowed:
                raise RevocationNotAllowed(requirement="NEG-010")
            return E.REVOKE
        raise IllegalTransition(f"{body} is not a negotiation statement", requirement="NEG-001")

    def _classify_receipt(self, vs: VerifiedStatement, c: Contract) -> Event:
        ref = vs.statement.receipt.delivery
        if ref not in c.deliveries:
            raise StaleReference("receipt for an unknown delivery", requirement="NEG-005")
        deliverer, idx = c.deliveries[ref]
        if vs.issuer != c.other(deliverer):
            raise WrongParty("only the receiving party issues a receipt", requirement="NEG-008")
        after = c.receipted | {(deliverer, idx)}
        owed = {(p, i) for p in c.parties for i in range(len(c.gives(p)))}
        return E.RECEIPT_COMPLETE if owed <= after else E.RECEIPT

    def _classify_escrow(self, vs: VerifiedStatement, c: Contract) -> Event:
        body = vs.body
        if vs.issuer != c.proposal.terms.escrow:
            raise WrongParty(f"only the contract's escrow issues {body}", requirement="NEG-008")
        msg = getattr(vs.statement, body)
        if msg.party not in c.parties:
            raise BodyInvalid(f"{body}.party is not a contract party", requirement="NEG-008")
        if body == "bond_lock":
            if msg.party in c.locked or msg.amount != c.bond(msg.party):
                raise BodyInvalid(
                    "bond lock must lock each required bond once, in full", requirement="NEG-012"
                )
            complete = set(c.locked) | {msg.party} >= set(c.bonds_required)
            return E.BOND_COMPLETE if complete else E.BOND_LOCK
        if msg.party not in c.locked or msg.party in c.settled or msg.amount != c.locked[msg.party]:
            raise BodyInvalid(f"{body} must settle a locked bond once, in full", requirement="NEG-012")
        if body == "forfeit":
            self._check_forfeit_cause(msg.party, msg.beneficiary, msg.cause, c)
        return {"release": E.RELEASE, "forfeit": E.FORFEIT, "refund": E.REFUND}[body]

    @staticmethod
    def _check_forfeit_cause(party: str, beneficiary: str, cause: bytes, c: Contract) -> None:
        """A Forfeit pays the bond of the party its cause blames to the other party (CMT-002, CMT-003).

        The cause is an upheld BreachClaim against ``party`` (no Delivery of the item
        issued by its deadline is held), or ``party``'s own Revoke under forfeit_bond terms.
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
        if claim is None or claim[0] != party:
            raise BodyInvalid("forfeit.cause is no breach claim against this party", requirement="CMT-002")
        delivered = c.first_delivered_ms.get(claim)
        if delivered is not None and delivered <= c.gives(party)[claim[1]].deadline_ms:
            raise BodyInvalid("the claimed item was delivered by its deadline", requirement="CMT-002")

    def _record(self, vs: VerifiedStatement, event: Event) -> None:
        body = vs.body
        if event in (E.COUNTER,):
            self.outstanding = vs
        elif event is E.ACCEPT:
            self.contract = Contract(self.outstanding, vs, proposal_of(self.outstanding))
        elif self.contract is not None:
            c = self.contract
            msg = getattr(vs.statement, body)
            if body == "bond_lock":
                c.locked[msg.party] = msg.amount
            elif body in ("release", "forfeit", "refund"):
                c.settled.add(msg.party)
            elif body == "delivery":
                c.deliveries[vs.digest] = (vs.issuer, msg.item_index)
                key, at = (vs.issuer, msg.item_index), vs.header.issued_at_ms
                c.first_delivered_ms[key] = min(at, c.first_delivered_ms.get(key, at))
            elif body == "receipt":
                c.receipted.add(c.deliveries[msg.delivery])
            elif body == "breach_claim":
                c.claims[vs.digest] = (c.other(vs.issuer), msg.item_index)
            elif body == "revoke":
                c.revokes[vs.digest] = vs.issuer


class Negotiations:
    """Every negotiation a party or auditor tracks, plus the cross-negotiation
    exclusive-key index (NEG-009).

    ``apply`` routes a verified statement to its negotiation, creating one for
    an opening Offer.
    """

    def __init__(self) -> None:
        self.by_id: dict[bytes, Negotiation] = {}
        self._exclusive: dict[tuple[str, bytes], bytes] = {}  # (issuer, key) -> negotiation id

    def get(self, negotiation_id: bytes) -> Negotiation:
        try:
            return self.by_id[negotiation_id]
        except KeyError:
            raise UnknownNegotiation(requirement="NEG-002") from None

    def check(self, vs: VerifiedStatement) -> Event:
        """What applying ``vs`` would do, without doing it."""
        nid = vs.header.negotiation_id
        if nid not in self.by_id:
            Negotiation(vs)  # validates an opening offer; raises otherwise
            return E.OFFER
        neg = self.by_id[nid]
        event = neg.check(vs)
        if event is E.ACCEPT:
            self._check_exclusive(neg)
        return event

    def apply(self, vs: VerifiedStatement) -> Negotiation:
        """Route ``vs`` to its negotiation (opening one for an Offer) and advance it."""
        nid = vs.header.negotiation_id
        if nid not in self.by_id:
            neg = Negotiation(vs)  # raises UnknownNegotiation unless vs is an opening Offer
            self.by_id[nid] = neg
            return neg
        neg = self.by_id[nid]
        if neg.check(vs) is E.ACCEPT:
            self._check_exclusive(neg)
        neg.apply(vs)
        c = neg.contract
        if c is not None and c.proposal.exclusive_key:
            key = (c.proposer, c.proposal.exclusive_key)
            if neg.is_terminal:
                if self._exclusive.get(key) == nid:  # an ended contract frees only a key it holds
                    del self._exclusive[key]
            else:
                self._exclusive.setdefault(key, nid)
        return neg

    def _check_exclusive(self, neg: Negotiation) -> None:
        proposal = proposal_of(neg.outstanding)
        if not proposal.exclusive_key:
            return
        holder = self._exclusive.get((neg.outstanding.issuer, proposal.exclusive_key))
        if holder is not None and holder != neg.id:
            raise ExclusiveConflict(
                f"{neg.outstanding.issuer:.40} already committed this exclusive_key in another contract",
                requirement="NEG-009",
            )
