"""Cases, groups and the building blocks every vector family uses.

A :class:`Group` is one ``testGroups`` entry: a topic ``type``, the verifier's chain ``mode`` and
its cases. The builders below make statements the way a peer would, but sign them *without*
validation and without advancing the signer's chain (except :func:`chain_sign`), so a family can
build a statement with one thing wrong and re-sign it as its issuer would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from a2a_coop._proto.a2acoop.v1 import reputation_pb2, trade_pb2
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, Envelope, pae
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import (
    PROTOCOL_VERSION,
    Statement,
    VerifiedStatement,
    encode_statement,
    negotiation_id_for,
)
from a2a_coop.testing import DEFAULT_TTL_MS, FixedClock, Party, Signer

# --- cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Twin:
    """The valid transcript an invalid case was derived from.

    It is the case's transcript with its one defect fixed: the defective statement (or the context
    statement that makes it defective) rebuilt without the defect and signed by the same issuer. The
    generator checks that every twin is accepted in full (:func:`.output.check_twins`): a case whose
    twin fails breaks more than the rule it pins. ``now_ms`` is the reference time the twin runs at.
    """

    envelopes: Sequence[bytes]
    now_ms: int | None = None


@dataclass
class Case:
    """One vector before encoding. ``failed_index`` defaults to the last envelope when invalid.

    An invalid case carries its :class:`Twin`, or says in ``no_twin`` why it has none (the defect is
    the statement's mere presence: a replay, a second Accept; or the input is not derived from a
    statement at all: garbage bytes). Cases flagged ``VerificationOrder`` break several rules on
    purpose and need neither.
    """

    comment: str
    requirements: Sequence[str]
    envelopes: Sequence[bytes]
    error: str | None = None
    flags: Sequence[str] = ()
    now_ms: int | None = None
    failed_index: int | None = None
    twin: Twin | None = None
    no_twin: str = ""
    at_the_escrow: Sequence[str] = ()  # a valid case an escrow taking evidence refuses: (error, *flags)
    # ATT-013 (d): the escrows the view trusts (None: the field absent, every escrow), and the keys and
    # principals it must hold faulty after the run (None: the case states none)
    trusted_escrows: Sequence[str] | None = None
    faulty: Sequence[str] | None = None


@dataclass
class Group:
    """One ``testGroups`` entry. ``role``: the verifier that runs it (SPEC 17) -- ``"auditor"``, a view
    of evidence (KEY-009's exception), or ``"escrow"``, an escrow taking evidence and its audit."""

    type: str
    mode: str
    cases: list[Case] = field(default_factory=list)
    role: str = "auditor"

    def add(
        self,
        comment: str,
        requirements: Sequence[str],
        envelopes: Sequence[bytes],
        error: str | None = None,
        *flags: str,
        now_ms: int | None = None,
        failed_index: int | None = None,
        twin: Twin | Sequence[bytes] | None = None,
        no_twin: str = "",
        at_the_escrow: Sequence[str] = (),
        trusted_escrows: Sequence[str] | None = None,
        faulty: Sequence[str] | None = None,
    ) -> None:
        """Add a case. ``twin`` is a :class:`Twin`, or its envelopes (run at the case's ``now_ms``).
        ``at_the_escrow``: (error, *flags) of a valid case -- a view of evidence holding, by KEY-009 (c), a
        statement a revocation or rotation would reject -- that an escrow taking evidence refuses, its
        revoking statement the one before last (keytime.json's group ``RefusedAtTheEscrow`` replays it).
        ``trusted_escrows``, ``faulty``: the view's trusted escrows and what it must hold faulty (ATT-013)."""
        if error is None and not flags:
            flags = ("Valid",)
        if twin is not None and not isinstance(twin, Twin):
            twin = Twin(list(twin), now_ms)
        self.cases.append(
            Case(
                comment,
                requirements,
                envelopes,
                error,
                flags,
                now_ms,
                failed_index,
                twin,
                no_twin,
                at_the_escrow,
                trusted_escrows,
                faulty,
            )
        )


# --- building blocks ------------------------------------------------------------------------


def world(**caps: dict[str, Any]) -> tuple[FixedClock, Party, Party]:
    """A fresh clock with Alice and Bob (mandate caps per party name, e.g. alice={...})."""
    clock = FixedClock()
    return clock, Party("alice", clock, caps.get("alice", {})), Party("bob", clock, caps.get("bob", {}))


def draft(
    signer: Signer,
    body: str,
    msg: Any,
    *,
    audience: str = "",
    negotiation_id: bytes = b"",
    mandate: bytes = b"",
    ttl_ms: int = DEFAULT_TTL_MS,
    refs: Sequence[bytes] = (),
    issued_at_ms: int | None = None,
    nonce: bytes | None = None,
) -> Statement:
    """The statement ``signer.sign`` would make, built but not signed (the chain does not advance)."""
    stmt = Statement()
    h = stmt.header
    h.version = PROTOCOL_VERSION
    h.issuer = signer.did
    h.audience = audience
    h.seq = signer.writer.next_seq
    h.prev = signer.writer.prev
    h.issued_at_ms = signer.clock.now_ms if issued_at_ms is None else issued_at_ms
    h.expires_at_ms = h.issued_at_ms + ttl_ms
    h.nonce = signer.next_nonce() if nonce is None else nonce
    h.negotiation_id = negotiation_id
    h.refs.extend(refs)
    h.mandate = mandate
    getattr(stmt, body).CopyFrom(msg)
    return stmt


def agent_draft(party: Party, body: str, msg: Any, **kw: Any) -> Statement:
    """:func:`draft` for a party's agent, citing its mandate."""
    kw.setdefault("mandate", party.mandate_vs.digest)
    return draft(party.agent, body, msg, **kw)


def attestation_draft(by: Party, of: Party, offer: Any, accept: Any, **fields: Any) -> Statement:
    """An unsigned Attestation by ``by``'s agent of ``of`` for the contract of ``offer`` and ``accept``
    (verified statements), FULFILLED unless ``fields`` say otherwise."""
    fields.setdefault("outcome", reputation_pb2.OUTCOME_FULFILLED)
    msg = reputation_pb2.Attestation(subject=of.did, offer=offer.digest, accept=accept.digest, **fields)
    return agent_draft(by, "attestation", msg)


def seal(key: Keypair, stmt: Statement | bytes, payload_type: str = STATEMENT_PAYLOAD_TYPE) -> bytes:
    """Sign a statement (or raw payload bytes) without any validation."""
    payload = stmt if isinstance(stmt, bytes) else encode_statement(stmt)
    return make_envelope(payload, payload_type, [(key.did, key.sign(pae(payload_type, payload)))])


def edited(stmt: Statement, edit: Callable[[Statement], Any]) -> Statement:
    """A copy of ``stmt`` with one edit; ``stmt`` itself stays as it was (the twin)."""
    out = Statement()
    out.CopyFrom(stmt)
    edit(out)
    return out


def retimed(at: int) -> Callable[[Statement], None]:
    """An edit for :func:`edited`: issue the statement at ``at`` (its time to live unchanged)."""

    def edit(stmt: Statement) -> None:
        h = stmt.header
        h.expires_at_ms, h.issued_at_ms = at + h.expires_at_ms - h.issued_at_ms, at

    return edit


def chain_sign(signer: Signer, stmt: Statement) -> VerifiedStatement:
    """Sign a valid, hand-built statement through the signer's chain (so later statements follow it)."""
    return signer.writer.sign(stmt, nonce=stmt.header.nonce)


def make_envelope(payload: bytes, payload_type: str, signatures: Sequence[tuple[str, bytes]]) -> bytes:
    """The envelope bytes for these (keyid, sig) pairs, as given: nothing is checked."""
    env = Envelope(payload=payload, payload_type=payload_type)
    for keyid, sig in signatures:
        env.signatures.add(keyid=keyid, sig=sig)
    return env.SerializeToString(deterministic=True)


def open_envelope(data: bytes) -> tuple[bytes, str, str, bytes]:
    """(payload, payload_type, keyid, sig) of a one-signature envelope."""
    env = Envelope()
    env.ParseFromString(data)
    return env.payload, env.payload_type, env.signatures[0].keyid, env.signatures[0].sig


def draft_offer(
    party: Party, to: Party | str, proposal: trade_pb2.Offer | None = None, **kw: Any
) -> Statement:
    """An unsigned opening offer from ``party`` (default proposal) to ``to``, its negotiation_id
    derived from the agent's did and the nonce (NEG-013) unless one is given."""
    audience = to if isinstance(to, str) else to.did
    if kw.get("nonce") is None:
        kw["nonce"] = party.agent.next_nonce()
    kw.setdefault("negotiation_id", negotiation_id_for(party.did, kw["nonce"]))
    return agent_draft(party, "offer", proposal or party.proposal(), audience=audience, **kw)
