"""Per-issuer hash chains, forks and equivocation proofs (SPEC CHN-001..CHN-007)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import pairwise

import pytest
from conftest import verifier_state

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.chain import ChainView, ChainWriter, EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.errors import (
    ChainBroken,
    ChainGap,
    Equivocation,
    KeyIdMismatch,
    LogRootMismatch,
    SignatureInvalid,
)
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import Statement, VerifiedStatement, encode_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import EPOCH_MS, FixedClock, Party, derive

KEY = Keypair.from_seed(derive("chain/issuer"))
OTHER = Keypair.from_seed(derive("chain/other"))


def _stmt(
    writer: ChainWriter,
    label: str,
    at: int = EPOCH_MS,
    *,
    before: Sequence[VerifiedStatement] | None = None,
    log_root: bytes | None = None,
) -> VerifiedStatement:
    """A checkpoint (a body that needs no mandate), so the chain is all these tests exercise.

    Its log_root is ``log_root`` if given, else the true tree hash of ``before`` (the issuer's
    statements 0..seq-1, CHN-007), else a stand-in for a statement whose history no verifier in the
    test holds."""
    stmt = Statement()
    stmt.header.issued_at_ms, stmt.header.expires_at_ms = at, at + 60_000
    if log_root is None:
        if before is not None:
            assert len(before) == writer.next_seq
            log_root = merkle.root([vs.digest for vs in before])
        else:
            log_root = derive(f"root/{label}") if writer.next_seq else b""
    stmt.checkpoint.CopyFrom(identity_pb2.Checkpoint(log_root=log_root))
    return writer.sign(stmt, nonce=derive(f"nonce/{label}", 16))


def _log(offsets: Sequence[int], key: Keypair = KEY, label: str = "main") -> list[VerifiedStatement]:
    """An honest chain: checkpoints issued at EPOCH_MS + each offset, each over the ones before it."""
    writer = ChainWriter(key)
    log: list[VerifiedStatement] = []
    for i, t in enumerate(offsets):
        log.append(_stmt(writer, f"{label}/{i}", EPOCH_MS + t, before=log))
    return log


def _chain(n: int, key: Keypair = KEY, label: str = "main") -> list[VerifiedStatement]:
    return _log(range(n), key, label)


def _fork_at(chain: list[VerifiedStatement], seq: int, label: str = "fork") -> VerifiedStatement:
    """A second statement at ``seq`` that follows the same predecessor (a classic fork)."""
    prev = chain[seq - 1].digest if seq else b""
    return _stmt(ChainWriter(KEY, next_seq=seq, prev=prev), label, EPOCH_MS + seq, before=chain[:seq])


def _accept_all(v: Verifier, statements: list[VerifiedStatement]) -> None:
    for vs in statements:
        v.accept(vs.envelope)


@pytest.mark.req("CHN-001")
def test_writer_links_each_statement_to_the_previous_one() -> None:
    """An issuer signs four statements; expect seq 0..3, an empty prev at 0, and prev = digest of the
    one before after that; a complete-mode verifier accepts the chain."""
    chain = _chain(4)
    assert [vs.header.seq for vs in chain] == [0, 1, 2, 3]
    assert chain[0].header.prev == b""
    for before, after in pairwise(chain):
        assert after.header.prev == before.digest
    v = Verifier(complete_chains=True)
    _accept_all(v, chain)
    assert v.chains[KEY.did].head == 3


@pytest.mark.req("CHN-002")
def test_complete_log_with_a_missing_statement_is_a_gap() -> None:
    """An auditor verifying a complete log gets seq 0, 1, then 3; expect CHAIN_GAP."""
    chain = _chain(4)
    v = Verifier(complete_chains=True)
    _accept_all(v, chain[:2])
    with pytest.raises(ChainGap) as err:
        v.accept(chain[3].envelope)
    assert err.value.requirement == "CHN-002"


@pytest.mark.req("CHN-006", "CHN-002")
def test_sparse_receiver_accepts_gaps_in_an_issuers_chain() -> None:
    """A counterparty sees only seq 0, 2 and 5 (the rest went to others); expect all accepted in
    sparse mode and each (seq, digest) recorded."""
    chain = _chain(6)
    v = Verifier()
    _accept_all(v, [chain[0], chain[2], chain[5]])
    links = v.chains[KEY.did].links
    assert {s: link.digest for s, link in links.items()} == {s: chain[s].digest for s in (0, 2, 5)}


@pytest.mark.req("CHN-003")
def test_prev_that_does_not_match_the_held_predecessor_is_broken() -> None:
    """The verifier holds seq 1; a seq-2 statement names another prev; expect CHAIN_BROKEN with both
    envelopes as evidence."""
    chain = _chain(2)
    stray = _stmt(ChainWriter(KEY, next_seq=2, prev=derive("not-seq-1")), "stray", EPOCH_MS + 5)
    v = Verifier()
    _accept_all(v, chain)
    with pytest.raises(ChainBroken) as err:
        v.accept(stray.envelope)
    assert err.value.requirement == "CHN-003"
    assert err.value.evidence == (chain[1].envelope, stray.envelope)


@pytest.mark.req("CHN-003", "CHN-006")
def test_statement_that_its_held_successor_does_not_follow_is_broken() -> None:
    """A sparse verifier holds seq 2 first; then a seq-1 statement arrives that seq 2 does not name
    as prev; expect CHAIN_BROKEN (checked in both directions)."""
    chain = _chain(3)
    other_one = _fork_at(chain, 1)
    v = Verifier()
    _accept_all(v, [chain[0], chain[2]])
    with pytest.raises(ChainBroken):
        v.accept(other_one.envelope)
    v.accept(chain[1].envelope)  # the real seq 1 fills the gap


@pytest.mark.req("CHN-004", "CHN-006")
def test_two_statements_at_one_seq_are_equivocation_with_a_proof() -> None:
    """An issuer shows seq 1 to one party and a different seq 1 to another; the auditor sees both and
    expects EQUIVOCATION whose evidence is a proof anyone checks offline."""
    chain = _chain(2)
    fork = _fork_at(chain, 1)
    v = Verifier()
    _accept_all(v, chain)
    with pytest.raises(Equivocation) as err:
        v.accept(fork.envelope)
    assert err.value.requirement == "CHN-004"
    proof = EquivocationProof(*err.value.evidence)
    assert verify_equivocation_proof(proof) == KEY.did


@pytest.mark.req("CHN-004")
def test_equivocation_proof_of_two_adjacent_statements_that_do_not_link() -> None:
    """seq 3 whose prev is not the digest of the seq 2 it is paired with; expect the proof to verify
    offline and name the issuer."""
    chain = _chain(3)
    stray = _stmt(ChainWriter(KEY, next_seq=3, prev=derive("elsewhere")), "stray", EPOCH_MS + 9)
    assert verify_equivocation_proof(EquivocationProof(chain[2].envelope, stray.envelope)) == KEY.did
    assert verify_equivocation_proof(EquivocationProof(stray.envelope, chain[2].envelope)) == KEY.did


@pytest.mark.req("CHN-004")
@pytest.mark.parametrize("case", ["same-statement", "consecutive", "far-apart", "different-issuers"])
def test_non_conflicting_pairs_are_not_equivocation_proofs(case: str) -> None:
    """Someone offers two statements that can both sit in one honest chain (or are by two issuers);
    expect the proof to be refused with ValueError."""
    chain = _chain(4)
    pair = {
        "same-statement": (chain[1], chain[1]),
        "consecutive": (chain[1], chain[2]),
        "far-apart": (chain[0], chain[3]),
        "different-issuers": (chain[1], _chain(2, OTHER, "other")[1]),
    }[case]
    with pytest.raises(ValueError):
        verify_equivocation_proof(EquivocationProof(pair[0].envelope, pair[1].envelope))


@pytest.mark.req("CHN-004", "ENV-006")
def test_forged_equivocation_proof_is_refused() -> None:
    """Mallory frames an honest issuer: the second 'statement' is not signed by it; expect a CoopError
    (the envelope does not verify), never an accusation."""
    chain = _chain(2)
    stmt = Statement()
    stmt.CopyFrom(_fork_at(chain, 1).statement)
    forged = sign_payload(encode_statement(stmt), OTHER)  # Mallory's key, the issuer's name in the header
    with pytest.raises(KeyIdMismatch):
        verify_equivocation_proof(EquivocationProof(chain[1].envelope, forged))
    tampered = bytearray(_fork_at(chain, 1).envelope)
    tampered[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        verify_equivocation_proof(EquivocationProof(chain[1].envelope, bytes(tampered)))


@pytest.mark.req("CHN-005")
def test_issued_at_going_backwards_along_the_chain_is_broken() -> None:
    """seq 2 is issued 1 ms before seq 1; expect CHAIN_BROKEN (CHN-005) with both envelopes as evidence.
    Equal times are fine."""
    first, same, back = _log([10, 10, 9], label="t")
    v = Verifier()
    _accept_all(v, [first, same])
    with pytest.raises(ChainBroken) as err:
        v.accept(back.envelope)
    assert err.value.requirement == "CHN-005"
    assert err.value.evidence == (same.envelope, back.envelope)


@pytest.mark.req("CHN-005", "CHN-006")
def test_issued_at_checked_against_a_held_successor_too() -> None:
    """A sparse verifier holds seq 1 (issued at T) and then receives seq 0 issued at T + 1; expect
    CHAIN_BROKEN."""
    zero, one = _log([1, 0], label="late-zero")
    v = Verifier()
    v.accept(one.envelope)
    with pytest.raises(ChainBroken):
        v.accept(zero.envelope)


@pytest.mark.req("CHN-005", "CHN-006")
def test_issued_at_is_checked_against_the_nearest_held_statement_below_across_a_gap() -> None:
    """A sparse verifier holds seq 0 (issued at T + 10) and seq 5; a seq-3 statement issued at T + 5
    arrives, with no held neighbour at seq 2 or 4; expect CHAIN_BROKEN (CHN-005) with seq 0 and the new
    statement as evidence."""
    times = [10, 11, 12, 5, 13, 14]
    log = _log(times, label="below")
    v = Verifier()
    _accept_all(v, [log[0], log[5]])
    with pytest.raises(ChainBroken) as err:
        v.accept(log[3].envelope)
    assert err.value.requirement == "CHN-005"
    assert err.value.evidence == (log[0].envelope, log[3].envelope)


@pytest.mark.req("CHN-005", "CHN-006")
def test_issued_at_is_checked_against_the_nearest_held_statement_above_across_a_gap() -> None:
    """A sparse verifier holds seq 0 and seq 5 (issued at T + 5); a seq-2 statement issued at T + 9
    arrives; expect CHAIN_BROKEN (CHN-005) with the new statement and seq 5 as evidence."""
    times = [0, 1, 9, 3, 4, 5]
    log = _log(times, label="above")
    v = Verifier()
    _accept_all(v, [log[0], log[5]])
    with pytest.raises(ChainBroken) as err:
        v.accept(log[2].envelope)
    assert err.value.requirement == "CHN-005"
    assert err.value.evidence == (log[2].envelope, log[5].envelope)


@pytest.mark.req("CHN-005", "CHN-006")
def test_out_of_order_time_is_blamed_on_the_nearest_held_neighbour_not_a_farther_one() -> None:
    """A sparse view holds seq 0, 4 and 8 at T, T + 10 and T + 20. Seq 6 at T + 15 fits between its
    nearest neighbours 4 and 8 and is accepted; seq 2 at T + 12 is later than its nearest held
    successor (4) though earlier than seq 8; expect CHAIN_BROKEN naming seq 4, not seq 8."""
    times = [0, 1, 12, 3, 10, 11, 15, 16, 20]
    log = _log(times, label="nearest")
    v = Verifier()
    _accept_all(v, [log[0], log[4], log[8], log[6]])
    with pytest.raises(ChainBroken) as err:
        v.accept(log[2].envelope)
    assert err.value.evidence == (log[2].envelope, log[4].envelope)


def _rotation_gap(clock: FixedClock) -> tuple[Party, Party, Verifier, VerifiedStatement]:
    """Alice's agent key signs seq 0 (an offer to Bob), seq 1..4 (offers to Carol, which Bob never
    sees) and, at seq 5, a KeyRotation to a new key (public). Bob's live verifier holds seq 0 and the
    rotation. The old key's writer is then wound back to seq 2, as a thief or a careless old agent
    holding the rotated-out secret could do. Returns Alice, Bob, Bob's verifier and the rotation."""
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    v = Verifier(me=bob.did)
    _accept_all_envelopes(v, [*alice.setup, *bob.setup], clock)
    signed = [alice.offer(bob)]
    for _ in range(4):
        clock.advance(1000)
        signed.append(alice.offer(carol))
    clock.advance(1000)
    new_key = Party("alice-2", clock).did
    rotation = alice.sign("key_rotation", identity_pb2.KeyRotation(new_key=new_key))
    assert [vs.header.seq for vs in [*signed, rotation]] == [0, 1, 2, 3, 4, 5]
    _accept_all_envelopes(v, [signed[0].envelope, rotation.envelope], clock)
    alice.agent.writer = ChainWriter(alice.agent.key, next_seq=2, prev=signed[1].digest)
    return alice, bob, v, rotation


def _accept_all_envelopes(v: Verifier, envelopes: list[bytes], clock: FixedClock) -> None:
    for env in envelopes:
        v.accept(env, clock.now_ms)


@pytest.mark.req("CHN-005", "KEY-005", "CHN-006")
def test_rotated_out_key_cannot_sign_into_a_gap_after_its_rotation() -> None:
    """Bob holds Alice's seq 0 and her KeyRotation at seq 5 (issued at T + 5 s). The rotated-out key
    signs a new offer to Bob at seq 2, a seq Bob never saw, dated T + 6 s, after the rotation. KEY-005
    does not stop it (2 < 5) and no neighbour is held at seq 1 or 3; expect CHAIN_BROKEN (CHN-005)
    against the rotation, both envelopes as evidence, and Bob's verifier unchanged."""
    clock = FixedClock()
    alice, bob, v, rotation = _rotation_gap(clock)
    clock.advance(1000)
    late = alice.offer(bob)
    assert late.header.seq == 2 and late.header.issued_at_ms > rotation.header.issued_at_ms
    with pytest.raises(ChainBroken) as err:
        v.accept(late.envelope, clock.now_ms)
    assert err.value.requirement == "CHN-005"
    assert err.value.evidence == (late.envelope, rotation.envelope)
    assert sorted(v.chains[alice.did].links) == [0, 5]
    assert late.digest not in v.statements


@pytest.mark.req("CHN-005", "CHN-006")
def test_rotated_out_key_dated_before_its_rotation_still_fits_a_sparse_gap() -> None:
    """The same rotated-out key signs the offer at seq 2 dated T + 2.5 s, between Bob's held seq 0
    (T) and the rotation (T + 5 s). A sparse view cannot tell it from Alice's real seq 2, so expect it
    accepted (the real seq 2, if ever shown, is then an equivocation, CHN-004)."""
    clock = FixedClock()
    alice, bob, v, rotation = _rotation_gap(clock)
    clock.advance(1000)
    backdated = alice.offer(bob, issued_at_ms=EPOCH_MS + 2500)
    assert backdated.header.seq == 2
    assert backdated.header.issued_at_ms < rotation.header.issued_at_ms
    v.accept(backdated.envelope, clock.now_ms)
    assert sorted(v.chains[alice.did].links) == [0, 2, 5]


@pytest.mark.req("CHN-004", "CHN-003", "CHN-005", "CHN-002", "ERR-002")
def test_chain_faults_are_reported_in_spec_order() -> None:
    """Pairs of chain faults in one statement; expect the earlier of CHN-004, CHN-003, CHN-005,
    CHN-002 each time."""
    chain = _chain(2)
    view = ChainView(KEY.did, complete=True)
    view.add(chain[0])
    view.add(chain[1])
    # a held seq, a wrong prev and a time going backwards: EQUIVOCATION
    everything = _stmt(ChainWriter(KEY, next_seq=1, prev=derive("x")), "everything", EPOCH_MS - 5)
    with pytest.raises(Equivocation):
        view.check(everything)
    # a wrong prev and a time going backwards: CHAIN_BROKEN for the prev (CHN-003)
    prev_and_time = _stmt(ChainWriter(KEY, next_seq=2, prev=derive("y")), "pt", EPOCH_MS - 5)
    with pytest.raises(ChainBroken) as err:
        view.check(prev_and_time)
    assert err.value.requirement == "CHN-003"
    # a buggy issuer whose seq 4 is later than its seq 5; an auditor holding 5..7 in complete mode
    # gets seq 4: both a time fault and not head + 1; expect CHN-005 before CHN-002
    times = [0, 1, 2, 3, 50, 40, 41, 42]
    log = _log(times, label="buggy")
    segment = ChainView(KEY.did, complete=True)
    for vs in log[5:]:
        segment.check(vs)
        segment.add(vs)
    with pytest.raises(ChainBroken) as err:
        segment.check(log[4])
    assert err.value.requirement == "CHN-005"
    with pytest.raises(ChainGap):
        segment.check(log[3])


@pytest.mark.req("CHN-005", "CHN-003", "CHN-002", "CHN-007", "ERR-002")
def test_log_root_is_checked_last_in_the_chain_step() -> None:
    """Checkpoints at seq 3 with a wrong log_root over a held log 0..2 that also break an earlier chain
    rule; expect the earlier rule each time (CHN-003 for a wrong prev, CHN-005 for a time going
    backwards, CHN-002 in a view that was fed seq 4 without checks), and LOG_ROOT_MISMATCH only when
    the root is the one fault. Order: CHN-004, CHN-003, CHN-005, CHN-002, then CHN-007."""
    chain = _chain(3)
    wrong = derive("wrong-root")
    view = ChainView(KEY.did, complete=True)
    for vs in chain:
        view.add(vs)

    def checkpoint(label: str, at: int, prev: bytes = chain[2].digest) -> VerifiedStatement:
        return _stmt(ChainWriter(KEY, next_seq=3, prev=prev), label, EPOCH_MS + at, log_root=wrong)

    with pytest.raises(ChainBroken) as err:
        view.check(checkpoint("prev", 3, prev=derive("z")))
    assert err.value.requirement == "CHN-003"
    with pytest.raises(ChainBroken) as err:
        view.check(checkpoint("time", 1))
    assert err.value.requirement == "CHN-005"
    only_root = checkpoint("root", 3)
    with pytest.raises(LogRootMismatch):
        view.check(only_root)
    four = _stmt(ChainWriter(KEY, next_seq=4, prev=only_root.digest), "four", EPOCH_MS + 4)
    view.add(four)  # held without checks, so seq 3 is not head + 1 any more
    with pytest.raises(ChainGap):
        view.check(only_root)


# --- CHN-007: a Checkpoint's log_root, when the verifier holds the whole history before it -------------


def _checkpoint(log: list[VerifiedStatement], label: str, log_root: bytes) -> VerifiedStatement:
    """The issuer's next statement after ``log``: a Checkpoint with the given root."""
    writer = ChainWriter(KEY, next_seq=len(log), prev=log[-1].digest)
    return _stmt(writer, label, EPOCH_MS + len(log), log_root=log_root)


@pytest.mark.req("CHN-007", "ERR-003")
@pytest.mark.parametrize("lie", ["leaves-out-the-last", "reordered", "not-a-root"])
def test_checkpoint_with_a_wrong_log_root_over_a_complete_log_is_refused(lie: str) -> None:
    """An auditor verifies an issuer's complete log 0..5, then a Checkpoint at seq 6 whose root leaves
    out the last statement (hiding it from later inclusion proofs), lists two statements swapped, or is
    not a root at all; expect LOG_ROOT_MISMATCH (CHN-007) and the auditor's state unchanged."""
    log = _chain(6)
    digests = [vs.digest for vs in log]
    root = {
        "leaves-out-the-last": merkle.root(digests[:-1]),
        "reordered": merkle.root([digests[1], digests[0], *digests[2:]]),
        "not-a-root": derive("not-a-root"),
    }[lie]
    v = Verifier(complete_chains=True)
    _accept_all(v, log)
    before = verifier_state(v)
    with pytest.raises(LogRootMismatch) as err:
        v.accept(_checkpoint(log, lie, root).envelope)
    assert err.value.code == "LOG_ROOT_MISMATCH" and err.value.requirement == "CHN-007"
    assert verifier_state(v) == before


@pytest.mark.req("CHN-007", "CHN-001")
@pytest.mark.parametrize("complete", [True, False])
def test_checkpoint_with_the_right_log_root_is_accepted(complete: bool) -> None:
    """An issuer whose 70 statements are all Checkpoints over the ones before (sizes around every
    power of two to 64); expect every one accepted, by an auditor and by a sparse receiver that
    happens to hold all of them, and each root to be recomputable from the view."""
    log = _chain(70)
    v = Verifier(complete_chains=complete)
    _accept_all(v, log)
    links = v.chains[KEY.did].links
    last = log[-1]
    held = [links[s].digest for s in range(last.header.seq)]
    assert merkle.root(held) == last.statement.checkpoint.log_root


@pytest.mark.req("CHN-007", "CHN-006")
def test_checkpoint_whose_prefix_is_not_held_is_not_checked() -> None:
    """A sparse receiver holds seq 0, 1 and 3 of an issuer (seq 2 went to someone else); a Checkpoint
    at seq 4 with a wrong root arrives. The root over 0..3 cannot be recomputed without seq 2, so expect
    it accepted (CHN-007 is checked only over a held prefix). Likewise an auditor given a complete log
    segment that starts at seq 2."""
    log = _chain(4)
    wrong = _checkpoint(log, "unverifiable", derive("unverifiable"))
    v = Verifier()
    _accept_all(v, [log[0], log[1], log[3], wrong])
    segment = Verifier(complete_chains=True)
    _accept_all(segment, [log[2], log[3], wrong])


@pytest.mark.req("CHN-007", "CHN-006")
def test_sparse_view_checks_the_root_once_a_late_statement_fills_its_gap() -> None:
    """A sparse receiver gets an issuer's seq 0, 2, 3 and then the late seq 1, so it holds 0..3; a
    Checkpoint at seq 4 leaving out seq 1 is LOG_ROOT_MISMATCH, and the honest one is accepted."""
    log = _chain(4)
    digests = [vs.digest for vs in log]
    v = Verifier()
    _accept_all(v, [log[0], log[2], log[3], log[1]])
    without_one = _checkpoint(log, "without-one", merkle.root([digests[0], *digests[2:]]))
    with pytest.raises(LogRootMismatch):
        v.accept(without_one.envelope)
    v.accept(_checkpoint(log, "honest", merkle.root(digests)).envelope)


@pytest.mark.req("CHN-007")
def test_held_checkpoint_checked_again_is_checked_against_its_own_prefix() -> None:
    """A view holding 0..5 re-checks its own seq 3 (a repeat the replay memory no longer remembers) and
    a view fed a different seq 1 without checks (an audit keeps going past a fault); expect the first
    to pass and the second view's next root to follow the statement it now holds at seq 1."""
    log = _chain(6)
    view = ChainView(KEY.did)
    for vs in log:
        view.add(vs)
    view.check(log[3])
    fork = _fork_at(log, 1)
    view.add(fork)  # no check: the view now holds the fork at seq 1
    digests = [log[0].digest, fork.digest, *(vs.digest for vs in log[2:])]
    view.check(_checkpoint(log, "after-fork", merkle.root(digests)))
    with pytest.raises(LogRootMismatch):
        view.check(_checkpoint(log, "before-fork", merkle.root([vs.digest for vs in log])))


@pytest.mark.req("CHN-007", "CHN-001")
def test_checkpoint_that_leaves_out_a_statement_the_receiver_holds_is_refused() -> None:
    """Alice's agent makes Bob three offers (seq 0..2) and then shows him a Checkpoint whose root
    leaves out the second, as if to deny it later; Bob holds Alice's whole history, so expect
    LOG_ROOT_MISMATCH. The honest Checkpoint at seq 3 (as GetCheckpoint signs it) is accepted."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    v = Verifier(me=bob.did)
    _accept_all_envelopes(v, [*alice.setup, *bob.setup], clock)
    offers = []
    for _ in range(3):
        offers.append(alice.offer(bob))
        clock.advance(1000)
    _accept_all_envelopes(v, [vs.envelope for vs in offers], clock)

    def checkpoint(shown: list[VerifiedStatement]) -> VerifiedStatement:
        alice.agent.writer = ChainWriter(alice.agent.key, next_seq=3, prev=offers[2].digest)
        root = merkle.root([vs.digest for vs in shown])
        return alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=root))

    with pytest.raises(LogRootMismatch):
        v.accept(checkpoint([offers[0], offers[2]]).envelope, clock.now_ms)
    v.accept(checkpoint(offers).envelope, clock.now_ms)


@pytest.mark.req("CHN-007")
def test_checking_a_checkpoint_on_a_long_chain_costs_logarithmic_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A view holding 2^14 - 1 statements of one issuer (unsigned stand-ins: the view reads only seq,
    prev, issued_at and digest), the worst case of 14 perfect subtrees, gets the next statement, a
    Checkpoint. Building the view hashes nothing (the prefix is hashed when a root is needed); the
    first check hashes each statement once (one leaf and at most one merge each, then 13 node hashes
    to fold the 14 subtrees); checking it again costs the 13 folds only, not a recomputation."""
    n = 2**14 - 1
    digests = [hashlib.sha256(seq.to_bytes(4, "big")).digest() for seq in range(n + 1)]
    log = []
    for seq in range(n + 1):
        stmt = Statement()
        stmt.header.seq, stmt.header.issued_at_ms = seq, EPOCH_MS + seq
        stmt.header.prev = digests[seq - 1] if seq else b""
        stmt.checkpoint.log_root = merkle.root(digests[:seq]) if seq == n else b""
        log.append(VerifiedStatement(b"", digests[seq], stmt, "checkpoint"))
    calls = {"leaf": 0, "node": 0}
    leaf_hash, node_hash = merkle.leaf_hash, merkle.node_hash

    def counting_leaf(digest: bytes) -> bytes:
        calls["leaf"] += 1
        return leaf_hash(digest)

    def counting_node(left: bytes, right: bytes) -> bytes:
        calls["node"] += 1
        return node_hash(left, right)

    monkeypatch.setattr(merkle, "leaf_hash", counting_leaf)
    monkeypatch.setattr(merkle, "node_hash", counting_node)
    view = ChainView(KEY.did, complete=True)
    for vs in log[:n]:
        view.add(vs)
    assert calls == {"leaf": 0, "node": 0}
    view.check(log[n])
    assert calls == {"leaf": n, "node": n - 14 + 13}  # n - popcount(n): one merge per carry
    calls.update(leaf=0, node=0)
    view.check(log[n])
    assert calls == {"leaf": 0, "node": 13}


def test_chain_view_check_changes_nothing() -> None:
    """check() on a fork raises and leaves the view as it was."""
    chain = _chain(2)
    view = ChainView(KEY.did)
    for vs in chain:
        view.add(vs)
    before = dict(view.links)
    with pytest.raises(Equivocation):
        view.check(_fork_at(chain, 1))
    assert view.links == before


def test_a_view_keeping_a_window_of_links_checks_a_checkpoint_over_its_whole_log() -> None:
    """With an archive, a view keeps only its highest links in memory. The prefix's digests are
    hashed before their links leave memory, so a Checkpoint far above the window is still checked
    against the whole log: the right root passes, a wrong one is LOG_ROOT_MISMATCH."""

    class NoReads:  # nothing below the window is read for this check: any read would be a bug here
        def at_seq(self, issuer: str, seq: int, *, nearest: str = "at") -> bytes | None:
            raise AssertionError(f"archive read at seq {seq}")

    n = 40
    digests = [hashlib.sha256(b"link %d" % seq).digest() for seq in range(n + 1)]

    def link(seq: int, root: bytes = b"") -> VerifiedStatement:
        stmt = Statement()
        stmt.header.seq, stmt.header.issued_at_ms = seq, EPOCH_MS + seq
        stmt.header.prev = digests[seq - 1] if seq else b""
        stmt.checkpoint.log_root = root
        return VerifiedStatement(b"", digests[seq], stmt, "checkpoint")

    view = ChainView(KEY.did, archive=NoReads(), window=4)  # type: ignore[arg-type]
    for seq in range(n):
        view.add(link(seq))
    assert view.floor > 0 and len(view.links) < n  # links did leave memory
    view.check(link(n, merkle.root(digests[:n])))
    assert view.prefix_root() == (n, merkle.root(digests[:n]))
    with pytest.raises(LogRootMismatch):
        view.check(link(n, merkle.root(digests[: n - 1])))


@pytest.mark.req("CHN-005", "CHN-006")
def test_issued_at_above_the_head_across_a_gap_is_checked_against_the_head() -> None:
    """A sparse verifier holds seq 0 and seq 2 (issued at T + 10 and T + 20); a seq-5 statement, past
    the head across a gap, issued at T + 15 arrives; expect CHAIN_BROKEN (CHN-005) naming seq 2, the
    nearest held below (not seq 0, which it follows); at T + 20 it is accepted."""
    log = _log([10, 11, 20, 21, 22, 15], label="past-head")
    v = Verifier()
    _accept_all(v, [log[0], log[2]])
    with pytest.raises(ChainBroken) as err:
        v.accept(log[5].envelope)
    assert err.value.requirement == "CHN-005"
    assert err.value.evidence == (log[2].envelope, log[5].envelope)
    on_time = _log([10, 11, 20, 21, 22, 20], label="past-head")
    v.accept(on_time[5].envelope)
