"""links33: the conformance suite checks what a target convicts on a fork proof given by gossip (ATT-013 (b),
(d), ATT-024, ATT-025) -- with the Stamp of an escrow it trusts, which only ``--escrow`` can sign, and with
one it does not.

The cases read the conviction from what the target passes on: the principal's revocation travels with a proof
only when the target spares that principal (ATT-024). Each runs against real processes: a reference escrow,
and the reference peer trusting it (or not).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.cli.demo import child_env, cli_command, provision, start_server, stop_process, wait_listening

CONVICTS = "read.gossip-proof-convicts-on-a-trusted-stamp"
SPARES = "read.gossip-proof-spares-on-an-untrusted-stamp"
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def escrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A reference escrow as its own process."""
    directory = tmp_path_factory.mktemp("escrow")
    who = provision(directory, "escrow")
    server = wait_listening(
        start_server(
            "escrow", ["escrow", "serve", *who.files(), "--tick-ms", "100"], directory / "escrow.log"
        )
    )
    try:
        yield server.target
    finally:
        stop_process(server.popen)


def _run(tmp_path: Path, trusting: Sequence[str], *extra: str) -> dict[str, tuple[str, str]]:
    """The reference peer (``a2a-coop serve``, started with ``trusting`` as its ``--escrow``), the two
    cases run against it with ``extra``: each case's level and reason."""
    who = provision(tmp_path, "bob")
    argv = ["serve", *who.files(), *(arg for e in trusting for arg in ("--escrow", e))]
    server = wait_listening(start_server("bob", argv, tmp_path / "bob.log"))
    try:
        subprocess.run(
            cli_command(
                "conformance",
                "--target",
                server.target,
                "--report-dir",
                str(tmp_path / "r"),
                *extra,
                f"--case={CONVICTS}",
                f"--case={SPARES}",
            ),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env={**child_env(), "CI": "true"},
            check=False,
        )
    finally:
        stop_process(server.popen)
    doc: dict[str, Any] = json.loads((tmp_path / "r" / "report.json").read_text())
    return {c["id"]: (c["level"], c["reason"]) for c in doc["cases"]}


@pytest.mark.req("ATT-013", "ATT-024", "ATT-025")
def test_the_reference_peer_convicts_on_its_escrows_stamp_and_spares_on_another(
    escrow: str, tmp_path: Path
) -> None:
    levels = _run(tmp_path, [escrow], "--escrow", escrow)
    assert levels[CONVICTS][0] == "PASS" and levels[SPARES][0] == "PASS", levels


@pytest.mark.req("ATT-013")
def test_without_escrow_the_conviction_is_skipped_and_the_sparing_still_checked(tmp_path: Path) -> None:
    levels = _run(tmp_path, [])
    assert levels[CONVICTS][0] == "SKIP" and "--escrow" in levels[CONVICTS][1], levels
    assert levels[SPARES][0] == "PASS", levels


@pytest.mark.req("ATT-013", "ATT-024")
def test_a_target_that_does_not_trust_the_escrow_fails_the_conviction_case(
    escrow: str, tmp_path: Path
) -> None:
    """The target spares a principal on a Stamp by an escrow it does not trust (ATT-013 (d)): told that escrow
    is one it trusts (``--escrow``), the case sees the principal spared where the Stamp convicts it -- the
    observation is the target's, not a fixed verdict."""
    levels = _run(tmp_path, [], "--escrow", escrow)
    level, reason = levels[CONVICTS]
    assert level == "FAIL" and "spares Carol's principal" in reason, levels
