"""The offline adapter protocol and runner (conformance.offline, SPEC 17.1), through real subprocesses.

The fake adapters below are tiny Python programs that break the protocol in one way each; the
reference adapter is ``python -m conformance.adapter``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import offline
from conformance.offline import (
    AdapterDied,
    AdapterError,
    AdapterProtocolError,
    AdapterTimeout,
    OfflineUsageError,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "conformance" / "vectors"
REFERENCE = [sys.executable, "-m", "conformance.adapter"]
HELLO = {"type": "hello", "protocol": offline.PROTOCOL, "name": "fake", "version": "0"}


def _fake(tmp_path: Path, body: str, hello: dict[str, object] | None = HELLO) -> list[str]:
    """An adapter program: answers the hello with ``hello`` (unless None), then runs ``body`` per request
    (``req`` is the decoded request, ``send`` prints one JSON line)."""
    script = tmp_path / "adapter.py"
    lines = [
        "import json, sys, time",
        "def send(obj):",
        '    sys.stdout.write(json.dumps(obj) + "\\n"); sys.stdout.flush()',
        f"HELLO = {hello!r}",
        "for line in sys.stdin:",
        "    req = json.loads(line)",
        '    if req["type"] == "hello":',
        "        if HELLO is not None:",
        "            send(HELLO)",
        "        continue",
        '    if req["type"] == "bye":',
        "        break",
        textwrap.indent(body, "    "),
    ]
    script.write_text("\n".join(lines) + "\n")
    return [sys.executable, str(script)]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.offline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the handshake and the protocol ---------------------------------------------------------------


def test_reference_adapter_handshake_declares_everything() -> None:
    with offline.Adapter(REFERENCE) as adapter:
        info = adapter.hello()
    assert info.name == "a2a-coop-python"
    assert info.modes == ("sparse", "complete")
    assert info.freshness and info.topics is None
    assert info.roles == ("auditor", "escrow")


def test_reference_adapter_answers_a_vector_with_code_and_index() -> None:
    from a2a_coop.vectors import load_vector_file

    vector = next(v for v in load_vector_file(VECTORS / "canaries.json") if v.result == "invalid")
    with offline.Adapter(REFERENCE) as adapter:
        adapter.hello()
        answer = adapter.verify(vector)
    assert answer["result"] == "invalid"
    assert f"{answer['error']} at {answer['failedIndex']}" == vector.expected


@pytest.mark.parametrize(
    ("hello", "message"),
    [
        ({**HELLO, "protocol": "a2a-coop-offline/99"}, "speaks 'a2a-coop-offline/99'"),
        ({**HELLO, "capabilities": {"modes": ["weird"]}}, "modes must be"),
        ({**HELLO, "capabilities": {"topics": 7}}, "topics must be"),
        ({"type": "result"}, "expected a hello"),
    ],
)
def test_a_bad_hello_is_a_protocol_error(tmp_path: Path, hello: dict[str, object], message: str) -> None:
    with (
        offline.Adapter(_fake(tmp_path, "send({})", hello)) as adapter,
        pytest.raises(AdapterProtocolError, match=message),
    ):
        adapter.hello()


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ('print("hello world", flush=True)', AdapterProtocolError, "not JSON"),
        ("send([1, 2])", AdapterProtocolError, "not an object"),
        (
            'send({"type": "result", "id": req["id"] + 1, "result": "valid"})',
            AdapterProtocolError,
            "result of request",
        ),
        (
            'send({"type": "result", "id": req["id"], "result": "maybe"})',
            AdapterProtocolError,
            "valid, invalid or",
        ),
        (
            'send({"type": "result", "id": req["id"], "result": "invalid"})',
            AdapterProtocolError,
            "needs error",
        ),
        ('sys.stderr.write("boom\\n"); sys.exit(3)', AdapterDied, "status 3: boom"),
        ("time.sleep(30)", AdapterTimeout, r"within 1\.5 s"),
    ],
    ids=["garbage", "not-object", "wrong-id", "bad-result", "no-code", "crash", "timeout"],
)
def test_a_broken_adapter_is_a_typed_error(
    tmp_path: Path, body: str, error: type[AdapterError], message: str
) -> None:
    # a generous limit (a loaded CI machine), except where the limit is the point
    timeout_s = 1.5 if error is AdapterTimeout else offline.DEFAULT_TIMEOUT_S
    with pytest.raises(error, match=message):
        offline.run(_fake(tmp_path, body), [VECTORS / "canaries.json"], timeout_s=timeout_s)


def test_a_silent_adapter_times_out_at_the_hello(tmp_path: Path) -> None:
    with (
        offline.Adapter(_fake(tmp_path, "pass", hello=None), startup_timeout_s=0.5) as adapter,
        pytest.raises(AdapterTimeout, match=r"no hello within 0\.5 s"),
    ):
        adapter.hello()


def test_an_adapter_that_does_not_start_is_an_adapter_error(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="cannot start"):
        offline.run([str(tmp_path / "no-such-adapter")], [VECTORS / "canaries.json"])


# --- capabilities: what an adapter does not declare is SKIP, not FAIL --------------------------------


def test_undeclared_topics_modes_and_freshness_are_skipped(tmp_path: Path) -> None:
    hello = {**HELLO, "capabilities": {"modes": ["sparse"], "freshness": False, "topics": ["Canary"]}}
    answer_valid = 'send({"type": "result", "id": req["id"], "result": "unsupported", "detail": "not mine"})'
    report = offline.run(_fake(tmp_path, answer_valid, hello), [VECTORS / "canaries.json"])
    results = report.files[0].results
    assert report.count("PASS") == report.count("FAIL") == 0
    reasons = {r.detail for r in results}
    assert "not mine" in reasons  # the adapter's own "unsupported"
    assert "complete chain mode not declared by the adapter" in reasons
    assert "freshness (now_ms) not declared by the adapter" in reasons
    assert report.ok  # nothing failed: a SKIP is honest, not a pass and not a failure


def test_an_adapter_that_declares_no_roles_skips_the_escrows_groups(tmp_path: Path) -> None:
    """An adapter written before roles (SPEC 17.1: roles default to the auditor's) is not failed on a
    group of role escrow: it is skipped, and told nothing it would misread."""
    answer_valid = 'send({"type": "result", "id": req["id"], "result": "valid"})'
    report = offline.run(_fake(tmp_path, answer_valid), [VECTORS / "keytime.json"])
    skipped = {r.detail for r in report.files[0].results if r.status == "SKIP"}
    assert skipped == {
        "escrow role not declared by the adapter",
        "faulty sets (ATT-013) not declared by the adapter",  # nor faulty: it came before them too
    }
    assert report.count("SKIP") == sum(
        1
        for g in json.loads((VECTORS / "keytime.json").read_text())["testGroups"]
        for t in g["tests"]
        if g.get("role") == "escrow" or "faulty" in t
    )


@pytest.mark.req("ATT-013")
def test_a_vector_stating_faulty_is_judged_on_the_faulty_set_the_adapter_reports(tmp_path: Path) -> None:
    """An adapter declaring ``faulty`` is sent each such vector's ``trusted_escrows`` (when it states them)
    and ``report_faulty``, and fails a vector when the set it answers differs from the vector's, whatever
    its verdict: here it answers the reference adapter's verdict and set, cut to its last member, which is
    right only where the view convicts the key alone (the principal spared, ATT-013 (d), (f))."""
    log = tmp_path / "requests.jsonl"
    body = "\n".join(
        [
            "from conformance.adapter import verify",
            f"open({str(log)!r}, 'a').write(json.dumps(req) + '\\n')",
            "got = verify(req)",
            "send({**got, 'faulty': got['faulty'][-1:]})  # one of two convicted left out",
        ]
    )
    hello = {
        **HELLO,
        "capabilities": {"topics": ["WitnessedByATrustedEscrow", "ToldAnotherTrustedEscrow"], "faulty": True},
    }
    report = offline.run(_fake(tmp_path, body, hello), [VECTORS / "keytime.json"])
    judged = {r.vector.tc_id: r for r in report.files[0].results if r.status != "SKIP"}
    stated = {
        t["tcId"]: t for g in json.loads((VECTORS / "keytime.json").read_text())["testGroups"]
        for t in g["tests"] if "faulty" in t and g["type"] in hello["capabilities"]["topics"]
    }  # fmt: skip
    assert judged.keys() == stated.keys() and len(stated) == 11
    passed = {i for i, r in judged.items() if r.status == "PASS"}
    assert passed == {i for i, t in stated.items() if len(t["faulty"]) == 1}, [r.got for r in judged.values()]
    sent = {r["tcId"]: r for r in map(json.loads, log.read_text().splitlines())}
    for i, t in stated.items():
        assert sent[i]["report_faulty"] is True
        assert sent[i].get("trusted_escrows") == t.get("trusted_escrows")


# --- the runner end to end ----------------------------------------------------------------------------


def test_cli_reference_adapter_passes_and_writes_the_report(tmp_path: Path) -> None:
    files = [str(VECTORS / n) for n in ("canaries.json", "statements.json")]
    result = _cli(
        "--adapter",
        f"{sys.executable} -m conformance.adapter",
        "--vectors",
        *files,
        "--report-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "statements.json: 211 passed, 0 failed, 0 skipped" in result.stdout
    report = json.loads((tmp_path / "offline-report.json").read_text())
    assert report["schema"] == offline.REPORT_SCHEMA
    assert report["adapter"]["name"] == "a2a-coop-python"
    assert report["summary"]["failed"] == 0
    assert report["summary"]["passed"] == sum(f["passed"] for f in report["files"]) > 211


def test_cli_lazy_adapter_fails_with_per_vector_detail(tmp_path: Path) -> None:
    adapter = f"{sys.executable} -m conformance.adapter --skip signature"
    result = _cli(
        "--adapter", adapter, "--vectors", str(VECTORS / "canaries.json"), "--report-dir", str(tmp_path)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    fail = next(line for line in result.stdout.splitlines() if line.startswith("  FAIL "))
    assert "expected SIGNATURE_INVALID at" in fail and "got valid" in fail and "requirements ENV-006" in fail
    by_rule = next(
        ln for ln in result.stdout.splitlines() if ln.startswith("failed vectors by requirement: ")
    )
    assert by_rule.startswith("failed vectors by requirement: ENV-006 ")
    report = json.loads((tmp_path / "offline-report.json").read_text())
    failures = [r for f in report["files"] for r in f["results"] if r["status"] == "FAIL"]
    assert failures and all(r["got"] == "valid" for r in failures)
    assert {"tcId", "expected", "requirements"} <= failures[0].keys()


def test_cli_runs_one_case() -> None:
    result = _cli("--adapter", f"{sys.executable} -m conformance.adapter", "--case", "statements-42")
    assert result.returncode == 0, result.stderr
    assert "total: 1 passed, 0 failed, 0 skipped" in result.stdout


def test_a_directory_of_vectors_runs_every_vector_file_in_it() -> None:
    result = _cli("--adapter", f"{sys.executable} -m conformance.adapter", "--vectors", str(VECTORS))
    assert result.returncode == 0, result.stderr
    files = [line.split(":")[0] for line in result.stdout.splitlines() if line.endswith(" skipped")]
    assert sorted(files) == sorted(p.name for p in offline.default_vector_files())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "statements-99999"], "no such case: statements-99999"),
        (["--vectors", "conformance/vectors/equivocation-proof.json"], "not a vector file"),
        (["--vectors", "nope.json"], "cannot read nope.json"),
        (["--vectors", "a2a_coop"], "no vector files (schema a2a-coop-vectors/1) in the directory a2a_coop"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds"),
        (["--timeout", "nan"], "--timeout must be a positive number of seconds"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in this process, from the checkout as ``_cli`` runs (the command runs as a process in the
    tests above and below): each refused before the adapter starts."""
    monkeypatch.chdir(ROOT)
    assert offline.main(["--adapter", f"{sys.executable} -m conformance.adapter", *args]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert message in err and err.startswith("conformance.offline: ")


def test_cli_adapter_crash_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _cli(
        "--adapter", " ".join(_fake(tmp_path, "sys.exit(4)")), "--vectors", str(VECTORS / "canaries.json")
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "conformance.offline: adapter error: adapter exited with status 4"
    assert "Traceback" not in result.stderr


def test_an_adapter_that_dies_is_named_by_its_error_line_not_its_last(tmp_path: Path) -> None:
    """`--adapter "node my-adapter.js"` with no such file: node prints the error, a stack and, last,
    `Node.js v20.20.2`, which was all the one line said. Expect the line naming the error."""
    script = tmp_path / "adapter.py"
    script.write_text(
        "import sys\n"
        "sys.stderr.write('node:internal/modules/cjs/loader:1210\\n  throw err;\\n  ^\\n\\n'\n"
        "    \"Error: Cannot find module '/tmp/my-adapter.js'\\n    at Module._load (loader:1038:27)\\n\"\n"
        "    \"  code: 'MODULE_NOT_FOUND',\\n}\\n\\nNode.js v20.20.2\\n\")\n"
        "sys.exit(1)\n"
    )
    result = _cli("--adapter", f"{sys.executable} {script}", "--vectors", str(VECTORS / "canaries.json"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "conformance.offline: adapter error: adapter exited with status 1: "
        "Error: Cannot find module '/tmp/my-adapter.js'"
    )


def test_cli_adapter_timeout_exits_2(tmp_path: Path) -> None:
    adapter = " ".join(_fake(tmp_path, "time.sleep(30)"))
    result = _cli("--adapter", adapter, "--timeout", "0.3", "--vectors", str(VECTORS / "canaries.json"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "conformance.offline: adapter error: adapter sent no answer to canaries-1"
    )
    assert result.stderr.strip().endswith("within 0.3 s")


def test_unknown_case_is_a_usage_error_in_the_api() -> None:
    with pytest.raises(OfflineUsageError):
        offline.run(REFERENCE, [VECTORS / "canaries.json"], cases=["canaries-100000"])


def test_offline_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout
        sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import main

    assert main(["offline", "--quick"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "offline" and summary["quick"] is True
    assert summary["vectors"] > 0 and summary["offline_run_s"] > 0 and summary["offline_vs_inprocess"] > 0


@pytest.mark.parametrize(
    ("adapter", "code"),
    [([], 0), (["--adapter", f"{sys.executable} -m conformance.adapter --skip chain-link"], 1)],
)
def test_a2a_coop_conformance_vectors_is_the_offline_mode(
    adapter: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``a2a-coop conformance --vectors``: this library's adapter by default (every vector as expected),
    or the implementer's; a verifier that skips a check fails (exit 1)."""
    from a2a_coop.cli import main

    assert (
        main(
            [
                "conformance",
                "--vectors",
                str(Path(offline.__file__).parent / "vectors" / "chains.json"),
                *adapter,
            ]
        )
        == code
    )
    out = capsys.readouterr().out
    assert "chains.json: " in out and ("0 failed" in out) == (code == 0)


def test_a2a_coop_conformance_vectors_refuses_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    assert main(["conformance", "--vectors", "--target", "127.0.0.1:1"]) == 2
    assert "drop --target" in capsys.readouterr().err


def test_report_dir_writes_junit_and_html_with_expected_failures_as_the_live_suite(tmp_path: Path) -> None:
    """`--report-dir` wrote offline-report.json only (the live suite writes junit.xml and report.html
    too), and there was no --expected-failures (newuser16). Now a listed vector that fails is, as in
    the live reports, a JUnit skip of type EXPECTED-FAILURE and an EXPECTED-FAILURE badge, and fails
    nothing; a listed one that passes is named everywhere and fails the run under --strict."""
    lazy = f"{sys.executable} -m conformance.adapter --skip signature"
    canaries = str(VECTORS / "canaries.json")
    probe = _cli("--adapter", lazy, "--vectors", canaries)
    failing = [ln.split()[1] for ln in probe.stdout.splitlines() if ln.startswith("  FAIL ")]
    assert probe.returncode == 1 and len(failing) >= 2
    listing = tmp_path / "expected.txt"
    listing.write_text("# known gaps\n" + "\n".join(f"{v}  no signature check" for v in failing) + "\n")
    out = tmp_path / "r"
    result = _cli(
        "--adapter",
        lazy,
        "--vectors",
        canaries,
        "--report-dir",
        str(out),
        "--expected-failures",
        str(listing),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"FAIL (expected) {failing[0]} " in result.stdout
    assert f"{len(failing)} failed ({len(failing)} expected: --expected-failures)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "offline-report.json", "report.html"]
    junit = ET.parse(out / "junit.xml").getroot()
    xfailed = [
        tc.get("name")
        for tc in junit.iter("testcase")
        if tc.find("skipped[@type='EXPECTED-FAILURE']") is not None
    ]
    assert xfailed == failing and junit.get("failures") == "0" and junit.get("skipped") == str(len(failing))
    assert int(junit.get("tests", "0")) == sum(1 for _ in junit.iter("testcase")) > len(failing)
    page = (out / "report.html").read_text()
    assert f">EXPECTED-FAILURE</span> {len(failing)}" in page and ">FAIL<" not in page
    doc = json.loads((out / "offline-report.json").read_text())
    assert doc["exit_code"] == 0 and doc["summary"]["expected_failures"] == len(failing)

    # A valid twin listed as well: it passes; named, and under --strict it fails the run.
    listing.write_text(listing.read_text() + "canaries-2\n")
    for strict, code in ((False, 0), (True, 1)):
        where = tmp_path / f"strict-{strict}"
        argv = [
            "--adapter",
            lazy,
            "--vectors",
            canaries,
            "--report-dir",
            str(where),
            "--expected-failures",
            str(listing),
        ]
        result = _cli(*argv, *(["--strict"] if strict else []))
        assert result.returncode == code, result.stdout + result.stderr
        assert "expected to fail but PASS: canaries-2-" in result.stdout
        junit = ET.parse(where / "junit.xml").getroot()
        assert (
            len(junit.findall(".//failure[@type='UNEXPECTED-PASS']"))
            == int(junit.get("failures", "0"))
            == code
        )
        assert "1 expected failure passed" in (where / "report.html").read_text()
        assert json.loads((where / "offline-report.json").read_text())["unexpected_passes"][0].startswith(
            "canaries-2-"
        )


def test_an_expected_failures_file_naming_no_vector_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (the test above runs --expected-failures as a process)."""
    listing = tmp_path / "expected.txt"
    listing.write_text("canaries-1\nstatements-99999\n")
    argv = [
        "--adapter",
        f"{sys.executable} -m conformance.adapter",
        "--vectors",
        str(VECTORS / "canaries.json"),
    ]
    for extra, message in (
        (["--expected-failures", str(listing)], f"{listing}:2: no vector 'statements-99999'"),
        (["--expected-failures", str(tmp_path / "nope.txt")], "cannot read"),
        (["--report-dir", str(listing)], "is a file, not a directory"),
    ):
        assert offline.main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert err.strip().splitlines() == [err.strip()]


def test_a2a_coop_conformance_vectors_takes_expected_failures_and_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a2a-coop conformance --vectors --expected-failures FILE` ignored the file (newuser16)."""
    from a2a_coop.cli import main

    listing = tmp_path / "expected.txt"
    listing.write_text("statements-99999\n")
    argv = ["conformance", "--vectors", str(VECTORS / "canaries.json"), "--expected-failures", str(listing)]
    assert main(argv) == 2
    assert "no vector 'statements-99999'" in capsys.readouterr().err
    listing.write_text("canaries-2\n")  # the reference adapter passes it
    assert main(argv) == 0
    assert main([*argv, "--strict"]) == 1
    assert "FAILED: 1 expected failure passed (--strict)" in capsys.readouterr().out


def test_ctrl_c_reports_what_was_judged_and_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """`python -m conformance.offline` interrupted by Ctrl-C ended in a KeyboardInterrupt traceback
    (newuser16). Expect one line, exit 130, and the vectors judged before it printed and reported."""
    started = tmp_path / "answered"
    adapter = _fake(
        tmp_path,
        f"open({str(started)!r}, 'a').close()\ntime.sleep(0.02)\n"
        'send({"type": "result", "id": req["id"], "result": "valid"})',
    )
    out = tmp_path / "r"
    argv = ["--adapter", " ".join(adapter), "--report-dir", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.offline", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:  # the run is under way
        time.sleep(0.05)
    time.sleep(0.2)  # and a few vectors answered (each in 20 ms)
    proc.send_signal(signal.SIGINT)
    try:  # generous: on a loaded machine (load ~25) 30 s was not enough to write the reports
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:  # timed out: leave no process nor open pipe behind for later tests
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stdout + stderr
    assert stderr.strip() == "conformance.offline: interrupted" and "Traceback" not in stderr
    assert "interrupted after " in stdout
    doc = json.loads((out / "offline-report.json").read_text())
    assert doc["cancelled"] is True and doc["exit_code"] == 130
    assert (out / "junit.xml").exists() and (out / "report.html").exists()


def test_the_matrix_takes_offline_reports_beside_live_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a2a-coop conformance --matrix` read report.json only: an offline run's --report-dir was "no
    report.json in ..." (newuser17). It now sets offline runs side by side -- each vector file's counts
    by adapter, then each vector that failed somewhere, PASS where a run judged its file and did not
    list it -- beside the live cases of a live report, from directories or the report files."""
    from a2a_coop.cli import main as cli

    canaries = str(VECTORS / "canaries.json")
    full, lazy = tmp_path / "full", tmp_path / "lazy"
    adapter = f"{sys.executable} -m conformance.adapter"
    assert offline.main(["--adapter", adapter, "--vectors", canaries, "--report-dir", str(full)]) == 0
    skip = ["--adapter", f"{adapter} --skip signature", "--vectors", canaries, "--report-dir", str(lazy)]
    assert offline.main(skip) == 1
    failed = json.loads((lazy / "offline-report.json").read_text())["files"][0]["results"][0]["id"]
    live = tmp_path / "live"
    live.mkdir()
    case = {"id": "env.garbage", "level": "FAIL", "reason": "accepted garbage"}
    doc = {"schema": "a2a-coop-conformance/1", "target": "127.0.0.1:9", "exit_code": 1, "cases": [case]}
    (live / "report.json").write_text(json.dumps(doc))
    capsys.readouterr()
    argv = ["conformance", "--matrix", str(full), str(lazy / "offline-report.json"), str(live)]
    assert cli([*argv, "--report-dir", str(tmp_path / "m")]) == 0
    assert "matrix of 3 runs written to" in capsys.readouterr().out
    page = (tmp_path / "m" / "matrix.html").read_text()
    assert "<h2>Live cases</h2>" in page and "env.garbage" in page and "127.0.0.1:9" in page
    assert "<h2>Offline vectors</h2>" in page and "a2a-coop-python-lazy" in page
    row = page[page.index(f"<code>{failed}</code>") :].split("</tr>")[0]
    assert row.index("PASS") < row.index("FAIL")  # the full adapter passed it, the lazy one failed it
    counts = json.loads((lazy / "offline-report.json").read_text())["files"][0]
    assert f"<td>{counts['passed']} passed, {counts['failed']} failed, 0 skipped</td>" in page
    (tmp_path / "junk.json").write_text('{"schema": "something-else"}')
    assert cli(["conformance", "--matrix", str(tmp_path / "junk.json"), "--report-dir", str(tmp_path)]) == 2
    assert (
        "is neither an a2a-coop-conformance/1 nor an a2a-coop-offline-report/1 report"
        in capsys.readouterr().err
    )


def test_a_report_dir_that_cannot_be_made_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--report-dir` under a file ran every vector, then said only "No such file or directory" and
    printed no verdict (newuser17). Now it is refused first, naming the directory, as the live suite
    does; no adapter is started."""
    (tmp_path / "f.txt").write_text("")
    where = tmp_path / "f.txt" / "reports"
    argv = ["--adapter", "no-such-adapter-is-started", "--report-dir", str(where)]
    assert offline.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"conformance.offline: cannot write reports to {where}: Not a directory", err
