"""Offline conformance: run the vector files through an implementation's adapter (SPEC 17.1).

    python -m conformance.offline --adapter "python -m conformance.adapter"
    python -m conformance.offline --adapter "node my-adapter.js" --vectors conformance/vectors/chains.json
    python -m conformance.offline --adapter "./my-adapter" --case mutations-17 --report-dir out/

An implementer tests their verifier before they have a server: the suite starts their *adapter* (any
program, any language) as a subprocess and talks newline-delimited JSON with it over stdin/stdout.
Each vector becomes one ``verify`` request; the adapter answers with the verdict of its own verifier,
and the suite compares it with the vector's expected result. Groups whose topic, chain mode or
freshness the adapter's ``hello`` does not declare are reported SKIP, not FAIL.

Exit status: 0 every vector that ran passed, 1 a vector failed, 2 usage, I/O or adapter error (the
adapter did not start, died, printed something that is not the protocol, or answered too late: one
line on stderr says which), 130 interrupted (Ctrl-C: what was judged before it is printed, and with
``--report-dir`` reported, ``cancelled`` in offline-report.json).

:func:`run` is the function API (``a2a-coop conformance --vectors`` calls it); it raises
:class:`AdapterError` or :class:`OfflineUsageError` instead of exiting.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import re
import selectors
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from xml.etree import ElementTree as ET

from a2a_coop.vectors import ROLES, SCHEMA, Vector, VectorFormatError, faulty_text, load_vector_file
from conformance import reporting

PROTOCOL: Final = "a2a-coop-offline/1"
REPORT_SCHEMA: Final = "a2a-coop-offline-report/1"
MODES: Final = ("sparse", "complete")
SKEW_MS: Final = 30_000
DEFAULT_TIMEOUT_S: Final = 10.0
STARTUP_TIMEOUT_S: Final = 30.0  # for the hello: an adapter may start a runtime (a JVM, a container)
MAX_LINE_BYTES: Final = 1 << 20
WINDOW: Final = 32  # requests written ahead of their answers
VECTOR_DIR: Final = Path(__file__).resolve().parent / "vectors"
EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class OfflineUsageError(Exception):
    """A bad command line or vector file (exit 2)."""


class OfflineCancelled(KeyboardInterrupt):
    """The user interrupted the run (Ctrl-C): ``report`` holds what was judged before (its
    ``cancelled`` set), ``total`` how many vectors the run had."""

    def __init__(self, report: OfflineReport, total: int) -> None:
        super().__init__()
        self.report, self.total = report, total


class AdapterError(Exception):
    """The adapter cannot be used: it did not start, died, broke the protocol or answered too late."""


class AdapterTimeout(AdapterError):
    """The adapter did not answer within the time limit."""


class AdapterDied(AdapterError):
    """The adapter exited (or closed its stdout) before the run was over."""


class AdapterProtocolError(AdapterError):
    """The adapter printed something that is not an answer the protocol allows."""


# --- the adapter process --------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter's ``hello`` declared."""

    name: str
    version: str
    modes: tuple[str, ...]
    freshness: bool
    topics: tuple[str, ...] | None  # None: every topic ("*")
    roles: tuple[str, ...] = ("auditor",)  # the verifier roles it runs (a group's role, SPEC 17)
    faulty: bool = False  # whether it reports what its view holds faulty (a test's ``faulty``, ATT-013)

    def skip_reason(self, vector: Vector) -> str:
        """Why the adapter cannot run ``vector`` by its own declaration, or "" when it can."""
        if self.topics is not None and vector.group_type not in self.topics:
            return f"topic {vector.group_type} not declared by the adapter"
        if vector.mode not in self.modes:
            return f"{vector.mode} chain mode not declared by the adapter"
        if vector.role not in self.roles:
            return f"{vector.role} role not declared by the adapter"
        if vector.now_ms is not None and not self.freshness:
            return "freshness (now_ms) not declared by the adapter"
        if vector.faulty is not None and not self.faulty:
            return "faulty sets (ATT-013) not declared by the adapter"
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "protocol": PROTOCOL,
            "capabilities": {
                "modes": list(self.modes),
                "freshness": self.freshness,
                "topics": "*" if self.topics is None else list(self.topics),
                "roles": list(self.roles),
                "faulty": self.faulty,
            },
        }


def _hello_info(msg: dict[str, Any]) -> AdapterInfo:
    if msg.get("type") != "hello":
        raise AdapterProtocolError(f"expected a hello, got {_short(msg)}")
    if msg.get("protocol") != PROTOCOL:
        raise AdapterProtocolError(f"adapter speaks {msg.get('protocol')!r:.40}, the suite {PROTOCOL}")
    caps = msg.get("capabilities", {})
    if not isinstance(caps, dict):
        raise AdapterProtocolError("hello: capabilities must be an object")
    modes, topics, fresh, roles, faulty = (
        caps.get("modes", list(MODES)),
        caps.get("topics", "*"),
        caps.get("freshness", True),
        caps.get("roles", ["auditor"]),
        caps.get("faulty", False),
    )
    if not (isinstance(modes, list) and set(modes) <= set(MODES)):
        raise AdapterProtocolError(f"hello: modes must be a list drawn from {list(MODES)}")
    if not (topics == "*" or (isinstance(topics, list) and all(isinstance(t, str) for t in topics))):
        raise AdapterProtocolError('hello: topics must be "*" or a list of group types')
    if not isinstance(fresh, bool):
        raise AdapterProtocolError("hello: freshness must be true or false")
    if not isinstance(faulty, bool):
        raise AdapterProtocolError("hello: faulty must be true or false")
    if not (isinstance(roles, list) and set(roles) <= set(ROLES)):
        raise AdapterProtocolError(f"hello: roles must be a list drawn from {list(ROLES)}")
    return AdapterInfo(
        name=str(msg.get("name", "?")),
        version=str(msg.get("version", "?")),
        modes=tuple(modes),
        freshness=fresh,
        topics=None if topics == "*" else tuple(topics),
        roles=tuple(roles),
        faulty=faulty,
    )


def _short(obj: Any) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _request(rid: int, vector: Vector) -> dict[str, Any]:
    return {
        "type": "verify",
        "id": rid,
        "file": vector.source,
        "tcId": vector.tc_id,
        "topic": vector.group_type,
        "mode": vector.mode,
        "role": vector.role,
        "now_ms": vector.now_ms,
        "skew_ms": SKEW_MS,
        "envelopes": [base64.b64encode(e).decode() for e in vector.envelopes],
        # ATT-013 (d): sent only for a vector stating them, so older adapters see the requests they knew
        **({} if vector.trusted_escrows is None else {"trusted_escrows": list(vector.trusted_escrows)}),
        **({} if vector.faulty is None else {"report_faulty": True}),
    }


def _checked(answer: dict[str, Any], rid: int) -> dict[str, Any]:
    """``answer`` if it is a well-formed result of request ``rid``."""
    if answer.get("type") != "result" or answer.get("id") != rid:
        raise AdapterProtocolError(f"expected the result of request {rid}, got {_short(answer)}")
    result = answer.get("result")
    if result == "invalid":
        error, index = answer.get("error"), answer.get("failedIndex")
        if not isinstance(error, str) or not isinstance(index, int) or isinstance(index, bool):
            raise AdapterProtocolError(f"an invalid result needs error and failedIndex: {_short(answer)}")
    elif result not in ("valid", "unsupported"):
        raise AdapterProtocolError(f"result must be valid, invalid or unsupported: {_short(answer)}")
    faulty = answer.get("faulty", [])
    if not (isinstance(faulty, list) and all(isinstance(k, str) for k in faulty)):
        raise AdapterProtocolError(f"faulty must be a list of did:key strings: {_short(answer)}")
    return answer


class Adapter:
    """One adapter subprocess and the protocol with it (a context manager).

    Args:
        argv: the adapter's command line.
        timeout_s: how long each answer may take.
        startup_timeout_s: how long the hello may take (the adapter starts up first).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        if not argv:
            raise OfflineUsageError("--adapter needs a command")
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self.startup_timeout_s = startup_timeout_s
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life, see close()
        try:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0
            )
        except OSError as exc:
            self._stderr.close()
            raise AdapterError(f"cannot start adapter {self.argv[0]!r}: {exc.strerror or exc}") from None
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout_fd = self._proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout_fd, selectors.EVENT_READ)
        self._buffer = bytearray()
        self._next_id = 0
        self.info: AdapterInfo | None = None

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hello(self) -> AdapterInfo:
        """The handshake: our hello, the adapter's hello (what it can run)."""
        self._send({"type": "hello", "protocol": PROTOCOL, "suite": "a2a-coop conformance"})
        self.info = _hello_info(self._receive("hello", self.startup_timeout_s))
        return self.info

    def verify(self, vector: Vector) -> dict[str, Any]:
        """One ``verify`` request; the adapter's checked answer."""
        return next(self.verify_many([vector]))

    def verify_many(self, vectors: Sequence[Vector]) -> Iterator[dict[str, Any]]:
        """The checked answers to one ``verify`` request per vector, in order.

        Requests are written ahead of the answers, at most :data:`WINDOW` unanswered, by a thread: the
        adapter never waits for the suite between two requests. Every answer still has its own time
        limit, and a stuck adapter cannot block the suite (its pipe is closed when the run ends).
        """
        first = self._next_id + 1
        self._next_id += len(vectors)
        slots = threading.Semaphore(WINDOW)
        stop = threading.Event()

        def write() -> None:
            for rid, v in enumerate(vectors, first):
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    self._write(_request(rid, v))
                except (OSError, ValueError):
                    return  # the reader sees the adapter die and says so

        writer = threading.Thread(target=write, name="offline-adapter-writer", daemon=True)
        writer.start()
        try:
            for rid, v in enumerate(vectors, first):
                yield _checked(self._receive(f"answer to {v.name}"), rid)
                slots.release()
        finally:
            stop.set()
            writer.join(timeout=1)

    def close(self) -> None:
        """Say bye, close its stdin and reap it (killed if it lingers)."""
        proc = self._proc
        if proc.poll() is None:
            try:  # never block on a full pipe: an adapter that stopped reading is killed below
                os.set_blocking(self._stdin.fileno(), False)
                self._stdin.write(b'{"type":"bye"}\n')
                self._stdin.close()
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            with contextlib.suppress(OSError):
                self._stdin.close()
        self._selector.close()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()

    # -- lines -------------------------------------------------------------------------------------

    def _write(self, obj: dict[str, Any]) -> None:
        data = memoryview(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        while data:  # an unbuffered pipe may take a long line in parts
            written = self._stdin.write(data)
            if not written:
                raise BlockingIOError("adapter's stdin is not taking input")
            data = data[written:]

    def _send(self, obj: dict[str, Any]) -> None:
        try:
            self._write(obj)
        except (ValueError, OSError):
            raise self._died() from None

    def _receive(self, what: str, timeout_s: float | None = None) -> dict[str, Any]:
        line = self._readline(what, self.timeout_s if timeout_s is None else timeout_s)
        try:
            msg = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AdapterProtocolError(
                f"adapter printed a line that is not JSON: {_short(line.decode('utf-8', 'replace'))}"
            ) from None
        if not isinstance(msg, dict):
            raise AdapterProtocolError(f"adapter printed JSON that is not an object: {_short(msg)}")
        return msg

    def _readline(self, what: str, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise AdapterProtocolError(f"adapter line longer than {MAX_LINE_BYTES} bytes")
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise AdapterTimeout(f"adapter sent no {what} within {timeout_s:g} s")
            chunk = os.read(self._stdout_fd, 65536)
            if not chunk:
                raise self._died()
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _died(self) -> AdapterDied:
        try:
            status = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return AdapterDied("adapter closed its stdout but is still running")
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        tail = f": {_error_line(lines)[:200]}" if lines else ""
        return AdapterDied(f"adapter exited with status {status}{tail}")


_ERROR_LINE = re.compile(r"^(?=\S).*(error|exception|panic|fatal)", re.IGNORECASE)


def _error_line(lines: Sequence[str]) -> str:
    """The line of a dead adapter's stderr that says why: the last one naming an error at the start
    of a line (Python's traceback ends with it; node's and the JVM's print a stack and a version after
    it), else the last line."""
    return next((line for line in reversed(lines) if _ERROR_LINE.match(line)), lines[-1])


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """One vector's outcome: ``status`` is PASS, FAIL or SKIP; ``got`` is the adapter's verdict."""

    vector: Vector
    status: str
    got: str = ""
    requirement: str = ""
    detail: str = ""
    expected_failure: bool = False  # listed in --expected-failures

    @property
    def breaks(self) -> bool:
        """A FAIL not listed in --expected-failures: it fails the run."""
        return self.status == "FAIL" and not self.expected_failure

    @property
    def unexpected_pass(self) -> bool:
        """Listed in --expected-failures, yet it passed: the file needs updating."""
        return self.expected_failure and self.status == "PASS"

    def to_json(self) -> dict[str, Any]:
        v = self.vector
        return {
            "id": v.name,
            "tcId": v.tc_id,
            "topic": v.group_type,
            "comment": v.comment,
            "requirements": list(v.requirements),
            "status": self.status,
            "expected": v.expected,
            "got": self.got,
            "requirement": self.requirement,
            "detail": self.detail,
            "expected_failure": self.expected_failure,
            "unexpected_pass": self.unexpected_pass,
        }


@dataclass
class FileResult:
    path: str
    results: list[CaseResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


@dataclass
class OfflineReport:
    """The outcome of an offline run (:func:`run`); ``ok`` when no vector failed."""

    adapter: AdapterInfo
    argv: list[str]
    files: list[FileResult]
    seconds: float
    strict: bool = False  # --strict: an expected failure that passes fails the run
    cancelled: bool = False  # interrupted by the user (Ctrl-C): what ran, exit code 130

    def count(self, status: str) -> int:
        return sum(f.count(status) for f in self.files)

    @property
    def results(self) -> list[CaseResult]:
        return [r for f in self.files for r in f.results]

    @property
    def expected_failed(self) -> list[CaseResult]:
        """FAILs listed in --expected-failures (they do not fail the run)."""
        return [r for r in self.results if r.status == "FAIL" and r.expected_failure]

    @property
    def unexpected_passes(self) -> list[CaseResult]:
        return [r for r in self.results if r.unexpected_pass]

    @property
    def ok(self) -> bool:
        """No vector failed but those listed in --expected-failures, and, under ``strict``, none of
        those passed."""
        return not any(r.breaks for r in self.results) and not (self.strict and self.unexpected_passes)

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.ok else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "adapter": {**self.adapter.to_json(), "argv": self.argv},
            "summary": {
                "passed": self.count("PASS"),
                "failed": self.count("FAIL"),  # expected failures included, as the live report counts
                "skipped": self.count("SKIP"),
                "expected_failures": len(self.expected_failed),
                "seconds": round(self.seconds, 3),
            },
            "exit_code": self.exit_code,
            "strict": self.strict,
            "cancelled": self.cancelled,
            "unexpected_passes": [r.vector.name for r in self.unexpected_passes],
            "files": [
                {
                    "file": f.path,
                    "passed": f.count("PASS"),
                    "failed": f.count("FAIL"),
                    "skipped": f.count("SKIP"),
                    "results": [r.to_json() for r in f.results if r.status != "PASS" or r.unexpected_pass],
                }
                for f in self.files
            ],
        }


def default_vector_files(directory: Path = VECTOR_DIR) -> list[Path]:
    """Every vector file (schema a2a-coop-vectors/1) in ``directory`` (conformance/vectors/), by name."""
    out = []
    for path in sorted(directory.glob("*.json")):
        with path.open(encoding="utf-8") as f:
            head = f.read(200)
        if f'"schema": "{SCHEMA}"' in head:
            out.append(path)
    return out


def _vector_paths(paths: Iterable[Path]) -> list[Path]:
    """``paths`` with each directory replaced by the vector files in it (none there is a usage error)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
        elif found := default_vector_files(path):
            out.extend(found)
        else:
            raise OfflineUsageError(f"no vector files (schema {SCHEMA}) in the directory {path}")
    return out


def _ids(vector: Vector) -> tuple[str, str]:
    """The two ids a vector answers to: ``file-tcId-REQ`` (its name) and ``file-tcId``."""
    return vector.name, f"{vector.source}-{vector.tc_id}"


def load(paths: Iterable[Path], cases: Sequence[str] = ()) -> list[tuple[str, list[Vector]]]:
    """(file, vectors) for each file, keeping only ``cases`` (ids ``file-tcId`` or ``file-tcId-REQ``)."""
    files = []
    for path in _vector_paths(paths):
        try:
            files.append((str(path), load_vector_file(Path(path))))
        except OSError as exc:
            raise OfflineUsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        except VectorFormatError as exc:
            raise OfflineUsageError(f"{path}: {exc}") from None
    return select(files, cases)


def select(files: list[tuple[str, list[Vector]]], cases: Sequence[str]) -> list[tuple[str, list[Vector]]]:
    """``files`` keeping only the vectors ``cases`` name (all when it is empty)."""
    if not cases:
        return files
    wanted = set(cases)
    kept = [(p, [v for v in vs if v.name in wanted or f"{v.source}-{v.tc_id}" in wanted]) for p, vs in files]
    found = {n for _, vs in kept for v in vs for n in _ids(v)}
    if missing := sorted(wanted - found):
        raise OfflineUsageError(f"no such case: {', '.join(missing)} (ids look like statements-42)")
    return [(p, vs) for p, vs in kept if vs]


def judge(vector: Vector, answer: dict[str, Any], *, expected_failure: bool = False) -> CaseResult:
    """Compare the adapter's answer with the vector's expected result."""
    result = answer["result"]
    detail = str(answer.get("detail", ""))[:300]
    if result == "unsupported":
        return CaseResult(
            vector, "SKIP", "unsupported", detail=detail or "the adapter declined it", expected_failure=False
        )
    got = "valid" if result == "valid" else f"{answer['error']} at {answer['failedIndex']}"
    if vector.faulty is not None:
        got += faulty_text(sorted(answer.get("faulty", [])))
    requirement = str(answer.get("requirement", ""))
    status = "PASS" if got == vector.expected else "FAIL"
    return CaseResult(vector, status, got, requirement, detail, expected_failure=expected_failure)


def read_expected_failures(path: Path, files: list[tuple[str, list[Vector]]]) -> dict[str, str]:
    """An expected-failures file of vector ids (``file-tcId`` or ``file-tcId-REQ``), in the live
    suite's format (:func:`conformance.reporting.read_expected_failures`): {id: reason}.

    Raises:
        OfflineUsageError: the file cannot be read, or names a vector none of ``files`` holds.
    """
    known = {n for _, vs in files for v in vs for n in _ids(v)}
    try:
        return reporting.read_expected_failures(path, known, what="vector")
    except OSError as exc:
        raise OfflineUsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise OfflineUsageError(f"{exc} in the vector files run (ids look like statements-42)") from None


def run(
    adapter_argv: Sequence[str],
    paths: Sequence[Path] | None = None,
    *,
    cases: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
    expected_failures: Path | None = None,
    strict: bool = False,
) -> OfflineReport:
    """Run vector files through an adapter.

    Args:
        adapter_argv: the adapter's command line.
        paths: vector files; default every vector file in conformance/vectors/.
        cases: only these vector ids (``statements-42`` or ``statements-42-ENV-007``).
        timeout_s: the time limit for each answer.
        progress: called with (done, total) after each vector.
        expected_failures: a file of vector ids known to fail (the live suite's format): a listed
            vector that fails does not fail the run.
        strict: a listed vector that passes fails the run (pytest's ``xfail_strict``).

    Raises:
        OfflineUsageError: a file cannot be read or is not a vector file; a case id matches nothing;
            the expected-failures file names a vector the files do not hold.
        AdapterError: the adapter did not start, died, broke the protocol or timed out.
    """
    every = load(default_vector_files() if paths is None else paths)
    expected = {} if expected_failures is None else read_expected_failures(expected_failures, every)
    files = select(every, cases)
    total = sum(len(vs) for _, vs in files)
    started = time.monotonic()
    done = 0
    out: list[FileResult] = []
    with Adapter(adapter_argv, timeout_s=timeout_s) as adapter:
        info = adapter.hello()
        judged: dict[int, CaseResult] = {}
        try:
            for path, vectors in files:
                fr = FileResult(path)
                runnable = [v for v in vectors if not info.skip_reason(v)]
                judged = {}
                for v, answer in zip(runnable, adapter.verify_many(runnable), strict=False):
                    judged[id(v)] = judge(v, answer, expected_failure=not expected.keys().isdisjoint(_ids(v)))
                for v in vectors:
                    fr.results.append(judged.get(id(v)) or CaseResult(v, "SKIP", detail=info.skip_reason(v)))
                    done += 1
                    if progress is not None:
                        progress(done, total)
                out.append(fr)
        except KeyboardInterrupt:  # Ctrl-C: what was judged so far, for the reports (exit 130)
            if len(out) < len(files):
                path, vectors = files[len(out)]
                out.append(FileResult(path, [judged[id(v)] for v in vectors if id(v) in judged]))
            partial = OfflineReport(info, list(adapter_argv), out, time.monotonic() - started, strict=strict)
            partial.cancelled = True
            raise OfflineCancelled(partial, total) from None
    return OfflineReport(info, list(adapter_argv), out, time.monotonic() - started, strict=strict)


# --- the command ----------------------------------------------------------------------------------


def write_text(report: OfflineReport, out: IO[str]) -> None:
    """The human-readable report: per-file counts, then each failure with expected and got."""
    a = report.adapter
    out.write(f"adapter: {a.name} {a.version} ({PROTOCOL})\n")
    for f in report.files:
        name = Path(f.path).name
        out.write(f"{name}: {f.count('PASS')} passed, {f.count('FAIL')} failed, {f.count('SKIP')} skipped\n")
        for r in f.results:
            if r.status != "FAIL":
                continue
            v = r.vector
            req = f" [{r.requirement}]" if r.requirement else ""
            tag = " (expected)" if r.expected_failure else ""
            out.write(
                f"  FAIL{tag} {v.name} ({v.comment}): expected {v.expected}, got {r.got}{req}; "
                f"requirements {', '.join(v.requirements) or '-'}\n"
            )
        reasons = Counter(r.detail for r in f.results if r.status == "SKIP")
        for reason, n in sorted(reasons.items()):
            out.write(f"  SKIP {n}: {reason}\n")
    for r in report.unexpected_passes:
        strict = ", fails the run: --strict" if report.strict else ""
        out.write(
            f"  expected to fail but PASS: {r.vector.name} "
            f"(remove it from the expected-failures file{strict})\n"
        )
    passed, failed, skipped = report.count("PASS"), report.count("FAIL"), report.count("SKIP")
    if any(r.breaks for r in report.results):
        # One missing check fails hundreds of derived vectors; this line says which rules they share.
        by_rule = Counter(req for r in report.results if r.breaks for req in r.vector.requirements)
        rules = ", ".join(f"{req} {n}" for req, n in by_rule.most_common())
        out.write(f"failed vectors by requirement: {rules}\n")
    known = len(report.expected_failed)
    of_them = f" ({known} expected: --expected-failures)" if known else ""
    out.write(
        f"total: {passed} passed, {failed} failed{of_them}, {skipped} skipped in {report.seconds:.2f} s\n"
    )
    if report.strict and report.unexpected_passes:
        out.write(f"FAILED: {_count(len(report.unexpected_passes), 'expected failure')} passed (--strict)\n")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


# --- the reports (--report-dir): the live suite's conventions (conformance.reporting) ---------------


def _replay(report: OfflineReport, path: str, r: CaseResult) -> str:
    """The command that runs this one vector again through the same adapter."""
    argv = ["python", "-m", "conformance.offline", "--adapter", shlex.join(report.argv)]
    return shlex.join([*argv, "--vectors", path, "--case", r.vector.name])


def to_junit(report: OfflineReport) -> bytes:
    """JUnit XML: one testsuite per vector file, one testcase per vector. A FAIL is a failure (type
    VERDICT), unless listed in --expected-failures: then skipped, type EXPECTED-FAILURE, as the live
    suite's junit.xml and pytest's xfail; a listed vector that passed is a failure of type
    UNEXPECTED-PASS under --strict; a SKIP is skipped with its reason."""
    root = ET.Element(
        "testsuites",
        name=f"a2a-coop offline conformance {report.adapter.name} {report.adapter.version}",
        tests=str(len(report.results)),
        failures=str(sum(r.breaks or (report.strict and r.unexpected_pass) for r in report.results)),
        errors="0",
        skipped=str(report.count("SKIP") + len(report.expected_failed)),
        time=f"{report.seconds:.3f}",
    )
    for f in report.files:
        name = Path(f.path).stem
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"offline.{name}",
            tests=str(len(f.results)),
            failures=str(sum(r.breaks or (report.strict and r.unexpected_pass) for r in f.results)),
            errors="0",
            skipped=str(f.count("SKIP") + sum(r.status == "FAIL" and r.expected_failure for r in f.results)),
        )
        for r in f.results:
            v = r.vector
            tc = ET.SubElement(suite, "testcase", classname=f"offline.{name}", name=v.name, time="0")
            plain_pass = r.status == "PASS" and not r.unexpected_pass
            text = "" if plain_pass else _case_text(report, f.path, r)
            reporting.junit_outcome(
                tc,
                failed=r.status == "FAIL",
                expected_failure=r.expected_failure,
                unexpected_pass=r.unexpected_pass,
                strict=report.strict,
                skipped=f"SKIP: {r.detail}" if r.status == "SKIP" else None,
                message=f"expected {v.expected}, got {r.got}",
                text=text,
                failure_type="VERDICT",
            )
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def _case_text(report: OfflineReport, path: str, r: CaseResult) -> str:
    v = r.vector
    said = f" [{r.requirement}]" if r.requirement else ""
    detail = f"\ndetail: {r.detail}" if r.detail else ""
    return (
        f"{r.status}: {v.comment}\nexpected {v.expected}, got {r.got or '-'}{said}{detail}\n"
        f"requirements: {', '.join(v.requirements) or '-'}\nreplay: {_replay(report, path, r)}"
    )


def to_html(report: OfflineReport) -> str:
    """One self-contained page (no scripts, no external resources), in the live report's style: the
    counts, each file's, then every vector that did not simply pass."""
    e, badge = reporting.esc, reporting.badge
    a = report.adapter
    shown = reporting.shown_counts([(r.status, r.expected_failure) for r in report.results])
    counts = " ".join(f"{badge(k)} {n}" for k, n in shown.items())
    stale = report.unexpected_passes
    stale_html = (
        f"<p><b>{_count(len(stale), 'expected failure')} passed</b>"
        f"{' and fail the run (--strict)' if report.strict else ''}: "
        f"{e(', '.join(r.vector.name for r in stale))}; remove them from the expected-failures file.</p>"
        if stale
        else ""
    )
    file_rows = "".join(
        f"<tr><td><code>{e(Path(f.path).name)}</code></td><td>{f.count('PASS')}</td>"
        f"<td>{sum(r.breaks for r in f.results)}</td>"
        f"<td>{sum(r.status == 'FAIL' and r.expected_failure for r in f.results)}</td>"
        f"<td>{f.count('SKIP')}</td></tr>"
        for f in report.files
    )
    rows = []
    for path, r in ((f.path, r) for f in report.files for r in f.results):
        if r.status == "PASS" and not r.unexpected_pass:
            continue
        v = r.vector
        note = (
            " (expected to fail, but passed: remove it from the expected-failures file)"
            if r.unexpected_pass
            else ""
        )
        said = f" [{r.requirement}]" if r.requirement else ""
        detail = f"; {r.detail}" if r.detail else ""
        level = reporting.shown_level(r.status, r.expected_failure)
        rows.append(
            f"<tr id='{e(v.name)}'><td>{badge(level)}{e(note)}</td>"
            f"<td><code>{e(v.name)}</code><br>{e(v.comment)}<br>"
            f"<span class=muted>expected {e(v.expected)}, got {e(r.got or '-')}{e(said)}{e(detail)}</span>"
            f"<details><summary>replay</summary><pre>{e(_replay(report, path, r))}</pre></details></td>"
            f"<td>{'<br>'.join(e(q) for q in v.requirements)}</td></tr>"
        )
    table = (
        "<table><tr><th>Level</th><th>Vector</th><th>Requirements</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>Every vector that ran passed, none of them listed as an expected failure.</p>"
    )
    return f"""<!doctype html><html lang=en><meta charset=utf-8>
<title>a2a-coop offline conformance: {e(a.name)} {e(a.version)}</title><style>{reporting.STYLE}</style>
<h1>a2a-coop offline conformance report</h1>
<p>Adapter <code>{e(shlex.join(report.argv))}</code> ({e(a.name)} {e(a.version)}, {PROTOCOL}),
{len(report.results)} vectors, {report.seconds:.1f} s. Exit code <b>{report.exit_code}</b>.</p>
<p>{counts}</p>{stale_html}
<h2>Files</h2><table><tr><th>File</th><th>Passed</th><th>Failed</th><th>Expected failures</th>
<th>Skipped</th></tr>{file_rows}</table>
<h2>Vectors failed, skipped or listed as expected failures</h2>{table}
</html>
"""


def write_reports(report: OfflineReport, directory: Path) -> dict[str, Path]:
    """Write offline-report.json, junit.xml and report.html to ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "offline-report.json",
        "junit": directory / "junit.xml",
        "html": directory / "report.html",
    }
    paths["json"].write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")
    paths["junit"].write_bytes(to_junit(report))
    paths["html"].write_text(to_html(report), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None, *, prog: str = "conformance.offline") -> int:
    """The command line; ``prog`` starts its error lines (``a2a-coop conformance --vectors`` passes
    ``a2a-coop``, so they read like every other error of the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m conformance.offline", description=__doc__.split("\n")[0])
    parser.add_argument("--adapter", required=True, help='the adapter command, e.g. "node adapter.js"')
    parser.add_argument(
        "--vectors",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="vector files or directories of them (default: conformance/vectors/)",
    )
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="run only this vector (repeatable)"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="write offline-report.json, junit.xml and report.html here (as the live suite does)",
    )
    parser.add_argument(
        "--expected-failures",
        type=Path,
        metavar="FILE",
        help="vectors known to fail, one id per line (the live suite's format): a listed vector that "
        "fails does not fail the run",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a listed vector that passes fails the run (exit 1), so the file cannot go stale",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S", help="per answer")
    args = parser.parse_args(argv)
    try:
        adapter_argv = shlex.split(args.adapter)
        if not (args.timeout > 0 and math.isfinite(args.timeout)):
            raise OfflineUsageError("--timeout must be a positive number of seconds")
        if args.report_dir is not None:  # before the run, as the live suite: not after every vector ran
            try:  # exists() too: under a directory this user may not search it raises, as mkdir does
                if args.report_dir.exists() and not args.report_dir.is_dir():
                    raise OfflineUsageError(f"--report-dir {args.report_dir} is a file, not a directory")
                args.report_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OfflineUsageError(
                    f"cannot write reports to {args.report_dir}: {exc.strerror or exc}"
                ) from None
        report = run(
            adapter_argv,
            args.vectors,
            cases=args.case,
            timeout_s=args.timeout,
            expected_failures=args.expected_failures,
            strict=args.strict,
        )
    except OfflineCancelled as exc:  # the vectors judged before Ctrl-C: printed, and their reports
        write_text(exc.report, sys.stdout)
        print(f"interrupted after {len(exc.report.results)} of {exc.total} vectors")
        if args.report_dir is not None:
            with contextlib.suppress(OSError):
                write_reports(exc.report, args.report_dir)
                print(f"reports written to {args.report_dir}/ (offline-report.json, junit.xml, report.html)")
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OfflineUsageError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except AdapterError as exc:
        print(f"{prog}: adapter error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"{prog}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    write_text(report, sys.stdout)  # the verdicts first: a report that cannot be written loses none
    if args.report_dir is not None:
        try:
            write_reports(report, args.report_dir)
        except OSError as exc:
            print(
                f"{prog}: cannot write reports to {args.report_dir}: {exc.strerror or exc}", file=sys.stderr
            )
            return EXIT_ERROR
        print(f"reports written to {args.report_dir}/ (offline-report.json, junit.xml, report.html)")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
