"""An escrow's balances, replayed from its own ledger statements (SPEC.md section 9.4).

:class:`Book` applies Deposit, BondLock, Release, Forfeit and Refund literally
(a lock moves funds even when the party lacks them) and reports, alongside,
each way a statement breaks the ledger's invariants as a :class:`Finding`. The
escrow keeps its balances with it (and never finds anything: its statements
pass the same checks before they are signed); the audit replays a ledger with
it to prove conservation of funds and bond state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from a2a_coop.protocol.statements import VerifiedStatement

# Bodies only an escrow issues: its ledger entries.
LEDGER_BODIES: Final = frozenset({"deposit", "bond_lock", "release", "forfeit", "refund", "ruling", "stamp"})
# Ledger entries that move funds.
MONEY_BODIES: Final = frozenset({"deposit", "bond_lock", "release", "forfeit", "refund"})


@dataclass(frozen=True)
class Finding:
    """One provable fault in an escrow ledger (or in the evidence shown with it).

    Attributes:
        code: the names SPEC.md section 9.6 lists -- ``LOCK_EXCEEDS_AVAILABLE``, ``DOUBLE_LOCK``,
            ``SETTLEMENT_WITHOUT_LOCK``, ``DOUBLE_SETTLEMENT``, ``AMOUNT_MISMATCH``, ``NEGATIVE_BALANCE``,
            ``MIXED_CURRENCY``, ``EVIDENCE_MISSING``, ``ESCROW_AMBIGUOUS``, ``ENTRY_TOO_LARGE``,
            ``UNSTAMPED_EVIDENCE``, ``UNWITNESSED``, ``ANSWER_TAKEN_TWICE``, ``STAMPED_TWICE``,
            ``RULING_WRONG``, ``RELEASE_NOT_DUE``, ``REFUND_NOT_DUE``, ``LOCK_NOT_DUE``,
            ``FORFEIT_WITHOUT_CAUSE``, ``ACTION_MISSING`` -- or the SPEC error code of a statement that
            fails verification (``CHAIN_GAP``, ``EQUIVOCATION``, ...).
        message: for humans.
        digests: the statements that prove it, oldest first.
    """

    code: str
    message: str
    digests: tuple[bytes, ...]


@dataclass
class Bond:
    amount: int
    locked_by: bytes  # digest of the BondLock
    settled_by: bytes | None = None  # digest of the Release, Forfeit or Refund


class Book:
    """Balances replayed from an escrow's own statements, one at a time.

    Applies every statement literally (a lock moves funds even when the party
    lacks them) and reports, alongside, each way the statement breaks the
    ledger's invariants. The escrow's own book never reports anything: its
    statements pass the same checks before they are signed.
    """

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.locked: dict[str, int] = {}
        self.bonds: dict[tuple[bytes, str], Bond] = {}  # (contract, party) -> bond
        self.currency: tuple[str, bytes] | None = None  # (currency, first Deposit's digest)

    def balance(self, party: str) -> tuple[int, int]:
        return self.available.get(party, 0), self.locked.get(party, 0)

    def parties(self) -> dict[str, tuple[int, int]]:
        return {p: self.balance(p) for p in sorted({*self.available, *self.locked})}

    def apply(self, vs: VerifiedStatement) -> list[Finding]:
        body, d = vs.body, vs.digest
        if body not in MONEY_BODIES:
            return []
        msg = vs.body_message
        party, amount = msg.party, msg.amount
        before = {p: self.balance(p) for p in (party, getattr(msg, "beneficiary", ""))}
        out: list[Finding] = []
        if body == "deposit":
            if self.currency is None:
                self.currency = (msg.currency, d)
            elif msg.currency != self.currency[0]:
                out.append(
                    Finding(
                        "MIXED_CURRENCY",
                        f"deposit in {msg.currency!r} on a ledger kept in {self.currency[0]!r}",
                        (self.currency[1], d),
                    )
                )
            self._move(self.available, party, amount)
        elif body == "bond_lock":
            key = (msg.contract, party)
            held = self.bonds.get(key)
            if held is not None:
                out.append(Finding("DOUBLE_LOCK", "a second lock of one bond", (held.locked_by, d)))
            else:
                self.bonds[key] = Bond(amount, d)
            if amount > self.available.get(party, 0):
                out.append(
                    Finding(
                        "LOCK_EXCEEDS_AVAILABLE",
                        f"lock of {amount} with {self.available.get(party, 0)} available",
                        (d,),
                    )
                )
            self._move(self.available, party, -amount)
            self._move(self.locked, party, amount)
        else:
            bond = self.bonds.get((msg.contract, party))
            if bond is None:
                out.append(Finding("SETTLEMENT_WITHOUT_LOCK", f"{body} of a bond never locked", (d,)))
            elif bond.settled_by is not None:
                out.append(Finding("DOUBLE_SETTLEMENT", f"{body} of a settled bond", (bond.settled_by, d)))
            else:
                bond.settled_by = d
                if amount != bond.amount:
                    out.append(
                        Finding(
                            "AMOUNT_MISMATCH",
                            f"{body} of {amount}, {bond.amount} locked",
                            (bond.locked_by, d),
                        )
                    )
            self._move(self.locked, party, -amount)
            self._move(self.available, msg.beneficiary if body == "forfeit" else party, amount)
        for p, (was_available, was_locked) in before.items():
            now_available, now_locked = self.balance(p)
            if (now_available < 0 <= was_available) or (now_locked < 0 <= was_locked):
                out.append(Finding("NEGATIVE_BALANCE", f"{body} leaves {p:.40} below zero", (d,)))
        return out

    def settle_elsewhere(self, contract: bytes, party: str, by: bytes) -> None:
        """ESC-023 (f): the bond ``party`` locked for ``contract``, which another key speaking for the escrow
        settled by the statement ``by`` (a sibling successor's Release, Refund or Forfeit, ESC-022 (d)), is
        settled here too: its amount leaves the locked balance and is credited to no one in this ledger --
        the other key's ledger paid it, once. A later settlement of it here is a ``DOUBLE_SETTLEMENT``."""
        bond = self.bonds[(contract, party)]
        bond.settled_by = by
        self._move(self.locked, party, -bond.amount)

    @staticmethod
    def _move(balances: dict[str, int], party: str, amount: int) -> None:
        balances[party] = balances.get(party, 0) + amount
