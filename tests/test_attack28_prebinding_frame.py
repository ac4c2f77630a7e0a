"""Red team 28: a key thief frames the principal by statements dated before the key's binding (ATT-013 (b)).

Who chose what. Alice's principal P chose her agent key K, bound it to itself by K's first statement under P's
Mandate (KEY-007), and, when K leaked, chose its KeyRevocation's effective_ms (KEY-004, KEY-011). The thief,
holding K, chooses everything in its own statements: their seqs, their issued_at_ms and whether they name a
Mandate. ATT-013 (b) (framing27) spares P on a fork or answer proof only when P's revocation *reaches* one of
the proof's statements in KEY-011's sense -- and KEY-011 (b) reaches back to effective_ms only over what K
signed under P's authority: a statement under no Mandate dated before K's earliest binding to P held is read
from the revocation's own issued_at_ms (it was not P's word). So the thief dates its statements before the
binding, under no Mandate: no revocation P can sign reaches them, however far back its effective_ms, and the
proof convicts P -- and P's new key (ATT-007) -- in every view it reaches, for good. SPEC 10.5's way out
(revoke, issue a new key), which ATT-013 (b) promised back, is gone again for one more signature's work.

Fixed (ATT-013 (b)): for sparing P, P's revocation is read back to its effective_ms over every statement of
K, whatever Mandate it names (KEY-011's authority reading guards what a revocation *disowns* -- others'
commitments --, and sparing P disowns nothing). P spares itself by dating its revocation at or before the
thief's earliest statement, at the price KEY-004 already sets (what K signed since that no escrow witnessed
first); a statement its escrow witnessed before the revocation still convicts.
"""

from __future__ import annotations

import contextlib

import pytest
from peers import make_peer
from test_attack27b_thief_frames_principal import _new_key

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.reputation import Reputation, TrustPolicy
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive

MINUTE_MS = 60_000


def _thief(alice: Party, *, seq: int, label: str, prev: bytes = b"") -> ChainSigner:
    """A copy of K (the leaked key) signing from ``seq`` on (after ``prev``), with nonces of its own."""
    count = iter(range(1, 1_000))
    return ChainSigner(
        alice.agent.key,
        clock=lambda: alice.clock.now_ms,
        nonce=lambda: derive(f"thief/{label}/{next(count)}", 16),
        head=(seq, prev),
    )


def _prebinding_pair(alice: Party, before_ms: int) -> ForkProof:
    """Two Checkpoints of K at one seq (an equivocation, section 6.8), under no Mandate, dated ``before_ms``:
    before K's binding to P. Two thief copies of K, each at seq 0."""
    empty = identity_pb2.Checkpoint(
        log_root=b""
    )  # a chain's first Checkpoint (BDY-012); nonces tell them apart
    one = _thief(alice, seq=0, label="one").sign("checkpoint", empty, issued_at_ms=before_ms)
    two = _thief(alice, seq=0, label="two").sign("checkpoint", empty, issued_at_ms=before_ms)
    return ForkProof(one.envelope, two.envelope)


@pytest.mark.req("ATT-013", "ATT-012", "KEY-011")
def test_a_thiefs_pair_dated_before_the_keys_binding_does_not_convict_the_principal() -> None:
    """K binds itself to P at T0 and works honestly; K leaks; P revokes it reaching back before anything the
    thief dated; the thief gossips two statements of K dated a minute before T0 under no Mandate to Carol's
    peer, whose trust policy refuses counterparties below 0.3. Before the fix P stayed faulty there -- no
    effective_ms reached the pair -- and Carol's peer refused P's new key's offer."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    clock.advance(10 * MINUTE_MS)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))  # K's first, P's
    clock.advance(MINUTE_MS)
    proof = _prebinding_pair(alice, binding.issued_at_ms - MINUTE_MS)
    assert verify_fork_proof(proof) == alice.did  # a valid fork proof (ATT-012): the thief holds K
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=binding.issued_at_ms - 5 * MINUTE_MS)
    revocation = alice.principal.sign("key_revocation", back)  # P reaches back past the thief's dates
    carols = make_peer(carol, clock, trust=TrustPolicy(refuse_below=0.3))
    k2, mandate, k2_binding = _new_key(alice)
    carols.hold([*alice.setup, binding.envelope, revocation.envelope, mandate.envelope, k2_binding.envelope])
    assert carols.verifier.bound.get(alice.did) == {alice.principal.did}
    carols.gossip([], [proof])
    assert alice.did in carols.verifier.forks
    assert alice.did in carols.reputation.faulty()  # K itself signed both: fair game
    assert alice.principal.did not in carols.reputation.faulty(), (
        "P framed by a pair dated before the binding"
    )
    clock.advance(1_000)
    offer = k2.sign("offer", alice.proposal(), audience=carol.did, mandate=mandate.digest, negotiation_id=b"")
    answer = carols.exchange(offer.envelope, [mandate.envelope])
    bodies = [b for b in (verify_statement(e).body for e in answer) if b in ("accept", "counter", "reject")]
    assert bodies and bodies != ["reject"], "Carol's peer refuses P's new key: no way out"


def _view(held: list[bytes], proof: ForkProof, clock: FixedClock) -> Reputation:
    """A view of evidence holding ``held`` and ``proof`` that trades under E (ATT-013 (d))."""
    v = EvidenceVerifier()
    for e in held:
        v.accept(e)
    assert v.take_fork_proof(proof) is not None
    escrows = (Party("escrow", clock).did,)
    return Reputation(lambda: v, seeds=("did:key:the-viewer",), escrows=escrows, clock=lambda: clock.now_ms)


def answer_before_binding(
    effective: str = "reject", *, with_binding: bool = False
) -> tuple[FixedClock, Party, list[bytes], VerifiedStatement, ForkProof]:
    """K binds itself to P (a Checkpoint, seq 0), then counters Bob's offer naming escrow E honestly (seq 1),
    which E stamps. The thief, holding K, has its own principal T mint a Mandate for K (a Reject needs one,
    MND-001) valid from long before, and signs with K a Reject of the same offer at seq 1 under it, dated a
    minute before K's binding to P -- an equivocation and answer proof with the Counter -- and P revokes K,
    its effective_ms at the Reject's time (``effective`` "reject") or the Counter's ("counter").
    Returns (clock, Alice, what a view holds before the Reject, the Reject, the pair)."""
    clock = FixedClock()
    alice, bob, escrow, t = (
        Party("alice", clock),
        Party("bob", clock),
        Party("escrow", clock),
        Party("thief", clock),
    )
    clock.advance(10 * MINUTE_MS)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))  # seq 0, under P's Mandate
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=escrow.did))  # seq 1, honest
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[counter.digest]))
    caps = identity_pb2.Mandate()
    caps.CopyFrom(t.mandate_vs.statement.mandate)
    caps.agent, caps.valid_from_ms = alice.did, binding.issued_at_ms - DAY_MS
    thiefs_mandate = t.principal.sign("mandate", caps, ttl_ms=365 * DAY_MS)
    reject = _thief(alice, seq=1, label="reject", prev=binding.digest).sign(
        "reject",
        trade_pb2.Reject(offer=offer.digest, reason="the thief's"),
        audience=offer.issuer,
        negotiation_id=offer.header.negotiation_id,
        issued_at_ms=binding.issued_at_ms - MINUTE_MS,
        mandate=thiefs_mandate.digest,
    )
    clock.advance(1_000)
    when = {"reject": reject, "counter": counter, "binding": binding}[effective].issued_at_ms
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=when)
    )
    # K's Checkpoint is left out (a sparse view, CHN-006) unless ``with_binding``: the Counter binds K to P
    # there, and the Reject is only an equivocation of it, not also a time inversion against the Checkpoint
    held = [*alice.setup, *bob.setup, *escrow.setup, thiefs_mandate.envelope]
    held += [binding.envelope] if with_binding else []
    held += [offer.envelope]
    held += [counter.envelope, stamp.envelope, revocation.envelope]
    return clock, alice, held, reject, ForkProof(counter.envelope, reject.envelope)


@pytest.mark.req("ATT-013", "ATT-022", "KEY-009", "KEY-011")
def test_a_thiefs_answer_dated_before_the_binding_beside_a_witnessed_one_spares_the_revoking_principal() -> (
    None
):
    """The proof with one statement the escrow witnessed: K's honest Counter, stamped by E, and the thief's
    Reject of the same offer under its own principal's Mandate, dated before K's binding to P. P revoking K
    back over the Reject spares P (the Reject is disowned for ATT-013 (b)); a revocation reaching only the
    witnessed Counter does not. Before the fix no revocation of P's reached the Reject (KEY-011 (b): under the
    Mandate of a principal K was bound to first), and P stayed convicted."""
    clock, alice, held, _, proof = answer_before_binding("counter")
    assert verify_fork_proof(proof) == alice.did
    assert alice.principal.did in _view(held, proof, clock).faulty()  # the Counter is P's word, witnessed
    clock, alice, held, _, proof = answer_before_binding("reject")
    spared = _view(held, proof, clock).faulty()
    assert alice.did in spared
    assert alice.principal.did not in spared, "P framed by an answer dated before the binding"


@pytest.mark.req("ATT-013", "ATT-012", "CHN-004", "CHN-005")
def test_the_principal_is_faulty_or_not_whatever_order_the_thiefs_answer_came_in() -> None:
    """The thief's Reject at the Counter's seq, dated before K's Checkpoint at seq 0: a view holding all
    three holds one equivocation (with the Counter) and one time inversion (with the Checkpoint). P revokes
    K back to the Checkpoint: the Checkpoint is disowned, the Counter (E stamped it first) is not, the Reject
    (before effective_ms) is not reached. Heard Counter first, then Reject, the view kept the refusal's
    equivocation proof and convicted P; heard Reject first, it kept the time inversion and spared P -- the
    same statements held (ATT-013 (b): a function of what is held). Now a refusal for the seq or link offers
    the time-inversion pair too, and (c) keeps the one dated earliest in both orders."""
    clock, alice, held, reject, _ = answer_before_binding("binding", with_binding=True)
    counter_at = next(i for i, e in enumerate(held) if verify_statement(e).body == "counter")

    def faulty(order: list[bytes]) -> frozenset[str]:
        v = EvidenceVerifier()
        for e in order:
            with contextlib.suppress(CoopError):  # the Reject refused, its proof kept (ATT-011)
                v.accept(e)
        assert alice.did in v.forks
        return Reputation(
            lambda: v, seeds=("did:key:the-viewer",), escrows=(), clock=lambda: clock.now_ms
        ).faulty()

    counter_first = faulty([*held, reject.envelope])
    reject_first = faulty([*held[:counter_at], reject.envelope, *held[counter_at:]])
    assert counter_first == reject_first == {alice.did}  # P dated its revocation back over the Checkpoint
