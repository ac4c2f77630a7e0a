"""KEY-013 and KEY-012 (a) below a verifier's chain window (bounded memory, a2a_coop.protocol.archive).

A verifier with an archive keeps only the recent links of each issuer's chain in memory (a
:class:`~a2a_coop.protocol.chain.ChainView`'s window); the seqs below ``ChainView.floor`` are read back from
the archive (a peer's journal). The journal holds every statement the verifier took -- a key's own
KeyRevocation too, which in a sparse view joins no chain (KEY-013). A key with hundreds of statements, its
own revocation forked at a low seq (or a KeyRotation forked into a used seq, KEY-012 (a)), and the
statements it reaches, fed in several orders to a verifier keeping a small window over a journal and to one
holding everything in memory: the two must count the same statements (held, and not disowned), revoke the
key from the same time, hold the same fork proofs and refuse the same statements with the same codes.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.archive import Nearest
from a2a_coop.protocol.chain import ChainSigner, ChainView
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import _ReplayArchive
from a2a_coop.testing import FixedClock, Party

WINDOW = 8  # the links of a chain a bounded verifier keeps in memory: small, so its floor rises early
LENGTH = 320  # Alice's statements: far past twice the window, so most of her chain is in the archive only
FORK_AT = 5  # the seq the thief's statement forks: far below the floor once her chain is heard

_KINDS = ({"me": "bob"}, {"evidence_view": False}, {})  # a live receiver (Bob), an escrow, a view


class Scene:
    """Alice's key signs ``LENGTH`` statements (public Checkpoints, their log_roots right, a second apart;
    with an escrow, the two at ``FORK_AT`` and the next are Offers to Bob naming it); a thief holding her key
    signs ``fork``, at ``FORK_AT``, linked to her statement below: the key's own revocation (back to 1 ms),
    or a KeyRotation to a key of its own -- dated between her statements at ``FORK_AT`` - 1 and ``FORK_AT``,
    or (``late``) after her last. ``stamps``: the escrow's, of her two Offers then of the fork, or the other
    way round (``fork_stamped_first``)."""

    def __init__(
        self,
        *,
        body: str = "key_revocation",
        late: bool = False,
        escrow: bool = False,
        fork_stamped_first: bool = False,
    ) -> None:
        clock = self.clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.escrow = Party("escrow", clock) if escrow else None
        chain: list[VerifiedStatement] = []
        forked_at = 0
        for seq in range(LENGTH):
            if self.escrow is not None and seq in (FORK_AT, FORK_AT + 1):
                vs = self.alice.offer(self.bob, self.alice.proposal(escrow=self.escrow.did))
            else:
                root = merkle_root([x.digest for x in chain])
                vs = self.alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=root))
            assert vs.seq == seq
            chain.append(vs)
            if seq == FORK_AT - 1:
                forked_at = clock.now_ms + 500
            clock.advance(1_000)
        if late:
            forked_at = clock.now_ms + 500
        self.chain = chain
        thief = ChainSigner(
            self.alice.agent.key,
            clock=lambda: forked_at,
            nonce=lambda: b"thief-nonce-0001",
            head=(FORK_AT, chain[FORK_AT - 1].digest),
        )
        if body == "key_revocation":
            message = identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1, reason="stolen")
        else:
            message = identity_pb2.KeyRotation(new_key=Party("thief-new", clock).did)
        self.fork = thief.sign(body, message)
        assert self.fork.seq == FORK_AT and self.fork.prev == chain[FORK_AT].prev
        self.stamps: list[VerifiedStatement] = []
        if self.escrow is not None:
            clock.advance(1_000)
            offers = commitment_pb2.Stamp(statements=[chain[FORK_AT].digest, chain[FORK_AT + 1].digest])
            fork = commitment_pb2.Stamp(statements=[self.fork.digest])
            for stamp in (fork, offers) if fork_stamped_first else (offers, fork):
                self.stamps.append(self.escrow.sign("stamp", stamp))
                clock.advance(1)
        self.setup = [
            *(verify_statement(env) for env in self.alice.setup),
            *(verify_statement(env) for env in self.bob.setup),
            *(verify_statement(env) for env in (self.escrow.setup if self.escrow is not None else ())),
            *self.stamps,
        ]

    def orders(self) -> dict[str, list[VerifiedStatement]]:
        """The orders each verifier hears Alice's statements and the fork in."""
        chain, fork = self.chain, self.fork
        at = chain[FORK_AT]
        rest = [vs for vs in chain if vs is not at]
        shuffled = [*chain, fork]
        random.Random(22).shuffle(shuffled)
        return {
            "chain, then the fork": [*chain, fork],
            "the fork, then the chain": [fork, *chain],
            "the chain up to the fork, the fork, the rest": [*chain[:FORK_AT], fork, *chain[FORK_AT:]],
            "the chain but the forked statement, the fork, then it": [*rest, fork, at],
            "the chain but the forked statement, then it, then the fork": [*rest, at, fork],
            "the fork, the chain but the forked statement, then it": [fork, *rest, at],
            "the chain backwards, then the fork": [*reversed(chain), fork],
            "the fork, then the chain backwards": [fork, *reversed(chain)],
            "shuffled": shuffled,
        }

    def verifier(self, kind: dict[str, object], journal: Journal | None) -> Verifier:
        """A verifier of ``kind``; with ``journal``, one reading what it forgot there, keeping a window of
        ``WINDOW`` links of Alice's chain in memory."""
        v = Verifier(**{k: self.bob.did if x == "bob" else x for k, x in kind.items()})  # type: ignore[arg-type]
        if journal is not None:
            v.use_archive(journal)
            v.chains[self.alice.did] = ChainView(self.alice.did, archive=journal, window=WINDOW)
        return v


def _fed(v: Verifier, statements: list[VerifiedStatement], journal: Journal | None) -> list[CoopError]:
    """Feed ``v`` each statement in order, journaling each it takes before the next (write-ahead, as a peer
    does); the refusals."""
    refused = []
    for vs in statements:
        try:
            v.accept_statement(vs)
        except CoopError as e:
            refused.append(e)
            continue
        if journal is not None:
            journal.record_batch([(vs, [], False)], at_ms=0)
    return refused


def _replayed(scene: Scene, kind: dict[str, object], journal: Journal) -> Verifier:
    """A verifier of ``kind`` rebuilt from ``journal`` as a peer restarting rebuilds its own (Peer._replay):
    each statement in journal order, its archive the whole journal -- which holds statements ahead of the
    one being checked, the thief's revocation among them. Any refusal fails the rebuild (a peer that cannot
    start)."""
    v = scene.verifier(kind, None)
    archive = _ReplayArchive(journal)
    v.use_archive(archive, replay=False)  # every statement is in it: no replay reads (as Peer._replay)
    v.chains[scene.alice.did] = ChainView(scene.alice.did, archive=archive, window=WINDOW)
    for rowid, _, envelope in journal.statements():
        v.accept_statement(verify_statement(envelope))
        archive.upto = rowid
    return v


def _verdict(v: Verifier, scene: Scene, refused: list[CoopError]) -> tuple[object, ...]:
    """What ``v`` concluded: the statements that count (held, and -- a KeyRevocation or KeyRotation aside --
    not disowned, KEY-009: Alice's by seq, the thief's as "fork"), when Alice's key is revoked or rotated
    from, the keys the fork proofs it holds convict (those its refusals carried, ATT-011, and those it found
    between statements it took, KEY-013), and the code and requirement of each refusal."""
    counted = frozenset(
        "fork" if vs is scene.fork else vs.seq
        for vs in [*scene.chain, scene.fork]
        if vs.digest in v.statements and (vs is scene.fork or not v.disowned(vs))
    )
    proofs = [fork_proof_from(e) for e in refused]
    found = [ForkProof(*pair) for pair in v.own_revocation_forks.values()]
    convicted = frozenset(verify_fork_proof(p) for p in (*proofs, *found) if p is not None)
    did = scene.alice.did
    return (
        counted,
        scene.fork.digest in v.statements,
        v.revoked.get(did),
        v.rotated.get(did),
        convicted,
        tuple(f"{e.code} {e.requirement}" for e in refused),
    )


def _compare(
    scene: Scene, tmp_path: Path, kinds: tuple[dict[str, object], ...] = _KINDS, *, replay: bool = True
) -> set[tuple[object, ...]]:
    """Each order of :meth:`Scene.orders`, fed to each kind of verifier bounded and unbounded: asserts the
    two reach the same verdict, that the bounded one read its chain back from the archive, and (``replay``)
    that one rebuilt from the bounded one's journal takes every statement in it and counts the same; returns
    the verdicts (less the refusals, which the order decides) seen, each with whether its verifier was a
    view of evidence."""
    seen: set[tuple[object, ...]] = set()
    read_back = 0
    for k, kind in enumerate(kinds):
        for n, (name, order) in enumerate(scene.orders().items()):
            statements = [*scene.setup, *order]
            whole = scene.verifier(kind, None)
            expected = _verdict(whole, scene, _fed(whole, statements, None))
            journal = Journal.open(tmp_path / f"{k}-{n}.db", durability="normal")
            try:
                bounded = scene.verifier(kind, journal)
                got = _verdict(bounded, scene, _fed(bounded, statements, journal))
                view = bounded.chains[scene.alice.did]
                assert len(view.links) <= 2 * WINDOW, name
                read_back += view.floor > FORK_AT  # most of her chain held, in the archive only
                if replay:
                    rebuilt = _replayed(scene, kind, journal)
                    assert _verdict(rebuilt, scene, [])[:4] == got[:4], (kind, name)
            finally:
                journal.close()
            assert got == expected, (kind, name)
            seen.add((*expected[:5], kind.get("evidence_view", True) and "me" not in kind))
    assert read_back >= len(kinds) * 3, read_back  # the orders that hold her chain went past the window
    return seen


@pytest.mark.req("KEY-013", "KEY-011", "KEY-012", "CHN-004")
def test_a_forked_own_revocation_below_the_window_counts_as_with_everything_in_memory(tmp_path: Path) -> None:
    """The thief's revocation of Alice's key at seq 5, linked to her seq 4, dated between them, among her 320
    statements: a verifier keeping 8 to 16 of her links in memory reaches the verdict of one holding them all
    -- her statements from seq 5 on disowned or refused, the key revoked from the revocation's time, the
    fork's proof held -- in every order."""
    scene = Scene()
    seen = _compare(scene, tmp_path)
    reached = frozenset(range(FORK_AT))
    for counted, taken, revoked, rotated, convicted, _ in seen:
        assert counted == reached | {"fork"} and taken  # the revocation counts, at its seq
        assert revoked == scene.fork.issued_at_ms and rotated is None
        assert convicted == {scene.alice.did}


@pytest.mark.req("KEY-013", "KEY-011", "CHN-004", "CHN-005")
def test_a_late_forked_own_revocation_below_the_window_counts_as_with_everything_in_memory(
    tmp_path: Path,
) -> None:
    """The thief's revocation at seq 5 dated after Alice's last statement (time runs backwards along her
    chain, CHN-005): it reaches none of her statements (KEY-011 (a)), and every one counts in every order --
    in a bounded verifier too, whose archive holds the revocation at seq 5: read there as a link of her
    chain, it refused her statement at seq 5 heard after it (EQUIVOCATION) and her statements below it
    heard after it (CHAIN_BROKEN, CHN-005), where one holding everything in memory took them."""
    scene = Scene(late=True)
    seen = _compare(scene, tmp_path, ({"me": "bob"}, {}))
    for counted, taken, revoked, _, convicted, _ in seen:
        assert counted == frozenset([*range(LENGTH), "fork"]) and taken
        assert revoked == scene.fork.issued_at_ms and convicted == {scene.alice.did}


@pytest.mark.req("KEY-013", "KEY-009", "KEY-012")
@pytest.mark.parametrize("fork_stamped_first", [False, True])
def test_a_forked_own_revocation_below_the_window_counts_what_its_escrow_witnessed_first(
    tmp_path: Path, fork_stamped_first: bool
) -> None:
    """Alice's statements at seq 5 and 6 are Offers naming an escrow, which stamps them before the thief's
    revocation forked at seq 5 (or after it): a view of evidence counts them (or neither) in every order, a
    bounded one too -- the revocation in its archive is no link of her chain there."""
    scene = Scene(escrow=True, fork_stamped_first=fork_stamped_first)
    seen = _compare(scene, tmp_path, ({"evidence_view": False}, {}), replay=False)
    views = {v[:5] for v in seen if v[5]}
    witnessed = frozenset() if fork_stamped_first else frozenset({FORK_AT, FORK_AT + 1})
    assert views == {
        (
            frozenset([*range(FORK_AT), "fork"]) | witnessed,
            True,
            scene.fork.issued_at_ms,
            None,
            frozenset({scene.alice.did}),
        )
    }


@pytest.mark.req("KEY-012", "KEY-005", "CHN-003", "CHN-004")
def test_a_rotation_forked_below_the_window_is_read_as_with_everything_in_memory(tmp_path: Path) -> None:
    """KEY-012 (a) below the floor: the thief's KeyRotation of Alice's key at seq 5, linked to her seq 4 --
    it joins her chain (a rotation is its last link, KEY-005) -- heard in every order with her 320
    statements: a bounded verifier refuses and takes what one holding everything refuses and takes, with
    the same proofs."""
    scene = Scene(body="key_rotation")
    seen = _compare(scene, tmp_path, ({"me": "bob"}, {}), replay=False)
    for _, _, revoked, _, convicted, _ in seen:  # which half each holds, the order decides (KEY-011)
        assert revoked is None and convicted == {scene.alice.did}
    assert {rotated for _, _, _, rotated, _, _ in seen} == {None, FORK_AT}  # both halves were held


class _Counting:
    """A journal as an archive, counting the chain links asked of it (and the statements passed over)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.asked = 0

    def by_digest(self, digest: bytes) -> bytes | None:
        return self.journal.by_digest(digest)

    def by_nonce(self, issuer: str, nonce: bytes, *, skip: Collection[bytes] = ()) -> bytes | None:
        return self.journal.by_nonce(issuer, nonce, skip=skip)

    def at_seq(
        self, issuer: str, seq: int, *, nearest: Nearest = "at", skip: Collection[bytes] = ()
    ) -> bytes | None:
        self.asked += 1
        return self.journal.at_seq(issuer, seq, nearest=nearest, skip=skip)

    def negotiation(self, negotiation_id: bytes, *, upto: int | None = None) -> list[bytes]:
        return self.journal.negotiation(negotiation_id, upto=upto)


@pytest.mark.req("KEY-013", "CHN-004")
def test_the_archive_is_asked_once_a_link_however_many_own_revocations_it_passes_over(tmp_path: Path) -> None:
    """The thief signs 40 revocations of Alice's key at seq 5, each dated a millisecond before the last (so
    none reaches another, KEY-011 (a): each is taken), after her chain was heard but for her seq 5. Her
    statement at seq 5, heard last and far below the floor, is checked against its neighbours in the
    archive, which holds all 40 at its seq: the view names them to the archive, which passes over them in
    one query -- five queries in all (the seq itself, its two neighbours, the nearest below and above for
    CHN-005), not one more for each revocation (signature checks of statements it then throws away)."""
    scene = Scene(late=True)
    at = scene.chain[FORK_AT]
    thief_times = [scene.fork.issued_at_ms - 1 - i for i in range(40)]
    revocations = [
        ChainSigner(
            scene.alice.agent.key,
            clock=lambda t=t: t,
            nonce=lambda: b"thief-nonce-0002",
            head=(FORK_AT, scene.chain[FORK_AT - 1].digest),
        ).sign("key_revocation", identity_pb2.KeyRevocation(key=scene.alice.did, effective_ms=1))
        for t in thief_times
    ]
    journal = Journal.open(tmp_path / "journal.db", durability="normal")
    try:
        archive = _Counting(journal)
        v = scene.verifier({}, None)
        v.use_archive(archive)
        view = v.chains[scene.alice.did] = ChainView(scene.alice.did, archive=archive, window=WINDOW)
        rest = [vs for vs in scene.chain if vs is not at]
        assert not _fed(v, [*scene.setup, *rest, scene.fork, *revocations], journal)
        assert all(r.digest in v.statements for r in revocations) and view.floor > FORK_AT
        archive.asked = 0
        assert not _fed(v, [at], journal)  # taken: none of the 41 at its seq is a link of her chain
        assert archive.asked == 5, archive.asked
    finally:
        journal.close()


@pytest.mark.req("KEY-013", "RPL-001")
def test_a_nonce_reused_beside_an_own_revocation_holding_it_is_refused_as_with_everything_in_memory(
    tmp_path: Path,
) -> None:
    """The thief's revocation of Alice's key (dated after her statements: it reaches none) carries the nonce
    of her Offer to Bob, and is heard before it: both are taken (KEY-013: the revocation holds no nonce), and
    the Offer's negotiation leaves memory (forgotten: the journal keeps it). Her key then signs a Checkpoint
    with that nonce again: a verifier holding everything refuses it NONCE_REUSED (the Offer holds the nonce);
    one reading nonces from its archive must too, though the archive holds the revocation with that nonce
    first -- before, it answered the revocation, and the reuse was taken."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    offer = alice.offer(bob)
    clock.advance(1_000)
    nonce = offer.header.nonce
    reuse = ChainSigner(
        alice.agent.key, clock=lambda: clock.now_ms, nonce=lambda: nonce, head=(2, offer.digest)
    )
    again = reuse.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([binding.digest, offer.digest])),
        mandate=alice.mandate_vs.digest,
    )
    late = clock.now_ms + 1_000
    thief = ChainSigner(alice.agent.key, clock=lambda: late, nonce=lambda: nonce, head=(5, b"\x02" * 32))
    fork = thief.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    setup = [verify_statement(env) for env in (*alice.setup, *bob.setup)]
    heard = [*setup, binding, fork, offer]
    whole = Verifier()
    assert not _fed(whole, heard, None)
    assert [e.code for e in _fed(whole, [again], None)] == ["NONCE_REUSED"]
    journal = Journal.open(tmp_path / "journal.db", durability="normal")
    try:
        bounded = Verifier()
        bounded.use_archive(journal)
        assert not _fed(bounded, heard, journal)
        assert bounded.forget_negotiation(offer.header.negotiation_id)  # the Offer's nonce leaves memory
        assert journal.by_nonce(alice.did, nonce) == fork.digest  # the archive answers the revocation first
        assert [e.code for e in _fed(bounded, [again], journal)] == ["NONCE_REUSED"]
    finally:
        journal.close()
