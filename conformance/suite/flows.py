"""Building blocks cases share: open a negotiation with the target, form a contract, and forge
statements with exactly one defect.

Every defect is signed properly by the suite identity that issues it (a
statement with one broken rule and a good signature), unless the defect *is*
the signature, so the target's refusal can only come from that one rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from a2a_coop._proto.a2acoop.v1 import identity_pb2, statement_pb2, trade_pb2
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, encode_statement, new_statement
from a2a_coop.testing import DAY_MS, DEFAULT_TTL_MS, Party, Signer, service
from conformance.suite.context import Context
from conformance.suite.model import CaseFailed

SKEW_MS = 30_000  # TIM-004's default: what the suite assumes the target allows, no more


@dataclass(frozen=True)
class Peer:
    """The target as a counterparty for :class:`~a2a_coop.testing.Party`'s builders (they need ``did``)."""

    did: str


def target(ctx: Context) -> Party:
    """The target as the ``to`` of Party's builders (they read only its ``did``)."""
    return counterparty(ctx.target)


def counterparty(did: str) -> Party:
    """Any did:key as the ``to`` of Party's builders (they read only its ``did``)."""
    return cast(Party, Peer(did))


def fair_proposal(party: Party, *, value: int = 20, ask: int = 10, **kw: Any) -> trade_pb2.Offer:
    """An offer any honest reference peer accepts: we give more than we ask, no escrow. The target
    gives little (10), so the contracts a run forms use little of its mandate's budget (a run forms
    some seventy); the suite performs its side of each once the case is over
    (:meth:`Context.close_contracts`), so that they do not stay open in the target, holding part of its
    exposure cap, until their deadline plus the claim window."""
    deadline = party.clock.now_ms + DAY_MS
    return party.proposal(
        gives=[service("code-review", value=value, deadline_ms=deadline)],
        wants=[service("copy-editing", value=ask, deadline_ms=deadline)],
        **kw,
    )


def unfair_proposal(party: Party) -> trade_pb2.Offer:
    """An offer an honest peer rejects: we give almost nothing for what we ask."""
    return fair_proposal(party, value=1, ask=900)


@dataclass
class Opened:
    """A negotiation the suite opened with the target."""

    party: Party
    offer: VerifiedStatement
    answers: list[VerifiedStatement] = field(default_factory=list)

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id

    def answer(self, body: str) -> VerifiedStatement | None:
        return next((a for a in self.answers if a.body == body), None)


def open_negotiation(
    ctx: Context,
    *,
    name: str = "alice",
    proposal: trade_pb2.Offer | None = None,
    ttl_ms: int = DEFAULT_TTL_MS,
) -> Opened:
    """Send a (by default fair) Offer with our Mandate as context; it must be accepted (RPC-002:
    the answer starts with the target's Mandate)."""
    party = ctx.party(name)
    offer = party.offer(target(ctx), proposal or fair_proposal(party), ttl_ms=ttl_ms)
    answers = ctx.send(offer, party.setup, note="opening offer")
    return Opened(party, offer, answers)


def open_without_contract(ctx: Context, *, name: str = "alice") -> Opened:
    """Open a negotiation with an Offer the target takes but an honest one rejects (:func:`unfair_proposal`),
    for a case that then forks its party's chain or revokes or rotates its key: a contract formed here
    could not be closed (the suite's closing Delivery refused EQUIVOCATION or KEY_REVOKED) and stayed
    PERFORMING in the target for a day, holding part of its exposure cap."""
    party = ctx.party(name)
    return open_negotiation(ctx, name=name, proposal=unfair_proposal(party))


@dataclass
class Contract:
    """A contract formed by the target's Accept of the suite's Offer."""

    opened: Opened
    accept: VerifiedStatement
    deliveries: list[VerifiedStatement]  # the target's Deliveries so far

    @property
    def party(self) -> Party:
        return self.opened.party


def form_contract(ctx: Context, *, name: str = "alice") -> Contract:
    """Open a negotiation the target accepts (skips the case, honestly, if its deciding layer declines).

    Raises:
        CaseFailed (INFO level): the target declined a fair offer; the case cannot go on.
    """
    opened = open_negotiation(ctx, name=name)
    accept = opened.answer("accept")
    if accept is None:
        bodies = ", ".join(a.body for a in opened.answers)
        from conformance.suite.model import Level

        raise CaseFailed(
            f"the target did not accept a fair offer (answered {bodies}); needs a contract", Level.INFO
        )
    return Contract(opened, accept, [a for a in opened.answers if a.body == "delivery"])


@dataclass
class ForkedBinding:
    """A party's key's binding Checkpoint (KEY-007), not sent yet, and a thief holding the same key that
    signed its own Checkpoint at the binding's seq under its own principal's Mandate for the key: the
    binding's only fault is then against another statement of the key (EQUIVOCATION)."""

    binding: VerifiedStatement
    thief: Signer  # the same key, its own chain and nonces
    own: VerifiedStatement  # the thief's principal's Mandate for the key
    fork: VerifiedStatement  # the thief's Checkpoint at the binding's seq, under ``own``


def forked_binding(ctx: Context, party: Party) -> ForkedBinding:
    """:class:`ForkedBinding` for ``party``'s key (the thief's Mandate valid from a minute ago for a day)."""
    binding = party.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    thief = Signer(party.name, ctx.clock)
    thief._nonce_counter = 1_000
    boss = Signer(f"{party.name}/thief-principal", ctx.clock)
    now = ctx.clock.now_ms
    caps = identity_pb2.Mandate(
        agent=party.did, valid_from_ms=now - 60_000, valid_until_ms=now + DAY_MS, currency="credit"
    )
    own = boss.sign("mandate", caps, ttl_ms=DAY_MS)
    fork = thief.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), mandate=own.digest)
    return ForkedBinding(binding, thief, own, fork)


def forge(
    party: Party,
    body: str,
    message: Any,
    *,
    mutate: Callable[[statement_pb2.Statement], None] | None = None,
    audience: str = "",
    negotiation_id: bytes = b"",
    refs: Sequence[bytes] = (),
    ttl_ms: int = DEFAULT_TTL_MS,
    issued_at_ms: int | None = None,
    advance: bool = False,
) -> bytes:
    """An envelope of ``party``'s with its chain fields filled in, then ``mutate``d, then signed.

    The header rules are not checked (the point is to break one). The party's chain does not advance
    unless ``advance`` (then the forged statement is its next link, as if it were valid).
    """
    when = party.clock.now_ms if issued_at_ms is None else issued_at_ms
    stmt = new_statement(
        body,
        message,
        issued_at_ms=when,
        ttl_ms=ttl_ms,
        audience=audience,
        negotiation_id=negotiation_id,
        mandate=party.mandate_vs.digest,
        refs=refs,
    )
    writer = party.agent.writer
    h = stmt.header
    h.version, h.issuer, h.seq, h.prev, h.nonce = (
        1,
        party.did,
        writer.next_seq,
        writer.prev,
        party.agent.next_nonce(),
    )
    if body == "offer" and not negotiation_id:
        from a2a_coop.protocol.statements import negotiation_id_for

        h.negotiation_id = negotiation_id_for(party.did, h.nonce)
    if mutate is not None:
        mutate(stmt)
    payload = encode_statement(stmt)
    envelope = sign_payload(payload, party.agent.key)
    if advance:
        from a2a_coop.protocol.envelope import statement_digest

        writer.next_seq += 1
        writer.prev = statement_digest(payload)
    return envelope


def refuses(
    ctx: Context,
    bad: bytes,
    code: str,
    *,
    what: str,
    context: Sequence[bytes] = (),
    then: VerifiedStatement | None = None,
) -> str:
    """``bad`` must be refused with ``code`` (and its gRPC status, RPC-005); then, if given, ``then``
    -- the valid statement at the same chain position -- must be accepted: the rejection recorded
    nothing (ERR-003), neither the seq, nor the nonce, nor a negotiation.

    Returns:
        A one-line summary for the PASS reason.
    """
    ctx.expect_rejection(ctx.exchange(bad, context, note=f"one defect: {what}"), code, what=what)
    if then is not None:
        ctx.send(then, context, note="the same chain position, without the defect (ERR-003)")
        return f"refused {what} with {code}, then accepted the valid statement at the same seq"
    return f"refused {what} with {code}"


def with_signature(envelope: bytes, *, sig: bytes | None = None, keyid: str | None = None) -> bytes:
    """``envelope`` with its one signature's bytes or keyid replaced (canonically re-encoded)."""
    from a2a_coop._proto.a2acoop.v1 import envelope_pb2

    env = envelope_pb2.Envelope.FromString(envelope)
    if sig is not None:
        env.signatures[0].sig = sig
    if keyid is not None:
        env.signatures[0].keyid = keyid
    return env.SerializeToString(deterministic=True)


def resign_payload(party: Party, payload: bytes, payload_type: str | None = None) -> bytes:
    """An envelope of arbitrary ``payload`` bytes, properly signed by ``party``'s agent key."""
    from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE

    return sign_payload(payload, party.agent.key, payload_type or STATEMENT_PAYLOAD_TYPE)
