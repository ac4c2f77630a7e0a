"""When the reference peer performs: the policy guard's time-to-perform rule (SPEC.md 9.4, "Time to
perform"; ESC-010, CMT-010), and the hold of a Delivery under revocable terms (SPEC.md 9.3, CMT-012).

Under bonded terms nobody may deliver until every bond is locked (NEG-012), and the party that funds
last decides when that is -- up to the bonding cutoff, the accepted offer's ``expires_at_ms`` plus
:data:`~a2a_coop.protocol.negotiation.BOND_GRACE_MS`, after which the escrow locks nothing and the
contract lapses. Both parties sign that expiry, so each knows before it commits the worst case: at
least ``deadline_ms - cutoff`` to perform each of its items. The rule refuses to sign an Offer,
Counter or Accept whose terms leave one of *our* items less than a configured minimum after the
cutoff: a counterparty funding its bond a second before our deadline could otherwise leave us that
second, and claim our bond after it (an item due before the cutoff is covered by CMT-009 only when
bonding completes after its deadline). That cover is the counterparty's too: the guard always refuses
terms under which one of the counterparty's items may fall due before the contract forms or bonds
(:func:`unclaimable_item_refusal`, CMT-014), since it alone may then owe nothing claimable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, CLOCK_TOLERANCE_MS, Contract

# How long before our own item's deadline (by our clock) a Delivery held back under revocable terms
# goes out all the same (:func:`revocable_hold_until`): one clock tolerance. A Delivery is timely when
# it is issued by its deadline and the escrow stamps it by the deadline plus the clock tolerance
# (WIT-003). Signed a tolerance before the deadline, it is issued in time; and an escrow whose clock runs
# up to the tolerance ahead of ours (as far as two honest clocks may disagree, TIM-004) stamps it by
# the deadline plus the tolerance if it reaches the escrow within one more tolerance -- 30 s for the
# witness's submission and its retries, 60 s with clocks in step. A smaller margin would leave a held
# Delivery only the transit time against a fast escrow clock; a larger one gives the counterparty's
# free exit longer than the terms' own deadline needs.
REVOCABLE_HOLD_MARGIN_MS: Final = CLOCK_TOLERANCE_MS


class TooLittleTimeToPerform(Exception):
    """Our guard refuses terms that leave one of our items too little time after the bonding cutoff
    (not a protocol error: the terms are valid; we decline to commit to them)."""


def time_to_perform_refusal(
    mine: Sequence[trade_pb2.Item], terms: trade_pb2.Terms, expires_at_ms: int, minimum_ms: int
) -> str:
    """Why terms leave one of ``mine`` less than ``minimum_ms`` after the bonding cutoff, or "".

    Args:
        mine: the items we would give under the contract.
        terms: its terms; without a bond there is no bonding to wait for, and nothing to refuse.
        expires_at_ms: the expiry of the offer (or counter) that would be accepted.
        minimum_ms: the least time we need to perform, counted from the cutoff.
    """
    if not (terms.issuer_bond or terms.audience_bond):
        return ""
    cutoff = expires_at_ms + BOND_GRACE_MS
    for index, item in enumerate(mine):
        left = item.deadline_ms - cutoff
        if left < minimum_ms:
            return (
                f"our item {index} ({item.category}) is due {left} ms after the bonding cutoff "
                f"(the offer's expiry + {BOND_GRACE_MS} ms): a counterparty funding its bond then leaves "
                f"us less than the {minimum_ms} ms we need to perform"
            )
    return ""


class CounterpartyItemUnclaimable(TooLittleTimeToPerform):
    """Our guard refuses terms under which the counterparty alone can make one of its own items
    unclaimable (CMT-014; not a protocol error: the terms are valid, we decline to commit to them)."""


def unclaimable_item_refusal(
    theirs: Sequence[trade_pb2.Item],
    mine: Sequence[trade_pb2.Item],
    terms: trade_pb2.Terms,
    expires_at_ms: int,
    accept_at_ms: int | None,
) -> str:
    """CMT-014: why one of ``theirs`` may fall due before a time the counterparty alone chooses -- when the
    contract forms, or when it is bonded -- while one of ``mine`` falls due after it, or "".

    A claim on an item due before the contract's Accept is refused (CMT-011), and under bonded terms one
    on an item due before every bond was locked (CMT-009). The counterparty dates its Accept of our Offer
    or Counter up to its expiry (NEG-007), and funds its bond up to the bonding cutoff (ESC-010): an item
    of its own due before either it need never deliver, while ours, due later, stays claimable -- it
    would keep what we deliver, or win our bond if we did not deliver. An item of ours due no later than
    that item of theirs is unclaimable with it, so terms whose every item is due at once are taken.

    Args:
        theirs: the items the counterparty would give under the contract.
        mine: the items we would give.
        terms: its terms; without an escrow nobody arbitrates any claim (CMT-005), and nothing is refused.
        expires_at_ms: the expiry of the offer (or counter) that would be accepted.
        accept_at_ms: the time of our Accept when we sign one (it forms the contract then), else None.
    """
    if not terms.escrow:
        return ""
    bound, why = (
        (expires_at_ms, "its Accept may be dated up to the offer's expiry (NEG-007, CMT-011)")
        if accept_at_ms is None
        else (accept_at_ms, "it is due before our Accept (CMT-011)")
    )
    if terms.issuer_bond or terms.audience_bond:
        cutoff = expires_at_ms + BOND_GRACE_MS
        if cutoff > bound:
            bound, why = cutoff, f"bonding may complete up to the bonding cutoff {cutoff} (ESC-010, CMT-009)"
    last_of_mine = max((item.deadline_ms for item in mine), default=0)
    for index, item in enumerate(theirs):
        if item.deadline_ms < bound and item.deadline_ms < last_of_mine:
            return (
                f"CMT-014: the counterparty's item {index} ({item.category}) is due at {item.deadline_ms}, "
                f"before {bound}: {why}, so no claim on it would be taken while ours, due up to "
                f"{last_of_mine}, could be"
            )
    return ""


def free_exit_until(c: Contract, me: str) -> int:
    """Until when (our clock) the counterparty's Revoke could still discharge something it owes us in
    return (SPEC 9.3, CMT-012); 0 when it cannot, or when leaving would cost it enough.

    Under terms that allow revocation, a Revoke the escrow stamps at ``t`` discharges every item due at
    or after ``t + notice_ms`` (CMT-003); without ``forfeit_bond`` the revoker's bond comes back. So
    while one of the counterparty's items is neither delivered to us nor due before a Revoke sent now
    could take effect, it may take what we delivered and leave owing nothing for it. A Revoke sent at
    our ``now`` is stamped no earlier than ``now - CLOCK_TOLERANCE_MS`` (the escrow's clock may run
    that far behind ours), so an item due at ``deadline_ms`` is safe from ``deadline_ms - notice_ms +
    CLOCK_TOLERANCE_MS + 1`` on. No hold: terms without revocation, a Revoke already effective (what it
    left owed is fixed, and the escrow takes no second one, CMT-005), or ``forfeit_bond`` with the
    counterparty's locked bond at least the declared value of everything we give (leaving pays us at
    least what it kept).

    Args:
        c: the contract.
        me: our key, one of its parties.
    """
    terms = c.proposal.terms.revocation
    if not terms.allowed or c.revokes:
        return 0
    other = c.other(me)
    covered = c.locked.get(other, 0) >= sum(item.value for item in c.items(me))
    if terms.forfeit_bond and other not in c.settled and covered:
        return 0  # leaving forfeits to us at least the value of what we give
    due = [it.deadline_ms for i, it in enumerate(c.items(other)) if (other, i) not in c.delivered]
    if not due:
        return 0
    return max(due) - terms.notice_ms + CLOCK_TOLERANCE_MS + 1


def revocable_hold_until(c: Contract, me: str, item_index: int) -> int:
    """From when (our clock) we deliver our item ``item_index`` under ``c`` (SPEC 9.3, CMT-012): once
    the counterparty's Revoke can no longer discharge what it owes in return (:func:`free_exit_until`),
    and at the latest :data:`REVOCABLE_HOLD_MARGIN_MS` before the item's own deadline, so that holding
    it never makes us late. 0: no hold."""
    until = free_exit_until(c, me)
    if not until:
        return 0
    return min(until, c.items(me)[item_index].deadline_ms - REVOCABLE_HOLD_MARGIN_MS)
