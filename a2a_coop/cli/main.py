"""The ``a2a-coop`` command line: every command's arguments and help, and dispatch.

A command's implementation is imported only when it runs (:func:`_command`),
so ``a2a-coop verify`` never pays for the gRPC transport. The command groups:

* :mod:`.offline` -- ``keygen``, ``verify``, ``inspect`` (no network);
* :mod:`.peer` -- ``mandate``, ``serve``, ``offer``, ``resume``, ``claim``, ``revoke``, ``status``,
  ``export``;
* :mod:`.keys` -- ``revoke-key`` (a principal withdraws its agent's key);
* :mod:`.escrow` -- ``escrow serve|fund|ledger|export|audit``;
* :mod:`.demo` -- ``demo`` (processes on loopback, or ``--offline`` in one process);
* :mod:`.conformance` -- ``conformance`` (the live conformance suite against a target).

Exit codes (:mod:`._common`): 0 valid or done, 1 invalid or refused, 2 usage,
I/O or network errors, 3 a trade did not finish; user mistakes get one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from a2a_coop import __version__
from a2a_coop.cli._common import (
    ESCROW_START_WAIT_MS,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    address,
    byte_size,
    funding,
    item_spec,
    non_negative,
    parse_duration,
    parse_time,
    port_number,
    positive,
    quiet_grpc,
    strategy_spec,
    trust_score,
    utf8_text,
)
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE
from a2a_coop.protocol.statements import PROTOCOL_VERSION
from a2a_coop.runtime.strangers import (
    DEALINGS_PER_KEY_FACTOR,
    DEFAULT_NEWCOMER_OFFERS,
    DEFAULT_REVOCATION_STATEMENTS,
    DEFAULT_STRANGER_STATEMENTS,
    DEFAULT_STRANGER_STATEMENTS_PER_KEY,
)

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class _Command:
    """``module:function``, imported when the command runs (networked ones quiet gRPC's C core first)."""

    def __init__(self, module: str, function: str, *, networked: bool = True) -> None:
        self.module, self.function, self.networked = module, function, networked

    def __call__(self, args: argparse.Namespace, out: TextIO) -> int:
        if self.networked:
            quiet_grpc()
        command = getattr(importlib.import_module(f"a2a_coop.cli.{self.module}"), self.function)
        code: int = command(args, out)
        return code


def _offline(function: str) -> _Command:
    return _Command("offline", function, networked=False)


def _add_sim_parity(ssub: Any) -> None:
    """``sim parity``: its options are the reference agents' own (``reference_agents.parity``), which
    load only when the command runs; the short list here mirrors them."""
    s = ssub.add_parser(
        "parity",
        help="our Boulware/Conceder negotiators through the protocol vs NegMAS's (needs the parity extra)",
        description="Runs each pairing of time-based negotiators on a multi-issue domain with opposed "
        "preferences, ours as two peers exchanging signed Offers and Counters, NegMAS's in its SAO "
        "mechanism; prints each side's agreement utility in both and the deltas, and last one JSON line. "
        "Exit 1 when a delta exceeds --tolerance.",
    )
    s.add_argument("--steps", type=positive, default=100, help="(default 100)")
    s.add_argument("--reserve", type=float, default=0.25, help="both sides' reservation value (default 0.25)")
    s.add_argument("--issues", type=positive, default=3, help="(default 3)")
    s.add_argument("--levels", type=positive, default=10, help="quantities per issue (default 10)")
    s.add_argument("--weights-buyer", type=_floats, help="e.g. 0.5,0.3,0.2 (default: equal)")
    s.add_argument("--weights-seller", type=_floats, help="e.g. 0.2,0.3,0.5 (default: equal)")
    s.add_argument("--tolerance", type=float, default=0.05, help="per side (default 0.05)")
    s.set_defaults(func=_Command("agents", "cmd_sim_parity", networked=False))


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def _version_line() -> str:
    return f"a2a-coop {__version__} (protocol version {PROTOCOL_VERSION}, {STATEMENT_PAYLOAD_TYPE})"


def _cmd_version(args: argparse.Namespace, out: TextIO) -> int:
    out.write(_version_line() + "\n")
    return EXIT_OK


def _add_identity(p: argparse.ArgumentParser, *, journal_must_exist: bool = False) -> None:
    p.add_argument("--key", type=Path, required=True, help="the agent's key file (a2a-coop keygen)")
    p.add_argument("--mandate", type=Path, required=True, help="its mandate (a2a-coop mandate)")
    journal = "must exist: the one the trade was offered from" if journal_must_exist else "created if new"
    p.add_argument(
        "--journal", type=Path, required=True, help=f"its journal (SQLite; {journal}; one process at a time)"
    )


def _add_stranger_quota(p: argparse.ArgumentParser, what: str) -> None:
    """A newcomer quota's two options (RPC-016 for a peer, ESC-017 for an escrow); ``what`` says what
    ``--stranger-statements`` keeps, ending in an open parenthesis naming the requirement."""
    p.add_argument(
        "--stranger-statements",
        type=non_negative,
        default=DEFAULT_STRANGER_STATEMENTS,
        metavar="N",
        help=f"{what}; default {DEFAULT_STRANGER_STATEMENTS}; 0: no limit)",
    )
    p.add_argument(
        "--stranger-statements-per-key",
        type=non_negative,
        default=DEFAULT_STRANGER_STATEMENTS_PER_KEY,
        metavar="N",
        help="... and at most N an hour of any one such key; of any one key in our dealings, "
        f"{DEALINGS_PER_KEY_FACTOR} N an hour of those its trades with us do not need, plus one for each "
        f"statement of its trades that hour (default {DEFAULT_STRANGER_STATEMENTS_PER_KEY}; 0: no limit "
        "on either)",
    )
    p.add_argument(
        "--revocation-statements",
        type=non_negative,
        default=DEFAULT_REVOCATION_STATEMENTS,
        metavar="N",
        help="the revocations' reserve: once that bound is full, still take N statements an hour of key "
        "revocations of keys we hold nothing of, with the binding and Mandates each depends on; a "
        "revocation refused over both makes us refuse its key's statements for a day (default "
        f"{DEFAULT_REVOCATION_STATEMENTS}; 0: no reserve)",
    )


def _add_min_time_to_perform(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--min-time-to-perform",
        type=parse_duration,
        metavar="DURATION",
        help="sign no bonded terms under which one of our items is due less than this after the "
        "bonding cutoff (the offer's expiry + 30 s, when the escrow stops locking bonds): a "
        f"counterparty that funds its bond last cannot leave us less; default: no such check; {_DURATION}",
    )


def _add_listen(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", type=utf8_text, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=0, help="port to bind (default 0: any free port)")
    g = p.add_argument_group(
        "TLS (default: plaintext)",
        "--tls-cert and --tls-key serve TLS; --tls-client-ca adds mutual TLS: clients without a "
        "certificate signed by that CA are refused.",
    )
    g.add_argument("--tls-cert", type=Path, metavar="PEM", help="the server's certificate chain (PEM)")
    g.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key (PEM; needs --tls-cert)")
    g.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="PEM",
        help="require client certificates signed by this CA (mutual TLS)",
    )


def _add_dial_tls(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """--tls-ca, --tls-cert, --tls-key, --tls-server-name; with ``prefix`` ``escrow-``, the same for
    the escrow a server dials (--escrow-tls-ca, ...), beside its own --tls-cert/--tls-key."""
    dialled = "the escrow" if prefix else "every address the command dials"
    g = p.add_argument_group(
        "TLS to the escrow (default: plaintext)" if prefix else "TLS (default: plaintext)",
        f"Any of these options dials with TLS, for {dialled}. --{prefix}tls-cert and --{prefix}tls-key "
        "present a client certificate, for servers that require mutual TLS.",
    )
    g.add_argument(
        f"--{prefix}tls-ca",
        type=Path,
        metavar="PEM",
        help="the CA that signs the servers' certificates (PEM; default: the system roots)",
    )
    g.add_argument(
        f"--{prefix}tls-cert", type=Path, metavar="PEM", help="client certificate chain (PEM, mutual TLS)"
    )
    g.add_argument(
        f"--{prefix}tls-key",
        type=Path,
        metavar="PEM",
        help=f"its private key (PEM; needs --{prefix}tls-cert)",
    )
    g.add_argument(
        f"--{prefix}tls-server-name",
        type=utf8_text,
        metavar="NAME",
        help="check the servers' certificates for NAME instead of the host dialled",
    )


_NEGOTIATION_HELP = "negotiation id, or a unique prefix (offer prints it; status lists them)"
_DURATION = "a duration: 500ms, 30s, 5m, 1h or 2d (a bare number is seconds)"
_ITEM = "CATEGORY:VALUE, e.g. code-review:500: a kind of work and its declared value in credits (repeatable)"


def _add_reader(p: argparse.ArgumentParser) -> None:
    """status, reputation and export: a journal read while its server may be running."""
    p.add_argument("--journal", type=Path, required=True, help="the peer's journal (it may be serving)")
    p.add_argument("--key", type=Path, required=True, help="the peer's key file (a2a-coop keygen)")


def _add_new_file_out(p: argparse.ArgumentParser, what: str) -> None:
    """--out FILE, which must not exist, and --force, which lets it replace one."""
    p.add_argument("--out", type=Path, required=True, help=f"write {what} here (a new file, unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")


def _add_to(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to", type=address, required=True, metavar="HOST:PORT", help="the counterparty's address"
    )


def _add_page_limits(p: argparse.ArgumentParser, what: str) -> None:
    """--max-pages and --max-read-bytes: the client's bound on one paged read (RPC-019 (b))."""
    g = p.add_argument_group(
        "reading a server's pages (SPEC RPC-019)",
        f"The bound on each paged read of {what}: past either, the read stops with a one-line error and "
        "nothing of it is taken (a server that never stops paging cannot keep the command reading).",
    )
    g.add_argument(
        "--max-pages",
        type=positive,
        metavar="N",
        help="at most N pages in one read (default 10,000)",
    )
    g.add_argument(
        "--max-read-bytes",
        type=byte_size,
        metavar="SIZE",
        help="at most SIZE bytes of envelopes in one read, e.g. 64MiB (default 256MiB)",
    )


def _add_counterparty(p: argparse.ArgumentParser) -> None:
    """claim and revoke: an initiator's identity, a negotiation in its journal, and where to send."""
    _add_identity(p, journal_must_exist=True)
    p.add_argument("--negotiation", required=True, metavar="HEX", help=_NEGOTIATION_HELP)
    _add_to(p)
    p.add_argument("--escrow", type=address, metavar="HOST:PORT", help="the escrow holding the bonds")
    _add_dial_tls(p)
    _add_page_limits(p, "the escrow's ledger")


def _add_test_clock(p: argparse.ArgumentParser, who: str, callers: str) -> None:
    p.add_argument(
        "--test-clock",
        action="store_true",
        help=f"TEST ONLY: run this {who} on a test clock -- the wall clock plus an offset that only "
        "grows -- and serve TestClockService, whose AdvanceClock moves it forward (never back), so a "
        "test need not wait out a deadline plus the 30 s clock tolerance (CTL-003). Every statement it "
        "signs is dated by that clock: move every process of a test by the same amount. Refused unless "
        "--host is loopback or --tls-client-ca requires client certificates; it answers only the "
        f"operator (a caller on this host without a certificate, or one {callers} lists as operator)",
    )


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    """What ``serve`` and ``agent run`` share: identity, listening, escrow, trust, A2A."""
    _add_identity(p)
    _add_listen(p)
    p.add_argument(
        "--escrow",
        type=address,
        metavar="HOST:PORT",
        help="an escrow to trade under: its mandate is fetched at start (no --context needed), and "
        "every delivery signed under a contract naming it is sent to it to be stamped at once, so a "
        "counterparty that withholds its receipt cannot make it late",
    )
    p.add_argument(
        "--lock-wait-ms",
        type=positive,
        metavar="MS",
        help="with --escrow: how long to wait for the initiator to relay a bonded contract's locks "
        "before asking the escrow for them (default 2000; at most a quarter of the time left to our "
        "first deadline), so that an initiator that withholds them cannot win our bond",
    )
    p.add_argument(
        "--escrow-wait",
        type=parse_duration,
        default=ESCROW_START_WAIT_MS,
        metavar="DURATION",
        help="with --escrow: how long to wait at start for an escrow that does not answer yet, started "
        "with this peer by a script or a service manager (default 10s; e.g. 2m)",
    )
    _add_min_time_to_perform(p)
    p.add_argument(
        "--context",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="envelopes to hold from the start; an escrow's mandate here makes it trusted",
    )
    p.add_argument(
        "--a2a",
        action="store_true",
        help="also serve A2A (needs the a2a extra): its gRPC binding on the same port, JSON-RPC 2.0 "
        "and HTTP+JSON and the AgentCard over HTTP on --card-port, with the same TLS; prints "
        "'agent card at URL' after the listening line",
    )
    p.add_argument(
        "--a2a-private-tasks",
        action="store_true",
        help="with --a2a: serve a Task (GetTask, SubscribeToTask, ListTasks, CancelTask) only to this "
        "agent's operator -- a caller on this host without a client certificate, or one whose certificate "
        "--a2a-callers lists as operator -- and to the two parties of its negotiation, known by their "
        "client certificates (A2A-026); answer anyone else as for a Task it does not hold "
        "(TASK_NOT_FOUND); a SendMessage answer to anyone else carries the signed answers but no "
        "Artifacts (A2A-025)",
    )
    p.add_argument(
        "--a2a-callers",
        type=Path,
        metavar="FILE",
        help="with --a2a or --conformance-control, and --tls-client-ca: who holds each client "
        "certificate, one a line: its SHA-256 "
        "fingerprint (as 'openssl x509 -noout -fingerprint -sha256' prints it) then 'operator' or the "
        "holder's did:key. A certificate not listed is the party whose did:key its subjectAltName names "
        "as a URI, else a stranger; only the operator's make the agent withdraw on CancelTask (A2A-022, "
        "A2A-026) or drive the ConformanceControlService (CTL-001)",
    )
    p.add_argument(
        "--own-did-operator",
        action="store_true",
        help="with --a2a or --conformance-control, and --tls-client-ca: also take a client certificate "
        "whose subjectAltName names this agent's own did:key as the operator's (A2A-026 (a)); without "
        "it such a certificate is a stranger's. Only if your client CA certifies that did:key to nobody "
        "but you: a CA that certifies counterparties by the name they ask for would make one your operator",
    )
    p.add_argument(
        "--card-port",
        type=port_number,
        default=0,
        help="HTTP port of A2A's JSON-RPC and HTTP+JSON bindings and the AgentCard with --a2a "
        "(default: any free port)",
    )
    p.add_argument(
        "--public-url",
        type=utf8_text,
        metavar="URL",
        help="with --a2a: the HTTP base URL the AgentCard advertises (e.g. https://agent.example.com; "
        "default: the address bound; needed with a wildcard --host)",
    )
    p.add_argument(
        "--public-grpc",
        type=utf8_text,
        metavar="HOST:PORT",
        help="with --a2a: the gRPC address the AgentCard advertises (default: --public-url's host "
        "with the bound port)",
    )
    p.add_argument(
        "--refuse-below",
        type=trust_score,
        default=0.0,
        metavar="SCORE",
        help="refuse counterparties whose score in our reputation view is below this (0..1; "
        "default 0: nobody); the policy guard enforces it on every offer, counter and accept",
    )
    p.add_argument(
        "--bond-below",
        type=trust_score,
        default=0.0,
        metavar="SCORE",
        help="demand at least --min-bond of counterparties scoring below this: an acceptable offer "
        "asking less of them is answered with a counter demanding it",
    )
    p.add_argument("--min-bond", type=non_negative, default=0, help="the bond --bond-below demands")
    p.add_argument(
        "--conformance-control",
        action="store_true",
        help="TESTING ONLY: also serve the ConformanceControlService, through which a conformance suite "
        "makes this peer initiate trades (a2a-coop conformance --role initiator); refused unless --host is "
        "loopback or --tls-client-ca requires client certificates (off by default); it answers only the "
        "operator: a caller on this host without a certificate, or one whose certificate --a2a-callers lists "
        "as operator or, with --own-did-operator, names this peer's did:key (CTL-001)",
    )
    _add_test_clock(p, "peer", "--a2a-callers")
    p.add_argument(
        "--max-rate",
        type=non_negative,
        default=0,
        metavar="N",
        help="take at most N requests per second from any one peer (its signed issuer: the new statements of "
        "its own that we take, not repeats or ones we refuse, RPC-018); more are refused RATE_LIMITED "
        "(RESOURCE_EXHAUSTED) with a retry hint (default 0: no limit)",
    )
    p.add_argument(
        "--burst",
        type=non_negative,
        default=0,
        metavar="N",
        help="with --max-rate: requests at once (default N)",
    )
    p.add_argument(
        "--max-in-flight",
        type=non_negative,
        default=0,
        metavar="N",
        help="handle at most N requests of any one peer at a time (default 0: no limit)",
    )
    _add_stranger_quota(
        p,
        "keep at most N public statements an hour (Mandates, Checkpoints) of keys outside our dealings, "
        "sent as requests, context or gossip, three quarters of them (at least one) for what we did not "
        "ask for; more "
        "are refused RATE_LIMITED with a retry hint, or ignored as gossip (RPC-016",
    )
    p.add_argument(
        "--newcomer-offers",
        type=non_negative,
        default=DEFAULT_NEWCOMER_OFFERS,
        metavar="N",
        help="take at most N opening Offers an hour from issuers outside our dealings (no negotiation "
        "not ended, no contract with us), however each ends, a quarter of them kept for newcomers whose "
        "principal is in our dealings (a budget of 1 keeps none: any newcomer may take that one); more "
        "are refused RATE_LIMITED with a retry hint "
        f"(default {DEFAULT_NEWCOMER_OFFERS}; 0: no limit)",
    )
    p.add_argument(
        "--trust-seed",
        action="append",
        default=[],
        metavar="DID",
        help="a principal our reputation view pre-trusts besides our own (repeatable)",
    )
    _add_snapshot_every(p, "peer's")
    _add_dial_tls(p, "escrow-")


def _add_snapshot_every(p: argparse.ArgumentParser, whose: str) -> None:
    p.add_argument(
        "--snapshot-every",
        type=non_negative,
        default=None,
        metavar="N",
        help=f"journal a snapshot of the {whose} memory once N statements were journaled since the last "
        "one, and at exit: a restart replays only what came after it (default 6,000, more for a large "
        "memory; 0: none, a restart replays the whole journal)",
    )


def _add_runtime_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "mandate",
        help="sign a mandate delegating authority from a principal key to an agent key",
        description="The principal signs a Mandate for the agent. The principal's chain lives in its "
        "journal (created beside the principal's key if new: principal.key -> principal.db), so a seq "
        "is never reused.",
    )
    p.add_argument("--principal", type=Path, required=True, help="the principal's key file")
    p.add_argument("--agent", required=True, help="the agent's did:key (or its key file, or its .did file)")
    _add_new_file_out(p, "the mandate (DSSE JSON)")
    p.add_argument(
        "--journal", type=Path, help="the principal's journal (default: the key file's name with .db)"
    )
    p.add_argument(
        "--max-per-deal",
        type=non_negative,
        default=1000,
        help="largest value the agent may give in one contract, its items and bond together; 0 allows "
        "nothing (default 1000)",
    )
    p.add_argument("--budget", type=non_negative, default=10000, help="budget per period (default 10000)")
    p.add_argument("--period-days", type=positive, default=1, help="budget period (default 1 day)")
    p.add_argument(
        "--max-outstanding",
        type=non_negative,
        default=5000,
        help="largest value the agent may have at stake at once: live offers and open contracts "
        "(default 5000)",
    )
    p.add_argument("--days", type=positive, default=30, help="validity in days (default 30)")
    p.add_argument(
        "--category", type=utf8_text, nargs="+", action="extend", default=[], help="allowed categories"
    )
    p.add_argument("--counterparty", nargs="+", action="extend", default=[], help="allowed did:keys")
    p.add_argument(
        "--succeeds",
        metavar="DID",
        help="an escrow's hand-over (ESC-022): the did:key (or key file) of the revoked escrow key, "
        "under a Mandate of this principal, whose contracts the agent takes over",
    )
    p.set_defaults(func=_Command("peer", "cmd_mandate"))

    p = sub.add_parser(
        "revoke-key",
        help="withdraw an agent key (as its principal) and send the revocation to peers and escrows",
        description="The principal signs a KeyRevocation of its agent's key, from --effective on (it may "
        "lie in the past: statements the key signed from then on are refused everywhere the revocation "
        "is held, KEY-004), and sends it with its Mandate for the key and a statement binding the key "
        "to it (--binding, --binding-from): a verifier that has heard nothing of the key takes the "
        "revocation only with that binding (KEY-007, KEY-008). Run it again to resend: the revocation "
        "kept in --out is sent, not signed again. Stop every process still using the key first. "
        "(`revoke` is another thing: it revokes a contract under its terms.)",
    )
    p.add_argument(
        "--principal",
        type=Path,
        required=True,
        help="the principal's key file (or the agent's own, for a key revoking itself)",
    )
    p.add_argument("--agent", required=True, help="the did:key to revoke (or its key file, or its .did file)")
    p.add_argument(
        "--effective",
        type=parse_time,
        metavar="TIME",
        help="revoke from this time on: now, Unix ms or ISO 8601 (default: now; earlier disowns what the "
        "key signed since)",
    )
    p.add_argument(
        "--reason", type=utf8_text, default="key compromised", help="why (default: key compromised)"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="keep the revocation here (read again when it exists)"
    )
    p.add_argument("--force", action="store_true", help="sign a new revocation over an existing --out file")
    p.add_argument(
        "--chain-of",
        metavar="FILE",
        help="the key's own record (an escrow's `escrow export` of its journal): the revocation states "
        "the length of the key's chain read from it, so that every statement of the key above it is its "
        "thief's whatever its date (KEY-011 (e)); omit it when the record is lost (a crash)",
    )
    p.add_argument(
        "--journal", type=Path, help="the principal's journal (default: the key file's name with .db)"
    )
    p.add_argument(
        "--mandate", type=Path, help="the principal's Mandate for the key (default: found in its journal)"
    )
    p.add_argument(
        "--binding",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a statement of the key under the Mandate, e.g. its Checkpoint, or a transcript holding "
        "one ('a2a-coop export' of a negotiation the agent took part in: its earliest statement there "
        "is picked) (repeatable)",
    )
    p.add_argument(
        "--binding-from",
        type=address,
        metavar="HOST:PORT",
        help="read the key's first Checkpoint under this principal's Mandate from the log of the peer "
        "serving it there (GetLog from seq 0, KEY-008; its latest, GetCheckpoint, when it gives none)",
    )
    p.add_argument(
        "--send", type=address, action="append", default=[], metavar="HOST:PORT", help="a peer to send it to"
    )
    p.add_argument(
        "--escrow",
        type=address,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an escrow to submit it to (it then refuses the key's later claims, KEY-004)",
    )
    _add_dial_tls(p)
    p.set_defaults(func=_Command("keys", "cmd_revoke_key"))

    p = sub.add_parser(
        "serve",
        help="run a peer: answer offers over gRPC until SIGINT/SIGTERM",
        description="Serve CooperationService for an agent. Prints 'listening on HOST:PORT as DID' "
        "once serving; logs each exchange on stderr. The peer accepts contracts naming no escrow, or "
        "an escrow it was given: by --escrow, or by its mandate in --context.",
    )
    _add_serve_options(p)
    p.add_argument(
        "--strategy",
        type=strategy_spec,
        default="honest",
        help="honest (default) or withhold-every-Nth:N (never delivers on every Nth contract)",
    )
    p.set_defaults(func=_Command("peer", "cmd_serve"))

    p = sub.add_parser(
        "escrow",
        help="run an escrow, fund parties in it, fetch its ledger, audit a ledger",
        description="The escrow: the witness, arbiter and bond holder both parties of a contract named "
        "(SPEC 9). 'a2a-coop escrow ACTION --help' describes an action.",
    )
    esub = p.add_subparsers(dest="escrow_command", required=True, metavar="ACTION")
    e = esub.add_parser(
        "serve",
        help="serve EscrowService until SIGINT/SIGTERM",
        description="Serve an escrow. Prints 'listening on HOST:PORT as DID' once serving.",
    )
    _add_identity(e)
    _add_listen(e)
    e.add_argument(
        "--fund",
        type=funding,
        action="append",
        default=[],
        metavar="DID=AMOUNT",
        help="deposit for a party when the journal is new (repeatable; later: escrow fund)",
    )
    e.add_argument(
        "--tick-ms",
        type=positive,
        default=500,
        help="how often, in milliseconds, time-driven rules (rulings, lapses) run (default 500)",
    )
    _add_snapshot_every(e, "escrow's")
    e.add_argument(
        "--conformance-faucet",
        type=positive,
        default=0,
        metavar="AMOUNT",
        help="TEST ONLY: credit AMOUNT, on a Submit of the escrow's operator, to the agent of every "
        "Mandate in it that holds nothing here yet (one never credited here, or whose Mandate the escrow "
        "sees for the first time), so the conformance suite's bonded escrow cases can run (its operator "
        "mints funds: never on an escrow that holds real value). The operator (CTL-002): a caller on "
        "this host without a client certificate or, with --tls-client-ca, one whose certificate "
        "--callers lists as operator (or names this escrow's did:key, with --own-did-operator); anyone "
        "else's Submit is served as without the faucet, crediting nothing",
    )
    e.add_argument(
        "--callers",
        type=Path,
        metavar="FILE",
        help="with --conformance-faucet and --tls-client-ca: who holds each client certificate, as "
        "serve --a2a-callers reads it (a SHA-256 fingerprint, then 'operator' or a did:key, one a line); "
        "only the Submits of certificates listed as operator pay the faucet (CTL-002)",
    )
    e.add_argument(
        "--own-did-operator",
        action="store_true",
        help="with --conformance-faucet and --tls-client-ca: also take a client certificate whose "
        "subjectAltName names this escrow's own did:key as the operator's (A2A-026 (a)); only if your "
        "client CA certifies that did:key to nobody but you",
    )
    _add_test_clock(e, "escrow", "--callers")
    _add_stranger_quota(
        e,
        "take at most N statements of no negotiation an hour (Mandates, Checkpoints, key statements, "
        "Acks) of keys outside the escrow's dealings (no funds here, no contract naming it, not a "
        "party's principal) that no statement of a negotiation in the same Submit needs; more are "
        "refused RATE_LIMITED with a retry hint, nothing of them stamped (ESC-017",
    )
    e.add_argument(
        "--succeeds",
        nargs="+",
        metavar="FILE",
        help="start as the successor of a revoked escrow key (ESC-022, ESC-023; --mandate is its "
        "principal's hand-over, naming that key in succeeds): its transcript (`escrow export` of its "
        "journal) and the KeyRevocation of it; its open contracts and balances are taken over up to the "
        "revocation's effective time. Only at the first start: the journal keeps them",
    )
    e.set_defaults(func=_Command("escrow", "cmd_escrow_serve"))
    e = esub.add_parser(
        "fund",
        help="credit parties in a stopped escrow's journal (signs a Deposit for each)",
        description="Sign a Deposit (SPEC 7.7) for each DID=AMOUNT into the escrow's journal, as "
        "'escrow serve --fund' does for a new one, and print each party's balance; a contract waiting "
        "for these funds gets its bond locks at once. The escrow must be stopped (one process writes a "
        "journal); start it again afterwards, on the same journal.",
    )
    e.add_argument(
        "funding",
        nargs="+",
        type=funding,
        metavar="DID=AMOUNT",
        help="the party (a did:key, a key file or a .did file) and the amount to credit it",
    )
    e.add_argument("--key", type=Path, required=True, help="the escrow's key file")
    e.add_argument("--mandate", type=Path, required=True, help="its mandate")
    e.add_argument(
        "--journal", type=Path, required=True, help="its journal (must exist: the one it serves on)"
    )
    e.add_argument(
        "--reference",
        type=utf8_text,
        default="a2a-coop escrow fund",
        help="the payment rail's reference for the transfer, kept in the Deposit (free text)",
    )
    e.set_defaults(func=_Command("escrow", "cmd_escrow_fund"))
    e = esub.add_parser(
        "ledger",
        help="fetch an escrow's ledger as a JSON transcript",
        description="Fetch a running escrow's ledger (GetLedger): enough to follow balances; to audit it, "
        "'escrow export' writes the whole transcript.",
    )
    e.add_argument("--escrow", type=address, required=True, metavar="HOST:PORT", help="the escrow")
    e.add_argument("--out", type=Path, required=True, help="write the transcript (JSON) here")
    _add_dial_tls(e)
    _add_page_limits(e, "the escrow's ledger (GetLedger)")
    e.set_defaults(func=_Command("escrow", "cmd_escrow_ledger"))
    e = esub.add_parser(
        "export",
        help="write an escrow's transcript (ledger and the evidence it acted on), from its journal or "
        "from the running escrow (GetTranscript)",
        description="Write an escrow's whole transcript -- its mandate, its ledger from seq 0 and the "
        "evidence it acted on, each Stamp before what it names -- from its journal or, with --escrow, "
        "from the running escrow (GetTranscript). 'a2a-coop escrow audit FILE' audits it.",
    )
    source = e.add_mutually_exclusive_group(required=True)
    source.add_argument("--journal", type=Path, help="the escrow's journal (it may be running)")
    source.add_argument("--escrow", type=address, metavar="HOST:PORT", help="a running escrow, over gRPC")
    e.add_argument("--mandate", type=Path, help="with --journal; default: the mandate recorded in it")
    e.add_argument("--out", type=Path, required=True, help="write the transcript (JSON) here")
    _add_dial_tls(e)
    _add_page_limits(e, "the escrow's transcript (GetTranscript, with --escrow)")
    e.set_defaults(func=_Command("escrow", "cmd_escrow_export"))
    e = esub.add_parser(
        "audit",
        help="replay a ledger offline: balances and findings (exit 1 on findings)",
        description="Audit an escrow's whole transcript ('escrow export'): its mandate, its chain "
        "from seq 0 and the evidence each decision rests on. 'ok' only when every decision could be "
        "re-derived; a ledger alone ('escrow ledger') proves nothing and is reported EVIDENCE_MISSING.",
    )
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument(
        "--escrow-did",
        help="the escrow audited, a did:key, its key file or its .did file (default: the one key that "
        "issued ledger entries; needed when several did, as in a successor's export, whose 'escrow' field "
        "names it)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON report")
    e.set_defaults(func=_Command("escrow", "cmd_escrow_audit"))

    p = sub.add_parser(
        "offer",
        help="offer trades to a serving peer and carry them through (prints one line per trade)",
        description="Offer a trade to the peer at --to and carry it as far as both sides go: its answer, "
        "with --escrow the bond locks, both deliveries and receipts, the release of the bonds. Prints "
        "one line per trade: number, negotiation id (for export, claim, revoke and resume), state, time. "
        "Exit 1 when an offer was rejected (the reason is printed) or refused, 3 when a trade did not "
        "finish (the state it reached is printed; `resume` carries it on), else 0.",
    )
    _add_identity(p)
    _add_to(p)
    p.add_argument(
        "--escrow",
        type=address,
        metavar="HOST:PORT",
        help="the escrow that arbitrates claims and revokes and holds the bonds (needed for --bond, "
        "--revocable and any later claim)",
    )
    p.add_argument(
        "--give", type=item_spec, action="append", required=True, metavar="CATEGORY:VALUE", help=_ITEM
    )
    p.add_argument(
        "--want",
        type=item_spec,
        action="append",
        required=True,
        metavar="CATEGORY:VALUE",
        help="what you ask for in return, in the same form (repeatable)",
    )
    p.add_argument(
        "--deadline",
        type=parse_duration,
        default=3_600_000,
        metavar="DURATION",
        help=f"when every item is due, from now (default 1h); {_DURATION}",
    )
    p.add_argument("--bond", type=non_negative, default=0, help="bond each side posts (needs --escrow)")
    _add_min_time_to_perform(p)
    p.add_argument("--count", type=positive, default=1, help="how many trades (default 1)")
    p.add_argument("--revocable", action="store_true", help="terms that allow either side to revoke")
    p.add_argument(
        "--forfeit-bond", action="store_true", help="with --revocable: the revoker forfeits its bond"
    )
    p.add_argument(
        "--wait-hold",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --revocable: wait in this run until our held Delivery may go, then deliver and finish "
        "(the default: SPEC CMT-012 holds it while the counterparty could revoke for free and keep it, up "
        "to 30 s before our deadline); --no-wait-hold ends the run instead (exit 3), saying when to run "
        "`resume` -- for a contract you may want to `revoke` meanwhile",
    )
    p.add_argument(
        "--response-window",
        type=parse_duration,
        default=0,
        metavar="DURATION",
        help="how long, after the escrow stamps a breach claim, the accused may still show a timely "
        "delivery before the escrow rules (default 1h, at most 1d; whatever it is, the escrow rules no "
        "earlier than the item's deadline + 30s, the clock tolerance)",
    )
    _add_dial_tls(p)
    _add_page_limits(p, "the escrow's ledger")
    p.set_defaults(func=_Command("peer", "cmd_offer"))

    p = sub.add_parser(
        "claim",
        help="file a breach claim on an overdue item of a contract you offered, with the escrow",
        description="Sign a BreachClaim for the counterparty's item once its deadline has passed and "
        "send it, with the negotiation's evidence, to the escrow, whose stamp makes it take effect; "
        "then send it and the stamp to the counterparty. The escrow rules once the contract's "
        "response window after its stamp ends; run the command again (the same claim is sent again, "
        "nothing new signed) or pass --wait to fetch and relay the ruling and the settlement.",
    )
    _add_counterparty(p)
    p.add_argument("--item", type=non_negative, default=0, help="the counterparty's item index (default 0)")
    p.add_argument("--reason", type=utf8_text, default="", help="why (free text)")
    p.add_argument(
        "--wait",
        type=parse_duration,
        default=0,
        metavar="DURATION",
        help="wait up to this long for the escrow's decision, with progress on stderr (e.g. 2m)",
    )
    p.set_defaults(func=_Command("peer", "cmd_claim"))

    p = sub.add_parser(
        "resume",
        help="carry on the trades you offered that a crash or a lost answer left unfinished",
        description="Read the journal and, for each trade it offered to the peer at --to that did not "
        "finish (or the one --negotiation names), send that peer again what we and the escrow signed "
        "(what it holds is answered as the first time, nothing is signed twice), sign and send what its "
        "answers make due, and settle with the escrow: submit the evidence it has not stamped and relay "
        "its releases. With no peer answering at --to, still show the escrow what we owe it and settle with "
        "it what it alone can of each unfinished contract it serves. Prints one line per trade: "
        "negotiation id and state. Exit 0 when all finished, 3 when one still waits (the counterparty's "
        "deadline, funds, a ruling or the escrow; the reason is printed).",
    )
    _add_identity(p, journal_must_exist=True)
    p.add_argument("--negotiation", metavar="HEX", help=f"{_NEGOTIATION_HELP}; default: every unfinished one")
    _add_to(p)
    p.add_argument("--escrow", type=address, metavar="HOST:PORT", help="the escrow holding the bonds")
    _add_dial_tls(p)
    _add_page_limits(p, "the escrow's ledger")
    p.set_defaults(func=_Command("peer", "cmd_resume"))

    p = sub.add_parser(
        "revoke",
        help="revoke a contract you offered, under its revocation terms",
        description="Sign a Revoke (refused unless the terms allow it), send it to the counterparty "
        "and the escrow, relay the escrow's answers, and print the state and balances.",
    )
    _add_counterparty(p)
    p.add_argument("--reason", type=utf8_text, default="", help="why (free text)")
    p.set_defaults(func=_Command("peer", "cmd_revoke"))

    p = sub.add_parser(
        "status",
        help="every negotiation (id and state), obligations, exposure (and escrow balance)",
        description="Read a journal (its server may be running): every negotiation with its id and "
        "state, what is owed in the open ones, the exposure under the mandate; with --escrow, the balance.",
    )
    _add_reader(p)
    p.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    p.add_argument("--escrow", type=address, metavar="HOST:PORT", help="also ask this escrow for the balance")
    p.add_argument("--json", action="store_true", help="print one JSON report")
    _add_dial_tls(p)
    p.set_defaults(func=_Command("peer", "cmd_status"))

    p = sub.add_parser(
        "reputation",
        help="a counterparty's score in our reputation view, and the attestations behind it",
        description="Read a journal (its server may be running) and print SUBJECT's score in the "
        "peer's reputation view (SPEC 10.3): score, uncertainty, trust, how many attestations with "
        "stake stand behind it, and each attestation about it with its rater, outcome and stake (0 "
        "with the reason when it weighs nothing). SUBJECT is a did:key (an agent, scored as its "
        "principal, or a principal), a key file or a file holding a did:key (keygen > NAME.did).",
    )
    p.add_argument("subject", metavar="SUBJECT")
    _add_reader(p)
    p.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    p.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="DID",
        help="a principal to pre-trust besides our own (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON report")
    p.set_defaults(func=_Command("peer", "cmd_reputation"))

    p = sub.add_parser(
        "export",
        help="write the evidence of one negotiation, verifiable with `verify`",
        description="Write one negotiation's evidence from a peer's journal (its server may be running) "
        "as a JSON transcript: the statements of both sides, the mandates and the escrow's statements "
        "it holds. `a2a-coop verify FILE` checks it offline, with no trust in the peer that wrote it.",
    )
    _add_reader(p)
    p.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    p.add_argument("--negotiation", required=True, metavar="HEX", help=_NEGOTIATION_HELP)
    _add_new_file_out(p, "the evidence (a JSON transcript)")
    p.set_defaults(func=_Command("peer", "cmd_export"))


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag or value reported on one line (the error, and where the help is) instead
    of the whole usage block first: a user mistake gets a one-line message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """As argparse's, but a closed pipe is not ignored: `a2a-coop --help | head -1` exits as
        every command does when its reader leaves (:func:`main`)."""
        file = file or sys.stderr
        if message and file is not None:  # None: no console at all (pythonw)
            file.write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="a2a-coop",
        description="Keys, offline verification and inspection of a2a-coop signed statements; "
        "peers and escrows over gRPC.",
        epilog="Exit codes: 0 valid or done, 1 invalid, rejected or refused, 2 usage, I/O or network "
        "error, 3 a trade did not finish (offer, resume) or a target did not take a key revocation "
        "(revoke-key), 130 interrupted, 141 output to a closed pipe (the reader left, as in '| head'). "
        "'a2a-coop COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--test-clock-offset",
        type=parse_duration,
        default=0,
        metavar="DURATION",
        help="TEST ONLY: run the command's clock DURATION ahead of this machine's (never behind): the "
        "offset a test moved its --test-clock servers by, so that what the command signs and judges agrees "
        "with them (CTL-003; e.g. a2a-coop --test-clock-offset 31s claim ...)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "keygen",
        help="create an Ed25519 key (seed from os.urandom) and print its did:key",
        description="Create an Ed25519 key. With --out, write the key file there and print its did:key "
        "(the public identity others address); without, print the key file itself, secret seed included.",
    )
    p.add_argument("--out", type=Path, help="write the key file here (mode 0600; never overwritten)")
    p.set_defaults(func=_offline("cmd_keygen"))

    p = sub.add_parser(
        "verify",
        help="verify envelopes, transcripts or equivocation proofs (vector files with --vectors)",
        description="Verify envelopes (binary or DSSE JSON) and transcripts as one transcript, in order; "
        "check equivocation proofs; with --vectors, run vector files. Exit 0 only when all is valid.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help='binary or DSSE JSON envelopes, JSON transcripts ({"envelopes": [...]}), vector files, '
        "equivocation proofs",
    )
    p.add_argument(
        "--at",
        type=parse_time,
        metavar="TIME",
        help="check freshness at TIME: 'now', Unix ms or ISO 8601 (default: offline, no freshness; TIM-005)",
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="treat each issuer's statements as its complete log from seq 0, so a missing seq is an "
        "error (CHAIN_GAP); by default a transcript may hold only some of them (sparse)",
    )
    p.add_argument(
        "--vectors",
        action="store_true",
        help="run test vector files (conformance/vectors/), exit 0 when each vector gives the result "
        "it expects: a vector file states its own expected results, so without this flag one is refused "
        "-- evidence handed to you must not choose its own verdict; with it, evidence is refused (verify "
        "it without the flag)",
    )
    p.add_argument(
        "--trust-escrow",
        action="append",
        default=[],
        metavar="KEY",
        help="an escrow this view trusts (repeatable): a did:key, or a file of them, one a line. A fork's "
        "principal that revoked the key is convicted only by the Stamps of a trusted escrow (ATT-013 (d)); "
        "default: every escrow (each conviction names the escrows whose Stamps it rests on)",
    )
    p.add_argument(
        "--trust-stated",
        action="store_true",
        help="trust the escrows the transcript's trusted_escrows names -- its presenter's choice, which "
        "a narrower set turns to sparing: by default it is shown, not applied",
    )
    p.add_argument("--json", action="store_true", help="print one JSON report")
    p.set_defaults(func=_offline("cmd_verify"))

    p = sub.add_parser(
        "audit",
        help="read a counterparty's signed statements for misrepresentation (exit 1 on a hard proof)",
        description="Run the misrepresentation audit (SPEC 19) over envelopes and transcripts: hard proofs "
        "-- a fork of a key's chain or two answers of it to one statement (equivocation), an Accept below "
        "a signed floor, commitments above its mandate, a breach its escrow upheld -- then soft screens. "
        "Exit 1 when a hard proof is found, 0 otherwise.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="binary or DSSE JSON envelopes, JSON transcripts")
    p.add_argument(
        "--subject", metavar="DID", help="audit only this key (a did:key, its key file or its .did file)"
    )
    p.add_argument(
        "--proofs",
        type=Path,
        metavar="DIR",
        help="write each equivocation's fork or answer proof to DIR/<did>.proof.json (ATT-012, ATT-022): "
        "the file `a2a-coop verify` checks, the two envelopes gossip passes on",
    )
    p.add_argument("--no-screens", action="store_true", help="hard proofs only, no soft screens")
    p.add_argument("--json", action="store_true", help="print one JSON report")
    p.set_defaults(func=_offline("cmd_audit"))

    p = sub.add_parser(
        "inspect",
        help="dump envelopes in human-readable form (valid or not)",
        description="Dump every envelope, valid or not; exit 1 if one fails its stateless checks "
        "(a vector file's, many wrong on purpose, do not count).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="what verify reads")
    p.set_defaults(func=_offline("cmd_inspect"))

    _add_runtime_parsers(sub)

    p = sub.add_parser(
        "agent",
        help="the reference agents: list them, or run one as its own gRPC peer",
        description="Reference agents (package reference_agents): cooperative and adversarial "
        "strategies behind the policy guard, for testing an agent against.",
    )
    asub = p.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    a = asub.add_parser(
        "list",
        help="describe every reference agent and its parameters",
        description="Describe every reference agent: its kind (cooperative or adversarial), what it "
        "does and its parameters with their defaults ('agent run --param KEY=VALUE' sets one).",
    )
    a.add_argument("--json", action="store_true", help="one JSON object per agent, one per line")
    a.add_argument(
        "--axelrod",
        action="store_true",
        help="list the Axelrod library's strategies that agent run --strategy axelrod:NAME hosts "
        "(needs the extra sim; imports axelrod, about 10 s)",
    )
    a.set_defaults(func=_Command("agents", "cmd_agent_list", networked=False))
    a = asub.add_parser(
        "run",
        help="run a reference agent as a peer: answer offers over gRPC until SIGINT/SIGTERM",
        description="Like serve, with a reference agent deciding. Prints 'listening on HOST:PORT as DID'.",
    )
    _add_serve_options(a)
    a.add_argument("--strategy", required=True, metavar="NAME", help="the agent (a2a-coop agent list)")
    a.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an agent parameter, e.g. act_rate=0.5 or members=DID,DID (repeatable)",
    )
    a.set_defaults(func=_Command("agents", "cmd_agent_run"))

    p = sub.add_parser(
        "sim",
        help="population simulation of the reference agents: evolve one run, sweep many",
        description="Reference agents trading over the real protocol in one process, in a verifiable "
        "world (bonds, escrow, reputation, audit) or a cheap-talk one (none of them).",
    )
    ssub = p.add_subparsers(dest="sim_command", required=True, metavar="ACTION")
    from a2a_coop.cli.sim import add_parsers as add_sim_parsers

    add_sim_parsers(ssub, _Command)
    _add_sim_parity(ssub)
    s = ssub.add_parser(
        "axelrod-check",
        help="round robin of hosted Axelrod strategies through a2a-coop vs axelrod.Tournament (Spearman)",
        description="Every pair of --strategies hosted Axelrod strategies plays --turns trades between "
        "two peers (deliver = cooperate, withhold = defect); the ranking is compared with "
        "axelrod.Tournament's on the same strategies, turns and payoffs. Prints a table on stderr and, "
        "last on stdout, one JSON line with spearman. Needs the extra sim.",
    )
    s.add_argument("--strategies", type=positive, default=20, help="how many, drawn with --seed (default 20)")
    s.add_argument("--turns", type=positive, default=100, help="trades per pair (default 100)")
    s.add_argument("--seed", type=non_negative, default=0, help="(default 0)")
    s.add_argument(
        "--mode",
        choices=["crypto", "model"],
        default="crypto",
        help="crypto: every statement signed and verified (default); model: no cryptography",
    )
    s.add_argument("--names", metavar="NAME,NAME", help="these Axelrod strategies instead of a draw")
    s.set_defaults(func=_Command("agents", "cmd_sim_axelrod_check", networked=False))

    p = sub.add_parser(
        "demo",
        help="run an escrow and two peers as processes, trade, breach, claim; verify the evidence",
        description="Starts an escrow and a peer as separate processes on loopback and trades with "
        "them as a second peer: a batch of bonded trades, one breached and claimed. No configuration.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("a2a-coop-demo"),
        help="where to write; it must be new or empty, or an earlier demo's (then recreated) "
        "(default: ./a2a-coop-demo)",
    )
    p.add_argument("--trades", type=positive, default=5, help="number of trades (one is breached)")
    p.add_argument(
        "--offline",
        action="store_true",
        help="the same story in this process, on a fixed clock (no network, no subprocesses)",
    )
    p.set_defaults(func=_Command("demo", "cmd_demo"))

    from a2a_coop.cli import conformance  # the parser only: the suite loads when the command runs

    conformance.add_parser(sub, _add_dial_tls)
    sub.choices["conformance"].set_defaults(func=_Command("conformance", "cmd_conformance"))

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argparse's usage errors included).

    Output to a closed pipe (``a2a-coop agent list | head -1``: the reader left) ends any command
    quietly, with no traceback and no "Exception ignored" at exit, and exit code 141 (128 + SIGPIPE,
    what a shell reports for a program SIGPIPE killed: the output stopped short, whatever the command
    would have exited with). Python ignores SIGPIPE, so a write raises BrokenPipeError instead; it is
    caught here, once for every command (see the Python docs, "Note on SIGPIPE")."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # what is still buffered: a closed pipe fails here, not at exit
        sys.stderr.flush()
    except BrokenPipeError:
        _quiet_closed_pipes()
        return EXIT_BROKEN_PIPE
    return code


def _quiet_closed_pipes() -> None:
    """Point stdout and stderr, whichever no longer takes output, at /dev/null, so that the
    interpreter's own flush at exit raises no second BrokenPipeError (what is buffered is dropped)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            try:
                fd = stream.fileno()
            except (OSError, ValueError):  # not a real file (a test's capture): nothing flushes it at exit
                continue
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def _test_clock_offset(offset_ms: int) -> AbstractContextManager[None]:
    """``--test-clock-offset`` (CTL-003): the command runs that far ahead of this machine's clock; the
    runtime is imported only then (a command's start stays light)."""
    if not offset_ms:
        return nullcontext()
    from a2a_coop.runtime.peer import test_clock_offset

    return test_clock_offset(offset_ms)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        if args.version:
            return _cmd_version(args, sys.stdout)
        parser.print_help(sys.stderr)  # bare `a2a-coop`: the help, but no command ran (a usage error)
        return EXIT_USAGE
    try:
        with _test_clock_offset(args.test_clock_offset):
            code: int = args.func(args, sys.stdout)
    except UsageError as exc:
        print(f"a2a-coop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C in a command with no handling of its own (conformance, sim, ...)
        print("a2a-coop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PermissionError as exc:
        # A path under a directory this user may not search or write (a journal, --out, a key's chain):
        # Path.exists() raises there rather than answer False, past the checks that expect a missing
        # file, and printed a traceback. One line, naming the path, as any other I/O error (exit 2).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"a2a-coop: cannot access {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return code
