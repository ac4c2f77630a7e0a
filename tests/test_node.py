"""PeerNode on a real journal: its read calls (GetLog, GetCheckpoint, GetAttestations, SPEC.md 13.5)
and its escrow witness."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from peers import bonded_proposal, escrow_node, make_peer, peer_node, witnessed_node

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, service_pb2, trade_pb2
from a2a_coop.protocol import errors, identity, merkle
from a2a_coop.protocol.envelope import ParsedEnvelope
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime import node as node_module
from a2a_coop.runtime.journal import Journal, JournalError, JournalKindMismatch
from a2a_coop.runtime.node import MAX_SUBMIT_ATTEMPTS, EscrowWitness, PeerNode, sign_mandate
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import DeliveryView, WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, contract_evidence, relay_escrow_answers
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive
from a2a_coop.transport import CooperationClient, TransportError, serve
from a2a_coop.transport.limits import PeerLimits
from a2a_coop.transport.server import MAX_GOSSIP_ITEMS


@pytest.fixture
def traded(tmp_path: Path) -> tuple[Party, Party, Peer, PeerNode, FixedClock]:
    """Alice (in memory) trades with Bob (a PeerNode with a journal) once, to FULFILLED."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    counter = itertools.count()
    pa = Peer(
        alice.agent.key,
        alice.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"n/a/{next(counter)}", 16),
    )
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    offer = pa.propose(node.peer.did, alice.proposal())
    drive(pa, node.exchange, offer)
    return alice, bob, pa, node, clock


@pytest.mark.req("CHN-007")
def test_checkpoint_commits_to_every_statement_of_the_chain(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Bob signs a checkpoint after a trade; expect a valid Checkpoint at his next seq whose log_root is
    the RFC 6962 root of the digests of all his earlier statements, with an inclusion proof for each."""
    _, _, _, node, _ = traded
    seq_before = node.peer.writer.next_seq
    checkpoint = verify_statement(node.get_checkpoint())
    assert checkpoint.body == "checkpoint" and checkpoint.header.seq == seq_before
    own = [verify_statement(e).digest for e in node.journal.log_range(node.peer.did, 0, seq_before)]
    root = checkpoint.statement.checkpoint.log_root
    assert len(own) == seq_before and root == merkle.root(own)
    for i, digest in enumerate(own):
        assert merkle.verify_inclusion(digest, i, len(own), merkle.inclusion_proof(own, i), root)


@pytest.mark.req("CHN-007")
def test_checkpoint_is_signed_again_only_when_the_chain_moved_or_it_grows_stale(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """GetCheckpoint is unauthenticated: a thousand calls must not make Bob sign (and fsync) a thousand
    statements. Expect the same Checkpoint while it is his chain's head and fresh; a new one once he has
    signed something since, or once it has less than an hour left."""
    alice, _, pa, node, clock = traded
    first = node.get_checkpoint()
    assert all(node.get_checkpoint() == first for _ in range(3))
    seq = node.peer.writer.next_seq
    offer = pa.propose(node.peer.did, alice.proposal())
    drive(pa, node.exchange, offer)
    assert node.peer.writer.next_seq > seq
    moved = node.get_checkpoint()
    assert moved != first and verify_statement(moved).header.seq == node.peer.writer.next_seq - 1
    clock.now_ms = verify_statement(moved).header.expires_at_ms - 3_600_000
    assert node.get_checkpoint() != moved


def test_log_serves_public_statements_only(traded: tuple[Party, Party, Peer, PeerNode, FixedClock]) -> None:
    """A caller reads Bob's log without authenticating; expect only his public statements (the
    checkpoint), not the ones addressed to Alice, and the true head seq."""
    _, _, _, node, _ = traded
    node.get_checkpoint()
    envelopes, head = node.get_log(0, 100)
    assert [verify_statement(e).body for e in envelopes] == ["checkpoint"]
    assert head == node.peer.writer.next_seq - 1


def test_a_log_page_of_private_statements_says_where_to_read_on(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Bob's chain: his Accept, Delivery and Receipt to Alice (private), then a Checkpoint (public). A
    page of 2 seqs from 0 holds nothing a stranger may see, though the Checkpoint remains: a client that
    paged on from the last seq returned + 1 stopped there. Over gRPC the page now says where the next
    one starts (next_seq, SPEC 13.5), and CooperationClient.read_log reads the whole public log."""
    _, _, _, node, _ = traded
    checkpoint = node.get_checkpoint()
    seq = verify_statement(checkpoint).header.seq
    assert seq >= 3
    with serve(node, None) as server, CooperationClient(server.target, timeout_s=10) as client:
        first = client.stub.GetLog(service_pb2.GetLogRequest(from_seq=0, limit=2))
        assert (list(first.envelopes), first.head_seq, first.next_seq) == ([], seq, 2)
        last = client.stub.GetLog(service_pb2.GetLogRequest(from_seq=seq, limit=2))
        assert (list(last.envelopes), last.next_seq) == ([checkpoint], seq + 1)
        past = client.stub.GetLog(service_pb2.GetLogRequest(from_seq=seq + 5, limit=2))
        assert (list(past.envelopes), past.next_seq) == ([], seq + 5)
        assert client.read_log() == [checkpoint]


def test_log_from_a_seq_past_sqlite_integers_is_empty_not_an_overflow(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """GetLog(from_seq >= 2^63) once raised OverflowError from SQLite (INTERNAL on the wire; the
    transport now refuses it, RPC-011). A direct caller of the node gets an empty page and the head."""
    _, _, _, node, _ = traded
    assert node.get_log(2**63, 10) == ([], node.peer.writer.next_seq - 1)
    assert node.get_log(2**64 - 1, 10)[0] == []


@pytest.mark.parametrize("calls", [200])
def test_an_anonymous_checkpoint_flood_does_not_grow_the_journal(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock], calls: int
) -> None:
    """Anyone may call GetCheckpoint; a flood once signed and journaled one Checkpoint per call (183 rows
    in 20 s). Expect at most one new statement for the whole flood while the chain does not move."""
    _, _, _, node, _ = traded

    def rows() -> int:
        return sum(1 for _ in node.journal.statements())

    before = rows()
    answers = {node.get_checkpoint() for _ in range(calls)}
    assert len(answers) == 1 and rows() == before + 1


@pytest.mark.req("ATT-001")
def test_attestations_come_with_the_contract_they_rest_on(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Alice attests Bob's performance and sends it to him; expect GetAttestations(bob) to return a bundle
    (mandates, offer, accept, attestation) that verifies offline on its own, admissibility included."""
    alice, _, pa, node, _ = traded
    neg = next(iter(pa.verifier.negotiations.by_id.values()))
    contract = neg.contract
    assert contract is not None
    attestation = pa.sign("attestation", _attestation(contract.offer.digest, contract.id, node.peer.did))
    node.exchange(attestation.envelope, pa.send_context())
    bundles, next_page = node.get_attestations(node.peer.did)
    assert len(bundles) == 1 and next_page == ""
    report = verify_transcript(bundles[0])
    assert report.valid, report.error
    assert report.statements[-1].digest == attestation.digest
    assert node.get_attestations(alice.did) == ([], "")


def _attestation(offer: bytes, accept: bytes, subject: str) -> object:
    from a2a_coop._proto.a2acoop.v1 import reputation_pb2

    return reputation_pb2.Attestation(
        subject=subject, offer=offer, accept=accept, outcome=reputation_pb2.OUTCOME_FULFILLED
    )


class Receiptless(WithholdingStrategy):
    """An initiator bent on a bond: delivers nothing, receipts nothing."""

    def rate(self, delivery: DeliveryView) -> int | None:
        return None


@pytest.mark.req("WIT-002", "WIT-003", "WIT-007", "CMT-002")
def test_escrow_witness_stamps_the_deliveries_the_initiator_never_submits(tmp_path: Path) -> None:
    """Bob serves with an escrow witness. Alice has their bonded contract locked, takes Bob's
    Delivery without a Receipt (her peer never acks answers) and never sends it to the escrow, then
    claims after the deadline that he never delivered. The witness had the escrow stamp it as Bob
    signed it: the escrow dismisses the claim, citing it."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    pa = make_peer(alice, clock, context=[escrow.mandate], strategy=Receiptless(every=1))
    node = witnessed_node(bob, clock, escrow, tmp_path / "bob.db")
    try:
        offer = pa.propose(bob.did, alice.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did))
        drive(pa, node.exchange, offer)
        neg = pa.negotiation(offer.header.negotiation_id)
        relay_escrow_answers(pa, node, escrow.submit(contract_evidence(pa, neg)))  # type: ignore[arg-type]
        node.witness.flush()  # type: ignore[union-attr]
        held = pa.verifier.statements.values()
        delivery = next(vs for vs in held if vs.body == "delivery" and vs.issuer == bob.did)
        assert neg.state is State.PERFORMING and not neg.contract.receipted  # type: ignore[union-attr]
        assert escrow.escrow.verifier.witness.stamp_time(escrow.did, delivery.digest) == clock.now_ms
        clock.advance(DAY_MS + 60_000)
        escrow.submit([claim_breach(pa, neg, 0, "bob never delivered (a lie)").envelope])
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
        ruling = verify_statement(escrow.tick()[0]).statement.ruling
        assert ruling.decision == commitment_pb2.RULING_DECISION_DISMISS
        assert ruling.evidence == delivery.digest
    finally:
        node.close()


class Unreachable:
    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")


def test_an_unreachable_escrow_witness_never_breaks_an_exchange(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bob's witness cannot reach its escrow: his answers (Accept and Delivery of an unbonded contract
    naming that escrow) go out all the same, and the failure is logged."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    pa = make_peer(alice, clock, context=[escrow.mandate_vs.envelope])
    witness = EscrowWitness(Unreachable(), escrow.did)
    node = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        context=[escrow.mandate_vs.envelope],
        clock=lambda: clock.now_ms,
        witness=witness,
    )
    try:
        offer = pa.propose(bob.did, alice.proposal(escrow=escrow.did))
        answers = node.exchange(offer.envelope, pa.send_context())
        assert [verify_statement(a).body for a in answers] == ["mandate", "accept", "delivery"]
        witness.flush()
    finally:
        node.close()
    assert "escrow witness: submit of 5 envelopes failed" in caplog.text


def test_a_submit_of_one_envelope_is_logged_in_the_singular(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The escrow logs each Submit, the witness each failed one: "submit of 1 envelope", not "1
    envelopes" (a newcomer's finding), and the plural from two on."""
    from a2a_coop.cli._runtime import LoggedEscrow

    assert [node_module.envelope_count(n) for n in (0, 1, 2)] == ["0 envelopes", "1 envelope", "2 envelopes"]
    clock = FixedClock()
    alice, escrow = Party("alice", clock), Party("escrow", clock)
    node = escrow_node(escrow, clock, tmp_path / "escrow.db")
    try:
        with caplog.at_level("INFO"):
            LoggedEscrow(node).submit([alice.mandate_vs.envelope])
            LoggedEscrow(node).submit([alice.mandate_vs.envelope, escrow.mandate_vs.envelope])
    finally:
        node.close()
    assert "submit of 1 envelope -> " in caplog.text and "submit of 2 envelopes -> " in caplog.text
    assert "1 envelopes" not in caplog.text


def test_a_served_nodes_log_lines_check_no_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``a2a-coop escrow serve`` named what a Submit signed by verifying each answer again (eight signature
    checks a bonded trade, RELIABILITY.md, twenty-sixth session), with its line not logged too. Expect a
    bonded trade through the CLI's logged handlers to check no signature beyond the nodes' own, and, at
    INFO, their lines to name the answers' bodies; at WARNING, no line and still no check."""
    from a2a_coop.cli._runtime import LoggedEscrow, LoggedPeer
    from a2a_coop.protocol import envelope as envelope_module
    from a2a_coop.runtime import trade

    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = escrow_node(e, clock, tmp_path / "escrow.db")
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    counts = {"checks": 0, "handlers": 0, "nodes": 0}
    real_verify = envelope_module.ed25519_verify

    def counting_verify(*args: Any) -> Any:
        counts["checks"] += 1
        return real_verify(*args)

    def counted(call: Callable[..., Any], into: str) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            before = counts["checks"]
            try:
                return call(*args)
            finally:
                counts[into] += counts["checks"] - before

        return run

    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        peer, submitter = LoggedPeer(node), LoggedEscrow(escrow)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(envelope_module, "ed25519_verify", counting_verify)
            mp.setattr(node, "exchange", counted(node.exchange, "nodes"))
            mp.setattr(escrow, "submit", counted(escrow.submit, "nodes"))
            mp.setattr(peer, "exchange", counted(peer.exchange, "handlers"))
            mp.setattr(submitter, "submit", counted(submitter.submit, "handlers"))
            for level in ("INFO", "WARNING"):
                counts.update(handlers=0, nodes=0)
                caplog.clear()
                with caplog.at_level(level, logger="a2a_coop.serve"):
                    neg = trade.run_trade(a, peer, bob.did, bonded_proposal(alice, e.did), escrow=submitter)
                assert a.negotiation(neg.id).state is State.FULFILLED
                assert counts["nodes"] >= 10  # what Bob and the escrow took, each checked once
                assert counts["handlers"] == counts["nodes"], counts
                lines = [r.getMessage() for r in caplog.records if r.name == "a2a_coop.serve"]
                if level == "INFO":
                    assert "submit of 4 envelopes -> stamp, bond_lock, bond_lock" in lines, lines
                    assert any(line.endswith(" -> mandate, accept") for line in lines), lines
                else:
                    assert lines == []
                clock.advance(10_000)
    finally:
        node.close()
        escrow.close()


class Flaky:
    """An escrow that fails the first ``failures`` Submits with ``error``, then takes them."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.calls: list[list[bytes]] = []

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.calls.append(list(envelopes))
        if len(self.calls) <= self.failures:
            raise self.error
        return []


def _calls_after(escrow: Flaky, want: int, within_s: float = 10.0) -> int:
    give_up = time.monotonic() + within_s
    while len(escrow.calls) < want and time.monotonic() < give_up:
        time.sleep(0.01)
    return len(escrow.calls)


@pytest.mark.parametrize(
    "error",
    [
        TransportError(grpc.StatusCode.UNAVAILABLE, "escrow restarting"),
        errors.RateLimited("slow down", retry_after_ms=20),
    ],
)
def test_the_witness_submits_again_what_the_escrow_did_not_take(error: Exception) -> None:
    """A Delivery counts as timely only once the escrow witnessed it by the deadline (WIT-003): an
    escrow down for a moment, or rate limiting us, must not cost the responder its proof."""
    escrow = Flaky(2, error)
    witness = EscrowWitness(escrow, "did:key:escrow", retry_s=0.01)
    try:
        witness.submit([b"delivery"])
        assert _calls_after(escrow, 3) == 3
        assert escrow.calls == [[b"delivery"]] * 3
        time.sleep(0.1)
        assert len(escrow.calls) == 3, "taken: not submitted again"
    finally:
        witness.close()


def test_the_witness_does_not_resubmit_what_the_escrow_refused() -> None:
    escrow = Flaky(10, errors.RequestInvalid("not evidence"))
    witness = EscrowWitness(escrow, "did:key:escrow", retry_s=0.01)
    try:
        witness.submit([b"junk"])
        witness.flush()
        time.sleep(0.2)  # twenty retry delays
        assert len(escrow.calls) == 1
    finally:
        witness.close()


def test_the_witness_gives_up_after_its_last_attempt(caplog: pytest.LogCaptureFixture) -> None:
    escrow = Flaky(1_000, TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down"))
    witness = EscrowWitness(escrow, "did:key:escrow", retry_s=0.001)
    try:
        witness.submit([b"delivery"])
        assert _calls_after(escrow, MAX_SUBMIT_ATTEMPTS) == MAX_SUBMIT_ATTEMPTS
        time.sleep(0.3)
        assert len(escrow.calls) == MAX_SUBMIT_ATTEMPTS
    finally:
        witness.close()
    assert f"failed {MAX_SUBMIT_ATTEMPTS} times, given up" in caplog.text


def test_the_witness_tries_a_delivery_until_its_deadline_would_no_longer_be_met(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Delivery's Stamp makes it timely up to its deadline + 30 s (WIT-003): the witness gave up after
    about a minute of an escrow's outage (MAX_SUBMIT_ATTEMPTS) though the deadline was hours away, and a
    counterparty withholding its Ack then had Bob's Delivery unwitnessed and its claim upheld. Now, given
    until when, it tries on past its last doubling attempt (at most RETRY_CAP_S apart), and stops then."""
    monkeypatch.setattr(node_module, "RETRY_CAP_S", 0.005)
    clock = FixedClock()
    escrow = Flaky(1_000, TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down"))
    witness = EscrowWitness(escrow, "did:key:escrow", retry_s=0.001, clock=lambda: clock.now_ms)
    try:
        witness.submit([b"delivery"], until_ms=clock.now_ms + 1)
        assert _calls_after(escrow, 3 * MAX_SUBMIT_ATTEMPTS) >= 3 * MAX_SUBMIT_ATTEMPTS  # on and on
        clock.advance(2)  # past its deadline + 30 s: its Stamp would no longer make it timely
        before, after = -1, len(escrow.calls)
        give_up = time.monotonic() + 10
        while before != after and time.monotonic() < give_up:
            before, _, after = after, time.sleep(0.1), len(escrow.calls)
        assert before == after  # stopped
    finally:
        witness.close()


def _hold_commits(
    monkeypatch: pytest.MonkeyPatch, journal: Journal
) -> tuple[threading.Event, threading.Event]:
    """Hold ``journal``'s commits on their way to the disk: the first sets ``entered`` and waits for
    ``release``."""
    entered, release = threading.Event(), threading.Event()
    transaction = journal._transaction

    def held(fn: Any) -> None:
        entered.set()
        assert release.wait(10)
        transaction(fn)

    monkeypatch.setattr(journal, "_transaction", held)
    return entered, release


def _returned_once_durable_with_the_lock_free(
    monkeypatch: pytest.MonkeyPatch,
    peer: Peer,
    journal: Journal,
    sign: Callable[[], VerifiedStatement],
    what: str,
) -> None:
    """``sign()``, run while ``journal``'s commit is held on its way to the disk: expect nothing returned
    meanwhile (write-ahead), ``peer``'s lock free during the fsync, and, the disk let go, the statement
    returned and in the journal (which this closes)."""
    entered, release = _hold_commits(monkeypatch, journal)
    signed: list[VerifiedStatement] = []
    worker = threading.Thread(target=lambda: signed.append(sign()))
    worker.start()
    try:
        assert entered.wait(10)
        assert peer.lock.acquire(timeout=5), f"the {what}'s fsync held the peer's lock"
        peer.lock.release()
        assert signed == []
    finally:
        release.set()
        worker.join(10)
    assert len(signed) == 1 and journal.by_digest(signed[0].digest) == signed[0].envelope
    journal.close()


def test_an_answer_leaves_only_once_durable_and_other_trades_go_on_during_the_fsync(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: Bob's commit of his answer to one offer is held on its way to the disk. Expect that
    exchange not to return meanwhile (write-ahead), a second offer answered in memory and staged while
    the first commit is held (his lock is not held across the fsync), and both answers, once the disk
    is let go, durable and returned, the second's in the next group."""
    alice, _, pa, node, _ = traded
    journal = node.journal
    entered, release = _hold_commits(monkeypatch, journal)
    first, second = (pa.propose(node.peer.did, alice.proposal()) for _ in range(2))
    answers: dict[str, list[bytes]] = {}

    def exchange(name: str, offer: VerifiedStatement) -> None:
        answers[name] = node.exchange(offer.envelope, pa.send_context())

    threads = [threading.Thread(target=exchange, args=("first", first))]
    threads[0].start()
    assert entered.wait(10)
    threads.append(threading.Thread(target=exchange, args=("second", second)))
    threads[1].start()
    give_up = time.monotonic() + 10
    while not journal._staged:  # the second answer, signed and staged while the first commit is held
        assert time.monotonic() < give_up
        time.sleep(0.001)
    assert answers == {} and journal.replies_for(first.digest) is None
    release.set()
    for t in threads:
        t.join(10)
    assert set(answers) == {"first", "second"}
    for name, offer in (("first", first), ("second", second)):
        assert journal.replies_for(offer.digest) == answers[name][1:]  # after the mandate


def test_an_offer_is_returned_only_once_durable_and_its_fsync_holds_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice (a Peer with a journal) opens a trade while her journal's commit is held on its way to the
    disk. Expect ``propose`` not to return the offer meanwhile (write-ahead: it is sent once returned),
    her lock free during that fsync (her other trades' answers are taken meanwhile, as during an
    answer's), and the offer, once the disk is let go, returned and in the journal."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal = Journal.open(tmp_path / "alice.db")
    pa = Peer(alice.agent.key, alice.mandate_vs.envelope, journal=journal, clock=lambda: clock.now_ms)
    _returned_once_durable_with_the_lock_free(
        monkeypatch, pa, journal, lambda: pa.propose(bob.did, alice.proposal()), "offer"
    )


@pytest.mark.req("RPC-012", "ERR-003")
def test_a_peer_over_its_rate_is_refused_with_a_retry_hint_and_nothing_recorded(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Bob takes 1 request/s from any one peer, 2 at once. Alice sends three offers at one instant over
    gRPC: expect the first two answered, the third refused RATE_LIMITED (RESOURCE_EXHAUSTED) with
    retry_after_ms in the ErrorInfo, nothing of it in bob's journal; a second later she is served."""
    alice, _, pa, node, clock = traded
    limited = PeerNode(node.peer, node.journal, limits=PeerLimits(rate_per_s=1, burst=2))
    offers = [pa.propose(node.peer.did, alice.proposal()) for _ in range(3)]
    with serve(limited, None) as server, CooperationClient(server.target, timeout_s=10) as client:
        for offer in offers[:2]:
            client.exchange(offer.envelope, pa.send_context())
        rows = sum(1 for _ in node.journal.statements())
        with pytest.raises(errors.RateLimited) as info:
            client.exchange(offers[2].envelope, pa.send_context())
        assert info.value.grpc_status == "RESOURCE_EXHAUSTED" and info.value.requirement == "RPC-012"
        assert 0 < info.value.retry_after_ms <= 1_000
        assert sum(1 for _ in node.journal.statements()) == rows
        clock.now_ms += info.value.retry_after_ms
        assert verify_statement(client.exchange(offers[2].envelope, pa.send_context())[1]).body == "accept"


def test_signatures_are_checked_outside_the_peer_lock_and_once_under_limits(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another thread holds Bob's lock (another negotiation being answered), expect his exchange
    -- and likewise Alice's on_replies while hers is held -- to check the signatures it is handed
    already, only the stateful checks waiting for the lock; and a server with per-peer limits (which
    needs the signed issuer before the lock) to check a request's signature once, not twice."""
    alice, _, pa, node, _ = traded
    offer = pa.propose(node.peer.did, alice.proposal())

    def checked_before_the_lock(peer: Peer, call: Callable[[], list[Any]]) -> list[Any]:
        checked = threading.Event()
        verify = peer.verifier.verify

        def spy(data: bytes, parsed: ParsedEnvelope | None = None) -> VerifiedStatement:
            checked.set()
            return verify(data, parsed)

        monkeypatch.setattr(peer.verifier, "verify", spy)
        results: list[list[Any]] = []
        worker = threading.Thread(target=lambda: results.append(call()))
        with peer.lock:
            worker.start()
            assert checked.wait(10), "the signature check waited for the lock"
            assert not results  # the rest of the call does wait for it
        worker.join(10)
        assert results and results[0]
        return results[0]

    answers = checked_before_the_lock(node.peer, lambda: node.exchange(offer.envelope, pa.send_context()))
    checked_before_the_lock(pa, lambda: pa.on_replies(answers))
    limited = PeerNode(node.peer, node.journal, limits=PeerLimits(rate_per_s=100, in_flight=4))
    second = pa.propose(node.peer.did, alice.proposal())
    opens: list[bytes] = []
    sign_open = identity._crypto_sign_open

    def counted(m: object, mlen: object, signed: bytes, n: int, public_key: bytes) -> int:
        opens.append(signed)
        return sign_open(m, mlen, signed, n, public_key)

    monkeypatch.setattr(identity, "_crypto_sign_open", counted)
    limited.exchange(second.envelope, pa.send_context())  # its context is held already: no check
    assert len(opens) == 1

    class Quiet(Peer):  # a subclass that changes what exchange answers keeps its say under limits
        def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
            return super().exchange(envelope, context)[:1]

    monkeypatch.setattr(node.peer, "__class__", Quiet)
    third = pa.propose(node.peer.did, alice.proposal())
    assert len(limited.exchange(third.envelope, pa.send_context())) == 1


@pytest.mark.req("RPC-011", "RPC-005", "ATT-014")
def test_an_unknown_page_token_and_an_oversized_gossip_are_request_invalid_with_error_info(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Over gRPC, a GetAttestations page token Bob never gave and a Gossip of 129 envelopes or 129
    proofs; expect each refused REQUEST_INVALID (INVALID_ARGUMENT) with its ErrorInfo: the requirement
    RPC-011 and origin remote (the client rebuilds the protocol error from it), not a bare status."""
    alice, _, _, node, _ = traded
    too_many = MAX_GOSSIP_ITEMS + 1
    with serve(node, None) as server, CooperationClient(server.target, timeout_s=10) as client:
        refusals = []
        for token in ("not-ours", "99", "\u00b3"):
            with pytest.raises(errors.RequestInvalid) as info:
                client.get_attestations_page(alice.did, page_token=token)
            refusals.append(info.value)
        for envelopes, proofs in ((too_many, 0), (0, too_many)):
            with pytest.raises(errors.RequestInvalid) as info:
                client.gossip([b"not read"] * envelopes, [ForkProof(b"a", b"b")] * proofs)
            refusals.append(info.value)
        for err in refusals:
            assert (err.grpc_status, err.requirement, err.origin) == ("INVALID_ARGUMENT", "RPC-011", "local")
            assert err.code == "REQUEST_INVALID"
        assert client.gossip([], []) is not None  # within the bound: served


@pytest.mark.req("CHN-005")
def test_a_clock_stepped_back_between_mandates_does_not_run_the_principals_chain_backwards(
    tmp_path: Path,
) -> None:
    """The principal signs a mandate, its wall clock steps back an hour, it signs another: expect the
    second dated no earlier than the first (a chain running backwards is a fork proof against the
    principal, CHN-005), and the two to verify as one chain."""
    principal = Keypair.from_seed(derive("principal/clock-back", 32))
    agents = [Keypair.from_seed(derive(f"agent/clock-back/{i}", 32)).did for i in range(2)]
    now = 1_900_000_000_000
    with Journal.open(tmp_path / "principal.db") as journal:
        first = sign_mandate(principal, journal, agents[0], now_ms=now)
    with Journal.open(tmp_path / "principal.db") as journal:  # a later run, the clock an hour behind
        second = sign_mandate(principal, journal, agents[1], now_ms=now - 3_600_000)
    assert second.statement.header.seq == first.statement.header.seq + 1
    assert second.issued_at_ms >= first.issued_at_ms
    report = verify_transcript([first.envelope, second.envelope])
    assert report.error is None, report.error


def test_a_statement_signed_on_our_own_initiative_waits_for_its_fsync_outside_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Peer.sign`` (a Withdraw here; claims, revokes and checkpoints go the same way, and ``perform``'s
    held-back Deliveries and ``answer_held``'s answers too) journaled under Alice's lock, one fsync each,
    so her other trades waited for her disk. Expect it, as ``propose``, returned only once durable and her
    lock free during the fsync."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal = Journal.open(tmp_path / "alice.db")
    pa = Peer(alice.agent.key, alice.mandate_vs.envelope, journal=journal, clock=lambda: clock.now_ms)
    offer = pa.propose(bob.did, alice.proposal())
    withdraw = trade_pb2.Withdraw(offer=offer.digest, reason="changed my mind")
    header = {"audience": bob.did, "negotiation_id": offer.negotiation_id}
    _returned_once_durable_with_the_lock_free(
        monkeypatch, pa, journal, lambda: pa.sign("withdraw", withdraw, **header), "Withdraw"
    )


def _journal_state(path: Path) -> tuple[list[Any], list[tuple[int, str, bytes]]]:
    """Every meta row and every statement of the journal at ``path`` (opened and closed again: a node
    refused at start must have released its lock)."""
    with Journal.open(path) as journal:
        statements = list(journal.statements())
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT key, value FROM meta ORDER BY key").fetchall(), statements


def test_a_journal_of_the_other_kind_is_refused_by_the_library_and_left_as_it_was(tmp_path: Path) -> None:
    """The journal-kind guard lived only in the CLI: an EscrowNode opened in Python on a peer's journal
    wrote its mark into it (and then failed to replay it), and a PeerNode on an escrow's journal wrote the
    peer's. Both are refused with JournalKindMismatch, naming the journal and its kind, before anything
    is written, and the journal's lock is released."""
    clock = FixedClock()
    bob, esc = Party("bob", clock), Party("escrow", clock)
    peer_path, escrow_path = tmp_path / "bob.db", tmp_path / "escrow.db"
    peer_node(bob, clock, peer_path).close()
    escrow = escrow_node(esc, clock, escrow_path)
    escrow.deposit(bob.did, 10)
    escrow.close()
    before = {path: _journal_state(path) for path in (peer_path, escrow_path)}

    with pytest.raises(JournalKindMismatch) as refused:
        escrow_node(esc, clock, peer_path)
    assert (refused.value.found, refused.value.wanted, refused.value.path) == ("peer", "escrow", peer_path)
    assert f"{peer_path} is a peer's journal" in str(refused.value)
    with pytest.raises(JournalKindMismatch) as refused:
        peer_node(bob, clock, escrow_path)
    assert (refused.value.found, refused.value.wanted) == ("escrow", "peer")
    assert f"{escrow_path} is an escrow's journal" in str(refused.value)
    with Journal.open(escrow_path) as journal, pytest.raises(JournalKindMismatch):
        Peer(bob.agent.key, bob.mandate_vs.envelope, journal=journal)
    assert {path: _journal_state(path) for path in before} == before
    assert isinstance(refused.value, JournalError)  # a local fault of the journal, as the others


@pytest.mark.req("RPC-003", "RPL-002")
def test_a_statement_held_only_as_context_is_refused_replayed_when_sent_as_a_request(
    alice: Party, bob: Party, clock: FixedClock, tmp_path: Path
) -> None:
    """Alice's Offer reaches Bob's journaled peer with her Mandate as its context; then she sends the
    Mandate itself, and the Offer again. Expect the Mandate refused REPLAYED -- held, never answered as a
    request: RPC-003 repeats only an answer given (RPL-002) -- and the Offer answered as the first time."""
    node = peer_node(bob, clock, tmp_path / "bob.db")
    try:
        offer = alice.offer(bob)
        first = node.exchange(offer.envelope, alice.setup)
        with pytest.raises(errors.Replayed):
            node.exchange(alice.mandate_vs.envelope, [])
        assert node.exchange(offer.envelope, alice.setup) == first
    finally:
        node.close()
