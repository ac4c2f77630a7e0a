"""UNSAFE: a signer that bypasses the policy guard, standing for a misbehaving *implementation*.

The honest runtime (:class:`~a2a_coop.runtime.peer.Peer`) signs only what its policy guard passes:
it cannot sign two statements at one seq (equivocate) nor commit beyond its principal's mandate
(over-commit). An adversary that does either is not a strategy but a broken or malicious
implementation holding the key. :class:`UnsafeSigner` is that implementation: it stamps and signs
whatever it is given, with no chain, mandate or negotiation check, so that the *counterparties'*
verifiers, their gossip and the audit -- not the adversary's own guard -- must catch it.

Nothing in ``a2a_coop`` imports this module (the import-linter contracts forbid it); only the
adversarial reference agents and their tests do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, sign_candidate
from a2a_coop.runtime.peer import DEFAULT_OFFER_TTL_MS, Peer
from reference_agents.adversarial import Act


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
        return sign_candidate(writer.stamp(stmt, nonce=os.urandom(16)), self.peer.key)

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

    Ground truth: ``overcommit`` acts. Detection: a counterparty's verifier refuses the Offer that
    breaks a cap it can see (MANDATE_VIOLATION); an audit that merges the counterparties' transcripts
    (``verify_transcript``) refuses the first Offer that crosses max_outstanding.
    """

    def __init__(self, peer: Peer) -> None:
        self.signer = UnsafeSigner(peer)
        self.truth = self.signer.truth

    def offers(self, targets: Sequence[tuple[str, trade_pb2.Offer]]) -> list[bytes]:
        """One Offer per (counterparty, proposal), unguarded, on the peer's chain."""
        out = []
        for counterparty, proposal in targets:
            vs = self.signer.sign_next("offer", proposal, audience=counterparty)
            self.truth.append(Act("overcommit", vs.header.negotiation_id.hex(), f"to {counterparty}"))
            out.append(vs.envelope)
        return out
