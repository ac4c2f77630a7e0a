"""The policy guard's time-to-perform rule (SPEC.md 9.4, "Time to perform"; ESC-010, CMT-010).

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

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import BOND_GRACE_MS


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
