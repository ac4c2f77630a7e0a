"""Processes: a peer or an escrow built from files and served over gRPC.

This module glues the sans-IO core to the outside world (files, the wall
clock, the OS's randomness, SQLite, gRPC). It is what ``a2a-coop serve``,
``a2a-coop escrow serve`` and ``a2a-coop offer`` run, and what a framework
author copies to host a :class:`~a2a_coop.runtime.peer.Peer` in their own process.

* :class:`PeerNode` implements :class:`~a2a_coop.transport.CooperationHandler`
  for a :class:`~a2a_coop.runtime.peer.Peer` with a journal; with an
  :class:`EscrowWitness` it has an escrow stamp the Deliveries it signs.
* :class:`EscrowNode` implements :class:`~a2a_coop.transport.EscrowHandler` for
  an :class:`~a2a_coop.protocol.escrow.Escrow`, journaling its evidence and its ledger
  before any answer leaves the process, and ticking its clock-driven rules.

The initiator's side of a trade is :mod:`a2a_coop.runtime.trade`.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.envelope import (
    decode_envelope,
    envelope_from_json,
    envelope_to_json,
    statement_digest,
)
from a2a_coop.protocol.errors import (
    CoopError,
    MalformedEnvelope,
    Origin,
    RequestInvalid,
    WrongParty,
    utc_text,
)
from a2a_coop.protocol.escrow import Escrow, Prechecked, ShownBinding
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.negotiation import (
    BARGAINING_STATES,
    Contract,
    Negotiation,
    State,
    claims_over_ms,
    proposal_of,
)
from a2a_coop.protocol.reputation import attestation_evidence
from a2a_coop.protocol.statements import (
    VerifiedStatement,
    decode_statement,
    verify_statement,
)
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.runtime import gossip, snapshot
from a2a_coop.runtime.due_timer import DueTimer
from a2a_coop.runtime.journal import (
    ESCROW_MARK,
    Durability,
    Journal,
    JournalCorrupt,
    JournalError,
    Ticket,
    check_journal_kind,
)
from a2a_coop.runtime.peer import (
    DEFAULT_MAX_OPEN_PER_COUNTERPARTY,
    DEFAULT_MAX_OPEN_TOTAL,
    META_MANDATE,
    Peer,
    refuse_agent_as_principal,
    wall_clock_ms,
)
from a2a_coop.runtime.strangers import (
    META_DEALINGS,
    META_REVOCATION_MARKS,
    META_STRANGERS,
    KeyedCount,
    NewcomerOffers,
    StrangerCount,
    StrangerQuota,
)
from a2a_coop.runtime.strategy import Strategy
from a2a_coop.runtime.testclock import TestClock
from a2a_coop.runtime.trade import (
    MAX_SUBMIT_ATTEMPTS,
    RETRIED_REFUSALS,
    RETRY_CAP_S,
    WITNESS_RETRY_S,
    Submitter,
    accept_cut_back,
    ask_escrow_alone,
    bonded_offer_to_show,
    contract_evidence,
    escrows_word,
    forgotten_to_show,
    hidden_accept_check_ms,
    last_witness_ms,
    offer_to_show,
    show_accept_cut_back_alone,
    signer_stands,
    unfinished,
    unstamped_deliveries,
    withdraw_cut_off_alone,
)
from a2a_coop.transport.limits import Claimed, IssuerLimiter, PeerLimits, claimed

DAY_MS = 86_400_000
DEFAULT_PAGE_ENTRIES = 1024  # GetAttestations bundles per page when the caller names no limit
DEFAULT_PAGE_BYTES = 4 * 1024 * 1024
# A journal remembers the mandate its peer ran with (META_MANDATE, from a2a_coop.runtime.peer, which also
# keeps every earlier one of its key) and every context envelope (an escrow's mandate) any run held, so
# it replays -- and `a2a-coop status`/`export` read it -- without them being passed.
META_CONTEXT: Final = "a2a-coop/context"
# A responder asks the escrow for its contract's locks at doubling delays from EscrowWitness.lock_wait_s
# (ESC-009), at least this many times, and on while a lock can still come -- until an ask sent past the
# contract's bonding cutoff plus the clock tolerance (ESC-010) -- and its first deadline is ahead: the
# counterparty that funds last chooses when its bond is locked, up to that cutoff.
MAX_LOCK_FETCHES: Final = 6
DEFAULT_LOCK_WAIT_MS: Final = 2_000
# An escrow that could not be asked about a bonded offer of ours (ESC-013) is asked again at the same
# doubling delays, then at most this far apart, until what its answer would free is freed anyway.
ESCROW_ASK_CAP_S: Final = 300.0
# A submission the escrow did not take (unreachable, rate limited) is tried MAX_SUBMIT_ATTEMPTS times at
# doubling delays from EscrowWitness.retry_s, each at most RETRY_CAP_S (about a minute with the defaults);
# one carrying Deliveries on, further apart, until its contract's last deadline + 30 s (see trade.py).
log = logging.getLogger(__name__)


# --- files ---------------------------------------------------------------------------------


def remember_run(journal: Journal, mandate: bytes, context: Sequence[bytes]) -> None:
    """Record the run's mandate, and add its context to that of earlier runs (see :meth:`PeerNode.open`)."""
    journal.put_meta(META_MANDATE, mandate)
    journal.put_meta(
        META_CONTEXT,
        list(dict.fromkeys([*context, *journal.get_meta(META_CONTEXT, [], kind=list, items=bytes)])),
    )


def read_envelope_file(path: Path) -> bytes:
    """One envelope from a DSSE JSON file or a binary protobuf file. Raises OSError, MalformedEnvelope."""
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{":
        try:  # the text, not a parsed object: only then is a member name twice refused (ENV-010)
            return envelope_from_json(data)
        except MalformedEnvelope as exc:
            raise MalformedEnvelope(f"{path}: {exc.detail}", requirement=exc.requirement) from None
    return data


def write_envelope_file(path: Path, envelope: bytes) -> None:
    path.write_text(json.dumps(envelope_to_json(envelope), indent=2) + "\n")


def envelope_count(n: int) -> str:
    """``1 envelope``, ``5 envelopes``: a count for a log line."""
    return f"{n} envelope" if n == 1 else f"{n} envelopes"


class KeySigner(ChainSigner):
    """A production chain signer: a key, its chain head, the wall clock and OS randomness.

    Implements :class:`~a2a_coop.protocol.escrow.EscrowSigner`. Statements are checked
    (header and body rules) before signing; the caller journals them before
    they leave the process (write-ahead).
    """

    def __init__(
        self,
        key: Keypair,
        *,
        head: tuple[int, bytes] = (0, b""),
        clock: Callable[[], int] = wall_clock_ms,
        nonce: Callable[[], bytes] = lambda: os.urandom(16),
    ) -> None:
        super().__init__(key, clock=clock, nonce=nonce, head=head)


class ChainClock:
    """An escrow's clock: Unix ms by ``clock``, never before the head of its chain (``floor_ms``, the time
    of its last journaled statement) nor before a time it returned. The escrow dates what it signs by
    it and checks it against its own chain first (CHN-005): a clock that read earlier than the head --
    a wall clock stepped back, or a restart without the test clock's offset the chain was dated by
    (CTL-003) -- had that check refuse the escrow's own Stamp half-way through a Submit whose evidence
    it had taken (tests/test_attack26_escrow_clock_back.py). Its deadlines are judged by the time its
    chain already committed to, as its Stamps say. Thread-safe (Submits and the ticker read it)."""

    def __init__(self, clock: Callable[[], int], floor_ms: int = 0) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = floor_ms

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._last, self._clock())
            return self._last


def sign_mandate(
    principal: Keypair, journal: Journal, agent: str, *, now_ms: int, days: int = 30, **caps: Any
) -> VerifiedStatement:
    """The principal signs a Mandate for ``agent``; its chain lives in ``journal`` (no reused seq).

    Raises:
        MandateViolation: ``principal`` signed a statement under a Mandate in ``journal``: an agent's key
            signs no Mandate (MND-021).
    """
    refuse_agent_as_principal(journal, principal.did)
    fields: dict[str, Any] = {
        "agent": agent,
        "valid_from_ms": now_ms,
        "valid_until_ms": now_ms + days * DAY_MS,
        "currency": "credit",
    }
    fields.update(caps)
    signer, issued = _continue_chain(principal, journal, now_ms)
    vs = signer.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=days * DAY_MS, issued_at_ms=issued)
    journal.record_outgoing(vs, at_ms=now_ms)
    return vs


def _continue_chain(key: Keypair, journal: Journal, now_ms: int) -> tuple[KeySigner, int]:
    """A signer continuing ``key``'s chain in ``journal``, and the time to date its next statement:
    never before the previous one (CHN-005) -- a wall clock stepped back between two runs would
    otherwise sign a chain running backwards, a fork proof against the key."""
    head = journal.chain_head(key.did)
    previous = journal.by_digest(head[1]) if head[1] else None
    issued = max(now_ms, verify_statement(previous).issued_at_ms) if previous is not None else now_ms
    return KeySigner(key, head=head), issued


# A revocation is re-sent to whoever refused it before its binding reached them (KEY-008): keep it
# live that long. TIM-007 obliges every live receiver to take a lifetime up to 400 days.
REVOCATION_TTL_MS: Final = 400 * DAY_MS


def sign_key_revocation(
    signer: Keypair,
    journal: Journal,
    key: str,
    *,
    effective_ms: int,
    reason: str,
    now_ms: int,
    chain_length: int = 0,
) -> VerifiedStatement:
    """``signer`` -- the key itself, or the principal it signed under (KEY-004) -- revokes ``key``
    from ``effective_ms`` on, stating ``chain_length`` when not 0 (KEY-011 (e)); the signer's chain lives
    in ``journal`` (no reused seq), as for :func:`sign_mandate`."""
    chain, issued = _continue_chain(signer, journal, now_ms)
    body = identity_pb2.KeyRevocation(
        key=key, effective_ms=effective_ms, reason=reason, chain_length=chain_length
    )
    vs = chain.sign("key_revocation", body, ttl_ms=REVOCATION_TTL_MS, issued_at_ms=issued)
    journal.record_outgoing(vs, at_ms=now_ms)
    return vs


def mandates_for(journal: Journal, principal: str, agent: str) -> list[bytes]:
    """The Mandates ``principal`` signed for ``agent`` that ``journal`` holds (its chain), oldest first."""
    found = []
    for envelope in journal.log_range(principal, 0, journal.chain_head(principal)[0]):
        vs = verify_statement(envelope)
        if vs.body == "mandate" and vs.statement.mandate.agent == agent:
            found.append(envelope)
    return found


# --- a serving peer ------------------------------------------------------------------------


def _witness_until(c: Contract) -> int:
    """Until when the witness tries to get a contract's Deliveries to its escrow: a Stamp makes a
    Delivery timely up to its deadline + 30 s (WIT-003), and none of the contract's is due later."""
    return c.last_deadline_ms + CLOCK_TOLERANCE_MS


def _hold_ends_ms(offer: VerifiedStatement) -> int:
    """When a bonded offer's value and exclusive_key stop being held whether or not its escrow was asked
    (SPEC 4.5): a contract of it can be claimed under until its last deadline plus the claim window, by the
    escrow's clock -- plus the clock tolerance by ours (:func:`claims_over_ms`)."""
    return claims_over_ms(proposal_of(offer))


class EscrowWitness:
    """Submits evidence to one escrow from a background thread, so that it stamps our Deliveries when
    we sign them. A counterparty that withholds its Receipt and Ack and never submits our Delivery
    itself could otherwise claim after the deadline and win our bond: only a witness by the deadline
    makes a Delivery timely (WIT-003), and the escrow's Stamp is the one we can get alone.

    It also runs the lock watch (ESC-009) on the same thread: jobs due after a delay, which
    :class:`PeerNode` uses to fetch the locks of a contract the initiator has not relayed.

    Best effort: the answer to the exchange has left already, so a failed or dropped submission is
    logged, never raised (the initiator's settle_with_escrow submits the Deliveries it holds too). A
    submission the escrow did not take -- it was unreachable, or refused it with a code a later Submit may
    pass (:data:`~a2a_coop.runtime.trade.RETRIED_REFUSALS`: a limit, or a time its clock has not reached)
    -- is tried again at doubling delays (:data:`MAX_SUBMIT_ATTEMPTS` in all); one it refused otherwise is
    not, unless it carries our Deliveries: a refusal is unsigned, so those are tried again, at most
    :data:`ESCROW_ASK_CAP_S` apart, until they could be timely no more -- as after an answer holding no
    Stamp of each of them by the escrow as our view reads it (:attr:`escrows_stamp`), which is whoever
    answered's choice too (WIT-007).

    Args:
        escrow: where to submit.
        did: the escrow's key; only contracts naming it are witnessed here.
        max_pending: submissions (and retries of them) queued at most; more are dropped (and logged)
            rather than let an unreachable escrow hold memory or the exchange. Lock watches are bounded
            by the peer's caps on open negotiations instead (one per contract).
        lock_wait_s: how long a responder waits for the initiator's relay of its contract's locks
            before it submits the contract itself (at most a quarter of the time left to its first
            deadline); see :meth:`PeerNode.fetch_locks`.
        retry_s: the delay before the first retry of a submission the escrow did not take.
        clock: Unix ms, for how long a Delivery's submission is tried (:meth:`submit`).
    """

    def __init__(
        self,
        escrow: Submitter,
        did: str,
        *,
        max_pending: int = 1_000,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_MS / 1000,
        retry_s: float = WITNESS_RETRY_S,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.escrow = escrow
        self.did = did
        self.clock = clock
        self.lock_wait_s = lock_wait_s
        self.retry_s = retry_s
        self.max_pending = max_pending
        # Whether a Stamp (its signature checked) is the escrow's word: set by the PeerNode to its view's
        # reading (:meth:`PeerNode.escrows_stamp`); alone, any Stamp by the key ``did``.
        self.escrows_stamp: Callable[[VerifiedStatement], bool] = lambda vs: vs.issuer == did
        # Take the hand-over of ``did`` an answer carries into our view, True when it held anything new: set
        # by the PeerNode (:meth:`PeerNode.learn_handover`); alone, nothing is learnt.
        self.learn_handover: Callable[[Sequence[bytes]], bool] = lambda answer: False
        self._queue: queue.Queue[tuple[list[bytes], int | None] | None] = queue.Queue(max_pending)
        self._watches: list[tuple[float, int, Callable[[], object]]] = []  # (due, order, job), a heap
        self._watch_order = itertools.count()
        self._watch_lock = threading.Lock()
        self._running = False  # a watch's job is under way
        self._wake_queued = False  # a wake-up is in the queue: one is enough, however many watches come
        self._thread = threading.Thread(target=self._run, name="escrow-witness", daemon=True)
        self._thread.start()

    def submit(self, envelopes: list[bytes], *, until_ms: int | None = None) -> None:
        """Queue ``envelopes`` (dependencies first) for the escrow; never blocks. ``until_ms``: past the
        doubling retries, try again (at most :data:`RETRY_CAP_S` apart) until then, by ``clock`` -- a
        Delivery's Stamp makes it timely up to its deadline + 30 s (WIT-003), whenever the escrow is back."""
        try:
            self._queue.put_nowait((envelopes, until_ms))
        except queue.Full:
            log.warning("escrow witness: queue full, %s not submitted", envelope_count(len(envelopes)))

    def watch(self, delay_s: float, job: Callable[[], object], *, bounded: bool = True) -> None:
        """Run ``job`` on the witness's thread ``delay_s`` from now; never blocks. Beyond ``max_pending``
        watches, a ``bounded`` one is dropped (and logged). A caller that bounds its own watches passes
        ``bounded=False`` -- the lock watch, one per contract, which others' must not crowd out."""
        with self._watch_lock:
            if bounded and len(self._watches) >= self.max_pending:
                log.warning("escrow witness: %d watches pending, one more dropped", len(self._watches))
                return
            heapq.heappush(self._watches, (time.monotonic() + delay_s, next(self._watch_order), job))
            wake, self._wake_queued = not self._wake_queued, True
        if wake:  # the thread recomputes how long to sleep; more wake-ups would crowd out submissions
            try:
                self._queue.put_nowait(([], None))
            except queue.Full:  # the thread has submissions to make: it looks at the watches after each
                with self._watch_lock:
                    self._wake_queued = False

    @property
    def watching(self) -> int:
        """Watches not yet run."""
        with self._watch_lock:
            return len(self._watches)

    def flush(self) -> None:
        """Wait until everything queued so far was submitted (or failed), and every watch due by now
        has run."""
        while True:
            self._queue.join()
            with self._watch_lock:
                if not self._running and not (self._watches and self._watches[0][0] <= time.monotonic()):
                    return
            time.sleep(0.01)

    def close(self, timeout_s: float = 5.0) -> None:
        """Submit what is queued, then stop the thread, waiting at most ``timeout_s`` in all: what an
        unreachable escrow has not taken by then is given up (the daemon thread never keeps a process
        alive, and fails fast once its caller closes the escrow's channel). Pending watches are
        dropped: a restart's :meth:`PeerNode.witness_owed` sets them again."""
        give_up = time.monotonic() + timeout_s
        try:
            self._queue.put(None, timeout=timeout_s)  # after what is queued: drained first
        except queue.Full:
            log.warning("escrow witness: stopped with %d submissions queued", self._queue.qsize())
            return
        self._thread.join(max(0.0, give_up - time.monotonic()))

    def _submit(self, envelopes: list[bytes], attempt: int, until_ms: int | None = None) -> None:
        """Submit ``envelopes``; if the escrow did not take them, try again later (see the class
        docstring and :meth:`submit`), a refusal aside: the same evidence would be refused again."""
        delay, cap = self.retry_s * 2 ** (attempt - 1), RETRY_CAP_S
        failure: Exception
        try:
            answer = self.escrow.submit(envelopes)
            unstamped = len(unstamped_deliveries(envelopes, answer, self.escrows_stamp))
            if unstamped and self.learn_handover(answer):  # a successor answering at E's address (ESC-022)
                unstamped = len(unstamped_deliveries(envelopes, answer, self.escrows_stamp))
            if not unstamped or until_ms is None or self.clock() >= until_ms:
                return
            # An answer is whoever answered's choice as much as a refusal: E's public Mandate alone, a Stamp
            # by another key, or E's answer to the Submit with our Delivery taken out kept it from E, and
            # the counterparty's claim took our bond (WIT-007; tests/test_attack31_witness_forged_answer.py).
            # Only E's Stamp naming each Delivery says E took it (WIT-001, WIT-006): asked again until then --
            # E's in our view, not merely signed with E's key, which a thief holds once E's principal revoked
            # it and handed E's contracts over (ESC-022; tests/test_attack32_witness_revoked_escrow_key.py).
            failure = LookupError(f"its answer holds no Stamp by the escrow of {unstamped} of our Deliveries")
            cap = ESCROW_ASK_CAP_S
        except CoopError as exc:
            if exc.code not in RETRIED_REFUSALS:  # the same bytes are refused again
                log.warning("escrow witness: the escrow refused %s: %s", envelope_count(len(envelopes)), exc)
                if until_ms is None or self.clock() >= until_ms:
                    return
                # Our Deliveries: a refusal is unsigned, and one forged by whoever answered for the escrow
                # once kept them from it past their deadline, where the counterparty's claim took our bond
                # (WIT-007; tests/test_attack30_witness_refused.py). Asked again until then, sparingly.
                failure, cap = exc, ESCROW_ASK_CAP_S
            else:
                # A limit (RPC-012 (b)) or a time the escrow's clock has not reached (TIM-003, TIM-009):
                # asked again, at its hint when it gives one later than our next try.
                delay, failure = max(delay, getattr(exc, "retry_after_ms", 0) / 1000), exc
        except Exception as exc:  # transport failures: best effort, see the class docstring
            failure = exc
        n = envelope_count(len(envelopes))
        if attempt >= MAX_SUBMIT_ATTEMPTS and (until_ms is None or self.clock() >= until_ms):
            log.warning("escrow witness: submit of %s failed %d times, given up: %s", n, attempt, failure)
            return
        delay = min(delay, cap)
        (log.warning if attempt < MAX_SUBMIT_ATTEMPTS else log.debug)(
            "escrow witness: submit of %s failed (attempt %d), again in %.1f s: %s",
            n,
            attempt,
            delay,
            failure,
        )
        self.watch(delay, lambda: self._submit(envelopes, attempt + 1, until_ms))

    def _due_job(self) -> tuple[Callable[[], object] | None, float | None]:
        """The next watch due now, if any, else how long until one is (None: no watch pending)."""
        with self._watch_lock:
            if not self._watches:
                return None, None
            due = self._watches[0][0] - time.monotonic()
            if due > 0:
                return None, due
            self._running = True
            return heapq.heappop(self._watches)[2], 0.0

    def _run(self) -> None:
        while True:
            job, wait = self._due_job()
            if job is not None:
                try:
                    job()
                except Exception as exc:  # best effort, see the class docstring
                    log.warning("escrow witness: lock watch failed: %s", exc)
                finally:
                    with self._watch_lock:
                        self._running = False
                continue
            try:
                envelopes = self._queue.get(timeout=wait)
            except queue.Empty:
                continue  # a watch came due
            try:
                if envelopes is None:
                    return
                if envelopes[0]:
                    self._submit(envelopes[0], 1, envelopes[1])
                else:  # [] only wakes the thread (watch): it looks at the watches next
                    with self._watch_lock:
                        self._wake_queued = False
            finally:
                self._queue.task_done()


class PeerNode:
    """A :class:`Peer` with a journal, as a CooperationHandler.

    With ``witness``, every Delivery we sign under a contract naming the witness's escrow goes to
    that escrow, with the contract, after the exchange that signed it (:class:`EscrowWitness`); and a
    bonded contract we accepted that is not BONDED after the witness's ``lock_wait_s`` is submitted
    by us, its answer taken as a relay (:meth:`fetch_locks`, SPEC ESC-009).
    """

    def __init__(
        self,
        peer: Peer,
        journal: Journal,
        *,
        witness: EscrowWitness | None = None,
        limits: PeerLimits | None = None,
    ) -> None:
        self.peer = peer
        self.journal = journal
        self.witness = witness
        if witness is not None:
            witness.clock = peer.clock  # the deadlines it tries a Delivery until are by our clock
            witness.escrows_stamp = self.escrows_stamp
            witness.learn_handover = self.learn_handover
        # Negotiation ids with a lock watch pending: one per contract, however often the answer that
        # formed it is repeated (a retried request gets our Accept again, RPL-002).
        self._lock_watches: set[bytes] = set()
        # When the watch that performs the Deliveries TIM-009 (or the hold under revocable terms,
        # CMT-012) held back is due (peer clock), if one is.
        self._deferred_watch: int | None = None
        # The Deliveries that watch signed, by negotiation id, as (audience, envelope): they went to the
        # escrow (WIT-007), and we know no address of the counterparty's, so each goes with our answer to
        # its next request in that negotiation (prepended): otherwise a counterparty that holds its own
        # Delivery under revocable terms until ours arrives, and sends us its own later, would hold the
        # contract PERFORMING with our item unseen, and never receipt it. Memory only, best effort: the
        # escrow's Stamp makes the Delivery timely whatever the counterparty learns. Dropped once the
        # negotiation leaves memory (finished for good).
        self._unsent: dict[bytes, list[tuple[str, bytes]]] = {}
        # Negotiation id -> when (peer clock) the escrow is asked about our bonded offer there (ESC-013).
        self._exposed_watches: dict[bytes, int] = {}
        # Negotiation ids whose unanswered bonded offer this process asked the escrow about past its
        # cutoff: not asked again (a watch set before a restart died with the process, and is redone).
        self._asked_past_cutoff: set[bytes] = set()
        if peer.max_open_per_counterparty is None:  # served: cap what one counterparty keeps open
            peer.max_open_per_counterparty = DEFAULT_MAX_OPEN_PER_COUNTERPARTY
        if peer.max_open_total is None:  # ... and what all of them do
            peer.max_open_total = DEFAULT_MAX_OPEN_TOTAL
        if peer.stranger_quota is None:  # ... and the public statements strangers make it keep (RPC-016)
            peer.stranger_quota = StrangerQuota()
        if peer.newcomer_offers is None:  # ... and the negotiations newcomers open with it (RPC-017)
            peer.newcomer_offers = NewcomerOffers()
        # Per-issuer back-pressure (RPC-012), before the peer's lock: nothing of a refused request is
        # recorded, and a peer already over its limit is refused before its signature check (RPC-013).
        self.limiter = IssuerLimiter(limits, peer.clock) if limits and limits.active else None
        if witness is not None and peer.offer_escrows is None:
            # Our bonded offers only at the witness's escrow: no one asks another about them (ESC-013).
            peer.offer_escrows = frozenset({witness.did})
        # ATT-013 (e): re-ranking evidence staged on an idle peer reaches the disk a window after it was
        # staged, not at the next request's commit whenever that comes.
        self._evidence_timer = DueTimer(peer.clock, peer.flush_due_evidence, name="peer-evidence")
        peer.on_reranked = self._evidence_timer.arm
        if isinstance(peer.clock, TestClock):  # moved by AdvanceClock (CTL-003): the timer looks again
            peer.clock.on_advance(self._evidence_timer.wake)
        if peer.fork_alarm is not None:  # held from before: the operator sees it again at every start
            peer.fork_alarm.sound(peer.clock(), force=True)
        if witness is not None:
            # What TIM-009 held back before a restart: the peer rebuilt from the journal counts every
            # contract where something may be due and is not signed (Peer.deferred_until), performed at
            # once.
            self._watch_deferred()

    @classmethod
    def open(
        cls,
        key: Keypair,
        mandate: bytes,
        journal_path: Path,
        *,
        strategy: Strategy | None = None,
        context: Sequence[bytes] = (),
        clock: Callable[[], int] = wall_clock_ms,
        witness: EscrowWitness | None = None,
        limits: PeerLimits | None = None,
        snapshot_every: int = snapshot.EVERY_ROWS,
    ) -> PeerNode:
        """A node on the journal at ``journal_path`` (created if missing), replayed.

        The journal records ``mandate`` and adds ``context`` to the context earlier runs held, as
        ``a2a-coop serve`` does, so the CLI's ``status`` and ``export`` read it with the key alone and
        a later run without that context still replays the escrow's statements. Only the escrows of
        this run's ``context`` are trusted (MND-015).
        """
        journal = Journal.open(journal_path)
        try:
            peer = _replay(
                key, mandate, journal, context, strategy=strategy, clock=clock, snapshot_every=snapshot_every
            )
            remember_run(journal, mandate, context)
        except BaseException:
            journal.close()  # a node that never started holds no lock on its journal
            raise
        return cls(peer, journal, witness=witness, limits=limits)

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        # What the request claims to be (never trusted: for limits and the witness's watch only), read
        # once: a pure function of its bytes, which the limiter and the witness each parsed again.
        said = claimed(envelope) if self.limiter is not None or self.witness is not None else None
        if self.limiter is None:
            answers = self.peer.exchange(envelope, context)
        else:
            if said is not None:
                self.limiter.check(said.issuer)  # over its limit: refused before any signature check
            # A signed issuer: nobody spends another's quota by forging. Nor by sending what the issuer
            # signed (RPC-018): only a new, current statement for us is in hand as the issuer's, and one we
            # refuse gives its token back; a repeat (RPC-003: no second signature check), one for another
            # key or out of its time window is handled uncounted. Whoever holds any statement of a key --
            # an escrow's transcript, a relay, a Gossip answer -- kept the key over its limit here.
            request = self.peer.request_of(envelope)
            counted = self.peer.counts_for_issuer(request)
            if counted:
                self.limiter.acquire(request.issuer)
            taken = False
            try:
                if type(self.peer).exchange is Peer.exchange:
                    answers = self.peer.exchange(envelope, context, verified=request)  # one signature check
                else:  # a subclass that changes what exchange answers (a fault-injected server) has its say
                    answers = self.peer.exchange(envelope, context)
                taken = True
            finally:
                if counted:
                    self.limiter.release(request.issuer, taken=taken)
        if self.witness is not None:
            answers = [*answers, *self._answer_held(said)]
            for evidence, until in self._to_witness(answers, self.witness.did):
                self.witness.submit(evidence, until_ms=until)
            self._watch_context_accepts(context)
            self._watch_deferred()
            if said is not None and said.negotiation_id:
                self.watch_exposed(said.negotiation_id)
                answers = self._with_unsent(said.negotiation_id, said.issuer, answers)
        return answers

    def _with_unsent(self, negotiation_id: bytes, issuer: str, answers: list[bytes]) -> list[bytes]:
        """``answers`` (to a request of ``issuer``'s that the peer took or answered again) followed by the
        Deliveries our watch signed in ``negotiation_id`` for ``issuer`` and that it has not receipted (see
        ``_unsent``). Each goes with every such answer until the contract holds its Receipt: a request's
        bytes travel without their sender (RPC-003 answers a repeat as the first time), and a third party
        repeating one of the counterparty's (an escrow's transcript shows them) once took the Delivery,
        forgotten then, and the counterparty never saw it (tests/test_attack24.py)."""
        with self.peer.lock:
            waiting = self._unsent.get(negotiation_id)
            if not waiting:
                return answers
            neg = self.peer.verifier.negotiations.by_id.get(negotiation_id)
            c = neg.contract if neg is not None else None
            if c is not None:
                waiting = [
                    (audience, env)
                    for audience, env in waiting
                    if c.deliveries.get(statement_digest(decode_envelope(env).payload)) not in c.receipted
                ]
            if waiting:
                self._unsent[negotiation_id] = waiting
            else:
                del self._unsent[negotiation_id]
            theirs = [env for audience, env in waiting if audience == issuer and env not in answers]
        # After the answer, never before or among its envelopes: a repeat begins with the first answer
        # (RPC-022), whatever was kept then or since; the counterparty takes a chain's statements in any
        # order (a sparse view, section 10.1).
        return [*answers, *theirs] if theirs else answers

    def _answer_held(self, said: Claimed | None) -> list[bytes]:
        """ESC-013 for a served peer: our answer to a Counter naming another escrow than a bonded offer of
        ours earlier in the line, which our guard held back until that offer's escrow took the Counter
        (:class:`~a2a_coop.runtime.peer.EscrowNotShown`). When that escrow is the witness's, it is shown
        the line now, before we answer (:func:`~a2a_coop.runtime.trade.ask_escrow_alone`), and our answer
        follows in this exchange -- or, if it reveals an Accept of our offer, which takes precedence
        (NEG-017), our Deliveries under that contract do. Otherwise (another escrow, or it cannot be
        reached) the answer stays held: an Ack only, and nothing signed that another escrow could bond.
        ``said``: what the request claims to be (:func:`~a2a_coop.transport.limits.claimed`)."""
        assert self.witness is not None
        if said is None or not said.negotiation_id or not self.peer.holds_answer(said.negotiation_id):
            return []
        nid = said.negotiation_id
        with self.peer.lock:
            neg = self.peer.verifier.negotiations.find(nid)
            offer = None if neg is None else bonded_offer_to_show(self.peer, neg)
        if neg is None or offer is None or proposal_of(offer).terms.escrow != self.witness.did:
            return []
        try:
            ours = ask_escrow_alone(self.peer, self.witness.escrow, neg) or []
        except Exception as exc:  # best effort: the answer stays held
            log.warning("escrow witness: showing the line before our answer failed: %s", exc)
            return []
        return [vs.envelope for vs in [*ours, *self.peer.answer_held(nid)]]

    def _watch_context_accepts(self, context: Sequence[bytes]) -> None:
        """An Accept addressed to us that came as context (RPC-015 takes it, whatever negotiation it is
        in) may have formed a contract of ours that no answer of ours names: watch for its locks too."""
        accepts = [env for env in context if (said := claimed(env)) is not None and said.body == "accept"]
        if not accepts:
            return
        with self.peer.lock:
            held = self.peer.verifier.statements
            for env in accepts:
                vs = held.get(statement_digest(decode_envelope(env).payload))
                if vs is not None:
                    self._watch_locks(vs)

    def _watch_deferred(self) -> None:
        """A Delivery or Receipt of ours that TIM-009 held back (its contract is dated ahead of our clock,
        past the deadline of another item we owe) is performed once the hint passes, on the witness's
        thread, and goes to the escrow (WIT-007): nothing else would perform it, since the counterparty
        that dated the contract ahead may send nothing more in it. One watch at a time, for the earliest
        hint. Without a witness there is no watch: nothing we sign on our own would reach anyone (we
        know neither the escrow's address nor the counterparty's), so what was held back is performed
        in our answer to the counterparty's next statement in that negotiation."""
        assert self.witness is not None
        with self.peer.lock:
            at = self.peer.deferred_until()
            if at is None or (self._deferred_watch is not None and self._deferred_watch <= at):
                return
            self._deferred_watch = at
            delay_s = max(0.0, (at - self.peer.clock()) / 1000)
        # Not bounded by the witness's queue: one at a time, and others' watches must not crowd it out.
        self.witness.watch(delay_s, self._perform_deferred, bounded=False)

    def _perform_deferred(self) -> None:
        """The job of :meth:`_watch_deferred`, on the witness's thread."""
        assert self.witness is not None
        with self.peer.lock:
            self._deferred_watch = None
            performed = self.peer.perform_deferred()
            for vs in performed:
                if vs.body == "delivery":
                    self._unsent.setdefault(vs.negotiation_id, []).append((vs.audience, vs.envelope))
            live = self.peer.verifier.negotiations.by_id
            for nid in [nid for nid in self._unsent if nid not in live]:
                del self._unsent[nid]  # finished for good, and forgotten
        for evidence, until in self._to_witness(
            [vs.envelope for vs in performed], self.witness.did, receipts=True
        ):
            self.witness.submit(evidence, until_ms=until)
        self._watch_deferred()  # held back again, or another one later

    def watch_exposed(self, negotiation_id: bytes) -> None:
        """ESC-013 for a served peer, which has no run of its own carrying the trade: our bonded offer in
        the negotiation (a Counter our strategy answered with, an Offer made through the control
        service), naming the witness's escrow, whose answer that escrow has not taken, may have been
        accepted behind our back -- the Accept shown to the escrow alone binds our bond there and takes
        precedence over the answer we hold (NEG-017). Answered (a Reject, a Counter, our Withdraw, a
        contract formed later in the line, which we deliver nothing under until then): the escrow is
        shown the line at once; unanswered: once past its bonding cutoff (:meth:`ask_about_offer`)."""
        if self.witness is None:
            return
        with self.peer.lock:
            # Ended (a Reject, our Withdraw), it was forgotten once journaled: read back from the journal.
            neg = self.peer.verifier.negotiations.find(negotiation_id)
            offer = None if neg is None else self._to_show(neg)
            if neg is None or offer is None or proposal_of(offer).terms.escrow != self.witness.did:
                return
            now = self.peer.clock()
            unanswered = neg.contract is None and neg.state in BARGAINING_STATES and offer is neg.outstanding
            at = last_witness_ms(offer) if unanswered else now
            if at <= now:
                # At or past the check time: asked then by this process (the ask at the check time itself
                # counts, else a clock standing still asks again and again), or its watch died with an
                # earlier one (a restart) -- then asked now, while a contract of the offer can still be
                # claimed under.
                if negotiation_id in self._asked_past_cutoff or _hold_ends_ms(offer) < now:
                    return
                at = now
            if self._exposed_watches.get(negotiation_id, at + 1) <= at:
                return  # an earlier watch is pending
            self._exposed_watches[negotiation_id] = at
        # Not bounded by the witness's queue: one per negotiation of ours, which the open caps bound
        # (RPC-012) while the offer is outstanding; an answered one runs at once.
        self.witness.watch((at - now) / 1000, lambda: self.ask_about_offer(negotiation_id), bounded=False)

    def _to_show(self, neg: Negotiation) -> VerifiedStatement | None:
        """What of ``neg`` the escrow it names must be shown, by the offer it names it in: our offer whose
        answer it has not taken (:func:`~a2a_coop.runtime.trade.offer_to_show`, unbonded too, NEG-017);
        else the offer our Accept a lower answer cut back accepts (NEG-024); else our bonded Counter a
        lower answer cut off the line, to withdraw there (NEG-024 (a))."""
        cut = accept_cut_back(self.peer, neg) if neg.contract is None else []
        return offer_to_show(self.peer, neg) or (cut[-2] if cut else self.peer.cut_off_counter(neg.id))

    def show_escrow_now(self, negotiation_id: bytes) -> bool:
        """:meth:`watch_exposed` for an answered offer, at once and on the caller's thread: the escrow our
        bonded offer names (the witness's) is shown the line before the caller sends its answer to
        anyone -- our Withdraw (A2A CancelTask): taken first, it closes the offer there, and no Accept of
        the offer after it binds (ESC-014, ESC-013). An escrow that cannot be reached is asked again
        later, as :meth:`ask_about_offer` does. Returns whether it asked."""
        if self.witness is None:
            return False
        with self.peer.lock:
            neg = self.peer.verifier.negotiations.find(negotiation_id)
            offer = None if neg is None else bonded_offer_to_show(self.peer, neg)
            if offer is None or proposal_of(offer).terms.escrow != self.witness.did:
                return False
        return self.ask_about_offer(negotiation_id)

    def ask_about_offer(self, negotiation_id: bytes, attempt: int = 0) -> bool:
        """The job of :meth:`watch_exposed`, on the witness's thread: show the escrow the line
        (:func:`~a2a_coop.runtime.trade.ask_escrow_alone`), take its answer, and give it our Deliveries
        that follow (WIT-007) -- under the contract it revealed, or under a contract formed later in the
        line once it took the answer. An escrow that could not be reached is asked again, at doubling
        delays; what an earlier Submit of the job made us sign goes to it first (a Submit answered, the
        next one failing, once left our Deliveries with nobody until a restart). Returns whether it
        asked."""
        assert self.witness is not None
        with self.peer.lock:
            self._exposed_watches.pop(negotiation_id, None)
            neg = self.peer.verifier.negotiations.find(negotiation_id)
        if neg is None:
            return False
        asked_at = self.peer.clock()
        asked: list[list[VerifiedStatement] | None] = []
        try:
            escrow, did = self.witness.escrow, self.witness.did
            asked.append(ask_escrow_alone(self.peer, escrow, neg))
            # Read again for each: what the escrow answered may have formed the contract (a forgotten
            # negotiation comes back as a copy). Our Accept a lower answer cut back (NEG-024), and our
            # bonded Counter it cut off the line (NEG-024 (a)), as carry_trade shows them.
            for show in (show_accept_cut_back_alone, withdraw_cut_off_alone):
                now_held = self.peer.verifier.negotiations.find(negotiation_id) or neg
                asked.append(show(self.peer, escrow, now_held, did))
        except Exception as exc:  # best effort, as the witness's submissions: asked again below
            self._give_witness([vs for a in asked for vs in a or ()])
            (log.warning if attempt < MAX_LOCK_FETCHES else log.debug)(
                "escrow witness: asking about our bonded offer failed (attempt %d): %s", attempt + 1, exc
            )
            self._ask_again(negotiation_id, neg, attempt)
            return False
        if all(a is None for a in asked):
            return False
        self._give_witness([vs for a in asked for vs in a or ()])
        now_held = self.peer.verifier.negotiations.find(negotiation_id) or neg
        unanswered = hidden_accept_check_ms(self.peer, now_held)
        if unanswered is not None and unanswered <= asked_at:
            if not self.peer.asked_at_escrow(negotiation_id):
                # No signed word of the escrow's dated past the cutoff in its answer (ESC-013 (i)): whoever
                # answered for it may have replayed its public Mandate alone. Asked again, at doubling
                # waits, capped, while the hold lasts (an old escrow never sends it: until then).
                log.debug("escrow witness: the escrow's answer names not our offer past its cutoff")
                self._ask_again(negotiation_id, neg, attempt)
                return True
            self._asked_past_cutoff.add(negotiation_id)
        elif unanswered is None:
            with self.peer.lock:
                still = self._to_show(now_held) is not None
            if still:
                # Answered and shown, and still not taken there (no Stamp of the answer held): the answer
                # took nothing -- the escrow's Mandate alone from whoever answered for it, or an escrow that
                # will not take it. Asked again at doubling waits, capped: watch_exposed asks an answered
                # offer at once, so a node asked it without end, tens of times a second
                # (tests/test_attack31_resume_forged_answer.py).
                self._ask_again(negotiation_id, neg, attempt)
                return True
        self.watch_exposed(negotiation_id)  # still unanswered, before its cutoff: asked again after it
        return True

    def _ask_again(self, negotiation_id: bytes, neg: Negotiation, attempt: int) -> None:
        """:meth:`ask_about_offer` again after ``attempt`` failed or went unanswered, at doubling delays,
        capped, for as long as what the answer would free stays held: the offer's value and exclusive_key
        are held until the escrow, asked, has answered, or else until its last deadline plus the claim
        window (SPEC 4.5). Giving up sooner would hold them that long after an escrow that was down for
        some minutes came back."""
        assert self.witness is not None
        with self.peer.lock:
            offer = self._to_show(neg)
            held = offer is not None and _hold_ends_ms(offer) >= self.peer.clock()
        if held:
            again = functools.partial(self.ask_about_offer, negotiation_id, attempt + 1)
            delay_s = min(self.witness.lock_wait_s * 2 ** min(attempt, 32), ESCROW_ASK_CAP_S)
            self.witness.watch(delay_s, again, bounded=False)

    def _give_witness(self, ours: Sequence[VerifiedStatement]) -> None:
        """Our Deliveries among ``ours`` (what an escrow's answer made us sign), after their contracts'
        evidence, to the witness's escrow (WIT-007); then watch for what TIM-009 held back."""
        assert self.witness is not None
        for owed, until in self._to_witness([vs.envelope for vs in ours], self.witness.did):
            self.witness.submit(owed, until_ms=until)
        self._watch_deferred()

    def witness_owed(self) -> int:
        """After a restart: give the witness again every unfinished contract naming its escrow, with the
        Deliveries we signed under it and the counterparty's Acks of them (WIT-007). What was queued for
        the witness died with the process; the escrow answers evidence it holds without signing anything
        (ESC-007, RPL-002), so resubmitting what it took costs nothing. A contract still ACCEPTED is
        watched for its locks again (ESC-009), and a bonded offer of ours whose answer its escrow has not
        taken is asked about again (:meth:`watch_exposed`), in memory or, ended, read back from the
        journal (:func:`~a2a_coop.runtime.trade.forgotten_to_show`). Returns how many contracts."""
        if self.witness is None:
            return 0
        queued = 0
        with self.peer.lock:
            held = self.peer.verifier.statements
            for neg in list(self.peer.verifier.negotiations.by_id.values()):
                self.watch_exposed(neg.id)  # our bonded offer there, answered or not (ESC-013)
                c = neg.contract
                if c is None or not self._speaks_for(c.escrow, self.witness.did) or not unfinished(neg):
                    continue
                self._watch_locks(c.accept)  # still ACCEPTED: the watch died with the process too
                ours = [held[d] for d, (by, _) in c.deliveries.items() if by == self.peer.did and d in held]
                acks = [self.peer.verifier.ack_of(c.other(self.peer.did), vs.digest) for vs in ours]
                evidence = [*contract_evidence(self.peer, neg), *(vs.envelope for vs in ours)]
                self.witness.submit(
                    [*evidence, *(a.envelope for a in acks if a is not None)], until_ms=_witness_until(c)
                )
                queued += 1
            # Ended and dropped from memory before the witness asked (the process stopped first).
            for neg in forgotten_to_show(self.peer, self.journal.statements(), self.peer.clock()):
                self.watch_exposed(neg.id)
        return queued

    def escrows_stamp(self, stamp: VerifiedStatement) -> bool:
        """Whether ``stamp`` is our witness's escrow's word in our view (WIT-007): signed by its key where
        no revocation we hold reaches it (KEY-004) and above no rotation of it we hold (KEY-005), or by a
        successor we honour from the hand-over's time on (ESC-022) -- the key whose Mandate we were given
        at start is its thief's once its principal revoked it, and the Stamp's time and seq are the
        signer's choice as much (red team 32); or, where our escrow's key is itself a successor, by the key
        it succeeds before the hand-over, read the same way (:meth:`_predecessors_word`: WIT-006, a
        successor answers a repeat with the old key's Stamp)."""
        assert self.witness is not None
        with self.peer.lock:
            if escrows_word(self.peer, stamp, self.witness.did):
                return True
            return signer_stands(self.peer, stamp) and self._predecessors_word(stamp)

    def learn_handover(self, answer: Sequence[bytes]) -> bool:
        """Take into our view what ``answer`` -- to our witness's Submit -- carries of a hand-over of our
        witness's escrow key E (ESC-022): the Mandates naming E as agent or in `succeeds`, the KeyRevocations
        of E and E's own statements but Stamps (the binding a successor's answer gives, ESC-023 (c)); True
        when any was new. Our node, started before
        E's principal revoked E and handed its contracts to N, and N answering at E's address, read N's
        Stamps of our Deliveries as no escrow's and gave them again until the contract's last deadline
        + 30 s (tests/test_witness33_learns_handover.py). Nothing here is trusted for being in the
        answer: each statement is checked as any context is, and N's Stamps count only where our verifier
        honours the hand-over -- a Mandate signed by the principal E is bound to, naming E in `succeeds`,
        with a revocation of E held (:meth:`escrows_stamp`). A thief holding E's key, answering for E's
        address, signs E's revocation (as it could show anyone) but no Mandate of E's principal: its
        forged hand-over to an escrow of its own is held and honoured by nobody."""
        assert self.witness is not None
        escrow = self.witness.did
        handover: list[bytes] = []
        for env in answer:
            try:
                st = decode_statement(decode_envelope(env).payload)
            except CoopError:
                continue
            body = st.WhichOneof("body")
            if (
                (body == "mandate" and escrow in (st.mandate.succeeds, st.mandate.agent))
                or (body == "key_revocation" and st.key_revocation.key == escrow)
                or (st.header.issuer == escrow and body != "stamp")
            ):
                handover.append(env)
        with self.peer.lock:
            held = self.peer.verifier.statements
            new = [env for env in handover if statement_digest(decode_envelope(env).payload) not in held]
        learnt = False
        for env in new:  # in the answer's order: a binding before the revocation it authorises (KEY-008)
            try:
                self.peer.hold([env], answer_of=escrow)
            except CoopError as exc:  # refused: nothing learnt of it
                log.warning("escrow witness: a statement of the escrow's answer refused: %s", exc)
            else:
                learnt = True
        return learnt

    def _predecessors_word(self, stamp: VerifiedStatement) -> bool:
        """Whether ``stamp``, by another key than our witness's escrow, is that escrow's word all the same:
        signed by a key it succeeds by a hand-over our verifier honours, before the hand-over (ESC-022) --
        as our view reads it. The successor answers a repeat of a Delivery the old key stamped with that
        Stamp (WIT-006: it took the old key's ledger over), and our witness, reading only its own key's,
        asked it again at its waits until the contract's last deadline + 30 s
        (tests/test_escrow_handover_served.py). Under our peer's lock."""
        assert self.witness is not None
        verifier = self.peer.verifier
        honoured = verifier.successors(stamp.issuer)
        return (
            honoured is not None
            and self.witness.did in honoured[0]
            and verifier.witness.acts_for(stamp.issuer, stamp.issuer, stamp.issued_at_ms, stamp.header.seq)
        )

    def _speaks_for(self, named: str, escrow: str) -> bool:
        """Whether the escrow key ``escrow`` (our witness's) takes the evidence of a contract naming the
        key ``named``: it is that key, or a successor by a hand-over our verifier honours (ESC-022) --
        a peer served with the successor as its escrow witnesses the contracts it took over (ESC-023)."""
        if named == escrow:
            return True
        honoured = self.peer.verifier.successors(named)
        return honoured is not None and escrow in honoured[0]

    def _to_witness(
        self, answers: Sequence[bytes], escrow: str, *, receipts: bool = False
    ) -> list[tuple[list[bytes], int]]:
        """Per contract naming ``escrow``: its evidence, then the Deliveries of ours among ``answers``
        (and with ``receipts`` our Receipts, each after the Delivery it names: signed on our own, they
        reach the counterparty in no answer, and the escrow releases the bonds only once it holds every
        one, CMT-001); and until when the witness tries to get it there (:func:`_witness_until`)."""
        with self.peer.lock:
            held, negotiations = self.peer.verifier.statements, self.peer.verifier.negotiations.by_id
            out: dict[bytes, tuple[list[bytes], int]] = {}
            for env in answers:
                # Our own answers, verified when signed: the digest finds them.
                vs = held.get(statement_digest(decode_envelope(env).payload))
                if vs is None or vs.issuer != self.peer.did:
                    continue
                if vs.body in ("accept", "ack"):  # a contract formed: do we learn its locks? (ESC-009)
                    self._watch_locks(vs)
                if vs.body != "delivery" and not (receipts and vs.body == "receipt"):
                    continue
                neg = negotiations.get(vs.header.negotiation_id)
                if (
                    neg is not None
                    and neg.contract is not None
                    and self._speaks_for(neg.contract.escrow, escrow)
                ):
                    evidence, _ = out.setdefault(
                        neg.id, (contract_evidence(self.peer, neg), _witness_until(neg.contract))
                    )
                    named = held.get(vs.statement.receipt.delivery) if vs.body == "receipt" else None
                    evidence += [env] if named is None else [named.envelope, env]
            return list(out.values())

    def _watch_locks(self, statement: VerifiedStatement, attempt: int = 0) -> None:
        """If ``statement`` is an Accept, or our Ack of one, of a bonded contract naming the witness's
        escrow: fetch its locks ourselves after a while (:meth:`fetch_locks`) unless a relay brings them
        first. Contracts we opened too: an Accept that reaches our server as a request, not as the answer
        to our offer, finds no run of ours carrying the trade to the escrow (ESC-004), and the
        counterparty may withhold the locks. Under the peer's lock."""
        assert self.witness is not None
        if statement.body == "ack":
            accept = self.peer.verifier.statements.get(statement.statement.ack.statement)
            if accept is None or accept.body != "accept":
                return
            statement = accept
        neg = self.peer.verifier.negotiations.by_id.get(statement.header.negotiation_id)
        c = neg.contract if neg is not None else None
        if neg is None or c is None or c.accept.digest != statement.digest:
            return
        if not self._speaks_for(c.escrow, self.witness.did):
            return
        if neg.state is not State.ACCEPTED:
            return  # the locks came already
        if not any(c.bond(p) for p in c.parties) or neg.id in self._lock_watches:
            return
        me = self.peer.did
        first_deadline = min((it.deadline_ms for it in c.gives(me)), default=c.last_deadline_ms)
        left_s = max(0.0, (first_deadline - self.peer.clock()) / 1000)
        if attempt and not left_s:
            return  # too late to deliver: a claim now is ruled on what the escrow holds
        delay = min(self.witness.lock_wait_s * 2**attempt, left_s / 4)
        # Not bounded by the witness's queue: one per contract we accepted, so the peer's caps on open
        # negotiations (RPC-012) bound them; bounded by the queue, fresh keys' contracts would crowd out
        # the watch of the contract whose initiator withholds its locks.
        self.witness.watch(delay, lambda: self.fetch_locks(neg.id, attempt), bounded=False)
        self._lock_watches.add(neg.id)

    def fetch_locks(self, negotiation_id: bytes, attempt: int = 0) -> bool:
        """ESC-009: if the contract is still ACCEPTED here (nobody has
        relayed its locks), submit it to its escrow ourselves and take the answer -- the Stamp, the
        locks and whatever else the escrow signed about it (ESC-008) -- exactly as a relay (SPEC 13.2). Our
        Deliveries that the locks let us sign go to the escrow (WIT-007), so a claim on them fails.
        Still ACCEPTED afterwards (the bonds not funded yet, the escrow unreachable): tried again, at
        doubling delays, while our first deadline is ahead -- :data:`MAX_LOCK_FETCHES` times, and on
        while the escrow may still lock a bond (up to the bonding cutoff plus the clock tolerance): the
        party that funds last chooses when. Returns whether it asked the escrow.

        Runs on the witness's thread; the answer goes through :meth:`Peer.exchange`, under its lock.
        """
        assert self.witness is not None
        with self.peer.lock:
            self._lock_watches.discard(negotiation_id)  # this watch has come due
            neg = self.peer.verifier.negotiations.by_id.get(negotiation_id)
            if neg is None or neg.contract is None or neg.state is not State.ACCEPTED:
                return False
            evidence = contract_evidence(self.peer, neg)
            # Asked up to here, a lock may still come later: the escrow locks a bond until the bonding
            # cutoff (ESC-010), whenever the party that funds last pays in -- after six asks, too.
            may_still_lock = self.peer.clock() <= neg.contract.bond_cutoff_ms + CLOCK_TOLERANCE_MS
        try:
            mandate, *answer = self.witness.escrow.submit(evidence)  # its Mandate first (ESC-002)
            if answer:
                replies = self.peer.exchange(answer[-1], [mandate, *answer[:-1]])
                for owed, until in self._to_witness(replies, self.witness.did):
                    self.witness.submit(owed, until_ms=until)
                self._watch_deferred()
        finally:
            with self.peer.lock:
                if (
                    neg.state is State.ACCEPTED
                    and neg.contract
                    and (attempt < MAX_LOCK_FETCHES - 1 or may_still_lock)
                ):
                    self._watch_locks(neg.contract.accept, attempt + 1)
        return True

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        """Our public statements in the range (statements to a counterparty stay private)."""
        with self.peer.lock:
            head = self.peer.writer.next_seq - 1
            out = []
            for env in self.journal.log_range(self.peer.did, from_seq, limit):
                # Our own statements, verified when signed: decoding is enough to read the audience.
                if not decode_statement(decode_envelope(env).payload).header.audience:
                    out.append(env)
            return out, max(head, 0)

    def get_checkpoint(self) -> bytes:
        """A Checkpoint over our chain so far (CHN-007): the last one while it is still our chain's head
        and fresh, else a new one -- so callers cannot make us sign (and fsync) once per call."""
        return gossip.head_checkpoint(self.peer).envelope

    def get_attestations(
        self, subject: str, limit: int = 0, page_token: str = "", max_bytes: int = DEFAULT_PAGE_BYTES
    ) -> tuple[list[list[bytes]], str]:
        """One page of the attestations about ``subject`` we hold (every one when ``subject`` is
        empty), in the order we took them, each as the bundle a third party checks it and recomputes
        its weight from (ATT-014), within ``max_bytes`` (the first bundle always goes).

        Returns:
            The bundles, and the token of the next page ("" after the last).

        Raises:
            RequestInvalid: ``page_token`` is not one this peer would give (RPC-011).
        """
        with self.peer.lock:
            v = self.peer.verifier
            digests = v.attestations_about.get(subject, []) if subject else v.attestations
            if page_token and (not page_token.isdecimal() or not 0 < int(page_token) <= len(digests)):
                raise _unknown_page_token(page_token)
            at = int(page_token or 0)
            bundles: list[list[bytes]] = []
            size = 0
            while at < len(digests) and len(bundles) < (limit or DEFAULT_PAGE_ENTRIES):
                bundle = [vs.envelope for vs in attestation_evidence(v, v.statements[digests[at]])]
                size += sum(map(len, bundle))
                if bundles and size > max_bytes:
                    break
                bundles.append(bundle)
                at += 1
            return bundles, str(at) if at < len(digests) else ""

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        """Take a counterparty's Checkpoints and fork proofs; answer with ours (ATT-011)."""
        return self.peer.gossip(envelopes, proofs)

    def close(self) -> None:
        if self.witness is not None:
            self.witness.close()
        self._evidence_timer.close()  # a flush under way ends first; what is left is flushed here
        try:
            self.peer.flush_evidence()  # ATT-013 (e): re-ranking evidence not waited for yet
            self.peer.save_marks()  # RPC-016's revocation marks: a restart keeps them
        except JournalError:
            log.warning("peer: revocation marks not saved at close", exc_info=True)
        try:
            self.peer.save_snapshot()  # the next start replays nothing
        except JournalError:  # a failed journal: the next start replays from the last snapshot
            log.warning("peer: no snapshot at close", exc_info=True)
        finally:
            self.journal.close()


# --- a serving escrow ----------------------------------------------------------------------

# Set within faucet_shut(): an EscrowNode's test faucet credits nothing (CTL-002).
_FAUCET_SHUT: ContextVar[bool] = ContextVar("a2a_coop.faucet_shut", default=False)


@contextmanager
def faucet_shut() -> Iterator[None]:
    """Within it (in this thread), no :class:`EscrowNode`'s test faucet credits anything; a Submit is
    otherwise served exactly as by an escrow without a faucet. The reference escrow serves the Submit of
    a caller that is not its operator's within one (CTL-002:
    :class:`~a2a_coop.runtime.control.OperatorsFaucet`, judged once per call from its gRPC context)."""
    token = _FAUCET_SHUT.set(True)
    try:
        yield
    finally:
        _FAUCET_SHUT.reset(token)


FAUCET_REFERENCE: Final = "conformance faucet"  # the reference of the test faucet's Deposits
SUBMIT_ANSWER_PREFIX = "submit-answer/"
# The Accepts whose issuer forked its chain against them (ESC-015): no claim of that issuer under that
# contract is taken, also after a restart (the fork's other statement may never be shown again).
META_FORKED_ACCEPTS = "escrow/forked-accepts"
# The escrow's own Mandates, every one a run of its journal started with (envelopes, in that order).
META_ESCROW_MANDATES = ESCROW_MARK  # "escrow/own-mandates": also what marks a journal as an escrow's
# ESC-023: a successor's predecessor -- the old key's transcript and the revocations of it it was started
# with -- kept so that a restart takes them over again without the operator giving them: a map of the
# digests of the first and last of the journal's rows holding the transcript (journaled as received, in
# order, in the commit that wrote this record) and the revocations; or, as journals of before wrote it
# and when those rows could not be written apart (the journal held one of them already), the list of
# both.
META_ESCROW_PREDECESSOR = "escrow/predecessor"


def taken_over_of(journal: Journal) -> tuple[list[bytes], tuple[int, int] | None]:
    """ESC-023: what the successor escrow whose journal this is took over -- the old key's transcript up
    to its revocation, then the revocations of it, as its transcript opens with them -- and the positions
    (first, last) of the journal's rows that hold that transcript (None: all of it in the meta record)."""
    held = journal.get_meta(META_ESCROW_PREDECESSOR, [])
    rows = _taken_over_rows(journal, held)
    if rows is None:
        return list(held), None
    first, last = rows
    transcript = [env for position, _, env in journal.statements(since_rowid=first - 1) if position <= last]
    return [*transcript, *held["revocations"]], rows


def _taken_over_rows(journal: Journal, held: Any) -> tuple[int, int] | None:
    if not isinstance(held, dict):
        return None
    first, last = journal.position_of(held["first"]), journal.position_of(held["last"])
    if first is None or last is None or last < first:
        raise JournalCorrupt(
            f"{journal.path}: the rows of the transcript this successor took over are missing"
        )
    return first, last


# The bindings shown, not held (KEY-007, KEY-008; Escrow.shown_binding), one key per key and principal
# (META_SHOWN_BINDINGS + "/" + key did + "/" + principal did), each a ShownBinding as a list: a statement
# of a key refused only for its chain or nonce (a thief's fork) that a principal's KeyRevocation was taken
# beside. In no chain, it is not among the journal's statements (their seq and nonce indexes serve the
# chain and replay checks); given back to the escrow before the journal is replayed, so that the
# revocation it authorised is taken again, and placed before that revocation in the transcript. And, one
# key each (+ "/" + its digest in hex), the statements of no negotiation refused KEY_REVOKED alone that
# bound their key (KEY-007 (a)), each with what came right before it (ShownBinding.after): the replay binds
# the key again there, and the transcript places it there.
META_SHOWN_BINDINGS = "escrow/shown-bindings"

# The test faucet (CTL-002): one key (+ "/" + its digest in hex) per Mandate whose agent it paid, written in
# the commit that holds the Deposit, so that a restart pays no Mandate twice and forgets none it paid.
META_FAUCET_PAID = "escrow/faucet-paid"


def _replay(key: Keypair, mandate: bytes, journal: Journal, context: Sequence[bytes], **kw: Any) -> Peer:
    """A Peer on ``journal`` that trusts the escrows of ``context`` (MND-015) and also holds, without
    trusting, the context earlier runs recorded: replay verifies again what those escrows signed."""
    earlier = [
        env for env in journal.get_meta(META_CONTEXT, [], kind=list, items=bytes) if env not in context
    ]
    peer = Peer(key, mandate, journal=journal, context=[*context, *earlier], **kw)
    given = (verify_statement(env) for env in context)
    peer.trusted_escrows = frozenset(vs.statement.mandate.agent for vs in given if vs.body == "mandate")
    peer.trusted_escrows -= {key.did}  # an earlier mandate of ours is no escrow's
    return peer


def _unknown_page_token(page_token: str) -> RequestInvalid:
    """RPC-011: a GetAttestations page token this peer would never give (ATT-014) is the caller's fault."""
    return RequestInvalid(
        f"unknown page token {page_token!r:.40}", requirement="RPC-011", origin=Origin.REMOTE
    )


def _submit_key(prechecked: Prechecked) -> tuple[str | None, list[bytes]]:
    """The journal key of a Submit's answer: SHA-256 over its statements' digests, in order (the same
    statements in other envelope bytes are the same Submit), and those digests; None for an empty
    Submit (it only fetches the mandate) or one with an envelope that does not verify on its own (it is
    refused, never answered)."""
    if not prechecked.items or prechecked.refused is not None:
        return None, []
    digests = [item if isinstance(item, bytes) else item.digest for item in prechecked.items]
    return SUBMIT_ANSWER_PREFIX + hashlib.sha256(b"".join(digests)).hexdigest(), digests


def _mandate_of(envelope: bytes, agent: str) -> bool:
    vs = verify_statement(envelope)
    return vs.body == "mandate" and vs.statement.mandate.agent == agent


class EscrowNode:
    """An :class:`Escrow` with a journal, as an EscrowHandler; ``start_ticking`` runs its clock rules.

    ``durability`` is the journal's (:meth:`Journal.open`): ``"full"``, the default, for any live
    escrow; ``"normal"`` only for tests and benchmarks. ``forget`` (the default): a contract over for
    good leaves memory once durable, the journal answering for it (:meth:`Escrow.forget_contract`);
    off, the escrow holds every contract (tests compare the two). ``stranger_quota``: the newcomer quota
    on the statements of no negotiation it takes of keys outside its dealings (ESC-017; None: the
    defaults of :class:`StrangerQuota`; one of zeros: no limit), and, per key in its dealings, on those
    no trade here needs (``dealings_factor`` times ``per_key`` a period, plus ``dealings_credit`` for
    each statement of a contract naming us the key made that period; :class:`KeyedCount`), counted on
    our clock and journaled with what they counted, so a restart grants no second quota.
    ``snapshot_every``: with ``forget``, a snapshot of the escrow's memory is journaled once that many
    statements were journaled since the last one (and at :meth:`close`), and a restart replays only the
    statements after it (a2a_coop.runtime.snapshot); 0: none, a restart replays the whole journal.
    """

    def __init__(
        self,
        key: Keypair,
        mandate: bytes,
        journal_path: Path,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        faucet: int = 0,
        durability: Durability = "full",
        forget: bool = True,
        stranger_quota: StrangerQuota | None = None,
        snapshot_every: int = snapshot.EVERY_ROWS,
        predecessor: Sequence[bytes] = (),
    ) -> None:
        self.clock = clock
        self.now: Callable[[], int] = clock  # floored at our chain's head once started (ChainClock)
        self._predecessor = list(predecessor)
        self.faucet = faucet
        # The Mandates (digests) whose agent the test faucet paid (META_FAUCET_PAID), read from the journal.
        self._faucet_paid: set[bytes] = set()
        self.forget = forget
        self.snapshot_every = snapshot_every
        self.stranger_quota = StrangerQuota() if stranger_quota is None else stranger_quota
        self.journal = Journal.open(journal_path, durability=durability)
        try:
            self._start(key, mandate, clock, forget)
        except BaseException:
            self.journal.close()  # a node that never started holds no lock on its journal
            raise

    def _chain_clock(self, clock: Callable[[], int], head: bytes) -> ChainClock:
        """``clock`` floored at the time of our chain's head statement ``head`` (:class:`ChainClock`)."""
        envelope = self.journal.by_digest(head) if head else None
        floor = verify_statement(envelope).issued_at_ms if envelope is not None else 0
        ahead = floor - clock()
        if ahead > CLOCK_TOLERANCE_MS:  # an operator reads why the escrow's times run ahead of the machine's
            log.warning(
                "escrow: our chain's last statement is dated %d s ahead of this clock (stepped back, or a "
                "test clock's offset left out): dating and judging by it until the clock catches up",
                ahead // 1000,
            )
        return ChainClock(clock, floor)

    def _start(self, key: Keypair, mandate: bytes, clock: Callable[[], int], forget: bool) -> None:
        """Replay the journal's ledger into a new :class:`Escrow` (the rest of ``__init__``)."""
        check_journal_kind(self.journal, "escrow")  # a peer's: replaying it as an escrow's fails, marked
        self.mandate = mandate
        self.lock = threading.Lock()
        mandate_vs = verify_statement(mandate)
        # Our statements cite our Mandate and are journaled without it: keep every one we ran under, so
        # a renewed mandate (SPEC 4.7) leaves the ledger signed under the old one replayable (MND-017).
        kept = [env for env in self.journal.get_meta(META_ESCROW_MANDATES, []) if _mandate_of(env, key.did)]
        if mandate not in kept:
            self.journal.put_meta(META_ESCROW_MANDATES, [*kept, mandate])
        earlier = [env for env in kept if env != mandate]
        # ESC-023: a successor's predecessor, given at its first start and kept in the journal after.
        held = self.journal.get_meta(META_ESCROW_PREDECESSOR, [])
        rows = _taken_over_rows(self.journal, held)
        if self._predecessor and held and self._predecessor != taken_over_of(self.journal)[0]:
            raise ValueError(
                "this journal took over another predecessor transcript already: a successor takes over "
                "one ledger, once (start it without --succeeds)"
            )
        first_handover = bool(self._predecessor) and not held
        if held:  # its transcript in the journal's rows, the revocations here; or all of it here
            self._predecessor = list(held["revocations"]) if rows is not None else list(held)
        head = self.journal.chain_head(key.did)
        clock = self.now = self._chain_clock(clock, head[1])  # self.clock stays the clock given
        self.signer = KeySigner(key, head=head, clock=clock)
        self._key, self._setup = key, [*earlier, mandate]
        shown = [ShownBinding(*value) for _, value in self.journal.meta_under(META_SHOWN_BINDINGS + "/")]
        if self.faucet:  # CTL-002: the Mandates the test faucet paid for, never paid again
            paid = self.journal.meta_under(META_FAUCET_PAID + "/")
            self._faucet_paid = {bytes.fromhex(name.rsplit("/", 1)[1]) for name, _ in paid}
        # The journal is the escrow's archive: it restarts from it -- from its last snapshot on, when it
        # has one this escrow can use (a2a_coop.runtime.snapshot), else from its first statement -- and a
        # contract over for good leaves memory once the journal holds it durably (_forget_durable), read
        # back from there on demand.
        self._cadence = snapshot.Cadence(self.snapshot_every)
        self._diverged = False  # a journal write failed: memory may hold what the journal does not
        self.resumed_from: int | None = None  # the journal position of the snapshot this start resumed from
        resumed = self._resume(clock(), shown) if forget and self.snapshot_every > 0 else None
        self.escrow = (
            resumed
            if resumed is not None
            else Escrow(
                self.signer,
                mandate_vs.digest,
                setup=self._setup,
                archive=self.journal,
                now_ms=clock(),
                forget=forget,
                shown=shown,
                predecessor=self._predecessor,
                taken_over_rows=rows,
            )
        )
        # ESC-023: a successor speaks for the key it succeeds only from its revocation's effective_ms,
        # and takes over no contract it could not rule on before its own Mandate ends.
        if self.escrow.handover_ms is not None and clock() < self.escrow.handover_ms:
            raise WrongParty(
                f"the revocation of {self.escrow.succeeds} is effective from "
                f"{utc_text(self.escrow.handover_ms)}: its successor signs nothing about its contracts "
                "before then; start it then",
                requirement="ESC-023",
            )
        short = self.escrow.handover_short()
        if short is not None:
            raise short
        if first_handover:  # what it took over, cut at the revocation (the thief's statements left out)
            self._journal_taken_over()
        self._predecessor = []  # the escrow holds what it needs of it
        # ESC-021: not restarted under a Mandate that ends sooner than one it ran under, before a contract
        # it holds open could be ruled on.
        refusal = self.escrow.outlived_by(
            mandate_vs.digest, [verify_statement(env).digest for env in earlier]
        )
        if refusal is not None:
            raise refusal
        self._forgettable: list[tuple[list[bytes], Ticket | None]] = []
        self.escrow.forked_accepts.update(self.journal.get_meta(META_FORKED_ACCEPTS, []))
        # ESC-017: what the journal counted in the current period counts on (never a second quota).
        quota = self.stranger_quota
        self.strangers = (
            StrangerCount(
                quota,
                self.journal.get_meta(META_STRANGERS),
                clock(),
                requirement="ESC-017",
                marks=self.journal.get_meta(META_REVOCATION_MARKS),  # the keys marked stay so (ESC-017)
            )
            if quota.active
            else None
        )
        self.escrow.quota = self.strangers
        # ... and, per key in our dealings, what no trade here needs, with the credit their trades earn
        # (journaled per key, META_DEALINGS/<key>, in the commit that holds what it counted).
        self.dealings = (
            KeyedCount(
                quota.dealings_per_key,
                quota.dealings_credit,
                quota.period_ms,
                self.journal.meta_under(META_DEALINGS + "/"),
                clock(),
                prefix=META_DEALINGS,
                requirement="ESC-017",
                what="public statements no trade here needed of",
            )
            if quota.active and quota.dealings_per_key
            else None
        )
        self.escrow.dealings = self.dealings
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # The last journal write a Submit staged (under the lock): what the escrow holds in memory is
        # durable once it is. Answers read from memory wait for it (write-ahead): a crash before it loses
        # those statements, and the escrow, restarted, would sign others at their ledger seqs (a fork).
        self._last_ticket: Ticket | None = None
        with self.lock:  # a long journal replayed whole (one of an earlier version): snapshot it now
            self._snapshot()

    def _journal_taken_over(self) -> None:
        """ESC-023, at a successor's first start: journal the old key's transcript it took over as rows
        received, in order, and the record of them (META_ESCROW_PREDECESSOR), in one commit; then the
        taken-over contracts over for good leave memory, the journal answering for them as for our own.
        A journal holding one of those statements already (it served before) keeps them all in the
        record instead, held in memory."""
        escrow, journal = self.escrow, self.journal
        revocations = escrow.revocations_taken_over
        transcript = escrow.taken_over[: len(escrow.taken_over) - len(revocations)]
        held = escrow.verifier.statements
        found = [held.get(statement_digest(decode_envelope(env).payload)) for env in transcript]
        taken = [vs for vs in found if vs is not None]
        digests = [vs.digest for vs in taken]
        # A binding the old key kept, shown, not held (KEY-007) is in no chain: not a journal row, so the
        # transcript is kept whole in the record.
        apart = bool(taken) and len(set(digests)) == len(digests) and len(taken) == len(found)
        if apart and journal.last_position() is not None:
            apart = not any(journal.position_of(d) is not None for d in digests)
        if not apart:
            journal.put_meta(META_ESCROW_PREDECESSOR, escrow.taken_over)
            return
        record = {"first": digests[0], "last": digests[-1], "revocations": revocations}
        journal.record_batch(
            [(vs, [], False) for vs in taken], at_ms=self.now(), meta={META_ESCROW_PREDECESSOR: record}
        )
        rows = _taken_over_rows(journal, record)
        assert rows is not None and rows[1] - rows[0] + 1 == len(taken)
        escrow.predecessor_archived(rows, self.now())

    def _resume(self, now_ms: int, shown: list[ShownBinding]) -> Escrow | None:
        """The escrow from the journal's snapshot and the statements after it, or None: no snapshot, or
        one this escrow cannot use (see a2a_coop.runtime.snapshot; the whole journal is replayed)."""
        live = {"archive": self.journal, "signer": self.signer}
        loaded = snapshot.read(
            self.journal,
            snapshot.META_ESCROW_SNAPSHOT,
            kind="escrow",
            key=self._key,
            setup=self._setup,
            live=live,
            expect=Escrow,
        )
        if loaded is None:
            return None
        escrow: Escrow = loaded[0]
        position = loaded[1]
        try:
            escrow.resume(self.signer, self.journal, position, now_ms=now_ms, shown=shown)
        except Exception:  # an unusable snapshot is no reason not to start: replay the whole journal
            log.warning("escrow: the journal's snapshot could not be used: ignored", exc_info=True)
            return None
        if escrow.ledger_size != self.journal.chain_head(self._key.did)[0]:
            log.warning("escrow: the ledger resumed from the snapshot is not the journal's: ignored")
            return None
        self.resumed_from = position
        tail = self._cadence.resumed(position, escrow.verifier.accepted, self.journal)
        log.info(
            "escrow: resumed from its snapshot at journal row %d, %d statements after it replayed",
            position,
            tail,
        )
        return escrow

    def _snapshot(self, *, force: bool = False) -> None:
        """Under the lock: journal a snapshot of the escrow's memory if enough statements were journaled
        since the last one (``force``: if any were), once everything it holds is durable."""
        cadence = self._cadence
        if (
            not self.forget
            or self._diverged
            or not cadence.may_be_due(self.escrow.verifier.accepted, force=force)
        ):
            return
        if not cadence.due(self.journal.last_position(), force=force):
            return
        pending = self._last_ticket
        if pending is not None and not pending.done:
            self.journal.wait(pending)  # raises if it failed (then no snapshot, ever)
        if pending is not None and pending.error is not None:
            self._diverged = True
            return
        self._forget_durable()
        escrow = self.escrow
        if escrow.unsaved or self._forgettable or not escrow.at_rest:
            return
        last = self.journal.last_position()
        if last is None or escrow.ledger_size != self.journal.chain_head(self._key.did)[0]:
            return
        escrow.verifier._checked = None  # a cache of the last check, of no use after a restart
        try:
            value = snapshot.dump(
                escrow,
                kind="escrow",
                key=self._key,
                setup=self._setup,
                last=last,
                live={"archive": self.journal, "signer": escrow.signer},
                dropped=(escrow.quota, escrow.dealings),
            )
        except Exception:  # something it holds cannot be pickled: restarts replay more, that is all
            log.warning("escrow: no snapshot of its memory could be made", exc_info=True)
            self._diverged = True
            return
        meta = {
            snapshot.META_ESCROW_SNAPSHOT: value,
            **self.journal.filter_meta(),
        }  # the next open scans less
        self.journal.record_batch([], at_ms=self.now(), meta=meta)
        cadence.written(last[0], escrow.verifier.accepted, value)

    def _persist(self, meta: dict[str, Any] | None = None) -> None:
        """Journal what the escrow took since the last call -- its Stamps, the evidence they name and
        its decisions, in transcript order -- and ``meta``, in one transaction, before any answer leaves."""
        taken = self.escrow.drain_unsaved()
        if taken:
            items, meta = self._journaled(taken, meta)
            try:
                self.journal.record_batch(items, at_ms=self.now(), meta=meta)
            except BaseException:
                self._diverged = True
                raise
        self._note_settled(None)  # written and waited for: durable
        self._forget_durable()

    def _note_settled(self, ticket: Ticket | None) -> None:
        """Under the lock: contracts the escrow just settled are forgotten once ``ticket`` -- the write
        holding what settled them -- is durable (None: already durable)."""
        settled = self.escrow.drain_settled()
        if settled and self.forget:
            self._forgettable.append((settled, ticket))

    def _forget_durable(self) -> None:
        """Under the lock: forget the settled contracts whose journal write is durable (bounded memory;
        the journal answers for them from then on)."""
        if not self._forgettable:
            return
        keep: list[tuple[list[bytes], Ticket | None]] = []
        now = self.now()
        for settled, ticket in self._forgettable:
            if ticket is not None and not ticket.done:
                keep.append((settled, ticket))
            elif ticket is None or ticket.error is None:
                for nid in settled:
                    self.escrow.forget_contract(nid, now)
        self._forgettable = keep

    def after_reply(self) -> None:
        """What a Submit leaves that its answer need not wait for, once the answer is on its way (the gRPC
        server calls this when a Submit's RPC ends): forget the contracts settled by writes now durable --
        memory only, the journal answers for them from then on. Until now this ran when the next Submit
        took the lock, before its own checks: in a sequential trade, on the path of every first Submit.
        Never waits: if a Submit holds the lock, it is left to the next one (at its start, as before)."""
        if not self._forgettable or not self.lock.acquire(blocking=False):
            return
        try:
            if not self._stop.is_set():  # closed meanwhile: its journal with it
                self._forget_durable()
        finally:
            self.lock.release()

    def deposit(self, party: str, amount: int, reference: str = "demo funding") -> VerifiedStatement:
        with self.lock:
            try:
                return self.escrow.deposit(party, amount, self.escrow.currency, reference, self.now())
            finally:
                self._persist()

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        """Take evidence; answer with our mandate (so callers can verify) and our new statements.

        Idempotent (ESC-007): a Submit of the same statements in the same order as one answered
        before gets the very same answer, from the journal, also after a restart; nothing is signed
        for it. A client whose first answer was lost just submits again.
        """
        # The checks that need no state first (signature, encoding, header, body), outside the lock, as a
        # peer's are: other Submits are taken meanwhile. Each envelope is parsed and hashed once.
        prechecked = self.escrow.precheck(envelopes)
        key, digests = _submit_key(prechecked)
        self.lock.acquire()
        locked = True
        try:
            self._forget_durable()
            due = self._faucet_due(
                envelopes
            )  # test-only: who the faucet pays, for which Mandates (none in production)
            if not due and key is not None and all(map(self.escrow.took, digests)):
                # Only a Submit of statements all taken (held, or a binding shown) can repeat one answered
                # before.
                earlier = self._answered(key)
                if earlier is not None:  # and what was signed about its contract since (ESC-008)
                    again = self.escrow.with_mandates(
                        self.mandate, self.escrow.answer_again(earlier, digests, self.now())
                    )
                    # ESC-013 (i)'s Checkpoint, signed now the first time: journaled before it leaves.
                    signed_now = self._stage(None)
                    if signed_now is not None:
                        self._last_ticket = signed_now
                    pending = self._last_ticket
                    locked = False
                    self.lock.release()
                    self._durable(pending)  # another Submit's statements among them may be on their way
                    return again
            meta: dict[str, Any] | None = None
            ticket = None
            forks = len(self.escrow.forked_accepts)
            paid: list[bytes] = []  # the Mandates whose agent the faucet paid now (META_FAUCET_PAID)
            try:
                for (
                    agent,
                    mandates,
                ) in due.items():  # signed before the evidence: its contract is bonded at once
                    self.escrow.deposit(
                        agent, self.faucet, self.escrow.currency, FAUCET_REFERENCE, self.now()
                    )
                    paid += mandates
                signed = self.escrow.submit(envelopes, self.now(), prechecked=prechecked)
                if key is not None and signed:
                    # Written with what was signed now, in one transaction; when nothing new was signed
                    # nothing is written, and the answer (earlier Stamps, WIT-006) comes out the same again.
                    meta = {key: [vs.digest for vs in signed]}
            finally:
                # Evidence accepted before a refusal stays accepted (and stamped): journal it either way,
                # with what we signed, before any answer leaves (write-ahead). Staged under the lock (in
                # ledger order), waited for outside it: concurrent Submits share one fsync. The lock is
                # not taken again once the write is durable: the answer is built from what this Submit
                # signed, so a durable answer never queues behind the next Submit's checks.
                if len(self.escrow.forked_accepts) != forks:  # also when the Submit is refused (ESC-015)
                    meta = {**(meta or {}), META_FORKED_ACCEPTS: sorted(self.escrow.forked_accepts)}
                if paid:  # in the commit that holds the Deposits (CTL-002: paid once, restart or not)
                    self._faucet_paid.update(paid)
                    meta = {**(meta or {}), **{f"{META_FAUCET_PAID}/{d.hex()}": True for d in paid}}
                counted = self.strangers.meta(self.now()) if self.strangers is not None else {}
                if self.dealings is not None:  # past periods' rows pruned only in a write made anyway
                    counted.update(self.dealings.meta(prune=bool(meta or counted or self.escrow.unsaved)))
                if counted:  # in the commit that holds what it counted (ESC-017)
                    meta = {**(meta or {}), **counted}
                ticket = self._stage(meta)
                if ticket is None and meta is not None:  # nothing taken: the record alone
                    ticket = self.journal.stage_batch([], at_ms=self.now(), meta=meta)
                if ticket is not None:
                    self._last_ticket = ticket
                # What this Submit settled (or brought back from the journal, settled) is forgotten once
                # the last write staged, which holds everything taken so far, is durable.
                self._note_settled(self._last_ticket)
                locked = False
                self.lock.release()
                if ticket is not None:
                    try:
                        self.journal.wait(ticket)
                    except BaseException:
                        self._diverged = True  # memory holds what the journal may not: no snapshot of it
                        raise
            return self.escrow.with_mandates(self.mandate, [vs.envelope for vs in signed])
        finally:
            if locked:
                self.lock.release()

    def _faucet_due(self, envelopes: Sequence[bytes]) -> dict[str, list[bytes]]:
        """The agents the test-only faucet (``faucet`` > 0, ``escrow serve --conformance-faucet``) pays
        ``faucet`` for this Submit, each once, with the Mandates (digests) it pays them for: the agent of
        every Mandate in ``envelopes`` that holds nothing here yet -- one the ledger never credited, or
        one holding nothing again whose Mandate the faucet never paid for (a Mandate re-granted: a refill)
        --; its Deposits are ledger entries, not part of the answer, and a Submit that pays is no repeat
        (ESC-007). None within :func:`faucet_shut` (CTL-002: the Submit of a caller that is not the
        escrow's operator's). Which Mandates it paid for is journaled (META_FAUCET_PAID), not read from
        what the escrow holds: a stranger who submitted the re-granted Mandate first, paid nothing,
        had the operator's refill pay nothing either (the Mandate was held)."""
        if not self.faucet or _FAUCET_SHUT.get():
            return {}
        due: dict[str, list[bytes]] = {}
        for env in envelopes:
            try:
                vs = verify_statement(env)
            except CoopError:
                continue  # the Submit itself reports it
            if vs.body != "mandate" or vs.digest in self._faucet_paid:
                continue
            agent = vs.statement.mandate.agent
            if agent in due or not self.escrow.ever_credited(agent) or self.escrow.balance(agent) == (0, 0):
                due.setdefault(agent, []).append(vs.digest)
        return due

    def _stage(self, meta: dict[str, Any] | None) -> Ticket | None:
        """:meth:`_persist`, staged for the journal's group commit (None if there is nothing to write)."""
        taken = self.escrow.drain_unsaved()
        if not taken:
            return None
        items, meta = self._journaled(taken, meta)
        return self.journal.stage_batch(items, at_ms=self.now(), meta=meta)

    def _journaled(
        self, taken: Sequence[VerifiedStatement], meta: dict[str, Any] | None
    ) -> tuple[list[tuple[VerifiedStatement | None, list[VerifiedStatement], bool]], dict[str, Any] | None]:
        """What the escrow took, as journal rows -- our statements, then evidence -- and ``meta`` with each
        binding shown among them (KEY-007, KEY-008) under META_SHOWN_BINDINGS: in no chain, it is kept
        out of the journal's statements (their seq and nonce indexes serve the chain and replay checks),
        in the same transaction as the revocation it authorised."""
        items: list[tuple[VerifiedStatement | None, list[VerifiedStatement], bool]] = []
        for vs in taken:
            shown = self.escrow.shown_binding(vs.digest)
            if shown is not None:
                name = f"{META_SHOWN_BINDINGS}/{shown.key}/{shown.principal}"
                if not shown.revocation:  # refused KEY_REVOKED (KEY-007 (a)): each kept, each binds earlier
                    name += f"/{vs.digest.hex()}"
                meta = {**(meta or {}), name: list(shown)}
            elif vs.issuer == self.escrow.did:
                items.append((None, [vs], False))
            else:
                items.append((vs, [], False))
        return items, meta

    def _answered(self, key: str) -> list[bytes] | None:
        """The digests of an earlier answer to the Submit ``key`` names, from the journal."""
        digests: list[bytes] | None = self.journal.get_meta(key)
        if digests is None:
            return None
        for digest in digests:
            if digest not in self.escrow.verifier.statements:  # pragma: no cover - one transaction
                raise JournalCorrupt(f"statement {digest.hex()} of an earlier Submit answer is missing")
        return digests

    def _durable(self, ticket: Ticket | None) -> None:
        """Return once ``ticket`` -- the last journal write a Submit staged, read under the lock -- and so
        every write staged before it is durable (called without the lock: writes commit in order)."""
        if ticket is not None:
            self.journal.wait(ticket)

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        with self.lock:
            page = self.escrow.ledger(from_seq, limit), max(self.escrow.ledger_size - 1, 0)
            pending = self._last_ticket
        self._durable(pending)  # what a Submit just signed leaves only once journaled (write-ahead)
        return page

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        with self.lock:
            envelopes, next_seq, next_opening = self.escrow.transcript_page(
                from_seq, limit, max_bytes, opening_from
            )
            page = envelopes, max(self.escrow.ledger_size - 1, 0), next_seq, next_opening
            pending = self._last_ticket
        self._durable(pending)
        return page

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        with self.lock:
            available, locked = self.escrow.balance(party)
            return available, locked, self.escrow.currency, max(self.escrow.ledger_size - 1, 0)

    def tick(self) -> list[VerifiedStatement]:
        with self.lock:
            try:
                ticked = self.escrow.tick(self.now())
            finally:
                self._persist()
            self._snapshot()  # after a tick that went through only
            return ticked

    def start_ticking(self, every_s: float = 0.5) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.tick()
                except Exception:  # a bug, not an input: said, and the next tick tries again
                    # A ticker that died here would leave the process serving Submits with no ruling,
                    # lapse or refund ever signed again, and say nothing.
                    log.exception("escrow: a tick failed; ticking on")

        thread = threading.Thread(target=loop, name="escrow-tick", daemon=True)
        thread.start()
        self._ticker = thread
        return thread

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()  # a tick under way finishes before the journal closes
        with self.lock:
            try:
                if self.strangers is not None and self.strangers.pending.dirty:  # ESC-017's marks, kept
                    self.journal.put_meta(META_REVOCATION_MARKS, self.strangers.pending.dump(self.now()))
                self._snapshot(force=True)  # the next start replays nothing
            except JournalError:  # a failed journal: the next start replays from the last snapshot
                log.warning("escrow: no snapshot at close", exc_info=True)
            finally:
                self.journal.close()
