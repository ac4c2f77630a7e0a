"""Public testing helpers: deterministic parties, a fixed clock and statement builders.

Framework authors use these to produce valid (and deliberately invalid)
statements for their own tests; our tests, vector generator and benchmarks use
them too. Everything is deterministic: keys and nonces derive from names and
counters, and time comes from a :class:`FixedClock`, so the same script yields
byte-identical envelopes on every run.

    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    report = verify_transcript([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a fixed, readable start for test clocks
DAY_MS = 86_400_000
DEFAULT_TTL_MS = 5 * 60_000
LEDGER_TTL_MS = 365 * 24 * 3600 * 1000


@dataclass
class FixedClock:
    """A clock that only moves when told to."""

    now_ms: int = EPOCH_MS

    def advance(self, ms: int) -> int:
        self.now_ms += ms
        return self.now_ms


def derive(label: str, n: int = 32) -> bytes:
    """Deterministic bytes from a label (test keys, nonces, salts; never production)."""
    return hashlib.sha256(b"a2a-coop testing\x00" + label.encode()).digest()[:n]


class Signer(ChainSigner):
    """A key with its chain, its clock and a deterministic nonce counter."""

    def __init__(self, name: str, clock: FixedClock) -> None:
        self.name = name
        self.clock = clock
        self._nonce_counter = 0
        key = Keypair.from_seed(derive(f"key/{name}"))
        super().__init__(key, clock=lambda: clock.now_ms, nonce=self.next_nonce, ttl_ms=DEFAULT_TTL_MS)

    def next_nonce(self) -> bytes:
        self._nonce_counter += 1
        return derive(f"nonce/{self.name}/{self._nonce_counter}", 16)


def service(
    category: str,
    *,
    value: int,
    deadline_ms: int,
    description: str = "",
    quantity: int = 1,
    unit: str = "job",
) -> trade_pb2.Item:
    return trade_pb2.Item(
        kind=trade_pb2.ITEM_KIND_SERVICE,
        category=category,
        description=description or category,
        quantity=quantity,
        unit=unit,
        value=value,
        deadline_ms=deadline_ms,
    )


@dataclass
class Party:
    """An agent with a principal, a mandate and builders for every trade statement.

    ``setup`` holds the envelopes a verifier needs before this party's trade
    statements (its principal's Mandate).
    """

    name: str
    clock: FixedClock
    mandate_caps: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.agent = Signer(self.name, self.clock)
        self.principal = Signer(f"{self.name}-principal", self.clock)
        caps: dict[str, Any] = {
            "agent": self.agent.did,
            "valid_from_ms": self.clock.now_ms - DAY_MS,
            "valid_until_ms": self.clock.now_ms + 365 * DAY_MS,
            "currency": "credit",
            "max_per_deal": 10_000,
            "min_per_deal": 0,
            "budget_per_period": 100_000,
            "period_ms": 30 * DAY_MS,
            "max_outstanding": 50_000,
        }
        caps.update(self.mandate_caps)
        self.mandate_vs = self.principal.sign("mandate", identity_pb2.Mandate(**caps), ttl_ms=365 * DAY_MS)
        self.setup: list[bytes] = [self.mandate_vs.envelope]

    @property
    def did(self) -> str:
        return self.agent.did

    def sign(self, body: str, message: Any, **kw: Any) -> VerifiedStatement:
        kw.setdefault("mandate", self.mandate_vs.digest)
        return self.agent.sign(body, message, **kw)

    def proposal(
        self,
        *,
        gives: Sequence[trade_pb2.Item] = (),
        wants: Sequence[trade_pb2.Item] = (),
        issuer_bond: int = 0,
        audience_bond: int = 0,
        escrow: str = "",
        revocation: trade_pb2.Revocation | None = None,
        exclusive_key: bytes = b"",
        claims: Sequence[trade_pb2.Claim] = (),
    ) -> trade_pb2.Offer:
        deadline = self.clock.now_ms + DAY_MS
        terms = trade_pb2.Terms(
            currency="credit",
            issuer_bond=issuer_bond,
            audience_bond=audience_bond,
            escrow=escrow,
            revocation=revocation or trade_pb2.Revocation(),
        )
        return trade_pb2.Offer(
            gives=list(gives) or [service("code-review", value=500, deadline_ms=deadline)],
            wants=list(wants)
            or [service("copy-editing", value=450, deadline_ms=deadline, quantity=10, unit="page")],
            terms=terms,
            exclusive_key=exclusive_key,
            claims=list(claims),
        )

    def bonded_proposal(self, escrow: str, due_ms: int, *, bond: int) -> trade_pb2.Offer:
        """The attack scenarios' bonded trade: a translation (500) for a code review (450), both due at
        ``due_ms``, each side bonding ``bond`` at ``escrow``."""
        return self.proposal(
            issuer_bond=bond,
            audience_bond=bond,
            escrow=escrow,
            gives=[service("translation", value=500, deadline_ms=due_ms)],
            wants=[service("code-review", value=450, deadline_ms=due_ms)],
        )

    def offer(
        self,
        to: Party,
        proposal: trade_pb2.Offer | None = None,
        *,
        negotiation_id: bytes | None = None,
        **kw: Any,
    ) -> VerifiedStatement:
        """An opening Offer; its negotiation_id derives from our did and the nonce (NEG-013) unless given."""
        nid = b"" if negotiation_id is None else negotiation_id
        return self.sign("offer", proposal or self.proposal(), audience=to.did, negotiation_id=nid, **kw)

    def counter(self, offer: VerifiedStatement, proposal: trade_pb2.Offer, **kw: Any) -> VerifiedStatement:
        return self._reply("counter", trade_pb2.Counter(offer=offer.digest, proposal=proposal), offer, **kw)

    def accept(self, offer: VerifiedStatement, **kw: Any) -> VerifiedStatement:
        return self._reply("accept", trade_pb2.Accept(offer=offer.digest), offer, **kw)

    def reject(self, offer: VerifiedStatement, reason: str = "", **kw: Any) -> VerifiedStatement:
        return self._reply("reject", trade_pb2.Reject(offer=offer.digest, reason=reason), offer, **kw)

    def withdraw(self, offer: VerifiedStatement, reason: str = "", **kw: Any) -> VerifiedStatement:
        to = offer.header.audience
        return self.sign(
            "withdraw",
            trade_pb2.Withdraw(offer=offer.digest, reason=reason),
            audience=to,
            negotiation_id=offer.header.negotiation_id,
            **kw,
        )

    def revoke(self, accept: VerifiedStatement, to: Party, reason: str = "", **kw: Any) -> VerifiedStatement:
        """Our Revoke of the contract ``accept`` formed, to the other party ``to`` (CMT-003)."""
        msg = commitment_pb2.Revoke(contract=accept.digest, reason=reason)
        return self.sign("revoke", msg, audience=to.did, negotiation_id=accept.header.negotiation_id, **kw)

    def _reply(self, body: str, msg: Any, offer: VerifiedStatement, **kw: Any) -> VerifiedStatement:
        return self.sign(
            body,
            msg,
            audience=offer.issuer,
            negotiation_id=offer.header.negotiation_id,
            refs=[offer.digest],
            **kw,
        )

    def deliver(
        self, accept: VerifiedStatement, to: Party, item_index: int = 0, **kw: Any
    ) -> VerifiedStatement:
        msg = commitment_pb2.Delivery(
            contract=accept.digest,
            item_index=item_index,
            artifact_digest=derive(f"artifact/{self.name}/{item_index}"),
        )
        return self.sign("delivery", msg, audience=to.did, negotiation_id=accept.header.negotiation_id, **kw)

    def receipt(self, delivery: VerifiedStatement, rating: int = 90, **kw: Any) -> VerifiedStatement:
        msg = commitment_pb2.Receipt(delivery=delivery.digest, rating=rating)
        return self.sign(
            "receipt", msg, audience=delivery.issuer, negotiation_id=delivery.header.negotiation_id, **kw
        )

    def attest(
        self,
        offer: VerifiedStatement,
        accept: VerifiedStatement,
        subject: str,
        outcome: reputation_pb2.Outcome = reputation_pb2.OUTCOME_FULFILLED,
        **kw: Any,
    ) -> VerifiedStatement:
        msg = reputation_pb2.Attestation(
            subject=subject, offer=offer.digest, accept=accept.digest, outcome=outcome
        )
        return self.sign("attestation", msg, **kw)


def full_trade(clock: FixedClock | None = None) -> tuple[Party, Party, list[VerifiedStatement]]:
    """Alice and Bob trade a code review for copy editing, no bonds: offer, accept,
    two deliveries, two receipts. Returns both parties and the statements in order."""
    clock = clock or FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    clock.advance(1000)
    accept = bob.accept(offer)
    clock.advance(1000)
    d1 = alice.deliver(accept, bob)
    d2 = bob.deliver(accept, alice)
    clock.advance(1000)
    r1 = bob.receipt(d1)
    r2 = alice.receipt(d2)
    return alice, bob, [offer, accept, d1, d2, r1, r2]


def bonded_trade(
    alice: Party,
    bob: Party,
    escrow: Party,
    clock: FixedClock,
    *,
    breach: bool = False,
    witnessed: bool = False,
) -> list[VerifiedStatement]:
    """One complete bonded trade, in order: offer, accept, both bond locks, both deliveries and
    receipts, both releases, and Alice's attestation of Bob.

    With ``witnessed`` the escrow also stamps the offer and the Accept before it locks the bonds
    (WIT-001), and the log opens with that Stamp (evidence order: a Stamp before what it names).

    With ``breach`` Bob never delivers: a day after the deadline Alice claims, the escrow forfeits
    Bob's bond to her and releases hers, and Alice attests the breach. The escrow here is a plain
    signer following the rules by hand; :class:`a2a_coop.protocol.escrow.Escrow` is the real one.
    """
    log: list[VerifiedStatement] = []
    offer = alice.offer(bob, alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    nid = offer.header.negotiation_id
    if witnessed:
        log.append(escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest])))
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=100),
            audience=p.did,
            negotiation_id=nid,
        )
        for p in (alice, bob)
    ]
    clock.advance(1_000)
    d_alice = alice.deliver(accept, bob)
    log += [offer, accept, *locks, d_alice]
    if not breach:
        d_bob = bob.deliver(accept, alice)
        clock.advance(1_000)
        r1, r2 = bob.receipt(d_alice), alice.receipt(d_bob)
        releases = [
            escrow.sign(
                "release",
                commitment_pb2.Release(contract=accept.digest, party=p.did, amount=100),
                audience=p.did,
                negotiation_id=nid,
            )
            for p in (alice, bob)
        ]
        att = alice.attest(offer, accept, bob.did)
        log += [d_bob, r1, r2, *releases, att]
        return log
    # Bob never delivers. After the deadline Alice claims; the escrow stamps the claim (which makes it
    # effective, WIT-005), upholds it once the response window has passed, then settles the bonds.
    clock.advance(DAY_MS + 1_000)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="copy editing never arrived"),
        audience=bob.did,
        negotiation_id=nid,
    )
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    ruling = escrow.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        ),
        negotiation_id=nid,
    )
    forfeit = escrow.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=bob.did, amount=100, beneficiary=alice.did, cause=claim.digest
        ),
        audience=bob.did,
        negotiation_id=nid,
    )
    release = escrow.sign(
        "release",
        commitment_pb2.Release(contract=accept.digest, party=alice.did, amount=100),
        audience=alice.did,
        negotiation_id=nid,
    )
    att = alice.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_BREACHED)
    log += [stamp, claim, ruling, forfeit, release, att]
    return log


class _LedgerSigner:
    """The escrow's key signs ledger entries valid for a year, as the production signer does
    (:class:`~a2a_coop.runtime.node.KeySigner`): a party relays an old Stamp or Forfeit live."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    @property
    def did(self) -> str:
        return self.signer.did

    def candidate(self, body: str, message: Any, **kw: Any) -> VerifiedStatement:
        return self.signer.candidate(body, message, ttl_ms=LEDGER_TTL_MS, **kw)

    def sign_candidate(self, cand: VerifiedStatement) -> VerifiedStatement:
        return self.signer.sign_candidate(cand)

    def sign(self, body: str, message: Any, **kw: Any) -> VerifiedStatement:
        return self.signer.sign(body, message, ttl_ms=LEDGER_TTL_MS, **kw)


class LocalEscrow:
    """An :class:`~a2a_coop.protocol.escrow.Escrow` in this process, with the surface of
    :class:`~a2a_coop.transport.EscrowClient` (``submit``, ``get_ledger``, ``get_balance``), on a
    :class:`FixedClock`: trades run through the real escrow rules with no network.

    ``submit`` answers like the gRPC service: the escrow's Mandate first, then what it signed.
    """

    def __init__(self, party: Party, *, funds: dict[str, int] | None = None) -> None:
        self.party = party
        self.clock = party.clock
        self.escrow = Escrow(_LedgerSigner(party.agent), party.mandate_vs.digest, setup=party.setup)
        for did, amount in (funds or {}).items():
            self.escrow.deposit(did, amount, "credit", "test funding", self.clock.now_ms)

    @property
    def did(self) -> str:
        return self.party.did

    @property
    def mandate(self) -> bytes:
        return self.party.mandate_vs.envelope

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        signed = self.escrow.submit(envelopes, self.clock.now_ms)
        return [self.mandate, *(vs.envelope for vs in signed)]

    def tick(self) -> list[bytes]:
        return [vs.envelope for vs in self.escrow.tick(self.clock.now_ms)]

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.escrow.ledger(from_seq, limit or None), max(self.escrow.ledger_size - 1, 0)

    @overload
    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int | None = None, opening_from: None = None
    ) -> tuple[list[bytes], int, int]: ...
    @overload
    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int | None, opening_from: int
    ) -> tuple[list[bytes], int, int, int]: ...
    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int | None = None, opening_from: int | None = None
    ) -> tuple[list[bytes], int, int] | tuple[list[bytes], int, int, int]:
        """As a client reads it (``opening_from`` left out: the opening's parts joined, ESC-006 (b)) or,
        with ``opening_from``, as a served escrow's handler answers it."""
        limit, head = limit or 1024, max(self.escrow.ledger_size - 1, 0)
        if opening_from is not None:
            envelopes, next_seq, next_opening = self.escrow.transcript_page(
                from_seq, limit, max_bytes, opening_from
            )
            return envelopes, head, next_seq, next_opening
        envelopes, next_seq, next_opening = self.escrow.transcript_page(from_seq, limit, max_bytes)
        while next_opening:
            part, next_seq, next_opening = self.escrow.transcript_page(0, limit, max_bytes, next_opening)
            envelopes += part
        return envelopes, head, next_seq

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        available, locked = self.escrow.balance(party)
        return available, locked, self.escrow.currency, max(self.escrow.ledger_size - 1, 0)
