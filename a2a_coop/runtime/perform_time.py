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
bonding completes after its deadline).
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
