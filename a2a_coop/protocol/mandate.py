"""Mandate checks: what a principal allowed its agent to sign (SPEC.md section 4, MND-*).

Two kinds of check, both pure:

* :func:`check_against_mandate` needs only the statement, its mandate and (for
  an Accept) the proposal accepted: validity window, counterparties,
  categories, currency, per-deal range, execution window, offer lifetime
  (MND-003..MND-008, MND-013).
* :class:`ExposureBook` keeps, per mandate, what the agent has at stake (live
  offers and open contracts) and what it committed in each budget period, so
  a new offer or accept can be refused for breaking the budget (MND-009) or the
  ratchet cap on outstanding obligations (MND-010).

The same functions run in the signer's policy guard *before* a statement is
signed (MND-011) and in every verifier *after* it arrives, so a strategy or
an LLM can propose anything and still never get a statement outside its
mandate signed. A verifier holding only part of an agent's statements can
under-count (it missed commitments) or over-count (it missed the Withdraw that
ended one); SPEC.md section 4.5 says who is conclusive: the signer's guard and
whoever holds the agent's complete log.

Theory of operation of the exposure book. Time is always ``t``, the
``issued_at_ms`` of the statement being checked, never a clock.

* The budget (MND-009) is kept so that *no order of acceptance* can exceed it.
  A live Offer or Counter reserves its value in every budget period its
  interval ``[issued_at, expires_at]`` overlaps (at most two: MND-013), because
  the counterparty may accept it at any instant of that interval and the
  contract is charged to the period of the Accept. When it is accepted the
  reservations collapse onto that one period, which was one of them, so
  acceptance never raises any period's sum: only the agent's own Offer, Counter
  and Accept do, and each is checked against every period it charges. This
  needs the offer to be counted by every check made before its Accept arrives,
  which holds when statements are judged in issue order (the Accept is issued
  no later than expires_at). A live receiver may take an Accept up to its skew
  after issue (TIM-006), so a policy guard counts offers that much longer
  (``grace_ms``); verifiers use the rule as written.
* Each sum is kept incrementally: per period, the value of contracts formed in
  it (a dict, which only grows), and the value of live offers charging it; the
  outstanding total (MND-010) is one running sum of live offers and one of open
  contracts. What stops counting with time (an offer past expires_at, a
  contract past its last deadline + CLAIM_WINDOW_MS) sits in a heap keyed by
  that time and leaves the sums when a check at a later ``t`` sweeps past it
  (:class:`_Expiring`). What stops counting by a statement (Withdraw, Reject,
  Counter, Accept, a terminal contract) leaves the sums at once and its heap
  entry is dropped lazily. So every check and update costs O(log n) amortised
  in the agent's live offers and contracts, and nothing is ever re-summed or
  re-sorted. A check at an earlier ``t`` than the last one (a sparse view
  receiving an old statement) moves the sweep back; that costs the entries it
  passes, and the sums stay exact.
* Dated starts (SPEC 4.5: an offer or contract counts only for a statement it started before) are one
  more such sweep per kind, of what has not started yet (an entry until its start - 1), subtracted: a
  view fed a chain backwards moves it down once, as one fed it forwards moves the others up, so neither
  pays for every later start held at each check.
* A forgotten negotiation's finished contract and answered offers (a peer with a journal forgets what is
  over for good) leave the sweeps for a compact record each, sorted by the last place it matters at; a
  check after all of them (the live case: they ended before it) reads none. With an archive only the
  latest :data:`FORGOTTEN_KEPT` to twice as many stay in memory; a check before one of the others ends
  reads those from the archive (:class:`~a2a_coop.protocol.archive.ExposureArchive`), so memory stays
  bounded over a long life and the verdicts stay those of a verifier that held everything.
* Integers (MND-014): every value is at most 2^53 - 1 (BDY-015) and every sum
  here is an exact Python int. The rules compare sums of non-negative values
  with caps of at most 2^53 - 1, so an implementation may compute those sums
  saturating at any value >= 2^53 and reach identical verdicts: a saturated sum
  exceeds every cap exactly when the exact sum does. (Running totals that are
  also subtracted from, as kept here, must not saturate; 128-bit integers hold
  2^75 values of 2^53 each.)
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Final

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.archive import ExposureArchive
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement

Mandate = identity_pb2.Mandate
# Where an Offer or Counter keeps its own side's terms once read (see _own_terms).
_OWN_TERMS: Final = "_own_terms"


def _violation(requirement: str, detail: str) -> MandateViolation:
    return MandateViolation(detail, requirement=requirement)


def side_value(proposal: trade_pb2.Offer, issuer_side: bool) -> int:
    """Declared value one side puts at stake: its items plus its bond (MND-004).

    ``issuer_side`` is True for the side of the proposal's signer (``gives`` and
    ``issuer_bond``), False for its audience (``wants`` and ``audience_bond``).
    """
    terms = proposal.terms
    if issuer_side:
        return _items_value(proposal.gives) + terms.issuer_bond
    return _items_value(proposal.wants) + terms.audience_bond


def _items_value(items: Sequence[trade_pb2.Item]) -> int:
    total = 0
    for i in range(len(items)):  # indexing upb repeated fields is cheaper than iterating them
        total += items[i].value
    return total


def committed_value(vs: VerifiedStatement, accepted: trade_pb2.Offer | None = None) -> int | None:
    """What signing ``vs`` puts at stake for its issuer, or None if it commits nothing.

    Offer and Counter commit the issuer's own side; an Accept commits the
    acceptor's side of ``accepted`` (the audience side of that proposal).
    """
    body = vs.body
    if body in ("offer", "counter"):
        return _own_terms(vs)[0]
    if body == "accept" and accepted is not None:
        return side_value(accepted, False)
    return None


def _own_terms(vs: VerifiedStatement) -> tuple[int, trade_pb2.Offer, str, int]:
    """An Offer's or Counter's ``(own side value, proposal, currency, last deadline of any item)``,
    read once per statement and kept on it: the guard, the mandate check and the exposure book of
    every verifier that handles the statement ask for them (a signed statement never changes)."""
    kept = vs.__dict__
    terms = kept.get(_OWN_TERMS)
    if terms is None:
        proposal = vs.statement.offer if vs.body == "offer" else vs.statement.counter.proposal
        terms = _proposal_terms(proposal, True)
        kept[_OWN_TERMS] = terms
    return terms


def _proposal_terms(proposal: trade_pb2.Offer, issuer_side: bool) -> tuple[int, trade_pb2.Offer, str, int]:
    """``(side value, proposal, currency, last deadline)`` of one side of ``proposal`` (see
    :func:`side_value`); the last deadline is over both sides' items (0 when none has one)."""
    t = proposal.terms
    gives, wants = proposal.gives, proposal.wants
    value = t.issuer_bond if issuer_side else t.audience_bond
    own = gives if issuer_side else wants
    last = 0
    for items in (gives, wants):
        for i in range(len(items)):  # indexing upb repeated fields is cheaper than iterating them
            item = items[i]
            last = max(last, item.deadline_ms)
            if items is own:
                value += item.value
    return value, proposal, t.currency, last


def last_deadline(vs: VerifiedStatement, accepted: trade_pb2.Offer | None = None) -> int | None:
    """The last Item.deadline_ms over both sides of an Offer's or Counter's proposal, or of the proposal
    ``accepted`` an Accept accepts (0 when no item has one); None for any other statement, or an Accept
    whose proposal is not held."""
    if vs.body in ("offer", "counter"):
        return _own_terms(vs)[3]
    if vs.body == "accept" and accepted is not None:
        return _proposal_terms(accepted, False)[3]
    return None


def check_against_mandate(
    vs: VerifiedStatement, mandate: identity_pb2.Mandate, accepted: trade_pb2.Offer | None = None
) -> None:
    """MND-002 (binding), MND-003..MND-008, then MND-013 (step 24). Raises MandateViolation.

    Args:
        vs: the statement, already through :func:`verify_statement`.
        mandate: the Mandate body its ``header.mandate`` names.
        accepted: for an Accept, the proposal being accepted (if known).
    """
    if mandate.agent != vs.issuer:
        raise _violation("MND-002", "the mandate delegates to a different key")
    issued = vs.issued_at_ms
    if not mandate.valid_from_ms <= issued < mandate.valid_until_ms:
        raise _violation("MND-003", "issued outside the mandate's validity window")
    audience = vs.audience
    if audience:
        counterparties = mandate.allowed_counterparties
        if counterparties and audience not in counterparties:
            raise _violation("MND-005", "audience is not an allowed counterparty")
    body = vs.body
    if body in ("offer", "counter"):
        value, proposal, currency, last_deadline = _own_terms(vs)
    elif body == "accept" and accepted is not None:
        value, proposal, currency, last_deadline = _proposal_terms(accepted, False)
    else:
        return
    categories = mandate.allowed_categories
    if categories:
        allowed = set(categories)
        for items in (proposal.gives, proposal.wants):
            for i in range(len(items)):
                category = items[i].category
                if category not in allowed:
                    raise _violation("MND-006", f"category {category!r} is not allowed")
    if currency != mandate.currency:
        raise _violation("MND-007", f"currency {currency!r} is not the mandate's")
    if not mandate.min_per_deal <= value <= mandate.max_per_deal:
        raise _violation(
            "MND-004", f"deal value {value} outside [{mandate.min_per_deal}, {mandate.max_per_deal}]"
        )
    if last_deadline > (mandate.execution_window_end_ms or mandate.valid_until_ms):
        raise _violation("MND-008", "a deadline falls after the mandate's execution window")
    if body != "accept" and mandate.period_ms and mandate.budget_per_period:
        # An offer may be accepted at any instant of its life and reserves budget in every period it
        # overlaps (MND-009); bounding its life by one period bounds that to two periods.
        lifetime = vs.expires_at_ms - issued
        if lifetime > mandate.period_ms:
            raise _violation(
                "MND-013", f"offer lifetime {lifetime} ms > budget period {mandate.period_ms} ms"
            )


# A threshold before any uint64 time, for "no sweep yet".
_FAR_PAST: Final = -(1 << 65)
# Contracts count at a statement's place, (issued_at_ms, seq), not its time alone (SPEC 4.5: an ending
# counts for a statement only if it is before it): a place is the threshold ``ms * _SPAN + seq + 1``,
# every seq (a uint64) + 1 below _SPAN - 1; ``ms * _SPAN + _SPAN - 1`` is after every place in that ms.
_SPAN: Final = 1 << 65
_NEVER_ENDS: Final = 1 << 140  # beyond every place
_NO_START: Final = -(1 << 141)  # before every place: what counts for every statement
_PLACE_BITS: Final = 143  # every place and threshold minus _NO_START is below 2^143
_PLACE_MASK: Final = (1 << _PLACE_BITS) - 1


def _place(ms: int, seq: int | None) -> int:
    """The contracts' threshold of a statement at ``ms`` with ``seq``; None: after every one in ``ms``."""
    return ms * _SPAN + (_SPAN - 1 if seq is None else seq + 1)


# An exposure with an archive keeps this many to twice as many of its latest forgotten records in memory.
FORGOTTEN_KEPT: int = 256
_LATEST_BYTES: Final = 18  # a place minus _NO_START, big-endian: every one below 2^143 < 2^144


def _latest_bytes(latest: int) -> bytes:
    """``latest`` as bytes that compare as it does (the archive's order)."""
    return max(latest - _NO_START, 0).to_bytes(_LATEST_BYTES, "big")


def _record_bytes(latest: int, packed: int, buckets: tuple[int, ...]) -> bytes:
    """A forgotten record as the archive keeps it (see :meth:`Exposure._freeze`): ``latest``, the length
    of ``packed`` and ``packed``, then its periods."""
    size = (packed.bit_length() + 7) // 8
    out = bytearray(_latest_bytes(latest)) + bytes([size]) + packed.to_bytes(size, "big")
    for b in buckets:
        out += b.to_bytes(8, "big", signed=True)
    return bytes(out)


def _record_from(record: bytes) -> tuple[int, int, tuple[int, ...]]:
    """``(latest, packed, buckets)`` of a record :func:`_record_bytes` wrote."""
    latest = int.from_bytes(record[:_LATEST_BYTES], "big") + _NO_START
    size = record[_LATEST_BYTES]
    at = _LATEST_BYTES + 1 + size
    packed = int.from_bytes(record[_LATEST_BYTES + 1 : at], "big")
    buckets = tuple(int.from_bytes(record[i : i + 8], "big", signed=True) for i in range(at, len(record), 8))
    return latest, packed, buckets


# The key prefix of a forgotten displaced contract's period share (:meth:`Exposure._freeze_share`), beside
# b"0" (an answered offer) and b"1" (a contract).
_SHARE: Final = b"2"


def _counted(
    latest: int,
    packed: int,
    buckets: tuple[int, ...],
    key: bytes,
    place: int,
    *,
    dated_starts: bool,
    period: int | None,
) -> int:
    """What a forgotten record ``key`` counts at ``place`` toward outstanding (``period`` None) or in
    ``period``: what its entries did in the sweeps -- an offer (kind 0) in total and in its periods while its
    until is not below ``place``, a contract (1) in total so (its period's share is in ``_formed``), both
    minus their value, with ``dated_starts``, while not started (start - 1 not below ``place``); a displaced
    contract's period share (:data:`_SHARE`) in its period alone while its until is not below ``place``, as
    ``_displaced`` counted it (its contract's record subtracts it before its start)."""
    other = (packed >> 2 & _PLACE_MASK) + _NO_START
    value = packed >> (_PLACE_BITS + 2)
    if period is not None and period not in buckets:
        return 0
    if key[:1] == _SHARE:
        return value if period is not None and other >= place else 0
    kind = packed & 1
    until, start = (other, latest) if packed & 2 else (latest, other)
    counted = value if until >= place and (period is None or not kind) else 0
    if dated_starts and start >= place:
        counted -= value
    return counted


@dataclass(slots=True)
class _Entry:
    value: int
    until: int  # counts while until >= the query threshold
    buckets: tuple[int, ...]  # the budget periods it is charged to (empty for contracts)
    serial: int  # tells a heap item of this entry from one of an earlier entry under the same key


class _Expiring:
    """Values that count until a time unless removed first, summed at any threshold, in total and per
    bucket, each query O(log n) amortised when thresholds mostly rise.

    An entry counts at threshold ``tau`` iff it is held (added, not removed) and ``until >= tau``.
    The sums are exact at ``self._tau``, the last threshold asked for. Entries counted there sit in
    ``_ahead`` (a min-heap by until); entries no longer counted there sit in ``_behind`` (ascending
    by until, every until < ``_tau``), so moving the threshold up pops the heap and moving it down
    pops the list's tail, each entry moving once per pass. A removed entry leaves the sums at once
    and its item in either structure is skipped when met (lazy deletion); both are compacted when
    more than half garbage, so memory stays linear in what is held.
    """

    def __init__(self) -> None:
        self.items: dict[bytes, _Entry] = {}
        self._tau = _FAR_PAST
        self._total = 0  # value of entries counted at _tau
        self._counted = 0  # how many entries are counted at _tau
        self._by_bucket: dict[int, int] = {}  # bucket -> value of entries counted at _tau
        self._ahead: list[tuple[int, int, bytes]] = []  # (until, serial, key)
        self._behind: list[tuple[int, int, bytes]] = []
        self._serial = 0

    def add(self, key: bytes, value: int, until: int, buckets: tuple[int, ...] = ()) -> None:
        if key in self.items:  # most keys are new: no call to find nothing
            self.remove(key)
        self._serial += 1
        entry = _Entry(value, until, buckets, self._serial)
        self.items[key] = entry
        if until < self._tau:  # already past the last threshold: behind it, in until order, uncounted
            insort(self._behind, (until, entry.serial, key))
            return
        heappush(self._ahead, (until, entry.serial, key))
        self._count(entry, 1)

    def remove(self, key: bytes) -> None:
        entry = self.items.pop(key, None)
        if entry is None:
            return
        if entry.until >= self._tau:
            self._count(entry, -1)
        self._compact()

    def total(self, tau: int) -> int:
        self._move_to(tau)
        return self._total

    def bucket(self, bucket: int, tau: int) -> int:
        self._move_to(tau)
        return self._by_bucket.get(bucket, 0)

    # -- internals -------------------------------------------------------------------

    def _held(self, item: tuple[int, int, bytes]) -> _Entry | None:
        entry = self.items.get(item[2])
        return entry if entry is not None and entry.serial == item[1] else None

    def _count(self, entry: _Entry, sign: int) -> None:
        delta = sign * entry.value
        self._total += delta
        self._counted += sign
        for b in entry.buckets:
            left = self._by_bucket.get(b, 0) + delta
            if left:
                self._by_bucket[b] = left
            else:
                self._by_bucket.pop(b, None)  # keep the dict as small as the periods in use

    def _move_to(self, tau: int) -> None:
        if tau > self._tau:
            while self._ahead and self._ahead[0][0] < tau:
                item = heappop(self._ahead)
                entry = self._held(item)
                if entry is not None:
                    self._count(entry, -1)
                    self._behind.append(item)  # pops come in until order, all >= every until behind
        elif tau < self._tau:
            while self._behind and self._behind[-1][0] >= tau:
                item = self._behind.pop()
                entry = self._held(item)
                if entry is not None:
                    self._count(entry, 1)
                    heappush(self._ahead, item)
        self._tau = tau

    def _compact(self) -> None:
        # Each pass is linear but follows at least as many removals as it keeps items: O(1) amortised.
        if len(self._ahead) > 2 * self._counted + 32:
            self._ahead = [item for item in self._ahead if self._held(item) is not None]
            heapify(self._ahead)
        if len(self._behind) > 2 * (len(self.items) - self._counted) + 32:
            self._behind = [item for item in self._behind if self._held(item) is not None]


class Exposure:
    """What one agent, under one mandate, has at stake, and what it committed per budget period.

    Args:
        period_origin_ms: the mandate's valid_from_ms, where period 0 starts.
        period_ms: the mandate's period_ms; 0 makes the whole validity interval one period.

    Attributes:
        live_offers: digest -> ``(value, issued_at, expires_at)`` of each of the agent's offers that
            is still its negotiation's outstanding offer (whether or not expired at a given time).
        open_contracts: contract id -> ``(value, formed_at)`` of each contract not yet finished
            (whether or not past its last deadline + CLAIM_WINDOW_MS at a given time). A finished
            contract moves to ``finished_contracts``, where it still counts toward outstanding for
            statements issued up to its ending (SPEC 4.5), and in the period it was formed in for
            statements after its Accept (:meth:`formed_in`: one sum per period, the statements before
            its Accept subtracted by ``_unstarted``). When its negotiation is forgotten it leaves these
            rows and counts on, exactly, from a compact record (``_frozen``, a few hundred bytes); with
            an archive (:attr:`archive`), only the latest :data:`FORGOTTEN_KEPT` to twice as many such
            records stay in memory, the older ones are written there and read back only for a statement
            dated before one of them ends.
    """

    def __init__(self, period_origin_ms: int = 0, period_ms: int = 0) -> None:
        self.period_origin_ms = period_origin_ms if period_ms else 0  # one period: no origin to mind
        self.period_ms = period_ms
        self.live_offers: dict[bytes, tuple[int, int, int]] = {}
        self.open_contracts: dict[bytes, tuple[int, int]] = {}
        self.finished_contracts: dict[bytes, tuple[int, int]] = {}  # the same, of finished ones still counted
        # The same as live_offers, of offers answered (a Counter, Reject or Withdraw) that still count for
        # a statement the answer is not before (SPEC 4.5), until their negotiation is forgotten.
        self.answered_offers: dict[bytes, tuple[int, int, int]] = {}
        self._offers = _Expiring()  # until expires_at; charged to every period the offer overlaps
        # Answered offers, until the answer's place (no grace: its own date); accepted ones too, until
        # their Accept's place, where their contract starts (SPEC 4.5).
        self._answered = _Expiring()
        self._contracts = _Expiring()  # until last deadline + CLAIM_WINDOW_MS (MND-010)
        self._formed: dict[int, int] = {}  # period -> value of contracts formed in it, open or ended
        # Contracts a witnessed Accept displaced (NEG-019), in the period they were formed in, until that
        # Accept's place: for a statement it is not before they count as if it were not held (SPEC 4.5).
        self._displaced = _Expiring()
        # Where each offer and contract held started (SPEC 4.5: it counts for a statement only if it
        # started before it): an offer at its own (issued_at, seq), a contract at its Accept's place.
        # What has not started yet at a threshold: each offer (kind 0) and contract (1) with a start, at
        # its value and periods, until its start - 1 -- so counted exactly at the thresholds before its
        # start, where the sums above count it too (an entry there counts at least until its start - 1,
        # :meth:`_from_start`): subtracted, each entry counts in [start, until]. Both swept as the others
        # are, so a view fed a chain backwards pays O(log n) a check as one fed it forwards does.
        self._unstarted = (_Expiring(), _Expiring())
        self._last_unstarted = _FAR_PAST * _SPAN  # >= every until in _unstarted: above it, none counts
        # Answered offers (kind 0) and contracts (1) whose negotiation is forgotten, out of the sweeps
        # above to keep memory small: ``(latest, packed, buckets, key)`` sorted, ``latest`` the larger of
        # ``until`` (as in ``_answered`` or ``_contracts``) and ``start - 1`` (as in ``_unstarted``;
        # _NO_START if none), ``packed`` the value, the other of the two, which it is, and the kind
        # (:meth:`_freeze`), ``key`` the kind and the digest -- or :data:`_SHARE` and the digest of a
        # displaced contract, for its period's share (:meth:`_freeze_share`). At a threshold above
        # ``latest`` such an offer adds nothing, and such a contract nothing to outstanding and its whole
        # value to its period (in ``_formed``), as they would held; a query at or below it adds what they
        # count there (:meth:`_forgotten`), from the tail of this list and, below ``_archived``, from the
        # archive.
        self._frozen: list[tuple[int, int, tuple[int, ...], bytes]] = []
        # Where records older than the latest FORGOTTEN_KEPT go (set by its ExposureBook: a verifier's
        # archive, when it is an ExposureArchive); None: every one stays in memory (a view never forgets).
        self.archive: ExposureArchive | None = None
        self.name = b""  # its rows' book in the archive (ExposureBook: the mandate's digest)
        self._archived = _NO_START - 1  # the largest latest of the records written to the archive
        self._retry_at = 0  # after the archive refused records: how many to hold before trying again

    def period_of(self, t_ms: int) -> int:
        """Index of the budget period containing ``t_ms`` (period 0 starts at valid_from_ms)."""
        return (t_ms - self.period_origin_ms) // self.period_ms if self.period_ms else 0

    def periods_between(self, start_ms: int, end_ms: int) -> range:
        """The budget periods that ``[start_ms, end_ms]`` overlaps."""
        return range(self.period_of(start_ms), self.period_of(end_ms) + 1)

    def outstanding(
        self, now_ms: int, grace_ms: int = 0, seq: int | None = None, *, dated_starts: bool = True
    ) -> int:
        """MND-010's outstanding value at ``now_ms``: offers live then (``expires_at + grace_ms >=
        now_ms``) plus contracts open then (not finished before it, ``now_ms <= last deadline +
        CLAIM_WINDOW_MS``). ``seq``: the checked statement's, which a contract finished in ``now_ms`` by
        its issuer's own statement above it in its chain still counts for; None: after all of ``now_ms``.
        ``dated_starts``: count only offers and contracts that started before that statement (SPEC 4.5);
        False, every one held (a policy guard's own: what it holds binds it, whatever its date)."""
        place = _place(now_ms, seq)
        answered = self._answered.total(place) if self._answered.items else 0
        total = self._offers.total(now_ms - grace_ms) + answered + self._contracts.total(place)
        if (self._frozen and self._frozen[-1][0] >= place) or self._archived >= place:
            total += self._forgotten(place, dated_starts, None)
        if dated_starts and self._last_unstarted >= place:  # some started after the statement
            for unstarted in self._unstarted:
                if unstarted.items:
                    total -= unstarted.total(place)
        return total

    def committed(
        self,
        period: int,
        now_ms: int,
        grace_ms: int = 0,
        seq: int | None = None,
        *,
        dated_starts: bool = True,
    ) -> int:
        """MND-009's committed value of ``period`` at ``now_ms``: contracts formed in it (open or
        ended) plus offers live at ``now_ms`` (as in :meth:`outstanding`, ``seq`` and ``dated_starts``
        too) whose interval overlaps it."""
        place = _place(now_ms, seq)
        live = self._offers.bucket(period, now_ms - grace_ms)
        if (self._frozen and self._frozen[-1][0] >= place) or self._archived >= place:
            live += self._forgotten(place, dated_starts, period)
        if self._answered.items:  # answered after the statement at ``now_ms`` (as in outstanding)
            live += self._answered.bucket(period, place)
        total = self.formed_in(period) + live
        if self._displaced.items:
            total += self._displaced.bucket(period, place)
        if dated_starts and self._last_unstarted >= place:
            for unstarted in self._unstarted:
                if unstarted.items:
                    total -= unstarted.bucket(period, place)
        return total

    def started_after(self, key: bytes, now_ms: int, seq: int | None) -> bool:
        """Whether the offer ``key`` started after the statement at ``(now_ms, seq)`` (SPEC 4.5)."""
        entry = self._unstarted[0].items.get(key)
        return entry is not None and entry.until >= _place(now_ms, seq)

    def _from_start(self, kind: int, key: bytes, until: int) -> int:
        """``until`` (a threshold an entry counts while >=), raised to the entry's start - 1 if below it:
        subtracted by its ``_unstarted`` entry before its start, it then counts in [start, until] exactly
        (nowhere when until < start)."""
        entry = self._unstarted[kind].items.get(key)
        return until if entry is None else max(until, entry.until)

    def _start(
        self, kind: int, key: bytes, at: tuple[int, int] | None, value: int, buckets: tuple[int, ...]
    ) -> None:
        """Record where ``key`` started, ``(time, seq)`` as in :meth:`offer_answered`; None: before all."""
        unstarted = self._unstarted[kind]
        if at is None or key in unstarted.items:
            return
        until = at[0] * _SPAN + at[1]  # counted before at[0] * _SPAN + at[1] + 1
        unstarted.add(key, value, until, buckets)
        self._last_unstarted = max(self._last_unstarted, until)

    def _forget_start(self, kind: int, key: bytes) -> None:
        self._unstarted[kind].remove(key)

    def formed_in(self, period: int) -> int:
        """Value of the contracts formed in ``period``, open or ended."""
        return self._formed.get(period, 0)

    # -- recording ---------------------------------------------------------------------

    def offer_live(
        self,
        digest: bytes,
        value: int,
        issued: int,
        expires: int,
        *,
        until: int | None = None,
        seq: int | None = None,
    ) -> None:
        """``until``: count it (in every period it overlaps) until then rather than ``expires`` -- a
        guard's own offer an escrow may bind it to after its expiry (section 4.5); :meth:`offer_dead`
        ends it sooner. ``seq``: its seq in the agent's chain; it counts for a statement only if it is
        before it, ``(issued, seq)`` below the statement's place (SPEC 4.5). None: for every statement."""
        # A zero-value offer reserves nothing; skipping it also spares walking the periods of a
        # long-lived one, which MND-013 allows only when there is no budget to reserve.
        periods = tuple(self.periods_between(issued, expires)) if value else ()
        self.live_offers[digest] = (value, issued, expires)
        self._start(0, digest, None if seq is None else (issued, seq), value, periods)
        self._offers.add(digest, value, expires if until is None else max(until, expires), periods)

    def offer_dead(self, digest: bytes) -> None:
        """The offer counts no more, for any statement (our guard's escrow took its answer, or it is an
        accepted offer of value 0)."""
        if self.live_offers.pop(digest, None) is not None:
            self._offers.remove(digest)
        if self.answered_offers.pop(digest, None) is not None:
            self._answered.remove(digest)
        self._forget_start(0, digest)

    def offer_answered(self, digest: bytes, at: tuple[int, int]) -> None:
        """The offer was answered (a Counter, Reject or Withdraw, or cut off its line by a witnessed
        Accept) by a statement at ``at``: ``(time, seq)``, the seq the answer's when the agent signed it,
        else -1 (SPEC 4.5). It still counts, in total and in each period it charges, for a statement at
        ``(t, s)`` while ``(t, s) <= at`` -- an answer dated after a statement, or the agent's own above
        it in its chain in the same ms, does not free it for that statement, whatever order the two came
        in. Called again (an offer already answered), the earlier answer stands. No grace: the answer's
        date is its signer's, and a taken answer is dated no later than the offer's expires_at (section
        8.7), so an offer counts for a statement before its answer by the rule as written."""
        until = at[0] * _SPAN + at[1] + 1
        row = self.live_offers.pop(digest, None)
        if row is not None:
            entry = self._offers.items[digest]
            self._offers.remove(digest)
            until = min(until, _place(entry.until, None))
            self.answered_offers[digest] = row
        else:
            entry = self._answered.items.get(digest)  # type: ignore[assignment]
            if entry is None and self._thaw(0, digest, until):  # forgotten: it is answered sooner now
                entry = self._answered.items[digest]
            if entry is None or entry.until <= until:
                return
        self._answered.add(digest, entry.value, self._from_start(0, digest, until), entry.buckets)

    def offer_reanswered(self, digest: bytes, at: tuple[int, int]) -> None:
        """The answer that ended the offer moves nothing any more and another at ``at`` does (NEG-021 (d):
        a lower answer the line's witnessed contract passed): it counts until ``at`` -- later or sooner than
        before -- as :meth:`offer_answered` dates it. A live one is answered at ``at``."""
        entry = self._answered.items.get(digest)
        if entry is None:
            self.offer_answered(digest, at)
            return
        until = self._from_start(0, digest, at[0] * _SPAN + at[1] + 1)
        self._answered.add(digest, entry.value, until, entry.buckets)

    def answer_forgotten(self, digest: bytes) -> None:
        """Its negotiation is forgotten: an answered offer still counts exactly as it did (from its place
        until its answer: SPEC 4.5), kept in a compact form (``_frozen``) until a statement before its
        answer is checked. A live one stays as it is."""
        if self.answered_offers.pop(digest, None) is not None:
            self._freeze(0, self._answered, digest)

    def _freeze(self, kind: int, sweep: _Expiring, key: bytes) -> int | None:
        """``key``'s entry of ``sweep`` (kind 0: ``_answered``, 1: ``_contracts``) and its start as one
        record (see ``_frozen``); returns the record's latest, None if it held none."""
        entry = sweep.items.get(key)
        if entry is None:
            return None
        unstarted = self._unstarted[kind].items.get(key)
        start = _NO_START if unstarted is None else unstarted.until
        sweep.remove(key)
        self._unstarted[kind].remove(key)
        until, value, buckets = entry.until, entry.value, entry.buckets
        # Packed in one int beside the sort key: a forgotten trade's records stay small.
        other = until if until < start else start
        packed = (value << _PLACE_BITS | (other - _NO_START)) << 2 | (until < start) << 1 | kind
        latest = max(until, start)
        self._keep_frozen(latest, packed, buckets, b"%d" % kind + key)
        return latest

    def _freeze_share(self, contract: bytes, contract_latest: int) -> None:
        """A displaced contract's period share (``_displaced``, :meth:`contract_displaced`), frozen with its
        contract's record (latest ``contract_latest``): its until packed as an offer's, its latest no
        earlier than its contract's, so that :meth:`_thaw` finds it wherever it finds the contract."""
        entry = self._displaced.items.get(contract)
        if entry is None:
            return
        self._displaced.remove(contract)
        packed = (entry.value << _PLACE_BITS | (entry.until - _NO_START)) << 2
        self._keep_frozen(max(entry.until, contract_latest), packed, entry.buckets, _SHARE + contract)

    def _keep_frozen(self, latest: int, packed: int, buckets: tuple[int, ...], key: bytes) -> None:
        insort(self._frozen, (latest, packed, buckets, key))
        if self.archive is not None and len(self._frozen) > max(2 * FORGOTTEN_KEPT, self._retry_at):
            self._archive_older()

    def _find_frozen(self, key: bytes, since: int) -> tuple[int, int, tuple[int, ...], int] | None:
        """The forgotten record ``key`` whose latest is not below ``since``: ``(latest, packed, buckets,
        at)``, ``at`` its index in ``_frozen`` (-1: read from the archive), or None."""
        frozen = self._frozen
        i = len(frozen)
        while i and frozen[i - 1][0] >= since:
            i -= 1
            if frozen[i][3] == key:
                return (*frozen[i][:3], i)
        if self.archive is not None and self._archived >= since:
            rows = self.archive.forgotten_since(self.name, _latest_bytes(since))
            record = next((r for k, r in rows if k == key), None)
            if record is not None:
                return (*_record_from(record), -1)
        return None

    def _thaw(self, kind: int, digest: bytes, since: int, *, sooner: bool = True) -> bool:
        """A forgotten record (:meth:`_freeze`) that counts past ``since`` -- an offer (kind 0) answered, or a
        contract (1) ended or displaced, sooner than it said, by a statement of its negotiation read back
        and taken late (SPEC 4.5, MND-024) -- back into the sweeps as it was, so that the statement moves it
        as it would a held one; forgotten again with its negotiation. Looked for in memory among the records
        whose latest is not below ``since`` and, below ``_archived``, in the archive (a row there that the
        sweeps hold again is not counted from it, :meth:`_forgotten`). ``sooner``: only one that counts past
        ``since`` (an answer or an ending no sooner moves nothing, and the record stays); a displacement
        moves its period's share too. A displaced contract's period share comes back with it. False: there
        is none, or it stays."""
        found = self._find_frozen(b"%d" % kind + digest, since)
        if found is None:
            return False
        latest, packed, buckets, at = found
        other = (packed >> 2 & _PLACE_MASK) + _NO_START
        value = packed >> (_PLACE_BITS + 2)
        until, start = (other, latest) if packed & 2 else (latest, other)
        if sooner and until <= since:
            return False  # it moves nothing: stays as it is, forgotten
        if at >= 0:
            del self._frozen[at]
        share = self._find_frozen(_SHARE + digest, latest) if kind else None
        if share is not None:
            if share[3] >= 0:
                del self._frozen[share[3]]
            share_until = (share[1] >> 2 & _PLACE_MASK) + _NO_START
            self._displaced.add(digest, share[1] >> (_PLACE_BITS + 2), share_until, share[2])
        if start > _NO_START:
            self._unstarted[kind].add(digest, value, start, buckets)
            self._last_unstarted = max(self._last_unstarted, start)
        if kind:
            self._contracts.add(digest, value, until, buckets)
            self.finished_contracts[digest] = (value, 0)
        else:
            self._answered.add(digest, value, until, buckets)
            self.answered_offers[digest] = (value, 0, 0)
        return True

    def _archive_older(self) -> None:
        """Write all but the latest FORGOTTEN_KEPT records to the archive (durably, before they leave
        memory); if it cannot take them (a full disk; a journal opened only to read), they stay here,
        counted as before, and the next try waits until twice as many are held (amortised O(1))."""
        assert self.archive is not None
        older = self._frozen[: len(self._frozen) - FORGOTTEN_KEPT]
        rows = [
            (self.name, key, _latest_bytes(latest), _record_bytes(latest, packed, buckets))
            for latest, packed, buckets, key in older
        ]
        try:
            self.archive.keep_forgotten(rows)
        except Exception:  # a local fault of the archive: nothing is lost by keeping them
            self._retry_at = 2 * len(self._frozen)
            return
        del self._frozen[: len(older)]
        self._archived = max(self._archived, older[-1][0])

    def _forgotten(self, place: int, dated_starts: bool, period: int | None) -> int:
        """What the forgotten records count for a statement at ``place``: toward outstanding (``period``
        None) or in ``period`` (MND-009), as their entries would in the sweeps (:meth:`_freeze`). Those in
        memory whose ``latest`` is not below ``place``, and below ``_archived`` those in the archive (one
        also in memory, or held again, is counted from memory)."""
        total = 0
        frozen = self._frozen
        i = len(frozen)
        while i and frozen[i - 1][0] >= place:
            i -= 1
            latest, packed, buckets, key = frozen[i]
            total += _counted(latest, packed, buckets, key, place, dated_starts=dated_starts, period=period)
        if self._archived >= place:
            assert self.archive is not None, "records were archived: the archive must be attached"
            held = {key for *_, key in frozen}
            for key, record in self.archive.forgotten_since(self.name, _latest_bytes(place)):
                if key in held or self._holds(key):
                    continue
                latest, packed, buckets = _record_from(record)
                total += _counted(
                    latest, packed, buckets, key, place, dated_starts=dated_starts, period=period
                )
        return total

    @contextmanager
    def uncounted(self, key: bytes) -> Iterator[None]:
        """For the time of a check, the offer or contract ``key`` out of every sum (toward outstanding, in
        its periods, before its start), then back exactly as it was: a statement held and booked, checked
        again as a verifier meeting it first checked it, is not counted against itself."""
        sweeps = (self._offers, self._answered, self._contracts, self._displaced, *self._unstarted)
        held = [(sweep, sweep.items[key]) for sweep in sweeps if key in sweep.items]
        formed = self._contracts.items.get(key) if key not in self._displaced.items else None
        for sweep, _ in held:
            sweep.remove(key)
        if formed is not None:  # its period's share (a displaced one's is in _displaced)
            (period,) = formed.buckets
            self._formed[period] -= formed.value
        try:
            yield
        finally:
            for sweep, entry in held:
                sweep.add(key, entry.value, entry.until, entry.buckets)
            if formed is not None:
                self._formed[period] += formed.value

    def holds(self, digest: bytes) -> bool:
        """Whether an offer or contract ``digest`` counts here from the sweeps (live, answered or a contract
        not forgotten)."""
        return any(digest in sweep.items for sweep in (self._offers, self._answered, self._contracts))

    def _holds(self, key: bytes) -> bool:
        """Whether the offer or contract of a record ``key`` is held in the sweeps (again: a restart from
        a snapshot taken before it was forgotten holds it until it is forgotten again)."""
        digest = key[1:]
        if key[:1] == b"1":
            return digest in self._contracts.items
        if key[:1] == _SHARE:
            return digest in self._displaced.items
        return digest in self._answered.items or digest in self._offers.items

    def offer_accepted(self, digest: bytes, at: tuple[int, int], accepted_ms: int) -> None:
        """The offer was accepted by a statement at ``at`` (as in :meth:`offer_answered`) issued at
        ``accepted_ms``: its value moves to the contract, which counts it (in total and in the Accept's
        period) for a statement the Accept is before (:meth:`contract_formed`'s ``start``); for any other
        the offer still counts, in total and in each period it charged, as an answered offer does (SPEC
        4.5) -- an Accept dated after a statement, held first, takes nothing out for it, and no statement
        sees neither. An offer already answered (a witnessed Accept displaced the answer, NEG-019) keeps
        counting until that answer, as :meth:`offer_answered` says: for a statement the witnessed Accept is
        not before, the answer held stands, and the contract it led to counts (:meth:`contract_displaced`).
        Call before :meth:`contract_formed`."""
        del accepted_ms  # the contract's period is charged by contract_formed
        self.offer_answered(digest, at)
        entry = self._answered.items.get(digest)
        if entry is not None and not entry.value:
            self.offer_dead(digest)

    def contract_formed(
        self,
        contract: bytes,
        value: int,
        formed_at: int,
        counts_until: int | None = None,
        *,
        start: tuple[int, int] | None = None,
    ) -> None:
        """Record a contract; ``counts_until`` is its last deadline + CLAIM_WINDOW_MS (None: until
        it ends). The offer it came from must be ended with :meth:`offer_accepted` (dated: it counts
        until the Accept) or :meth:`offer_dead`.
        ``start``: its Accept's ``(time, seq)`` (the seq if the agent signed it, else -1); it counts,
        toward outstanding and in its period, only for a statement that place is before (SPEC 4.5).
        None: for every statement."""
        if contract in self._contracts.items:
            return  # formed once (NEG-006); a repeat must not charge its period twice
        period = self.period_of(formed_at)
        self._start(1, contract, start, value, (period,))
        self.open_contracts[contract] = (value, formed_at)
        self._formed[period] = self._formed.get(period, 0) + value
        until = _NEVER_ENDS if counts_until is None else _place(counts_until, None)
        # Its period rides along (unused by the sums of outstanding): :meth:`contract_displaced` reads it.
        self._contracts.add(contract, value, self._from_start(1, contract, until), (period,))

    def contract_ended(self, contract: bytes, at: tuple[int, int]) -> None:
        """The contract is finished by statements at ``at`` (``(time, seq)``, Contract.finished_at for
        this exposure's agent; SPEC 4.5): it counts toward outstanding for a statement at ``(t, s)``
        (and in its claim window) only while ``(t, s) <= at`` -- an ending dated after a statement, or
        its issuer's own statement above it in its chain in the same ms, does not free it for that
        statement, whatever order the two came in. Called again as the ending comes earlier. Its value
        stays in :meth:`formed_in`. Kept when its negotiation is forgotten: a forgotten contract counts
        exactly as a held one (SPEC 4.5)."""
        entry = self._contracts.items.get(contract)
        if entry is None:
            if not self._thaw(1, contract, at[0] * _SPAN + at[1] + 1):  # forgotten: it may end sooner now
                return
            entry = self._contracts.items[contract]
        row = self.open_contracts.pop(contract, None)
        if row is not None:
            self.finished_contracts[contract] = row
        until = self._from_start(1, contract, at[0] * _SPAN + at[1] + 1)
        if until < entry.until:
            self._contracts.add(contract, entry.value, until, entry.buckets)

    def contract_reopened(
        self, contract: bytes, counts_until: int | None, *, formed_ms: int | None = None
    ) -> None:
        """The statements that ended the contract no longer count (a revoked escrow key's own from its
        hand-over on, ESC-022 (e)): it counts again as one not finished, until ``counts_until`` (as
        :meth:`contract_formed`), as in a view that never took them; :meth:`contract_ended` then dates the
        ending the statements that count give, if any. One forgotten (its compact record, :meth:`_freeze`)
        comes back into the sweeps first, looked for among the records that count past ``formed_ms`` (its
        Accept's time: every place it counts at is after it); without ``formed_ms`` it is left as it is."""
        entry = self._contracts.items.get(contract)
        if entry is None:
            if formed_ms is None or not self._thaw(1, contract, formed_ms * _SPAN, sooner=False):
                return
            entry = self._contracts.items[contract]
        row = self.finished_contracts.pop(contract, None)
        if row is not None:
            self.open_contracts[contract] = row
        until = _NEVER_ENDS if counts_until is None else _place(counts_until, None)
        self._contracts.add(contract, entry.value, self._from_start(1, contract, until), entry.buckets)

    def contract_withdrawn(self, contract: bytes) -> None:
        """The Accept that formed the contract moves nothing any more (NEG-009 read again, the verifier's
        ``_settle_exclusive``): it counts nowhere -- not toward outstanding, not in its period -- as in a
        view that refused that Accept. One not held here (forgotten) is left as it is."""
        entry = self._contracts.items.get(contract)
        if entry is None or contract in self._displaced.items:
            return
        self._contracts.remove(contract)
        self._unstarted[1].remove(contract)
        self.open_contracts.pop(contract, None)
        self.finished_contracts.pop(contract, None)
        (period,) = entry.buckets
        left = self._formed.get(period, 0) - entry.value
        if left > 0:
            self._formed[period] = left
        else:
            self._formed.pop(period, None)

    def contract_undisplaced(self, contract: bytes) -> None:
        """The lower answer that displaced ``contract`` (NEG-021 (a), :meth:`contract_displaced`) moves
        nothing any more -- its escrow witnessed the contract (NEG-021 (d)): it counts in the period it was
        formed in again, as one never displaced; :meth:`contract_reopened` counts it toward outstanding
        again."""
        held = self._displaced.items.get(contract)
        if held is None:
            return
        self._displaced.remove(contract)
        (period,) = held.buckets
        self._formed[period] = self._formed.get(period, 0) + held.value

    def offer_unanswered(self, digest: bytes) -> None:
        """The answer that ended the offer moves nothing any more (:meth:`contract_withdrawn`): it counts
        again as a live offer, until its expires_at, as in a view that never took that answer."""
        row = self.answered_offers.pop(digest, None)
        entry = self._answered.items.get(digest)
        if row is None or entry is None:
            return
        self._answered.remove(digest)
        value, issued, expires = row
        self.live_offers[digest] = row
        self._offers.add(digest, value, expires, entry.buckets)
        del issued

    def contract_forgotten(self, contract: bytes) -> None:
        """Its negotiation, finished, is forgotten: the contract still counts exactly as it did (from its
        Accept, until its ending, in its period: SPEC 4.5), kept in a compact form (``_frozen``) until a
        statement before its ending or its Accept is checked. One displaced (:meth:`contract_displaced`)
        keeps its period's share, dated by the displacement, as a record of its own beside it."""
        self.finished_contracts.pop(contract, None)
        self.open_contracts.pop(contract, None)
        latest = self._freeze(1, self._contracts, contract)
        if latest is not None:
            self._freeze_share(contract, latest)

    def contract_displaced(self, contract: bytes, at: tuple[int, int]) -> None:
        """A witnessed Accept at ``at`` (as in :meth:`contract_ended`) displaced ``contract`` (NEG-019): for
        a statement that Accept is before it counts nowhere, not even in the period it was formed in; for
        any other it counts as it did (SPEC 4.5) -- a witnessed Accept dated after a statement, held
        first, takes nothing out for it."""
        entry = self._contracts.items.get(contract)
        if entry is None:
            if not self._thaw(1, contract, at[0] * _SPAN + at[1] + 1, sooner=False):  # displaced late
                return
            entry = self._contracts.items[contract]
        value, (period,) = entry.value, entry.buckets
        self.contract_ended(contract, at)
        until = self._from_start(1, contract, at[0] * _SPAN + at[1] + 1)
        held = self._displaced.items.get(contract)
        if held is not None:
            if until < held.until:
                self._displaced.add(contract, value, until, held.buckets)
            return
        left = self._formed.get(period, 0) - value
        if left > 0:
            self._formed[period] = left
        else:
            self._formed.pop(period, None)
        self._displaced.add(contract, value, until, (period,))


class ExposureBook:
    """Exposure per mandate digest, and the stateful mandate checks (MND-009, MND-010).

    Args:
        mandate_of: the Mandate a digest names, for its budget periods (valid_from_ms, period_ms).
            A Verifier passes its own lookup. Without one, or for a digest it does not know,
            an exposure has a single period, and :meth:`check` refuses to judge it against a
            mandate with other periods (ValueError) rather than sum the wrong periods.
    """

    def __init__(self, mandate_of: Callable[[bytes], Mandate | None] | None = None) -> None:
        self.by_mandate: dict[bytes, Exposure] = {}
        self._mandate_of = mandate_of
        self._empty: Exposure | None = None  # see _blank
        self.archive: ExposureArchive | None = None  # see use_archive

    def use_archive(self, archive: ExposureArchive | None) -> None:
        """Let each exposure keep only its latest forgotten records in memory, the older ones in
        ``archive`` (under its mandate's digest), read back when a check needs them (:class:`Exposure`)."""
        self.archive = archive
        for digest, exp in self.by_mandate.items():
            exp.archive, exp.name = archive, digest

    def _blank(self, periods: tuple[int, int]) -> Exposure:
        """An exposure with nothing recorded, under budget periods ``periods``, for checking a mandate's
        first statement. One is kept (for the last periods asked) and shared by such checks rather than
        built per check: a check records nothing in it, and moving its sweep changes no answer."""
        exp = self._empty
        if exp is None or (exp.period_origin_ms, exp.period_ms) != periods:
            exp = self._empty = Exposure(*periods)
        return exp

    def exposure(self, mandate_digest: bytes) -> Exposure:
        exp = self.by_mandate.get(mandate_digest)
        if exp is None:
            m = self._mandate_of(mandate_digest) if self._mandate_of is not None else None
            exp = Exposure(m.valid_from_ms, m.period_ms) if m is not None else Exposure()
            exp.archive, exp.name = self.archive, mandate_digest
            self.by_mandate[mandate_digest] = exp
        return exp

    def check(
        self,
        vs: VerifiedStatement,
        mandate: identity_pb2.Mandate,
        value: int,
        replaces: bytes = b"",
        *,
        grace_ms: int = 0,
        dated_starts: bool = True,
        booked: bool = False,
    ) -> None:
        """Would committing ``value`` more at ``vs``'s issue time break the caps?

        Records nothing (ERR-003); it may move the book's sweep to ``vs``'s time, which changes no
        answer the book gives.

        MND-010: outstanding(t) + value <= max_outstanding. MND-009: for every period ``vs``
        charges (an Offer or Counter: each period ``[issued_at, expires_at]`` overlaps; an Accept:
        the period of its issued_at), committed(period) + value <= budget_per_period. A statement
        of value 0 charges nothing.

        Args:
            replaces: digest of the issuer's own live offer this one supersedes
                (its value no longer counts), if any.
            grace_ms: count offers as live until expires_at + grace_ms. A policy guard passes its
                skew: an Accept issued at an offer's expiry may reach it that much later, and the
                guard must still have reserved budget for it. Verifiers use 0 (SPEC's rule).
            dated_starts: count only the offers and contracts that started before ``vs`` (SPEC 4.5:
                one dated after it, held first, does not change its verdict). A policy guard passes
                False: every one it holds binds its agent, whatever its date says.
            booked: ``vs`` is held and booked already (its offer, or its contract, under its digest),
                checked again as a verifier meeting it first checked it (NEG-021 (d)): not counted
                against itself.

        Raises:
            MandateViolation: MND-010, MND-009, or MND-013 (normally refused at step 24 already).
            ValueError: the book holds this mandate's exposure under other budget periods.
        """
        exp = self.by_mandate.get(vs.mandate_digest)  # a check records nothing (ERR-003), not even an entry
        periods = (mandate.valid_from_ms if mandate.period_ms else 0, mandate.period_ms)
        if exp is None:
            exp = self._blank(periods)
        elif (exp.period_origin_ms, exp.period_ms) != periods and (exp.live_offers or exp._formed):
            raise ValueError("exposure was recorded with other budget periods (give mandate_of)")
        if booked:  # out of the sums for this check, then back as it was; this book's check, not a subclass's
            with exp.uncounted(vs.digest):
                ExposureBook.check(
                    self, vs, mandate, value, replaces, grace_ms=grace_ms, dated_starts=dated_starts
                )
            return
        t = vs.issued_at_ms
        freed, freed_periods = 0, range(0)
        if replaces in exp.live_offers and not (dated_starts and exp.started_after(replaces, t, vs.seq)):
            v, issued, expires = exp.live_offers[replaces]
            if expires + grace_ms >= t:  # only an offer that still counts frees anything
                freed, freed_periods = v, exp.periods_between(issued, expires)
        outstanding = exp.outstanding(t, grace_ms, vs.seq, dated_starts=dated_starts) - freed + value
        if outstanding > mandate.max_outstanding:
            raise _violation(
                "MND-010", f"outstanding value would be {outstanding} > cap {mandate.max_outstanding}"
            )
        if not value:
            return
        budget = mandate.budget_per_period
        if value > budget:  # zero means zero; also the whole check when period_ms is 0 (BDY-010)
            raise _violation("MND-009", f"value {value} > budget {budget}")
        charged = exp.periods_between(t, vs.expires_at_ms if vs.body in ("offer", "counter") else t)
        if len(charged) > 2:
            # Step 24 refused this already; repeated so a direct caller cannot make a check walk
            # many periods.
            raise _violation("MND-013", "the offer outlives a budget period")
        for period in charged:
            held = exp.committed(period, t, grace_ms, vs.seq, dated_starts=dated_starts)
            used = held - (freed if period in freed_periods else 0) + value
            if used > budget:
                raise _violation("MND-009", f"period {period} budget would be {used} > {budget}")

    # -- recording (called once a statement is accepted) ---------------------------

    def offer_live(
        self,
        mandate_digest: bytes,
        offer_digest: bytes,
        value: int,
        issued: int,
        expires: int,
        *,
        until: int | None = None,
        seq: int | None = None,
    ) -> None:
        self.exposure(mandate_digest).offer_live(offer_digest, value, issued, expires, until=until, seq=seq)

    def offer_dead(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.offer_dead(offer_digest)

    def offer_answered(self, mandate_digest: bytes, offer_digest: bytes, at: tuple[int, int]) -> None:
        """See :meth:`Exposure.offer_answered`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.offer_answered(offer_digest, at)

    def offer_accepted(
        self, mandate_digest: bytes, offer_digest: bytes, at: tuple[int, int], accepted_ms: int
    ) -> None:
        """See :meth:`Exposure.offer_accepted`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.offer_accepted(offer_digest, at, accepted_ms)

    def offer_reanswered(self, mandate_digest: bytes, offer_digest: bytes, at: tuple[int, int]) -> None:
        """See :meth:`Exposure.offer_reanswered`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.offer_reanswered(offer_digest, at)

    def answer_forgotten(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.answer_forgotten(offer_digest)

    def contract_formed(
        self,
        mandate_digest: bytes,
        contract: bytes,
        value: int,
        formed_at: int,
        from_offer: bytes = b"",
        *,
        last_deadline_ms: int | None = None,
        start: tuple[int, int] | None = None,
    ) -> None:
        """The offer ``from_offer`` (if the agent's) stops being live and the contract counts
        instead, charged to the period of ``formed_at``; it counts toward outstanding until it
        ends or ``last_deadline_ms + CLAIM_WINDOW_MS`` passes (MND-010), for a statement ``start``
        (its Accept's place, :meth:`Exposure.contract_formed`) is before."""
        exp = self.exposure(mandate_digest)
        if from_offer in exp.live_offers:  # one :meth:`offer_accepted` kept counts until the Accept
            exp.offer_dead(from_offer)
        until = None if last_deadline_ms is None else last_deadline_ms + CLAIM_WINDOW_MS
        exp.contract_formed(contract, value, formed_at, until, start=start)

    def contract_ended(self, mandate_digest: bytes, contract: bytes, at: tuple[int, int]) -> None:
        """See :meth:`Exposure.contract_ended`: finished at ``at``."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_ended(contract, at)

    def contract_reopened(
        self, mandate_digest: bytes, contract: bytes, last_deadline_ms: int, *, formed_ms: int | None = None
    ) -> None:
        """See :meth:`Exposure.contract_reopened`: counted again until ``last_deadline_ms`` plus the claim
        window (MND-010), as :meth:`contract_formed` counts it; ``formed_ms``: one forgotten comes back."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_reopened(contract, last_deadline_ms + CLAIM_WINDOW_MS, formed_ms=formed_ms)

    def contract_withdrawn(self, mandate_digest: bytes, contract: bytes) -> None:
        """See :meth:`Exposure.contract_withdrawn`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_withdrawn(contract)

    def contract_undisplaced(self, mandate_digest: bytes, contract: bytes) -> None:
        """See :meth:`Exposure.contract_undisplaced`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_undisplaced(contract)

    def offer_unanswered(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        """See :meth:`Exposure.offer_unanswered`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.offer_unanswered(offer_digest)

    def contract_forgotten(self, mandate_digest: bytes, contract: bytes) -> None:
        """See :meth:`Exposure.contract_forgotten`."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_forgotten(contract)

    def contract_displaced(self, mandate_digest: bytes, contract: bytes, at: tuple[int, int]) -> None:
        """See :meth:`Exposure.contract_displaced`: by a witnessed Accept at ``at``."""
        exp = self.by_mandate.get(mandate_digest)
        if exp is not None:
            exp.contract_displaced(contract, at)
