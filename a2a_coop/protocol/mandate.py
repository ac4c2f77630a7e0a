"""Mandate checks: what a principal allowed its agent to sign (SPEC.md section 4, MND-*).

Two kinds of check, both pure:

* :func:`check_against_mandate` needs only the statement, its mandate and (for
  an Accept) the proposal accepted: validity window, counterparties,
  categories, currency, per-deal range, execution window (MND-003..MND-008).
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
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.errors import MandateViolation
from a2a_coop.protocol.statements import VerifiedStatement

Mandate = identity_pb2.Mandate


def _violation(requirement: str, detail: str) -> MandateViolation:
    return MandateViolation(detail, requirement=requirement)


def side_value(proposal: trade_pb2.Offer, issuer_side: bool) -> int:
    """Declared value one side puts at stake: its items plus its bond (MND-004).

    ``issuer_side`` is True for the side of the proposal's signer (``gives`` and
    ``issuer_bond``), False for its audience (``wants`` and ``audience_bond``).
    """
    items = proposal.gives if issuer_side else proposal.wants
    bond = proposal.terms.issuer_bond if issuer_side else proposal.terms.audience_bond
    return sum(i.value for i in items) + bond


def committed_value(vs: VerifiedStatement, accepted: trade_pb2.Offer | None = None) -> int | None:
    """What signing ``vs`` puts at stake for its issuer, or None if it commits nothing.

    Offer and Counter commit the issuer's own side; an Accept commits the
    acceptor's side of ``accepted`` (the audience side of that proposal).
    """
    if vs.body == "offer":
        return side_value(vs.statement.offer, True)
    if vs.body == "counter":
        return side_value(vs.statement.counter.proposal, True)
    if vs.body == "accept" and accepted is not None:
        return side_value(accepted, False)
    return None


def check_against_mandate(
    vs: VerifiedStatement, mandate: identity_pb2.Mandate, accepted: trade_pb2.Offer | None = None
) -> None:
    """MND-002 (binding), MND-003..MND-008. Raises MandateViolation.

    Args:
        vs: the statement, already through :func:`verify_statement`.
        mandate: the Mandate body its ``header.mandate`` names.
        accepted: for an Accept, the proposal being accepted (if known).
    """
    h = vs.header
    if mandate.agent != h.issuer:
        raise _violation("MND-002", "the mandate delegates to a different key")
    if not mandate.valid_from_ms <= h.issued_at_ms < mandate.valid_until_ms:
        raise _violation("MND-003", "issued outside the mandate's validity window")
    if h.audience and mandate.allowed_counterparties and h.audience not in mandate.allowed_counterparties:
        raise _violation("MND-005", "audience is not an allowed counterparty")
    proposal: trade_pb2.Offer | None
    if vs.body == "offer":
        proposal = vs.statement.offer
    elif vs.body == "counter":
        proposal = vs.statement.counter.proposal
    else:
        proposal = accepted if vs.body == "accept" else None
    if proposal is None:
        return
    if mandate.allowed_categories:
        allowed = set(mandate.allowed_categories)
        for item in [*proposal.gives, *proposal.wants]:
            if item.category not in allowed:
                raise _violation("MND-006", f"category {item.category!r} is not allowed")
    if proposal.terms.currency != mandate.currency:
        raise _violation("MND-007", f"currency {proposal.terms.currency!r} is not the mandate's")
    value = committed_value(vs, proposal)
    assert value is not None
    if not mandate.min_per_deal <= value <= mandate.max_per_deal:
        raise _violation(
            "MND-004", f"deal value {value} outside [{mandate.min_per_deal}, {mandate.max_per_deal}]"
        )
    window_end = mandate.execution_window_end_ms or mandate.valid_until_ms
    for item in [*proposal.gives, *proposal.wants]:
        if item.deadline_ms > window_end:
            raise _violation("MND-008", "a deadline falls after the mandate's execution window")


@dataclass
class Exposure:
    """What one agent, under one mandate, has at stake."""

    # digest -> (value, issued_at, expires_at)
    live_offers: dict[bytes, tuple[int, int, int]] = field(default_factory=dict)
    # contract id -> (value, formed_at)
    open_contracts: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    # Ended contracts only matter for budget periods: kept as formed_at times in order with running
    # totals, so a period's sum is two bisections however long the history grows.
    _ended_at: list[int] = field(default_factory=list)
    _ended_total: list[int] = field(default_factory=lambda: [0])

    @property
    def ended_contracts(self) -> list[tuple[int, int]]:
        """``(value, formed_at)`` of every ended contract, in formed_at order."""
        totals = self._ended_total
        return [(totals[i + 1] - totals[i], at) for i, at in enumerate(self._ended_at)]

    def end_contract(self, value: int, formed_at: int) -> None:
        if not self._ended_at or formed_at >= self._ended_at[-1]:
            self._ended_at.append(formed_at)
            self._ended_total.append(self._ended_total[-1] + value)
            return
        rows = sorted([*self.ended_contracts, (value, formed_at)], key=lambda r: r[1])  # rare: out of order
        self._ended_at = [at for _, at in rows]
        self._ended_total = [0]
        for v, _ in rows:
            self._ended_total.append(self._ended_total[-1] + v)

    def outstanding(self, now_ms: int) -> int:
        live = sum(v for v, _, exp in self.live_offers.values() if exp >= now_ms)
        return live + sum(v for v, _ in self.open_contracts.values())

    def committed_between(self, start_ms: int, end_ms: int, now_ms: int) -> int:
        """Contracts formed in [start, end) plus offers issued then that are still live at now (MND-009)."""
        lo, hi = bisect_left(self._ended_at, start_ms), bisect_left(self._ended_at, end_ms)
        total = self._ended_total[hi] - self._ended_total[lo]
        total += sum(v for v, at in self.open_contracts.values() if start_ms <= at < end_ms)
        live = self.live_offers.values()
        return total + sum(v for v, at, exp in live if start_ms <= at < end_ms and exp >= now_ms)


class ExposureBook:
    """Exposure per mandate digest, and the stateful mandate checks (MND-009, MND-010)."""

    def __init__(self) -> None:
        self.by_mandate: dict[bytes, Exposure] = {}

    def exposure(self, mandate_digest: bytes) -> Exposure:
        return self.by_mandate.setdefault(mandate_digest, Exposure())

    def check(
        self, vs: VerifiedStatement, mandate: identity_pb2.Mandate, value: int, replaces: bytes = b""
    ) -> None:
        """Would committing ``value`` more at ``vs``'s issue time break the caps?

        Args:
            replaces: digest of the issuer's own live offer this one supersedes
                (its value no longer counts), if any.
        """
        exp = self.by_mandate.get(vs.header.mandate) or Exposure()  # a check records nothing (ERR-003)
        now = vs.header.issued_at_ms
        freed = exp.live_offers[replaces][0] if replaces in exp.live_offers else 0
        outstanding = exp.outstanding(now) - freed + value
        if outstanding > mandate.max_outstanding:
            raise _violation(
                "MND-010", f"outstanding value would be {outstanding} > cap {mandate.max_outstanding}"
            )
        if not mandate.period_ms:  # no period, so the budget is all there is: zero means zero (MND-004)
            if value > mandate.budget_per_period:
                raise _violation("MND-009", f"value {value} > budget {mandate.budget_per_period}")
        else:
            k = (now - mandate.valid_from_ms) // mandate.period_ms
            start = mandate.valid_from_ms + k * mandate.period_ms
            used = exp.committed_between(start, start + mandate.period_ms, now) - freed + value
            if used > mandate.budget_per_period:
                raise _violation("MND-009", f"period budget would be {used} > {mandate.budget_per_period}")

    # -- recording (called once a statement is accepted) ---------------------------

    def offer_live(
        self, mandate_digest: bytes, offer_digest: bytes, value: int, issued: int, expires: int
    ) -> None:
        self.exposure(mandate_digest).live_offers[offer_digest] = (value, issued, expires)

    def offer_dead(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        self.exposure(mandate_digest).live_offers.pop(offer_digest, None)

    def contract_formed(
        self, mandate_digest: bytes, contract: bytes, value: int, formed_at: int, from_offer: bytes = b""
    ) -> None:
        exp = self.exposure(mandate_digest)
        exp.live_offers.pop(from_offer, None)
        exp.open_contracts[contract] = (value, formed_at)

    def contract_ended(self, mandate_digest: bytes, contract: bytes) -> None:
        exp = self.exposure(mandate_digest)
        ended = exp.open_contracts.pop(contract, None)
        if ended is not None:
            exp.end_contract(*ended)
