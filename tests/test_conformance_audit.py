"""The misrepresentation audit in a live conformance run (issue 14, items 5 and 7): every reference
agent is served over gRPC (its own process, ``a2a-coop agent run --strategy NAME``; the equivocator
and the over-committer, whose misbehaviour ``agent run`` cannot reach, in this process around their
unsafe node wrappers), the suite runs its ``mis.*`` scenarios against it as its own process, and each
adversary is flagged with what its ground truth says while the honest agent passes with no finding.

What a live run can prove depends on what the suite can see. With no escrow in the contracts (a
target trusts only the escrows it was configured with), a withheld delivery proves nothing: the
reneger, the feinter, the bluffer, the Sybil ring member and the opportunist show as INFO
observations of ``mis.deliveries-by-stake`` (the pattern named), not as audit findings. With an
escrow the target trusts (``escrow serve --conformance-faucet``, the agent started with ``--escrow``,
the suite with ``--escrow``), the suite bonds its contracts under it and claims what was withheld:
the escrow's Ruling and Forfeit make the ``breach`` hard proof (and, for the feinter, the feint
screen's outcomes by stake).
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.cli.demo import child_env, cli_command, provision, start_server, stop_process, wait_listening
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, Signer
from a2a_coop.transport import serve
from conformance.suite.runner import load_cases
from reference_agents.cooperative import Honest
from reference_agents.unsafe import NODE_WRAPPERS

SEED = "audit-selftest"
SCENARIOS = sorted(c for c in load_cases() if c.startswith("mis."))
RUN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Expected:
    """What the run against one agent must show."""

    exit_code: int
    kinds: frozenset[str] = frozenset()  # audit finding kinds that must fire (none other is hard)
    failed: frozenset[str] = frozenset()  # scenarios that must FAIL (at least; on hard proofs only)
    observed: tuple[str, str] = ("", "")  # (scenario, text its INFO reason must contain)
    params: tuple[str, ...] = ()


def _suite_did(case_id: str, name: str) -> str:
    """The did:key the suite uses for ``name`` in ``case_id`` under SEED (identities derive from it)."""
    return Signer(f"conformance/{SEED}/{case_id}/{name}", FixedClock(0)).did


EXPECTED: dict[str, Expected] = {
    "honest": Expected(0, observed=("mis.deliveries-by-stake", "delivered on every contract")),
    "exaggerator": Expected(
        1, frozenset({"broken-reservation", "ratchet"}), frozenset({"mis.reservation-kept"})
    ),
    "equivocator": Expected(1, frozenset({"equivocation"}), frozenset({"mis.one-chain"})),
    "over-committer": Expected(1, frozenset({"over-commitment"}), frozenset({"mis.within-means"})),
    "reneger": Expected(0, observed=("mis.deliveries-by-stake", "withheld on every contract")),
    "feinter": Expected(0, observed=("mis.deliveries-by-stake", "clean while cheap, withheld once")),
    "bluffer": Expected(0, observed=("mis.deliveries-by-stake", "withheld on every contract")),
    "sybil-ring": Expected(0, observed=("mis.deliveries-by-stake", "withheld on every contract")),
    "opportunist": Expected(0, observed=("mis.deliveries-by-stake", "withheld on every contract")),
    "cartel": Expected(
        0,
        frozenset({"cartel"}),
        observed=("mis.equal-terms", "soft screen: cartel"),
        params=("--param", f"members={_suite_did('mis.equal-terms', 'mia')}"),
    ),
}
DEFAULT = ("honest", "exaggerator", "equivocator", "over-committer")  # clean, a lie, two broken MUSTs

# With an escrow the target trusts: only the scenario that forms bonded contracts needs it.
ESCROW_SCENARIO = "mis.deliveries-by-stake"
ALL_DELIVERED = "10:delivered, 10:delivered, 10:delivered, 990:delivered, 990:delivered"
EXPECTED_WITH_ESCROW: dict[str, Expected] = {
    "honest": Expected(0, observed=(ESCROW_SCENARIO, ALL_DELIVERED)),
    "reneger": Expected(1, frozenset({"breach"}), frozenset({ESCROW_SCENARIO})),
    "feinter": Expected(1, frozenset({"breach", "feint"}), frozenset({ESCROW_SCENARIO})),
    "bluffer": Expected(1, frozenset({"breach"}), frozenset({ESCROW_SCENARIO})),
    "sybil-ring": Expected(1, frozenset({"breach"}), frozenset({ESCROW_SCENARIO})),
    "opportunist": Expected(0, observed=(ESCROW_SCENARIO, ALL_DELIVERED)),  # bonded: it performs
}
DEFAULT_WITH_ESCROW = ("honest", "reneger")


@contextmanager
def _escrow(tmp_path: Path, test_clock: Sequence[str] = ()) -> Iterator[str]:
    """A reference escrow as its own process, funding every party it sees (the test-only faucet)."""
    who = provision(tmp_path, "escrow")
    argv = ["escrow", "serve", *who.files(), "--conformance-faucet", "1000", "--tick-ms", "100", *test_clock]
    server = wait_listening(start_server("escrow", argv, tmp_path / "escrow.log"))
    try:
        yield server.target
    finally:
        stop_process(server.popen)


@contextmanager
def _serving(
    agent: str, tmp_path: Path, escrow: str | None = None, test_clock: Sequence[str] = ()
) -> Iterator[str]:
    """``agent`` as a gRPC peer: its own process (``a2a-coop agent run``) or, for the unsafe agents,
    which no a2a_coop module may import (lint-imports), a real gRPC server in this process around a
    PeerNode wrapped in its misbehaviour (:data:`reference_agents.unsafe.NODE_WRAPPERS`)."""
    who = provision(tmp_path, agent)
    if agent in NODE_WRAPPERS:
        node = PeerNode.open(who.key, who.mandate, tmp_path / f"{agent}.db", strategy=Honest())
        try:
            with serve(NODE_WRAPPERS[agent](node), None) as server:
                yield server.target
        finally:
            node.close()
        return
    argv = ["agent", "run", "--strategy", agent, *EXPECTED[agent].params, *who.files()]
    if escrow is not None:
        argv += ["--escrow", escrow]
    process = wait_listening(start_server(agent, [*argv, *test_clock], tmp_path / f"{agent}.log"))
    try:
        yield process.target
    finally:
        stop_process(process.popen)


def _run_against(
    agent: str,
    tmp_path: Path,
    *,
    escrow: str | None = None,
    scenarios: Sequence[str] = SCENARIOS,
    test_clock: Sequence[str] = (),
) -> tuple[int, dict[str, Any], str]:
    """Run the mis.* scenarios against ``agent`` (``a2a-coop conformance`` as its own process); with
    ``escrow``, the agent trusts it and the suite bonds its contracts under it; ``test_clock``
    (``--test-clock``): the agent, the escrow and the suite on test clocks, moved together (CTL-003)."""
    report = tmp_path / "report"
    with _serving(agent, tmp_path, escrow, test_clock) as target:
        cases = [f"--case={c}" for c in scenarios]
        extra = [*(["--escrow", escrow] if escrow is not None else []), *test_clock]
        run = subprocess.run(
            cli_command(
                "conformance", "--target", target, "--seed", SEED, "--report-dir", str(report), *extra, *cases
            ),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env={**child_env(), "CI": "true"},
            check=False,
        )
    doc: dict[str, Any] = json.loads((report / "report.json").read_text())
    return run.returncode, doc, run.stdout + run.stderr


def _check(agent: str, tmp_path: Path, *, with_escrow: bool = False) -> None:
    if with_escrow:
        want = EXPECTED_WITH_ESCROW[agent]
        # The rulings fall due at the deadlines + the 30 s clock tolerance (CMT-002): every clock of the
        # run on a test clock, moved past it by the suite (CTL-003) -- but an agent served in this process
        # around a PeerNode (NODE_WRAPPERS), which runs on the wall clock, waits the tolerance out.
        clock = () if agent in NODE_WRAPPERS else ("--test-clock",)
        with _escrow(tmp_path, clock) as escrow:
            code, doc, output = _run_against(
                agent, tmp_path, escrow=escrow, scenarios=[ESCROW_SCENARIO], test_clock=clock
            )
    else:
        want = EXPECTED[agent]
        code, doc, output = _run_against(agent, tmp_path)
    findings: Sequence[dict[str, Any]] = doc["audit"]
    levels = {c["id"]: (c["level"], c["reason"]) for c in doc["cases"]}
    fired = sorted({f"{f['kind']}{' (hard)' if f['hard'] else ''}" for f in findings})
    print(
        f"{agent}: exit {code}; findings {fired or 'none'}; "
        + "; ".join(f"{k} {v[0]}" for k, v in levels.items())
    )
    assert code == want.exit_code == doc["exit_code"], output
    kinds = {f["kind"] for f in findings}
    assert kinds == want.kinds, (agent, fired)
    for f in findings:  # every finding carries its proof: the statements, checkable offline
        assert f["statements"] and {s["digest"] for s in f["statements"]} == set(f["evidence"])
        assert all(s["envelope"] for s in f["statements"]) and f["subject"] == doc["target_did"]
        assert f["hard"] == (f["confidence"] == 1.0)
        assert f["kind"] in output  # the CLI summary names it
        if f["hard"]:  # and explains it once: a FAIL line names it and leaves the rest to the audit's
            fail_lines = [line for line in output.splitlines() if " FAIL " in f" {line} "]
            assert not any(f["summary"] in line or f["evidence"][0][:16] in line for line in fail_lines)
            assert output.count(f["summary"]) == sum(g["summary"] == f["summary"] for g in findings), output
    failed = {k for k, (level, _) in levels.items() if level == "FAIL"}
    assert want.failed <= failed and (failed or not want.exit_code), levels
    # FAIL only on a proof: the audit's, or the shadow verifier's own refusal of a forked answer
    assert all("hard proof: " in levels[k][1] or "EQUIVOCATION" in levels[k][1] for k in failed), levels
    if want.observed[0]:
        level, reason = levels[want.observed[0]]
        assert want.observed[1] in reason, (level, reason)
    junit = ET.parse(tmp_path / "report" / "junit.xml").getroot()
    failed_tests = {tc.get("name") for tc in junit.iter("testcase") if tc.find("failure") is not None}
    assert {f"audit.{f['kind']}" for f in findings if f["hard"]} | failed == failed_tests
    page = (tmp_path / "report" / "report.html").read_text()
    for f in findings:
        assert f["evidence"][0] in page  # the evidence's digests are on the page


@pytest.mark.parametrize("agent", DEFAULT)
def test_reference_agent_audited_live(agent: str, tmp_path: Path) -> None:
    _check(agent, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("agent", sorted(set(EXPECTED) - set(DEFAULT)))
def test_every_adversarial_agent_audited_live(agent: str, tmp_path: Path) -> None:
    _check(agent, tmp_path)


@pytest.mark.parametrize("agent", DEFAULT_WITH_ESCROW)
def test_breach_proved_live_with_an_escrow(agent: str, tmp_path: Path) -> None:
    """With an escrow the target trusts, the reneger's withheld deliveries are claimed and ruled on:
    the breach hard proof fails the run; the honest agent, bonded the same way, has no finding."""
    _check(agent, tmp_path, with_escrow=True)


@pytest.mark.slow
@pytest.mark.parametrize("agent", sorted(set(EXPECTED_WITH_ESCROW) - set(DEFAULT_WITH_ESCROW)))
def test_every_withholding_agent_ruled_on_live(agent: str, tmp_path: Path) -> None:
    _check(agent, tmp_path, with_escrow=True)


def test_every_reference_agent_has_an_expectation() -> None:
    import reference_agents

    adversaries = {n for n, a in reference_agents.AGENTS.items() if a.kind == "adversarial"}
    assert adversaries <= set(EXPECTED)


def test_escrow_option_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--escrow must be HOST:PORT, and an address that is no escrow stops the run before any case
    (exit 2, naming the escrow), rather than turning into verdicts about the target."""
    from a2a_coop.cli.main import main

    assert main(["conformance", "--target", "127.0.0.1:1", "--escrow", "nowhere"]) == 2
    assert "--escrow 'nowhere' must be HOST:PORT" in capsys.readouterr().err
    with _serving("honest", tmp_path) as target:  # a peer, not an escrow: Submit is UNIMPLEMENTED
        code = main(["conformance", "--target", target, "--escrow", target, "--case", ESCROW_SCENARIO])
    assert code == 2
    err = capsys.readouterr().err
    assert f"the escrow at {target} (--escrow) does not serve a2acoop.v1.EscrowService" in err, err
