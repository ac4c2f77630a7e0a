"""The newcomer quota on strangers' public statements (SPEC.md RPC-016).

A peer takes the public statements of any key that sends them -- a Mandate and its agent's Checkpoint,
as a request or as gossip -- and journals them for good. Keys cost nothing, so without a bound fresh
keys would grow its journal two rows at a time for as long as they like. The statements of keys in the
peer's dealings (its counterparties, its contracts' parties, escrows and principals) and what those
depend on are not counted; every other statement it takes is, against:

* ``per_period`` statements in each period of ``period_ms`` (a fixed window of the peer's own clock),
  all strangers together -- a share of it (``share``, RPC-012's newcomer share) for what nobody in our
  dealings asked for (a stranger's request, a Gossip call served), the rest kept for the swaps we make
  ourselves with a counterparty we chose (ATT-011), so that a flood of strangers cannot keep out the
  gossip of the peers we trade with;
* ``per_key`` statements of any one key in that period (a KeyRevocation counts for the key it revokes,
  any other statement -- a Mandate too -- for its issuer: only what the key, or a principal it is bound
  to, signed spends its count), so that no one key, honest and chatty or not, takes the whole quota.

A KeyRevocation the quota counts -- of a key we hold nothing of, which its thief may be about to trade
with us under -- with what its authority depends on (its binding, the revoker's Mandates naming the
key), counts against ``revocations`` statements a period of its own (the revocations' reserve,
:meth:`StrangerCount.reserve_refusal`) once the quota has no room: a flood of other statements never
keeps it out. One that passed its checks and was refused over both marks its key
(:class:`PendingRevocations`), whose statements the server then refuses for a day: fresh keys revoking
themselves fill the reserve too, and the thief must not trade meanwhile. The marks are journaled
(:data:`META_REVOCATION_MARKS`, at most once a minute and at a clean close): a restart keeps them.

Who chose each value: the counts and the period are the operator's; the window is read on our own clock
(never a statement's ``issued_at_ms``, which its signer chooses); a statement counts for the key that
signed it (or the key it is about), verified. A statement over the quota is refused ``RATE_LIMITED`` with
the time to the next window as its retry hint (a request), or ignored (gossip), and nothing of it is
kept.

An escrow counts the same way what it takes through Submit (SPEC.md ESC-017,
:meth:`a2a_coop.protocol.escrow.Escrow._newcomer`): the statements of no negotiation of keys outside its
dealings (no funds credited there, no contract it witnessed, not a party's principal), against the whole
``per_period`` (it starts no swaps), its refusals naming ESC-017; and per key in its dealings (a
:class:`KeyedCount` too), those no trade there needs, with credit for each statement of a contract
naming it the key made.

Keys in the peer's dealings are counted too, per key (:class:`KeyedCount`, :data:`META_DEALINGS`): their
public statements outside our negotiations, against ``per_key * dealings_factor`` a period plus
``dealings_credit`` for each statement of a negotiation with us the key made that period -- so that what
no trade needs is bounded (one contract keeps a party in our dealings for good, ATT-018) while what the
trades need (an Attestation a settled bonded trade, a head Checkpoint a minute) always has room.

Across restarts: the window and its total are journaled in the same commit as the statements they
count (:data:`META_STRANGERS`), so a restart -- or a crash an attacker provokes -- grants no second
quota in the same window; the per-key counts of strangers are memory only (at most ``per_period`` of
them) and start again empty after a restart, which the total still bounds. Those of keys in our dealings
have no total to bound them, and are journaled per key (:data:`META_DEALINGS`).
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from a2a_coop.protocol.errors import Origin, RateLimited

# The period of the quota: an hour.
STRANGER_PERIOD_MS: Final = 3_600_000
# Strangers' public statements a served peer keeps per period, all strangers together (RPC-016): an
# honest peer hears a few hundred an hour -- the Checkpoints (and, once per key, the Mandates) that its
# counterparties gossip of up to 32 other keys at each swap, at most one swap per counterparty a minute
# (ATT-011) -- and the bound is what a flood costs its disk: at about 600 bytes a row with the indexes,
# 1,000 an hour is under 15 MB a day.
DEFAULT_STRANGER_STATEMENTS: Final = 1_000
# Statements of any one stranger key per period: its Mandate and a fresh head Checkpoint at each swap
# that carries one.
DEFAULT_STRANGER_STATEMENTS_PER_KEY: Final = 16
# The share of the quota that statements nobody in our dealings asked for may fill (RPC-012's newcomer
# share, a2a_coop.runtime.peer.NEWCOMER_SHARE): the rest is kept for the swaps we start ourselves.
UNSOLICITED_SHARE: Final = 0.75
# Journal meta: [window, count, reserved] of the quota (the window is our clock // period_ms; reserved:
# what the revocations' reserve took), written in the commit that journals the statements it counts.
META_STRANGERS: Final = "a2a-coop/stranger-statements"
# RPC-016, ESC-017: the revocations' reserve. A KeyRevocation the quota counts -- of a key we hold nothing
# of, which a thief holds and is about to use with us -- with what its authority depends on (its binding,
# the revoker's Mandates naming the key, KEY-008), counts against these statements a period, outside the
# quota's total, once the quota has no room for it: a flood of fresh keys' other statements never keeps
# it out (tests/test_stranger_quota.py). A flood of fresh keys revoking themselves can fill it -- each a
# real revocation, by the key or its principal -- and what then keeps the thief out is the mark below.
# An honest principal revokes a stolen key now and then, with its binding and a Mandate or a few: 100
# statements is some 30 revocations an hour, and 60 KB of journal an hour at the most a flood makes
# (`serve`, `escrow serve --revocation-statements N`).
DEFAULT_REVOCATION_STATEMENTS: Final = 100
# The marks of keys whose revocation passed its checks and was refused over the quota (reserve
# included): their statements are refused (but a KeyRevocation, and a binding taken with one) until the
# mark lapses, at the end of the period it was set in plus PENDING_PERIODS more (a day served), each
# refusal of a revocation of the key setting it again. Kept in a fixed array of PENDING_SLOTS one-byte
# slots (8 MiB, allocated at the first mark) that each key sets PENDING_HASHES of, chosen by a keyed
# hash whose key is secret and drawn afresh at each start: a mark is never lost (no false negative)
# whatever a flood marks; a flood marking n keys within a day makes another key look marked with
# probability about (1 - exp(-4n / 2**23))**4 -- under 0.001 % at 100,000 verified revocations a day,
# 2 % at a million -- and no one can pick which (the hash key is secret); keys in our dealings are never
# refused for a mark.
PENDING_SLOTS: Final = 1 << 23
PENDING_HASHES: Final = 4
PENDING_PERIODS: Final = 24
# Journal meta: the marks above ([the latest period seen, the hash key, the slots zlib-compressed];
# PendingRevocations.dump), so that a restart does not forget them: forgotten, a flood that filled the
# reserve let the thief trade from the restart on, and each restart gave the flooder a clean slate. Written
# in the next write of the journal at least MARKS_SAVE_MS (our clock) after the last, and at a clean close:
# at most one write of it a minute however many marks a flood sets (compressed, a few KB for the marks an
# honest server sets, the whole array's 8 MiB at the very most); a crash forgets the marks set since.
META_REVOCATION_MARKS: Final = "a2a-coop/revocation-marks"
MARKS_SAVE_MS: Final = 60_000

# RPC-017, the newcomers' negotiations: opening Offers addressed to us from issuers outside our dealings
# that we take, per period, however each ends (accepted, countered or rejected). Each leaves at least
# three rows for good (the issuer's Mandate, the Offer, our answer), and one we reject ends at once, so
# RPC-012's caps on negotiations not ended never count it. A full conformance run (section 18) against a
# served reference peer spends about 80 of them (measured: 78), the reliability campaigns and benchmarks
# one a client key; 2,000 an hour is some 19 runs an hour within the 1,500 any newcomer may use, and
# 6,000 rows of journal an hour (under 90 MB a day) at the most a flood of fresh keys can make.
DEFAULT_NEWCOMER_OFFERS: Final = 2_000
# The share of that budget any newcomer may fill; the rest is kept for newcomers introduced by a
# principal in our dealings (the Mandate the Offer cites was issued by our principal or by a key in our
# dealings), whom a flood of fresh principals cannot starve.
NEWCOMER_OFFERS_SHARE: Final = 0.75
# Journal meta: [window, count] of that budget, written in the commit that journals what it counts.
META_NEWCOMER_OFFERS: Final = "a2a-coop/newcomer-offers"
# The part of that reserve any one vouching principal other than our own may take per period (at least
# one Offer): one contract with us puts a principal in our dealings for good (ATT-018), and without this
# its fresh agents' Offers drew on the whole reserve and kept out the newcomers real counterparties vouch
# for (tests/test_attack16.py). Several contracts still buy several parts.
NEWCOMER_OFFERS_PER_VOUCHER: Final = 0.25
# Journal meta rows ``META_VOUCHED/<principal>``: [window, Offers of the reserve it took].
META_VOUCHED: Final = "a2a-coop/newcomer-offers-vouched"

# RPC-016 for keys in our dealings. Their public statements outside our negotiations (a Checkpoint at
# each next seq of a chain, an Attestation, a principal's renewed Mandate) count per key too: one
# contract without bonds keeps a party and its principal in our dealings for good (ATT-018), and their
# own statements were journaled without bound (tests/test_attack16.py). What no trade needs is bounded,
# what trades need is not: each key may have ``DEALINGS_PER_KEY_FACTOR`` times a stranger's per-key count
# a period (256 served: an honest counterparty gossips us at most one head Checkpoint a minute, ATT-011,
# 60 an hour, and renews its Mandate now and then), plus ``DEALINGS_CREDIT`` for each statement of a
# negotiation with us it made that period (its Offers, Accepts, Deliveries, Receipts, ...). A bonded
# trade makes the peer journal one such public statement of its counterparty (the Attestation of the
# settled contract, ATT-015) for at least three of its negotiation statements (Offer or Accept, Delivery,
# Receipt): a flat per-key limit of 256 refused the 257th trade of an hour with one counterparty
# (`python -m benchmarks trade`), the credit never does. A key earns credit only with statements of
# negotiations with us, which RPC-012 bounds (and RPC-017 for a newcomer's first).
DEALINGS_PER_KEY_FACTOR: Final = 16
DEALINGS_CREDIT: Final = 1
# Journal meta rows ``META_DEALINGS/<key>``: [window, counted, credit] of a key in our dealings, written
# in the commit that journals what it counted. Credit earned since a key's last counted statement is
# memory only: a restart loses it (less room, never a second quota).
META_DEALINGS: Final = "a2a-coop/dealings-statements"
# The rows of an earlier window a KeyedCount deletes per commit at most (:meth:`KeyedCount.meta`): bounded
# work in any one commit, and every past row gone within a few commits of a new period.
PRUNE_ROWS: Final = 64


def open_part(total: int, share: float) -> int:
    """The part of a limit of ``total`` (0: no limit) that newcomers may fill: ``share`` of it rounded
    down, but at least one -- a limit of 1, 2 or 3 rounded three quarters of 1 down to 0 and let no
    newcomer in at all (``serve --stranger-statements 1``). A limit that small keeps no reserve."""
    return max(1, int(total * share)) if total > 0 else 0


@dataclass(frozen=True)
class StrangerQuota:
    """How many public statements of keys outside our dealings we keep (RPC-016); 0 means no limit.

    Attributes:
        per_period: statements per period, all strangers together.
        per_key: statements of any one key per period.
        period_ms: the period, on our clock.
        share: the part of ``per_period`` that unsolicited statements may fill.
        revocations: the revocations' reserve: statements per period, outside ``per_period``, of a
            KeyRevocation counted and what its authority depends on, once the quota has no room for them.
    """

    per_period: int = DEFAULT_STRANGER_STATEMENTS
    per_key: int = DEFAULT_STRANGER_STATEMENTS_PER_KEY
    period_ms: int = STRANGER_PERIOD_MS
    share: float = UNSOLICITED_SHARE
    dealings_factor: int = DEALINGS_PER_KEY_FACTOR
    dealings_credit: int = DEALINGS_CREDIT
    revocations: int = DEFAULT_REVOCATION_STATEMENTS

    def __post_init__(self) -> None:
        if (
            self.revocations < 0
            or self.per_period < 0
            or self.per_key < 0
            or self.period_ms <= 0
            or not 0 < self.share <= 1
            or self.dealings_factor < 0
            or self.dealings_credit < 0
        ):
            raise ValueError(f"not a quota: {self}")

    @property
    def dealings_per_key(self) -> int:
        """The public statements of a key in our dealings counted per period before its credit (0: no
        limit on keys in our dealings)."""
        return self.per_key * self.dealings_factor

    @property
    def active(self) -> bool:
        return bool(self.per_period or self.per_key)


@dataclass(frozen=True)
class NewcomerOffers:
    """How many opening Offers of issuers outside our dealings we take per period (RPC-017); 0: no limit.

    Attributes:
        per_period: Offers per period, all newcomers together.
        period_ms: the period, on our clock.
        share: the part of ``per_period`` any newcomer may fill; the rest is for introduced ones.
        per_voucher: the part of that rest any one vouching principal other than our own may take.
    """

    per_period: int = DEFAULT_NEWCOMER_OFFERS
    period_ms: int = STRANGER_PERIOD_MS
    share: float = NEWCOMER_OFFERS_SHARE
    per_voucher: float = NEWCOMER_OFFERS_PER_VOUCHER

    def __post_init__(self) -> None:
        if (
            self.per_period < 0
            or self.period_ms <= 0
            or not 0 < self.share <= 1
            or not 0 < self.per_voucher <= 1
        ):
            raise ValueError(f"not a budget: {self}")

    @property
    def open_share(self) -> int:
        """The Offers any newcomer may fill per period."""
        return open_part(self.per_period, self.share)

    @property
    def voucher_cap(self) -> int:
        """The Offers of the reserve any one vouching principal (not our own) may take per period."""
        return max(1, int((self.per_period - self.open_share) * self.per_voucher))

    @property
    def active(self) -> bool:
        return bool(self.per_period)

    def as_quota(self) -> StrangerQuota:
        """The same limits as a quota with no per-key bound, which :class:`StrangerCount` keeps."""
        return StrangerQuota(
            per_period=self.per_period, per_key=0, period_ms=self.period_ms, share=self.share, revocations=0
        )


class PendingRevocations:
    """The keys whose revocation passed its checks and was refused over the quota (RPC-016, ESC-017):
    marked for the period and the ``periods`` after it, in fixed memory (:data:`PENDING_SLOTS` bytes).

    Each slot holds the period it was last marked in (mod 255, plus one; 0: none), and a key is marked
    while its :data:`PENDING_HASHES` slots, chosen by a hash keyed with a secret drawn at start, all hold a
    period not more than ``periods`` ago; at each new period the slots older than that are cleared, so
    that a period number never comes round again. A mark is never lost whatever else is marked; the more
    keys a flood marks, the likelier another key looks marked (see :data:`PENDING_SLOTS`), and no one can
    choose which. Our clock never goes back here: a mark lasts at least as long whatever it does.

    Args:
        period_ms: the quota's period, on our clock.
        periods: how many periods after the one it was set in a mark lasts (at most 253).
        slots: the size of the array.
    """

    def __init__(
        self,
        period_ms: int,
        *,
        periods: int = PENDING_PERIODS,
        slots: int = PENDING_SLOTS,
        stored: Any = None,
    ) -> None:
        if not 0 <= periods < 254 or slots <= 0:
            raise ValueError(f"not a memory of marks: {periods} periods, {slots} slots")
        self.period_ms, self.periods, self.slots = period_ms, periods, slots
        self._secret = os.urandom(16)
        self._marks: bytearray | None = None  # allocated at the first mark: most servers never need it
        self._window = -1  # the latest period seen (cleared at)
        self.marked = 0  # marks set since start (status, tests)
        self.dirty = False  # marked since the last dump
        self.saved_at: int | None = None  # our clock at the last dump (None: none since start)
        self._restore(stored)

    def _restore(self, stored: Any) -> None:
        """Take the marks :meth:`dump` wrote (our own journal's), if they are whole and of this size;
        else start with none."""
        if not (
            isinstance(stored, list | tuple)
            and len(stored) == 3
            and isinstance(stored[0], int)
            and isinstance(stored[1], bytes)
            and len(stored[1]) == 16
            and isinstance(stored[2], bytes)
        ):
            return
        try:
            marks = zlib.decompress(stored[2])
        except zlib.error:
            return
        if len(marks) == self.slots:
            self._window, self._secret, self._marks = stored[0], stored[1], bytearray(marks)

    def dump(self, now: int) -> list[Any]:
        """What to journal (:data:`META_REVOCATION_MARKS`) so that a restart keeps the marks: the latest
        period seen, the hash key and the slots, compressed; clean from now."""
        self._current(now)
        self.dirty, self.saved_at = False, now
        marks = bytes(self._marks) if self._marks is not None else bytes(self.slots)
        return [self._window, self._secret, zlib.compress(marks, 1)]

    def due(self, now: int) -> bool:
        """Whether marks set since the last dump should be journaled now: at least :data:`MARKS_SAVE_MS`
        after the last (a flood marking keys without end costs one write a minute)."""
        return self.dirty and (self.saved_at is None or now - self.saved_at >= MARKS_SAVE_MS)

    def _where(self, key: str) -> list[int]:
        digest = hashlib.blake2b(key.encode(), key=self._secret, digest_size=8 * PENDING_HASHES).digest()
        return [
            int.from_bytes(digest[8 * i : 8 * i + 8], "little") % self.slots for i in range(PENDING_HASHES)
        ]

    def _current(self, now: int) -> int:
        """The current period (never earlier than one seen before), the slots marked more than ``periods``
        before it cleared."""
        window = max(now // self.period_ms, self._window)
        marks = self._marks
        if window != self._window and marks is not None:
            if window - self._window > self.periods:
                marks[:] = bytes(self.slots)  # every mark lapsed
            else:
                live = {(window - age) % 255 + 1 for age in range(self.periods + 1)}
                marks[:] = marks.translate(bytes(c if c in live else 0 for c in range(256)))
        self._window = window
        return window

    def mark(self, key: str, now: int) -> None:
        """Mark ``key`` from now to the end of the period ``periods`` after this one."""
        window = self._current(now)
        if self._marks is None:
            self._marks = bytearray(self.slots)
        code = window % 255 + 1
        for i in self._where(key):
            self._marks[i] = code
        self.marked += 1
        self.dirty = True

    def lapses(self, key: str, now: int) -> int | None:
        """When ``key``'s mark lapses (on our clock), or None if it is not marked now."""
        if self._marks is None:
            return None
        window = self._current(now)
        code = window % 255 + 1
        oldest = 0
        for i in self._where(key):
            stored = self._marks[i]
            if not stored:
                return None
            oldest = max(oldest, (code - stored) % 255)
        return (window - oldest + self.periods + 1) * self.period_ms


class StrangerCount:
    """The quota's state: the current window, what it counted in all and per key, what its revocations'
    reserve took (:meth:`reserve_refusal`), and the keys whose revocation it refused (:meth:`mark`).

    Args:
        quota: the limits.
        stored: what the journal's ``meta_key`` holds (None: nothing yet).
        now: our clock now.
        meta_key: the journal meta it is kept under (:data:`META_STRANGERS`, RPC-016; or
            :data:`META_NEWCOMER_OFFERS`, RPC-017).
        requirement: what a refusal cites.
        what: what it counts, as a refusal says it.
    """

    def __init__(
        self,
        quota: StrangerQuota,
        stored: Any,
        now: int,
        *,
        meta_key: str = META_STRANGERS,
        requirement: str = "RPC-016",
        what: str = "public statements of keys outside our dealings",
        marks: Any = None,
    ) -> None:
        self.quota = quota
        self.meta_key, self.requirement, self.what = meta_key, requirement, what
        self.window = now // quota.period_ms
        self.count = 0
        self.reserved = 0  # what the revocations' reserve took this window
        # A window journaled at or after ours (our clock went back) still counts: never a second quota.
        kept = (
            isinstance(stored, list | tuple)
            and len(stored) in (2, 3)
            and all(isinstance(x, int) for x in stored)
        )
        if kept and stored[0] >= self.window:
            self.count = stored[1]
            self.reserved = stored[2] if len(stored) == 3 else 0
        self.per_key: Counter[str] = Counter()
        self.dirty = False
        self.refused = 0  # statements refused since start (status, tests)
        self.pending = PendingRevocations(quota.period_ms, stored=marks)

    def _roll(self, now: int) -> None:
        window = now // self.quota.period_ms
        if window > self.window:
            self.window, self.count, self.reserved, self.per_key = window, 0, 0, Counter()
            self.dirty = True

    def refusal(self, keys: Iterable[str], now: int, *, solicited: bool = False) -> RateLimited | None:
        """The refusal of statements counting for ``keys`` (one entry per statement), or None if the
        quota has room for them all now."""
        self._roll(now)
        q = self.quota
        wanted = Counter(keys)
        n = sum(wanted.values())
        limit = q.per_period if solicited else open_part(q.per_period, q.share)
        if q.per_period and self.count + n > limit:
            why = f"we kept {self.count} {self.what} this period"
        else:
            why = self._over_per_key(wanted)
        if not why:
            return None
        self.refused += n
        return self._rate_limited(why, now)

    def reserve_refusal(self, keys: Iterable[str], now: int) -> RateLimited | None:
        """The refusal of statements counting for ``keys`` -- a KeyRevocation the quota counts and what its
        authority depends on, which :meth:`refusal` refused -- by the revocations' reserve, or None if it
        has room for them all now (``per_key`` holds there too)."""
        self._roll(now)
        q = self.quota
        wanted = Counter(keys)
        n = sum(wanted.values())
        if self.reserved + n > q.revocations:
            why = f"we kept {self.reserved} statements of revocations over the quota this period"
        else:
            why = self._over_per_key(wanted)
        return self._rate_limited(why, now) if why else None

    def _over_per_key(self, wanted: Counter[str]) -> str:
        """Why ``wanted`` (statements a key) would pass a key's count this period, or "" if none would."""
        if not self.quota.per_key:
            return ""
        over = next((k for k, m in wanted.items() if self.per_key[k] + m > self.quota.per_key), None)
        return "" if over is None else f"we kept {self.per_key[over]} public statements of {over} this period"

    def _rate_limited(self, why: str, now: int) -> RateLimited:
        """RATE_LIMITED for ``why``, its retry hint what is left of this period (section 1)."""
        retry = max(1, (self.window + 1) * self.quota.period_ms - now)
        return RateLimited(
            f"{why}; retry later", retry_after_ms=retry, requirement=self.requirement, origin=Origin.REMOTE
        )

    def charge(self, keys: Iterable[str], now: int, *, reserved: bool = False) -> None:
        """Count statements for ``keys`` (one entry per statement), which :meth:`refusal` let in
        (``reserved``: :meth:`reserve_refusal`)."""
        self._roll(now)
        wanted = Counter(keys)
        if wanted:
            self.per_key.update(wanted)
            if reserved:
                self.reserved += sum(wanted.values())
            else:
                self.count += sum(wanted.values())
            self.dirty = True

    def mark(self, key: str, now: int) -> None:
        """``key``'s revocation passed its checks and was refused over the quota: refuse its statements
        for the period and the next :data:`PENDING_PERIODS` (:meth:`marked`)."""
        self.pending.mark(key, now)

    def marked(self, key: str, now: int) -> RateLimited | None:
        """The refusal of a statement of ``key`` while a revocation of it we refused over the quota is
        pending (:meth:`mark`), or None. The caller spares keys in its dealings, KeyRevocations and a
        binding taken with one."""
        lapses = self.pending.lapses(key, now)
        if lapses is None:
            return None
        self.refused += 1
        return RateLimited(
            f"a revocation of {key} passed its checks here and was refused over the quota: its statements "
            "wait for it; retry later",
            retry_after_ms=max(1, lapses - now),
            requirement=self.requirement,
            origin=Origin.REMOTE,
        )

    def meta(self, now: int | None = None, *, flush: bool = False) -> dict[str, Any]:
        """What to journal with the next commit: the window, its count and what the revocations' reserve
        took, once they changed; with ``now``, the revocation marks too once due
        (:meth:`PendingRevocations.due`; ``flush``: whenever they changed, at a clean close)."""
        out: dict[str, Any] = {}
        pending = self.pending
        if now is not None and (pending.due(now) or (flush and pending.dirty)):
            out[META_REVOCATION_MARKS] = pending.dump(now)
        if not self.dirty:
            return out
        self.dirty = False
        if self.reserved:
            out[self.meta_key] = [self.window, self.count, self.reserved]
        else:
            out[self.meta_key] = [self.window, self.count]
        return out


class KeyedCount:
    """Counts of one period per key, each key's journaled apart (meta row ``prefix/key``: [window, counted,
    credit], in the commit that journals what it counted), so that a restart grants no key a second
    count in the same window: RPC-016's count of keys in our dealings (:data:`META_DEALINGS`), ESC-017's
    at an escrow (the same rows, in its journal), RPC-017's of vouching principals (:data:`META_VOUCHED`).

    A key may have ``base`` counted a period, plus ``per_credit`` for each unit of credit it earned that
    period (:meth:`earn`; memory only until its next counted statement journals it).

    Args:
        base: what a key may have counted per period before its credit.
        per_credit: what a unit of credit adds.
        period_ms: the period, on our clock.
        stored: the journal's rows under ``prefix`` (``(row, value)`` pairs, Journal.meta_under).
        now: our clock now.
        prefix: the meta rows' prefix.
        requirement: what a refusal cites.
        what: what it counts, as a refusal says it.
    """

    def __init__(
        self,
        base: int,
        per_credit: int,
        period_ms: int,
        stored: Iterable[tuple[str, Any]],
        now: int,
        *,
        prefix: str,
        requirement: str,
        what: str,
    ) -> None:
        self.base, self.per_credit, self.period_ms = base, per_credit, period_ms
        self.prefix, self.requirement, self.what = prefix, requirement, what
        self.window = now // period_ms
        self.counted: Counter[str] = Counter()
        self.credit: Counter[str] = Counter()
        # Rows of an earlier window count for nothing: they are deleted, PRUNE_ROWS a commit at most
        # (:meth:`meta`), so that the rows stay those of the keys counted this period and the last, not
        # of every key ever counted (read whole at every start).
        self.stale: list[str] = []
        for row, value in stored:
            key = row[len(prefix) + 1 :]
            kept = (
                isinstance(value, list | tuple)
                and len(value) == 3
                and all(isinstance(x, int) for x in value)
                and value[0] >= self.window  # a window journaled at or after ours still counts
            )
            if kept and key:
                self.counted[key], self.credit[key] = value[1], value[2]
            else:
                self.stale.append(row)
        self.dirty: set[str] = set()
        self.refused = 0  # statements refused since start (status, tests)

    def _roll(self, now: int) -> None:
        window = now // self.period_ms
        if window > self.window:
            # The rows of the window that ends (journaled, or not yet: a delete of none is a no-op).
            self.stale.extend(f"{self.prefix}/{k}" for k in self.counted)
            self.window, self.counted, self.credit = window, Counter(), Counter()
            self.dirty.clear()  # rows of an earlier window count for nothing (read again: ignored)

    def room(self, key: str, now: int, *, credit_only: bool = False) -> int:
        """What ``key`` may still have counted this period (``credit_only``: its credit alone, no base)."""
        self._roll(now)
        base = 0 if credit_only else self.base
        return base + self.per_credit * self.credit[key] - self.counted[key]

    def refusal(self, key: str, now: int, *, credit_only: bool = False) -> RateLimited | None:
        """The refusal of one more counted for ``key``, or None if it has room now."""
        if self.room(key, now, credit_only=credit_only) > 0:
            return None
        self.refused += 1
        retry = max(1, (self.window + 1) * self.period_ms - now)
        return RateLimited(
            f"we kept {self.counted[key]} {self.what} {key} this period; retry later",
            retry_after_ms=retry,
            requirement=self.requirement,
            origin=Origin.REMOTE,
        )

    def charge(self, key: str, now: int) -> None:
        """Count one for ``key``, which :meth:`refusal` let in."""
        self._roll(now)
        self.counted[key] += 1
        self.dirty.add(key)

    def earn(self, key: str, now: int) -> None:
        """A unit of credit for ``key`` this period (journaled with its next counted statement)."""
        self._roll(now)
        self.credit[key] += 1

    def meta(self, *, prune: bool = True) -> dict[str, Any]:
        """What to journal with the next commit: the rows of the keys counted since the last one, and
        (``prune``, or when there are such rows) None -- delete -- for at most :data:`PRUNE_ROWS` rows of
        an earlier window. Never the row of a key counted this window: that one holds its count."""
        rows: dict[str, Any] = {
            f"{self.prefix}/{k}": [self.window, self.counted[k], self.credit[k]] for k in self.dirty
        }
        self.dirty.clear()
        if (prune or rows) and self.stale:
            cut = len(self.prefix) + 1
            while self.stale and len(rows) < PRUNE_ROWS:
                row = self.stale.pop()
                if not self.counted[row[cut:]]:  # counted again this window: its row is current
                    rows[row] = None
        return rows


def about(body: str, issuer: str, statement: Any) -> str:
    """The key a statement counts for: a KeyRevocation's key, else its issuer -- a Mandate's too, never
    its agent: anyone can sign a Mandate naming any key, and one counted for its agent let a stranger spend
    that key's count (and keep out its principal's revocation of it, tests/test_attack16.py)."""
    if body == "key_revocation":
        return str(statement.key_revocation.key)
    return issuer
