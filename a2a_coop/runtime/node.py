"""Processes: a peer or an escrow built from files and served over gRPC.

This module glues the sans-IO core to the outside world (files, the wall
clock, the OS's randomness, SQLite, gRPC). It is what ``a2a-coop serve``,
``a2a-coop escrow serve`` and ``a2a-coop offer`` run, and what a framework
author copies to host a :class:`~a2a_coop.runtime.peer.Peer` in their own process.

* :class:`PeerNode` implements :class:`~a2a_coop.transport.CooperationHandler`
  for a :class:`~a2a_coop.runtime.peer.Peer` with a journal.
* :class:`EscrowNode` implements :class:`~a2a_coop.transport.EscrowHandler` for
  an :class:`~a2a_coop.protocol.escrow.Escrow`, journaling its evidence and its ledger
  before any answer leaves the process, and ticking its clock-driven rules.

The initiator's side of a trade is :mod:`a2a_coop.runtime.trade`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.envelope import decode_envelope, envelope_from_json, envelope_to_json
from a2a_coop.protocol.errors import MalformedEnvelope
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import (
    VerifiedStatement,
    decode_statement,
    new_statement,
    sign_candidate,
    verify_statement,
)
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.strategy import Strategy

DAY_MS = 86_400_000


# --- files ---------------------------------------------------------------------------------


def read_envelope_file(path: Path) -> bytes:
    """One envelope from a DSSE JSON file or a binary protobuf file. Raises OSError, MalformedEnvelope."""
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise MalformedEnvelope(f"{path}: not JSON: {exc}") from None
        return envelope_from_json(doc)
    return data


def write_envelope_file(path: Path, envelope: bytes) -> None:
    path.write_text(json.dumps(envelope_to_json(envelope), indent=2) + "\n")


class KeySigner:
    """A production chain signer: a key, its chain head, the wall clock and OS randomness.

    Implements :class:`~a2a_coop.protocol.escrow.EscrowSigner`. Statements are checked
    (header and body rules) before signing; the caller journals them before
    they leave the process (write-ahead).
    """

    def __init__(
        self,
        key: Keypair,
        *,
        head: tuple[int, bytes] = (0, b""),
        clock: Callable[[], int] = wall_clock_ms,
        nonce: Callable[[], bytes] = lambda: os.urandom(16),
    ) -> None:
        self.key = key
        self.writer = ChainWriter(key, next_seq=head[0], prev=head[1])
        self.clock = clock
        self.nonce = nonce

    @property
    def did(self) -> str:
        return self.key.did

    def sign(
        self,
        body: str,
        message: Any,
        *,
        audience: str = "",
        negotiation_id: bytes = b"",
        mandate: bytes = b"",
        issued_at_ms: int | None = None,
        ttl_ms: int = 365 * DAY_MS,
        refs: Sequence[bytes] = (),
    ) -> VerifiedStatement:
        when = self.clock() if issued_at_ms is None else issued_at_ms
        stmt = new_statement(
            body,
            message,
            issued_at_ms=when,
            ttl_ms=ttl_ms,
            audience=audience,
            negotiation_id=negotiation_id,
            mandate=mandate,
            refs=refs,
        )
        vs = sign_candidate(self.writer.stamp(stmt, nonce=self.nonce()), self.key)
        self.writer.advance(vs)
        return vs


def sign_mandate(
    principal: Keypair, journal: Journal, agent: str, *, now_ms: int, days: int = 30, **caps: Any
) -> VerifiedStatement:
    """The principal signs a Mandate for ``agent``; its chain lives in ``journal`` (no reused seq)."""
    fields: dict[str, Any] = {
        "agent": agent,
        "valid_from_ms": now_ms,
        "valid_until_ms": now_ms + days * DAY_MS,
        "currency": "credit",
    }
    fields.update(caps)
    signer = KeySigner(principal, head=journal.chain_head(principal.did))
    vs = signer.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=days * DAY_MS, issued_at_ms=now_ms)
    journal.record_outgoing(vs, at_ms=now_ms)
    return vs


# --- a serving peer ------------------------------------------------------------------------


class PeerNode:
    """A :class:`Peer` with a journal, as a CooperationHandler."""

    def __init__(self, peer: Peer, journal: Journal) -> None:
        self.peer = peer
        self.journal = journal

    @classmethod
    def open(
        cls,
        key: Keypair,
        mandate: bytes,
        journal_path: Path,
        *,
        strategy: Strategy | None = None,
        context: Sequence[bytes] = (),
        clock: Callable[[], int] = wall_clock_ms,
    ) -> PeerNode:
        journal = Journal.open(journal_path)
        peer = Peer(key, mandate, strategy=strategy, journal=journal, context=context, clock=clock)
        return cls(peer, journal)

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        return self.peer.exchange(envelope, context)

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """Our public statements in the range (statements to a counterparty stay private)."""
        with self.peer.lock:
            head = self.peer.writer.next_seq - 1
            out = []
            for env in self.journal.log_range(self.peer.did, from_seq, limit):
                # Our own statements, verified when signed: decoding is enough to read the audience.
                if not decode_statement(decode_envelope(env).payload).header.audience:
                    out.append(env)
            return out, max(head, 0)

    def get_checkpoint(self) -> bytes:
        """Sign a Checkpoint over our chain so far (CHN-007)."""
        with self.peer.lock:
            # Our own chain view holds every statement we signed, seq by seq: its running root is the
            # log_root, O(log n), with no re-reading (None until we sign our first statement).
            view = self.peer.verifier.chains.get(self.peer.did)
            held, root = view.prefix_root() if view else (0, b"")
            if held != self.peer.writer.next_seq:  # pragma: no cover - the guard records all we sign
                raise RuntimeError(
                    f"our chain view holds {held} statements, we signed {self.peer.writer.next_seq}"
                )
            vs = self.peer.sign("checkpoint", identity_pb2.Checkpoint(log_root=root), ttl_ms=DAY_MS)
            return vs.envelope

    def get_attestations(self, subject: str) -> list[list[bytes]]:
        """Attestations about ``subject`` we hold, each with the contract it rests on (ATT-001)."""
        with self.peer.lock:
            held = self.peer.verifier.statements
            bundles = []
            for vs in list(held.values()):
                if vs.body != "attestation" or vs.statement.attestation.subject != subject:
                    continue
                a = vs.statement.attestation
                parts = [held[a.offer], held[a.accept], vs]
                mandates = [held[p.header.mandate] for p in parts if p.header.mandate in held]
                unique = {m.digest: m.envelope for m in mandates}
                bundles.append([*unique.values(), *(p.envelope for p in parts)])
            return bundles

    def close(self) -> None:
        self.journal.close()


# --- a serving escrow ----------------------------------------------------------------------


class EscrowNode:
    """An :class:`Escrow` with a journal, as an EscrowHandler; ``start_ticking`` runs its clock rules."""

    def __init__(
        self,
        key: Keypair,
        mandate: bytes,
        journal_path: Path,
        *,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.clock = clock
        self.journal = Journal.open(journal_path)
        self.mandate = mandate
        self.lock = threading.Lock()
        mandate_vs = verify_statement(mandate)
        history = [env for _, _, env in self.journal.statements() if env != mandate]
        self.signer = KeySigner(key, head=self.journal.chain_head(key.did), clock=clock)
        self.escrow = Escrow(self.signer, mandate_vs.digest, setup=[mandate, *history])
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _persist(self) -> None:
        """Journal what the escrow took since the last call -- its Stamps, the evidence they name and
        its decisions, in transcript order -- in one transaction, before any answer leaves."""
        taken = self.escrow.drain_unsaved()
        if taken:
            items = [(None, [vs], False) if vs.issuer == self.escrow.did else (vs, [], False) for vs in taken]
            self.journal.record_batch(items, at_ms=self.clock())

    def deposit(self, party: str, amount: int, reference: str = "demo funding") -> VerifiedStatement:
        with self.lock:
            try:
                return self.escrow.deposit(party, amount, self.escrow.currency, reference, self.clock())
            finally:
                self._persist()

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        """Take evidence; answer with our mandate (so callers can verify) and our new statements."""
        with self.lock:
            try:
                signed = self.escrow.submit(envelopes, self.clock())
            finally:
                # Evidence accepted before a refusal stays accepted (and stamped): journal it either way,
                # with what we signed, before any answer leaves (write-ahead).
                self._persist()
            return [self.mandate, *(vs.envelope for vs in signed)]

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        with self.lock:
            return self.escrow.ledger(from_seq, limit), max(self.escrow.ledger_size - 1, 0)

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        with self.lock:
            available, locked = self.escrow.balance(party)
            return available, locked, self.escrow.currency, max(self.escrow.ledger_size - 1, 0)

    def tick(self) -> list[VerifiedStatement]:
        with self.lock:
            try:
                return self.escrow.tick(self.clock())
            finally:
                self._persist()

    def start_ticking(self, every_s: float = 0.5) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(every_s):
                self.tick()

        thread = threading.Thread(target=loop, name="escrow-tick", daemon=True)
        thread.start()
        self._ticker = thread
        return thread

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()  # a tick under way finishes before the journal closes
        with self.lock:
            self.journal.close()
