"""Attacker's pass 16: the rules this session added -- RPC-016 (a peer's newcomer quota on strangers'
public statements), RPC-017 (the budget of newcomers' opening Offers and its vouched reserve), ESC-017
(an escrow's newcomer quota), KEY-007 widened (a binding refused only for its chain is shown beside a
KeyRevocation), ``revoke-key --binding-from`` (the key's first Checkpoint read by GetLog) and the escrow
audit's ``LOCK_NOT_DUE`` -- asked who chose each value they rely on and what a liar gains (SPEC 3.4, 9.2,
16.14).

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from peers import fresh_key, make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, service


def _checkpoint(key: Signer, mandate: VerifiedStatement) -> VerifiedStatement:
    """``key``'s next Checkpoint under ``mandate`` (its log_root the tree hash of what it signed before)."""
    signed: list[bytes] = key.__dict__.setdefault("signed_digests", [])
    vs = key.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)), mandate=mandate.digest)
    signed.append(vs.digest)
    return vs


def _minted_for(agent: str, i: int, clock: FixedClock) -> VerifiedStatement:
    """A Mandate naming ``agent`` that Mallory's fresh principal ``i`` signs: anyone can sign one."""
    caps = identity_pb2.Mandate(
        agent=agent,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    return Signer(f"mallory-minter/{i}", clock).sign("mandate", caps, ttl_ms=DAY_MS)


def _revocation(boss: Signer, key: str, clock: FixedClock) -> VerifiedStatement:
    msg = identity_pb2.KeyRevocation(key=key, effective_ms=clock.now_ms - 500, reason="stolen")
    return boss.sign("key_revocation", msg)


# --- 1: RPC-016 / ESC-017, a key's per-key count spent by Mandates others minted naming it ----------------


@pytest.mark.req("RPC-016", "KEY-008")
def test_mandates_minted_naming_a_key_do_not_spend_its_count_and_keep_out_its_revocation() -> None:
    """Attack: K's principal is about to revoke K (stolen) at Bob, who holds nothing of K. Mallory (the
    thief, who wants the revocation kept out while it trades as K) sends Bob, as requests, Mandates that
    fresh principals of its own sign naming K as agent -- each counted, and each counted *for K* (a Mandate
    counts for its agent). With K's per-key count spent, the principal's revocation of K, its binding and
    Mandate as context (KEY-008), is refused ``RATE_LIMITED`` for the rest of the hour, every hour, at the
    cost of ``per_key`` signatures. Defence: a statement counts for a key only if that key (or a principal
    K is bound to) signed it -- a Mandate for its issuer -- so nobody can spend another key's count."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=4))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    binding = _checkpoint(k, mandate)  # K's first Checkpoint, signed before the theft, held by its peer
    for i in range(4):
        b.exchange(_minted_for(k.did, i, clock).envelope)  # each taken: Mallory spends nothing of its own
    clock.advance(1_000)
    revocation = _revocation(boss, k.did, clock)
    b.exchange(revocation.envelope, [mandate.envelope, binding.envelope])
    assert b.verifier.revoked.get(k.did) == revocation.statement.key_revocation.effective_ms


@pytest.mark.req("ESC-017", "KEY-008")
def test_mandates_minted_naming_a_key_do_not_keep_its_revocation_out_of_an_escrow(tmp_path: Path) -> None:
    """Attack 1 at an escrow (ESC-017 counts a Mandate for its agent too): Mallory submits Mandates its
    fresh principals sign naming K; K's principal then submits its Mandate and K's first Checkpoint, and
    in a Submit of its own the revocation (KEY-008's advice to a client). Defence: as above -- none of
    Mallory's Mandates counts for K, and the binding and revocation are stamped."""
    clock = FixedClock()
    _, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=4))
    try:
        boss = Signer("k-principal", clock)
        k, mandate = fresh_key(0, clock, boss)
        binding = _checkpoint(k, mandate)
        for i in range(4):
            node.submit([_minted_for(k.did, i, clock).envelope])
        clock.advance(1_000)
        node.submit([mandate.envelope, binding.envelope])
        revocation = _revocation(boss, k.did, clock)
        node.submit([revocation.envelope])
        assert k.did in node.escrow.verifier.revoked
    finally:
        node.close()


# --- 2: RPC-016 / RPC-017, one contract with Bob makes Mallory's principal "in the dealings" for good ------


def _under(principal: Signer, name: str, clock: FixedClock) -> Party:
    """A fresh agent ``name`` whose Mandate ``principal`` signs (instead of a principal of its own)."""
    p = Party(name, clock)
    caps = identity_pb2.Mandate()
    caps.CopyFrom(p.mandate_vs.statement.mandate)
    p.principal = principal
    p.mandate_vs = principal.sign("mandate", caps, ttl_ms=DAY_MS)
    p.setup = [p.mandate_vs.envelope]
    return p


def _low(p: Party, to: Party) -> VerifiedStatement:
    """An Offer from ``p`` to ``to`` that an honest peer rejects (it gives almost nothing)."""
    return p.offer(to, p.proposal(gives=[service("x", value=1, deadline_ms=p.clock.now_ms + DAY_MS)]))


def _contract_with(b: Any, bob: Party, mallory: Party) -> None:
    """Mallory's one contract with Bob: an Offer his strategy accepts, no bonds (Bob's consent, once)."""
    answers = b.exchange(mallory.offer(bob, mallory.proposal()).envelope, mallory.setup)
    assert "accept" in [verify_statement(a).body for a in answers]


@pytest.mark.req("RPC-016", "ATT-018")
def test_one_contract_does_not_let_its_principal_mint_mandates_uncounted() -> None:
    """Attack: Mallory makes one contract with Bob (no bonds; he accepts it, as an honest peer does good
    terms), which puts its principal P in Bob's dealings for good (ATT-018: a party's principal). P then
    signs Mandates naming fresh keys and sends each to Bob alone, as a request: each issued by a key in
    Bob's dealings, so never counted -- fifty kept over a quota of four, without bound. Defence: a Mandate
    of a key in the dealings for an agent outside them counts (anyone in the dealings can mint one naming
    any key, which is no claim on them); one for an agent in them (a renewal) does not, and a newcomer's
    Offer carrying its Mandate as context still takes it uncounted (RPC-016 (b))."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=0))
    _contract_with(b, bob, mallory)
    assert b.deals_with(mallory.principal.did)
    kept = 0
    for i in range(50):
        minted = fresh_key(i, clock, mallory.principal)[1]
        try:
            b.exchange(minted.envelope)
            kept += 1
        except RateLimited:
            pass
    assert kept <= 3
    # Not counted: the renewal of Mallory's own Mandate (an agent in the dealings), and a newcomer under
    # P opening a negotiation with its Mandate as context.
    renewed = mallory.principal.sign("mandate", mallory.mandate_vs.statement.mandate, ttl_ms=DAY_MS)
    b.exchange(renewed.envelope)
    dan = _under(mallory.principal, "dan", clock)
    b.exchange(dan.offer(bob, dan.proposal()).envelope, dan.setup)
    assert dan.mandate_vs.digest in b.verifier.statements


@pytest.mark.req("RPC-017", "ATT-018")
def test_one_contract_does_not_let_its_principal_drain_the_vouched_reserve() -> None:
    """Attack: Bob takes 8 newcomers' Offers an hour, 6 from anyone and 2 kept for newcomers vouched for by
    a principal in his dealings. Mallory makes one contract with Bob (its principal P is then in his
    dealings), and P signs Mandates for fresh agents, whose Offers Bob rejects: each is "vouched", so they
    take the whole budget, reserve included. Dan, whose Mandate Alice's principal signed (Alice holds a
    real contract with Bob), is refused. Defence: the reserve still has room for Dan."""
    clock = FixedClock()
    bob, alice, mallory = Party("bob", clock), Party("alice", clock), Party("mallory", clock)
    from a2a_coop.runtime.strangers import NewcomerOffers

    clock.now_ms -= clock.now_ms % 3_600_000  # the start of a window
    b = make_peer(bob, clock, newcomer_offers=NewcomerOffers(per_period=8))
    _contract_with(b, bob, alice)
    _contract_with(b, bob, mallory)
    for i in range(10):
        sybil = _under(mallory.principal, f"sybil{i}", clock)
        with contextlib.suppress(RateLimited):
            b.exchange(_low(sybil, bob).envelope, sybil.setup)
    dan = _under(alice.principal, "dan", clock)
    answers = b.exchange(_low(dan, bob).envelope, dan.setup)  # the hole: RATE_LIMITED
    assert verify_statement(answers[-1]).body == "reject"


@pytest.mark.req("ESC-017")
def test_a_partys_principal_cannot_mint_mandates_an_escrow_stamps_uncounted(tmp_path: Path) -> None:
    """Attack 2 at an escrow, where no consent is needed: Alice and Mallory, fresh keys with no funds,
    submit a contract naming the escrow as arbiter (no bonds; CMT-008 bounds the open ones per key), which
    makes Mallory's principal P a party's principal, in the escrow's dealings. P then submits Mandates
    naming fresh keys, each alone: issued by a key in the dealings, none was counted, each stamped -- the
    escrow's ledger and every auditor's download growing without bound. Defence: a Mandate by a key in
    the dealings for a key outside them counts (a renewal of a party's Mandate does not, nor does the
    Mandate a contract's evidence cites)."""
    clock = FixedClock()
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=4, per_key=0))
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    try:
        offer = mallory.offer(alice, mallory.proposal(escrow=escrow.did))
        accept = alice.accept(offer)
        node.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
        assert node.escrow.deals_with(mallory.principal.did)
        kept = 0
        for i in range(20):
            try:
                node.submit([fresh_key(i, clock, mallory.principal)[1].envelope])
                kept += 1
            except RateLimited:
                pass
        assert kept <= 4
        renewed = mallory.principal.sign("mandate", mallory.mandate_vs.statement.mandate, ttl_ms=DAY_MS)
        node.submit([renewed.envelope])
        assert renewed.digest in node.escrow.verifier.statements
    finally:
        node.close()


# --- 3: revoke-key --binding-from, a thief answering GetLog ------------------------------------------------


class _ThiefsPeer:
    """The agent's own peer as a thief who took it over answers it (the key was stolen from there): its
    log's first page holds ``log``, its head Checkpoint is ``head``; counts the pages asked."""

    def __init__(self, log: list[bytes], head: bytes, *, endless: bool = False) -> None:
        self.log, self.head, self.endless, self.pages = log, head, endless, 0

    def __call__(self, address: str, *, tls: Any = None) -> _ThiefsPeer:
        return self

    def __enter__(self) -> _ThiefsPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def log_pages(self, from_seq: int = 0) -> Any:
        while True:  # endless unless the caller stops asking: revoke-key reads BINDING_PAGES
            self.pages += 1
            yield list(self.log) if self.pages == 1 or not self.endless else []
            if not self.endless:
                return

    def get_checkpoint(self) -> bytes:
        return self.head


@pytest.mark.req("KEY-008")
def test_revoke_key_does_not_send_a_binding_every_verifier_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: the thief who took the agent's key took its peer too, and answers revoke-key's GetLog (and
    GetCheckpoint) with a Checkpoint of the key under the principal's Mandate, at seq 0 -- signed with the
    stolen key and dated before the Mandate's validity. revoke-key checked only its signer and Mandate and
    sent it as the revocation's binding: every target refuses it ``MANDATE_VIOLATION`` (MND-003), and the
    revocation with it (KEY-008: what the revocation depends on is checked first), while the principal is
    told only that the targets refused. Defence: revoke-key sends no binding that a verifier holding only
    the Mandate refuses -- it skips it in the log, and a usage error says why when nothing usable is left
    (the principal then gives --binding FILE)."""
    import io

    from a2a_coop.cli import keys
    from a2a_coop.cli._common import UsageError
    from a2a_coop.protocol.verifier import Verifier

    clock = FixedClock()
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    back = FixedClock(clock.now_ms - 3 * DAY_MS)
    thief = Signer("mallory/0", back)  # the same key (derived from the name), dated before the Mandate
    assert thief.did == k.did
    forged = thief.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle.root([])), mandate=mandate.digest
    )
    monkeypatch.setattr(keys, "CooperationClient", _ThiefsPeer([forged.envelope], forged.envelope))
    monkeypatch.setattr(keys, "wall_clock_ms", lambda: clock.now_ms)
    out = io.StringIO()
    try:
        [envelope] = keys._bindings(SimpleArgs(binding=[], binding_from="thief:1"), k.did, [mandate], out)
    except UsageError as err:
        assert "MND-003" in str(err) and "refused by every target" in str(err)  # the defence: not sent
        return
    v = Verifier()
    v.accept_statement(mandate, received_ms=clock.now_ms)
    v.check(verify_statement(envelope), received_ms=clock.now_ms)  # the hole: MANDATE_VIOLATION


@pytest.mark.req("KEY-008")
def test_a_getlog_that_never_ends_is_read_for_a_bounded_number_of_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack: the thief's peer answers each GetLog page with nothing and a next_seq always ahead, so that
    revoke-key reads for ever. Defence: at most BINDING_PAGES pages are read (CooperationClient.log_pages's
    max_pages, each call with the client's deadline), then the head Checkpoint is checked as a binding."""
    import io

    from a2a_coop.cli import keys
    from a2a_coop.cli._common import UsageError

    clock = FixedClock()
    k, mandate = fresh_key(0, clock)
    other = Signer("someone-else", clock).sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
    peer = _ThiefsPeer([], other.envelope, endless=True)
    monkeypatch.setattr(keys, "CooperationClient", peer)
    with pytest.raises(UsageError):
        keys._bindings(SimpleArgs(binding=[], binding_from="thief:1"), k.did, [mandate], io.StringIO())
    assert peer.pages == keys.BINDING_PAGES


class SimpleArgs:
    """The options of revoke-key that ``keys._bindings`` reads."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(
            {"tls_ca": None, "tls_cert": None, "tls_key": None, "tls_server_name": None, **kw}
        )


# --- 4: RPC-016's count, whose values it relies on ---------------------------------------------------------


def _unsigned(vs: VerifiedStatement) -> bytes:
    """``vs``'s envelope with its signature broken: a statement claiming ``vs``'s issuer that its key
    never signed (what Mallory can make of any key)."""
    from a2a_coop._proto.a2acoop.v1 import envelope_pb2

    env = envelope_pb2.Envelope()
    env.ParseFromString(vs.envelope)
    sig = bytearray(env.signatures[0].sig)
    sig[0] ^= 1
    env.signatures[0].sig = bytes(sig)
    return env.SerializeToString(deterministic=True)


@pytest.mark.req("RPC-016")
def test_forged_statements_of_a_key_spend_none_of_its_count() -> None:
    """Attack: Mallory sends Bob statements claiming K as their issuer -- K's Checkpoints, her own bytes
    with a signature K never made -- to spend K's per-key count (2 here) before K's own Mandate and
    Checkpoint arrive. Defence: a statement counts only once its signature is verified (verify_statement
    comes first): each forgery is refused ``SIGNATURE_INVALID``, and K's own are taken."""
    from a2a_coop.protocol.errors import SignatureError

    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=2))
    k, mandate = fresh_key(0, clock)
    real = _checkpoint(k, mandate)
    for i in range(3):
        fake = k.sign("checkpoint", identity_pb2.Checkpoint(log_root=bytes([i]) * 32), mandate=mandate.digest)
        with pytest.raises(SignatureError):
            b.exchange(_unsigned(fake), [mandate.envelope])
    k.writer.next_seq, k.writer.prev = 1, real.digest  # K's own chain goes on after its real Checkpoint
    b.exchange(real.envelope, [mandate.envelope])
    assert real.digest in b.verifier.statements


@pytest.mark.req("RPC-016", "ATT-019")
def test_a_statement_dated_ahead_does_not_move_the_quota_window() -> None:
    """Attack: with Bob's quota used up this hour, Mallory gossips him fresh keys' Mandates and Checkpoints
    dated 20 s ahead -- in the next hour, within the clock skew a verifier allows (TIM-003) -- hoping the
    count is read on the statements' date: a window of their own, with a fresh quota. Defence: the window
    is read on Bob's clock: none of them is kept, the window is still this hour's, and Bob's next hour
    takes keys again."""
    clock = FixedClock()
    clock.now_ms += 3_600_000 - clock.now_ms % 3_600_000 - 10_000  # 10 s before Bob's next window
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=4, per_key=0))
    for i in range(3):  # 3 of the 3 unsolicited
        b.exchange(fresh_key(i, clock)[1].envelope)
    ahead = FixedClock(clock.now_ms + 20_000)  # in the next window, within the skew (TIM-003)
    flood = []
    for i in range(10, 14):
        key, mandate = fresh_key(i, ahead)
        flood += [mandate.envelope, _checkpoint(key, mandate).envelope]
    b.gossip(flood, [])
    assert not any(verify_statement(e).digest in b.verifier.statements for e in flood)
    assert b._strangers is not None and b._strangers.window == clock.now_ms // 3_600_000
    clock.advance(10_000)
    b.exchange(fresh_key(20, clock)[1].envelope)


# --- 6: LOCK_NOT_DUE on an honest escrow's log -----------------------------------------------------------


@pytest.mark.req("AUD-004", "ESC-016")
def test_an_honest_escrow_that_takes_a_line_and_its_displacement_in_one_submit_audits_clean() -> None:
    """Attack (on the auditor's side): the audit's new finding, a BondLock of a contract another escrow's
    witnessed Accept displaced, must not fire on an honest escrow's log. Mallory's P1 and P2 submit in
    one Submit the line naming E (Offer, Counter, Accept: its bonds funded) and then K's Stamp and the
    Accept of the first Offer that displaces it: if E locked the bonds while taking the line and stamped
    the whole Submit after, the lock would follow... nothing: E must lock nothing for a contract displaced
    before it acts, and its audit must find nothing."""
    from peers import line_moved_to

    from a2a_coop._proto.a2acoop.v1 import commitment_pb2
    from a2a_coop.protocol.escrow_audit import audit_ledger
    from a2a_coop.testing import LocalEscrow

    clock = FixedClock()
    p1, p2, k = Party("p1", clock), Party("p2", clock), Party("k", clock)
    e = LocalEscrow(Party("escrow", clock), funds={p1.did: 1_000, p2.did: 1_000})
    o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, e.escrow.did, bond=100)
    clock.advance(1_000)
    a0 = p2.accept(o1)
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
    line = [*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope]
    e.submit([*line, *k.setup, stamp.envelope, a0.envelope])
    clock.advance(1_000)
    e.tick()
    assert [e.escrow.balance(p.did) for p in (p1, p2)] == [(1_000, 0)] * 2
    report = audit_ledger(e.escrow.transcript(), escrow=e.did)
    assert report.ok, report.findings


@pytest.mark.req("RPC-016", "ATT-018")
def test_a_party_of_one_contract_cannot_grow_the_journal_without_bound() -> None:
    """Attack: Mallory makes one contract with Bob (no bonds), then sends him Checkpoints of her own chain,
    one at each next seq, as requests: each is a statement of his dealings, never counted -- a hundred kept
    in a second. Defence: a key in the dealings has a per-key count of its public statements too -- one
    for each statement of a negotiation with Bob it made this period (her opening Offer too), and only
    for a key an escrow he trusts locked a bond of (or for), ``dealings_factor`` times a stranger's
    besides (16 x 4): what its trades with him need rides on that credit."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=4))
    _contract_with(b, bob, mallory)
    signed = [vs.digest for vs in b.verifier.statements.values() if vs.issuer == mallory.did]
    kept = 0
    for _ in range(100):
        cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
        clock.advance(10)
        try:
            b.exchange(cp.envelope)
        except RateLimited as over:
            assert over.requirement == "RPC-016" and over.retry_after_ms > 0
            continue
        signed.append(cp.digest)
        kept += 1
    # No base count (16 x 4) for a party of a contract without bonds: her opening Offer's credit only
    # (tests/test_attack19.py: each newcomer Offer Bob's strategy accepted bought 256 an hour, for good).
    assert kept == 1
    # Still not counted: what opens or moves a negotiation with Bob (RPC-012 bounds those) -- and each
    # such statement of a key in his dealings earns it one more public statement, no more.
    answers = b.exchange(mallory.offer(bob, mallory.proposal()).envelope, mallory.setup)
    assert "accept" in [verify_statement(a).body for a in answers]
    for more in (True, False):
        cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
        if more:
            b.exchange(cp.envelope)
            signed.append(cp.digest)
        else:
            with pytest.raises(RateLimited):
                b.exchange(cp.envelope)


# --- 3b: ESC-017, what rides uncounted beside an Offer naming the escrow ------------------------------------


@pytest.mark.req("ESC-017", "ESC-011")
def test_acks_beside_one_offer_naming_the_escrow_are_counted(tmp_path: Path) -> None:
    """Attack (measuring the row ESC-017 leaves open: statements beside an Offer naming the escrow): two
    fresh keys, M1 offering M2 terms naming the escrow, submit the Offer with thirty Acks of it signed by
    M2 -- each "an Ack naming a statement of the Submit's negotiation by a party of it", so none was
    counted: one Submit, 34 statements stamped into the transcript every auditor downloads, over a quota
    of four, and as many as a Submit holds. Defence: what a statement of a negotiation depends on is the
    witness of an Accept (WIT-004's offerer's Ack, NEG-017's other escrow's Stamp), one per key and
    Accept: Acks of an Offer count, and the Submit is refused ``RATE_LIMITED`` once past the quota (the
    Offer and Mandates before them stay taken, ESC-001). One Ack of an Accept by its offerer still rides
    uncounted with its contract's evidence."""
    from a2a_coop._proto.a2acoop.v1 import commitment_pb2

    clock = FixedClock()
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=4, per_key=0))
    try:
        m1, m2 = Party("m1", clock), Party("m2", clock)
        offer = m1.offer(m2, m1.proposal(escrow=escrow.did))
        acks = [
            m2.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=m1.did) for _ in range(30)
        ]
        with pytest.raises(RateLimited):
            node.submit([*m1.setup, *m2.setup, offer.envelope, *[a.envelope for a in acks]])
        assert sum(a.digest in node.escrow.verifier.statements for a in acks) <= 4
        # A contract's evidence with the offerer's Ack of the Accept (its witness, WIT-004): taken whole.
        alice, bob = Party("alice", clock), Party("bob", clock)
        o = alice.offer(bob, alice.proposal(escrow=escrow.did))
        clock.advance(1_000)
        accept = bob.accept(o)
        ack = alice.sign("ack", commitment_pb2.Ack(statement=accept.digest), audience=bob.did)
        node.submit([*alice.setup, *bob.setup, o.envelope, accept.envelope, ack.envelope])
        assert ack.digest in node.escrow.verifier.statements
    finally:
        node.close()


@pytest.mark.req("RPC-017", "RPC-016", "RPC-015")
def test_a_newcomers_offer_carries_no_uncounted_flood_in_its_context(tmp_path: Path) -> None:
    """Attack: Mallory, a newcomer, sends Bob one opening Offer he rejects (one unit of RPC-017's budget)
    with, as its context, her Mandate and thirty more Mandates naming her key as agent, each signed by a
    fresh principal (RPC-015 takes a Mandate naming a key the request names: its principal may revoke
    it). Defence: what such an Offer's context brings beside the Mandate it cites counts under RPC-016
    (here 4, 3 of them for what nobody asked for): over it the Offer is refused ``RATE_LIMITED`` and
    nothing is kept; within it, the minted Mandates are counted."""
    from a2a_coop.runtime.journal import Journal
    from a2a_coop.runtime.strangers import NewcomerOffers

    clock = FixedClock()
    bob, m = Party("bob", clock), Party("m", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(
            bob,
            clock,
            journal=journal,
            stranger_quota=StrangerQuota(per_period=4, per_key=0),
            newcomer_offers=NewcomerOffers(per_period=4),
        )
        start = sum(1 for _ in journal.statements())
        minted = [_minted_for(m.did, i, clock).envelope for i in range(30)]
        with pytest.raises(RateLimited, match="RPC-016"):  # its context over the quota: nothing kept
            b.exchange(_low(m, bob).envelope, [*m.setup, *minted])
        assert sum(1 for _ in journal.statements()) - start == 0
        # Within the quota, three minted Mandates ride in counted; alone, the Offer's own Mandate is
        # what it depends on, never counted.
        answers = b.exchange(_low(m, bob).envelope, [*m.setup, *minted[:3]])
        assert verify_statement(answers[-1]).body == "reject"
        dan = Party("dan", clock)
        assert verify_statement(b.exchange(_low(dan, bob).envelope, dan.setup)[-1]).body == "reject"
        assert sum(1 for _ in journal.statements()) - start == 3 + 3 + 3
        assert b._strangers is not None and b._strangers.count == 3


@pytest.mark.req("ESC-017", "ATT-018")
def test_a_party_of_one_contract_cannot_grow_an_escrows_transcript_without_bound(tmp_path: Path) -> None:
    """Attack (RPC-016's hole of a party of one contract, at an escrow, where no consent is needed):
    Alice and Mallory, fresh keys with no funds, submit a contract naming the escrow (no bonds), which puts
    Mallory and her principal P in its dealings for good (ESC-017). Mallory then submits Checkpoints of
    her own chain, one at each next seq, each alone, and P renewals of her Mandate: each issued by a key in
    the dealings, never counted -- a hundred of each stamped into the transcript every auditor downloads,
    without bound. Defence: a key in the dealings has a per-key count of its public statements too,
    ``dealings_factor`` times a stranger's (here 16 x 4), plus one for each statement of a contract naming
    the escrow it made this period: what its trades here need rides on that credit."""
    from a2a_coop.runtime.strangers import STRANGER_PERIOD_MS

    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a window
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=4, per_key=4))
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    try:
        offer = mallory.offer(alice, mallory.proposal(escrow=escrow.did))
        accept = alice.accept(offer)
        node.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
        assert node.escrow.deals_with(mallory.did) and node.escrow.deals_with(mallory.principal.did)
        # Funded: the dealings' base count is for keys the ledger credited (tests/test_attack18.py).
        for key in (mallory.did, mallory.principal.did):
            node.deposit(key, 1)
        held = node.escrow.verifier.statements
        signed = [offer.digest]

        def checkpoint() -> bool:
            cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
            clock.advance(10)
            try:
                node.submit([cp.envelope])
            except RateLimited as over:
                assert over.requirement == "ESC-017" and over.retry_after_ms > 0
                return False
            signed.append(cp.digest)
            return True

        assert sum(checkpoint() for _ in range(100)) == 4 * 16  # her Offer, before the contract, earned none
        renewals = 0
        for _ in range(100):
            renewed = mallory.principal.sign("mandate", mallory.mandate_vs.statement.mandate, ttl_ms=DAY_MS)
            with contextlib.suppress(RateLimited):
                node.submit([renewed.envelope])
            renewals += renewed.digest in held
        assert renewals == 4 * 16
        # Still taken, never counted: a statement of the contract -- and each one earns its issuer one more
        # public statement, no more.
        delivery = mallory.deliver(accept, alice)
        node.submit([delivery.envelope])
        assert delivery.digest in held
        signed = [d for d in held if held[d].issuer == mallory.did]
        assert [checkpoint(), checkpoint()] == [True, False]
    finally:
        node.close()


def _quota_escrow(tmp_path: Path, clock: FixedClock, quota: StrangerQuota) -> tuple[Party, EscrowNode]:
    """The escrow's Party and an EscrowNode on a journal in ``tmp_path``, with newcomer quota ``quota``
    (ESC-017), on ``clock``."""
    escrow = Party("escrow", clock)
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=quota,
    )
    return escrow, node
