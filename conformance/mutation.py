"""Mutation testing of the protocol core, with the conformance vectors alone as the test.

    python -m conformance.mutation                          # every rule module, fresh (see the README)
    python -m conformance.mutation --module negotiation     # one module (repeatable)
    python -m conformance.mutation --keep                   # leave mutants/ for `mutmut show` / `browse`

`mutmut <https://mutmut.readthedocs.io/>`_ (the ``dev`` extra) copies the package into ``mutants/``,
makes every small change it knows to the rule modules ``[tool.mutmut] only_mutate`` lists in
pyproject.toml (``a < b`` to ``a <= b``, ``and`` to ``or``, a constant plus one, an argument dropped,
...), and runs the test below once per change. A mutant is *killed* when some vector then comes out
otherwise than its file says; it *survives* when every vector still passes, which means no vector pins
the behaviour the change broke -- unless the change does not change behaviour at all (an *equivalent*
mutant) or sits where the vector procedure never goes. Those are listed, each with its argument, in
``conformance/mutation-survivors.toml``; everything else that survives is a gap in the vectors.

The test is this module, run by pytest inside ``mutants/`` (``pytest conformance/mutation.py``): one
test per vector group, feeding every vector of every file of ``conformance/vectors/`` through one fresh
:class:`~a2a_coop.protocol.verifier.Verifier` exactly as the vector README says
(:func:`a2a_coop.vectors.run_vector`); one test decoding every ``wire`` member alone (README,
"Wire-level vectors"), once by the library's decoders and once by the decoding profile's scanner without
the library's fast path; the check of the equivocation proofs; and the refusal of every pair that is no
proof (equivocation-non-proofs.json). Nothing else runs: not tests/, not
the generator's one-rule check. The default ``python -m pytest`` never collects it
(pyproject's testpaths is tests/, and the file name is no test_*.py).

A killed mutant costs only what runs before the vector that kills it: mutmut runs the units that reach
the mutated function fastest first with pytest ``-x``, and each unit stops at its first failing vector
(a survivor still runs every vector of those units). pyproject's ``[tool.mutmut] pytest_add_cli_args``
leave out the pytest plugins no unit uses and assertion rewriting, which every mutant's pytest session
would otherwise set up again. Neither changes which mutants are killed.

The score is killed / (mutants - equivalent), where killed includes mutants that made a vector run
past its time limit (an endless loop is noticed). That limit is mutmut's, in wall-clock seconds: (the
covering units' measured time + ``timeout_constant``) x ``timeout_multiplier`` (pyproject). The constant
pays for each mutant's own pytest session (collecting the vectors), so that only a loop reaches it: with
mutmut's 1 s, a survivor on a loaded machine was cut off and counted a kill (the twenty-ninth session's 108
``_commit`` "timeouts" each passed every vector, run alone); changing it makes mutmut test every mutant
that timed out again. The last line printed is one JSON object with the
figures. Exit status: 0 when the score reaches ``--target`` (0.95), 1 when it does not, 2 when the
run could not be made (mutmut missing or failing, or ``--time-limit`` reached).

Runtime: 8 to 20 minutes for every module on two cores (``--max-children 2``, 3,300 mutants); a
module alone takes one to five on a quiet machine, and hours on a loaded one with one worker. Everything
mutmut writes goes to ``mutants/`` (git-ignored), removed before every run (mutmut would reuse an earlier
run's results) and afterwards unless ``--keep`` -- or unless mutants were left untested (``--time-limit``
reached, or ``--mutant``): ``--resume`` then tests only what is left, against the vectors as they are
now, and ``--resume --mutant NAME`` tests those mutants again (after a vector was added for them).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.vectors import (
    NON_PROOF_SCHEMA,
    NonProof,
    Vector,
    parse_non_proofs,
    parse_vector_file,
    run_non_proof,
    run_vector,
)

ROOT: Final = Path(__file__).resolve().parent.parent
VECTOR_DIR: Final = Path(__file__).resolve().parent / "vectors"
REGISTER: Final = Path(__file__).resolve().parent / "mutation-survivors.toml"
PROOF_SCHEMA: Final = "a2a-coop-equivocation-proof/1"
PACKAGE: Final = "a2a_coop.protocol"
TARGET: Final = 0.95

# mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into what the score needs.
KILLED: Final = "killed"
TIMEOUT: Final = "timeout"
SURVIVED: Final = "survived"
NO_TESTS: Final = "no tests"
NOT_CHECKED: Final = "not checked"
EQUIVOCAL: Final = "equivocal"  # mutmut could not tell (suspicious, segfault, interrupted, ...)
_STATUS: Final = {1: KILLED, 3: KILLED, 0: SURVIVED, 5: NO_TESTS, 33: NO_TESTS, None: NOT_CHECKED}
_TIMEOUTS: Final = {36, -24, 24, 152, 255}


# --- the vectors, run as the README says ---------------------------------------------------------


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(p.read_text("utf-8"))) for p in sorted(VECTOR_DIR.glob("*.json"))]


def vector_groups() -> list[tuple[str, list[Vector]]]:
    """(id, vectors) per test group of every vector file, in file order: the units mutmut runs."""
    out = []
    for path, doc in _documents():
        if "testGroups" not in doc:
            continue
        vectors = parse_vector_file(doc, path.stem)
        for g, group in enumerate(doc["testGroups"]):
            ids = {t["tcId"] for t in group["tests"]}
            out.append((f"{path.stem}-{g:02d}-{group['type']}", [v for v in vectors if v.tc_id in ids]))
    return out


def proof_files() -> list[Path]:
    """The equivocation proofs of conformance/vectors/."""
    return [p for p, doc in _documents() if doc.get("schema") == PROOF_SCHEMA]


def non_proofs() -> list[NonProof]:
    """Every pair of the equivocation-non-proofs files of conformance/vectors/ (README, "Pairs that are no
    proof"), in file order."""
    return [
        v
        for p, doc in _documents()
        if doc.get("schema") == NON_PROOF_SCHEMA
        for v in parse_non_proofs(doc, p.stem)
    ]


def non_proof_failures(vectors: Sequence[NonProof], *, first: bool = False) -> list[str]:
    """One line per pair the library does not refuse as no proof, in both orders (see :func:`failures`)."""
    forget_caches()
    out = []
    for v in vectors:
        o = run_non_proof(v)
        if not o.passed:
            out.append(f"{v.name}: expected {v.expected}, got {o.actual} {o.detail}".rstrip())
            if first:
                break
    return out


def forget_caches() -> None:
    """Empty the core's memo caches (public_key_from_did), so each vector runs the checks behind them
    (a forked mutant would otherwise inherit results its parent computed without the mutation)."""
    from a2a_coop.protocol import identity

    identity.public_key_from_did.cache_clear()


def failures(vectors: Sequence[Vector], *, first: bool = False) -> list[str]:
    """One line per vector that does not come out as its file says (README, "Running a vector"); with
    ``first``, only the first such line (a mutant is killed by one vector: the rest cannot revive it)."""
    forget_caches()
    out = []
    for v in vectors:
        o = run_vector(v, EvidenceVerifier)  # the view that keeps every proof shown (F125)
        if not o.passed:
            out.append(f"{v.name}: expected {v.expected}, got {o.actual} [{o.requirement}] {o.detail}")
            if first:
                break
    return out


def proof_failure(path: Path) -> str:
    """'' when the equivocation proof holds (README, "The equivocation proof"), else why not.

    The README's condition is symmetric in the two envelopes, so the proof must hold in either order.
    """
    from a2a_coop.protocol.envelope import envelope_from_json
    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.protocol.forks import ForkProof, verify_fork_proof

    forget_caches()
    doc = json.loads(path.read_text("utf-8"))
    for a, b in (("first", "second"), ("second", "first")):
        try:
            proof = ForkProof(envelope_from_json(doc[a]), envelope_from_json(doc[b]))
            issuer = verify_fork_proof(proof)  # an equivocation proof, or two answers to one statement
        except (CoopError, ValueError) as exc:
            return f"{path.name} ({a} first): {exc}"
        if issuer != doc["issuer"]:
            return f"{path.name} ({a} first): the proof is by {issuer}, not {doc['issuer']}"
    return ""


@dataclass(frozen=True)
class WireTest:
    """The ``wire`` member of a vector (README, "Wire-level vectors"): bytes to decode alone."""

    name: str
    message: str
    data: bytes
    result: str


def wire_tests() -> list[WireTest]:
    """Every ``wire`` member of every vector file, in file order."""
    out = []
    for path, doc in _documents():
        for group in doc.get("testGroups", []):
            for t in group["tests"]:
                if "wire" in t:
                    w = t["wire"]
                    name = f"{path.stem}-{t['tcId']}-{t['requirements'][0]}"
                    out.append(WireTest(name, w["message"], bytes.fromhex(w["hex"]), w["result"]))
    return out


def wire_result(message: str, data: bytes, *, scanner_only: bool) -> str:
    """What decoding ``data`` as ``message`` alone reports: "canonical" or a code (README, "Wire-level
    vectors"). With ``scanner_only``, the decoding profile's scanner decides without the library's fast
    path (a decoder written from SPEC 6.2's profile), else the library's decoders do."""
    from a2a_coop.protocol import decoding
    from a2a_coop.protocol.envelope import ENVELOPE_SPEC, Envelope, decode_envelope
    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.protocol.statements import STATEMENT_SPEC, decode_statement

    statement = message == "a2acoop.v1.Statement"
    if not scanner_only:
        try:
            if statement:
                decode_statement(data)
            else:
                env = decode_envelope(data)
                if len(env.signatures) != 1 or not env.payload:
                    return "MALFORMED_ENVELOPE"
        except CoopError as exc:
            return exc.code
        return "canonical"
    try:
        defect = decoding.check(data, STATEMENT_SPEC if statement else ENVELOPE_SPEC, allow_unknown=statement)
    except decoding.Malformed:
        return "MALFORMED_STATEMENT" if statement else "MALFORMED_ENVELOPE"
    if defect is not None:
        return "NONCANONICAL_ENCODING" if statement else "MALFORMED_ENVELOPE"
    if not statement:
        try:
            env = Envelope.FromString(data)
        except Exception as exc:  # the scanner passed bytes upb cannot parse: a scanner bug
            return f"unparsable ({type(exc).__name__})"
        if len(env.signatures) != 1 or not env.payload:
            return "MALFORMED_ENVELOPE"
    return "canonical"


def wire_failures(tests: Sequence[WireTest], *, first: bool = False) -> list[str]:
    """One line per ``wire`` member that either decoder gets otherwise than its file says; with
    ``first``, only the first."""
    out = []
    for t in tests:
        for scanner_only in (False, True):
            got = wire_result(t.message, t.data, scanner_only=scanner_only)
            if got != t.result:
                how = "scanner alone" if scanner_only else "library"
                out.append(f"{t.name} ({how}): expected {t.result}, got {got}")
                if first:
                    return out
    return out


# The test entry point mutmut runs (pytest conformance/mutation.py, inside mutants/).
_GROUPS: Final = vector_groups()
_WIRE: Final = wire_tests()

try:
    import pytest
except ImportError:  # pragma: no cover - pytest comes with the dev extra, like mutmut
    pass
else:

    @pytest.mark.parametrize("vectors", [pytest.param(vs, id=name) for name, vs in _GROUPS])
    def test_vector_group(vectors: list[Vector]) -> None:
        """Every vector of one group comes out as its file says."""
        wrong = failures(vectors, first=True)
        assert not wrong, "\n".join(wrong)

    def test_wire_decoding() -> None:
        """Every ``wire`` member decodes alone as its file says, by the library and by the scanner."""
        wrong = wire_failures(_WIRE, first=True)
        assert not wrong, "\n".join(wrong)

    def test_non_proofs() -> None:
        """Every pair that is no proof is refused as none."""
        wrong = non_proof_failures(non_proofs(), first=True)
        assert not wrong, "\n".join(wrong)

    @pytest.mark.parametrize("path", proof_files(), ids=lambda p: p.stem)
    def test_equivocation_proof(path: Path) -> None:
        """The equivocation proof holds."""
        problem = proof_failure(path)
        assert not problem, problem


# --- the survivors register ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's key, e.g. a2a_coop.protocol.claims.x_commit__mutmut_5
    module: str  # claims
    function: str  # commit, or Verifier.check
    status: str
    original: str = ""  # the changed lines, stripped, before and after (filled for the undetected)
    mutated: str = ""

    @property
    def where(self) -> str:
        return f"{self.module}.{self.function}"


@dataclass
class Register:
    """conformance/mutation-survivors.toml: what may survive, and why.

    ``[[unreachable]]`` names functions the vector procedure never runs (every mutant in them);
    ``[diagnostic]`` names the parameters that only shape an error's message or requirement tag (a
    mutation confined to those arguments is equivalent: vectors pin the code and the envelope, not the
    text); ``[[equivalent]]`` names single mutations, by function and the changed line before and after
    (``mutations``), or every surviving mutation of a line (``lines``: a line whose every effect the
    argument covers, e.g. one that only picks a requirement tag or tunes a cache).
    """

    unreachable: dict[str, str] = field(default_factory=dict)  # "module.function" -> why
    equivalent: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (where, orig, mut) -> why
    lines: dict[tuple[str, str], str] = field(default_factory=dict)  # (where, orig) -> why, any mutation
    diagnostic: dict[str, set[int | str]] = field(default_factory=dict)  # callee -> its message parameters
    diagnostic_why: str = ""

    @classmethod
    def load(cls, path: Path = REGISTER) -> Register:
        reg = cls()
        if not path.exists():
            return reg
        doc = tomllib.loads(path.read_text("utf-8"))
        for entry in doc.get("unreachable", []):
            for where in entry["functions"]:
                reg.unreachable[where] = entry["why"]
        diagnostic = doc.get("diagnostic", {})
        reg.diagnostic_why = diagnostic.get("why", "")
        reg.diagnostic = {name: set(params) for name, params in diagnostic.get("parameters", {}).items()}
        for entry in doc.get("equivalent", []):
            for orig, mut in entry.get("mutations", []):
                reg.equivalent[(entry["function"], _norm(orig), _norm(mut))] = entry["why"]
            for orig in entry.get("lines", []):
                reg.lines[(entry["function"], _norm(orig))] = entry["why"]
        return reg

    def why(self, m: Mutant) -> str | None:
        """The argument that ``m`` may survive, or None."""
        if m.where in self.unreachable:
            return self.unreachable[m.where]
        listed = self.equivalent.get((m.where, _norm(m.original), _norm(m.mutated)))
        if listed is not None:
            return listed
        listed = self.lines.get((m.where, _norm(m.original)))
        if listed is not None:
            return listed
        if self.diagnostic and _only_diagnostic(m.original, m.mutated, self.diagnostic):
            return self.diagnostic_why
        return None

    def stale(self, mutants: Sequence[Mutant], modules: Sequence[str]) -> list[str]:
        """Entries of ``modules`` that match no mutant of this run (the code moved on)."""
        functions = {m.where for m in mutants}
        keys = {(m.where, _norm(m.original), _norm(m.mutated)) for m in mutants if m.original or m.mutated}
        out = [f"unreachable {w}" for w in self.unreachable if _module(w) in modules and w not in functions]
        out += [
            f"equivalent {k[0]}: {k[1]} -> {k[2]}"
            for k in self.equivalent
            if _module(k[0]) in modules and k not in keys
        ]
        lines = {(m.where, _norm(m.original)) for m in mutants if m.original}
        out += [f"line {k[0]}: {k[1]}" for k in self.lines if _module(k[0]) in modules and k not in lines]
        return out


def _only_diagnostic(original: str, mutated: str, params: dict[str, set[int | str]]) -> bool:
    """Whether the mutation changes nothing but arguments in message parameters of ``params``' callees
    (a callee whose parameters include "*" has only message parameters, all optional: an error class)."""
    a, b = _parse(original), _parse(mutated)
    return a is not None and b is not None and ast.dump(a) != ast.dump(b) and _alike(a, b, params)


def _parse(code: str) -> ast.Module | None:
    """A changed line as Python: a statement, or a block's header (given a body)."""
    if not code or "\n" in code:
        return None
    code = "if" + code[4:] if code.startswith("elif ") else code
    for src in (code, code + " pass"):
        try:
            return ast.parse(src)
        except SyntaxError:
            continue
    return None


def _alike(a: Any, b: Any, params: dict[str, set[int | str]]) -> bool:
    """Equal, except inside the message arguments of calls to ``params``' callees."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_alike(x, y, params) for x, y in zip(a, b, strict=True))
    if not isinstance(a, ast.AST):
        return bool(a == b)
    if isinstance(a, ast.Call) and _callee(a) in params and ast.dump(a.func) == ast.dump(b.func):
        message = params[_callee(a)]
        if "*" in message:
            return True
        if len(a.args) != len(b.args) or [k.arg for k in a.keywords] != [k.arg for k in b.keywords]:
            return False  # an argument dropped: a required parameter goes missing
        return all(
            i in message or _alike(x, y, params) for i, (x, y) in enumerate(zip(a.args, b.args, strict=True))
        ) and all(
            k.arg in message or _alike(k.value, v.value, params)
            for k, v in zip(a.keywords, b.keywords, strict=True)
        )
    return all(
        _alike(x, y, params) for (_, x), (_, y) in zip(ast.iter_fields(a), ast.iter_fields(b), strict=True)
    )


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _module(where: str) -> str:
    return where.split(".", 1)[0]


def _norm(code: str) -> str:
    return " ".join(code.split())


# --- running mutmut and reading what it found ------------------------------------------------------


def rule_modules(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The modules ``[tool.mutmut] only_mutate`` names, e.g. ["bodies", "chain", ...]."""
    conf = tomllib.loads(pyproject.read_text("utf-8"))["tool"]["mutmut"]
    prefix = PACKAGE.replace(".", "/") + "/"
    return [p.removeprefix(prefix).removesuffix(".py") for p in conf["only_mutate"]]


def _mutmut() -> str:
    exe = Path(sys.executable).parent / "mutmut"
    found = str(exe) if exe.exists() else shutil.which("mutmut")
    if found is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[dev]'")
    return found


def run_mutmut(names: Sequence[str], max_children: int, time_limit: float, log: Path) -> bool:
    """``mutmut run`` for the mutants ``names`` (mutmut's names or globs), in ROOT; False when the time
    limit stopped it. A named mutant is tested even if ``mutants/`` holds a result for it."""
    cmd = [_mutmut(), "run", "--max-children", str(max_children), *names]
    kept = MetaSnapshot.take(ROOT / "mutants")
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            _stop(proc)
            kept.restore_unreadable()
            return False
        except BaseException:  # Ctrl-C: mutmut runs in its own session, so end it and its workers too
            _stop(proc)
            kept.restore_unreadable()
            raise
    if code != 0:
        tail = log.read_text("utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut run failed (exit {code}):\n{_plain(tail)}")
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End mutmut and the workers it forked (its own process group, started for it). SIGINT has mutmut
    write its results (the ``.meta`` files) before it exits: on a loaded machine that took more than the
    15 s once given, and the SIGTERM that followed left verifier.py.meta empty (session 33)."""
    for sig, wait_s in ((signal.SIGINT, 120), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class MetaSnapshot:
    """mutmut's result files (``mutants/**/*.meta``) as they stood before a run. A run stopped while
    mutmut was writing one leaves it unreadable, and mutmut then takes every mutant of that module as
    never tested: restoring the earlier copy loses only what this run found for it."""

    kept: dict[Path, bytes]

    @classmethod
    def take(cls, mutants: Path) -> MetaSnapshot:
        return cls({p: p.read_bytes() for p in mutants.rglob("*.meta")} if mutants.is_dir() else {})

    def restore_unreadable(self) -> list[Path]:
        """Put back each file that no longer reads as JSON; the paths restored (each named on stderr)."""
        restored = []
        for path, data in self.kept.items():
            try:
                json.loads(path.read_bytes())
                continue
            except (OSError, ValueError):
                pass
            path.write_bytes(data)
            restored.append(path)
            print(
                f"{path.name} was left unreadable by the stop: its results before this run restored",
                file=sys.stderr,
            )
        return restored


def _plain(text: str) -> str:
    """mutmut's output without its spinner frames."""
    return re.sub(r"[\u2800-\u28ff][^\n\u2800-\u28ff]*(?=[\u2800-\u28ff])", "", text)


def untested(modules: Sequence[str]) -> list[str]:
    """The names of the mutants of ``modules`` that ``mutants/`` holds no result for (what is left of a
    run the time limit stopped): mutmut's names, each tested once more when named (:func:`run_mutmut`)."""
    from mutmut.mutation.data import SourceFileMutationData

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out = []
        for module in modules:
            data = SourceFileMutationData(path=Path(PACKAGE.replace(".", "/")) / f"{module}.py")
            data.load()
            out += [name for name, code in data.exit_code_by_key.items() if code is None]
        return out
    finally:
        os.chdir(cwd)


def read_mutants(modules: Sequence[str]) -> list[Mutant]:
    """Every mutant of ``modules`` with its status, and the diff of each one no vector detected."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    out = []
    cwd = os.getcwd()
    os.chdir(ROOT)  # mutmut's paths are relative to the project
    try:
        for module in modules:
            path = Path(PACKAGE.replace(".", "/")) / f"{module}.py"
            data = SourceFileMutationData(path=path)
            data.load()
            for name, code in data.exit_code_by_key.items():
                status = TIMEOUT if code in _TIMEOUTS else _STATUS.get(code, EQUIVOCAL)
                m = Mutant(name, module, _function(name), status)
                if status in (SURVIVED, NO_TESTS, EQUIVOCAL):
                    orig, mut = _changed(get_diff_for_mutant(name, path=path))
                    m = Mutant(name, module, m.function, status, orig, mut)
                out.append(m)
    finally:
        os.chdir(cwd)
    return out


def _mutant_module(name: str) -> str:
    """``mandate`` from ``a2a_coop.protocol.mandate.xǁExposureǁoffer_live__mutmut_3`` (or a glob)."""
    return name.removeprefix(PACKAGE + ".").partition(".")[0]


def _function(name: str) -> str:
    """``Verifier.check`` from ``a2a_coop.protocol.verifier.xǁVerifierǁcheck__mutmut_3``."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    if mangled.startswith("x_"):
        return mangled[2:]
    _, cls, func = mangled.split("ǁ")
    return f"{cls}.{func}"


def _changed(diff: str) -> tuple[str, str]:
    lines = diff.splitlines()
    minus = [ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    return "\n".join(minus), "\n".join(plus)


# --- the report ------------------------------------------------------------------------------------


@dataclass
class Tally:
    mutants: int = 0
    killed: int = 0  # a vector failed, or ran past its time limit
    timeout: int = 0  # of killed
    equivalent: int = 0  # argued in the register (equivalent or unreachable)
    survived: int = 0  # not detected, not argued: a gap in the vectors
    equivocal: int = 0  # mutmut could not tell, or did not get to it (time limit)

    def add(self, category: str, timeout: bool = False) -> None:
        self.mutants += 1
        setattr(self, category, getattr(self, category) + 1)
        self.timeout += timeout

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return self.killed / judged if judged else 1.0


def classify(mutants: Sequence[Mutant], register: Register) -> tuple[dict[str, Tally], list[Mutant]]:
    """Per-module tallies and the survivors nothing argues for."""
    tallies: dict[str, Tally] = {}
    gaps = []
    for m in mutants:
        t = tallies.setdefault(m.module, Tally())
        if m.status in (KILLED, TIMEOUT):
            t.add("killed", m.status == TIMEOUT)
        elif m.status in (SURVIVED, NO_TESTS) and register.why(m) is not None:
            t.add("equivalent")
        elif m.status in (SURVIVED, NO_TESTS):
            t.add("survived")
            gaps.append(m)
        else:
            t.add("equivocal")
    return tallies, gaps


def report(
    tallies: dict[str, Tally], gaps: Sequence[Mutant], stale: Sequence[str], seconds: float, complete: bool
) -> dict[str, Any]:
    total = Tally()
    for t in tallies.values():
        for k in ("mutants", "killed", "timeout", "equivalent", "survived", "equivocal"):
            setattr(total, k, getattr(total, k) + getattr(t, k))
    columns = ("mutants", "killed", "timeout", "equiv.", "survived", "equivocal")
    head = f"{'module':<14}" + "".join(f"{c:>10}" for c in columns)
    print(head)
    print("-" * len(head))
    for name, t in [*sorted(tallies.items()), ("total", total)]:
        if name == "total":
            print("-" * len(head))
        counts = (t.mutants, t.killed, t.timeout, t.equivalent, t.survived, t.equivocal)
        print(f"{name:<14}" + "".join(f"{n:>10}" for n in counts) + f"   score {t.score:.3f}")
    if gaps:
        print(f"\n{len(gaps)} mutants survived that no vector detects and nothing argues for:")
        for m in gaps:
            print(f"  {m.name} ({m.status})\n    - {m.original}\n    + {m.mutated}")
    if stale:
        print(f"\n{len(stale)} entries of {REGISTER.name} match no mutant of this run (the code changed?):")
        for s in stale:
            print(f"  {s}")
    return {
        "mutation_score": round(total.score, 4),
        "mutants": total.mutants,
        "killed": total.killed,
        "survived": total.survived,
        "equivalent": total.equivalent,
        "timeout": total.timeout,
        "equivocal": total.equivocal,
        "complete": complete,
        "seconds": round(seconds),
        "modules": {
            name: {
                "mutants": t.mutants,
                "killed": t.killed,
                "survived": t.survived,
                "equivalent": t.equivalent,
            }
            for name, t in sorted(tallies.items())
        },
    }


def draft_entries(gaps: Sequence[Mutant]) -> Iterator[str]:
    """TOML for the register, one ``[[equivalent]]`` per survivor (why = "TODO"), to argue or delete."""
    for m in gaps:
        before, after = (json.dumps(code, ensure_ascii=False) for code in (m.original, m.mutated))
        head = f'[[equivalent]]\nfunction = "{m.where}"\nwhy = "TODO"\n'
        yield f"{head}mutations = [\n    [{before}, {after}],\n]\n"


def main(argv: Sequence[str] | None = None) -> int:
    all_modules = rule_modules()
    parser = argparse.ArgumentParser(
        prog="python -m conformance.mutation", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--module", action="append", choices=all_modules, help="mutate only this module (repeatable)"
    )
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutmut workers (default 2)")
    parser.add_argument(
        "--time-limit", type=float, default=3600, help="stop mutmut after this many seconds (default 3600)"
    )
    parser.add_argument("--target", type=float, default=TARGET, help="exit 1 below this score (0.95)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep mutants/ afterwards (mutmut show, browse); the next run starts afresh",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with the mutants/ an earlier run left (stopped by --time-limit, or --keep): test only "
        "the mutants without a result, or those --mutant names, against the vectors as they are now",
    )
    parser.add_argument(
        "--mutant",
        action="append",
        metavar="NAME",
        help="test only this mutant (mutmut's name as the report prints it, or a glob; repeatable)",
    )
    parser.add_argument("--draft", type=Path, help="write TOML entries for the unargued survivors here")
    args = parser.parse_args(argv)
    modules = args.module or sorted({_mutant_module(n) for n in args.mutant or ()}) or all_modules
    if unknown := [n for n in args.mutant or () if _mutant_module(n) not in modules]:
        parser.error(f"--mutant {unknown[0]}: not a mutant of {', '.join(modules)}")
    work = ROOT / "mutants"
    if args.resume and not (work / "mutmut-stats.json").exists():
        parser.error("--resume: no earlier run in mutants/ to go on with")
    if not args.resume:
        shutil.rmtree(work, ignore_errors=True)  # fresh figures: mutmut would reuse an earlier run's results
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "mutmut.log"
        names = args.mutant or (untested(modules) if args.resume else [f"{PACKAGE}.{m}.*" for m in modules])
        finished = not names or run_mutmut(names, args.max_children, args.time_limit, log)
        mutants = read_mutants(modules)
    seconds = time.monotonic() - start
    complete = finished and all(m.status != NOT_CHECKED for m in mutants)
    register = Register.load()
    tallies, gaps = classify(mutants, register)
    stale = register.stale(mutants, modules)
    if args.draft:
        args.draft.write_text("\n".join(draft_entries(gaps)), encoding="utf-8")
    if not args.keep and complete:
        shutil.rmtree(work, ignore_errors=True)
    result = report(tallies, gaps, stale, seconds, complete)
    if not finished:
        print(f"\nstopped after --time-limit {args.time_limit:g} s", file=sys.stderr)
    if not complete:
        print("the figures are partial: --resume tests the mutants left (mutants/ is kept)", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")))
    if not complete:
        return 2
    return 0 if result["mutation_score"] >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
