"""A flood keeps out no revocation of a key a server holds nothing of (SPEC RPC-016, ESC-017, KEY-008).

The thief of an agent key K trades as K with a server that holds nothing of K -- its Offer counts
under RPC-017's budget at a peer, and is a statement of a negotiation at an escrow, neither of which the
newcomer quota counts -- while fresh keys' statements fill that quota, against which K's principal's
revocation of K, with its binding and Mandate, counts. Two parts close it:

* the revocations' reserve: a KeyRevocation the quota counts, with what its authority depends on, is
  taken from a reserve of its own once the quota has no room (a flood of other statements never keeps it
  out);
* the marks: a flood of fresh keys revoking themselves can fill that reserve too, so a revocation that
  passed its checks and was refused over the quota marks its key, whose statements are then refused --
  the thief's Offer among them -- for the rest of the period and the next ones (a day), in fixed memory.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from peers import fresh_key, make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.cli.keys import _submit_to_escrow
from a2a_coop.protocol.errors import KeyRevoked, RateLimited, RevocationUnauthorized
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strangers import (
    MARKS_SAVE_MS,
    META_STRANGERS,
    PENDING_PERIODS,
    STRANGER_PERIOD_MS,
    NewcomerOffers,
    PendingRevocations,
    StrangerCount,
    StrangerQuota,
)
from a2a_coop.testing import FixedClock, LocalEscrow, Party, Signer
from a2a_coop.transport import serve

pytestmark = [pytest.mark.req("RPC-016"), pytest.mark.req("ESC-017")]


def _self_revocation(i: int, clock: FixedClock) -> VerifiedStatement:
    """Fresh key ``i`` revokes itself: a real revocation (by the key), one statement, what a flood of
    revocations costs an attacker."""
    key = Signer(f"flood/{i}", clock)
    msg = identity_pb2.KeyRevocation(key=key.did, effective_ms=clock.now_ms, reason="flood")
    return key.sign("key_revocation", msg)


def _revocation(k: Party, clock: FixedClock) -> tuple[VerifiedStatement, VerifiedStatement]:
    """K's binding Checkpoint (signed before the theft) and its principal's revocation of K, effective
    half a second ago."""
    binding = k.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
    clock.advance(1_000)
    msg = identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms - 500, reason="stolen")
    return binding, k.principal.sign("key_revocation", msg)


def _flooded_peer(bob: Party, clock: FixedClock, *, revocations: int) -> Peer:
    """Bob, served-like (RPC-016, RPC-017), his quota of 4 filled by fresh keys' Mandates (3 of the 3
    unsolicited), and ``revocations`` statements of reserve filled by fresh keys revoking themselves."""
    quota = StrangerQuota(per_period=4, revocations=revocations)
    b = make_peer(bob, clock, stranger_quota=quota, newcomer_offers=NewcomerOffers())
    for i in range(3):
        b.exchange(fresh_key(i, clock)[1].envelope)
    with pytest.raises(RateLimited):
        b.exchange(fresh_key(3, clock)[1].envelope)
    for i in range(revocations):
        b.exchange(_self_revocation(i, clock).envelope)
    return b


def test_a_flood_of_revocations_that_fills_the_reserve_still_keeps_the_thief_out() -> None:
    """Fresh keys fill Bob's quota, then his revocations' reserve by revoking themselves. K's principal's
    revocation of K with its binding is refused RATE_LIMITED -- but it passed its checks, so K is marked:
    the thief's Offer under K is refused too, nothing of it kept, while an honest newcomer's Offer is
    taken. In the next period the mark holds still, the principal's retry is taken, and the thief's
    Offer is then refused KEY_REVOKED. Without the mark, the thief's Offer was accepted."""
    clock = FixedClock()
    bob, k, carol = Party("bob", clock), Party("k", clock), Party("carol", clock)
    b = _flooded_peer(bob, clock, revocations=2)
    with pytest.raises(RateLimited):
        b.exchange(_self_revocation(99, clock).envelope)  # the reserve is full
    binding, revocation = _revocation(k, clock)
    with pytest.raises(RateLimited):
        b.exchange(revocation.envelope, [k.mandate_vs.envelope, binding.envelope])
    assert k.did not in b.verifier.revoked
    thief = k.offer(bob, k.proposal())
    with pytest.raises(RateLimited, match="revocation of " + k.did):
        b.exchange(thief.envelope, k.setup)
    assert thief.digest not in b.verifier.statements
    honest = carol.offer(bob, carol.proposal())
    assert b.exchange(honest.envelope, carol.setup)  # answered: a newcomer not marked is taken

    clock.now_ms = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS  # the next period
    with pytest.raises(RateLimited, match="revocation of " + k.did):
        b.exchange(k.offer(bob, k.proposal()).envelope, k.setup)
    msg = identity_pb2.KeyRevocation(key=k.did, effective_ms=revocation.statement.key_revocation.effective_ms)
    again = k.principal.sign("key_revocation", msg)  # `revoke-key` run again: signed afresh
    b.exchange(again.envelope, [k.mandate_vs.envelope, binding.envelope])
    assert b.verifier.revoked[k.did] == msg.effective_ms
    with pytest.raises(KeyRevoked):
        b.exchange(k.offer(bob, k.proposal()).envelope, k.setup)


def test_the_reserve_takes_a_principals_revocation_and_its_binding_once_a_flood_filled_the_quota(
    tmp_path: Path,
) -> None:
    """The reserve holds what it is sized for, per period: two revocations with their binding and
    Mandate (three statements each) in a reserve of 6, over a full quota; the journal holds what it took
    with the quota's count, and a peer started again on it in the same period refuses a third (a crash
    grants no second reserve); the next period takes it."""
    clock = FixedClock()
    bob = Party("bob", clock)
    quota = StrangerQuota(per_period=4, revocations=6)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal, stranger_quota=quota)
        for i in range(3):
            b.exchange(fresh_key(i, clock)[1].envelope)
        with pytest.raises(RateLimited):
            b.exchange(fresh_key(3, clock)[1].envelope)
        for name in ("k1", "k2"):
            k = Party(name, clock)
            binding, revocation = _revocation(k, clock)
            b.exchange(revocation.envelope, [k.mandate_vs.envelope, binding.envelope])
            assert k.did in b.verifier.revoked
        assert journal.get_meta(META_STRANGERS) == [clock.now_ms // STRANGER_PERIOD_MS, 3, 6]
    k3 = Party("k3", clock)
    binding, revocation = _revocation(k3, clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        again = make_peer(bob, clock, journal=journal, stranger_quota=quota)
        with pytest.raises(RateLimited, match="revocations over the quota"):
            again.exchange(revocation.envelope, [k3.mandate_vs.envelope, binding.envelope])
        clock.now_ms = (clock.now_ms // STRANGER_PERIOD_MS + 1) * STRANGER_PERIOD_MS
        msg = identity_pb2.KeyRevocation(key=k3.did, effective_ms=clock.now_ms - 500)
        again.exchange(
            k3.principal.sign("key_revocation", msg).envelope, [k3.mandate_vs.envelope, binding.envelope]
        )
        assert k3.did in again.verifier.revoked


def test_only_a_revocation_that_passes_its_checks_marks_its_key() -> None:
    """Over a full quota and reserve, revocations of Carol's key that fail their checks -- by a key she
    never accepted, or by her principal with no binding Bob holds -- are refused with their own code
    (ERR-002) and mark nothing: Carol's Offer is taken. Her key can be marked only with her signature or
    her principal's, and then it is a real revocation."""
    clock = FixedClock()
    bob, carol = Party("bob", clock), Party("carol", clock)
    b = _flooded_peer(bob, clock, revocations=0)
    stranger = Signer("stranger", clock)
    msg = identity_pb2.KeyRevocation(key=carol.did, effective_ms=clock.now_ms, reason="spite")
    for revoker in (stranger, carol.principal):
        with pytest.raises(RevocationUnauthorized):
            b.exchange(revoker.sign("key_revocation", msg).envelope)
    assert b.exchange(carol.offer(bob, carol.proposal()).envelope, carol.setup)


def test_a_key_in_the_dealings_is_never_refused_for_a_mark() -> None:
    """A mark another key's revocations may seem to set (PendingRevocations: a key may look marked under
    a flood of marks) never refuses a key in Bob's dealings: a flood must never keep out a counterparty.
    A stranger's statements are refused while marked."""
    clock = FixedClock()
    bob, alice, carol = Party("bob", clock), Party("alice", clock), Party("carol", clock)
    b = _flooded_peer(bob, clock, revocations=0)
    opened = alice.offer(bob, alice.proposal())
    b.exchange(opened.envelope, alice.setup)
    assert b.deals_with(alice.did)
    assert b._strangers is not None
    for key in (alice.did, carol.did):
        b._strangers.mark(key, clock.now_ms)
    assert b.exchange(alice.offer(bob, alice.proposal()).envelope, alice.setup)
    with pytest.raises(RateLimited, match="revocation of " + carol.did):
        b.exchange(carol.offer(bob, carol.proposal()).envelope, carol.setup)


def test_pending_revocations_keep_every_mark_in_fixed_memory_for_the_period_and_the_next_ones() -> None:
    """A mark lasts from the period it was set in through PENDING_PERIODS more, whatever else is marked
    meanwhile (no mark is ever lost: a flood only makes other keys look marked), in an array of fixed size;
    two servers draw their own hash keys, so which keys collide is nobody's choice."""
    period = 1_000
    pending = PendingRevocations(period, slots=1 << 12)
    pending.mark("k", 5_500)
    assert pending.lapses("k", 5_500) == (5 + PENDING_PERIODS + 1) * period
    for i in range(3_000):  # a flood of marks: "k" stays marked
        pending.mark(f"flood/{i}", 5_999)
    assert pending.lapses("k", (5 + PENDING_PERIODS) * period + 999) is not None
    assert pending.lapses("k", (5 + PENDING_PERIODS + 1) * period) is None
    assert pending._marks is not None and len(pending._marks) == 1 << 12
    back = PendingRevocations(period, slots=1 << 12)  # our clock set back a period: the mark holds
    back.mark("k", 10_000)
    assert back.lapses("k", 9_000) == (10 + PENDING_PERIODS + 1) * period
    idle = PendingRevocations(period, periods=2, slots=1 << 12)  # 255 periods idle: no number comes round
    idle.mark("k", 0)
    assert idle.lapses("k", 255 * period) is None and idle.lapses("k", 3 * period) is None
    other = PendingRevocations(period, slots=1 << 12)
    assert other._where("k") != pending._where("k")  # a secret hash key each (2**-48 to collide)
    assert PendingRevocations(period).lapses("k", 0) is None  # nothing allocated before the first mark


# -- at an escrow (ESC-017) ------------------------------------------------------------------------------


def _escrow(path: Path, escrow: Party, clock: FixedClock, revocations: int) -> EscrowNode:
    """An escrow node whose quota of 4 fresh keys' Mandates filled, and ``revocations`` statements of
    reserve fresh keys revoking themselves."""
    quota = StrangerQuota(per_period=4, per_key=0, revocations=revocations)
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        path,
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=quota,
    )
    for i in range(4):
        node.submit([fresh_key(i, clock)[1].envelope])
    with pytest.raises(RateLimited):
        node.submit([fresh_key(4, clock)[1].envelope])
    for i in range(revocations):
        node.submit([_self_revocation(i, clock).envelope])
    return node


def test_an_escrow_takes_a_revocation_with_its_binding_from_the_reserve_over_a_full_quota(
    tmp_path: Path,
) -> None:
    """Strangers filled the escrow's quota; K's principal submits [Mandate, binding, revocation] (what
    `revoke-key` sends once the quota refused the context apart): the reserve takes the Mandate and the
    binding, and the revocation is then of a key the escrow holds a statement of (uncounted): taken. The
    thief's Offer under K naming the escrow is refused KEY_REVOKED. Without the reserve, the Mandate was
    refused RATE_LIMITED and the revocation never reached."""
    clock = FixedClock()
    escrow, k, bob = Party("escrow", clock), Party("k", clock), Party("bob", clock)
    node = _escrow(tmp_path / "e.db", escrow, clock, revocations=0)
    try:
        node.escrow.quota = node.strangers = StrangerCount(
            StrangerQuota(per_period=4, per_key=0, revocations=4),
            [clock.now_ms // STRANGER_PERIOD_MS, 4],
            clock.now_ms,
        )
        binding, revocation = _revocation(k, clock)
        node.submit([k.mandate_vs.envelope, binding.envelope, revocation.envelope])
        assert node.escrow.verifier.revoked[k.did] == revocation.statement.key_revocation.effective_ms
        with pytest.raises(KeyRevoked):
            node.submit([*k.setup, k.offer(bob, k.proposal(escrow=escrow.did)).envelope])
    finally:
        node.close()


def test_a_flood_that_fills_an_escrows_reserve_still_keeps_the_thiefs_contract_out(tmp_path: Path) -> None:
    """The escrow's quota and reserve are full; K's principal's [Mandate, binding, revocation] is refused
    RATE_LIMITED at the Mandate, but the revocation passes its checks beside the two: K is marked, and
    the thief's Offer under K naming the escrow is refused (no contract of K's stamped here before the
    revocation, KEY-009), while an honest newcomer's is taken. A forged package -- a binding under
    another principal's Mandate -- marks nothing. Without the mark, the thief's Offer was stamped."""
    clock = FixedClock()
    escrow, k, bob, carol = (
        Party("escrow", clock),
        Party("k", clock),
        Party("bob", clock),
        Party("carol", clock),
    )
    node = _escrow(tmp_path / "e.db", escrow, clock, revocations=2)
    try:
        with pytest.raises(RateLimited):
            node.submit([_self_revocation(99, clock).envelope])
        # A stranger's "revocation" of Carol with a Mandate it minted for her and no statement of hers:
        # refused at the Mandate over the quota, the revocation failing its checks beside it.
        stranger = Signer("stranger", clock)
        caps = identity_pb2.Mandate(
            agent=carol.did,
            valid_from_ms=clock.now_ms,
            valid_until_ms=clock.now_ms + 3_600_000,
            currency="credit",
            period_ms=3_600_000,
        )
        minted = stranger.sign("mandate", caps, ttl_ms=3_600_000)
        msg = identity_pb2.KeyRevocation(key=carol.did, effective_ms=clock.now_ms, reason="spite")
        with pytest.raises(RateLimited):
            node.submit([minted.envelope, stranger.sign("key_revocation", msg).envelope])
        binding, revocation = _revocation(k, clock)
        with pytest.raises(RateLimited):
            node.submit([k.mandate_vs.envelope, binding.envelope, revocation.envelope])
        assert k.did not in node.escrow.verifier.revoked
        thief = k.offer(bob, k.proposal(escrow=escrow.did))
        with pytest.raises(RateLimited, match="revocation of " + k.did):
            node.submit([*k.setup, thief.envelope])
        assert thief.digest not in node.escrow.verifier.statements
        node.submit([*carol.setup, carol.offer(bob, carol.proposal(escrow=escrow.did)).envelope])
    finally:
        node.close()


def test_revoke_key_sends_the_revocation_with_its_binding_to_an_escrow_whose_quota_refused_them_apart() -> (
    None
):
    """`revoke-key` submits the context, then the revocation alone (an escrow stops at the first envelope
    it refuses, ESC-001): with the quota full, the context was refused RATE_LIMITED and the revocation
    REVOCATION_UNAUTHORIZED, the reserve never seeing a revocation beside its binding. It now submits
    [Mandate, binding, revocation] together once the quota refused the context: taken from the reserve."""
    clock = FixedClock()
    k = Party("k", clock)
    escrow = LocalEscrow(Party("escrow", clock))
    escrow.escrow.quota = StrangerCount(
        StrangerQuota(per_period=2, per_key=0, revocations=4), None, clock.now_ms
    )
    for i in range(2):
        escrow.submit([fresh_key(i, clock)[1].envelope])
    binding, revocation = _revocation(k, clock)
    out = io.StringIO()
    with serve(None, escrow) as server:
        assert _submit_to_escrow(server.target, revocation, [*k.setup, binding.envelope], None, out)
    said = out.getvalue()
    assert said.startswith(f"escrow {server.target}: taken") and "RATE_LIMITED" in said, said
    assert escrow.escrow.verifier.revoked[k.did] == revocation.statement.key_revocation.effective_ms


def _thief_held_key_over_a_full_quota(
    revocations: int,
) -> tuple[FixedClock, Peer, Signer, Signer, VerifiedStatement, VerifiedStatement]:
    """Bob's peer, 6 unsolicited statements a period and ``revocations`` in reserve. K's principal
    (``boss``) gave K a Mandate (``first``), and K bound itself to it by a Checkpoint (``binding``), neither
    shown Bob; the thief's Checkpoint of K under its own principal's Mandate was taken while the quota had
    room (K held, bound to the thief's principal only); strangers then filled the quota (4 of the 4
    unsolicited: a fifth is refused RATE_LIMITED). Returns ``(clock, b, boss, k, first, binding)``."""
    clock = FixedClock()
    bob, boss = Party("bob", clock), Signer("k-principal", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=6, revocations=revocations))
    k, first = fresh_key(0, clock, boss)
    binding = k.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=first.digest)
    thief, own = fresh_key(0, clock, Signer("thief-principal", clock))  # K again, signing anew
    b.exchange(
        thief.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=own.digest).envelope,
        [own.envelope],
    )
    b.exchange(fresh_key(1, clock)[1].envelope)
    b.exchange(fresh_key(2, clock)[1].envelope)  # 4 of the 4 unsolicited
    with pytest.raises(RateLimited):
        b.exchange(fresh_key(3, clock)[1].envelope)
    return clock, b, boss, k, first, binding


def test_a_held_keys_revocation_with_its_principals_renewals_is_taken_over_a_full_quota() -> None:
    """The thief's Checkpoint of K under its own principal's Mandate was taken while the quota had room
    (K is held, bound to the thief's principal only); strangers then filled the quota. K's principal
    revokes K with its two Mandates for K and K's binding (`revoke-key` sends every Mandate it holds): the
    revocation is uncounted (RPC-016 (c), the first of its revoker), the binding shown (it forks the
    thief's), and the renewal, which nothing taken cites, counts (RPC-016 (b)) -- from the reserve, the
    quota being full. Without the reserve there, the revocation was refused RATE_LIMITED."""
    clock, b, boss, k, first, binding = _thief_held_key_over_a_full_quota(revocations=3)
    renewal = fresh_key(0, clock, boss)[1]
    clock.advance(1_000)
    msg = identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms - 500, reason="stolen")
    b.exchange(
        boss.sign("key_revocation", msg).envelope, [first.envelope, renewal.envelope, binding.envelope]
    )
    assert b.verifier.revoked[k.did] == msg.effective_ms and renewal.digest in b.verifier.mandates


@pytest.mark.req("RPC-016", "KEY-008")
def test_the_mandate_a_revocations_binding_cites_is_not_counted() -> None:
    """RPC-016 (b): of the Mandates taken with a request of the dealings, those the request or what is
    taken with it cites are exempt -- for a KeyRevocation, the one its binding (KEY-008 (b)) cites too,
    whether the binding is taken or, as here, only shown. With the quota full and no reserve, K's
    principal's revocation with [its Mandate for K, K's binding] as context is taken: counted, that
    Mandate would have had it refused RATE_LIMITED."""
    clock, b, boss, k, first, binding = _thief_held_key_over_a_full_quota(revocations=0)
    clock.advance(1_000)
    msg = identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms - 500, reason="stolen")
    b.exchange(boss.sign("key_revocation", msg).envelope, [first.envelope, binding.envelope])
    assert b.verifier.revoked[k.did] == msg.effective_ms and first.digest in b.verifier.mandates


# -- across a restart, and the reserve's size on the command line -------------------------------------------


def _marked_over_a_full_reserve(b: Peer, k: Party, clock: FixedClock) -> None:
    """K's principal's revocation of K with its binding, refused over Bob's full quota and reserve: K
    marked (the thief's Offer under K refused)."""
    binding, revocation = _revocation(k, clock)
    with pytest.raises(RateLimited):
        b.exchange(revocation.envelope, [k.mandate_vs.envelope, binding.envelope])
    with pytest.raises(RateLimited, match="revocation of " + k.did):
        b.exchange(k.offer(Party("bob", clock), k.proposal()).envelope, k.setup)


def test_a_restart_keeps_the_keys_marked(tmp_path: Path) -> None:
    """The marks were memory only: a restart -- a deploy, or a crash -- forgot them, and the thief
    traded under K from then on, the flooder starting again from a clean slate. They are journaled (the
    array, compressed, with its hash key): the first mark at once, later ones at most once a minute and
    at a clean close. A peer started again on the journal refuses the thief's Offer under K still (a
    mark set at once, and one saved at close), and lets an honest newcomer in."""
    clock = FixedClock()
    bob, k1, k2, carol = Party("bob", clock), Party("k1", clock), Party("k2", clock), Party("carol", clock)
    quota = StrangerQuota(per_period=4, revocations=0)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal, stranger_quota=quota, newcomer_offers=NewcomerOffers())
        for i in range(3):
            b.exchange(fresh_key(i, clock)[1].envelope)
        _marked_over_a_full_reserve(b, k1, clock)  # the first mark: journaled at once (a crash keeps it)
        _marked_over_a_full_reserve(b, k2, clock)  # within the minute: journaled at close
        b.save_marks()  # what PeerNode.close does
    with Journal.open(tmp_path / "bob.db") as journal:
        again = make_peer(bob, clock, journal=journal, stranger_quota=quota, newcomer_offers=NewcomerOffers())
        for k in (k1, k2):
            with pytest.raises(RateLimited, match="revocation of " + k.did):
                again.exchange(k.offer(bob, k.proposal()).envelope, k.setup)
        assert again.exchange(carol.offer(bob, carol.proposal()).envelope, carol.setup)


def test_marks_are_journaled_at_most_once_a_minute_and_read_back_whole() -> None:
    """A flood marking keys without end costs one write of the marks a minute (MARKS_SAVE_MS); what was
    written reads back the same marks (the hash key with them), and anything else -- another size, a
    damaged blob -- is no marks at all, never an error."""
    period = 1_000
    pending = PendingRevocations(period, slots=1 << 12)
    assert not pending.due(0)
    pending.mark("k", 5_500)
    assert pending.due(5_500)
    stored = pending.dump(5_500)
    pending.mark("flood/1", 5_600)
    assert not pending.due(5_500 + MARKS_SAVE_MS - 1) and pending.due(5_500 + MARKS_SAVE_MS)
    back = PendingRevocations(period, slots=1 << 12, stored=stored)
    assert back.lapses("k", 5_600) == pending.lapses("k", 5_600) is not None
    assert back.lapses("flood/1", 5_600) is None  # marked after the dump
    for bad in (None, [5, b"x" * 16, b"not zlib"], stored[:2], PendingRevocations(period, slots=8).dump(0)):
        assert PendingRevocations(period, slots=1 << 12, stored=bad).lapses("k", 5_600) is None


def test_an_escrow_restarted_keeps_the_keys_marked(tmp_path: Path) -> None:
    """The escrow's marks too survive a restart (journaled with a Submit's write, and at close)."""
    clock = FixedClock()
    escrow, k, bob = Party("escrow", clock), Party("k", clock), Party("bob", clock)
    node = _escrow(tmp_path / "e.db", escrow, clock, revocations=0)
    try:
        binding, revocation = _revocation(k, clock)
        with pytest.raises(RateLimited):
            node.submit([k.mandate_vs.envelope, binding.envelope, revocation.envelope])
    finally:
        node.close()
    quota = StrangerQuota(per_period=4, per_key=0, revocations=0)
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=quota,
    )
    try:
        with pytest.raises(RateLimited, match="revocation of " + k.did):
            node.submit([*k.setup, k.offer(bob, k.proposal(escrow=escrow.did)).envelope])
    finally:
        node.close()


class _Built(Exception):
    """The quota a command built: enough seen."""


@pytest.mark.parametrize("command", [["serve"], ["escrow", "serve"]])
def test_serve_takes_the_reserves_size_from_its_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """`serve` and `escrow serve --revocation-statements N` size the revocations' reserve; a bad value is
    one line of error."""
    from a2a_coop.cli.demo import provision
    from a2a_coop.cli.main import main

    seen: list[StrangerQuota] = []

    def built(**kw: int) -> StrangerQuota:
        seen.append(StrangerQuota(**kw))
        raise _Built

    module = "a2a_coop.cli.peer" if command == ["serve"] else "a2a_coop.cli.escrow"
    monkeypatch.setattr(f"{module}.StrangerQuota", built)
    who = provision(tmp_path, "x")
    with contextlib.suppress(_Built):
        main([*command, *who.files(), "--revocation-statements", "7"])
    assert seen and seen[0].revocations == 7
    capsys.readouterr()
    assert main([*command, *who.files(), "--revocation-statements", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--revocation-statements" in err, err
