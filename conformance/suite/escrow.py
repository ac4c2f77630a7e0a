"""The target as an escrow: its EscrowService, and the contracts the suite forms under it.

For the escrow role the suite plays both parties of every contract (``alice``
proposes, ``bob`` accepts), names the target as the contract's escrow and
submits the evidence itself, as an initiator does (ESC-004). Everything the
escrow signs goes through the case's shadow verifier, which holds the same
evidence, so a Stamp, a Ruling or a bond movement the reference verifier would
refuse fails the case.

The misrepresentation scenarios use an escrow too, but not the target: with ``a2a-coop conformance
--escrow HOST:PORT`` the suite names that escrow (one the target was started to trust) in its
contracts with the target, so a withheld delivery can be claimed and ruled on. Every helper below
takes ``esc`` for that escrow (:func:`trusted_escrow`); without it, it talks to the target.

Bonds need funds. SPEC 18 leaves funding to the escrow's operator; the
reference escrow offers a test-only faucet (``a2a-coop escrow serve
--conformance-faucet AMOUNT``: every party whose Mandate it first sees is
credited AMOUNT). Cases that need bonds read the parties' balances and SKIP,
saying so, when the escrow gave them nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, service_pb2, service_pb2_grpc, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, Party, service
from conformance.suite.context import Context, Reply, describe
from conformance.suite.model import CaseFailed, Level

# How long a case waits for what the escrow's clock makes due (a ruling after a 1 ms response
# window): the reference escrow ticks every 500 ms.
DUE_WAIT_S = 5.0


@dataclass
class EscrowTarget:
    """The target's EscrowService, as learnt from an empty Submit (ESC-002)."""

    stub: service_pb2_grpc.EscrowServiceStub
    did: str
    mandate: bytes
    where: tuple[str, str]  # (what, address), for "the escrow at ADDRESS stopped answering"


def escrow_of(ctx: Context) -> EscrowTarget:
    """The target's escrow service, probed once per run.

    Raises:
        CaseFailed (SKIP): the target does not serve EscrowService.
        CaseFailed (FAIL): its answer to an empty Submit is not its Mandate (ESC-002).
    """
    session = ctx.session
    found: EscrowTarget | str | None = getattr(session, "_escrow_target", None)
    if found is None:
        found = _probe(ctx)
        session._escrow_target = found  # type: ignore[attr-defined]  # one probe per run
    if isinstance(found, str):
        raise CaseFailed(found, Level.SKIP)
    ctx.hold(found.mandate)  # the shadow verifier checks the escrow's statements under it
    return found


def trusted_escrow(ctx: Context) -> EscrowTarget | None:
    """The escrow the target trusts (``--escrow``), probed once per run; None without ``--escrow``.

    Raises:
        CaseFailed (FAIL): it does not answer an empty Submit with its Mandate (ESC-002).
    """
    session = ctx.session
    if session.escrow_channel is None:
        return None
    found: EscrowTarget | str | None = getattr(session, "_trusted_escrow", None)
    if found is None:
        found = _probe(ctx, session.escrow_channel, what=f"the escrow at {session.escrow}")
        session._trusted_escrow = found  # type: ignore[attr-defined]  # one probe per run
    if isinstance(found, str):
        raise CaseFailed(f"--escrow {session.escrow}: {found}")
    ctx.hold(found.mandate)
    return found


def _probe(ctx: Context, channel: grpc.Channel | None = None, *, what: str = "") -> EscrowTarget | str:
    stub = service_pb2_grpc.EscrowServiceStub(channel or ctx.session.channel)
    where = ("escrow", ctx.session.escrow or "") if channel else ("target", ctx.session.target)
    reply = ctx._call(
        "EscrowService/Submit",
        stub.Submit,
        service_pb2.SubmitRequest(),
        {"note": "probe: an empty Submit"},
        where=where,
    )
    if reply.error is not None:
        if reply.error.status is grpc.StatusCode.UNIMPLEMENTED:
            return f"{what or 'the target'} does not serve a2acoop.v1.EscrowService (not an escrow)"
        raise CaseFailed(
            f"an empty Submit was refused: {reply.error.reason or reply.error.status.name} (ESC-002)"
        )
    envelopes = list(reply.message.envelopes)
    if len(envelopes) != 1:
        raise CaseFailed(
            f"an empty Submit must be answered with the Mandate alone, got {len(envelopes)} (ESC-002)"
        )
    try:
        vs = verify_statement(envelopes[0])
    except CoopError as exc:
        raise CaseFailed(f"the answer to an empty Submit does not verify: {exc} (ESC-002)") from None
    if vs.body != "mandate":
        raise CaseFailed(f"an empty Submit was answered with a {vs.body}, not a Mandate (ESC-002)")
    return EscrowTarget(stub, vs.statement.mandate.agent, bytes(envelopes[0]), where)


def submit(
    ctx: Context, envelopes: Sequence[bytes], *, note: str = "", esc: EscrowTarget | None = None
) -> Reply:
    """Submit evidence to the escrow (``esc``, default the target); record both ways; never raises on
    a rejection."""
    esc = esc or escrow_of(ctx)
    shown = {"note": note, "envelopes": [describe(e) for e in envelopes]}
    req = service_pb2.SubmitRequest(envelopes=list(envelopes))
    reply = ctx._call("EscrowService/Submit", esc.stub.Submit, req, shown, where=esc.where)
    if reply.ok:
        reply.envelopes = ctx.whole_answer(reply, esc.stub.Submit, req, where=esc.where)
        ctx.session.record_signed(reply.envelopes)
        assert reply.entry is not None
        reply.entry.response = {"envelopes": [describe(e) for e in reply.envelopes]}
    return reply


def take(
    ctx: Context,
    statements: Sequence[VerifiedStatement],
    *,
    context: Sequence[bytes] = (),
    note: str = "",
    esc: EscrowTarget | None = None,
) -> list[VerifiedStatement]:
    """Submit valid evidence; it must be taken, and the answer must start with the escrow's Mandate
    (ESC-002) and verify.

    Returns:
        What the escrow signed in answer (the Mandate left out), verified by the shadow verifier.
    """
    esc = esc or escrow_of(ctx)
    reply = submit(ctx, [*context, *(vs.envelope for vs in statements)], note=note or "evidence", esc=esc)
    if reply.error is not None:
        err = reply.error
        raise CaseFailed(
            f"the escrow refused valid evidence ({note}): {err.reason or err.status.name}: "
            f"{err.metadata.get('detail', err.message)}"
        )
    ctx.must(
        bool(reply.envelopes) and reply.envelopes[0] == esc.mandate,
        "a Submit answer must start with the escrow's Mandate envelope (ESC-002)",
    )
    for env in context:
        ctx.hold(env)
    for vs in statements:
        ctx.sent(vs)
    return ctx.verify_signed(reply.envelopes[1:], what=f"the escrow's answer to {note or 'a Submit'}")


def read(ctx: Context, rpc: str, request: Any, *, note: str = "", esc: EscrowTarget | None = None) -> Reply:
    """Call an EscrowService read (``GetLedger``, ``GetTranscript``, ``GetBalance``)."""
    esc = esc or escrow_of(ctx)
    shown = {"note": note, "message": MessageToDict(request, preserving_proto_field_name=True)}
    reply = ctx._call(f"EscrowService/{rpc}", getattr(esc.stub, rpc), request, shown, where=esc.where)
    if reply.ok:
        reply.envelopes = list(getattr(reply.message, "envelopes", []))
        ctx.session.record_signed(reply.envelopes)
    return reply


def ledger(ctx: Context, from_seq: int = 0, *, esc: EscrowTarget | None = None) -> list[VerifiedStatement]:
    """The escrow's whole ledger from ``from_seq``, page by page, each entry verified (not fed to the
    shadow verifier: cases compare entries, the shadow sees the answers)."""
    out: list[VerifiedStatement] = []
    seq = from_seq
    while True:
        reply = read(
            ctx,
            "GetLedger",
            service_pb2.GetLedgerRequest(from_seq=seq, limit=256),
            note="ledger page",
            esc=esc,
        )
        if reply.error is not None:
            raise CaseFailed(f"GetLedger from {seq} failed: {reply.error.reason or reply.error.status.name}")
        page = [verify_statement(e) for e in reply.envelopes]
        out += page
        if not page or page[-1].header.seq >= reply.message.head_seq:
            return out
        seq = page[-1].header.seq + 1


def balance(ctx: Context, did: str, *, esc: EscrowTarget | None = None) -> tuple[int, int]:
    reply = read(ctx, "GetBalance", service_pb2.GetBalanceRequest(party=did), note="balance", esc=esc)
    if reply.error is not None:
        raise CaseFailed(f"GetBalance failed: {reply.error.reason or reply.error.status.name}")
    return int(reply.message.available), int(reply.message.locked)


def wait_for(
    ctx: Context,
    found: Callable[[VerifiedStatement], bool],
    *,
    what: str,
    from_seq: int = 0,
    esc: EscrowTarget | None = None,
    wait_s: float = DUE_WAIT_S,
) -> VerifiedStatement:
    """Poll the ledger until an entry satisfies ``found`` (what the escrow's clock makes due).

    Raises:
        CaseFailed: none within ``wait_s`` (default :data:`DUE_WAIT_S`).
    """
    deadline = time.monotonic() + wait_s
    while True:
        entries = ledger(ctx, from_seq, esc=esc)
        for i, vs in enumerate(entries):
            if found(vs):
                # The shadow verifier takes the escrow's earlier entries about the same contract first
                # (a Forfeit rests on its Ruling); entries about other cases' contracts are not its business.
                nid = vs.header.negotiation_id
                earlier = [e.envelope for e in entries[:i] if nid and e.header.negotiation_id == nid]
                return ctx.verify_signed([*earlier, vs.envelope], what=what)[-1]
        if time.monotonic() > deadline:
            raise CaseFailed(f"the escrow did not sign {what} within {wait_s:.0f} s")
        time.sleep(0.05)


@dataclass
class Deal:
    """A contract between two suite parties that names the target as its escrow."""

    alice: Party  # proposer
    bob: Party  # acceptor
    offer: VerifiedStatement
    accept: VerifiedStatement
    signed: list[VerifiedStatement] = field(default_factory=list)  # the escrow's answer to the contract

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id

    @property
    def setup(self) -> list[bytes]:
        return [*self.alice.setup, *self.bob.setup]

    def of(self, body: str) -> list[VerifiedStatement]:
        return [vs for vs in self.signed if vs.body == body]


def deal(
    ctx: Context,
    *,
    bond: int = 0,
    deadline_ms: int | None = None,
    ttl_ms: int = 5 * 60_000,
    offer_at_ms: int | None = None,
    accept_at_ms: int | None = None,
    response_window_ms: int = 1,
    revocation: trade_pb2.Revocation | None = None,
    escrow: str | None = None,
    submit_now: bool = True,
) -> Deal:
    """Alice offers Bob a code review for copy editing under the target's escrow, Bob accepts, and
    (by default) the contract goes to the escrow at once (ESC-004), which must take it.

    Args:
        bond: each side's bond.
        deadline_ms: both items' deadline (default a day from now); in the past for claims and lapses.
        offer_at_ms, accept_at_ms: when the Offer and the Accept are dated (default now).
        response_window_ms: the terms' response window (1 ms: rulings fall due at the next tick).
        escrow: the escrow named (default the target).
    """
    esc = escrow_of(ctx)
    alice, bob = ctx.party("alice"), ctx.party("bob")
    now = ctx.clock.now_ms
    deadline = now + DAY_MS if deadline_ms is None else deadline_ms
    proposal = trade_pb2.Offer(
        gives=[service("code-review", value=20, deadline_ms=deadline)],
        wants=[service("copy-editing", value=20, deadline_ms=deadline)],
        terms=trade_pb2.Terms(
            currency="credit",
            issuer_bond=bond,
            audience_bond=bond,
            escrow=esc.did if escrow is None else escrow,
            revocation=revocation or trade_pb2.Revocation(),
            response_window_ms=response_window_ms,
        ),
    )
    if bond:
        take(ctx, [], context=[*alice.setup, *bob.setup], note="the parties' Mandates")
        for p in (alice, bob):
            available, _ = balance(ctx, p.did)
            if available < bond:
                raise CaseFailed(
                    f"the escrow gives the suite's party {available}, the case needs a bond of {bond}: "
                    "fund the suite's parties (reference escrow: a2a-coop escrow serve "
                    "--conformance-faucet AMOUNT)",
                    Level.SKIP,
                )
    offer = alice.offer(bob, proposal, ttl_ms=ttl_ms, issued_at_ms=offer_at_ms)
    accept = bob.accept(offer, issued_at_ms=accept_at_ms)
    d = Deal(alice, bob, offer, accept)
    if submit_now:
        d.signed = take(ctx, [offer, accept], context=d.setup, note="the contract (ESC-004)")
    return d


def deliver(d: Deal, by: Party, **kw: Any) -> VerifiedStatement:
    to = d.bob if by is d.alice else d.alice
    return by.deliver(d.accept, to, **kw)


def claim(d: Deal, by: Party, **kw: Any) -> VerifiedStatement:
    other = d.bob if by is d.alice else d.alice
    msg = commitment_pb2.BreachClaim(contract=d.accept.digest, item_index=0, reason="never delivered")
    return by.sign("breach_claim", msg, audience=other.did, negotiation_id=d.nid, **kw)


def revoke(d: Deal, by: Party, **kw: Any) -> VerifiedStatement:
    other = d.bob if by is d.alice else d.alice
    return by.revoke(d.accept, other, "changed plans", **kw)


def summary(vs: VerifiedStatement) -> str:
    return str(describe(vs.envelope).get("summary", vs.body))
