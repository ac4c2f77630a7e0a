"""The networked commands of ``a2a-coop``: mandate, serve, escrow, offer, claim, revoke, status, export.

:mod:`a2a_coop.cli` parses the arguments and loads this module only when one
of these commands runs, because it imports the gRPC transport: ``a2a-coop
verify`` never pays for it. Exit codes follow the CLI's rule: 0 done, 1
something was invalid or refused (a mandate that does not verify, a statement
the counterparty rejected, an audit with findings), 2 usage, I/O or network
errors, each with one line on stderr and no traceback.

A journal remembers the mandate (and context) its peer ran with, so ``status``
and ``export`` need only the journal and the key.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli import EXIT_INVALID, EXIT_OK, UsageError, iso
from a2a_coop.envelope import envelope_to_json
from a2a_coop.errors import CoopError, IllegalTransition
from a2a_coop.escrow import audit_ledger
from a2a_coop.identity import Keypair, public_key_from_did
from a2a_coop.journal import Journal, JournalError
from a2a_coop.keyfile import KeyFileError, read_key_file
from a2a_coop.negotiation import Negotiation, State
from a2a_coop.node import (
    DAY_MS,
    EscrowNode,
    PeerNode,
    claim_breach,
    read_envelope_file,
    relay_escrow_answers,
    revoke,
    run_trade,
    settle_with_escrow,
    sign_mandate,
)
from a2a_coop.peer import Peer, drive, wall_clock_ms
from a2a_coop.statements import VerifiedStatement, verify_statement
from a2a_coop.strategy import HonestStrategy, Strategy, WithholdingStrategy
from a2a_coop.transport import CooperationClient, EscrowClient, TlsConfig, TransportError, serve
from a2a_coop.verifier import verify_transcript

META_MANDATE: Final = "a2a-coop/mandate"
META_CONTEXT: Final = "a2a-coop/context"
EXIT_INTERRUPTED: Final = 130

log = logging.getLogger("a2a_coop.serve")


class Invalid(Exception):
    """Something the user gave us does not verify or was refused: exit 1 with one line."""


# --- inputs --------------------------------------------------------------------------------


def load_key(path: Path) -> Keypair:
    try:
        return read_key_file(path)
    except OSError as exc:
        raise UsageError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    except KeyFileError as exc:
        raise UsageError(f"{path}: {exc}") from None


def load_envelope(path: Path, what: str) -> bytes:
    try:
        data = read_envelope_file(path)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except CoopError as exc:
        raise Invalid(f"{what} {path}: {exc}") from None
    try:
        verify_statement(data)
    except CoopError as exc:
        raise Invalid(f"{what} {path} does not verify: {exc}") from None
    return data


def load_mandate(path: Path, key: Keypair) -> bytes:
    """A Mandate envelope from ``path`` that delegates to ``key``."""
    data = load_envelope(path, "mandate")
    vs = verify_statement(data)
    if vs.body != "mandate":
        raise Invalid(f"{path} holds a {vs.body}, not a mandate")
    if vs.statement.mandate.agent != key.did:
        raise UsageError(f"the mandate in {path} delegates to {vs.statement.mandate.agent}, not to {key.did}")
    return data


def resolve_did(text: str) -> str:
    """A did:key as given, or the did of a key file."""
    if not text.startswith("did:"):
        path = Path(text)
        if path.exists():
            return load_key(path).did
        raise UsageError(f"{text!r} is neither a did:key nor a key file")
    try:
        public_key_from_did(text)
    except CoopError as exc:
        raise UsageError(f"{text}: {exc.detail}") from None
    return text


def open_journal(path: Path, *, must_exist: bool = False) -> Journal:
    if must_exist and not path.is_file():
        raise UsageError(f"no journal at {path}")
    if not path.parent.is_dir():
        raise UsageError(f"cannot create journal {path}: no directory {path.parent}")
    try:
        return Journal.open(path)
    except JournalError as exc:
        raise UsageError(f"journal {path}: {exc}") from None


def build_strategy(spec: str) -> Strategy:
    """``honest`` or ``withhold-every-Nth:N`` (the CLI checked the form)."""
    if spec == "honest":
        return HonestStrategy()
    return WithholdingStrategy(every=int(spec.rsplit(":", 1)[1]))


def peer_from_journal(args: argparse.Namespace) -> tuple[Peer, Journal]:
    """The peer a journal belongs to, rebuilt from it without writing (for status and export)."""
    key = load_key(args.key)
    journal = open_journal(args.journal, must_exist=True)
    try:
        if args.mandate is not None:
            mandate = load_mandate(args.mandate, key)
        else:
            mandate = journal.get_meta(META_MANDATE)
            if mandate is None:
                raise UsageError(f"{args.journal} records no mandate; pass --mandate")
        context = journal.get_meta(META_CONTEXT, [])
        try:
            return Peer(key, mandate, journal=journal, context=context), journal
        except ValueError as exc:
            raise UsageError(f"{args.journal}: {exc}") from None
    except BaseException:
        journal.close()
        raise


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


def _tls_files(args: argparse.Namespace, ca: Path | None, ca_option: str) -> dict[str, Any]:
    cert, key = args.tls_cert, args.tls_key
    if (cert is None) != (key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    return {
        "certificate_chain": _pem(cert, "--tls-cert"),
        "private_key": _pem(key, "--tls-key"),
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


def dial_tls(args: argparse.Namespace) -> TlsConfig | None:
    """TLS for the clients a command opens, from --tls-ca/--tls-cert/--tls-key/--tls-server-name;
    None (plaintext) unless one of them is given. Without --tls-ca, the system roots are trusted."""
    files = _tls_files(args, args.tls_ca, "--tls-ca")
    if all(v is None for v in files.values()) and args.tls_server_name is None:
        return None
    return TlsConfig(**files, server_name=args.tls_server_name)


def remember_run(journal: Journal, mandate: bytes, context: Sequence[bytes]) -> None:
    journal.put_meta(META_MANDATE, mandate)
    journal.put_meta(META_CONTEXT, list(context))


# --- running -------------------------------------------------------------------------------


def run(command: Callable[[argparse.Namespace, TextIO], int], args: argparse.Namespace, out: TextIO) -> int:
    """Run a command, turning the failures a user can cause into exit codes."""
    try:
        return command(args, out)
    except Invalid as exc:
        print(f"a2a-coop: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except CoopError as exc:
        print(f"a2a-coop: refused: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except TransportError as exc:
        raise UsageError(f"network: {exc}") from None
    except JournalError as exc:
        raise UsageError(f"journal: {exc}") from None
    except KeyboardInterrupt:
        print("a2a-coop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
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


def _wait(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def _listen(handler_peer: Any, handler_escrow: Any, args: argparse.Namespace, tls: TlsConfig | None) -> Any:
    try:
        return serve(handler_peer, handler_escrow, host=args.host, port=args.port, tls=tls)
    except RuntimeError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc}") from None


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


def _short(did: str) -> str:
    body = did.removeprefix("did:key:")
    return f"{body[:8]}...{body[-4:]}" if len(body) > 14 else did


def _describe(envelope: bytes) -> str:
    try:
        vs = verify_statement(envelope)
    except CoopError:
        return "?"
    return f"{vs.body} from {_short(vs.issuer)}"


class LoggedPeer:
    """A CooperationHandler that logs each exchange (one line) before passing it on."""

    def __init__(self, node: PeerNode) -> None:
        self.node = node

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        try:
            replies = self.node.exchange(envelope, context)
        except CoopError as exc:
            log.info("refused %s: %s %s", _describe(envelope), exc.code, exc.detail)
            raise
        answers = ", ".join(verify_statement(r).body for r in replies) or "nothing"
        log.info("%s -> %s", _describe(envelope), answers)
        return replies

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.node.get_log(from_seq, limit)

    def get_checkpoint(self) -> bytes:
        return self.node.get_checkpoint()

    def get_attestations(self, subject: str) -> list[list[bytes]]:
        return self.node.get_attestations(subject)


class LoggedEscrow:
    """An EscrowHandler that logs each Submit (one line) before passing it on."""

    def __init__(self, node: EscrowNode) -> None:
        self.node = node

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        try:
            answers = self.node.submit(envelopes)
        except CoopError as exc:
            log.info("submit of %d envelopes refused: %s %s", len(envelopes), exc.code, exc.detail)
            raise
        signed = ", ".join(verify_statement(a).body for a in answers[1:]) or "nothing new"
        log.info("submit of %d envelopes -> %s", len(envelopes), signed)
        return answers

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.node.get_ledger(from_seq, limit)

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return self.node.get_balance(party)


# --- mandate -------------------------------------------------------------------------------


def cmd_mandate(args: argparse.Namespace, out: TextIO) -> int:
    principal = load_key(args.principal)
    agent = resolve_did(args.agent)
    counterparties = [resolve_did(c) for c in args.counterparty]
    journal_path: Path = args.journal or args.principal.with_suffix(".db")
    if journal_path.resolve() == args.principal.resolve():
        raise UsageError("the principal's journal cannot be its key file; pass --journal")
    caps: dict[str, Any] = {
        "max_per_deal": args.max_per_deal,
        "budget_per_period": args.budget,
        "period_ms": args.period_days * DAY_MS,
        "max_outstanding": args.max_outstanding,
        "allowed_categories": args.category,
        "allowed_counterparties": counterparties,
    }
    with open_journal(journal_path) as journal:
        vs = sign_mandate(principal, journal, agent, now_ms=wall_clock_ms(), days=args.days, **caps)
    try:
        args.out.write_text(json.dumps(envelope_to_json(vs.envelope), indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    out.write(
        f"mandate {vs.digest.hex()[:16]} for {agent} (principal seq {vs.header.seq}, "
        f"valid {args.days} days) written to {args.out}\n"
    )
    return EXIT_OK


# --- serve ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    tls = server_tls(args)
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    context = [load_envelope(p, "context") for p in args.context]
    strategy = build_strategy(args.strategy)
    open_journal(args.journal).close()  # the usage checks on the path, before the node opens it
    node = PeerNode.open(key, mandate, args.journal, strategy=strategy, context=context)
    try:
        remember_run(node.journal, mandate, context)
        _configure_logging()
        if args.a2a:
            _serve_a2a_until_stopped(node, args, tls, did=key.did, out=out)
        else:
            _serve_until_stopped(LoggedPeer(node), None, args, tls, did=key.did, out=out)
    finally:
        node.close()
    return EXIT_OK


def _serve_until_stopped(
    peer: LoggedPeer | None,
    escrow: LoggedEscrow | None,
    args: argparse.Namespace,
    tls: TlsConfig | None,
    *,
    did: str,
    out: TextIO,
) -> None:
    """Listen, announce ``listening on HOST:PORT as DID`` (the line scripts wait for), serve until
    SIGINT/SIGTERM, then stop with a one-second grace."""
    with _stop_on_signals() as stop:
        server = _listen(peer, escrow, args, tls)
        try:
            out.write(f"listening on {server.target} as {did}\n")
            out.flush()
            _wait(stop)
        finally:
            server.stop(1.0)


def _serve_a2a_until_stopped(
    node: PeerNode, args: argparse.Namespace, tls: TlsConfig | None, *, did: str, out: TextIO
) -> None:
    """``serve --a2a``: CooperationService and A2A's A2AService on one port, the AgentCard over HTTP."""
    try:
        from a2a_coop.a2a import AGENT_CARD_PATH, serve_a2a
    except ImportError:
        raise UsageError('--a2a needs the a2a extra: pip install "a2a-coop[a2a]"') from None
    with _stop_on_signals() as stop:
        try:
            server = serve_a2a(node, host=args.host, port=args.port, http_port=args.card_port, tls=tls)
        except (RuntimeError, OSError) as exc:
            raise UsageError(f"cannot listen on {args.host}: {exc}") from None
        try:
            out.write(f"listening on {server.target} as {did}\n")
            out.write(f"agent card at {server.card_url}{AGENT_CARD_PATH}\n")
            out.flush()
            _wait(stop)
        finally:
            server.stop()


def cmd_escrow_serve(args: argparse.Namespace, out: TextIO) -> int:
    tls = server_tls(args)
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    funding = [(resolve_did(did), amount) for did, amount in args.fund]  # all checked before any deposit
    open_journal(args.journal).close()
    node = EscrowNode(key, mandate, args.journal, response_window_ms=args.response_window_ms)
    try:
        _configure_logging()
        if funding and node.escrow.ledger_size:
            log.warning("the journal already holds a ledger: --fund applies only to a new escrow; ignored")
        elif funding:
            for did, amount in funding:
                node.deposit(did, amount)
                log.info("deposit %d for %s", amount, did)
        remember_run(node.journal, mandate, [])
        node.start_ticking(args.tick_ms / 1000)
        _serve_until_stopped(None, LoggedEscrow(node), args, tls, did=key.did, out=out)
    finally:
        node.close()
    return EXIT_OK


# --- escrow ledger and audit ---------------------------------------------------------------


def fetch_ledger(escrow: EscrowClient) -> list[bytes]:
    """The escrow's mandate and its whole ledger from seq 0, as ``escrow audit`` reads them."""
    mandate = escrow.submit([])[0]  # an escrow answers every Submit with its mandate first
    ledger: list[bytes] = []
    while True:
        page, head = escrow.get_ledger(len(ledger), 0)
        ledger += page
        if not page or len(ledger) > head:
            return [mandate, *ledger]


def write_transcript(path: Path, envelopes: Sequence[bytes], **extra: Any) -> None:
    doc = {**extra, "mode": "sparse", "envelopes": [envelope_to_json(e) for e in envelopes]}
    try:
        path.write_text(json.dumps(doc, indent=1) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def cmd_escrow_ledger(args: argparse.Namespace, out: TextIO) -> int:
    with EscrowClient(args.escrow, tls=dial_tls(args)) as client:
        envelopes = fetch_ledger(client)
    did = verify_statement(envelopes[0]).statement.mandate.agent
    write_transcript(args.out, envelopes, escrow=did)
    out.write(f"{len(envelopes) - 1} ledger statements of {did} written to {args.out}\n")
    return EXIT_OK


def escrow_transcript(journal: Journal, mandate: bytes | None = None) -> list[bytes]:
    """An escrow's transcript from its journal: its mandate, then every statement it accepted or
    signed in the order it did (evidence before the decisions taken on it), as audit_ledger reads it."""
    mandate = mandate or journal.get_meta(META_MANDATE)
    if mandate is None:
        raise UsageError(f"{journal.path} records no mandate; pass --mandate")
    return [mandate, *(env for _, _, env in journal.statements() if env != mandate)]


def cmd_escrow_export(args: argparse.Namespace, out: TextIO) -> int:
    mandate = load_envelope(args.mandate, "mandate") if args.mandate is not None else None
    with open_journal(args.journal, must_exist=True) as journal:
        envelopes = escrow_transcript(journal, mandate)
    did = verify_statement(envelopes[0]).statement.mandate.agent
    write_transcript(args.out, envelopes, escrow=did)
    out.write(f"{len(envelopes)} statements (ledger and evidence) of {did} written to {args.out}\n")
    return EXIT_OK


def cmd_escrow_audit(args: argparse.Namespace, out: TextIO) -> int:
    from a2a_coop.cli import _load

    inputs = _load(args.files)
    report = audit_ledger([item.data for item in inputs.items], escrow=args.escrow_did)
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
            "unchecked": [d.hex() for d in report.unchecked],
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK if report.ok else EXIT_INVALID
    out.write(
        f"escrow {report.escrow or '(no ledger statement found)'}: {len(report.statements)} statements\n"
    )
    for party, (available, locked) in report.balances.items():
        out.write(f"  {party}: {available} available, {locked} locked\n")
    if report.unchecked:
        out.write(f"  {len(report.unchecked)} contract statements checked without their evidence\n")
    for f in report.findings:
        digests = ", ".join(d.hex()[:16] for d in f.digests)
        out.write(f"FINDING {f.code}: {f.message}" + (f" ({digests})" if digests else "") + "\n")
    out.write("ledger ok: no findings\n" if report.ok else f"{len(report.findings)} findings\n")
    return EXIT_OK if report.ok else EXIT_INVALID


# --- offer ---------------------------------------------------------------------------------


def _items(specs: Sequence[tuple[str, int]], deadline_ms: int) -> list[trade_pb2.Item]:
    return [
        trade_pb2.Item(
            kind=trade_pb2.ITEM_KIND_SERVICE,
            category=category,
            description=category,
            quantity=1,
            unit="job",
            value=value,
            deadline_ms=deadline_ms,
        )
        for category, value in specs
    ]


def proposal(
    peer: Peer,
    gives: Sequence[tuple[str, int]],
    wants: Sequence[tuple[str, int]],
    *,
    deadline_ms: int,
    bond: int = 0,
    escrow: str = "",
    revocation: trade_pb2.Revocation | None = None,
) -> trade_pb2.Offer:
    """An Offer in the peer's mandate currency; with a bond, both sides post it at ``escrow``."""
    terms = trade_pb2.Terms(currency=peer.mandate_vs.statement.mandate.currency)
    if bond:
        terms.issuer_bond = terms.audience_bond = bond
        terms.escrow = escrow
    if revocation is not None:
        terms.revocation.CopyFrom(revocation)
    return trade_pb2.Offer(gives=_items(gives, deadline_ms), wants=_items(wants, deadline_ms), terms=terms)


def counterparty_did(client: CooperationClient) -> str:
    """Who serves at the other end: the issuer of its signed Checkpoint."""
    return verify_statement(client.get_checkpoint()).issuer


def cmd_offer(args: argparse.Namespace, out: TextIO) -> int:
    if args.bond and args.escrow is None:
        raise UsageError("--bond needs --escrow HOST:PORT")
    if args.forfeit_bond and not args.revocable:
        raise UsageError("--forfeit-bond needs --revocable")
    revocation = None
    if args.revocable:
        revocation = trade_pb2.Revocation(allowed=True, forfeit_bond=args.forfeit_bond)
    tls = dial_tls(args)
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    with ExitStack() as stack:
        journal = stack.enter_context(open_journal(args.journal))
        client = stack.enter_context(CooperationClient(args.to, tls=tls))
        escrow_client = stack.enter_context(EscrowClient(args.escrow, tls=tls)) if args.escrow else None
        other = counterparty_did(client)
        context: list[bytes] = []
        escrow_did = ""
        if escrow_client is not None:
            escrow_mandate = escrow_client.submit([])[0]  # an escrow answers every Submit with its mandate
            context = [escrow_mandate]
            escrow_did = verify_statement(escrow_mandate).statement.mandate.agent
        peer = Peer(key, mandate, journal=journal, context=context)
        remember_run(journal, mandate, context)
        for i in range(args.count):
            deadline = wall_clock_ms() + args.deadline
            offer = proposal(
                peer,
                args.give,
                args.want,
                deadline_ms=deadline,
                bond=args.bond,
                escrow=escrow_did,
                revocation=revocation,
            )
            started = time.perf_counter()
            neg = run_trade(peer, client, other, offer, escrow=escrow_client)
            took = time.perf_counter() - started
            out.write(f"{i + 1}/{args.count}  {neg.id.hex()[:12]}  {neg.state.value:<10}  {took:.2f}s\n")
            out.flush()
    return EXIT_OK


# --- claim and revoke ----------------------------------------------------------------------


class _Contract:
    """An initiator's contract, rebuilt from its journal, and the clients to act on it.

    Local refusals (no such negotiation, no contract, a guard that refuses to sign) come before
    any dialling; :meth:`dial` then opens the counterparty and, when the terms name one, the escrow.
    """

    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.tls = dial_tls(args)
        key = load_key(args.key)
        mandate = load_mandate(args.mandate, key)
        journal = stack.enter_context(open_journal(args.journal, must_exist=True))
        try:
            self.peer = Peer(key, mandate, journal=journal, context=journal.get_meta(META_CONTEXT, []))
        except ValueError as exc:
            raise UsageError(f"{args.journal}: {exc}") from None
        self.neg = find_negotiation(self.peer, args.negotiation)
        if self.neg.contract is None:
            raise IllegalTransition(
                f"negotiation {self.neg.id.hex()[:12]} is {self.neg.state.value}: no contract",
                requirement="NEG-001",
            )
        self.contract = self.neg.contract
        self.other = self.contract.other(self.peer.did)
        self.escrow_did = self.contract.proposal.terms.escrow
        if self.escrow_did and args.escrow is None:
            raise UsageError(f"the contract's bonds are held by {self.escrow_did}: pass --escrow HOST:PORT")
        self.client: CooperationClient
        self.escrow: EscrowClient | None = None
        self.escrow_mandate = b""

    def dial(self) -> None:
        self.client = self.stack.enter_context(CooperationClient(self.args.to, tls=self.tls))
        if not self.escrow_did:
            return
        self.escrow = self.stack.enter_context(EscrowClient(self.args.escrow, tls=self.tls))
        self.escrow_mandate = self.escrow.submit([])[0]  # an escrow answers every Submit with its mandate
        serving = verify_statement(self.escrow_mandate).statement.mandate.agent
        if serving != self.escrow_did:
            raise UsageError(f"{self.args.escrow} is escrow {serving}, not the contract's {self.escrow_did}")

    def send(self, vs: VerifiedStatement) -> None:
        """``vs`` to the counterparty (what it owes in answer follows), then all the negotiation's
        evidence to the escrow, whose answers are relayed; then the escrow's later statements."""
        drive(self.peer, self.client.exchange, vs)
        if self.escrow is not None:
            settle_with_escrow(self.peer, self.client, self.escrow, self.neg)
            self.sync()

    def sync(self) -> None:
        """Take the statements about this negotiation the escrow signed on its own clock (a Forfeit
        once a claim's response window ends) that we do not hold yet, and relay them."""
        assert self.escrow is not None
        held = self.peer.verifier.statements
        mandate, *ledger = fetch_ledger(self.escrow)
        new = [
            env
            for env in ledger
            if (vs := verify_statement(env)).header.negotiation_id == self.neg.id and vs.digest not in held
        ]
        if new:
            relay_escrow_answers(self.peer, self.client, [mandate, *new])

    def settled(self) -> bool:
        c = self.contract
        return self.neg.is_terminal and set(c.locked) <= c.settled

    def report(self, out: TextIO) -> None:
        """The negotiation's state, the escrow's decisions on it, and both parties' balances."""
        out.write(f"negotiation {self.neg.id.hex()[:12]}  {self.neg.state.value}\n")
        names = {self.peer.did: "you", self.other: "the counterparty"}
        whose = {self.peer.did: "your", self.other: "the counterparty's"}
        done = {"release": "released", "forfeit": "forfeited", "refund": "refunded"}
        for vs in list(self.peer.verifier.statements.values()):
            if vs.header.negotiation_id != self.neg.id or vs.body not in done:
                continue
            msg = getattr(vs.statement, vs.body)
            to = f" to {names[msg.beneficiary]}" if vs.body == "forfeit" else ""
            out.write(f"  escrow: {done[vs.body]} {whose[msg.party]} bond ({msg.amount}){to}\n")
        if self.escrow is not None:
            for did, name in names.items():
                available, locked, currency, _ = self.escrow.get_balance(did)
                out.write(f"  balance of {name}: {available} available, {locked} locked {currency}\n")


def _ours(digests: Sequence[bytes], peer: Peer) -> VerifiedStatement | None:
    """The first of ``digests`` we issued and hold (a claim or revoke filed by an earlier run)."""
    held = peer.verifier.statements
    return next((held[d] for d in digests if d in held and held[d].issuer == peer.did), None)


def cmd_claim(args: argparse.Namespace, out: TextIO) -> int:
    with ExitStack() as stack:
        ctx = _Contract(args, stack)
        c = ctx.contract
        filed = [d for d, (accused, item) in c.claims.items() if (accused, item) == (ctx.other, args.item)]
        claim = _ours(filed, ctx.peer)  # filed by an earlier run: send it again, sign nothing new
        again = claim is not None
        if claim is None:
            claim = claim_breach(ctx.peer, ctx.neg, args.item, args.reason)  # the guard checks the deadline
        ctx.dial()
        ctx.send(claim)
        if ctx.escrow is not None and args.wait:
            give_up = time.monotonic() + args.wait / 1000
            while not ctx.settled() and time.monotonic() < give_up:
                time.sleep(0.2)
                ctx.sync()
        what = "sent again" if again else "filed"
        out.write(f"breach claim {claim.digest.hex()[:12]} on the counterparty's item {args.item} {what}\n")
        ctx.report(out)
        if ctx.escrow is not None and ctx.neg.state is State.DISPUTED:
            out.write(
                "the escrow decides once its response window ends: run this command again (with --wait "
                f"DURATION to wait for it), or check balances with: a2a-coop status --journal {args.journal} "
                f"--key {args.key} --escrow {args.escrow}\n"
            )
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace, out: TextIO) -> int:
    with ExitStack() as stack:
        ctx = _Contract(args, stack)
        notice = _ours(list(ctx.contract.revokes), ctx.peer)
        again = notice is not None
        if notice is None:
            notice = revoke(ctx.peer, ctx.neg, args.reason)  # the guard checks the revocation terms
        ctx.dial()
        ctx.send(notice)
        out.write(f"revoke {notice.digest.hex()[:12]} {'sent again' if again else 'filed'}\n")
        ctx.report(out)
    return EXIT_OK


# --- status and export ---------------------------------------------------------------------


def _obligations(neg: Negotiation, party: str, now_ms: int) -> list[dict[str, Any]]:
    c = neg.contract
    if c is None:
        return []
    return [
        {
            "item": i,
            "category": item.category,
            "value": item.value,
            "deadline": iso(item.deadline_ms),
            "overdue": now_ms > item.deadline_ms,
        }
        for i, item in enumerate(c.gives(party))
        if (party, i) not in c.delivered
    ]


def status_report(peer: Peer) -> dict[str, Any]:
    """What ``a2a-coop status --json`` prints: negotiations, open obligations, exposure."""
    base = peer.status()
    now = peer.clock()
    open_negs = []
    for neg in peer.verifier.negotiations.by_id.values():
        if neg.is_terminal:
            continue
        open_negs.append(
            {
                "id": neg.id.hex(),
                "state": neg.state.value,
                "counterparty": neg.other(peer.did),
                "i_owe": _obligations(neg, peer.did, now),
                "they_owe": _obligations(neg, neg.other(peer.did), now),
                "bonds": dict(neg.contract.locked) if neg.contract is not None else {},
            }
        )
    return {
        "did": peer.did,
        "seq": base["seq"],
        "negotiations": {state: n for state, n in base["negotiations"].items() if n},
        "open": open_negs,
        "outstanding_value": base["outstanding_value"],
        "max_outstanding": peer.mandate_vs.statement.mandate.max_outstanding,
        "balance": None,
    }


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    tls = dial_tls(args)
    peer, journal = peer_from_journal(args)
    try:
        report = status_report(peer)
    finally:
        journal.close()
    if args.escrow:
        with EscrowClient(args.escrow, tls=tls) as client:
            available, locked, currency, as_of = client.get_balance(report["did"])
        report["balance"] = {
            "available": available,
            "locked": locked,
            "currency": currency,
            "as_of_seq": as_of,
        }
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    out.write(f"{report['did']} (chain at seq {report['seq']}, journal {args.journal})\n")
    counts = ", ".join(f"{state} {n}" for state, n in report["negotiations"].items()) or "none"
    out.write(f"negotiations: {counts}\n")
    for neg in report["open"]:
        out.write(f"  {neg['id'][:12]}  {neg['state']:<10} with {neg['counterparty']}\n")
        for label, items in (("I owe", neg["i_owe"]), ("they owe", neg["they_owe"])):
            for it in items:
                late = "  OVERDUE" if it["overdue"] else ""
                out.write(f"    {label:<9} {it['category']} ({it['value']}) by {it['deadline']}{late}\n")
    out.write(f"exposure: {report['outstanding_value']} outstanding (cap {report['max_outstanding']})\n")
    b = report["balance"]
    if b is not None:
        out.write(
            f"balance at {args.escrow}: {b['available']} available, {b['locked']} locked {b['currency']}\n"
        )
    return EXIT_OK


def negotiation_evidence(peer: Peer, negotiation_id: bytes) -> list[bytes]:
    """Every statement of a negotiation the peer holds (escrow statements included), after the
    mandates they name: a transcript a third party verifies offline."""
    held = peer.verifier.statements
    statements = [vs for vs in held.values() if vs.header.negotiation_id == negotiation_id]
    mandates = [held[vs.header.mandate].envelope for vs in statements if vs.header.mandate in held]
    return [*dict.fromkeys(mandates), *(vs.envelope for vs in statements)]


def find_negotiation(peer: Peer, prefix: str) -> Negotiation:
    text = prefix.lower()
    matches = [n for nid, n in peer.verifier.negotiations.by_id.items() if nid.hex().startswith(text)]
    if not text or len(matches) != 1:
        found = "no" if not matches else "more than one"
        raise UsageError(f"{found} negotiation in the journal matches {prefix!r}")
    return matches[0]


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    peer, journal = peer_from_journal(args)
    try:
        neg = find_negotiation(peer, args.negotiation)
        envelopes = negotiation_evidence(peer, neg.id)
    finally:
        journal.close()
    write_transcript(args.out, envelopes, negotiation=neg.id.hex(), state=neg.state.value)
    report = verify_transcript(envelopes)
    if not report.valid:
        out.write(f"written to {args.out}, but it does not verify: {report.error}\n")
        return EXIT_INVALID
    out.write(
        f"{len(envelopes)} statements of negotiation {neg.id.hex()[:12]} ({neg.state.value}) "
        f"written to {args.out}; check it with: a2a-coop verify {args.out}\n"
    )
    return EXIT_OK


COMMANDS: Final[dict[str, Callable[[argparse.Namespace, TextIO], int]]] = {
    "mandate": cmd_mandate,
    "serve": cmd_serve,
    "escrow serve": cmd_escrow_serve,
    "escrow ledger": cmd_escrow_ledger,
    "escrow audit": cmd_escrow_audit,
    "escrow export": cmd_escrow_export,
    "offer": cmd_offer,
    "claim": cmd_claim,
    "revoke": cmd_revoke,
    "status": cmd_status,
    "export": cmd_export,
}
