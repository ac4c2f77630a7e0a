"""MND-021: a key is a principal's or an agent's, never both. An agent's key that signed a Mandate
would hand another key authority its principal never granted, outside every cap the principal set
(`a2a-coop mandate --principal AGENT.key` used to succeed); a principal's key that traded under
another's Mandate would answer to two principals. The signer refuses both, from its own chain."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import write_key_file
from a2a_coop.runtime.node import PeerNode, remember_run, sign_mandate, write_envelope_file
from a2a_coop.testing import FixedClock, Party

CAROL = "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(now_ms=int(time.time() * 1000))


def _traded(tmp_path: Path, alice: Party, bob: Party, clock: FixedClock) -> Path:
    """alice's journal, where her key signed an Offer under her principal's Mandate."""
    path = tmp_path / "alice.db"
    node = PeerNode.open(alice.agent.key, alice.mandate_vs.envelope, path, clock=lambda: clock.now_ms)
    try:
        node.peer.propose(bob.did, alice.proposal())
    finally:
        node.close()
    write_key_file(tmp_path / "alice.key", alice.agent.key)
    return path


@pytest.mark.req("MND-021")
def test_an_agent_key_that_signed_under_its_mandate_signs_no_mandate(
    tmp_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = Party("alice", clock), Party("bob", clock)
    journal = _traded(tmp_path, alice, bob, clock)
    with Journal.open(journal) as j:
        head = j.chain_head(alice.did)
    code, _, err = _alice_delegates_to_carol(capsys, tmp_path)
    assert code == 1
    one_line_error(err, "MANDATE_VIOLATION [MND-021]", "agent's key", "it signed an offer")
    assert not (tmp_path / "c.json").exists()
    with Journal.open(journal) as j:
        with pytest.raises(MandateViolation, match="MND-021"):  # the library refuses it too
            sign_mandate(alice.agent.key, j, alice.did, now_ms=clock.now_ms)  # even for herself
        assert j.chain_head(alice.did) == head  # nothing signed


@pytest.mark.req("MND-021")
def test_an_agent_key_served_under_its_mandate_signs_no_mandate_before_it_signed_anything(
    tmp_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run served the key under its principal's Mandate, and it signed nothing yet: still an agent."""
    alice = Party("alice", clock)
    write_key_file(tmp_path / "alice.key", alice.agent.key)
    with Journal.open(tmp_path / "alice.db") as j:
        remember_run(j, alice.mandate_vs.envelope, [])
    code, _, err = _alice_delegates_to_carol(capsys, tmp_path)
    assert code == 1
    one_line_error(err, "MANDATE_VIOLATION [MND-021]", "served under its Mandate")


@pytest.mark.req("MND-021")
def test_a_principal_key_is_not_served_as_an_agent(
    tmp_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that signed a Mandate for another key is refused as an agent under someone else's Mandate,
    by `serve` in one line (exit 1) and by the library's Peer."""
    alice = Party("alice", clock)
    key, journal = tmp_path / "alice.key", tmp_path / "alice.db"
    write_key_file(key, alice.agent.key)
    code, _, _ = run_cli(
        capsys, "mandate", "--principal", key, "--agent", CAROL, "--out", tmp_path / "c.json"
    )
    assert code == 0  # alice's key, unused so far, may be a principal
    mandate = tmp_path / "alice.mandate.json"
    write_envelope_file(mandate, alice.mandate_vs.envelope)
    code, _, err = run_cli(
        capsys, "serve", "--key", key, "--mandate", mandate, "--journal", journal, "--port", "0"
    )
    assert code == 1
    one_line_error(err, "MANDATE_VIOLATION [MND-021]", "principal's key", CAROL)
    with pytest.raises(MandateViolation, match="MND-021"):
        PeerNode.open(alice.agent.key, alice.mandate_vs.envelope, journal, clock=lambda: clock.now_ms)


@pytest.mark.req("MND-021")
def test_a_key_under_its_own_mandate_is_its_own_principal(tmp_path: Path, clock: FixedClock) -> None:
    """A key trading under a Mandate it signed for itself delegates nothing it was given: it may sign a
    Mandate for another key, and still trade."""
    alice = Party("alice", clock)
    key = alice.agent.key
    with Journal.open(tmp_path / "k.db") as j:
        own = sign_mandate(
            key,
            j,
            key.did,
            now_ms=clock.now_ms,
            max_per_deal=10**6,
            budget_per_period=10**6,
            period_ms=86_400_000,
            max_outstanding=10**6,
        )
    node = PeerNode.open(key, own.envelope, tmp_path / "k.db", clock=lambda: clock.now_ms)
    try:
        node.peer.propose(Party("bob", clock).did, alice.proposal())
        assert sign_mandate(key, node.journal, CAROL, now_ms=clock.now_ms).statement.mandate.agent == CAROL
    finally:
        node.close()


@pytest.mark.req("MND-021")
def test_a_principal_key_is_not_served_as_an_escrow(
    tmp_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """An escrow signs under its Mandate too: `escrow serve` refuses a principal's key in one line."""
    escrow = Party("escrow", clock)
    key, mandate = tmp_path / "e.key", tmp_path / "e.mandate.json"
    write_key_file(key, escrow.agent.key)
    write_envelope_file(mandate, escrow.mandate_vs.envelope)
    assert (
        run_cli(capsys, "mandate", "--principal", key, "--agent", CAROL, "--out", tmp_path / "c.json")[0] == 0
    )
    argv = [
        "escrow",
        "serve",
        "--key",
        key,
        "--mandate",
        mandate,
        "--journal",
        tmp_path / "e.db",
        "--port",
        "0",
    ]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1
    one_line_error(err, "MANDATE_VIOLATION [MND-021]", "principal's key")


@pytest.mark.req("MND-021")
@pytest.mark.parametrize("page", [1, 10_000])
def test_a_key_that_traded_under_its_own_mandate_then_as_an_agent_signs_no_mandate(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """The gap SPEC 4.2 named: MND-021 read only the key's first statement, so a key that first traded
    under its own Mandate, then under another principal's (an agent's key, KEY-007), and was last run
    under its own again signed a Mandate for another key -- a sub-delegation outside that principal's
    caps. Every statement of its chain is read now (a page at a time: one statement a page, too)."""
    monkeypatch.setattr("a2a_coop.runtime.peer._AGENT_PAGE", page)
    alice = Party("alice", clock)
    key, path, bob = alice.agent.key, tmp_path / "k.db", Party("bob", clock)
    caps = {
        "max_per_deal": 10**6,
        "budget_per_period": 10**6,
        "period_ms": 86_400_000,
        "max_outstanding": 10**6,
    }
    with Journal.open(path) as j:
        own = sign_mandate(key, j, key.did, now_ms=clock.now_ms, **caps)
    for mandate in (own.envelope, alice.mandate_vs.envelope, own.envelope):  # own, then alice's principal's
        node = PeerNode.open(key, mandate, path, clock=lambda: clock.now_ms)
        try:
            node.peer.propose(bob.did, alice.proposal())
        finally:
            node.close()
        clock.advance(1_000)
    with Journal.open(path) as j:
        head = j.chain_head(key.did)
        with pytest.raises(MandateViolation, match="MND-021"):
            sign_mandate(key, j, CAROL, now_ms=clock.now_ms)
        assert j.chain_head(key.did) == head  # nothing signed


@pytest.mark.req("MND-021")
def test_a_strangers_mandate_naming_a_principals_key_makes_it_no_agent(
    tmp_path: Path, clock: FixedClock
) -> None:
    """An attempt that fails (attacker's pass 23): Mallory signs a Mandate naming an honest principal's
    key as its agent and has it reach the principal's journal (context of a request), to lock the
    principal out of signing Mandates (MND-021: an agent's key signs none). MND-021 reads only what the
    key itself signed, and the Mandates the operator served it under: a Mandate the key never signed
    under binds it to nobody (KEY-007), and the principal still signs."""
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    principal = alice.principal
    fields = {f.name: v for f, v in alice.mandate_vs.statement.mandate.ListFields()}
    minted = mallory.principal.sign("mandate", identity_pb2.Mandate(**{**fields, "agent": principal.did}))
    with Journal.open(tmp_path / "p.db") as j:
        j.record_incoming(minted, [], at_ms=clock.now_ms)
        assert j.by_digest(minted.digest) is not None
        signed = sign_mandate(principal.key, j, CAROL, now_ms=clock.now_ms)
        assert signed.statement.mandate.agent == CAROL


def _alice_delegates_to_carol(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str, str]:
    """`a2a-coop mandate` with alice's key (tmp_path/alice.key) as the principal, for Carol's key."""
    return run_cli(
        capsys,
        "mandate",
        "--principal",
        tmp_path / "alice.key",
        "--agent",
        CAROL,
        "--out",
        tmp_path / "c.json",
    )
