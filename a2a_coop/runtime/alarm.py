"""The alarm a peer raises when a fork proof convicts its own key (SPEC.md 10.5, ATT-017).

Theory of operation. A fork proof (:mod:`a2a_coop.protocol.forks`) is two
statements that verify under one key and that no single chain holds. Only the
key's holder can make one, so a verifiable proof against *our* key means one of
two things, and the peer cannot tell which: our signer broke (a journal restored
from a backup, two processes serving one key: each signs at seqs the other used),
or someone else holds the key. Either way every peer the proof reaches trusts the
key no more (ATT-013), and while a thief holds it, whatever we commit to next can
be contradicted in our name. So the peer, on the first such proof:

* logs one CRITICAL line with the key, the two statement digests and what to do,
  repeated at most every :data:`ALARM_EVERY_MS` while it keeps refusing to sign
  (the count of refusals meanwhile goes into the next line);
* keeps the alarm in its journal (with the time it was raised), so that a restart
  raises it again and ``a2a-coop status`` shows it;
* refuses, in its policy guard, to sign any new commitment -- Offer, Counter or
  Accept (:data:`COMMITMENTS`) -- with the key, for good: an incoming offer is
  answered with a Reject saying why. What keeps existing contracts moving
  (Deliveries, Receipts, claims, Revokes), what commits nothing (Rejects, Acks,
  attestations) and the Checkpoints that gossip the proof on are still signed.

The proof may arrive by gossip, as a request's context, or with a counterparty's
or an escrow's refusal of our own statement (:meth:`Peer.take_refusal
<a2a_coop.runtime.peer.Peer.take_refusal>`: EQUIVOCATION with both envelopes,
the usual way a peer whose key was stolen learns it). Only a proof that verifies
(ATT-012) raises it: both envelopes pass the stateless checks under our key, and
they conflict. A forged signature, two statements that fit one chain, or a proof
against another key changes nothing here.

The operator's way out is a new key: stop every process using the old one, have
the principal revoke it (a KeyRevocation, SPEC 3.4, KEY-004: ``a2a-coop revoke-key``)
with ``effective_ms`` no later than the earlier of the two statements, and serve a new key (``a2a-coop
keygen``) under a new Mandate (``a2a-coop mandate``) with a new journal. The old
key stays refused: a proof against it is valid forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from a2a_coop.protocol.forks import ForkProof

log = logging.getLogger(__name__)

ALARM_EVERY_MS: Final = 600_000  # the CRITICAL line repeats at most this often
COMMITMENTS: Final = frozenset({"offer", "counter", "accept"})  # what a forked key no longer signs
META_KEY_FORKED: Final = "a2a-coop/own-key-forked"  # journal meta: {first, second, raised_ms}
REMEDY: Final = (
    "stop every process using this key; have its principal revoke it (a2a-coop revoke-key, SPEC 3.4, "
    "effective no later than the earlier statement) and serve a new key (a2a-coop keygen) under a "
    "new mandate (a2a-coop mandate) with a new journal"
)


class Meta(Protocol):
    """Where the alarm is kept: a :class:`~a2a_coop.runtime.journal.Journal`."""

    def put_meta(self, key: str, value: Any) -> None: ...
    def get_meta(self, key: str, default: Any = None) -> Any: ...


class KeyForked(Exception):
    """Our own key is forked: the policy guard signs no new commitment with it (ATT-017).

    Not a protocol error: nothing the counterparty sent is wrong; we decline to commit.

    Attributes:
        did: our key.
        body: the body we declined to sign.
    """

    def __init__(self, did: str, body: str) -> None:
        super().__init__(
            f"our key is forked (a fork proof against it is held, ATT-017): it signs no new {body}"
        )
        self.did = did
        self.body = body


@dataclass
class ForkAlarm:
    """A fork proof against our own key, and what the peer has done about it.

    Attributes:
        did: our key.
        proof: the proof (verified before it got here: ATT-012).
        raised_ms: when it was first raised (kept across restarts).
        refused: commitments refused since the last CRITICAL line.
    """

    did: str
    proof: ForkProof
    raised_ms: int
    refused: int = 0
    _logged_ms: int | None = field(default=None, repr=False)

    @classmethod
    def raise_for(cls, did: str, proof: ForkProof, now_ms: int, journal: Meta | None) -> ForkAlarm:
        """The alarm for a proof just received: kept in ``journal`` (if any) and sounded at once."""
        alarm = cls(did, proof, now_ms)
        if journal is not None:
            journal.put_meta(
                META_KEY_FORKED, {"first": proof.first, "second": proof.second, "raised_ms": now_ms}
            )
        alarm.sound(now_ms)
        return alarm

    @classmethod
    def restore(cls, did: str, proof: ForkProof, now_ms: int, journal: Meta | None) -> ForkAlarm:
        """The alarm for a proof held from before (the journal's fork proofs), with the time it was
        first raised; not sounded (a server sounds it when it starts: :meth:`sound`)."""
        kept = journal.get_meta(META_KEY_FORKED) if journal is not None else None
        if isinstance(kept, dict) and isinstance(kept.get("raised_ms"), int):
            return cls(did, proof, kept["raised_ms"])
        return cls.raise_for(did, proof, now_ms, journal) if journal is not None else cls(did, proof, now_ms)

    @property
    def digests(self) -> tuple[str, str]:
        """The two statements' digests, hex."""
        first, second = (decode_envelope(e) for e in (self.proof.first, self.proof.second))
        return (
            statement_digest(first.payload, first.payload_type).hex(),
            statement_digest(second.payload, second.payload_type).hex(),
        )

    def message(self) -> str:
        """The CRITICAL line's text."""
        first, second = self.digests
        refused = f"; {self.refused} commitments refused since the last alarm" if self.refused else ""
        return (
            f"OWN KEY FORKED: {self.did} signed two conflicting statements ({first} and {second}; a "
            f"verifiable fork proof, ATT-012): our signer is broken or the key is stolen. This peer signs "
            f"no new Offer, Counter or Accept with it (ATT-017){refused}. To go on: {REMEDY}"
        )

    def sound(self, now_ms: int, *, force: bool = False) -> bool:
        """Log the CRITICAL line unless it was logged less than :data:`ALARM_EVERY_MS` ago (``force``:
        log it anyway, e.g. when a server starts). Returns whether it was logged."""
        if not force and self._logged_ms is not None and now_ms - self._logged_ms < ALARM_EVERY_MS:
            return False
        log.critical("%s", self.message())
        self._logged_ms, self.refused = now_ms, 0
        return True

    def refuse(self, body: str, now_ms: int) -> None:
        """The policy guard's rule (ATT-017): a new commitment is refused, and the alarm sounded again
        if it is due.

        Raises:
            KeyForked: ``body`` is a commitment (:data:`COMMITMENTS`).
        """
        if body not in COMMITMENTS:
            return
        self.refused += 1
        self.sound(now_ms)
        raise KeyForked(self.did, body)

    def report(self) -> dict[str, Any]:
        """What ``a2a-coop status`` shows of it."""
        first, second = self.digests
        return {
            "key": self.did,
            "statements": [first, second],
            "raised": datetime.fromtimestamp(self.raised_ms / 1000, UTC).isoformat(timespec="seconds"),
            "signing": "refused: no new Offer, Counter or Accept (ATT-017)",
            "remedy": REMEDY,
        }
