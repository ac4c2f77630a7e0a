"""Red team 31: a thief of a revoked key names an escrow of its own, and its Stamps convict the principal
that revoked the key (ATT-013 (b), KEY-009, ATT-025).

ATT-013 (b) spares a principal P on a fork proof of its key K when P's revocation of K disowns one of the
proof's two statements -- unless that statement is "witnessed before" the revocation (KEY-009): its
witnessing escrow's earliest Stamp of it is before that escrow's earliest Stamp of the revocation, and "one
the escrow stamped in no Stamp held does not count". For an Offer or a Counter the witnessing escrow is the
one its terms name -- chosen by whoever holds K when it signs. A thief holding K after P revoked it signs
two Counters naming an escrow key M it minted itself (M's Mandate from a principal of its own), M stamps
both, and M never stamps P's revocation -- no one can make it. The pair is then "witnessed before the
revocation" in every view holding M's Stamp, and since ATT-025 the Stamp travels with the proof by gossip:
P, every other agent key of P's and the new key P issues are faulty in every view the proof reaches, for
two signatures of a key P had revoked and one of a key the thief minted. ATT-013 (b)'s promised way out --
revoke the key and issue a new one (SPEC 10.5) -- is closed again, for the price of one more keygen.

Who chose the values: the Counters, their times and the escrow their terms name, the thief (K's holder
after the theft); M's Stamp and its time, the thief (M is its key); the revocation's effective_ms, P. What
P can do: show its revocation to every escrow at once -- M refuses it or never answers. What the thief
gains: P's standing and P's new key's, everywhere the proof goes (a peer refusing low scores refuses P).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli
from peers import make_peer
from test_attack27b_thief_frames_principal import _new_key

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party


def _theft(clock: FixedClock) -> tuple[Party, list[bytes], ForkProof, list[bytes], list[bytes]]:
    """Alice's key K binds itself to her principal P; K leaks and P revokes it from that moment. A minute
    later the thief counters Mallory's offer (Mallory is the thief's accomplice) twice with K, both Counters
    naming escrow M -- a key the thief minted -- and M stamps the pair. Returns (Alice, what P shows
    everywhere: K's Mandate and binding and P's revocation, the pair as a proof, M's Mandate and Stamp,
    Mallory's Mandate and offer)."""
    alice, mallory, thiefs = Party("alice", clock), Party("mallory", clock), Party("thiefs-escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    revocation = alice.principal.sign("key_revocation", leaked)
    clock.advance(60_000)
    offer = mallory.offer(alice, mallory.proposal(escrow=thiefs.did))
    clock.advance(1_000)
    one = alice.counter(offer, alice.proposal(escrow=thiefs.did))
    two = alice.counter(offer, alice.proposal(escrow=thiefs.did, issuer_bond=10))
    assert min(one.issued_at_ms, two.issued_at_ms) > leaked.effective_ms  # both reached by P's revocation
    clock.advance(1_000)
    stamp = thiefs.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    shown = [*alice.setup, binding.envelope, revocation.envelope]
    offered = [*mallory.setup, offer.envelope]
    return alice, shown, ForkProof(one.envelope, two.envelope), [*thiefs.setup, stamp.envelope], offered


def _carol_after_the_swap(*, stamped: bool, trusting_m: bool = False) -> tuple[Party, Peer]:
    """Carol's peer holds what P shows everywhere, then swaps with the thief's peer, which holds the proof
    (and, when ``stamped``, M's Mandate and Stamp of the pair, which ATT-025 makes it send along).
    ``trusting_m``: Carol was given M's Mandate as an escrow she trades under (``Peer.trusted_escrows``)."""
    clock = FixedClock()
    alice, shown, proof, by_m, _ = _theft(clock)
    assert verify_fork_proof(proof) == alice.did
    thiefs_peer = make_peer(Party("thiefs-peer", clock), clock)
    for env in by_m if stamped else []:
        thiefs_peer.verifier.accept(env)
    assert thiefs_peer.verifier.take_fork_proof(proof) is not None
    carols = make_peer(Party("carol", clock), clock)
    if trusting_m:
        carols.trusted_escrows = frozenset({verify_statement(by_m[-1]).issuer})
    carols.hold(shown)
    assert alice.principal.did in carols.verifier.bound.get(alice.did, ())
    gossip.swap(carols, thiefs_peer, thiefs_peer.did)
    assert alice.did in carols.verifier.forks  # the key itself is fair game: it signed both
    return alice, carols


@pytest.mark.req("ATT-013", "ATT-025", "KEY-009")
def test_without_the_thiefs_stamps_the_principal_that_revoked_the_key_is_spared() -> None:
    """The control: the same pair gossiped without a Stamp is disowned by P's revocation, and P spared."""
    alice, carols = _carol_after_the_swap(stamped=False)
    assert alice.principal.did not in carols.reputation.faulty()


@pytest.mark.req("ATT-013", "ATT-025", "KEY-009")
def test_a_thiefs_own_escrow_stamp_does_not_convict_the_principal_that_revoked_the_key() -> None:
    """The thief's peer swaps the proof with M's Stamp of the pair (ATT-025). P is spared in Carol's view as
    without it: M is the thief's key, named by the thief in the Counters it signed after P's revocation, and
    Carol trusts no escrow of it (ATT-013 (d)). Before the fix P (and so its new key) was faulty there."""
    alice, carols = _carol_after_the_swap(stamped=True)
    k2, mandate, binding = _new_key(alice)  # SPEC 10.5's way out: a new key from the same principal
    carols.hold([mandate.envelope, binding.envelope])
    assert alice.principal.did not in carols.reputation.faulty(), "P framed by the thief's own escrow"
    assert not carols.reputation.score(k2.did).faulty, "P's new key faulty: no way out"


@pytest.mark.req("ATT-013", "ATT-025", "KEY-009")
def test_a_stamp_by_an_escrow_the_view_trusts_still_convicts_the_principal() -> None:
    """The control: had Carol traded under M -- an escrow she was given the Mandate of --, M's Stamp of the
    pair before any Stamp of P's revocation is the witness ATT-013 (b) reads, and P is faulty there."""
    alice, carols = _carol_after_the_swap(stamped=True, trusting_m=True)
    assert alice.principal.did in carols.reputation.faulty()


def thiefs_escrow_transcript() -> tuple[Party, str, list[bytes]]:
    """The theft as a transcript (what ``a2a-coop export`` holds): what P shows, Mallory's offer, M's Mandate
    and Stamp, then the two Counters -- the second refused ``STALE_REFERENCE``, the pair kept (ATT-022 (b)).
    Returns (Alice, M's did, the envelopes)."""
    alice, shown, proof, by_m, offered = _theft(FixedClock())
    return alice, verify_statement(by_m[-1]).issuer, [*shown, *offered, *by_m, proof.first, proof.second]


@pytest.mark.req("ATT-013", "KEY-009")
def test_verify_convicts_the_principal_only_by_the_escrows_it_is_told_to_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``a2a-coop verify`` reads the theft's transcript as a view trusting the escrows ``--trust-escrow``
    names (a did:key, or a file of them), else those the transcript states, else every escrow: P is faulty
    beside K only where M's Stamp counts. A malformed key is one line naming the option, exit 2."""
    alice, m, envelopes = thiefs_escrow_transcript()
    doc = {"envelopes": [envelope_to_json(e) for e in envelopes]}
    plain, stating = tmp_path / "theft.json", tmp_path / "theft-trusting-m.json"
    plain.write_text(json.dumps(doc))
    stating.write_text(json.dumps({**doc, "trusted_escrows": [m]}))
    listed = tmp_path / "escrows.txt"
    listed.write_text(f"# the escrows we trade under\n{m}\n\n")
    k, p = alice.did, alice.principal.did

    def faulty(*argv: str | Path) -> list[str]:
        code, out, err = run_cli(capsys, "verify", "--json", *argv)
        assert code == 1 and not err, err  # the second Counter is refused (NEG-005): the pair kept
        return json.loads(out)["transcript"]["faulty"]  # type: ignore[no-any-return]

    assert faulty(plain) == sorted([k, p])  # every escrow's Stamps: the reading before ATT-013 (d)
    assert faulty(plain, "--trust-escrow", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK") == [k]
    assert faulty(plain, "--trust-escrow", m) == sorted([k, p])
    assert faulty(plain, "--trust-escrow", listed) == sorted([k, p])
    assert faulty(stating) == sorted([k, p])
    assert faulty(stating, "--trust-escrow", os.devnull) == [k]  # the option overrides the transcript
    code, _, err = run_cli(capsys, "verify", plain, "--trust-escrow", "did:key:z6MkNotAKey")
    assert code == 2
    one_line_error(err, "--trust-escrow", "did:key:z6MkNotAKey", "is not a did:key")
    listed.write_text(f"{m}\nnot-a-key\n")
    code, _, err = run_cli(capsys, "verify", plain, "--trust-escrow", listed)
    assert code == 2
    one_line_error(err, str(listed), "'not-a-key' is not a did:key")


@pytest.mark.req("ATT-013")
def test_verify_applies_a_transcripts_trusted_escrows_only_when_its_operator_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify32: a transcript's ``trusted_escrows`` is its presenter's choice -- the thief's presenter states
    an escrow other than M, and the set, applied by default, spared P. Expect the default view to read every
    escrow's Stamps whatever the transcript states (P convicted), the stated set shown and applied only with
    ``--trust-stated``, and each conviction to name the escrows whose Stamps it rests on: P's on M's, K's on
    the proof alone -- in JSON, and in text with a hint when the operator named no escrow."""
    alice, m, envelopes = thiefs_escrow_transcript()
    k, p = alice.did, alice.principal.did
    other = Party("another escrow", FixedClock()).did
    doc = {"envelopes": [envelope_to_json(e) for e in envelopes]}
    sparing, elsewhere = tmp_path / "sparing.json", tmp_path / "elsewhere.json"
    sparing.write_text(json.dumps({**doc, "trusted_escrows": [other]}))
    elsewhere.write_text(json.dumps({**doc, "trusted_escrows": [m, other]}))

    def report(*argv: str | Path) -> dict[str, object]:
        code, out, err = run_cli(capsys, "verify", "--json", *argv)
        assert code == 1 and not err, err
        return json.loads(out)["transcript"]  # type: ignore[no-any-return]

    shown = report(sparing)
    assert (
        shown["faulty"] == sorted([k, p]) and shown["trusted_escrows"] is None and shown["trusted_by"] is None
    )
    assert shown["stated_trusted_escrows"] == [[other]]
    assert sorted(shown["convictions"], key=lambda c: c["subject"]) == sorted(  # type: ignore[arg-type]
        [
            {"subject": k, "proof_against": k, "stamps_of": []},
            {"subject": p, "proof_against": k, "stamps_of": [m]},
        ],
        key=lambda c: c["subject"],
    )
    applied = report(sparing, "--trust-stated")
    assert applied["faulty"] == [k] and applied["trusted_by"] == "transcript"
    assert applied["trusted_escrows"] == [other]
    mine = report(sparing, "--trust-escrow", m)
    assert mine["faulty"] == sorted([k, p]) and mine["trusted_by"] == "operator"
    assert report(sparing, elsewhere)["faulty"] == sorted([k, p])  # two stated sets: neither applied
    code, out, err = run_cli(capsys, "verify", sparing)
    assert code == 1 and "not applied" in out and other in out, out
    assert f"{p}: the proof against" in out and f"the Stamps of {m} (not named by you" in out, out
    code, out, err = run_cli(capsys, "verify", sparing, "--trust-escrow", m)
    assert f"the Stamps of {m}\n" in out and "not named by you" not in out, out
    for argv, said in [
        ((sparing, "--trust-stated", "--trust-escrow", m), "--trust-escrow names yours"),
        ((tmp_path / "plain.json", "--trust-stated"), "no transcript states trusted_escrows"),
        ((sparing, elsewhere, "--trust-stated"), "different trusted_escrows"),
    ]:
        (tmp_path / "plain.json").write_text(json.dumps(doc))
        code, _, err = run_cli(capsys, "verify", *argv)
        assert code == 2, err
        one_line_error(err, said)
