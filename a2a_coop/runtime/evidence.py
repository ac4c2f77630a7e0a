"""The evidence a peer keeps for reputation and gossip, beside its verification state (SPEC 10.4, 10.5).

:class:`EvidenceVerifier` is the protocol's :class:`~a2a_coop.protocol.verifier.Verifier`
plus the indexes it keeps as statements are accepted:

* the attestations held, in the order they arrived (so GetAttestations pages stay
  stable as more arrive: ATT-014), and by subject;
* the highest-seq Checkpoint held of every other key, in the order they were received,
  which is what a peer passes on when it gossips (ATT-011), the last received first;
* the fork proofs it has seen: a refused statement whose chain error carries two
  conflicting envelopes (ATT-012). The refusal itself changes nothing (ERR-003): the
  proof is kept here, outside the verification state, as SPEC 6.8 asks; and two
  answers of one key to one statement, the second taken superseded or refused
  (an answer proof, ATT-022: the reveal-later acceptor of NEG-021 convicts itself);
* the bond value escrows locked for each key in contracts of ours (:attr:`bonded_with`).

Fork proofs cost two signatures against a fresh key of one's own, so those against keys outside our
dealings are kept only up to :data:`MAX_FOREIGN_FORK_PROOFS` (ATT-018), whichever way they come (a
proof gossiped, or two conflicting statements of one key). "Our dealings" is what :attr:`deals_with`
says (a Peer: counterparties of negotiations not ended, and the parties, escrows and principals of
its contracts) -- never merely a key we hold a statement of: a Checkpoint of a fresh key, gossiped
first, would buy that for one more signature. Every proof kept counts against the bound while there
is room; one against a key in our dealings that comes at the bound is **spared** it -- kept beyond
it -- only while the key stays there: a key that opened a negotiation, forked and ended it without a
contract leaves, and its proof is dropped then (:meth:`EvidenceVerifier.count_against_bound`) --
else fresh keys cycling negotiations would keep proofs past any bound. So the proofs dropped are
exactly some the bound would have refused when they came had their key not dealt with us, and a
proof that counts never stops counting: nothing any key does can make a proof that counts drop.

Gossip ranks the proofs against keys in our dealings by :attr:`bonded_with` (ATT-011): escrows we
trust sign those BondLocks over deposited funds, so a key cannot raise its value without locking
funds of its own -- unlike a contract without bonds, which costs a Sybil one Offer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from a2a_coop.protocol.archive import EVIDENCE_BOOK, ExposureArchive
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import (
    ANSWERS,
    ForkProof,
    answered,
    fork_proof_from,
    pair_rank,
    proof_rank,
    verify_fork_proof,
)
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS
from a2a_coop.protocol.negotiation import Negotiation
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier

# Fork proofs kept at most against keys outside our dealings (ATT-018): anyone makes one against a
# fresh key of its own for two signatures, so without a bound a flood of them would fill memory.
MAX_FOREIGN_FORK_PROOFS: Final = 10_000
# ... and their bytes at most (ATT-018 (e)): the count alone let 10,000 proofs of up to 2 x 65,536 bytes
# in. Each proof that counts is charged MAX_PROOF_BYTES, whatever it weighs, so that a first-ranked proof
# against its key always replaces it within the bytes charged (ATT-013 (c)): 152 proofs at most.
MAX_FOREIGN_FORK_BYTES: Final = 20_000_000
# The most one proof weighs: two statements of ENV-008's largest.
MAX_PROOF_BYTES: Final = 2 * MAX_ENVELOPE_BYTES

# The archive's book of the refused answers a negotiation's index holds (refusals join no negotiation,
# ERR-003, so neither reading it back nor a replay of the archive brings them): one row per key and statement
# answered, keyed by the negotiation id, the statement's digest and the key, holding at most three envelopes
# -- an evidence book, which a restart keeps (EVIDENCE_BOOK).
_REFUSED_BOOK: Final = EVIDENCE_BOOK + b"refused-answers"

# A row of an archive's book: (book, key, latest, record), as ExposureArchive.keep_forgotten takes it.
Row = tuple[bytes, bytes, bytes, bytes]


class Staged(Protocol):
    """A write staged for an archive's next group commit (a2a_coop.runtime.journal.Ticket): ``done`` once
    it committed or failed, ``error`` set in the second case."""

    done: bool
    error: BaseException | None


class EvidenceVerifier(Verifier):
    """A Verifier that also indexes attestations, Checkpoints and fork proofs.

    Args:
        me, complete_chains, skew_ms, evidence_view: as for Verifier.
    """

    def __init__(
        self,
        *,
        me: str | None = None,
        complete_chains: bool = False,
        skew_ms: int = DEFAULT_SKEW_MS,
        evidence_view: bool | None = None,
    ) -> None:
        super().__init__(me=me, complete_chains=complete_chains, skew_ms=skew_ms, evidence_view=evidence_view)
        self.attestations: list[bytes] = []  # digests, in the order accepted
        self.attestations_about: dict[str, list[bytes]] = {}  # subject key -> digests, in order
        # issuer -> its highest-seq Checkpoint held, in the order we received them (the last received last)
        self.checkpoints: dict[str, bytes] = {}
        self.forks: dict[str, ForkProof] = {}  # issuer -> the first-ranked proof against it (ATT-013 (c))
        self.max_foreign_forks = MAX_FOREIGN_FORK_PROOFS
        self.foreign_forks = 0  # proofs kept that count against the bound (ATT-018)
        self.max_foreign_fork_bytes = MAX_FOREIGN_FORK_BYTES  # each charged MAX_PROOF_BYTES (ATT-018 (e))
        # Issuers whose proofs are kept beyond the bound: our own key, and keys in our dealings whose
        # proof came at the bound, for as long as they stay there (then count_against_bound).
        self.spared: set[str] = set()
        self.forks_changed = 0  # proofs kept or dropped so far: a view computed from them is stale
        # Told of each proof kept (to persist it): the key, the proof, whether it replaces one held against
        # that key (ATT-013 (c)'s rank) -- the key convicted already.
        self.on_fork: Callable[[str, ForkProof, bool], None] | None = None
        # key -> the bond value escrows locked for it in contracts with us (its own bonds; for an escrow,
        # every bond it locked in ours; a party's principals get their agent's): what gossip ranks by.
        self.bonded_with: dict[str, int] = {}
        # Whether a key is in our dealings (ATT-018; a Peer says which); none but ``me`` by default.
        self.deals_with: Callable[[str], bool] = _nobody
        # negotiation id -> (key, statement answered) -> the answers seen (ATT-013 (c)), for a negotiation
        # that may hold an answer proof (one it took superseded, or an answer refused), while it is in memory.
        self._answers: dict[bytes, dict[tuple[str, bytes], _Answers]] = {}
        # negotiation id -> (key, statement answered) -> the refused answers of its index set aside as they
        # came, where the archive could not take them (:meth:`_set_aside`); else rows of its book.
        self._refused_aside: dict[bytes, dict[tuple[str, bytes], list[bytes]]] = {}
        # The negotiations in memory whose set-aside refused answers a taken answer looked for already, none
        # found: one read per negotiation brought back (a forgetting, a start), not one per answer.
        self._aside_read: set[bytes] = set()
        # Stages rows of the archive's book, refused answers of the key named, for its next group commit,
        # or returns None to have them written at once (a Peer sets it while it handles a request:
        # :meth:`_set_aside` says why that is safe).
        self.stage_rows: Callable[[Sequence[Row], str], Staged | None] | None = None
        # The rows staged and not known durable yet, with the in-memory copy that stands for each until
        # then: (negotiation id, (key, statement answered)) -> (the write, the envelopes set aside). One
        # per row: a later write of it replaces the earlier (the journal writes the row once, proof32).
        self._unsynced: dict[tuple[bytes, tuple[str, bytes]], tuple[Staged, list[bytes]]] = {}

    def __getstate__(self) -> dict[str, object]:
        """As a snapshot pickles it (a2a_coop.runtime.snapshot): without the index of answers, which the
        next answer of each negotiation reads again from it and the archive's evidence book -- kept, it
        lacked the refused answers set aside after the snapshot, and a start from it paired none of them."""
        state = self.__dict__.copy()
        state["_answers"] = {}
        state["_aside_read"] = set()  # no index: the rows are looked for again
        # Rows still on their way to the disk are in the book once the snapshot is: it is written after
        # them, and the journal commits writes in the order they were staged. No copy of them in memory.
        pending = {row: aside for row, (_, aside) in self._unsynced.items()}
        state["_refused_aside"] = {
            nid: kept
            for nid, rows in self._refused_aside.items()
            if (kept := {k: a for k, a in rows.items() if pending.get((nid, k)) is not a})
        }
        state["_unsynced"] = {}
        return state

    def accept_statement(
        self,
        vs: VerifiedStatement,
        now_ms: int | None = None,
        *,
        ours: bool = False,
        received_ms: int | None = None,
    ) -> VerifiedStatement:
        try:
            super().accept_statement(vs, now_ms, ours=ours, received_ms=received_ms)
        except CoopError as err:
            proof = fork_proof_from(err)
            if proof is not None:
                self._keep(vs.issuer, proof)  # bounded like a gossiped proof: two statements cost as much
                if err.requirement in ("CHN-004", "CHN-003"):
                    self._keep_time_inversion(vs)
            if vs.body in ANSWERS:
                # A second answer refused (one naming an escrow) -- or an answer refused for a fork of its
                # chain, weighed as an answer too: else a thief's statement at its seq, heard first, left
                # the fork kept where the answer pair, dated earlier, convicts (ATT-013 (c)).
                self._keep_answer_proof(vs, refused=True)
            raise
        self._index_evidence(vs)
        if vs.body == "bond_lock":
            self._credit_bond(vs)
        elif vs.body in ANSWERS:
            self._keep_answer_proof(vs)
        return vs

    def _keep_time_inversion(self, vs: VerifiedStatement) -> None:
        """``vs``, refused for its seq or link (CHN-004, CHN-003), may also run time back against a held
        neighbour (CHN-005): that pair too, ranked against the refusal's (ATT-013 (c)). Else the proof kept
        was the order's choice: heard after the statement at its seq, the thief's answer dated before the
        key's binding was an equivocation with a witnessed Counter that P's revocation dated at the binding
        did not spare; heard before it, a time inversion with the binding that it did
        (tests/test_attack28_prebinding_frame.py)."""
        view = self.chains.get(vs.issuer)
        inverted = view.time_inversion(vs) if view is not None else None
        proof = fork_proof_from(inverted) if inverted is not None else None
        if proof is not None:
            self._keep(vs.issuer, proof)

    def _keep_answer_proof(self, vs: VerifiedStatement, *, refused: bool = False) -> None:
        """ATT-022, ATT-013 (c): keep the best answer proof against ``vs``'s key among its answers to the
        statement ``vs`` answers -- bounded as a fork proof (ATT-018), ranked against the one held.

        Read from the negotiation: taken, a second answer is superseded there or cuts the first back (NEG-021,
        NEG-017, NEG-018), so a negotiation superseding nothing holds no pair but with an answer it refused,
        which, its index dropped (a forgetting, a restart), only the archive's book holds -- looked for at
        its first taken answer since, one read per negotiation; refused (an answer to an offer naming an
        escrow that took another, ESC-014; one dated back, TIM-006), the first is in its history. The
        first time a negotiation may hold a pair its answers are read once into :class:`_Answers` (one per
        key and statement answered); from then on each answer, taken or refused, is weighed against that
        entry alone -- O(1), so a convicted key's further answers are ranked too, and red team 24's cut-back
        stays linear."""
        nid = vs.negotiation_id
        index = self._answers.get(nid)
        kept = index is not None
        if index is None:
            neg = self.negotiations.by_id.get(nid)
            kept = neg is not None  # a negotiation read back from the archive is weighed, not indexed
            if neg is None and refused and self._answers_an_offer_to_it(vs):
                # Refused before its negotiation was read back (EXPIRED, step 25, comes before step 28), which
                # we forgot (bounded memory): read back now, not kept, as a view that never forgot holds it --
                # else a key revealing its second answer late, after we forgot, went unconvicted here.
                neg = self.negotiations.find(nid)
            if neg is None:
                return
            aside = None
            if not (refused or neg.superseded):
                # A taken answer of a negotiation superseding nothing pairs only with an answer refused before
                # the index was dropped (a forgetting, a restart): looked for once, else a key's refused
                # answer and its taken one went unpaired here where a view that kept the index paired them.
                if not kept or nid in self._aside_read:
                    return
                self._aside_read.add(nid)
                aside = self._refused_of(nid)
                if not aside:
                    return
            index = self._index_answers(neg, aside)
            if kept:
                self._answers[nid] = index
        key = (vs.issuer, answered(vs))
        entry = index.get(key)
        if entry is None:
            # A refused answer counts as one seen only from the statement's audience: only it can sign
            # another answer this negotiation takes, so a stranger's refusals cost no memory. A taken one
            # always counts (the negotiation holds it): dropped, one refused stray answer sent before the
            # key's first built the index without it, and its pair went unseen (red team 29).
            if refused and not self._answers_an_offer_to_it(vs):
                return
            index[key] = entry = _Answers(vs, refused=refused)
        else:
            best = entry.best
            if not entry.add(vs, refused=refused):
                return
            if entry.best is not best:
                self._keep(vs.issuer, entry.proof())
        if refused and vs.digest in entry.refused:
            # Set aside as it comes, not when the negotiation is forgotten: a restart rebuilds the index from
            # the archive's statements, which hold no refusal -- nor does an index read back and dropped.
            self._set_aside(nid, key, entry)

    def _index_answers(
        self, neg: Negotiation, aside: list[VerifiedStatement] | None = None
    ) -> dict[tuple[str, bytes], _Answers]:
        """Every answer ``neg`` holds (taken superseded, cut back, or on its line), read once, by key and
        statement answered, with those it refused set aside (``aside``, if read already) -- a pair among them
        kept as :meth:`_keep_answer_proof` keeps one."""
        held = self.statements
        index: dict[tuple[str, bytes], _Answers] = {}
        for d in (*neg.superseded, *(step[3] for step in neg.history)):
            vs = dict.get(held, d)
            if vs is None and held.archive is not None:
                # A negotiation read back from the archive: a Reject taken, the negotiation finished and
                # forgotten, then the key's Accept of the same offer -- the Reject only the archive holds.
                vs = held.get(d)
            if vs is None or vs.body not in ANSWERS:
                continue
            key = (vs.issuer, answered(vs))
            entry = index.get(key)
            if entry is None:
                index[key] = _Answers(vs)
            else:
                entry.add(vs)
        for vs in self._refused_of(neg.id) if aside is None else aside:  # refused before it was forgotten
            key = (vs.issuer, answered(vs))
            entry = index.get(key)
            if entry is None:
                index[key] = _Answers(vs, refused=True)
            else:
                entry.add(vs, refused=True)
        for (issuer, _), entry in index.items():
            if entry.best is not None:
                self._keep(issuer, entry.proof())
        return index

    def forget_negotiation(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        self._answers.pop(negotiation_id, None)  # its refused answers are set aside: read again with it
        self._aside_read.discard(negotiation_id)
        return super().forget_negotiation(negotiation_id)

    def _set_aside(self, nid: bytes, key: tuple[str, bytes], entry: _Answers) -> None:
        """ATT-013 (c) across bounded memory and restarts: the refused answers among ``entry``'s earliest and
        best pair, of negotiation ``nid``, go to the archive's book (:data:`_REFUSED_BOOK`) when one comes,
        whence :meth:`_index_answers` reads them back with the negotiation -- else a key's two refused
        answers to one statement, a forgetting or a restart between them, were never paired. At most three
        answers per key and statement answered (an Offer or Counter held, addressed to that key), each row
        replacing the last. Kept in memory when the archive cannot take them (one that only reads); with
        no archive nothing is forgotten, and the index holds them.

        Where :attr:`stage_rows` stages the row (a Peer handling a request, under its lock), it is not
        written here but joins the journal's next group commit, which the Peer waits for once its lock is
        released and before it answers (the refusal included): a key flooding refused answers made each one
        an fsync under the lock, and every honest trade waited behind them (proof31). Its copy in memory
        stands for it meanwhile -- :meth:`_refused_of` reads it -- until :meth:`settle` drops it, the row
        durable. A row that only re-ranks the proof against a key convicted durably the Peer does not wait
        for (ATT-013 (e), proof32): it lands with a later commit, its copy standing for it until then.
        Nothing relies on the row before it is durable: whatever is durable or sent that pairs with it (a
        taken answer, a fork proof, our answer to the key) was staged after it, and the journal commits
        writes in the order they were staged, so it reaches the disk with or after the row; a crash before
        then leaves us a view that never heard the refused answer, to which nothing was answered."""
        archive = self.archive
        if archive is None:
            return
        aside = entry.set_aside()
        if isinstance(archive, ExposureArchive):
            issuer, statement = key
            rows = [(_REFUSED_BOOK, nid + statement + issuer.encode(), nid, _packed(aside))]
            try:
                staged = self.stage_rows(rows, issuer) if self.stage_rows is not None else None
                if staged is None:
                    archive.keep_forgotten(rows)
            except Exception:  # a local fault of the archive (one that only reads): kept in memory
                pass
            else:
                if staged is None:
                    return
                self.settle()
                self._unsynced[nid, key] = (staged, aside)
        self._refused_aside.setdefault(nid, {})[key] = aside

    def settle(self) -> None:
        """Drop the copies in memory of the rows :attr:`stage_rows` staged that are durable now (those
        whose write failed stay, as where the archive could not take them: the Peer rebuilds its memory
        then), unless a later row of their key replaced them."""
        unsynced = {}
        for (nid, key), (staged, aside) in self._unsynced.items():
            if not staged.done:
                unsynced[nid, key] = (staged, aside)
                continue
            rows = self._refused_aside.get(nid)
            if staged.error is None and rows is not None and rows.get(key) is aside:
                del rows[key]
                if not rows:
                    del self._refused_aside[nid]
        self._unsynced = unsynced

    def _refused_of(self, nid: bytes) -> list[VerifiedStatement]:
        """The refused answers :meth:`_set_aside` set aside for negotiation ``nid`` (none read from the
        archive unless it was given one); a row staged and durable meanwhile, read from both, once."""
        self.settle()
        envelopes = [e for aside in self._refused_aside.get(nid, {}).values() for e in aside]
        archive = self.archive
        if isinstance(archive, ExposureArchive):
            for _, record in archive.forgotten_since(_REFUSED_BOOK, nid, until=nid):  # its rows alone
                envelopes += _unpacked(record)
        out = []
        for envelope in dict.fromkeys(envelopes):
            try:  # read back as a statement from the archive is: verified again
                out.append(verify_statement(envelope))
            except (CoopError, ValueError):
                continue  # a damaged row proves nothing
        return out

    def _answers_an_offer_to_it(self, vs: VerifiedStatement) -> bool:
        """Whether the statement ``vs`` answers is held (in memory or the archive: one lookup) and is an
        Offer or Counter addressed to ``vs``'s issuer: only then may its negotiation hold another answer
        of that key, so only then is a forgotten negotiation read back for a refused answer -- a stranger's
        refused answers cost no replay of ours."""
        answered = self.statements.get(getattr(vs.statement, vs.body).offer)
        if answered is None or answered.body not in ("offer", "counter"):
            return False
        return answered.audience == vs.issuer

    def record(self, vs: VerifiedStatement) -> None:
        super().record(vs)
        self._index_evidence(vs)

    def _note_fork(self, key: str, proof: tuple[bytes, bytes]) -> None:
        """KEY-013: a fork proof found between two statements taken (a key's own revocation forking its
        chain), kept as one a refusal carries is (ATT-011)."""
        super()._note_fork(key, proof)
        self.take_fork_proof(ForkProof(*proof))

    def take_fork_proof(self, proof: ForkProof) -> str | None:
        """Keep ``proof`` if it verifies (ATT-012) and, against a key outside our dealings, while fewer
        than ``max_foreign_forks`` proofs count against the bound (ATT-018); returns the issuer it
        convicts, or None."""
        issuer = _convicted(proof)
        return issuer if issuer is not None and self._keep(issuer, proof) else None

    def restore_fork_proof(self, proof: ForkProof, *, spared: bool) -> str | None:
        """Keep ``proof``, which we kept before a restart (ATT-013: kept across restarts), whatever the
        bound; ``spared`` as it was then (its key in our dealings): else it counts toward the bound.
        Returns the issuer it convicts, or None if it does not verify."""
        issuer = _convicted(proof)
        if issuer is None or self._kept_instead(issuer, proof):
            return issuer
        if spared or issuer == self.me:
            self.spared.add(issuer)
        else:
            self._count()
        self._held(issuer, proof)
        return issuer

    def count_against_bound(self, key: str) -> bool:
        """The proof against ``key``, spared the bound while ``key`` was in our dealings, counts against
        it now that ``key`` left them (its negotiations with us ended without a contract): at the bound
        -- still, as when it came -- it is dropped, as it would have been refused had ``key`` not dealt
        with us (ATT-018). Never one that counted already: no key's doing can drop a proof that counts.
        Returns whether a proof against ``key`` is still held."""
        if key not in self.spared or key == self.me or self.deals_with(key):
            return key in self.forks
        self.spared.discard(key)
        if not self._room():
            del self.forks[key]
            self.forks_changed += 1
            return False
        self._count()
        return True

    def _room(self) -> bool:
        """Whether one more proof may count against ATT-018's bound: fewer proofs count than its count, and
        its bytes hold one more charged the most a proof weighs (ATT-018 (e)) -- what any proof against its
        key that ranks first will weigh, so a replacement always fits."""
        return (
            self.foreign_forks < self.max_foreign_forks
            and (self.foreign_forks + 1) * MAX_PROOF_BYTES <= self.max_foreign_fork_bytes
        )

    def _count(self) -> None:
        self.foreign_forks += 1

    def _keep(self, issuer: str, proof: ForkProof) -> bool:
        """Keep ``proof`` against ``issuer`` unless the bound of ATT-018 refuses it; whether it is held."""
        if self._kept_instead(issuer, proof):
            return True
        if issuer != self.me and self._room():
            self._count()  # counts for good, even against a key in our dealings: never dropped
        elif issuer == self.me or self.deals_with(issuer):
            self.spared.add(issuer)  # ATT-018: ours and those against keys in our dealings are kept
        else:
            return False
        self._held(issuer, proof)
        return True

    def _kept_instead(self, issuer: str, proof: ForkProof) -> bool:
        """Whether a proof against ``issuer`` is held already -- one per key (ATT-018) -- replaced by
        ``proof`` when ``proof`` ranks first (:func:`~a2a_coop.protocol.forks.proof_rank`): which one a view
        keeps is then no choice of the order it heard them in (ATT-013 (b) reads that one proof)."""
        held = self.forks.get(issuer)
        if held is None:
            return False
        if proof_rank(proof) < proof_rank(held):  # within the bytes charged, whatever it weighs (ATT-018 (e))
            self._held(issuer, proof)
        return True

    def _held(self, issuer: str, proof: ForkProof) -> None:
        replaces = issuer in self.forks
        self.forks[issuer] = proof
        self.forks_changed += 1
        if self.on_fork is not None:
            self.on_fork(issuer, proof, replaces)

    def _credit_bond(self, lock: VerifiedStatement) -> None:
        """Credit a BondLock in a contract of ours to what gossip ranks by: the locking party and its
        principals (not us), and the escrow that holds it. Each BondLock is accepted once (NEG-012)."""
        neg = self.negotiations.by_id.get(lock.negotiation_id)
        contract = neg.contract if neg is not None else None
        if contract is None or self.me not in contract.parties:
            return
        amount, party = lock.statement.bond_lock.amount, lock.statement.bond_lock.party
        credited = {lock.issuer}
        if party != self.me:
            credited |= {party, *self.bound.get(party, ())}
        for key in credited:
            self.bonded_with[key] = self.bonded_with.get(key, 0) + amount

    def _index_evidence(self, vs: VerifiedStatement) -> None:
        if vs.body == "attestation":
            self.attestations.append(vs.digest)
            self.attestations_about.setdefault(vs.statement.attestation.subject, []).append(vs.digest)
        elif vs.body == "checkpoint":
            held = self.checkpoints.get(vs.issuer)
            if held is None or self.statements[held].header.seq < vs.header.seq:
                self.checkpoints.pop(vs.issuer, None)  # to the end: received last
                self.checkpoints[vs.issuer] = vs.digest
                # The one it replaces leaves memory once in the archive (a new head each trade).
                if held is not None and self.archive is not None and self.archive.by_digest(held):
                    self.forget_statement(held)


class _Answers:
    """The answers of one key to one statement seen, as much as ATT-013 (c)'s rank needs: the earliest (by
    issued_at_ms, then digest) and the best pair (:func:`~a2a_coop.protocol.forks.pair_rank`). A new answer
    N is paired with those alone, yet the best pair of all seen is kept in any order: were the best pair
    dated later than N, at most one answer seen is dated no later than N -- the earliest, if any -- and
    where none is, the earliest is N's best partner; dated as N, every answer seen dated up to N but one is
    at that date, so the best pair holds the lowest digest among them, N's best partner."""

    __slots__ = ("best", "earliest", "refused")

    def __init__(self, first: VerifiedStatement, *, refused: bool = False) -> None:
        self.earliest = first
        self.best: tuple[VerifiedStatement, VerifiedStatement] | None = None
        # the digests of those of them refused (no negotiation holds them): what a forgetting sets aside
        self.refused: frozenset[bytes] = frozenset({first.digest}) if refused else frozenset()

    def add(self, vs: VerifiedStatement, *, refused: bool = False) -> bool:
        """Weigh ``vs`` (``refused``: no negotiation holds it); whether it is new (not the earliest, nor in
        the best pair)."""
        best, earliest = self.best, self.earliest
        if vs.digest == earliest.digest or (
            best is not None and vs.digest in (best[0].digest, best[1].digest)
        ):
            return False
        pairs = [(vs, earliest)]
        if best is not None:
            pairs += [best, (vs, min(best, key=lambda a: a.digest))]
        self.best = min(
            pairs, key=lambda p: pair_rank(p[0].issued_at_ms, p[0].digest, p[1].issued_at_ms, p[1].digest)
        )
        if (vs.issued_at_ms, vs.digest) < (earliest.issued_at_ms, earliest.digest):
            self.earliest = vs
        seen = self.refused | {vs.digest} if refused else self.refused
        if seen:
            self.refused = seen & {a.digest for a in self.held()}  # those that dropped out are not kept
        return True

    def held(self) -> list[VerifiedStatement]:
        """The earliest and the best pair, each once."""
        held = {self.earliest.digest: self.earliest}
        for a in self.best or ():
            held.setdefault(a.digest, a)
        return list(held.values())

    def set_aside(self) -> list[bytes]:
        """The envelopes of those held that were refused."""
        return [a.envelope for a in self.held() if a.digest in self.refused]

    def proof(self) -> ForkProof:
        """The best pair as a proof, its lower seq first."""
        assert self.best is not None
        lo, hi = sorted(self.best, key=lambda a: (a.seq, a.digest))
        return ForkProof(lo.envelope, hi.envelope)


def _packed(envelopes: list[bytes]) -> bytes:
    """Envelopes as one record, each after its length (4 bytes, big-endian)."""
    return b"".join(struct.pack(">I", len(e)) + e for e in envelopes)


def _unpacked(record: bytes) -> list[bytes]:
    """The envelopes :func:`_packed` joined."""
    out, at = [], 0
    while at + 4 <= len(record):
        (size,) = struct.unpack_from(">I", record, at)
        out.append(record[at + 4 : at + 4 + size])
        at += 4 + size
    return out


def _convicted(proof: ForkProof) -> str | None:
    """The key ``proof`` convicts (ATT-012), or None if it proves nothing."""
    try:
        return verify_fork_proof(proof)
    except (CoopError, ValueError):
        return None


def _nobody(key: str) -> bool:
    """No key is in the dealings of a verifier nobody told of any (an auditor's, an observer's)."""
    return False
