"""Work a trade does, counted (calls, not seconds), where it crept up unnoticed (RELIABILITY.md, "Where
the CPU a statement gained since the thirteenth session went"): each of these was done for every
statement or every relay although what it computed was already at hand."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from peers import bonded_proposal, make_peer, peer_node, served_peer
from test_bounded_memory import Pair

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol import envelope as envelope_module
from a2a_coop.protocol import mandate, negotiation, statements, verifier
from a2a_coop.protocol.envelope import decode_envelope, sign_payload, statement_digest
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import trade
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer


def _latest_by_definition(places: list[tuple[int, str, int]], party: str) -> tuple[int, int]:
    at = max(p[0] for p in places)
    return at, max((p[2] for p in places if p[0] == at and p[1] == party), default=-1)


def test_latest_is_the_latest_time_and_the_partys_highest_seq_at_it() -> None:
    """``_latest`` (a contract's ending as a statement of a party sees it, SPEC 4.5) is one pass over the
    places now, where it was two generators: the same value as its definition on every input, ties of
    time, the escrow's seq -1 and a party with no place at the latest time included."""
    rng = random.Random(19)
    for _ in range(3000):
        n = rng.randrange(1, 7)
        places = [(rng.randrange(5), rng.choice("abe"), rng.choice((-1, *range(6)))) for _ in range(n)]
        for party in ("a", "b", "e", "z", ""):
            assert negotiation._latest(places, party) == _latest_by_definition(places, party), (places, party)


def test_a_relay_decodes_the_escrows_mandate_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relaying an escrow's statements to the counterparty reads the escrow's Mandate (its key, and the
    key it succeeds: ESC-022) once per relay; it was decoded twice, the canonical checks of its envelope
    and statement run again on every relay of every trade."""
    clock = FixedClock()
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(bob, clock, context=[e.mandate_vs.envelope])
    stamps = [e.sign("stamp", commitment_pb2.Stamp(statements=[bytes([i]) * 32])) for i in range(3)]
    b.on_replies([vs.envelope for vs in stamps])
    mandate = e.mandate_vs.envelope
    decoded: list[bytes] = []
    real = trade.decode_envelope

    def counting(data: bytes, *args: Any, **kw: Any) -> Any:
        decoded.append(data)
        return real(data, *args, **kw)

    monkeypatch.setattr(trade, "decode_envelope", counting)
    sent: list[bytes] = []

    class _Counterparty:
        def exchange(self, envelope: bytes, context: Any = ()) -> list[bytes]:
            sent.append(envelope)
            return []

    news = [(vs.envelope, vs.digest) for vs in stamps]
    assert trade._relay(b, _Counterparty(), mandate, news) == []  # type: ignore[arg-type]
    assert sent  # the relay happened: the Stamps went on
    assert decoded.count(mandate) == 1, len(decoded)


def test_a_durable_request_asks_for_no_snapshot_until_one_may_be_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request made durable asked :meth:`Peer.save_snapshot` (which takes the lock again) whether a
    snapshot was due, when the cadence's count in memory already said no; now it is asked only when one
    may be. Expect no call over five trades at the default cadence, and at a cadence of a few rows a
    snapshot still written (the check moved, not dropped)."""
    calls = [0]
    real = Peer.save_snapshot

    def counting(self: Peer, *, force: bool = True) -> bool:
        calls[0] += 1
        return real(self, force=force)

    monkeypatch.setattr(Peer, "save_snapshot", counting)
    for name in ("default", "often"):
        (tmp_path / name).mkdir()
    pair = Pair(tmp_path / "default")
    calls[0] = 0  # not the one each peer makes as it opens
    try:
        for _ in range(5):
            pair.trade()
    finally:
        pair.close()
    assert calls[0] == 0

    pair = Pair(tmp_path / "often")
    journal = Journal.open(tmp_path / "often" / "bob-often.db", durability="normal")
    pair.bob = Peer(pair.keys["bob"], pair.mandates["bob"], journal=journal, snapshot_every=4)
    try:
        for _ in range(5):
            pair.trade()
        assert calls[0] > 0
        assert pair.bob._cadence.at > 0  # a snapshot was journaled
    finally:
        pair.close()


def test_an_escrow_asks_its_journal_once_about_each_new_statement_of_a_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escrow that forgets settled contracts asks its journal whether it holds each statement of a
    Submit it does not hold in memory -- its precheck, ``took``, the Submit's own checks: up to four
    times each, 24 queries a bonded trade for 8 new statements. "None" stays true until the next
    transaction; now each is one query: no digest is asked of SQLite twice between two transactions. Nor
    what names no statement: the Accept of an Offer with none (b"") was looked up, a query a Submit."""
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key, e.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms, durability="normal"
    )
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    asked: list[tuple[int, bytes]] = []
    real = Journal._read

    def counting(self: Journal, sql: str, args: tuple[Any, ...], **kw: Any) -> Any:
        if self is escrow.journal and sql.startswith("SELECT envelope FROM statements WHERE digest"):
            asked.append((self._transactions, args[0]))
        return real(self, sql, args, **kw)

    monkeypatch.setattr(Journal, "_read", counting)
    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = served_peer(alice, clock, context=[e.mandate_vs.envelope])
        ids = []
        for _ in range(5):
            neg = trade.run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
            assert a.negotiation(neg.id).state is State.FULFILLED
            ids.append(neg.id)
            clock.advance(10_000)
        assert ids[0] not in escrow.escrow.verifier.negotiations.by_id  # settled and forgotten: archived
        assert len(asked) >= 5 * 6  # every new statement of every Submit was asked about (six a trade)
        assert len(set(asked)) == len(asked), len(asked) - len(set(asked))
        assert [d for _, d in asked if len(d) != 32] == []
    finally:
        node.close()
        escrow.close()


def test_a_statement_is_signed_and_verified_without_pynacls_python_wrappers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Keypair.sign`` and ``ed25519_verify`` call libsodium through PyNaCl's cffi module, not through
    ``nacl.bindings``' Python wrappers (two buffers and a copy of the message a call, RELIABILITY.md,
    twenty-first session). Expect a trade's statements signed and verified with those wrappers made to
    fail, and a forged signature still refused."""
    import nacl.bindings

    def unused(*args: Any) -> Any:
        raise AssertionError("a PyNaCl wrapper was called on the per-statement path")

    monkeypatch.setattr(nacl.bindings, "crypto_sign", unused)
    monkeypatch.setattr(nacl.bindings, "crypto_sign_open", unused)
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    assert verify_statement(offer.envelope).digest == offer.digest
    forged = bytearray(offer.envelope)
    forged[-1] ^= 1  # the signature's last byte
    with pytest.raises(CoopError):
        verify_statement(bytes(forged))


def test_a_journal_binds_bytes_through_sqlites_adapter_table(tmp_path: Path) -> None:
    """sqlite3 sends every bytes parameter (a digest, an envelope, a nonce: some 200 a bonded trade over
    the three journals) through its adaptation protocol, which looks up ``PrepareProtocol.__adapt__`` and
    formats an AttributeError to drop it (RELIABILITY.md, twenty-sixth session: 1.4 % of a trade's
    instructions). Expect an adapter for exact bytes in sqlite3's table once the journal is imported,
    binding a value as itself, and a statement's bytes journaled and read back unchanged."""
    adapter = sqlite3.adapters.get((bytes, sqlite3.PrepareProtocol))
    assert adapter is not None
    blob = bytes(range(256))
    assert adapter(blob) is blob
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    with Journal.open(tmp_path / "j.db") as journal:
        journal.record_outgoing(offer, at_ms=clock.now_ms)
        assert journal.by_digest(offer.digest) == offer.envelope
        assert journal.log_range(alice.did, 0, 1) == [offer.envelope]


def test_a_served_peer_reads_what_a_request_claims_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PeerNode served as ``a2a-coop serve --escrow`` runs it (per-issuer limits and an escrow witness)
    parsed what each request claims to be (its envelope, then its statement: ``limits.claimed``) for the
    limiter, again for the witness's held answers and a third time for its watch. Expect, over a bonded
    trade, one such read of each request (the context's Accepts are read apart), and the trade fulfilled."""
    from a2a_coop.runtime import node as node_module
    from a2a_coop.runtime.node import EscrowWitness, PeerNode
    from a2a_coop.transport.limits import PeerLimits

    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key, e.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms, durability="normal"
    )
    node = PeerNode.open(
        bob.agent.key,
        bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        context=[e.mandate_vs.envelope],
        clock=lambda: clock.now_ms,
        witness=EscrowWitness(escrow, e.did),
        limits=PeerLimits(rate_per_s=1000.0, burst=1000),
    )
    requests: list[bytes] = []
    read: list[bytes] = []
    real_claimed, real_exchange = node_module.claimed, node.exchange

    def counting(envelope: bytes) -> Any:
        read.append(envelope)
        return real_claimed(envelope)

    def exchange(envelope: bytes, context: Any) -> list[bytes]:
        requests.append(envelope)
        return real_exchange(envelope, context)

    monkeypatch.setattr(node_module, "claimed", counting)
    monkeypatch.setattr(node, "exchange", exchange)
    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        neg = trade.run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
        assert a.negotiation(neg.id).state is State.FULFILLED
    finally:
        node.close()
        escrow.close()
    assert len(requests) >= 5
    assert [envelope for envelope in read if envelope in requests] == requests


def test_an_exposure_entry_of_a_new_key_removes_nothing_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_Expiring.add`` looks for nothing to remove when its key is new (most are: an offer's digest, a
    contract's id), and still replaces the entry of a key it holds: counted, and summed."""
    removed: list[bytes] = []
    real = mandate._Expiring.remove

    def counting(self: mandate._Expiring, key: bytes) -> None:
        removed.append(key)
        real(self, key)

    monkeypatch.setattr(mandate._Expiring, "remove", counting)
    sweep = mandate._Expiring()
    for i in range(10):
        sweep.add(b"%d" % i, 5, 100 + i, (0,))
    assert removed == [] and sweep.total(0) == 50 and sweep.bucket(0, 0) == 50
    sweep.add(b"3", 7, 200, (0,))  # held: replaced, counted once
    assert removed == [b"3"] and sweep.total(0) == 52 and sweep.total(150) == 7


def test_a_journals_filter_hashes_each_key_of_a_trade_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal's filter hashes (keyed BLAKE2b) a statement's (issuer, nonce) as the replay checks ask
    whether the journal holds it -- up to three times, at the escrow -- and again as the row is written:
    two to four hashes of one key, 112 a bonded trade over the three journals (RELIABILITY.md, twenty-third
    session). It keeps the last keys' hashes now: expect, over five trades, each key of each filter hashed
    once (within 5 %), and looked up more often than it is hashed."""
    from a2a_coop.runtime import journal as journal_module

    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    hashed: list[tuple[int, object]] = []
    lookups = [0]
    real_hash_of, real_may_hold = journal_module._Holds._hash_of, journal_module._Holds.may_hold

    def counting_hash_of(holds: Any, key: object) -> int:
        hashed.append((id(holds), key))
        return real_hash_of(holds, key)

    def counting_may_hold(holds: Any, key: object) -> bool:
        lookups[0] += 1
        return real_may_hold(holds, key)

    escrow = EscrowNode(
        e.agent.key, e.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms, durability="normal"
    )
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = peer_node(alice, clock, tmp_path / "alice.db", context=[e.mandate_vs.envelope])
        try:
            monkeypatch.setattr(journal_module._Holds, "_hash_of", counting_hash_of)
            monkeypatch.setattr(journal_module._Holds, "may_hold", counting_may_hold)
            for _ in range(5):
                neg = trade.run_trade(a.peer, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
                assert a.peer.negotiation(neg.id).state is State.FULFILLED
                clock.advance(10_000)
        finally:
            a.close()
    finally:
        node.close()
        escrow.close()
    assert len(hashed) >= 5 * 3 * 8  # every statement of every trade, in each of the three journals
    assert lookups[0] > len(hashed)
    # Once each, but for the odd key asked about again past the last 32 a filter keeps (2 of 250 here;
    # 576 hashes of the same 248 keys without them).
    assert len(hashed) <= 1.05 * len(set(hashed)), (len(hashed), len(set(hashed)))


class _CountingHeader:
    """A statement's header that records the name of each field read from it."""

    def __init__(self, header: Any, reads: list[str]) -> None:
        self._header, self._reads = header, reads

    def __getattr__(self, name: str) -> Any:
        self._reads.append(name)
        return getattr(self._header, name)


class _CountingStatement:
    """A statement whose header reads are recorded (:class:`_CountingHeader`); the rest as the real one."""

    def __init__(self, statement: Any, reads: list[str]) -> None:
        self._statement, self._reads = statement, reads

    @property
    def header(self) -> _CountingHeader:
        return _CountingHeader(self._statement.header, self._reads)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._statement, name)


def _header_counted(vs: VerifiedStatement, reads: list[str]) -> VerifiedStatement:
    """``vs`` with the same kept reads, its statement's header reads recorded into ``reads``."""
    counted = statements._new_verified_statement(
        VerifiedStatement, (vs.envelope, vs.digest, _CountingStatement(vs.statement, reads), vs.body)
    )
    counted.__dict__ = {k: v for k, v in vs.__dict__.items() if k != "header"}
    return counted


def test_a_journal_row_is_written_from_the_statements_kept_reads(tmp_path: Path) -> None:
    """A row journaled for a statement took its issuer, seq, nonce and negotiation id from the message's
    header again -- seven or eight upb reads a row, each a new object, a new DID string hashed again at
    each lookup -- where the VerifiedStatement keeps them, read once by the header rules (45 rows a bonded
    trade over the three journals). Expect no header read for a statement received, only ``prev`` (not
    kept) for one of ours, and every row as its envelope's header says."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    ours = [alice.offer(bob)]
    for _ in range(2):
        clock.advance(1_000)
        ours.append(alice.offer(bob))
    received = verify_statement(bob.offer(alice).envelope)
    with Journal.open(tmp_path / "j.db", durability="normal") as journal:
        reads: list[str] = []
        journal.record_incoming(_header_counted(received, reads), [], at_ms=clock.now_ms, answered=False)
        assert reads == []
        for vs in ours:
            journal.record_outgoing(_header_counted(verify_statement(vs.envelope), reads), at_ms=clock.now_ms)
        assert reads == ["prev", "prev"], reads  # the first of ours extends no head: nothing to compare
        rows = journal._conn.execute(
            "SELECT i.did, s.seq, s.negotiation_id, s.nonce, s.body, s.envelope FROM statements s "
            "JOIN issuers i ON i.id = s.issuer ORDER BY s.id"
        ).fetchall()
    assert len(rows) == 4
    for did, seq, nid, nonce, body, envelope in rows:
        h = verify_statement(envelope).statement.header
        assert (did, seq, nid, nonce) == (h.issuer, h.seq, h.negotiation_id, h.nonce)
        assert body == verify_statement(envelope).body


def test_a_relay_decodes_the_escrows_mandate_and_each_new_statement_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relaying an escrow's answer (``trade.relay_escrow_answers``) decoded the escrow's Mandate twice
    (its agent, then in ``_relay``) and each new statement's envelope twice (its digest, then its
    issuer): 9 envelope decodes of 12 by the initiator's trade code a bonded trade were again. The peer
    then parsed and hashed each new statement a third time to check it (``Peer.on_replies``), and the
    escrow's Mandate, held, was decoded at every relay (RELIABILITY.md, twenty-seventh session). Expect,
    in each relay over five bonded trades, no envelope decoded twice -- by the trade code or the peer's
    checks -- the escrow's Mandate decoded by neither once held, and the trades fulfilled."""
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key, e.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms, durability="normal"
    )
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    relays: list[list[bytes]] = []
    real_decode, real_relay = trade.decode_envelope, trade.relay_escrow_answers
    elsewhere = [0]  # inside Bob's or the escrow's handling (in this process): not the initiator's work

    def counting_decode(data: bytes, *args: Any, **kw: Any) -> Any:
        if relays and not elsewhere[0]:
            relays[-1].append(data)
        return real_decode(data, *args, **kw)

    def away(real: Any) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            elsewhere[0] += 1
            try:
                return real(*args, **kw)
            finally:
                elsewhere[0] -= 1

        return call

    monkeypatch.setattr(node, "exchange", away(node.exchange))
    monkeypatch.setattr(escrow, "submit", away(escrow.submit))

    def relay(*args: Any, **kw: Any) -> Any:
        relays.append([])
        return real_relay(*args, **kw)

    monkeypatch.setattr(trade, "decode_envelope", counting_decode)
    monkeypatch.setattr(envelope_module, "decode_envelope", counting_decode)  # what parse_envelope calls
    monkeypatch.setattr(trade, "relay_escrow_answers", relay)
    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        for _ in range(5):
            neg = trade.run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
            assert a.negotiation(neg.id).state is State.FULFILLED
            clock.advance(10_000)
    finally:
        node.close()
        escrow.close()
    assert len(relays) == 10  # two relays a trade: the locks, the settlement
    assert sum(map(len, relays)) >= 10 * 3
    assert not any(e.mandate_vs.envelope in decoded for decoded in relays[1:])  # held since the first
    for decoded in relays:
        assert len(decoded) == len(set(decoded)), [decoded.count(d) for d in decoded]


def test_the_news_of_an_escrows_answer_are_those_of_their_definition(
    tmp_path: Path,
) -> None:
    """``trade._news`` (each envelope decoded once, its payload kept for ``_issuer_of``) against its
    definition (each digest from the envelope decoded, the issuer from it decoded again), on every
    escrow answer of a bonded trade, as held before the trade and after it, with malformed envelopes and
    payloads among them: the same news, issuers and relayed statements, and the same refusal."""
    clock = FixedClock()
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key, e.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms, durability="normal"
    )
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    try:
        for party in (alice, bob):
            escrow.deposit(party.did, 10**9)
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        before = make_peer(Party("carol", clock), clock, context=[e.mandate_vs.envelope])
        neg = trade.run_trade(a, node, bob.did, bonded_proposal(alice, e.did), escrow=escrow)
        assert a.negotiation(neg.id).state is State.FULFILLED
        answers = [vs.envelope for vs in a.verifier.statements.values() if vs.issuer == e.did]
    finally:
        node.close()
        escrow.close()
    assert len(answers) >= 4
    malformed = [b"\x00garbage", answers[0][:-3], sign_payload(b"\xff\xff", e.agent.key)]
    granted = e.mandate_vs.statement.mandate

    def by_definition(peer: Peer, envelopes: list[bytes]) -> list[tuple[bytes, bytes]]:
        held = peer.verifier.statements
        return [
            (env, d)
            for env in envelopes
            if not dict.__contains__(held, d := statement_digest(decode_envelope(env).payload))
        ]

    def outcome(f: Any, *args: Any) -> Any:
        try:
            return f(*args)
        except CoopError as refused:
            return type(refused), refused.code

    rng = random.Random(24)
    for peer in (a, before):
        for k in range(40):
            envelopes = rng.sample(answers, rng.randrange(1, len(answers) + 1))
            if k % 4 == 3:
                envelopes.insert(rng.randrange(len(envelopes) + 1), rng.choice(malformed))
            news = outcome(trade._news, peer, envelopes)
            pairs = outcome(by_definition, peer, envelopes)
            if isinstance(pairs, tuple):  # refused: the same refusal
                assert news == pairs
                continue
            assert [(n.envelope, n.digest) for n in news] == pairs
            issuers = [outcome(trade._issuer_of, n) for n in news]
            assert issuers == [outcome(trade._issuer, p[0]) for p in pairs]
            if peer is a:  # relayed statements: read from those held
                relayed = outcome(trade._relayed, peer, granted, news)
                assert relayed == outcome(trade._relayed, peer, granted, pairs)


class _ReadRecord(verifier._MandateRecord):
    """A held Mandate's record that counts the reads of its fields."""

    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name in ("principal", "agent", "mandate"):
            type(self).reads += 1
        return object.__getattribute__(self, name)


def test_a_renewals_search_reads_the_mandates_of_its_grant_only() -> None:
    """MND-019 and ESC-019 look for the renewals of a Mandate (:meth:`Verifier.claimable_until`,
    :meth:`Verifier.renewals_of`) when a contract's claim window ends past it: they scanned every Mandate
    held, some 0.2 us each -- 2 ms a call, twice for each long contract an escrow takes, once it holds
    10,000 counterparties' Mandates (RELIABILITY.md, twenty-seventh session). Expect the same records read
    whether the view holds 0 or 300 unrelated Mandates, and the same answers."""
    from test_attack20 import _long_trade

    def reads(unrelated: int) -> tuple[int, int, bool, list[bytes]]:
        alice, mallory, _escrow, offer, guard = _long_trade(3, renewal_until_days=5)
        for i in range(unrelated):
            other = Party(f"unrelated-{i}", alice.clock)
            guard.accept(other.mandate_vs.envelope, alice.clock.now_ms)
        for d, r in list(guard.mandates.items()):  # the same grants: the records counted
            guard.mandates[d] = _ReadRecord(r.principal, r.mandate, r.issued_at_ms, r.agent, r.seq)
        record = guard.mandates[alice.mandate_vs.digest]
        needed = offer.issued_at_ms + 3 * DAY_MS + negotiation.CLAIM_WINDOW_MS
        _ReadRecord.reads = 0
        renewed = guard.claimable_until(record, mallory.did, needed) > needed
        claimable = _ReadRecord.reads
        _ReadRecord.reads = 0
        renewals = guard.renewals_of(alice.mandate_vs.digest)
        return claimable, _ReadRecord.reads, renewed, renewals

    few, many = reads(0), reads(300)
    assert few[2] and len(few[3]) == 1  # the renewal found and counted: the search ran
    assert many == few


def test_the_mandates_held_by_grant_are_those_of_their_definition() -> None:
    """The index :meth:`Verifier.claimable_until` and :meth:`Verifier.renewals_of` read is every Mandate
    held of the principal and agent, through Mandates taken, held for a block only (``provisionally``)
    and, for a verifier pickled before the index existed, built from memory: both give the answers of a
    scan of every Mandate held, on random validities, counterparties and grants."""
    clock = FixedClock()
    t0 = clock.now_ms
    principals = [Signer(f"grantor-{i}", clock) for i in range(3)]
    agents = [Party(f"agent-{i}", clock).did for i in range(2)]
    others = [Party(f"counterparty-{i}", clock).did for i in range(2)]
    rng = random.Random(27)

    def mandate() -> VerifiedStatement:
        start = t0 + rng.randrange(-2, 6) * DAY_MS
        fields: dict[str, Any] = {
            "agent": rng.choice(agents),
            "valid_from_ms": start,
            "valid_until_ms": start + rng.randrange(1, 4) * DAY_MS,
            "currency": "credit",
            "allowed_counterparties": rng.choice(([], [others[0]], others)),
        }
        return rng.choice(principals).sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=30 * DAY_MS)

    def claimable_by_definition(v: verifier.Verifier, record: Any, counterparty: str, needed: int) -> int:
        end = record.mandate.valid_until_ms
        if needed >= end:
            for start, until in sorted(
                (r.mandate.valid_from_ms, r.mandate.valid_until_ms)
                for r in v.mandates.values()
                if (r.principal, r.agent) == (record.principal, record.agent)
                and (not r.mandate.allowed_counterparties or counterparty in r.mandate.allowed_counterparties)
            ):
                if start <= end < until:
                    end = until
        return end

    def renewals_by_definition(v: verifier.Verifier, digest: bytes) -> list[bytes]:
        record = v.mandates[digest]
        end, out = record.mandate.valid_until_ms, []
        for start, until, d in sorted(
            (r.mandate.valid_from_ms, r.mandate.valid_until_ms, d)
            for d, r in v.mandates.items()
            if (r.principal, r.agent) == (record.principal, record.agent) and d != digest
        ):
            if start <= end < until:
                end = until
                out.append(d)
        return out

    def agrees(v: verifier.Verifier) -> int:
        for digest, record in v.mandates.items():
            assert v.renewals_of(digest) == renewals_by_definition(v, digest)
            for counterparty in others:
                for days in (0, 3, 6, 9):
                    needed = t0 + days * DAY_MS
                    got = v.claimable_until(record, counterparty, needed)
                    assert got == claimable_by_definition(v, record, counterparty, needed)
        return len(v.mandates)

    checked = 0
    for _ in range(6):
        v = verifier.Verifier()
        for _ in range(rng.randrange(4, 12)):
            v.accept(mandate().envelope, clock.now_ms)
        checked += agrees(v)
        with v.provisionally([verify_statement(mandate().envelope) for _ in range(3)]):
            checked += agrees(v)
        checked += agrees(v)
        del v.__dict__["_mandates_by_grant"]  # as a verifier unpickled from a snapshot before the index
        v.accept(mandate().envelope, clock.now_ms)
        checked += agrees(v)  # built from memory, the Mandate taken since included
        v.accept(mandate().envelope, clock.now_ms)
        checked += agrees(v)
    assert checked > 100
