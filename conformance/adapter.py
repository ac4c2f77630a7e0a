"""The reference offline adapter: this library behind the suite's stdin/stdout protocol (SPEC 17.1).

    python -m conformance.adapter                      # the reference verifier
    python -m conformance.adapter --skip signature     # a "lazy" verifier with one check left out
    python -m conformance.offline --adapter "python -m conformance.adapter"

The suite (:mod:`conformance.offline`) starts an adapter as a subprocess and talks newline-delimited
JSON with it: one ``hello`` each way, then one ``verify`` request per vector, each answered by one
``result`` line, until ``bye`` or end of input. This adapter is what an implementer writes for their
own library, in any language: read a line, decode the base64 envelopes, feed them in order to one fresh
verifier in the requested chain mode and role at ``now_ms`` (no freshness when null), answer with the first
rejection's SPEC code and index. Everything it prints on stdout is protocol; diagnostics go to stderr.

``--skip CHECK`` runs the same verifier with exactly one check left out (:mod:`conformance.lazy`):
the suite's self-test shows that the vectors catch every such verifier.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from a2a_coop import __version__
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.reputation import faulty_of
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.vectors import ROLES, escrow_refusal
from conformance import lazy
from conformance.offline import MODES, PROTOCOL


def verify(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one ``verify`` request: the first rejection's code and index, or valid."""
    answer: dict[str, Any] = {"type": "result", "id": request.get("id")}
    try:
        mode, now_ms, skew_ms = request["mode"], request["now_ms"], request.get("skew_ms", 30_000)
        envelopes = [base64.b64decode(e, validate=True) for e in request["envelopes"]]
        role = request.get("role", "auditor")
        if role not in ROLES:
            raise ValueError(f"role {role!r:.20} is none of {ROLES}")
        # a view that keeps every fork and answer proof it is shown, for SPEC 17.1's faulty (F125)
        verifier = EvidenceVerifier(
            complete_chains=mode == "complete", skew_ms=skew_ms, evidence_view=role == "auditor"
        )
        trusted = request.get("trusted_escrows")  # ATT-013 (d); absent: every escrow
        if trusted is not None and not (
            isinstance(trusted, list) and all(isinstance(k, str) for k in trusted)
        ):
            raise ValueError("trusted_escrows is a list of did:key strings")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        return {**answer, "result": "unsupported", "detail": f"bad request: {exc}"}

    def faulty() -> dict[str, Any]:
        """SPEC 17.1's ``faulty``: the keys and principals the fork and answer proofs the view holds when it
        stopped convict (ATT-013), reading "witnessed before" from the Stamps of the ``trusted`` escrows
        alone (absent: every escrow's) -- every proof it was shown, as ``a2a-coop verify`` reads a
        transcript: a refusal's, and two answers of one key to one statement both taken (ATT-022), which no
        refusal carries (F125: this adapter read the last refusal's proof alone)."""
        if request.get("report_faulty") is not True:
            return {}
        return {"faulty": sorted(faulty_of(verifier, verifier.forks, trusted))}

    for i, data in enumerate(envelopes):
        try:
            vs = verifier.accept(data, now_ms)
            refusal = escrow_refusal(verifier, vs) if role == "escrow" else None
            if refusal is not None:
                raise refusal
        except CoopError as exc:
            return {
                **answer,
                "result": "invalid",
                "error": exc.code,
                "failedIndex": i,
                "requirement": exc.requirement,
                "detail": exc.detail,
                **faulty(),
            }
    return {**answer, "result": "valid", **faulty()}


def hello(skip: str | None) -> dict[str, Any]:
    name = "a2a-coop-python" if skip is None else f"a2a-coop-python-lazy-{skip}"
    return {
        "type": "hello",
        "protocol": PROTOCOL,
        "name": name,
        "version": __version__,
        "capabilities": {
            "modes": list(MODES),
            "freshness": True,
            "topics": "*",
            "roles": list(ROLES),
            "faulty": True,
        },
    }


def serve(stdin: IO[str], stdout: IO[str], skip: str | None = None) -> int:
    """Answer the suite until ``bye`` or end of input. Returns the exit status."""

    def send(obj: dict[str, Any]) -> None:
        stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        stdout.flush()

    with lazy.skipping(skip):
        for line in stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                print(f"adapter: not JSON: {line[:80]!r}", file=sys.stderr)
                return 2
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "hello":
                send(hello(skip))
            elif kind == "verify":
                send(verify(message))
            elif kind == "bye":
                return 0
            else:
                send(
                    {
                        "type": "result",
                        "id": message.get("id") if isinstance(message, dict) else None,
                        "result": "unsupported",
                        "detail": f"unknown message type {kind!r}",
                    }
                )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.adapter", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--skip",
        choices=sorted(lazy.CHECKS),
        help="leave exactly one verification check out (a lazy verifier, for the suite's self-test)",
    )
    args = parser.parse_args(argv)
    return serve(sys.stdin, sys.stdout, args.skip)


if __name__ == "__main__":
    sys.exit(main())
