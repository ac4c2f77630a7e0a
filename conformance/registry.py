"""The requirement registry: every requirement SPEC.md states, with its level and section.

SPEC.md states each requirement as one list item that starts with its bold ID
and level::

    - **ENV-004** (MUST) An envelope MUST carry exactly one signature ...

A long requirement goes on in sub-items indented under that line (section 0.3 of
SPEC.md): lettered sub-rules ``(a)``, ``(b)``, ..., definitions and notes, which
belong to its text, and ``Reference:``, ``Left open:`` and ``Why`` items (the
reference implementation's defaults, what the rule leaves open, the attacks
behind it), which are not normative and stay out of it.

This module reads those lines (outside fenced code blocks), notes the heading
each one sits under, and writes them sorted by ID to
``conformance/requirements.json``, so tests, vectors and reports can name
requirements without parsing prose. A test (tests/test_spec.py) fails when the
file and SPEC.md disagree.

Every requirement in the registry is normative: the conformance suite needs a
case for each MUST, and a run fails on it. So a requirement may not sit in a
section that SPEC.md marks Draft (in its status table, ``| 9.4 ... | Draft |``,
or in the heading): a Draft section's rules are either promoted (the marker
goes) or written as prose without IDs.

    python -m conformance.registry          # rewrite conformance/requirements.json
    python -m conformance.registry --check  # exit 1 if it does not match SPEC.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
SPEC_PATH: Final = ROOT / "SPEC.md"
REGISTRY_PATH: Final = Path(__file__).resolve().parent / "requirements.json"

REQUIREMENT_RE: Final = re.compile(r"^- \*\*([A-Z][A-Z0-9]{1,3}-\d{3})\*\* \((MUST|SHOULD|MAY)\) (.*)$")
HEADING_RE: Final = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE_RE: Final = re.compile(r"^\s*(```|~~~)")
DRAFT_ROW_RE: Final = re.compile(r"^\|\s*(\d+(?:\.\d+)*)\b[^|]*\|\s*\**Draft\**\s*\|")
SECTION_NUMBER_RE: Final = re.compile(r"^(\d+(?:\.\d+)*)\b")
LEVELS: Final = ("MUST", "SHOULD", "MAY")
SUBITEM_RE: Final = re.compile(r"^(\s+)- (.*)$")
# Sub-items that say what the reference does, what the rule leaves open, or why it is there: not normative.
INFORMATIVE_SUBITEM_RE: Final = re.compile(r"^(Reference:|Left open:|Why\b)")


@dataclass(frozen=True, order=True)
class Requirement:
    """One numbered requirement of SPEC.md.

    Attributes:
        id: e.g. ``"ENV-004"``.
        level: ``"MUST"``, ``"SHOULD"`` or ``"MAY"`` (MUST NOT counts as MUST, SHOULD NOT as SHOULD).
        section: the text of the nearest heading above the requirement.
        text: the requirement's text after the level, followed by its normative sub-items (one line).
    """

    id: str
    level: str
    section: str
    text: str


def parse(lines: Iterable[str]) -> list[Requirement]:
    """The requirements in SPEC.md text, sorted by ID.

    Raises:
        ValueError: an ID is stated twice, a requirement sits above every heading, or in a section
            marked Draft (see the module docstring).
    """
    lines = [raw.rstrip("\r\n") for raw in lines]
    drafts = _draft_sections(lines)
    found: dict[str, Requirement] = {}
    section = ""
    in_fence = False
    for number, line in enumerate(lines, 1):
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = HEADING_RE.match(line)
        if heading:
            section = heading.group(2)
            continue
        m = REQUIREMENT_RE.match(line)
        if m is None:
            continue
        rid, level, text = m.groups()
        if rid in found:
            raise ValueError(f"line {number}: {rid} is stated twice")
        if not section:
            raise ValueError(f"line {number}: {rid} sits above every heading")
        if _is_draft(section, drafts):
            raise ValueError(
                f"line {number}: {rid} sits in section {section!r}, marked Draft: a requirement ID is "
                "normative (the suite tests every MUST); drop the Draft marker or write it without an ID"
            )
        parts = [text.strip(), *_normative_subitems(lines, number)]
        found[rid] = Requirement(rid, level, section, " ".join(p for p in parts if p))
    return sorted(found.values())


def _normative_subitems(lines: Sequence[str], number: int) -> list[str]:
    """The texts of the sub-items indented under the requirement on line ``number`` (1-based), in
    order, but those under a ``Reference:``, ``Left open:`` or ``Why`` item (that item's own nested
    items included). The sub-items end at the first line that is not indented."""
    out: list[str] = []
    skip_deeper_than: int | None = None
    for line in lines[number:]:
        m = SUBITEM_RE.match(line)
        if m is None:
            if line[:1].isspace() and line.strip() and out and skip_deeper_than is None:
                out[-1] += " " + line.strip()  # a sub-item wrapped over several lines
                continue
            if line[:1].isspace() and line.strip():
                continue
            break
        depth, body = len(m.group(1)), m.group(2).strip()
        if skip_deeper_than is not None and depth > skip_deeper_than:
            continue
        skip_deeper_than = None
        if INFORMATIVE_SUBITEM_RE.match(body):
            skip_deeper_than = depth
            continue
        out.append(body)
    return out


def _draft_sections(lines: Sequence[str]) -> set[str]:
    """The section numbers a status table row marks Draft (``| 9.4 escrow ledger ... | Draft |``)."""
    return {m.group(1) for line in lines if (m := DRAFT_ROW_RE.match(line))}


def _is_draft(heading: str, drafts: set[str]) -> bool:
    if re.search(r"\bDraft\b", heading):
        return True
    m = SECTION_NUMBER_RE.match(heading)
    return m is not None and any(m.group(1) == d or m.group(1).startswith(d + ".") for d in drafts)


def load(spec: Path = SPEC_PATH) -> list[Requirement]:
    """Parse the requirements of a SPEC.md file."""
    return parse(spec.read_text(encoding="utf-8").splitlines())


def render(requirements: Sequence[Requirement]) -> str:
    """The registry file's exact text: a JSON list of {id, level, section, text}, sorted by ID."""
    return json.dumps([asdict(r) for r in sorted(requirements)], indent=2, ensure_ascii=False) + "\n"


def read_registry(path: Path = REGISTRY_PATH) -> list[Requirement]:
    """The requirements recorded in a registry file."""
    return [Requirement(**entry) for entry in json.loads(path.read_text(encoding="utf-8"))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.registry", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the registry file does not match SPEC.md"
    )
    parser.add_argument("--spec", type=Path, default=SPEC_PATH, help="SPEC.md to read")
    parser.add_argument("--out", type=Path, default=REGISTRY_PATH, help="registry file to write or check")
    ns = parser.parse_args(argv)
    try:
        requirements = load(ns.spec)
    except OSError as exc:
        print(f"cannot read {ns.spec}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{ns.spec}: {exc}", file=sys.stderr)
        return 2
    text = render(requirements)
    if ns.check:
        try:
            current = ns.out.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            print(f"{ns.out} is stale: run python -m conformance.registry", file=sys.stderr)
            return 1
        print(f"{ns.out} matches {ns.spec} ({len(requirements)} requirements)")
        return 0
    ns.out.write_text(text, encoding="utf-8")
    print(f"wrote {ns.out} ({len(requirements)} requirements)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
