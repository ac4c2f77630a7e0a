"""What an implementer reading SPEC.md alone could read two ways, pinned where the SPEC now says which
(sections 11.2, 13.2, 13.5, ESC-011), and the holes found on the way: the reference peer refused a
witnessed Accept its escrow revealed once the line had moved to an offer naming no escrow (TIM-006
asked the wrong escrow: fixed), a renewed Mandate did not travel with the answers and the transcript
that cite it (fixed), and verifiers disagreed when an escrow stamped two answers to one offer (NEG-015:
decided, a witnessed Accept binds whether or not its escrow stamped the other answer too).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest
from peers import make_peer
from test_hidden_accept import OFFER_TTL_MS, Market
from test_mandate_renewal import _renew

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, envelope_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, pae, sign_payload
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import Keypair, did_from_public_key
from a2a_coop.protocol.merkle import root
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import (
    VerifiedStatement,
    encode_statement,
    negotiation_id_for,
    new_statement,
    verify_statement,
)
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.trade import carry_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive

SPEC = Path(__file__).resolve().parent.parent / "SPEC.md"


@pytest.mark.req("KEY-001", "ENV-002", "STM-012", "BDY-007", "CHN-007", "NEG-013")
def test_the_worked_examples_of_the_spec_are_what_the_reference_computes() -> None:
    """Sections 3.1, 5.4, 5.5, 6.9, 7.5 and 8.5 give worked values an implementer checks its code
    against: each, as printed in SPEC.md, is what the reference computes."""

    text = SPEC.read_text(encoding="utf-8")
    key = Keypair.from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    did = did_from_public_key(key.public_key)
    message = pae(STATEMENT_PAYLOAD_TYPE, bytes.fromhex("0a020801"))
    signature = key.sign(message)
    d = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    worked = [
        f"| did:key (56 characters) | `{did}` |",
        f"| digest `SHA256(PAE)` | `{hashlib.sha256(message).hexdigest()}` |",
        f"`{signature.hex()}`",
        f'"sig": "{base64.b64encode(signature).decode()}"',
        f"the commitment is\n`{commit(1000, bytes(range(32))).hex()}`",
        f"| `MTH([d0, d1, d2])` (root at seq 3) | `{root(d).hex()}` |",
        f"the negotiation_id is `{negotiation_id_for(did, bytes(range(16))).hex()}`",
    ]
    assert len(message) == 62
    for value in worked:
        assert value in text, value


def _code(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except CoopError as err:
        return err.code
    return "OK"


def _mandate_ending_before_it_starts(party: Party, clock: FixedClock) -> bytes:
    """A Mandate of ``party``'s principal that breaks BDY-010, signed as is (no guard)."""
    msg = identity_pb2.Mandate(
        agent=party.did, valid_from_ms=clock.now_ms, valid_until_ms=clock.now_ms - 1, currency="credit"
    )
    stmt = new_statement("mandate", msg, issued_at_ms=clock.now_ms, ttl_ms=DAY_MS)
    principal = party.principal
    h = stmt.header
    h.version, h.issuer, h.seq, h.prev = 1, principal.did, principal.writer.next_seq, principal.writer.prev
    h.nonce = principal.next_nonce()
    return sign_payload(encode_statement(stmt), principal.key)


@pytest.mark.req("ERR-002", "RPC-015", "STM-005")
def test_an_exchange_checks_its_request_through_step_21_then_its_context_then_the_rest() -> None:
    """SPEC 13.2: steps 1-21 of the request first (a refusal there wins, whatever the context); then the
    context it depends on (the first refused fails the request with its code); context it does not
    depend on is not taken, so not refused either."""
    clock = FixedClock()
    alice, bob, carol, dave = (Party(n, clock) for n in ("alice", "bob", "carol", "dave"))
    b = make_peer(bob, clock)
    bad_context = _mandate_ending_before_it_starts(alice, clock)
    offer = alice.offer(bob)
    env = envelope_pb2.Envelope.FromString(offer.envelope)
    env.signatures[0].sig = bytes([env.signatures[0].sig[0] ^ 1]) + env.signatures[0].sig[1:]
    assert _code(lambda: b.exchange(env.SerializeToString(), [bad_context])) == "SIGNATURE_INVALID"
    assert _code(lambda: b.exchange(alice.offer(carol).envelope, [bad_context])) == "WRONG_AUDIENCE"
    assert _code(lambda: b.exchange(offer.envelope, [bad_context])) == "BODY_INVALID"
    unrelated = _mandate_ending_before_it_starts(dave, clock)
    assert _code(lambda: b.exchange(offer.envelope, [*alice.setup, unrelated])) == "OK"


@pytest.mark.req("MND-013", "ERR-002")
def test_mnd_013_is_checked_with_the_mandate_content_at_step_24() -> None:
    """An Offer to its own issuer (WRONG_PARTY at step 28) that outlives a budget period: MND-013 is
    reported, since section 11 checks it at step 24."""
    clock = FixedClock()
    alice = Party("alice", clock)
    offer = alice.sign("offer", alice.proposal(), audience=alice.did, ttl_ms=31 * DAY_MS)
    v = Verifier()
    v.accept(alice.setup[0])
    with pytest.raises(CoopError) as refused:
        v.accept(offer.envelope)
    assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "MND-013")


@pytest.mark.req("ESC-006")
def test_an_empty_ledger_has_head_seq_0_and_its_transcript_next_seq_0() -> None:
    """SPEC 13.5: head_seq is 0 for an empty ledger too; only next_seq (0, not head_seq + 1) tells it
    from a ledger of one entry."""
    clock = FixedClock()
    escrow = LocalEscrow(Party("escrow", clock))
    envelopes, head, next_seq = escrow.get_transcript(0, 100)
    assert (len(envelopes), head, next_seq) == (1, 0, 0)  # the Mandate alone
    assert escrow.get_ledger(0, 10) == ([], 0)
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    escrow.submit([*alice.setup, offer.envelope])
    envelopes, head, next_seq = escrow.get_transcript(0, 100)
    assert (head, next_seq) == (0, 1)


@pytest.mark.req("ESC-011", "ESC-001")
def test_an_offer_after_the_first_bad_envelope_of_a_submit_names_nothing() -> None:
    """ESC-011: the Offer that names the escrow counts only among the envelopes the escrow checks,
    those before the first that does not verify on its own."""
    clock = FixedClock()
    escrow = LocalEscrow(Party("escrow", clock))
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    accept = bob.accept(offer)
    setup = [*alice.setup, *bob.setup]
    assert _code(lambda: escrow.submit([*setup, accept.envelope, b"junk", offer.envelope])) == "WRONG_PARTY"
    assert _code(lambda: escrow.submit([*setup, accept.envelope, offer.envelope, b"junk"])) == (
        "UNKNOWN_NEGOTIATION"
    )


@pytest.mark.req("ESC-002", "WIT-006")
def test_a_resubmitted_mandate_brings_no_stamp_and_a_resubmitted_offer_its_stamp() -> None:
    """ESC-002: the earlier Stamps in a Submit's answer are those of the negotiation statements the
    escrow held already (WIT-006); a Mandate it holds brings none."""
    clock = FixedClock()
    escrow = LocalEscrow(Party("escrow", clock))
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    first = escrow.submit([*alice.setup, offer.envelope])
    assert [verify_statement(e).body for e in first] == ["mandate", "stamp"]
    assert [verify_statement(e).body for e in escrow.submit(alice.setup)] == ["mandate"]
    assert escrow.submit([offer.envelope]) == first


class _LateUnbondedCounter:
    """Mallory's server: she accepts Bob's bonded offer at the escrow alone at once, waits ``wait_ms``,
    then answers Bob with a Counter naming no escrow and no bond."""

    def __init__(self, market: Market, wait_ms: int) -> None:
        self.m, self.wait_ms = market, wait_ms
        self.accept: VerifiedStatement | None = None

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        if vs.body != "offer":
            return []
        self.accept = self.m.hide_accept(vs)
        self.m.clock.advance(self.wait_ms)
        offered = proposal_of(vs)
        counter = trade_pb2.Offer(gives=offered.wants, wants=offered.gives)
        counter.terms.currency = offered.terms.currency
        return [*self.m.mallory.setup, self.m.mallory.counter(vs, counter).envelope]


@pytest.mark.req("TIM-006", "NEG-017", "ESC-013")
@pytest.mark.parametrize("wait_ms", [1_000, 60_000])
def test_a_witnessed_accept_revealed_after_a_late_counter_is_taken(wait_ms: int) -> None:
    """Mallory shows the escrow an Accept of Bob's bonded offer and answers Bob, ``wait_ms`` later, with
    an unbonded Counter naming no escrow. Bob shows the escrow the line (ESC-013) and it reveals the
    Accept (ESC-014, ESC-012). TIM-006 takes an Accept 'its contract's escrow' stamped by the offer's
    expiry + 30 s, however old -- the escrow the accepted offer names. The reference asked the escrow of
    the negotiation's contract or outstanding offer (Verifier._escrow_of: here the Counter's, none),
    refused the Accept once it was older than the skew, never performed, and Mallory's claim took Bob's
    bond. Now it asks the accepted offer's escrow."""
    m = Market()
    mallorys = _LateUnbondedCounter(m, wait_ms)
    offer = m.b.propose(m.mallory.did, m.proposal(), ttl_ms=OFFER_TTL_MS)
    with contextlib.suppress(CoopError):  # the refusal of the revealed Accept, on the reference
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == mallorys.accept.digest
    m.bob_loses_nothing(offer.negotiation_id, mallorys.accept.digest)


@pytest.mark.req("NEG-015", "NEG-017", "NEG-018")
def test_verifiers_agree_when_an_escrow_stamped_two_answers_to_one_offer() -> None:
    """An escrow at fault stamps Mallory's Reject and then her Accept of Bob's offer (ESC-014 forbids
    the second; the audit reports ANSWER_TAKEN_TWICE). Verifiers holding the same statements must still
    reach one state, whatever the order they arrive in."""
    clock = FixedClock()
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    offer = bob.offer(mallory, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    accept, reject = mallory.accept(offer), mallory.reject(offer, "no")
    clock.advance(1_000)
    stamp_reject = escrow.sign("stamp", commitment_pb2.Stamp(statements=[reject.digest]))
    clock.advance(1_000)
    stamp_accept = escrow.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
    setup = [*bob.setup, *mallory.setup, *escrow.setup, offer.envelope]
    states = set()
    for order in (
        [reject, stamp_reject, stamp_accept, accept],
        [stamp_accept, accept, reject, stamp_reject],
    ):
        v = Verifier()
        for envelope in [*setup, *(vs.envelope for vs in order)]:
            with contextlib.suppress(CoopError):  # refused as it decides: what counts is where it ends
                v.accept(envelope)
        neg = v.negotiations.get(offer.negotiation_id)
        states.add((neg.state, neg.contract is not None))
    assert len(states) == 1, states


@pytest.mark.req("NEG-015", "NEG-017", "NEG-006")
@pytest.mark.parametrize("same_time", [False, True], ids=["stamped-apart", "stamped-at-once"])
def test_verifiers_agree_on_the_contract_when_an_escrow_stamped_two_accepts_of_one_offer(
    same_time: bool,
) -> None:
    """An escrow at fault stamps two Accepts by Mallory of Bob's offer. Whichever a verifier meets
    first, every verifier ends with one contract, the same: the Accept stamped first (at one time, the
    smaller digest), the other superseded."""
    clock = FixedClock()
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    offer = bob.offer(mallory, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    first, second = mallory.accept(offer), mallory.accept(offer)
    stamps = []
    for accept in (second, first):  # the second Accept is stamped first
        if not same_time:
            clock.advance(1_000)
        stamps.append(escrow.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest])))
    setup = [*bob.setup, *mallory.setup, *escrow.setup, offer.envelope]
    contracts = set()
    for order in ([first, second], [second, first]):
        v = Verifier()
        for envelope in [*setup, *(vs.envelope for vs in stamps), *(vs.envelope for vs in order)]:
            v.accept(envelope)
        neg = v.negotiations.by_id[offer.negotiation_id]
        assert neg.contract is not None
        contracts.add(neg.contract.id)
    expected = min(second.digest, first.digest) if same_time else second.digest
    assert contracts == {expected}


@pytest.mark.req("MND-017", "RPC-002", "MND-002")
def test_answers_signed_under_a_mandate_renewed_mid_contract_verify_at_the_counterparty(
    tmp_path: Path,
) -> None:
    """SPEC 4.7: after a renewal the agent's later statements cite the new Mandate. Bob accepts Alice's
    offer and delivers; his principal renews his mandate and his node restarts on its journal under it;
    Alice's Delivery and Receipt are answered with a Receipt and an Ack citing the new Mandate, which
    nothing had shown her: she refused them, and the contract never reached FULFILLED in her view. Now
    a renewed peer's answers carry the Mandates they cite (RPC-002)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    a = make_peer(alice, clock)
    counter = itertools.count()

    def bobs_node(mandate: bytes) -> Peer:
        return Peer(
            bob.agent.key,
            mandate,
            clock=lambda: clock.now_ms,
            nonce=lambda: derive(f"nonce/bob/{next(counter)}", 16),
            journal=Journal.open(tmp_path / "bob.db"),
        )

    offer = a.propose(bob.did, alice.proposal())
    first = bobs_node(bob.mandate_vs.envelope)
    owed = a.on_replies(first.exchange(offer.envelope, a.send_context()))
    assert first.journal is not None
    first.journal.close()  # his node stops ...
    assert [vs.body for vs in owed] == ["delivery", "receipt"]
    clock.advance(1_000)
    renewed = bobs_node(_renew(bob, clock).envelope)  # ... and starts again under the renewed mandate
    for vs in owed:
        a.on_replies(renewed.exchange(vs.envelope, a.send_context()))
    assert a.negotiation(offer.negotiation_id).state.value == "FULFILLED"


@pytest.mark.req("ESC-006", "AUD-001", "MND-017")
def test_an_escrows_transcript_audits_clean_after_it_renewed_its_mandate(tmp_path: Path) -> None:
    """SPEC 4.7 lets a principal renew its escrow's mandate as any agent's; MND-017 keeps the old one.
    The escrow's transcript must still let anyone audit its ledger from seq 0 (ESC-006, AUD-001): the
    deposit signed before the renewal cites the old Mandate, so the transcript has to carry it (it
    carried the current one only)."""
    from a2a_coop.protocol.escrow_audit import audit_ledger
    from a2a_coop.runtime.node import EscrowNode

    clock = FixedClock()
    escrow, alice = Party("escrow", clock), Party("alice", clock)
    node = EscrowNode(
        escrow.agent.key, escrow.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms
    )
    node.deposit(alice.did, 1_000)
    node.close()
    renewed = _renew(escrow, clock)
    node = EscrowNode(escrow.agent.key, renewed.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms)
    try:
        node.deposit(alice.did, 1)
        envelopes, head, next_seq, _ = node.get_transcript(0, 100, 1 << 22)
        assert (head, next_seq) == (1, 2)
        report = audit_ledger(envelopes, escrow=escrow.did)
        assert report.ok, [(f.code, f.message) for f in report.findings]
    finally:
        node.close()


@pytest.mark.req("ENV-010")
def test_a_json_envelope_with_an_unpaired_surrogate_or_an_escaped_duplicate_name_is_malformed() -> None:
    """SPEC 5.5: strings must be Unicode (an escaped unpaired surrogate is refused, whatever member holds
    it) and names are compared decoded (an escaped second ``payload`` is a repeated name)."""
    from a2a_coop.protocol.envelope import envelope_from_json

    text = (
        '{"payload": "CgIIAQ==", "payloadType": "application/vnd.a2acoop.statement.v1+protobuf", '
        '"signatures": [{"keyid": "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw", '
        '"sig": "90Uth5xGm/fpox8SS5uqx2iOjtJDIoAA4btMbsw+I8NpVrF0zRkLl6kLTB5jVArKghwe7HKQmi+rnZjT4BjIDg=="}]}'
    )
    assert envelope_from_json(text)
    for bad in (
        text.replace('protobuf"', 'protobuf\\ud800"'),
        text.replace('"did:key', '"\\udc00did:key'),
        text.replace('"payload": "CgIIAQ==",', '"payload": "CgIIAQ==", "p\\u0061yload": "CgIIAQ==",'),
    ):
        assert _code(lambda bad=bad: envelope_from_json(bad)) == "MALFORMED_ENVELOPE", bad
