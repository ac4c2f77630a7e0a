"""ATT-017: a peer that learns, from a verifiable fork proof, that its own key signed two conflicting
statements raises an alarm its operator sees and signs no new commitment with the key.

The key's holder is the only one who can make such a proof: a thief (here the Party's own signer,
which shares the peer's key but not its chain) or a broken signer. Forgeries -- a bad signature, two
statements one chain holds, another key's fork, two keys' statements -- must change nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import control_pb2, identity_pb2
from a2a_coop.cli import main
from a2a_coop.cli._runtime import open_peer, runtime_command
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.trust import DAY_MS
from a2a_coop.runtime.alarm import ALARM_EVERY_MS, META_KEY_FORKED, KeyForked
from a2a_coop.runtime.control import ControlServicer
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.trade import resume_trade
from a2a_coop.testing import FixedClock, Party
from reference_agents.unsafe import Equivocator

ALARM_LOGGER = "a2a_coop.runtime.alarm"


def _alarms(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == ALARM_LOGGER and r.levelno == logging.CRITICAL
    ]


def _thief_checkpoint(me: Party) -> VerifiedStatement:
    """A Checkpoint at seq 0 signed with ``me``'s key by a signer that does not share the peer's chain
    (a thief, or a second process on the same key)."""
    assert me.agent.writer.next_seq == 0
    return me.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), ttl_ms=DAY_MS)


@dataclass
class Forked:
    """A journaled peer of ``me`` whose key a thief used at a seq it had signed at."""

    clock: FixedClock
    me: Party
    other: Party
    peer: Peer
    journal: Journal
    ours: VerifiedStatement  # the peer's Offer to ``other``, seq 0
    theirs: VerifiedStatement  # the thief's Checkpoint, seq 0


def _forked(tmp_path: Path) -> Forked:
    """``me``'s journaled peer offers ``other`` a trade (seq 0 of its chain); a thief's Checkpoint at seq
    0 under the same key is then gossiped to it."""
    clock = FixedClock()
    me, other = Party("me", clock), Party("other", clock)
    journal = Journal.open(tmp_path / "me.db")
    peer = make_peer(me, clock, journal=journal)
    ours = peer.propose(other.did, me.proposal())
    theirs = _thief_checkpoint(me)
    assert ours.header.seq == theirs.header.seq == 0 and ours.digest != theirs.digest
    peer.gossip([theirs.envelope], [])
    return Forked(clock, me, other, peer, journal, ours, theirs)


@pytest.mark.req("ATT-017")
def test_a_stolen_key_signing_at_our_seq_raises_the_alarm_and_stops_our_commitments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A thief signs a Checkpoint at a seq our peer already used; it reaches us by gossip, and our chain
    check refuses it with the two envelopes. Expect: one CRITICAL line naming both digests; the alarm
    in status; our next Offer refused (KeyForked, nothing signed); a counterparty's Offer answered with a
    Reject that says why; our Checkpoint and the proof still gossiped on."""
    with caplog.at_level(logging.INFO):
        f = _forked(tmp_path)
    me, other, peer, ours, theirs = f.me, f.other, f.peer, f.ours, f.theirs
    [line] = _alarms(caplog)
    assert "OWN KEY FORKED" in line and ours.digest.hex() in line and theirs.digest.hex() in line
    assert "a2a-coop revoke-key" in line and "a2a-coop keygen" in line
    report = peer.status()["key_forked"]
    assert report is not None and report["key"] == me.did
    assert set(report["statements"]) == {ours.digest.hex(), theirs.digest.hex()}

    seq = peer.writer.next_seq
    with pytest.raises(KeyForked):
        peer.propose(other.did, me.proposal())
    assert peer.writer.next_seq == seq  # nothing signed

    offer = other.offer(me)
    [reply] = [verify_statement(e) for e in peer.exchange(offer.envelope, other.setup)[1:]]
    assert reply.body == "reject" and "forked" in reply.statement.reject.reason

    envelopes, proofs = peer.gossip([], [])
    assert [verify_statement(e).body for e in envelopes] == ["mandate", "checkpoint"]  # our head, signed
    assert [(p.first, p.second) for p in proofs] in (
        [(ours.envelope, theirs.envelope)],
        [(theirs.envelope, ours.envelope)],
    )
    f.journal.close()


@pytest.mark.req("ATT-017", "ATT-013")
def test_the_alarm_survives_a_restart_and_sounds_when_the_server_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After the alarm, the peer restarts on its journal. Expect the alarm restored with the time it was
    first raised, commitments still refused, and a served node to log the CRITICAL line again."""
    f = _forked(tmp_path)
    clock, me, other, ours, theirs = f.clock, f.me, f.other, f.ours, f.theirs
    raised = f.peer.status()["key_forked"]["raised"]
    f.journal.close()
    clock.advance(3_600_000)
    journal = Journal.open(tmp_path / "me.db")
    assert journal.get_meta(META_KEY_FORKED)["raised_ms"] == clock.now_ms - 3_600_000
    caplog.clear()
    with caplog.at_level(logging.INFO):
        restarted = make_peer(me, clock, journal=journal, run=1)
        assert not _alarms(caplog)  # reading a journal is not serving it
        assert restarted.status()["key_forked"]["raised"] == raised
        with pytest.raises(KeyForked):
            restarted.propose(other.did, me.proposal())
        caplog.clear()
        node = PeerNode(restarted, journal)
    [line] = _alarms(caplog)
    assert ours.digest.hex() in line and theirs.digest.hex() in line
    node.close()


@pytest.mark.req("ATT-017")
def test_the_alarm_repeats_at_most_every_ten_minutes_while_commitments_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three refused Offers within the first minutes add no line; one refused after ten minutes logs
    the alarm again with the number refused since the last line."""
    with caplog.at_level(logging.INFO):
        f = _forked(tmp_path)
        clock, me, other, peer = f.clock, f.me, f.other, f.peer
        for _ in range(3):
            clock.advance(60_000)
            with pytest.raises(KeyForked):
                peer.propose(other.did, me.proposal())
        assert len(_alarms(caplog)) == 1
        clock.advance(ALARM_EVERY_MS)
        with pytest.raises(KeyForked):
            peer.propose(other.did, me.proposal())
    first, second = _alarms(caplog)
    assert "4 commitments refused since the last alarm" in second and "refused since" not in first
    f.journal.close()


def _flip_signature(envelope: bytes) -> bytes:
    return envelope[:-1] + bytes([envelope[-1] ^ 1])


@pytest.mark.req("ATT-017", "ATT-012")
def test_forged_fork_proofs_naming_our_key_raise_no_alarm(caplog: pytest.LogCaptureFixture) -> None:
    """Gossiped as proofs and as envelopes: our statement and a thief's at our seq with a broken
    signature; two of our statements one chain holds; a real fork of another key; our statement and
    another key's at the same seq. Expect no alarm, our Offers still signed; only the other key's
    real fork is kept (against it)."""
    clock = FixedClock()
    me, other, x = Party("me", clock), Party("other", clock), Party("x", clock)
    peer = make_peer(me, clock)
    first = peer.propose(other.did, me.proposal())
    second = peer.propose(other.did, me.proposal())
    forged = _flip_signature(_thief_checkpoint(me).envelope)
    with pytest.raises(CoopError):
        verify_statement(forged)
    x_first = x.offer(other)
    x.agent.writer.next_seq, x.agent.writer.prev = 0, b""
    x_second = x.offer(me)
    assert x_first.header.seq == x_second.header.seq == first.header.seq
    proofs = [
        ForkProof(first.envelope, forged),
        ForkProof(first.envelope, second.envelope),
        ForkProof(x_first.envelope, x_second.envelope),
        ForkProof(first.envelope, x_first.envelope),
    ]
    with caplog.at_level(logging.INFO):
        peer.gossip([forged, *x.setup, x_first.envelope], proofs)
    assert not _alarms(caplog)
    assert peer.fork_alarm is None and peer.status()["key_forked"] is None
    assert set(peer.verifier.forks) == {x.did}
    peer.propose(other.did, me.proposal())  # still signs


def test_the_unsafe_reference_agents_act_as_implementations_without_the_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The equivocator stands for an implementation without ATT-017: gossiped the proof against its
    own key, it raises no alarm and signs on (so the simulations measure the adversary, not our
    guard)."""
    clock = FixedClock()
    me, other = Party("me", clock), Party("other", clock)
    peer = make_peer(me, clock)
    Equivocator(peer)
    ours = peer.propose(other.did, me.proposal())
    with caplog.at_level(logging.INFO):
        peer.gossip([_thief_checkpoint(me).envelope], [])
    assert me.did in peer.verifier.forks and peer.fork_alarm is None and not _alarms(caplog)
    assert peer.propose(other.did, me.proposal()).header.seq > ours.header.seq  # signed


@pytest.mark.req("ATT-017")
def test_status_shows_the_alarm_and_a_refused_commitment_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a2a-coop status` on the journal of a peer holding a proof against its key prints the alarm
    (text and --json); a command refused by the guard for it exits 1 with one line and the remedy."""
    me = provision(tmp_path, "me")
    with Journal.open(me.journal_path) as journal:
        peer = open_peer(me.key, me.mandate, journal)
        ours = peer.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
        thief = Peer(me.key, me.mandate)  # a second process on the key, with no journal: seq 0 again
        theirs = thief.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
        assert theirs.header.seq == ours.header.seq and theirs.digest != ours.digest
        peer.gossip([], [ForkProof(ours.envelope, theirs.envelope)])
    argv = ["status", "--journal", str(me.journal_path), "--key", str(me.key_path)]
    argv += ["--mandate", str(me.mandate_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ALARM since" in out and ours.digest.hex()[:12] in out and theirs.digest.hex()[:12] in out
    assert main([*argv, "--json"]) == 0
    forked = json.loads(capsys.readouterr().out)["key_forked"]
    assert set(forked["statements"]) == {ours.digest.hex(), theirs.digest.hex()}

    @runtime_command
    def refused(args: object, out: object) -> int:
        raise KeyForked(me.key.did, "offer")

    assert refused(None, None) == 1  # type: ignore[arg-type]
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "forked" in err and "a2a-coop revoke-key" in err


def _offer_at_a_stolen_seq() -> tuple[Peer, Peer, VerifiedStatement, VerifiedStatement]:
    """A thief signs an Offer to Bob at our next seq and Bob takes it; then our peer proposes to Bob at
    that same seq. Returns our peer, Bob's, the thief's Offer and ours (Bob refuses it EQUIVOCATION)."""
    clock = FixedClock()
    me, bob = Party("me", clock), Party("bob", clock)
    peer, bobs = make_peer(me, clock), make_peer(bob, clock)
    stolen = me.offer(bob)
    bobs.exchange(stolen.envelope, me.setup)
    ours = peer.propose(bob.did, me.proposal())
    assert ours.header.seq == stolen.header.seq
    return peer, bobs, stolen, ours


@pytest.mark.req("ATT-017")
def test_a_counterpartys_refusal_carrying_the_proof_raises_the_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A thief signed an Offer to Bob at our next seq; our own Offer to Bob is then refused EQUIVOCATION
    with both envelopes -- the usual way a peer whose key was stolen learns it. Expect the alarm raised
    from the refusal, and the refusal still raised to the caller."""
    peer, bobs, stolen, ours = _offer_at_a_stolen_seq()
    with caplog.at_level(logging.INFO), pytest.raises(CoopError) as refused:
        drive(peer, bobs.exchange, ours)
    assert refused.value.code == "EQUIVOCATION" and peer.fork_alarm is not None
    [line] = _alarms(caplog)
    assert ours.digest.hex() in line and stolen.digest.hex() in line


def test_the_control_service_answers_a_refused_commitment_with_failed_precondition(tmp_path: Path) -> None:
    """The test-only control service asks a peer holding a proof against its key to initiate: its guard
    refuses the Offer, and the caller gets FAILED_PRECONDITION (not an unknown error)."""
    f = _forked(tmp_path)

    class Aborted(Exception):
        pass

    class Context:
        code: grpc.StatusCode | None = None

        def abort(self, code: grpc.StatusCode, details: str) -> None:
            self.code, self.details = code, details
            raise Aborted

    request = control_pb2.InitiateRequest(
        counterparty_url="127.0.0.1:1", counterparty=f.other.did, proposal=f.me.proposal()
    )
    context = Context()
    with pytest.raises(Aborted):
        ControlServicer(f.peer).Initiate(request, context)  # type: ignore[arg-type]
    assert context.code is grpc.StatusCode.FAILED_PRECONDITION and "forked" in context.details
    f.journal.close()


@pytest.mark.req("ATT-017")
def test_resuming_a_trade_keeps_the_proof_a_refusal_carries(caplog: pytest.LogCaptureFixture) -> None:
    """Only drive and carry_trade kept it: resume_trade -- run after a crash, or a journal restored from a
    backup, when our signer is likeliest to have reused a seq -- and settle_with_escrow dropped the
    proof with the refusal. A thief signed an Offer to Bob at our seq; resuming our Offer meets Bob's
    EQUIVOCATION. Expect the alarm raised, and the refusal still raised to the caller."""
    peer, bobs, stolen, ours = _offer_at_a_stolen_seq()
    with caplog.at_level(logging.INFO), pytest.raises(CoopError) as refused:
        resume_trade(peer, bobs, peer.negotiation(ours.header.negotiation_id))  # type: ignore[arg-type]
    assert refused.value.code == "EQUIVOCATION" and peer.fork_alarm is not None
    [line] = _alarms(caplog)
    assert ours.digest.hex() in line and stolen.digest.hex() in line
