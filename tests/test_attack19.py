"""Attacker's pass 19: the counting rules of RPC-016, RPC-017, ESC-017 and KEY-008 after the fourteenth
session -- per-key counts of keys in the dealings with credit from statements of negotiations with us, the
exemptions kept "first only" (a counterparty's first Attestation, an escrow's first Stamp of a statement of
our contract, each revoker's first KeyRevocation of a key), the revoker's correction counted for its
issuer, vouching only by our principal and keys a contract put in our dealings, and at an escrow the
dealings' base count only for funded keys -- asked, for each, who chose the value it relies on (a time, a
key, an id, a count, an order of arrival) and what a liar gains.

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest
from peers import fresh_key, make_peer
from test_attack16 import _checkpoint, _quota_escrow
from test_attack18 import _window
from test_escrow_dealings_quota import _contract

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import CoopError, RateLimited
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import FixedClock, Party, Signer

# --- 1: ESC-017 (c), a party's principal correcting its revocation at the escrow ----------------------------


@pytest.mark.req("ESC-017", "KEY-004")
def test_a_partys_principal_can_correct_its_revocation_at_the_escrow(tmp_path: Path) -> None:
    """Attack: Alice trades through the escrow (a contract naming it, her key funded there). Mallory
    stole Alice's key at t0; Alice's principal notices at t1 and revokes the key effective t1 (the first
    of its revoker: uncounted), then learns the theft was at t0 and sends the correction. A correction
    counts for its revoker (tests/test_attack18.py) -- and a party's principal is in the escrow's
    dealings (ESC-017) without funds of its own: its base count there is nothing, and it earns no credit
    (a principal signs no statement of a contract). Its correction was refused RATE_LIMITED every
    period, with no attacker needed, while what Mallory signed as the key between t0 and t1 stood.
    Defence: each revoker's one correction -- its second revocation of the key, moving the key's
    effective revocation earlier than every one held -- is uncounted too; a later one, or one that
    moves nothing earlier, counts for the revoker (a principal bound to a key of its own stepping it
    back a millisecond at a time adds one statement, no more)."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=4))
    alice, bob = Party("alice", clock), Party("bob", clock)
    try:
        _contract(node, escrow, alice, bob)
        node.deposit(alice.did, 100)
        assert node.escrow.deals_with(alice.principal.did)
        theft = clock.now_ms
        clock.advance(60_000)
        noticed = clock.now_ms
        first = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=noticed, reason="stolen")
        )
        node.submit([first.envelope])  # the first of its revoker: uncounted
        clock.advance(1_000)
        corrected = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=theft, reason="stolen")
        )
        node.submit([corrected.envelope])  # its one correction: uncounted
        assert node.escrow.verifier.revoked[alice.did] == theft
        for effective in (theft - 1, noticed):  # a second step back, or none: counted for the revoker
            clock.advance(1_000)
            again = alice.principal.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=alice.did, effective_ms=effective, reason="stolen"),
            )
            with pytest.raises(RateLimited, match="ESC-017"):
                node.submit([again.envelope])
    finally:
        node.close()


@pytest.mark.req("RPC-016", "KEY-004")
def test_relayed_mandates_of_a_principal_do_not_keep_out_its_corrected_revocation() -> None:
    """Attack: at a peer that holds K but not K's principal P in its dealings, a revoker's later
    revocation counts for the revoker (tests/test_attack18.py) -- against P's count as a stranger's key,
    which a statement spends whoever sends it. P runs a fleet of agents, and each Mandate it grants is
    public (every escrow transcript a trade of them reaches holds one): Mallory, who stole K, relays
    sixteen of P's Mandates for its other agents to the peer, spending P's count, and P's corrected
    revocation of K, effective at the theft, is refused RATE_LIMITED for the period. Defence: the
    revoker's one correction is uncounted, whoever spent its count."""
    clock = _window(FixedClock())
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=16))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    b.exchange(_checkpoint(k, mandate).envelope, [mandate.envelope])
    theft = clock.now_ms
    clock.advance(60_000)
    first = boss.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms, reason="stolen")
    )
    b.exchange(first.envelope)  # the first of its revoker: uncounted
    relayed = 0
    for i in range(1, 40):  # P's Mandates for its other agents, which Mallory found public
        with contextlib.suppress(RateLimited):
            b.exchange(fresh_key(i, clock, boss)[1].envelope)
            relayed += 1
    assert relayed < 16  # P's count spent (K's Mandate counted for it too)
    clock.advance(1_000)
    corrected = boss.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=k.did, effective_ms=theft, reason="stolen")
    )
    b.exchange(corrected.envelope)
    assert b.verifier.revoked[k.did] == theft


# --- 2: ESC-017, the dealings' base count bought by moving one unit of funds from key to key ---------------


def _cps(node: Any, party: Party, n: int, signed: list[bytes]) -> int:
    """``party`` submits ``n`` Checkpoints, each at the next seq of its chain (``signed``: the digests of
    what it signed before, in order); how many the escrow took."""
    kept = 0
    for _ in range(n):
        cp = party.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
        try:
            node.submit([cp.envelope])
        except RateLimited as over:
            assert over.requirement == "ESC-017"
            party.agent.writer.next_seq -= 1  # not taken: its chain goes on from the one before
            party.agent.writer.prev = signed[-1]
            continue
        signed.append(cp.digest)
        kept += 1
    return kept


def _hand_over(node: Any, escrow: Party, giver: Party, taker: Party, amount: int) -> list[bytes]:
    """``giver`` (holding ``amount`` at the escrow) forfeits it to ``taker``: a contract naming the escrow
    with revocable terms that forfeit the revoker's bond (``giver``'s bond ``amount``, ``taker``'s none),
    ``taker``'s Accept, ``giver``'s Revoke -- stamped at once, its bond forfeited to ``taker`` (CMT-003).
    Three statements of a negotiation and two Mandates; nobody's consent but Mallory's. The digests of
    what each signed, in order."""
    from a2a_coop._proto.a2acoop.v1 import trade_pb2

    terms = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    offer = giver.offer(taker, giver.proposal(issuer_bond=amount, escrow=escrow.did, revocation=terms))
    accept = taker.accept(offer)
    node.submit([*giver.setup, *taker.setup, offer.envelope, accept.envelope])
    giver.clock.advance(10)
    out = giver.revoke(accept, taker)
    node.submit([out.envelope])
    return [offer.digest, accept.digest, out.digest]


@pytest.mark.req("ESC-017", "CMT-003")
def test_one_unit_of_funds_handed_on_buys_no_base_count_for_each_key(tmp_path: Path) -> None:
    """Attack: at an escrow the dealings' base count (16 x a stranger's per-key count) is for keys its
    ledger credited, "funds, which keys cannot mint" (tests/test_attack18.py) -- but the ledger credits a
    Forfeit's beneficiary too, and funds a key forfeits are not minted, only handed on. Mallory deposits
    ONE unit for her key M0, then, in seconds, hands it on: a contract M0 -> M1 naming the escrow, M0's
    bond of one under revocable terms that forfeit the revoker's bond, M0's Revoke (stamped at once, the
    bond forfeited to M1, CMT-003); M1 -> M2 the same, and so on. Every key the unit passed through is
    "credited" for good (a balance of 0 stays in the book), each with the base count every period: ten
    keys, some 160 Checkpoints an hour stamped over a quota of 20, one unit of funds -- and as many more
    each hour and each hop. Defence: the base count only for keys a Deposit credited (ESC-017 says "a
    Deposit"); a Forfeit's beneficiary has the credit its contracts' statements earn."""
    clock = _window(FixedClock())
    quota = StrangerQuota(per_period=20, per_key=1)
    escrow, node = _quota_escrow(tmp_path, clock, quota)
    try:
        keys = [Party(f"mallory-{i}", clock) for i in range(10)]
        signed: dict[str, list[bytes]] = {k.did: [] for k in keys}
        node.deposit(keys[0].did, 1)
        for giver, taker in itertools.pairwise(keys):
            o, a, r = _hand_over(node, escrow, giver, taker, 1)
            signed[giver.did] += [o, r]
            signed[taker.did].append(a)
            assert node.escrow.balance(taker.did) == (1, 0)
        stamped = sum(_cps(node, k, 20, signed[k.did]) for k in keys[1:])
        # Each hop's statements earn their issuers credit (an Accept, a Revoke: one Checkpoint each).
        assert stamped <= 2 * len(keys), stamped
    finally:
        node.close()


# --- 3: RPC-016, a swap we started: what its counterparty answers -------------------------------------------


@pytest.mark.req("RPC-016", "ATT-011", "ATT-019")
def test_a_chosen_swap_counterpartys_answer_carries_no_uncounted_mandates_naming_it() -> None:
    """Attack: Bob swaps gossip once a minute with each counterparty he trades with (ATT-011), and counts
    "that counterparty's own statements, and the Mandates naming it, as its dealings'" (RPC-016). A
    Mandate counts for its issuer -- and a fresh principal's Mandate naming Mallory is let in as the
    swap's (its agent is the chosen counterparty) and then, its issuer in nobody's dealings, counted for
    no one. Mallory, with one contract with Bob, answers each of his swaps with as many fresh principals'
    Mandates naming her as a swap takes (some 66), every minute: all journaled, uncounted, without
    bound. Defence: such a Mandate counts, as the swap's counterparty's own statements do, under its
    per-key count of keys in our dealings -- the counterparty sent it, whoever signed it (counted for its
    issuer, in nobody's dealings, it was counted for no one)."""
    from test_attack16 import _contract_with, _minted_for

    from a2a_coop.runtime import gossip

    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=40, per_key=1))
    _contract_with(b, bob, mallory)
    held = b.verifier.statements
    before = len(held)
    for minute in range(5):
        clock.advance(60_000)
        minted = [_minted_for(mallory.did, 100 * minute + i, clock).envelope for i in range(60)]
        gossip.take(b, minted, [], started_with=mallory.did)
    kept = len(held) - before
    assert kept <= 16 + 4, kept  # her count, and the credit her contract's statements earned


@pytest.mark.req("RPC-016", "ATT-011")
def test_a_chosen_swap_counterpartys_own_checkpoints_count_as_its_dealings(tmp_path: Path) -> None:
    """Attack: the same swaps, answered with Mallory's own Checkpoints, one at each next seq of her chain
    (some 66 a swap, a swap a minute): the counterparty of a swap we started is exempt from the count of
    keys in our dealings altogether, so each is journaled uncounted -- some 4,000 an hour, without bound,
    where any other key in our dealings has 16 x a stranger's per-key count and its credit. Defence
    wanted: its own statements count as its dealings' (RPC-016: "counts that counterparty's own
    statements ... as its dealings'"), per key, with the credit its negotiations with us earn."""
    from test_attack16 import _contract_with

    from a2a_coop.runtime import gossip

    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=40, per_key=1))
    _contract_with(b, bob, mallory)
    held = b.verifier.statements
    signed = [d for d, vs in held.items() if vs.issuer == mallory.did]
    before = len(held)
    for _ in range(5):
        clock.advance(60_000)
        cps = []
        for _ in range(60):
            cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
            signed.append(cp.digest)
            cps.append(cp.envelope)
        gossip.take(b, cps, [], started_with=mallory.did)
    kept = len(held) - before
    assert kept <= 16 + 4, kept  # her count, and the credit her contract's statements earned


# --- 4: ESC-017, statements of one contract between fresh keys: Receipts of one Delivery --------------------


@pytest.mark.req("ESC-017", "ESC-011")
def test_one_contract_carries_no_unbounded_receipts_of_one_delivery(tmp_path: Path) -> None:
    """Attack (a sibling of tests/test_attack18.py's re-deliveries, which another pass closes): Mallory's
    two fresh keys make one contract naming the escrow, without bonds; one delivers its item once, and
    the other receipts that Delivery again and again, each Receipt a statement of the contract -- stamped,
    earning its issuer ESC-017 credit (one more Checkpoint each), the counterparty's first Ack of each
    the trade's witness, uncounted. Defence wanted: one contract carries a bounded number of statements
    into the escrow's transcript (what WIT-003 and CMT-001 read is one Receipt of each Delivery)."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=1))
    alice, bob = Party("mallory-a", clock), Party("mallory-b", clock)
    try:
        accept = _contract(node, escrow, alice, bob)
        delivery = bob.deliver(accept, alice, 0)
        node.submit([delivery.envelope])
        taken = 0
        for _ in range(100):
            clock.advance(10)
            receipt = alice.receipt(delivery)
            ack = bob.sign("ack", commitment_pb2.Ack(statement=receipt.digest), audience=alice.did)
            try:
                node.submit([receipt.envelope, ack.envelope])
                taken += 1
            except CoopError:
                pass
        assert taken <= 16, taken
    finally:
        node.close()


# --- 5: RPC-016, the counterparty's first Attestation: of which contract ------------------------------------


@pytest.mark.req("RPC-016", "ATT-001", "ATT-002")
def test_the_attestation_exemption_is_one_per_contract_of_ours() -> None:
    """Attack: a counterparty's first Attestation about Bob of a contract of his is uncounted (its
    trade's, ATT-015) -- and Mallory, in Bob's dealings by one contract, chooses what ``accept`` names:
    her Attestations about Bob naming statements Bob holds that are no contract (her Offer, his Accept's
    Offer, Mandates, Checkpoints) or contracts of others, each "a first" of its (issuer, accept), hoping
    each is taken uncounted. None is: ATT-001 admits only an Attestation of a co-signed contract Bob holds
    by one of its parties about the other (the rest refused ``ATTESTATION_INADMISSIBLE``, kept nowhere),
    and ATT-002 one per party and contract -- a second, later in its issuer's chain, is refused (one at
    a lower seq would displace the first, and count: not "the first" held)."""
    from test_attack16 import _contract_with

    from a2a_coop._proto.a2acoop.v1 import reputation_pb2

    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=40, per_key=1))
    _contract_with(b, bob, mallory)
    held = b.verifier.statements
    accept = next(vs for vs in held.values() if vs.body == "accept")
    offer = held[accept.statement.accept.offer]
    refused, others = 0, [d for d in list(held) if d != accept.digest]
    for digest in others:
        msg = reputation_pb2.Attestation(
            subject=bob.did, offer=offer.digest, accept=digest, outcome=reputation_pb2.OUTCOME_FULFILLED
        )
        try:
            b.exchange(mallory.sign("attestation", msg).envelope)
        except CoopError as exc:
            assert exc.requirement == "ATT-001"
            refused += 1
    assert refused == len(others) >= 3
    assert not any(vs.body == "attestation" for vs in held.values())
    first = mallory.attest(offer, accept, bob.did)
    b.exchange(first.envelope)  # the trade's: uncounted
    assert b._dealings is not None and b._dealings.counted.get(mallory.did, 0) == 0
    clock.advance(10)
    with pytest.raises(CoopError, match="ATT-002"):  # a second, later in her chain: refused
        b.exchange(mallory.attest(offer, accept, bob.did).envelope)


# --- 6: RPC-016, what an escrow's own answer to our Submit carries -----------------------------------------


@pytest.mark.req("RPC-016", "ESC-012")
def test_an_escrows_own_answer_carries_no_unbounded_stamps_of_its_own() -> None:
    """Attack: of the escrow's own answer to Bob's Submit, RPC-016 takes "any Stamp of the escrow's"
    uncounted, never skipped -- and the escrow is trusted with the bonds, not with Bob's disk
    (tests/test_attack17.py). Its answer carries, beside its real answer, a hundred Stamps of its own
    naming statements Bob never saw (its ledger's, signed for the purpose, or other parties' trades): all
    journaled uncounted, with every Submit Bob sends, up to the size of an answer. Defence wanted: of the
    escrow's own Stamps, those naming a statement Bob holds or takes from the answer, or one he submitted
    (the Submit's Stamp), ride uncounted; the rest counts as a swap he started, skipped over the quota."""
    clock = _window(FixedClock())
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=8, per_key=1)
    )
    assert e.did in b.trusted_escrows
    held = b.verifier.statements
    before = len(held)
    stamps = [e.sign("stamp", commitment_pb2.Stamp(statements=[bytes([i]) * 32])) for i in range(100)]
    b.on_replies([e.mandate_vs.envelope, *(s.envelope for s in stamps)])
    kept = len(held) - before
    assert kept <= 8, kept


# --- 7: ESC-017 (b), the parties of a Submit's negotiation, read before its statements are checked ----------


@pytest.mark.req("ESC-017", "WIT-004", "ESC-001")
def test_statements_refused_later_in_a_submit_make_no_parties_whose_acks_ride_uncounted(
    tmp_path: Path,
) -> None:
    """Attack: beside an Accept new in a Submit, an Ack naming it by "a party of its negotiation" rides
    uncounted (WIT-004's offerer's witness), the first of each key -- and the escrow reads a negotiation's
    parties from the issuer and audience of every statement of it in the Submit, before any is checked.
    Mallory's Submit: her two fresh keys' Offer naming the escrow and its Accept; then, for each of forty
    fresh keys X, X's Mandate and X's Ack of the Accept; and last, forty Withdraws of the negotiation by
    her offerer addressed to each X. The first Withdraw is refused (ESC-001 reads nothing after it), but
    every X counted as a party: forty Acks and their Mandates stamped uncounted, over a quota of 10 -- each
    Submit, without bound. Defence wanted: a party is one the negotiation's held and taken statements
    make one (its Offer's issuer and audience), not a statement the escrow has not checked."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=10, per_key=1))
    a, b = Party("mallory-a", clock), Party("mallory-b", clock)
    try:
        offer = a.offer(b, a.proposal(escrow=escrow.did))
        accept = b.accept(offer)
        middle, last = [], []
        for i in range(40):
            x, mandate = fresh_key(i, clock)
            ack = x.sign(
                "ack", commitment_pb2.Ack(statement=accept.digest), mandate=mandate.digest, audience=b.did
            )
            middle += [mandate.envelope, ack.envelope]
            withdraw = a.sign(
                "withdraw",
                trade_pb2.Withdraw(offer=offer.digest, reason="x"),
                audience=x.did,
                negotiation_id=offer.header.negotiation_id,
            )
            last.append(withdraw.envelope)
        with contextlib.suppress(CoopError):
            node.submit([*a.setup, *b.setup, offer.envelope, accept.envelope, *middle, *last])
        held = node.escrow.verifier.statements
        acks = [vs for vs in held.values() if vs.body == "ack"]
        assert len(acks) <= 10, len(acks)
    finally:
        node.close()


@pytest.mark.req("ESC-017", "NEG-017", "ESC-016")
def test_the_witness_of_a_displacing_accept_still_rides_uncounted_with_the_quota_full(tmp_path: Path) -> None:
    """The defence above reads an Accept's witness from the offer it accepts: the Stamp of a displacing
    Accept by the escrow that offer names (NEG-017) still rides uncounted, with the Mandate it cites, when
    the newcomer quota is full -- a line naming the escrow, displaced by an Accept of its first Offer that
    the other escrow K witnessed, all in one Submit."""
    from peers import line_moved_to

    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=2, per_key=1))
    p1, p2, k = Party("p1", clock), Party("p2", clock), Party("k", clock)
    try:
        for i in range(3):  # strangers fill the quota
            with contextlib.suppress(RateLimited):
                node.submit([fresh_key(i, clock)[1].envelope])
        with pytest.raises(RateLimited):
            node.submit([fresh_key(9, clock)[1].envelope])
        o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, escrow.did, bond=0)
        clock.advance(1_000)
        a0 = p2.accept(o1)
        stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
        line = [*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope]
        node.submit([*line, *k.setup, stamp.envelope, a0.envelope])
        held = node.escrow.verifier.statements
        assert {stamp.digest, a0.digest, k.mandate_vs.digest} <= set(held)
    finally:
        node.close()


# --- 8: RPC-015, RPC-016 (b), the context of a request of our dealings --------------------------------------


@pytest.mark.req("RPC-015", "RPC-016")
def test_a_request_of_our_dealings_carries_no_uncounted_mandates_naming_its_keys() -> None:
    """Attack: RPC-015 takes, of a request's context, the Mandates "whose agent is a key it names" (its
    issuer, its audience -- Bob himself --, an offer's escrow), and RPC-016 (b) counts nothing a request of
    our dealings depends on. Anyone can sign a Mandate naming any key: Mallory, in Bob's dealings by an
    open negotiation with him, sends her next statement of it with forty fresh principals' Mandates
    naming Bob, or naming her, as context -- each "what the request depends on", held provisionally and
    taken with the request, uncounted: forty journaled over a quota of 4, with every request. Defence
    wanted: of the Mandates naming a key the request names, only those the request's checks can read
    ride with it (the one its statements cite; a renewal by that key's principal); the rest count as what
    they are, for their issuer."""
    from test_attack16 import _minted_for

    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=1))
    offer = mallory.offer(bob, mallory.proposal())
    answers = [verify_statement(a) for a in b.exchange(offer.envelope, mallory.setup)]
    bobs = next(vs for vs in answers if vs.body in ("counter", "accept", "reject"))
    held = b.verifier.statements
    before = len(held)
    minted = [_minted_for(bob.did if i % 2 else mallory.did, 200 + i, clock).envelope for i in range(40)]
    clock.advance(10)
    if bobs.body == "accept":
        nxt = mallory.deliver(bobs, bob)
    else:
        nxt = mallory.withdraw(offer) if bobs.body == "reject" else mallory.accept(bobs)
    with contextlib.suppress(CoopError):
        b.exchange(nxt.envelope, minted)
    kept = [d for d in held if d in {verify_statement(m).digest for m in minted}]
    assert len(held) - before <= 1 + 4 and len(kept) <= 4, (len(held) - before, len(kept))


@pytest.mark.req("RPC-016", "RPC-015", "NEG-008")
def test_one_request_carries_no_unbounded_redeliveries_of_one_item() -> None:
    """Attack: Mallory, with one contract with Bob, sends her Delivery of her item with two hundred
    Deliveries of the same item as its context: each taken and journaled, uncounted."""
    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=1))
    answers = [verify_statement(a) for a in b.exchange(mallory.offer(bob).envelope, mallory.setup)]
    accept = next(vs for vs in answers if vs.body == "accept")
    before = len(b.verifier.statements)
    context = []
    for _ in range(200):
        clock.advance(1)
        context.append(mallory.deliver(accept, bob, 0).envelope)
    clock.advance(1)
    with contextlib.suppress(CoopError):
        b.exchange(mallory.deliver(accept, bob, 0).envelope, context)
    assert len(b.verifier.statements) - before <= 16


# --- 9: RPC-016, the dealings' base count at a peer, bought with unbonded contracts ------------------------


@pytest.mark.req("RPC-016", "RPC-017", "ATT-018")
def test_unbonded_contracts_with_fresh_keys_buy_no_room_beyond_the_quota() -> None:
    """Attack: Bob keeps 20 public statements an hour of keys outside his dealings (one of any key; so
    16 a key in them). Ten fresh keys of Mallory's each offer Bob terms his strategy accepts, without
    bonds (RPC-017's budget takes ten newcomer Offers), which puts each key and its principal in his
    dealings for good; each key then sends Checkpoints, one at each next seq of its chain: 16 a key and
    its credit, some 180 journaled in the hour over a quota of 20 -- and as many each hour, for good."""
    from test_attack16 import _contract_with

    clock = _window(FixedClock())
    bob = Party("bob", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=20, per_key=1))
    held = b.verifier.statements
    taken = 0
    for i in range(10):
        mallory = Party(f"mallory-{i}", clock)
        _contract_with(b, bob, mallory)
        signed = [d for d, vs in held.items() if vs.issuer == mallory.did]
        for _ in range(20):
            cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
            try:
                b.exchange(cp.envelope)
            except RateLimited:
                mallory.agent.writer.next_seq -= 1
                mallory.agent.writer.prev = signed[-1]
                continue
            signed.append(cp.digest)
            taken += 1
    assert taken <= 20 + 10 * 2, taken


@pytest.mark.req("RPC-015", "RPC-017")
def test_a_request_of_our_dealings_opens_no_negotiations_past_the_budget_in_its_context() -> None:
    """Attack: RPC-015 takes, once a request passes, the other statements of its context addressed to us
    (an Accept of our offer handed over with an Ack) -- an opening Offer addressed to Bob is one. Mallory,
    in Bob's dealings by a contract, sends her Delivery with twenty fresh keys' opening Offers to Bob as
    its context, hoping a request of the dealings carries them past RPC-017's budget (4 here). It does
    not: an opening Offer among a request's context counts as one given as the request, and past the
    budget the exchange is refused ``RATE_LIMITED``."""
    from a2a_coop.runtime.strangers import NewcomerOffers

    clock = _window(FixedClock())
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(
        bob,
        clock,
        stranger_quota=StrangerQuota(per_period=8, per_key=1),
        newcomer_offers=NewcomerOffers(per_period=4),
    )
    answers = [verify_statement(a) for a in b.exchange(mallory.offer(bob).envelope, mallory.setup)]
    accept = next(vs for vs in answers if vs.body == "accept")
    before = len(b.verifier.negotiations.by_id)
    context = []
    for i in range(20):
        fresh = Party(f"fresh-{i}", clock)
        context += [*fresh.setup, fresh.offer(bob, fresh.proposal()).envelope]
    clock.advance(1)
    with pytest.raises(RateLimited, match="opening Offers"):
        b.exchange(mallory.deliver(accept, bob, 0).envelope, context)
    assert len(b.verifier.negotiations.by_id) - before <= 3
