"""The evidence a peer keeps for reputation and gossip, beside its verification state (SPEC 10.4, 10.5).

:class:`EvidenceVerifier` is the protocol's :class:`~a2a_coop.protocol.verifier.Verifier`
plus three indexes it keeps as statements are accepted:

* the attestations held, in the order they arrived (so GetAttestations pages stay
  stable as more arrive: ATT-014), and by subject;
* the highest-seq Checkpoint held of every other key, in the order they were received,
  which is what a peer passes on when it gossips (ATT-011), the last received first;
* the fork proofs it has seen: a refused statement whose chain error carries two
  conflicting envelopes (ATT-012). The refusal itself changes nothing (ERR-003): the
  proof is kept here, outside the verification state, as SPEC 6.8 asks.

Fork proofs cost two signatures against a fresh key of one's own, so those against keys outside our
dealings are kept only up to :data:`MAX_FOREIGN_FORK_PROOFS` (ATT-018), whichever way they come (a
proof gossiped, or two conflicting statements of one key). "Our dealings" is what :attr:`deals_with`
says (a Peer: counterparties of negotiations not ended, and the parties, escrows and principals of
its contracts) -- never merely a key we hold a statement of: a Checkpoint of a fresh key, gossiped
first, would buy that for one more signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier

# Fork proofs kept at most against keys outside our dealings (ATT-018): anyone makes one against a
# fresh key of its own for two signatures, so without a bound a flood of them would fill memory.
MAX_FOREIGN_FORK_PROOFS: Final = 10_000


class EvidenceVerifier(Verifier):
    """A Verifier that also indexes attestations, Checkpoints and fork proofs.

    Args:
        me: as for Verifier.
    """

    def __init__(self, *, me: str | None = None) -> None:
        super().__init__(me=me)
        self.attestations: list[bytes] = []  # digests, in the order accepted
        self.attestations_about: dict[str, list[bytes]] = {}  # subject key -> digests, in order
        # issuer -> its highest-seq Checkpoint held, in the order we received them (the last received last)
        self.checkpoints: dict[str, bytes] = {}
        self.forks: dict[str, ForkProof] = {}  # issuer -> the first fork proof against it
        self.max_foreign_forks = MAX_FOREIGN_FORK_PROOFS
        self.foreign_forks = 0  # proofs kept against keys outside our dealings when they came
        self.on_fork: Callable[[str, ForkProof], None] | None = None  # told of each new one (to persist it)
        # Whether a key is in our dealings (ATT-018; a Peer says which); none but ``me`` by default.
        self.deals_with: Callable[[str], bool] = _nobody

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
            raise
        self._index_evidence(vs)
        return vs

    def record(self, vs: VerifiedStatement) -> None:
        super().record(vs)
        self._index_evidence(vs)

    def take_fork_proof(self, proof: ForkProof, *, kept_before: bool = False) -> str | None:
        """Keep ``proof`` if it verifies (ATT-012) and, against a key outside our dealings, while fewer
        than ``max_foreign_forks`` such are kept (ATT-018); returns the issuer it convicts, or None.

        ``kept_before``: a proof we kept before a restart (ATT-013: kept across restarts), taken
        whatever the bound, and counted toward it."""
        try:
            issuer = verify_fork_proof(proof)
        except (CoopError, ValueError):
            return None
        return issuer if self._keep(issuer, proof, bounded=not kept_before) else None

    def _keep(self, issuer: str, proof: ForkProof, *, bounded: bool = True) -> bool:
        """Keep ``proof`` against ``issuer`` unless the bound of ATT-018 refuses it; whether it is held."""
        if issuer in self.forks:
            return True
        if issuer != self.me and not self.deals_with(issuer):
            if bounded and self.foreign_forks >= self.max_foreign_forks:
                return False  # ATT-018: ours and those against keys in our dealings are always kept
            self.foreign_forks += 1
        self.forks[issuer] = proof
        if self.on_fork is not None:
            self.on_fork(issuer, proof)
        return True

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


def _nobody(key: str) -> bool:
    """No key is in the dealings of a verifier nobody told of any (an auditor's, an observer's)."""
    return False
