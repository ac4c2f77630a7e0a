"""An escrow's snapshot: its whole memory at one point of its journal, so a restart replays only the rest.

An escrow restarts from its journal (a2a_coop.runtime.node.EscrowNode). Replaying every statement it ever
took -- each verified again, each contract rebuilt and forgotten again -- made a restart grow with its
life: about 1.5 s per 1,000 settled trades. What the replay rebuilds is bounded (memory holds the open
contracts, each party's balance and recent chain links, the Mandates; what is over for good is read back
from the journal when asked for: a2a_coop.protocol.archive), so the node journals that memory now and
then -- the :class:`~a2a_coop.protocol.escrow.Escrow` object, pickled whole, at a moment when everything it
holds is durable in the journal and nothing else is, with the position of the journal's last statement
then -- and a restart loads it and replays only the statements after that position, exactly as a full
replay would hold them (:meth:`Escrow.resume`). Nothing a restarted escrow checks or refuses changes: the
snapshot is the very memory that checked and refused before, and the statements after it are replayed
and verified as before.

What is trusted, and how:

* the snapshot is a meta row of the journal, as trusted as the journal it sits in; still, it is
  unpickled only once an HMAC-SHA256 under a key derived from the escrow's own signing key checks (a
  file anyone else wrote, or a journal moved to another key, is never unpickled: it is ignored, and the
  whole journal replayed);
* it names the position and the digest of the last statement it covers: a journal that does not hold
  that statement there (restored from an older copy, truncated) has it ignored;
* it names a fingerprint of the code whose objects it holds (the release, the sources of
  ``a2a_coop.protocol`` and of this module): an escrow of another build replays the whole journal
  instead of guessing at an older object layout;
* it names the Mandates the escrow ran under (its setup): a run under a renewed Mandate replays the whole
  journal;
* after the replay of the rest, the ledger's size must be the journal's next seq for the escrow: if not,
  the whole journal is replayed.

Any doubt means the full replay, as before snapshots: slower, never different. A journal of an earlier
version has no snapshot: it opens as before, and gets one.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pool, message, message_factory

import a2a_coop
import a2a_coop.protocol
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.identity import Keypair

# Journal meta: [format, position, digest at position, fingerprint, setup digests, mac, pickle].
META_ESCROW_SNAPSHOT: Final = "escrow/snapshot"
FORMAT: Final = 1
# The escrow journals a snapshot once this many statements were journaled since the last one (and at a
# clean close): a restart replays at most about as many. Also at least 1/200 statement per byte of the
# last snapshot, so that writing one costs a small share of taking what came between.
EVERY_ROWS: Final = 6_000
ROWS_PER_SNAPSHOT_BYTE: Final = 1 / 200
_ARCHIVE: Final = "archive"
_SIGNER: Final = "signer"
_NONE: Final = "none"


@cache
def fingerprint() -> str:
    """SHA-256 over the release and the sources of a2a_coop.protocol, whose objects a snapshot holds, and
    of this module (by file name)."""
    h = hashlib.sha256(a2a_coop.__version__.encode() + b"\0")
    root = Path(a2a_coop.protocol.__file__).parent
    for path in [*sorted(root.glob("*.py")), Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _mac_key(key: Keypair) -> bytes:
    return hashlib.sha256(b"a2a-coop escrow snapshot\0" + key.seed).digest()


def _message(name: str, data: bytes) -> message.Message:
    """A protobuf message of the type ``name``, parsed from ``data`` (how a snapshot holds one)."""
    cls = message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name))
    parsed: message.Message = cls.FromString(data)
    return parsed


class _Pickler(pickle.Pickler):
    """The escrow's memory, without what a restart attaches again: its journal, its signer, its quotas."""

    def __init__(self, file: io.BytesIO, escrow: Escrow, archive: object) -> None:
        super().__init__(file, protocol=5)
        self._live = {id(archive): _ARCHIVE, id(escrow.signer): _SIGNER}
        for attached in (escrow.quota, escrow.dealings):
            if attached is not None:
                self._live[id(attached)] = _NONE

    def persistent_id(self, obj: Any) -> str | None:
        return None if obj is None else self._live.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, message.Message):
            return _message, (obj.DESCRIPTOR.full_name, obj.SerializeToString())
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, archive: object, signer: object) -> None:
        super().__init__(file)
        self._live = {_ARCHIVE: archive, _SIGNER: signer, _NONE: None}

    def persistent_load(self, pid: Any) -> Any:
        return self._live[pid]


def _setup_digests(setup: Sequence[bytes]) -> list[bytes]:
    return [hashlib.sha256(env).digest() for env in setup]


def _signed(key: Keypair, fields: Sequence[Any]) -> bytes:
    mac = hmac.new(_mac_key(key), digestmod=hashlib.sha256)
    for f in fields:
        data = f if isinstance(f, bytes) else repr(f).encode()
        mac.update(len(data).to_bytes(8, "big") + data)
    return mac.digest()


def dump(
    escrow: Escrow, archive: object, key: Keypair, setup: Sequence[bytes], last: tuple[int, bytes]
) -> list[Any]:
    """The snapshot of ``escrow`` -- whose memory holds exactly the statements ``archive`` holds up to
    the position ``last[0]``, the last of them of digest ``last[1]`` -- as a journal meta value.

    Raises:
        pickle.PicklingError, TypeError, AttributeError: something it holds cannot be pickled.
    """
    escrow.verifier._checked = None  # a cache of the last check, of no use after a restart
    buf = io.BytesIO()
    _Pickler(buf, escrow, archive).dump(escrow)
    data = buf.getvalue()
    position, digest = last
    fields = [FORMAT, position, digest, fingerprint(), _setup_digests(setup), data]
    return [*fields[:5], _signed(key, fields), data]


def load(
    value: Any, archive: object, signer: object, key: Keypair, setup: Sequence[bytes]
) -> tuple[Escrow, int, bytes] | None:
    """The escrow a snapshot holds (its signer and archive attached again, its quotas None), the position
    it covers and the digest of the statement there; None if it is not one this escrow wrote for this
    build and setup (see the module docstring)."""
    if not isinstance(value, list) or len(value) != 7 or value[0] != FORMAT:
        return None
    _, position, digest, built, digests, mac, data = value
    if not (isinstance(position, int) and isinstance(digest, bytes) and isinstance(mac, bytes)):
        return None
    if not isinstance(data, bytes) or built != fingerprint() or digests != _setup_digests(setup):
        return None
    if not hmac.compare_digest(mac, _signed(key, [FORMAT, position, digest, built, digests, data])):
        return None
    escrow = _Unpickler(io.BytesIO(data), archive, signer).load()
    if not isinstance(escrow, Escrow):
        return None
    return escrow, position, digest
