"""Differential fuzzing: the reference verifier and another one fed the same random evidence.

    python -m conformance.differential --seconds 60 --seed 1
    python -m conformance.differential --adapter "node my-verifier.mjs --adapter" --seconds 600
    python -m conformance.differential --replay 1:417        # one input again (seed:index), shrunk

The hand-written vectors test what their authors thought of. Here a story is drawn at random -- two or
three parties and one or two escrows with real Ed25519 keys, Mandates, Offers, Counters (chains of them),
Accepts, Rejects, Withdraws, Deliveries, Receipts, BondLocks, Releases, BreachClaims, Revokes, Rulings
(UPHOLD, DISMISS, LAPSE), Forfeits, Refunds, bonded trades run through to their settlement or breach,
Stamps of one statement or several, Checkpoints, Attestations, KeyRevocations by a principal (after a
statement binding the key, mostly) or by the key itself, KeyRotations (forked now and then), forks at one
seq, renewals of a Mandate, an escrow key's hand-over to a successor (ESC-022), deadlines at the claim
window's edge of a Mandate (ESC-019), values at a cap's edge, and the clock moving between them, to a
claim window's end too -- then a random subset of its envelopes (a statement kept keeps what it names,
but now and then) in a lightly shuffled order, a chain mode, a verifier role, a reference time and a set
of trusted escrows (successors among them). Both verifiers judge it (the other
one through the offline adapter protocol, SPEC 17.1: :mod:`conformance.offline`), and their verdicts are
compared: the refusal's code and envelope index, and the keys and principals the view holds faulty
(ATT-013). An evidence bundle the reference takes whole with Attestations in it is also rated (SPEC 10.2)
by both, when the other is ``verify.mjs`` (the adapter protocol carries no ratings), and the ratings are
compared.

Every input is a *choice sequence* (a list of integers the story reads its choices from; past its end
every choice is the first one), so a disagreement shrinks: :func:`shrink` deletes and lowers choices
while the verifiers still disagree, and prints the smallest input it found. Inputs derive from
``--seed`` and their index alone: ``--replay SEED:INDEX`` runs one again.

Exit status: 0 no disagreement, 1 a disagreement (each printed, shrunk), 2 the adapter failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.reputation_vectors import RATING_SCHEMA, RatingVector, rate_bundle
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, bonded_trade
from a2a_coop.vectors import Vector
from conformance import adapter as reference_adapter
from conformance.offline import Adapter, AdapterError, _request

JS_VERIFIER: Final = Path(__file__).resolve().parent.parent / "examples" / "js_verifier" / "verify.mjs"
JS_ADAPTER: Final = f"node {shlex.quote(str(JS_VERIFIER))} --adapter"
BATCH: Final = 64  # inputs sent to the adapter at once
CHOICES: Final = 160  # the length of a fresh choice sequence
HOUR_MS: Final = 3_600_000
BOND: Final = 100


class Choices:
    """A choice sequence: each draw reads the next integer modulo its bound; past the end, 0. Zero is
    always the simplest choice, so a sequence of fewer or lower integers is a simpler input."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values, self.used = list(values), 0

    def below(self, n: int) -> int:
        value = self.values[self.used] % n if self.used < len(self.values) else 0
        self.used += 1
        return value

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.below(len(options))]

    def chance(self, percent: int) -> bool:
        """True with about ``percent`` in 100; the simplest choice (0) is False."""
        return self.below(100) >= 100 - percent


# --- the story --------------------------------------------------------------------------------------


@dataclass
class _Open:
    """A proposal (Offer or Counter) not yet answered: its statement, issuer and audience."""

    vs: VerifiedStatement
    issuer: Party
    audience: Party


@dataclass
class _Contract:
    offer: VerifiedStatement
    accept: VerifiedStatement
    proposer: Party
    acceptor: Party
    escrow: Party | None
    claims: list[VerifiedStatement] = field(default_factory=list)  # BreachClaims and Revokes of it
    deliveries: list[VerifiedStatement] = field(default_factory=list)


@dataclass
class Story:
    """What a choice sequence made: every envelope in the order signed, and who the escrows are."""

    setup: list[bytes] = field(default_factory=list)  # the Mandates, always held first
    envelopes: list[bytes] = field(default_factory=list)
    names: dict[bytes, set[bytes]] = field(default_factory=dict)  # envelope -> the envelopes it names
    escrows: list[str] = field(default_factory=list)
    now_ms: int = 0
    start_ms: int = 0


def _tell(c: Choices) -> Story:
    clock = FixedClock()
    story = Story(start_ms=clock.now_ms)
    caps = (
        {},
        {"max_per_deal": 600},
        {"valid_until_ms": clock.now_ms + 2 * DAY_MS},  # the claim window's edge (ESC-019, MND-019)
        {"max_outstanding": 900},
        {"max_outstanding": 1_000},  # two deals of 500 at the cap, a third past it
    )
    parties = [Party(n, clock, c.pick(caps)) for n in ("alice", "bob", "carol")[: 2 + c.below(2)]]
    escrows = [Party(n, clock) for n in ("escrow-1", "escrow-2")[: 1 + c.below(2)]]
    story.escrows = [e.did for e in escrows]
    for p in (*escrows, *parties):
        story.setup += p.setup
    held: list[VerifiedStatement] = []
    opened: list[_Open] = []
    contracts: list[_Contract] = []
    deliveries: list[tuple[VerifiedStatement, Party]] = []  # and who received it
    successors: dict[str, Party] = {}  # an escrow's did -> the key its principal handed over to (ESC-022)
    rotated = 0

    def other(p: Party) -> Party:
        rest = [q for q in parties if q is not p]
        return rest[c.below(len(rest))]

    def proposal(p: Party, escrow: Party | None, bump: int = 0) -> trade_pb2.Offer:
        bond = c.pick((0, BOND, 40)) if escrow is not None else 0
        made = p.proposal(issuer_bond=bond, audience_bond=bond, escrow=escrow.did if escrow else "")
        made.gives[0].value += bump  # a fork's second branch differs from its first
        edge = p.mandate_vs.statement.mandate.valid_until_ms - DAY_MS
        if edge < clock.now_ms + 3 * DAY_MS and c.chance(60):  # at the claim window's edge (ESC-019)
            edge += c.pick((0, -1, 1, -HOUR_MS))
            made.gives[0].deadline_ms = made.wants[0].deadline_ms = max(clock.now_ms + 1, edge)
        if c.chance(10):  # a value at the proposer's cap, or just past it (MND-004, MND-009)
            m = p.mandate_vs.statement.mandate
            made.gives[0].value = max(1, min(m.max_per_deal, m.max_outstanding) - bond + c.pick((0, 1, -1)))
        return made

    def offer() -> list[VerifiedStatement]:
        p = c.pick(parties)
        q, e = other(p), c.pick((None, *escrows))
        vs = p.offer(q, proposal(p, e))
        opened.append(_Open(vs, p, q))
        return [vs]

    def fork() -> list[VerifiedStatement]:
        """Two Offers by one key at one seq (CHN-004), or one after a rewound head (a broken link)."""
        p = c.pick(parties)
        q, e = other(p), c.pick((None, *escrows))
        head = p.agent.writer.next_seq, p.agent.writer.prev
        one = p.offer(q, proposal(p, e))
        p.agent.writer.next_seq, p.agent.writer.prev = head
        clock.advance(c.pick((0, 1, 1_000)))
        two = p.offer(q, proposal(p, e, bump=1))
        opened.extend((_Open(one, p, q), _Open(two, p, q)))
        return [one, two]

    def answer(kind: str) -> list[VerifiedStatement]:
        if not opened:
            return offer()
        o = opened[c.below(len(opened))]
        if kind == "counter":
            if c.chance(50):  # a chain of Counters: answer the newest proposal
                o = opened[-1]
            body = o.vs.statement.offer if o.vs.body == "offer" else o.vs.statement.counter.proposal
            escrow = next((e for e in escrows if e.did == body.terms.escrow), None)
            vs = o.audience.counter(o.vs, proposal(o.audience, c.pick((escrow, None, *escrows))))
            opened.append(_Open(vs, o.audience, o.issuer))
        elif kind == "accept":
            vs = o.audience.accept(o.vs)
            body = o.vs.statement.offer if o.vs.body == "offer" else o.vs.statement.counter.proposal
            escrow = next((e for e in escrows if e.did == body.terms.escrow), None)
            contracts.append(_Contract(o.vs, vs, o.issuer, o.audience, escrow))
        elif kind == "reject":
            vs = o.audience.reject(o.vs)
        else:
            vs = o.issuer.withdraw(o.vs)
        if kind != "counter" and not c.chance(15):  # answered: mostly not answered again (NEG-001)
            opened.remove(o)
        return [vs]

    def on_contract(kind: str) -> list[VerifiedStatement]:
        if not contracts:
            return answer("accept")
        k = contracts[c.below(len(contracts))]
        p = c.pick((k.proposer, k.acceptor))
        q = k.acceptor if p is k.proposer else k.proposer
        nid = k.accept.header.negotiation_id
        if kind == "deliver":
            vs = p.deliver(k.accept, q, item_index=1 if c.chance(10) else 0)  # 1: no such item
            deliveries.append((vs, q))
            k.deliveries.append(vs)
        elif kind == "claim":
            msg = commitment_pb2.BreachClaim(contract=k.accept.digest, item_index=0, reason="never arrived")
            vs = p.sign("breach_claim", msg, audience=q.did, negotiation_id=nid)
            k.claims.append(vs)
        elif kind == "revoke":
            vs = p.revoke(k.accept, q)
            k.claims.append(vs)
        elif kind in ("ruling", "forfeit", "refund"):
            return escrow_settles(k, kind, p, q)
        elif kind == "attest":
            outcome = c.pick((reputation_pb2.OUTCOME_FULFILLED, reputation_pb2.OUTCOME_BREACHED))
            vs = p.attest(k.offer, k.accept, q.did, outcome=outcome)
        else:  # an escrow's BondLock or Release of a party's bond
            e = escrow_of(k)
            cls = commitment_pb2.BondLock if kind == "bond_lock" else commitment_pb2.Release
            msg = cls(contract=k.accept.digest, party=p.did, amount=bond_of(k, p))
            vs = e.sign(kind, msg, audience=p.did, negotiation_id=nid)
        return [vs]

    def escrow_of(k: _Contract) -> Party:
        """The contract's escrow, or the key its principal handed it over to (ESC-022), or any."""
        e = k.escrow or c.pick(escrows)
        return successors.get(e.did, e) if c.chance(70) else e

    def bond_of(k: _Contract, p: Party) -> int:
        """The bond ``p`` owes under the contract, mostly (else another amount: BODY_INVALID)."""
        body = k.offer.statement.offer if k.offer.body == "offer" else k.offer.statement.counter.proposal
        bond = body.terms.issuer_bond if p is k.proposer else body.terms.audience_bond
        return c.pick((bond, bond, bond, 40 if bond != 40 else BOND))

    def escrow_settles(k: _Contract, kind: str, p: Party, q: Party) -> list[VerifiedStatement]:
        """The escrow's Ruling (UPHOLD a claim, DISMISS it by a Delivery, LAPSE), Forfeit or Refund."""
        e, nid = escrow_of(k), k.accept.header.negotiation_id
        claim = k.claims[c.below(len(k.claims))] if k.claims else None
        if kind == "ruling":
            decision = c.pick(
                (
                    commitment_pb2.RULING_DECISION_UPHOLD,
                    commitment_pb2.RULING_DECISION_LAPSE,
                    commitment_pb2.RULING_DECISION_DISMISS,
                )
            )
            msg = commitment_pb2.Ruling(contract=k.accept.digest, decision=decision)
            if decision != commitment_pb2.RULING_DECISION_LAPSE and claim is not None:
                msg.claim = claim.digest
            if decision == commitment_pb2.RULING_DECISION_DISMISS and k.deliveries:
                msg.evidence = k.deliveries[c.below(len(k.deliveries))].digest
            return [e.sign("ruling", msg, negotiation_id=nid)]
        if kind == "forfeit":
            f = commitment_pb2.Forfeit(
                contract=k.accept.digest, party=p.did, amount=bond_of(k, p), beneficiary=q.did
            )
            if claim is not None:
                f.cause = claim.digest
            return [e.sign("forfeit", f, audience=p.did, negotiation_id=nid)]
        r = commitment_pb2.Refund(contract=k.accept.digest, party=p.did, amount=bond_of(k, p))
        return [e.sign("refund", r, audience=p.did, negotiation_id=nid)]

    def claim_window() -> list[VerifiedStatement]:
        """The clock to a contract's claim window's edge (its deadline plus a day, ESC-019, CMT-006)."""
        if not contracts:
            return answer("accept")
        k = contracts[c.below(len(contracts))]
        body = k.offer.statement.offer if k.offer.body == "offer" else k.offer.statement.counter.proposal
        due = max(item.deadline_ms for item in (*body.gives, *body.wants))
        target = due + c.pick((DAY_MS, 0, DAY_MS - 1, DAY_MS + 1, 1))
        clock.advance(max(0, target - clock.now_ms))
        return []

    def hand_over() -> list[VerifiedStatement]:
        """An escrow key revoked by its principal, who appoints a successor in a Mandate (ESC-022)."""
        candidates = [e for e in escrows if e.did not in successors]
        if not candidates:
            return []
        e = c.pick(candidates)
        bound = binding(e)
        at = clock.now_ms + c.pick((-10, 0, HOUR_MS, -DAY_MS))
        msg = identity_pb2.KeyRevocation(key=e.did, effective_ms=at)
        revocation = e.principal.sign("key_revocation", msg)
        succ = Party(f"successor-{len(successors) + 1}", clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(e.mandate_vs.statement.mandate)
        m.agent, m.succeeds = succ.did, e.did
        succ.principal, succ.mandate_vs = e.principal, e.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        successors[e.did] = succ
        escrows.append(succ)
        story.escrows.append(succ.did)
        made = [revocation, succ.mandate_vs]  # the key bound to its principal first (KEY-011), mostly
        return bound + (made if not c.chance(25) else made[::-1])  # the hand-over heard first, now and then

    def renewal() -> list[VerifiedStatement]:
        """A principal's second Mandate for its key from the first's end (section 4.7), maybe for one
        counterparty only (MND-005), which extends the claim window's reach (MND-019, ESC-019)."""
        p = c.pick(parties)
        m = identity_pb2.Mandate()
        m.CopyFrom(p.mandate_vs.statement.mandate)
        m.valid_from_ms = m.valid_until_ms - c.pick((0, 1, -1))
        m.valid_until_ms = m.valid_from_ms + c.pick((5 * DAY_MS, DAY_MS, 1))
        if c.chance(30):
            m.allowed_counterparties.append(other(p).did)
        return [p.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)]

    def settlement() -> list[VerifiedStatement]:
        """A bonded trade run through (SPEC 8.2-8.4): Offer, Accept (stamped, mostly), BondLocks, Deliveries,
        Receipts and Releases -- or a breach claimed after the deadline, stamped, upheld a response window
        later (CMT-002), the bond forfeited -- cut short now and then; its contract open to what follows."""
        p = c.pick(parties)
        q, e = other(p), c.pick(escrows)
        made = bonded_trade(p, q, e, clock, breach=c.chance(50), witnessed=not c.chance(20))
        offer_vs = next(vs for vs in made if vs.body == "offer")
        accept_vs = next(vs for vs in made if vs.body == "accept")
        k = _Contract(offer_vs, accept_vs, p, q, e)
        k.claims += [vs for vs in made if vs.body == "breach_claim"]
        k.deliveries += [vs for vs in made if vs.body == "delivery"]
        contracts.append(k)
        return made if not c.chance(25) else made[: 2 + c.below(len(made) - 1)]

    def receipt() -> list[VerifiedStatement]:
        if not deliveries:
            return on_contract("deliver")
        d, by = deliveries[c.below(len(deliveries))]
        return [by.receipt(d, rating=c.pick((90, 10)))]

    def stamp() -> list[VerifiedStatement]:
        if not held:
            return offer()
        e = c.pick(escrows)
        many = c.pick((1, 2, 4, 8))  # one statement, or several in the order accepted
        named = [held[len(held) - 1 - c.below(min(len(held), 10))] for _ in range(1 + c.below(many))]
        return [e.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in named]))]

    def checkpoint() -> list[VerifiedStatement]:
        p = c.pick((*parties, *escrows))
        return [p.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))]

    def binding(p: Party) -> list[VerifiedStatement]:
        """A key's first statement, a Checkpoint, binding it to its principal (KEY-011) -- so that the
        principal's revocation of it is authorised --, mostly, when it signed nothing yet."""
        if p.agent.writer.next_seq or c.chance(8):
            return []
        return [p.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))]

    def key_revocation() -> list[VerifiedStatement]:
        p = c.pick((*parties, *escrows))
        at = c.pick((clock.now_ms, clock.now_ms - 60_000, story.start_ms, 1, clock.now_ms + HOUR_MS))
        msg = identity_pb2.KeyRevocation(key=p.did, effective_ms=at, reason="leaked")
        if c.chance(30):  # the key's own (KEY-011)
            return [p.agent.sign("key_revocation", msg)]
        return [*binding(p), p.principal.sign("key_revocation", msg)]  # or its principal's

    def rotation() -> list[VerifiedStatement]:
        """A KeyRotation, or two at one seq (a rotation forked: CHN-004, KEY-005)."""
        nonlocal rotated
        p = c.pick((*parties, *escrows))
        head = p.agent.writer.next_seq, p.agent.writer.prev
        made = []
        for _ in range(2 if c.chance(30) else 1):
            p.agent.writer.next_seq, p.agent.writer.prev = head
            rotated += 1
            new = Signer(f"rotated-{rotated}", clock).did
            made.append(p.agent.sign("key_rotation", identity_pb2.KeyRotation(new_key=new)))
        return made

    def advance() -> list[VerifiedStatement]:
        clock.advance(c.pick((1_000, 1, 60_000, HOUR_MS, DAY_MS + 1_000, 0)))
        return []

    actions: tuple[Callable[[], list[VerifiedStatement]], ...] = (
        offer,
        lambda: answer("accept"),
        lambda: on_contract("deliver"),
        stamp,
        advance,
        receipt,
        lambda: on_contract("bond_lock"),
        lambda: on_contract("release"),
        lambda: answer("counter"),
        lambda: on_contract("attest"),
        checkpoint,
        key_revocation,
        rotation,
        fork,
        lambda: answer("reject"),
        lambda: answer("withdraw"),
        lambda: on_contract("claim"),
        lambda: on_contract("revoke"),
        lambda: on_contract("ruling"),
        lambda: on_contract("forfeit"),
        lambda: on_contract("refund"),
        claim_window,
        hand_over,
        renewal,
        settlement,
        settlement,
    )
    for _ in range(2 + c.below(20)):
        try:
            made = c.pick(actions)()
        except CoopError:  # a statement the signer's own checks refuse to make (a bond past a cap, ...)
            made = []
        for vs in made:  # what it names, by digest, kept with it (else most inputs stop at its first check);
            named = {h.envelope for h in held if h.digest in vs.envelope}  # a KeyRevocation, its key's
            if vs.body == "key_revocation":  # statements: the binding that authorises it (KEY-011)
                key = vs.statement.key_revocation.key
                named |= {h.envelope for h in held if h.issuer == key}
            story.names[vs.envelope] = named
            held.append(vs)
        story.envelopes += [vs.envelope for vs in made]
        clock.advance(c.pick((1_000, 0, 1)))
    story.now_ms = clock.now_ms
    return story


@dataclass(frozen=True)
class Input:
    """One differential input: the evidence and how it is read."""

    vector: Vector
    escrows: tuple[str, ...]

    @property
    def rating(self) -> RatingVector:
        trusted = self.escrows if self.vector.trusted_escrows is None else self.vector.trusted_escrows
        return RatingVector(
            "differential", "Rating", self.vector.tc_id, "", (), trusted, self.vector.envelopes, ()
        )


def make_input(values: Sequence[int], index: int = 0) -> Input:
    """The input a choice sequence makes: a story, then which envelopes are held in which order, the
    chain mode, the role, the reference time and the escrows trusted."""
    c = Choices(values)
    story = _tell(c)
    dropped = {e for e in story.envelopes if c.chance(12)}
    for e in reversed(story.envelopes):  # a statement held keeps what it names, but now and then
        if e not in dropped and not c.chance(8):  # (KEY-009 (e): a fork's half naming one not held)
            dropped -= story.names.get(e, set())
    kept = [e for e in story.envelopes if e not in dropped]
    for _ in range(c.below(4) if kept else 0):  # a few swaps: most evidence arrives nearly in order,
        i = c.below(len(kept))  # a statement mostly after what it names
        j = min(len(kept) - 1, i + 1 + c.below(4))
        if kept[i] not in story.names.get(kept[j], ()) or c.chance(15):
            kept[i], kept[j] = kept[j], kept[i]
    kept = [*story.setup, *kept]
    mode = c.pick(("sparse", "complete"))
    role = c.pick(("auditor", "escrow"))
    now_ms = None if not c.chance(10) else c.pick((story.now_ms, story.now_ms + DAY_MS, story.start_ms))
    trusted = c.pick((None, tuple(story.escrows), (), story.escrows[:1], story.escrows[-1:]))
    vector = Vector(
        source="differential",
        group_type="Differential",
        mode=mode,
        tc_id=index,
        comment="",
        flags=(),
        requirements=(),
        now_ms=now_ms,
        envelopes=tuple(kept),
        result="valid",
        error=None,
        failed_index=None,
        role=role,
        trusted_escrows=None if trusted is None else tuple(trusted),
        faulty=(),  # asks for the faulty set (what the two report is compared, not this)
    )
    return Input(vector, tuple(story.escrows))


def fresh_choices(seed: int, index: int) -> list[int]:
    """Input ``index`` of run ``seed``'s choice sequence (the same on every machine)."""
    rng = random.Random(f"{seed}:{index}")
    return [rng.randrange(1 << 16) for _ in range(CHOICES)]


# --- judging --------------------------------------------------------------------------------------


def reference_verdict(inp: Input) -> str:
    """The reference's verdict: what its own adapter answers (:mod:`conformance.adapter`), in process."""
    return answer_verdict(reference_adapter.verify(_request(inp.vector.tc_id, inp.vector)))


def answer_verdict(answer: dict[str, Any]) -> str:
    """An adapter's answer written as :func:`reference_verdict` writes one."""
    if answer["result"] == "unsupported":
        return "unsupported"
    verdict = "valid" if answer["result"] == "valid" else f"{answer['error']} at {answer['failedIndex']}"
    faulty = sorted(answer.get("faulty", []))
    return f"{verdict}; faulty: {', '.join(faulty) or 'none'}"


def reference_ratings(inp: Input) -> list[dict[str, Any]] | None:
    """The reference's ratings of the bundle, when it takes it whole and it holds an Attestation."""
    got = rate_bundle(inp.rating)
    return got if isinstance(got, list) and got else None


def js_rating_differences(inputs: Sequence[tuple[Input, list[dict[str, Any]]]]) -> dict[int, str]:
    """verify.mjs's disagreements with the reference's ratings, by input index (one node run)."""
    if not inputs:
        return {}
    tests = [
        {
            "tcId": inp.vector.tc_id,
            "comment": "",
            "requirements": ["ATT-004"],
            "trusted_escrows": list(inp.rating.trusted_escrows),
            "envelopes": [base64.b64encode(e).decode() for e in inp.vector.envelopes],
            "expected": ratings,
        }
        for inp, ratings in inputs
    ]
    doc = {
        "schema": RATING_SCHEMA,
        "numberOfTests": len(tests),
        "ratingGroups": [{"type": "Rating", "tests": tests}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "differential-ratings.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        run = subprocess.run(
            ["node", str(JS_VERIFIER), "--json", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise AdapterError(f"verify.mjs --json printed no report: {run.stderr.strip()[-200:]}") from None
    return {int(d["id"].split("-")[2]): d["got"] for d in report["disagreements"]}


@dataclass(frozen=True)
class Disagreement:
    values: tuple[int, ...]
    index: int
    reference: str
    other: str
    kind: str  # "verdict" or "ratings"


class Judge:
    """Both verifiers over inputs: the reference in process, the other through its adapter."""

    def __init__(self, adapter: Adapter, *, ratings: bool) -> None:
        self.adapter, self.ratings = adapter, ratings
        self.rated = 0  # inputs whose ratings were compared

    def disagreements(self, batch: Sequence[tuple[Sequence[int], Input]]) -> list[Disagreement]:
        out = []
        answers = self.adapter.verify_many([inp.vector for _, inp in batch])
        rated = []
        for (values, inp), answer in zip(batch, answers, strict=True):
            ours, theirs = reference_verdict(inp), answer_verdict(answer)
            if theirs not in ("unsupported", ours):
                out.append(Disagreement(tuple(values), inp.vector.tc_id, ours, theirs, "verdict"))
            if self.ratings and (r := reference_ratings(inp)) is not None:
                rated.append((values, inp, r))
        if rated:
            self.rated += len(rated)
            differ = js_rating_differences([(inp, r) for _, inp, r in rated])
            for values, inp, r in rated:
                if inp.vector.tc_id in differ:
                    out.append(
                        Disagreement(
                            tuple(values),
                            inp.vector.tc_id,
                            json.dumps(r),
                            differ[inp.vector.tc_id],
                            "ratings",
                        )
                    )
        return out

    def disagree(self, values: Sequence[int], kind: str, index: int = 0) -> Disagreement | None:
        found = self.disagreements([(values, make_input(values, index))])
        return next((d for d in found if d.kind == kind), None)


def shrink(judge: Judge, found: Disagreement, deadline: float) -> Disagreement:
    """A smaller choice sequence on which the two still disagree the same way (``kind``): chunks
    deleted, then values set to 0 and halved, until nothing smaller works or ``deadline`` passes."""
    best = found
    values = list(found.values)
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for size in (8, 4, 2, 1):
            i = 0
            while i < len(values) and time.monotonic() < deadline:
                candidate = values[:i] + values[i + size :]
                if (d := judge.disagree(candidate, found.kind, found.index)) is not None:
                    values, best, improved = candidate, d, True
                else:
                    i += size
        for i in range(len(values)):
            for lower in (0, values[i] // 2, values[i] - 1):
                if time.monotonic() >= deadline or lower >= values[i] or lower < 0:
                    continue
                candidate = [*values[:i], lower, *values[i + 1 :]]
                if (d := judge.disagree(candidate, found.kind, found.index)) is not None:
                    values, best, improved = candidate, d, True
                    break
    return best


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    inputs: int = 0
    rated: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)


def run(
    adapter_argv: Sequence[str],
    *,
    seed: int,
    seconds: float,
    max_inputs: int | None = None,
    shrink_seconds: float = 60.0,
    max_disagreements: int = 10,
    ratings: bool | None = None,
    out: Callable[[str], None] = print,
) -> Summary:
    """Fuzz for ``seconds`` (or ``max_inputs``, or until ``max_disagreements``): inputs ``seed:0``,
    ``seed:1``, ... through both; each disagreement shrunk for up to ``shrink_seconds`` and printed.
    ``ratings``: compare ratings too (by default when the other is verify.mjs)."""
    summary = Summary()
    ratings = ratings if ratings is not None else str(JS_VERIFIER) in " ".join(adapter_argv)
    deadline = time.monotonic() + seconds
    with Adapter(list(adapter_argv)) as adapter:
        adapter.hello()
        judge = Judge(adapter, ratings=ratings)
        index = 0
        while (
            time.monotonic() < deadline
            and (max_inputs is None or index < max_inputs)
            and len(summary.disagreements) < max_disagreements
        ):
            n = BATCH if max_inputs is None else min(BATCH, max_inputs - index)
            batch = []
            for i in range(index, index + n):
                values = fresh_choices(seed, i)
                batch.append((values, make_input(values, i)))
            index += n
            summary.inputs += n
            for _, inp in batch:
                verdict = reference_verdict(inp).split(" at ")[0].split(";")[0]
                summary.verdicts[verdict] = summary.verdicts.get(verdict, 0) + 1
            for d in judge.disagreements(batch)[: max_disagreements - len(summary.disagreements)]:
                small = shrink(judge, d, time.monotonic() + shrink_seconds)
                summary.disagreements.append(small)
                out(describe(seed, small))
        summary.rated = judge.rated
    return summary


def describe(seed: int, d: Disagreement) -> str:
    inp = make_input(d.values, d.index)
    v = inp.vector
    return (
        f"DISAGREE ({d.kind}) input {seed}:{d.index}, shrunk to {len(d.values)} choices {list(d.values)}\n"
        f"  {len(v.envelopes)} envelopes, mode {v.mode}, role {v.role}, now_ms {v.now_ms}, "
        f"trusted_escrows {v.trusted_escrows}\n"
        f"  reference: {d.reference}\n  other:     {d.other}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.differential", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--adapter", default=JS_ADAPTER, help="the other verifier's adapter (default: verify.mjs)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to fuzz (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--shrink-seconds", type=float, default=60.0, help="time to shrink each disagreement")
    parser.add_argument("--max-disagreements", type=int, default=10, help="stop after this many (default 10)")
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run one input again, and shrink it")
    parser.add_argument(
        "--dump", type=Path, help="with --replay: write the (shrunk) input as a transcript file"
    )
    args = parser.parse_args(argv)
    argv_adapter = shlex.split(args.adapter)
    try:
        if args.replay:
            return _replay(argv_adapter, args.replay, args.shrink_seconds, args.dump)
        t0 = time.monotonic()
        summary = run(
            argv_adapter,
            seed=args.seed,
            seconds=args.seconds,
            max_inputs=args.inputs,
            shrink_seconds=args.shrink_seconds,
            max_disagreements=args.max_disagreements,
        )
    except AdapterError as exc:
        print(f"differential: adapter failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    verdicts = ", ".join(f"{k} {n}" for k, n in sorted(summary.verdicts.items(), key=lambda kv: -kv[1]))
    print(
        f"{summary.inputs} inputs ({summary.rated} rated too) in {time.monotonic() - t0:.0f} s "
        f"(seed {args.seed}): "
        f"{len(summary.disagreements)} disagreements; reference verdicts: {verdicts}"
    )
    return 1 if summary.disagreements else 0


def _replay(adapter_argv: Sequence[str], which: str, shrink_seconds: float, dump: Path | None) -> int:
    try:
        seed, index = (int(x) for x in which.split(":"))
    except ValueError:
        print("differential: --replay takes SEED:INDEX, e.g. 1:417", file=sys.stderr)
        return 2
    values = fresh_choices(seed, index)
    with Adapter(list(adapter_argv)) as adapter:
        adapter.hello()
        judge = Judge(adapter, ratings=str(JS_VERIFIER) in " ".join(adapter_argv))
        found = judge.disagreements([(values, make_input(values, index))])
        if not found:
            print(
                f"input {seed}:{index}: the verifiers agree ({reference_verdict(make_input(values, index))})"
            )
            return 0
        small = shrink(judge, found[0], time.monotonic() + shrink_seconds)
    print(describe(seed, small))
    if dump is not None:
        inp = make_input(small.values, index)
        doc = {
            "envelopes": [base64.b64encode(e).decode() for e in inp.vector.envelopes],
            "mode": inp.vector.mode,
            "role": inp.vector.role,
            "now_ms": inp.vector.now_ms,
            "trusted_escrows": inp.vector.trusted_escrows,
        }
        dump.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
