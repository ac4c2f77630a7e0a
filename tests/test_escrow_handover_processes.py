"""An escrow's hand-over between processes (ESC-022, ESC-023): the escrow of a bonded trade is stopped
and its key revoked by its principal; a successor `escrow serve --succeeds` takes its journal's export
over, and `a2a-coop claim` with the successor as `--escrow` files the claim, which it upholds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_processes import (  # the process network of the other process tests
    FUNDS,
    Processes,
    balance,
    cli,
    cli_here,
    cli_offer,
    procs,  # noqa: F401 (a fixture)
    start_network,
    status,
)

from a2a_coop.cli.demo import stop_process
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file

BOND = 100


@pytest.mark.req("ESC-022", "ESC-023")
def test_a_successor_escrow_process_takes_the_claim_and_forfeits_the_bond(
    procs: Processes,  # noqa: F811
    tmp_path: Path,
) -> None:
    net = start_network(procs, tmp_path, bob_strategy="withhold-every-Nth:1")
    short_id, state = cli_offer(net, "--deadline", "1s")
    assert state == "PERFORMING"  # both bonds locked at K1, alice delivered, bob did not
    stop_process(net.escrow_server.popen)  # K1 is stolen: its operator stops it
    old = tmp_path / "escrow-old.json"
    # The operator's steps of the hand-over run in this process (a process of its own would spend most
    # of its time importing the package); the escrows, bob and alice's claims run as processes.
    assert cli_here("escrow", "export", "--journal", net.escrow.journal_path, "--out", old).returncode == 0
    principal = tmp_path / "escrow-principal.key"
    revoked = tmp_path / "escrow-revoked.json"
    done = cli_here("revoke-key", "--principal", principal, "--agent", net.escrow.did, "--out", revoked)
    assert done.returncode == 0, done.stderr
    new_key = tmp_path / "escrow2.key"
    write_key_file(new_key, generate_keypair())
    handover = tmp_path / "escrow2.mandate.json"
    done = cli_here(
        "mandate",
        "--principal",
        principal,
        "--agent",
        new_key,
        "--succeeds",
        net.escrow.did,
        "--out",
        handover,
    )
    assert done.returncode == 0, done.stderr
    time.sleep(0.01)  # past the revocation's effective time
    successor = procs.serve(
        "escrow2",
        *["escrow", "serve", "--key", str(new_key), "--mandate", str(handover)],
        *["--journal", str(tmp_path / "escrow2.db"), "--tick-ms", "100"],
        *["--succeeds", str(old), str(revoked), "--test-clock"],
    )
    time.sleep(1.1)  # past the deadline
    argv = ["claim", *net.alice.files(), "--negotiation", short_id, "--to", net.bob_server.target]
    filed = cli(*argv, "--escrow", successor.target, "--item", "0", "--reason", "never arrived")
    assert filed.returncode == 0 and " filed\n" in filed.stdout, filed.stderr
    # The successor rules once the clock tolerance after the deadline has passed (CMT-002): the story's
    # clocks -- the successor's, bob's, alice's next command's -- moved past it together (CTL-003).
    net.advance(CLOCK_TOLERANCE_MS, escrows=[successor])
    again = cli(*net.ahead(), *argv, "--escrow", successor.target, "--wait", "50s")
    assert again.returncode == 0, again.stderr
    assert f"negotiation {short_id}  BREACHED" in again.stdout
    assert "escrow: forfeited the counterparty's bond (100) to you" in again.stdout
    assert status(net.alice)["negotiations"] == {"BREACHED": 1}
    assert status(net.bob)["negotiations"] == {"BREACHED": 1}
    assert balance(net.alice, successor) == (FUNDS + BOND, 0)
