"""The initiator's side of a trade, over gRPC: offer, relay the escrow's statements, claim, revoke.

The serving side is :class:`~a2a_coop.runtime.node.PeerNode` (its strategy
answers); these functions drive a :class:`~a2a_coop.runtime.peer.Peer` that
opened the trade, through a :class:`~a2a_coop.transport.CooperationClient` and,
when the terms carry bonds, an :class:`~a2a_coop.transport.EscrowClient`.
Every statement they sign goes through the peer's policy guard and journal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Concatenate, Final, NamedTuple, ParamSpec, Protocol, TypeVar, runtime_checkable

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, statement_pb2, trade_pb2
from a2a_coop.protocol.envelope import (
    MAX_ENVELOPE_BYTES,
    ParsedEnvelope,
    decode_envelope,
    parse_envelope,
    statement_digest,
)
from a2a_coop.protocol.errors import (
    ChainBroken,
    CoopError,
    Equivocation,
    IssuedInPast,
    KeyRevoked,
    MandateUnknown,
    NonceReused,
    Origin,
    Unwitnessed,
)
from a2a_coop.protocol.negotiation import (
    BARGAINING_STATES,
    BOND_GRACE_MS,
    CLAIM_WINDOW_MS,
    OFFER_ANSWERS,
    Negotiation,
    State,
    cited,
    claims_over_ms,
    proposal_of,
)
from a2a_coop.protocol.statements import VerifiedStatement, decode_statement, verify_statement
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.runtime import gossip
from a2a_coop.runtime.peer import MAX_HINTED_WAIT_MS, Peer, drive
from a2a_coop.transport import CooperationClient, EscrowClient, TransportError
from a2a_coop.transport.paging import PageGuard, PageLimits

log = logging.getLogger(__name__)
# The first wait before asking the escrow again for a counterparty's lock (:func:`await_locks`), as a
# served node's lock watch waits (ESC-009); then doubling, each at most a quarter of the time left.
LOCK_POLL_MS: Final = 2_000
P = ParamSpec("P")
R = TypeVar("R")


class Submitter(Protocol):
    """What the escrow witness and asking an escrow alone need of it: an EscrowClient, or LocalEscrow in
    tests."""

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]: ...


@runtime_checkable
class TranscriptReader(Protocol):
    """An escrow whose transcript we can read by ledger seq (ESC-006: an EscrowClient, LocalEscrow in
    tests): where the Stamp an escrow's refusal names is fetched when it did not fit the refusal."""

    def get_transcript(self, from_seq: int, limit: int) -> tuple[list[bytes], int, int]: ...


def _keeps_fork_proofs(run: Callable[Concatenate[Peer, P], R]) -> Callable[Concatenate[Peer, P], R]:
    """``run``, keeping the fork proof a counterparty's or an escrow's refusal of our statements carries
    (:meth:`Peer.take_refusal`): against our own key it raises the alarm (ATT-017). Every way a trade
    goes on -- carried, settled, resumed after a journal restored from a backup -- may meet it."""

    @functools.wraps(run)
    def keeping(peer: Peer, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return run(peer, *args, **kwargs)
        except CoopError as refusal:
            peer.take_refusal(refusal)
            raise

    return keeping


def contract_evidence(peer: Peer, neg: Negotiation) -> list[bytes]:
    """Mandates, the accepted offer and the Accept: what an escrow needs to act on a contract."""
    return [vs.envelope for vs in _contract_statements(peer, neg)]


def _contract_statements(peer: Peer, neg: Negotiation) -> list[VerifiedStatement]:
    c = neg.contract
    if c is None:
        return []
    return _with_mandates(
        peer, [*_bargaining(peer, neg, c.offer), c.accept], c.last_deadline_ms + CLAIM_WINDOW_MS
    )


def _bargaining(peer: Peer, neg: Negotiation, proposal: VerifiedStatement) -> list[VerifiedStatement]:
    """The bargaining from the opening Offer up to ``proposal``: an Offer or Counter is placed only after
    the Offer and Counters it answers (NEG-002)."""
    if proposal.body != "counter":
        return [proposal]
    held = peer.verifier.statements
    counters = [held[d] for _, event, _, d in neg.history if event.value == "COUNTER" and d in held]
    return list({vs.digest: vs for vs in [neg.first, *counters, proposal]}.values())


def _with_mandates(
    peer: Peer, chain: Sequence[VerifiedStatement], needed: int | None = None
) -> list[VerifiedStatement]:
    """The Mandates ``chain`` cites, then ``chain``; with ``needed`` (a contract's last deadline plus the
    claim window), after a cited Mandate that ends at or before it, the held renewals that join its
    validity (ESC-019: the escrow counts a renewal only when it holds it before the Accept)."""
    held = peer.verifier.statements
    mandates = dict.fromkeys(vs.header.mandate for vs in chain if vs.header.mandate in held)
    if needed is not None:
        records = peer.verifier.mandates
        for cited in list(mandates):
            record = records.get(cited)
            if record is not None and needed >= record.mandate.valid_until_ms:
                mandates.update(dict.fromkeys(m for m in peer.verifier.renewals_of(cited) if m in held))
    return [*(held[m] for m in mandates), *chain]


def unanswered_bonded_offer(peer: Peer, neg: Negotiation) -> VerifiedStatement | None:
    """Our Offer or Counter outstanding in ``neg``, if it carries a bond and names an escrow and no
    Accept, Counter or Reject of it has reached us: it may have been accepted all the same, by an Accept
    its issuer showed the escrow alone (section 16.14), which binds our bond there (ESC-012)."""
    if neg.contract is not None or neg.state not in BARGAINING_STATES:
        return None
    offer = neg.outstanding
    terms = proposal_of(offer).terms
    if offer.issuer != peer.did or not terms.escrow or not (terms.issuer_bond or terms.audience_bond):
        return None
    return offer


def bonded_offer_to_show(peer: Peer, neg: Negotiation) -> VerifiedStatement | None:
    """Our earliest Offer or Counter in ``neg`` that carries a bond and names an escrow, and whose answer
    that escrow took no Stamp of we hold (:meth:`Negotiation.exposed_offer`): unanswered
    (:func:`unanswered_bonded_offer`), or answered by a Counter, Reject or Withdraw the escrow may never
    have seen -- while it holds an Accept of the offer its issuer showed it alone, which binds our bond
    there and takes precedence (NEG-017). Also when a contract formed later in the line (a Counter of
    ours accepted, or a Counter of theirs we accepted): that contract is displaced by such an Accept, so
    we deliver nothing under it before the escrow took the answer (Peer's gate, NEG-017). Shown the
    answer, the escrow takes it, and no Accept of the offer after it (ESC-014)."""
    return neg.exposed_offer(peer.did)


def offer_to_show(peer: Peer, neg: Negotiation) -> VerifiedStatement | None:
    """:func:`bonded_offer_to_show`, or our earliest Offer or Counter in ``neg`` naming an escrow with no
    bond whose answer that escrow has not taken: an Accept of it the escrow witnessed first takes
    precedence too (NEG-017) and binds no bond, but a claim under it ends BREACHED. A run that reaches
    the escrow shows it that line as well, and performs what it reveals; nothing waits for it (no
    Delivery is held back under an unbonded contract), so a peer that never asks is never stalled."""
    return next(iter(neg.exposed_offers(peer.did, bonded=False)), None)


class Forgotten(NamedTuple):
    """What :func:`read_forgotten` found in the journal of the negotiations a peer's memory dropped."""

    to_show: list[Negotiation]  # :func:`forgotten_to_show`
    lapsed: list[Negotiation]  # with our cut-off Counter whose claims are over (Peer.lapsed_cut_off_counter)


def forgotten_to_show(
    peer: Peer, journaled: Iterable[tuple[int, str, bytes]], now_ms: int
) -> list[Negotiation]:
    """The negotiations the peer's memory dropped once they ended (REJECTED, WITHDRAWN) in which our
    bonded offer still waits for its escrow to take its answer (:func:`bonded_offer_to_show`): the
    escrow may hold an Accept of it that takes precedence (NEG-017), and a claim under that contract can
    still come (:func:`claims_over_ms` is not before ``now_ms``). Also those that ended with our Accept
    cut back before we held its escrow's Stamp (:func:`accept_cut_back`, NEG-024), while a claim under its
    contract can still come: the counterparty may show it to the escrow alone. And those holding our
    bonded Counter a lower answer cut off the line, not withdrawn at its escrow yet
    (:meth:`Peer.withdraw_cut_off`, NEG-024 (a)). ``journaled``: the journal's rows (``Journal.statements``,
    the envelope last), read once. A negotiation whose answer the escrow took is asked about again (its
    Stamp went with the memory): the escrow answers with its Stamp, signing nothing."""
    return read_forgotten(peer, journaled, now_ms).to_show


def read_forgotten(peer: Peer, journaled: Iterable[tuple[int, str, bytes]], now_ms: int) -> Forgotten:
    """:func:`forgotten_to_show`, and in the same read the dropped negotiations whose cut-off Counter's
    claims are over (:meth:`Peer.lapsed_cut_off_counter`): `a2a-coop resume` says of them what it says of
    one still in memory. A line is cut only where the counterparty's key answered one statement twice
    (NEG-021), so only such negotiations holding a bonded Counter of ours are read back for it: an honest
    journal's ended trades cost nothing more."""
    me, held = peer.did, peer.verifier.negotiations.by_id
    ids: dict[bytes, None] = {}
    accepted: dict[bytes, None] = {}
    over: dict[bytes, None] = {}  # our bonded Counter's claims are over there
    answered: dict[tuple[bytes, str, bytes], int] = {}  # (negotiation, key, what it answers): how often
    twice: set[bytes] = set()
    for _, _, envelope in journaled:
        stmt = decode_statement(decode_envelope(envelope).payload)
        body = stmt.WhichOneof("body")
        nid = stmt.header.negotiation_id
        if nid in held or body not in ("offer", "counter", "accept", "reject"):
            continue
        if stmt.header.issuer != me:
            if body != "offer":
                answer = (nid, stmt.header.issuer, getattr(stmt, body).offer)
                answered[answer] = answered.get(answer, 0) + 1
                if answered[answer] == 2:
                    twice.add(nid)
            continue
        if body == "accept":
            accepted[nid] = None  # the offer it accepts is read below, if cut back
            continue
        if body == "reject":
            continue
        proposal = stmt.offer if body == "offer" else stmt.counter.proposal
        terms = proposal.terms
        if not terms.escrow or not (terms.issuer_bond or terms.audience_bond):
            continue
        if claims_over_ms(proposal) >= now_ms:
            ids[nid] = None
        elif body == "counter":
            over[nid] = None
    out = []
    for nid in {**ids, **accepted}:
        neg = peer.verifier.negotiations.find(nid)
        if neg is None:
            continue
        offer_shown = nid in ids and (
            bonded_offer_to_show(peer, neg) is not None or peer.cut_off_counter(nid) is not None
        )
        if offer_shown or (nid in accepted and _claimable_cut_back(peer, neg, now_ms)):
            out.append(neg)
    lapsed = []
    for nid in [nid for nid in over if nid in twice]:
        neg = peer.verifier.negotiations.find(nid)
        if neg is not None and peer.lapsed_cut_off_counter(nid) is not None:
            lapsed.append(neg)
    return Forgotten(out, lapsed)


def _claimable_cut_back(peer: Peer, neg: Negotiation, now_ms: int) -> bool:
    """Whether ``neg`` holds our Accept cut back (:func:`accept_cut_back`) under which a claim can still
    come: a deadline of the accepted offer's items plus the claim window is ahead of ``now_ms``."""
    cut = accept_cut_back(peer, neg)
    return bool(cut) and claims_over_ms(proposal_of(cut[-2])) >= now_ms


def _line(peer: Peer, neg: Negotiation) -> list[VerifiedStatement]:
    """The negotiation's bargaining in order -- its offers and the Reject or Withdraw that closed it --
    after the Mandates they cite."""
    held = peer.verifier.statements
    closing = held.get(neg.closed_by) if neg.closed_by else None
    return _with_mandates(peer, [*neg.offers, *([closing] if closing is not None else [])])


def _issuer(envelope: bytes) -> str:
    return decode_statement(decode_envelope(envelope).payload).header.issuer


def hidden_accept_check_ms(peer: Peer, neg: Negotiation) -> int | None:
    """When (by our clock) to ask the escrow about our unanswered bonded offer in ``neg`` a last time
    (ESC-013): after its bonding cutoff -- expires_at_ms + 30 s, past which the escrow recognises and
    bonds no contract of it (WIT-004, ESC-010) -- plus the clock tolerance, for an escrow's clock a little
    behind ours. None when there is nothing to ask about."""
    offer = unanswered_bonded_offer(peer, neg)
    return None if offer is None else last_witness_ms(offer)


def bargaining_lapsed(peer: Peer, neg: Negotiation) -> bool:
    """Whether ``neg``, still bargaining in our view (a peer applies no EXPIRE of its own), can move no more
    by our clock: its outstanding offer lapsed past the skew we allow (an answer after it is refused,
    NEG-007), and no escrow can witness an Accept of it any more -- it names none, or its bonding cutoff
    passed (:func:`last_witness_ms`). An unanswered offer of ours naming an escrow is asked about there
    instead (:func:`hidden_accept_check_ms`, ESC-013): the counterparty may have accepted it at the
    escrow alone. What `a2a-coop resume` says EXPIRED and finished, where it once counted the trade
    unfinished for ever (tests/test_cutback30_final_refusal.py)."""
    offer = neg.outstanding
    escrow = proposal_of(offer).terms.escrow
    if (
        neg.contract is not None
        or neg.state not in BARGAINING_STATES
        or (escrow and offer.issuer == peer.did)
    ):
        return False
    until = last_witness_ms(offer) if escrow else offer.header.expires_at_ms + peer.verifier.skew_ms
    return until < peer.clock()


def last_witness_ms(offer: VerifiedStatement) -> int:
    """From when (by our clock) the escrow ``offer`` names witnesses no Accept of it any more: its bonding
    cutoff -- expires_at_ms + 30 s (WIT-004, ESC-010) -- plus the clock tolerance, for an escrow's clock a
    little behind ours."""
    return offer.header.expires_at_ms + BOND_GRACE_MS + CLOCK_TOLERANCE_MS


def ask_escrow_about_offer(
    peer: Peer, counterparty: CooperationClient, escrow: EscrowClient, neg: Negotiation
) -> bool:
    """ESC-012, ESC-013: submit our offer in ``neg`` whose answer the escrow has not taken
    (:func:`offer_to_show`: bonded, or naming it with no bond; after the Mandates and the bargaining it
    answers, with its answer if any) to the escrow, which answers with the Accept it holds of it, if
    any, the Stamp that witnessed it and every statement it signed about that contract (its locks).
    Taken as a relay (SPEC 13.2): the contract forms in our view, and what the locks make due -- our
    Deliveries -- goes to the escrow first (WIT-007), whatever the counterparty that hid its Accept does
    with them, then to the counterparty with the escrow's statements. Returns whether a contract was
    revealed.

    Raises:
        MandateUnknown: the escrow's answer is empty (see :func:`split_escrow_answer`).
        CoopError, TransportError: from the escrow, or from the counterparty after the escrow has what
            we signed.
    """
    offer = offer_to_show(peer, neg)
    if offer is None:
        return False
    before = _contract_id(peer, neg.id)
    sent = peer.clock()
    answer, whole, shown = _submit_line(peer, escrow, _line(peer, neg), proposal_of(offer).terms.escrow)
    mandate, statements = split_escrow_answer(answer)
    if _contract_id(peer, neg.id) != before:  # an Accept reached us meanwhile: carried as any other
        return False
    peer.hold_escrow_mandate(mandate)
    news = _news(peer, statements)
    ours = _take_escrow_news(peer, news, proposal_of(offer).terms.escrow, escrow)
    if whole:
        _asked(peer, neg.id, answer, proposal_of(offer).terms.escrow, sent, shown=shown)
    if _contract_id(peer, neg.id) == before:
        # Nothing revealed: the escrow took the answers (its Stamps), so a contract formed after them
        # binds, and what we held back under it (Peer's gate, NEG-017) is due now.
        # The escrow's Stamps go to the counterparty first: it holds that gate too for a bonded offer of
        # its own earlier in the line, and opens it on them.
        if before is not None:
            # What the gate held, signed now, goes to the escrow before anything goes to the counterparty
            # (WIT-007): one that fails the relay of the Stamps must not keep it from there.
            ours += peer.perform(neg.id)
            _witness_first(escrow, ours)
            more = _relay(peer, counterparty, mandate, news, escrow)
            _witness_first(escrow, more)
            for vs in [*ours, *more]:
                drive(peer, counterparty.exchange, vs)
        else:
            # Our answer to a Counter naming another escrow, which the guard held back until this escrow
            # took it (EscrowNotShown, ESC-013): signed now, and the trade goes on.
            for vs in peer.answer_held(neg.id):
                drive(peer, counterparty.exchange, vs)
        return False
    witnessed = [vs.envelope for vs in ours if vs.body == "delivery"]
    stamps = escrow.submit(witnessed) if witnessed else []
    ours += _relay(peer, counterparty, mandate, news, escrow)
    for vs in ours:
        drive(peer, counterparty.exchange, vs)
    if stamps:
        relay_escrow_answers(peer, counterparty, stamps)
    return True


def _submit_line(
    peer: Peer, escrow: Submitter, line: Sequence[VerifiedStatement], escrow_did: str
) -> tuple[list[bytes], bool, Sequence[VerifiedStatement]]:
    """Submit ``line`` (:func:`_line`) to ``escrow``; returns its answer, whether that answer covers
    every offer of ours in the line, and what of the line was submitted for it. When the escrow
    refuses a statement of the line -- one of the counterparty's that forks its chain against what it
    showed the escrow, say -- it took those before it (ESC-001): we ask again with the line up to our
    last offer before it, which the escrow then holds and answers with any Accept of it it witnessed
    (ESC-012). Else a counterparty could keep the escrow from ever answering us, and our offer's value
    and exclusive_key held (section 4.5, NEG-020) until its last deadline + the claim window, for the
    price of one fork. That answer covers the whole line (frees its offers past the cutoff,
    :func:`_asked`) only when no offer of ours comes after the prefix.

    Raises:
        CoopError: the escrow refused every prefix (the first refusal); TransportError as its submit.
    """
    envelopes = [vs.envelope for vs in line]
    try:
        return escrow.submit(envelopes), True, line
    except TransportError:
        raise
    except CoopError as refused:
        forked = _forked_at(peer, escrow, line, refused, escrow_did)
        ours = [i for i, vs in enumerate(line) if vs.issuer == peer.did and vs.body in ("offer", "counter")]
        for end in reversed(ours):
            if end + 1 >= len(line):
                continue  # the whole line: refused already
            with contextlib.suppress(CoopError):
                answer = escrow.submit(envelopes[: end + 1])
                # Our offers after a statement the escrow holds a fork of follow it in the line, which the
                # escrow never takes: no Accept of them can bind us there.
                later = [i for i in ours if i > end]
                return answer, all(forked is not None and end < forked < i for i in later), line[: end + 1]
        raise refused from None


def _forked_at(
    peer: Peer, escrow: Submitter, line: Sequence[VerifiedStatement], refused: CoopError, escrow_did: str
) -> int | None:
    """The index in ``line`` of the counterparty's statement the escrow ``escrow_did`` refused for another
    statement of its issuer it holds at the same seq -- for good: it takes no statement after it in the
    line either -- or None. Only on the escrow's word (RPC-006 (c): EQUIVOCATION, its evidence that
    statement, ours, the escrow's Mandate and its Stamp naming the held one, by whoever speaks for the
    escrow in our view, :func:`escrows_word`; left out of a refusal it did not fit, read from the escrow's
    transcript, :func:`_fetch_fork_held`): the pair alone is its signer's, and whoever answered for the
    escrow -- a man in the middle, a proxy -- could refuse with a fork the counterparty signed for it
    while the escrow took the line and an Accept of our later offer, which then bound us unasked."""
    if refused.code != "EQUIVOCATION":
        return None
    try:
        if refused.evidence:
            if len(refused.evidence) != 4:
                return None
            held, shown, _, stamp = (verify_statement(env) for env in refused.evidence)
        else:
            fetched = _fetch_fork_held(peer, escrow, line, refused)
            if fetched is None:
                return None
            held, shown, stamp = fetched
    except (CoopError, TransportError):
        return None
    if held.issuer != shown.issuer or held.header.seq != shown.header.seq or held.digest == shown.digest:
        return None
    if stamp.body != "stamp" or held.digest not in stamp.statement.stamp.statements:
        return None
    if not escrows_word(peer, stamp, escrow_did):
        return None
    if shown.issuer == peer.did:
        return None
    return next((i for i, vs in enumerate(line) if vs.digest == shown.digest), None)


def _fetch_fork_held(
    peer: Peer, escrow: Submitter, line: Sequence[VerifiedStatement], refused: CoopError
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement] | None:
    """RPC-006 (c)'s evidence of ``refused`` that did not fit it (the held half came in a Submit its issuer
    made large): the Stamp at the ledger seq the refusal names (``stamp_seq``), a statement it names that
    forks one of the counterparty's in ``line`` (its issuer's, at its seq, another digest), and that one
    of ``line`` -- (held, shown, stamp) -- from the escrow's transcript (ESC-006: a Stamp comes whole, with
    what it names); None when the refusal names no Stamp, the escrow serves no transcript or nothing
    there forks our line. The seq is unsigned, whoever answered chose it: :func:`_forked_at` takes what
    is read only when the escrow's key signed that Stamp."""
    seq = getattr(refused, "stamp_seq", None)
    if seq is None or not isinstance(escrow, TranscriptReader):
        return None
    page, _, _ = escrow.get_transcript(seq, 1)
    read = []
    for envelope in page:  # at seq 0 the escrow's Mandates come first (ESC-006)
        with contextlib.suppress(CoopError):
            read.append(verify_statement(envelope))
    theirs = {(vs.issuer, vs.header.seq): vs for vs in line if vs.issuer != peer.did}
    for stamp in (vs for vs in read if vs.body == "stamp" and vs.header.seq == seq):
        named = set(stamp.statement.stamp.statements)
        for held in read:
            shown = theirs.get((held.issuer, held.header.seq))
            if held.digest in named and shown is not None and shown.digest != held.digest:
                return held, shown, stamp
    return None


def _asked(
    peer: Peer,
    negotiation_id: bytes,
    answer: Sequence[bytes],
    escrow_did: str,
    sent_at: int,
    *,
    shown: Sequence[VerifiedStatement],
) -> None:
    """The escrow our offer names answered our Submit of its line, ``shown`` (its Mandate first,
    ESC-002), sent at ``sent_at`` by our clock: past the offer's bonding cutoff then, nothing it did not
    reveal binds us (:meth:`Peer.asked_escrow`) -- taken so only on the escrow's signed word, dated past
    each cutoff, naming every offer of ours in ``shown`` that the cutoff alone would free
    (:func:`vouched_offers`, ESC-013 (i)): anyone answering for it could replay its public Mandate
    alone. (Our offers past a statement the escrow refused as a fork, :func:`_submit_line`, it never
    takes, and cannot name: its Stamp of the held half is its word on them.) Not when the answer came
    from another key's escrow (a misdialled one knows nothing of ours) -- the escrow's, or a
    successor's our view honours the hand-over to (ESC-022, ESC-023)."""
    with contextlib.suppress(CoopError):
        agent = verify_statement(answer[0]).statement.mandate.agent if answer else ""
        successors = peer.verifier.successors(escrow_did)
        if agent != escrow_did and (successors is None or agent not in successors[0]):
            return
        neg = peer.verifier.negotiations.find(negotiation_id)
        if neg is None:
            return  # nothing to tell which offers its word must name
        submitted = {vs.digest for vs in shown}
        freed_by_cutoff = [
            o
            for o in neg.exposed_offers(peer.did, bonded=False)
            if o.digest in submitted
            and proposal_of(o).terms.escrow == escrow_did
            and last_witness_ms(o) <= sent_at
        ]
        # Past the end of the claims under it no Accept of it takes anything of ours (section 4.5): the
        # escrow gives no word on it then, and none is needed.
        claimable = [o for o in freed_by_cutoff if claims_over_ms(proposal_of(o)) > sent_at]
        vouched = vouched_offers(peer, answer[1:], escrow_did)
        if all(o.digest in vouched and vouched[o.digest] > _bonding_cutoff(o) for o in claimable):
            word = {o.digest: vouched[o.digest] for o in freed_by_cutoff if o.digest in vouched}
            # Ours after the statement the escrow refused as a fork, on its Stamp of the held half
            # (:func:`_forked_at`): never taken there, whenever asked.
            word.update(
                (o.digest, sent_at) for o in neg.offers if o.issuer == peer.did and o.digest not in submitted
            )
            peer.asked_escrow(
                negotiation_id, escrow_did, sent_at=sent_at, past_cutoff=bool(freed_by_cutoff), vouched=word
            )


def _bonding_cutoff(offer: VerifiedStatement) -> int:
    """The last time (by the escrow's clock) its Stamp of an Accept of ``offer`` can bear (WIT-004)."""
    return offer.header.expires_at_ms + BOND_GRACE_MS


def vouched_offers(peer: Peer, statements: Sequence[bytes], escrow_did: str) -> dict[bytes, int]:
    """ESC-013 (i): the offers that the Checkpoints among an escrow's answer ``statements`` by whoever
    speaks for the escrow key ``escrow_did`` name, each with the time (the escrow's clock) of the latest
    naming it: the escrow's signed word that it held no Accept of the offer then. Verified here, whoever
    relayed them. The key is the one the offer names, chosen by us when we signed it, while no
    revocation of it our view holds reaches the Checkpoint (ESC-022 (e): from then on its thief's), or
    a successor's (ESC-023) whose hand-over our view honours, dated from the hand-over's time on --
    never any other key's: the successor took the key's ledger over up to that time and witnesses every
    Accept after it, so its word is the escrow's (:meth:`WitnessIndex.acts_for`). Each taken by our view
    first (its Mandate, a hand-over too, checked as any statement's, MND-003; KEY-004)."""
    witness = peer.verifier.witness
    held = peer.verifier.statements
    out: dict[bytes, int] = {}
    for env in statements:
        try:
            vs = verify_statement(env)
        except CoopError:
            continue
        if vs.body != "checkpoint" or not witness.acts_for(
            vs.issuer, escrow_did, vs.header.issued_at_ms, vs.header.seq
        ):
            continue
        if not dict.__contains__(held, vs.digest):
            continue  # not taken by our view in context (its Mandate, its chain, KEY-004)
        for named in vs.header.refs:
            out[named] = max(out.get(named, 0), vs.header.issued_at_ms)
    return out


def ask_escrow_alone(peer: Peer, escrow: Submitter, neg: Negotiation) -> list[VerifiedStatement] | None:
    """:func:`ask_escrow_about_offer` for a peer with no channel to its counterparty (a served node):
    show the escrow the line of our offer in ``neg`` whose answer it has not taken
    (:func:`offer_to_show`: bonded, or naming it with no bond), take its answer -- the Stamps of the
    answers, or an Accept it witnessed first, which takes precedence (NEG-017), with its locks -- and
    return what that makes us sign (journaled): our Deliveries, for the caller to give the escrow
    (WIT-007). None when there was nothing to show.

    Raises:
        MandateUnknown: the escrow's answer is empty (see :func:`split_escrow_answer`).
        CoopError, TransportError: from the escrow.
    """
    offer = offer_to_show(peer, neg)
    if offer is None:
        return None
    sent = peer.clock()
    answer, whole, shown = _submit_line(peer, escrow, _line(peer, neg), proposal_of(offer).terms.escrow)
    ours = _take_alone(peer, escrow, neg.id, answer, proposal_of(offer).terms.escrow)
    if whole:
        _asked(peer, neg.id, answer, proposal_of(offer).terms.escrow, sent, shown=shown)
    return ours


def _take_alone(
    peer: Peer, escrow: Submitter, negotiation_id: bytes, answer: Sequence[bytes], escrow_did: str
) -> list[VerifiedStatement]:
    """The answer of ``escrow`` (the escrow ``escrow_did`` our offer names) about ``negotiation_id``, taken
    with no counterparty to relay it to: what it makes us sign, and what the contract it revealed or let
    stand makes due (our Deliveries)."""
    mandate, statements = split_escrow_answer(answer)
    peer.hold_escrow_mandate(mandate)
    ours = _take_escrow_news(peer, _news(peer, statements), escrow_did, escrow)
    return [*ours, *peer.perform(negotiation_id)] if _contract_id(peer, negotiation_id) is not None else ours


def _contract_id(peer: Peer, negotiation_id: bytes) -> bytes | None:
    """The contract of the negotiation as the peer holds it now -- read again, not from a Negotiation
    object held across a call: an ended negotiation (REJECTED, WITHDRAWN) is forgotten once journaled,
    and the Accept the escrow reveals forms its contract in the copy brought back from the journal."""
    neg = peer.verifier.negotiations.find(negotiation_id)
    return None if neg is None or neg.contract is None else neg.contract.id


def run_trade(
    peer: Peer,
    counterparty: CooperationClient,
    counterparty_did: str,
    proposal: trade_pb2.Offer,
    *,
    escrow: EscrowClient | None = None,
    ttl_ms: int = 5 * 60_000,
) -> Negotiation:
    """Offer ``proposal``, and carry the trade as far as both sides' strategies take it.

    When the terms name an escrow, the contract goes to it at once: its Stamp
    witnesses the Accept in time (WIT-004), and its locks are forwarded to the
    counterparty so both sides see BONDED and perform. Then what both sides did
    goes to the escrow too (:func:`settle_with_escrow`): its Stamp witnesses our
    Deliveries on time whatever the counterparty does (WIT-003), and once both
    sides' receipts are in, it releases the bonds. Before the offer, the two swap
    Checkpoints and fork proofs (ATT-011), best effort, unless they did less than a minute before;
    once the bonds are settled, each attests the other (ATT-015) and the attestations cross with the
    relays.
    """
    try:
        if gossip.swap_due(peer, counterparty_did):  # once per counterparty per minute (ATT-011)
            gossip.swap(peer, counterparty, counterparty_did)
    except TransportError as exc:  # an older peer without Gossip still trades
        log.info("gossip with %s skipped: %s", counterparty_did, exc)
    offer = peer.propose(counterparty_did, proposal, ttl_ms=ttl_ms)
    return carry_trade(peer, counterparty, offer, escrow=escrow)


@_keeps_fork_proofs
def carry_trade(
    peer: Peer,
    counterparty: CooperationClient,
    offer: VerifiedStatement,
    *,
    escrow: EscrowClient | None = None,
) -> Negotiation:
    """:func:`run_trade` from an Offer already signed (and journaled): send it and carry the trade on."""
    neg = peer.negotiation(offer.header.negotiation_id)
    try:
        drive(peer, counterparty.exchange, offer)
    except (TransportError, CoopError):
        # The answer lost, or the offer refused: its receiver holds it all the same, and may have shown
        # the escrow an Accept of it (ESC-012).
        if escrow is not None:
            # A Delivery the counterparty's answers made due and then failed reached nobody: to the escrow
            # (WIT-007), or the counterparty's claim after the deadline would find none there.
            _deliveries_to_escrow(peer, escrow, neg, proposal_of(offer).terms.escrow)
            ask_escrow_about_offer(peer, counterparty, escrow, neg)
            # A lower answer taken before the failure cut back our Accept or cut off our bonded Counter:
            # the counterparty, which chose to fail the exchange after it, could accept it at the escrow
            # alone (NEG-024; tests/test_attack28_cut_off_answered_counter.py).
            _show_cut_back(peer, counterparty, escrow, neg.id, proposal_of(offer).terms.escrow)
        raise
    if escrow is not None:
        # No answer that settles a bonded offer (an Ack only, a lost answer, or an answer the escrow never
        # took -- also one that led to a contract later in the line): it may have been accepted behind our
        # back, with the escrow alone shown the Accept (ESC-012), which takes precedence (NEG-017). Asked
        # at once; the caller asks again after the bonding cutoff (hidden_accept_check_ms, resume_trade).
        ask_escrow_about_offer(peer, counterparty, escrow, neg)
        # Read again: ended (REJECTED, WITHDRAWN), the negotiation was forgotten once journaled, and a
        # contract the escrow revealed formed in the copy brought back from the journal.
        neg = peer.negotiation(neg.id)
    dialled = proposal_of(offer).terms.escrow
    if escrow is not None:
        neg = show_accept_cut_back(peer, counterparty, escrow, neg, dialled)
        neg = withdraw_counter_cut_off(peer, counterparty, escrow, neg, dialled)
    c = neg.contract
    if c is None or not c.escrow or escrow is None:
        return neg
    if dialled and c.escrow != dialled:
        return neg  # a Counter's contract under another escrow: not the one ``escrow`` reaches
    answers = escrow.submit(contract_evidence(peer, neg))
    relay_escrow_answers(peer, counterparty, answers, escrow=escrow)
    return _perform_and_settle(peer, counterparty, escrow, neg)


def _show_cut_back(
    peer: Peer, counterparty: CooperationClient, escrow: Submitter, negotiation_id: bytes, dialled: str
) -> CoopError | TransportError | None:
    """:func:`show_accept_cut_back` and :func:`withdraw_counter_cut_off`, each whatever became of the other
    (each failure logged): the first failure, or None. A run that failed raises its own error (a relay to
    the counterparty that failed the run may fail again, after the escrow took what we showed it);
    :func:`resume_trade` the first of these."""
    failed: CoopError | TransportError | None = None
    for show in (show_accept_cut_back, withdraw_counter_cut_off):
        try:
            show(peer, counterparty, escrow, peer.negotiation(negotiation_id), dialled)
        except (CoopError, TransportError) as exc:
            log.warning("%s in %s: %s", show.__name__, negotiation_id.hex()[:12], exc)
            failed = failed or exc
    return failed


def show_accept_cut_back(
    peer: Peer, counterparty: CooperationClient, escrow: Submitter, neg: Negotiation, dialled: str
) -> Negotiation:
    """NEG-024: our Accept in ``neg``, cut back in our view by a lower answer its counterparty revealed
    before we held the escrow's Stamp (:func:`accept_cut_back`), shown to ``escrow`` -- the one the
    accepted offer names; ``dialled``: the escrow ``escrow`` reaches, "" when the caller checked it.
    The counterparty can show that Accept to the escrow alone, which then witnesses it and locks our
    bond -- a contract that stands in every view holding that Stamp (NEG-021 (d)), and whose claim takes
    our bond if we never perform. Shown it, the escrow answers with its Stamp and locks (or refuses an
    Accept it never recognised), which are relayed, and our view takes the contract back. ``neg`` read
    again (a forgotten one is brought back with the contract); as it was when there is nothing to show,
    or when the escrow refuses the Accept as not witnessed before its offer's bonding cutoff (WIT-004):
    nobody showed it there in time, and nothing binds us under it. :func:`carry_trade` and
    :func:`resume_trade` (a run stopped after we signed the Accept) both call it; a served node
    :func:`show_accept_cut_back_alone`.

    Raises:
        CoopError, TransportError: from the escrow, or from the counterparty after the escrow answered.
    """
    return _relay_shown(peer, counterparty, escrow, neg, _show_accept_cut_back(peer, escrow, neg, dialled))


def show_accept_cut_back_alone(
    peer: Peer, escrow: Submitter, neg: Negotiation, dialled: str
) -> list[VerifiedStatement] | None:
    """:func:`show_accept_cut_back` for a peer with no channel to its counterparty (a served node): the
    escrow's answer taken as :func:`ask_escrow_alone` takes it, returning what it makes us sign (our
    Deliveries under the contract it witnessed, for the caller to give it, WIT-007); None when there was
    nothing to show, or the escrow refused the Accept as not witnessed in time.

    Raises:
        MandateUnknown: the escrow's answer is empty (see :func:`split_escrow_answer`).
        CoopError, TransportError: from the escrow.
    """
    shown = _show_accept_cut_back(peer, escrow, neg, dialled)
    return None if shown is None else _take_alone(peer, escrow, neg.id, *shown)


def _show_accept_cut_back(
    peer: Peer, escrow: Submitter, neg: Negotiation, dialled: str
) -> tuple[list[bytes], str] | None:
    """Submit our Accept cut back in ``neg`` (:func:`accept_cut_back`), after the bargaining it accepts, to
    ``escrow`` when it is the one the accepted offer names (``dialled``, "" when the caller checked); its
    answer and that escrow, or None when there is nothing to show there or the escrow refused the Accept
    as not witnessed before its offer's bonding cutoff (WIT-004) once that cutoff passed by our clock too.
    Before it, that refusal is raised as any other: it is unsigned, and one forged by whoever answered
    for the escrow once (a man in the middle, a proxy, a wrong address) ended our asking while the
    counterparty could still show the escrow our Accept alone (tests/test_attack30_cut_back_accept.py)."""
    cut = accept_cut_back(peer, neg) if neg.contract is None else []
    named = proposal_of(cut[-2]).terms.escrow if cut else ""
    if not cut or (dialled and named != dialled):
        return None
    try:
        return escrow.submit([vs.envelope for vs in cut]), named
    except CoopError as refused:
        if refused.code not in RETRIED_REFUSALS:
            _take_refusal_evidence(peer, refused, named, escrow, cut[-2])
            if peer.closed_at_escrow(cut[-2], besides=cut[-1].digest):  # read by accept_cut_back from now on
                log.info("our Accept cut back in %s: the escrow took another answer first", neg.id.hex()[:12])
                return None
        if refused.code != "UNWITNESSED" or peer.clock() < last_witness_ms(cut[-2]):
            raise
        log.info("our Accept cut back in %s binds nothing: %s", neg.id.hex()[:12], refused)
        return None


def withdraw_counter_cut_off(
    peer: Peer, counterparty: CooperationClient, escrow: Submitter, neg: Negotiation, dialled: str
) -> Negotiation:
    """NEG-024 (a): our bonded Counter in ``neg``, cut off the line by a lower answer before anyone
    answered it (:meth:`Peer.withdraw_cut_off` signs our Withdraw of it), shown to ``escrow`` -- the one
    the Counter names; ``dialled`` as for :func:`show_accept_cut_back`. The counterparty can still
    accept it at its escrow alone, which witnesses that Accept (NEG-021 (d)) and locks our bond while
    our view holds no contract. Shown our Withdraw after the line to it, the escrow closes it (ESC-014),
    or answers with the Accept it took first, with its Stamp and locks (ESC-012), which are relayed.
    ``neg`` read again; as it was when there is nothing to withdraw. :func:`carry_trade` and
    :func:`resume_trade` call it; a served node, with no channel to its counterparty,
    :func:`withdraw_cut_off_alone`.

    An answer that is final (:func:`_final_withdraw`: a refusal the same Submit meets again, or an answer
    that does not take the Withdraw, each with the escrow's signed statements closing the Counter) is
    recorded (:meth:`Peer.withdraw_final`), before the answer is relayed to the counterparty: the Counter is
    shown no more, by this run or a later one, whatever the relay does.

    Raises:
        CoopError, TransportError: from the escrow (a refusal that may pass later, RETRIED_REFUSALS, or one
            or an answer nothing signed by the escrow proves final), or from the counterparty after the
            escrow answered.
    """
    shown = _show_withdraw_cut_off(peer, escrow, neg, dialled)
    if shown is None:
        return neg
    answer, _, counter = shown
    taken = _take_escrow_answer(peer, answer, escrow)
    # Recorded before the relay, which may fail (the counterparty out of reach): a later run relays what
    # the journal now holds (resume_trade's step 1) and asks the escrow the same Submit no more.
    _final_withdraw(peer, counter, None)
    _relay_taken(peer, counterparty, taken, escrow)
    return peer.negotiation(neg.id)


def _relay_shown(
    peer: Peer,
    counterparty: CooperationClient,
    escrow: Submitter,
    neg: Negotiation,
    shown: tuple[list[bytes], str] | None,
) -> Negotiation:
    """The escrow's answer to what we showed it (None: nothing shown) relayed to the counterparty, and
    ``neg`` read again; ``neg`` as it was when nothing was shown."""
    if shown is None:
        return neg
    relay_escrow_answers(peer, counterparty, shown[0], escrow=escrow)
    return peer.negotiation(neg.id)


def withdraw_cut_off_alone(
    peer: Peer, escrow: Submitter, neg: Negotiation, dialled: str
) -> list[VerifiedStatement] | None:
    """:func:`withdraw_counter_cut_off` for a peer with no channel to its counterparty (a served node):
    the escrow's answer taken as :func:`ask_escrow_alone` takes it, returning what it makes us sign (our
    Deliveries under an Accept it witnessed first, for the caller to give it, WIT-007); None when there
    was nothing to withdraw.

    Raises:
        MandateUnknown: the escrow's answer is empty (see :func:`split_escrow_answer`).
        CoopError, TransportError: from the escrow (a refusal that may pass later, RETRIED_REFUSALS, or one
            or an answer nothing signed by the escrow proves final: the caller asks again later).
    """
    shown = _show_withdraw_cut_off(peer, escrow, neg, dialled)
    if shown is None:
        return None
    ours = _take_alone(peer, escrow, neg.id, *shown[:2])
    _final_withdraw(peer, shown[2], None)
    return ours


# Refusals a Submit of the same envelopes may pass later: a limit of the escrow's (RPC-012 (b), with its
# retry hint), or a time its clock has not reached yet (TIM-003, TIM-009). Any other code refuses the same
# bytes again (section 12: a statement's checks depend on its bytes and the escrow's record, which
# only grows); a failure with no code (TransportError: unreachable, INTERNAL, a code this version does
# not know) is asked again too.
RETRIED_REFUSALS: Final = frozenset({"RATE_LIMITED", "LIMIT_EXCEEDED", "ISSUED_IN_FUTURE", "NOT_YET_VALID"})


def _show_withdraw_cut_off(
    peer: Peer, escrow: Submitter, neg: Negotiation, dialled: str
) -> tuple[list[bytes], str, VerifiedStatement] | None:
    """Submit our Withdraw of our cut-off bonded Counter in ``neg`` (:meth:`Peer.withdraw_cut_off`), after
    the Mandates and the line to it, to ``escrow`` when it is the one the Counter names (``dialled``, ""
    when the caller checked); its answer, the escrow the Counter names and the Counter -- or None when
    there is nothing to withdraw there, or the escrow refused it for good, its refusal's evidence proving
    it (recorded, not raised: see :func:`_final_withdraw`)."""
    closing = peer.withdraw_cut_off(neg.id)
    if closing is None or (dialled and proposal_of(closing[0]).terms.escrow != dialled):
        return None
    counter, withdraw = closing
    line = _with_mandates(peer, [*_path_to(peer, counter), withdraw])
    named = proposal_of(counter).terms.escrow
    try:
        answer = escrow.submit([vs.envelope for vs in line])
    except CoopError as refused:
        if refused.code in RETRIED_REFUSALS:
            raise
        _take_refusal_evidence(peer, refused, named, escrow, counter)
        _final_withdraw(peer, counter, refused)
        return None
    return answer, named, counter


def _take_refusal_evidence(
    peer: Peer, refused: CoopError, escrow_did: str, escrow: Submitter, counter: VerifiedStatement
) -> None:
    """Take the evidence an escrow's refusal of our answer to ``counter`` carries (our Withdraw of it, or our
    Accept of it a lower answer cut back; RPC-006 (b): its Mandate, its Stamp of the answer it took first,
    that answer), as its Submit answers are taken -- or, left out of a refusal it did not fit (a Stamp
    naming many statements), read from the escrow's transcript at the Stamp's ledger seq the refusal
    names (:func:`_fetch_refusal_evidence`). Evidence that does not verify proves nothing, and is dropped
    (:meth:`Peer.closed_at_escrow` then finds no proof)."""
    try:
        evidence = list(refused.evidence) or _fetch_refusal_evidence(refused, escrow, counter)
        if not evidence:
            return
        mandate, statements = split_escrow_answer(evidence)
        peer.hold_escrow_mandate(mandate)
        _take_escrow_news(peer, _news(peer, statements), escrow_did)
    except (CoopError, TransportError) as bad:
        log.warning("the evidence of the escrow's refusal (%s) proves nothing: %s", refused.code, bad)


def _fetch_refusal_evidence(refused: CoopError, escrow: Submitter, counter: VerifiedStatement) -> list[bytes]:
    """RPC-006 (b)'s evidence of ``refused`` that did not fit it: the escrow's Mandate (ESC-002, its answer
    to an empty Submit), the Stamp at the ledger seq the refusal names (``stamp_seq``) and the answers to
    our ``counter`` that Stamp names, from the escrow's transcript (ESC-006: a Stamp comes whole, with
    what it names) -- the rest of the entry left out, other trades' statements; [] when the refusal names
    no Stamp or the escrow serves no transcript. The seq is unsigned, whoever answered chose it: it says
    only where to look, and what is read there proves the Counter closed only if the escrow's key signed
    a Stamp of an answer to it (:meth:`Peer.closed_at_escrow`)."""
    seq = getattr(refused, "stamp_seq", None)
    if seq is None or not isinstance(escrow, TranscriptReader):
        return []
    page, _, _ = escrow.get_transcript(seq, 1)
    stamps, answers = [], []
    for envelope in page:  # at seq 0 the escrow's Mandates come first (ESC-006)
        try:
            vs = verify_statement(envelope)
        except CoopError:
            continue
        if vs.body == "stamp" and vs.header.seq == seq:
            stamps.append(envelope)
        elif vs.body in OFFER_ANSWERS and cited(vs) == counter.digest:
            answers.append(envelope)
    if not stamps or not answers:
        return []
    mandate, _ = split_escrow_answer(escrow.submit([]))
    return [mandate, stamps[0], *answers]


def _final_withdraw(peer: Peer, counter: VerifiedStatement, refused: CoopError | None) -> None:
    """Record our Withdraw of ``counter`` as answered for good (:meth:`Peer.withdraw_final`) when its
    escrow refused it with a code not in RETRIED_REFUSALS (``refused``), or, its answer taken, the
    Counter is still ours to withdraw -- no Stamp of the Withdraw came, nor an Accept putting the Counter
    back on the line (ESC-014 answers a Withdraw it does not take with what it holds instead): the escrow
    answers the same Submit the same way (ESC-007), and a node asked again at once, without end. Final
    only when we hold that escrow's signed statements closing the Counter (:meth:`Peer.closed_at_escrow`):
    a refusal is unsigned, and anyone answering for the escrow once (a man in the middle, a proxy, a
    wrong address) could otherwise keep our Withdraw from it for good.

    Raises:
        CoopError: ``refused``, or :class:`Unwitnessed` for an answer, when nothing proves the Counter
            closed there: the Withdraw stays owed, asked again (a node at its doubling waits).
    """
    if refused is None:
        still = peer.cut_off_counter(counter.header.negotiation_id)
        if still is None or still.digest != counter.digest:
            return  # taken: its Stamp held, or the Counter back on the line under the Accept it revealed
    if not peer.closed_at_escrow(counter):
        if refused is not None:
            raise refused
        raise Unwitnessed(
            "the escrow's answer neither takes our Withdraw of our cut-off Counter nor carries its Stamp of"
            " what closed the Counter there: asked again",
            requirement="NEG-024",
            origin=Origin.REMOTE,
        )
    why = f"refused for good: {refused}" if refused is not None else "answered without taking it"
    log.warning("our Withdraw of our cut-off Counter %s: the escrow %s", counter.digest.hex()[:12], why)
    peer.withdraw_final(counter, why, claims_over_ms(proposal_of(counter)))


def accept_cut_back(peer: Peer, neg: Negotiation) -> list[VerifiedStatement]:
    """Our Accept in ``neg`` of an offer naming an escrow, held superseded -- a lower answer of the
    counterparty's key cut the line back past it (NEG-021) before we held that escrow's Stamp of it --
    after the bargaining it accepts and the Mandates they cite: what the escrow needs to witness it; or [],
    also once we hold that escrow's signed statements closing the offer to it (:meth:`Peer.closed_at_escrow`:
    the evidence of its refusal, RPC-006 (b)), where it takes the Accept no more."""
    held = peer.verifier.statements
    for digest in sorted(neg.superseded):
        vs = held.get(digest)
        if vs is None or vs.issuer != peer.did or vs.body != "accept":
            continue
        offer = held.get(cited(vs))
        if offer is None or not proposal_of(offer).terms.escrow:
            continue
        if peer.closed_at_escrow(offer, besides=vs.digest):
            continue  # the escrow's signed word that it took another answer first: it takes ours no more
        return _with_mandates(peer, [*_path_to(peer, offer), vs])
    return []


def _path_to(peer: Peer, offer: VerifiedStatement) -> list[VerifiedStatement]:
    """The bargaining from the opening Offer down to ``offer``, through what each Counter answers: the
    line to it, whether or not it is still on the negotiation's line."""
    held = peer.verifier.statements
    line = [offer]
    while line[0].body == "counter" and (answered := held.get(cited(line[0]))) is not None:
        line.insert(0, answered)
    return line


def _deliveries_to_escrow(peer: Peer, escrow: Submitter, neg: Negotiation, escrow_did: str) -> None:
    """Give the escrow ``escrow_did`` (the one ``escrow`` reaches) our Deliveries under ``neg``'s contract
    that it has not stamped, after the contract (WIT-007). Best effort: a run that goes on settles with it
    (:func:`settle_with_escrow`)."""
    neg = peer.verifier.negotiations.find(neg.id) or neg
    c = neg.contract
    if c is None or not escrow_did or c.escrow != escrow_did:
        return
    held = peer.verifier.statements
    ours = [
        held[d].envelope
        for d, (by, _) in c.deliveries.items()
        if by == peer.did and d in held and not peer.stamped_ours(escrow_did, held[d])
    ]
    if not ours:
        return
    try:
        escrow.submit([*contract_evidence(peer, neg), *ours])
    except (CoopError, TransportError) as exc:
        log.warning("our %d deliveries not given to the escrow yet: %s", len(ours), exc)


@_keeps_fork_proofs
def carry_after_cutoff(
    peer: Peer, counterparty: CooperationClient, escrow: EscrowClient, neg: Negotiation
) -> Negotiation:
    """Ask the escrow about our bonded offer in ``neg`` once more, past its bonding cutoff
    (:func:`hidden_accept_check_ms`; ESC-013): a contract it was accepted into behind our back is
    performed and settled as :func:`carry_trade` does; otherwise, asked after the cutoff, none can
    form any more."""
    if ask_escrow_about_offer(peer, counterparty, escrow, neg):
        return _perform_and_settle(peer, counterparty, escrow, peer.negotiation(neg.id))
    return neg


def _first_deadline(peer: Peer, neg: Negotiation) -> int:
    c = neg.contract
    assert c is not None
    return min((it.deadline_ms for it in c.gives(peer.did)), default=c.last_deadline_ms)


def awaits_their_lock(peer: Peer, neg: Negotiation) -> bool:
    """Whether ``neg`` is a contract still ACCEPTED in which the escrow locked our bond and not yet the
    counterparty's, while it may still lock it: until the bonding cutoff (ESC-010), whenever the
    counterparty pays in -- BONDED then, the contract binds our bond to items we must deliver by their
    deadlines, though no statement tells us (the counterparty need not relay the lock, ESC-004)."""
    c = neg.contract
    if c is None or neg.state is not State.ACCEPTED or not c.escrow or peer.did not in c.locked:
        return False
    if all(p in c.locked for p in c.bonds_required):
        return False
    now = peer.clock()
    return now <= c.bond_cutoff_ms + CLOCK_TOLERANCE_MS and now < _first_deadline(peer, neg)


@_keeps_fork_proofs
def await_locks(
    peer: Peer,
    counterparty: CooperationClient,
    escrow: EscrowClient,
    negs: Sequence[Negotiation],
    *,
    sleep: Callable[[float], None] | None = None,
) -> list[Negotiation]:
    """Ask the escrow again about contracts :func:`awaits_their_lock` (ESC-008: it answers with the locks
    it signed), at doubling delays from :data:`LOCK_POLL_MS`, each at most a quarter of the time left to
    our first deadline in it -- a lock that comes just after an ask leaves us three quarters of what was
    left -- until an ask made past the bonding cutoff plus the clock tolerance (no lock can come later)
    or our deadline; each contract that got bonded is performed and settled as :func:`carry_trade` does.
    ``sleep`` waits (default :func:`time.sleep`). Returns the negotiations, read again, in the order
    given."""
    sleep = sleep or time.sleep
    due: dict[bytes, tuple[int, int]] = {}
    for neg in negs:
        left = _first_deadline(peer, neg) - peer.clock()
        due[neg.id] = (peer.clock() + max(1, min(LOCK_POLL_MS, left // 4)), 0)
    while due:
        nid, (at, attempt) = min(due.items(), key=lambda kv: kv[1][0])
        wait_ms = at - peer.clock()
        if wait_ms > 0:
            sleep(wait_ms / 1000)
        asked = peer.clock()
        neg = peer.negotiation(nid)
        answers = escrow.submit(contract_evidence(peer, neg))
        relay_escrow_answers(peer, counterparty, answers, escrow=escrow)
        neg = peer.negotiation(nid)
        if neg.state is not State.ACCEPTED:
            _perform_and_settle(peer, counterparty, escrow, neg)
            del due[nid]
            continue
        c, first = neg.contract, _first_deadline(peer, neg)
        assert c is not None
        if asked > c.bond_cutoff_ms + CLOCK_TOLERANCE_MS or asked >= first:
            del due[nid]  # no lock can come any more (ESC-010), or none would leave us time to deliver
            continue
        delay = min(LOCK_POLL_MS * 2 ** (attempt + 1), (first - asked) // 4)
        due[nid] = (asked + max(1, delay), attempt + 1)
    return [peer.negotiation(neg.id) for neg in negs]


def _perform_and_settle(
    peer: Peer, counterparty: CooperationClient, escrow: EscrowClient, neg: Negotiation
) -> Negotiation:
    # What TIM-009 held back; else what is due and not done -- under a contract the escrow's answer just
    # revealed in place of ours (NEG-017: a second Accept of our offer it witnessed first), which no
    # statement of the negotiation reached us to perform.
    held_back = perform_held_back(peer, neg) or peer.perform(neg.id)
    # Always, not only once FULFILLED: a counterparty that withholds its Receipt (and Ack) and then
    # claims a breach would otherwise have our on-time Delivery witnessed late, and win our bond.
    try:
        settle_with_escrow(peer, counterparty, escrow, neg)
    except (CoopError, TransportError) as exc:
        if not unwitnessed(peer, peer.negotiation(neg.id)):
            raise
        # A refusal, or an answer we cannot take, is whoever answered for the escrow's choice as much as
        # the escrow's (a Stamp by its own key, the escrow's refusal of our Submit with the Delivery taken
        # out): settled again below until the escrow's Stamp of each Delivery is held (WIT-007).
        log.warning("settling with the escrow: %s", exc)
    # Until its Stamp of each is held, before anything goes to the counterparty, which may fail it.
    witness_ours(peer, counterparty, escrow, peer.negotiation(neg.id))
    for vs in held_back:  # the escrow has them now (WIT-007), whatever the counterparty does with them
        drive(peer, counterparty.exchange, vs)
    if held_back:  # the counterparty's Receipts of them: the escrow releases the bonds once it has all
        settle_with_escrow(peer, counterparty, escrow, neg)
    return neg


def perform_held_back(peer: Peer, neg: Negotiation) -> list[VerifiedStatement]:
    """Our Deliveries and Receipts under ``neg`` that TIM-009 held back (the contract is dated ahead of
    our clock, past the deadline of another item we owe): signed once the hint passes, after waiting it
    out -- at most the skew, since the contract's date is at most that far ahead -- and returned,
    journaled, for the caller to send to the escrow and the counterparty. Nothing else would perform
    them: the counterparty that dated the contract ahead may send nothing more in it. [] when nothing
    is held back, or when the peer's clock does not move while we sleep (a simulation's)."""
    at = peer.deferred_until(neg.id)
    if at is None or at - peer.clock() > MAX_HINTED_WAIT_MS:
        return []
    before = peer.clock()
    if at > before:
        time.sleep((at - before) / 1000)
        if peer.clock() == before:
            return []
    return peer.perform(neg.id)


def split_escrow_answer(answers: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """An escrow's Submit answer as ``(its Mandate, its statements)`` (ESC-002).

    Raises:
        MandateUnknown: the answer is empty, so nothing in it can be verified (an escrow always
            answers with its Mandate first; a proxy or a broken escrow may not).
    """
    if not answers:
        raise MandateUnknown(
            "the escrow answered with nothing, not even its Mandate: nothing it did can be verified",
            requirement="ESC-002",
            origin=Origin.REMOTE,
        )
    mandate, *statements = answers
    return mandate, statements


def unfinished(neg: Negotiation) -> str:
    """Why a trade is not finished, or "" when it is: a final state, and no bond still locked."""
    c = neg.contract
    locked = {} if c is None else {p: a for p, a in c.locked.items() if p not in c.settled}
    if neg.is_terminal and not locked:
        return ""
    why = neg.state.value
    if locked:
        currency = c.proposal.terms.currency if c is not None else ""
        why += f", {sum(locked.values())} {currency} in bonds still locked"
    return why


def relay_escrow_answers(
    peer: Peer,
    counterparty: CooperationClient,
    answers: Sequence[bytes],
    *,
    escrow: Submitter | None = None,
) -> None:
    """Take the escrow's statements, pass them on to the counterparty, and perform what follows.

    With ``escrow`` (the one that answered), the Deliveries that makes us sign go to it first (WIT-007),
    before anything goes to the counterparty: a counterparty that fails the relay of the locks, or our
    Delivery, would otherwise stop the run with the Delivery given to nobody, and its claim after the
    deadline would find none at the escrow.

    Raises:
        MandateUnknown: the answer is empty (see :func:`split_escrow_answer`).
    """
    _relay_taken(peer, counterparty, _take_escrow_answer(peer, answers, escrow), escrow)


def _take_escrow_answer(peer: Peer, answers: Sequence[bytes], escrow: Submitter | None) -> _Taken:
    """The first half of :func:`relay_escrow_answers`: the escrow's answer taken into our view (journaled),
    and the Deliveries it makes us sign given to ``escrow`` (WIT-007); nothing sent to the counterparty.

    Raises:
        MandateUnknown: the answer is empty (see :func:`split_escrow_answer`).
    """
    mandate, statements = split_escrow_answer(answers)
    held = peer.hold_escrow_mandate(mandate)
    # What we held already (an earlier Stamp answered again) reached the counterparty when we got it.
    news = _news(peer, statements)
    # The escrow's Mandate as held (verified, decoded when taken), else decoded here, once.
    stated = held.statement if held is not None else decode_statement(decode_envelope(mandate).payload)
    ours = _take_escrow_news(peer, news, stated.mandate.agent)
    _witness_first(escrow, ours)
    return _Taken(mandate, stated.mandate, news, ours)


def _relay_taken(
    peer: Peer, counterparty: CooperationClient, taken: _Taken, escrow: Submitter | None
) -> None:
    """The second half of :func:`relay_escrow_answers`: what ``taken`` holds passed on to the counterparty,
    and what its answers make due performed."""
    more = _relay(peer, counterparty, taken.mandate, taken.news, escrow, granted=taken.granted)
    _witness_first(escrow, more)
    for vs in [*taken.ours, *more]:
        _drive(peer, counterparty, vs, escrow, taken.granted.agent)


def _drive(
    peer: Peer,
    counterparty: CooperationClient,
    vs: VerifiedStatement,
    escrow: Submitter | None,
    escrow_did: str,
) -> list[VerifiedStatement]:
    """:func:`drive`, each answer taken as :func:`_take_answers` does."""
    return drive(peer, counterparty.exchange, vs, take=lambda a: _take_answers(peer, a, escrow, escrow_did))


def _witness_first(escrow: Submitter | None, ours: Sequence[VerifiedStatement]) -> None:
    """Give our Deliveries among ``ours`` to ``escrow`` (WIT-007) before they go to the counterparty.
    Best effort, and its answer proves nothing (anyone's to give): the caller settles with the escrow
    afterwards (:func:`settle_with_escrow`, then :func:`witness_ours`), which gives them again until the
    escrow's Stamp of each is held -- answered then with these Stamps (WIT-006), which it relays."""
    deliveries = [vs.envelope for vs in ours if vs.body == "delivery"]
    if escrow is None or not deliveries:
        return
    try:
        escrow.submit(deliveries)
    except (CoopError, TransportError) as exc:
        log.warning("our %d deliveries not given to the escrow yet: %s", len(deliveries), exc)


class _New(NamedTuple):
    """One of an escrow's statements not in memory (:func:`_news`): its envelope, its digest, and the
    envelope parsed once (:func:`_take_escrow_news` reads its issuer, and the peer verifies it, from it)."""

    envelope: bytes
    digest: bytes
    parsed: ParsedEnvelope


class _Taken(NamedTuple):
    """An escrow's answer taken (:func:`_take_escrow_answer`), not relayed yet: its Mandate (``granted``,
    decoded), its statements not in memory before, and what they made us sign."""

    mandate: bytes
    granted: identity_pb2.Mandate
    news: list[_New]
    ours: list[VerifiedStatement]


def _news(peer: Peer, statements: Sequence[bytes]) -> list[_New]:
    """``(envelope, digest, parsed)`` of the statements not in memory. In memory only: what only the
    journal still holds is refused REPLAYED where it goes, where asking the journal about every new
    statement would cost a read each. Each envelope is parsed and hashed once here: its issuer is read
    from the payload kept (:func:`_take_escrow_news`), and the peer checks its signature on what was
    parsed (:meth:`Peer.on_replies`), neither decoding it again."""
    held = peer.verifier.statements
    news = []
    for env in statements:
        parsed = parse_envelope(env)
        if not dict.__contains__(held, parsed.digest):
            news.append(_New(env, parsed.digest, parsed))
    return news


def _issuer_of(new: _New) -> str:
    """The issuer of an escrow's statement from :func:`_news` (its envelope parsed there)."""
    return decode_statement(new.parsed.envelope.payload).header.issuer


def _take_escrow_news(
    peer: Peer, news: Sequence[_New], escrow_did: str, escrow: Submitter | None = None
) -> list[VerifiedStatement]:
    """Take an escrow's answer; return what it makes us send. An Accept it reveals (ESC-012), and what
    that Accept cites, come after the Stamp that witnessed it: taken as context -- its own expiry says
    nothing once the escrow recognised the contract (WIT-004, TIM-006) -- then the escrow's statements
    after it as answers, which make our Deliveries due.

    An Accept we cannot take because its issuer's chain forks at it in our view -- it answered us
    otherwise at the same seq (CHN-004), or broke its chain there (CHN-003) -- is shown back to
    ``escrow`` with the statement it forks with (ESC-015): the escrow then takes no claim of that issuer
    under the contract, which we cannot perform. The refusal is raised all the same."""
    split = max((i + 1 for i, new in enumerate(news) if _issuer_of(new) != escrow_did), default=0)
    try:
        peer.hold([new[0] for new in news[:split]], answer_of=escrow_did)
    except (Equivocation, ChainBroken, NonceReused, KeyRevoked) as refused:
        if escrow is not None and refused.evidence:
            # A fork, or another statement with the Accept's nonce: refused there too or taken, it keeps
            # the proof (ESC-015). A revocation of the Accept's issuer
            # (or of its principal) from before the Accept: taken there, it refuses that key's claims
            # (KEY-004, KEY-005, ESC-013).
            with contextlib.suppress(CoopError, TransportError):
                escrow.submit(list(refused.evidence))
        raise
    answers = news[split:]
    return peer.on_replies([new.envelope for new in answers], parsed=[new.parsed for new in answers])


def _relay(
    peer: Peer,
    counterparty: CooperationClient,
    mandate: bytes,
    news: Sequence[_New | tuple[bytes, bytes]],
    escrow: Submitter | None = None,
    *,
    granted: identity_pb2.Mandate | None = None,
) -> list[VerifiedStatement]:
    """Pass an escrow's new statements (``(envelope, digest)`` first, in its order: :func:`_news`) on to
    the counterparty; return what its answers make us send (taken as :func:`_take_answers` does,
    ``escrow`` the client of the escrow whose statements they are, if at hand). ``granted``: the
    escrow's Mandate ``mandate`` carries, when the caller decoded it already (not decoded again).

    Only what a trade needs of them goes on (:func:`_relayed`): statements of a negotiation, the
    escrow's Stamps, and the Mandates those cite -- not whatever else the answer carried (strangers'
    Mandates and Checkpoints, which our own quota skips, RPC-016): an escrow flooding its answer had us
    send the counterparty one Exchange per statement of it, up to some 7,000 an answer.

    In one Exchange when they are about one negotiation: the last as the request, the others before it
    as its context, which the counterparty takes first, in order, and journals with the request in one
    commit (SPEC 13.2); past one envelope's size in all, in as few Exchanges of that size as they fit
    (the escrow's Stamps of a flooded answer: bounded by its bytes, not by its count). One Exchange each
    otherwise, and when the counterparty refuses a batch REPLAYED (one of them is held only in its
    journal), where a REPLAYED refusal of one is fine: it holds that one.
    """
    if granted is None:
        granted = decode_statement(decode_envelope(mandate).payload).mandate  # held: verified; decoded once
    relayed = _relayed(peer, granted, news)
    if not relayed:
        return []
    escrow_did = granted.agent
    held = peer.verifier.statements
    envelopes = [env for env, _ in relayed]
    # About one negotiation (a Stamp names none of its own): the counterparty's reactions to escrow
    # statements depend on that negotiation's state only, so it answers the batch as it would the last.
    negotiations = {held[d].header.negotiation_id if d in held else None for _, d in relayed} - {b""}
    one_negotiation = len(negotiations) <= 1 and None not in negotiations
    if len(relayed) > 1 and one_negotiation:
        ours: list[VerifiedStatement] = []
        for batch in _batches(mandate, envelopes):
            try:
                replies = counterparty.exchange(batch[-1], [mandate, *batch[:-1]])
            except CoopError as exc:
                if exc.code != "REPLAYED":
                    raise
                ours += _relay_each(peer, counterparty, mandate, batch, escrow, escrow_did=escrow_did)
                continue
            ours += _take_answers(peer, replies, escrow, escrow_did)
        return ours
    return _relay_each(peer, counterparty, mandate, envelopes, escrow, escrow_did=escrow_did)


def _relay_each(
    peer: Peer,
    counterparty: CooperationClient,
    mandate: bytes,
    envelopes: Sequence[bytes],
    escrow: Submitter | None = None,
    *,
    escrow_did: str | None = None,
) -> list[VerifiedStatement]:
    """One Exchange per envelope, a REPLAYED refusal skipped (the counterparty holds that one).
    ``escrow_did``: the agent of the escrow's Mandate ``mandate``, when the caller read it already."""
    if escrow_did is None:
        escrow_did = decode_statement(decode_envelope(mandate).payload).mandate.agent  # held: verified
    ours: list[VerifiedStatement] = []
    for env in envelopes:
        try:
            replies = counterparty.exchange(env, [mandate])
        except CoopError as exc:
            if exc.code != "REPLAYED":
                raise
            continue
        ours += _take_answers(peer, replies, escrow, escrow_did)
    return ours


def _batches(mandate: bytes, envelopes: Sequence[bytes]) -> list[list[bytes]]:
    """``envelopes`` in order, cut into runs each within one envelope's size with ``mandate``, framing
    aside: a request any server takes (RPC-008). The last run holds the last envelope, the request the
    counterparty answers the whole as it would (an envelope alone is always within it, ENV-008)."""
    out: list[list[bytes]] = [[]]
    size = len(mandate)
    for env in envelopes:
        if out[-1] and size + len(env) > MAX_ENVELOPE_BYTES:
            out.append([])
            size = len(mandate)
        out[-1].append(env)
        size += len(env)
    return out


def _statement_of(envelope: bytes) -> statement_pb2.Statement:
    """The Statement in ``envelope`` (verified before, when it was taken)."""
    return decode_statement(decode_envelope(envelope).payload)


def _relayed(
    peer: Peer, granted: identity_pb2.Mandate, news: Sequence[_New | tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """What of an escrow's new statements the counterparty's trade needs: the statements of a
    negotiation (its contract's locks, rulings, the Accept the escrow reveals), the escrow's Stamps
    (WIT-006: they witness the parties' statements), and the Mandates these cite (the escrow's renewed
    one, RPC-002), in the escrow's order, ``granted`` the escrow's Mandate. Read from the envelopes (taken
    and verified before): a negotiation finished for good may have left memory already."""
    escrow, succeeds = granted.agent, granted.succeeds
    held = peer.verifier.statements
    decoded = [
        (env, d, vs.statement if (vs := dict.get(held, d)) is not None else _statement_of(env))
        for env, d, *_ in news
    ]
    needed = {
        d
        for _, d, st in decoded
        if st.header.negotiation_id
        or (st.header.issuer == escrow and st.WhichOneof("body") == "stamp")
        # A successor's hand-over (ESC-022, ESC-023 (c)): the revocation of the key it succeeds and the
        # statement of that key binding it to the revoker, without which the counterparty takes none of
        # the successor's statements about the contract.
        or (succeeds and st.header.issuer == succeeds)
        or (succeeds and st.WhichOneof("body") == "key_revocation" and st.key_revocation.key == succeeds)
    }
    mandates = {d: st for _, d, st in decoded if st.WhichOneof("body") == "mandate"}
    todo = [st.header.mandate for _, d, st in decoded if d in needed]
    while todo:  # the Mandates they cite, and those these cite
        cited = todo.pop()
        if cited in mandates and cited not in needed:
            needed.add(cited)
            todo.append(mandates[cited].header.mandate)
    return [(env, d) for env, d, _ in decoded if d in needed]


# Our Deliveries the escrow's answer holds no Stamp of are submitted again at doubling waits from
# WITNESS_RETRY_S, each at most RETRY_CAP_S, MAX_SUBMIT_ATTEMPTS times in all (about a minute): by a served
# node's witness (then on, further apart, until they could be timely no more) and by a run of `offer` or
# `resume` (then it says so and exits 3). A Delivery is timely only once witnessed by its deadline + 30 s
# (WIT-003), and the escrow's Stamp is the witness a party gets without its counterparty's help.
WITNESS_RETRY_S: Final = 0.5
RETRY_CAP_S: Final = 30.0
MAX_SUBMIT_ATTEMPTS: Final = 8


def signer_stands(peer: Peer, vs: VerifiedStatement) -> bool:
    """Whether no KeyRevocation ``peer``'s view holds reaches ``vs`` (KEY-004, KEY-011) and no KeyRotation of
    its signer it holds ends its chain below ``vs`` (KEY-005): what an escrow key's statement needs, before
    whom it speaks for, to be that escrow's word in our view (WIT-007). Under the peer's lock, or its caller's
    reading as every other reading of the verifier here."""
    verifier = peer.verifier
    if verifier.revokes(vs):
        return False
    rotated = verifier.rotated.get(vs.issuer)
    return rotated is None or vs.seq <= rotated


def escrows_word(peer: Peer, vs: VerifiedStatement, escrow: str) -> bool:
    """Whether ``vs`` (a Stamp, verified) is the escrow key ``escrow``'s word in ``peer``'s view (WIT-007):
    signed by it where :func:`signer_stands`, or by a successor whose hand-over the view honours, from its
    time on (ESC-022, :meth:`WitnessIndex.acts_for`) and standing too. ``acts_for`` alone reads a revocation
    of the escrow key only once a hand-over of it is honoured: a view that heard the revocation and not yet
    the hand-over took the leaked key's thief's Stamp as the escrow's word, and a fork refusal it signed
    freed Bob's car that the escrow held under Mallory's Accept (red team 33, :func:`_forked_at`)."""
    acts_for = peer.verifier.witness.acts_for
    return signer_stands(peer, vs) and acts_for(vs.issuer, escrow, vs.issued_at_ms, vs.seq)


def unstamped_deliveries(
    envelopes: Sequence[bytes], answer: Sequence[bytes], speaks_for: Callable[[VerifiedStatement], bool]
) -> set[bytes]:
    """The digests of the Deliveries among ``envelopes`` that no Stamp in ``answer`` names for which
    ``speaks_for`` holds -- signed, verified, by the escrow's key (WIT-001: it stamps what it takes; WIT-006:
    and answers a repeat with that Stamp). Nothing else in an answer says the escrow took a Delivery: the
    answer is whoever answered's choice -- the escrow's public Mandate alone, a Stamp by another key, the
    escrow's real answer with the Delivery taken out, an old Stamp of another Delivery replayed, a Stamp
    dated before the Delivery was signed (WIT-007, :meth:`Peer.stamped_ours`).
    The one check of a served node's witness and of a run's (:func:`witness_ours`)."""
    signed_at: dict[bytes, int] = {}  # each Delivery's digest -> its issued_at_ms (ours: our clock's)
    for env in envelopes:
        payload = decode_envelope(env).payload
        stmt = decode_statement(payload)
        if stmt.WhichOneof("body") == "delivery":
            signed_at[statement_digest(payload)] = stmt.header.issued_at_ms
    if not signed_at:
        return set()
    deliveries = set(signed_at)
    for env in answer:
        try:
            vs = verify_statement(env)
        except CoopError:
            continue  # proves nothing
        if vs.body == "stamp" and speaks_for(vs):
            # Not one dated before the Delivery was signed, less the clock tolerance (Peer.stamped_ours).
            at = vs.issued_at_ms + CLOCK_TOLERANCE_MS
            deliveries.difference_update(
                d for d in vs.statement.stamp.statements if signed_at.get(d, at) <= at
            )
    return deliveries


def unwitnessed(peer: Peer, neg: Negotiation) -> list[VerifiedStatement]:
    """Our Deliveries under ``neg``'s contract that its escrow has not stamped in our view (no Stamp of it by
    the escrow's key, or a successor's from its hand-over on, ESC-022, held), while a Stamp could still make
    them timely: until the contract's last deadline plus the clock tolerance (WIT-003). What a run of
    `offer` or `resume` counts unfinished (exit 3) -- never done while the escrow has not taken one."""
    c = neg.contract
    if c is None or not c.escrow or peer.clock() > c.last_deadline_ms + CLOCK_TOLERANCE_MS:
        return []
    held = peer.verifier.statements
    return [
        held[d]
        for d, (by, _) in c.deliveries.items()
        if by == peer.did and d in held and not peer.stamped_ours(c.escrow, held[d])
    ]


def witness_ours(
    peer: Peer, counterparty: CooperationClient, escrow: Submitter, neg: Negotiation
) -> list[VerifiedStatement]:
    """WIT-007 for a run: while the escrow has not stamped a Delivery of ours under ``neg``'s contract
    (:func:`unwitnessed`), submit it again -- with what else of ``neg`` it has not stamped -- at
    doubling waits from :data:`WITNESS_RETRY_S`, each at most :data:`RETRY_CAP_S`, :data:`MAX_SUBMIT_ATTEMPTS`
    times in all, as a served node's witness does; each answer relayed. Done only on an answer holding the
    escrow's Stamp of each (:func:`unstamped_deliveries`): the run once took any answer, or a refusal, as
    the escrow's, and whoever answered for it in those Submits (a man in the middle on a plaintext channel,
    a proxy, a wrong ``--escrow``) kept the Delivery from it until the user ran `resume`
    (tests/test_witness32_offer_forged_answer.py). Returns those still unwitnessed: the caller says so."""
    c = neg.contract
    owed = unwitnessed(peer, neg)
    if c is None or not owed:
        return owed

    def speaks_for(stamp: VerifiedStatement) -> bool:
        return escrows_word(peer, stamp, c.escrow)

    for attempt in range(MAX_SUBMIT_ATTEMPTS):
        time.sleep(min(WITNESS_RETRY_S * 2**attempt, RETRY_CAP_S))
        # Everything the escrow has not stamped, as settle_with_escrow sends it: the counterparty's Receipts
        # kept from it with the Delivery release the bonds once it takes them.
        evidence = _unstamped_evidence(peer, peer.negotiation(neg.id))
        try:
            answer = escrow.submit(evidence)
            left = unstamped_deliveries(evidence, answer, speaks_for) & {vs.digest for vs in owed}
            relay_escrow_answers(peer, counterparty, answer, escrow=escrow)
        except (CoopError, TransportError) as exc:  # a refusal is unsigned too: asked again all the same
            log.warning("our %d deliveries not witnessed by the escrow yet: %s", len(owed), exc)
        else:
            if not left:
                return []
            log.warning("the escrow's answer holds no Stamp by it of %d of our deliveries", len(left))
        owed = unwitnessed(peer, peer.negotiation(neg.id))
        if not owed:
            return owed
    return owed


@_keeps_fork_proofs
def settle_with_escrow(
    peer: Peer, counterparty: CooperationClient, escrow: EscrowClient, neg: Negotiation
) -> list[bytes]:
    """Send the escrow what it needs of a negotiation to settle it; relay its answers.

    That is every statement of the negotiation (claims and revokes waiting for its stamp included,
    WIT-005), after the contract, and the counterparty's Acks of our Deliveries: an Ack witnesses a
    Delivery as a Stamp does (WIT-002), maybe earlier. What the escrow has stamped (its Stamps we
    hold say so) or signed itself is not sent again.
    """
    answers = escrow.submit(_unstamped_evidence(peer, neg))
    relay_escrow_answers(peer, counterparty, answers, escrow=escrow)
    return answers[1:]


def _unstamped_evidence(peer: Peer, neg: Negotiation) -> list[bytes]:
    """What :func:`settle_with_escrow` submits: the statements of ``neg`` its escrow has not stamped in our
    view, after the contract, and the counterparty's Acks of our Deliveries."""
    held, witness = peer.verifier.statements, peer.verifier.witness
    c = neg.contract
    statements = [held[d] for _, _, _, d in neg.history if d in held]
    if c is not None:
        statements += c.pending.values()
    acks = [
        peer.verifier.ack_of(vs.header.audience, vs.digest)
        for vs in statements
        if vs.body == "delivery" and vs.issuer == peer.did
    ]
    escrow_did = c.escrow if c is not None else ""

    def stamped(vs: VerifiedStatement) -> bool:
        if vs.issuer == peer.did:
            return peer.stamped_ours(escrow_did, vs)
        return witness.stamp_time(escrow_did, vs.digest) is not None

    evidence = [
        vs
        for vs in [*_contract_statements(peer, neg), *statements, *filter(None, acks)]
        if vs.issuer != escrow_did and not stamped(vs)
    ]
    return list(dict.fromkeys(vs.envelope for vs in evidence))


@_keeps_fork_proofs
def resume_trade(
    peer: Peer, counterparty: CooperationClient, neg: Negotiation, *, escrow: EscrowClient | None = None
) -> Negotiation:
    """Carry on a trade that a crash, a lost answer or a replayed one interrupted, from the journal alone.

    1. Send the counterparty again, in the order we took them, every statement of the negotiation we
       signed and every one the escrow signed (with the escrow's Stamps of them): a statement it holds
       already is answered as the first time (RPC-003) or refused REPLAYED, which is fine; one that
       never reached it is taken now. What its answers make due (a Receipt, a Delivery) is signed,
       journaled and sent.
    2. With an escrow, settle with it (:func:`settle_with_escrow`: the evidence it has not stamped, its
       answers relayed) and relay what it signed on its own clock that we do not hold yet (a Release, a
       Refund, a Forfeit). Also when the counterparty refused a statement in step 1: the escrow takes
       evidence offline (TIM-005), so a Receipt the counterparty now refuses as dated back (TIM-006: it
       never reached it, and no Stamp witnessed it in time) still settles the bonds, where every later
       resume would meet the same refusal and leave them locked for good. Our bonded offer still
       unanswered is shown to the escrow first (:func:`ask_escrow_about_offer`, ESC-012): a contract it
       was accepted into behind our back is learnt there and performed -- also when the counterparty
       refused step 1 or could not be reached. So is our Accept a lower answer of the counterparty's cut
       back before we held the escrow's Stamp (:func:`show_accept_cut_back`, NEG-024), answered so in
       step 1 or before the run stopped: the contract the escrow witnesses is performed. Our Deliveries
       the escrow has not stamped are given again (:func:`witness_ours`), also after a settle round whose
       answer we refused -- whoever answered for the escrow chose it (a forged Stamp). An escrow out of
       reach in that round is not asked again this run, and what we owe the counterparty still goes to it
       before its failure is raised (witness33).

    Nothing is signed that the trade's rules would not sign anyway (the policy guard runs as ever), and
    nothing is signed twice: our journal holds what we signed, the counterparty's and the escrow's
    answer the same request with the same answers (RPC-003, ESC-007).

    Raises:
        CoopError: the counterparty or the escrow refused something other than as a replay (the
            counterparty's first refusal, after the escrow settled what it could).
        TransportError: one of them could not be reached.
    """
    c = neg.contract
    escrow_did = c.escrow if c is not None else ""
    held, witness = peer.verifier.statements, peer.verifier.witness
    resend: dict[bytes, VerifiedStatement] = {}
    for vs in list(held.values()):
        if vs.header.negotiation_id == neg.id and vs.issuer in (peer.did, escrow_did):
            stamp = witness.stamp_of(escrow_did, vs.digest) if escrow_did else None
            if stamp is not None and stamp in held and stamp not in resend:
                resend[stamp] = held[stamp]  # the escrow's Stamp first: a claim takes effect by it (WIT-005)
            resend.setdefault(vs.digest, vs)
    ours: list[VerifiedStatement] = []
    refused: CoopError | TransportError | None = None
    for vs in resend.values():
        try:
            answers = counterparty.exchange(vs.envelope, peer.send_context())
        except (CoopError, TransportError) as exc:
            if isinstance(exc, CoopError) and exc.code == "REPLAYED":
                continue
            # What follows it would be refused (or lost) too; the escrow may still settle (step 2), and
            # a counterparty gone quiet must not keep us from learning what the escrow holds (ESC-012).
            refused = exc
            break
        try:
            ours += _take_answers(peer, answers, escrow, escrow_did)
        except CoopError as exc:  # what it answered, refused by our own checks: the escrow may still settle
            refused = exc
            break
    for vs in ours:
        try:
            _drive(peer, counterparty, vs, escrow, escrow_did)
        except (CoopError, TransportError) as exc:
            # What its answers made due -- a Delivery, when they carried the escrow's locks -- still goes
            # to the escrow below (WIT-007): a counterparty that fails it must not keep it from there.
            refused = refused or exc
            break
    # What is due and not delivered: held back by TIM-009 (nothing performs it again on its own), or
    # never signed before the crash. To the escrow first (the settling below), then the counterparty.
    if escrow is not None:
        # Our bonded offer still unanswered: accepted behind our back, with the escrow alone shown the
        # Accept? The escrow's record says (ESC-012); a contract it reveals is performed as any other.
        check_at = hidden_accept_check_ms(peer, neg)
        failed: CoopError | TransportError | None = None
        try:
            ask_escrow_about_offer(peer, counterparty, escrow, neg)
        except (CoopError, TransportError) as exc:
            log.warning("ask_escrow_about_offer in %s: %s", neg.id.hex()[:12], exc)
            failed = exc
        # Each step whatever became of the one before (a refusal for good, an escrow out of reach for
        # one call): what one leaves owed, the next must not leave owed too. Our Accept, cut back by a
        # lower answer the counterparty gave to it -- in step 1, or before the run stopped -- goes to the
        # escrow as carry_trade sends it (NEG-024): else the counterparty alone shows it there, and its
        # claim takes our bond. Our bonded Counter the lower answer cut off the line -- with or without
        # our Withdraw of it signed -- is withdrawn there (NEG-024 (a)), for the same reason.
        cut_back_failed = _show_cut_back(peer, counterparty, escrow, neg.id, escrow_did)
        failed = failed or cut_back_failed
        neg = peer.negotiation(neg.id)  # a forgotten one is brought back by what the escrow revealed
        if failed is not None:
            if _contract_id(peer, neg.id) is None:
                raise failed  # the escrow's refusal: nothing learnt
            refused = refused or failed  # the counterparty's, once the escrow has our Deliveries
        if neg.contract is None and check_at is not None and check_at <= peer.clock():
            return neg  # past its bonding cutoff and not accepted there: it can bind nothing any more
    performed = peer.perform(neg.id)
    # Read again: an Offer that never reached the counterparty before the crash forms its contract
    # only now, and it goes to the escrow like any other (else the trade would stop in ACCEPTED).
    c = neg.contract
    escrow_did = c.escrow if c is not None else ""
    away: TransportError | None = None  # the escrow out of reach this run
    if escrow is not None and escrow_did:
        # Each round's answers may make more due (the locks: both Deliveries; the Receipts: the
        # Releases); a round that submits nothing unstamped gets the Mandate alone, and ends it.
        try:
            for _ in range(_SETTLE_ROUNDS):
                if not settle_with_escrow(peer, counterparty, escrow, neg):
                    break
            sync_with_escrow(peer, counterparty, escrow, neg)
        except CoopError as exc:
            # An answer we refuse -- a forged Stamp, whoever answered for the escrow -- must not keep our
            # Deliveries from it: the witness below asks again.
            refused = refused or exc
        except TransportError as exc:
            # Out of reach: its retries (about a minute) would meet the same; what we owe the counterparty
            # still goes below, and the caller says what the escrow is owed (witness33).
            away = exc
        if away is None:
            witness_ours(peer, counterparty, escrow, neg)  # until its Stamp of each is held (WIT-007)
    for vs in performed if refused is None else ():
        _drive(peer, counterparty, vs, escrow if away is None else None, escrow_did)
    if performed and refused is None and away is None and escrow is not None and escrow_did:
        # What the counterparty answered our Deliveries with -- its Receipts, its own Deliveries (a hold
        # under revocable terms released, CMT-012) and our Receipts of them -- settles the bonds: the
        # escrow releases them once it holds every Receipt, and nobody else would show it those.
        for _ in range(_SETTLE_ROUNDS):
            if not settle_with_escrow(peer, counterparty, escrow, neg):
                break
    if refused is not None:
        raise refused
    if away is not None:
        raise away
    return neg


_SETTLE_ROUNDS = 4


def _take_answers(
    peer: Peer, answers: Sequence[bytes], escrow: Submitter | None, escrow_did: str
) -> list[VerifiedStatement]:
    """:meth:`Peer.on_replies` of a counterparty's answers in a trade under ``escrow`` (its key
    ``escrow_did``). One of them our verifier refuses as dated back (TIM-006, "not witnessed then") may
    be a statement the escrow witnessed in time that only reaches us now -- the counterparty's
    Delivery, signed on its own while we were stopped (Ctrl-C, a crash), sent with its next answer
    after we resume -- and we do not hold that Stamp: the escrow gives it, answering a Submit of what it
    stamped before with the same Stamps (WIT-006). Held, the answers are taken again; a statement the
    escrow did not witness in time is refused as before, and so it is without an escrow at hand."""
    try:
        return peer.on_replies(answers)
    except IssuedInPast as dated_back:
        if escrow is None or not escrow_did:
            raise
        held = peer.verifier.statements
        theirs = [env for env in answers if statement_digest(decode_envelope(env).payload) not in held]
        try:
            stamps = escrow.submit(theirs)
        except (CoopError, TransportError):
            raise dated_back from None  # the escrow's word, not ours: the refusal stands as it was
        peer.hold(stamps, answer_of=escrow_did)
        return peer.on_replies(answers)


def sync_with_escrow(
    peer: Peer, counterparty: CooperationClient, escrow: EscrowClient, neg: Negotiation
) -> None:
    """Take the statements about ``neg`` the escrow signed on its own clock (a Forfeit once a claim's
    response window ends, a Refund, a lapse) that we do not hold yet, and relay them."""
    held = peer.verifier.statements
    mandate, *ledger = fetch_ledger(escrow)
    new = [
        env
        for env in ledger
        if (vs := verify_statement(env)).header.negotiation_id == neg.id and vs.digest not in held
    ]
    if new:
        relay_escrow_answers(peer, counterparty, [mandate, *new], escrow=escrow)


def claim_breach(peer: Peer, neg: Negotiation, item_index: int, reason: str) -> VerifiedStatement:
    """Sign a BreachClaim for the counterparty's item ``item_index`` (guarded, journaled)."""
    c = neg.contract
    if c is None:
        raise ValueError("no contract to claim under")
    msg = commitment_pb2.BreachClaim(contract=c.id, item_index=item_index, reason=reason)
    return peer.sign("breach_claim", msg, audience=c.other(peer.did), negotiation_id=neg.id)


def revoke(peer: Peer, neg: Negotiation, reason: str = "") -> VerifiedStatement:
    """Sign a Revoke of the contract under its revocation terms (guarded, journaled).

    Send it to the counterparty, then to the escrow (:func:`settle_with_escrow`),
    which forfeits the revoker's bond under forfeit_bond terms (CMT-003).
    """
    c = neg.contract
    if c is None:
        raise ValueError("no contract to revoke")
    msg = commitment_pb2.Revoke(contract=c.id, reason=reason)
    return peer.sign("revoke", msg, audience=c.other(peer.did), negotiation_id=neg.id)


def _items(specs: Sequence[tuple[str, int]], deadline_ms: int) -> list[trade_pb2.Item]:
    return [
        trade_pb2.Item(
            kind=trade_pb2.ITEM_KIND_SERVICE,
            category=category,
            description=category,
            quantity=1,
            unit="job",
            value=value,
            deadline_ms=deadline_ms,
        )
        for category, value in specs
    ]


def proposal(
    peer: Peer,
    gives: Sequence[tuple[str, int]],
    wants: Sequence[tuple[str, int]],
    *,
    deadline_ms: int,
    bond: int = 0,
    escrow: str = "",
    revocation: trade_pb2.Revocation | None = None,
    response_window_ms: int = 0,
) -> trade_pb2.Offer:
    """An Offer in the peer's mandate currency. With ``escrow``, that escrow arbitrates claims and
    revokes and, with ``bond``, holds each side's bond of that amount."""
    terms = trade_pb2.Terms(
        currency=peer.mandate_vs.statement.mandate.currency,
        escrow=escrow,
        issuer_bond=bond,
        audience_bond=bond,
        response_window_ms=response_window_ms,
    )
    if revocation is not None:
        terms.revocation.CopyFrom(revocation)
    return trade_pb2.Offer(gives=_items(gives, deadline_ms), wants=_items(wants, deadline_ms), terms=terms)


def counterparty_did(client: CooperationClient) -> str:
    """Who serves at the other end: the issuer of its signed Checkpoint."""
    return verify_statement(client.get_checkpoint()).issuer


def negotiation_evidence(peer: Peer, negotiation_id: bytes) -> list[bytes]:
    """Every statement of a negotiation the peer holds (escrow statements included), after the
    mandates they name and the escrow Stamps that witness them (WIT-005): a transcript a third party
    verifies offline."""
    held = peer.verifier.statements
    statements = [vs for vs in held.values() if vs.header.negotiation_id == negotiation_id]
    archive = peer.verifier.archive
    if archive is not None and negotiation_id not in peer.verifier.negotiations.by_id:  # forgotten
        statements = [verify_statement(env) for env in archive.negotiation(negotiation_id)]
    try:
        neg: Negotiation | None = peer.verifier.negotiations.get(negotiation_id)
    except CoopError:
        neg = None
    escrow = neg.contract.escrow if neg is not None and neg.contract is not None else ""
    stamps = []
    if escrow:
        for vs in statements:
            stamp = peer.verifier.witness.stamp_of(escrow, vs.digest)
            if stamp is not None and stamp in held:
                stamps.append(held[stamp])
    cited = [*stamps, *statements]
    mandates = [held[vs.header.mandate].envelope for vs in cited if vs.header.mandate in held]
    return [*dict.fromkeys(mandates), *dict.fromkeys(vs.envelope for vs in cited)]


def serves_for(peer: Peer, mandate: bytes, wanted: str) -> bool:
    """Whether the escrow whose Mandate is ``mandate`` may settle a contract naming the escrow key
    ``wanted``: it is that key, or its successor by a hand-over (ESC-022) of a principal ``wanted`` is
    bound to in our verifier's view. Our verifier takes the successor's statements about the contract
    only once it honours the hand-over, with the revocation of ``wanted`` the successor's answers carry
    (ESC-023); a hand-over by anyone else is no escrow of the contract's."""
    m = verify_statement(mandate)
    if m.body != "mandate":
        return False
    if m.statement.mandate.agent == wanted:
        return True
    return m.statement.mandate.succeeds == wanted and m.issuer in peer.verifier.bound.get(wanted, ())


def fetch_escrow_mandate(escrow: EscrowClient) -> bytes:
    """The escrow's Mandate envelope: it answers every Submit, an empty one too, with it first (ESC-002).

    Raises:
        MandateUnknown: the escrow answered with nothing, or its first answer is not a Mandate.
        CoopError: that answer does not verify.
    """
    mandate = split_escrow_answer(escrow.submit([]))[0]
    vs = verify_statement(mandate)
    if vs.body != "mandate":
        raise MandateUnknown(
            f"the escrow answered with a {vs.body}, not its Mandate",
            requirement="ESC-002",
            origin=Origin.REMOTE,
        )
    return mandate


def _address(escrow: EscrowClient) -> str:
    """Where ``escrow`` answers, for an error (an escrow in this process, as the demo's, has none)."""
    return getattr(escrow, "target", "this process")


def _read_limits(escrow: EscrowClient, limits: PageLimits | None) -> PageLimits:
    """A read's bound (RPC-019 (b)): ``limits``, else the client's own (``page_limits``: the CLI's
    --max-pages and --max-read-bytes), else the defaults."""
    return limits or getattr(escrow, "page_limits", None) or PageLimits()


def fetch_transcript(escrow: EscrowClient, limits: PageLimits | None = None) -> list[bytes]:
    """The escrow's whole transcript -- its Mandate, its ledger from seq 0, each Stamp followed by the
    evidence it names -- page by page, as ``escrow audit`` reads it (SPEC 9.6).

    Raises:
        PagingViolation: a page's ``next_seq`` not past its ``from_seq`` while entries remain, beyond
            the head's, or the head going back; or more than ``limits`` in all (RPC-019).
    """
    guard = PageGuard(f"GetTranscript of the escrow at {_address(escrow)}", _read_limits(escrow, limits))
    out: list[bytes] = []
    seq = 0
    while True:
        page, head, seq_after = escrow.get_transcript(seq, 0)
        guard.page(page)
        guard.head(head)
        if seq_after > head + 1:
            guard.violation(f"next_seq {seq_after} past the ledger's head seq {head} + 1")
        out += page
        if seq_after <= seq and (seq > head or head == seq == 0):  # past the head, or an empty ledger
            return out
        guard.advance(seq, seq_after)
        if seq_after > head:
            return out
        seq = seq_after


def fetch_ledger(escrow: EscrowClient, limits: PageLimits | None = None) -> list[bytes]:
    """The escrow's mandate and its whole ledger from seq 0, as ``escrow audit`` reads them.

    Raises:
        PagingViolation: a page whose entries' seqs do not continue the ledger read so far (each its
            position), an empty page while entries remain, the head going back; or more than ``limits``
            in all (RPC-019).
    """
    mandate = fetch_escrow_mandate(escrow)
    guard = PageGuard(f"GetLedger of the escrow at {_address(escrow)}", _read_limits(escrow, limits))
    ledger: list[bytes] = []
    while True:
        page, head = escrow.get_ledger(len(ledger), 0)
        guard.page(page)
        guard.head(head)
        guard.seqs(
            [int(decode_statement(decode_envelope(e).payload).header.seq) for e in page],
            len(ledger),
            contiguous=True,
        )
        if not page and len(ledger) <= head and head:
            guard.violation(f"an empty page from seq {len(ledger)} of a ledger whose head seq is {head}")
        ledger += page
        if not page or len(ledger) > head:
            return [mandate, *ledger]
