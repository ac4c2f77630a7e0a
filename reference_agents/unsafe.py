"""UNSAFE: a signer that bypasses the policy guard, standing for a misbehaving *implementation*.

The honest runtime (:class:`~a2a_coop.runtime.peer.Peer`) signs only what its policy guard passes:
it cannot sign two statements at one seq (equivocate) nor commit beyond its principal's mandate
(over-commit). An adversary that does either is not a strategy but a broken or malicious
implementation holding the key. :class:`UnsafeSigner` is that implementation: it stamps and signs
whatever it is given, with no chain, mandate or negotiation check, so that the *counterparties'*
verifiers, their gossip and the audit -- not the adversary's own guard -- must catch it.

Nothing in ``a2a_coop`` reaches this module (the import-linter contracts forbid it) but the population
simulator that ``a2a-coop sim`` runs (:mod:`reference_agents.population` hosts the equivocator); the
adversarial reference agents and their tests use it too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, sign_candidate, verify_statement
from a2a_coop.runtime.peer import DEFAULT_OFFER_TTL_MS, Peer
from reference_agents.adversarial import Act


def silence_own_fork_alarm(peer: Peer) -> None:
    """Make ``peer`` an implementation without ATT-017: a fork proof against its own key (which its
    victims gossip back to it) raises no alarm and stops none of its commitments."""
    peer.alarm_on_own_fork, peer.fork_alarm = False, None


class UnsafeSigner:
    """Signs with ``peer``'s key outside its guard and journal. Ground truth in ``truth``."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.truth: list[Act] = []

    def sign_at(
        self,
        seq: int,
        prev: bytes,
        body: str,
        message: Any,
        *,
        ttl_ms: int = DEFAULT_OFFER_TTL_MS,
        **header: Any,
    ) -> VerifiedStatement:
        """Sign ``message`` at chain position (seq, prev), whatever the chain already holds there."""
        stmt = new_statement(
            body,
            message,
            issued_at_ms=self.peer.clock(),
            ttl_ms=ttl_ms,
            mandate=self.peer.mandate_vs.digest,
            **header,
        )
        writer = ChainWriter(self.peer.key, next_seq=seq, prev=prev)
        return sign_candidate(writer.stamp(stmt, nonce=self.peer.nonce()), self.peer.key)

    def sign_next(self, body: str, message: Any, **header: Any) -> VerifiedStatement:
        """Sign at the head of the peer's chain and move the head on (no fork), skipping every
        contextual check; the peer's own verifier never records it."""
        w = self.peer.writer
        vs = self.sign_at(w.next_seq, w.prev, body, message, **header)
        w.advance(vs)
        return vs


class Equivocator:
    """Signs conflicting statements to different counterparties: a second statement at a seq its
    chain already used (by default seq 0, its first statement).

    Ground truth: ``equivocate`` acts. Detection: the victims' views of its chain meet when they
    trade (Checkpoint gossip, ATT-011): a fork proof, verifiable offline, that zeroes its principal's
    trust wherever it travels (ATT-013).
    """

    def __init__(self, peer: Peer) -> None:
        self.signer = UnsafeSigner(peer)
        self.truth = self.signer.truth
        silence_own_fork_alarm(peer)

    def offer(
        self, counterparty: str, proposal: trade_pb2.Offer, *, seq: int = 0, prev: bytes = b""
    ) -> bytes:
        """An opening Offer to ``counterparty`` signed at (seq, prev), which the chain already used."""
        vs = self.signer.sign_at(seq, prev, "offer", proposal, audience=counterparty)
        self.truth.append(Act("equivocate", vs.header.negotiation_id.hex(), f"seq {seq}"))
        return vs.envelope


class OverCommitter:
    """Commits beyond its principal's means: signs Offers with no mandate check, so that their
    values exceed ``max_per_deal`` or together ``max_outstanding`` (MND-009, MND-010).

    Like any implementation that over-commits, it then does business under the contracts its
    offers formed: :meth:`perform` delivers under each Accept of them (its first item).

    Ground truth: ``overcommit`` acts (one per Offer). Detection: a counterparty's verifier refuses
    the Offer that breaks a cap it can see (MANDATE_VIOLATION); an audit that merges the
    counterparties' transcripts (``verify_transcript``) refuses the first Offer that crosses
    max_outstanding; the misrepresentation audit proves it from its Offers and its later Deliveries
    under the contracts they formed (section 19.2).
    """

    def __init__(self, peer: Peer) -> None:
        self.signer = UnsafeSigner(peer)
        self.truth = self.signer.truth
        self._offers: dict[bytes, VerifiedStatement] = {}  # its unguarded offers, by digest

    def offers(self, targets: Sequence[tuple[str, trade_pb2.Offer]]) -> list[bytes]:
        """One Offer per (counterparty, proposal), unguarded, on the peer's chain."""
        out = []
        for counterparty, proposal in targets:
            vs = self.signer.sign_next("offer", proposal, audience=counterparty)
            self.truth.append(Act("overcommit", vs.header.negotiation_id.hex(), f"to {counterparty}"))
            self._offers[vs.digest] = vs
            out.append(vs.envelope)
        return out

    def perform(self, answers: Iterable[bytes]) -> list[bytes]:
        """What it signs, unguarded, on the peer's chain, in answer to ``answers`` to its offers:
        an Accept of each Counter of one of them, then a Delivery of the first item it gives under
        each contract formed (an Accept of one of its offers, or its own Accept of a Counter).
        Other answers (a Reject) end the negotiation."""
        accepts: list[tuple[VerifiedStatement, VerifiedStatement]] = []  # (contract's Accept, its offer)
        out = []
        for env in answers:
            vs = verify_statement(env)
            body = vs.statement.counter if vs.body == "counter" else vs.statement.accept
            offer = self._offers.get(body.offer) if vs.body in ("counter", "accept") else None
            if offer is None or vs.issuer != offer.header.audience:
                continue
            if vs.body == "accept":
                accepts.append((vs, offer))
                continue
            accept = self.signer.sign_next(
                "accept",
                trade_pb2.Accept(offer=vs.digest),
                audience=vs.issuer,
                negotiation_id=vs.header.negotiation_id,
                refs=[vs.digest],
            )
            accepts.append((accept, vs))
            out.append(accept.envelope)
        for accept, offer in accepts:
            delivery = commitment_pb2.Delivery(contract=accept.digest, item_index=0)
            out.append(
                self.signer.sign_next(
                    "delivery",
                    delivery,
                    audience=offer.issuer if accept.issuer == self.signer.peer.did else accept.issuer,
                    negotiation_id=accept.header.negotiation_id,
                    refs=[accept.digest],
                ).envelope
            )
        return out


@dataclass(frozen=True)
class ForkPlan:
    """When the equivocator double-sells (its parameters, ``a2a-coop agent list``).

    Attributes:
        act_rate: the probability that a new counterparty is double-sold (seeded by ``seed``).
        after: counterparties served honestly first; the first one's Accept is the commitment it
            re-sells (1: from its second counterparty on).
        seed: seeds the draws.
    """

    act_rate: float = 1.0
    after: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.act_rate <= 1.0:
            raise ValueError("act_rate must be in 0..1")
        if self.after < 1:
            raise ValueError("after must be at least 1: the first Accept is the one it re-sells")


class ForkingNode:
    """The equivocator as a served peer: wraps a :class:`~a2a_coop.runtime.node.PeerNode` (serve it
    with :func:`a2a_coop.transport.serve`, as tests/test_conformance_audit.py does; ``a2a-coop agent
    run`` cannot, since no a2a_coop module may reach this one) or, in process, a
    :class:`~a2a_coop.runtime.peer.Peer` (:class:`ForkingPeer`, the population simulator's).

    It double-sells: its answers are honest, except that its first Accept to a new counterparty,
    once it has served ``plan.after`` counterparties (and with probability ``plan.act_rate``), is
    re-signed at the seq of its first Accept to its first counterparty and sent without the
    Deliveries that follow it -- the commitment at that chain position sold twice, delivered once.
    Each buyer sees a consistent chain until their views meet (a Checkpoint or an escrow holding the
    other branch). Its own node, journal and chain stay as the honest runtime left them, so it
    answers the double-sold buyer's later statements as its honest runtime does (refusing what refs
    the forked Accept, which its own chain never held). Ground truth: ``equivocate`` acts."""

    def __init__(self, node: Any, plan: ForkPlan = ForkPlan()) -> None:
        self.node = node
        self.plan = plan
        self.signer = UnsafeSigner(self._peer())
        silence_own_fork_alarm(self._peer())
        self.truth = self.signer.truth
        self._rng = random.Random(plan.seed)
        self._first: tuple[str, int, bytes] | None = None  # counterparty, seq and prev of the first Accept
        self._served: set[str] = set()  # counterparties that got an Accept, forked or not
        self.forked: set[bytes] = set()  # negotiation ids of the double sales

    def _peer(self) -> Peer:
        peer: Peer = self.node.peer
        return peer

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        answers: list[bytes] = self.node.exchange(envelope, context)
        for i, env in enumerate(answers):
            vs = verify_statement(env)
            if vs.body != "accept" or vs.issuer != self.signer.peer.did:
                continue
            who = vs.header.audience
            if self._first is None:
                self._first = (who, vs.header.seq, vs.header.prev)
            if who in self._served:
                return answers
            self._served.add(who)
            if len(self._served) <= self.plan.after or self._rng.random() >= self.plan.act_rate:
                return answers
            _, seq, prev = self._first
            h = vs.header
            fork = self.signer.sign_at(
                seq,
                prev,
                "accept",
                vs.statement.accept,
                audience=who,
                negotiation_id=h.negotiation_id,
                refs=list(h.refs),
                ttl_ms=h.expires_at_ms - h.issued_at_ms,
            )
            self.forked.add(h.negotiation_id)
            self.truth.append(Act("equivocate", h.negotiation_id.hex(), f"seq {seq}, to {who}"))
            return [*answers[:i], fork.envelope]
        return answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)


class ForkingPeer(ForkingNode):
    """:class:`ForkingNode` around an in-process :class:`~a2a_coop.runtime.peer.Peer` (what its
    counterparties call instead of the peer itself)."""

    def _peer(self) -> Peer:
        peer: Peer = self.node
        return peer


class OverCommittingNode:
    """The over-committer as a served peer (see :class:`ForkingNode`): wraps a
    :class:`~a2a_coop.runtime.node.PeerNode` whose policy guard skips the mandate checks on its own
    statements (MND-011 broken): it accepts a deal above its max_per_deal, or beyond its budget or
    its max_outstanding, where the honest guard would have it reject. Its chain stays consistent
    (the statement is signed, recorded and journaled as usual), so what proves it is the
    over-commitment audit, not a fork."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.truth: list[Act] = []
        peer = node.peer
        guarded = peer.verifier.check

        def check(vs: VerifiedStatement, now_ms: int | None = None, **kw: Any) -> None:
            try:
                guarded(vs, now_ms, **kw)
            except MandateViolation:
                if not (kw.get("ours") and vs.issuer == peer.did):
                    raise
                self.truth.append(Act("overcommit", vs.header.negotiation_id.hex(), vs.body))

        peer.verifier.check = check  # this instance's guard only; a reload restores the honest one

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        answers: list[bytes] = self.node.exchange(envelope, context)
        return answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)


NODE_WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "equivocator": ForkingNode,
    "over-committer": OverCommittingNode,
}
"""The served-peer form of each unsafe agent: what wraps its node."""
