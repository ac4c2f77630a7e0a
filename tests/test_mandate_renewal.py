"""Renewing an agent's mandate (a new Mandate for the same key, SPEC 4.7) keeps its journal usable.

A journal held the statements its key signed but not the Mandate they cite: the next run, started
with the renewed mandate, could not replay them (MANDATE_UNKNOWN, blamed on an escrow) and the only
way out was the old mandate file, which `mandate --out` had just written over. A user who then began
a fresh journal for the key signed its seq 0 again: a fork, the key burned. Now the journal keeps
every mandate its key ran under (MND-017), `mandate`/`export --out` keep an existing file unless
--force, and a journal that still lacks a mandate says which one, whose, and what to pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.cli.demo import START_TIMEOUT_S, ServerProcess, start_server, stop_process, wait_listening
from a2a_coop.protocol.envelope import envelope_from_json
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier, verify_transcript
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import write_key_file
from a2a_coop.runtime.peer import META_MANDATE, META_OWN_MANDATES, Peer, drive
from a2a_coop.runtime.trade import negotiation_evidence
from a2a_coop.testing import DAY_MS, FixedClock, Party


def _mandate_digest(path: Path) -> bytes:
    return verify_statement(envelope_from_json(json.loads(path.read_text()))).digest


def _renew(party: Party, clock: FixedClock, **caps: int) -> VerifiedStatement:
    """A new Mandate from ``party``'s principal for the same agent key (its next principal seq)."""
    old = party.mandate_vs.statement.mandate
    mandate = identity_pb2.Mandate()
    mandate.CopyFrom(old)
    mandate.valid_from_ms = clock.now_ms
    mandate.valid_until_ms = clock.now_ms + 30 * DAY_MS
    for name, value in caps.items():
        setattr(mandate, name, value)
    return party.principal.sign("mandate", mandate, ttl_ms=30 * DAY_MS)


def _serve(tmp_path: Path, n: int, *argv: str | Path) -> ServerProcess:
    server = start_server("bob", ["serve", *map(str, argv), "--port", "0"], tmp_path / f"bob-{n}.log")
    try:
        return wait_listening(server, START_TIMEOUT_S)
    except BaseException:
        stop_process(server.popen)
        raise


@pytest.mark.req("MND-017")
def test_a_renewed_mandate_trades_on_with_the_same_journals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's walkthrough, then a renewal of both mandates: keygen, mandate, a trade (bob
    served, alice's `offer`, each with its journal), `mandate --out` over the existing file refused,
    then re-issued with --force, bob served again and a second trade on the same journals. Expect it
    FULFILLED (it failed with MANDATE_UNKNOWN, both `offer` and `serve`), alice's statements citing the
    old mandate before and the new one after, and both trades exported from both journals verifying."""
    files: dict[str, Path] = {}
    for name in ("alice", "bob"):
        for who in (name, f"{name}-principal"):
            files[who] = tmp_path / f"{who}.key"
            assert run_cli(capsys, "keygen", "--out", files[who])[0] == 0
        files[f"{name}.mandate"] = tmp_path / f"{name}.mandate.json"
        argv = ["mandate", "--principal", files[f"{name}-principal"], "--agent", files[name]]
        assert run_cli(capsys, *argv, "--out", files[f"{name}.mandate"])[0] == 0
    alice = ["--key", files["alice"], "--mandate", files["alice.mandate"], "--journal", tmp_path / "alice.db"]
    bob = ["--key", files["bob"], "--mandate", files["bob.mandate"], "--journal", tmp_path / "bob.db"]
    items = ["--give", "code-review:500", "--want", "copy-editing:450"]
    old = {name: _mandate_digest(files[f"{name}.mandate"]) for name in ("alice", "bob")}

    server = _serve(tmp_path, 0, *bob)
    try:
        code, out, err = run_cli(capsys, "offer", *alice, "--to", server.target, *items)
        assert code == 0, err
        first = out.split()[1]
    finally:
        stop_process(server.popen)

    for name in ("alice", "bob"):
        argv = ["mandate", "--principal", files[f"{name}-principal"], "--agent", files[name]]
        before = files[f"{name}.mandate"].read_bytes()
        code, _, err = run_cli(capsys, *argv, "--out", files[f"{name}.mandate"])
        assert code == 2
        one_line_error(err, f"{files[f'{name}.mandate']} exists; refusing to overwrite", "--force")
        assert files[f"{name}.mandate"].read_bytes() == before
        code, out, err = run_cli(capsys, *argv, "--out", files[f"{name}.mandate"], "--force")
        assert code == 0, err
        assert "(principal seq 1," in out  # the refusal spent no seq of the principal's chain
    new = {name: _mandate_digest(files[f"{name}.mandate"]) for name in ("alice", "bob")}
    assert new != old

    server = _serve(tmp_path, 1, *bob)  # bob's journal replays under his renewed mandate
    try:
        code, out, err = run_cli(capsys, "offer", *alice, "--to", server.target, *items)
        assert (code, err) == (0, "")
        second = out.split()[1]
        assert out.split()[2] == "FULFILLED"
    finally:
        stop_process(server.popen)

    for name, journal in (("alice", tmp_path / "alice.db"), ("bob", tmp_path / "bob.db")):
        reader = ["--journal", journal, "--key", files[name]]
        code, out, err = run_cli(capsys, "status", *reader)
        assert code == 0, err
        for short_id in (first, second):
            assert re.search(rf"^  {short_id}  FULFILLED ", out, re.M), out
        for short_id, cited in ((first, old), (second, new)):
            evidence = tmp_path / f"{name}-{short_id}.json"
            code, _, err = run_cli(capsys, "export", *reader, "--negotiation", short_id, "--out", evidence)
            assert code == 0, err
            assert run_cli(capsys, "verify", evidence)[0] == 0
            doc = json.loads(evidence.read_text())
            statements = [verify_statement(envelope_from_json(e)) for e in doc["envelopes"]]
            signed = {vs.header.mandate for vs in statements if vs.body != "mandate"}
            assert signed == {cited["alice"], cited["bob"]}


@pytest.mark.req("MND-017")
def test_a_peer_replays_under_a_renewed_mandate_and_its_guard_follows_the_new_caps(tmp_path: Path) -> None:
    """Alice trades from a journal, then her principal renews her mandate with a lower max_per_deal.
    Expect the Peer rebuilt on the same journal with the new mandate to replay (no old mandate
    given), its guard to refuse an offer over the new cap and sign one under it citing the new
    mandate, the journal to keep both mandates, and the first trade's evidence to verify."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    pb = make_peer(bob, clock)
    with Journal.open(tmp_path / "alice.db") as journal:
        pa = make_peer(alice, clock, journal=journal)
        offer = pa.propose(bob.did, alice.proposal())
        drive(pa, pb.exchange, offer)
        first = offer.header.negotiation_id
        assert pa.negotiation(first).state.value == "FULFILLED"
    clock.advance(DAY_MS)
    renewed = _renew(alice, clock, max_per_deal=480)
    with Journal.open(tmp_path / "alice.db") as journal:
        again = Peer(alice.agent.key, renewed.envelope, journal=journal, clock=lambda: clock.now_ms)
        assert journal.get_meta(META_OWN_MANDATES) == [alice.mandate_vs.envelope, renewed.envelope]
        with pytest.raises(MandateViolation):
            again.propose(bob.did, alice.proposal())  # gives 500: over the renewed cap
        fits = again.propose(bob.did, alice.proposal(gives=[alice.proposal().wants[0]]))  # gives 450 ...
        assert fits.header.mandate == renewed.digest
        assert verify_transcript(negotiation_evidence(again, first)).valid
    with Journal.open(tmp_path / "alice.db") as journal:  # and once more: nothing else to pass
        assert Peer(alice.agent.key, renewed.envelope, journal=journal, clock=lambda: clock.now_ms)


def test_mandate_and_export_out_refuse_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mandate --out` wrote over an existing mandate file without a word (`keygen` refuses), and so
    did `export --out`. Expect both refused in one line, exit 2, the file kept byte for byte, and
    written with --force."""
    demo = tmp_path / "demo"
    assert run_cli(capsys, "demo", "--offline", "--out", demo)[0] == 0
    mandate = demo / "alice.mandate.json"
    before = mandate.read_bytes()
    argv = ["mandate", "--principal", demo / "alice-principal.key", "--agent", demo / "alice.key"]
    code, out, err = run_cli(capsys, *argv, "--out", mandate)
    assert (code, out) == (2, "")
    one_line_error(err, f"{mandate} exists; refusing to overwrite a mandate file (--force replaces it)")
    assert mandate.read_bytes() == before
    assert run_cli(capsys, *argv, "--out", mandate, "--force")[0] == 0
    assert mandate.read_bytes() != before

    reader = ["--journal", demo / "alice.db", "--key", demo / "alice.key"]
    code, out, _ = run_cli(capsys, "status", *reader)
    short_id = re.findall(r"^  ([0-9a-f]{12})  ", out, re.M)[0]
    evidence = tmp_path / "evidence.json"
    evidence.write_text("{}\n")
    code, out, err = run_cli(capsys, "export", *reader, "--negotiation", short_id, "--out", evidence)
    assert (code, out) == (2, "")
    one_line_error(err, f"{evidence} exists; refusing to overwrite evidence (--force replaces it)")
    assert evidence.read_text() == "{}\n"
    assert run_cli(capsys, "export", *reader, "--negotiation", short_id, "--out", evidence, "--force")[0] == 0
    assert run_cli(capsys, "verify", evidence)[0] == 0


def test_a_journal_without_an_old_mandate_of_its_key_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal that lost the mandate its key's statements cite (one written before journals kept
    them, whose last run's mandate was already the new one) was refused as if an escrow's mandate were
    missing: "serve it once with --escrow". Expect the refusal to name the mandate's digest, say it is
    this key's, and say what to pass."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    with Journal.open(tmp_path / "alice.db") as journal:
        pa = make_peer(alice, clock, journal=journal)
        drive(pa, make_peer(bob, clock).exchange, pa.propose(bob.did, alice.proposal()))
    clock.advance(DAY_MS)
    renewed = _renew(alice, clock)
    with Journal.open(tmp_path / "alice.db") as journal:
        journal.delete_meta(META_OWN_MANDATES)
        journal.put_meta(META_MANDATE, renewed.envelope)
    write_key_file(tmp_path / "alice.key", alice.agent.key)
    code, _, err = run_cli(
        capsys, "status", "--journal", tmp_path / "alice.db", "--key", tmp_path / "alice.key"
    )
    assert code == 2
    one_line_error(
        err,
        "does not replay (MANDATE_UNKNOWN [MND-002])",
        f"cites mandate {alice.mandate_vs.digest.hex()}",
        f"an earlier mandate of this key ({alice.did})",
        "--context OLD.mandate.json",
    )


def test_an_escrow_restarts_on_its_journal_under_a_renewed_mandate(tmp_path: Path) -> None:
    """The escrow's ledger cites its mandate as a peer's statements do: renewed, an escrow could not
    start again on its journal (MANDATE_UNKNOWN). Expect it to replay under the new mandate with the
    ledger as it was, sign under the new one from then on, and start again without the old file."""
    from a2a_coop.runtime.node import EscrowNode

    clock = FixedClock()
    escrow, alice = Party("escrow", clock), Party("alice", clock)
    node = EscrowNode(
        escrow.agent.key, escrow.mandate_vs.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms
    )
    try:
        assert node.deposit(alice.did, 1_000).header.mandate == escrow.mandate_vs.digest
    finally:
        node.close()
    renewed = _renew(escrow, clock)
    for _ in range(2):  # the first start after the renewal, and one more
        node = EscrowNode(escrow.agent.key, renewed.envelope, tmp_path / "e.db", clock=lambda: clock.now_ms)
        try:
            assert node.get_balance(alice.did)[0] >= 1_000
            assert node.deposit(alice.did, 1).header.mandate == renewed.digest
        finally:
            node.close()


@pytest.mark.req("MND-017", "RPC-002", "RPC-015")
def test_a_mandate_a_counterparty_hands_over_for_our_key_is_never_one_we_answer_with(tmp_path: Path) -> None:
    """After a renewal a peer's answers carry its Mandates (RPC-002). Mallory hands Bob, as the context of
    an Offer, Mandates of her own principals naming Bob's key (taken: they name the request's audience,
    RPC-015). Bob, restarted on his journal, must not count them as his: they are hers, and carried in
    every answer they would bloat each past what a peer takes."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    fakes = []
    for i in range(3):
        fake = identity_pb2.Mandate()
        fake.CopyFrom(bob.mandate_vs.statement.mandate)
        principal = Party(f"mallory-principal-{i}", clock).principal
        fakes.append(principal.sign("mandate", fake, ttl_ms=30 * DAY_MS).envelope)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = Peer(bob.agent.key, bob.mandate_vs.envelope, journal=journal, clock=lambda: clock.now_ms)
        b.exchange(mallory.offer(bob).envelope, [*mallory.setup, *fakes])
        assert all(verify_statement(f).digest in b.verifier.statements for f in fakes)  # held (RPC-015)
    with Journal.open(tmp_path / "bob.db") as journal:
        again = Peer(bob.agent.key, bob.mandate_vs.envelope, journal=journal, clock=lambda: clock.now_ms)
        assert again.renewed == {} and again.send_context() == again.context
        answer = again.exchange(mallory.offer(bob).envelope, mallory.setup)
        assert [verify_statement(e).body for e in answer][:2] == ["mandate", "accept"]
        assert answer[0] == bob.mandate_vs.envelope


@pytest.mark.req("ESC-006", "MND-017")
def test_an_escrows_transcript_opens_with_its_own_mandates_only(tmp_path: Path) -> None:
    """A Submit may carry a Mandate naming the escrow's key, by any principal (taken as context);
    restarted, the escrow opens its transcript with its own Mandate alone, not with that one."""
    from a2a_coop.runtime.node import EscrowNode

    clock = FixedClock()
    escrow, mallory, bob = Party("escrow", clock), Party("mallory", clock), Party("bob", clock)
    path = tmp_path / "e.db"
    fake = identity_pb2.Mandate()
    fake.CopyFrom(escrow.mandate_vs.statement.mandate)
    forged = mallory.principal.sign("mandate", fake, ttl_ms=30 * DAY_MS)
    offer = mallory.offer(bob, mallory.proposal(escrow=escrow.did))
    node = EscrowNode(escrow.agent.key, escrow.mandate_vs.envelope, path, clock=lambda: clock.now_ms)
    try:
        node.submit([*mallory.setup, forged.envelope, offer.envelope])
    finally:
        node.close()
    node = EscrowNode(escrow.agent.key, escrow.mandate_vs.envelope, path, clock=lambda: clock.now_ms)
    try:
        assert forged.digest in node.escrow.verifier.statements  # held, as evidence
        envelopes, _, _, _ = node.get_transcript(0, 100, 1 << 22)
        assert envelopes[0] == escrow.mandate_vs.envelope
        assert forged.envelope not in envelopes[:1] and verify_statement(envelopes[1]).body != "mandate"
    finally:
        node.close()


@pytest.mark.req("ESC-002", "ESC-007", "MND-017")
def test_a_renewed_escrow_answers_a_repeated_submit_with_the_mandate_it_signed_under(tmp_path: Path) -> None:
    """An escrow signs a Submit's answer under its Mandate, renews it, and restarts: the same Submit again
    gets the same statements (ESC-007), which cite the old Mandate. The answer opens with the current
    one, as ever, then carries the old one before them: a caller holding neither verifies it all."""
    from a2a_coop.runtime.node import EscrowNode

    clock = FixedClock()
    escrow, alice, bob = Party("escrow", clock), Party("alice", clock), Party("bob", clock)
    path = tmp_path / "e.db"
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    submit = [*alice.setup, offer.envelope]
    node = EscrowNode(escrow.agent.key, escrow.mandate_vs.envelope, path, clock=lambda: clock.now_ms)
    try:
        first = node.submit(submit)
    finally:
        node.close()
    clock.advance(1_000)
    renewed = _renew(escrow, clock)
    node = EscrowNode(escrow.agent.key, renewed.envelope, path, clock=lambda: clock.now_ms)
    try:
        again = node.submit(submit)
    finally:
        node.close()
    assert [verify_statement(e).body for e in first] == ["mandate", "stamp"]
    assert again == [renewed.envelope, escrow.mandate_vs.envelope, *first[1:]]
    caller = Verifier()
    for envelope in [*escrow.setup[1:], *alice.setup, *again]:  # the escrow's principal, then the answer
        caller.accept(envelope)
