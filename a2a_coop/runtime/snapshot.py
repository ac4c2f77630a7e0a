"""A node's snapshot: its whole memory at one point of its journal, so a restart replays only the rest.

A peer (a2a_coop.runtime.peer.Peer) and an escrow (a2a_coop.runtime.node.EscrowNode) restart from their
journal. Replaying every statement ever taken -- each verified again, each negotiation rebuilt and
forgotten again -- made a restart grow with the node's life: about 1.5 s per 1,000 settled trades at an
escrow, 1.1 s at a peer. What the replay rebuilds is bounded (memory holds the open negotiations and
contracts, balances, recent chain links, the Mandates; what is over for good is read back from the
journal when asked for: a2a_coop.protocol.archive), so the node journals that memory now and then --
pickled whole (an :class:`~a2a_coop.protocol.escrow.Escrow`; a peer's verifier and the dealings it
keeps), at a moment when everything it holds is durable in the journal and nothing else is, with the
position of the journal's last statement then -- and a restart loads it and replays only the statements
after that position, exactly as a full replay would hold them. Nothing a restarted node checks or
refuses changes: the snapshot is the very memory that checked and refused before, and the statements
after it are replayed and verified as before.

What is trusted, and how:

* the snapshot is a meta row of the journal, as trusted as the journal it sits in; still, it is
  unpickled only once an HMAC-SHA256 under a key derived from the node's own signing key (and its kind,
  peer or escrow) checks (a file anyone else wrote, or a journal moved to another key, is never
  unpickled: it is ignored, and the whole journal replayed);
* it names the position and the digest of the last statement it covers: a journal that does not hold
  that statement there (restored from an older copy, truncated) has it ignored;
* it names a fingerprint of the code whose objects it holds (the release, the sources of
  ``a2a_coop.protocol``, of ``a2a_coop.runtime`` for a peer, and of this module), read when that code
  was loaded (not from files a checkout may have replaced since): a node of another build replays the
  whole journal instead of guessing at an older object layout -- a renamed or added field read back as
  its class default would be half a state;
* it names what the node held before its journal (its setup: an escrow's Mandates; a peer's Mandate,
  context and earlier Mandates): a run under another setup replays the whole journal;
* the node checks what it can after the replay of the rest (an escrow: the ledger's size must be the
  journal's next seq for it; a peer: its chain's head the journal's): if not, the whole journal is
  replayed.

Any doubt means the full replay, as before snapshots: slower, never different. A journal of an earlier
version has no snapshot: it opens as before, and gets one.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pool, message, message_factory

import a2a_coop
import a2a_coop.protocol
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import _NONE_SUPERSEDED
from a2a_coop.runtime.journal import Journal

# Journal meta: [format, position, digest at position, fingerprint, setup digests, mac, pickle].
META_ESCROW_SNAPSHOT: Final = "escrow/snapshot"
META_PEER_SNAPSHOT: Final = "a2a-coop/snapshot"
FORMAT: Final = 1
# A node journals a snapshot once this many statements were journaled since the last one (and at a
# clean close): a restart replays at most about as many. Also at least 1/200 statement per byte of the
# last snapshot, so that writing one costs a small share of taking what came between.
EVERY_ROWS: Final = 6_000
ROWS_PER_SNAPSHOT_BYTE: Final = 1 / 200
_NONE: Final = "none"
# Objects the protocol shares by identity, by name: pickled as that name and read back as the object
# itself. Pickled as a value, the empty superseded set every negotiation shares (NEG-018) came back as a
# copy -- one per snapshot read, shared by the negotiations it held (pickle's memo), but not the object
# the code compares with and that negotiations made after the restart hold.
_SHARED: Final[Mapping[str, object]] = {"shared/none-superseded": _NONE_SUPERSEDED}
log = logging.getLogger(__name__)


def _fingerprint(kind: str) -> str:
    """SHA-256 over the release and the code of the modules whose objects a snapshot of ``kind``
    ("escrow": a2a_coop.protocol; "peer": also a2a_coop.runtime) holds, and of this module (by name):
    their sources, or their compiled files in an install that ships only those."""
    h = hashlib.sha256(a2a_coop.__version__.encode() + b"\0" + kind.encode() + b"\0")
    dirs = [Path(a2a_coop.protocol.__file__).parent]
    if kind != "escrow":
        dirs.append(Path(__file__).parent)
    paths = [path for d in dirs for pattern in ("*.py", "*.pyc") for path in sorted(d.glob(pattern))]
    for path in dict.fromkeys([*paths, Path(__file__)]):
        h.update(path.parent.name.encode() + b"/" + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


# Read once, as the code is loaded -- not when the first snapshot is written, maybe days later, when a
# checkout may have replaced the files under the running node: the snapshot would then name the build on
# disk and hold the objects of the one that ran (a Negotiation pickled with its held-off Counters under a
# name the new code never reads), and the new build would load it half (every dev build is X.Y.Z.dev0).
_FINGERPRINTS: Final[Mapping[str, str]] = {kind: _fingerprint(kind) for kind in ("escrow", "peer")}


def fingerprint(kind: str) -> str:
    """The fingerprint of the code this process runs, for a snapshot of ``kind`` ("escrow" or "peer")."""
    return _FINGERPRINTS[kind]


def _mac_key(key: Keypair, kind: str) -> bytes:
    return hashlib.sha256(f"a2a-coop {kind} snapshot\0".encode() + key.seed).digest()


def _message(name: str, data: bytes) -> message.Message:
    """A protobuf message of the type ``name``, parsed from ``data`` (how a snapshot holds one)."""
    cls = message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name))
    parsed: message.Message = cls.FromString(data)
    return parsed


class _Pickler(pickle.Pickler):
    """A node's memory, without what a restart attaches again (``live``: its journal, its signer, by
    name) or sets again (``dropped``: its quotas, its callbacks, held as None)."""

    def __init__(self, file: io.BytesIO, live: Mapping[str, object], dropped: Sequence[object]) -> None:
        super().__init__(file, protocol=5)
        self._live = {id(obj): name for name, obj in {**live, **_SHARED}.items()}
        for obj in dropped:
            if obj is not None:
                self._live[id(obj)] = _NONE

    def persistent_id(self, obj: Any) -> str | None:
        return None if obj is None else self._live.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, message.Message):
            return _message, (obj.DESCRIPTOR.full_name, obj.SerializeToString())
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, live: Mapping[str, object]) -> None:
        super().__init__(file)
        self._live = {**live, **_SHARED, _NONE: None}

    def persistent_load(self, pid: Any) -> Any:
        return self._live[pid]


def _setup_digests(setup: Sequence[bytes]) -> list[bytes]:
    return [hashlib.sha256(env).digest() for env in setup]


def _signed(key: Keypair, kind: str, fields: Sequence[Any]) -> bytes:
    mac = hmac.new(_mac_key(key, kind), digestmod=hashlib.sha256)
    for f in fields:
        data = f if isinstance(f, bytes) else repr(f).encode()
        mac.update(len(data).to_bytes(8, "big") + data)
    return mac.digest()


def dump(
    memory: object,
    *,
    kind: str,
    key: Keypair,
    setup: Sequence[bytes],
    last: tuple[int, bytes],
    live: Mapping[str, object],
    dropped: Sequence[object] = (),
) -> list[Any]:
    """The snapshot of ``memory`` -- a node's of ``kind``, holding exactly the statements its journal
    holds up to the position ``last[0]``, the last of them of digest ``last[1]`` -- as a journal meta
    value; ``live`` and ``dropped`` as :class:`_Pickler` takes them.

    Raises:
        pickle.PicklingError, TypeError, AttributeError: something it holds cannot be pickled.
    """
    buf = io.BytesIO()
    _Pickler(buf, live, dropped).dump(memory)
    data = buf.getvalue()
    position, digest = last
    fields = [FORMAT, position, digest, fingerprint(kind), _setup_digests(setup), data]
    return [*fields[:5], _signed(key, kind, fields), data]


class Unusable(Exception):
    """Why a snapshot is not one this node may load (its whole journal is replayed instead)."""


def load(
    value: Any, *, kind: str, key: Keypair, setup: Sequence[bytes], live: Mapping[str, object]
) -> tuple[Any, int, bytes]:
    """The memory a snapshot holds (``live`` attached again, what was dropped None), the position it
    covers and the digest of the statement there; :class:`Unusable` if it is not one this node wrote
    for this build and setup (see the module docstring). The MAC is checked before the build and the
    setup it names are read, so that the reason given is this node's own."""
    if not isinstance(value, list) or len(value) != 7 or value[0] != FORMAT:
        raise Unusable(f"not this {kind}'s, or of another format")
    _, position, digest, built, digests, mac, data = value
    if not (
        isinstance(position, int)
        and isinstance(digest, bytes)
        and isinstance(mac, bytes)
        and isinstance(data, bytes)
    ):
        raise Unusable(f"not this {kind}'s, or of another format")
    if not hmac.compare_digest(mac, _signed(key, kind, [FORMAT, position, digest, built, digests, data])):
        raise Unusable(f"not this {kind}'s (written under another key, or altered)")
    if built != fingerprint(kind):
        raise Unusable("of another build of a2a-coop")
    if digests != _setup_digests(setup):
        raise Unusable(f"taken under another setup (the {kind}'s Mandates or escrows have changed since)")
    return _Unpickler(io.BytesIO(data), live).load(), position, digest


def read(
    journal: Journal,
    meta_key: str,
    *,
    kind: str,
    key: Keypair,
    setup: Sequence[bytes],
    live: Mapping[str, object],
    expect: type,
) -> tuple[Any, int] | None:
    """The memory the snapshot in ``journal``'s meta row ``meta_key`` holds, of type ``expect``, and the
    journal position it covers; None (said in the log, with why) when there is none, or one this node
    cannot use: not its own, of another build or setup, or ending with a statement the journal does not
    hold there. Another setup -- a renewed Mandate, an escrow given or taken away -- is an operator's
    ordinary change: said at INFO; the rest at WARNING."""
    value = journal.get_meta(meta_key)
    if value is None:
        return None
    try:
        loaded = load(value, kind=kind, key=key, setup=setup, live=live)
    except Unusable as why:
        level = logging.INFO if str(why).startswith("taken under another setup") else logging.WARNING
        log.log(level, "%s: the journal's snapshot is %s: ignored, the whole journal replayed", kind, why)
        return None
    except Exception:  # an unusable snapshot is no reason not to start: replay the whole journal
        log.warning("%s: the journal's snapshot could not be used: ignored", kind, exc_info=True)
        return None
    if not isinstance(loaded[0], expect):
        log.warning("%s: the journal's snapshot is not this %s's, or of another build: ignored", kind, kind)
        return None
    memory, position, digest = loaded
    if journal.digest_at(position) != digest:
        log.warning("%s: the journal does not hold the statement its snapshot ends with: ignored", kind)
        return None
    return memory, position


class Cadence:
    """When a node journals its next snapshot: once ``every`` statements (0: never) were journaled since
    the last one -- more for a large memory (:data:`ROWS_PER_SNAPSHOT_BYTE`) -- or, ``force``d (at close),
    once any were. Counted in memory first (statements the verifier took), so that a node asks its
    journal nothing until one may be due."""

    def __init__(self, every: int) -> None:
        self.every = every
        self._every = every
        self.at = 0  # the journal position of the last snapshot, written or resumed from
        self._accepted_at = 0  # the verifier's count of statements taken then

    def may_be_due(self, accepted: int, *, force: bool = False) -> bool:
        """Whether a snapshot may be due, the verifier having taken ``accepted`` statements ever."""
        return self.every > 0 and (force or accepted - self._accepted_at >= self._every)

    def due(self, last: tuple[int, bytes] | None, *, force: bool = False) -> bool:
        """Whether one is due, ``last`` being the journal's last position."""
        if last is None or last[0] == self.at:
            return False
        return force or last[0] - self.at >= self._every

    def resumed(self, position: int, accepted: int, journal: Journal) -> int:
        """A start resumed from the snapshot at ``position``, the verifier having taken ``accepted``
        statements since: the number of journal rows replayed after it."""
        last = journal.last_position()
        tail = 0 if last is None else last[0] - position
        self.at, self._accepted_at = position, accepted - tail
        return tail

    def written(self, position: int, accepted: int, value: list[Any]) -> None:
        """A snapshot ``value`` written at ``position``, the verifier having taken ``accepted``."""
        self.at, self._accepted_at = position, accepted
        every = self.every
        if every >= EVERY_ROWS:  # a large memory is snapshot less often (below: tests)
            every = max(every, int(len(value[-1]) * ROWS_PER_SNAPSHOT_BYTE))
        self._every = every
