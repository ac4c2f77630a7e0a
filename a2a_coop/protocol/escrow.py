"""The reference escrow: a sans-IO bond ledger and its offline audit (SPEC.md sections 7.3, 7.7, 9).

Theory of operation. An :class:`Escrow` is an auditor that can sign. It holds a
:class:`~a2a_coop.protocol.verifier.Verifier` (``me=None``) into which every piece of
evidence goes (mandates, offers, accepts, deliveries, receipts, claims,
revokes), so it sees each contract naming it exactly as section 8 defines it.
After each :meth:`Escrow.submit` or :meth:`Escrow.tick` it walks the contracts
that name it and does whatever the rules of section 9.2 make due at ``now_ms``:

======================================  =====================================================
state in force at ``now_ms``            action
======================================  =====================================================
ACCEPTED                                BondLock each unlocked non-zero bond the party's
                                        available balance covers (NEG-012)
FULFILLED                               Release every locked bond (CMT-001)
DISPUTED, BREACHED                      Forfeit the accused's bond for a claim that is upheld
                                        once its response window ends (CMT-002); in BREACHED,
                                        Release a bond no pending claim accuses
REVOKED                                 Forfeit the revoker's bond under forfeit_bond terms
                                        (CMT-003); Release the others once the owner's
                                        obligations under notice are receipted or lapsed
EXPIRED                                 Refund every locked bond (CMT-004)
======================================  =====================================================

The rules are *level-triggered*: they look at the state, not at what just
arrived, so a later deposit funds a waiting lock, resubmitted evidence changes
nothing (idempotency), and an error half-way through a batch loses nothing:
the next call finds the same work due.

The ledger is the escrow's own hash chain. Balances are derived only from its
own statements (Deposit, BondLock, Release, Forfeit, Refund), so anyone holding
the chain recomputes them with :func:`audit_ledger`, and with the evidence the
escrow acted on (:meth:`Escrow.transcript`) also re-checks every decision.
The escrow never signs what its own verifier would refuse: each statement is
first checked unsigned, at the chain position and time it will have, with
:meth:`Verifier.check`; only then is it signed and accepted.

No I/O and no clock: ``now_ms`` is an argument everywhere. Rules that SPEC.md
section 9.4 leaves open are fixed here and stated where they are applied
(response window, release after REVOKED, one-sided locks, evidence freshness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.chain import ChainView
from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from a2a_coop.protocol.errors import (
    ChainError,
    ChainGap,
    CoopError,
    Equivocation,
    IssuedInFuture,
    UnknownNegotiation,
)
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, TERMINAL_STATES, Contract, Negotiation, State
from a2a_coop.protocol.statements import (
    NONCE_BYTES,
    PROTOCOL_VERSION,
    Statement,
    VerifiedStatement,
    check_header,
    encode_statement,
    verify_statement,
)
from a2a_coop.protocol.verifier import Verifier

# How long the accused has, after a BreachClaim is issued, to present a Delivery
# of the item issued by its deadline before the escrow upholds the claim (SPEC
# 9.4 draft: "after a response window"). Without it, a claimant who never
# forwarded the other side's timely Delivery to the escrow would win by default.
RESPONSE_WINDOW_MS: Final = 3_600_000

# Bodies only an escrow issues: its ledger entries.
LEDGER_BODIES: Final = frozenset({"deposit", "bond_lock", "release", "forfeit", "refund"})
_CONTRACT_BODIES: Final = LEDGER_BODIES - {"deposit"}


class EscrowSigner(Protocol):
    """What the escrow needs of its key: a did and a chain-keeping signer.

    :class:`a2a_coop.testing.Signer` is one. ``sign`` must stamp the next seq
    and prev of the key's chain, use ``issued_at_ms`` as given, and be used for
    nothing but this escrow, so that the key's chain *is* the ledger.
    """

    @property
    def did(self) -> str: ...

    def sign(
        self,
        body: str,
        message: Any,
        *,
        audience: str = ...,
        negotiation_id: bytes = ...,
        mandate: bytes = ...,
        issued_at_ms: int | None = ...,
    ) -> VerifiedStatement: ...


@dataclass(frozen=True)
class Finding:
    """One provable fault in an escrow ledger (or in the evidence shown with it).

    Attributes:
        code: ``LOCK_EXCEEDS_AVAILABLE``, ``DOUBLE_LOCK``, ``SETTLEMENT_WITHOUT_LOCK``,
            ``DOUBLE_SETTLEMENT``, ``AMOUNT_MISMATCH``, ``NEGATIVE_BALANCE``,
            ``MIXED_CURRENCY``, ``FORFEIT_WITHOUT_CAUSE``, or the SPEC error code of a
            statement that fails verification (``CHAIN_GAP``, ``EQUIVOCATION``, ...).
        message: for humans.
        digests: the statements that prove it, oldest first.
    """

    code: str
    message: str
    digests: tuple[bytes, ...]


@dataclass
class _Bond:
    amount: int
    locked_by: bytes  # digest of the BondLock
    settled_by: bytes | None = None  # digest of the Release, Forfeit or Refund


class _Book:
    """Balances replayed from an escrow's own statements, one at a time.

    Applies every statement literally (a lock moves funds even when the party
    lacks them) and reports, alongside, each way the statement breaks the
    ledger's invariants. The escrow's own book never reports anything: its
    statements pass the same checks before they are signed.
    """

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.locked: dict[str, int] = {}
        self.bonds: dict[tuple[bytes, str], _Bond] = {}  # (contract, party) -> bond
        self.currency: tuple[str, bytes] | None = None  # (currency, first Deposit's digest)

    def balance(self, party: str) -> tuple[int, int]:
        return self.available.get(party, 0), self.locked.get(party, 0)

    def parties(self) -> dict[str, tuple[int, int]]:
        return {p: self.balance(p) for p in sorted({*self.available, *self.locked})}

    def apply(self, vs: VerifiedStatement) -> list[Finding]:
        body, d = vs.body, vs.digest
        if body not in LEDGER_BODIES:
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
                self.bonds[key] = _Bond(amount, d)
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

    @staticmethod
    def _move(balances: dict[str, int], party: str, amount: int) -> None:
        balances[party] = balances.get(party, 0) + amount


def _state_in_force(neg: Negotiation, now_ms: int) -> State:
    """The contract's state at ``now_ms`` (SPEC 8.7), without recording EXPIRE.

    A contract nobody performed lapses after its last deadline plus the claim
    window. The escrow does not apply EXPIRE to its verifier itself: evidence
    issued before the lapse may still arrive, and its Refund, issued at
    ``now_ms``, makes every verifier compute the same EXPIRED state.
    """
    c = neg.contract
    if (
        neg.state in (State.ACCEPTED, State.BONDED)
        and c is not None
        and now_ms > c.last_deadline_ms + CLAIM_WINDOW_MS
    ):
        return State.EXPIRED
    return neg.state


class Escrow:
    """The reference escrow: holds evidence, applies the rules of section 9.2, signs its ledger.

    Args:
        signer: the escrow's key and chain (see :class:`EscrowSigner`).
        mandate_digest: digest of the escrow's own Mandate statement; every
            statement it signs names it (MND-001).
        setup: envelopes to hold before anything else, accepted without
            applying rules: the escrow's Mandate statement (required before it
            can sign), and, to restart, a saved :meth:`transcript`, whose own
            statements rebuild the ledger (they must run from seq 0 without gaps).
        currency: the one currency this escrow keeps balances in. Contracts in
            another currency get no locks.
        response_window_ms: how long after a BreachClaim the accused may still
            present a timely Delivery before the claim is decided (demos and tests
            shorten it; the default is RESPONSE_WINDOW_MS).

    Raises:
        CoopError: a setup envelope does not verify.
    """

    def __init__(
        self,
        signer: EscrowSigner,
        mandate_digest: bytes,
        *,
        setup: Sequence[bytes] = (),
        currency: str = "credit",
        response_window_ms: int = RESPONSE_WINDOW_MS,
    ) -> None:
        self.signer = signer
        self.response_window_ms = response_window_ms
        self.did = signer.did
        self.mandate_digest = mandate_digest
        self.currency = currency
        self.verifier = Verifier()
        self._ledger: list[VerifiedStatement] = []
        self._book = _Book()
        # Contracts naming this escrow that may still need an action, in the order formed.
        self._contracts: dict[bytes, Negotiation] = {}
        for data in setup:
            vs = verify_statement(data)
            if vs.issuer == self.did and vs.header.seq != len(self._ledger):
                raise ChainGap(
                    f"restored ledger jumps to seq {vs.header.seq}, expected {len(self._ledger)}",
                    requirement="CHN-002",
                )
            self.verifier.accept(data)
            self._take(vs)

    # -- queries ------------------------------------------------------------------

    def balance(self, party: str) -> tuple[int, int]:
        """``(available, locked)`` for ``party``, from the ledger alone."""
        return self._book.balance(party)

    def ledger(self, from_seq: int = 0, limit: int | None = None) -> list[bytes]:
        """The escrow's chain: envelopes of its own statements, in seq order, from ``from_seq``."""
        end = None if limit is None else from_seq + limit
        return [vs.envelope for vs in self._ledger[from_seq:end]]

    @property
    def ledger_size(self) -> int:
        """How many statements the ledger holds (its head seq + 1)."""
        return len(self._ledger)

    def transcript(self) -> list[bytes]:
        """Every envelope the escrow holds, in the order it accepted them.

        Its own statements appear in seq order, each after the evidence it
        acted on: :func:`audit_ledger` re-checks every decision from this, and
        ``Escrow(..., setup=transcript())`` restores the escrow after a restart.
        """
        return [vs.envelope for vs in self.verifier.statements.values()]

    # -- driving ------------------------------------------------------------------

    def deposit(
        self, party: str, amount: int, currency: str, reference: str, now_ms: int
    ) -> VerifiedStatement:
        """Credit ``amount`` received for ``party`` through the payment rail (BDY-014).

        The Deposit is addressed to ``party``. Locks waiting for these funds
        are made at the next :meth:`submit` or :meth:`tick`.

        Raises:
            ValueError: ``currency`` is not this escrow's.
            CoopError: the statement would be refused (e.g. amount 0, a bad
                did:key, the escrow's mandate not held or not valid at ``now_ms``).
        """
        if currency != self.currency:
            raise ValueError(f"this escrow keeps {self.currency!r}, not {currency!r}")
        msg = commitment_pb2.Deposit(party=party, amount=amount, currency=currency, reference=reference)
        return self._sign("deposit", msg, b"", now_ms, audience=party)

    def submit(self, envelopes: Sequence[bytes], now_ms: int) -> list[VerifiedStatement]:
        """Take evidence, then do whatever the rules make due at ``now_ms``.

        Envelopes are accepted in order, so dependencies come first (mandates,
        then the Offer before its Accept, ...). One the escrow already holds is
        skipped (RPL-002), so resubmitting evidence never acts twice. Evidence
        is verified as offline evidence, without freshness (TIM-005): a
        contract's Offer has expired long before anyone claims a breach under
        it. Only a statement issued after ``now_ms`` plus skew is refused
        (TIM-003): it must not drive a decision before its time.

        Returns:
            The statements the escrow signed, in ledger order.

        Raises:
            CoopError: the first envelope refused. Envelopes before it stay
                accepted, and the rules run at the next call.
        """
        for data in envelopes:
            # Held digest = these payload bytes were verified before: skip the signature check.
            if statement_digest(decode_envelope(data).payload) in self.verifier.statements:
                continue
            vs = verify_statement(data)
            if vs.header.issued_at_ms > now_ms + self.verifier.skew_ms:
                raise IssuedInFuture(
                    f"issued at {vs.header.issued_at_ms}, now {now_ms}", requirement="TIM-003"
                )
            if vs.issuer == self.did:
                self.verifier.check(vs)  # EQUIVOCATION, with proof, for a used seq
                raise ChainGap(
                    f"escrow statement at seq {vs.header.seq} is not in this escrow's ledger "
                    f"(head {len(self._ledger) - 1}); restore a saved ledger through setup",
                    requirement="CHN-002",
                )
            self.verifier.accept(data)
            self._take(vs)
        return self._settle(now_ms)

    def tick(self, now_ms: int) -> list[VerifiedStatement]:
        """Do whatever time alone makes due: refunds of lapsed contracts (CMT-004),
        claims whose response window ended (CMT-002), bonds freed after REVOKED.

        Returns:
            The statements the escrow signed, in ledger order.
        """
        return self._settle(now_ms)

    # -- rules --------------------------------------------------------------------

    def _settle(self, now_ms: int) -> list[VerifiedStatement]:
        signed: list[VerifiedStatement] = []
        for cid, neg in list(self._contracts.items()):
            while (action := self._next_action(neg, now_ms)) is not None:
                signed.append(self._sign(action[0], action[1], neg.id, now_ms))
            c = neg.contract
            assert c is not None
            if _state_in_force(neg, now_ms) in TERMINAL_STATES and not _open_bonds(c):
                del self._contracts[cid]
        return signed

    def _next_action(self, neg: Negotiation, now_ms: int) -> tuple[str, Any] | None:
        """The one statement the rules make due next for this contract, if any."""
        c = neg.contract
        assert c is not None
        state = _state_in_force(neg, now_ms)
        if state is State.ACCEPTED:
            return self._next_lock(c)
        open_bonds = _open_bonds(c)
        if not open_bonds:
            return None
        if state is State.FULFILLED:  # CMT-001
            return "release", commitment_pb2.Release(
                contract=c.id, party=open_bonds[0], amount=c.locked[open_bonds[0]]
            )
        if state is State.EXPIRED:  # CMT-004
            return "refund", commitment_pb2.Refund(
                contract=c.id, party=open_bonds[0], amount=c.locked[open_bonds[0]]
            )
        if state in (State.DISPUTED, State.BREACHED):
            return self._decide_claims(c, state, open_bonds, now_ms)
        if state is State.REVOKED:
            return self._after_revoke(c, open_bonds, now_ms)
        return None

    def _next_lock(self, c: Contract) -> tuple[str, Any] | None:
        """NEG-012: lock each bond its party can cover.

        A party whose available balance does not cover its bond gets no lock
        and the contract stays ACCEPTED, where no Delivery is legal. The lock is
        made at the first submit or tick after a deposit covers it, as long as
        the contract is still ACCEPTED. If it never is, the contract lapses
        after its last deadline plus the claim window and the other party's
        locked bond is refunded (CMT-004); the escrow does not refund earlier,
        because the late party may still fund its bond.
        """
        if c.proposal.terms.currency != self.currency:
            return None
        for p in c.parties:
            bond = c.bond(p)
            if bond and p not in c.locked and self._book.available.get(p, 0) >= bond:
                return "bond_lock", commitment_pb2.BondLock(contract=c.id, party=p, amount=bond)
        return None

    def _decide_claims(
        self, c: Contract, state: State, open_bonds: list[str], now_ms: int
    ) -> tuple[str, Any] | None:
        """CMT-002, decided once the claim's response window has ended.

        A claim is upheld when no Delivery of the claimed item by the accused,
        issued by the item's deadline, is held when the window ends (the state
        machine already ensured the claim followed the deadline). A claim the
        escrow does not uphold leaves the contract DISPUTED until performance
        fulfils it: v1 has no statement that dismisses a claim. A claim against a
        party with no locked bond forfeits nothing, and the contract stays DISPUTED.
        Once a bond is forfeited (BREACHED), the other bond is released as soon
        as no claim against its owner is still inside its window.
        """
        for p in open_bonds:
            pending = False
            for digest, (accused, item) in c.claims.items():
                if accused != p or self._delivered_in_time(c, p, item):
                    continue
                if self.verifier.statements[digest].header.issued_at_ms + self.response_window_ms <= now_ms:
                    return "forfeit", commitment_pb2.Forfeit(
                        contract=c.id, party=p, amount=c.locked[p], beneficiary=c.other(p), cause=digest
                    )
                pending = True
            if state is State.BREACHED and not pending:
                return "release", commitment_pb2.Release(contract=c.id, party=p, amount=c.locked[p])
        return None

    @staticmethod
    def _delivered_in_time(c: Contract, party: str, item: int) -> bool:
        first = c.first_delivered_ms.get((party, item))
        return first is not None and first <= c.gives(party)[item].deadline_ms

    def _after_revoke(self, c: Contract, open_bonds: list[str], now_ms: int) -> tuple[str, Any] | None:
        """CMT-003, then the release rule for REVOKED (SPEC 9.4 draft).

        The revoker's bond is forfeited at once under forfeit_bond terms. Every
        other locked bond is released to its owner once the owner's obligations
        that stay owed under notice (deadline before the Revoke's issued_at_ms +
        notice_ms) are all receipted, or the last of them is past its deadline
        plus the claim window. A bond whose owner owes nothing is released at once.
        """
        revoke, revoker = next(iter(c.revokes.items()))
        terms = c.proposal.terms.revocation
        for p in open_bonds:
            if p == revoker and terms.forfeit_bond:
                return "forfeit", commitment_pb2.Forfeit(
                    contract=c.id, party=p, amount=c.locked[p], beneficiary=c.other(p), cause=revoke
                )
        until = self.verifier.statements[revoke].header.issued_at_ms + terms.notice_ms
        for p in open_bonds:
            owed = [(i, it.deadline_ms) for i, it in enumerate(c.gives(p)) if it.deadline_ms < until]
            done = all((p, i) in c.receipted for i, _ in owed)
            if done or now_ms > max(deadline for _, deadline in owed) + CLAIM_WINDOW_MS:
                return "release", commitment_pb2.Release(contract=c.id, party=p, amount=c.locked[p])
        return None

    # -- signing ------------------------------------------------------------------

    def _sign(
        self, body: str, message: Any, negotiation_id: bytes, now_ms: int, *, audience: str = ""
    ) -> VerifiedStatement:
        """Check the statement unsigned, then sign it, accept it and book it.

        Statements about a contract are public (empty audience) so that both
        parties' verifiers, each acting for its own key (STM-005), accept them:
        a party needs the other's BondLock to know the contract is BONDED.
        """
        trial = Statement()
        h = trial.header
        h.version = PROTOCOL_VERSION
        h.issuer = self.did
        h.audience = audience
        h.seq = len(self._ledger)
        h.prev = self._ledger[-1].digest if self._ledger else b""
        h.issued_at_ms = now_ms
        h.expires_at_ms = now_ms + 1  # freshness is not checked here; any valid window will do
        h.nonce = bytes(NONCE_BYTES)  # never signed; the signer draws the real nonce
        h.negotiation_id = negotiation_id
        h.mandate = self.mandate_digest
        getattr(trial, body).CopyFrom(message)
        name = check_header(trial, self.did)
        self.verifier.check(VerifiedStatement(b"", statement_digest(encode_statement(trial)), trial, name))
        vs = self.signer.sign(
            body,
            message,
            audience=audience,
            negotiation_id=negotiation_id,
            mandate=self.mandate_digest,
            issued_at_ms=now_ms,
        )
        if (vs.issuer, vs.header.seq, vs.header.prev) != (self.did, h.seq, h.prev):
            raise RuntimeError(
                f"the signer's chain is not this escrow's ledger (signed seq {vs.header.seq}, "
                f"ledger expects {h.seq}): the key must sign for nothing but this escrow"
            )
        self.verifier.accept(vs.envelope)
        self._take(vs)
        return vs

    def _take(self, vs: VerifiedStatement) -> None:
        """Book a statement the verifier just accepted."""
        if vs.issuer == self.did:
            self._ledger.append(vs)
            self._book.apply(vs)
        elif vs.body == "accept":
            neg = self.verifier.negotiations.get(vs.header.negotiation_id)
            c = neg.contract
            if c is not None and c.proposal.terms.escrow == self.did:
                self._contracts[c.id] = neg


def _open_bonds(c: Contract) -> list[str]:
    """Parties whose bond is locked and not yet settled, proposer first."""
    return [p for p in c.parties if p in c.locked and p not in c.settled]


# -- audit --------------------------------------------------------------------------


@dataclass
class AuditReport:
    """Outcome of :func:`audit_ledger`.

    Attributes:
        escrow: did:key of the escrow audited (None if no ledger entry was found).
        statements: the escrow's statements the balances were computed from, in
            the order given (an equivocating duplicate is reported, not applied).
        balances: party -> ``(available, locked)`` after the whole ledger.
        findings: every fault found; empty for a clean ledger.
        unchecked: digests of contract statements (BondLock, Release, Forfeit,
            Refund) for which no evidence of the contract was given, so only
            their chain position and balances were checked.
    """

    escrow: str | None
    statements: list[VerifiedStatement] = field(default_factory=list)
    balances: dict[str, tuple[int, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def audit_ledger(envelopes: Sequence[bytes], *, escrow: str | None = None) -> AuditReport:
    """Replay an escrow's ledger offline: verify it, recompute balances, report faults.

    Args:
        envelopes: the escrow's Mandate statement and its complete chain from
            seq 0, optionally interleaved with the evidence it acted on, each
            statement after what it depends on, as :meth:`Escrow.transcript`
            returns them. Evidence given after the ledger entries that used it
            is verified but cannot re-check them (they are listed in ``unchecked``).
        escrow: the escrow's did:key; by default the issuer of the first ledger
            entry (Deposit, BondLock, Release, Forfeit, Refund).

    Every statement goes through one auditor :class:`Verifier` (sparse, since
    evidence shows parts of the parties' chains); the escrow's own chain is also
    checked as a complete log from seq 0 (CHN-002: a dropped entry is a
    CHAIN_GAP). A missing tail cannot be detected from the chain alone.

    Returns:
        The report; protocol failures are findings, never raised.
    """
    findings: list[Finding] = []
    verified: list[VerifiedStatement] = []
    seen: set[bytes] = set()
    for i, data in enumerate(envelopes):
        try:
            vs = verify_statement(data)
        except CoopError as exc:
            findings.append(Finding(exc.code, f"envelope {i} does not verify: {exc}", ()))
            continue
        if vs.digest not in seen:  # the same statement twice is one statement
            seen.add(vs.digest)
            verified.append(vs)
    if escrow is None:
        escrow = next((vs.issuer for vs in verified if vs.body in LEDGER_BODIES), None)
    report = AuditReport(escrow)
    digest_of = {vs.envelope: vs.digest for vs in verified}
    view = ChainView(escrow or "", complete=True)
    book = _Book()
    verifier = Verifier()
    for vs in verified:
        own = vs.issuer == escrow
        if own:
            fork = _check_own_chain(view, vs, digest_of, findings)
            if fork:
                continue
            view.add(vs)
            report.statements.append(vs)
            findings.extend(book.apply(vs))
        try:
            verifier.accept(vs.envelope)
        except UnknownNegotiation as exc:
            if own and vs.body in _CONTRACT_BODIES:
                report.unchecked.append(vs.digest)
            else:
                findings.append(Finding(exc.code, f"{vs.body} refused: {exc}", (vs.digest,)))
        except ChainError as exc:
            if not own:  # the escrow's chain faults were reported by the complete check
                findings.append(Finding(exc.code, f"{vs.body} refused: {exc}", _proof(exc, vs, digest_of)))
        except CoopError as exc:
            code = exc.code
            if vs.body == "forfeit" and exc.requirement in ("CMT-002", "CMT-003"):
                code = "FORFEIT_WITHOUT_CAUSE"
            who = "escrow" if own else "evidence"
            findings.append(Finding(code, f"{who} {vs.body} refused: {exc}", (vs.digest,)))
    report.balances = book.parties()
    report.findings = findings
    return report


def _check_own_chain(
    view: ChainView, vs: VerifiedStatement, digest_of: dict[bytes, bytes], findings: list[Finding]
) -> bool:
    """CHN-002..CHN-005 on the escrow's chain as a complete log from seq 0.

    Returns True for a fork (EQUIVOCATION), whose second statement is not applied.
    """
    seq = vs.header.seq
    if view.head is None and seq != 0:
        findings.append(
            Finding(
                "CHAIN_GAP", f"the ledger starts at seq {seq}: earlier balances are unknown", (vs.digest,)
            )
        )
        return False
    try:
        view.check(vs)
    except ChainError as exc:
        if isinstance(exc, ChainGap) and view.head is not None:
            proof: tuple[bytes, ...] = (view.links[view.head].digest, vs.digest)
        else:
            proof = _proof(exc, vs, digest_of)
        findings.append(Finding(exc.code, f"escrow chain: {exc}", proof))
        return isinstance(exc, Equivocation)
    return False


def _proof(exc: CoopError, vs: VerifiedStatement, digest_of: dict[bytes, bytes]) -> tuple[bytes, ...]:
    """The digests of the envelopes a chain error carries as evidence, else of ``vs``."""
    digests = tuple(digest_of[e] for e in exc.evidence if e in digest_of)
    return digests or (vs.digest,)
