"""What the transport calls: the peer runtime implements these (issue #4 module boundaries).

The server translates each RPC into one call on a handler and the handler's
answer (or its :class:`~a2a_coop.protocol.errors.CoopError`) back into the RPC's reply
(or a gRPC error, see :mod:`a2a_coop.transport.errors`). Handlers see envelope
bytes exactly as they crossed the wire and return envelope bytes exactly as
they were signed; they never see protobuf service messages or gRPC objects.

Handlers are called from the server's worker threads, several at once. A
handler whose state belongs to one thread (a trio peer) is wrapped with
:class:`a2a_coop.transport.trio_bridge.TrioHandlerBridge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from a2a_coop.protocol.forks import ForkProof


class CooperationHandler(Protocol):
    """Serves ``a2acoop.v1.CooperationService`` (SPEC.md section 13)."""

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        """Receive one statement; answer with our signed statements.

        Must be idempotent: the same envelope again gets the same answers (RPL-002),
        because clients retry after a timeout. Negotiate streams call this once per
        message, in order.

        Args:
            envelope: the statement's envelope bytes, at most 65536 (ENV-008, checked
                by the server before the call).
            context: envelopes the sender thinks we may lack, dependencies first.

        Returns:
            Envelope bytes of our answering statements, in the order signed.

        Raises:
            CoopError: the statement is rejected; the client receives the same code.
        """
        ...

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """A range of our own chain that the caller may see.

        Args:
            from_seq: first seq wanted.
            limit: most entries wanted, between 1 and the server's page size.

        Returns:
            (envelopes in ascending seq, seq of our chain head). The server may send
            fewer envelopes than returned to keep the response under its page size
            in bytes; the caller asks again from the next seq.
        """
        ...

    def get_checkpoint(self) -> bytes:
        """Envelope bytes of our latest Checkpoint statement."""
        ...

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        """One page of the attestations about ``subject`` (a did:key; "" for every one held), each as
        an evidence bundle, dependencies first: mandates, offer, Accept, the escrow's lock and
        settlement of the subject's bond, then the attestation (SPEC 10.4).

        Args:
            subject: whose attestations.
            limit: most bundles wanted, between 1 and the server's page size.
            page_token: "" for the first page, else a token this handler returned.
            max_bytes: the page's byte budget (the first bundle always goes).

        Returns:
            (bundles, the next page's token or "" after the last).

        Raises:
            TransportError: an unknown page token (INVALID_ARGUMENT).
        """
        ...

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        """Take the caller's Checkpoints (each after its Mandate) and fork proofs; answer with ours
        (SPEC 10.5). Best effort: what does not verify is skipped, never an error."""
        ...


class EscrowHandler(Protocol):
    """Serves ``a2acoop.v1.EscrowService`` (SPEC.md section 9.4)."""

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        """Take evidence (dependencies first); return the escrow's resulting statements.

        Raises:
            CoopError: the evidence is rejected.
        """
        ...

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """A range of the ledger: (envelopes in ascending seq, seq of the ledger head).
        Paged as :meth:`CooperationHandler.get_log`."""
        ...

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        """The transcript of ledger entries from ``from_seq`` (at most ``limit``): each entry, each Stamp
        followed by the evidence it names, from seq 0 after the opening (from its ``opening_from``-th
        envelope: what a successor took over, the Mandates); past the first entry, none that takes the
        envelopes over ``max_bytes``, and the opening in parts within it (ESC-006 (b)). Returns
        (envelopes, head seq, next seq to ask for, next ``opening_from`` -- 0 once the opening is read)."""
        ...

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        """A party's balance: (available, locked, currency, as_of_seq)."""
        ...
