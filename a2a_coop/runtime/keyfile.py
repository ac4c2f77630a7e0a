"""Key files: an Ed25519 seed on disk, readable by its owner only (SPEC.md KEY-006).

This is an adapter: it draws randomness and touches the file system, which the
core never does. A key file is JSON::

    {"type": "a2a-coop/ed25519-seed", "did": "did:key:z6Mk...", "seed": "<base64 of 32 bytes>"}

``did`` is redundant (it follows from the seed) and is checked on reading, so a
file edited by hand or truncated is refused rather than silently yielding
another identity.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any, Final

from a2a_coop.protocol.identity import SEED_BYTES, Keypair

KEY_FILE_TYPE: Final = "a2a-coop/ed25519-seed"
KEY_FILE_MODE: Final = 0o600


class KeyFileError(ValueError):
    """A key file is missing fields, malformed, or does not match its did."""


def generate_keypair() -> Keypair:
    """A new key from the operating system's CSPRNG (KEY-006)."""
    return Keypair.from_seed(os.urandom(SEED_BYTES))


def key_file_document(key: Keypair) -> dict[str, str]:
    """The JSON object stored for ``key``."""
    return {"type": KEY_FILE_TYPE, "did": key.did, "seed": base64.b64encode(key.seed).decode()}


def parse_key_file(doc: Any) -> Keypair:
    """The key in a decoded key file. Raises KeyFileError."""
    if not isinstance(doc, dict) or doc.get("type") != KEY_FILE_TYPE:
        raise KeyFileError(f"not an a2a-coop key file (type must be {KEY_FILE_TYPE!r})")
    try:
        seed = base64.b64decode(doc["seed"], validate=True)
    except KeyError:
        raise KeyFileError("no seed in it") from None
    except (TypeError, binascii.Error):
        raise KeyFileError(f"its seed is not base64 (of the {SEED_BYTES}-byte secret seed)") from None
    if len(seed) != SEED_BYTES:
        raise KeyFileError(f"seed must be {SEED_BYTES} bytes, got {len(seed)}")
    key = Keypair.from_seed(seed)
    if doc.get("did") != key.did:
        raise KeyFileError("the did in the key file does not match its seed")
    return key


def write_key_file(path: Path, key: Keypair) -> None:
    """Create ``path`` with mode 0600 holding ``key``.

    Raises:
        FileExistsError: ``path`` exists (a key file is never overwritten).
        OSError: the file cannot be created.
    """
    text = json.dumps(key_file_document(key), indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # the umask may have narrowed it; never widened
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read_key_file(path: Path) -> Keypair:
    """Load the key stored at ``path``. Raises OSError, KeyFileError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{path}: not JSON: {exc}") from None
    return parse_key_file(doc)
