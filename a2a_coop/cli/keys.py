"""``revoke-key``: a principal withdraws its agent's key (SPEC 3.4), and sends the revocation where it
must count.

A principal's KeyRevocation is authorised only by a statement binding the key to it (KEY-007): a
verifier that has heard nothing of the key refuses it (``REVOCATION_UNAUTHORIZED``) and records
nothing. So the revocation travels with the principal's Mandate for the key and a statement of the key
under it -- its first Checkpoint under the Mandate, given as a file or read from the agent's own
peer's log -- as context (KEY-008), and a target that refused it is sent it again by running the
command again: the revocation kept in ``--out`` is sent, not signed anew.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

import grpc

from a2a_coop.cli._common import EXIT_OK, EXIT_UNFINISHED, UsageError, iso, short
from a2a_coop.cli._inputs import load
from a2a_coop.cli._runtime import (
    check_new_output,
    claim_chain,
    dial_tls,
    first_contact,
    load_envelope,
    load_key,
    load_statements,
    open_journal,
    resolve_did,
    runtime_command,
)
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.errors import (
    ChainBroken,
    CoopError,
    Equivocation,
    LogRootMismatch,
    NonceReused,
    RateLimited,
    RevocationUnauthorized,
)
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.node import mandates_for, sign_key_revocation
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.transport import CooperationClient, EscrowClient, TlsConfig, TransportError

# A binding refused for one of these alone -- faults against the key's other statements, which its
# thief causes at will -- is shown with the revocation in one Submit (KEY-007, ESC-001).
_AGAINST_OTHERS = (Equivocation, ChainBroken, LogRootMismatch, NonceReused)


@runtime_command
def cmd_revoke_key(args: argparse.Namespace, out: TextIO) -> int:
    signer = load_key(args.principal)
    key = resolve_did(args.agent)
    journal_path: Path = args.journal or args.principal.with_suffix(".db")
    if journal_path.resolve() == args.principal.resolve():
        raise UsageError("the principal's journal cannot be its key file; pass --journal")
    if args.out.resolve() == journal_path.resolve():
        raise UsageError(f"--out {args.out} is the principal's journal; write the revocation elsewhere")
    own = key == signer.did  # a key revoking itself needs no binding (KEY-004)
    kept = None if args.force else _kept_revocation(args.out, signer.did, key, args.effective)
    context: list[bytes] = []
    if not own:
        context = _mandates(args, journal_path, signer.did, key)
        context += _bindings(args, key, [verify_statement(m) for m in context], out)
    if kept is None:
        check_new_output(args.out, args.force, "a revocation file")
        length = _chain_length(args.chain_of, key) if args.chain_of else 0
        if length and own:
            raise UsageError(
                "--chain-of is a principal's statement (KEY-011 (e)): a key revoking itself has none"
            )
        effective = wall_clock_ms() if args.effective is None else args.effective
        claim_chain(args.principal, signer, journal_path)
        with open_journal(journal_path) as journal:
            revocation = sign_key_revocation(
                signer,
                journal,
                key,
                effective_ms=effective,
                reason=args.reason,
                now_ms=wall_clock_ms(),
                chain_length=length,
            )
        _write(args.out, revocation.envelope, args.force)
        head = f", its chain {length} statements long" if length else ""
        out.write(
            f"key revocation {revocation.digest.hex()[:16]} of {key} from {iso(effective)}{head} signed "
            f"(seq {revocation.header.seq}), written to {args.out}\n"
        )
        if own and args.effective is not None and effective < revocation.issued_at_ms:
            out.write(
                f"a key's own revocation reaches back over nothing (KEY-011): it takes effect from "
                f"{iso(revocation.issued_at_ms)}; to disown what a thief signed before, revoke the key "
                "from its principal's key\n"
            )
    else:
        revocation = kept
        since = iso(revocation.statement.key_revocation.effective_ms)
        out.write(
            f"key revocation {revocation.digest.hex()[:16]} of {key} from {since} read from {args.out} "
            "(not signed again)\n"
        )
    if not args.send and not args.escrow:
        out.write("sent nowhere (--send HOST:PORT, --escrow HOST:PORT): publish the file yourself\n")
        return EXIT_OK
    tls = dial_tls(args)
    refused = sum(not _send_to_peer(a, revocation, context, tls, out, own=own) for a in args.send)
    refused += sum(not _submit_to_escrow(a, revocation, context, tls, out) for a in args.escrow)
    if refused:
        out.write(
            f"{refused} of {len(args.send) + len(args.escrow)} did not take it: run this again to resend\n"
        )
        return EXIT_UNFINISHED
    return EXIT_OK


def _chain_length(path: str, key: str) -> int:
    """KEY-011 (e): the length of ``key``'s chain in its record at ``path`` (an escrow's export): its
    highest seq there, plus one. The principal states it from the record it runs the key with; a record
    cut short states less, and disowns what the key signed above it."""
    seqs = []
    for item in load([path]).items:
        try:
            vs = verify_statement(item.data)
        except CoopError:
            continue
        if vs.issuer == key:
            seqs.append(vs.seq)
    if not seqs:
        raise UsageError(f"--chain-of {path}: no statement of {short(key)} in it")
    return max(seqs) + 1


def _kept_revocation(path: Path, signer: str, key: str, effective: int | None) -> VerifiedStatement | None:
    """The revocation of ``key`` by ``signer`` that an earlier run wrote to ``path`` (sent again, not
    signed again); None when there is no file. Another file there is the user's: not replaced."""
    if not path.exists():
        return None
    vs = verify_statement(load_envelope(path, "revocation file"))
    if vs.body != "key_revocation" or vs.issuer != signer or vs.statement.key_revocation.key != key:
        raise UsageError(
            f"{path} exists and is not a revocation of {short(key)} by this principal (--force replaces it)"
        )
    if effective is not None and effective != vs.statement.key_revocation.effective_ms:
        raise UsageError(
            f"{path} revokes {short(key)} from {iso(vs.statement.key_revocation.effective_ms)}, not "
            f"{iso(effective)}: --force signs a new revocation (verifiers apply the earliest they hold)"
        )
    return vs


def _mandates(args: argparse.Namespace, journal_path: Path, principal: str, key: str) -> list[bytes]:
    """The principal's Mandates for ``key``: from --mandate, else from the principal's journal."""
    if args.mandate is not None:
        envelope = load_envelope(args.mandate, "mandate")
        vs = verify_statement(envelope)
        if vs.body != "mandate" or vs.issuer != principal or vs.statement.mandate.agent != key:
            raise UsageError(f"{args.mandate} is not a Mandate of this principal for {short(key)}")
        return [envelope]
    found: list[bytes] = []
    if journal_path.exists():
        with open_journal(journal_path, must_exist=True) as journal:
            found = mandates_for(journal, principal, key)
    if not found:
        raise UsageError(
            f"the principal's journal {journal_path} holds no Mandate for {short(key)}: only the key itself "
            "or a principal it signed under may revoke it (KEY-004); pass --mandate FILE if it was signed "
            "elsewhere"
        )
    return found


def _bindings(
    args: argparse.Namespace, key: str, mandates: Sequence[VerifiedStatement], out: TextIO
) -> list[bytes]:
    """Statements of ``key`` under one of ``mandates``: --binding files, and the key's first Checkpoint
    under them that the peer at --binding-from serves. Each binds the key to the principal (KEY-007); one
    that a verifier holding only the Mandates refuses is a usage error, never sent: every target would
    refuse it, and the revocation with it (KEY-008) -- a thief who took the agent's peer with its key
    answers --binding-from as it likes (tests/test_attack16.py)."""
    found = [_binding_in(path, key, mandates, out) for path in args.binding]
    if args.binding_from is not None:
        found.append(_fetch_binding(args.binding_from, dial_tls(args), key, mandates, out))
    digests = {m.digest for m in mandates}
    for what, envelope in found:
        vs = verify_statement(envelope)
        if vs.issuer != key or vs.header.mandate not in digests:
            raise UsageError(
                f"{what} is by {short(vs.issuer)} under {'no' if not vs.header.mandate else 'another'} "
                f"Mandate: a binding is a statement of {short(key)} under this principal's Mandate"
            )
        why = _binding_refusal(vs, mandates)
        if why is not None:
            raise UsageError(
                f"{what} would be refused by every target ({why}), and the revocation with it (KEY-008): "
                f"give a Checkpoint of {short(key)} you trust with --binding FILE"
            )
    return [envelope for _, envelope in found]


def _binding_in(
    path: Path, key: str, mandates: Sequence[VerifiedStatement], out: TextIO
) -> tuple[str, bytes]:
    """``--binding FILE``: a statement file, or a transcript (``a2a-coop export`` of a negotiation the
    agent took part in, ``escrow export``), from which the key's earliest statement under one of
    ``mandates`` that every target takes is picked, a public one (no audience: a Checkpoint, an
    Attestation) first -- an agent that never served has no log to give ``--binding-from``, but its
    trades' transcripts hold its statements. A statement addressed to a peer binds the key only there
    and at the escrow its trade names: any other refuses it (STM-005, ESC-011), which the command says."""
    statements = load_statements(path, "binding statement")
    if len(statements) == 1:
        return str(path), statements[0]
    digests = {m.digest for m in mandates}
    ours = [
        vs for vs in map(verify_statement, statements) if vs.issuer == key and vs.header.mandate in digests
    ]
    taken = [vs for vs in ours if _binding_refusal(vs, mandates) is None]
    if not taken:
        why = "every one would be refused" if ours else "none is"
        raise UsageError(
            f"{path} is a transcript of {len(statements)} statements, and {why} a statement of {short(key)} "
            "under this principal's Mandate (its binding, KEY-007): export a negotiation the agent took part "
            "in, or give its Checkpoint with --binding FILE"
        )
    public = [vs for vs in taken if not vs.audience]
    first = min(public or taken, key=lambda vs: (vs.header.issued_at_ms, vs.digest))
    if first.audience:
        out.write(
            f"binding: {path} holds no public statement of {short(key)}; its {first.body} "
            f"{first.digest.hex()[:12]} is addressed to {short(first.audience)}, which takes it as the "
            "binding, as does the escrow the trade names; any other peer and escrow refuse it: give "
            "those a Checkpoint of the key: serve the agent's journal a moment (a2a-coop serve --key K "
            "--mandate M --journal J) and pass its address to --binding-from\n"
        )
    return f"{path} (its {first.body} {first.digest.hex()[:12]})", first.envelope


# The pages of the agent's log read for its first Checkpoint (KEY-008) before settling for its latest:
# it is at seq 0 unless the key signed under another principal first.
BINDING_PAGES = 8


def _fetch_binding(
    address: str, tls: TlsConfig | None, key: str, mandates: Sequence[VerifiedStatement], out: TextIO
) -> tuple[str, bytes]:
    """The key's first Checkpoint under one of ``mandates``, read from the log of the peer at ``address``
    (GetLog from seq 0), KEY-008's binding: a later one is refused where a statement of the key issued
    before it at a higher seq is held (CHN-005) -- a thief's, say -- or where a revocation of the key
    dated before it is held (KEY_REVOKED), and the revocation with it, while the first, signed before
    either, is taken. When the peer gives none, its head Checkpoint (GetCheckpoint): the key's first when
    its whole log showed none before (a journal that only made offers, served for this, signs its first
    on asking), else said in one line."""
    with CooperationClient(address, tls=tls) as client:

        def first() -> tuple[bytes | None, bool, str]:
            try:
                return *_first_checkpoint(client, key, mandates), ""
            except CoopError as exc:
                return None, False, _one_line(exc)
            except TransportError as exc:  # nothing answering, or no peer there: said as such
                if exc.code in _NOT_A_PEER:
                    raise
                return None, False, _one_line(exc)

        envelope, whole, failed = first_contact("--binding-from", address, "peer", first)
        if envelope is not None:
            return f"the first Checkpoint in the log of the peer at {address}", envelope
        why = failed or (
            f"no Checkpoint of {short(key)} under this principal's Mandate in the part of its log it shows"
        )
        checkpoint = first_contact("--binding-from", address, "peer", client.get_checkpoint)
        if whole and _is_binding_checkpoint(checkpoint, key, mandates):
            # Signed after a log that held none of the key's: its first, nothing to warn of.
            return f"the first Checkpoint of the peer at {address} (signed on asking)", checkpoint
        out.write(
            f"binding: the peer at {address} gave not the key's first Checkpoint ({why}): sending its "
            "latest, which a target holding a later statement of the key may refuse (KEY-008)\n"
        )
        return f"the Checkpoint of the peer at {address}", checkpoint


_NOT_A_PEER: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED}
)


def _first_checkpoint(
    client: CooperationClient, key: str, mandates: Sequence[VerifiedStatement]
) -> tuple[bytes | None, bool]:
    """The first Checkpoint of ``key`` under one of ``mandates`` in the public log ``client`` reads, in
    its first :data:`BINDING_PAGES` pages, that a verifier holding only the Mandates takes
    (:func:`_binding_refusal`: one it refuses is skipped), or None if there is none there; and whether
    the whole log was read (fewer pages than that: a Checkpoint of the key signed next is its first)."""
    read = 0
    for page in itertools.islice(client.log_pages(0), BINDING_PAGES):  # no page past them asked
        read += 1
        for envelope in page:
            if _is_binding_checkpoint(envelope, key, mandates):
                return envelope, True
    return None, read < BINDING_PAGES


def _is_binding_checkpoint(envelope: bytes, key: str, mandates: Sequence[VerifiedStatement]) -> bool:
    """Whether ``envelope`` is a Checkpoint of ``key`` under one of ``mandates`` that a verifier holding
    only the Mandates takes as the key's binding."""
    vs = verify_statement(envelope)
    ours = vs.issuer == key and vs.body == "checkpoint" and vs.header.mandate in {m.digest for m in mandates}
    return ours and _binding_refusal(vs, mandates) is None


def _binding_refusal(vs: VerifiedStatement, mandates: Sequence[VerifiedStatement]) -> str | None:
    """Why a verifier holding only ``mandates`` refuses ``vs`` as a key's binding (KEY-008), in one line;
    None if it takes it. Checked alone -- not against the other statements of the key, which only a
    target holds, and whose forks only show a binding, never refuse it (KEY-007) -- and so what every
    target refuses: a date outside the Mandate's validity (MND-003), a scope it does not grant."""
    now = wall_clock_ms()
    verifier = Verifier()
    for mandate in mandates:
        # One refused is checked below as a target would: a binding under it is refused for it.
        with contextlib.suppress(CoopError):
            verifier.accept_statement(mandate, received_ms=now)
    try:
        verifier.check(vs, received_ms=now, alone=True)
    except CoopError as exc:
        return _one_line(exc)
    return None


def _send_to_peer(
    address: str,
    revocation: VerifiedStatement,
    context: list[bytes],
    tls: TlsConfig | None,
    out: TextIO,
    *,
    own: bool,
) -> bool:
    try:
        with CooperationClient(address, tls=tls) as client:
            first_contact("--send", address, "peer", lambda: client.exchange(revocation.envelope, context))
    except RevocationUnauthorized:
        out.write(_unauthorized("peer", address, bound=own or len(context) > 1))
        return False
    except (CoopError, UsageError, TransportError) as exc:
        out.write(f"peer {address}: not taken: {_one_line(exc)}\n")
        return False
    out.write(f"peer {address}: taken\n")
    return True


def _submit_to_escrow(
    address: str, revocation: VerifiedStatement, context: list[bytes], tls: TlsConfig | None, out: TextIO
) -> bool:
    """The Mandates and bindings in one Submit, then the revocation in another: an escrow takes a Submit's
    envelopes in order and stops at the first it refuses, and a binding it refuses -- a statement of a
    leaked key at a seq the thief also signed at there (EQUIVOCATION), or dated after a revocation of the
    key it holds (KEY_REVOKED) -- would otherwise keep out a revocation that what it holds already
    authorises (the thief's own statements under our Mandate bind the key to us, KEY-007). A binding
    refused only for its chain or nonce (a thief's fork at its seq, under a Mandate of the thief's own
    principal) binds the key all the same when the revocation follows it in the same Submit (KEY-007,
    ESC-018): the revocation then goes right after each binding in turn, with the Mandate it cites
    (:func:`_shown_with`), until the escrow takes it. A context refused over the escrow's newcomer quota
    (RATE_LIMITED): the revocation alone, then right after each binding with the Mandate it cites, one
    Submit each -- a revocation and what its authority depends on, which the escrow's revocations'
    reserve takes when its quota is full (ESC-017)."""
    unbound = ""
    shown = limited = False
    try:
        with EscrowClient(address, tls=tls) as client:
            if context:
                try:
                    first_contact("--escrow", address, "escrow", lambda: client.submit(context))
                except CoopError as exc:
                    shown = isinstance(exc, _AGAINST_OTHERS)
                    limited = isinstance(exc, RateLimited)
                    said = "refused alone, shown with it" if shown else "not taken"
                    unbound = f" (its binding was {said}: {_one_line(exc)})"
            tries = _shown_with(context, revocation) if shown else [[revocation.envelope]]
            if limited:
                tries += [t for t in _shown_with(context, revocation) if len(t) > 1]
            for i, evidence in enumerate(tries):
                try:
                    first_contact("--escrow", address, "escrow", functools.partial(client.submit, evidence))
                    break
                except (RevocationUnauthorized, *_AGAINST_OTHERS):
                    if i == len(tries) - 1:
                        raise  # each binding tried: the last refusal says why
    except RevocationUnauthorized:
        out.write(_unauthorized("escrow", address, bound=len(context) > 1, unbound=unbound))
        return False
    except (CoopError, UsageError, TransportError) as exc:
        out.write(f"escrow {address}: not taken: {_one_line(exc)}{unbound}\n")
        return False
    out.write(f"escrow {address}: taken{unbound}\n")
    return True


def _shown_with(context: Sequence[bytes], revocation: VerifiedStatement) -> list[list[bytes]]:
    """For each binding of ``context`` (a statement under one of its Mandates), in order: [the Mandate it
    cites, it, ``revocation``] -- one Submit each, the revocation right after the binding, as the escrow
    shows a binding refused only for its chain or nonce (ESC-018); the Mandate alone of the context's,
    so that the Submit stays small enough to go as one request (a split would part the two)."""
    verified = [verify_statement(env) for env in context]
    mandates = {vs.digest: vs.envelope for vs in verified if vs.body == "mandate"}
    tries = [
        [mandates[vs.header.mandate], vs.envelope, revocation.envelope]
        for vs in verified
        if vs.body != "mandate" and vs.header.mandate in mandates
    ]
    return tries or [[revocation.envelope]]


def _unauthorized(what: str, address: str, *, bound: bool, unbound: str = "") -> str:
    """The line for a target that refused the revocation REVOCATION_UNAUTHORIZED: with what to add when
    no binding was sent (KEY-008)."""
    hint = "" if bound else ": pass --binding FILE or --binding-from HOST:PORT (KEY-008)"
    refused = "refused REVOCATION_UNAUTHORIZED, it holds nothing binding the key to us"
    return f"{what} {address}: {refused}{unbound}{hint}\n"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _write(path: Path, envelope: bytes, force: bool) -> None:
    try:
        with path.open("w" if force else "x") as f:
            f.write(json.dumps(envelope_to_json(envelope), indent=2) + "\n")
    except FileExistsError:
        raise UsageError(f"{path} exists; refusing to overwrite it (--force replaces it)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
