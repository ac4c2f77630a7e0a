"""The reference escrow -- witness, arbiter and ledger -- and the audit of its transcript (SPEC 7.3, 7.7,
9; WIT-*, CMT-*, AUD-*, NEG-012).

Stories run Alice and Bob through an :class:`Escrow` built on the ``escrow`` party's key, on a fixed
clock: deposits, a bonded contract, and whatever evidence the story needs. What the escrow signs is
compared as short tuples: ``("stamp", n)`` for a Stamp naming n statements, ``("ruling", "UPHOLD")``
for a Ruling, ``(body, party)`` for money. Whatever happens in a story, the escrow's own transcript
must audit clean, and an escrow restored from it must hold the same ledger, balances and open contracts.

The audit tests build misbehaving escrows by hand (:class:`Hand`): the ``escrow`` party signs a ledger
statement by statement, as tests/test_negotiation.py does. The honest script audits clean; each test
deviates from it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.bodies import MAX_STAMP_DIGESTS
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.errors import (
    ChainGap,
    CoopError,
    Equivocation,
    IllegalTransition,
    IssuedInFuture,
    LimitExceeded,
    RevocationNotAllowed,
    Unwitnessed,
)
from a2a_coop.protocol.escrow import MAX_OPEN_CONTRACTS, Escrow
from a2a_coop.protocol.escrow_audit import AuditReport, audit_ledger
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, verify_statement
from a2a_coop.protocol.verifier import Verifier, verify_transcript
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.testing import FixedClock, LocalEscrow, Party, Signer, derive

FUNDS = 1_000
BOND = 100
WINDOW = DEFAULT_RESPONSE_WINDOW_MS
HOUR_MS = 3_600_000
UPHOLD, DISMISS, LAPSE = (
    commitment_pb2.RULING_DECISION_UPHOLD,
    commitment_pb2.RULING_DECISION_DISMISS,
    commitment_pb2.RULING_DECISION_LAPSE,
)
DECISION = {UPHOLD: "UPHOLD", DISMISS: "DISMISS", LAPSE: "LAPSE"}

Said = tuple[str, str | int]


def _claim(
    claimant: Party, accept: VerifiedStatement, accused: Party, item: int = 0, at: int | None = None
) -> VerifiedStatement:
    msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=item, reason="never arrived")
    nid = accept.header.negotiation_id
    return claimant.sign("breach_claim", msg, audience=accused.did, negotiation_id=nid, issued_at_ms=at)


def _revoke(party: Party, accept: VerifiedStatement, to: Party, at: int | None = None) -> VerifiedStatement:
    return party.revoke(accept, to, "changed plans", issued_at_ms=at)


def _ack(party: Party, vs: VerifiedStatement, at: int | None = None) -> VerifiedStatement:
    """``party`` acknowledges ``vs`` to its sender (WIT-002: a witness when ``party`` is its audience)."""
    return party.sign("ack", commitment_pb2.Ack(statement=vs.digest), audience=vs.issuer, issued_at_ms=at)


def _contract(
    alice: Party, bob: Party, escrow: Party, *, response_window_ms: int = 0, **terms: Any
) -> tuple[VerifiedStatement, VerifiedStatement]:
    """Alice's offer to Bob under ``escrow`` (a bond of BOND each unless ``terms`` say otherwise) and
    Bob's Accept, both signed now and not yet shown to anyone."""
    terms = {"issuer_bond": BOND, "audience_bond": BOND, **terms}
    proposal = alice.proposal(escrow=escrow.did, **terms)
    proposal.terms.response_window_ms = response_window_ms
    offer = alice.offer(bob, proposal)
    return offer, bob.accept(offer)


# --- stories: the real escrow -------------------------------------------------------------------


class Story:
    """Alice offers Bob a contract with a bond of BOND each, held by the reference escrow.

    Both parties' mandates reach the escrow, each deposits its share of ``funds``, and the offer and
    accept are built but not yet submitted.
    """

    def __init__(
        self,
        clock: FixedClock,
        alice: Party,
        bob: Party,
        escrow: Party,
        *,
        funds: tuple[int, int] = (FUNDS, FUNDS),
        max_open_contracts: int = MAX_OPEN_CONTRACTS,
        **terms: Any,
    ) -> None:
        self.clock, self.alice, self.bob, self.escrow = clock, alice, bob, escrow
        self.max_open_contracts = max_open_contracts
        self.desk = Escrow(
            escrow.agent, escrow.mandate_vs.digest, setup=escrow.setup, max_open_contracts=max_open_contracts
        )
        self.names = {alice.did: "alice", bob.did: "bob"}
        self.signed: list[VerifiedStatement] = []  # what the escrow signed, in ledger order
        assert self.submit(alice.mandate_vs, bob.mandate_vs) == [("stamp", 2)]
        for party, amount in zip((alice, bob), funds, strict=True):
            if amount:
                self.deposit(party, amount)
        self.offer, self.accept = _contract(alice, bob, escrow, **terms)
        self.deadline = self.offer.statement.offer.gives[0].deadline_ms  # both items share it
        self.lapse = self.deadline + CLAIM_WINDOW_MS  # the escrow declares the lapse strictly after

    # -- driving the escrow

    def submit(self, *statements: VerifiedStatement) -> list[Said]:
        return self.said(self.desk.submit([s.envelope for s in statements], self.clock.now_ms))

    def deposit(self, party: Party, amount: int) -> list[Said]:
        """Everything the deposit makes the escrow sign: the Deposit, then the locks it funds."""
        before = self.desk.ledger_size
        self.desk.deposit(party.did, amount, "credit", f"wire/{party.name}/{before}", self.clock.now_ms)
        return self.said([verify_statement(env) for env in self.desk.ledger(before)])

    def tick(self, now_ms: int) -> list[Said]:
        """The escrow's clock moves on to ``now_ms`` (never back) and it does what time made due."""
        assert now_ms >= self.clock.now_ms
        self.clock.now_ms = now_ms
        return self.said(self.desk.tick(now_ms))

    def restart(self) -> None:
        """The escrow process restarts: a new Escrow from the saved transcript (its journal)."""
        self.desk = Escrow(
            self.escrow.agent,
            self.escrow.mandate_vs.digest,
            setup=self.desk.transcript(),
            max_open_contracts=self.max_open_contracts,
        )

    def said(self, signed: list[VerifiedStatement]) -> list[Said]:
        self.signed += signed
        out: list[Said] = []
        for vs in signed:
            msg = vs.body_message
            if vs.body == "stamp":
                out.append(("stamp", len(msg.statements)))
            elif vs.body == "ruling":
                out.append(("ruling", DECISION[msg.decision]))
            else:
                out.append((vs.body, self.names.get(msg.party, msg.party)))
        return out

    # -- reading it

    def balances(self) -> dict[str, tuple[int, int]]:
        return {name: self.desk.balance(did) for did, name in self.names.items()}

    def state(self, offer: VerifiedStatement | None = None) -> State:
        offer = offer or self.offer
        return self.desk.verifier.negotiations.get(offer.header.negotiation_id).state

    def last(self, body: str) -> Any:
        """The body message of the last statement of that body the escrow signed."""
        return next(vs.body_message for vs in reversed(self.signed) if vs.body == body)

    def refused(self, vs: VerifiedStatement) -> CoopError:
        """Submitting ``vs`` is refused, and the escrow holds, signs and journals nothing for it."""
        self.desk.drain_unsaved()
        before = (self.desk.ledger(), self.desk.transcript(), self.desk.open_contracts, self.balances())
        with pytest.raises(CoopError) as err:
            self.submit(vs)
        after = (self.desk.ledger(), self.desk.transcript(), self.desk.open_contracts, self.balances())
        assert after == before
        assert vs.digest not in self.desk.verifier.statements
        assert self.desk.drain_unsaved() == []  # nothing for the node to journal
        return err.value

    # -- the parties' statements

    def bonded(self) -> None:
        assert self.submit(self.offer, self.accept) == [
            ("stamp", 2),
            ("bond_lock", "alice"),
            ("bond_lock", "bob"),
        ]

    def claim(
        self, claimant: Party, accused: Party, item: int = 0, at: int | None = None
    ) -> VerifiedStatement:
        return _claim(claimant, self.accept, accused, item, at)

    def revoke(self, party: Party, to: Party, at: int | None = None) -> VerifiedStatement:
        return _revoke(party, self.accept, to, at)


@pytest.fixture
def stories(clock: FixedClock, alice: Party, bob: Party, escrow: Party) -> Iterator[Callable[..., Story]]:
    """Builds stories. Afterwards, whatever happened in them: the escrow's transcript audits clean
    with the escrow's balances, and an escrow restored from it holds the same ledger, balances and
    open contracts."""
    made: list[Story] = []

    def make(**kw: Any) -> Story:
        made.append(Story(clock, alice, bob, escrow, **kw))
        return made[-1]

    yield make
    for s in made:
        report = audit_ledger(s.desk.transcript())
        assert report.ok, report.findings
        assert report.escrow == escrow.did
        assert [vs.envelope for vs in report.statements] == s.desk.ledger()
        assert {did: report.balances.get(did, (0, 0)) for did in s.names} == {
            did: s.desk.balance(did) for did in s.names
        }
        assert _paged_transcript(s.desk, limit=1) == _paged_transcript(s.desk, limit=3, max_bytes=1)
        assert _paged_transcript(s.desk, limit=1024) == s.desk.transcript()  # GetTranscript (ESC-006)
        restored = Escrow(escrow.agent, escrow.mandate_vs.digest, setup=s.desk.transcript())
        assert restored.ledger() == s.desk.ledger()
        assert restored.open_contracts == s.desk.open_contracts
        assert {did: restored.balance(did) for did in s.names} == {
            did: s.desk.balance(did) for did in s.names
        }


@pytest.mark.req("ESC-006", "AUD-001")
def test_the_transcript_served_page_by_page_is_the_transcript_an_audit_needs(story: Story) -> None:
    """A settled trade, served one ledger entry per page and under a 1-byte page budget: expect the
    Mandate first, every Stamp followed by what it names, whole, and the pages together the transcript
    the audit finds ok (every story checks this on teardown too)."""
    story.bonded()
    d1, d2 = story.alice.deliver(story.accept, story.bob), story.bob.deliver(story.accept, story.alice)
    story.submit(d1, d2, story.bob.receipt(d1), story.alice.receipt(d2))
    first, after, opening = story.desk.transcript_page(0, 1, max_bytes=1)  # the Mandate alone
    assert verify_statement(first[0]).statement.mandate.agent == story.desk.did and after == 0
    assert opening == 1  # the opening read in parts (ESC-006 (b)): here, one Mandate
    for seq in range(story.desk.ledger_size):
        page, after, _ = story.desk.transcript_page(seq, 1, max_bytes=1, opening_from=opening)
        assert after == seq + 1
        own = [vs for vs in map(verify_statement, page) if vs.issuer == story.desk.did]
        if own[-1].body == "stamp":
            assert [
                verify_statement(e).digest for e in page[-len(own[-1].statement.stamp.statements) :]
            ] == list(own[-1].statement.stamp.statements)
    assert _paged_transcript(story.desk, limit=2, max_bytes=1) == story.desk.transcript()
    assert audit_ledger(_paged_transcript(story.desk, limit=1024)).ok


def _paged_transcript(desk: Escrow, *, limit: int, max_bytes: int | None = None) -> list[bytes]:
    """The transcript as GetTranscript serves it, page after page."""
    out: list[bytes] = []
    seq = opening = 0
    while True:
        page, after, opening = desk.transcript_page(seq, limit, max_bytes, opening)
        out += page
        if opening:  # a part of the opening (ESC-006 (b)): from seq 0 again
            continue
        assert after > seq or not desk.ledger_size  # every page makes progress
        if after >= desk.ledger_size:
            return out
        seq = after


@pytest.fixture
def story(stories: Callable[..., Story]) -> Story:
    return stories()


# --- NEG-012, CMT-001, WIT-001: the bonded trade and its stamps ------------------------------------


@pytest.mark.req("NEG-012", "CMT-001", "WIT-001", "ESC-003")
def test_bonded_trade_locks_both_bonds_then_releases_them(story: Story, alice: Party, bob: Party) -> None:
    """Both deposit; the contract reaches the escrow: expect one Stamp naming offer and accept, then a
    lock per party (BONDED); each party's own verifier sees BONDED from the public locks. Once both
    sides deliver and receipt: a Stamp per submit, a release per party, balances back to the deposits."""
    story.bonded()
    assert story.state() is State.BONDED
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    locks = [vs.envelope for vs in story.signed if vs.body == "bond_lock"]
    for me in (alice, bob):
        own = Verifier(me=me.did)
        contract = (story.offer.envelope, story.accept.envelope)
        for env in (*alice.setup, *bob.setup, *story.escrow.setup, *contract, *locks):
            own.accept(env, ours=verify_statement(env).issuer == me.did)  # its own offer or accept
        assert own.negotiations.get(story.offer.header.negotiation_id).state is State.BONDED
    story.clock.advance(1_000)
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    assert story.submit(d1, d2, bob.receipt(d1)) == [("stamp", 3)]
    assert story.submit(alice.receipt(d2)) == [("stamp", 1), ("release", "alice"), ("release", "bob")]
    assert story.state() is State.FULFILLED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}
    assert story.desk.open_contracts == 0
    assert verify_transcript(story.desk.transcript()).valid
    ledger = [verify_statement(e) for e in story.desk.ledger()]
    assert {(vs.body, vs.header.audience) for vs in ledger if vs.body != "deposit"} == {
        (body, "") for body in ("stamp", "bond_lock", "release")
    }  # public, so either party can relay them to the other
    assert {vs.header.audience for vs in ledger if vs.body == "deposit"} == {alice.did, bob.did}


def test_the_escrow_checks_each_evidence_signature_once_and_its_own_never_yet_each_verifies(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Submit of offer and accept makes the escrow sign a Stamp and two BondLocks: expect exactly two
    signature checks (the evidence's), none of the escrow's own statements (it built and signed them
    itself, as a peer does not re-verify its own), and each of the three verifying from its envelope to
    the very statement the escrow holds."""
    from a2a_coop.protocol import identity

    checked: list[bytes] = []
    sign_open = identity._crypto_sign_open

    def counting(m: object, mlen: object, signed: bytes, n: int, public_key: bytes) -> int:
        checked.append(signed[:64])
        return sign_open(m, mlen, signed, n, public_key)

    monkeypatch.setattr(identity, "_crypto_sign_open", counting)
    before = story.desk.ledger_size
    story.bonded()
    monkeypatch.undo()
    assert len(checked) == 2
    for env in story.desk.ledger(before):
        vs = verify_statement(env)
        assert story.desk.verifier.statements[vs.digest].statement == vs.statement


def test_the_escrow_checks_each_of_its_statements_once_in_context_on_the_bytes_it_then_signs(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Submit of offer and accept makes the escrow sign a Stamp and two BondLocks: expect one
    contextual check of each, before it is signed, on the unsigned candidate whose digest -- nonce and
    lifetime included -- is the signed statement's. A candidate its verifier refuses is never signed:
    the refusal comes out of the Submit, the ledger and the key's chain stay where they were."""
    checks: list[VerifiedStatement] = []
    check = Verifier.check

    def recording(verifier: Verifier, vs: VerifiedStatement, *args: Any, **kwargs: Any) -> None:
        if vs.issuer == story.escrow.did:
            checks.append(vs)
        check(verifier, vs, *args, **kwargs)

    monkeypatch.setattr(Verifier, "check", recording)
    before = story.desk.ledger_size
    story.bonded()
    signed = [verify_statement(e) for e in story.desk.ledger(before)]
    assert [c.envelope for c in checks] == [b"", b"", b""]
    assert [c.digest for c in checks] == [vs.digest for vs in signed]
    assert [c.header.nonce for c in checks] == [vs.header.nonce for vs in signed]

    def refusing(verifier: Verifier, vs: VerifiedStatement, *args: Any, **kwargs: Any) -> None:
        if vs.issuer == story.escrow.did:
            raise IllegalTransition("refused for the test")
        check(verifier, vs, *args, **kwargs)

    monkeypatch.setattr(Verifier, "check", refusing)
    head, size = story.escrow.agent.writer.next_seq, story.desk.ledger_size
    with pytest.raises(IllegalTransition):
        story.desk.deposit(story.alice.did, 5, "credit", "wire/refused", story.clock.now_ms)
    assert (story.escrow.agent.writer.next_seq, story.desk.ledger_size) == (head, size)


@pytest.mark.req("RPL-002", "ESC-001")
def test_a_submit_prechecked_before_another_took_its_statements_takes_nothing_twice(story: Story) -> None:
    """A served escrow runs a Submit's stateless checks (:meth:`Escrow.precheck`) before it takes its
    lock, so another Submit of the same statements may be taken in between. Expect the Submit, with
    its precheck gone stale, to take nothing twice: its statements held, nothing signed for it, and its
    answer the Stamp that first named them with the locks signed about the contract (ESC-008), as a
    Submit prechecked under the lock gets; and a refusal the precheck found raised all the same, after
    the envelopes before it."""
    envelopes = [story.offer.envelope, story.accept.envelope]
    stale = story.desk.precheck(envelopes)
    assert [item.digest for item in stale.items if not isinstance(item, bytes)] == [
        story.offer.digest,
        story.accept.digest,
    ]
    story.bonded()  # another Submit, taken first
    size, transcript = story.desk.ledger_size, story.desk.transcript()
    answer = story.desk.submit(envelopes, story.clock.now_ms, prechecked=stale)
    assert story.desk.ledger_size == size and story.desk.transcript() == transcript
    assert answer == story.signed[-3:] == story.desk.submit(envelopes, story.clock.now_ms)
    mandate = Party("carol", story.clock).setup[0]  # new here, its signature's last byte flipped
    bad = mandate[:-1] + bytes([mandate[-1] ^ 1])
    refused = story.desk.precheck([*envelopes, bad])
    assert isinstance(refused.refused, CoopError) and len(refused.items) == 2
    with pytest.raises(CoopError) as err:
        story.desk.submit([*envelopes, bad], story.clock.now_ms, prechecked=refused)
    assert err.value is refused.refused and story.desk.ledger_size == size


@pytest.mark.req("WIT-001")
def test_each_submit_is_stamped_once_before_the_evidence_it_names(
    story: Story, alice: Party, bob: Party
) -> None:
    """A Submit of offer and accept: one Stamp naming exactly them, in order, issued at the escrow's
    clock; in the transcript and in what the node journals (drain_unsaved) it comes right before them,
    and the locks after. Evidence already held is not named again; a Submit whose second envelope is
    refused still stamps (and keeps) the first."""
    story.desk.drain_unsaved()
    mark = len(story.desk.transcript())
    story.bonded()
    stamp = story.signed[-3]
    assert list(stamp.statement.stamp.statements) == [story.offer.digest, story.accept.digest]
    assert stamp.header.issued_at_ms == story.clock.now_ms
    order = [stamp.envelope, story.offer.envelope, story.accept.envelope, *story.desk.ledger()[-2:]]
    assert story.desk.transcript()[mark:] == order
    assert [vs.envelope for vs in story.desk.drain_unsaved()] == order

    d = alice.deliver(story.accept, bob)
    future = bob.deliver(story.accept, alice, issued_at_ms=story.clock.now_ms + 31_000)
    with pytest.raises(IssuedInFuture):
        story.desk.submit([story.offer.envelope, d.envelope, future.envelope], story.clock.now_ms)
    stamp = verify_statement(story.desk.ledger()[-1])
    assert list(stamp.statement.stamp.statements) == [d.digest]
    assert story.desk.transcript()[-2:] == [stamp.envelope, d.envelope]
    assert [vs.envelope for vs in story.desk.drain_unsaved()] == [stamp.envelope, d.envelope]
    assert future.digest not in story.desk.verifier.statements


@pytest.mark.req("WIT-001", "CMT-001", "ESC-001")
def test_a_refused_envelope_does_not_hold_up_what_the_evidence_before_it_made_due(
    story: Story, alice: Party, bob: Party
) -> None:
    """Both deliveries and receipts reach the escrow in one Submit that ends with an offer dated a
    minute ahead. The offer is refused (ISSUED_IN_FUTURE); the evidence before it is stamped and the
    contract, now FULFILLED, has both bonds released before the error is raised -- not a day later
    at its lapse (the transcript then audits clean, see the fixture)."""
    story.bonded()
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    ours = alice.proposal(escrow=story.escrow.did)  # one this escrow takes evidence of (ESC-011)
    future = alice.offer(bob, ours, issued_at_ms=story.clock.now_ms + 60_000)
    evidence = [d1, d2, bob.receipt(d1), alice.receipt(d2), future]
    with pytest.raises(IssuedInFuture):
        story.desk.submit([vs.envelope for vs in evidence], story.clock.now_ms)
    tail = story.said([verify_statement(env) for env in story.desk.ledger()[-3:]])
    assert tail == [("stamp", 4), ("release", "alice"), ("release", "bob")]
    assert story.state() is State.FULFILLED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}


@pytest.mark.req("WIT-001")
def test_a_submit_of_more_than_256_statements_gets_one_stamp_per_256(story: Story, clock: FixedClock) -> None:
    """300 statements in one Submit: a Stamp names at most 256 (BDY-017), so expect two Stamps (256 and
    44), each right before the statements it names in the transcript."""
    notary = Signer("notary", clock)
    mandate = story.alice.mandate_vs.statement.mandate
    many = []
    for i in range(300):
        msg = type(mandate)()
        msg.CopyFrom(mandate)
        msg.max_per_deal = i + 1
        many.append(notary.sign("mandate", msg))
    mark = len(story.desk.transcript())
    assert story.submit(*many) == [("stamp", MAX_STAMP_DIGESTS), ("stamp", 300 - MAX_STAMP_DIGESTS)]
    first, second = story.signed[-2:]
    assert list(first.statement.stamp.statements) == [vs.digest for vs in many[:MAX_STAMP_DIGESTS]]
    assert list(second.statement.stamp.statements) == [vs.digest for vs in many[MAX_STAMP_DIGESTS:]]
    envelopes = [vs.envelope for vs in many]
    assert story.desk.transcript()[mark:] == [
        first.envelope,
        *envelopes[:MAX_STAMP_DIGESTS],
        second.envelope,
        *envelopes[MAX_STAMP_DIGESTS:],
    ]


# --- WIT-004: which contracts the escrow recognises --------------------------------------------------


@pytest.mark.req("WIT-004")
@pytest.mark.parametrize("late_ms", [CLOCK_TOLERANCE_MS, CLOCK_TOLERANCE_MS + 1])
def test_accept_is_recognised_only_when_it_reaches_the_escrow_in_time(story: Story, late_ms: int) -> None:
    """The offer reaches the escrow at once; Bob's Accept (signed in time) only ``late_ms`` after the
    offer expired. Up to the tolerance: stamped and bonded. One ms later: UNWITNESSED, and nothing of
    it recorded -- no stamp, no lock, no open contract."""
    assert story.submit(story.offer) == [("stamp", 1)]
    story.clock.now_ms = story.offer.header.expires_at_ms + late_ms
    if late_ms <= CLOCK_TOLERANCE_MS:
        assert story.submit(story.accept) == [("stamp", 1), ("bond_lock", "alice"), ("bond_lock", "bob")]
        assert story.desk.open_contracts == 1
        return
    err = story.refused(story.accept)
    assert isinstance(err, Unwitnessed) and err.requirement == "WIT-004"
    assert story.desk.open_contracts == 0
    assert story.state() is State.PROPOSED


@pytest.mark.req("WIT-002", "WIT-004", "ESC-010")
@pytest.mark.parametrize(
    ("acker", "acked_late", "recognised"),
    [("alice", False, True), ("alice", True, False), ("carol", False, False)],
)
def test_the_proposers_timely_ack_witnesses_an_accept_shown_late(
    story: Story, clock: FixedClock, acker: str, acked_late: bool, recognised: bool
) -> None:
    """The Accept reaches the escrow a minute after the offer expired, with an Ack of it. Alice's Ack
    signed in time (she is the Accept's audience) witnesses it: recognised -- and, shown after the
    bonding cutoff, never bonded but lapsed at once (ESC-010): the initiator does not choose when
    bonding ends by choosing when to show the contract. Her Ack signed late, or Carol's (not the
    audience) in time, witnesses nothing: UNWITNESSED."""
    carol = Party("carol", clock)
    witness = {"alice": story.alice, "carol": carol}[acker]
    story.submit(story.offer, carol.mandate_vs)
    late = story.offer.header.expires_at_ms + 60_000
    ack = _ack(witness, story.accept, at=late if acked_late else story.clock.now_ms)
    story.clock.now_ms = late
    assert story.submit(ack) == [("stamp", 1)]
    if recognised:
        assert story.submit(story.accept) == [("stamp", 1), ("ruling", "LAPSE")]
        return
    err = story.refused(story.accept)
    assert isinstance(err, Unwitnessed)


# --- CMT-008: the per-party limit ------------------------------------------------------------------


@pytest.mark.req("CMT-008")
def test_a_party_holds_only_so_many_open_contracts_at_the_escrow(
    stories: Callable[..., Story], clock: FixedClock, alice: Party, bob: Party, escrow: Party
) -> None:
    """A limit of one open contract without a bond per party. A second unbonded contract between Alice
    and Bob is refused (LIMIT_EXCEEDED, nothing recorded) while the first is open; Carol and Dave's is
    not; a bonded one between Alice and Bob is not either (bounded by the funds it locks: unbonded junk
    from fresh keys must not keep a party's bonded trades out); once the first is settled, the second
    is taken."""
    story = stories(max_open_contracts=1)
    first = _contract(alice, bob, escrow, issuer_bond=0, audience_bond=0)
    assert story.submit(*first) == [("stamp", 2)]
    second = _contract(alice, bob, escrow, issuer_bond=0, audience_bond=0)
    story.submit(second[0])
    err = story.refused(second[1])
    assert isinstance(err, LimitExceeded) and (err.code, err.requirement) == ("LIMIT_EXCEEDED", "CMT-008")
    carol, dave = Party("carol", clock), Party("dave", clock)
    offer, accept = _contract(carol, dave, escrow, issuer_bond=0, audience_bond=0)
    assert story.submit(carol.mandate_vs, dave.mandate_vs, offer, accept) == [("stamp", 4)]
    bonded = _contract(alice, bob, escrow)
    assert story.submit(*bonded) == [("stamp", 2), ("bond_lock", "alice"), ("bond_lock", "bob")]
    assert story.desk.open_contracts == 3
    d1, d2 = alice.deliver(first[1], bob), bob.deliver(first[1], alice)
    story.submit(d1, d2, bob.receipt(d1), alice.receipt(d2))
    assert story.desk.open_contracts == 2
    assert story.submit(second[1]) == [("stamp", 1)]


# --- NEG-012: locks, and work only where it is due ---------------------------------------------------


@pytest.mark.req("NEG-012", "ESC-005")
def test_insufficient_funds_leave_the_bond_unlocked_until_a_deposit_covers_it(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """Alice deposited 50 for a bond of 100. Expect only Bob's bond locked, the contract stuck in
    ACCEPTED (Alice's delivery refused, NEG-012), then Alice's lock signed by her next Deposit."""
    story = stories(funds=(50, FUNDS))
    assert story.submit(story.offer, story.accept) == [("stamp", 2), ("bond_lock", "bob")]
    assert story.state() is State.ACCEPTED
    assert story.balances()["alice"] == (50, 0)
    d = alice.deliver(story.accept, bob)
    err = story.refused(d)
    assert isinstance(err, IllegalTransition) and err.requirement == "NEG-012"
    assert story.deposit(alice, 50) == [("deposit", "alice"), ("bond_lock", "alice")]
    assert story.state() is State.BONDED
    assert story.balances()["alice"] == (0, BOND)


@pytest.mark.req("NEG-012", "CMT-006", "ESC-010")
def test_escrow_works_only_on_the_contracts_a_deposit_submit_or_tick_concerns(
    stories: Callable[..., Story],
    monkeypatch: pytest.MonkeyPatch,
    alice: Party,
    bob: Party,
    escrow: Party,
) -> None:
    """Nobody has funds. Contract A bonds only Alice, B only Bob. A Deposit for Alice evaluates A alone,
    and locks it; a second one evaluates nothing (A waits no more); a Submit of A's delivery evaluates
    A alone; a tick before any timer evaluates nothing; past the bonding cutoff B, never bonded, lapses
    (ESC-010); at A's lapse, a tick evaluates A alone (it lapses and refunds Alice)."""
    story = stories(funds=(0, 0))
    a = _contract(alice, bob, escrow, audience_bond=0)
    b = _contract(alice, bob, escrow, issuer_bond=0)
    assert story.submit(*a, *b) == [("stamp", 4)]
    nid_a, nid_b = (offer.header.negotiation_id for offer, _ in (a, b))
    evaluated: list[bytes] = []
    real = story.desk._evaluate

    def spy(nid: bytes, now_ms: int) -> None:
        evaluated.append(nid)
        real(nid, now_ms)

    monkeypatch.setattr(story.desk, "_evaluate", spy)
    assert story.deposit(alice, BOND) == [("deposit", "alice"), ("bond_lock", "alice")]
    assert evaluated == [nid_a]
    assert story.deposit(alice, 1) == [("deposit", "alice")]
    assert evaluated == [nid_a]
    delivery = alice.deliver(a[1], bob)
    assert story.submit(delivery) == [("stamp", 1)]
    assert evaluated == [nid_a, nid_a]
    cutoff = b[0].header.expires_at_ms + BOND_GRACE_MS
    assert story.tick(cutoff) == []
    assert evaluated == [nid_a, nid_a]
    assert story.tick(cutoff + 1) == [("ruling", "LAPSE")]  # B's: Bob's bond can never be locked now
    assert nid_b in evaluated[2:] and story.state(b[0]) is State.EXPIRED
    seen = len(evaluated)
    assert story.tick(story.lapse) == []
    assert story.tick(story.lapse + 1) == [("ruling", "LAPSE"), ("refund", "alice")]
    assert evaluated[seen:] == [nid_a]
    assert (story.state(a[0]), story.state(b[0])) == (State.EXPIRED, State.EXPIRED)
    assert story.desk.open_contracts == 0


# --- CMT-005, CMT-002, WIT-003, WIT-005: claims and rulings -------------------------------------------


@pytest.mark.req("CMT-005", "WIT-005")
@pytest.mark.parametrize(
    ("stamped_after_deadline", "taken"),
    [(0, False), (1, True), (CLAIM_WINDOW_MS, True), (CLAIM_WINDOW_MS + 1, False)],
)
def test_claim_is_taken_only_when_stamped_after_the_deadline_within_the_claim_window(
    story: Story, stamped_after_deadline: int, taken: bool
) -> None:
    """Alice's claim, issued 1 ms after Bob's deadline, reaches the escrow ``stamped_after_deadline``
    ms after it. The stamp time decides, not the claim's own: taken (one Stamp, DISPUTED) strictly
    after the deadline up to the end of the claim window; else ILLEGAL_TRANSITION and nothing recorded."""
    story.bonded()
    claim = story.claim(story.alice, story.bob, at=story.deadline + 1)
    story.clock.now_ms = story.deadline + stamped_after_deadline
    if taken:
        assert story.submit(claim) == [("stamp", 1)]
        assert story.state() is State.DISPUTED
        return
    err = story.refused(claim)
    assert isinstance(err, IllegalTransition) and err.requirement == "CMT-005"
    assert story.state() is State.BONDED


@pytest.mark.req("CMT-005", "NEG-010")
@pytest.mark.parametrize("body", ["breach_claim", "revoke"])
def test_no_claim_or_revoke_once_the_contract_is_settled(
    stories: Callable[..., Story], alice: Party, bob: Party, body: str
) -> None:
    """The contract is fulfilled and both bonds released. A claim (after the deadline, within the
    claim window) or a revoke under terms that allow it is refused: the escrow takes neither once
    the contract has its outcome, so it never reopens a settled contract it no longer tracks."""
    story = stories(revocation=trade_pb2.Revocation(allowed=True))
    story.bonded()
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    story.submit(d1, d2, bob.receipt(d1), alice.receipt(d2))
    assert story.state() is State.FULFILLED and story.desk.open_contracts == 0
    story.clock.now_ms = story.deadline + HOUR_MS
    late = story.claim(alice, bob) if body == "breach_claim" else story.revoke(alice, bob)
    err = story.refused(late)
    assert isinstance(err, IllegalTransition)
    assert err.requirement == ("CMT-005" if body == "breach_claim" else "NEG-010")
    assert story.state() is State.FULFILLED


@pytest.mark.req("CMT-002", "WIT-005")
@pytest.mark.parametrize("window", [0, 40_000])
def test_upheld_claim_forfeits_the_accused_bond_to_the_claimant(
    stories: Callable[..., Story], window: int
) -> None:
    """Bob never delivers. Alice's claim, issued 1 ms after the deadline, reaches the escrow half a
    response window later: the window (the terms', or the default when they say 0) runs from that
    stamp, not from the claim's own time. Expect nothing until stamp + window, then Ruling UPHOLD
    naming the claim, Bob's bond forfeited to Alice (cause = the claim) and Alice's released: BREACHED."""
    story = stories(response_window_ms=window)
    alice, bob, window = story.alice, story.bob, window or WINDOW
    story.bonded()
    claim = story.claim(alice, bob, at=story.deadline + 1)
    story.clock.now_ms = story.deadline + 1 + window // 2
    assert story.submit(claim) == [("stamp", 1)]
    decided = story.clock.now_ms + window
    assert story.tick(claim.header.issued_at_ms + window) == []  # the claim's own time does not count
    assert story.tick(decided - 1) == []
    assert story.state() is State.DISPUTED
    assert story.tick(decided) == [("ruling", "UPHOLD"), ("forfeit", "bob"), ("release", "alice")]
    ruling, forfeit = story.last("ruling"), story.last("forfeit")
    assert (ruling.claim, ruling.decision, ruling.evidence) == (claim.digest, UPHOLD, b"")
    assert (forfeit.beneficiary, forfeit.cause) == (alice.did, claim.digest)
    assert story.state() is State.BREACHED
    assert story.balances() == {"alice": (FUNDS + BOND, 0), "bob": (FUNDS - BOND, 0)}
    assert story.desk.open_contracts == 0


@pytest.mark.req("CMT-002", "WIT-003")
def test_a_short_response_window_waits_out_the_clock_tolerance(stories: Callable[..., Story]) -> None:
    """Terms with a 5 s response window: Alice's claim, stamped 2.5 s after Bob's deadline, is not ruled
    on at its stamp + the window, nor at the deadline + the clock tolerance, within which a Delivery
    by Bob stamped then is still timely (WIT-003); a millisecond later it is upheld."""
    story = stories(response_window_ms=5_000)
    alice, bob = story.alice, story.bob
    story.bonded()
    claim = story.claim(alice, bob, at=story.deadline + 1)
    story.clock.now_ms = story.deadline + 2_500
    assert story.submit(claim) == [("stamp", 1)]
    assert story.tick(story.deadline + 7_500) == []
    assert story.tick(story.deadline + CLOCK_TOLERANCE_MS) == []
    assert story.tick(story.deadline + CLOCK_TOLERANCE_MS + 1) == [
        ("ruling", "UPHOLD"),
        ("forfeit", "bob"),
        ("release", "alice"),
    ]
    assert story.state() is State.BREACHED


@pytest.mark.req("CMT-002", "WIT-002", "WIT-003")
@pytest.mark.parametrize(
    ("issued", "shown", "acked", "decision"),
    [
        pytest.param(-1_000, -1_000, False, "DISMISS", id="stamped-before-the-deadline"),
        pytest.param(0, CLOCK_TOLERANCE_MS, False, "DISMISS", id="stamped-within-the-tolerance"),
        pytest.param(0, CLOCK_TOLERANCE_MS + 1, False, "UPHOLD", id="dated-back-stamped-late"),
        pytest.param(0, HOUR_MS + 60_000, False, "UPHOLD", id="dated-back-shown-in-the-response-window"),
        pytest.param(0, HOUR_MS + 60_000, True, "DISMISS", id="shown-late-but-acked-by-the-claimant-in-time"),
        pytest.param(1, 1, False, "UPHOLD", id="issued-after-the-deadline"),
        pytest.param(None, None, False, "UPHOLD", id="never-delivered"),
    ],
)
def test_ruling_rests_on_the_witnessed_time_of_the_delivery(
    story: Story, issued: int | None, shown: int | None, acked: bool, decision: str
) -> None:
    """Bob's delivery is signed ``issued`` ms from his deadline and first shown to the escrow
    ``shown`` ms from it (perhaps with Alice's Ack of it, signed at the deadline); Alice's claim is
    stamped an hour after the deadline. A Delivery counts only if signed by the deadline and witnessed
    by the deadline plus the tolerance -- by the escrow's stamp or by its audience's Ack: DISMISS citing
    it (bonds stay locked, PERFORMING); otherwise UPHOLD and Bob's bond forfeited."""
    alice, bob, deadline = story.alice, story.bob, story.deadline
    story.bonded()
    delivery = None if issued is None else bob.deliver(story.accept, alice, issued_at_ms=deadline + issued)
    evidence = (
        [] if delivery is None else [delivery] + ([_ack(alice, delivery, at=deadline)] if acked else [])
    )
    if delivery is not None and shown is not None and shown < HOUR_MS:
        story.clock.now_ms = deadline + shown
        story.submit(*evidence)
    story.clock.now_ms = deadline + HOUR_MS
    claim = story.claim(alice, bob)
    assert story.submit(claim) == [("stamp", 1)]
    if delivery is not None and shown is not None and shown >= HOUR_MS:
        story.clock.now_ms = deadline + shown
        assert story.submit(*evidence) == [("stamp", len(evidence))]
    said = story.tick(deadline + HOUR_MS + WINDOW)
    ruling = story.last("ruling")
    assert (ruling.claim, DECISION[ruling.decision]) == (claim.digest, decision)
    if decision == "DISMISS":
        assert delivery is not None
        assert said == [("ruling", "DISMISS")] and ruling.evidence == delivery.digest
        assert story.state() is State.PERFORMING
        assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    else:
        assert said == [("ruling", "UPHOLD"), ("forfeit", "bob"), ("release", "alice")]
        assert story.state() is State.BREACHED


@pytest.mark.req("CMT-002", "CMT-001")
def test_after_a_dismissal_the_contract_goes_on_to_fulfilment(story: Story, alice: Party, bob: Party) -> None:
    """Both deliver on time and show it; Alice never receipts Bob's delivery and claims. Expect the claim
    dismissed at stamp + window, both bonds still locked, and both released once Alice receipts."""
    story.bonded()
    d_alice, d_bob = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    assert story.submit(d_alice, d_bob, bob.receipt(d_alice)) == [("stamp", 3)]
    story.clock.now_ms = story.deadline + 1
    assert story.submit(story.claim(alice, bob)) == [("stamp", 1)]
    assert story.tick(story.clock.now_ms + WINDOW) == [("ruling", "DISMISS")]
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    assert story.submit(alice.receipt(d_bob)) == [("stamp", 1), ("release", "alice"), ("release", "bob")]
    assert story.state() is State.FULFILLED


@pytest.mark.req("CMT-002", "CMT-007")
def test_a_bond_is_released_only_once_no_claim_against_its_owner_is_pending(
    story: Story, alice: Party, bob: Party
) -> None:
    """Alice delivered on time (stamped); Bob did not. Alice claims; ten minutes later Bob claims against
    Alice's item. At Alice's stamp + window: UPHOLD and Bob's bond forfeited, but Alice's bond stays
    locked while Bob's claim is pending; at his stamp + window: DISMISS (citing her delivery), and
    Alice's bond released."""
    story.bonded()
    d_alice = alice.deliver(story.accept, bob)
    story.submit(d_alice)
    story.clock.now_ms = story.deadline + 1
    ours = story.claim(alice, bob)
    assert story.submit(ours) == [("stamp", 1)]
    story.clock.advance(10 * 60_000)
    theirs = story.claim(bob, alice)
    assert story.submit(theirs) == [("stamp", 1)]
    assert story.tick(ours.header.issued_at_ms + WINDOW) == [("ruling", "UPHOLD"), ("forfeit", "bob")]
    assert story.balances() == {"alice": (FUNDS, BOND), "bob": (FUNDS - BOND, 0)}
    assert story.tick(theirs.header.issued_at_ms + WINDOW - 1) == []
    assert story.tick(theirs.header.issued_at_ms + WINDOW) == [("ruling", "DISMISS"), ("release", "alice")]
    assert (story.last("ruling").claim, story.last("ruling").evidence) == (theirs.digest, d_alice.digest)
    assert story.state() is State.BREACHED
    assert story.balances() == {"alice": (FUNDS + BOND, 0), "bob": (FUNDS - BOND, 0)}


# --- CMT-006, CMT-004: lapse -------------------------------------------------------------------------


@pytest.mark.req("CMT-006", "CMT-004")
def test_unperformed_contract_lapses_and_both_bonds_are_refunded(story: Story) -> None:
    """Nobody delivers or claims. Expect nothing at exactly deadline + claim window; one millisecond
    later the escrow rules LAPSE (EXPIRED) and refunds both bonds."""
    story.bonded()
    assert story.tick(story.lapse) == []
    assert story.tick(story.lapse + 1) == [("ruling", "LAPSE"), ("refund", "alice"), ("refund", "bob")]
    assert story.last("ruling").claim == b""
    assert story.state() is State.EXPIRED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}
    assert story.desk.open_contracts == 0


@pytest.mark.req("CMT-004", "CMT-006", "ESC-010")
def test_one_sided_lock_is_refunded_when_the_contract_lapses(stories: Callable[..., Story]) -> None:
    """Alice never funds her bond. Expect Bob's lock held (Alice may still fund) until the bonding
    cutoff -- the offer's expiry + 30 s, which both signed -- then LAPSE and his bond refunded at once,
    not a day after the deadline; Alice's funds arriving later lock nothing."""
    story = stories(funds=(0, FUNDS))
    assert story.submit(story.offer, story.accept) == [("stamp", 2), ("bond_lock", "bob")]
    cutoff = story.offer.header.expires_at_ms + BOND_GRACE_MS
    assert story.tick(cutoff) == []
    assert story.tick(cutoff + 1) == [("ruling", "LAPSE"), ("refund", "bob")]
    assert story.balances()["bob"] == (FUNDS, 0)
    assert story.deposit(story.alice, FUNDS) == [("deposit", "alice")]
    assert story.state() is State.EXPIRED and story.desk.open_contracts == 0


@pytest.mark.req("ESC-010", "ESC-005", "NEG-012")
@pytest.mark.parametrize("after_cutoff_ms", [0, 1])
def test_funds_that_arrive_after_the_bonding_cutoff_lock_nothing(
    stories: Callable[..., Story], after_cutoff_ms: int
) -> None:
    """Alice funds her bond only when the bonding cutoff comes, before any tick: at the cutoff itself
    her Deposit locks it (BONDED); a millisecond later it locks nothing -- the contract lapses there
    and Bob's bond is refunded. The party that funds last does not choose when bonding ends, so it
    cannot leave its counterparty seconds to perform."""
    story = stories(funds=(0, FUNDS))
    assert story.submit(story.offer, story.accept) == [("stamp", 2), ("bond_lock", "bob")]
    story.clock.now_ms = story.offer.header.expires_at_ms + BOND_GRACE_MS + after_cutoff_ms
    if not after_cutoff_ms:
        assert story.deposit(story.alice, FUNDS) == [("deposit", "alice"), ("bond_lock", "alice")]
        assert story.state() is State.BONDED
        return
    assert story.deposit(story.alice, FUNDS) == [("deposit", "alice"), ("ruling", "LAPSE"), ("refund", "bob")]
    assert story.state() is State.EXPIRED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}


@pytest.mark.req("CMT-006", "CMT-002")
def test_no_lapse_while_a_claim_is_pending(story: Story, alice: Party, bob: Party) -> None:
    """Alice's claim is stamped at the last moment of the claim window. Past the lapse time nothing
    happens while it is pending; at stamp + window it is upheld: BREACHED, never EXPIRED."""
    story.bonded()
    story.clock.now_ms = story.lapse
    assert story.submit(story.claim(alice, bob)) == [("stamp", 1)]
    assert story.tick(story.lapse + 1) == []
    assert story.tick(story.lapse + WINDOW) == [
        ("ruling", "UPHOLD"),
        ("forfeit", "bob"),
        ("release", "alice"),
    ]
    assert story.state() is State.BREACHED


# --- CMT-003, NEG-010: revocation --------------------------------------------------------------------


@pytest.mark.req("CMT-003", "WIT-005")
def test_revoke_with_forfeit_bond_pays_the_revokers_bond_to_the_other_party(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """forfeit_bond terms; Bob revokes after both bonds are locked. The escrow's stamp makes the revoke
    effective: Bob's bond forfeited to Alice (cause = the Revoke) and Alice's released at once."""
    story = stories(revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    story.bonded()
    revoke = story.revoke(bob, alice)
    assert story.submit(revoke) == [("stamp", 1), ("forfeit", "bob"), ("release", "alice")]
    forfeit = story.last("forfeit")
    assert (forfeit.beneficiary, forfeit.cause) == (alice.did, revoke.digest)
    assert story.state() is State.REVOKED
    assert story.balances() == {"alice": (FUNDS + BOND, 0), "bob": (FUNDS - BOND, 0)}


@pytest.mark.req("CMT-003", "WIT-005")
@pytest.mark.parametrize("shown_after_ms", [0, 13 * HOUR_MS])
def test_revoke_notice_runs_from_the_escrows_stamp(
    stories: Callable[..., Story], alice: Party, bob: Party, shown_after_ms: int
) -> None:
    """A 12 h notice, items due in 24 h, no forfeit. Alice's Revoke is signed at once but reaches the
    escrow ``shown_after_ms`` later. Stamped at once, notice ends before the deadlines: nothing stays
    owed and both bonds are released. Stamped 13 h later (Alice's own date does not count), both items
    stay owed: her bond is released once her item is receipted, Bob's (never delivered) only after
    its deadline plus the claim window."""
    story = stories(revocation=trade_pb2.Revocation(allowed=True, notice_ms=12 * HOUR_MS))
    story.bonded()
    revoke = story.revoke(alice, bob)
    story.clock.advance(shown_after_ms)
    if not shown_after_ms:
        assert story.submit(revoke) == [("stamp", 1), ("release", "alice"), ("release", "bob")]
        return
    assert story.submit(revoke) == [("stamp", 1)]
    assert story.state() is State.REVOKED
    d = alice.deliver(story.accept, bob)
    assert story.submit(d, bob.receipt(d)) == [("stamp", 2), ("release", "alice")]
    assert story.tick(story.lapse) == []
    assert story.tick(story.lapse + 1) == [("release", "bob")]
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}


@pytest.mark.req("NEG-010")
def test_revoke_is_refused_unless_the_terms_allow_it(story: Story, alice: Party, bob: Party) -> None:
    """Terms without revocation: Bob's revoke is REVOCATION_NOT_ALLOWED, nothing recorded."""
    story.bonded()
    revoke = story.revoke(bob, alice)
    err = story.refused(revoke)
    assert isinstance(err, RevocationNotAllowed)
    assert story.state() is State.BONDED


# --- idempotency, time, currency --------------------------------------------------------------------


@pytest.mark.req("RPL-002", "WIT-006", "ESC-002", "ESC-008")
def test_resubmitting_the_same_evidence_never_acts_twice(story: Story) -> None:
    """The contract is submitted again, with the escrow's own stamp and locks echoed back. Expect
    nothing signed -- not even a Stamp -- and the transcript unchanged; the answer is the Stamp that
    first named the contract (WIT-006), so a resubmitting party learns when it was witnessed, and the
    locks signed about it (ESC-008), in ledger order."""
    story.bonded()
    before = (story.desk.ledger(), story.desk.transcript())
    echo = [story.offer.envelope, story.accept.envelope, *story.desk.ledger()]
    answer = story.desk.submit(echo, story.clock.now_ms)
    assert [vs.body for vs in answer] == ["stamp", "bond_lock", "bond_lock"]
    assert {story.offer.digest, story.accept.digest} <= set(answer[0].statement.stamp.statements)
    assert all(vs.envelope in before[0] for vs in answer)
    assert [vs.header.seq for vs in answer] == sorted(vs.header.seq for vs in answer)
    assert story.desk.submit([], story.clock.now_ms) == []  # LocalEscrow/the service add the Mandate
    assert (story.desk.ledger(), story.desk.transcript()) == before
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}


@pytest.mark.req("TIM-003")
def test_evidence_issued_after_now_plus_skew_is_refused(story: Story, alice: Party, bob: Party) -> None:
    """Alice's offer claims to be issued 31 s ahead of the escrow's clock; expect ISSUED_IN_FUTURE and
    nothing stamped."""
    early = alice.offer(
        bob, alice.proposal(escrow=story.escrow.did), issued_at_ms=story.clock.now_ms + 31_000
    )
    err = story.refused(early)
    assert isinstance(err, IssuedInFuture)


def test_deposit_in_another_currency_is_refused(story: Story, alice: Party) -> None:
    """The escrow keeps credit; a deposit in eur is a caller error, signed nowhere."""
    before = story.desk.ledger()
    with pytest.raises(ValueError, match="credit"):
        story.desk.deposit(alice.did, 10, "eur", "wire", story.clock.now_ms)
    assert story.desk.ledger() == before


# --- restart and the escrow's own chain ------------------------------------------------------------------


@pytest.mark.req("CHN-002", "CMT-002", "NEG-012")
def test_escrow_restored_from_its_transcript_carries_on(
    stories: Callable[..., Story], alice: Party, bob: Party, escrow: Party
) -> None:
    """The escrow restarts with one contract DISPUTED (a claim stamped) and another waiting for Alice's
    funds. Rebuilt from its transcript it has the same ledger, balances and open contracts; it rules on
    the claim when its window ends, Alice's next Deposit locks the waiting bond, and every statement it
    signs continues its chain."""
    story = stories(funds=(BOND, FUNDS))
    story.bonded()
    story.clock.now_ms = story.deadline + 1
    claim = story.claim(alice, bob)
    assert story.submit(claim) == [("stamp", 1)]
    waiting = _contract(alice, bob, escrow)  # offered now: its bonding cutoff is minutes ahead
    assert story.submit(*waiting) == [("stamp", 2), ("bond_lock", "bob")]  # Alice's funds are locked
    before = (story.desk.ledger(), story.balances(), story.desk.open_contracts)
    head = verify_statement(story.desk.ledger()[-1])
    story.restart()
    assert (story.desk.ledger(), story.balances(), story.desk.open_contracts) == before
    assert story.tick(story.clock.now_ms) == []
    assert story.deposit(alice, BOND) == [("deposit", "alice"), ("bond_lock", "alice")]
    assert story.state(waiting[0]) is State.BONDED
    deposit = story.signed[-2]
    assert (deposit.header.seq, deposit.header.prev) == (head.header.seq + 1, head.digest)
    assert story.tick(story.clock.now_ms + WINDOW) == [
        ("ruling", "UPHOLD"),
        ("forfeit", "bob"),
        ("release", "alice"),
    ]
    assert story.state() is State.BREACHED


@pytest.mark.req("CHN-002", "CHN-004")
def test_statements_signed_with_the_escrows_key_outside_its_ledger_are_refused(
    story: Story, escrow: Party, alice: Party
) -> None:
    """A second signer with the escrow's key signs a Deposit at seq 0 (EQUIVOCATION), or one far past
    the head (CHAIN_GAP); submitted as evidence, each is refused with nothing recorded. A transcript
    with a hole in the escrow's chain does not restore (CHAIN_GAP)."""
    story.bonded()
    deposit = commitment_pb2.Deposit(party=alice.did, amount=10**6, currency="credit", reference="twin")
    twin = Signer(escrow.agent.name, story.clock)
    fork = twin.sign(
        "deposit", deposit, audience=alice.did, mandate=escrow.mandate_vs.digest, nonce=derive("twin", 16)
    )
    err = story.refused(fork)
    assert isinstance(err, Equivocation)
    ahead = ChainWriter(escrow.agent.key, next_seq=story.desk.ledger_size + 2, prev=derive("prev"))
    stmt = new_statement(
        "deposit",
        deposit,
        issued_at_ms=story.clock.now_ms,
        ttl_ms=60_000,
        audience=alice.did,
        mandate=escrow.mandate_vs.digest,
    )
    gap = ahead.sign(stmt, nonce=derive("gap", 16))
    err = story.refused(gap)
    assert isinstance(err, ChainGap) and err.requirement == "CHN-002"
    holed = [env for env in story.desk.transcript() if env != story.desk.ledger()[3]]
    with pytest.raises(ChainGap):
        Escrow(escrow.agent, escrow.mandate_vs.digest, setup=holed)


def test_escrow_key_signing_elsewhere_stops_the_escrow(story: Story, escrow: Party, alice: Party) -> None:
    """The escrow's key signs one statement outside the escrow: its chain is no longer the ledger, so
    the escrow refuses to sign on (RuntimeError) and its ledger stays as it was."""
    story.bonded()
    escrow.sign("deposit", commitment_pb2.Deposit(party=alice.did, amount=1, currency="credit"))
    before = story.desk.ledger()
    with pytest.raises(RuntimeError, match="chain"):
        story.desk.deposit(alice.did, 1, "credit", "wire", story.clock.now_ms)
    assert story.desk.ledger() == before


# --- the audit: the real escrow's transcript -----------------------------------------------------------


def _trade(story: Story) -> None:
    story.bonded()
    alice, bob = story.alice, story.bob
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    story.submit(d1, d2, bob.receipt(d1), alice.receipt(d2))


def _codes(report: AuditReport) -> list[str]:
    return [f.code for f in report.findings]


@pytest.mark.req("AUD-001")
def test_audit_of_the_transcript_is_ok_and_of_the_bare_ledger_is_not(story: Story, escrow: Party) -> None:
    """A completed trade. Its transcript audits clean: the escrow's statements, its balances. Its bare
    ledger (mandate and chain, no evidence) proves nothing: not ok, EVIDENCE_MISSING for every stamp
    and contract statement, though the balances still replay."""
    _trade(story)
    full = audit_ledger(story.desk.transcript())
    assert full.ok, full.findings
    assert full.escrow == escrow.did
    assert [vs.envelope for vs in full.statements] == story.desk.ledger()
    assert full.balances == {did: story.desk.balance(did) for did in story.names}
    bare = audit_ledger([*escrow.setup, *story.desk.ledger()])
    assert not bare.ok
    missing = [vs for vs in full.statements if vs.body not in ("deposit",)]
    assert _codes(bare) == ["EVIDENCE_MISSING"] * len(missing)
    assert [f.digests[0] for f in bare.findings] == [vs.digest for vs in missing]
    assert bare.balances == full.balances
    nothing = audit_ledger([*escrow.setup, story.offer.envelope])
    assert not nothing.ok and _codes(nothing) == ["EVIDENCE_MISSING"]


@pytest.mark.req("AUD-001")
@pytest.mark.parametrize("dropped", ["accept", "delivery"])
def test_audit_reports_evidence_missing_from_the_transcript(story: Story, dropped: str) -> None:
    """A completed trade's transcript without the Accept (or Alice's Delivery): the stamp that named it
    is reported EVIDENCE_MISSING with the dropped digest, and the report is not ok."""
    _trade(story)
    gone = next(vs for vs in map(verify_statement, story.desk.transcript()) if vs.body == dropped)
    report = audit_ledger([env for env in story.desk.transcript() if env != gone.envelope])
    assert not report.ok
    stamp = next(
        vs for vs in story.signed if vs.body == "stamp" and gone.digest in vs.statement.stamp.statements
    )
    assert ("EVIDENCE_MISSING", (stamp.digest, gone.digest)) in [(f.code, f.digests) for f in report.findings]


@pytest.mark.req("AUD-003", "WIT-001")
def test_audit_reports_evidence_not_stamped_before_it(story: Story) -> None:
    """The Stamp naming offer and accept is moved after them: both are UNSTAMPED_EVIDENCE, and the
    contract the escrow bonded rests on an Accept with no witness (UNWITNESSED)."""
    story.bonded()
    transcript = story.desk.transcript()
    stamp = next(vs for vs in story.signed if story.offer.digest in vs.statement.stamp.statements)
    i = transcript.index(stamp.envelope)
    moved = [*transcript[:i], *transcript[i + 1 : i + 3], stamp.envelope, *transcript[i + 3 :]]
    report = audit_ledger(moved)
    assert [(f.code, f.digests) for f in report.findings] == [
        ("UNSTAMPED_EVIDENCE", (story.offer.digest,)),
        ("UNSTAMPED_EVIDENCE", (story.accept.digest,)),
        ("UNWITNESSED", (story.accept.digest,)),
    ]


@pytest.mark.req("CHN-002", "AUD-002")
def test_audit_catches_a_dropped_ledger_entry(story: Story, escrow: Party) -> None:
    """Alice's BondLock is cut from a completed trade's transcript: CHAIN_GAP between its neighbours
    first, and not ok. Cutting the first ledger entry instead: a ledger that does not start at seq 0."""
    _trade(story)
    ledger = [verify_statement(env) for env in story.desk.ledger()]
    lock = next(i for i, vs in enumerate(ledger) if vs.body == "bond_lock")
    report = audit_ledger([env for env in story.desk.transcript() if env != ledger[lock].envelope])
    assert not report.ok
    assert (report.findings[0].code, report.findings[0].digests) == (
        "CHAIN_GAP",
        (ledger[lock - 1].digest, ledger[lock + 1].digest),
    )
    assert "SETTLEMENT_WITHOUT_LOCK" in _codes(report)
    headless = audit_ledger([env for env in story.desk.transcript() if env != ledger[0].envelope])
    assert not headless.ok
    assert ("CHAIN_GAP", (ledger[1].digest,)) in [(f.code, f.digests) for f in headless.findings]


@pytest.mark.req("CHN-004")
def test_audit_catches_an_escrow_that_forks_its_ledger(story: Story, escrow: Party, alice: Party) -> None:
    """A second signer with the escrow's key signs a generous Deposit at seq 0. Expect EQUIVOCATION
    naming both seq-0 statements, and balances computed from the first chain only."""
    _trade(story)
    twin = Signer(escrow.agent.name, story.clock)
    fork = twin.sign(
        "deposit",
        commitment_pb2.Deposit(party=alice.did, amount=10**6, currency="credit"),
        audience=alice.did,
        mandate=escrow.mandate_vs.digest,
        nonce=derive("fork", 16),
    )
    report = audit_ledger([*story.desk.transcript(), fork.envelope])
    first = verify_statement(story.desk.ledger()[0])
    assert [(f.code, f.digests) for f in report.findings] == [("EQUIVOCATION", (first.digest, fork.digest))]
    assert report.balances[alice.did] == (FUNDS, 0)


# --- the audit: misbehaving escrows, signed by hand ------------------------------------------------------


class Hand:
    """An escrow whose key signs its ledger by hand, statement by statement, with no rules run.

    It starts honestly: Alice's and Bob's deposits and the contract (offer and accept, built, not yet
    stamped). ``bonded`` stamps the mandates and the contract and locks both bonds; everything else is
    up to the test. ``transcript`` is what such an escrow shows an auditor.
    """

    def __init__(
        self, clock: FixedClock, alice: Party, bob: Party, escrow: Party, *, funds: int = FUNDS
    ) -> None:
        self.clock, self.alice, self.bob, self.escrow = clock, alice, bob, escrow
        self.transcript: list[bytes] = [*escrow.setup]
        self.deposit(alice, funds)
        self.deposit(bob, FUNDS)
        self.offer, self.accept = _contract(alice, bob, escrow)
        self.deadline = self.offer.statement.offer.gives[0].deadline_ms
        self.lapse = self.deadline + CLAIM_WINDOW_MS

    def _add(self, vs: VerifiedStatement) -> VerifiedStatement:
        self.transcript.append(vs.envelope)
        return vs

    def deposit(self, party: Party, amount: int, at: int | None = None) -> VerifiedStatement:
        msg = commitment_pb2.Deposit(party=party.did, amount=amount, currency="credit", reference="wire")
        return self._add(self.escrow.sign("deposit", msg, audience=party.did, issued_at_ms=at))

    def stamp(self, *evidence: VerifiedStatement, at: int | None = None) -> VerifiedStatement:
        """A Stamp naming ``evidence``, then the evidence itself."""
        msg = commitment_pb2.Stamp(statements=[vs.digest for vs in evidence])
        stamp = self._add(self.escrow.sign("stamp", msg, issued_at_ms=at))
        for vs in evidence:
            self._add(vs)
        return stamp

    def says(self, body: str, at: int | None = None, **fields: Any) -> VerifiedStatement:
        """A contract statement (BondLock, Release, Forfeit, Refund, Ruling) about this contract."""
        cls = {
            "bond_lock": commitment_pb2.BondLock,
            "release": commitment_pb2.Release,
            "forfeit": commitment_pb2.Forfeit,
            "refund": commitment_pb2.Refund,
            "ruling": commitment_pb2.Ruling,
        }[body]
        if body != "ruling":
            fields.setdefault("amount", BOND)
        msg = cls(contract=self.accept.digest, **fields)
        nid = self.accept.header.negotiation_id
        return self._add(self.escrow.sign(body, msg, negotiation_id=nid, issued_at_ms=at))

    def bonded(self) -> None:
        self.stamp(self.alice.mandate_vs, self.bob.mandate_vs, self.offer, self.accept)
        for p in (self.alice, self.bob):
            self.says("bond_lock", party=p.did)

    def ruling(self, claim: VerifiedStatement, decision: int, evidence: bytes = b"") -> VerifiedStatement:
        return self.says("ruling", claim=claim.digest, decision=decision, evidence=evidence)

    def forfeit(self, party: Party, cause: VerifiedStatement) -> VerifiedStatement:
        other = self.bob if party is self.alice else self.alice
        return self.says("forfeit", party=party.did, beneficiary=other.did, cause=cause.digest)

    def claimed(self) -> VerifiedStatement:
        """An hour after the deadline Alice claims Bob's item, and the escrow stamps the claim."""
        self.clock.now_ms = self.deadline + HOUR_MS
        claim = _claim(self.alice, self.accept, self.bob)
        self.stamp(claim)
        return claim

    def findings(self) -> list[tuple[str, tuple[bytes, ...]]]:
        return [(f.code, f.digests) for f in audit_ledger(self.transcript).findings]


@pytest.fixture
def hand(clock: FixedClock, alice: Party, bob: Party, escrow: Party) -> Hand:
    return Hand(clock, alice, bob, escrow)


@pytest.mark.req("AUD-001", "CMT-001", "CMT-002")
@pytest.mark.parametrize("outcome", ["fulfilled", "breached"])
def test_audit_of_a_hand_signed_escrow_that_follows_the_rules_is_ok(hand: Hand, outcome: str) -> None:
    """The misbehaving escrows below start from this script: signed by hand, right, it audits clean --
    a fulfilled trade released, or a breach upheld at stamp + window, forfeited and released."""
    alice, bob = hand.alice, hand.bob
    hand.bonded()
    if outcome == "fulfilled":
        d1, d2 = alice.deliver(hand.accept, bob), bob.deliver(hand.accept, alice)
        hand.stamp(d1, d2, bob.receipt(d1), alice.receipt(d2))
        hand.says("release", party=alice.did)
        hand.says("release", party=bob.did)
    else:
        claim = hand.claimed()
        hand.clock.advance(WINDOW)
        hand.ruling(claim, UPHOLD)
        hand.forfeit(bob, claim)
        hand.says("release", party=alice.did)
    assert hand.findings() == []
    report = audit_ledger(hand.transcript)
    assert report.ok
    expected = (FUNDS, FUNDS) if outcome == "fulfilled" else (FUNDS + BOND, FUNDS - BOND)
    assert (report.balances[alice.did][0], report.balances[bob.did][0]) == expected


@pytest.mark.req("AUD-004", "CMT-001")
def test_audit_reports_a_release_before_it_was_due(hand: Hand) -> None:
    """Alice delivered and Bob receipted; Bob has not delivered. The escrow releases Alice's bond
    anyway: RELEASE_NOT_DUE, naming the release."""
    alice, bob = hand.alice, hand.bob
    hand.bonded()
    d = alice.deliver(hand.accept, bob)
    hand.stamp(d, bob.receipt(d))
    release = hand.says("release", party=alice.did)
    assert hand.findings() == [("RELEASE_NOT_DUE", (release.digest,))]


@pytest.mark.req("AUD-004", "CMT-004", "CMT-006")
@pytest.mark.parametrize("lapse", ["none", "early"])
def test_audit_reports_a_refund_before_the_lapse(hand: Hand, lapse: str) -> None:
    """The escrow refunds Alice's bond with no LAPSE ruling, or after one signed at exactly the bonding
    cutoff, the earliest a bonded contract could lapse (refused: ILLEGAL_TRANSITION): REFUND_NOT_DUE
    either way."""
    hand.bonded()
    found: list[tuple[str, tuple[bytes, ...]]] = []
    if lapse == "early":
        hand.clock.now_ms = hand.offer.header.expires_at_ms + BOND_GRACE_MS
        ruling = hand.says("ruling", decision=LAPSE)
        found.append(("ILLEGAL_TRANSITION", (ruling.digest,)))
    refund = hand.says("refund", party=hand.alice.did)
    assert hand.findings() == [*found, ("REFUND_NOT_DUE", (refund.digest,))]


@pytest.mark.req("AUD-004", "AUD-005", "ESC-010", "CMT-006")
@pytest.mark.parametrize("bonded", [True, False])
def test_audit_judges_a_lapse_at_the_bonding_cutoff_by_whether_the_contract_was_bonded(
    hand: Hand, bonded: bool
) -> None:
    """Past the bonding cutoff, a day before the deadline, the escrow lapses the contract and refunds
    the locked bonds. Bonded in time, the lapse is RULING_WRONG (only a contract the cutoff left
    without every bond ends early); with Bob's bond never locked it is due, and clean. An escrow that
    never lapses the unbonded contract leaves an ACTION_MISSING."""
    hand.stamp(hand.alice.mandate_vs, hand.bob.mandate_vs, hand.offer, hand.accept)
    hand.says("bond_lock", party=hand.alice.did)
    if bonded:
        hand.says("bond_lock", party=hand.bob.did)
    hand.clock.now_ms = hand.offer.header.expires_at_ms + BOND_GRACE_MS + 1
    idle = hand.stamp(hand.alice.mandate_vs)  # the escrow's clock passes the cutoff, and it does nothing
    assert hand.findings() == ([] if bonded else [("ACTION_MISSING", (hand.accept.digest,))])
    assert idle.issued_at_ms > hand.offer.header.expires_at_ms + BOND_GRACE_MS
    ruling = hand.says("ruling", decision=LAPSE)
    for p in (hand.alice, hand.bob) if bonded else (hand.alice,):
        hand.says("refund", party=p.did)
    assert hand.findings() == ([("RULING_WRONG", (ruling.digest,))] if bonded else [])


@pytest.mark.req("AUD-004", "CMT-002", "WIT-003")
@pytest.mark.parametrize(
    "wrong",
    [
        "upheld-despite-a-timely-delivery",
        "dismissed-on-a-delivery-dated-back",
        "dismissed-citing-no-delivery",
    ],
)
def test_audit_reports_a_ruling_the_evidence_does_not_give(hand: Hand, wrong: str) -> None:
    """Bob's delivery is stamped before his deadline, and the escrow upholds Alice's claim anyway; or
    his delivery, dated back to the deadline, reaches the escrow with the claim an hour late, and the
    escrow dismisses the claim citing it; or the delivery is timely but the dismissal cites the claim
    itself (verifiers follow it, AUD-004 is where it is caught). RULING_WRONG, naming the ruling, and
    nothing else."""
    alice, bob = hand.alice, hand.bob
    hand.bonded()
    delivery = bob.deliver(hand.accept, alice, issued_at_ms=hand.deadline)
    if wrong.startswith("dismissed-on"):
        claim = hand.claimed()
        hand.stamp(delivery)
    else:
        hand.stamp(delivery, at=hand.deadline)
        claim = hand.claimed()
    hand.clock.advance(WINDOW)
    if wrong.startswith("upheld"):
        ruling = hand.ruling(claim, UPHOLD)
        hand.forfeit(bob, claim)
        hand.says("release", party=alice.did)
    elif wrong.startswith("dismissed-on"):
        ruling = hand.ruling(claim, DISMISS, evidence=delivery.digest)
    else:
        ruling = hand.ruling(claim, DISMISS, evidence=claim.digest)
    assert hand.findings() == [("RULING_WRONG", (ruling.digest,))]


@pytest.mark.req("AUD-004", "CMT-002")
@pytest.mark.parametrize("cause", ["no-ruling", "early-ruling", "dismissal"])
def test_audit_refuses_a_forfeit_one_ms_after_the_claim(hand: Hand, cause: str) -> None:
    """One ms after stamping Alice's claim, the escrow forfeits Bob's bond to her: with no ruling,
    after an UPHOLD signed before the response window (itself refused, ILLEGAL_TRANSITION), or after
    dismissing the claim. The forfeit is FORFEIT_WITHOUT_CAUSE each time; a party's verifier refuses it."""
    alice, bob = hand.alice, hand.bob
    hand.bonded()
    delivery = bob.deliver(hand.accept, alice)
    if cause == "dismissal":
        hand.stamp(delivery)
    claim = hand.claimed()
    hand.clock.advance(WINDOW if cause == "dismissal" else 1)
    found: list[tuple[str, tuple[bytes, ...]]] = []
    if cause == "early-ruling":
        found.append(("ILLEGAL_TRANSITION", (hand.ruling(claim, UPHOLD).digest,)))
    elif cause == "dismissal":
        hand.ruling(claim, DISMISS, evidence=delivery.digest)
    forfeit = hand.forfeit(bob, claim)
    assert hand.findings() == [*found, ("FORFEIT_WITHOUT_CAUSE", (forfeit.digest,))]
    party = Verifier(me=bob.did)
    for env in hand.transcript[:-1]:
        with contextlib.suppress(CoopError):  # the early ruling
            party.accept(env, ours=verify_statement(env).issuer == bob.did)
    with pytest.raises(CoopError) as err:
        party.accept(forfeit.envelope)
    assert err.value.code == "BODY_INVALID"


@pytest.mark.req("AUD-005", "CMT-002", "CMT-006", "CMT-001")
@pytest.mark.parametrize(
    ("undone", "late"),
    [("ruling", False), ("ruling", True), ("lapse", False), ("lapse", True), ("release", False)],
)
def test_audit_reports_an_action_the_rules_made_due_and_the_escrow_left_undone(
    hand: Hand, undone: str, late: bool
) -> None:
    """The escrow leaves a claim unruled, a contract unlapsed, or a fulfilled contract's bonds locked.
    The audit judges by the ledger's last time: when a later ledger statement (a Deposit) shows the
    escrow's clock past the due time, ACTION_MISSING naming the contract; before, nothing was due
    yet and the transcript is ok. The releases are due as soon as the last receipt is stamped."""
    alice, bob = hand.alice, hand.bob
    hand.bonded()
    due = {"lapse": hand.lapse + 1}.get(undone, 0)
    if undone == "ruling":
        hand.claimed()
        due = hand.clock.now_ms + WINDOW
    elif undone == "release":
        d1, d2 = alice.deliver(hand.accept, bob), bob.deliver(hand.accept, alice)
        hand.stamp(d1, d2, bob.receipt(d1), alice.receipt(d2))
    if undone != "release":
        hand.deposit(alice, 1, at=due if late else due - 1)
    expected = [("ACTION_MISSING", (hand.accept.digest,))] if late or undone == "release" else []
    assert hand.findings() == expected


@pytest.mark.req("WIT-004", "AUD-003")
@pytest.mark.parametrize("late_ms", [CLOCK_TOLERANCE_MS, CLOCK_TOLERANCE_MS + 1])
def test_audit_reports_a_contract_recognised_without_a_timely_witness(hand: Hand, late_ms: int) -> None:
    """The escrow stamps the offer at once and Bob's Accept ``late_ms`` after the offer expired, then
    locks both bonds. Within the tolerance: ok; one ms more: UNWITNESSED, naming the Accept -- and
    each lock, then past the bonding cutoff, is refused (CMT-010), which leaves the lapse undone."""
    hand.stamp(hand.alice.mandate_vs, hand.bob.mandate_vs, hand.offer)
    hand.clock.now_ms = hand.offer.header.expires_at_ms + late_ms
    hand.stamp(hand.accept)
    locks = [hand.says("bond_lock", party=p.did) for p in (hand.alice, hand.bob)]
    expected = (
        []
        if late_ms <= CLOCK_TOLERANCE_MS
        else [
            ("UNWITNESSED", (hand.accept.digest,)),
            *(("ILLEGAL_TRANSITION", (lock.digest,)) for lock in locks),
            ("ACTION_MISSING", (hand.accept.digest,)),
        ]
    )
    assert hand.findings() == expected


@pytest.mark.req("AUD-001", "AUD-002")
def test_audit_of_funds_locked_under_a_made_up_contract_and_forfeited_to_a_third_key(
    hand: Hand, clock: FixedClock, escrow: Party
) -> None:
    """The escrow locks Alice's funds under a contract nobody signed and forfeits them to Carol. The
    funds balance (Carol holds what Alice lost), but both statements rest on no evidence:
    EVIDENCE_MISSING each, and the report is not ok."""
    carol = Party("carol", clock)
    made_up, nid = derive("made-up contract"), derive("made-up negotiation", 16)
    lock = escrow.sign(
        "bond_lock",
        commitment_pb2.BondLock(contract=made_up, party=hand.alice.did, amount=BOND),
        negotiation_id=nid,
    )
    forfeit = escrow.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=made_up, party=hand.alice.did, amount=BOND, beneficiary=carol.did, cause=made_up
        ),
        negotiation_id=nid,
    )
    report = audit_ledger([*hand.transcript, lock.envelope, forfeit.envelope])
    assert not report.ok
    assert [(f.code, f.digests) for f in report.findings] == [
        ("EVIDENCE_MISSING", (lock.digest,)),
        ("EVIDENCE_MISSING", (forfeit.digest,)),
    ]
    assert (report.balances[hand.alice.did], report.balances[carol.did]) == ((FUNDS - BOND, 0), (BOND, 0))


@pytest.mark.req("AUD-002", "NEG-012")
def test_audit_reports_a_lock_larger_than_the_deposit(
    clock: FixedClock, alice: Party, bob: Party, escrow: Party
) -> None:
    """Alice deposited 50; the escrow locks her bond of 100 anyway. Expect LOCK_EXCEEDS_AVAILABLE and
    NEGATIVE_BALANCE naming that lock."""
    hand = Hand(clock, alice, bob, escrow, funds=50)
    hand.stamp(alice.mandate_vs, bob.mandate_vs, hand.offer, hand.accept)
    hand.says("bond_lock", party=bob.did)
    lock = hand.says("bond_lock", party=alice.did)
    assert hand.findings() == [
        ("LOCK_EXCEEDS_AVAILABLE", (lock.digest,)),
        ("NEGATIVE_BALANCE", (lock.digest,)),
    ]


@pytest.mark.req("ESC-001", "RPL-002", "ESC-011")
def test_a_statement_twice_in_one_submit_is_taken_once(clock: FixedClock, alice: Party, bob: Party) -> None:
    """The Offer twice in one Submit (every envelope is verified before any is taken, for ESC-011):
    expect the second copy skipped as already held, not refused REPLAYED, and one Stamp naming each
    statement once."""
    desk = LocalEscrow(Party("escrow", clock))
    offer = alice.offer(bob, alice.proposal(escrow=desk.did))
    accept = bob.accept(offer)
    answer = desk.submit([*alice.setup, *bob.setup, offer.envelope, offer.envelope, accept.envelope])
    stamp = verify_statement(answer[1])
    assert stamp.body == "stamp" and len(stamp.statement.stamp.statements) == 4
