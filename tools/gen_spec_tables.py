"""Fill SPEC.md's generated sections from the code, or check that they match.

SPEC.md marks generated content with

    <!-- BEGIN GENERATED: NAME -->
    ...
    <!-- END GENERATED: NAME -->

* ``negotiation-table``: the state machine, from a2a_coop.protocol.negotiation.TRANSITIONS
  (a transition table and a Mermaid diagram drawn from the same table);
* ``error-table``: the error registry, from a2a_coop.protocol.errors.

    python tools/gen_spec_tables.py          # rewrite SPEC.md in place
    python tools/gen_spec_tables.py --check  # exit 1 if SPEC.md is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from a2a_coop.protocol import errors
from a2a_coop.protocol.negotiation import INITIAL_STATE, TERMINAL_STATES, TRANSITIONS, Event

SPEC = Path(__file__).resolve().parent.parent / "SPEC.md"

EVENT_SOURCE = {
    Event.OFFER: "Offer (opens the negotiation)",
    Event.COUNTER: "Counter",
    Event.ACCEPT: "Accept",
    Event.REJECT: "Reject",
    Event.WITHDRAW: "Withdraw",
    Event.EXPIRE: "a statement issued after the outstanding offer's `expires_at_ms` (or a runtime's clock)",
    Event.BOND_LOCK: "BondLock that leaves a required bond unlocked or settled",
    Event.BOND_COMPLETE: "BondLock that locks the last required bond, none settled",
    Event.DELIVERY: "Delivery",
    Event.RECEIPT: "Receipt that leaves an obligation unreceipted",
    Event.RECEIPT_COMPLETE: "Receipt for the last unreceipted obligation of both sides together",
    Event.BREACH_CLAIM: "BreachClaim, once stamped by the escrow",
    Event.REVOKE: "Revoke, once stamped by the escrow",
    Event.UPHOLD: "Ruling UPHOLD",
    Event.DISMISS: "Ruling DISMISS, no claim pending, an obligation unreceipted",
    Event.DISMISS_PENDING: "Ruling DISMISS while another claim is pending",
    Event.DISMISS_COMPLETE: "Ruling DISMISS, no claim pending, every obligation receipted",
    Event.LAPSE: "Ruling LAPSE",
    Event.RELEASE: "Release",
    Event.FORFEIT: "Forfeit",
    Event.REFUND: "Refund",
}


def negotiation_table() -> str:
    lines = [
        "| From | Event | Caused by | To |",
        "|---|---|---|---|",
        f"| *(none)* | `OFFER` | {EVENT_SOURCE[Event.OFFER]} | `{INITIAL_STATE.value}` |",
    ]
    for state, row in TRANSITIONS.items():
        for event, nxt in row.items():
            lines.append(f"| `{state.value}` | `{event.value}` | {EVENT_SOURCE[event]} | `{nxt.value}` |")
        if not row:
            lines.append(
                f"| `{state.value}` | *(none)* | terminal: every statement is ILLEGAL_TRANSITION | |"
            )
    ended = ", ".join(f"`{s.value}`" for s in TRANSITIONS if s in TERMINAL_STATES)
    lines += [
        "",
        f"Ended states (the contract has an outcome): {ended}. The diagram leaves out the rows that keep",
        "the state.",
        "",
        "```mermaid",
        "stateDiagram-v2",
        f"    [*] --> {INITIAL_STATE.value}: OFFER",
    ]
    for state, row in TRANSITIONS.items():
        by_target: dict[str, list[str]] = {}
        for event, nxt in row.items():
            if nxt is not state:
                by_target.setdefault(nxt.value, []).append(event.value)
        for nxt, evs in by_target.items():
            lines.append(f"    {state.value} --> {nxt}: {' / '.join(evs)}")
    lines += [f"    {s.value} --> [*]" for s in TRANSITIONS if s in TERMINAL_STATES]
    lines.append("```")
    return "\n".join(lines)


def error_table() -> str:
    lines = ["| Code | gRPC status | Category | Meaning |", "|---|---|---|---|"]
    for code, cls in errors.registry().items():
        category = cls.__mro__[1].__name__.removesuffix("Error").lower()
        lines.append(f"| `{code}` | `{cls.grpc_status}` | {category} | {cls.summary} |")
    return "\n".join(lines)


GENERATORS: dict[str, Callable[[], str]] = {
    "negotiation-table": negotiation_table,
    "error-table": error_table,
}


def render(text: str) -> str:
    for name, make in GENERATORS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED: {name} -->\n).*?(<!-- END GENERATED: {name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"SPEC.md lacks the markers for {name}")
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    ns = parser.parse_args()
    text = SPEC.read_text()
    new = render(text)
    if ns.check:
        if new != text:
            print("SPEC.md generated tables are stale: run python tools/gen_spec_tables.py", file=sys.stderr)
            return 1
        print("SPEC.md generated tables are current")
        return 0
    SPEC.write_text(new)
    print("SPEC.md generated tables updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
