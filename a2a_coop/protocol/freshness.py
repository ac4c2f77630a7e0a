"""Time windows and replay protection for live receipt (SPEC.md TIM-*, RPL-*).

These checks apply when a statement *arrives*; evidence verified later, offline,
is checked against an explicit reference time or not at all (TIM-005), since
every contract's statements expire long before anyone audits them.
The clock is an argument: nothing here reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

from a2a_coop.protocol.errors import (
    Expired,
    HeaderInvalid,
    IssuedInFuture,
    NonceReused,
    NotYetValid,
    Replayed,
)

if TYPE_CHECKING:
    from a2a_coop.protocol.archive import Archive

DEFAULT_SKEW_MS: Final = 30_000
MAX_SKEW_MS: Final = 300_000


class HeaderFields(Protocol):
    """The header fields these checks read: a ``Header``, or a VerifiedStatement, which keeps them
    read once (each read of a protobuf field makes a new object; a verifier reads these per statement)."""

    @property
    def issuer(self) -> str: ...
    @property
    def nonce(self) -> bytes: ...
    @property
    def issued_at_ms(self) -> int: ...
    @property
    def not_before_ms(self) -> int: ...
    @property
    def expires_at_ms(self) -> int: ...


def check_time_window(header: HeaderFields, now_ms: int, skew_ms: int = DEFAULT_SKEW_MS) -> None:
    """Raise unless ``now_ms`` is inside the statement's validity window, give or take skew.

    Boundaries (TIM-001): a statement is still valid at exactly
    ``expires_at_ms + skew_ms`` and expired one millisecond later.
    """
    if not 0 <= skew_ms <= MAX_SKEW_MS:
        raise ValueError(f"skew must be within 0..{MAX_SKEW_MS} ms (TIM-004)")
    issued, not_before, expires = header.issued_at_ms, header.not_before_ms, header.expires_at_ms
    if issued > now_ms + skew_ms:
        raise IssuedInFuture(f"issued {issued - now_ms} ms ahead of our clock", requirement="TIM-003")
    if not_before and not_before > now_ms + skew_ms:
        raise NotYetValid(f"valid from {not_before}, now {now_ms}", requirement="TIM-002")
    if now_ms > expires + skew_ms:
        raise Expired(f"expired at {expires}, now {now_ms}", requirement="TIM-001")


class ReplayCache:
    """Remembers accepted statements, at least until they could no longer pass the time window (RPL-001).

    ``check`` raises REPLAYED for a digest seen before and NONCE_REUSED for a
    seen (issuer, nonce) with a different digest; ``add`` records an accepted
    statement. Entries leave memory only with the statement (``forget``, once an archive holds it, where
    they are looked up): a verifier without an archive holds every statement it accepted, so dropping
    their entries alone at ``expires_at_ms + skew`` would save little and cost a queue entry each.
    """

    def __init__(self) -> None:
        # With an archive (see a2a_coop.protocol.archive), what is not in memory is looked up there,
        # so entries may be forgotten before their expiry.
        self.archive: Archive | None = None
        self._digests: set[bytes] = set()
        self._nonces: dict[tuple[str, bytes], bytes] = {}
        # KEY-013: per issuer, its own KeyRevocations taken (holding no nonce): the archive holds their
        # nonces, and is asked past them.
        self._outside: dict[str, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, header: HeaderFields, digest: bytes) -> None:
        if digest in self._digests:
            raise Replayed(requirement="RPL-002")
        issuer, nonce = header.issuer, header.nonce
        if len(nonce) != 16:  # pragma: no cover - verify_statement enforces STM-007 first
            raise HeaderInvalid("nonce", requirement="STM-007")
        seen = self._nonces.get((issuer, nonce))
        archive = self.archive
        if seen is None and archive is not None:
            # One read answers both: a statement with this digest has this issuer and nonce.
            seen = self.archived(archive, issuer, nonce)
            if seen == digest:
                raise Replayed(requirement="RPL-002")
        if seen is not None and seen != digest:
            raise NonceReused(requirement="RPL-001")

    def archived(self, archive: Archive, issuer: str, nonce: bytes) -> bytes | None:
        """The digest of ``issuer``'s statement holding ``nonce`` in ``archive``, past the issuer's own
        KeyRevocations taken (KEY-013: they hold no nonce); an escrow asks it for a forgotten Accept's
        nonce too (ESC-015)."""
        skip = self._outside.get(issuer)
        return archive.by_nonce(issuer, nonce, skip=skip) if skip else archive.by_nonce(issuer, nonce)

    def holder(self, header: HeaderFields, *, held: bool = False) -> bytes | None:
        """The digest of the statement remembered with ``header``'s (issuer, nonce), in memory or in the
        archive: the one that holds the nonce (RPL-001), or with ``held`` any statement the archive holds
        with it (a key's own KeyRevocation too, KEY-013: whether a statement was taken)."""
        issuer, nonce = header.issuer, header.nonce
        seen = self._nonces.get((issuer, nonce))
        archive = self.archive
        if seen is None and archive is not None:
            seen = archive.by_nonce(issuer, nonce) if held else self.archived(archive, issuer, nonce)
        return seen

    def add(self, header: HeaderFields, digest: bytes) -> None:
        self._digests.add(digest)
        self._nonces[(header.issuer, header.nonce)] = digest

    def add_digest(self, header: HeaderFields, digest: bytes) -> None:
        """Record an accepted statement by its digest alone (RPL-002), holding no nonce: a key's own
        KeyRevocation (KEY-013), which a thief may sign with any nonce the key used; the archive, which
        holds its nonce, is asked past it."""
        self._digests.add(digest)
        self._outside.setdefault(header.issuer, set()).add(digest)

    def forget(self, header: HeaderFields, digest: bytes) -> None:
        """Drop one entry from memory (only with an archive that holds the statement)."""
        self._digests.discard(digest)
        if self._nonces.get((header.issuer, header.nonce)) == digest:
            del self._nonces[(header.issuer, header.nonce)]
