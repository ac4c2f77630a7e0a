"""An escrow's hand-over as an operator runs it (ESC-022, ESC-023): the old escrow's journal exported,
its principal's revocation and hand-over (`a2a-coop mandate --succeeds`), the successor node started on a
journal of its own with ``--succeeds`` and restarted without it; and the refusals, each one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.cli._inputs import load
from a2a_coop.cli._runtime import load_envelope
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, read_key_file, write_key_file
from a2a_coop.runtime.node import EscrowNode, KeySigner, remember_run, write_envelope_file
from a2a_coop.testing import FixedClock, Party

BOND = 100


class Scene:
    """Alice and Bob bonded at the reference escrow node K1 (on disk, with its principal's files); Bob
    never delivers and Alice has a claim to make."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.escrow: Identity = provision(tmp_path, "escrow")
        self.clock = FixedClock()
        self.clock.now_ms = verify_statement(self.escrow.mandate).issued_at_ms + 1_000
        self.alice, self.bob = Party("alice", self.clock), Party("bob", self.clock)
        node = EscrowNode(self.escrow.key, self.escrow.mandate, self.escrow.journal_path, clock=self.now)
        try:
            for p in (self.alice, self.bob):
                node.deposit(p.did, 1_000)
            proposal = self.alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=self.escrow.did)
            self.offer = self.alice.offer(self.bob, proposal)
            self.accept = self.bob.accept(self.offer)
            answer = node.submit(
                [
                    self.alice.mandate_vs.envelope,
                    self.bob.mandate_vs.envelope,
                    self.offer.envelope,
                    self.accept.envelope,
                ]
            )
            assert [verify_statement(e).body for e in answer[1:]] == ["stamp", "bond_lock", "bond_lock"]
            remember_run(node.journal, self.escrow.mandate, [])  # as `escrow serve` does
        finally:
            node.close()
        self.deadline = self.offer.statement.offer.gives[0].deadline_ms
        self.principal = read_key_file(tmp_path / "escrow-principal.key")
        self.new_key = generate_keypair()
        self.new_key_path = tmp_path / "escrow2.key"
        write_key_file(self.new_key_path, self.new_key)

    def now(self) -> int:
        return self.clock.now_ms

    def export(self) -> Path:
        out = self.tmp / "old.json"
        assert run_cli_ok("escrow", "export", "--journal", self.escrow.journal_path, "--out", out)
        return out

    def revoke(self, effective_ms: int) -> Path:
        with Journal.open(self.tmp / "escrow-principal.db") as journal:
            signer = KeySigner(self.principal, head=journal.chain_head(self.principal.did), clock=self.now)
            rev = signer.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=self.escrow.did, effective_ms=effective_ms, reason="stolen"),
            )
            journal.record_outgoing(rev, at_ms=self.now())
        path = self.tmp / "revocation.json"
        write_envelope_file(path, rev.envelope)
        return path

    def claim(self) -> bytes:
        return self.alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=0, reason="never arrived"),
            audience=self.bob.did,
            negotiation_id=self.offer.header.negotiation_id,
        ).envelope


_CAPSYS: list[pytest.CaptureFixture[str]] = []


def run_cli_ok(*argv: str | Path) -> bool:
    code, _, err = run_cli(_CAPSYS[0], *argv)
    assert code == 0, err
    return True


@pytest.fixture(autouse=True)
def _capsys(capsys: pytest.CaptureFixture[str]) -> None:
    _CAPSYS[:] = [capsys]


@pytest.mark.req("ESC-022", "ESC-023")
def test_the_successor_node_takes_over_the_exported_journal_and_settles_the_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scene(tmp_path)
    old = s.export()
    s.clock.now_ms = s.deadline + 1
    revocation = s.revoke(s.clock.now_ms - 1)
    handover = tmp_path / "escrow2.mandate.json"
    code, _, err = run_cli(
        capsys,
        "mandate",
        "--principal",
        tmp_path / "escrow-principal.key",
        "--agent",
        s.new_key_path,
        "--succeeds",
        s.escrow.did,
        "--days",
        "30",
        "--out",
        handover,
    )
    assert code == 0, err
    mandate = load_envelope(handover, "mandate")
    assert verify_statement(mandate).statement.mandate.succeeds == s.escrow.did
    predecessor = [item.data for item in load([str(old), str(revocation)]).items]
    journal = tmp_path / "escrow2.db"
    node = EscrowNode(s.new_key, mandate, journal, clock=s.now, predecessor=predecessor)
    try:
        assert node.escrow.succeeds == s.escrow.did and node.escrow.open_contracts == 1
        answer = node.submit([s.claim()])
        assert answer[0] == mandate and verify_statement(answer[3]).body == "key_revocation"
        assert verify_statement(answer[-1]).body == "stamp"
    finally:
        node.close()
    # Restarted without --succeeds: the journal kept what it took over.
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    node = EscrowNode(s.new_key, mandate, journal, clock=s.now)
    try:
        assert node.escrow.open_contracts == 1
        assert [vs.body for vs in node.tick()] == ["ruling", "forfeit", "release"]
        assert node.get_balance(s.alice.did)[:2] == (1_100, 0)
        assert node.get_balance(s.bob.did)[:2] == (900, 0)
    finally:
        node.close()
    # `escrow export` of the successor's journal opens with what it took over: `escrow audit` replays it.
    # It is the successor's transcript, and says so: it named the predecessor, whose Mandate comes first.
    out = tmp_path / "new.json"
    code, printed, err = run_cli(
        capsys, "escrow", "export", "--journal", journal, "--mandate", handover, "--out", out
    )
    successor = verify_statement(mandate).statement.mandate.agent
    assert code == 0 and f"of {successor} written" in printed, printed + err
    assert json.loads(out.read_text())["escrow"] == successor
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--escrow-did", s.new_key_path)
    assert code == 0, printed + err
    # Two keys' ledgers, and which escrow is judged is the auditor's to say (AUD-001): a newcomer auditing
    # the file as README does was told "name the escrow to audit", naming neither key nor option. The
    # finding names both keys, and a line the escrow the file names and the option to pass it with.
    code, printed, err = run_cli(capsys, "escrow", "audit", out)
    assert code == 1 and "ESCROW_AMBIGUOUS" in printed and not err
    assert s.escrow.did in printed and successor in printed
    assert f"run again with --escrow-did {successor}" in printed, printed
    # --json says it too, as a field (it once had the findings alone); none once the escrow is named.
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--json")
    assert code == 1 and not err
    hint = json.loads(printed)["hint"]
    assert hint["escrow_did"] == successor and f"run again with --escrow-did {successor}" in hint["note"]
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--escrow-did", successor)
    assert code == 0 and "ledger ok" in printed, printed + err
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--escrow-did", successor, "--json")
    assert code == 0 and json.loads(printed)["hint"] is None, printed + err


@pytest.mark.req("ESC-023", "AUD-001")
def test_the_audit_of_a_successors_export_before_it_signed_anything_names_the_escrow_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's hand-over, then `escrow export` of the successor's journal and `escrow audit` of it: the
    successor had signed no ledger statement yet, so the audit, told no escrow, judged the one key that
    had -- the predecessor -- and found the hand-over unstamped (exit 1, two UNSTAMPED_EVIDENCE), with no
    word that the file is another escrow's. It still judges that key (the file's `escrow` field is its
    author's word, AUD-001), and a line names the escrow the file names and the option to pass."""
    s = Scene(tmp_path)
    old = s.export()
    s.clock.now_ms = s.deadline + 1
    revocation = s.revoke(s.clock.now_ms - 1)
    handover = tmp_path / "escrow2.mandate.json"
    principal = tmp_path / "escrow-principal.key"
    argv = ["--agent", s.new_key_path, "--succeeds", s.escrow.did, "--days", "30", "--out", handover]
    assert run_cli_ok("mandate", "--principal", principal, *argv)
    mandate = load_envelope(handover, "mandate")
    predecessor = [item.data for item in load([str(old), str(revocation)]).items]
    journal = tmp_path / "escrow2.db"
    EscrowNode(s.new_key, mandate, journal, clock=s.now, predecessor=predecessor).close()
    out = tmp_path / "new.json"
    assert run_cli_ok("escrow", "export", "--journal", journal, "--mandate", handover, "--out", out)
    code, printed, err = run_cli(capsys, "escrow", "audit", out)
    assert code == 1 and not err and f"escrow {s.escrow.did}:" in printed, printed + err
    successor = s.new_key.did
    assert f"names its escrow {successor}, not {s.escrow.did}" in printed, printed
    assert f"run again with --escrow-did {successor}" in printed
    code, printed, err = run_cli(capsys, "escrow", "audit", out, "--escrow-did", successor)
    assert f"escrow {successor}:" in printed and "note:" not in printed, printed + err


@pytest.mark.req("ESC-023")
def test_a_successor_node_does_not_start_before_the_revocation_is_effective(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    old = s.export()
    revocation = s.revoke(s.clock.now_ms + 60_000)  # scheduled ahead
    m = identity_pb2.Mandate()
    m.CopyFrom(verify_statement(s.escrow.mandate).statement.mandate)
    m.agent, m.succeeds = s.new_key.did, s.escrow.did
    with Journal.open(tmp_path / "escrow-principal.db") as pj:
        signer = KeySigner(s.principal, head=pj.chain_head(s.principal.did), clock=s.now)
        mandate = signer.sign("mandate", m).envelope
    predecessor = [item.data for item in load([str(old), str(revocation)]).items]
    with pytest.raises(CoopError) as e:
        EscrowNode(s.new_key, mandate, tmp_path / "escrow2.db", clock=s.now, predecessor=predecessor)
    assert e.value.code == "WRONG_PARTY" and "ESC-023" in str(e.value)


@pytest.mark.req("ESC-023")
def test_escrow_serve_succeeds_refusals_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scene(tmp_path)
    old = s.export()
    files = ["--key", s.new_key_path, "--journal", tmp_path / "escrow2.db", "--port", "0"]
    # --succeeds under a Mandate that names no key it succeeds.
    plain = tmp_path / "plain.json"
    run_cli_ok(
        "mandate", "--principal", tmp_path / "escrow-principal.key", "--agent", s.new_key_path, "--out", plain
    )
    code, _, err = run_cli(capsys, "escrow", "serve", *files, "--mandate", plain, "--succeeds", old)
    assert code == 2
    one_line_error(err, "--mandate must be its principal's hand-over")
    handover = tmp_path / "handover.json"
    run_cli_ok(
        "mandate",
        "--principal",
        tmp_path / "escrow-principal.key",
        "--agent",
        s.new_key_path,
        "--succeeds",
        s.escrow.did,
        "--out",
        handover,
    )
    # A hand-over without the old transcript, or without a revocation of the old key.
    code, _, err = run_cli(capsys, "escrow", "serve", *files, "--mandate", handover)
    assert code == 2
    one_line_error(err, "give its transcript", "--succeeds")
    code, _, err = run_cli(capsys, "escrow", "serve", *files, "--mandate", handover, "--succeeds", old)
    assert code == 2
    one_line_error(err, "no KeyRevocation of")
    # `mandate --succeeds` naming the agent itself.
    code, _, err = run_cli(
        capsys,
        "mandate",
        "--principal",
        tmp_path / "escrow-principal.key",
        "--agent",
        s.new_key_path,
        "--succeeds",
        s.new_key_path,
        "--out",
        tmp_path / "self.json",
    )
    assert code == 2
    one_line_error(err, "names the agent itself")


@pytest.mark.req("ESC-023")
def test_escrow_serve_refuses_an_export_missing_part_of_the_old_keys_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The operator's export with K1's lock of Alice's bond cut out (and K1's lock of Bob's kept): the
    # successor would start with Alice's bond free. It does not start: one line, CHAIN_GAP.
    s = Scene(tmp_path)
    old = s.export()
    exported = json.loads(old.read_text())
    bodies = [verify_statement(item.data).body for item in load([str(old)]).items]
    assert len(bodies) == len(exported["envelopes"])
    del exported["envelopes"][bodies.index("bond_lock")]
    old.write_text(json.dumps(exported))
    s.clock.now_ms = s.deadline + 1
    revocation = s.revoke(s.clock.now_ms - 1)
    handover = tmp_path / "handover.json"
    run_cli_ok(
        *("mandate", "--principal", tmp_path / "escrow-principal.key", "--agent", s.new_key_path),
        *("--succeeds", s.escrow.did, "--out", handover),
    )
    files = ["--key", s.new_key_path, "--journal", tmp_path / "escrow2.db", "--port", "0"]
    code, _, err = run_cli(
        capsys, "escrow", "serve", *files, "--mandate", handover, "--succeeds", old, revocation
    )
    assert code != 0
    one_line_error(err, "CHAIN_GAP", "jumps to seq 4, expected 3")


@pytest.mark.req("KEY-011", "ESC-022")
def test_revoke_key_states_the_escrow_keys_chain_length_read_from_its_export(tmp_path: Path) -> None:
    """``revoke-key --chain-of EXPORT`` (the old escrow's `escrow export`): the revocation states the length
    of the key's chain there (its highest seq + 1, KEY-011 (e)); a file holding no statement of the key is
    refused in one line, and with no --chain-of the revocation states none, as before."""
    scene = Scene(tmp_path)
    export = scene.export()
    seqs = [vs.seq for vs in map(verify_statement, (i.data for i in load([str(export)]).items))]
    key = scene.escrow.did
    chained = [
        vs.seq
        for vs in map(verify_statement, (i.data for i in load([str(export)]).items))
        if vs.issuer == key
    ]
    assert chained and len(seqs) > len(chained)  # the export holds the parties' statements too
    principal = tmp_path / "escrow-principal.key"
    out = tmp_path / "rev.json"
    code, said, err = run_cli(
        _CAPSYS[0], "revoke-key", "--principal", principal, "--agent", key, "--chain-of", export, "--out", out
    )
    assert code == 0, err
    stated = verify_statement(load_envelope(out, "revocation")).statement.key_revocation
    assert stated.chain_length == max(chained) + 1
    assert f"its chain {stated.chain_length} statements long" in said
    write_envelope_file(tmp_path / "other.json", scene.offer.envelope)
    code, _, err = run_cli(
        _CAPSYS[0], "revoke-key", "--principal", principal, "--agent", key, "--chain-of",
        tmp_path / "other.json", "--out", tmp_path / "rev2.json",
    )  # fmt: skip
    assert code != 0 and one_line_error(err, "--chain-of", "no statement of")
    assert run_cli_ok("revoke-key", "--principal", principal, "--agent", key, "--out", tmp_path / "rev3.json")
    bare = verify_statement(load_envelope(tmp_path / "rev3.json", "revocation")).statement.key_revocation
    assert bare.chain_length == 0
