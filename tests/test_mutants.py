"""The fault-injected servers of conformance.mutants, as real processes on loopback.

Each mutant must fail the probe that names its deviation while the unmutated reference peer, served by
the same launcher, passes every probe: so each mutant deviates, and only the fault makes it deviate.
A representative mutant of each seam runs by default; every mutant runs under ``-m slow``. The
kill-rate harness is checked on a stand-in suite (a probe) whose verdicts are known.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.mutants import __main__ as cli
from conformance.mutants.catalog import BY_NAME, MUTANTS, REFERENCE, markdown_table
from conformance.mutants.killrate import MutantProcess, kill_rate
from conformance.mutants.probes import PROBES, run_probes

ROOT = Path(__file__).resolve().parent.parent
# One mutant per seam (module, verifier, peer, journal, handler, interceptor) runs by default.
DEFAULT = {
    "skip-signature",
    "nonce-reuse-accepted",
    "ack-wrong-digest",
    "retry-refused",
    "signature-status-swapped",
    "from-seq-unchecked",
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MutantProcess]:
    directory = tmp_path_factory.mktemp("reference")
    with MutantProcess(REFERENCE, directory / "state", directory / "server.log") as server:
        yield server


def test_catalogue_names_real_requirements_probes_and_one_seam_each() -> None:
    requirements = {r["id"] for r in json.loads((ROOT / "conformance" / "requirements.json").read_text())}
    assert len(MUTANTS) >= 20
    assert len(BY_NAME) == len(MUTANTS)
    for m in MUTANTS:
        assert m.probe in PROBES, m.name
        assert m.violates and set(m.violates) <= requirements, m.name
        assert m.seam and " + " not in m.seam, f"{m.name} is injected at more than one seam: {m.seam}"
        assert m.deviation and m.expect


def test_every_mutant_override_keeps_the_signature_it_overrides() -> None:
    """A mutant's fault overrides a method of the reference's Peer or verifier; when the reference
    changes that method's parameters, the mutant crashes at start-up instead of deviating (a verifier's
    ``_check_key`` gained one, and only ``-m slow``, where that mutant runs, found it). Checked here in
    the default run, for every mutant, without starting one."""
    import inspect

    for m in MUTANTS:
        for cls in (m.peer_class, m.verifier_class):
            if cls is None:
                continue
            for name, member in vars(cls).items():
                base = next((getattr(b, name) for b in cls.__mro__[1:] if name in vars(b)), None)
                if not callable(member) or base is None or name.startswith("__"):
                    continue
                params = inspect.signature(member).parameters
                ours = [p for p, v in params.items() if v.kind is not v.VAR_KEYWORD]
                theirs = list(inspect.signature(base).parameters)
                passes_on = len(ours) < len(params)  # **kw: what it does not name goes through
                ok = ours == theirs[: len(ours)] if passes_on else ours == theirs
                assert ok, f"{m.name}: {cls.__name__}.{name}{ours} overrides {theirs}"


def test_reference_passes_every_probe(reference: MutantProcess) -> None:
    results = run_probes(reference.target)
    assert results == dict.fromkeys(PROBES, ""), {k: v for k, v in results.items() if v}


@pytest.mark.parametrize(
    "name",
    [pytest.param(m.name, marks=() if m.name in DEFAULT else pytest.mark.slow) for m in MUTANTS],
)
def test_mutant_fails_its_probe(name: str, tmp_path: Path) -> None:
    mutant = BY_NAME[name]
    with MutantProcess(name, tmp_path / "state", tmp_path / "server.log") as server:
        why = run_probes(server.target, [mutant.probe])[mutant.probe]
    assert why, f"{name} passed probe {mutant.probe}: the fault did not show"


def test_killrate_counts_killed_survived_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bad-signature probe kills skip-signature and cannot see from-seq-unchecked.
    suite = f"{sys.executable} -m conformance.mutants probe --target {{target}} --only bad-signature"
    figures = kill_rate(
        suite,
        ["skip-signature", "from-seq-unchecked"],
        out=sys.stdout,
        timeout_s=60,
        workdir=tmp_path,
        jobs=2,
    )
    printed = capsys.readouterr().out.splitlines()
    assert json.loads(printed[-1]) == figures
    assert figures["reference_passes"] is True
    assert (figures["mutants"], figures["killed"], figures["mutant_kill_rate"]) == (2, 1, 0.5)
    assert figures["survived"] == ["from-seq-unchecked"]
    assert any(line.startswith("skip-signature") and "killed" in line for line in printed)


def test_killrate_suite_that_cannot_connect_is_an_error_not_a_kill(tmp_path: Path) -> None:
    suite = f"{sys.executable} -c 'import sys; sys.exit(2)' {{target}}"
    figures = kill_rate(suite, ["skip-signature"], out=sys.stdout, timeout_s=60, workdir=tmp_path)
    assert figures["reference_passes"] is False
    assert (figures["killed"], figures["errors"]) == (0, ["skip-signature"])


def test_cli_list_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--json"]) == cli.EXIT_OK
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [m.name for m in MUTANTS]
    assert cli.main(["serve", "no-such-mutant"]) == cli.EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        cli.main(["killrate", "--only", "no-such-mutant"])
    assert exc.value.code == cli.EXIT_USAGE


def test_probe_command_exits_2_when_the_target_is_unreachable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.mutants", "probe", "--target", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    assert "cannot reach 127.0.0.1:1" in done.stderr


def test_readme_table_is_the_catalogue() -> None:
    readme = (ROOT / "conformance" / "mutants" / "README.md").read_text()
    assert markdown_table() in readme, "run: python -m conformance.mutants list --markdown"
