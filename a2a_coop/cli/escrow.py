"""The escrow commands: ``escrow serve``, ``escrow fund``, ``escrow ledger``, ``escrow export`` and
``escrow audit``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, NamedTuple, TextIO

from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError
from a2a_coop.cli._inputs import load
from a2a_coop.cli._runtime import (
    LoggedEscrow,
    check_output,
    claim_chain,
    configure_logging,
    dial_tls,
    first_contact,
    load_envelope,
    load_key,
    load_mandate,
    log,
    open_journal,
    operator_judge,
    page_limits,
    refuse_mandate_out_of_time,
    resolve_did,
    runtime_command,
    serve_until_stopped,
    server_tls,
    test_clock,
    write_transcript,
)
from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from a2a_coop.protocol.escrow import ShownBinding
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal, journal_kind
from a2a_coop.runtime.node import (
    META_ESCROW_MANDATES,
    META_ESCROW_PREDECESSOR,
    META_SHOWN_BINDINGS,
    EscrowNode,
    remember_run,
    taken_over_of,
)
from a2a_coop.runtime.peer import META_MANDATE, refuse_principal_as_agent, wall_clock_ms
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.runtime.trade import fetch_escrow_mandate, fetch_ledger, fetch_transcript
from a2a_coop.transport import EscrowClient, TlsConfig


@runtime_command
def cmd_escrow_serve(args: argparse.Namespace, out: TextIO) -> int:
    tls = server_tls(args)
    mutual = tls is not None and tls.trusted_ca is not None and tls.require_client_auth
    if args.conformance_faucet and args.host not in ("127.0.0.1", "::1", "localhost") and not mutual:
        raise UsageError(
            "--conformance-faucet lets any caller mint funds: serve it on a loopback --host, or with "
            f"--tls-client-ca (mutual TLS), not on {args.host}"
        )
    key = load_key(args.key)
    interceptors = _faucet_guard(args, tls, key.did)
    clock, clock_service, clock_guards = test_clock(
        args, tls, did=key.did, path=args.callers, own_did_operator=args.own_did_operator, option="--callers"
    )
    mandate = load_mandate(args.mandate, key)
    refuse_mandate_out_of_time(args.mandate, mandate, wall_clock_ms())  # before a journal is touched
    funding = [(resolve_did(did), amount) for did, amount in args.fund]  # all checked before any deposit
    claim_chain(args.key, key, args.journal)
    with open_journal(args.journal) as journal:  # usage checks first: a missing directory, a journal in use
        if journal_kind(journal) == "peer":  # an escrow replaying it would mark it an escrow's and fail
            raise UsageError(
                f"{args.journal} is a peer's journal (`serve` or `offer` ran on it), not an escrow's: an "
                "escrow serves on a journal of its own"
            )
        refuse_principal_as_agent(journal, key.did, mandate)  # an escrow signs under its Mandate (MND-021)
        predecessor = _predecessor(args, mandate, journal.get_meta(META_ESCROW_PREDECESSOR, []))
    quota = StrangerQuota(
        per_period=args.stranger_statements,
        per_key=args.stranger_statements_per_key,
        revocations=args.revocation_statements,
    )
    configure_logging()  # before the node: what its start says about its snapshot is logged
    every = {} if args.snapshot_every is None else {"snapshot_every": args.snapshot_every}
    node = EscrowNode(
        key,
        mandate,
        args.journal,
        faucet=args.conformance_faucet,
        stranger_quota=quota,
        predecessor=predecessor,
        **every,
        clock=clock or wall_clock_ms,
    )
    try:
        if args.conformance_faucet:
            log.warning(
                "TEST ONLY: --conformance-faucet credits %d to every new agent: never use it with real value",
                args.conformance_faucet,
            )
        if funding and node.escrow.ledger_size:
            log.warning(
                "the journal already holds a ledger: --fund applies only to a new escrow; ignored "
                "(to credit a party now, stop the escrow and run `a2a-coop escrow fund DID=AMOUNT ...`)"
            )
        elif funding:
            for did, amount in funding:
                node.deposit(did, amount)
                log.info("deposit %d for %s", amount, did)
        if node.escrow.succeeds:
            log.info(
                "successor of %s (ESC-022): %d of its contracts taken over, open",
                node.escrow.succeeds,
                node.escrow.open_contracts,
            )
        remember_run(node.journal, mandate, [])
        node.start_ticking(args.tick_ms / 1000)
        serve_until_stopped(
            None,
            LoggedEscrow(node),
            args,
            tls,
            did=key.did,
            out=out,
            extra_servicers=clock_service,
            interceptors=[*interceptors, *clock_guards],
        )
    finally:
        node.close()
    return EXIT_OK


def _faucet_guard(args: argparse.Namespace, tls: TlsConfig | None, did: str) -> list[Any]:
    """With ``--conformance-faucet`` behind a client CA, what pays the faucet on the escrow's operator's
    Submits alone (CTL-002): each Submit's caller is judged from its client certificate before anything
    is deposited, and anyone else's Submit is served as by an escrow without a faucet (EscrowService
    stays every caller's). Without a client CA no caller has a certificate and every one is on this
    host (the faucet is refused elsewhere): none is needed. ``did``: the escrow's own did:key
    (``--own-did-operator``)."""
    for option, given in (
        ("--callers", args.callers is not None),
        ("--own-did-operator", args.own_did_operator),
    ):
        if given and not args.conformance_faucet and not args.test_clock:
            raise UsageError(
                f"{option} judges the faucet's callers (CTL-002) or the test clock's (CTL-003): it needs "
                "--conformance-faucet or --test-clock"
            )
        if given and (tls is None or tls.trusted_ca is None):
            raise UsageError(f"{option} judges client certificates: it needs --tls-client-ca")
    if not args.conformance_faucet:
        return []
    judge = operator_judge(
        path=args.callers,
        tls=tls,
        did=did,
        own_did_operator=args.own_did_operator,
        what="--conformance-faucet",
        option="--callers",
        serves="pays",
    )
    if judge is None:
        return []
    from a2a_coop.runtime.control import OperatorsFaucet
    from a2a_coop.transport.server import ESCROW_SERVICE

    return [OperatorsFaucet(f"/{ESCROW_SERVICE}/Submit", judge)]


def _predecessor(args: argparse.Namespace, mandate: bytes, held: list[bytes]) -> list[bytes]:
    """ESC-023: what ``--succeeds`` gives -- the old escrow's transcript and the revocations of its key --
    checked against the hand-over (``--mandate``) and what the journal took over already."""
    old = verify_statement(mandate).statement.mandate.succeeds
    files = args.succeeds or []
    if files and not old:
        raise UsageError(
            "--succeeds takes over a revoked escrow key's contracts: --mandate must be its principal's "
            "hand-over, a Mandate naming that key in succeeds (ESC-022; `a2a-coop mandate --succeeds`)"
        )
    if not files:
        if old and not held:
            raise UsageError(
                f"this Mandate hands over the escrow key {old} (ESC-022): give its transcript (`escrow "
                "export` of its journal) and the KeyRevocation of it with --succeeds"
            )
        return []
    if held:
        raise UsageError(
            f"{args.journal} took over {old}'s ledger already: start it again without --succeeds"
        )
    envelopes = [item.data for item in load(files).items]
    revocations = [
        vs
        for vs in map(verify_statement, envelopes)
        if vs.body == "key_revocation" and vs.statement.key_revocation.key == old
    ]
    if not revocations:
        raise UsageError(
            f"--succeeds: no KeyRevocation of {old} among the files: a successor takes over a revoked "
            "key only, from its revocation's effective time (ESC-022)"
        )
    return envelopes


@runtime_command
def cmd_escrow_fund(args: argparse.Namespace, out: TextIO) -> int:
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    funding = [(resolve_did(did), amount) for did, amount in args.funding]  # all checked before any deposit
    with open_journal(args.journal, must_exist=True, lock=False) as journal:  # whose, even if in use
        ours = [env for env in journal.get_meta(META_ESCROW_MANDATES, []) if _agent(env) == key.did]
    if not ours:  # a peer's journal, or another escrow's: deposits there would fund nobody
        raise UsageError(
            f"{args.journal} is not the journal of the escrow {key.did}: no `escrow serve` ran on it "
            "with this key (a new escrow is funded with `escrow serve --fund`)"
        )
    in_use = "stop the escrow first (escrow fund writes its journal), then start it again"
    open_journal(args.journal, must_exist=True, in_use=in_use).close()  # a running escrow holds it
    node = EscrowNode(key, mandate, args.journal)
    try:
        for did, amount in funding:
            vs = node.deposit(did, amount, args.reference)
            available, locked, currency, _ = node.get_balance(did)
            out.write(
                f"deposit {amount} for {did} (ledger seq {vs.header.seq}): {available} {currency} "
                f"available, {locked} locked\n"
            )
    finally:
        node.close()
    return EXIT_OK


def _agent(mandate: bytes) -> str:
    return verify_statement(mandate).statement.mandate.agent


@runtime_command
def cmd_escrow_ledger(args: argparse.Namespace, out: TextIO) -> int:
    check_output(args.out)
    with EscrowClient(args.escrow, tls=dial_tls(args), page_limits=page_limits(args)) as client:
        envelopes = first_contact("--escrow", args.escrow, "escrow", lambda: fetch_ledger(client))
    did = verify_statement(envelopes[0]).statement.mandate.agent
    write_transcript(args.out, envelopes, escrow=did)
    out.write(f"{len(envelopes) - 1} ledger statements of {did} written to {args.out}\n")
    return EXIT_OK


def escrow_transcript(journal: Journal, mandate: bytes | None = None) -> list[bytes]:
    """An escrow's transcript from its journal: its mandate, then every statement it accepted or
    signed in the order it did (evidence before the decisions taken on it), as audit_ledger reads it."""
    escrows = {_agent(env) for env in journal.get_meta(META_ESCROW_MANDATES, [])}
    if not escrows:  # a peer's journal: its own mandate taken for an escrow's made a bogus ledger
        raise UsageError(
            f"{journal.path} is not an escrow's journal (no escrow served on it); a peer's evidence is "
            "written by `a2a-coop export --negotiation ID`"
        )
    mandate = mandate or journal.get_meta(META_MANDATE, kind=bytes)
    if mandate is None:
        raise UsageError(f"{journal.path} records no mandate; pass --mandate")
    if _agent(mandate) not in escrows:
        raise UsageError(f"the mandate given is not that of the escrow whose journal {journal.path} is")
    taken_over, rows = taken_over_of(journal)  # a successor's (ESC-023 (c)), first
    first, last = rows if rows is not None else (0, -1)
    rest = [env for at, _, env in journal.statements() if env != mandate and not first <= at <= last]
    return _with_shown(journal, rest, [*taken_over, mandate])


def _with_shown(journal: Journal, rows: list[bytes], prefix: list[bytes]) -> list[bytes]:
    """``prefix`` then ``rows``, with the bindings shown, not held, kept beside the journal (KEY-007;
    META_SHOWN_BINDINGS) in place, as the escrow's transcript has them: each before the revocation it
    authorised (ESC-018, among ``rows``), or right after what came before it (refused KEY_REVOKED alone,
    KEY-007 (a): one of a negotiation, unstamped, may come right after the ``prefix``)."""
    shown = [ShownBinding(*value) for _, value in journal.meta_under(META_SHOWN_BINDINGS + "/")]
    if not shown:
        return [*prefix, *rows]
    before = {b.revocation: b.binding for b in shown if b.revocation}
    after: dict[bytes, list[bytes]] = {}
    for b in shown:
        if not b.revocation:
            after.setdefault(b.after, []).append(b.binding)
    out: list[bytes] = []

    def place(env: bytes, digest: bytes) -> None:
        if digest in before:
            out.append(before[digest])
        out.append(env)
        for binding in after.get(digest, ()):
            place(binding, statement_digest(decode_envelope(binding).payload))

    for env in prefix:
        out.append(env)
        for binding in after.get(statement_digest(decode_envelope(env).payload), ()):
            place(binding, statement_digest(decode_envelope(binding).payload))
    for env in rows:
        place(env, statement_digest(decode_envelope(env).payload))
    return out


@runtime_command
def cmd_escrow_export(args: argparse.Namespace, out: TextIO) -> int:
    check_output(args.out)
    # The escrow's own Mandate names it: a successor's transcript opens with its predecessor's (ESC-023).
    if args.escrow is not None:
        with EscrowClient(args.escrow, tls=dial_tls(args), page_limits=page_limits(args)) as client:
            envelopes = first_contact("--escrow", args.escrow, "escrow", lambda: fetch_transcript(client))
            own = fetch_escrow_mandate(client)
    else:
        mandate = load_envelope(args.mandate, "mandate") if args.mandate is not None else None
        with open_journal(args.journal, must_exist=True, lock=False) as journal:  # it may be serving
            envelopes = escrow_transcript(journal, mandate)
            own = mandate or journal.get_meta(META_MANDATE, kind=bytes)
    did = _agent(own)
    write_transcript(args.out, envelopes, escrow=did)
    out.write(f"{len(envelopes)} statements (ledger and evidence) of {did} written to {args.out}\n")
    return EXIT_OK


@runtime_command
def cmd_escrow_audit(args: argparse.Namespace, out: TextIO) -> int:
    inputs = load(args.files)
    escrow = resolve_did(args.escrow_did) if args.escrow_did is not None else None  # a typo: no findings
    report = audit_ledger([item.data for item in inputs.items], escrow=escrow)
    hint = None
    if args.escrow_did is None:
        ambiguous = any(f.code == "ESCROW_AMBIGUOUS" for f in report.findings)
        hint = _which_escrow(report.escrow, inputs.named_escrows, ambiguous=ambiguous)
    if args.json:
        doc = {
            "result": "ok" if report.ok else "findings",
            "escrow": report.escrow,
            "statements": len(report.statements),
            "balances": {p: {"available": a, "locked": lk} for p, (a, lk) in report.balances.items()},
            "findings": [
                {"code": f.code, "message": f.message, "digests": [d.hex() for d in f.digests]}
                for f in report.findings
            ],
            # The escrow to pass --escrow-did to (null: any), and the text output's note, or null.
            "hint": None if hint is None else {"escrow_did": hint.escrow_did, "note": hint.note},
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK if report.ok else EXIT_INVALID
    out.write(f"escrow {report.escrow or '(none audited)'}: {len(report.statements)} statements\n")
    for party, (available, locked) in report.balances.items():
        out.write(f"  {party}: {available} available, {locked} locked\n")
    for f in report.findings:
        digests = ", ".join(d.hex()[:16] for d in f.digests)
        out.write(f"FINDING {f.code}: {f.message}" + (f" ({digests})" if digests else "") + "\n")
    out.write("ledger ok: no findings\n" if report.ok else f"{len(report.findings)} findings\n")
    if hint is not None:
        out.write(f"note: {hint.note}\n")
    if any(f.code == "CHAIN_GAP" and "the ledger starts at seq" in f.message for f in report.findings):
        # A trade's evidence (`export`) holds a few of the escrow's statements, not its ledger from seq 0:
        # every finding after that one is what the missing part would explain.
        out.write(
            "note: this is not an escrow's whole ledger: `a2a-coop escrow export` writes the transcript to "
            "audit; a trade's evidence (`a2a-coop export`) is checked with `a2a-coop verify`\n"
        )
    return EXIT_OK if report.ok else EXIT_INVALID


class EscrowHint(NamedTuple):
    """What to pass ``--escrow-did`` with: the escrow's did:key (None: the auditor's to choose), and why."""

    escrow_did: str | None
    note: str


def _which_escrow(
    audited: str | None, named: Sequence[tuple[str, str]], *, ambiguous: bool
) -> EscrowHint | None:
    """What to pass when the audit, told no escrow, judged another escrow than the file names, or none
    (several keys signed ledger statements, ``ESCROW_AMBIGUOUS``): a successor's export holds its
    predecessor's ledger first, and its own statements after, if it signed any yet (AUD-006). The file's
    ``escrow`` field (``escrow export`` writes it) is its author's word, so the auditor passes it; the
    audit never picks it (AUD-001). None when there is nothing to say."""
    files = {did for _, did in named}
    if len(files) == 1 and audited not in files and (audited is not None or ambiguous):
        path, did = named[0]
        what = "" if audited is None else f", not {audited}, the one key that signed ledger statements"
        return EscrowHint(
            did,
            f"{path} names its escrow {did}{what} (the field `escrow export` writes): to audit it, "
            f"run again with --escrow-did {did}",
        )
    if ambiguous:
        return EscrowHint(
            None, "pass --escrow-did DID (or the escrow's key file) to name the escrow to audit"
        )
    return None
