"""A guard's exposure after a mandate renewal (SPEC 4.7, MND-018).

A principal renews its agent's Mandate by issuing a new one for the same key; the old one stays valid
for the statements that cite it (a live offer under it can still be accepted, a contract under it is
still owed). Verifiers keep each Mandate's exposure apart (section 4.5): they cannot tell a renewal
from a second, concurrent grant. The agent's own guard can, and a principal that renews with lower
caps means them for everything its agent has at stake: :class:`RenewedExposureBook` counts what the
agent's older Mandates of that principal still have at stake with the one it signs under, against that
one's caps, besides each Mandate's own check.
"""

from __future__ import annotations

from collections.abc import Sequence

from a2a_coop.protocol.archive import ExposureArchive
from a2a_coop.protocol.mandate import Exposure, ExposureBook, Mandate
from a2a_coop.protocol.statements import VerifiedStatement


class RenewedExposureBook(ExposureBook):
    """An :class:`ExposureBook` that also keeps the exposure under the Mandates ``signing`` and ``older``
    together (by ``mandate``'s budget periods: ``mandate`` is the one of ``signing``, the Mandate the
    guard signs under) and checks every statement citing one of them against ``mandate``'s caps too
    (MND-009, MND-010 over the sum: MND-018).

    Built before anything under those Mandates is recorded (a peer's replay records it after), taking
    over ``base``'s per-Mandate exposure, which it keeps recording as before.
    """

    def __init__(self, base: ExposureBook, signing: bytes, mandate: Mandate, older: Sequence[bytes]) -> None:
        super().__init__(base._mandate_of)
        self.by_mandate = base.by_mandate
        self.mandate = mandate
        self.together = ExposureBook()
        joined = Exposure(mandate.valid_from_ms, mandate.period_ms)
        for digest in (signing, *older):
            self.together.by_mandate[digest] = joined
        self._joined_name = b"together/" + signing  # its records' book in an archive, apart from each one's
        self.use_archive(base.archive)

    def use_archive(self, archive: ExposureArchive | None) -> None:
        super().use_archive(archive)
        self.together.archive = archive
        for exp in self.together.by_mandate.values():
            exp.archive, exp.name = archive, self._joined_name

    def _joins(self, mandate_digest: bytes) -> bool:
        return mandate_digest in self.together.by_mandate

    def check(
        self,
        vs: VerifiedStatement,
        mandate: Mandate,
        value: int,
        replaces: bytes = b"",
        *,
        grace_ms: int = 0,
        dated_starts: bool = True,
        booked: bool = False,
    ) -> None:
        super().check(
            vs, mandate, value, replaces, grace_ms=grace_ms, dated_starts=dated_starts, booked=booked
        )
        if self._joins(vs.mandate_digest):
            self.together.check(
                vs, self.mandate, value, replaces, grace_ms=grace_ms, dated_starts=dated_starts, booked=booked
            )

    def offer_live(
        self,
        mandate_digest: bytes,
        offer_digest: bytes,
        value: int,
        issued: int,
        expires: int,
        *,
        until: int | None = None,
        seq: int | None = None,
    ) -> None:
        super().offer_live(mandate_digest, offer_digest, value, issued, expires, until=until, seq=seq)
        if self._joins(mandate_digest):
            self.together.offer_live(
                mandate_digest, offer_digest, value, issued, expires, until=until, seq=seq
            )

    def offer_dead(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        super().offer_dead(mandate_digest, offer_digest)
        if self._joins(mandate_digest):
            self.together.offer_dead(mandate_digest, offer_digest)

    def offer_answered(self, mandate_digest: bytes, offer_digest: bytes, at: tuple[int, int]) -> None:
        super().offer_answered(mandate_digest, offer_digest, at)
        if self._joins(mandate_digest):
            self.together.offer_answered(mandate_digest, offer_digest, at)

    def offer_accepted(
        self, mandate_digest: bytes, offer_digest: bytes, at: tuple[int, int], accepted_ms: int
    ) -> None:
        super().offer_accepted(mandate_digest, offer_digest, at, accepted_ms)
        if self._joins(mandate_digest):
            self.together.offer_accepted(mandate_digest, offer_digest, at, accepted_ms)

    def answer_forgotten(self, mandate_digest: bytes, offer_digest: bytes) -> None:
        super().answer_forgotten(mandate_digest, offer_digest)
        if self._joins(mandate_digest):
            self.together.answer_forgotten(mandate_digest, offer_digest)

    def contract_formed(
        self,
        mandate_digest: bytes,
        contract: bytes,
        value: int,
        formed_at: int,
        from_offer: bytes = b"",
        *,
        last_deadline_ms: int | None = None,
        start: tuple[int, int] | None = None,
    ) -> None:
        super().contract_formed(
            mandate_digest,
            contract,
            value,
            formed_at,
            from_offer,
            last_deadline_ms=last_deadline_ms,
            start=start,
        )
        if self._joins(mandate_digest):
            self.together.contract_formed(
                mandate_digest,
                contract,
                value,
                formed_at,
                from_offer,
                last_deadline_ms=last_deadline_ms,
                start=start,
            )

    def contract_ended(self, mandate_digest: bytes, contract: bytes, at: tuple[int, int]) -> None:
        super().contract_ended(mandate_digest, contract, at)
        if self._joins(mandate_digest):
            self.together.contract_ended(mandate_digest, contract, at)

    def contract_forgotten(self, mandate_digest: bytes, contract: bytes) -> None:
        super().contract_forgotten(mandate_digest, contract)
        if self._joins(mandate_digest):
            self.together.contract_forgotten(mandate_digest, contract)

    def contract_displaced(self, mandate_digest: bytes, contract: bytes, at: tuple[int, int]) -> None:
        super().contract_displaced(mandate_digest, contract, at)
        if self._joins(mandate_digest):
            self.together.contract_displaced(mandate_digest, contract, at)
