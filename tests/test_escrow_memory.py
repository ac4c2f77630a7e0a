"""An escrow's bounded memory: a contract over for good leaves memory, the journal answers for it.

Every test runs :class:`~a2a_coop.runtime.node.EscrowNode` twins on the same key, clock and nonces (so
they sign the very same bytes): one forgets each contract once it is over for good and restarts by
replaying its whole journal (no snapshot), another holds everything (``forget=False``), and a third
forgets too, journals a snapshot of its memory at every tick, and restarts as after ``kill -9`` -- from
its last snapshot and the statements journaled after it (a2a_coop.runtime.snapshot). Each Submit goes to
all, and all must answer it the same -- the same envelopes, or the same refusal with the same evidence --
and end with the same ESC-015 record, before and after a restart. What is probed is what can still
arrive about a contract the escrow forgot: its statements again (RPL-002, ESC-007, ESC-008, ESC-012,
WIT-006), a claim or a revoke (CMT-005, NEG-010), an answer its Accept superseded (NEG-018, ESC-014), a
fork against its Accept by seq or by nonce (CHN-004, RPL-001, ESC-015); and after a Revoke, a claim on
an obligation it left owed, which keeps the contract in memory until its claim window closed (CMT-003).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_attack25_escrow_cut_back import _before_witness25

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol import mandate
from a2a_coop.protocol.chain import ChainSigner, ChainWriter
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, new_statement, sign_candidate, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.snapshot import META_ESCROW_SNAPSHOT
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive, service

HOUR_MS = 3_600_000
BOND = 100
TWINS = ("forgetting", "holding", "resumed")


def _node(
    path: Path, escrow: Party, clock: FixedClock, *, forget: bool, snapshot_every: int = 0
) -> EscrowNode:
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        path,
        clock=lambda: clock.now_ms,
        durability="normal",
        forget=forget,
        snapshot_every=snapshot_every,
    )
    writer = node.signer.writer
    node.signer.nonce = lambda: derive(f"escrow nonce {writer.next_seq}", 16)  # the same bytes in both twins
    return node


class Twins:
    """Escrow nodes on one key: ``forgetting`` forgets what is over for good, ``holding`` does not,
    ``resumed`` forgets and restarts from the snapshot its last tick journaled."""

    def __init__(self, directory: Path, clock: FixedClock, escrow: Party, alice: Party, bob: Party) -> None:
        self.directory, self.clock, self.escrow = directory, clock, escrow
        self.nodes = {name: self._open(name) for name in TWINS}
        self.snapshots: list[Any] = []  # those the resumed twin journaled, oldest first
        for party in (alice, bob):
            self.each(lambda node, party=party: node.deposit(party.did, 10_000).envelope)
        self.submit(alice.mandate_vs, bob.mandate_vs)

    def _open(self, name: str) -> EscrowNode:
        return _node(
            self.directory / f"{name}.db",
            self.escrow,
            self.clock,
            forget=name != "holding",
            snapshot_every=1 if name == "resumed" else 0,
        )

    @property
    def forgetting(self) -> EscrowNode:
        return self.nodes["forgetting"]

    @property
    def holding(self) -> EscrowNode:
        return self.nodes["holding"]

    def each(self, call: Any) -> Any:
        """``call(node)`` on both twins: the same outcome -- a value, or a refusal with its code and
        evidence -- and the same ESC-015 record afterwards. Returns the outcome."""
        outcomes = [_outcome(call, node) for node in self.nodes.values()]
        assert all(outcome == outcomes[0] for outcome in outcomes)
        forked = [node.escrow.forked_accepts for node in self.nodes.values()]
        assert all(f == forked[0] for f in forked)
        return outcomes[0]

    def submit(self, *statements: VerifiedStatement | bytes) -> Any:
        envelopes = [s if isinstance(s, bytes) else s.envelope for s in statements]
        return self.each(lambda node: node.submit(envelopes))

    def tick(self) -> Any:
        ticked = self.each(lambda node: [vs.envelope for vs in node.tick()])
        taken = self.nodes["resumed"].journal.get_meta(META_ESCROW_SNAPSHOT)
        if taken is not None and taken not in self.snapshots:
            self.snapshots.append(taken)
        return ticked

    def restart(self) -> None:
        for name, node in self.nodes.items():
            if name == "resumed" and self.snapshots:
                # As after kill -9 (no snapshot at close), from the first snapshot it journaled: it goes on
                # by replaying every statement journaled since.
                node.journal.put_meta(META_ESCROW_SNAPSHOT, self.snapshots[0])
                node.journal.close()
            else:
                node.close()
            self.nodes[name] = self._open(name)
        if self.snapshots:
            resumed = self.nodes["resumed"]
            assert resumed.resumed_from == self.snapshots[0][1]  # from it, not the whole journal
        assert self.forgetting.journal.get_meta(META_ESCROW_SNAPSHOT) is None

    def held(self, vs: VerifiedStatement) -> bool:
        """Whether the forgetting twin holds ``vs`` in memory (the holding twin always does)."""
        assert dict.__contains__(self.holding.escrow.verifier.statements, vs.digest)
        return dict.__contains__(self.forgetting.escrow.verifier.statements, vs.digest)


def _outcome(call: Any, node: EscrowNode) -> Any:
    try:
        return ("answered", call(node))
    except CoopError as err:
        return ("refused", type(err).__name__, err.requirement, tuple(err.evidence or ()))


@pytest.fixture
def parties(clock: FixedClock) -> tuple[Party, Party, Party]:
    return Party("alice", clock), Party("bob", clock), Party("escrow", clock)


@pytest.fixture
def twins(tmp_path: Path, clock: FixedClock, parties: tuple[Party, Party, Party]) -> Iterator[Twins]:
    alice, bob, escrow = parties
    pair = Twins(tmp_path, clock, escrow, alice, bob)
    yield pair
    for node in pair.nodes.values():
        node.close()


def _fulfilled(
    twins: Twins, alice: Party, bob: Party, escrow: Party
) -> tuple[VerifiedStatement, VerifiedStatement, list[VerifiedStatement]]:
    """A bonded trade, revocable, run to FULFILLED at both twins: its offer, Accept and performance."""
    proposal = alice.proposal(
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True),
    )
    offer = alice.offer(bob, proposal)
    twins.clock.advance(1_000)
    accept = bob.accept(offer)
    locked = twins.submit(offer, accept)
    assert len(locked[1]) == 4  # the Mandate, the Stamp, both BondLocks
    twins.clock.advance(1_000)
    d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
    performed = [d_alice, d_bob, bob.receipt(d_alice), alice.receipt(d_bob)]
    released = twins.submit(*performed)
    assert len(released[1]) == 4  # the Mandate, the Stamp, both Releases
    twins.tick()  # the journal holds it all durably: the forgetting twin forgets
    return offer, accept, performed


def _at_seq(party: Party, vs: VerifiedStatement, body: str, message: Any, **header: Any) -> VerifiedStatement:
    """``party`` signs another statement at ``vs``'s seq (an equivocation, CHN-004)."""
    writer = ChainWriter(party.agent.key, next_seq=vs.header.seq, prev=vs.header.prev)
    when, mandate = party.clock.now_ms, party.mandate_vs.digest
    stmt = new_statement(body, message, issued_at_ms=when, ttl_ms=5 * 60_000, mandate=mandate, **header)
    return sign_candidate(writer.stamp(stmt, nonce=derive(f"fork/{vs.digest.hex()}", 16)), party.agent.key)


@pytest.mark.req("ESC-007", "ESC-008", "ESC-012", "ESC-014", "ESC-015", "WIT-006", "RPL-001", "RPL-002")
def test_a_forgotten_contract_is_answered_as_one_held(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """A fulfilled contract leaves the forgetting twin's memory (its negotiation, its statements, our
    entries about it and their Stamps). Then, one Submit after another, both twins are shown what may
    still come about it -- and answer each the same, before and after a restart."""
    alice, bob, escrow = parties
    offer, accept, performed = _fulfilled(twins, alice, bob, escrow)
    nid = offer.header.negotiation_id
    forgetting = twins.forgetting.escrow
    assert forgetting.forgotten == 1 and nid not in forgetting.verifier.negotiations.by_id
    assert not any(twins.held(vs) for vs in (offer, accept, *performed))
    assert forgetting.open_contracts == twins.holding.escrow.open_contracts == 0
    held_after_settling = len(forgetting.verifier.statements)
    stamps_after_settling = len(forgetting.verifier.witness._stamped)

    again = alice.deliver(accept, bob)  # another Delivery of her item, after the contract settled

    def probes() -> list[Any]:
        clock.now_ms = max(clock.now_ms, offer.statement.offer.gives[0].deadline_ms + HOUR_MS)
        claim = alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="late"),
            audience=bob.did,
            negotiation_id=nid,
        )
        revoke = bob.revoke(accept, alice)
        return [
            twins.submit(offer, accept),  # the very Submit answered before (ESC-007)
            twins.submit(accept),  # ESC-008: what was signed about it
            twins.submit(offer),  # ESC-012: its Accept, after the Stamp that named it
            twins.submit(*performed[:2]),  # WIT-006: their Stamp
            twins.submit(*performed),  # ESC-007 again
            twins.submit(alice.mandate_vs, accept, performed[3]),
            twins.submit(claim),  # CMT-005: no claim once settled
            twins.submit(revoke),  # NEG-010: nor a revoke
            twins.submit(again),  # checked in its contract, brought back to memory (then held: WIT-006)
            twins.tick(),
        ]

    first = probes()
    assert nid not in forgetting.verifier.negotiations.by_id  # brought back to check, forgotten again
    assert first[6][:3] == ("refused", "IllegalTransition", "CMT-005")
    assert first[7][:3] == ("refused", "IllegalTransition", "NEG-010")
    # An answer to the offer the Accept superseded (NEG-018): skipped, answered as the offer (ESC-014).
    assert twins.submit(bob.reject(offer, "changed my mind"))[0] == "answered"
    # Bob signs another statement at his Accept's seq (CHN-004): a fork against it (ESC-015).
    fork = _at_seq(
        bob, accept, "reject", trade_pb2.Reject(offer=offer.digest), audience=alice.did, negotiation_id=nid
    )
    twins.submit(fork)
    assert accept.digest in twins.forgetting.escrow.forked_accepts
    twins.tick()
    assert nid not in forgetting.verifier.negotiations.by_id  # brought back to check, forgotten again
    assert len(forgetting.verifier.statements) == held_after_settling
    # The stamps put back to rebuild it left again (the late Delivery's, taken meanwhile, with them).
    assert len(forgetting.verifier.witness._stamped) == stamps_after_settling
    twins.restart()
    forgetting = twins.forgetting.escrow
    assert nid not in forgetting.verifier.negotiations.by_id  # forgotten as the journal is replayed
    assert nid in twins.holding.escrow.verifier.negotiations.by_id  # the other holds it all again
    assert len(forgetting.verifier.statements) == held_after_settling
    assert probes() == first


@pytest.mark.req("RPL-001", "ESC-015", "ESC-011", "ESC-014")
@pytest.mark.parametrize("carrier", ["ack", "superseded-reject", "foreign-negotiation"])
def test_a_nonce_reused_against_a_forgotten_accept_is_a_fork(
    twins: Twins, parties: tuple[Party, Party, Party], carrier: str
) -> None:
    """Bob signs another statement carrying his forgotten Accept's nonce: an Ack (no negotiation), which
    both twins refuse NONCE_REUSED with the Accept as evidence; a Reject of the accepted offer, which the
    Accept superseded (not taken, answered as the offer, ESC-014); or a statement of a negotiation that
    names no escrow (the whole Submit refused WRONG_PARTY, ESC-011). Either way both twins record the
    fork against the Accept (ESC-015), and answer the same."""
    alice, bob, escrow = parties
    offer, accept, _ = _fulfilled(twins, alice, bob, escrow)
    assert not twins.held(accept)
    nonce = accept.header.nonce
    if carrier == "ack":
        reused = bob.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=alice.did, nonce=nonce)
    elif carrier == "superseded-reject":
        reused = bob.reject(offer, "no", nonce=nonce)
    else:
        reused = bob.offer(alice, bob.proposal(), nonce=nonce)  # no escrow named
    outcome = twins.submit(reused)
    if carrier == "ack":
        assert outcome[:3] == ("refused", "NonceReused", "RPL-001")
        assert accept.envelope in outcome[3]
    elif carrier == "superseded-reject":
        assert outcome[0] == "answered"
    else:
        assert outcome[:3] == ("refused", "WrongParty", "ESC-011")
    assert accept.digest in twins.forgetting.escrow.forked_accepts


@pytest.mark.req("ESC-015", "KEY-013", "RPL-001", "ESC-001")
@pytest.mark.parametrize("carrier", ["ack", "superseded-reject"])
def test_a_nonce_reused_against_a_forgotten_accept_is_a_fork_past_an_own_revocation_holding_it(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock, carrier: str
) -> None:
    """Bob's bonded trade with Alice is shown to the escrow two days late, once its claim window closed
    (offline evidence, ESC-001; the offer open that long: WIT-004), and ruled on at once -- after a thief
    holding Bob's key had it sign the key's revocation, dated after it all (it reaches none of it: KEY-011
    (a)), with the nonce of Bob's Accept, which every twin took first (KEY-013: an own revocation holds no
    nonce). The forgetting twin forgets the contract; its journal then holds two statements of Bob's with
    that nonce, the revocation first. Bob reuses the nonce: the twin holding everything finds the Accept in
    memory and records the fork (ESC-015); the forgetting twins must find it in the journal past the
    revocation -- before, they asked it for the nonce's first statement, got the revocation, and recorded
    nothing for a statement they took (a refused one names the Accept in its NONCE_REUSED evidence)."""
    alice, bob, escrow = parties
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.offer(bob, proposal, ttl_ms=3 * DAY_MS)
    clock.advance(1_000)
    accept = bob.accept(offer)
    # Past the last deadline and its claim window: the revocation, so dated, cuts no Mandate the contract
    # needed (ESC-019).
    clock.advance(2 * DAY_MS + HOUR_MS)
    late, nonce = clock.now_ms + 20_000, accept.header.nonce  # within the skew of now
    thief = ChainSigner(bob.agent.key, clock=lambda: late, nonce=lambda: nonce, head=(40, b"\x02" * 32))
    revocation = thief.sign("key_revocation", identity_pb2.KeyRevocation(key=bob.did, effective_ms=1))
    assert twins.submit(revocation)[0] == "answered"
    taken = twins.submit(offer, accept)
    settled = ["bond_lock", "bond_lock", "ruling", "refund", "refund"]  # its claim window closed: at once
    assert [verify_statement(env).body for env in taken[1]][2:] == settled
    twins.tick()  # the journal holds it all durably: the forgetting twin forgets
    assert twins.forgetting.escrow.forgotten == 1 and not twins.held(accept)
    journal = twins.forgetting.journal
    assert journal.by_nonce(bob.did, nonce) == revocation.digest  # the journal's first with the nonce
    if carrier == "ack":
        reused = bob.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=alice.did, nonce=nonce)
    else:
        reused = bob.reject(offer, "no", nonce=nonce)
    assert reused.issued_at_ms < late and reused.seq < revocation.seq  # the revocation reaches it not
    first = twins.submit(reused)
    if carrier == "ack":
        assert first[:3] == ("refused", "NonceReused", "RPL-001")
        assert accept.envelope in first[3]
    else:
        assert first[0] == "answered"
    assert accept.digest in twins.holding.escrow.forked_accepts
    assert accept.digest in twins.forgetting.escrow.forked_accepts  # Twins.each: in every twin alike
    twins.restart()
    assert accept.digest in twins.forgetting.escrow.forked_accepts  # rebuilt from the journal alike
    assert twins.submit(reused)[0] == first[0]


@pytest.mark.req("ESC-006")
def test_ledger_and_transcript_of_forgotten_contracts_come_from_the_journal(
    twins: Twins, parties: tuple[Party, Party, Party]
) -> None:
    """GetLedger and GetTranscript pages are the same at both twins, whatever they forgot."""
    alice, bob, escrow = parties
    for _ in range(3):
        _fulfilled(twins, alice, bob, escrow)
    assert twins.forgetting.escrow.forgotten == 3
    size = twins.holding.escrow.ledger_size
    for start, limit in [(0, 1000), (0, 4), (3, 5), (size - 2, 10), (size + 5, 10)]:
        twins.each(lambda node, start=start, limit=limit: node.get_ledger(start, limit))
        twins.each(lambda node, start=start, limit=limit: node.get_transcript(start, limit, 1 << 20))
        twins.each(lambda node, start=start, limit=limit: node.get_transcript(start, limit, 2_000))
    assert twins.forgetting.escrow.transcript() == twins.holding.escrow.transcript()


@pytest.mark.req("CMT-003", "CMT-005", "CMT-002")
@pytest.mark.parametrize("claimed", [True, False])
def test_a_revoked_contract_stays_until_no_claim_can_come(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock, claimed: bool
) -> None:
    """Both items due in an hour are delivered and receipted; a third, Alice's, is due in two days.
    Bob revokes (no notice) after the first deadline: what was due stays owed, all of it receipted, so
    both bonds are released at once and the contract is settled -- but a claim on an owed item may
    still be taken until its deadline plus the claim window (CMT-005), so the forgetting twin keeps the
    contract until then. A claim in that window is taken and ruled the same by both twins."""
    alice, bob, escrow = parties
    soon, later = clock.now_ms + HOUR_MS, clock.now_ms + 2 * DAY_MS
    proposal = alice.proposal(
        gives=[
            service("code-review", value=300, deadline_ms=soon),
            service("report", value=200, deadline_ms=later),
        ],
        wants=[service("copy-editing", value=450, deadline_ms=soon)],
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True),
    )
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    twins.submit(offer, accept)
    clock.advance(1_000)
    d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
    twins.submit(d_alice, d_bob, bob.receipt(d_alice), alice.receipt(d_bob))
    clock.now_ms = soon + HOUR_MS
    nid = offer.header.negotiation_id
    revoke = bob.revoke(accept, alice)
    answer = twins.submit(revoke)
    assert answer[0] == "answered" and len(answer[1]) == 4  # the Mandate, the Stamp, both Releases
    forgetting = twins.forgetting.escrow
    assert forgetting.verifier.negotiations.get(nid).state is State.REVOKED
    assert forgetting.open_contracts == 0
    twins.tick()
    assert nid in forgetting.verifier.negotiations.by_id and forgetting.forgotten == 0  # a claim may come
    if claimed:
        clock.advance(HOUR_MS)
        claim = alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="poor"),
            audience=bob.did,
            negotiation_id=nid,
        )
        assert twins.submit(claim)[0] == "answered"
        assert forgetting.open_contracts == 1
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        ruled = twins.tick()
        assert ruled[0] == "answered" and ruled[1]  # the ruling (a timely delivery is held: DISMISS)
        assert forgetting.open_contracts == 0
    clock.now_ms = soon + CLAIM_WINDOW_MS
    twins.tick()
    assert nid in forgetting.verifier.negotiations.by_id  # the window's last instant: still held
    clock.advance(1)
    twins.tick()  # the claim window closed: handed back, then forgotten
    twins.tick()
    assert nid not in forgetting.verifier.negotiations.by_id and forgetting.forgotten == 1
    twins.submit(offer, accept)
    twins.submit(revoke)


@pytest.mark.req("ESC-013", "ESC-014", "WIT-004", "ESC-007", "WIT-006")
def test_an_offer_shown_and_rejected_leaves_once_no_accept_can_be_recognised(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """Alice shows the escrow her bonded offer and Bob's Reject (ESC-013). No contract: the forgetting
    twin keeps the negotiation until no Accept of the offer could be recognised by its clock (the offer's
    bonding cutoff plus the tolerance), then forgets it. Bob's Accept of the offer after that (dated in
    time) and the showing again get the same answers from both twins, before and after a restart."""
    alice, bob, escrow = parties
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    late_accept = bob.accept(offer)  # signed in time, shown after the Reject was taken
    reject = bob.reject(offer, "not now")
    twins.submit(offer, reject)
    nid = offer.header.negotiation_id
    forgetting = twins.forgetting.escrow
    clock.now_ms = offer.header.expires_at_ms + 60_000  # the cutoff plus the tolerance: the last instant
    twins.tick()
    assert nid in forgetting.verifier.negotiations.by_id
    clock.advance(1)
    twins.tick()
    twins.tick()
    assert nid not in forgetting.verifier.negotiations.by_id and not twins.held(offer)

    def probes() -> list[Any]:
        return [twins.submit(offer, reject), twins.submit(offer), twins.submit(late_accept), twins.tick()]

    first = probes()
    # the offer closed by the Reject (step 28) before the escrow's own WIT-004 (ERR-002)
    assert first[2][:3] == ("refused", "IllegalTransition", "NEG-001")
    twins.restart()
    assert nid not in twins.forgetting.escrow.verifier.negotiations.by_id
    assert nid in twins.holding.escrow.verifier.negotiations.by_id
    assert probes() == first


@pytest.mark.req("WIT-004", "WIT-002", "ESC-012", "ESC-010")
def test_an_accept_the_offerer_acked_in_time_binds_after_the_offer_was_forgotten(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """Alice shows the escrow her unanswered bonded offer, and -- before it expires -- her Ack of Bob's
    Accept (the Accept itself not shown). Past the cutoff the forgetting twin forgets the negotiation;
    then Bob shows the Accept: the Ack witnessed it in time (WIT-004), so both twins recognise the
    contract, reading the negotiation back as it was taken -- and, past its bonding cutoff with no bond
    locked, rule it LAPSE at once (ESC-010). Then it is settled, and forgotten again."""
    alice, bob, escrow = parties
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(offer)
    ack = alice.sign("ack", commitment_pb2.Ack(statement=accept.digest), audience=bob.did)
    twins.submit(offer)
    twins.submit(ack)
    nid = offer.header.negotiation_id
    clock.now_ms = offer.header.expires_at_ms + 60_001
    twins.tick()
    twins.tick()
    forgetting = twins.forgetting.escrow
    assert nid not in forgetting.verifier.negotiations.by_id and forgetting.forgotten == 1
    answer = twins.submit(accept)
    assert answer[0] == "answered" and len(answer[1]) == 3  # the Mandate, the Stamp, the Ruling
    neg = forgetting.verifier.negotiations.get(nid)
    assert neg.contract is not None and neg.state is State.EXPIRED
    twins.tick()
    assert nid not in forgetting.verifier.negotiations.by_id and forgetting.forgotten == 2
    twins.submit(offer)  # ESC-012: the Accept and what was signed about it
    twins.restart()
    twins.submit(offer, accept)


@pytest.mark.req("RPC-004")
def test_a_contract_is_forgotten_only_once_what_settled_it_is_durable(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """Write-ahead: the Submit that settles a contract is held at its journal commit (another thread);
    meanwhile the escrow's clock ticks, and the contract -- its Releases not yet durable, so not yet
    in the journal it would be read back from -- stays in memory. Once the commit is through, the next
    tick forgets it."""
    alice, bob, escrow = parties
    node = twins.forgetting
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    accept = bob.accept(offer)
    node.submit([offer.envelope, accept.envelope])
    d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
    performed = [d_alice, d_bob, bob.receipt(d_alice), alice.receipt(d_bob)]
    journal = node.journal
    commit, held_back, entered = journal._commit, threading.Event(), threading.Event()

    def slow_commit(batch: Any) -> None:
        entered.set()
        held_back.wait(10)
        commit(batch)

    journal._commit = slow_commit  # type: ignore[method-assign]
    worker = threading.Thread(target=node.submit, args=([vs.envelope for vs in performed],))
    worker.start()
    assert entered.wait(10)
    nid = offer.header.negotiation_id
    try:
        node.tick()
        assert nid in node.escrow.verifier.negotiations.by_id and node.escrow.forgotten == 0
    finally:
        held_back.set()
        worker.join(10)
        journal._commit = commit  # type: ignore[method-assign]
    node.tick()
    assert nid not in node.escrow.verifier.negotiations.by_id and node.escrow.forgotten == 1


@pytest.mark.req("ESC-011", "ESC-014", "WIT-004", "ESC-007")
def test_a_line_that_moved_to_another_escrow_leaves_once_no_accept_can_be_recognised(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """Alice offers Bob bonded terms naming the escrow; Bob counters naming another escrow K, and Alice
    accepts the Counter: the contract is K's. Shown the line (ESC-013), the escrow took it and kept it
    for good -- fresh keys, which cost nothing, showing it such lines grew its memory without bound. Now
    the forgetting twin lets it go once no Accept of the offer naming it could be recognised (its cutoff
    plus the tolerance), and both twins answer alike before and after a restart: the line shown again, a
    late Accept of the first offer, signed in time."""
    alice, bob, escrow = parties
    k = Party("k", clock)
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    late_accept = bob.accept(offer)  # signed in time, shown after the Counter was taken
    mine = offer.statement.offer
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    theirs.terms.escrow = k.did
    counter = bob.counter(offer, theirs)
    clock.advance(1_000)
    accept = alice.accept(counter)
    twins.submit(offer, counter, accept)
    nid = offer.header.negotiation_id
    forgetting = twins.forgetting.escrow
    assert forgetting.verifier.negotiations.get(nid).contract.escrow == k.did
    clock.now_ms = offer.header.expires_at_ms + 60_000
    twins.tick()
    assert nid in forgetting.verifier.negotiations.by_id
    clock.now_ms = max(offer.header.expires_at_ms, counter.header.expires_at_ms) + 60_001
    twins.tick()
    twins.tick()
    assert nid not in forgetting.verifier.negotiations.by_id and not twins.held(accept)

    def probes() -> list[Any]:
        return [twins.submit(offer, counter, accept), twins.submit(late_accept), twins.tick()]

    first = probes()
    assert first[1][0] == "refused"
    twins.restart()
    assert nid not in twins.forgetting.escrow.verifier.negotiations.by_id
    assert probes() == first


@pytest.mark.req("MND-005", "ESC-015")
def test_an_escrows_forgotten_exposure_records_go_to_its_journal_and_count_the_same_after_a_restart(
    twins: Twins, parties: tuple[Party, Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escrow's exposure books (one a Mandate, SPEC 4.5) keep a settled contract's records counting on;
    with one kept in memory (FORGOTTEN_KEPT 1) the forgetting twins write the older ones to their journals'
    forgotten table. Expect rows there; outstanding and the period's committed value, at every place a
    trade's statement had, the same as the holding twin's (which keeps every record in memory), and the
    same again after a restart -- replaying the journal, or from a snapshot and what came after it."""
    monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 1)
    alice, bob, escrow = parties
    sent = [vs for _ in range(6) for vs in _fulfilled(twins, alice, bob, escrow)[1:2]]
    places = {(vs.issued_at_ms + dt, seq) for vs in sent for dt in (-1, 0, 1) for seq in (vs.seq, None)}

    def counts(node: EscrowNode) -> dict[tuple[bytes, int, int | None], tuple[int, int]]:
        return {
            (digest, t, seq): (exp.outstanding(t, seq=seq), exp.committed(exp.period_of(t), t, seq=seq))
            for digest, exp in node.escrow.verifier.exposure.by_mandate.items()
            for t, seq in places
        }

    def rows(node: EscrowNode) -> int:
        return int(node.journal._read("SELECT count(*) FROM forgotten", ())[0])

    expected = counts(twins.holding)
    assert any(out for out, _ in expected.values())  # some place is before a contract's ending
    assert rows(twins.holding) == 0
    for name in ("forgetting", "resumed"):
        node = twins.nodes[name]
        assert rows(node) > 0
        exposures = node.escrow.verifier.exposure.by_mandate.values()
        assert all(len(exp._frozen) <= 2 for exp in exposures)
        assert counts(node) == expected
    twins.restart()
    for name in TWINS:
        assert counts(twins.nodes[name]) == expected
    assert rows(twins.forgetting) > 0


def _kept_for(node: EscrowNode) -> dict[str, int]:
    """What the escrow keeps in memory per contract: negotiations, Accepts by offer and by nonce (ESC-012,
    ESC-015), bond records, and its exposures' records outside the forgotten ones (``_frozen``, bounded by
    FORGOTTEN_KEPT: the older ones are in the journal)."""
    e = node.escrow
    exposures = e.verifier.exposure.by_mandate.values()
    assert all(len(exp._frozen) <= 2 * mandate.FORGOTTEN_KEPT for exp in exposures)
    return {
        "negotiations": len(e.verifier.negotiations.by_id),
        "accepts": len(e._accept_of) + len(e._accept_nonces),
        "bonds": len(e._book.bonds),
        "exposure": sum(
            len(sweep.items) + len(exp.answered_offers) + len(exp.finished_contracts)
            for exp in exposures
            for sweep in (exp._answered, exp._contracts, exp._displaced)
        ),
    }


@pytest.mark.req("ESC-016", "NEG-021", "ESC-012", "ESC-007")
def test_contracts_a_lower_answer_cut_back_leave_the_escrows_memory_and_are_answered_as_held(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESC-016 (d), NEG-021 read as before (d): Bob offers Alice terms naming no escrow; she keeps a Reject
    of it back, counters naming the escrow with both bonds, Bob accepts, the escrow locks both bonds, and
    her kept Reject cuts the line back -- the escrow refunds both. The negotiation left memory once no
    Accept could be recognised, but each cut-back left its Accept by offer and by nonce, both bond records
    and, in the escrow's verifier, the displaced contract and the cut-off Counter in its exposures: grown by
    them for good, a pair of keys paying two signatures a round. Now after 4 cut-backs and after 8 the
    forgetting twin keeps the same, and it answers each line's Counter, Accept and Reject again, and after a
    restart, as the twin that holds everything does (ESC-012's Accept and signed news included). NEG-021 is
    read as before (d), under which ESC-016 (d)'s refund is owed (test_attack25_escrow_cut_back)."""
    _before_witness25(monkeypatch)
    monkeypatch.setattr(mandate, "FORGOTTEN_KEPT", 1)
    alice, bob, escrow = parties
    lines: list[tuple[VerifiedStatement, ...]] = []

    def cut_back() -> tuple[VerifiedStatement, ...]:
        offer = bob.offer(alice, bob.proposal())
        clock.advance(1_000)
        kept = alice.reject(offer, "kept back")
        clock.advance(1_000)
        counter = alice.counter(
            offer, alice.proposal(escrow=escrow.did, issuer_bond=BOND, audience_bond=BOND)
        )
        clock.advance(1_000)
        accept = bob.accept(counter)
        clock.advance(1_000)
        locked = twins.submit(offer, counter, accept)
        assert [verify_statement(env).body for env in locked[1]][-3:] == ["stamp", "bond_lock", "bond_lock"]
        refunded = twins.submit(kept)  # the attack happened: the line cut back, both bonds refunded
        assert [verify_statement(env).body for env in refunded[1]][-3:] == ["stamp", "refund", "refund"]
        return counter, accept, kept

    kept: list[dict[str, int]] = []
    for n in (4, 8):
        while len(lines) < n:
            lines.append(cut_back())
        clock.advance(DAY_MS)  # past every offer's cutoff plus the tolerance: no Accept is recognised
        twins.tick()
        twins.tick()
        kept.append(_kept_for(twins.forgetting))
    assert kept[0] == kept[1], kept
    assert kept[1]["negotiations"] == kept[1]["accepts"] == kept[1]["bonds"] == 0
    assert twins.forgetting.escrow.forgotten >= 8

    def probes() -> list[Any]:
        return [twins.submit(vs) for line in lines for vs in line]

    first = probes()
    assert all(outcome[0] == "answered" for outcome in first)
    twins.restart()
    assert probes() == first
