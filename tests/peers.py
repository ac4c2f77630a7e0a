"""In-process peers for tests: a Party's key and mandate behind the real Peer, on a fixed clock with
deterministic nonces, so the same script signs the same statements on every run."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strangers import NewcomerOffers, StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, _LedgerSigner, derive, service


def make_peer(party: Party, clock: FixedClock, *, run: int = 0, **kw: Any) -> Peer:
    """``party``'s agent as a Peer (pass ``context``, ``strategy``, ``journal`` as for Peer). ``run``: a
    peer restarted on the journal of an earlier one in the same test passes 1, 2, ...: its nonces count
    from zero again, and the earlier run's would be refused `NONCE_REUSED` by its own guard -- a Delivery
    it owes signed nothing (pair30 took that for a resume gap). A process draws its nonces at random
    (``Peer``'s default), so only this helper can repeat one.

    Raises:
        ValueError: ``journal`` already holds a statement ``party`` signed with this run's first nonce
            (a restart that did not pass a new ``run``).
    """
    counter = itertools.count()
    label = f"nonce/{party.name}" if run == 0 else f"nonce/{party.name}/run{run}"
    journal = kw.get("journal")
    if journal is not None and journal.by_nonce(party.did, derive(f"{label}/0", 16)) is not None:
        raise ValueError(
            f"make_peer: {party.name}'s journal already holds run {run}'s nonces: a restarted peer"
            f" passes run={run + 1} (or the next run not yet used on this journal)"
        )
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"{label}/{next(counter)}", 16),
        **kw,
    )


def trusting(peer: Peer, *escrows: str) -> Peer:
    """``peer`` trading under ``escrows`` (``Peer.trusted_escrows``, as if given their Mandates): the only
    escrows whose Stamps say a fork's statement was witnessed before its principal's revocation in its
    view (ATT-013 (d))."""
    peer.trusted_escrows = frozenset(escrows)
    return peer


def served_peer(party: Party, clock: FixedClock, **kw: Any) -> Peer:
    """:func:`make_peer` with the quotas `a2a-coop serve` runs with by default (RPC-016, RPC-017)."""
    return make_peer(party, clock, stranger_quota=StrangerQuota(), newcomer_offers=NewcomerOffers(), **kw)


def fresh_key(i: int, clock: FixedClock, principal: Any = None) -> tuple[Any, Any]:
    """Mallory's ``i``-th fresh key (a testing Signer) and the Mandate ``principal`` (by default a
    fresh principal of its own) grants it for a day: what a key costs an attacker."""
    key = Signer(f"mallory/{i}", clock)
    boss = principal if principal is not None else Signer(f"mallory-principal/{i}", clock)
    caps = identity_pb2.Mandate(
        agent=key.did,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    return key, boss.sign("mandate", caps, ttl_ms=DAY_MS)


def line_moved_to(
    clock: FixedClock, p1: Party, p2: Party, first_escrow: str, then_escrow: str, *, bond: int
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """P1 offers P2 terms naming ``first_escrow``, a second later P2 counters the same terms naming
    ``then_escrow``, and a second later P1 accepts the Counter: (Offer, Counter, Accept). The line an
    Accept of the first Offer, witnessed by ``first_escrow``, displaces (NEG-017)."""
    o1 = p1.offer(p2, p1.proposal(issuer_bond=bond, audience_bond=bond, escrow=first_escrow))
    clock.advance(1_000)
    mine = proposal_of(o1)
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    theirs.terms.escrow = then_escrow
    c2 = p2.counter(o1, theirs)
    clock.advance(1_000)
    return o1, c2, p1.accept(c2)


def witnessed_node(party: Party, clock: FixedClock, escrow: Any, journal: Any) -> PeerNode:
    """``party`` served as a PeerNode on the journal at ``journal``, trusting ``escrow`` (a LocalEscrow)
    and asking it through an EscrowWitness, on ``clock``: what `serve --escrow` runs, in process."""
    return PeerNode.open(
        party.agent.key,
        party.mandate_vs.envelope,
        journal,
        context=[escrow.mandate],
        clock=lambda: clock.now_ms,
        witness=EscrowWitness(escrow, escrow.did),
    )


def bonded_proposal(party: Party, escrow: str) -> Any:
    """``party``'s code review for copy editing, both due in a day of its clock, each side bonding 50 at
    ``escrow``: the bonded trade the quota tests run hundreds of."""
    due = party.clock.now_ms + DAY_MS
    return party.proposal(
        gives=[service("code-review", value=100, deadline_ms=due)],
        wants=[service("copy-editing", value=90, deadline_ms=due)],
        issuer_bond=50,
        audience_bond=50,
        escrow=escrow,
    )


def escrow_node(party: Party, clock: FixedClock, journal: Any, **kw: Any) -> EscrowNode:
    """``party``'s agent as an EscrowNode on ``journal`` and ``clock`` (durability "normal": tests
    need no fsync; pass ``stranger_quota`` and the like as for EscrowNode)."""
    return EscrowNode(
        party.agent.key,
        party.mandate_vs.envelope,
        journal,
        clock=lambda: clock.now_ms,
        durability="normal",
        **kw,
    )


def peer_node(party: Party, clock: FixedClock, journal: Any, **kw: Any) -> PeerNode:
    """``party``'s agent as a journaled PeerNode on ``journal`` and ``clock`` (pass ``context``,
    ``witness`` and the like as for PeerNode.open)."""
    return PeerNode.open(
        party.agent.key, party.mandate_vs.envelope, journal, clock=lambda: clock.now_ms, **kw
    )


def stamped_by_served_escrow(escrow: EscrowNode, digest: bytes) -> bool:
    """Whether the served escrow's ledger holds a Stamp of ``digest``: read from the ledger, which answers
    from the journal once a settled contract left memory (a served escrow forgets it when the Submit that
    settled it is answered, `EscrowNode.after_reply`), where its memory's witness index no longer would."""
    for envelope in escrow.escrow.ledger():
        vs = verify_statement(envelope)
        if vs.body == "stamp" and digest in vs.statement.stamp.statements:
            return True
    return False


def handed_over(
    escrow: Party, clock: FixedClock, effective_ms: int | None = None
) -> tuple[Party, VerifiedStatement, VerifiedStatement]:
    """``escrow``'s principal revokes its key from ``effective_ms`` (now by default) and hands its contracts
    to a new key K2 (ESC-022): K2 ("escrow2"), the revocation and the hand-over Mandate naming K1 in
    ``succeeds`` (a year long, as the rest of K1's Mandate)."""
    p = escrow.principal
    at = clock.now_ms if effective_ms is None else effective_ms
    rev = p.sign("key_revocation", identity_pb2.KeyRevocation(key=escrow.did, effective_ms=at))
    k2 = Party("escrow2", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(escrow.mandate_vs.statement.mandate)
    m.agent, m.succeeds = k2.did, escrow.did
    return k2, rev, p.sign("mandate", m, ttl_ms=365 * DAY_MS)


class Successor(LocalEscrow):
    """K2 in this process: ``e``'s key :func:`handed_over` (from ``effective_ms``, now by default) and its
    ledger taken over up to the revocation (ESC-022, ESC-023); it answers a Submit as the gRPC service does,
    the hand-over Mandate with what it signs (ESC-002, ESC-023 (c)). ``party``, ``revocation`` and
    ``handover`` as :func:`handed_over` returns them."""

    def __init__(self, e: LocalEscrow, effective_ms: int | None = None) -> None:
        self.clock = e.clock
        self.party, self.revocation, self.handover = handed_over(e.party, e.clock, effective_ms)
        self.escrow = Escrow(
            _LedgerSigner(self.party.agent),
            self.handover.digest,
            setup=[self.handover.envelope],
            predecessor=[*e.escrow.transcript(), self.revocation.envelope],
        )

    @property
    def mandate(self) -> bytes:
        return self.handover.envelope

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        signed = self.escrow.submit(envelopes, self.clock.now_ms)
        return self.escrow.with_mandates(self.handover.envelope, [vs.envelope for vs in signed])


Forge = Callable[[Sequence[bytes]], list[bytes]]


class Intercepted:
    """An escrow as the code under test reaches it through whoever answers for it (a man in the middle, a
    proxy, a wrong address): the first ``times`` Submits carrying a ``body`` statement are answered by
    ``forge`` (the escrow never sees them; no ``forge``: none is); the rest, and every other call -- its
    ledger, transcript and balances --, go to ``escrow``. ``seen``: the Submits carrying one so far."""

    def __init__(self, escrow: Any, body: str, forge: Forge | None = None, times: int = 1) -> None:
        self.escrow, self.body, self.forge, self.times = escrow, body, forge, times
        self.seen = 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if any(verify_statement(env).body == self.body for env in envelopes):
            self.seen += 1
            if self.forge is not None and self.seen <= self.times:
                return self.forge(envelopes)
        return self.escrow.submit(envelopes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)


def raising(error: Exception) -> Forge:
    """A forged answer: ``error`` raised, as a refusal or a failed call reaches the caller."""

    def forge(envelopes: Sequence[bytes]) -> list[bytes]:
        raise error

    return forge


def answering(answer: list[bytes]) -> Forge:
    """A forged answer: ``answer`` returned whatever was submitted (the escrow's public Mandate, say)."""
    return lambda envelopes: answer
