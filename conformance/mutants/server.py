"""One mutant (or the unmutated reference peer) as a gRPC server in this process.

``python -m conformance.mutants serve NAME`` runs :func:`serve_until_stopped`: it injects the mutant's
fault, builds the reference peer (:class:`~a2a_coop.runtime.node.PeerNode` on a journal, honest
strategy, no escrow, the same as ``a2a-coop serve``) around it, and prints ``listening on HOST:PORT
as DID`` like ``a2a-coop serve`` does, so that the same harnesses read either. The identity (agent
key, principal key, mandate) lives in the state directory and is reused when the server restarts.
"""

from __future__ import annotations

import signal
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final, TextIO

from a2a_coop.protocol.identity import Keypair
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, read_key_file, write_key_file
from a2a_coop.runtime.node import DAY_MS, PeerNode, read_envelope_file, sign_mandate, write_envelope_file
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.transport import CooperationHandler, serve
from conformance.mutants import faults
from conformance.mutants.catalog import BY_NAME, REFERENCE, Mutant

MAX_INT: Final = 2**53 - 1
# The target's own mandate lets it take any fair trade a suite proposes: its caps are not under test.
TARGET_CAPS: Final[dict[str, Any]] = {
    "max_per_deal": MAX_INT,
    "budget_per_period": MAX_INT,
    "period_ms": 30 * DAY_MS,
    "max_outstanding": MAX_INT,
    "currency": "credit",
}


def provision(state_dir: Path) -> tuple[Keypair, bytes]:
    """The target's agent key and the mandate its principal signed for it, created on first use."""
    key_path, mandate_path = state_dir / "agent.key", state_dir / "mandate.json"
    if key_path.exists() and mandate_path.exists():
        return read_key_file(key_path), read_envelope_file(mandate_path)
    key, principal = generate_keypair(), generate_keypair()
    write_key_file(key_path, key)
    write_key_file(state_dir / "principal.key", principal)
    now = wall_clock_ms()
    with Journal.open(state_dir / "principal.db") as journal:
        vs = sign_mandate(principal, journal, key.did, now_ms=now - DAY_MS, days=366, **TARGET_CAPS)
    write_envelope_file(mandate_path, vs.envelope)
    return key, vs.envelope


def build(mutant: Mutant | None, state_dir: Path, stack: ExitStack) -> tuple[CooperationHandler, list[Any]]:
    """The handler and interceptors of ``mutant`` (None: the reference peer) over ``state_dir``."""
    key, mandate = provision(state_dir)  # the principal's part, outside the agent under test
    if mutant is not None and mutant.install is not None:
        mutant.install()  # before the peer verifies or signs anything: the fault holds process-wide
    journal = Journal.open(state_dir / "peer.db")
    stack.callback(journal.close)
    peer_class = mutant.peer_class if mutant is not None else Peer
    if mutant is not None and mutant.verifier_class is not None:
        peer_class = type(peer_class.__name__, (peer_class,), {"verifier_class": mutant.verifier_class})
    peer_journal: Any = faults.AnswersForgotten(journal) if mutant and mutant.forget_answers else journal
    peer = peer_class(key, mandate, journal=peer_journal)
    node = PeerNode(peer, journal)
    stack.callback(node.close)
    handler: CooperationHandler = node
    if mutant is not None and mutant.rewrite is not None:
        handler = faults.RejectionRewritten(node, mutant.rewrite)
    interceptors = [mutant.interceptor()] if mutant is not None and mutant.interceptor is not None else []
    return handler, interceptors


def serve_until_stopped(name: str, host: str, port: int, state_dir: Path | None, out: TextIO) -> None:
    """Serve mutant ``name`` (or ``reference``) until SIGINT or SIGTERM.

    Raises:
        KeyError: no mutant of that name.
        RuntimeError: the address cannot be bound.
    """
    mutant = None if name == REFERENCE else BY_NAME[name]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    with ExitStack() as stack:
        if state_dir is None:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mutant-{name}-")))
        state_dir.mkdir(parents=True, exist_ok=True)
        handler, interceptors = build(mutant, state_dir, stack)
        server = serve(handler, None, host=host, port=port, interceptors=interceptors)
        stack.callback(server.stop, 1.0)
        did = read_key_file(state_dir / "agent.key").did
        out.write(f"listening on {server.target} as {did}\n")
        out.flush()
        while not stop.wait(0.5):
            pass
