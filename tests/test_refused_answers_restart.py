"""proof30: a key's refused answers survive its victim's restart, through the real runtime.

Bob serves (`a2a-coop serve`, a subprocess on his SQLite journal) after offering Alice terms and
withdrawing them; Alice reveals two answers to the offer she signed before the Withdraw, one before Bob's
server is killed (SIGKILL) and one after it is restarted on the same journal. Both are refused (the
negotiation is over), and refusals join no negotiation (ERR-003): the journal holds neither. The first had
been set aside in the journal's forgotten table with the negotiation the server had forgotten -- and a
restart drops that table's rows (they are derived from the statements, which it replays), so the restarted
server read the negotiation back without it, found no pair, and Alice went free where a server that had
not restarted convicted her (ATT-013 (c)). Her choice: wait for Bob's restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_answer_proof import _answer, _withdrawn

from a2a_coop.cli.demo import START_TIMEOUT_S, ServerProcess, start_server, stop_process, wait_listening
from a2a_coop.protocol.errors import CoopError
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import write_key_file
from a2a_coop.runtime.node import write_envelope_file
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import FixedClock
from a2a_coop.transport import CooperationClient

RPC_TIMEOUT_S = 30.0


def _serve(argv: list[str], log: Path) -> ServerProcess:
    server = start_server("bob", ["serve", *argv, "--port", "0"], log)
    try:
        return wait_listening(server, START_TIMEOUT_S)
    except BaseException:
        stop_process(server.popen)
        raise


@pytest.mark.req("ATT-022", "ATT-013")
def test_a_served_peer_killed_between_two_refused_answers_still_convicts_their_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from a2a_coop.cli.main import main

    clock = FixedClock(now_ms=wall_clock_ms() - 2_000)  # the server runs on the wall clock
    path = tmp_path / "bob.db"
    with Journal.open(path) as journal:
        alice, bob, _, offer = _withdrawn(clock, journal)
    key, mandate = tmp_path / "bob.key", tmp_path / "bob.mandate.json"
    write_key_file(key, bob.agent.key)
    write_envelope_file(mandate, bob.mandate_vs.envelope)
    argv = ["--key", str(key), "--mandate", str(mandate), "--journal", str(path)]
    for run in range(2):
        server = _serve(argv, tmp_path / f"bob-{run}.log")
        try:
            clock.now_ms = wall_clock_ms() - 1_000  # signed now: received within the skew (TIM-006)
            answer = _answer(alice, offer, run)
            client = CooperationClient(server.target, timeout_s=RPC_TIMEOUT_S)
            with client, pytest.raises(CoopError) as refused:
                client.exchange(answer.envelope)
            assert refused.value.code == "ILLEGAL_TRANSITION"  # the attack happened: each refused
            if run == 0:
                server.popen.kill()  # SIGKILL: no shutdown, no snapshot
                assert server.popen.wait(10) != 0
        finally:
            stop_process(server.popen)
    assert main(["reputation", alice.did, "--journal", str(path), "--key", str(key)]) == 0
    text = capsys.readouterr().out
    assert "FAULTY" in text and "two answers of its key to one statement, ATT-022" in text
