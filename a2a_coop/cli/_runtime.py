"""What the networked commands share: loading keys, mandates and journals, TLS options, serving
until a signal, one log line per exchange, and turning runtime failures into exit codes.

Importing this module imports the gRPC transport, so only the networked
command modules (:mod:`.peer`, :mod:`.escrow`, :mod:`.demo`) do. A journal
remembers the mandate its peer ran with and every context envelope any run held
(an escrow's mandate), so ``status`` and ``export`` need only the journal and
the key, and a run without ``--escrow`` still replays the bonds of an earlier
run with one (:func:`open_peer`).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, NoReturn, TextIO, TypeVar

import grpc

from a2a_coop._proto.a2acoop.v1.statement_pb2 import Statement
from a2a_coop.cli._common import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    SQLITE_HEADER,
    Invalid,
    OutOfReach,
    UsageError,
    iso,
    short,
)
from a2a_coop.protocol.envelope import decode_envelope, envelope_from_json, envelope_to_json
from a2a_coop.protocol.errors import CoopError, MandateUnknown, MandateViolation, printable
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS
from a2a_coop.protocol.identity import Keypair, public_key_from_did
from a2a_coop.protocol.statements import decode_statement, verify_statement
from a2a_coop.runtime.alarm import META_KEY_FORKED, REMEDY, KeyForked
from a2a_coop.runtime.journal import Journal, JournalError, JournalLocked, journal_kind
from a2a_coop.runtime.keyfile import KEY_FILE_TYPE, KeyFileError, parse_key_file
from a2a_coop.runtime.node import META_CONTEXT, EscrowNode, PeerNode, envelope_count
from a2a_coop.runtime.peer import META_FORKS, META_MANDATE, Peer
from a2a_coop.transport import PageLimits, TlsConfig, TransportError, serve

log = logging.getLogger("a2a_coop.serve")

Command = Callable[[argparse.Namespace, TextIO], int]
T = TypeVar("T")

_SERVICES: Final = {"peer": "a2acoop.v1.CooperationService", "escrow": "a2acoop.v1.EscrowService"}


def _read_json_file(path: Path, what: str) -> tuple[bytes, Any]:
    """The bytes of ``path`` and, if they are JSON, the document (else None)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if data.lstrip()[:1] != b"{":
        return data, None
    try:
        return data, json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from None


def _kind(doc: Any) -> str:
    """What a JSON document is, for "X is a key file, not a mandate" messages."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("type") == KEY_FILE_TYPE:
        return "a key file"
    if "envelopes" in doc:
        return "a transcript"
    return "a signed statement" if "payloadType" in doc else "some other JSON"


def _not_json(data: bytes) -> str:
    """What a file that is not a JSON object holds, for "X is ..., not a key file" messages."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "a binary file"
    if text.startswith("did:key:"):  # keygen prints the did:key; `keygen > alice.did` keeps it
        return "a did:key (the public identity a key file's owner gives out)"
    return "text that is not JSON" if text else "empty"


def load_key(path: Path) -> Keypair:
    data, doc = _read_json_file(path, "key file")
    if doc is None or _kind(doc) != "a key file":
        what = _not_json(data) if doc is None else _kind(doc)
        raise UsageError(f"{path} is {what}, not an a2a-coop key file (a2a-coop keygen)")
    try:
        return parse_key_file(doc)
    except KeyFileError as exc:
        raise UsageError(f"key file {path}: {exc}") from None


def load_envelope(path: Path, what: str) -> bytes:
    data, doc = _read_json_file(path, what)
    if doc is None and (not data.strip() or data.lstrip().startswith(b"did:key:")):
        # Not a binary envelope either (one never starts with "d": field 12, a group end): a slip of the
        # file, `--mandate alice.did`, not a statement that fails its checks.
        raise UsageError(f"{path} is {_not_json(data)}, not a {what} (a signed statement)")
    if doc is not None:
        if _kind(doc) != "a signed statement":
            raise UsageError(f"{path} is {_kind(doc)}, not a {what} (a signed statement)")
        try:
            data = envelope_from_json(doc)
        except CoopError as exc:
            raise Invalid(f"{what} {path}: {exc}") from None
    try:
        verify_statement(data)
    except CoopError as exc:
        raise Invalid(f"{what} {path} does not verify: {exc}") from None
    return data


def load_statements(path: Path, what: str) -> list[bytes]:
    """The statements of ``path``: a signed statement file's one, or every envelope of a transcript
    (``export``, ``escrow export``), each verified alone."""
    _, doc = _read_json_file(path, what)
    if doc is None or _kind(doc) != "a transcript":
        return [load_envelope(path, what)]
    items = doc["envelopes"]
    if not isinstance(items, list):
        raise UsageError(f"{path}: 'envelopes' is not a list of signed statements")
    found = []
    for i, item in enumerate(items):
        try:
            envelope = envelope_from_json(item)
            verify_statement(envelope)
        except CoopError as exc:
            raise Invalid(f"{what} {path}, envelope {i}, does not verify: {exc}") from None
        found.append(envelope)
    return found


def load_mandate(path: Path, key: Keypair) -> bytes:
    """A Mandate envelope from ``path`` that delegates to ``key``."""
    data = load_envelope(path, "mandate")
    vs = verify_statement(data)
    if vs.body != "mandate":
        raise Invalid(f"{path} holds a {vs.body}, not a mandate")
    if vs.statement.mandate.agent != key.did:
        whose = (
            "--key is the principal's key that signed it; give the agent's key file"
            if vs.issuer == key.did
            else "give the agent's own --key and --mandate"
        )
        raise UsageError(
            f"the mandate in {path} delegates to {vs.statement.mandate.agent}, not to {key.did} (the "
            f"--key): {whose}"
        )
    return data


def refuse_mandate_out_of_time(path: Path, mandate: bytes, now_ms: int) -> None:
    """MND-003 at a server's start (`serve`, `agent run`, `escrow serve`): refused (MandateViolation,
    exit 1) when nothing could be signed under the mandate now -- it has ended, or starts later than
    the default clock skew from now. Served anyway, such a peer listened and then refused every
    statement of its own; a Mandate signed on a clock a few seconds ahead is still taken."""
    m = verify_statement(mandate).statement.mandate
    if now_ms >= m.valid_until_ms:
        raise MandateViolation(
            f"the mandate in {path} ended at {iso(m.valid_until_ms)}: nothing can be signed under it -- "
            "its principal signs a new one for this key (`a2a-coop mandate ... --force`, README "
            '"Renewing a mandate") and the journal goes on with it',
            requirement="MND-003",
        )
    if m.valid_from_ms > now_ms + DEFAULT_SKEW_MS:
        raise MandateViolation(
            f"the mandate in {path} is valid from {iso(m.valid_from_ms)} only: nothing can be signed under "
            "it before then (is this machine's clock right?)",
            requirement="MND-003",
        )


def resolve_did(text: str) -> str:
    """A did:key as given, the did of a key file, or the did:key a file holds (``keygen > alice.did``:
    README's files, which ``$(cat alice.did)`` reads the same)."""
    if not text.startswith("did:"):
        path = Path(text)
        if path.exists():
            data, doc = _read_json_file(path, "key file")
            held = _not_json(data) if doc is None else ""
            return resolve_did(data.decode().strip()) if held.startswith("a did:key") else load_key(path).did
        raise UsageError(f"{text!r} is neither a did:key nor a key file")
    try:
        public_key_from_did(text)
    except CoopError as exc:
        raise UsageError(f"{text}: {exc.detail}") from None
    return text


# The journals the running command created (paths that did not exist before it opened them): if it
# fails, each is deleted again when it holds no statement (runtime_command, discard_new_journal).
_NEW_JOURNALS: ContextVar[list[Path] | None] = ContextVar("new_journals", default=None)


def open_journal(path: Path, *, must_exist: bool = False, lock: bool = True, in_use: str = "") -> Journal:
    """The journal at ``path``, locked for this process unless ``lock`` is False (readers only);
    ``in_use``: what to do when another process holds it, said after the refusal.

    A journal it creates is remembered: a command that then fails leaves no empty journal behind."""
    if must_exist and not path.is_file():
        raise UsageError(f"no journal at {path}")
    if not path.parent.is_dir():
        raise UsageError(f"cannot create journal {path}: no directory {path.parent}")
    new = lock and not (path.exists() or path.is_symlink())
    try:
        journal = Journal.open(path, lock=lock)
        created = _NEW_JOURNALS.get()
        if new and created is not None:
            created.append(path)
        return journal
    except JournalError as exc:
        text = str(exc)  # most name the path already: say it once
        if in_use and isinstance(exc, JournalLocked):
            text += f"; {in_use}"
        raise UsageError(
            f"journal {text}" if text.startswith(str(path)) else f"journal {path}: {text}"
        ) from None


# Beside a key file, ``KEY.chain``: the journal its key's chain lives in (claim_chain).
CHAIN_HOME_TYPE: Final = "a2a-coop/chain-home"
# The chain homes the running command wrote, with what they held before: undone if the journal they
# name is discarded (a failed command's empty journal, runtime_command).
_NEW_CHAIN_HOMES: ContextVar[list[tuple[Path, str | None, Path, str]] | None] = ContextVar(
    "new_chain_homes", default=None
)


def chain_home(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".chain")


def claim_chain(key_path: Path, key: Keypair, journal_path: Path) -> None:
    """Before ``key`` signs in the journal at ``journal_path``: refuse if its chain lives in another
    journal, and remember this one beside the key file (``KEY.chain``) otherwise.

    A key's statements form one chain (CHN-001), numbered by the journal that keeps it. A new journal
    for a key that already signed elsewhere -- a mistyped ``--journal`` -- would start it again at seq 0,
    a fork that every counterparty holding both can prove, and that burns the key (ATT-013, ATT-017).
    The journal of the chain home, moved or copied, is taken wherever it now is once it holds the
    key's chain."""
    home, here = chain_home(key_path), journal_path.resolve()
    try:
        previous: str | None = home.read_text()
    except FileNotFoundError:
        previous = None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {home} (where key {key.did} signs): {exc}") from None
    there: Path | None = None
    if previous is not None:
        try:
            doc = json.loads(previous)
            ok = doc.get("type") == CHAIN_HOME_TYPE and isinstance(doc.get("journal"), str)
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            raise UsageError(f"{home} is not an a2a-coop chain home; delete it if you made it")
        if doc.get("did") == key.did:
            there = Path(doc["journal"])
    if there is not None and there != here and not _signed_in(journal_path, key.did):
        if there.exists():
            raise UsageError(
                f"key {key.did} signs in {there} ({home}); signing in {journal_path} would start its "
                f"chain again at seq 0, a fork that burns the key: use --journal {there}"
            )
        raise UsageError(
            f"key {key.did} signed in {there}, which is gone ({home}): a new chain in {journal_path} "
            f"would fork the old one if any of its statements ever left; if none did, delete {home}"
        )
    if there == here:
        return
    text = json.dumps({"type": CHAIN_HOME_TYPE, "did": key.did, "journal": str(here)}, indent=2) + "\n"
    try:
        staged = home.with_name(home.name + ".tmp")
        staged.write_text(text)
        staged.replace(home)
    except OSError as exc:
        print(
            f"a2a-coop: note: cannot write {home} ({exc.strerror}): nothing will stop this key "
            "signing in another journal by mistake",
            file=sys.stderr,
        )
        return
    written = _NEW_CHAIN_HOMES.get()
    if written is not None:
        written.append((home, previous, journal_path, key.did))


def _signed_in(journal_path: Path, did: str) -> bool:
    """Whether the journal at ``journal_path`` holds a statement ``did`` signed (read, not locked)."""
    if not journal_path.exists():
        return False
    try:
        with Journal.open(journal_path, lock=False) as journal:
            return journal.chain_head(did) != (0, b"")
    except JournalError as exc:  # most name the path already: say it once, as open_journal does
        text = str(exc)
        raise UsageError(
            f"journal {text}" if text.startswith(str(journal_path)) else f"journal {journal_path}: {text}"
        ) from None


def _undo_chain_homes(written: Sequence[tuple[Path, str | None, Path, str]]) -> None:
    """A failed command's chain homes, back to what they were where the key signed nothing in the
    journal they name: it is gone (a new journal discarded), or it is another's that the command never
    got to write (in use by another process, of the wrong kind: newuser16 found `serve --journal bob.db`
    refused as in use by bob's process, yet the key's home moved to bob.db, and every later command
    on the key's own journal was refused as a fork)."""
    for home, previous, journal_path, did in reversed(written):
        try:
            if _signed_in(journal_path, did):
                continue
        except UsageError:  # unreadable as a journal: nothing of the key's is in it
            pass
        try:
            if previous is None:
                home.unlink(missing_ok=True)
            else:
                home.write_text(previous)
        except OSError:
            pass


def open_peer(
    key: Keypair, mandate: bytes, journal: Journal, context: Sequence[bytes] = (), **kw: Any
) -> Peer:
    """A Peer on ``journal`` that trusts the escrows of this run's ``context`` (MND-015) and also holds,
    without trusting, the context of earlier runs the journal remembers: replay must verify again what
    those escrows signed (their BondLocks name their mandates, which are never journaled as statements).
    """
    if journal_kind(journal) == "escrow":  # its statements were never addressed to a peer: no replay
        raise UsageError(
            f"{journal.path} is an escrow's journal (`escrow serve` ran on it), not a peer's: "
            f"`a2a-coop escrow export --journal {journal.path} --out FILE` writes its transcript"
        )
    earlier = [
        env for env in journal.get_meta(META_CONTEXT, [], kind=list, items=bytes) if env not in context
    ]
    try:
        peer = Peer(key, mandate, journal=journal, context=[*context, *earlier], **kw)
    except ValueError as exc:
        raise UsageError(f"{journal.path}: {exc}") from None
    except MandateUnknown as exc:  # its evidence: the journal's statement that cites it (Peer._replay)
        raise UsageError(unrecorded_mandate(journal.path, key.did, exc)) from None
    except CoopError as exc:  # our own journal, not anything a counterparty sent now
        if exc.requirement == "MND-021":  # a principal's key: our refusal (exit 1), not a failed replay
            raise
        raise UsageError(f"journal {journal.path} does not replay: {exc}") from None
    given = (verify_statement(env) for env in context)
    peer.trusted_escrows = frozenset(vs.statement.mandate.agent for vs in given if vs.body == "mandate")
    peer.trusted_escrows -= {key.did}  # an earlier mandate of ours is no escrow's
    return peer


def unrecorded_mandate(path: Path, did: str, exc: MandateUnknown) -> str:
    """What to do about a journal that does not replay for want of a Mandate: which one it lacks, whose
    it is, and what to pass once (the journal then keeps it)."""
    if not exc.evidence:
        return f"journal {path} does not replay: {exc}"
    vs = verify_statement(exc.evidence[0])
    said = (
        f"journal {path} does not replay ({exc.code} [{exc.requirement}]): its {vs.body} seq "
        f"{vs.header.seq} cites mandate {vs.header.mandate.hex()}"
    )
    if vs.issuer == did:  # ours, from before the journal kept our mandates (MND-017)
        return (
            f"{said}, an earlier mandate of this key ({did}) that it does not record: pass that mandate "
            "file once, `a2a-coop serve --context OLD.mandate.json ...` (`a2a-coop inspect FILE` prints a "
            "file's digest), and the journal keeps it; never start a new journal for a key that has signed"
        )
    return (
        f"{said} of {vs.issuer}, which it does not record -- an escrow's, if that key is one: serve it "
        "once with --escrow HOST:PORT or --context ESCROW.mandate.json, and the journal remembers that "
        "mandate"
    )


def peer_from_journal(args: argparse.Namespace) -> tuple[Peer, Journal]:
    """The peer a journal belongs to, rebuilt from it without writing (for status and export; its
    server may be running, so no lock)."""
    key = load_key(args.key)
    journal = open_journal(args.journal, must_exist=True, lock=False)
    try:
        if args.mandate is not None:
            mandate = load_mandate(args.mandate, key)
        else:
            mandate = journal.get_meta(META_MANDATE, kind=bytes)
            if mandate is None:
                raise UsageError(f"{args.journal} records no mandate; pass --mandate")
            _check_journal_key(args.journal, args.key, key.did, mandate)
        # Every negotiation in memory: status and export list the finished ones too.
        return open_peer(
            key, mandate, journal, journal.get_meta(META_CONTEXT, [], kind=list, items=bytes), forget=False
        ), journal
    except BaseException:
        journal.close()
        raise


def _check_journal_key(journal_path: Path, key_path: Path, did: str, mandate: bytes) -> None:
    """Refuse a ``--key`` that is not the key of the journal whose recorded mandate is ``mandate``,
    naming both (`status --journal bob.db --key alice.key` said only "the mandate does not delegate to
    this key")."""
    try:
        vs = verify_statement(mandate)
    except CoopError:
        return  # open_peer says what is wrong with it
    agent = vs.statement.mandate.agent if vs.body == "mandate" else ""
    if agent and agent != did:
        raise UsageError(
            f"{journal_path} is the journal of {agent}, not of {did} ({key_path}): give that key's file "
            "as --key, or this key's own --journal"
        )


def _pem(path: Path | None, option: str) -> bytes | None:
    """The contents of the PEM file ``path`` (a missing or non-PEM file is a usage error)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {option} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise UsageError(f"{option} {path} is not a PEM file")
    return data


def _tls_files(args: argparse.Namespace, ca: Path | None, ca_option: str, prefix: str = "") -> dict[str, Any]:
    cert, key = getattr(args, f"{prefix}tls_cert"), getattr(args, f"{prefix}tls_key")
    opt = f"--{prefix.replace('_', '-')}tls"
    if (cert is None) != (key is None):
        raise UsageError(f"{opt}-cert and {opt}-key go together")
    return {
        "certificate_chain": _pem(cert, f"{opt}-cert"),
        "private_key": _pem(key, f"{opt}-key"),
        "trusted_ca": _pem(ca, ca_option),
    }


def server_tls(args: argparse.Namespace) -> TlsConfig | None:
    """TLS for ``serve`` / ``escrow serve`` from --tls-cert/--tls-key/--tls-client-ca; None: plaintext."""
    files = _tls_files(args, args.tls_client_ca, "--tls-client-ca")
    if files["certificate_chain"] is None:
        if files["trusted_ca"] is not None:
            raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    return TlsConfig(**files)


def page_limits(args: argparse.Namespace) -> PageLimits:
    """The bound of each paged read a command makes (RPC-019 (b)): --max-pages and --max-read-bytes,
    each defaulting to :class:`PageLimits`'s (10,000 pages, 256 MiB)."""
    default = PageLimits()
    pages = getattr(args, "max_pages", None)
    size = getattr(args, "max_read_bytes", None)
    return PageLimits(pages or default.max_pages, size or default.max_bytes)


def dial_tls(args: argparse.Namespace, prefix: str = "") -> TlsConfig | None:
    """TLS for the clients a command opens, from --tls-ca/--tls-cert/--tls-key/--tls-server-name
    (``serve``: --escrow-tls-..., prefix ``escrow_``); None (plaintext) unless one of them is given.
    Without --tls-ca, the system roots are trusted."""
    ca_option = f"--{prefix.replace('_', '-')}tls-ca"
    files = _tls_files(args, getattr(args, f"{prefix}tls_ca"), ca_option, prefix)
    server_name = getattr(args, f"{prefix}tls_server_name")
    if all(v is None for v in files.values()) and server_name is None:
        return None
    return TlsConfig(**files, server_name=server_name)


_SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")  # beside a database, named after it


def _starts_with(path: Path, prefix: bytes) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(prefix)) == prefix
    except OSError:
        return False


def check_output(path: Path) -> None:
    """Refuse an ``--out`` that holds what no command output may replace: a key file (often the only
    copy of a secret) or a journal (a chain whose loss makes its owner sign a used seq again). Other
    files are replaced as asked (``mandate`` and ``export`` keep an existing one unless --force:
    :func:`check_new_output`).

    A journal's side files count as the journal: its write-ahead log holds the commits not yet
    checkpointed into it (the last statements signed), and SQLite drops a log it cannot read."""
    for suffix in _SQLITE_SIDE_FILES:
        name = path.name.removesuffix(suffix)
        if name and name != path.name and _starts_with(path.with_name(name), SQLITE_HEADER):
            raise UsageError(
                f"{path} belongs to the journal {path.with_name(name)}; refusing to write over it"
            )
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
            if head.startswith(SQLITE_HEADER):
                raise UsageError(f"{path} is a journal (SQLite); refusing to write over it")
            if head.lstrip()[:1] not in (b"{", b""):
                return  # not JSON, so no key file
            # JSON: read it whole, as load_key does -- a key file with a long note or padding is
            # still a key file, and a prefix of it would not parse.
            data = head + f.read()
    except OSError:
        return  # absent, or unreadable: writing it says what is wrong
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        return
    if isinstance(doc, dict) and doc.get("type") == KEY_FILE_TYPE:
        raise UsageError(f"{path} is a key file; refusing to write over it")


def check_new_output(path: Path, force: bool, what: str) -> None:
    """:func:`check_output`, and, unless ``force``, refuse an ``--out`` that exists: ``what`` it holds
    (a mandate file, evidence) may be the only copy."""
    check_output(path)
    if not force and (path.exists() or path.is_symlink()):
        raise UsageError(f"{path} exists; refusing to overwrite {what} (--force replaces it)")


def write_transcript(path: Path, envelopes: Sequence[bytes], **extra: Any) -> None:
    check_output(path)
    doc = {**extra, "mode": "sparse", "envelopes": [envelope_to_json(e) for e in envelopes]}
    try:
        path.write_text(json.dumps(doc, indent=1) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def first_contact(option: str, address: str, what: str, call: Callable[[], T], *, wait_s: float = 0.0) -> T:
    """``call``, the first request to the ``what`` ("peer" or "escrow") at ``address``, given as
    ``option``: its failure said in terms of that option -- nothing answering there, or a server that
    is not an a2a-coop ``what`` (a peer's address given as --escrow is the usual slip) -- rather than
    as a bare gRPC status naming no option. With ``wait_s``, nothing answering (UNAVAILABLE) is asked
    again until that long has passed (said once on a terminal's stderr; the failure stays one line):
    a server started beside its escrow waits for it to listen."""
    give_up = time.monotonic() + wait_s
    told = not sys.stderr.isatty()
    while True:
        try:
            return call()
        except TransportError as exc:
            if exc.code is not grpc.StatusCode.UNAVAILABLE or time.monotonic() >= give_up:
                _first_contact_failed(option, address, what, exc, wait_s)
            if not told:
                print(
                    f"a2a-coop: nothing answers at {address} ({option}) yet: waiting up to {wait_s:g} s "
                    f"for the {what} to start",
                    file=sys.stderr,
                )
                told = True
            time.sleep(0.2)


def _first_contact_failed(
    option: str, address: str, what: str, exc: TransportError, waited_s: float
) -> NoReturn:
    """:func:`first_contact`'s failure, in terms of ``option``."""
    if exc.code is grpc.StatusCode.UNIMPLEMENTED:
        raise UsageError(
            f"{option} {address} is not an a2a-coop {what}: it does not serve {_SERVICES[what]}"
        ) from None
    if exc.code is grpc.StatusCode.DEADLINE_EXCEEDED:  # as `conformance` says it of a target
        raise OutOfReach(
            f"no answer from the {what} at {address} ({option}): {exc}; it took the connection but did "
            "not answer: is it the service you mean, and is it stuck?"
        ) from None
    if exc.code is grpc.StatusCode.UNAVAILABLE and "Failed parsing HTTP/2" in str(exc):
        raise UsageError(
            f"{option} {address} does not speak gRPC (HTTP/2): is it a web server, or a peer's A2A "
            f"HTTP port? ({exc})"
        ) from None
    if exc.code is grpc.StatusCode.UNAVAILABLE:
        waited = f" (waited {waited_s:g} s)" if waited_s else ""
        raise OutOfReach(f"cannot reach the {what} at {address} ({option}){waited}: {exc}") from None
    raise UsageError(f"the {what} at {address} ({option}): {exc}") from None


# --- running -------------------------------------------------------------------------------


def discard_new_journal(path: Path) -> None:
    """Delete the journal a failed command created at ``path``, and its side files, if it holds no
    statement (:meth:`Journal.discard_if_empty`, under its lock) and no evidence of a fork (a proof
    a counterparty gossiped, our own key's alarm: the user must see those). One another process
    holds now, or that cannot be opened, is left as it is."""
    try:
        journal = Journal.open(path)
    except JournalError:
        return
    if journal.get_meta(META_KEY_FORKED) is not None or journal.meta_under(META_FORKS + "/"):
        journal.close()
        return
    journal.discard_if_empty()


def runtime_command(command: Command) -> Command:
    """Run ``command``, turning the failures a user can cause into exit codes and one line. A command
    that fails (any exit but 0, or an exception) leaves none of the journals it created behind that
    hold no statement: a bad key file, option or address costs no stray ``.db`` file."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, out: TextIO) -> int:
        created: list[Path] = []
        homes: list[tuple[Path, str | None, Path, str]] = []
        token, homes_token = _NEW_JOURNALS.set(created), _NEW_CHAIN_HOMES.set(homes)
        code: int | None = None
        try:
            code = _run_checked(command, args, out)
            return code
        finally:
            _NEW_JOURNALS.reset(token)
            _NEW_CHAIN_HOMES.reset(homes_token)
            if code != EXIT_OK:
                for path in created:
                    discard_new_journal(path)
                _undo_chain_homes(homes)

    return run


def _run_checked(command: Command, args: argparse.Namespace, out: TextIO) -> int:
    """:func:`runtime_command`'s error handling."""
    try:
        return command(args, out)
    except Invalid as exc:
        print(f"a2a-coop: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyForked as exc:
        print(f"a2a-coop: {exc}; to go on, {REMEDY}", file=sys.stderr)
        return EXIT_INVALID
    except CoopError as exc:
        # The transport's clients raise a peer's refusal from its RpcError; anything else is ours.
        who = "by the other side" if isinstance(exc.__cause__, grpc.RpcError) else "here, by our own checks"
        print(f"a2a-coop: refused {who}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except TransportError as exc:
        hint = ""
        if exc.code is grpc.StatusCode.UNIMPLEMENTED:  # --to and --escrow swapped, or another server
            hint = " (the server there does not serve the a2a-coop call this command makes)"
        raise UsageError(f"network: {exc}{hint}") from None
    except JournalError as exc:
        raise UsageError(f"journal: {exc}") from None
    except KeyboardInterrupt:
        print(f"a2a-coop: interrupted{_INTERRUPTED_HINT.get(command.__name__, '')}", file=sys.stderr)
        return EXIT_INTERRUPTED


# What to do after Ctrl-C, for the commands that leave trades half done: everything signed was
# journaled before it left, so `resume` carries them on (nothing is signed twice).
_INTERRUPTED_HINT = {
    name: "; what was signed is in the journal: `a2a-coop resume` with the same --key, --mandate, "
    "--journal, --to and --escrow carries the unfinished trades on"
    for name in ("cmd_offer", "cmd_resume", "cmd_claim", "cmd_revoke")
}


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (then the old handlers return)."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def wait(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def listen_failure(host: str, ports: Sequence[int], exc: Exception) -> UsageError:
    """Why a server could not listen on ``host`` at one of ``ports``, as the OS says it ("Address
    already in use"): gRPC's own error names no cause. A probe bind finds it; if every probe binds
    (the port was freed meanwhile), gRPC's message is all there is."""
    for port in ports:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as err:
            return UsageError(f"cannot listen on {host}: {err.strerror}")
        for family, kind, proto, _, sockaddr in infos:
            with socket.socket(family, kind, proto) as probe:
                try:
                    probe.bind(sockaddr)
                except OSError as err:
                    return UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}")
    where = f"{host}:{ports[0]}" if len(ports) == 1 else host
    return UsageError(f"cannot listen on {where}: {exc}")


def listen(
    handler_peer: Any,
    handler_escrow: Any,
    args: argparse.Namespace,
    tls: TlsConfig | None,
    extra_servicers: Sequence[Any] = (),
    *,
    interceptors: Sequence[Any] = (),
) -> Any:
    try:
        return serve(
            handler_peer,
            handler_escrow,
            host=args.host,
            port=args.port,
            tls=tls,
            extra_servicers=extra_servicers,
            interceptors=interceptors,
        )
    except RuntimeError as exc:
        raise listen_failure(args.host, [args.port], exc) from None


def read_callers_file(
    path: Path | None, tls: TlsConfig | None, option: str = "--a2a-callers"
) -> dict[bytes, str]:
    """The callers file ``option FILE`` names, read (A2A-026): certificate fingerprint -> ``operator`` or a
    did:key; {} without one. Usage errors: no client CA to judge certificates with, an unreadable or
    malformed file."""
    if path is None:
        return {}
    if tls is None or tls.trusted_ca is None:
        raise UsageError(f"{option} names client certificates: it needs --tls-client-ca")
    from a2a_coop.a2a.callers import read_callers

    try:
        return read_callers(path)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option} {exc}") from None


def _operator_judge(
    listed: dict[bytes, str], did: str, *, own_did_operator: bool, what: str, option: str, serves: str
) -> Callable[[grpc.ServicerContext], bool]:
    """Whether a gRPC call is the operator's, as A2A-026 judges an A2A caller (CTL-001, CTL-002): its
    client certificate listed in ``listed`` (:func:`read_callers_file` of ``option``) as ``operator`` (or
    as ``did``), or -- with ``own_did_operator`` -- naming ``did`` in its subjectAltName; without a
    certificate, a caller on this host. ``what``: the option that needs it, and ``serves`` what it does
    for the operator alone ("answers", "pays"), for the messages. Behind mutual TLS every caller presents
    a certificate, so with none the operator's a usage error: it would serve nobody."""
    try:
        from a2a_coop.a2a.callers import OPERATOR, Callers
        from a2a_coop.a2a.service import call_context
    except ImportError:
        raise UsageError(
            f"{what} with --tls-client-ca judges client certificates as the A2A binding does: "
            "it needs the a2a extra: pip install -e '.[a2a]' in the a2a-coop checkout"
        ) from None
    if not own_did_operator and not {OPERATOR, did} & set(listed.values()):
        raise UsageError(
            f"{what} with --tls-client-ca {serves} only the operator's client certificates, and none is "
            f"named: list one as 'operator' in {option} FILE, or pass --own-did-operator"
        )
    callers = Callers(listed=listed, agent=did, own_did_operator=own_did_operator)
    return lambda context: callers.identify(call_context(context)) == OPERATOR


def operator_judge(
    *,
    path: Path | None,
    tls: TlsConfig | None,
    did: str,
    own_did_operator: bool,
    what: str,
    option: str,
    serves: str = "answers",
) -> Callable[[grpc.ServicerContext], bool] | None:
    """Whether a gRPC call is the operator's (:func:`_operator_judge`, with the callers file at ``path``,
    ``option``), or None without a client CA: no caller then presents a certificate, the service is served
    on loopback alone (the caller of this refuses it elsewhere), and every caller on this host is the
    operator's."""
    if tls is None or tls.trusted_ca is None:
        read_callers_file(path, tls, option)  # a callers file with no client CA is a usage error
        return None
    listed = read_callers_file(path, tls, option)
    return _operator_judge(
        listed, did, own_did_operator=own_did_operator, what=what, option=option, serves=serves
    )


def operator_only(
    service: str,
    rule: str,
    *,
    path: Path | None,
    tls: TlsConfig | None,
    did: str,
    own_did_operator: bool,
    what: str,
    option: str,
) -> list[Any]:
    """The server interceptors that serve ``service`` only to the operator's callers (CTL-001:
    :class:`~a2a_coop.runtime.control.OperatorOnly`, refusing anyone else ``NOT_OPERATOR`` before its
    request is parsed), judged by :func:`operator_judge`; none without a client CA."""
    judge = operator_judge(
        path=path, tls=tls, did=did, own_did_operator=own_did_operator, what=what, option=option
    )
    if judge is None:
        return []
    from a2a_coop.runtime.control import OperatorOnly

    return [OperatorOnly([service], judge, rule)]


_LOOPBACK_HOSTS: Final = ("127.0.0.1", "::1", "localhost")


def test_clock(
    args: argparse.Namespace,
    tls: TlsConfig | None,
    *,
    did: str,
    path: Path | None,
    own_did_operator: bool,
    option: str,
) -> tuple[Callable[[], int] | None, list[Any], list[Any]]:
    """``--test-clock`` (CTL-003): the node's clock, the TestClockService to serve and the interceptors
    guarding it -- or (None, [], []) without the flag: the wall clock, nothing more served. Refused
    (one line) unless served on a loopback ``--host`` or behind mutual TLS; behind it, answered only to
    the operator's callers, judged as CTL-001 judges them (the callers file at ``path``, ``option``)."""
    if not getattr(args, "test_clock", False):
        return None, [], []
    mutual = tls is not None and tls.trusted_ca is not None and tls.require_client_auth
    if args.host not in _LOOPBACK_HOSTS and not mutual:
        raise UsageError(
            "--test-clock lets its caller move this process's clock forward: serve it on a loopback "
            f"--host, or with --tls-client-ca (mutual TLS), not on {args.host}"
        )
    from a2a_coop.runtime.testclock import SERVICE, TestClock, test_clock_service

    guards = operator_only(
        SERVICE,
        "CTL-003",
        path=path,
        tls=tls,
        did=did,
        own_did_operator=own_did_operator,
        what="--test-clock",
        option=option,
    )
    clock = TestClock()
    log.warning("TEST ONLY: --test-clock is on: this process's operator can move its clock forward")
    return clock, [test_clock_service(clock)], guards


test_clock.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class _PrintableFormatter(logging.Formatter):
    """Log lines whose message is :func:`printable`: a served node logs what peers sent (a refusal's
    detail quoting their statement, their issuer), and a peer's escapes or newlines reached the
    operator's terminal, or forged lines of the log (RPC-005 (b))."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _logged_statement(envelope: bytes) -> Statement | None:
    """The statement ``envelope`` carries, for a log line: decoded, never verified again (the node
    verified what it took and signed what it answers; a refused request is logged as it claims to be),
    so that logging costs a served node no signature check. None if it does not decode."""
    try:
        return decode_statement(decode_envelope(envelope).payload)
    except CoopError:
        return None


def _describe(envelope: bytes) -> str:
    """``BODY from ISSUER`` as the statement says, for a log line (:func:`_logged_statement`)."""
    stmt = _logged_statement(envelope)
    return "?" if stmt is None else f"{stmt.WhichOneof('body')} from {short(stmt.header.issuer)}"


def _bodies(envelopes: Sequence[bytes]) -> str:
    """The bodies of ``envelopes`` as their statements say, for a log line (:func:`_logged_statement`)."""
    return ", ".join(
        (stmt.WhichOneof("body") or "?") if (stmt := _logged_statement(e)) is not None else "?"
        for e in envelopes
    )


class RefusalLog:
    """Logs refused requests, at most one line a second for each kind of statement from each claimed
    issuer (the rest counted into its next line): a peer flooding us cannot grow our log with its flood."""

    INTERVAL_S: Final = 1.0
    MAX_ISSUERS: Final = 10_000  # least recently refused forgotten first: bounded whoever floods

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()  # what -> (logged at, held back)

    def refused(self, envelope: bytes, err: CoopError) -> None:
        what = _describe(envelope)
        now = self.clock()
        with self.lock:
            at, held_back = self._last.pop(what, (-self.INTERVAL_S, 0))
            if now - at < self.INTERVAL_S:
                self._last[what] = (at, held_back + 1)
                return
            self._last[what] = (now, 0)
            while len(self._last) > self.MAX_ISSUERS:
                self._last.popitem(last=False)
        more = f" (and {held_back} more refused since the last line)" if held_back else ""
        log.info("refused %s: %s %s%s", what, err.code, err.detail, more)


class LoggedPeer:
    """A CooperationHandler that logs each exchange (one line) before passing it on; refusals through a
    :class:`RefusalLog`."""

    def __init__(self, node: PeerNode) -> None:
        self.node = node
        self.refusals = RefusalLog()

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        try:
            replies = self.node.exchange(envelope, context)
        except CoopError as exc:
            self.refusals.refused(envelope, exc)
            raise
        if log.isEnabledFor(logging.INFO):
            log.info("%s -> %s", _describe(envelope), _bodies(replies) or "nothing")
        return replies

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.node.get_log(from_seq, limit)

    def get_checkpoint(self) -> bytes:
        return self.node.get_checkpoint()

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        return self.node.get_attestations(subject, limit, page_token, max_bytes)

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        return self.node.gossip(envelopes, proofs)


class LoggedEscrow:
    """An EscrowHandler that logs each Submit (one line) before passing it on."""

    def __init__(self, node: EscrowNode) -> None:
        self.node = node

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        try:
            answers = self.node.submit(envelopes)
        except CoopError as exc:
            log.info("submit of %s refused: %s %s", envelope_count(len(envelopes)), exc.code, exc.detail)
            raise
        # An empty Submit is how clients fetch our mandate: routine, not worth a line at info. The line
        # names what the answers say they are: each is a statement the node signed, or checked as it took
        # it; checking their signatures again for the line cost the escrow eight signature checks a
        # bonded trade (RELIABILITY.md, twenty-sixth session), and ran with the line not logged too.
        level = logging.INFO if envelopes else logging.DEBUG
        if log.isEnabledFor(level):
            signed = _bodies(answers[1:]) or "nothing new"
            log.log(level, "submit of %s -> %s", envelope_count(len(envelopes)), signed)
        return answers

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.node.get_ledger(from_seq, limit)

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        return self.node.get_transcript(from_seq, limit, max_bytes, opening_from)

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return self.node.get_balance(party)


def serve_until_stopped(
    peer: LoggedPeer | None,
    escrow: LoggedEscrow | None,
    args: argparse.Namespace,
    tls: TlsConfig | None,
    *,
    did: str,
    out: TextIO,
    extra_servicers: Sequence[Any] = (),
    interceptors: Sequence[Any] = (),
) -> None:
    """Listen, announce ``listening on HOST:PORT as DID`` (the line scripts wait for), serve until
    SIGINT/SIGTERM, then stop with a one-second grace."""
    with stop_on_signals() as stop:
        server = listen(peer, escrow, args, tls, extra_servicers, interceptors=interceptors)
        try:
            out.write(f"listening on {server.target} as {did}\n")
            out.flush()
            wait(stop)
        finally:
            server.stop(1.0)
            say_stopped(out)


def say_stopped(out: TextIO) -> None:
    """The line a server prints when it has stopped serving (after SIGINT/SIGTERM)."""
    try:
        out.write("stopped\n")
        out.flush()
    except OSError:  # nobody reads our output any more (a closed pipe): nothing to tell
        pass
