"""What the live suite's reports (conformance.suite.report) and the offline ones (conformance.offline)
share, so that a CI job reads both the same way: the expected-failures file, the level a report shows
for a case, the JUnit XML outcome of each, and the HTML page's style and badges.

The conventions (pytest's, for an xfail):

- a case listed in the expected-failures file that fails shows ``EXPECTED-FAILURE`` (not ``FAIL``) in
  the HTML page and is a JUnit ``skipped`` of type ``EXPECTED-FAILURE``; it does not fail the run;
- a listed case that passes is a pass whose text says so, or, under ``--strict``, a JUnit ``failure``
  of type ``UNEXPECTED-PASS`` that fails the run;
- an unlisted failure is a JUnit ``failure``; a case with no verdict (SKIP, NOT-TESTED) is ``skipped``.

Imports nothing heavier than the standard library: the offline mode needs no gRPC.
"""

from __future__ import annotations

import html
from collections.abc import Container
from pathlib import Path
from typing import Final
from xml.etree import ElementTree as ET

EXPECTED_FAILURE: Final = "EXPECTED-FAILURE"
UNEXPECTED_PASS_TYPE: Final = "UNEXPECTED-PASS"
UNEXPECTED_PASS: Final = "expected to fail (--expected-failures) but passed: remove it from the file"

COLOURS: Final = {
    "PASS": "#1a7f37",
    "FAIL": "#cf222e",
    "NON-STRICT": "#9a6700",
    "SKIP": "#6e7781",
    "INFO": "#0969da",
    "NOT-TESTED": "#8250df",
    EXPECTED_FAILURE: "#bc4c00",
}

STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1f2328;max-width:1200px}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.lvl{font-weight:600;color:#fff;border-radius:4px;padding:1px 6px;font-size:12px;white-space:nowrap}
details{margin:2px 0}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
code{font-size:12px}.muted{color:#656d76}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def badge(level: str) -> str:
    return f'<span class="lvl" style="background:{COLOURS.get(level, "#444")}">{esc(level)}</span>'


def shown_level(level: str, expected_failure: bool) -> str:
    """The level a report shows: a listed case that failed is ``EXPECTED-FAILURE``, not ``FAIL``."""
    return EXPECTED_FAILURE if level == "FAIL" and expected_failure else level


def shown_counts(levels: list[tuple[str, bool]]) -> dict[str, int]:
    """Counts by :func:`shown_level` of (level, expected_failure) pairs, in the order of
    :data:`COLOURS`, zeros left out."""
    counts = dict.fromkeys(COLOURS, 0)
    for level, expected in levels:
        shown = shown_level(level, expected)
        counts[shown] = counts.get(shown, 0) + 1
    return {k: n for k, n in counts.items() if n}


def junit_outcome(
    testcase: ET.Element,
    *,
    failed: bool,
    expected_failure: bool,
    unexpected_pass: bool,
    strict: bool,
    skipped: str | None,
    message: str,
    text: str,
    failure_type: str,
) -> None:
    """Add the outcome element of one case to its JUnit ``testcase`` (for a plain pass, a
    ``system-out`` with ``text`` if any): a failure of ``failure_type``, an expected failure (skipped, type
    EXPECTED-FAILURE), an expected failure that passed (a failure under ``strict``), or ``skipped``
    (its reason) for a case with no verdict."""
    if unexpected_pass:
        text = f"{UNEXPECTED_PASS}\n{text}"
    if failed and not expected_failure:
        ET.SubElement(testcase, "failure", message=message[:500], type=failure_type).text = text
    elif failed:  # an expected failure: skipped, as pytest reports an xfail
        ET.SubElement(
            testcase, "skipped", type=EXPECTED_FAILURE, message=f"expected failure: {message}"[:500]
        ).text = text
    elif unexpected_pass and strict:
        ET.SubElement(testcase, "failure", message=UNEXPECTED_PASS, type=UNEXPECTED_PASS_TYPE).text = text
    elif skipped is not None:
        ET.SubElement(testcase, "skipped", message=skipped[:500])
    elif text:
        ET.SubElement(testcase, "system-out").text = text


def read_expected_failures(path: Path, known: Container[str], *, what: str = "case") -> dict[str, str]:
    """An expected-failures file: one ID per line, optionally followed by a reason after whitespace or
    ``#``; blank lines and lines starting with ``#`` are ignored. Returns {ID: reason}.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line names no ID in ``known`` (``what`` names the kind: "case", "vector").
    """
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file of {what} IDs") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        case_id, _, reason = line.partition(" ")
        case_id = case_id.split("#", 1)[0]
        if case_id not in known:
            raise ValueError(f"{path}:{number}: no {what} {case_id!r}")
        out[case_id] = reason.strip().lstrip("#").strip()
    return out
