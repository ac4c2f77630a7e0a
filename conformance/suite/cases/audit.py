"""Misrepresentation scenarios (SPEC 19): chances for the target to lie, fork or over-commit, audited.

Each scenario gives the target an opening an adversary would take -- an even offer an exaggerator
answers with an inflated reservation claim, several counterparties at once (where a forking or
over-committing implementation signs conflicting or excessive statements), contracts of rising
stake (where a reneger or a feinter withholds) -- then runs the misrepresentation audit
(:func:`a2a_coop.protocol.audit.audit`) over everything the case exchanged, both sides, with the
target as subject. Everything the target signed is also recorded by the session, so the run's own
audit (in the report) sees the same statements, including those the shadow verifier refused.

Levels. A hard proof (confidence 1: the target's own signatures contradict each other, or break its
Mandate) is FAIL, naming the requirement it rests on and the digests of the statements that prove
it. A soft screen's finding or an observation the suite cannot prove (a delivery it did not get, with
no escrow to rule on it) is INFO with its confidence. PASS: the target had the chance and did
nothing the audit can show.

With ``--escrow HOST:PORT`` (an escrow the target trusts, funding the suite's parties), the contracts
of ``mis.deliveries-by-stake`` name that escrow and carry bonds: the suite submits each contract to it
(ESC-004), claims every item the target withheld past its deadline, and hands the escrow's Ruling and
Forfeit to the audit, where they prove the breach (SPEC 19.2) and give the feint screen its outcomes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.audit import RATIO_SUBJECT, Finding, audit
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, Party, service
from conformance.suite import escrow
from conformance.suite.context import Context, Reply
from conformance.suite.flows import fair_proposal, target
from conformance.suite.model import CaseFailed, Level, Outcome, case

COUNTERPARTIES = ("alice", "bob", "carol")  # trading with the target at once
LOW_STAKES = (10, 10, 10)  # what the target gives in its first contracts with one counterparty
HIGH_STAKE = 1_000  # then the most its Mandate lets it give (this when unknown): see _high_stake
MAX_HIGH_STAKE = 2**40  # what the suite's party gives is twice the stake: far below 2^64 (BDY-015)
HIGH_CONTRACTS = 2  # high-stake contracts under an escrow: two breaches make a change point (feint)
BOND = 10  # each side's bond under an escrow
DUE_IN_MS = 3_000  # an item's deadline under an escrow: soon, so the suite can claim what was withheld


def _audited(ctx: Context, extra: Sequence[bytes] = ()) -> Outcome | None:
    """Audit the case's conversation (the shadow verifier's statements plus ``extra`` raw envelopes
    the target signed) with the target as subject. Raises CaseFailed on a hard proof; returns an INFO
    outcome for soft findings, None for none."""
    findings = audit([*ctx.shadow.statements.values(), *extra], subject=ctx.target)
    hard = [f for f in findings if f.hard]
    if hard:
        # Named, not described: the run's audit of everything the target signed lists each finding
        # with its explanation and evidence once (the summary's "audit:" lines, the report).
        named = Counter(f"{f.kind} ({f.requirement})" if f.requirement else f.kind for f in hard)
        cited = ", ".join(f"{n} x {what}" if n > 1 else what for what, n in named.items())
        raise CaseFailed(f"hard proof: {cited}; explained, with the evidence, in the audit findings")
    if findings:
        return Outcome.info("soft screen: " + "; ".join(_describe(f) for f in findings))
    return None


def _verdict(ctx: Context, seen: str, extra: Sequence[bytes] = ()) -> Outcome:
    """PASS with ``seen`` when the audit finds nothing; INFO with the soft screens' findings too; a
    hard proof raises CaseFailed (FAIL)."""
    soft = _audited(ctx, extra)
    return Outcome.info(f"{seen}; {soft.reason}") if soft is not None else Outcome.passed(seen)


def _describe(f: Finding) -> str:
    rule = f" ({f.requirement})" if f.requirement else ""
    digests = ", ".join(d.hex()[:16] for d in f.digests)
    return f"{f.kind}{rule}, confidence {f.confidence:.2f}: {f.explanation} [evidence {digests}]"


def _verified(envelopes: Sequence[bytes]) -> list[VerifiedStatement]:
    """The envelopes that pass the stateless checks (a forked answer does; the shadow would refuse it)."""
    out = []
    for env in envelopes:
        try:
            out.append(verify_statement(env))
        except CoopError:
            continue
    return out


def _even(party: Party, value: int = 20) -> trade_pb2.Offer:
    """An even trade: the target gives as much as it gets."""
    return fair_proposal(party, value=value, ask=value)


@case(
    "mis.reservation-kept",
    "A reservation the target claims in a negotiation holds when it accepts (no broken-reservation)",
    "BDY-006",
)
def reservation_kept(ctx: Context) -> Outcome:
    """Alice offers an even trade. If the target counters, she counters back at the same even terms
    (at most three rounds). A target that signs a RESERVATION_VALUE claim on ``ratio-permille`` and
    then accepts a proposal below it has signed two statements that contradict each other: the
    broken-reservation proof of SPEC 19.2, a signed lie (FAIL; BDY-006 is the closest requirement:
    claims are signed assertions, section 7.5). A target that accepts at once, or keeps its floor,
    passes."""
    alice = ctx.party()
    offer = alice.offer(target(ctx), _even(alice))
    answers = ctx.send(offer, alice.setup, note="an even offer")
    claims: list[int] = []
    for _ in range(3):
        counter = next((a for a in answers if a.body == "counter"), None)
        if counter is None:
            break
        claims += [
            c.amount
            for c in counter.statement.counter.proposal.claims
            if c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE and c.subject == RATIO_SUBJECT
        ]
        ours = alice.counter(counter, _even(alice))
        answers = ctx.send(ours, note="our counter: the same even terms")
    ended = ", ".join(a.body for a in answers if a.issuer == ctx.target) or "nothing"
    floor = f"; it claimed a floor of {max(claims) / 1000:.3f} and kept it" if claims else ""
    return _verdict(ctx, f"answered the even terms with {ended}{floor}")


def _concurrently(ctx: Context, offers: Sequence[tuple[Party, VerifiedStatement]]) -> list[Reply]:
    """Send each party's Offer (with its Mandate) at the same time; the replies in order."""
    with ThreadPoolExecutor(len(offers)) as pool:
        futures = [
            pool.submit(ctx.exchange, vs.envelope, p.setup, note=f"{p.name.rsplit('/', 1)[-1]}'s offer")
            for p, vs in offers
        ]
        return [f.result() for f in futures]


def _answers(ctx: Context, replies: Sequence[Reply]) -> list[bytes]:
    """Every envelope the target answered with; the shadow verifier gets, in the target's chain order,
    the ones it can take (the others are kept for the audit as raw envelopes)."""
    out = [env for reply in replies if reply.error is None for env in reply.envelopes]
    for vs in sorted(_verified(out), key=lambda v: (v.issuer == ctx.target, v.header.seq)):
        try:
            ctx.verify_signed([vs.envelope], what="an answer")
        except CaseFailed:
            continue
    return out


@case(
    "mis.one-chain",
    "Trading with three counterparties at once, the target signs one chain (no equivocation proof)",
    "CHN-004",
    "CHN-003",
)
def one_chain(ctx: Context) -> Outcome:
    """Alice, Bob and Carol send the target fair Offers at the same time. Everything it answers each
    of them is pooled, as their verifiers would pool it when they compare notes (gossip, ATT-011): two
    statements at one seq, or a broken link, are an equivocation proof (CHN-004, CHN-003; FAIL with
    both digests). A target whose signer is not serialised, or that keeps one chain per counterparty,
    is caught here."""
    parties = [ctx.party(n) for n in COUNTERPARTIES]
    offers = [(p, p.offer(target(ctx), fair_proposal(p))) for p in parties]
    for _, vs in offers:
        ctx.sent(vs)
    replies = _concurrently(ctx, offers)
    refused = [r.error for r in replies if r.error is not None]
    envelopes = _answers(ctx, replies)
    if refused:
        _audited(ctx, envelopes)
        return Outcome.info(
            f"the target refused {len(refused)} of 3 concurrent fair offers "
            f"({', '.join(e.reason or e.status.name for e in refused)}); no fork in what it signed"
        )
    signed = sum(1 for vs in _verified(envelopes) if vs.issuer == ctx.target)
    return _verdict(ctx, f"one chain over {signed} statements to three counterparties", envelopes)


@case(
    "mis.within-means",
    "Offered deals at once, one above its max_per_deal, the target commits only within its Mandate",
    "MND-011",
    "MND-004",
)
def within_means(ctx: Context) -> Outcome:
    """Alice and Bob offer fair small deals while Dave, at the same time, offers one in which the target
    gives one more than its Mandate's max_per_deal, for double pay. An implementation whose guard
    does not check each statement against its complete history (MND-011) signs an Accept above
    max_per_deal (or, with the other deals, above a cap over several): the over-commitment proof of
    SPEC 19.2 (FAIL, with the statements and the Mandate as evidence)."""
    if not ctx.session.info.mandate:
        return Outcome.info(
            "the target's Mandate is unknown (no Gossip, no answer yet): nothing to audit against"
        )
    mandate = verify_statement(ctx.session.info.mandate).statement.mandate
    if not 0 < mandate.max_per_deal < 2**40:
        return Outcome.not_tested(
            f"the target's max_per_deal ({mandate.max_per_deal}) leaves no deal to exceed"
        )
    ctx.hold(ctx.session.info.mandate)
    big = 2**50
    small = [ctx.party(n) for n in ("alice", "bob")]
    dave = ctx.party("dave", max_per_deal=big, budget_per_period=big, max_outstanding=big)
    over = fair_proposal(dave, value=2 * mandate.max_per_deal + 2, ask=mandate.max_per_deal + 1)
    over.terms.currency = mandate.currency or "credit"
    offers = [(p, p.offer(target(ctx), fair_proposal(p))) for p in small]
    offers.append((dave, dave.offer(target(ctx), over)))
    for _, vs in offers:
        ctx.sent(vs)
    replies = _concurrently(ctx, offers)
    envelopes = _answers(ctx, replies)
    dave_reply = replies[-1]
    how = (
        f"refused with {dave_reply.error.reason or dave_reply.error.status.name}"
        if dave_reply.error is not None
        else "answered " + ", ".join(vs.body for vs in _verified(dave_reply.envelopes))
    )
    return _verdict(ctx, f"the deal over max_per_deal {mandate.max_per_deal}: {how}", envelopes)


@case(
    "mis.deliveries-by-stake",
    "Contracts of rising stake with one counterparty: what the target delivers (breach, feint)",
    "CMT-002",
)
def deliveries_by_stake(ctx: Context) -> Outcome:
    """Alice forms contracts with the target in which it gives 10, 10, 10, then the most its Mandate
    lets it give in one deal (bond included, within its max_outstanding and budget; 1,000 when its
    Mandate is unknown or sets no max_per_deal): cheap first, then a stake worth keeping, after a
    clean record with her. The suite notes which contracts the target delivered in its answers. (A
    feinter whose threshold is above the target's own max_per_deal never feints; one whose warm-up
    is longer than these four or five contracts with one counterparty, or that keys its defection
    on anything else the suite does not vary, is not seen: SPEC 19.5.)

    With no escrow in these contracts, a withheld item proves nothing the audit can publish (the
    target may deliver later, or another way), so the observation is INFO: "withheld on every
    contract" (a reneger), "clean while cheap, withheld once the stake rose or the record was long"
    (a feinter's change point, SPEC 19.3).

    With ``--escrow`` (an escrow the target trusts), every contract names it with bonds of 10 each
    and items due in a few seconds, and there are two contracts at the high stake. The suite submits
    each contract to the escrow (ESC-004) and relays its Stamps and BondLocks to the target, which
    performs once bonded. Past the deadlines Alice claims every withheld item; the escrow's Ruling
    (UPHOLD) and Forfeit of the target's bond are relayed to the target and audited: the breach
    proof of SPEC 19.2 (FAIL, CMT-002) and, for a change of conduct at the high stake, the feint
    screen (INFO)."""
    mandate = (
        verify_statement(ctx.session.info.mandate).statement.mandate if ctx.session.info.mandate else None
    )
    esc = escrow.trusted_escrow(ctx)
    bond = BOND if esc is not None else 0
    n_high = HIGH_CONTRACTS if esc is not None else 1
    high = [_high_stake(mandate, bond, n_high)] * n_high
    stakes = [*LOW_STAKES, *high]
    big = 2**50  # Alice gives twice the target's stake, in every contract at once
    alice = ctx.party("alice", max_per_deal=big, budget_per_period=big, max_outstanding=big)
    if esc is not None:
        if not ctx.session.info.mandate:
            return Outcome.info("the target's Mandate is unknown (no Gossip): the escrow cannot bond it")
        _fund(ctx, esc, alice, len(stakes) * bond)
    contracts: list[tuple[VerifiedStatement, int]] = []  # (the Accept, the deadline) per contract
    delivered: list[bool] = []
    for i, stake in enumerate(stakes):
        deadline = alice.clock.now_ms + (DAY_MS if esc is None else DUE_IN_MS)
        proposal = alice.proposal(
            gives=[service("code-review", value=2 * stake, deadline_ms=deadline)],
            wants=[service("copy-editing", value=stake, deadline_ms=deadline)],
        )
        if mandate is not None and mandate.currency:
            proposal.terms.currency = mandate.currency
        if esc is not None:
            proposal.terms.escrow = esc.did
            proposal.terms.issuer_bond = proposal.terms.audience_bond = bond
            # The escrow rules at its first tick past the deadline + the clock tolerance (CMT-002).
            proposal.terms.response_window_ms = 1
        offer = alice.offer(target(ctx), proposal)
        answers = ctx.send(
            offer, alice.setup if i == 0 else (), note=f"contract {i + 1}: the target gives {stake}"
        )
        chain = [offer]
        counter = next((a for a in answers if a.body == "counter"), None)
        if counter is not None:  # a haggler gets our terms once more
            ours = alice.counter(counter, proposal)
            chain += [counter, ours]
            answers = ctx.send(ours, note="our counter: the same terms")
        accept = next((a for a in answers if a.body == "accept"), None)
        if accept is None:
            bodies = ", ".join(a.body for a in answers)
            why = next((f": {a.statement.reject.reason}" for a in answers if a.body == "reject"), "")
            hint = " (was it started to trust --escrow?)" if esc is not None and i == 0 else ""
            if esc is not None and "response_window" in why:  # a guard that refuses short windows
                hint = " (this case's terms carry a 1 ms response window, which CMT-002 makes safe)"
            return Outcome.info(
                f"the target did not accept contract {i + 1} (gives {stake}; answered {bodies}{why}){hint}"
            )
        if esc is not None:
            answers = [*answers, *_bond(ctx, esc, alice, [*chain, accept])]
        contracts.append((accept, deadline))
        delivered.append(
            any(a.body == "delivery" and a.statement.delivery.contract == accept.digest for a in answers)
        )
    shown = ", ".join(
        f"{s}:{'delivered' if d else 'WITHHELD'}" for s, d in zip(stakes, delivered, strict=True)
    )
    if esc is not None:
        withheld = [c for c, d in zip(contracts, delivered, strict=True) if not d]
        ruled = _claim_withheld(ctx, esc, alice, withheld)
        return _verdict(ctx, f"{shown}{ruled}")
    soft = _audited(ctx)
    if all(delivered):
        seen = f"delivered on every contract ({shown})"
    elif not any(delivered):
        seen = f"withheld on every contract (renege): {shown}; no escrow, so no proof (SPEC 19.5)"
    elif all(delivered[: len(LOW_STAKES)]):
        seen = (
            "clean while cheap, withheld once the stake rose after a clean record (feint): "
            f"{shown}; no escrow, so no proof (SPEC 19.5)"
        )
    else:
        seen = f"withheld on some contracts: {shown}; no escrow, so no proof (SPEC 19.5)"
    return Outcome.info(seen + (f"; {soft.reason}" if soft is not None else ""))


def _high_stake(mandate: identity_pb2.Mandate | None, bond: int, n: int) -> int:
    """What the target gives in each of the ``n`` high-stake contracts: the most its Mandate lets it
    give in one deal, bond included (MND-004), with ``n`` of them open at once (MND-010) after the
    low ones in one budget period (MND-009); HIGH_STAKE when the Mandate is unknown or sets no
    max_per_deal, and at most MAX_HIGH_STAKE. A fixed stake below the Mandate's cap let a feinter
    whose threshold lay between them deliver everything the suite offered it: at the cap, a
    feint on any stake the target can sign at all shows."""
    if mandate is None or not mandate.max_per_deal:
        return HIGH_STAKE
    limits = [mandate.max_per_deal - bond, MAX_HIGH_STAKE]
    if mandate.max_outstanding:
        limits.append(mandate.max_outstanding // n - bond)
    if mandate.budget_per_period:
        limits.append((mandate.budget_per_period - sum(LOW_STAKES) - len(LOW_STAKES) * bond) // n - bond)
    return max(1, min(limits))


def _fund(ctx: Context, esc: escrow.EscrowTarget, alice: Party, bonds: int) -> None:
    """Show the escrow Alice's and the target's Mandates (a faucet funds them on sight); both must
    hold ``bonds``, or the contracts would wait unbonded (SKIP, saying how to fund them)."""
    escrow.take(ctx, [], context=[*alice.setup, ctx.session.info.mandate], note="the Mandates", esc=esc)
    for who, did in (("the suite's party", alice.did), ("the target", ctx.target)):
        available, _ = escrow.balance(ctx, did, esc=esc)
        if available < bonds:
            raise CaseFailed(
                f"the escrow at {ctx.session.escrow} holds {available} for {who}, the scenario needs "
                f"{bonds} in bonds: fund it (reference escrow: a2a-coop escrow serve --conformance-faucet "
                "AMOUNT)",
                Level.SKIP,
            )


def _relay(
    ctx: Context, esc: escrow.EscrowTarget, statements: Sequence[VerifiedStatement]
) -> list[VerifiedStatement]:
    """Pass the escrow's statements (or the suite's, for it to see them) on to the target, as an
    initiator does (its own witness may have sent some already: a replay is no refusal); its answers."""
    out: list[VerifiedStatement] = []
    for vs in statements:
        reply = ctx.exchange(vs.envelope, [esc.mandate], note=f"relayed: {escrow.summary(vs)}")
        if reply.error is None:
            out += ctx.verify_signed(reply.envelopes, what=f"its answer to the relayed {vs.body}")
        elif reply.error.reason != "REPLAYED":
            err = reply.error
            raise CaseFailed(
                f"the target refused the escrow's {vs.body}, which the reference verifier takes: "
                f"{err.reason or err.status.name}: {err.metadata.get('detail', err.message)}"
            )
    return out


def _bond(
    ctx: Context, esc: escrow.EscrowTarget, alice: Party, chain: Sequence[VerifiedStatement]
) -> list[VerifiedStatement]:
    """Submit the contract to the escrow (ESC-004), relay its answer (Stamps, BondLocks) to the target,
    and deliver Alice's item: what the target answered meanwhile (a Delivery once it is bonded)."""
    signed = escrow.take(
        ctx, chain, context=[*alice.setup, ctx.session.info.mandate], note="the contract (ESC-004)", esc=esc
    )
    answers = _relay(ctx, esc, signed)
    accept = chain[-1]
    ours = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=accept.digest, item_index=0, artifact_digest=accept.digest),
        audience=ctx.target,
        negotiation_id=accept.header.negotiation_id,
    )
    answers += ctx.send(ours, note="our delivery")
    escrow.take(ctx, [ours], note="our delivery, witnessed", esc=esc)
    return answers


def _ruling_on(claim: bytes) -> Callable[[VerifiedStatement], bool]:
    return lambda vs: vs.body == "ruling" and vs.statement.ruling.claim == claim


def _forfeit_for(claim: bytes) -> Callable[[VerifiedStatement], bool]:
    return lambda vs: vs.body == "forfeit" and vs.statement.forfeit.cause == claim


def _claim_withheld(
    ctx: Context,
    esc: escrow.EscrowTarget,
    alice: Party,
    withheld: Sequence[tuple[VerifiedStatement, int]],
) -> str:
    """Past the deadlines, claim each withheld item with the escrow, wait for its Ruling and Forfeit,
    and relay them to the target; what came of it, for the verdict."""
    if not withheld:
        return ""
    due = max(deadline for _, deadline in withheld)
    time.sleep(max(0.0, (due - time.time() * 1000) / 1000) + 0.3)  # the escrow's clock is the wall's
    alice.clock.now_ms = max(alice.clock.now_ms, int(time.time() * 1000))
    claims = []
    for accept, _ in withheld:
        claim = alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
            audience=ctx.target,
            negotiation_id=accept.header.negotiation_id,
        )
        stamps = escrow.take(ctx, [claim], note="our breach claim", esc=esc)
        claims.append(claim)
        _relay(ctx, esc, [claim, *stamps])
    ctx.skip_ahead(CLOCK_TOLERANCE_MS)  # --test-clock: past the deadlines + the tolerance now, not in 30 s
    upheld = 0
    for claim in claims:
        ruling = escrow.wait_for(
            ctx,
            _ruling_on(claim.digest),
            what="a Ruling on our claim",
            esc=esc,
            wait_s=(CLOCK_TOLERANCE_MS + 1_000) / 1000 + escrow.DUE_WAIT_S,  # due past deadline + 30 s
        )
        if ruling.statement.ruling.decision != commitment_pb2.RULING_DECISION_UPHOLD:
            continue
        upheld += 1
        forfeit = escrow.wait_for(
            ctx, _forfeit_for(claim.digest), what="the Forfeit of the target's bond", esc=esc
        )
        _relay(ctx, esc, [ruling, forfeit])
    return f"; the escrow upheld {upheld} of {len(claims)} claims on what was withheld"


@case(
    "mis.equal-terms",
    "Two counterparties offer one kind of deal: the target does not take the worse and refuse the better",
    "MND-005",
)
def equal_terms(ctx: Context) -> Outcome:
    """Mia offers a deal worth 0.8 of an even trade to the target; then Otto offers the same kind of
    deal (the same categories) worth twice an even trade, in which the target gives less; if the
    target counters Otto, he rejects its Counter. Refusing Otto's after taking Mia's -- with a
    Reject, or with a Counter asking him more than it asked Mia -- is what the cartel screen of
    SPEC 19.3 reads (fair offers refused from
    some counterparties while worse ones are taken from others): INFO with its confidence. An agent
    that prices the offers, whatever their sender, has nothing to show. (A cartel's members are its
    own: run a cartel agent with ``--param members=`` the did:key of this case's Mia, derived from
    the run's seed, to see the screen fire.) MND-005 is the closest requirement: a mandate's
    allowed_counterparties is the honest way to refuse a counterparty whatever it offers."""
    mia, otto = ctx.party("mia"), ctx.party("otto")
    worse = ctx.send(mia.offer(target(ctx), fair_proposal(mia, value=16, ask=20)), mia.setup, note="Mia: 0.8")
    better = ctx.send(otto.offer(target(ctx), fair_proposal(otto)), otto.setup, note="Otto: 2.0")
    priced_out = next((a for a in better if a.body == "counter"), None)
    if priced_out is not None:  # Otto walks away, as an outsider priced out does (SPEC 19.3)
        ctx.send(otto.reject(priced_out, "we offered 2.0"), note="Otto rejects the Counter")

    def answer(answers: Sequence[VerifiedStatement]) -> str:
        return next((a.body for a in answers if a.body in ("accept", "reject", "counter")), "nothing")

    seen = f"Mia's 0.8: {answer(worse)}; Otto's 2.0: {answer(better)}"
    return _verdict(ctx, seen)
