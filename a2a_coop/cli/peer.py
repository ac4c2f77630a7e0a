"""The peer commands: ``mandate``, ``serve``, ``offer``, ``claim``, ``revoke``, ``status`` and ``export``.

``mandate`` signs a principal's delegation to an agent key; ``serve`` runs a
peer until SIGINT/SIGTERM (with ``--escrow``, trading under that escrow and
having it stamp our deliveries); ``offer``, ``claim`` and ``revoke`` act as the
initiating side of a trade (:mod:`a2a_coop.runtime.trade`); ``status`` and
``export`` read a journal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from a2a_coop._proto.a2acoop.v1 import reputation_pb2, trade_pb2
from a2a_coop.cli._common import (
    ESCROW_START_WAIT_MS,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNFINISHED,
    EXIT_USAGE,
    Invalid,
    OutOfReach,
    UsageError,
    iso,
)
from a2a_coop.cli._runtime import (
    LoggedPeer,
    check_new_output,
    claim_chain,
    configure_logging,
    dial_tls,
    first_contact,
    listen_failure,
    load_envelope,
    load_key,
    load_mandate,
    log,
    open_journal,
    open_peer,
    operator_only,
    page_limits,
    peer_from_journal,
    read_callers_file,
    refuse_mandate_out_of_time,
    resolve_did,
    runtime_command,
    say_stopped,
    serve_until_stopped,
    server_tls,
    stop_on_signals,
    test_clock,
    wait,
    write_transcript,
)
from a2a_coop.protocol.bodies import MAX_RESPONSE_WINDOW_MS
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.errors import CoopError, IllegalTransition, printable
from a2a_coop.protocol.negotiation import Negotiation, State, claims_over_ms, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.runtime.node import (
    DAY_MS,
    DEFAULT_LOCK_WAIT_MS,
    EscrowWitness,
    PeerNode,
    remember_run,
    sign_mandate,
)
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.perform_time import (
    CounterpartyItemUnclaimable,
    TooLittleTimeToPerform,
    revocable_hold_until,
)
from a2a_coop.runtime.reputation import TrustPolicy
from a2a_coop.runtime.strangers import NewcomerOffers, StrangerQuota
from a2a_coop.runtime.strategy import ContractView, Deliver, HonestStrategy, Strategy, WithholdingStrategy
from a2a_coop.runtime.trade import (
    accept_cut_back,
    await_locks,
    awaits_their_lock,
    bargaining_lapsed,
    bonded_offer_to_show,
    carry_after_cutoff,
    carry_trade,
    claim_breach,
    counterparty_did,
    fetch_escrow_mandate,
    hidden_accept_check_ms,
    last_witness_ms,
    negotiation_evidence,
    proposal,
    read_forgotten,
    resume_trade,
    revoke,
    serves_for,
    settle_with_escrow,
    sync_with_escrow,
    unfinished,
    unwitnessed,
)
from a2a_coop.transport import CooperationClient, EscrowClient, TlsConfig, TransportError
from a2a_coop.transport.limits import PeerLimits


@runtime_command
def cmd_mandate(args: argparse.Namespace, out: TextIO) -> int:
    principal = load_key(args.principal)
    agent = resolve_did(args.agent)
    counterparties = [resolve_did(c) for c in args.counterparty]
    journal_path: Path = args.journal or args.principal.with_suffix(".db")
    if journal_path.resolve() == args.principal.resolve():
        raise UsageError("the principal's journal cannot be its key file; pass --journal")
    if args.out.resolve() == journal_path.resolve():  # a new journal passes check_output, then is lost
        raise UsageError(f"--out {args.out} is the principal's journal; write the mandate elsewhere")
    # Before signing: a refused --out must not cost the principal a seq. An existing mandate file is
    # kept unless --force: a renewal written over it would leave an older journal only this file to
    # replay with (journals now keep their mandates, MND-017; those from before did not).
    check_new_output(args.out, args.force, "a mandate file")
    caps: dict[str, Any] = {
        "max_per_deal": args.max_per_deal,
        "budget_per_period": args.budget,
        "period_ms": args.period_days * DAY_MS,
        "max_outstanding": args.max_outstanding,
        "allowed_categories": args.category,
        "allowed_counterparties": counterparties,
    }
    if args.succeeds is not None:
        caps["succeeds"] = resolve_did(args.succeeds)
        if caps["succeeds"] == agent:
            raise UsageError("--succeeds names the agent itself: a hand-over names the revoked key (ESC-022)")
    claim_chain(args.principal, principal, journal_path)
    with open_journal(journal_path) as journal:
        vs = sign_mandate(principal, journal, agent, now_ms=wall_clock_ms(), days=args.days, **caps)
    try:
        with args.out.open("w" if args.force else "x") as f:  # "x": created meanwhile, it is kept too
            f.write(json.dumps(envelope_to_json(vs.envelope), indent=2) + "\n")
    except FileExistsError:
        raise UsageError(
            f"{args.out} exists; refusing to overwrite a mandate file (--force replaces it)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    out.write(
        f"mandate {vs.digest.hex()[:16]} for {agent} (principal seq {vs.header.seq}, "
        f"valid {args.days} days) written to {args.out}\n"
    )
    return EXIT_OK


@dataclass
class _LoggedWithholding(WithholdingStrategy):
    """WithholdingStrategy that logs, once per contract, that it withholds: the operator of a server
    that breaches on purpose should read it in the log, not infer it from a claim."""

    _told: set[bytes] = field(default_factory=set, repr=False)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        if not self.withholds(contract.contract_id):
            return super().perform(contract)
        if contract.contract_id not in self._told:
            self._told.add(contract.contract_id)
            log.info(
                "strategy withhold-every-Nth:%d withholds our delivery in negotiation %s",
                self.every,
                contract.negotiation_id.hex()[:12],
            )
        return []


def build_strategy(spec: str) -> Strategy:
    """``honest`` or ``withhold-every-Nth:N`` (the CLI checked the form)."""
    if spec == "honest":
        return HonestStrategy()
    return _LoggedWithholding(every=int(spec.rsplit(":", 1)[1]))


def trust_policy(args: argparse.Namespace) -> TrustPolicy | None:
    """The trust policy serve's options ask for (ATT-016), or None when they ask for none."""
    seeds = frozenset(resolve_did(s) for s in args.trust_seed)
    if not (args.refuse_below or args.bond_below or args.min_bond or seeds):
        return None
    if args.bond_below and not args.min_bond:
        raise UsageError("--bond-below needs --min-bond (the bond to demand)")
    if args.min_bond and not args.bond_below:
        raise UsageError("--min-bond needs --bond-below (whom to demand it of)")
    try:
        return TrustPolicy(
            refuse_below=args.refuse_below, bond_below=args.bond_below, min_bond=args.min_bond, seeds=seeds
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@runtime_command
def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    tls = server_tls(args)
    escrow_tls = dial_tls(args, "escrow_")
    if escrow_tls is not None and args.escrow is None:
        raise UsageError("the --escrow-tls-* options need --escrow HOST:PORT")
    if args.lock_wait_ms is not None and args.escrow is None:
        raise UsageError("--lock-wait-ms needs --escrow HOST:PORT")
    if args.escrow_wait != ESCROW_START_WAIT_MS and args.escrow is None:
        raise UsageError("--escrow-wait needs --escrow HOST:PORT")
    if args.burst and not args.max_rate:  # a bucket's size with no rate filling it would limit nothing
        raise UsageError("--burst needs --max-rate N (the rate whose bursts it sizes)")
    a2a_only = {
        "--card-port": args.card_port,
        "--public-url": args.public_url,
        "--public-grpc": args.public_grpc,
        "--a2a-private-tasks": args.a2a_private_tasks,
        # the callers file judges the control service's callers too (CTL-001), served without --a2a
        "--a2a-callers": args.a2a_callers and not _operator_served(args),
        "--own-did-operator": args.own_did_operator and not _operator_served(args),
    }
    if not args.a2a and (given := [option for option, value in a2a_only.items() if value]):
        if given[0] in ("--a2a-callers", "--own-did-operator"):
            raise UsageError(
                f"{given[0]} needs --a2a or --conformance-control (it judges their callers), or --test-clock"
            )
        raise UsageError(f"{given[0]} needs --a2a (it configures the A2A binding, served only with it)")
    if args.a2a and getattr(args, "conformance_control", False):
        raise UsageError("--conformance-control is not available with --a2a")
    if args.a2a and getattr(args, "test_clock", False):
        raise UsageError("--test-clock is not available with --a2a")
    if args.own_did_operator and (tls is None or tls.trusted_ca is None):
        raise UsageError("--own-did-operator judges client certificates: it needs --tls-client-ca")
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    refuse_mandate_out_of_time(args.mandate, mandate, wall_clock_ms())  # before a journal is touched
    context = [load_envelope(p, "context envelope") for p in args.context]
    # `agent run` hands over a reference agent it built (a2a_coop.cli.agents); serve builds its own.
    strategy = getattr(args, "strategy_object", None) or build_strategy(args.strategy)
    claim_chain(args.key, key, args.journal)
    with ExitStack() as stack:
        journal = open_journal(args.journal)  # locked until the node closes it: one server per journal
        stack.callback(journal.close)
        witness = None
        if args.escrow is not None:
            escrow = stack.enter_context(EscrowClient(args.escrow, tls=escrow_tls))
            escrow_mandate = first_contact(
                "--escrow",
                args.escrow,
                "escrow",
                lambda: fetch_escrow_mandate(escrow),
                wait_s=args.escrow_wait / 1000,  # started with its escrow (a script, a service manager)
            )
            vs = verify_statement(escrow_mandate)
            context = list(dict.fromkeys([*context, escrow_mandate]))  # held, so the escrow is trusted
            wait_ms = DEFAULT_LOCK_WAIT_MS if args.lock_wait_ms is None else args.lock_wait_ms
            witness = EscrowWitness(escrow, vs.statement.mandate.agent, lock_wait_s=wait_ms / 1000)
        limits = PeerLimits(rate_per_s=args.max_rate, burst=args.burst, in_flight=args.max_in_flight)
        configure_logging()  # before the peer: what its start says about its snapshot is logged
        clock, clock_service, clock_guards = test_clock(
            args,
            tls,
            did=key.did,
            path=args.a2a_callers,
            own_did_operator=args.own_did_operator,
            option="--a2a-callers",
        )
        node = PeerNode(
            open_peer(
                key,
                mandate,
                journal,
                context,
                strategy=strategy,
                trust=trust_policy(args),
                min_time_to_perform_ms=args.min_time_to_perform,
                stranger_quota=StrangerQuota(
                    per_period=args.stranger_statements,
                    per_key=args.stranger_statements_per_key,
                    revocations=args.revocation_statements,
                ),
                newcomer_offers=NewcomerOffers(per_period=args.newcomer_offers),
                **({} if args.snapshot_every is None else {"snapshot_every": args.snapshot_every}),
                clock=clock or wall_clock_ms,
            ),
            journal,
            witness=witness,
            limits=limits,
        )
        stack.callback(node.close)  # before the escrow's channel closes: the witness drains first
        remember_run(journal, mandate, context)
        if owed := node.witness_owed():  # what a crash may have kept from the escrow
            log.info("resubmitting %d unfinished contracts and our deliveries to the escrow", owed)
        extra, guards = _conformance_control(node, args, tls, did=key.did)
        if args.a2a:
            _serve_a2a_until_stopped(node, args, tls, did=key.did, out=out)
        else:
            serve_until_stopped(
                LoggedPeer(node),
                None,
                args,
                tls,
                did=key.did,
                out=out,
                extra_servicers=[*extra, *clock_service],
                interceptors=[*guards, *clock_guards],
            )
    return EXIT_OK


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _operator_served(args: argparse.Namespace) -> bool:
    """Whether this peer serves a test-only service to its operator alone, served without --a2a: the
    ConformanceControlService (CTL-001) or the TestClockService (CTL-003), whose callers the callers file
    judges."""
    return bool(getattr(args, "conformance_control", False) or getattr(args, "test_clock", False))


def _conformance_control(
    node: PeerNode, args: argparse.Namespace, tls: TlsConfig | None, *, did: str
) -> tuple[list[Any], list[Any]]:
    """The test-only ConformanceControlService when ``--conformance-control`` asks for it, and the
    interceptors guarding it: it makes this peer sign offers on request, so only on a loopback address
    or behind mutual TLS, and only for the operator's callers (SPEC 18.2, CTL-001): a caller presenting a
    client certificate is judged by it as an A2A caller is (A2A-026, ``--a2a-callers``,
    ``--own-did-operator``); one without, on a loopback address, is the operator's."""
    if not getattr(args, "conformance_control", False):
        return [], []
    mutual = tls is not None and tls.trusted_ca is not None and tls.require_client_auth
    if args.host not in _LOOPBACK and not mutual:
        raise UsageError(
            f"--conformance-control makes this peer sign offers on request: serve it on a loopback --host, "
            f"or with --tls-client-ca (mutual TLS), not on {args.host}"
        )
    from a2a_coop.runtime.control import SERVICE, control_service

    guards = operator_only(
        SERVICE,
        "CTL-001",
        path=args.a2a_callers,
        tls=tls,
        did=did,
        own_did_operator=args.own_did_operator,
        what="--conformance-control",
        option="--a2a-callers",
    )
    log.warning("ConformanceControlService is on: callers can make this peer initiate trades (testing only)")
    return [control_service(node.peer, node.watch_exposed)], guards


def _serve_a2a_until_stopped(
    node: PeerNode, args: argparse.Namespace, tls: TlsConfig | None, *, did: str, out: TextIO
) -> None:
    """``serve --a2a``: CooperationService and A2A's gRPC binding on one port; JSON-RPC, HTTP+JSON
    and the AgentCard over HTTP; every exchange logged, whichever binding it came through."""
    try:
        from a2a_coop.a2a import AGENT_CARD_PATH, serve_a2a
    except ImportError:
        raise UsageError(
            "--a2a needs the a2a extra: pip install -e '.[a2a]' in the a2a-coop checkout"
        ) from None
    public_url = _public_url(args.public_url, tls)
    if public_url is None and args.host in ("0.0.0.0", "::", ""):
        raise UsageError(
            f"--host {args.host} with --a2a needs --public-url: the AgentCard cannot advertise {args.host}"
        )
    if args.public_grpc is not None:
        _host_port(args.public_grpc)
    callers = read_callers_file(args.a2a_callers, tls)
    logged = LoggedPeer(node)
    with stop_on_signals() as stop:
        try:
            server = serve_a2a(
                node,
                host=args.host,
                port=args.port,
                http_port=args.card_port,
                tls=tls,
                public_url=public_url,
                public_grpc=args.public_grpc,
                exchange=logged.exchange,
                cooperation=logged,
                private_tasks=args.a2a_private_tasks,
                callers=callers,
                own_did_operator=args.own_did_operator,
            )
        except (RuntimeError, OSError) as exc:
            raise listen_failure(args.host, [p for p in (args.port, args.card_port) if p], exc) from None
        try:
            out.write(f"listening on {server.target} as {did}\n")
            out.write(f"agent card at {server.card_url}{AGENT_CARD_PATH}\n")
            out.flush()
            wait(stop)
        finally:
            server.stop()
            say_stopped(out)


def _public_url(url: str | None, tls: TlsConfig | None) -> str | None:
    """``--public-url``, checked: an http(s) URL with a host and no query; https when serving TLS."""
    if url is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"--public-url {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise UsageError(f"--public-url {url!r} must be an http:// or https:// URL with a host")
    if tls is not None and parts.scheme != "https":
        raise UsageError(f"--public-url {url!r} must be https:// when the server speaks TLS")
    return url.rstrip("/")


def _host_port(value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise UsageError(f"--public-grpc {value!r} must be HOST:PORT")


@runtime_command
def cmd_offer(args: argparse.Namespace, out: TextIO) -> int:
    if args.bond and args.escrow is None:
        raise UsageError("--bond needs --escrow HOST:PORT")
    if args.forfeit_bond and not args.revocable:
        raise UsageError("--forfeit-bond needs --revocable")
    if args.wait_hold is not None and not args.revocable:
        flag = "--wait-hold" if args.wait_hold else "--no-wait-hold"
        raise UsageError(f"{flag} needs --revocable (only revocable terms hold a Delivery back)")
    if args.response_window > MAX_RESPONSE_WINDOW_MS:
        raise UsageError(
            f"--response-window is at most {MAX_RESPONSE_WINDOW_MS // 3_600_000}h (BDY-003): "
            "one claim would keep the accused's bond locked that long"
        )
    if args.revocable and args.escrow is None:
        raise UsageError(
            "--revocable needs --escrow HOST:PORT (the escrow orders a revoke against the trade)"
        )
    revocation = None
    if args.revocable:
        revocation = trade_pb2.Revocation(allowed=True, forfeit_bond=args.forfeit_bond)
    tls = dial_tls(args)
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    claim_chain(args.key, key, args.journal)
    with ExitStack() as stack:
        journal = stack.enter_context(open_journal(args.journal))
        client = stack.enter_context(CooperationClient(args.to, tls=tls))
        escrow_client = (
            stack.enter_context(EscrowClient(args.escrow, tls=tls, page_limits=page_limits(args)))
            if args.escrow
            else None
        )
        other = first_contact("--to", args.to, "peer", lambda: counterparty_did(client))
        context: list[bytes] = []
        escrow_did = ""
        if escrow_client is not None:
            escrow_mandate = first_contact(
                "--escrow", args.escrow, "escrow", lambda: fetch_escrow_mandate(escrow_client)
            )
            context = [escrow_mandate]
            escrow_did = verify_statement(escrow_mandate).statement.mandate.agent
        peer = open_peer(
            key,
            mandate,
            journal,
            context,
            min_time_to_perform_ms=args.min_time_to_perform,
        )
        remember_run(journal, mandate, context)
        tally = _Tally(out, args.count, wait_hold=args.wait_hold is not False)
        # Unanswered bonded offers (an Ack only, or an error): each may be accepted at the escrow alone
        # until its bonding cutoff, binding our bond there (SPEC 16.14). Asked once every offer is out,
        # after one wait for the last cutoff, so that --count N waits once, not N times (ESC-013).
        unanswered: list[tuple[int, Negotiation, float, int]] = []
        unlocked: list[tuple[int, Negotiation, float]] = []  # ours locked, the counterparty's not yet
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
                response_window_ms=args.response_window,
            )
            started = time.perf_counter()
            try:
                sent = peer.propose(other, offer)
            except CounterpartyItemUnclaimable as exc:
                raise Invalid(f"offer not signed: {exc} (--deadline must be later)") from None
            except TooLittleTimeToPerform as exc:
                raise Invalid(f"offer not signed: {exc} (--min-time-to-perform)") from None
            neg = peer.negotiation(sent.header.negotiation_id)
            try:
                try:
                    neg = carry_trade(peer, client, sent, escrow=escrow_client)
                    _say_withdraw_final(peer, neg)
                except CoopError as exc:
                    if (
                        neg.contract is not None
                        or escrow_client is None
                        or hidden_accept_check_ms(peer, neg) is None
                    ):
                        raise
                    # Refused with an error, not a Reject: our signed offer is out all the same, and may
                    # be accepted at the escrow alone until its bonding cutoff, as below (ESC-013).
                    print(f"a2a-coop: offer {i + 1} refused by the other side: {exc}", file=sys.stderr)
            except (CoopError, TransportError) as exc:
                waiting = len(unanswered) + len(unlocked)
                return tally.stopped(i, peer, neg, started, exc, unsent=args.count - i - 1, waiting=waiting)
            check_at = hidden_accept_check_ms(peer, neg)
            if check_at is not None and escrow_client is not None:
                unanswered.append((i, neg, started, check_at))
                continue
            if escrow_client is not None and awaits_their_lock(peer, neg):
                unlocked.append((i, neg, started))
                continue
            tally.finished(i, neg, started, peer, escrow_client)
        if unlocked and escrow_client is not None:
            # Our bond is locked and the counterparty's not yet: it chooses when to pay in, up to the
            # bonding cutoff (ESC-010), and need not relay the lock; ended here, the contract would bind
            # our bond (BONDED at the escrow) with nobody delivering, and its claim would take it.
            _say_awaiting_locks(peer, [neg for _, neg, _ in unlocked])
            try:
                bonded = await_locks(peer, client, escrow_client, [neg for _, neg, _ in unlocked])
            except (CoopError, TransportError) as exc:
                i, neg, started = unlocked[0]
                waiting = len(unlocked) - 1 + len(unanswered)
                return tally.stopped(i, peer, peer.negotiation(neg.id), started, exc, waiting=waiting)
            for (i, _, started), neg in zip(unlocked, bonded, strict=True):
                tally.finished(i, neg, started, peer, escrow_client)
        if unanswered and escrow_client is not None:
            _wait_for_cutoff(peer, [neg for _, neg, _, _ in unanswered], max(at for *_, at in unanswered))
            for k, (i, waited, started, _) in enumerate(unanswered):
                try:
                    neg = carry_after_cutoff(peer, client, escrow_client, waited)
                except (CoopError, TransportError) as exc:
                    left = len(unanswered) - k - 1
                    return tally.stopped(i, peer, peer.negotiation(waited.id), started, exc, waiting=left)
                if neg.contract is None and not peer.asked_at_escrow(neg.id):
                    tally.unvouched(i, neg, started)
                elif neg.contract is None:
                    tally.expired(i, neg, started)
                else:
                    tally.finished(i, neg, started, peer, escrow_client)
        if tally.wait_hold and tally.held:
            code = _finish_held(peer, client, escrow_client, tally)
            if code is not None:
                return code
    if tally.rejected or tally.unanswered:
        return EXIT_INVALID
    return EXIT_UNFINISHED if tally.not_done else EXIT_OK


def _finish_held(
    peer: Peer, client: CooperationClient, escrow: EscrowClient | None, tally: _Tally
) -> int | None:
    """``offer`` (unless ``--no-wait-hold``): sleep until the last of our Deliveries the hold under
    revocable terms keeps (CMT-012) may go, saying so in one line, then carry each such trade on as
    ``resume`` would; the exit code of a trade that stopped, else None (the tally counts the rest)."""
    held, tally.held, tally.wait_hold = tally.held, [], False  # still held after the wait: said
    ends = [hold[0] for _, neg, _ in held if (hold := _hold_of(peer, neg, last=True)) is not None]
    until = max(ends, default=peer.clock())
    wait_ms = until - peer.clock()
    if wait_ms > 0:
        print(
            f"a2a-coop: waiting until {iso(until)} ({wait_ms / 1000:.0f}s) to deliver what the revocable "
            "terms hold back (CMT-012); Ctrl-C is safe: run `a2a-coop resume` after that time and before "
            "the deadline",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(wait_ms / 1000 + 0.05)
    for i, neg, started in held:
        tally.not_done -= 1
        try:
            done = resume_trade(peer, client, peer.negotiation(neg.id), escrow=escrow)
        except (CoopError, TransportError) as exc:
            return tally.stopped(i, peer, peer.negotiation(neg.id), started, exc)
        tally.finished(i, done, started, peer, escrow)
    return None


class _Tally:
    """`offer`'s line per trade on stdout, why on stderr, and the counts its exit code is made of."""

    def __init__(self, out: TextIO, count: int, *, wait_hold: bool) -> None:
        self.out, self.count = out, count
        self.rejected = self.not_done = self.unanswered = 0
        # Trades whose Delivery the hold under revocable terms keeps (CMT-012) and this run waits for
        # (offer's default, unless --no-wait-hold): their line comes once they finish.
        self.held: list[tuple[int, Negotiation, float]] = []
        self.wait_hold = wait_hold

    def _line(self, i: int, neg: Negotiation, state: str, started: float) -> None:
        took = time.perf_counter() - started
        self.out.write(f"{i + 1}/{self.count}  {neg.id.hex()[:12]}  {state:<10}  {took:.2f}s\n")
        self.out.flush()

    def stopped(
        self,
        i: int,
        peer: Peer,
        neg: Negotiation,
        started: float,
        exc: CoopError | TransportError,
        *,
        unsent: int = 0,
        waiting: int = 0,
    ) -> int:
        """A trade that a refusal or the transport stopped; the exit code (the offer itself refused:
        raised, as nothing was agreed and nothing is left to carry on). ``unsent``: the offers of
        --count this run will not send now; ``waiting``: the earlier trades it leaves to `resume`."""
        if isinstance(exc, CoopError) and neg.contract is None:
            raise exc
        # Whatever stopped it, the trade is journaled as far as it went: say where, and how on -- with our
        # Deliveries its escrow has not stamped (WIT-007), which a final state does not settle.
        self._line(i, neg, neg.state.value, started)
        where = _not_done(peer, neg)
        if where:
            print(
                f"a2a-coop: trade {i + 1} ({neg.id.hex()[:12]}) stopped in {where}: {exc}; "
                + _resume_hint(neg),
                file=sys.stderr,
            )
            return EXIT_UNFINISHED
        # Over (a final state, no bond locked): what failed came after it -- relaying the escrow's
        # last answers, which the counterparty also has from the escrow -- and `resume` has nothing of
        # it to carry on. Once said "stopped in FULFILLED ... carry it on with a2a-coop resume", exit
        # 3, and `resume` then answered "nothing to resume".
        not_sent = f"; the run stops here, {unsent} more offer(s) not sent" if unsent else ""
        print(
            f"a2a-coop: trade {i + 1} ({neg.id.hex()[:12]}) ended {neg.state.value}, and then the other "
            f"side failed: {exc}{not_sent}",
            file=sys.stderr,
        )
        if waiting or self.not_done:  # held trades are counted there until finished
            print(
                "a2a-coop: earlier trades are not finished: `a2a-coop resume` with the same options carries "
                "them on",
                file=sys.stderr,
            )
            return EXIT_UNFINISHED
        if unsent:
            return EXIT_INVALID if isinstance(exc, CoopError) else EXIT_USAGE
        return EXIT_INVALID if self.rejected or self.unanswered else EXIT_OK

    def unvouched(self, i: int, neg: Negotiation, started: float) -> None:
        """Asked past the cutoff, and the answer carried no Checkpoint of the escrow's naming the offer
        (ESC-013 (i)): whoever answered may not be the escrow, so the offer may still bind us there."""
        self._line(i, neg, neg.state.value, started)
        self.not_done += 1
        print(
            f"a2a-coop: offer {i + 1}: its escrow's answer past the bonding cutoff carried no Checkpoint of"
            " it naming the offer (ESC-013 (i)): `a2a-coop resume` asks it again",
            file=sys.stderr,
        )

    def expired(self, i: int, neg: Negotiation, started: float) -> None:
        self._line(i, neg, "EXPIRED", started)
        self.unanswered += 1
        print(
            f"a2a-coop: offer {i + 1} expired unanswered (its escrow holds no Accept of it)", file=sys.stderr
        )

    def finished(
        self, i: int, neg: Negotiation, started: float, peer: Peer, escrow: EscrowClient | None
    ) -> None:
        if self.wait_hold and _hold_of(peer, neg) is not None and unfinished(neg):
            self.held.append((i, neg, started))  # finished (and its line written) after the wait
            self.not_done += 1
            return
        self._line(i, neg, neg.state.value, started)
        if neg.state is State.REJECTED:
            self.rejected += 1
            print(f"a2a-coop: offer {i + 1} rejected: {_reject_reason(peer, neg)}", file=sys.stderr)
            return
        if neg.state is State.ACCEPTED and escrow is not None:
            for line in _unfunded(neg, escrow):
                print(f"a2a-coop: trade {i + 1} waits for funds: {line}", file=sys.stderr)
        why = _not_done(peer, neg)
        if why:
            self.not_done += 1
            print(
                f"a2a-coop: trade {i + 1} ({neg.id.hex()[:12]}) did not finish: {why}; " + _resume_hint(neg),
                file=sys.stderr,
            )
            held = _held_under_revocable_terms(peer, neg)
            if held is not None:
                print(f"a2a-coop: trade {i + 1} {held}", file=sys.stderr)


def _wait_for_cutoff(peer: Peer, negs: Sequence[Negotiation], check_at: int) -> None:
    """Sleep until ``check_at`` by the peer's clock, saying why in one line (ESC-013)."""
    wait_ms = check_at - peer.clock()
    if wait_ms <= 0:
        return
    which = ", ".join(neg.id.hex()[:12] for neg in negs)
    offers = f"offer {which} got" if len(negs) == 1 else f"{len(negs)} offers ({which}) got"
    print(
        f"a2a-coop: {offers} no answer; waiting until {iso(check_at)} "
        f"({wait_ms / 1000:.0f}s, past the bonding cutoff) to ask the escrow whether it was accepted "
        "there alone, which would bind our bond; Ctrl-C is safe: run `a2a-coop resume` after that time",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(wait_ms / 1000)


def _say_awaiting_locks(peer: Peer, negs: Sequence[Negotiation]) -> None:
    """One line: which contracts wait for the counterparty's bond, and until when we ask (ESC-010)."""
    which = ", ".join(neg.id.hex()[:12] for neg in negs)
    until = max(neg.contract.bond_cutoff_ms for neg in negs if neg.contract is not None)
    print(
        f"a2a-coop: {'trade' if len(negs) == 1 else 'trades'} {which}: our bond is locked and the "
        f"counterparty's not yet; asking the escrow again until {iso(until)} (the bonding cutoff), so "
        "that a bond locked then is performed in time; Ctrl-C is safe: run `a2a-coop resume` before "
        "the deadline",
        file=sys.stderr,
        flush=True,
    )


def _hold_of(peer: Peer, neg: Negotiation, *, last: bool = False) -> tuple[int, int] | None:
    """When the hold under revocable terms (CMT-012) lets our first held Delivery under ``neg`` go (with
    ``last``, our last one), and that item's deadline; None when nothing of ours is held."""
    c = neg.contract
    if (
        c is None
        or peer.did not in c.parties
        or neg.state not in (State.ACCEPTED, State.BONDED, State.PERFORMING)
    ):
        return None
    now = peer.clock()
    held = [
        (at, item.deadline_ms)
        for i, item in enumerate(c.items(peer.did))
        if (peer.did, i) not in c.delivered and (at := revocable_hold_until(c, peer.did, i)) > now
    ]
    if not held:
        return None
    return max(held) if last else min(held)


def _held_under_revocable_terms(peer: Peer, neg: Negotiation) -> str | None:
    """Why our Delivery under ``neg`` waits, when the hold under revocable terms keeps it (CMT-012), and
    when to carry it on; None otherwise."""
    hold = _hold_of(peer, neg)
    if hold is None:
        return None
    at, deadline = hold
    return (
        f"holds our delivery back until {iso(at)}: under its revocable terms the counterparty could "
        f"revoke until then and keep it, owing nothing in return (CMT-012); run `a2a-coop resume` "
        f"after that time and before {iso(deadline)}, or we breach"
    )


def _resume_hint(neg: Negotiation) -> str:
    return f"carry it on with: a2a-coop resume --negotiation {neg.id.hex()[:12]} (and the same options)"


def _unfunded(neg: Negotiation, escrow: EscrowClient) -> list[str]:
    """The bonds the escrow did not lock for want of funds (ESC-005): the contract waits in ACCEPTED
    until a deposit covers them, or lapses at its bonding cutoff (ESC-010)."""
    c = neg.contract
    if c is None:
        return []
    out = []
    for party, bond in c.bonds_required.items():
        if party not in c.locked:
            available, _, currency, _ = escrow.get_balance(party)
            out.append(
                f"{party} has {available} {currency} available for a bond of {bond}; the escrow locks "
                f"nothing after {iso(c.bond_cutoff_ms)}, when the contract lapses unbonded"
            )
    return out


def _reject_reason(peer: Peer, neg: Negotiation) -> str:
    """The reason the counterparty's Reject of ``neg`` gives (or says it gives none)."""
    # By the negotiation's history: its statements may have left memory (the journal answers for them).
    held = peer.verifier.statements
    rejects = [held.get(digest) for _, event, _, digest in neg.history if event.value == "REJECT" and digest]
    reason = next((vs.statement.reject.reason for vs in reversed(rejects) if vs is not None), "")
    return printable(reason) if reason else "(no reason given)"


def _not_the_contracts_escrow(neg: Negotiation, wanted: str, address: str | None, serving: str) -> UsageError:
    """A trade is settled only with the escrow its contract names: the one its bonds, its witness and
    its rulings are with (MND-015). The refusal for ``address`` serving ``serving`` ("" for none)."""
    short_id = neg.id.hex()[:12]
    if not serving:
        return UsageError(f"negotiation {short_id}'s bonds are held by {wanted}: pass --escrow HOST:PORT")
    return UsageError(
        f"{address} is escrow {serving}, not {wanted}, which negotiation {short_id}'s contract names: "
        "a trade is settled only with the escrow its contract names"
    )


class _Contract:
    """An initiator's contract, rebuilt from its journal, and the clients to act on it.

    Local refusals (no such negotiation, no contract, nothing to claim) come before any dialling;
    :meth:`dial` then opens the counterparty and, when the terms name one, the escrow, refused unless
    it is the contract's -- the only escrow this run trusts -- before anything is signed.
    """

    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.tls = dial_tls(args)
        key = load_key(args.key)
        mandate = load_mandate(args.mandate, key)
        claim_chain(args.key, key, args.journal)
        journal = stack.enter_context(open_journal(args.journal, must_exist=True))
        # Earlier runs' escrows are held (replay needs their mandates), none trusted: the one this run
        # settles with is the contract's, checked when it is dialled (:meth:`dial`).
        self.peer = open_peer(key, mandate, journal)
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
        escrow = self.escrow = self.stack.enter_context(
            EscrowClient(self.args.escrow, tls=self.tls, page_limits=page_limits(self.args))
        )
        self.escrow_mandate = first_contact(
            "--escrow", self.args.escrow, "escrow", lambda: fetch_escrow_mandate(escrow)
        )
        serving = verify_statement(self.escrow_mandate).statement.mandate.agent
        if not serves_for(self.peer, self.escrow_mandate, self.escrow_did):
            raise _not_the_contracts_escrow(self.neg, self.escrow_did, self.args.escrow, serving)
        self.peer.trusted_escrows = frozenset({serving, self.escrow_did})  # its successor's too (ESC-022)

    def send(self, vs: VerifiedStatement) -> None:
        """``vs`` to the counterparty, which holds it without effect until the escrow's stamp arrives
        (WIT-005); then all the negotiation's evidence to the escrow, whose answers -- its Stamp first,
        then what the stamp made due -- are relayed; then the escrow's later statements."""
        drive(self.peer, self.client.exchange, vs)
        if self.escrow is not None:
            settle_with_escrow(self.peer, self.client, self.escrow, self.neg)
            self.sync()

    def sync(self) -> None:
        """Take the statements about this negotiation the escrow signed on its own clock (a Forfeit
        once a claim's response window ends) that we do not hold yet, and relay them."""
        assert self.escrow is not None
        sync_with_escrow(self.peer, self.client, self.escrow, self.neg)

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


@runtime_command
def cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    """Carry on the trades this journal offered that did not finish (or the one --negotiation names)."""
    tls = dial_tls(args)
    key = load_key(args.key)
    mandate = load_mandate(args.mandate, key)
    claim_chain(args.key, key, args.journal)
    with ExitStack() as stack:
        journal = stack.enter_context(open_journal(args.journal, must_exist=True))
        peer = open_peer(key, mandate, journal)  # earlier runs' escrows held, none trusted: see below
        negotiations = peer.verifier.negotiations.by_id
        reported = list(negotiations.values())  # whose cut-off Counter's lapse is said, below
        if args.negotiation:
            negs = [find_negotiation(peer, args.negotiation)]
            reported = negs
            every_trade = negs
        else:
            negs = [
                n
                for n in negotiations.values()
                if (n.initiator == peer.did and (unfinished(n) or unwitnessed(peer, n)))
                or bonded_offer_to_show(peer, n) is not None
                or accept_cut_back(peer, n)
                or peer.cut_off_counter(n.id) is not None
            ]
            # Ended and dropped from memory, with our bonded offer's answer not shown to its escrow (a
            # run stopped before it could ask): an Accept there may still bind us (NEG-017, ESC-013).
            # Or with our Accept cut back before we held its escrow's Stamp: the counterparty can show
            # it there alone (NEG-024). Or with our bonded Counter a lower answer cut off the line, not
            # withdrawn at its escrow yet (NEG-024 (a)).
            forgotten = read_forgotten(peer, journal.statements(), peer.clock())
            negs += forgotten.to_show
            reported += forgotten.lapsed
            every_trade = [*negotiations.values(), *forgotten.to_show]
        # A cut-off Counter whose claims are over is owed to its escrow no more (NEG-024 (a)): said, not
        # asked -- of a trade in memory or one ended and dropped from it alike (resume31).
        for n in reported:
            report = cut_off_report(peer, n)
            if report is not None and report["state"] == "lapsed":
                print(f"a2a-coop: {n.id.hex()[:12]} {cut_off_text(report)}", file=sys.stderr)
        client = stack.enter_context(CooperationClient(args.to, tls=tls))
        escrow = (
            stack.enter_context(EscrowClient(args.escrow, tls=tls, page_limits=page_limits(args)))
            if args.escrow
            else None
        )
        serving_escrow, serving = "", b""
        out_of_reach: list[Negotiation] = []  # unfinished, not carried on: the counterparty did not answer
        escrow_away = ""  # why the escrow did not answer, or ""
        if (dialled := escrow) is not None:
            try:
                serving = first_contact(
                    "--escrow", args.escrow, "escrow", lambda: fetch_escrow_mandate(dialled)
                )
            except OutOfReach as away:
                # An escrow down for an hour must not keep the rest from being done (witness33): what the
                # counterparty is owed is sent, and each trade is said unfinished for what only the escrow
                # can take -- nothing is sent to it, so nothing needs its key checked this run.
                escrow, escrow_away = None, str(away)
                print(f"a2a-coop: {away}; carrying on what needs no escrow", file=sys.stderr)
            else:
                serving_escrow = verify_statement(serving).statement.mandate.agent
        try:
            other = first_contact("--to", args.to, "peer", lambda: counterparty_did(client))
        except UsageError as unreachable:
            # What we owe the escrow needs no counterparty, which may have stopped our run to keep it from
            # there (NEG-024, (a); ESC-012): shown all the same. So does what the escrow alone settles of a
            # contract it serves: our Deliveries and Receipts witnessed, its rulings taken (which
            # counterparty --to is we cannot learn: every such trade of the journal). Each trade is then
            # said as it stands. The others are said and counted unfinished, not dropped: exit 0 over a
            # contract we still owe a Delivery under told the operator all was done while the
            # counterparty's claim took our bond (red team 29).
            owed = [
                n
                for n in negs
                if escrow is not None and (_owes_the_escrow(peer, n) or _settled_there(peer, n, serving))
            ]
            if not owed:
                if _all_over(peer, every_trade, negs):
                    out.write(f"nothing to resume: every trade of this journal is over ({unreachable})\n")
                    return EXIT_OK
                raise
            owed_ids = {n.id for n in owed}
            out_of_reach = [
                n for n in negs if n.id not in owed_ids and (unfinished(n) or unwitnessed(peer, n))
            ]
            negs = owed
            print(f"a2a-coop: {unreachable}; settling with the escrow what it alone can", file=sys.stderr)
        else:
            negs = [n for n in negs if n.other(peer.did) == other]
            if not negs:
                out.write(f"nothing to resume with {other}\n")
                return EXIT_OK
        # Each trade is settled with the escrow its contract names, and only that one is trusted (a
        # contract formed on the way under another is refused, MND-015): checked before anything is sent.
        escrow_of: dict[bytes, str] = {}  # each trade's escrow, "" for none
        for neg in negs:
            # A contract's escrow; else the one our unanswered bonded offer names, asked about it
            # (ESC-013); else the one the offer our Accept cut back accepts names, shown it (NEG-024); else
            # the one our cut-off bonded Counter names, shown our Withdraw of it (NEG-024 (a)).
            shown = bonded_offer_to_show(peer, neg)
            cut = accept_cut_back(peer, neg) if neg.contract is None and shown is None else []
            alone = neg.contract is None and shown is None and not cut
            cut_off = peer.cut_off_counter(neg.id) if alone else None
            wanted = (
                neg.contract.escrow
                if neg.contract is not None
                else proposal_of(shown).terms.escrow
                if shown is not None
                else proposal_of(cut[-2]).terms.escrow
                if cut
                else proposal_of(cut_off).terms.escrow
                if cut_off is not None
                else ""
            )
            if wanted and not escrow_away and not (serving and serves_for(peer, serving, wanted)):
                raise _not_the_contracts_escrow(neg, wanted, args.escrow, serving_escrow)  # or its successor
            escrow_of[neg.id] = wanted
        peer.trusted_escrows = frozenset({serving_escrow, *escrow_of.values()} - {""})
        not_done = 0
        for asked in negs:
            short_id = asked.id.hex()[:12]
            try:
                neg = resume_trade(peer, client, asked, escrow=escrow)
            except (CoopError, TransportError) as exc:
                neg = peer.negotiation(asked.id)  # read again: a forgotten one comes back with a contract
                state = shown_state(peer, neg)
                out.write(f"{short_id}  {state}\n")
                _say_withdraw_final(peer, neg)
                # A bargain that lapsed is unfinished only for what its escrow is still owed (its state,
                # shown while that is owed, is no reason: nothing either side signs moves it).
                over = state == State.EXPIRED.value or bargaining_lapsed(peer, neg)
                why = "; ".join(filter(None, ["" if over else unfinished(neg), _still_owed(peer, neg)]))
                if why and escrow_away and escrow_of[asked.id]:
                    why += _ESCROW_AWAY
                if why:
                    not_done += 1
                    print(f"a2a-coop: {short_id} stopped in {why}: {exc}", file=sys.stderr)
                else:  # the escrow settled it all the same (a refusal of a statement dated back, TIM-006;
                    # a counterparty out of reach)
                    failed = "could not be reached" if isinstance(exc, TransportError) else "refused"
                    print(
                        f"a2a-coop: {short_id} finished with the escrow; the peer {failed}: {exc}",
                        file=sys.stderr,
                    )
                continue
            if escrow is not None and awaits_their_lock(peer, neg):  # as `offer` does
                _say_awaiting_locks(peer, [neg])
                try:
                    (neg,) = await_locks(peer, client, escrow, [neg])
                except (CoopError, TransportError) as exc:
                    neg = peer.negotiation(asked.id)
                    out.write(f"{short_id}  {shown_state(peer, neg)}\n")
                    not_done += 1
                    print(f"a2a-coop: {short_id} stopped in {_not_done(peer, neg)}: {exc}", file=sys.stderr)
                    continue
            # Its escrow asked past the bonding cutoff, and no contract there: none can form any more --
            # on its signed word dated past the cutoff (ESC-013 (i)), else asked again on the next run.
            at = hidden_accept_check_ms(peer, neg)
            past = escrow is not None and at is not None and at <= peer.clock()
            state = shown_state(peer, neg)
            lapsed = at is not None and state == State.EXPIRED.value
            # The answer to our bonded offer shown to its escrow (ESC-013 (a)) and not taken there: E's
            # answer is whoever answered's choice (its Mandate alone takes nothing), and E, never shown the
            # answer, still witnesses an Accept of the offer -- REJECTED or lapsed in our view or not.
            unshown = _answer_not_taken(peer, neg) if at is None else ""
            reasons = [unfinished(neg), *_owed_reasons(peer, neg, unshown)]
            if past and not lapsed:
                reasons.insert(
                    0, "its escrow's answer past the bonding cutoff named not our offer (ESC-013 (i))"
                )
            why = "; ".join(filter(None, reasons))
            if why and escrow_away and escrow_of[asked.id]:
                why += _ESCROW_AWAY
            out.write(f"{short_id}  {state}\n")
            _say_withdraw_final(peer, neg)
            if state == State.EXPIRED.value:
                _say_expired(peer, neg)
            elif why:
                not_done += 1
                print(f"a2a-coop: {short_id} did not finish: {why}", file=sys.stderr)
                if (held := _held_under_revocable_terms(peer, neg)) is not None:  # as `offer` says it
                    print(f"a2a-coop: {short_id} {held}", file=sys.stderr)
        for neg in out_of_reach:  # each said as `status` shows it: one that lapsed is finished
            short_id, state = neg.id.hex()[:12], shown_state(peer, neg)
            out.write(f"{short_id}  {state}\n")
            if state == State.EXPIRED.value:
                _say_expired(peer, neg)
                continue
            not_done += 1
            print(
                f"a2a-coop: {short_id} not carried on (the peer is out of reach): {unfinished(neg)}",
                file=sys.stderr,
            )
    return EXIT_UNFINISHED if not_done else EXIT_OK


_ESCROW_AWAY = "; its escrow did not answer this run (run `a2a-coop resume` again once it does)"


def shown_state(peer: Peer, neg: Negotiation) -> str:
    """The state `a2a-coop resume` and `status` show for ``neg``: EXPIRED, where a peer applies no EXPIRE of
    its own, once nothing either side signs can move it -- our unanswered bonded offer past its bonding
    cutoff, on its escrow's signed word that it took no answer (ESC-013 (i), recorded); or the
    counterparty's offer, or ours naming no escrow, lapsed unanswered (NEG-007, :func:`bargaining_lapsed`)
    while nothing of it is owed to an escrow: our Accept cut back, the answer to our bonded offer, our
    Withdraw of a cut-off Counter (status showed EXPIRED beside that Withdraw owed, resume32) -- else the
    state our view holds. One function, so the two commands never disagree (status listed COUNTERED what
    resume called EXPIRED, resume31)."""
    at = hidden_accept_check_ms(peer, neg)
    if at is not None:
        lapsed = at <= peer.clock() and peer.asked_at_escrow(neg.id)
    else:
        owed = _cut_back_owed(peer, neg) or _answer_not_taken(peer, neg) or _withdraw_owed(peer, neg)
        lapsed = not owed and bargaining_lapsed(peer, neg)
    return "EXPIRED" if lapsed else neg.state.value


def _all_over(peer: Peer, trades: Sequence[Negotiation], to_resume: Sequence[Negotiation]) -> bool:
    """Whether nothing anyone signs can move any of ``trades`` (every trade of the journal, or the one
    --negotiation names), as `status` shows them (:func:`shown_state`), nor any of ``to_resume`` owes its
    escrow: then the peer out of reach keeps nothing from being done (resume32 exited 2 over a journal
    whose every trade had lapsed, on every run for good)."""
    return not any(_owes_the_escrow(peer, n) or unwitnessed(peer, n) for n in to_resume) and not any(
        shown_state(peer, n) != State.EXPIRED.value and unfinished(n) for n in trades
    )


def _say_expired(peer: Peer, neg: Negotiation) -> None:
    """Why `resume` counts ``neg``, shown EXPIRED (:func:`shown_state`), finished."""
    if hidden_accept_check_ms(peer, neg) is not None:
        why = "expired unanswered (none at its escrow)"
    else:
        why = f"expired: the outstanding {neg.outstanding.body} lapsed unanswered"
    print(f"a2a-coop: {neg.id.hex()[:12]} {why}", file=sys.stderr)


def _owes_the_escrow(peer: Peer, neg: Negotiation) -> bool:
    """Whether ``neg`` holds something of ours its escrow must be shown whatever the counterparty does: our
    bonded offer whose answer it has not taken (ESC-012), our Accept a lower answer cut back (NEG-024), our
    bonded Counter it cut off the line (NEG-024 (a))."""
    return (
        bonded_offer_to_show(peer, neg) is not None
        or (neg.contract is None and bool(accept_cut_back(peer, neg)))
        or peer.cut_off_counter(neg.id) is not None
    )


def _settled_there(peer: Peer, neg: Negotiation, serving: bytes) -> bool:
    """Whether ``neg`` is an unfinished contract the escrow whose Mandate is ``serving`` settles (its
    escrow, or a successor, ESC-022): our evidence and its rulings need no counterparty."""
    c = neg.contract
    return (
        c is not None
        and bool(unfinished(neg) or unwitnessed(peer, neg))
        and serves_for(peer, serving, c.escrow)
    )


def _still_owed(peer: Peer, neg: Negotiation) -> str:
    """What of ``neg`` its escrow has not taken after a run that failed, every reason (:func:`_owed_reasons`),
    or "": the answer to our bonded offer counts while it is still to show there at all (an Accept of the
    offer the escrow holds still binds, ESC-012). Each keeps the run unfinished, whatever became of the
    other steps."""
    unshown = "the answer to our bonded offer not taken by its escrow yet"
    return "; ".join(_owed_reasons(peer, neg, unshown if bonded_offer_to_show(peer, neg) is not None else ""))


def _owed_reasons(peer: Peer, neg: Negotiation, unshown: str) -> list[str]:
    """Every reason ``neg``'s escrow is still owed something of ours, ``unshown`` (the answer to our bonded
    offer not taken there, as the caller reads it) among them: our cut-off Counter's Withdraw (NEG-024 (a)),
    our Accept a lower answer cut back while the escrow may still witness it (NEG-024), our Deliveries it
    has not stamped (WIT-007). All of them, not the first: a user who mends one must not learn of the next
    only on the run after (witness33)."""
    return [
        r
        for r in (_withdraw_owed(peer, neg), unshown, _cut_back_owed(peer, neg), _not_witnessed(peer, neg))
        if r
    ]


def _not_done(peer: Peer, neg: Negotiation) -> str:
    """Why ``neg`` is not finished (:func:`unfinished`), with our Deliveries its escrow has not stamped
    (:func:`_not_witnessed`), or ""."""
    return ", ".join(filter(None, [unfinished(neg), _not_witnessed(peer, neg)]))


def _not_witnessed(peer: Peer, neg: Negotiation) -> str:
    """Why ``neg`` is not finished for our Deliveries its escrow has not stamped while a Stamp could still
    make them timely (WIT-003, WIT-007), or "": the run asked again at doubling waits and met no answer
    holding the escrow's Stamp of each -- answers anyone answering for the escrow could give, so the trade
    is never said finished on them (tests/test_witness32_offer_forged_answer.py)."""
    owed = _unwitnessed_report(peer, neg)
    return "" if owed is None else _unwitnessed_text(owed)


def _unwitnessed_report(peer: Peer, neg: Negotiation) -> dict[str, Any] | None:
    """Our Deliveries under ``neg``'s contract its escrow has not stamped in the journal's view, while a
    Stamp could still make them timely (:func:`unwitnessed`): their digests, and the time `resume` must
    give them again before; None when there are none. What `status` shows and a run says."""
    owed, c = unwitnessed(peer, neg), neg.contract
    if not owed or c is None:
        return None
    until = iso(c.last_deadline_ms + CLOCK_TOLERANCE_MS)
    return {"deliveries": [vs.digest.hex() for vs in owed], "resume_before": until}


def _unwitnessed_text(owed: dict[str, Any]) -> str:
    return (
        f"{len(owed['deliveries'])} delivery(ies) of ours not witnessed by the escrow yet (no Stamp of it by"
        f" the escrow's key: run `a2a-coop resume` before {owed['resume_before']} to give it again)"
    )


def _withdraw_owed(peer: Peer, neg: Negotiation) -> str:
    """Why ``neg`` is not finished for our bonded Counter a lower answer cut off the line while its escrow
    has not taken our Withdraw of it and claims under it can still come (NEG-024 (a)), or ""."""
    return _WITHDRAW_OWED if peer.cut_off_counter(neg.id) is not None else ""


_WITHDRAW_OWED = "our Withdraw of a cut-off Counter not taken yet"


def _answer_not_taken(peer: Peer, neg: Negotiation) -> str:
    """Why ``neg`` is not finished for the answer to our bonded offer that its escrow took no Stamp of we
    hold (ESC-013 (a), ESC-014), while an Accept of the offer there can still bind us -- until its escrow's
    signed word past the offer's cutoff (ESC-013 (i)), or the claims under it end -- or "". A run that
    showed it and was answered with the escrow's Mandate alone (anyone's to send) once said the trade
    finished, and the counterparty's Accept shown to the escrow alone took our bond
    (tests/test_attack31_resume_forged_answer.py)."""
    offer = bonded_offer_to_show(peer, neg)
    if offer is None or peer.asked_at_escrow(neg.id) or claims_over_ms(proposal_of(offer)) <= peer.clock():
        return ""
    return "the answer to our bonded offer not taken by its escrow yet"


def _cut_back_owed(peer: Peer, neg: Negotiation) -> str:
    """Why ``neg`` is not finished for our Accept a lower answer cut back (NEG-024) while its escrow may still
    witness it -- we hold no contract of it, so the escrow has not taken it, whatever its answer said (one
    that takes nothing is anyone's to give: the escrow's Mandate is public) -- or ""."""
    cut = accept_cut_back(peer, neg) if neg.contract is None else []
    if cut and peer.clock() < last_witness_ms(cut[-2]):
        return "our Accept cut back not taken by its escrow yet"
    return ""


def _say_withdraw_final(peer: Peer, neg: Negotiation) -> None:
    """Say so when the escrow answered our Withdraw of a cut-off Counter in ``neg`` for good (NEG-024 (a),
    :meth:`Peer.withdraw_final`): recorded, it is not shown again."""
    why = peer.withdraw_final_why(neg.id)
    if why:
        print(
            f"a2a-coop: {neg.id.hex()[:12]} our Withdraw of our cut-off Counter: the escrow {why}"
            " (recorded: not asked again)",
            file=sys.stderr,
        )


@runtime_command
def cmd_claim(args: argparse.Namespace, out: TextIO) -> int:
    with ExitStack() as stack:
        ctx = _Contract(args, stack)
        c = ctx.contract
        pending = {
            d: (ctx.other, vs.body_message.item_index)
            for d, vs in c.pending.items()
            if vs.body == "breach_claim"
        }
        filed = [d for d, claim in {**c.claims, **pending}.items() if claim == (ctx.other, args.item)]
        claim = _ours(filed, ctx.peer)  # filed by an earlier run: send it again, sign nothing new
        again = claim is not None
        if claim is None:
            _check_claimable(ctx, args.item)  # what the guard would refuse, said in the user's terms
        ctx.dial()  # the contract's escrow, or a refusal with nothing signed
        if claim is None:
            claim = claim_breach(ctx.peer, ctx.neg, args.item, args.reason)  # the guard checks the deadline
        ctx.send(claim)
        if ctx.escrow is not None and args.wait:
            _await_ruling(ctx, claim, args.wait)
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


def _check_claimable(ctx: _Contract, item: int) -> None:
    c, short_id = ctx.contract, ctx.neg.id.hex()[:12]
    if ctx.neg.is_terminal:
        raise Invalid(f"negotiation {short_id} is {ctx.neg.state.value}: nothing to claim")
    owed = c.gives(ctx.other)
    if item >= len(owed):
        raise UsageError(
            f"the counterparty owes {len(owed)} item(s) in {short_id}: --item 0 to {len(owed) - 1}"
        )
    if (ctx.other, item) in c.delivered:
        raise Invalid(f"the counterparty delivered item {item} of {short_id}: nothing to claim")
    due = owed[item].deadline_ms
    if (now := wall_clock_ms()) <= due:  # the guard refuses it too, without saying when it may be filed
        raise IllegalTransition(
            f"the counterparty's item {item} of {short_id} is due at {iso(due)}, in "
            f"{(due - now) / 1000:.0f} s: a breach claim must follow its deadline (run `claim` after it; "
            "--wait waits for a ruling, not for the deadline)",
            requirement="CMT-002",
        )


PROGRESS_EVERY_S = 10.0


def _await_ruling(ctx: _Contract, claim: VerifiedStatement, wait_ms: int) -> None:
    """Poll the escrow until the contract settles or ``wait_ms`` passes, saying on stderr, now and
    then, what we wait for: a wait of an hour must not look like a hang."""
    c = ctx.contract
    started = time.monotonic()
    give_up, note_at = started + wait_ms / 1000, started
    while not ctx.settled() and (now := time.monotonic()) < give_up:
        if now >= note_at:
            stamped = c.stamped_ms.get(claim.digest)
            if stamped is None:
                rules = "the escrow has not stamped the claim yet"
            else:
                due = c.ruling_due_ms(claim.digest)
                rules = f"it rules after {iso(due)}, in {max(0, due - wall_clock_ms()) / 1000:.0f} s"
            print(
                f"a2a-coop: waiting for the escrow ({ctx.neg.state.value}; {rules}); "
                f"{now - started:.0f} s of {wait_ms / 1000:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            note_at = now + PROGRESS_EVERY_S
        time.sleep(0.2)
        ctx.sync()


@runtime_command
def cmd_revoke(args: argparse.Namespace, out: TextIO) -> int:
    with ExitStack() as stack:
        ctx = _Contract(args, stack)
        pending = [d for d, vs in ctx.contract.pending.items() if vs.body == "revoke"]
        notice = _ours([*ctx.contract.revokes, *pending], ctx.peer)
        again = notice is not None
        ctx.dial()  # the contract's escrow, or a refusal with nothing signed
        if notice is None:
            notice = revoke(ctx.peer, ctx.neg, args.reason)  # the guard checks the revocation terms
        ctx.send(notice)
        out.write(f"revoke {notice.digest.hex()[:12]} {'sent again' if again else 'filed'}\n")
        ctx.report(out)
    return EXIT_OK


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


def cut_off_report(peer: Peer, neg: Negotiation) -> dict[str, str] | None:
    """Where our bonded Counter a lower answer cut off the line in ``neg`` stands at the escrow it names
    (NEG-024 (a)), or None when there is none: ``owed`` (our Withdraw not taken there yet: `a2a-coop
    resume` shows it), ``closed`` (the escrow's signed word that it takes no Accept of it, recorded:
    :meth:`Peer.withdraw_final`) or ``lapsed`` (no claim under it can come any more, SPEC 4.5: nothing to
    do there, whatever the escrow took)."""
    why = peer.withdraw_final_why(neg.id)
    if why:
        return {"state": "closed", "why": why}
    for state, counter in (
        ("owed", peer.cut_off_counter(neg.id)),
        ("lapsed", peer.lapsed_cut_off_counter(neg.id)),
    ):
        if counter is not None:
            terms = proposal_of(counter)
            return {
                "state": state,
                "counter": counter.digest.hex(),
                "escrow": terms.terms.escrow,
                "claims_end": iso(claims_over_ms(terms)),
            }
    return None


def cut_off_text(report: dict[str, str]) -> str:
    """:func:`cut_off_report` for people."""
    if report["state"] == "closed":
        return f"our cut-off Counter is closed at its escrow: it {report['why']}"
    counter = report["counter"][:12]
    if report["state"] == "owed":
        return (
            f"our Withdraw of our cut-off Counter {counter} is owed to its escrow {report['escrow']:.40}"
            f" (`a2a-coop resume --escrow` shows it) until claims under it end at {report['claims_end']}"
        )
    return (
        f"our cut-off Counter {counter}: no claim under it can come since {report['claims_end']},"
        " nothing more to do at its escrow"
    )


def status_report(peer: Peer) -> dict[str, Any]:
    """What ``a2a-coop status --json`` prints: negotiations (counts; the open ones with their
    obligations, the closed ones with their outcome; each with our Deliveries its escrow has not stamped
    and every reason its escrow is still owed something of ours, ``still_owed``),
    exposure, and the alarm a fork proof against our own key raised (ATT-017), or None."""
    base = peer.status()
    now = peer.clock()
    open_negs: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    shown = {nid: shown_state(peer, neg) for nid, neg in peer.verifier.negotiations.by_id.items()}
    for neg in peer.verifier.negotiations.by_id.values():
        entry: dict[str, Any] = {
            "id": neg.id.hex(),
            "state": shown[neg.id],
            "counterparty": neg.other(peer.did),
        }
        if neg.is_terminal or shown[neg.id] == State.EXPIRED.value:
            closed.append(entry)
        else:
            entry["i_owe"] = _obligations(neg, peer.did, now)
            entry["they_owe"] = _obligations(neg, neg.other(peer.did), now)
            entry["bonds"] = dict(neg.contract.locked) if neg.contract is not None else {}
            open_negs.append(entry)
        if (cut_off := cut_off_report(peer, neg)) is not None:
            entry["cut_off_counter"] = cut_off
        if (owed := _unwitnessed_report(peer, neg)) is not None:  # FULFILLED ones too: WIT-007
            entry["not_witnessed"] = owed
        if reasons := _owed_reasons(peer, neg, _answer_not_taken(peer, neg)):  # every one (witness33)
            entry["still_owed"] = reasons
        offer = neg.outstanding if neg.contract is None and not neg.is_terminal else None
        if offer is not None:  # an offer nobody answered stays PROPOSED (a peer applies no EXPIRE itself)
            entry["offer_expires"] = iso(offer.expires_at_ms)
            entry["offer_expired"] = now > offer.expires_at_ms
    return {
        "did": peer.did,
        "seq": base["seq"],
        "negotiations": {s.value: n for s in State if (n := sum(v == s.value for v in shown.values()))},
        "open": open_negs,
        "closed": closed,
        "outstanding_value": base["outstanding_value"],
        "max_outstanding": peer.mandate_vs.statement.mandate.max_outstanding,
        "balance": None,
        "key_forked": base["key_forked"],
    }


@runtime_command
def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    tls = dial_tls(args)
    peer, journal = peer_from_journal(args)
    try:
        report = status_report(peer)
    finally:
        journal.close()
    if args.escrow:
        with EscrowClient(args.escrow, tls=tls) as client:
            available, locked, currency, as_of = first_contact(
                "--escrow", args.escrow, "escrow", lambda: client.get_balance(report["did"])
            )
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
    if (forked := report["key_forked"]) is not None:
        first, second = forked["statements"]
        out.write(
            f"ALARM since {forked['raised']}: a fork proof shows this key signed two conflicting statements "
            f"({first[:12]}, {second[:12]}): its signer is broken or the key is stolen. "
            f"Signing {forked['signing']}. To go on: {forked['remedy']}\n"
        )
    counts = ", ".join(f"{state} {n}" for state, n in report["negotiations"].items())
    hint = " (ids for export, claim and revoke; a unique prefix will do)"
    out.write(f"negotiations: {counts}{hint}\n" if counts else "negotiations: none\n")
    for neg in [*report["closed"], *report["open"]]:
        out.write(f"  {neg['id'][:12]}  {neg['state']:<10} with {neg['counterparty']}\n")
        if "offer_expires" in neg:
            when = "expired" if neg["offer_expired"] else "expires"
            out.write(f"    offer {when} at {neg['offer_expires']}\n")
        for label, items in (("I owe", neg.get("i_owe", [])), ("they owe", neg.get("they_owe", []))):
            for it in items:
                late = "  OVERDUE" if it["overdue"] else ""
                out.write(f"    {label:<9} {it['category']} ({it['value']}) by {it['deadline']}{late}\n")
        if "cut_off_counter" in neg:
            out.write(f"    {cut_off_text(neg['cut_off_counter'])}\n")
        for why in neg.get("still_owed", []):  # the cut-off Counter's Withdraw said just above
            if why != _WITHDRAW_OWED or "cut_off_counter" not in neg:
                out.write(f"    still owed: {why}\n")
    out.write(f"exposure: {report['outstanding_value']} outstanding (cap {report['max_outstanding']})\n")
    b = report["balance"]
    if b is not None:
        out.write(
            f"balance at {args.escrow}: {b['available']} available, {b['locked']} locked {b['currency']}\n"
        )
    return EXIT_OK


def find_negotiation(peer: Peer, prefix: str) -> Negotiation:
    text = prefix.lower()
    matches = [n for nid, n in peer.verifier.negotiations.by_id.items() if nid.hex().startswith(text)]
    if not text or len(matches) != 1:
        found = "no" if not matches else "more than one"
        raise UsageError(f"{found} negotiation in the journal matches {prefix!r}")
    return matches[0]


@runtime_command
def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    check_new_output(args.out, args.force, "evidence")
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


def reputation_report(peer: Peer, subject: str) -> dict[str, Any]:
    """``subject``'s score in ``peer``'s view (ATT-010) and the ratings behind it (ATT-004..ATT-007)."""
    rep = peer.reputation
    score = rep.score(subject)
    behind = [r for r in rep.ratings() if r.subject == score.principal]
    return {
        "subject": subject,
        "principal": score.principal,
        "score": round(score.score, 4),
        "uncertainty": round(score.uncertainty, 4),
        "trust": round(score.trust, 6),
        "evidence": score.evidence,
        "faulty": score.faulty,
        "seeds": sorted(rep.seeds),
        "attestations": [
            {
                "digest": r.attestation.hex(),
                "rater": r.rater,
                "outcome": reputation_pb2.Outcome.Name(r.outcome)
                if r.outcome in reputation_pb2.Outcome.values()
                else str(r.outcome),
                "rating": r.rating,
                "stake": r.stake,
                "score": r.score,
                "settled": iso(r.settled_ms) if r.settled_ms else None,
                "note": r.note,
            }
            for r in behind
        ],
    }


@runtime_command
def cmd_reputation(args: argparse.Namespace, out: TextIO) -> int:
    subject = resolve_did(args.subject)
    peer, journal = peer_from_journal(args)
    try:
        if args.seed:
            peer.reputation.seeds = peer.reputation.seeds | {resolve_did(s) for s in args.seed}
        report = reputation_report(peer, subject)
    finally:
        journal.close()
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    who = subject if report["principal"] == subject else f"{subject} (principal {report['principal']})"
    out.write(f"{who}\n")
    if report["faulty"]:
        out.write(
            "FAULTY: a fork proof against it is held (a fork of its key's chain, or two answers of its key to"
            " one statement, ATT-022), not disowned by a revocation of that key by this principal; it is"
            " trusted by no one (ATT-013)\n"
        )
    out.write(
        f"score {report['score']:.3f}  uncertainty {report['uncertainty']:.3f}  trust {report['trust']:.4f}"
        f"  evidence {report['evidence']} attestation(s) with stake\n"
    )
    for a in report["attestations"]:
        weight = f"stake {a['stake']}" if a["stake"] else f"stake 0 ({a['note']})"
        out.write(f"  {a['digest'][:12]}  {a['outcome']:<17} by {a['rater']}  {weight}\n")
    if not report["attestations"]:
        out.write("  no attestations about it are held\n")
    return EXIT_OK
