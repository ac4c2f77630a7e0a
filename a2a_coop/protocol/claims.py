"""Commit-reveal for values an agent keeps private until an audit (SPEC.md BDY-007).

An offer may assert a reservation value, a need or a holding *blind*: it signs
``commitment = SHA-256("a2a-coop/v1/commitment" 0x00 || salt || uint64_be(amount))``
and later signs a Reveal with the salt and amount. The salt is 32 random bytes
because amounts are low-entropy: without it, anyone could hash every plausible
amount and read the claim (the same reason DESIGN.md asks for >= 128 bits).
"""

from __future__ import annotations

import hashlib
from typing import Final

from a2a_coop.protocol.errors import BodyInvalid, CommitmentMismatch

COMMITMENT_DOMAIN: Final = b"a2a-coop/v1/commitment\x00"
SALT_BYTES: Final = 32


def commit(amount: int, salt: bytes) -> bytes:
    """The 32-byte commitment to ``amount`` under ``salt`` (drawn by the caller)."""
    if len(salt) != SALT_BYTES:
        raise BodyInvalid("salt must be 32 bytes", requirement="BDY-007")
    if not 0 <= amount < 2**64:
        raise BodyInvalid("amount must fit in uint64", requirement="BDY-007")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + amount.to_bytes(8, "big")).digest()


def check_opening(commitment: bytes, amount: int, salt: bytes) -> None:
    """Raise CommitmentMismatch unless (amount, salt) opens ``commitment``."""
    if commit(amount, salt) != commitment:
        raise CommitmentMismatch(requirement="BDY-007")
