"""verify32: what witness32 left unsaid -- our Deliveries the escrow has not stamped (WIT-007).

witness32 made `offer` and `resume` submit a Delivery of ours again until an answer holds the escrow's Stamp
of it, and exit 3 saying "not witnessed by the escrow yet" while one is not stamped. Three places did not
follow: `a2a-coop status` showed such a trade as FULFILLED and nothing more; a run stopped by an error
(``_Tally.stopped``, `resume`'s refusal line) said where the trade was, not that the escrow lacks our
Delivery; and `resume`, whose settle round met an answer it refuses -- a Stamp signed by whoever answered for
the escrow -- left before its witness ran, so the Delivery stayed from the escrow until the user ran `resume`
again, before the deadline, while whoever answered lets it through. Who chose the value: whoever answered the
Submit for the escrow. What the counterparty gains: the bond its claim takes after the deadline.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_run import run_cli
from peers import stamped_by_served_escrow
from test_witness32_offer_forged_answer import _Lies, _offer, quick  # noqa: F401

from a2a_coop.cli._runtime import peer_from_journal
from a2a_coop.cli.peer import _Tally
from a2a_coop.runtime import trade as trade_module
from a2a_coop.transport import TransportError

NOT_STAMPED = "not witnessed by the escrow yet"
pytestmark = pytest.mark.usefixtures("quick")  # the run's doubling waits from a millisecond


def _journal_args(argv: list[str]) -> argparse.Namespace:
    """``--key K --mandate M --journal J`` (the first six of ``_offer``'s options) as `status` reads them."""
    given = dict(zip(argv[0:6:2], argv[1:6:2], strict=True))
    return argparse.Namespace(key=Path(given["--key"]), journal=Path(given["--journal"]), mandate=None)


@pytest.mark.req("WIT-007")
def test_status_shows_our_deliveries_the_escrow_has_not_stamped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever answers for E answers every Submit carrying Bob's second Delivery with E's Mandate alone, so
    `offer` exits 3. Expect `a2a-coop status` (JSON and text) to show that Delivery of the second trade as
    not witnessed by the escrow, with the time `resume` must give it again before; once a `resume` reaching
    E has it stamped, no longer. Before, status showed both trades FULFILLED and nothing more."""
    shown: list[tuple[dict[str, Any], str]] = []

    def status(via: _Lies, argv: list[str]) -> None:
        def both() -> tuple[dict[str, Any], str]:
            code, out, err = run_cli(capsys, "status", "--json", *argv[:6])
            assert code == 0, err
            code, text, err = run_cli(capsys, "status", *argv[:6])
            assert code == 0, err
            return json.loads(out), text

        shown.append(both())
        via.lies = via.told  # whoever answered for E is gone
        assert run_cli(capsys, "resume", *argv)[0] == 0
        shown.append(both())

    code, _, err, escrow, delivered, _ = _offer(tmp_path, capsys, "mandate", 10**6, status)
    try:
        assert code == 3 and NOT_STAMPED in err, err
        (before, text), (after, text_after) = shown
        entries = [*before["open"], *before["closed"]]
        owed = [e for e in entries if "not_witnessed" in e]
        assert len(entries) == 2 and len(owed) == 1, entries
        assert owed[0]["not_witnessed"]["deliveries"] == [delivered[1].digest.hex()]
        assert owed[0]["not_witnessed"]["resume_before"] in text
        assert text.count(NOT_STAMPED) == 1 and "a2a-coop resume" in text, text
        assert all("not_witnessed" not in e for e in [*after["open"], *after["closed"]]), after
        assert NOT_STAMPED not in text_after, text_after
        assert stamped_by_served_escrow(escrow, delivered[1].digest)
    finally:
        escrow.close()


@pytest.mark.req("WIT-007")
def test_a_stopped_run_says_the_escrow_has_not_stamped_our_delivery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever answers for E answers every Submit carrying Bob's second Delivery with a Stamp signed by its
    own key, which Bob's run refuses (MANDATE_UNKNOWN). Expect `resume`, stopped by it, and `offer`'s line
    for a trade stopped by an error (``_Tally.stopped``) to say the Delivery is not witnessed by the escrow
    yet. Before, both said only the state and the bonds."""
    said: list[tuple[int, str, str]] = []

    def stop(via: _Lies, argv: list[str]) -> None:
        said.append(run_cli(capsys, "resume", *argv))
        peer, journal = peer_from_journal(_journal_args(argv))
        try:
            negs = peer.verifier.negotiations.by_id.values()
            (neg,) = [n for n in negs if trade_module.unwitnessed(peer, n)]
            gone = TransportError(grpc.StatusCode.UNAVAILABLE, "gone")
            code = _Tally(io.StringIO(), 2, wait_hold=False).stopped(1, peer, neg, 0.0, gone)
        finally:
            journal.close()
        said.append((code, "", capsys.readouterr().err))

    code, _, err, escrow, _, _ = _offer(tmp_path, capsys, "own-stamp", 10**6, stop)
    escrow.close()
    assert code == 3 and NOT_STAMPED in err, err
    (resumed, _, resume_err), (stopped, _, stopped_err) = said
    assert resumed == 3 and "MANDATE_UNKNOWN" in resume_err and NOT_STAMPED in resume_err, resume_err
    assert stopped == 3 and "stopped in" in stopped_err and NOT_STAMPED in stopped_err, stopped_err


@pytest.mark.req("WIT-007", "WIT-001")
def test_resume_gives_the_escrow_our_delivery_after_a_settle_round_met_a_forged_stamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`offer` met forged Stamps on every Submit carrying Bob's second Delivery (exit 3); `resume`'s first
    Submit carrying it, its settle round's, meets one more, then whoever answered for E is gone. Expect the
    run to ask E again (its witness, WIT-007) and E to stamp the Delivery. Before, the refused answer ended
    the run before its witness: E never saw the Delivery."""
    resumed: list[tuple[int, str, str]] = []

    def resume(via: _Lies, argv: list[str]) -> None:
        via.lies = via.told + 1
        resumed.append(run_cli(capsys, "resume", *argv))
        assert via.told == via.lies, via.told

    code, _, err, escrow, delivered, _ = _offer(tmp_path, capsys, "own-stamp", 10**6, resume)
    try:
        assert code == 3 and NOT_STAMPED in err, err
        ((again, out, again_err),) = resumed
        assert stamped_by_served_escrow(escrow, delivered[1].digest), (again, out, again_err)
        assert NOT_STAMPED not in again_err and "Traceback" not in again_err, again_err
    finally:
        escrow.close()
