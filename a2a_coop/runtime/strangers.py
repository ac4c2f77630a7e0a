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

Who chose each value: the counts and the period are the operator's; the window is read on our own clock
(never a statement's ``issued_at_ms``, which its signer chooses); a statement counts for the key that
signed it (or the key it is about), verified. A statement over the quota is refused ``RATE_LIMITED`` with
the time to the next window as its retry hint (a request), or ignored (gossip), and nothing of it is
kept.

An escrow counts the same way what it takes through Submit (SPEC.md ESC-017,
:meth:`a2a_coop.protocol.escrow.Escrow._newcomer`): the statements of no negotiation of keys outside its
dealings (no funds credited there, no contract it witnessed, not a party's principal), against the whole
``per_period`` (it starts no swaps), its refusals naming ESC-017.

Across restarts: the window and its total are journaled in the same commit as the statements they
count (:data:`META_STRANGERS`), so a restart -- or a crash an attacker provokes -- grants no second
quota in the same window; the per-key counts are memory only (at most ``per_period`` of them) and start
again empty after a restart, which the total still bounds.
"""

from __future__ import annotations

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
# Journal meta: [window, count] of the quota (the window is our clock // period_ms), written in the
# commit that journals the statements it counts.
META_STRANGERS: Final = "a2a-coop/stranger-statements"

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


@dataclass(frozen=True)
class StrangerQuota:
    """How many public statements of keys outside our dealings we keep (RPC-016); 0 means no limit.

    Attributes:
        per_period: statements per period, all strangers together.
        per_key: statements of any one key per period.
        period_ms: the period, on our clock.
        share: the part of ``per_period`` that unsolicited statements may fill.
    """

    per_period: int = DEFAULT_STRANGER_STATEMENTS
    per_key: int = DEFAULT_STRANGER_STATEMENTS_PER_KEY
    period_ms: int = STRANGER_PERIOD_MS
    share: float = UNSOLICITED_SHARE

    def __post_init__(self) -> None:
        if self.per_period < 0 or self.per_key < 0 or self.period_ms <= 0 or not 0 < self.share <= 1:
            raise ValueError(f"not a quota: {self}")

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
    """

    per_period: int = DEFAULT_NEWCOMER_OFFERS
    period_ms: int = STRANGER_PERIOD_MS
    share: float = NEWCOMER_OFFERS_SHARE

    def __post_init__(self) -> None:
        if self.per_period < 0 or self.period_ms <= 0 or not 0 < self.share <= 1:
            raise ValueError(f"not a budget: {self}")

    @property
    def active(self) -> bool:
        return bool(self.per_period)

    def as_quota(self) -> StrangerQuota:
        """The same limits as a quota with no per-key bound, which :class:`StrangerCount` keeps."""
        return StrangerQuota(
            per_period=self.per_period, per_key=0, period_ms=self.period_ms, share=self.share
        )


class StrangerCount:
    """The quota's state: the current window, what it counted in all and per key.

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
    ) -> None:
        self.quota = quota
        self.meta_key, self.requirement, self.what = meta_key, requirement, what
        self.window = now // quota.period_ms
        self.count = 0
        # A window journaled at or after ours (our clock went back) still counts: never a second quota.
        kept = (
            isinstance(stored, list | tuple) and len(stored) == 2 and all(isinstance(x, int) for x in stored)
        )
        if kept and stored[0] >= self.window:
            self.count = stored[1]
        self.per_key: Counter[str] = Counter()
        self.dirty = False
        self.refused = 0  # statements refused since start (status, tests)

    def _roll(self, now: int) -> None:
        window = now // self.quota.period_ms
        if window > self.window:
            self.window, self.count, self.per_key = window, 0, Counter()
            self.dirty = True

    def refusal(self, keys: Iterable[str], now: int, *, solicited: bool = False) -> RateLimited | None:
        """The refusal of statements counting for ``keys`` (one entry per statement), or None if the
        quota has room for them all now."""
        self._roll(now)
        q = self.quota
        wanted = Counter(keys)
        n = sum(wanted.values())
        limit = q.per_period if solicited else int(q.per_period * q.share)
        why = ""
        if q.per_period and self.count + n > limit:
            why = f"we kept {self.count} {self.what} this period"
        elif q.per_key:
            over = next((k for k, m in wanted.items() if self.per_key[k] + m > q.per_key), None)
            if over is not None:
                why = f"we kept {self.per_key[over]} public statements of {over} this period"
        if not why:
            return None
        self.refused += n
        retry = max(1, (self.window + 1) * q.period_ms - now)
        return RateLimited(
            f"{why}; retry later", retry_after_ms=retry, requirement=self.requirement, origin=Origin.REMOTE
        )

    def charge(self, keys: Iterable[str], now: int) -> None:
        """Count statements for ``keys`` (one entry per statement), which :meth:`refusal` let in."""
        self._roll(now)
        wanted = Counter(keys)
        if wanted:
            self.per_key.update(wanted)
            self.count += sum(wanted.values())
            self.dirty = True

    def meta(self) -> dict[str, Any]:
        """What to journal with the next commit: the window and its count, once they changed."""
        if not self.dirty:
            return {}
        self.dirty = False
        return {self.meta_key: [self.window, self.count]}


def about(body: str, issuer: str, statement: Any) -> str:
    """The key a statement counts for: a KeyRevocation's key, else its issuer -- a Mandate's too, never
    its agent: anyone can sign a Mandate naming any key, and one counted for its agent let a stranger spend
    that key's count (and keep out its principal's revocation of it, tests/test_attack16.py)."""
    if body == "key_revocation":
        return str(statement.key_revocation.key)
    return issuer
