"""Reports of a run: JSON (stable schema), JUnit XML (for CI) and one self-contained HTML page, plus a
matrix page over several runs.

JSON schema ``a2a-coop-conformance/1``::

    {"schema": "a2a-coop-conformance/1", "target": "host:port", "target_did": "did:key:...",
     "seed": "...", "started_at": "ISO 8601", "duration_s": 1.2, "exit_code": 0, "strict": false,
     "counts": {"PASS": n, "FAIL": n, "NON-STRICT": n, "SKIP": n, "INFO": n, "NOT-TESTED": n},
     "coverage": {"must": n, "must_tested": n, "must_not_tested": n, "must_skipped": n,
                  "must_without_case": [...]},
     "cases": [{"id", "title", "role", "capability", "requirements": [...], "level", "reason",
                "expected_failure": bool, "unexpected_pass": bool, "duration_s", "replay", "transcript": [
                    {"rpc", "request", "response", "error", "elapsed_ms"}]}],
     "unexpected_passes": ["case id", ...],       # expected failures that passed (--strict: exit 1)
     "signed": ["base64 envelope", ...],          # everything the target signed
     "audit": null | [{"kind", "hard": bool, "confidence", "summary", "requirement", "subject",
                       "evidence": [digest hex],
                       "statements": [{"digest", "issuer", "body", "seq", "envelope": base64}]}],
     "audit_note": "why the audit did not run, or empty",
     "interrupted": null | {"case", "detail", "replay"},  # the target stopped answering in that case:
                                                          # exit code 2, "cases" are those before it
     "cancelled": bool}                                   # interrupted by the user (Ctrl-C): exit 130

Fields are only ever added; a consumer ignores those it does not know.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from conformance.registry import read_registry
from conformance.reporting import STYLE as _STYLE
from conformance.reporting import badge as _badge
from conformance.reporting import esc as _e
from conformance.reporting import junit_outcome, shown_counts, shown_level
from conformance.suite.model import Level, Result
from conformance.suite.runner import Run

SCHEMA = "a2a-coop-conformance/1"


def coverage(results: Sequence[Result]) -> dict[str, Any]:
    """What this run did with each MUST requirement: tested live (a case of it passed or failed), only
    NOT-TESTED (the wire cannot show it), only skipped or informational (the target does not offer
    the capability, or a case could not reach its point), or no case at all."""
    musts = [r.id for r in read_registry() if r.level == "MUST"]
    by_level: dict[str, set[Level]] = {m: set() for m in musts}
    for res in results:
        for rid in res.case.requirements:
            if rid in by_level:
                by_level[rid].add(res.level)
    live = {Level.PASS, Level.FAIL, Level.NON_STRICT}
    tested = [m for m in musts if by_level[m] & live]
    not_tested = [m for m in musts if not by_level[m] & live and Level.NOT_TESTED in by_level[m]]
    return {
        "must": len(musts),
        "must_tested": len(tested),
        "must_not_tested": len(not_tested),
        "must_skipped": sum(
            1 for m in musts if by_level[m] and not by_level[m] & live and m not in not_tested
        ),
        "must_without_case": [m for m in musts if not by_level[m]],
    }


def to_json(run: Run) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "target": run.target,
        "target_did": run.target_did,
        "seed": run.seed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started_at)),
        "duration_s": round(run.duration_s, 3),
        "exit_code": run.exit_code,
        "strict": run.strict,
        "counts": run.counts(),
        "coverage": coverage(run.results),
        "cases": [
            {
                "id": r.case.id,
                "title": r.case.title,
                "role": r.case.role.value,
                "capability": r.case.capability.value,
                "requirements": list(r.case.requirements),
                "level": r.level.value,
                "reason": r.reason,
                "expected_failure": r.expected_failure,
                "unexpected_pass": r.unexpected_pass,
                "duration_s": round(r.duration_s, 4),
                "replay": r.replay,
                "transcript": [asdict(e) for e in r.transcript],
            }
            for r in run.results
        ],
        "unexpected_passes": [r.case.id for r in run.unexpected_passes],
        "signed": [base64.b64encode(e).decode() for e in run.signed],
        "audit": run.findings,
        "audit_note": run.audit_note,
        "interrupted": run.interrupted,
        "cancelled": run.cancelled,
    }


def to_junit(run: Run) -> bytes:
    """JUnit XML: one testsuite per run, one testcase per case; FAIL is a failure (unless expected:
    then skipped, type ``EXPECTED-FAILURE``, as pytest reports an xfail, so that a CI dashboard shows the
    gaps), SKIP and NOT-TESTED are skipped with their reason; NON-STRICT and INFO pass with a system-out. An
    expected failure that passed is a failure under ``--strict`` (type ``UNEXPECTED-PASS``), else a
    pass whose system-out says so. Each hard proof of the audit is one more failed testcase
    (``audit.KIND``): it fails the run."""
    counts = run.counts()
    hard = run.hard_findings
    lost = run.interrupted
    expected_failed = [r for r in run.results if r.level is Level.FAIL and not r.breaks_must]
    suite = ET.Element(
        "testsuite",
        name=f"a2a-coop conformance {run.target}",
        tests=str(len(run.results) + len(hard) + (lost is not None)),
        failures=str(sum(1 for r in run.results if _junit_failure(run, r)) + len(hard)),
        errors=str(int(lost is not None)),
        skipped=str(counts["SKIP"] + counts["NOT-TESTED"] + len(expected_failed)),
        time=f"{run.duration_s:.3f}",
    )
    for r in run.results:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{r.case.id.split('.')[0]}",
            name=r.case.id,
            time=f"{r.duration_s:.4f}",
        )
        text = (
            f"{r.level.value}: {r.reason}\nrequirements: {', '.join(r.case.requirements)}\nreplay: {r.replay}"
        )
        junit_outcome(
            tc,
            failed=r.level is Level.FAIL,
            expected_failure=r.expected_failure,
            unexpected_pass=r.unexpected_pass,
            strict=run.strict,
            skipped=f"{r.level.value}: {r.reason}" if r.level in (Level.SKIP, Level.NOT_TESTED) else None,
            message=r.reason,
            text=text,
            failure_type="MUST",
        )
    if lost is not None:  # the case in flight when the target stopped answering: an error, no verdict
        family = lost["case"].split(".")[0]
        tc = ET.SubElement(suite, "testcase", classname=f"conformance.{family}", name=lost["case"], time="0")
        why = "the user interrupted the run" if run.cancelled else "the target stopped answering"
        code = run.exit_code
        ET.SubElement(tc, "error", message=f"{why}: {lost['detail']}"[:500]).text = (
            f"{why} during this case; the run ends here (exit code {code}, no verdict)\n"
            f"{lost['detail']}\nreplay: {lost['replay']}"
        )
    for f in hard:
        tc = ET.SubElement(
            suite, "testcase", classname="conformance.audit", name=f"audit.{f['kind']}", time="0"
        )
        evidence = "\n".join(str(d) for d in f["evidence"])  # type: ignore[attr-defined]
        ET.SubElement(
            tc, "failure", message=str(f["summary"])[:500], type="HARD-PROOF"
        ).text = f"{f['kind']} ({f['requirement'] or 'a signed lie'}): {f['summary']}\nevidence:\n{evidence}"
    out: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return out


def _junit_failure(run: Run, r: Result) -> bool:
    return r.breaks_must or (run.strict and r.unexpected_pass)


def to_html(doc: dict[str, Any]) -> str:
    """One self-contained page (no scripts, no external resources) from the JSON report."""
    reqs = {r.id: r for r in read_registry()}
    cov = doc["coverage"]
    shown = shown_counts([(c["level"], c["expected_failure"]) for c in doc["cases"]])
    counts = " ".join(f"{_badge(k)} {v}" for k, v in shown.items())
    rows = []
    for c in doc["cases"]:
        req_html = "<br>".join(
            f'<abbr title="{_e(reqs[r].text if r in reqs else "")}">{_e(r)}</abbr>' for r in c["requirements"]
        )
        transcript = "\n\n".join(_exchange_text(x) for x in c["transcript"]) or "(no call on the wire)"
        expected = (
            " (expected to fail, but passed: remove it from the expected-failures file)"
            if c.get("unexpected_pass")
            else ""
        )
        rows.append(
            f"<tr id='{_e(c['id'])}'><td>{_badge(shown_level(c['level'], c['expected_failure']))}"
            f"{_e(expected)}</td>"
            f"<td><code>{_e(c['id'])}</code><br>"
            f"{_e(c['title'])}<br><span class=muted>{_e(c['reason'])}</span>"
            f"<details><summary>wire transcript ({len(c['transcript'])} calls) and replay</summary>"
            f"<pre>{_e(transcript)}</pre><pre>{_e(c['replay'])}</pre></details></td>"
            f"<td>{req_html}</td><td>{c['duration_s'] * 1000:.0f} ms</td></tr>"
        )
    audit = doc.get("audit")
    if audit is None:
        note = _e(doc.get("audit_note", ""))
        audit_html = f"<p class=muted>The misrepresentation audit did not run: {note}.</p>"
    elif not audit:
        audit_html = f"<p>No findings over the {len(doc['signed'])} statements the target signed.</p>"
    else:
        items = "".join(
            f"<li>{_badge('FAIL' if f.get('hard') else 'INFO')} <b>{_e(f['kind'])}</b> "
            f"{'hard proof' if f.get('hard') else 'soft screen'}"
            f"{' of ' + _e(f['requirement']) if f.get('requirement') else ''}, "
            f"confidence {f['confidence']:.2f}: {_e(f['summary'])}"
            f"<details><summary>evidence ({len(f['evidence'])} statements)</summary>"
            f"<pre>{_e(_evidence_text(f))}</pre></details></li>"
            for f in audit
        )
        audit_html = (
            f"<p>A hard proof fails the run (exit code 1); a soft screen is information.</p><ul>{items}</ul>"
        )
    missing = ", ".join(cov["must_without_case"]) or "none"
    stale = doc.get("unexpected_passes") or []
    stale_html = (
        f"<p><b>{len(stale)} expected failure{'' if len(stale) == 1 else 's'} passed</b>"
        f"{' and fail the run (--strict)' if doc.get('strict') else ''}: "
        f"{_e(', '.join(stale))}; remove them from the expected-failures file.</p>"
        if stale
        else ""
    )
    lost = doc.get("interrupted")
    who = "the user interrupted the run" if doc.get("cancelled") else "the target stopped answering"
    stale_html += (
        f"<p><b>Interrupted:</b> {who} during <code>{_e(lost['case'])}</code> "
        f"({_e(lost['detail'])}); the cases after it did not run. "
        f"Replay: <code>{_e(lost['replay'])}</code></p>"
        if lost
        else ""
    )
    return f"""<!doctype html><html lang=en><meta charset=utf-8>
<title>a2a-coop conformance: {_e(doc["target"])}</title><style>{_STYLE}</style>
<h1>a2a-coop conformance report</h1>
<p>Target <code>{_e(doc["target"])}</code> ({_e(doc["target_did"])}), seed <code>{_e(doc["seed"])}</code>,
started {_e(doc["started_at"])}, {doc["duration_s"]:.1f} s. Exit code <b>{doc["exit_code"]}</b>.</p>
<p>{counts}</p>{stale_html}
<p>MUST requirements: {cov["must"]}; tested live in this run: {cov["must_tested"]}; with only NOT-TESTED
cases: {cov["must_not_tested"]}; without any case: {_e(missing)}.</p>
<h2>Cases</h2><table><tr><th>Level</th><th>Case</th><th>Requirements</th><th>Time</th></tr>
{"".join(rows)}</table>
<h2>Audit findings</h2>{audit_html}
</html>
"""


def _evidence_text(f: dict[str, Any]) -> str:
    """One line per statement of a finding: digest, issuer, body and seq, then the envelope (base64)."""
    rows = f.get("statements") or [{"digest": d} for d in f["evidence"]]
    return "\n".join(
        f"{r['digest']}  {r.get('body', '')} seq {r.get('seq', '?')} by {r.get('issuer', '?')}\n"
        f"  {r.get('envelope', '')}"
        for r in rows
    )


def _exchange_text(x: dict[str, Any]) -> str:
    lines = [f"→ {x['rpc']}  ({x['elapsed_ms']:.1f} ms)"]
    req = x["request"]
    if req.get("note"):
        lines.append(f"  note: {req['note']}")
    for key in ("envelope",):
        if key in req:
            lines.append(f"  envelope: {req[key].get('summary', '')}  {req[key]['b64'][:96]}…")
    for ctx in req.get("context", []):
        lines.append(f"  context: {ctx.get('summary', '')}")
    if "message" in req:
        lines.append(f"  request: {json.dumps(req['message'])}")
    if "bytes_b64" in req:
        lines.append(f"  raw bytes: {req['bytes_b64'][:96]}")
    if x.get("error"):
        err = x["error"]
        lines.append(f"← {err['status']} {err['reason']} {json.dumps(err['metadata'])}")
    elif x.get("response") is not None:
        envs = x["response"].get("envelopes", [])
        lines.append("← OK" + "".join(f"\n  {e.get('summary', '')}" for e in envs))
    return "\n".join(lines)


def write_reports(run: Run, directory: Path) -> dict[str, Path]:
    """Write report.json, junit.xml and report.html to ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = to_json(run)
    paths = {
        "json": directory / "report.json",
        "junit": directory / "junit.xml",
        "html": directory / "report.html",
    }
    paths["json"].write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    paths["junit"].write_bytes(to_junit(run))
    paths["html"].write_text(to_html(doc), encoding="utf-8")
    return paths


OFFLINE_SCHEMA = (
    "a2a-coop-offline-report/1"  # conformance.offline.REPORT_SCHEMA (not imported: it loads the vectors)
)
_REPORT_FILES = {"report.json": SCHEMA, "offline-report.json": OFFLINE_SCHEMA}


def _matrix_reports(given: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The reports ``given`` names: a --report-dir of the live suite (report.json), of an offline run
    (offline-report.json), both, or one such file. Raises OSError, ValueError (neither there, or not of
    its schema)."""
    paths = (
        [given] if given.is_file() else [given / name for name in _REPORT_FILES if (given / name).is_file()]
    )
    if not paths:
        raise ValueError(
            f"no report.json or offline-report.json in {given} (give the --report-dir of earlier runs of "
            "`a2a-coop conformance` or `python -m conformance.offline`)"
        )
    found = []
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("schema") not in _REPORT_FILES.values():
            raise ValueError(f"{path} is neither an {SCHEMA} nor an {OFFLINE_SCHEMA} report")
        found.append((path, doc))
    return found


def _live_matrix(docs: Sequence[dict[str, Any]]) -> str:
    """Cases by targets, one badge a cell."""
    ids = sorted({c["id"] for doc in docs for c in doc["cases"]})
    levels = [{c["id"]: c for c in doc["cases"]} for doc in docs]
    head = "".join(
        f"<th>{_e(doc['target'])}<br><span class=muted>exit {doc['exit_code']}</span></th>" for doc in docs
    )
    rows = []
    for case_id in ids:
        cells = "".join(
            f"<td title='{_e(lv[case_id]['reason'])}'>"
            f"{_badge(shown_level(lv[case_id]['level'], lv[case_id].get('expected_failure', False)))}</td>"
            if case_id in lv
            else "<td>-</td>"
            for lv in levels
        )
        rows.append(f"<tr><td><code>{_e(case_id)}</code></td>{cells}</tr>")
    return f"<h2>Live cases</h2><table><tr><th>Case</th>{head}</tr>{''.join(rows)}</table>"


def _offline_matrix(docs: Sequence[dict[str, Any]]) -> str:
    """Vector files by adapters (their counts), then every vector that did not pass in some run: an
    offline report lists only those, so a vector of a file a run judged and did not list passed there."""
    judged = [{Path(f["file"]).name: f for f in doc["files"]} for doc in docs]
    listed = [{r["id"]: r for f in doc["files"] for r in f["results"]} for doc in docs]
    file_of = {r["id"]: Path(f["file"]).name for doc in docs for f in doc["files"] for r in f["results"]}
    head = "".join(
        f"<th>{_e(doc['adapter'].get('name', '?'))} {_e(doc['adapter'].get('version', ''))}<br>"
        f"<span class=muted>exit {doc['exit_code']}</span></th>"
        for doc in docs
    )
    rows = []
    for name in sorted({name for files in judged for name in files}):
        counts = "".join(
            f"<td>{files[name]['passed']} passed, {files[name]['failed']} failed, "
            f"{files[name]['skipped']} skipped</td>"
            if name in files
            else "<td>-</td>"
            for files in judged
        )
        rows.append(f"<tr><td><code>{_e(name)}</code></td>{counts}</tr>")
    for vector_id in sorted(file_of):
        cells: list[str] = []
        for files, results in zip(judged, listed, strict=True):
            r = results.get(vector_id)
            if r is not None:
                level = shown_level(r["status"], r.get("expected_failure", False))
                cells.append(f"<td title='{_e(r.get('detail', ''))}'>{_badge(level)}</td>")
            else:
                cells.append(f"<td>{_badge('PASS')}</td>" if file_of[vector_id] in files else "<td>-</td>")
        rows.append(f"<tr><td><code>{_e(vector_id)}</code></td>{''.join(cells)}</tr>")
    return (
        f"<h2>Offline vectors</h2><table><tr><th>Vector file / vector</th>{head}</tr>{''.join(rows)}</table>"
    )


def write_matrix(directories: Sequence[Path], out_dir: Path) -> Path:
    """A matrix page from several runs' reports: the live suite's (report.json: cases by targets) and
    the offline runner's (offline-report.json: vector files by adapters, then each vector that did not
    pass in some run). Each of ``directories`` is a --report-dir of either (or holding both), or a
    report file.

    Raises:
        OSError: a report cannot be read or the page written.
        ValueError: a directory holds no report, or a report is not of either schema.
    """
    docs = [doc for d in directories for _, doc in _matrix_reports(d)]
    live = [doc for doc in docs if doc["schema"] == SCHEMA]
    offline = [doc for doc in docs if doc["schema"] == OFFLINE_SCHEMA]
    try:
        tables = (_live_matrix(live) if live else "") + (_offline_matrix(offline) if offline else "")
    except (KeyError, TypeError, AttributeError) as exc:  # a report of the schema with a part missing
        raise ValueError(f"a report is incomplete or damaged (no {exc})") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "matrix.html"
    path.write_text(
        f"<!doctype html><html lang=en><meta charset=utf-8><title>a2a-coop conformance matrix</title>"
        f"<style>{_STYLE}</style><h1>a2a-coop conformance matrix</h1>{tables}</html>\n",
        encoding="utf-8",
    )
    return path
