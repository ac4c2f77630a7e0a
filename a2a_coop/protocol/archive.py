"""What a verifier forgot, read back from where it was recorded (bounded memory over a long life).

A long-lived peer accepts statements forever; its verifier need not hold them all. Once a
negotiation is finished for good, the peer may have its verifier *forget* it: its statements,
negotiation, replay-memory and witness entries leave memory. Everything it accepted is still in the
peer's journal, and an :class:`Archive` is how the verifier reads it back, sans-IO: the journal
implements it.

What the verifier reads from the archive, and when:

* a statement by digest (an attestation's contract, a reference): :class:`HeldStatements` looks in
  memory first and, on a miss, decodes and verifies the archived envelope again;
* replay memory (RPL-001, RPL-002): a digest or an (issuer, nonce) not in memory is looked up, so a
  replay of a forgotten statement is still REPLAYED and a reused nonce still NONCE_REUSED -- past the
  issuer's own KeyRevocations, which hold no nonce (KEY-013);
* chain links (CHN-003..CHN-005): a :class:`~a2a_coop.protocol.chain.ChainView` keeps the recent
  links of each issuer and looks older seqs up, so equivocation at a forgotten seq is still caught --
  passing over the issuer's own KeyRevocations, which the archive holds but which join no chain of a
  sparse view (KEY-013);
* a negotiation: a statement naming a forgotten negotiation brings it back, rebuilt from its
  statements in the order they were accepted;
* what a forgotten negotiation still counts for in an exposure (SPEC 4.5), where the archive is also an
  :class:`ExposureArchive`: an exposure keeps the records of its latest forgotten contracts and answered
  offers in memory and writes older ones there (:class:`~a2a_coop.protocol.mandate.Exposure`), reading
  them back only for a statement dated before one of them ends; and, in a book named with
  :data:`EVIDENCE_BOOK`, what only the archive's rows can hold -- statements it refused (ERR-003) that
  are evidence still (a key's refused answers, ATT-013 (c)).

Only what is already in the archive may be forgotten: the peer forgets a negotiation after the
journal's commit that holds its last statement (write-ahead).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final, Literal, Protocol, runtime_checkable

from a2a_coop.protocol.statements import VerifiedStatement, verify_statement

Nearest = Literal["at", "below", "above"]

# The names of books whose rows no replay of the archive's statements writes again -- evidence of statements
# the archive does not hold, refused (ERR-003) -- begin so: ``drop_forgotten`` leaves them, else a restart
# lost them for good.
EVIDENCE_BOOK: Final = b"evidence/"


@runtime_checkable
class Archive(Protocol):
    """Every statement a verifier accepted, durably (a2a_coop.runtime.journal.Journal implements it)."""

    def by_digest(self, digest: bytes) -> bytes | None:
        """The envelope of the statement with ``digest``, or None."""
        ...

    def by_nonce(self, issuer: str, nonce: bytes, *, skip: Collection[bytes] = ()) -> bytes | None:
        """The digest of ``issuer``'s statement whose header carries ``nonce``, or None; ``skip``: digests
        to pass over (a key's own KeyRevocations, which hold no nonce, KEY-013)."""
        ...

    def at_seq(
        self, issuer: str, seq: int, *, nearest: Nearest = "at", skip: Collection[bytes] = ()
    ) -> bytes | None:
        """The envelope of ``issuer``'s statement at ``seq`` (or the nearest below or above), or None;
        ``skip``: the digests of statements to pass over (a key's own KeyRevocations, which join no chain
        of a sparse view, KEY-013)."""
        ...

    def negotiation(self, negotiation_id: bytes, *, upto: int | None = None) -> list[bytes]:
        """The envelopes of a negotiation's statements in the order they were accepted (``upto``:
        only those recorded up to that position, where the archive has positions)."""
        ...


@runtime_checkable
class ExposureArchive(Protocol):
    """Where an exposure keeps the records of forgotten contracts and answered offers it no longer holds
    in memory (a2a_coop.runtime.journal.Journal implements it). A record is derived from statements the
    archive holds: one lost before it was written is rebuilt when they are replayed -- but for a book
    named with :data:`EVIDENCE_BOOK`, whose rows are the only record of what they hold."""

    def keep_forgotten(self, records: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> None:
        """Store ``(book, key, latest, record)`` rows durably before returning (each replaces any row of
        the same book and key); ``latest`` compares as bytes."""
        ...

    def forgotten_since(
        self, book: bytes, latest: bytes, *, until: bytes | None = None
    ) -> list[tuple[bytes, bytes]]:
        """``(key, record)`` of every row of ``book`` whose ``latest`` is at least ``latest`` (and at most
        ``until``: ``until=latest`` reads the rows filed under one value alone), read by an index."""
        ...

    def drop_forgotten(self, after: int) -> None:
        """Delete the rows written once the archive held statements past the position ``after`` (0: all),
        durably: memory restarting from what it held at ``after`` writes them again as it replays. Rows of
        a book named with :data:`EVIDENCE_BOOK` stay: no replay writes them again."""
        ...


class Replaying:
    """An archive while memory is rebuilt from it (a peer's journal, an escrow's): a forgotten negotiation
    comes back with the statements replayed so far only (``upto``, the position of the last one replayed,
    which the replay moves on), not the later ones. ``after``: where the replay started (what memory held
    before it)."""

    def __init__(self, archive: Archive, after: int = 0) -> None:
        self.archive = archive
        self.upto = after
        self.after = after

    def by_digest(self, digest: bytes) -> bytes | None:
        return self.archive.by_digest(digest)

    def by_nonce(self, issuer: str, nonce: bytes, *, skip: Collection[bytes] = ()) -> bytes | None:
        return self.archive.by_nonce(issuer, nonce, skip=skip)

    def at_seq(
        self, issuer: str, seq: int, *, nearest: Nearest = "at", skip: Collection[bytes] = ()
    ) -> bytes | None:
        return self.archive.at_seq(issuer, seq, nearest=nearest, skip=skip)

    def negotiation(self, negotiation_id: bytes, *, upto: int | None = None) -> list[bytes]:
        return self.archive.negotiation(negotiation_id, upto=self.upto)


class ReplayingExposure(Replaying):
    """A :class:`Replaying` over an archive that keeps exposures' forgotten records too."""

    archive: ExposureArchive  # type: ignore[assignment]

    def keep_forgotten(self, records: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> None:
        self.archive.keep_forgotten(records)

    def forgotten_since(
        self, book: bytes, latest: bytes, *, until: bytes | None = None
    ) -> list[tuple[bytes, bytes]]:
        return self.archive.forgotten_since(book, latest, until=until)

    def drop_forgotten(self, after: int) -> None:
        self.archive.drop_forgotten(after)


class HeldStatements(dict[bytes, VerifiedStatement]):
    """The verifier's statements by digest: those in memory, and with an archive, those it forgot.

    ``in``, ``get`` and ``[]`` see both; iteration, ``len`` and the views see memory only.
    """

    archive: Archive | None = None

    def __missing__(self, digest: bytes) -> VerifiedStatement:
        archive = self.archive
        envelope = archive.by_digest(digest) if archive is not None else None
        if envelope is None:
            raise KeyError(digest)
        return verify_statement(envelope)

    def __contains__(self, digest: object) -> bool:
        if dict.__contains__(self, digest):
            return True
        archive = self.archive
        return archive is not None and isinstance(digest, bytes) and archive.by_digest(digest) is not None

    def get(self, digest: bytes, default: VerifiedStatement | None = None) -> VerifiedStatement | None:  # type: ignore[override]
        vs = dict.get(self, digest)
        if vs is not None or self.archive is None:  # memory answers (the hot path): no exception raised
            return vs if vs is not None else default
        try:
            return self.__missing__(digest)
        except KeyError:
            return default
