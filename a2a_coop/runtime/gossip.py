"""Checkpoint gossip: what two peers swap when they trade, so that forks surface (SPEC.md 10.5, ATT-011).

Theory of operation. A key that shows two counterparties two histories is caught
only where their views of its chain meet: two statements at one seq, at adjacent
seqs that do not link, or at seqs whose times run backwards (a fork proof,
:mod:`a2a_coop.protocol.forks`). Each counterparty holds part of the key's chain
-- the statements it was sent and the head Checkpoint the key gave it --, so when
two peers trade they swap (:func:`swap`, :func:`answer`):

* their own head Checkpoint (signed anew only when the head moved: a caller cannot
  make a peer sign once per call), and
* the latest Checkpoint they hold of up to :data:`MAX_CHECKPOINTS` other keys, each
  after the Mandate it names so that the receiver can verify it, and
* the fork proofs they hold (up to :data:`MAX_PROOFS`): the counterparty's own first, then those
  against keys in their dealings (the most bonded with them first), then the rest, the last received
  first -- each with the revocations that spare a principal of its key on it here (ATT-024) and the
  escrow's Stamps of its statements (ATT-025), which the receiver takes as statements, so that it spares
  whom we spare and convicts whom we convict.

The receiver takes each Checkpoint as offline evidence into its own verifier. One
from a branch of a forked chain it does not hold meets the statements it does
hold: the chain check refuses it with the two envelopes, and the receiver keeps
them as a proof (:class:`~a2a_coop.runtime.evidence.EvidenceVerifier`), which it
gossips on; every view holding it gives the key no trust, nor its principal unless that principal's
revocation of the key disowns one of the proof's statements (ATT-013 (b)).
Nothing here is a request to sign anything but our own head Checkpoint.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, Protocol

from google.protobuf.message import DecodeError

from a2a_coop._proto.a2acoop.v1 import identity_pb2, statement_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.envelope import parse_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, proof_statements
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.reputation import sparing, witnesses
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.evidence import MAX_PROOF_BYTES, EvidenceVerifier
from a2a_coop.transport.limits import claimed

MAX_CHECKPOINTS: Final = 32  # other keys' Checkpoints per swap (each with its Mandate)
MAX_PROOFS: Final = 32
# What a swap carries (outgoing): Checkpoints, each after the Mandate it names. Nothing else is taken:
# a negotiation statement held here (an Accept of our offer, the escrow's locks) would move a trade of
# ours with no reaction -- no Delivery, no lock watch, no TIM-009 entry -- at a time its sender chose
# (ATT-019).
GOSSIPED_BODIES: Final = frozenset({"checkpoint", "mandate"})
# What one swap carries, and the most we take from one (ATT-023): it fits one request at the least
# receive limit a server may keep (65536 + 1024 bytes, RPC-008), with room for the protobuf framing.
BUDGET_BYTES: Final = 60_000
# Beyond it, a swap's response carries, last among its proofs, one proof that did not fit (ATT-023): the
# forker sizes the statements of its own proof, up to ENV-008's bound each (MAX_PROOF_BYTES).

# The Stamps of a proof's two statements travel with it, each after its Mandate, after what links each
# statement to the escrow (ATT-025): at most two Stamps and Mandates and six links; what a sender puts
# beyond them is dropped unread.
MAX_WITNESS_ENVELOPES: Final = 10
# What may link a proof's statement to its witnessing escrow (ATT-025): up to three a statement -- a
# Receipt's Delivery, that Delivery's contract's Accept, and the Offer or Counter that one accepts.
LINK_BODIES: Final = frozenset({"offer", "counter", "accept", "delivery"})
CHECKPOINT_TTL_MS: Final = 86_400_000
FRESH_FOR_MS: Final = 3_600_000  # a head Checkpoint with less left than this is signed anew
# A peer opening trades swaps with each counterparty at most once per this (ATT-011): each swap costs
# a round trip and, since our head moved, a Checkpoint signed and journaled on both sides.
SWAP_EVERY_MS: Final = 60_000
MAX_SWAP_TIMES: Final = 10_000  # counterparties whose last swap time is kept (least recent dropped)


class Gossiper(Protocol):
    """The other side of a swap: a CooperationClient, or in process a Peer."""

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]: ...


class Peer(Protocol):
    """What gossip needs of a :class:`~a2a_coop.runtime.peer.Peer` (which calls in here)."""

    @property
    def lock(self) -> threading.RLock: ...
    @property
    def verifier(self) -> EvidenceVerifier: ...
    @property
    def writer(self) -> ChainWriter: ...
    @property
    def clock(self) -> Callable[[], int]: ...
    @property
    def did(self) -> str: ...
    @property
    def trusted_escrows(self) -> frozenset[str]: ...  # whose Stamps convict here (ATT-013 (d))
    def sign(self, body: str, message: Any, **header: Any) -> VerifiedStatement: ...
    def take_gossip(self, envelopes: Sequence[bytes], *, started_with: str | None = None) -> None: ...
    def keep_shown(self, chain: Sequence[VerifiedStatement]) -> None: ...
    def take_revocation_stamps(self, stamps: Sequence[tuple[bytes, frozenset[bytes]]]) -> None: ...
    def dealing_rank(self, key: str) -> tuple[int, int] | None: ...


def head_checkpoint(peer: Peer) -> VerifiedStatement:
    """A Checkpoint over ``peer``'s chain so far (CHN-007): the last one while it is still the chain's
    head and fresh, else a new one -- so callers cannot make the peer sign (and fsync) once per call."""
    with peer.lock:
        view = peer.verifier.chains.get(peer.did)
        head = None if view is None or view.head is None else view.links[view.head].digest
        latest = peer.verifier.statements.get(head) if head is not None else None
        fresh = latest is not None and latest.header.expires_at_ms > peer.clock() + FRESH_FOR_MS
        if latest is not None and latest.body == "checkpoint" and fresh:
            return latest
        # Our own chain view holds every statement we signed, seq by seq: its running root is the
        # log_root, O(log n), with no re-reading (None until we sign our first statement).
        held, root = view.prefix_root() if view else (0, b"")
        if held != peer.writer.next_seq:  # pragma: no cover - the guard records all we sign
            raise RuntimeError(f"our chain view holds {held} statements, we signed {peer.writer.next_seq}")
        return peer.sign("checkpoint", identity_pb2.Checkpoint(log_root=root), ttl_ms=CHECKPOINT_TTL_MS)


def outgoing(peer: Peer, *, exclude: str = "", response: bool = False) -> tuple[list[bytes], list[ForkProof]]:
    """What ``peer`` gossips, within :data:`BUDGET_BYTES`: its head Checkpoint, its fork proofs (the one
    against ``exclude`` first, then those against keys in its dealings by what they bonded with it,
    then the rest, the last received first: :func:`_proofs_to_pass_on`), then the
    latest Checkpoints it holds of other keys (not of ``exclude``, who knows its own), the last
    received first, each Checkpoint after its Mandate. A ``response`` (:func:`answer`) carries too, last
    among its proofs and beyond those bytes, the first of them that did not fit (ATT-023): a forker that
    padded its statements past one swap's bytes kept its proof from every other peer, for good (red team
    29). A request stays within them, to fit the least receive limit a server may keep (RPC-008).

    Received, not issued: a Checkpoint's ``issued_at_ms`` is its issuer's claim, and gossip takes old
    and future-dated ones alike (a fork proof needs no freshness). Ranked by it, a handful of free
    keys dating their Checkpoints years ahead would hold every slot of every peer they reach, for
    good, and no honest Checkpoint would travel on: forks between other views would go unseen. Our
    own order of receipt costs such keys a new Checkpoint at each peer, each time, to stay on top."""
    own = head_checkpoint(peer)
    with peer.lock:
        v = peer.verifier
        budget = BUDGET_BYTES
        envelopes: dict[bytes, None] = {}

        def add(vs: VerifiedStatement) -> bool:
            nonlocal budget
            mandate = v.statements.get(vs.header.mandate) if vs.header.mandate else None
            new = [e.envelope for e in (mandate, vs) if e is not None and e.envelope not in envelopes]
            cost = sum(map(len, new))
            if cost > budget:
                return False
            budget -= cost
            envelopes.update(dict.fromkeys(new))
            return True

        add(own)
        proofs, unfit = [], None
        for issuer in itertools.islice(_proofs_to_pass_on(v.forks, exclude, peer.dealing_rank), MAX_PROOFS):
            held = v.forks[issuer]
            # with what spares a principal of its key on it here (ATT-024) and the Stamps that say whether
            # its statements were witnessed first (ATT-025): without them, a receiver never shown the
            # revocation convicts whom we spare, and one shown it by the principal spares whom we convict
            # -- so a proof goes whole or not at all
            spares = sparing(v, issuer, held, peer.trusted_escrows)
            proof = ForkProof(held.first, held.second, tuple(spares), tuple(witnesses(v, held)))
            if swap_bytes(proof) <= budget:
                budget -= swap_bytes(proof)
                proofs.append(proof)
            elif unfit is None:
                unfit = proof
        if response and unfit is not None and len(proofs) < MAX_PROOFS:
            proofs.append(unfit)
        latest = (
            v.statements[d]
            for issuer, d in reversed(v.checkpoints.items())
            if issuer not in (peer.did, exclude)
        )
        for vs in itertools.islice(latest, MAX_CHECKPOINTS):
            if not add(vs):
                break
    return list(envelopes), proofs


def swap_bytes(proof: ForkProof) -> int:
    """What ``proof`` weighs against a swap's :data:`BUDGET_BYTES` (ATT-023): its two envelopes and those
    travelling with it (ATT-024, ATT-025)."""
    return len(proof.first) + len(proof.second) + _carried_bytes(proof)


def _carried_bytes(proof: ForkProof) -> int:
    """The bytes of what travels with ``proof`` (ATT-024, ATT-025)."""
    return sum(map(len, proof.revocations)) + sum(map(len, proof.stamps))


def _proofs_to_pass_on(
    forks: dict[str, ForkProof], counterparty: str, dealing_rank: Callable[[str], tuple[int, int] | None]
) -> Iterator[str]:
    """The keys of the fork proofs we hold, in the order a swap passes the proofs on: the one against the
    counterparty's own key first (how a peer whose key is stolen learns it, ATT-017), then up to
    :data:`MAX_PROOFS` against keys in our dealings (our counterparties, our contracts' escrows and
    principals) by their ``dealing_rank``, then the rest, the last received first (so are ties of rank).

    Not the first received first: proofs cost nothing to make against fresh keys of one's own, so the
    first few anyone sent would hold every slot for good, and no later proof -- against a thief's
    victim, say -- would travel on. Nor the last received alone: a flooder forking a fresh key of its
    own every round would push out every proof it did not send; it cannot push out those against keys
    we deal with, which it cannot make without our consent (a contract) or an open negotiation with us.
    Nor those the last received first within our dealings: a contract without bonds costs a Sybil
    nothing, so one forking a fresh key with a free contract each round would push out a real
    counterparty's proof; ranked by the bond value escrows locked for each key with us, then by when
    it joined our contracts, it must lock more funds with us than that counterparty did to pass it.
    A proof against a key we already convict never moves up again."""
    if counterparty in forks:
        yield counterparty
    ranked = []
    for received, issuer in enumerate(forks):
        rank = dealing_rank(issuer) if issuer != counterparty else None
        if rank is not None:
            ranked.append((rank, -received, issuer))
    ours = [issuer for _, _, issuer in heapq.nsmallest(MAX_PROOFS, ranked)]
    yield from ours
    mentioned = set(ours)
    for issuer in reversed(forks):
        if issuer != counterparty and issuer not in mentioned:
            yield issuer


def take(
    peer: Peer, envelopes: Sequence[bytes], proofs: Sequence[ForkProof], *, started_with: str | None = None
) -> list[str]:
    """Take a counterparty's gossip as evidence (no freshness: old Checkpoints still prove forks).

    With each proof we take, the KeyRevocations of its key and their Stamps travelling with it (ATT-024:
    :func:`_revocations_of`), after the Checkpoints. Envelopes that do not verify are skipped one by one --
    gossip is best effort, and a refused Checkpoint that forks a chain we hold is exactly what we keep as a
    proof -- and so are those of keys outside our dealings over the newcomer quota (RPC-016). Taken in the
    order sent, proofs first, up to :data:`MAX_PROOFS` proofs, 2 x (:data:`MAX_CHECKPOINTS` + 1) envelopes and
    :data:`BUDGET_BYTES` in all (ATT-023): what comes after the first that would pass the bound is dropped
    unread. An honest swap (:func:`outgoing`) never passes it; a flooder's larger one -- a swap's response,
    which our client takes up to 4 MiB, or the request of a server that raised its receive limit -- buys no
    more verification or memory than an honest one. ``started_with``: the counterparty of a swap we started
    (:func:`swap`); None for one we serve (:func:`answer`).

    Returns:
        The keys newly convicted of a fork.
    """
    budget = BUDGET_BYTES  # ATT-023: no more than we would send -- an honest swap is taken whole
    with peer.lock:
        before = set(peer.verifier.forks)
        gossiped = []
        read_alone: list[tuple[bytes, frozenset[bytes]]] = []  # ATT-024: Stamps read for revocations alone
        capped = proofs[:MAX_PROOFS]
        for i, proof in enumerate(capped):
            size = swap_bytes(proof)
            # The response to our swap may carry its last proof beyond the bytes (:func:`outgoing`): its
            # statements up to MAX_PROOF_BYTES, what travels with it (ATT-024) up to a swap's bytes again.
            beyond = (
                started_with is not None
                and i == len(capped) - 1
                and len(proof.first) + len(proof.second) <= MAX_PROOF_BYTES
                and _carried_bytes(proof) <= BUDGET_BYTES
            )
            if size > budget and not beyond:
                budget = -1  # dropped unread, with all that follows
                break
            budget -= 0 if size > budget else size
            issuer = peer.verifier.take_fork_proof(ForkProof(proof.first, proof.second))
            if issuer is not None:
                mandates, stamps = _witnesses_of(peer, proof)
                # the escrow's Mandate first: the Stamp of a revocation (ATT-024) cites it too
                revocations, batched = _revocations_of(issuer, proof.revocations)
                gossiped += [*mandates, *revocations, *stamps]
                read_alone += batched
        checkpoints = []
        for env in envelopes[: 2 * (MAX_CHECKPOINTS + 1)] if budget >= 0 else ():
            budget -= len(env)
            if budget < 0:
                break
            said = claimed(env)
            if said is not None and said.body in GOSSIPED_BODIES:
                checkpoints.append(env)
            # else not gossip: an Accept or a BondLock taken here would move a trade unanswered
        # the Checkpoints first: one may bind a proof's key to the principal whose revocation spares it
        peer.take_gossip([*checkpoints, *gossiped], started_with=started_with)
        peer.take_revocation_stamps(read_alone)  # after the revocations they name
        return sorted(set(peer.verifier.forks) - before)


def _revocations_of(
    key: str, carried: Sequence[bytes]
) -> tuple[list[bytes], list[tuple[bytes, frozenset[bytes]]]]:
    """What we take of a proof's ``carried`` envelopes (ATT-024, ATT-019): the KeyRevocations of its
    ``key`` by another key (its own spares nobody, ATT-013 (b)), then the Stamps naming only those -- read
    unsigned here, checked as any statement when taken. A Stamp naming one of those and other statements
    too (an escrow batches, WIT-001 (a)) is read for those revocations alone
    (:meth:`Peer.take_revocation_stamps`): its other entries -- a Stamp of a negotiation statement, or of a
    revocation of another key -- would move what the swap's sender chose, when it chose. Nothing else.

    Returns:
        What is taken as statements; the Stamps read for revocations alone, each with their digests.
    """
    revocations: list[bytes] = []
    digests: set[bytes] = set()
    stamps: list[tuple[bytes, statement_pb2.Statement]] = []
    for env in carried:
        try:
            parsed = parse_envelope(env)
            stmt = statement_pb2.Statement.FromString(parsed.envelope.payload)
        except (CoopError, DecodeError, ValueError, RuntimeWarning):
            continue
        body = stmt.WhichOneof("body")
        if body == "key_revocation" and stmt.key_revocation.key == key and stmt.header.issuer != key:
            revocations.append(env)
            digests.add(parsed.digest)
        elif body == "stamp":
            stamps.append((env, stmt))
    named, batched = [], []
    for env, stmt in stamps:
        stamped = set(stmt.stamp.statements)
        if stamped and stamped <= digests:
            named.append(env)
        elif stamped & digests:
            batched.append((env, frozenset(stamped & digests)))
    return [*revocations, *named], batched


def _witnesses_of(peer: Peer, proof: ForkProof) -> tuple[list[bytes], list[bytes]]:
    """What we take of a proof's ``stamps`` (ATT-025, ATT-019), its first :data:`MAX_WITNESS_ENVELOPES`
    read: each Stamp naming one of the proof's two statements signed by that statement's witnessing
    escrow as we read it (or a successor we honour, ESC-022) and naming no statement we hold of a
    negotiation of ours, each after the Mandate it cites. An Accept's or a Reject's witnessing escrow is the
    one the Offer or Counter it answers names, a Delivery's the one its contract's Accept accepts names
    (:meth:`Verifier.naming_chain`): what we do not hold of those links we read from the carried statements
    whose digests the links name, and keep them (:meth:`Peer.keep_shown`) when a Stamp so read is taken --
    as no statement: it would move a negotiation at a time the sender chose. Nothing else: a Stamp by
    another key witnesses nothing there, and one of our own trade's statements would move it when the
    sender chose. Stamps are read unsigned here, checked as any statement when taken -- a Stamp of a revoked
    escrow key as any.

    Returns:
        The Mandates, then the Stamps.
    """
    carried = proof.stamps[:MAX_WITNESS_ENVELOPES]
    if not carried:
        return [], []
    v = peer.verifier
    parsed: list[tuple[bytes, bytes, statement_pb2.Statement]] = []
    for env in carried:
        try:
            p = parse_envelope(env)
            parsed.append((env, p.digest, statement_pb2.Statement.FromString(p.envelope.payload)))
        except (CoopError, DecodeError, ValueError, RuntimeWarning):
            continue
    signers: dict[bytes, set[str]] = {}
    # a proof's statement -> what links it to its escrow, read from what it carries (each verified once)
    shown: dict[bytes, list[VerifiedStatement]] = {}
    linked: dict[bytes, VerifiedStatement] | None = None
    for vs in proof_statements(proof):
        escrow = v.witnessing_escrow(vs)
        if not escrow:
            linked = _linked(parsed) if linked is None else linked
            chain = v.naming_chain(vs, linked)
            if chain:
                escrow = proposal_of(chain[-1]).terms.escrow
                shown[vs.digest] = chain
        if escrow:
            handed = v.successors(escrow)
            signers[vs.digest] = {escrow, *(handed[0] if handed else ())}
    stamps = [
        (env, stmt)
        for env, _, stmt in parsed
        if stmt.WhichOneof("body") == "stamp"
        and any(stmt.header.issuer in signers.get(d, ()) for d in stmt.stamp.statements)
        and not any(_ours(peer, d) for d in stmt.stamp.statements)
    ]
    cited = {stmt.header.mandate for _, stmt in stamps}
    mandates = [env for env, d, stmt in parsed if stmt.WhichOneof("body") == "mandate" and d in cited]
    for digest, chain in shown.items():  # kept only when it named the signer of a Stamp we take
        if any(digest in s.stamp.statements and s.header.issuer in signers[digest] for _, s in stamps):
            peer.keep_shown(chain)
    return mandates, [env for env, _ in stamps]


def _ours(peer: Peer, digest: bytes) -> bool:
    """Whether ``digest`` is a statement we hold of a negotiation we are party to (ATT-019)."""
    held = dict.get(peer.verifier.statements, digest)
    neg = peer.verifier.negotiations.by_id.get(held.negotiation_id) if held and held.negotiation_id else None
    return neg is not None and peer.did in neg.parties


def _linked(parsed: Sequence[tuple[bytes, bytes, statement_pb2.Statement]]) -> dict[bytes, VerifiedStatement]:
    """The carried envelopes that may link a statement to its witnessing escrow (ATT-025: Offers, Counters,
    Accepts, Deliveries), verified, by digest; one that does not verify is left out."""
    out = {}
    for env, digest, stmt in parsed:
        if stmt.WhichOneof("body") in LINK_BODIES:
            with contextlib.suppress(CoopError):
                out[digest] = verify_statement(env)
    return out


def answer(
    peer: Peer, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
) -> tuple[list[bytes], list[ForkProof]]:
    """The serving side of a swap: take the caller's gossip, then answer with ours."""
    take(peer, envelopes, proofs)
    return outgoing(peer, exclude=_caller(envelopes), response=True)


def _caller(envelopes: Sequence[bytes]) -> str:
    """Who a swap's caller says it is: the issuer of the first Checkpoint it sent (its own head, which
    :func:`outgoing` puts first, after its Mandate), or "". Unchecked, and used only to rank what goes
    back -- the proof against that key first, its own Checkpoint left out -- so a false claim gains
    nothing: fork proofs are public evidence."""
    for env in envelopes[:2]:
        said = claimed(env)
        if said is not None and said.body == "checkpoint":
            return said.issuer
    return ""


def swap_due(peer: Peer, counterparty_did: str) -> bool:
    """Whether a trade opened with ``counterparty_did`` now should swap first (ATT-011): not if a
    swap with it started less than :data:`SWAP_EVERY_MS` ago. Marks the swap as started."""
    if not counterparty_did:
        return True
    now = peer.clock()
    with peer.lock:
        times: OrderedDict[str, int] | None = getattr(peer, "_swapped_at", None)
        if times is None:
            times = OrderedDict()
            peer._swapped_at = times  # type: ignore[attr-defined]
        last = times.get(counterparty_did)
        if last is not None and now - last < SWAP_EVERY_MS:
            return False
        times[counterparty_did] = now
        times.move_to_end(counterparty_did)
        while len(times) > MAX_SWAP_TIMES:
            times.popitem(last=False)
        return True


def swap(peer: Peer, counterparty: Gossiper, counterparty_did: str = "") -> list[str]:
    """The calling side of a swap (a peer opening a trade): send ours, take theirs.

    Returns:
        The keys newly convicted of a fork by what came back.
    """
    envelopes, proofs = outgoing(peer, exclude=counterparty_did)
    theirs, their_proofs = counterparty.gossip(envelopes, proofs)
    return take(peer, theirs, their_proofs, started_with=counterparty_did)
