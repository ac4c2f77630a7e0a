"""The test that ``python -m conformance.mutation`` hands to mutmut, checked without mutmut.

conformance/mutation.py is the only test a mutant faces: one case per vector group, the ``wire``
members decoded alone, and the equivocation proofs. If it passed vacuously (no groups collected, a
runner that never fails), every mutant would survive; if it failed on the unmutated core, mutmut would
refuse to start. So: every vector file's groups are collected and pass as they are, a deliberately
broken rule makes a group fail, and the survivors register names only code that exists.
"""

from __future__ import annotations

import importlib
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from a2a_coop.protocol import bodies, chain, decoding
from a2a_coop.protocol.chain import ChainView
from conformance import mutation

VECTOR_DIR = Path(mutation.__file__).resolve().parent / "vectors"


def _group(name: str) -> list[Any]:
    return next(vs for n, vs in mutation.vector_groups() if n == name)


def test_every_group_of_every_vector_file_is_collected() -> None:
    """One unit per testGroups entry of each vector file; no vector left out, names unique."""
    expected, vectors = 0, 0
    for path in sorted(VECTOR_DIR.glob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        expected += len(doc.get("testGroups", []))
        vectors += sum(len(g["tests"]) for g in doc.get("testGroups", []))
    groups = mutation.vector_groups()
    assert len(groups) == expected
    assert len({n for n, _ in groups}) == len(groups)
    assert sum(len(vs) for _, vs in groups) == vectors
    assert {n.split("-", 1)[0] for n, _ in groups} >= {"statements", "chains", "wire", "rules"}
    assert len(mutation.wire_tests()) == sum(1 for n, vs in groups if n.startswith("wire-") for _ in vs)
    assert {p.name for p in mutation.proof_files()} == {
        "equivocation-proof.json",
        "equivocation-proof-prev.json",
        "equivocation-proof-answer.json",
    }
    assert [v.name for v in mutation.non_proofs()] == [
        f"equivocation-non-proofs-{i}-{r}"
        for i, r in enumerate(["CHN-003", "CHN-003", "CHN-004", "ATT-022", "CHN-004"], start=1)
    ]


def test_the_unmutated_core_passes_every_unit() -> None:
    """mutmut's baseline run: every group, every wire member, every proof passes."""
    for name, vectors in mutation.vector_groups():
        assert not mutation.failures(vectors), name
    assert not mutation.wire_failures(mutation.wire_tests())
    for path in mutation.proof_files():
        assert mutation.proof_failure(path) == ""
    assert not mutation.non_proof_failures(mutation.non_proofs())


def test_a_rule_left_out_fails_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """A verifier without CHN-007's root check, or with BDY-004's digest length off by one, fails."""
    with monkeypatch.context() as m:
        m.setattr(ChainView, "_check_log_root", lambda self, vs: None)
        wrong = mutation.failures(_group("rules-08-Bookkeeping"))
    assert any("LOG_ROOT_MISMATCH" in line for line in wrong)
    with monkeypatch.context() as m:
        m.setattr(bodies, "DIGEST_BYTES", 31)
        assert mutation.failures(_group("rules-00-BodyField"))
    assert not mutation.failures(_group("rules-08-Bookkeeping"))


def test_a_decoder_that_ignores_non_canonical_encodings_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wire members decoded by the scanner alone catch what the library's fast path would hide."""
    monkeypatch.setattr(decoding._Scan, "note", lambda self, requirement, detail: None)
    wrong = mutation.wire_failures(mutation.wire_tests())
    assert wrong and all("scanner alone" in line or "library" in line for line in wrong)
    assert any("expected NONCANONICAL_ENCODING, got canonical" in line for line in wrong)


def test_a_broken_proof_check_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    from a2a_coop.protocol import forks

    # the check every proof file runs (ATT-012: a fork, or two answers to one statement, ATT-022)
    monkeypatch.setattr(forks, "verify_fork_proof", lambda proof: "did:key:zNobody")
    assert all(mutation.proof_failure(p) for p in mutation.proof_files())
    monkeypatch.undo()
    # a broken answer check (ATT-022): the answer proof's file notices it, the two fork proofs hold
    monkeypatch.setattr(forks, "answers_one_statement", lambda a, b: False)
    assert {p.name for p in mutation.proof_files() if mutation.proof_failure(p)} == {
        "equivocation-proof-answer.json"
    }


@pytest.mark.parametrize(
    ("edit", "taken"),
    [
        # the session-25 survivor: the link compared for any two seqs, not consecutive ones only
        (
            ("if hi.header.seq == lo.header.seq + 1 and", "if hi.header.seq == lo.header.seq + 1 or"),
            {1, 2, 4},
        ),
        (("if a.issuer != b.issuer:", "if False:"), {3}),
        (("if a.digest == b.digest:", "if False:"), {5}),
    ],
)
def test_a_proof_check_that_refuses_too_little_is_noticed(
    monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str], taken: set[int]
) -> None:
    """equivocation-non-proofs.json: a verify_equivocation_proof that takes a pair it must refuse fails
    exactly the pairs that show it (every proof file holds under each of these mutants)."""
    source = inspect.getsource(chain.verify_equivocation_proof)
    assert edit[0] in source
    scope: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source.replace(*edit)), chain.__file__, "exec"), vars(chain) | {}, scope)
    monkeypatch.setattr(chain, "verify_equivocation_proof", scope["verify_equivocation_proof"])
    from a2a_coop.protocol import forks

    monkeypatch.setattr(forks, "verify_equivocation_proof", scope["verify_equivocation_proof"])
    failing = {v.tc_id for v in mutation.non_proofs() if mutation.non_proof_failures([v])}
    assert failing == taken
    assert all(mutation.proof_failure(p) == "" for p in mutation.proof_files())


def test_an_answer_check_that_takes_any_two_answers_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """ATT-022 needs one statement answered twice: two answers of one key to two statements are no
    proof (equivocation-non-proofs.json, test 4)."""
    from a2a_coop.protocol import forks

    monkeypatch.setattr(
        forks, "answers_one_statement", lambda a, b: bool(forks.answered(a) and forks.answered(b))
    )
    assert {v.tc_id for v in mutation.non_proofs() if mutation.non_proof_failures([v])} == {4}


def _function(where: str) -> Any:
    """The function ``module.[Class.]name`` names, or None."""
    module, _, name = where.partition(".")
    obj: Any = importlib.import_module(f"{mutation.PACKAGE}.{module}")
    for part in name.split("."):
        if not hasattr(obj, part):
            return None
        obj = getattr(obj, part)
    return obj if callable(obj) else None


def _defined(where: str) -> bool:
    return _function(where) is not None


def test_the_register_names_only_code_that_exists() -> None:
    """Every function the survivors register argues about is a function of a mutated module, and every
    line it quotes is in that function's source -- not merely somewhere in the module: a line renamed
    in one function and left as it was in another kept a stale entry passing (the full run also
    reports entries no mutant matches)."""
    reg = mutation.Register.load()
    modules = set(mutation.rule_modules())
    wheres = {*reg.unreachable, *(k[0] for k in reg.equivalent), *(k[0] for k in reg.lines)}
    assert wheres
    for where in wheres:
        assert where.split(".", 1)[0] in modules, where
        assert _defined(where), where
    sources = {
        m: " ".join((Path(decoding.__file__).parent / f"{m}.py").read_text("utf-8").split()) for m in modules
    }
    for where, line in [*((k[0], k[1]) for k in reg.equivalent), *reg.lines]:
        assert line in sources[where.split(".", 1)[0]], (where, line)
        assert line in " ".join(inspect.getsource(_function(where)).split()), (where, line)
    assert reg.diagnostic and reg.diagnostic_why


@pytest.mark.parametrize(
    ("original", "mutated", "diagnostic"),
    [
        ('self.note("STM-002", f"offset {at}: x")', 'self.note(None, f"offset {at}: x")', True),
        ('self.note("STM-002", f"offset {at}: x")', 'self.note("STM-002", )', False),  # a dropped argument
        (
            'v, p = self.varint(pos, end, name, "STM-002")',
            'v, p = self.varint(pos, end, None, "STM-002")',
            True,
        ),
        (
            'v, p = self.varint(pos, end, name, "STM-002")',
            'v, p = self.varint(None, end, name, "STM-002")',
            False,
        ),
        ("if a < b:", "if a <= b:", False),
    ],
)
def test_diagnostic_only_mutations(original: str, mutated: str, diagnostic: bool) -> None:
    """A mutation confined to a message or requirement argument is argued; one that touches a value is not."""
    reg = mutation.Register.load()
    assert mutation._only_diagnostic(original, mutated, reg.diagnostic) is diagnostic


def test_the_report_ends_with_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """The score is killed over the non-equivalent mutants; the JSON has the fields the issue names."""
    ms = [
        mutation.Mutant("a2a_coop.protocol.bodies.x_f__mutmut_1", "bodies", "f", mutation.KILLED),
        mutation.Mutant("a2a_coop.protocol.bodies.x_f__mutmut_2", "bodies", "f", mutation.SURVIVED, "a", "b"),
        mutation.Mutant(
            "a2a_coop.protocol.decoding.x_describe__mutmut_1",
            "decoding",
            "describe",
            mutation.SURVIVED,
            "a",
            "b",
        ),
    ]
    tallies, gaps = mutation.classify(ms, mutation.Register.load())
    result = mutation.report(tallies, gaps, [], 1.0, True)
    assert {"mutation_score", "mutants", "killed", "survived", "equivalent"} <= set(result)
    assert (result["mutants"], result["killed"], result["survived"], result["equivalent"]) == (3, 1, 1, 1)
    assert result["mutation_score"] == 0.5
    assert "1 mutants survived" in capsys.readouterr().out


def test_a_unit_stops_at_the_first_vector_that_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """What mutmut runs stops a group at its first failing vector, and the wire decoding at its first
    wrong member; the full lists (for a person reading them) are the same failures, longer."""
    monkeypatch.setattr(bodies, "DIGEST_BYTES", 31)
    every = mutation.failures(_group("rules-00-BodyField"))
    assert len(every) > 1
    assert mutation.failures(_group("rules-00-BodyField"), first=True) == every[:1]
    monkeypatch.setattr(decoding._Scan, "note", lambda self, requirement, detail: None)
    wrong = mutation.wire_failures(mutation.wire_tests())
    assert len(wrong) > 1
    assert mutation.wire_failures(mutation.wire_tests(), first=True) == wrong[:1]


def test_the_pytest_arguments_mutmut_adds_run_the_units() -> None:
    """pyproject's [tool.mutmut] pytest_add_cli_args (plugins left out, plain asserts) still collect and
    run the units (a misspelt option or a plugin a unit needs would stop every mutant's run)."""
    import subprocess
    import sys
    import tomllib

    args = tomllib.loads((mutation.ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    unit = "conformance/mutation.py::test_equivocation_proof"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", unit, *args["pytest_add_cli_args"]]
    done = subprocess.run(cmd, cwd=mutation.ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout  # one unit per proof file


def test_resume_tests_only_what_an_earlier_run_left(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume keeps mutants/ and names to mutmut only the mutants without a result; a run that leaves
    some untested keeps mutants/ for the next --resume, and a complete one removes it; --mutant names
    its own (its module from the name), and --resume without an earlier run is a usage error."""
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    with pytest.raises(SystemExit) as stop:
        mutation.main(["--module", "mandate", "--resume"])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        mutation.main(["--module", "chain", "--mutant", "a2a_coop.protocol.mandate.x_f__mutmut_1"])
    (tmp_path / "mutants").mkdir()
    (tmp_path / "mutants" / "mutmut-stats.json").write_text("{}")
    left = ["a2a_coop.protocol.mandate.x_side_value__mutmut_2"]
    asked: list[list[str]] = []
    monkeypatch.setattr(mutation, "untested", lambda modules: left if modules == ["mandate"] else [])
    monkeypatch.setattr(mutation, "run_mutmut", lambda names, *_: asked.append(list(names)) or True)
    status = {"x_side_value__mutmut_1": mutation.KILLED, "x_side_value__mutmut_2": mutation.NOT_CHECKED}

    def read(modules: list[str]) -> list[mutation.Mutant]:
        prefix = f"{mutation.PACKAGE}.{modules[0]}."
        return [mutation.Mutant(prefix + k, modules[0], "side_value", s) for k, s in status.items()]

    monkeypatch.setattr(mutation, "read_mutants", read)
    assert mutation.main(["--module", "mandate", "--resume"]) == 2  # one still untested: partial
    assert asked == [left] and (tmp_path / "mutants").is_dir()
    assert '"complete":false' in capsys.readouterr().out
    status["x_side_value__mutmut_2"] = mutation.KILLED
    assert mutation.main(["--resume", "--mutant", left[0]]) == 0
    assert asked[-1] == left and not (tmp_path / "mutants").exists()


def test_a_results_file_left_unreadable_by_a_stop_is_restored(tmp_path: Path) -> None:
    """A run stopped while mutmut wrote verifier.py.meta left it empty (session 33): every result of the
    module was lost. The copy taken before the run comes back for such a file; a file the run rewrote
    readably, or made anew, is kept as the run left it."""
    protocol = tmp_path / "mutants" / "a2a_coop" / "protocol"
    protocol.mkdir(parents=True)
    emptied, rewritten = protocol / "verifier.py.meta", protocol / "chain.py.meta"
    emptied.write_text(json.dumps({"exit_code_by_key": {"a": 1}}))
    rewritten.write_text(json.dumps({"exit_code_by_key": {}}))
    snapshot = mutation.MetaSnapshot.take(tmp_path / "mutants")
    emptied.write_bytes(b"")
    rewritten.write_text(json.dumps({"exit_code_by_key": {"b": 0}}))
    (protocol / "bodies.py.meta").write_text("{}")
    assert snapshot.restore_unreadable() == [emptied]
    assert json.loads(emptied.read_text()) == {"exit_code_by_key": {"a": 1}}
    assert json.loads(rewritten.read_text()) == {"exit_code_by_key": {"b": 0}}
    assert mutation.MetaSnapshot.take(tmp_path / "nothing").restore_unreadable() == []
