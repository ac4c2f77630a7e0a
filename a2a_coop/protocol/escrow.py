"""The reference escrow: a sans-IO bond ledger, arbiter and witness (SPEC.md sections 7.3, 7.7, 9).

Theory of operation. An :class:`Escrow` is an auditor that can sign. It holds a
:class:`~a2a_coop.protocol.verifier.Verifier` (``me=None``) into which every piece of
evidence goes, so it sees each contract naming it exactly as section 8 defines it.
It has three jobs:

* **Witness** (WIT-001). Every Submit's newly accepted evidence is named in one
  Stamp, signed at the escrow's clock. A Stamp is what makes a BreachClaim or a
  Revoke take effect (WIT-005) and what proves a Delivery on time (WIT-003): no
  value ever moves on a time the party who profits wrote itself. A contract is
  recognised only if its Accept is witnessed before the offer expired (WIT-004).
* **Arbiter** (CMT-002, CMT-006, ESC-010). A stamped claim is ruled once its
  response window has passed -- upheld unless a timely Delivery is held -- and a
  contract nobody claimed on lapses after its last deadline plus the claim
  window, or, not bonded by its bonding cutoff, right after that. Every dispute
  ends, and every party derives the same final state (SPEC 8.9).
* **Ledger** (NEG-012, CMT-001..004, ESC-010). Bonds are locked, released,
  forfeited and refunded by the rules of section 9.2, as the contract's state
  requires; a bond is locked only until the bonding cutoff, a time both parties
  signed (the accepted offer's expiry plus 30 s), never at a time the party that
  funds last would choose:

=============================  ===============================================================
contract state                 action
=============================  ===============================================================
ACCEPTED                       BondLock each unlocked bond the party's balance covers, until
                               the bonding cutoff (the accepted offer's expiry + 30 s)
ACCEPTED, BONDED, PERFORMING   past last deadline + claim window, no claim pending: Ruling LAPSE
ACCEPTED (some bond unlocked)  past the bonding cutoff, no claim pending: Ruling LAPSE
any, a claim pending           at its stamp + response window: Ruling UPHOLD or DISMISS
FULFILLED                      Release every locked bond
BREACHED                       Forfeit the bond of each party a claim was upheld against; Release
                               the other once no claim against it is pending
REVOKED                        Forfeit the revoker's bond under forfeit_bond terms; Release the
                               others once their notice obligations are receipted or lapsed
EXPIRED (lapsed)               Refund every locked bond
displaced (NEG-017)            Refund every bond locked for it, after the Stamp of the Accept of
                               an offer naming another escrow that displaced it (ESC-016)
=============================  ===============================================================

The rules are *level-triggered* -- they look at a contract's state, not at what
just arrived -- but they only look at contracts that changed or came due: the
contracts a Submit's evidence belongs to, those waiting for a party's funds when
it deposits, and those whose next deadline (a heap of timers) has passed at a
tick. The work per Submit or tick is independent of unrelated contracts, and a
party may hold at most ``max_open_contracts`` open contracts here (LIMIT_EXCEEDED).

The ledger is the escrow's own hash chain: Deposit, BondLock, Release, Forfeit,
Refund, Ruling and Stamp, each checked unsigned by the escrow's own verifier
before it is signed. Anyone holding the escrow's :meth:`Escrow.transcript`
re-checks every decision (:mod:`a2a_coop.protocol.escrow_audit`).

No I/O and no clock: ``now_ms`` is an argument everywhere.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Final, NamedTuple, Protocol

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.archive import Archive, ExposureArchive, HeldStatements, Replaying, ReplayingExposure
from a2a_coop.protocol.bodies import MAX_STAMP_DIGESTS
from a2a_coop.protocol.envelope import (
    MAX_ENVELOPE_BYTES,
    decode_envelope,
    parse_envelope,
    statement_digest,
)
from a2a_coop.protocol.errors import (
    ChainBroken,
    ChainGap,
    CoopError,
    Equivocation,
    IllegalTransition,
    IssuedInFuture,
    KeyRevoked,
    LimitExceeded,
    LogRootMismatch,
    MandateViolation,
    NonceReused,
    RateLimited,
    StaleReference,
    Unwitnessed,
    WrongParty,
    utc_text,
)
from a2a_coop.protocol.ledger import LEDGER_BODIES, Bond, Book
from a2a_coop.protocol.negotiation import (
    ARBITRATED_BODIES,
    BOND_GRACE_MS,
    CLAIM_WINDOW_MS,
    ESCROW_BODIES,
    OFFER_ANSWERS,
    TERMINAL_STATES,
    Contract,
    Event,
    Negotiation,
    State,
    cited,
    claims_end_ms,
    proposal_of,
)
from a2a_coop.protocol.statements import (
    MAX_REFS,
    VerifiedStatement,
    decode_statement,
    verify_statement,
)
from a2a_coop.protocol.verifier import Verifier, last_ruling_ms
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS

# A party's open contracts at one escrow (contracts formed, not yet settled) whose terms require no bond
# are bounded, so that junk contracts from a mandate anyone can mint cannot grow the escrow's work without
# limit (CMT-008). One whose terms require a bond does not count: it is bounded by the funds it locks,
# or, unfunded, lapses at its bonding cutoff (ESC-010); counted, fresh keys' free unbonded contracts
# with a party would fill its quota and keep its bonded trades out.
MAX_OPEN_CONTRACTS: Final = 1_000
# ESC-017 for ESC-019: how many renewals of a party's Mandate, new in a Submit beside an Accept, ride
# uncounted with it (one is the honest case; a principal minting a chain of them gets no more free).
RENEWALS_READ: Final = 2
_UPHOLD: Final = commitment_pb2.RULING_DECISION_UPHOLD
_DISMISS: Final = commitment_pb2.RULING_DECISION_DISMISS
_LAPSE: Final = commitment_pb2.RULING_DECISION_LAPSE
# States in which the escrow still takes a claim or a revoke (CMT-005, NEG-010): not once the
# contract has an outcome, whatever a party's own view says.
_CLAIMABLE: Final = frozenset({State.ACCEPTED, State.BONDED, State.PERFORMING, State.DISPUTED})
_REVOCABLE: Final = frozenset({State.ACCEPTED, State.BONDED, State.PERFORMING})
# The statements naming a contract (besides its Accept): a party's first Ack of one is a trade's witness
# (ESC-017); CMT-013 and CMT-005 bound them by the contract's items, as nothing bounds a bargaining line.
_CONTRACT_BODIES: Final = frozenset({"delivery", "receipt", "breach_claim", "revoke", *ESCROW_BODIES})


# What refuses a statement only against the other statements its issuer signed -- its chain and its nonce
# (KEY-007): a KeyRevocation's binding refused for one of them alone is shown, not held (ESC-001).
_AGAINST_OTHERS: Final = (Equivocation, ChainBroken, LogRootMismatch, NonceReused)
# ESC-006 (a): a ledger entry's unit -- the entry, what a Stamp names, the bindings kept unstamped after
# them (KEY-007 (a)) -- never parted across pages, holds at most one page's envelopes (RPC-008 (a)), so a
# client at its least receive limit reads it whole.
MAX_ENTRY_BYTES: Final = 4 * 1024 * 1024
# WIT-001 (a): the envelopes one Stamp names total at most that less one maximal envelope (the Stamp's
# own room).
MAX_STAMP_EVIDENCE_BYTES: Final = MAX_ENTRY_BYTES - MAX_ENVELOPE_BYTES


class ShownBinding(NamedTuple):
    """A binding shown, not held (KEY-007, KEY-008): a statement of ``key`` refused only for its chain or
    nonce that a KeyRevocation of ``key`` by ``principal`` -- the statement after it in the Submit,
    ``revocation`` its digest -- was taken beside. ``binding`` and ``mandate`` (the Mandate it cites) are
    envelopes. The escrow keeps one per key and principal (once bound, the key needs no other), outside
    the statements its archive's seq and nonce indexes serve: it is in no chain.

    Or (``revocation`` empty) a statement of ``key`` refused ``KEY_REVOKED`` alone that binds ``key`` to
    ``principal`` earlier than any statement held (KEY-007 (a)); ``after``: the digest of what comes right
    before it in the escrow's order -- the Stamp naming it, or the evidence that Stamp names before it; for
    one of a negotiation, which the escrow refuses and never stamps, whatever came last before it --, where
    a restart binds the key again and the transcript places it. One per such statement: each binds
    earlier than the last."""

    key: str
    principal: str
    binding: bytes
    mandate: bytes
    revocation: bytes
    after: bytes = b""


class EscrowVerifier(Verifier):
    """The verifier of an escrow taking evidence (ESC-001) and of its audit (AUD-003): not a view of evidence
    (it trades on what it takes: a revoked key's statement is refused here, stamped or not, KEY-009). A
    statement refused only ``KEY_REVOKED`` binds its key all the same (KEY-007 (a)): the escrow stamps one of
    no negotiation and keeps it, shown, not held; one of a negotiation it refuses (a Stamp would date, for
    anyone shown it, an Offer or Accept the escrow refused) and keeps, unstamped, where it came."""

    holds_unwitnessed = False  # ESC-014: an Accept it did not take is refused (NEG-025)

    def __init__(self) -> None:
        super().__init__(evidence_view=False)


class Prechecked(NamedTuple):
    """A Submit's envelopes through the checks that need no state (:meth:`Escrow.precheck`)."""

    items: list[VerifiedStatement | bytes]  # each statement verified on its own, or its digest if held
    refused: CoopError | None  # why the envelope after the last item fails them; None if none does


class NewcomerQuota(Protocol):
    """How many public statements of keys outside its dealings an escrow takes per period of its clock
    (SPEC ESC-017; the reference's is :class:`a2a_coop.runtime.strangers.StrangerCount`)."""

    def refusal(self, keys: Iterable[str], now: int, *, solicited: bool = False) -> CoopError | None:
        """The refusal of statements counting for ``keys`` (one entry a statement) now, or None."""
        ...

    def charge(self, keys: Iterable[str], now: int, *, reserved: bool = False) -> None:
        """Count statements for ``keys``, which :meth:`refusal` (``reserved``: :meth:`reserve_refusal`)
        let in and the escrow took."""
        ...

    def reserve_refusal(self, keys: Iterable[str], now: int) -> CoopError | None:
        """The refusal now, by the revocations' reserve, of statements counting for ``keys`` -- a
        KeyRevocation and what its authority depends on -- which :meth:`refusal` refused; or None."""
        ...

    def mark(self, key: str, now: int) -> None:
        """A revocation of ``key`` passed its checks and was refused over the quota: refuse the key's
        statements for a while (:meth:`marked`)."""
        ...

    def marked(self, key: str, now: int) -> CoopError | None:
        """The refusal of a statement of ``key`` now, while a revocation of it is pending (:meth:`mark`),
        or None."""
        ...


class DealingsQuota(Protocol):
    """How many public statements of each key in its dealings an escrow takes per period of its clock,
    beyond what its trades there need, with the credit those trades earn the key (SPEC ESC-017; the
    reference's is :class:`a2a_coop.runtime.strangers.KeyedCount`)."""

    def refusal(self, key: str, now: int, *, credit_only: bool = False) -> CoopError | None:
        """The refusal of one more statement counted for ``key`` now, or None (``credit_only``: against
        the credit its trades here earned alone, without the base count)."""
        ...

    def charge(self, key: str, now: int) -> None:
        """Count one statement for ``key``, which :meth:`refusal` let in and the escrow took."""
        ...

    def earn(self, key: str, now: int) -> None:
        """A unit of credit for ``key``: a statement of a contract naming the escrow it issued, taken."""
        ...


class _Dealing(NamedTuple):
    """A public statement that ESC-017 counts for ``key``, a key in the escrow's dealings
    (:class:`DealingsQuota`), not against the newcomer quota -- but ``renewal``, a Mandate ``key`` issued
    for an agent in the dealings too, which, when ``key`` has no funds here and its count no room, counts
    under the newcomer quota as a stranger's Mandate would (:meth:`Escrow._receive`)."""

    key: str
    renewal: bool = False


class _Package(NamedTuple):
    """ESC-017: a KeyRevocation new in a Submit and what its authority depends on before it there (KEY-008):
    the revoker's Mandates naming the revoked key, and the first statement of that key under one of
    them or under one held (its binding; None if there is none)."""

    revocation: VerifiedStatement
    mandates: tuple[VerifiedStatement, ...]
    binding: VerifiedStatement | None


class _Revoking(NamedTuple):
    """ESC-017: a statement counting for ``keys`` under the newcomer quota that is of a revocation's
    ``package``: the revocations' reserve takes it when the quota has no room."""

    keys: list[str]
    package: _Package


class EscrowArchive(Archive, Protocol):
    """Where an escrow's statements are recorded (its journal: a2a_coop.runtime.journal.Journal):
    an :class:`~a2a_coop.protocol.archive.Archive` that also lists every statement in the order it was
    recorded, ``(position, direction, envelope)``, which is the escrow's transcript order."""

    def statements(self, *, since_rowid: int = 0) -> Iterator[tuple[int, str, bytes]]: ...

    def recorded_before(self, issuer: str, digest: bytes) -> bytes | None:
        """The envelope of ``issuer``'s statement recorded last before the statement ``digest`` (for
        evidence the escrow took, the Stamp that named it: each Stamp is recorded right before what it
        names), or None."""
        ...


class EscrowSigner(Protocol):
    """What the escrow needs of its key: a did and a chain-keeping signer, in two steps.

    :class:`a2a_coop.testing.Signer` is one. ``candidate`` stamps the next seq and prev of the
    key's chain and a fresh nonce into an unsigned candidate
    (:func:`~a2a_coop.protocol.statements.candidate`), with ``issued_at_ms`` as given, advancing
    nothing; ``sign_candidate`` signs exactly that candidate
    (:func:`~a2a_coop.protocol.statements.sign_candidate`) and only then advances the chain. The key
    signs for nothing but this escrow, so that its chain *is* the ledger. The escrow checks the
    candidate in context before it is signed, as a peer's guard does (MND-011), and does not verify
    its own signature again: a restart and every receiver verify it from its envelope.
    """

    @property
    def did(self) -> str: ...

    def candidate(
        self,
        body: str,
        message: Any,
        *,
        audience: str = ...,
        negotiation_id: bytes = ...,
        mandate: bytes = ...,
        issued_at_ms: int | None = ...,
        refs: Sequence[bytes] = ...,
    ) -> VerifiedStatement: ...

    def sign_candidate(self, cand: VerifiedStatement) -> VerifiedStatement: ...


class Escrow:
    """The reference escrow: witnesses evidence, arbitrates disputes, keeps the bond ledger.

    Args:
        signer: the escrow's key and chain (see :class:`EscrowSigner`).
        mandate_digest: digest of the escrow's own Mandate statement; every
            statement it signs names it (MND-001).
        setup: envelopes to hold before anything else, accepted without applying
            rules: the escrow's Mandate statement (required before it can sign),
            and, to restart, a saved :meth:`transcript`, whose own statements
            rebuild the ledger (they must run from seq 0 without gaps).
        currency: the one currency this escrow keeps balances in. Contracts in
            another currency get no locks.
        max_open_contracts: how many open contracts one party may hold here.
        archive: where everything the escrow takes and signs is recorded (its journal), once the
            caller made it durable there: the escrow then restarts from it (after ``setup``, which
            holds only what the archive does not: the escrow's Mandates) and keeps a contract in
            memory only until it is over for good (:meth:`forget_contract`); what it forgot is read
            back from the archive whenever anything needs it, with the same answers. Without one,
            the escrow holds everything it ever took.
        now_ms: the escrow's clock, with an archive: what is over for good by then is forgotten as the
            archive is replayed (without it, by the time of the statement replayed).
        forget: with an archive, forget what is over for good (the default); off, hold everything,
            the archive serving only the restart and the ledger (tests compare the two).
        quota: the newcomer quota on the statements of no negotiation it takes of keys outside its
            dealings (ESC-017; :attr:`quota`, settable later); None: no limit.
        dealings: the count of the public statements of each key in its dealings that no trade here
            needs, with the credit its trades here earn it (ESC-017; :attr:`dealings`, settable later);
            None: no limit.
        shown: with an archive, the bindings shown, not held, that the escrow recorded beside it
            (:meth:`shown_binding`: KEY-007, KEY-008), restored before the archive is replayed, so that
            the revocations they authorised are taken again. In a ``setup`` transcript they are in
            place, each before its revocation, and need not be given.
        predecessor: for a successor (ESC-022, ESC-023: its Mandate, ``mandate_digest``, names the key it
            succeeds), the old key's transcript followed by the KeyRevocations of the old key: held
            before ``setup``, up to the old key's first statement issued at or after the earliest
            revocation's effective_ms (what follows is disowned, KEY-004), then the revocations. Its
            contracts are this escrow's from then on. With ``taken_over_rows``, only the revocations.
        taken_over_rows: with an archive, the positions (first, last) of the rows of ``archive`` that hold
            the old key's transcript this successor took over (:meth:`predecessor_archived`), read from
            there at the start instead of given: a taken-over contract over for good leaves memory as one
            of our own does (:meth:`forget_contract`), the archive answering for it.

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
        max_open_contracts: int = MAX_OPEN_CONTRACTS,
        archive: EscrowArchive | None = None,
        now_ms: int | None = None,
        forget: bool = True,
        quota: NewcomerQuota | None = None,
        shown: Iterable[ShownBinding] = (),
        dealings: DealingsQuota | None = None,
        predecessor: Sequence[bytes] = (),
        taken_over_rows: tuple[int, int] | None = None,
    ) -> None:
        self.signer = signer
        # ESC-017: the newcomer quota (None: no limit), and the keys in our dealings besides those with
        # funds here (the Book's): the parties of the contracts naming us and their principals (the
        # issuers of the Mandates the contract's offer and Accept cite), rebuilt as the archive replays;
        # and the per-key count of what those keys submit that no trade here needs (None: no limit).
        self.quota = quota
        self.dealings = dealings
        self._dealings: set[str] = set()
        self.forget = forget
        self.did = signer.did
        self.mandate_digest = mandate_digest
        self.currency = currency
        self.max_open_contracts = max_open_contracts
        # It trades on what it takes: a revoked key's statement is refused here, stamped or not (KEY-009).
        self.verifier: Verifier = EscrowVerifier()
        self._archive = archive
        # The ledger entries held in memory, by seq (with an archive, those of forgotten contracts are
        # read back from it), how many there are, and the digest of the last.
        self._ledger: dict[int, VerifiedStatement] = {}
        self._ledger_size = 0
        self._head = b""
        self._book = Book()
        # ESC-017: the keys a Deposit credited (funds came in for them), which alone have the dealings'
        # base count; not a Forfeit's beneficiary: one unit deposited, handed on from key to key by
        # forfeits, gave each key it passed through the base count for good (tests/test_attack19.py).
        self._deposited: set[str] = set()
        # Every envelope held, in transcript order; with an archive, only ``setup`` (the archive lists
        # the rest).
        self._transcript: list[bytes] = []
        self._unsaved: list[VerifiedStatement] = []
        # Contracts naming this escrow that may still need an action, by negotiation id.
        self._contracts: dict[bytes, Negotiation] = {}
        self._open_by_party: Counter[str] = Counter()
        self._timers: list[tuple[int, bytes]] = []  # (due_ms, negotiation id), a heap
        self._due: dict[bytes, int] = {}  # negotiation id -> earliest timer pending for it
        self._waiting_funds: dict[str, set[bytes]] = {}  # party -> contracts waiting for its funds
        # ESC-016: contracts naming us that a witnessed Accept of an offer naming another escrow displaced
        # (NEG-017), contract id -> (negotiation id, contract), until the bonds we locked for them are
        # refunded -- after the Stamp of that Accept (the Submit's Stamp comes first), or at the first
        # tick or Submit after a restart that replayed the Accept but not its Refunds.
        self._displaced: dict[bytes, tuple[bytes, Contract]] = {}
        # Negotiation id -> ledger seqs of what we signed about its contract (ESC-008): a resubmitted
        # Accept is answered with them, so a responder the initiator keeps in the dark learns its locks.
        self._signed_about: dict[bytes, list[int]] = {}
        # Digest of an accepted Offer or Counter naming us -> its Accept's (ESC-012): the offerer that was
        # never sent the Accept learns of its contract by submitting its offer.
        self._accept_of: dict[bytes, bytes] = {}
        # Digest of an Offer or Counter naming us -> (the ledger seq of our Checkpoint that first named it
        # past its bonding cutoff, holding no Accept of it, ESC-013 (i): given again, never signed twice;
        # the end of the claims under it, past which nobody needs that word and it is forgotten), and
        # those ends in a heap (:meth:`_forget_vouched`).
        self._vouched: dict[bytes, tuple[int, int]] = {}
        self._vouched_until: list[tuple[int, bytes]] = []
        # The ledger seq of each such Checkpoint -> how many offers it names are vouched still: at none,
        # with an archive, the Checkpoint leaves memory (the ledger keeps it, ESC-006; nobody asks for it).
        self._vouching: dict[int, int] = {}
        # (issuer, nonce) -> the Accept of a contract we bond that carries it: another statement with that
        # nonce makes the offerer's verifier refuse the Accept (RPL-001), a fork for ESC-015.
        self._accept_nonces: dict[tuple[str, bytes], bytes] = {}
        # ESC-011: negotiations an Offer or Counter of which names this escrow.
        self._named: set[bytes] = set()
        # ESC-015: digests of Accepts we witnessed that their issuer's chain forks at (a Submit showed us
        # another statement of that issuer at the Accept's seq, or one that breaks the chain beside it).
        self.forked_accepts: set[bytes] = set()
        # Bounded memory (with an archive): contracts just settled, for the caller to forget once what
        # settled them is durable (drain_settled, forget_contract); settled ones a claim may still come
        # for, until when (a heap, and each one's time); how many contracts were forgotten.
        self._settled: list[bytes] = []
        self._linger: list[tuple[int, bytes]] = []
        self._linger_due: dict[bytes, int] = {}
        self._stale_timers = 0  # heap entries of settled contracts, skipped when popped
        self.forgotten = 0
        # Forgotten negotiations read back while a Submit is taken, and the stamps put back in the
        # witness index for them (dropped again after the Submit unless the negotiation stayed).
        self._rewitnessed: dict[bytes, list[tuple[str, bytes]]] = {}
        # KEY-007, KEY-008: the bindings shown, not held, by digest, one per key and principal (never
        # forgotten, as Mandates are not); and, with an archive, the envelope of the revocation each
        # authorised -> the binding's, placed right before it in the transcript (the archive's
        # statements do not hold it: it is in no chain).
        self._shown: dict[bytes, ShownBinding] = {}
        self._shown_before: dict[bytes, bytes] = {}
        # KEY-007 (a): the bindings refused KEY_REVOKED, by what comes right before them (ShownBinding.after):
        # the envelope of each -> theirs, for the transcript (with an archive); the digest of each -> the
        # bindings a restart binds again once it replayed it; and those taken in a Submit not stamped yet.
        self._shown_after: dict[bytes, list[bytes]] = {}
        self._bind_after: dict[bytes, list[ShownBinding]] = {}
        self._unanchored: list[bytes] = []
        # KEY-007 (a), of a negotiation: refused and never stamped, each such binding by the envelope of what
        # came right before it (GetTranscript places it there, after that envelope's ledger entry, ESC-006);
        # and, with an archive, the envelope the journal recorded last (what a binding kept next comes after).
        self._unstamped_after: dict[bytes, list[bytes]] = {}
        self._last_recorded = b""
        self._setup = frozenset(setup)
        # ESC-022, ESC-023: the escrow key we succeed ("" for none), the part of its transcript we took
        # over (up to its revocation's effective_ms) and the revocations of it: our answers and our
        # transcript open with them, so that a verifier holding none of them honours the hand-over.
        self.succeeds = _succeeds(setup, mandate_digest)
        self._predecessor: list[bytes] = []
        self._handover: list[bytes] = []
        # What our answers carry after our Mandate (ESC-023 (c)): each revocation of the old key, a
        # principal's preceded by its binding (KEY-008) -- the principal's Mandate for the old key and the
        # old key's first public statement under it -- for a verifier that holds nothing of the old key.
        self._handover_answer: list[bytes] = []
        self.handover_ms: int | None = None
        # KEY-011 while taking the old key's transcript over: its revocations, the principals of the
        # Mandates met (digest -> issuer) and the old key's first statement under each ((time, seq)).
        self._revoking: list[VerifiedStatement] = []
        self._reach_mandates: dict[bytes, str] = {}
        self._reach_first: dict[str, tuple[int, int]] = {}
        # Negotiation id -> the old key's ledger statements about that contract, in its ledger order: a
        # resubmitted Accept of a contract we took over is answered with them (ESC-008, ESC-023).
        self._predecessor_about: dict[bytes, list[VerifiedStatement]] = {}
        # With an archive, where the part of the old key's transcript we took over is in it (its rows'
        # positions, first and last; None: held in memory, in _predecessor).
        self._taken_over_rows: tuple[int, int] | None = None
        if predecessor and not self.succeeds:
            raise ValueError("a predecessor's transcript needs a Mandate naming the key it succeeds, ESC-022")
        # The old key's seq we take over next, and, with taken-over rows, the revocations held once they
        # are replayed (:meth:`_replay`, their first).
        self._taken_over_seq = 0
        self._revocations_due: list[VerifiedStatement] = []
        if taken_over_rows is not None:
            if archive is None or not self.succeeds:
                raise ValueError("taken-over rows are read from an archive, by a successor (ESC-023)")
            self._revocations_due = self._revocations_of([verify_statement(data) for data in predecessor])
            self._taken_over_rows = taken_over_rows
        elif self.succeeds:
            self._restore_predecessor(predecessor)
        self._restore_setup(setup)
        shown = list(shown)
        if shown and archive is None:
            raise ValueError("shown bindings are restored beside an archive; a setup transcript holds them")
        for binding in shown:
            self._restore_shown(binding)
        self._bind_anchored(lambda d: d not in self.verifier.statements)  # after setup, or taken over
        if archive is not None:
            self._replay(archive, archive.statements(), now_ms)
        if self._revocations_due:
            raise ValueError("the archive holds none of the transcript this successor took over (ESC-023)")
        self._reschedule()
        if taken_over_rows is not None and now_ms is not None:
            self._forget_taken_over(now_ms)  # all of it is in the archive
        # The Mandates our key was given, oldest first, ours last: a transcript opens with all of them,
        # since ledger entries signed before a renewal (SPEC 4.7) cite an older one (ESC-006, MND-017).
        # Only those of our setup (our operator's): a Mandate naming our key that a Submit carried, by
        # any principal, is evidence, not ours to open our transcript with.
        own = [verify_statement(data) for data in setup]
        own = [vs for vs in own if vs.body == "mandate" and vs.statement.mandate.agent == self.did]
        own.sort(key=lambda vs: (vs.digest == mandate_digest, vs.issued_at_ms))
        self._mandate_envelopes = [vs.envelope for vs in own]
        if mandate_digest not in {vs.digest for vs in own} and mandate_digest in self.verifier.statements:
            self._mandate_envelopes.append(self._envelope_of(mandate_digest))

    def _replay(
        self,
        archive: EscrowArchive,
        rows: Iterable[tuple[int, str, bytes]],
        now_ms: int | None,
        *,
        after: int = 0,
    ) -> None:
        """Hold ``rows`` of ``archive`` (its statements, in order, after the position ``after``), as they
        were taken, forgetting what is over for good as it goes (by ``now_ms``; None: by the time of the
        statement replayed)."""
        replaying = Replaying(archive)
        if isinstance(archive, ExposureArchive):
            # Exposures' forgotten records written after what memory holds (``after``) are dropped and
            # written again as the replay forgets (they are derived from the statements).
            archive.drop_forgotten(after)
            replaying = ReplayingExposure(archive)
        self.verifier.use_archive(replaying, replay=False)  # every statement is in it: no replay reads
        self.verifier.negotiations.restore = self._bring_back
        taken = self._taken_over_rows
        if taken is not None and self._revocations_due:  # the old key's transcript we took over first
            first, last = taken
            rows = itertools.chain(
                itertools.takewhile(lambda row: row[0] <= last, archive.statements(since_rowid=first - 1)),
                (row for row in rows if not first <= row[0] <= last),
            )
        for position, _, data in rows:
            self._last_recorded = data
            if data in self._setup:
                continue
            vs = verify_statement(data)
            if taken is not None and taken[0] <= position <= taken[1]:
                if not self._revocations_due:
                    continue  # held before (a snapshot's)
                if not self._take_over(vs):
                    raise ChainGap(  # the rows hold what was taken over, cut at the revocation
                        f"the journal's taken-over statement {vs.digest.hex()[:16]} is dated after the "
                        "revocation of the key it succeeds",
                        requirement="ESC-023",
                    )
                if position == taken[1]:
                    self._hold_revocations(self._revocations_due)
                    self._revocations_due = []
            else:
                self._restore(vs, data)
                if vs.body == "checkpoint" and vs.issuer == self.did and now_ms is not None:
                    self._forget_vouched(now_ms)  # as it goes: the memory of a replay holds the live ones
            if self._bind_after:
                self._bind_again(vs.digest)
            replaying.upto = max(replaying.upto, position)
            nid = vs.header.negotiation_id
            if not nid:
                continue
            neg = self._contracts.get(nid)
            if neg is None:
                self._note_if_settled(nid)  # one forgotten, brought back by this statement
            elif _settled(neg):
                self._close(neg)  # as _schedule does at the end
            for settled in self.drain_settled():  # all of it is in the archive
                self.forget_contract(settled, vs.header.issued_at_ms if now_ms is None else now_ms)
        self._drop_rewitnessed()
        self.verifier.use_archive(archive)
        self.verifier.negotiations.restore = self._bring_back
        if self._bind_after:
            raise ValueError("the journal holds not what a binding kept beside it came after (KEY-007)")
        placed: dict[bytes, list[bytes]] = {}
        unstamped: dict[bytes, list[bytes]] = {}
        for binding in self._shown.values():
            if binding.revocation:
                self._shown_before[self._envelope_of(binding.revocation)] = binding.binding
            elif binding.after:
                anchor = self._envelope_of(binding.after)
                if binding.binding not in self._setup:  # the setup transcript holds it in place
                    placed.setdefault(anchor, []).append(binding.binding)
                if decode_statement(decode_envelope(binding.binding).payload).header.negotiation_id:
                    unstamped.setdefault(anchor, []).append(binding.binding)
        self._shown_after = placed
        self._unstamped_after = unstamped

    def _restore_shown(self, binding: ShownBinding) -> None:
        """Restore a binding shown, not held, kept beside the archive: an ESC-018 one at once (before the
        archive is replayed, as the revocation it authorised follows it); one refused ``KEY_REVOKED``
        (KEY-007 (a)) once the replay holds what came right before it (:meth:`_bind_again`), so that
        what the escrow took between binds nothing earlier than it did."""
        if binding.revocation:
            bound = verify_statement(binding.binding)
            self.verifier.bind(bound, verify_statement(binding.mandate))
            self._shown[bound.digest] = binding
        else:
            self._bind_after.setdefault(binding.after, []).append(binding)

    def _bind_anchored(self, later: Callable[[bytes], bool]) -> None:
        """Before a replay: bind the keys of the bindings refused ``KEY_REVOKED`` restored (KEY-007 (a)) that
        came right after what is held already -- not among what the replay holds next (``later``) nor
        another such binding --, and of those that came right after them: one of a negotiation comes after
        whatever came last, a statement of the escrow's setup, of what it took over, or one before a
        snapshot."""
        if not self._bind_after:
            return
        waiting = [b.binding for bs in self._bind_after.values() for b in bs]
        pending = {statement_digest(decode_envelope(env).payload) for env in waiting}
        for anchor in list(self._bind_after):
            if anchor in self._bind_after and anchor not in pending and not later(anchor):
                self._bind_again(anchor)

    def _bind_again(self, digest: bytes) -> None:
        """A restart's replay holds ``digest``: bind the keys of the bindings refused ``KEY_REVOKED`` that
        came right after it (KEY-007 (a)), and of those that came right after them."""
        for binding in self._bind_after.pop(digest, ()):
            bound = verify_statement(binding.binding)
            self.verifier.bind(bound, verify_statement(binding.mandate))
            self._shown[bound.digest] = binding
            self._bind_again(bound.digest)

    def _reschedule(self) -> None:
        """After a restart: nothing unsaved; the open set, timers and funding index rebuilt."""
        self._unsaved.clear()
        for neg in list(self._contracts.values()):
            self._schedule(neg)

    def resume(
        self,
        signer: EscrowSigner,
        archive: EscrowArchive,
        after: int,
        *,
        now_ms: int,
        shown: Iterable[ShownBinding] = (),
    ) -> None:
        """Go on from a snapshot of this escrow (a2a_coop.runtime.snapshot: every attribute as it was once
        ``archive`` held its statements up to the position ``after``, and nothing it had not), with
        ``signer`` and ``archive`` attached again: hold the archive's statements after ``after`` as a
        restart holds them all (:meth:`__init__`), and the bindings shown beside it since (``shown``)."""
        self.signer = signer
        self._archive = archive
        self.verifier.use_archive(archive)
        for binding in shown:
            if verify_statement(binding.binding).digest not in self._shown:
                self._restore_shown(binding)
        if self._bind_after:  # KEY-007 (a): one of a negotiation may come right after what the snapshot holds
            rows = archive.statements(since_rowid=after)
            since = {statement_digest(decode_envelope(env).payload) for _, _, env in rows}
            self._bind_anchored(since.__contains__)
        self._replay(archive, archive.statements(since_rowid=after), now_ms, after=after)
        self._reschedule()

    def _is_us(self, escrow: str) -> bool:
        """Whether a contract or offer naming ``escrow`` is ours: our key's, or the key we succeed
        (ESC-022), whose revocation we hold from our start on (ESC-023)."""
        return escrow == self.did or (escrow == self.succeeds and bool(escrow))

    def _restore_predecessor(self, envelopes: Sequence[bytes]) -> None:
        """ESC-023: hold the key we succeed's transcript up to its revocation, then the revocations."""
        verified = [verify_statement(data) for data in envelopes]
        revocations = self._revocations_of(verified)
        revoking = {vs.digest for vs in revocations}
        for i, vs in enumerate(verified):
            if vs.digest in revoking:
                continue
            if not self._take_over(vs, next_evidence(verified, i, self.succeeds)):
                break  # the old key's statements from here on are disowned (KEY-004), and what they took
            self._predecessor.append(vs.envelope)
        self._hold_revocations(revocations)

    def _revocations_of(self, verified: Sequence[VerifiedStatement]) -> list[VerifiedStatement]:
        """The KeyRevocations of the key we succeed among ``verified``: they decide which of its statements
        we take over (:meth:`_reached`); from the earliest time they reach on, we act for it
        (:attr:`handover_ms`, once held)."""
        old = self.succeeds
        revocations = [
            vs for vs in verified if vs.body == "key_revocation" and vs.statement.key_revocation.key == old
        ]
        if not revocations:
            raise ValueError(
                f"no KeyRevocation of {old} given: a successor takes over a revoked escrow key only (ESC-022)"
            )
        self._revoking = revocations
        return revocations

    def _take_over(self, vs: VerifiedStatement, following: VerifiedStatement | None = None) -> bool:
        """Hold one statement of the key we succeed's transcript, in order; False, holding nothing, for
        the first statement of that key its revocations reach (disowned, KEY-004, KEY-011). ``following``:
        the transcript's next evidence (past the old key's Stamps), for a binding it showed (ESC-018)."""
        old = self.succeeds
        if vs.body == "mandate":
            self._reach_mandates[vs.digest] = vs.issuer
        elif vs.issuer == old:
            principal = self._reach_mandates.get(vs.mandate_digest, "")
            if principal:
                self._reach_first.setdefault(principal, (vs.issued_at_ms, vs.seq))  # its chain: in order
        if vs.issuer == old and self._reached(vs):
            return False
        if vs.issuer == old:  # its chain is taken over whole from seq 0, as its audit replays it (AUD-006)
            if vs.header.seq != self._taken_over_seq:
                raise ChainGap(
                    f"the transcript of {old} taken over jumps to seq {vs.header.seq}, expected "
                    f"{self._taken_over_seq}: an export missing part of its ledger (ESC-023)",
                    requirement="ESC-023",
                )
            self._taken_over_seq += 1
        try:
            self.verifier.accept_statement(vs)
        except KeyRevoked:
            # a binding the old key kept refused KEY_REVOKED alone (KEY-007 (a): stamped, or of a negotiation,
            # unstamped): it binds its key here too (the verifier bound it so), and is kept as the old key
            # kept it, shown, not held
            if vs.issuer == old or not self.verifier.bound_by(vs):
                raise
            self._keep_shown(vs)
            return True
        except _AGAINST_OTHERS:
            # a binding the old key showed beside the KeyRevocation after it, refused for its chain or
            # nonce alone (ESC-018, KEY-007): it binds its key here too, for that revocation, and is kept
            # as the old key kept it, shown, not held
            if vs.issuer == old or following is None or self.verifier.shows_binding(vs, following) is None:
                raise
            self._keep_shown(vs, following)
            return True
        if vs.issuer == old:
            self._book.apply(vs)
            if vs.body == "deposit":
                self._deposited.add(vs.statement.deposit.party)
            elif vs.header.negotiation_id:
                self._predecessor_about.setdefault(vs.header.negotiation_id, []).append(vs)
        else:
            self._take(vs)
        return True

    def _hold_revocations(self, revocations: Sequence[VerifiedStatement]) -> None:
        """Hold the revocations of the key we succeed, after its transcript we took over (ESC-023)."""
        old = self.succeeds
        for vs in revocations:
            self.verifier.accept_statement(vs)
            self._handover.append(vs.envelope)
            if vs.issuer != old:  # a principal's: its binding first (KEY-008), for a verifier that holds none
                self._handover_answer += [
                    env for env in self._binding_of(old, vs.issuer) if env not in self._handover_answer
                ]
            self._handover_answer.append(vs.envelope)
        self.handover_ms = self.verifier.revoked.get(old)  # KEY-011: the earliest the revocations reach

    def _reached(self, vs: VerifiedStatement) -> bool:
        """KEY-011, for a statement of the key we succeed taken over in its chain's order: a revocation by
        the old key itself takes effect no earlier than it was issued and reaches none of the key's
        statements at a lower seq; a principal's reaches back to its effective_ms over the key's statements
        under its own Mandates, under none, and under those of a principal the key bound itself to later
        (the key's earliest statement under each principal, met so far: :attr:`_reach_first`), over
        others from its issue -- and, stating the key's chain length, over every statement above it
        whatever its time (KEY-011 (e))."""
        old, first = self.succeeds, self._reach_first
        authority = self._reach_mandates.get(vs.mandate_digest, "")
        here = (vs.issued_at_ms, vs.seq)
        for rev in self._revoking:
            r, issued = rev.statement.key_revocation, rev.issued_at_ms
            own = rev.issuer == old
            mine = first.get(rev.issuer)
            theirs = min(first.get(authority, here), here)
            back = not own and (
                not authority or authority == rev.issuer or (mine is not None and mine <= theirs)
            )
            at = r.effective_ms if back else max(r.effective_ms, issued)
            if vs.issued_at_ms >= at and (not own or vs.seq >= rev.seq):
                return True
            if back and 0 < r.chain_length <= vs.seq:
                return True
        return False

    def _binding_of(self, key: str, principal: str) -> list[bytes]:
        """KEY-008 for the revocation of the key we succeed by ``principal``: the Mandate of ``principal``
        for ``key`` and the first statement of ``key`` we took over citing it with an empty audience (one
        any verifier takes), or [] when there is none."""
        held = self.verifier.statements
        for data in self._taken_over_transcript():
            vs = held.get(statement_digest(decode_envelope(data).payload))
            if vs is None or vs.issuer != key or vs.audience or not vs.mandate_digest:
                continue
            mandate = held.get(vs.mandate_digest)
            if mandate is not None and mandate.issuer == principal:
                return [mandate.envelope, vs.envelope]
        return []

    @property
    def taken_over(self) -> list[bytes]:
        """ESC-023: what a successor took over -- the old key's transcript up to its revocation's
        effective_ms, then the revocations of it -- with which its transcript opens; [] for no successor."""
        return [*self._taken_over_transcript(), *self._handover]

    @property
    def revocations_taken_over(self) -> list[bytes]:
        """ESC-023: the KeyRevocations of the key a successor succeeds it took over; [] for no successor."""
        return list(self._handover)

    def _taken_over_transcript(self) -> Iterable[bytes]:
        """The old key's transcript we took over (ESC-023), from memory or, archived, from the archive."""
        rows, archive = self._taken_over_rows, self._archive
        if rows is None or archive is None:
            return self._predecessor
        return _rows(archive, rows)

    def predecessor_archived(self, rows: tuple[int, int], now_ms: int) -> None:
        """ESC-023, with an archive: the old key's transcript this successor took over (:meth:`taken_over`,
        without the revocations) is durable in the archive at the positions ``rows`` (first, last), in
        order. It leaves memory, and so does each taken-over contract over for good (as our own do,
        :meth:`forget_contract`): the archive answers for them from now on."""
        if self._archive is None or not self.succeeds or self._taken_over_rows is not None:
            raise ValueError("only a successor with an archive holding its predecessor's transcript")
        self._predecessor, self._taken_over_rows = [], rows
        self._forget_taken_over(now_ms)

    def _forget_taken_over(self, now_ms: int) -> None:
        """The taken-over contracts over for good leave memory, and so do the chains' links but the last
        of each issuer, as when they are taken with an archive (it holds them all now, ESC-023)."""
        for settled in self.drain_settled():
            self.forget_contract(settled, now_ms)
        for view in self.verifier.chains.values() if self.forget else ():
            view.trim()
        if self.forget:  # the tables sized for all of it, held at once until now, at their size now
            _compact(self.verifier, self)

    def handover_short(self) -> MandateViolation | None:
        """ESC-023: the refusal to start as a successor whose Mandate ends (Verifier.signs_until) at or
        before the last ruling time of a contract of the old key it takes over, open; else None."""
        end = self.verifier.signs_until(self.mandate_digest)
        for neg in self._contracts.values():
            c = neg.contract
            if c is None or c.escrow != self.succeeds or end is None:
                continue
            needed = last_ruling_ms(c.proposal)
            if needed >= end:
                return MandateViolation(
                    f"this Mandate lets the successor sign until {utc_text(end)}, and the contract "
                    f"{c.accept.digest.hex()[:16]} it takes over may need a Ruling until {utc_text(needed)} "
                    "(ESC-020): hand it over under a Mandate reaching past that",
                    requirement="ESC-023",
                )
        return None

    def _restore_setup(self, setup: Sequence[bytes]) -> None:
        """Hold ``setup``'s statements in order (:meth:`_restore`). A statement refused only for its
        chain or nonce whose next evidence is a KeyRevocation it authorises (a binding the escrow showed,
        KEY-007) binds its key, as when it was taken; any other refusal is raised."""
        taken_over = {*self._predecessor, *self._handover}  # a successor's transcript opens with them
        verified = [verify_statement(data) for data in setup if data not in taken_over]
        for i, vs in enumerate(verified):
            try:
                self._restore(vs, vs.envelope)
            except KeyRevoked:
                # KEY-007 (a): refused KEY_REVOKED alone, it bound its key earlier than anything held (the
                # verifier bound it so, Verifier.accept_statement), as when the escrow took it
                if vs.issuer == self.did or not self.verifier.bound_by(vs):
                    raise
                self._keep_shown(vs)
                if vs.header.negotiation_id and self._transcript:  # unstamped: after what came before it
                    self._keep_after(vs, self._transcript[-1], placed=False)
                self._transcript.append(vs.envelope)
            except _AGAINST_OTHERS:
                following = next_evidence(verified, i, self.did)
                if vs.issuer == self.did or following is None:
                    raise
                if self.verifier.shows_binding(vs, following) is None:
                    raise
                self._keep_shown(vs, following)
                self._transcript.append(vs.envelope)

    def _restore(self, vs: VerifiedStatement, data: bytes) -> None:
        """Hold one statement of a restart, as it was taken: no rules applied."""
        if vs.issuer == self.did and vs.header.seq != self._ledger_size:
            raise ChainGap(
                f"restored ledger jumps to seq {vs.header.seq}, expected {self._ledger_size}",
                requirement="CHN-002",
            )
        self.verifier.accept_statement(vs)
        if self._archive is None or data in self._setup:
            self._transcript.append(data)
        self._take(vs)

    # -- queries ------------------------------------------------------------------

    def balance(self, party: str) -> tuple[int, int]:
        """``(available, locked)`` for ``party``, from the ledger alone."""
        return self._book.balance(party)

    def ledger(self, from_seq: int = 0, limit: int | None = None) -> list[bytes]:
        """The escrow's chain: envelopes of its own statements, in seq order, from ``from_seq``."""
        end = self._ledger_size if limit is None else from_seq + limit
        return [self._envelope_at(seq) for seq in range(max(from_seq, 0), min(end, self._ledger_size))]

    @property
    def ledger_size(self) -> int:
        """How many statements the ledger holds (its head seq + 1)."""
        return self._ledger_size

    def _entry(self, seq: int) -> VerifiedStatement:
        """The ledger entry at ``seq``, from memory or, forgotten, from the archive."""
        vs = self._ledger.get(seq)
        if vs is not None:
            return vs
        envelope = self._archive.at_seq(self.did, seq) if self._archive is not None and seq >= 0 else None
        if envelope is None:
            raise KeyError(seq)
        return verify_statement(envelope)

    def _entries(self, start: int, stop: int) -> list[VerifiedStatement]:
        """The ledger entries at ``start`` .. ``stop - 1`` that exist (as a slice of a list would be)."""
        return [self._entry(seq) for seq in range(max(start, 0), min(stop, self._ledger_size))]

    def _envelope_at(self, seq: int) -> bytes:
        vs = self._ledger.get(seq)
        if vs is not None:
            return vs.envelope
        return self._entry(seq).envelope

    def with_mandates(self, mandate: bytes, answer: list[bytes]) -> list[bytes]:
        """A Submit's answer (ESC-002): ``mandate``, ours, first; then, after a renewal (SPEC 4.7), every
        older Mandate of ours a statement of ``answer`` cites (a repeated Submit is answered with what we
        signed before it, under the Mandate then), oldest first; then, for a successor, the revocations
        of the key it succeeds (ESC-023); then ``answer``."""
        if len(self._mandate_envelopes) < 2:
            return [mandate, *self._handover_answer, *answer]
        cited = {decode_statement(decode_envelope(env).payload).header.mandate for env in answer}
        older = [
            env
            for env in self._mandate_envelopes
            if env != mandate and statement_digest(decode_envelope(env).payload) in cited
        ]
        return [mandate, *older, *self._handover_answer, *answer]

    def _envelope_of(self, digest: bytes) -> bytes:
        """The envelope of a statement held, in memory or, forgotten, in the archive, or of a binding
        shown (KeyError if none)."""
        vs = dict.get(self.verifier.statements, digest)
        if vs is not None:
            return vs.envelope
        shown = self._shown.get(digest)
        if shown is not None:
            return shown.binding
        envelope = self._archive.by_digest(digest) if self._archive is not None else None
        if envelope is None:
            raise KeyError(digest)
        return envelope

    def outlived_by(self, mandate_digest: bytes, earlier: Iterable[bytes]) -> MandateViolation | None:
        """ESC-021: the refusal to sign under the held Mandate ``mandate_digest`` -- as the escrow
        restarted under it would -- when it ends (Verifier.signs_until) sooner than one of the held
        Mandates ``earlier`` it ran under, and a contract it holds open has its last ruling time
        (last_ruling_ms) at or after that end; else None. ESC-020 reads the Mandate the escrow signs
        under when it takes an Accept; restarted under a shorter one, it could stamp no claim and sign
        no Ruling, Forfeit, Release or lapse of such a contract from that end on: both bonds locked for
        good (tests/test_attack23.py)."""
        end = self.verifier.signs_until(mandate_digest)
        before = max((self.verifier.signs_until(d) or 0 for d in earlier), default=0)
        if end is None or end >= before:
            return None
        for neg in self._contracts.values():
            contract = neg.contract
            if contract is None:
                continue
            needed = last_ruling_ms(contract.proposal)
            if needed >= end:
                return MandateViolation(
                    f"this Mandate lets the escrow sign until {utc_text(end)}, sooner than one it ran under "
                    f"({utc_text(before)}), and its open contract {contract.accept.digest.hex()[:16]} "
                    f"may need a Ruling until {utc_text(needed)} (ESC-020): run it under a Mandate "
                    "reaching past that, or under the one it ran under",
                    requirement="ESC-021",
                )
        return None

    @property
    def open_contracts(self) -> int:
        """Contracts naming this escrow that are not settled yet."""
        return len(self._contracts)

    def transcript_page(
        self, from_seq: int, limit: int, max_bytes: int | None = None, opening_from: int = 0
    ) -> tuple[list[bytes], int, int]:
        """The transcript of ledger entries ``from_seq`` .. at most ``from_seq + limit - 1``: each entry,
        each Stamp followed by the evidence it names (as received), from seq 0 after the transcript's
        opening -- what a successor took over (ESC-023), then our Mandates (every one our key was given,
        oldest first: entries signed before a renewal cite an older one) --, from its ``opening_from``-th.

        Entries are whole (a Stamp never leaves without its evidence); none is added, but the first of
        an empty page, that would take the page over ``max_bytes``, and the opening, which no bound holds
        (a predecessor's whole history), comes in parts of whole envelopes (ESC-006 (b)). Returns the
        envelopes, the next seq to ask for and, while the opening is not all read, the next
        ``opening_from`` (0 once it is).
        """
        out: list[bytes] = []
        if from_seq == 0:
            size = 0
            for n, env in enumerate(self._opening(opening_from)):
                if max_bytes is not None and out and size + len(env) > max_bytes:
                    return out, 0, opening_from + n
                out.append(env)
                size += len(env)
        size, seq = sum(map(len, out)), from_seq
        for vs in self._entries(from_seq, from_seq + max(limit, 0)):
            unit = self._unit_of(vs)
            grown = size + sum(map(len, unit))
            if max_bytes is not None and out and grown > max_bytes:
                if seq == 0:  # the opening's rest alone: entry 0 from an empty page
                    return out, 0, opening_from + len(out)
                break
            out += unit
            size, seq = grown, seq + 1
        return out, seq, 0

    def _opening(self, start: int) -> Iterator[bytes]:
        """The transcript's opening (ESC-006 (b)) from its ``start``-th envelope, read only as far as it is
        consumed: what a successor took over (ESC-023), the revocations of the old key, our Mandates, with
        the bindings kept after them (KEY-007 (a)). A binding is kept after what came last in our order, which
        is never a taken-over envelope but the last one, so those before it are read from ``start`` on --
        with an archive, from its rows there (consecutive: taken over in one batch), not from the first."""
        count = self._taken_over_count()
        straight = max(count - 1, 0)
        if start < straight:
            yield from self._taken_over_part(start, straight)
        tail = [*self._taken_over_part(straight, count), *self._handover, *self._mandate_envelopes]
        yield from self._with_unstamped(tail)[max(start - straight, 0) :]

    def _taken_over_count(self) -> int:
        """How many envelopes of the old key's transcript a successor took over (ESC-023); 0 for none."""
        rows = self._taken_over_rows
        if rows is None or self._archive is None:
            return len(self._predecessor)
        return rows[1] - rows[0] + 1

    def _taken_over_part(self, start: int, stop: int) -> Iterator[bytes]:
        """The taken-over transcript's envelopes ``start`` .. ``stop - 1``, from memory or, archived, from
        the archive's rows at those positions alone (as consumed)."""
        rows, archive = self._taken_over_rows, self._archive
        if rows is None or archive is None:
            yield from itertools.islice(self._predecessor, start, stop)
            return
        first = rows[0]
        for position, _, envelope in archive.statements(since_rowid=first + start - 1):
            if position >= first + stop:
                return
            yield envelope

    def _unit_of(self, entry: VerifiedStatement) -> list[bytes]:
        """The ledger ``entry``'s unit, which a page never parts (ESC-006): the entry, a Stamp's evidence
        (as received), the bindings kept unstamped after them (KEY-007 (a))."""
        unit = [entry.envelope]
        if entry.body == "stamp":
            unit += [self._envelope_of(d) for d in entry.statement.stamp.statements]
        return self._with_unstamped(unit)

    def transcript(self) -> list[bytes]:
        """Every envelope the escrow holds, in the order that replays it.

        Each Stamp comes before the evidence it names, the evidence before the
        decisions taken on it: :func:`~a2a_coop.protocol.escrow_audit.audit_ledger`
        re-checks every decision from this, and ``Escrow(..., setup=transcript())``
        restores the escrow after a restart. With an archive, what it holds: ``setup``, then the
        archive's statements (what the caller made durable there).
        """
        taken_over = self.taken_over  # a successor's (ESC-023 (c))
        if self._archive is None:
            return [*taken_over, *self._transcript]
        setup, before, rows = self._setup, self._shown_before, self._taken_over_rows
        after = self._shown_after
        out: list[bytes] = []
        for env in (*taken_over, *self._transcript):
            out.append(env)
            if after and env in after:  # one of a negotiation kept right after setup, or what was taken over
                self._place_after(env, out)
        for position, _, env in self._archive.statements():
            if env in setup or (rows is not None and rows[0] <= position <= rows[1]):
                continue
            shown = before.get(env) if before else None
            if shown is not None:  # a binding shown beside this revocation (KEY-007): not in the archive
                out.append(shown)
            out.append(env)
            if after and env in after:  # bindings refused KEY_REVOKED that came right after it (KEY-007 (a))
                self._place_after(env, out)
        return out

    def _place_after(self, env: bytes, out: list[bytes]) -> None:
        for binding in self._shown_after.get(env, ()):
            out.append(binding)
            self._place_after(binding, out)

    def _with_unstamped(self, envelopes: list[bytes]) -> list[bytes]:
        """``envelopes`` (a GetTranscript page's unit, ESC-006) with the bindings of a negotiation refused
        ``KEY_REVOKED`` (KEY-007 (a)) that came right after one of them, in place: no Stamp names them."""
        if not self._unstamped_after:
            return envelopes
        out: list[bytes] = []

        def place(env: bytes) -> None:
            out.append(env)
            for binding in self._unstamped_after.get(env, ()):
                place(binding)

        for env in envelopes:
            place(env)
        return out

    def _last_in_order(self) -> bytes:
        """The envelope of what comes last in the escrow's order now -- its transcript's last --, b"" for
        nothing (KEY-007 (a): a binding of a negotiation refused and kept now comes right after it)."""
        if self._archive is None:
            last = self._transcript[-1] if self._transcript else b""
        elif self._unsaved:
            return self._unsaved[-1].envelope
        else:
            last = self._last_recorded or (self._transcript[-1] if self._transcript else b"")
        if not last:
            taken_over = self.taken_over
            last = taken_over[-1] if taken_over else b""
        while self._archive is not None and (placed := self._shown_after.get(last)):
            last = placed[-1]
        return last

    def _room_after_head(self, size: int) -> bool:
        """ESC-006 (a): whether a binding of ``size`` bytes kept unstamped after what came last (KEY-007
        (a)) leaves the last ledger entry's unit within one page -- before any entry it joins the
        transcript's opening, read in parts (ESC-006 (b))."""
        if not self._ledger_size:
            return True
        (head,) = self._entries(self._ledger_size - 1, self._ledger_size)
        return sum(map(len, self._unit_of(head))) + size <= MAX_ENTRY_BYTES

    def _log_root(self) -> bytes | None:
        """CHN-007: the log_root our next statement, a Checkpoint, carries -- our chain's digests from seq 0
        -- or None when they are not all at hand."""
        view = self.verifier.chains.get(self.did)
        count, root = view.prefix_root() if view is not None else (0, b"")
        return root if count == self._ledger_size else None

    def _open_entry(self, root: bytes, now_ms: int, into: list[VerifiedStatement]) -> None:
        """ESC-006 (a), KEY-007 (a): sign a ledger entry of ours, added to ``into`` -- a Checkpoint naming
        nothing, ``root`` its log_root -- to keep a binding of a negotiation after, where the last entry's
        unit has no room for it: refused past the bound, it bound nothing, and a principal's revocation it
        alone authorises was refused (tests/test_ledger33_binding_past_the_bound.py)."""
        into.append(self._sign("checkpoint", identity_pb2.Checkpoint(log_root=root), b"", now_ms))

    def _keep_after(self, vs: VerifiedStatement, before: bytes, *, placed: bool = True) -> None:
        """Note that ``vs``, a binding of a negotiation refused ``KEY_REVOKED`` kept (KEY-007 (a)), came right
        after the envelope ``before``: a restart binds its key there again, the transcript places it there
        (``placed``: not in the setup transcript, which holds it in place)."""
        if not before:
            return  # nothing came before it: no revocation was held, so no binding kept (unreachable)
        digest = statement_digest(decode_envelope(before).payload)
        self._shown[vs.digest] = self._shown[vs.digest]._replace(after=digest)
        self._unstamped_after.setdefault(before, []).append(vs.envelope)
        if self._archive is not None and placed:
            self._shown_after.setdefault(before, []).append(vs.envelope)

    @property
    def at_rest(self) -> bool:
        """Whether nothing of a Submit or a restart is under way: nothing settled waits for the caller
        (:meth:`drain_settled`), no forgotten negotiation is back for a Submit (a snapshot is taken so)."""
        return not self._settled and not self._rewitnessed

    @property
    def unsaved(self) -> bool:
        """Whether the escrow took or signed anything :meth:`drain_unsaved` has not returned yet."""
        return bool(self._unsaved)

    def drain_unsaved(self) -> list[VerifiedStatement]:
        """Statements (evidence and our own) taken since the last call, in transcript order: what a
        journal must make durable before any answer leaves the process -- a binding shown among them
        (:meth:`shown_binding`) apart from the archive's statements."""
        out, self._unsaved = self._unsaved, []
        if out:
            self._last_recorded = out[-1].envelope
        return out

    # -- driving ------------------------------------------------------------------

    def deposit(
        self, party: str, amount: int, currency: str, reference: str, now_ms: int
    ) -> VerifiedStatement:
        """Credit ``amount`` received for ``party`` through the payment rail (BDY-014).

        The Deposit is addressed to ``party``. Contracts waiting for these funds
        get their locks at once.

        Raises:
            ValueError: ``currency`` is not this escrow's.
            CoopError: the statement would be refused (e.g. amount 0, a bad
                did:key, the escrow's mandate not held or not valid at ``now_ms``).
        """
        if currency != self.currency:
            raise ValueError(f"this escrow keeps {self.currency!r}, not {currency!r}")
        msg = commitment_pb2.Deposit(party=party, amount=amount, currency=currency, reference=reference)
        vs = self._sign("deposit", msg, b"", now_ms, audience=party)
        for nid in sorted(self._waiting_funds.pop(party, ())):
            self._evaluate(nid, now_ms)
        return vs

    def submit(
        self, envelopes: Sequence[bytes], now_ms: int, *, prechecked: Prechecked | None = None
    ) -> list[VerifiedStatement]:
        """Take evidence, stamp it, then do whatever the rules make due for the contracts it concerns.

        Envelopes are accepted in order, so dependencies come first (mandates,
        then the Offer before its Accept, ...). One the escrow already holds is
        skipped (RPL-002), so resubmitting evidence never acts twice; for a
        statement of a negotiation, the Stamp that first named it is answered
        again (WIT-005): a party shown a claim without its Stamp learns from the
        escrow when, and whether, it took effect. For an Accept already held, so is
        every statement the escrow signed about that contract (ESC-008): a responder
        whose initiator withholds the locks learns them by submitting its contract. For
        an Offer or Counter already held that was accepted, so are its Accept (after the
        Stamp that named it, with the Mandate it cites) and what was signed about its
        contract (ESC-012): an offerer the acceptor never sent its Accept learns of it.
        Evidence is verified as offline evidence, without freshness (TIM-005),
        except that a statement issued after ``now_ms`` plus skew is refused (TIM-003).

        Args:
            prechecked: :meth:`precheck` of ``envelopes``, when the caller ran it already -- outside
                its lock, as :class:`~a2a_coop.runtime.node.EscrowNode` does: not checked again.

        Returns:
            The earlier Stamps of evidence already held and what was signed about the
            contracts of held Accepts and accepted offers, in ledger order (a revealed
            Accept after its Stamp), then the statements the escrow signed now, in ledger
            order (the Stamp first).

        Raises:
            WrongParty: a statement of a negotiation no Offer or Counter of which (held, or in this
                Submit) names this escrow (ESC-011); nothing of the Submit is taken.
            CoopError: the first envelope refused. Envelopes before it stay
                accepted and stamped, and the rules run for them before the
                error is raised (what they signed is in :meth:`ledger`).
        """
        accepted: list[VerifiedStatement] = []
        earlier: set[int] = set()  # ledger seqs of the Stamps of evidence already held
        held_digests: list[bytes] = []  # evidence already held, for ESC-008 and ESC-012
        before = self._ledger_size
        marks = len(self._transcript), len(self._unsaved)
        verified, refused = self.precheck(envelopes) if prechecked is None else prechecked
        try:
            self._check_ours(verified)
        except WrongParty:
            for item in verified:  # a statement of another trade that forks against an Accept (ESC-015)
                if not isinstance(item, bytes) and item.digest not in self.verifier.statements:
                    self._note_fork(item)
            raise
        cut_off: set[bytes] = set()  # statements of this Submit a witnessed Accept superseded (NEG-018)
        counts = self.quota is not None or self.dealings is not None
        needed = self._needed(verified) if counts else frozenset()  # ESC-017
        packages = self._revocation_packages(verified) if self.quota is not None else {}
        taken_with: int | None = None  # a revocation taken beside the binding shown before it (KEY-007)
        tail = 0  # the bytes of a binding of a negotiation kept after this Submit's evidence (KEY-007 (a))
        try:
            for i, item in enumerate(verified):
                if i == taken_with:
                    continue
                if isinstance(item, bytes):
                    vs: VerifiedStatement | bytes = item
                elif item.digest in self.verifier.statements:
                    vs = item.digest  # an earlier envelope of this Submit carried it (RPL-002)
                elif (
                    (kept := self._shown.get(item.digest)) is not None
                    and not kept.revocation
                    and not item.header.negotiation_id  # one of a negotiation is refused again, as first
                ):
                    continue  # a binding refused KEY_REVOKED taken before (KEY-007 (a)): passed over
                elif (offer := self._superseded_by(item, cut_off)) is not None:
                    # Not taken (stamping it would make it an answer we took, ESC-014): answered as the
                    # accepted offer is, with its Accept and what we signed about the contract (ESC-012).
                    cut_off.add(item.digest)
                    held_digests.append(offer)
                    self._note_fork(item)
                    continue
                else:
                    counted = self._newcomer(item, needed, packages)
                    try:
                        vs = self._receive(item, now_ms, counted=counted)
                    except (IllegalTransition, StaleReference) as refusal:
                        self._show_answer_taken(item, refusal)
                        raise
                    except KeyRevoked as revoked:
                        if revoked.requirement != "KEY-004":
                            raise
                        if item.header.negotiation_id:
                            # KEY-007 (a): refused -- a live party's refusal, KEY-004 and KEY-009: it moves
                            # no negotiation here and is never stamped -- it may bind its key all the same:
                            # then kept, shown, not held, after what came last (raises ``revoked`` anyway)
                            last = accepted[-1].envelope if accepted else b""
                            if self.verifier.binds_past_revocation(item) is None:
                                raise
                            root = None
                            if last:  # the last Stamp of this Submit keeps it room (WIT-001 (a))
                                tail = len(item.envelope)
                            else:
                                last = self._last_in_order()
                                if not self._room_after_head(len(item.envelope)):
                                    # ESC-006 (a): past the last entry's page -- kept after an entry of ours
                                    root = self._log_root()
                                    if root is None:
                                        raise  # no log_root to sign (CHN-007): it binds nothing
                            counted = self._newcomer(item, needed, packages, kept=True)
                            opened: list[VerifiedStatement] = []
                            self._receive(
                                item,
                                now_ms,
                                counted=counted,
                                refused=revoked,
                                before_kept=None
                                if root is None
                                else partial(self._open_entry, root, now_ms, opened),
                            )
                            self._keep_after(item, opened[0].envelope if opened else last)
                            raise
                        # KEY-007 (a): refused only KEY_REVOKED, it may bind its key all the same -- then
                        # stamped and kept, shown, not held (raises ``revoked`` if it binds nothing)
                        accepted.append(self._receive(item, now_ms, counted=counted, refused=revoked))
                        continue
                    except _AGAINST_OTHERS as fork:
                        if not isinstance(fork, LogRootMismatch):
                            self._note_fork(item, fork)
                        following = verified[i + 1] if i + 1 < len(verified) else None
                        pair = self._show_binding(item, following, now_ms)
                        if pair is None:
                            self._show_fork_held(fork)
                            raise
                        if pair:  # stamped and kept beside the revocation taken after it
                            accepted += pair
                            taken_with = i + 1
                        continue  # not needed (the key bound to the revoker already): passed over
                    self._note_fork_by_nonce(vs)
                if isinstance(vs, bytes):
                    held = self.verifier.statements[vs]
                    self._note_fork_by_nonce(held)  # held before the Accept with its nonce came (ESC-015)
                    stamp = self._stamp_of(vs)
                    if stamp is not None and held.header.negotiation_id:  # not for mandates: no news
                        earlier.add(self.verifier.statements[stamp].header.seq)
                    held_digests.append(vs)
                else:
                    accepted.append(vs)
            if refused is not None:
                raise refused
        finally:
            self._stamp(accepted, now_ms, *marks, tail=tail)
            self._refund_displaced(now_ms)  # after the Stamp of the displacing Accept (ESC-016)
            # Also when an envelope was refused: nothing else would bring these contracts back (they
            # are neither dirty at the next Submit nor due on a timer), so what the accepted evidence
            # made due -- a release after the last receipt -- would wait for the contract's lapse.
            for nid in dict.fromkeys(vs.header.negotiation_id for vs in accepted if vs.header.negotiation_id):
                self._evaluate(nid, now_ms)
            if self._archive is not None:  # what checking this Submit brought back from the archive
                for item in verified:
                    if not isinstance(item, bytes) and item.header.negotiation_id:
                        self._note_if_settled(item.header.negotiation_id)
                self._drop_rewitnessed()  # a refusal reads nothing more; what follows brings back its own
        seqs, shown = self._contract_news(held_digests)
        seqs |= self._vouch([*held_digests, *(vs.digest for vs in accepted)], now_ms)
        prior = self._predecessor_news(held_digests) if self.succeeds else []
        self._drop_rewitnessed()  # after the reads that may bring a forgotten negotiation back
        # What this Submit made us sign (an Accept of a held Offer taken now, its locks) comes once, after.
        earlier.update(seq for seq in seqs if seq < before)
        return prior + self._in_ledger_order(earlier, shown) + self._entries(before, self._ledger_size)

    def _vouch(self, digests: Sequence[bytes], now_ms: int) -> set[int]:
        """ESC-013 (i): the ledger seqs of our Checkpoints naming each held Offer or Counter among
        ``digests`` that names us, whose bonding cutoff (expires_at_ms + 30 s, WIT-004) our clock is past,
        and of which we hold no Accept -- our dated word that none binds it here, nor ever will: signed
        now (one Checkpoint, up to 64 offers in its refs) for those we never named so, given again for
        the others. Nothing else in an answer that reveals nothing is signed after the cutoff, so whoever
        answered for us (a man in the middle, a proxy) could replay our public Mandate alone, and the
        offerer took its offer as free while an Accept we hold binds it
        (tests/test_attack30_mandate_alone_past_cutoff.py)."""
        self._forget_vouched(now_ms)
        held = self.verifier.statements
        seqs: set[int] = set()
        due: list[bytes] = []
        for digest in dict.fromkeys(digests):
            vs = held.get(digest)
            if vs is None or vs.body not in ("offer", "counter"):
                continue
            proposal = proposal_of(vs)
            if not self._is_us(proposal.terms.escrow) or claims_end_ms(proposal) < now_ms:
                continue  # not ours; or no claim under a contract of it can come: nothing to free
            if now_ms <= vs.header.expires_at_ms + BOND_GRACE_MS or self._accept_of_offer(vs):
                continue  # an Accept can still come (WIT-004), or one binds it (ESC-012 answers with it)
            vouched = self._vouched.get(digest)
            if vouched is None:
                due.append(digest)
            else:
                seqs.add(vouched[0])
        for i in range(0, len(due), MAX_REFS):
            root = self._log_root()
            if root is None:
                break  # our chain is not all in memory: no log_root to sign (CHN-007), and no word
            vs = self._sign(
                "checkpoint", identity_pb2.Checkpoint(log_root=root), b"", now_ms, refs=due[i : i + MAX_REFS]
            )
            seqs.add(vs.header.seq)
        return seqs

    def _note_vouched(self, checkpoint: VerifiedStatement) -> None:
        """ESC-013 (i): our ``checkpoint`` (signed now, or replayed at a restart) names each Offer or
        Counter of its refs as one we hold no Accept of; kept until the claims under it end."""
        held = self.verifier.statements
        seq = checkpoint.header.seq
        for named in checkpoint.header.refs:
            offer = None if named in self._vouched else held.get(named)  # forgotten: read back
            if offer is None or offer.body not in ("offer", "counter"):
                continue
            until = claims_end_ms(proposal_of(offer))
            self._vouched[named] = (seq, until)
            self._vouching[seq] = self._vouching.get(seq, 0) + 1
            heapq.heappush(self._vouched_until, (until, named))
        if seq not in self._vouching:
            self._unvouched(seq)

    def _forget_vouched(self, now_ms: int) -> None:
        """Forget our Checkpoints' offers whose claims ended before ``now_ms``: no Accept of one can take a
        bond any more (section 4.5), so its issuer holds nothing for it and asks for no word of ours --
        the horizon our other forgetting keeps (:meth:`forget_contract`); :meth:`_vouch` signs none
        past it. Else one entry per offer ever shown to us past its cutoff, for good; and a Checkpoint
        whose every offer is forgotten leaves memory (:meth:`_unvouched`)."""
        while self._vouched_until and self._vouched_until[0][0] < now_ms:
            until, digest = heapq.heappop(self._vouched_until)
            seq, noted = self._vouched.get(digest, (0, None))
            if noted != until:
                continue
            del self._vouched[digest]
            left = self._vouching.pop(seq) - 1
            if left:
                self._vouching[seq] = left
            else:
                self._unvouched(seq)

    def _unvouched(self, seq: int) -> None:
        """Our Checkpoint at ledger ``seq`` names no offer anyone may still ask about (ESC-013 (i)): with an
        archive, out of memory -- the archive keeps it in our ledger (ESC-006, read back by seq) -- so what
        memory, a snapshot and a restart hold grows with the offers asked about whose claims may come,
        not with every ask ever (about one Checkpoint an asking Submit)."""
        if self._archive is None or not self.forget:
            return
        checkpoint = self._ledger.pop(seq, None)
        if checkpoint is not None:
            self.verifier.forget_statement(checkpoint.digest)

    def _predecessor_news(self, digests: Iterable[bytes]) -> list[VerifiedStatement]:
        """ESC-008 for a successor (ESC-023): for each held Accept among ``digests`` (or the Accept of a
        held Offer or Counter among them) of a contract we took over, the old key's earliest Stamp of that
        Accept and its ledger statements about the contract, in its ledger order -- before anything of
        ours: a responder the initiator kept in the dark learns its locks from the successor too. Then, for
        each held statement of a negotiation among ``digests`` we never stamped, the old key's Stamp of it
        (WIT-006)."""
        held = self.verifier.statements
        out: list[VerifiedStatement] = []
        for digest in digests:
            vs = held.get(digest)
            if vs is None:
                continue
            accept = self._contract_accept(vs)
            about = self._predecessor_statements_about(accept.header.negotiation_id) if accept else []
            if accept is None or not about:
                continue
            stamp = self._predecessor_stamp(accept.digest)
            news = [stamp] if stamp is not None else []
            out += [x for x in (*news, *about) if x not in out and x.envelope not in self._handover_answer]
        # WIT-006 for what the old key stamped and we never did (a Delivery it took before the hand-over):
        # its Stamp, which the submitter takes as the escrow's (ESC-022); without it a served witness asked
        # again until the contract's last deadline + 30 s (tests/test_escrow_handover_served.py).
        for digest in digests:
            vs = held.get(digest)
            if vs is None or not vs.header.negotiation_id or self._stamp_of(digest) is not None:
                continue
            old = self._predecessor_stamp(digest)
            if old is not None and old not in out and old.envelope not in self._handover_answer:
                out.append(old)
        return out

    def _predecessor_stamp(self, digest: bytes) -> VerifiedStatement | None:
        """The old key's earliest Stamp naming ``digest`` (ESC-023: its ledger taken over), or None."""
        stamp_digest = self.verifier.witness.stamp_of(self.succeeds, digest)
        stamp = self.verifier.statements.get(stamp_digest) if stamp_digest is not None else None
        if stamp is None and self._forgotten(digest):
            stamp = self._archived_stamp(digest, self.succeeds)
        return stamp if stamp is not None and stamp.issuer == self.succeeds else None

    def _predecessor_statements_about(self, negotiation_id: bytes) -> list[VerifiedStatement]:
        """The ledger statements of the key we succeed about a contract we took over, in its ledger order
        (ESC-023), held or, the contract forgotten, from the archive; [] for none."""
        about = self._predecessor_about.get(negotiation_id)
        if about is not None:
            return about
        archive = self.verifier.archive
        if self._taken_over_rows is None or archive is None:
            return []
        return [
            verify_statement(env)
            for env in archive.negotiation(negotiation_id)
            if decode_statement(decode_envelope(env).payload).header.issuer == self.succeeds
        ]

    def answer_again(self, first: Sequence[bytes], submitted: Sequence[bytes], now_ms: int) -> list[bytes]:
        """The answer to a repeated Submit (ESC-007), signing nothing but ESC-013 (i)'s Checkpoint:
        ``first``, the digests of what we answered the first time, in that order, followed by the news
        since of the held statements among the ``submitted`` digests (:meth:`_contract_news`: what we
        signed about the contract of an Accept among them, ESC-008, or of an Offer or Counter among them
        that was accepted, with its Accept, ESC-012) and our Checkpoint naming an Offer or Counter among
        them past its bonding cutoff that no Accept of binds (:meth:`_vouch`: signed now, the first
        time), in ledger order.

        Raises:
            KeyError: a digest of ``first`` is not a statement we hold.
        """
        held = self.verifier.statements
        answered = [held[d] for d in first]
        seqs, shown = self._contract_news(d for d in submitted if d in held)
        seqs |= self._vouch([d for d in submitted if d in held], now_ms)
        seen = {vs.digest for vs in answered}
        since = [vs for vs in self._in_ledger_order(seqs, shown) if vs.digest not in seen]
        self._drop_rewitnessed()
        return [vs.envelope for vs in [*answered, *since]]

    def _contract_news(self, digests: Iterable[bytes]) -> tuple[set[int], dict[int, list[VerifiedStatement]]]:
        """What a Submit of these held statements is answered with besides their Stamps (WIT-006),
        signing nothing: for an Accept of a contract naming us, the ledger seqs of all we signed about
        that contract (ESC-008); for an Offer or Counter we hold an Accept of, the same, and -- unless
        the Accept is among them too -- that Accept after the Stamp that named it, preceded by the Mandate
        it cites (ESC-012): an offerer the acceptor never sent its Accept learns of its contract from us,
        and can verify it.

        Returns:
            The ledger seqs, and the evidence to place after the statement at each seq.
        """
        held = self.verifier.statements
        seqs: set[int] = set()
        shown: dict[int, list[VerifiedStatement]] = {}
        digests = list(digests)
        submitted = set(digests)
        for digest in digests:
            vs = held[digest]
            accept = self._contract_accept(vs)
            offer = held.get(accept.statement.accept.offer) if accept is not None else None
            if accept is None or offer is None or not self._is_us(proposal_of(offer).terms.escrow):
                # Not a contract naming us: another escrow's, which may have displaced ours (NEG-017,
                # NEG-021 (e)) -- what we signed in this negotiation is about ours, no news of that one.
                continue
            seqs.update(self._signed_about_contract(accept.header.negotiation_id))
            stamp = self._stamp_of(accept.digest)
            if accept.digest not in submitted and stamp is not None and stamp in held:
                at = held[stamp].header.seq
                seqs.add(at)
                mandate = held.get(accept.header.mandate)
                shown[at] = [*([mandate] if mandate is not None else []), accept]
            self._show_displacing(accept, submitted, seqs, shown)
        return seqs, shown

    def _show_displacing(
        self,
        accept: VerifiedStatement,
        submitted: set[bytes],
        seqs: set[int],
        shown: dict[int, list[VerifiedStatement]],
    ) -> None:
        """ESC-016: when another escrow's witnessed Accept displaced the contract ``accept`` formed, that
        Accept goes with the Refunds, after our Stamp of it: its witness's Mandate and Stamp, then the
        Mandate it cites and the Accept. A party whose bonds came back learns why, and under which
        contract it is bound now -- else it would go on performing one nobody can claim under."""
        held = self.verifier.statements
        neg = self.verifier.negotiations.by_id.get(accept.header.negotiation_id)
        current = neg.contract if neg is not None else None
        if current is None or self._is_us(current.escrow) or current.accept.digest in submitted:
            return
        if neg is None or neg.replaced is None or neg.replaced.accept.digest != accept.digest:
            return
        ours = self._stamp_of(current.accept.digest)
        theirs = self.verifier.witness.stamp_of(current.escrow, current.accept.digest)
        if ours is None or ours not in held or theirs is None or theirs not in held:
            return
        at = held[ours].header.seq
        seqs.add(at)
        evidence = [
            held.get(held[theirs].header.mandate),
            held[theirs],
            held.get(current.accept.header.mandate),
            current.accept,
        ]
        shown.setdefault(at, []).extend(vs for vs in evidence if vs is not None)

    def _in_ledger_order(
        self, seqs: Iterable[int], shown: Mapping[int, Sequence[VerifiedStatement]]
    ) -> list[VerifiedStatement]:
        """The ledger statements at ``seqs`` in order, each followed by the evidence ``shown`` after it."""
        return [vs for seq in sorted(seqs) for vs in (self._entry(seq), *shown.get(seq, ()))]

    def tick(self, now_ms: int) -> list[VerifiedStatement]:
        """Do whatever time alone makes due: rulings whose response window ended (CMT-002),
        lapses (CMT-006) and refunds (CMT-004), releases after a revoke.

        Returns:
            The statements the escrow signed, in ledger order.
        """
        before = self._ledger_size
        self._refund_displaced(now_ms)  # what a restart replayed a displacing Accept without (ESC-016)
        while self._timers and self._timers[0][0] <= now_ms:
            due, nid = heapq.heappop(self._timers)
            if self._due.get(nid) == due:
                del self._due[nid]
                self._evaluate(nid, now_ms)
            else:
                self._stale_timers = max(self._stale_timers - 1, 0)
        while self._linger and self._linger[0][0] < now_ms:  # no claim can come for it any more
            _, nid = heapq.heappop(self._linger)
            if self._linger_due.pop(nid, None) is not None:
                self._settled.append(nid)
        self._forget_vouched(now_ms)
        return self._entries(before, self._ledger_size)

    # -- evidence -----------------------------------------------------------------

    def precheck(self, envelopes: Sequence[bytes]) -> Prechecked:
        """Each envelope verified on its own (signature, encoding, header, body) up to the first that
        fails: the statement, or its digest if already held; and that failure, raised by :meth:`submit`
        once the envelopes before it are taken (ESC-001).

        Each envelope is parsed and hashed once. Nothing is read but whether a statement is held --
        a set that only grows, and a held digest means these payload bytes were verified before -- so a
        caller may run this outside its lock, while other Submits are taken, and hand the result to
        :meth:`submit` (``prechecked``)."""
        out: list[VerifiedStatement | bytes] = []
        held = self.verifier.statements
        for data in envelopes:
            try:
                parsed = parse_envelope(data)
                digest = parsed.digest
                # Held digest = these payload bytes were verified before: skip the signature check.
                out.append(digest if digest in held else verify_statement(data, parsed=parsed))
            except CoopError as err:
                return Prechecked(out, err)
        return Prechecked(out, None)

    def _check_ours(self, verified: Sequence[VerifiedStatement | bytes]) -> None:
        """ESC-011, for a whole Submit before any of it is taken: every statement of a negotiation
        belongs to one whose terms name this escrow, by an Offer or Counter held or in the Submit,
        earlier or later (a contract's escrow may first be named by a Counter). Keys cost nothing:
        without this, contracts between them would make our transcript, which every auditor
        downloads, their free storage."""
        self._check_taken_over(verified)
        named = {
            vs.header.negotiation_id
            for vs in verified
            if not isinstance(vs, bytes)
            and vs.body in ("offer", "counter")
            and self._is_us(proposal_of(vs).terms.escrow)
        }
        for vs in verified:
            if isinstance(vs, bytes):
                continue
            nid = vs.header.negotiation_id
            if nid and nid not in named and nid not in self._named and not self._named_in_archive(nid):
                raise WrongParty(
                    f"statement {vs.digest.hex()[:16]}: no Offer or Counter of its negotiation names this "
                    "escrow, which takes no evidence of it",
                    requirement="ESC-011",
                )

    def _check_taken_over(self, verified: Sequence[VerifiedStatement | bytes]) -> None:
        """ESC-023 (e): a successor takes no ledger statement of the key it succeeds, dated before the
        revocation's effective_ms, that it did not take over. It is the old key's (KEY-004: parties
        hold it), and the successor's copy of that ledger misses it -- an export cut short: stamped as
        evidence, the contract's state moved and its bonds stayed locked in the successor's book."""
        cut = self.handover_ms
        if cut is None:
            return
        for vs in verified:
            if (
                not isinstance(vs, bytes)
                and vs.issuer == self.succeeds
                and vs.body in LEDGER_BODIES
                and vs.issued_at_ms < cut
                and vs.digest not in self.verifier.statements
            ):
                raise ChainGap(
                    f"statement {vs.digest.hex()[:16]} (seq {vs.header.seq}) of {self.succeeds}, dated "
                    "before its revocation, is not in the ledger this successor took over: its export "
                    "was cut short; start the successor again from the old key's full transcript",
                    requirement="ESC-023",
                )

    def _superseded_by(self, vs: VerifiedStatement, cut_off: set[bytes]) -> bytes | None:
        """The accepted offer of the contract we witnessed that supersedes ``vs`` (NEG-018, ESC-014) --
        an answer to that offer we never took, or a statement following one (held, or ``cut_off``
        earlier in this Submit) -- or None."""
        nid = vs.header.negotiation_id
        neg = self.verifier.negotiations.find(nid) if nid else None
        c = neg.contract if neg is not None else None
        if neg is None or c is None or not self._is_us(c.escrow):
            return None
        return c.offer.digest if cited(vs) in cut_off or neg.supersedes(vs) else None

    def _note_fork(self, vs: VerifiedStatement, fork: CoopError | None = None) -> None:
        """ESC-015: if ``vs`` forks its issuer's chain against an Accept of a contract we bond (another
        statement at the Accept's seq, or one whose link with it breaks: ``fork``'s evidence, or the
        chain check run here for a statement we do not take), remember that Accept. Its issuer answered
        the offer one way at the escrow and another way to the offerer, whose verifier then refuses the
        Accept we reveal (CHN-004, CHN-003) and cannot perform. Likewise a statement reusing the Accept's
        nonce, which the offerer's verifier refuses the Accept for, or it for the Accept (RPL-001)."""
        reused = self._accept_with_nonce(vs.issuer, vs.header.nonce)
        if reused is not None and reused != vs.digest:
            self._forked(reused, vs.issuer)
        view = self.verifier.chains.get(vs.issuer) if fork is None else None
        if view is not None:
            try:
                view.check(vs)
            except (Equivocation, ChainBroken) as found:
                fork = found
            except CoopError:
                return  # another chain fault (a gap, times running back): no fork against an Accept
        if fork is None:
            return
        for envelope in fork.evidence or ():
            self._forked(statement_digest(decode_envelope(envelope).payload), vs.issuer)

    def _forked(self, digest: bytes, issuer: str) -> None:
        """Remember ``digest`` as forked against (ESC-015) if it is ``issuer``'s Accept of a contract we
        hold as formed by it."""
        held = self.verifier.statements.get(digest)
        if held is None or held.body != "accept" or held.issuer != issuer:
            return
        neg = self.verifier.negotiations.find(held.header.negotiation_id)  # forgotten: read back
        if neg is not None and neg.contract is not None and neg.contract.accept.digest == digest:
            self.forked_accepts.add(digest)

    def _note_fork_by_nonce(self, vs: VerifiedStatement) -> None:
        """ESC-015 for a statement we took that reuses the nonce of an Accept we bond (our replay
        memory of that Accept's nonce may have lapsed: RPL-001 keeps it only to its expiry)."""
        if not self._accept_nonces and self._archive is None:
            return
        reused = self._accept_with_nonce(vs.issuer, vs.header.nonce)
        if reused is not None and reused != vs.digest:
            self._forked(reused, vs.issuer)

    def _receive(
        self,
        vs: VerifiedStatement,
        now_ms: int,
        *,
        counted: list[str] | _Dealing | _Revoking | None = None,
        refused: KeyRevoked | None = None,
        before_kept: Callable[[], None] | None = None,
    ) -> VerifiedStatement:
        """Accept one verified evidence statement as its witness. ``refused``: ``vs``, of no negotiation,
        was refused so (KEY-004): taken as a binding shown, not held, if it binds its key earlier than
        anything held (KEY-007 (a), :meth:`_keep_shown`), counted as any statement; else ``refused`` is
        raised; ``before_kept``, called once it is counted, right before it is kept: what comes before it
        in our order (:meth:`_open_entry`). ``counted``: the keys it counts for
        under the newcomer quota (with the revocation it is of, which the revocations' reserve takes
        when the quota has no room), or the key in our dealings it counts for (ESC-017,
        :meth:`_newcomer`); None: not counted. A statement of a key whose revocation passed its checks
        and was refused over the quota is refused while that is pending (:meth:`_refuse_marked`); a
        KeyRevocation so refused, or a statement of its package, marks the key (:meth:`_mark_refused`).
        A statement of a contract naming us earns its issuer, in our dealings, credit (:meth:`_earn`)."""
        if vs.header.issued_at_ms > now_ms + self.verifier.skew_ms:
            raise IssuedInFuture(f"issued at {vs.header.issued_at_ms}, now {now_ms}", requirement="TIM-003")
        if vs.issuer == self.did:
            self.verifier.check(vs)  # EQUIVOCATION, with proof, for a used seq
            raise ChainGap(
                f"escrow statement at seq {vs.header.seq} is not in this escrow's ledger "
                f"(head {self._ledger_size - 1}); restore a saved ledger through setup",
                requirement="CHN-002",
            )
        try:
            if refused is not None:
                pass  # refused: it recognises no contract and moves none (KEY-007 (a) reads section 11 alone)
            elif vs.body == "accept":
                self._check_recognition(vs, now_ms)
                self._check_answer_taken(vs)
                self._check_claimable(vs, now_ms)
            elif vs.body in ARBITRATED_BODIES:
                self._check_arbitrable(vs, now_ms)
        except CoopError:
            self._own_defect_first(vs, now_ms)
            raise
        quota, dealings = self.quota, self.dealings
        reserved = False
        refusal: CoopError | None = self._refuse_marked(vs, counted, now_ms)
        if refusal is not None:
            pass
        elif vs.body in ("delivery", "receipt"):
            refusal = self._repeated(vs)  # CMT-013: the first of a party and item only
        elif isinstance(counted, _Dealing):
            funded = self._funded(counted.key)
            refusal = (
                dealings.refusal(counted.key, now_ms, credit_only=not funded)
                if dealings is not None
                else None
            )
            # A renewal by a principal without funds here, which signs no statement of a contract and so
            # earns no credit: its count had no room at all, and a renewal it sent alone was refused where
            # a stranger's Mandate was taken (tests/test_holes21.py). As a stranger's, then: from the
            # newcomer quota, which a stranger has anyway -- no room beyond it.
            if (
                refusal is not None
                and counted.renewal
                and not funded
                and quota is not None
                and quota.refusal([counted.key], now_ms, solicited=True) is None
            ):
                refusal, counted = None, [counted.key]
        elif isinstance(counted, _Revoking):
            refusal = quota.refusal(counted.keys, now_ms, solicited=True) if quota is not None else None
            if refusal is not None and quota is not None:  # the revocations' reserve (ESC-017)
                refusal = quota.reserve_refusal(counted.keys, now_ms)
                reserved = refusal is None
        else:
            refusal = (
                quota.refusal(counted, now_ms, solicited=True) if quota is not None and counted else None
            )
        if refusal is not None:  # its own defect first (ERR-002), if it has one: a fork keeps its code
            self._own_defect_first(vs, now_ms)
            if isinstance(refusal, RateLimited):
                self._mark_refused(vs, counted, now_ms)
            raise refusal
        if refused is None:
            self.verifier.accept_as_witness(vs, self.did, now_ms)
        elif self.verifier.binds_past_revocation(vs) is None:
            raise refused
        if isinstance(counted, _Dealing):
            if dealings is not None:
                dealings.charge(counted.key, now_ms)
        elif isinstance(counted, _Revoking):
            if quota is not None:
                quota.charge(counted.keys, now_ms, reserved=reserved)
        elif quota is not None and counted:
            quota.charge(counted, now_ms)
        if before_kept is not None:
            before_kept()
        if self._archive is None:
            self._transcript.append(vs.envelope)
        self._unsaved.append(vs)
        if refused is not None:  # in no chain, replay memory or negotiation: it binds its key, no more
            self._keep_shown(vs)
            if not vs.header.negotiation_id:  # stamped: after its Stamp, or what that Stamp names before it
                self._unanchored.append(vs.digest)
            return vs
        self._take(vs)
        if dealings is not None and vs.header.negotiation_id:
            self._earn(vs, dealings, now_ms)
        return vs

    def _repeated(self, vs: VerifiedStatement) -> CoopError | None:
        """CMT-013: the refusal of a Delivery or Receipt of a contract naming us that repeats one we hold
        -- a party's second Delivery of an item, a second Receipt of an item (:meth:`Contract.repeated`)
        -- else None. We took every Delivery of an open contract: one contract between fresh keys
        without bonds carried any number of one item, each stamped into the transcript every auditor
        downloads, each earning its issuer ESC-017 credit and the counterparty an uncounted Ack
        (tests/test_attack18.py). Only the party that signed the first can sign another: what we take
        of an honest party, which signs one, is never refused so."""
        neg = self.verifier.negotiations.find(vs.header.negotiation_id)  # forgotten: read back
        c = neg.contract if neg is not None else None
        if c is None or not self._is_us(c.escrow):
            return None
        return c.repeated(vs)

    # -- the newcomer quota (ESC-017) ----------------------------------------------

    def deals_with(self, key: str) -> bool:
        """ESC-017: whether ``key`` is in our dealings: ourselves, a key our ledger ever credited (a
        Deposit: funds, which keys cannot mint), a party of a contract naming us or a principal of one."""
        return key == self.did or key in self._dealings or self.ever_credited(key)

    def ever_credited(self, party: str) -> bool:
        """Whether our ledger ever moved funds of ``party`` (a Deposit first: keys cannot mint funds)."""
        book = self._book
        return party in book.available or party in book.locked

    def _needed(self, verified: Sequence[VerifiedStatement | bytes]) -> frozenset[bytes]:
        """ESC-017: the statements of no negotiation in a Submit that a statement of a negotiation in it,
        new to us, depends on -- the Mandates those cite; a Stamp naming an Accept by the escrow the offer
        it accepts names (the witness of a displacing Accept, NEG-017), an Ack naming an Accept by its
        audience (the offerer's witness of an Accept, WIT-004), the first of each key for each Accept
        (:meth:`_witness_of`); and the Mandates these cite -- taken uncounted with it. A Stamp or Ack by
        any other key, of another statement, or a second one, is no one's evidence."""
        held = self.verifier.statements
        new = [vs for vs in verified if not isinstance(vs, bytes) and vs.digest not in held]
        ours = {vs.digest: vs for vs in new if vs.header.negotiation_id}
        if not ours:
            return frozenset()
        cited = {vs.mandate_digest for vs in ours.values()}
        needed: set[bytes] = set()
        # One witness per key and Accept: what WIT-004 and NEG-017 read is the earliest, and any number
        # of Acks (or Stamps) one party signs of one statement rode uncounted beside a single Offer naming
        # us, each stamped (tests/test_attack16.py: thirty beside one Offer over a quota of four). And
        # only the witness the Accept has, read from the Accept and the offer it accepts -- never from
        # the Submit's other statements, which we have not checked yet: Withdraws of the negotiation
        # addressed to forty fresh keys, at the Submit's end (the first refused, ESC-001), made each a
        # "party" whose Ack of the Accept rode uncounted with its Mandate (tests/test_attack19.py).
        witnessed: set[tuple[str, bytes]] = set()
        for vs in new:
            if vs.body == "stamp":
                named = list(vs.statement.stamp.statements)
            elif vs.body == "ack":
                named = [vs.statement.ack.statement]
            else:
                continue
            for digest in named:
                dep = ours.get(digest)
                if dep is None or dep.body != "accept" or (vs.issuer, digest) in witnessed:
                    continue
                if vs.issuer != self._witness_of(dep, ours, stamp=vs.body == "stamp"):
                    continue
                witnessed.add((vs.issuer, digest))
                needed.add(vs.digest)
                cited.add(vs.mandate_digest)
                break
        needed.update(vs.digest for vs in new if vs.body == "mandate" and vs.digest in cited)
        needed.update(self._renewals_read(new, ours, cited))
        return frozenset(needed)

    def _renewals_read(
        self, new: Sequence[VerifiedStatement], ours: Mapping[bytes, VerifiedStatement], cited: set[bytes]
    ) -> set[bytes]:
        """ESC-017 for ESC-019: the Mandates new in a Submit, cited by nothing in it, that ESC-019 reads for
        an Accept new in it -- for each party, the renewals of the Mandate its statement cites (the same
        principal and agent, allowing the other party) that join its validity, at most
        :data:`RENEWALS_READ` a party -- taken uncounted with it: counted, a principal without funds here
        (room 0) had its renewal refused, and the honest long contract it covers with it."""
        fresh = {
            vs.digest: (vs.issuer, vs.statement.mandate)
            for vs in new
            if vs.body == "mandate" and vs.digest not in cited
        }
        if not fresh:
            return set()  # the usual Submit: every Mandate in it is cited
        v = self.verifier
        read: set[bytes] = set()
        for accept in ours.values():
            if accept.body != "accept":
                continue
            offer = ours.get(accept.statement.accept.offer) or v.statements.get(accept.statement.accept.offer)
            if offer is None or offer.body not in ("offer", "counter"):
                continue
            for vs, other in ((offer, accept.issuer), (accept, offer.issuer)):
                record = v.mandates.get(vs.mandate_digest)
                held = fresh.get(vs.mandate_digest) if record is None else (record.principal, record.mandate)
                if held is None:
                    continue
                principal, mandate = held
                end, n = mandate.valid_until_ms, 0
                for start, until, digest in sorted(
                    (m.valid_from_ms, m.valid_until_ms, d)
                    for d, (p, m) in fresh.items()
                    if p == principal
                    and m.agent == mandate.agent
                    and (not m.allowed_counterparties or other in m.allowed_counterparties)
                ):
                    if n < RENEWALS_READ and start <= end < until:
                        end, n = until, n + 1
                        read.add(digest)
        return read

    def _witness_of(
        self, accept: VerifiedStatement, ours: Mapping[bytes, VerifiedStatement], *, stamp: bool
    ) -> str:
        """ESC-017 (b): the key whose witness of ``accept`` (new in a Submit; ``ours``, the Submit's new
        statements of negotiations) rides uncounted beside it: for an Ack, the Accept's audience -- the
        offerer, whose Ack is the Accept's witness (WIT-002, WIT-004); for a Stamp, the escrow the offer
        it accepts names (NEG-017: the witness of a displacing Accept), that offer held or in the Submit.
        "" when there is none."""
        if not stamp:
            return accept.header.audience
        offer_digest = accept.statement.accept.offer
        offer = ours.get(offer_digest)
        if offer is None:
            neg = self.verifier.negotiations.by_id.get(accept.header.negotiation_id)
            offer = (
                next((o for o in neg.offers if o.digest == offer_digest), None) if neg is not None else None
            )
        if offer is None or offer.body not in ("offer", "counter"):
            return ""
        return proposal_of(offer).terms.escrow

    def _newcomer(
        self,
        vs: VerifiedStatement,
        needed: frozenset[bytes],
        packages: Mapping[bytes, _Package] | None = None,
        *,
        kept: bool = False,
    ) -> list[str] | _Dealing | _Revoking | None:
        """ESC-017: how a statement counts -- for the key it counts for (a KeyRevocation for the key it
        revokes, unless its issuer is in our dealings and that key is not; any other -- a Mandate too,
        which anyone can sign naming any key -- for its issuer): that key in a list under the newcomer
        quota, or, for a key in our dealings (a Mandate only for an agent in them too, a renewal: naming
        a key in our dealings as agent is no claim to them, anyone can sign that), a :class:`_Dealing`
        under its own count (:meth:`_dealing`); or None when it is not counted: no quota; a statement of
        a negotiation (ESC-011 admits it; what it depends on is ``needed``); what ends a key we hold a
        statement of -- each revoker's first KeyRevocation of it, or its KeyRotation while nothing we hold
        ended it -- which a flood must never keep out; or what a trade here needs (:meth:`_dealing`).
        A statement of a revocation's package in the Submit (``packages``, :meth:`_revocation_packages`)
        that the quota counts is a :class:`_Revoking`: the revocations' reserve takes it when the quota
        has no room. ``kept``: ``vs`` is a statement of a negotiation refused ``KEY_REVOKED`` that the escrow
        keeps as a binding (KEY-007 (a)): it moves no negotiation, so ESC-011 admits nothing of it, and it
        counts as a statement of no negotiation does -- a thief holding the key signs them at will, each
        binding a little earlier than the last, each kept into every auditor's download."""
        if (self.quota is None and self.dealings is None) or (vs.digest in needed and not kept):
            return None
        if vs.header.negotiation_id and not kept and not self._bargaining(vs):
            return None
        issuer, body = vs.issuer, vs.body
        v = self.verifier
        key = issuer
        if body == "key_revocation":
            revoked = vs.statement.key_revocation.key
            if revoked in v.chains and v.revocation_uncounted(vs):
                return None  # the first of its revoker: a thief's own, effective years ahead, kept the
                # principal's out once it spent the key's count (tests/test_attack17.py); or the
                # revoker's one correction, earlier (tests/test_attack19.py); a later one counts
            if issuer in v.revokers.get(revoked, ()):
                pass  # a correction by its revoker counts for the revoker: the key's thief spends the key's
                # count, and kept the principal's earlier revocation out (tests/test_attack18.py)
            elif self.deals_with(revoked) or not self.deals_with(issuer):
                key = revoked  # else a key in our dealings revoking one outside: counted for the issuer
        elif (
            body == "key_rotation" and issuer in v.chains and not (issuer in v.rotated or issuer in v.revoked)
        ):
            return None
        if self.deals_with(key) and (body != "mandate" or self.deals_with(vs.statement.mandate.agent)):
            # A Mandate by a key in our dealings for a key outside them counts as a stranger's: a party's
            # principal (a contract between fresh keys naming us as arbiter makes one) could mint them
            # without bound, each stamped (tests/test_attack16.py); its renewal of a party's Mandate counts
            # under its own count.
            return self._dealing(vs, key, renewal=body == "mandate")
        if self.quota is None:
            return None
        package = packages.get(vs.digest) if packages else None
        return [key] if package is None else _Revoking([key], package)

    def _revocation_packages(self, verified: Sequence[VerifiedStatement | bytes]) -> dict[bytes, _Package]:
        """ESC-017's revocations' reserve: for each KeyRevocation new in a Submit, the statements new there
        before it that its authority depends on (KEY-008) -- the revoker's Mandates naming the revoked key,
        and the key's first statement of no negotiation under one of them or under one we hold (its
        binding) -- by digest, each with its package (:class:`_Package`). A principal revoking a key we
        hold nothing of submits the three together (``a2a-coop revoke-key`` does, once the quota refused
        them apart)."""
        packages: dict[bytes, _Package] = {}
        if not any(not isinstance(vs, bytes) and vs.body == "key_revocation" for vs in verified):
            return packages  # the usual Submit: nothing more to read
        held = self.verifier.statements
        new = [vs for vs in verified if not isinstance(vs, bytes) and vs.digest not in held]
        for i, revocation in enumerate(new):
            if revocation.body != "key_revocation":
                continue
            key, revoker = revocation.statement.key_revocation.key, revocation.issuer
            before = new[:i]
            mandates = tuple(
                vs
                for vs in before
                if vs.body == "mandate" and vs.issuer == revoker and vs.statement.mandate.agent == key
            )
            granted = {vs.digest for vs in mandates}
            binding = None
            if revoker != key:
                for stated in before:
                    if stated.issuer != key or stated.header.negotiation_id or not stated.mandate_digest:
                        continue
                    record = self.verifier.mandates.get(stated.mandate_digest)
                    if stated.mandate_digest in granted or (
                        record is not None and record.principal == revoker and record.agent == key
                    ):
                        binding = stated
                        break
            package = _Package(revocation, mandates, binding)
            for member in (*mandates, binding, revocation):
                if member is not None:
                    packages.setdefault(member.digest, package)
        return packages

    def _refuse_marked(
        self, vs: VerifiedStatement, counted: list[str] | _Dealing | _Revoking | None, now_ms: int
    ) -> CoopError | None:
        """ESC-017: the refusal of ``vs`` while a revocation of its issuer's key that passed its checks here
        was refused over the quota (:meth:`_mark_refused`) -- a statement of a negotiation too: the thief
        holding a stolen key gets no contract of it witnessed here (KEY-009 times its revocation by our
        Stamps) while a flood keeps its principal's revocation out; or None. Never a KeyRevocation or a
        statement of a revocation's package (its binding), nor ours or one of a key in our dealings: a
        mark is set only by a revocation the key or its principal signed, but another key may look
        marked (the reference: :class:`a2a_coop.runtime.strangers.PendingRevocations`), and a flood must
        never keep out a key with funds or contracts here."""
        quota = self.quota
        if quota is None or vs.body == "key_revocation" or isinstance(counted, _Revoking):
            return None
        if self.deals_with(vs.issuer):
            return None
        return quota.marked(vs.issuer, now_ms)

    def _mark_refused(
        self, vs: VerifiedStatement, counted: list[str] | _Dealing | _Revoking | None, now_ms: int
    ) -> None:
        """``vs``, which passed its checks, was refused over the quota (ESC-017): a KeyRevocation marks its
        key; a statement of a revocation's package marks the key that revocation revokes if it passes its
        checks beside the package (KEY-008: its binding binding the key for the check alone), so that a
        flood that filled the reserve keeps the thief out (:meth:`_refuse_marked`). Only the key itself
        or a principal it is bound to signs a revocation that passes (KEY-004)."""
        quota = self.quota
        if quota is None:
            return
        revocation = counted.package.revocation if isinstance(counted, _Revoking) else vs
        if revocation.body != "key_revocation":
            return
        if revocation is not vs:
            assert isinstance(counted, _Revoking)
            if not self._passes_beside(counted.package, now_ms):
                return
        quota.mark(revocation.statement.key_revocation.key, now_ms)

    def _passes_beside(self, package: _Package, now_ms: int) -> bool:
        """Whether ``package``'s revocation passes its checks with its Mandates and binding held for the
        check alone (the binding passing its own beside the Mandates, KEY-007); changes nothing."""
        v = self.verifier
        revocation = package.revocation
        if revocation.header.issued_at_ms > now_ms + v.skew_ms:
            return False
        try:
            with v.provisionally(package.mandates):
                if package.binding is not None:
                    v.check_binding(package.binding)
                with v.provisionally((), binding=package.binding):
                    v.check(revocation)
        except CoopError:
            return False
        return True

    def _bargaining(self, vs: VerifiedStatement) -> bool:
        """ESC-017: whether ``vs``, a statement of a negotiation, counts as a statement of no negotiation
        does: a Counter of a negotiation of which we hold no contract and a Counter already (the
        negotiation's first Offer and first Counter are free), by a key our ledger never credited
        (:meth:`_funded`). ESC-011 admits every statement of a negotiation naming us, and two fresh keys
        (no funds, nobody's consent but theirs) countered each other without end, each Counter stamped
        into the transcript every auditor downloads -- 300 in an hour (tests/test_attack18.py). An honest
        line reaches us with its Accept (ESC-004), each Counter of it counted so (the first free); a
        funded party's bargaining is never counted."""
        if vs.body != "counter" or self._funded(vs.issuer):
            return False
        neg = self.verifier.negotiations.find(vs.header.negotiation_id)  # forgotten: read back
        if neg is None or neg.contract is not None:
            return False
        return any(event is Event.COUNTER for _, event, _, _ in neg.history)

    def _dealing(self, vs: VerifiedStatement, key: str, *, renewal: bool = False) -> _Dealing | None:
        """ESC-017 for a public statement counting for ``key``, a key in our dealings: counted for it
        (:attr:`dealings`), unless a trade here needs it -- a party's Ack of a statement of its contract
        that we hold, the first of its key (:meth:`_witnesses_a_trade`) -- or there is no such count.
        One contract, even one between fresh keys without funds, which needs nobody's consent, keeps its
        parties and their principals in our dealings for good, and their own public statements -- a
        Checkpoint at each next seq of a chain, a principal's renewal of a party's Mandate -- were
        stamped without bound (tests/test_attack16.py)."""
        if self.dealings is None or key == self.did or self._witnesses_a_trade(vs):
            return None
        return _Dealing(key, renewal)

    def _funded(self, key: str) -> bool:
        """ESC-017: whether ``key`` has the dealings' base count here -- ours, or one a Deposit of our
        ledger credited (funds that came in for it, which keys cannot mint). A key in our dealings by
        contracts alone has only the credit its contracts' statements earn: a contract without bonds
        between fresh keys naming us needs nobody's consent but theirs, and gave its four keys the base
        count each, every period, outside the quota's total (tests/test_attack18.py). Nor a Forfeit's
        beneficiary alone: funds forfeited are handed on, not minted, and one unit deposited, forfeited
        from key to key under revocable terms (a Revoke stamped, the revoker's bond forfeited at once),
        gave each key it passed through the base count for good (tests/test_attack19.py)."""
        return key == self.did or key in self._deposited

    def _witnesses_a_trade(self, vs: VerifiedStatement) -> bool:
        """Whether ``vs`` is a trade's witness that we take uncounted: an Ack by a party of a contract
        naming us of a statement of it we hold (a counterparty's Ack of a Delivery, sent to settle,
        WIT-002), the first of its key (we hold no Ack or Receipt of that statement by it: what WIT-002
        reads is the earliest, and any more are nobody's evidence). An Ack of an Offer that no contract
        followed is no trade's: anyone can submit Offers naming us. (A Stamp of another escrow is a
        trade's witness only beside the Accept it names, new in the same Submit: :meth:`_needed`; we
        never take that Accept without it, NEG-018.) Of the contract: its Accept, or a statement naming it
        -- not the bargaining before it (an Offer, a Counter), whose line two fresh keys make as long as
        they like: the Acks of each Counter rode uncounted once a contract followed (tests/test_attack18.py);
        what CMT-013 and CMT-005 leave of a contract is bounded by its items."""
        if vs.body != "ack":
            return False
        v = self.verifier
        digest = vs.statement.ack.statement
        stated = dict.get(v.statements, digest)
        if stated is None:
            return False
        neg = v.negotiations.by_id.get(stated.header.negotiation_id)
        c = neg.contract if neg is not None else None
        return (
            c is not None
            and self._is_us(c.escrow)
            and vs.issuer in c.parties
            and (digest == c.accept.digest or stated.body in _CONTRACT_BODIES)
            and v.witness.ack_time(vs.issuer, digest) is None
        )

    def _earn(self, vs: VerifiedStatement, dealings: DealingsQuota, now_ms: int) -> None:
        """ESC-017: ``vs``, a statement of a negotiation we just took, earns its issuer a unit of credit
        if it is a statement of a contract naming us (the Accept that forms it included) and its issuer
        is in our dealings: what a key's trades here need besides -- an Ack of a counterparty's
        Delivery, a renewed Mandate -- rides on it. An Offer no contract followed earns nothing: anyone
        can submit Offers naming us."""
        neg = self.verifier.negotiations.by_id.get(vs.header.negotiation_id)
        c = neg.contract if neg is not None else None
        if c is not None and self._is_us(c.escrow) and self.deals_with(vs.issuer):
            dealings.earn(vs.issuer, now_ms)

    def _show_binding(
        self, vs: VerifiedStatement, following: VerifiedStatement | bytes | None, now_ms: int
    ) -> list[VerifiedStatement] | None:
        """KEY-007, KEY-008 at an escrow (ESC-001): ``vs``, refused only for its chain or nonce (a thief of
        its key forked it), followed in the Submit by ``following``, a KeyRevocation of its key by the
        principal of the Mandate it cites. Key bound to that principal already: ``[]`` -- ``vs`` is not
        needed and is passed over, kept nowhere, and the revocation is taken (or answered) as any
        statement next. Otherwise the revocation is taken with the key bound to that principal for its
        check, and if it passes, ``vs`` binds the key -- shown, not held: it joins no chain, replay
        memory or negotiation -- and is stamped and recorded before it (:meth:`shown_binding`):
        ``[vs, revocation]``. None when ``vs`` is no such binding, or the revocation is refused: the
        Submit stops at ``vs``, with its own refusal (nothing of either is kept)."""
        if following is None:
            return None
        held = isinstance(following, bytes)
        revocation = self.verifier.statements[following] if isinstance(following, bytes) else following
        principal = self.verifier.shows_binding(vs, revocation)
        if principal is None:
            return None
        if principal in self.verifier.bound.get(vs.issuer, ()):
            return []
        if held:  # held, it passed beside another binding (kept: bindings are never dropped), or none
            return None
        marks = len(self._transcript), len(self._unsaved)
        with self.verifier.provisionally((), binding=vs):
            try:
                # Counted as any revocation (ESC-017): a thief's key, bound to principals it mints, one
                # shown binding each, is revoked uncounted once only.
                taken = self._receive(revocation, now_ms, counted=self._newcomer(revocation, frozenset()))
            except CoopError:
                return None
        self._note_fork_by_nonce(taken)
        self._keep_shown(vs, taken)
        if self._archive is None:
            self._transcript.insert(marks[0], vs.envelope)
        else:
            self._shown_before[taken.envelope] = vs.envelope
        self._unsaved.insert(marks[1], vs)
        return [vs, taken]

    def _keep_shown(self, vs: VerifiedStatement, revocation: VerifiedStatement | None = None) -> None:
        """Bind ``vs``'s key to the principal of the Mandate it cites (a binding shown, not held, beside
        ``revocation``, which that principal issued; None: refused ``KEY_REVOKED`` alone, KEY-007 (a)),
        and keep it, once per key and principal (one refused so, each: it binds earlier)."""
        principal = self.verifier.bind(vs)
        if vs.digest not in self._shown:
            mandate = self._envelope_of(vs.mandate_digest)
            beside = revocation.digest if revocation is not None else b""
            self._shown[vs.digest] = ShownBinding(vs.issuer, principal, vs.envelope, mandate, beside)

    def took(self, digest: bytes) -> bool:
        """Whether the escrow took the statement ``digest``: holds it, or showed it as a binding."""
        return digest in self._shown or digest in self.verifier.statements

    def shown_binding(self, digest: bytes) -> ShownBinding | None:
        """The binding shown, not held (KEY-007), with digest ``digest``, or None: among the statements
        :meth:`drain_unsaved` returns, one its caller records apart from the archive's statements -- in
        no chain, so not among those the archive's seq and nonce indexes serve -- and gives back to the
        restarted escrow (``shown``)."""
        return self._shown.get(digest)

    def _check_recognition(self, accept: VerifiedStatement, now_ms: int) -> None:
        """WIT-004 and the per-party limit, for an Accept of a contract that names this escrow."""
        neg = self.verifier.negotiations.find(accept.header.negotiation_id)  # forgotten: read back
        if neg is None or neg.contract is not None or neg.outstanding.digest != accept.statement.accept.offer:
            return  # the verifier reports what is wrong with it
        offer = neg.outstanding
        if not self._is_us(proposal_of(offer).terms.escrow):
            return
        acked = self.verifier.witness.ack_time(offer.issuer, accept.digest)
        witnessed = now_ms if acked is None else min(acked, now_ms)
        if witnessed > offer.header.expires_at_ms + CLOCK_TOLERANCE_MS:
            raise Unwitnessed(
                f"no witness of this Accept before the offer expired at {offer.header.expires_at_ms}: "
                f"received {witnessed - offer.header.expires_at_ms} ms after",
                requirement="WIT-004",
            )
        terms = proposal_of(offer).terms
        if terms.issuer_bond or terms.audience_bond:
            return  # bounded by the funds it locks, or lapsing at its bonding cutoff (CMT-008)
        for party in (offer.issuer, accept.issuer):
            if self._open_by_party[party] >= self.max_open_contracts:
                raise LimitExceeded(
                    f"{party:.40} already has {self.max_open_contracts} open contracts without a bond here",
                    requirement="CMT-008",
                )

    def _check_answer_taken(self, accept: VerifiedStatement) -> None:
        """ESC-014: no Accept of an offer naming us held off the line (NEG-021 (d)'s branch: a lower answer
        cut it off, or it was taken superseded) once we took another answer to that offer -- a Counter, a
        Reject or Withdraw of it, or another Accept. On the line the table refuses it (the offer closed);
        off it, the branch read it as an offer nobody answered, and a lower answer of the acceptor's key
        revealed after its Reject we stamped had us witness its Accept of the same offer: the acceptor
        chose after the fact which of its answers binds, the offerer's bond locked behind its back
        (tests/test_attack27_cut_off_counter.py). Only the Counters a branch holds are read, each time
        an Accept of one comes: a pass over the negotiation's superseded statements."""
        ref = accept.statement.accept.offer
        neg = self.verifier.negotiations.find(accept.header.negotiation_id)
        offer = self.verifier.statements.get(ref)
        if neg is None or neg.off_line is None or ref not in neg.off_line or offer is None:
            return
        if not self._is_us(proposal_of(offer).terms.escrow):
            return  # another escrow's offer: its order decides (NEG-017)
        held, witness = self.verifier.statements, self.verifier.witness
        keys = [key for key in (self.did, self.succeeds) if key]
        for digest in neg.superseded:
            other = held.get(digest)
            if (
                other is not None
                and other.digest != accept.digest
                and other.body in ("counter", "accept", "reject", "withdraw")
                and cited(other) == ref
                and any(witness.stamp_time(key, digest) is not None for key in keys)
            ):
                raise IllegalTransition(
                    f"an accept of an offer naming this escrow, which took its {other.body} first",
                    requirement="ESC-014",
                )

    def _show_answer_taken(self, vs: VerifiedStatement, refusal: IllegalTransition | StaleReference) -> None:
        """RPC-006 (b): ``vs``, an answer to an offer naming us (a Withdraw, Counter, Reject or Accept of it)
        refused because we took another answer to that offer first -- ILLEGAL_TRANSITION, or STALE_REFERENCE
        where that answer was a Counter still outstanding --, is refused with our Mandate, our Stamp
        that first named the answer we took (the first in our order) and that answer as evidence: signed
        statements closing the offer here, which its offerer checks before it takes the refusal as final
        (NEG-024 (a)). A refusal alone is unsigned, and one forged by whoever answered for us once kept an
        offerer's Withdraw from us for good (tests/test_attack29_forged_final_refusal.py). The refusal names
        that Stamp's ledger seq too (``stamp_seq``): a Stamp naming many statements takes the evidence past
        the trailer's budget (RPC-006), and the client then reads it with GetTranscript."""
        held = self.verifier.statements
        ref = cited(vs)
        offer = held.get(ref) if vs.body in OFFER_ANSWERS and not refusal.evidence else None
        neg = self.verifier.negotiations.find(vs.header.negotiation_id) if offer is not None else None
        mandate = held.get(self.mandate_digest)
        if (
            offer is None
            or neg is None
            or mandate is None
            or offer.body not in ("offer", "counter")
            or not self._is_us(proposal_of(offer).terms.escrow)
        ):
            return
        for digest in (*(step[3] for step in neg.history), *sorted(neg.superseded)):
            taken = held.get(digest)
            if taken is None or taken.body not in OFFER_ANSWERS or cited(taken) != ref or taken is vs:
                continue
            stamp_digest = self._stamp_of(digest)
            stamp = held.get(stamp_digest) if stamp_digest is not None else None
            if stamp is None and stamp_digest is not None:
                stamp = self._archived_stamp(digest)
            if stamp is not None:
                refusal.evidence = (mandate.envelope, stamp.envelope, taken.envelope)
                refusal.stamp_seq = stamp.header.seq  # past the trailer's budget, where to fetch it
                return

    def _show_fork_held(self, fork: CoopError) -> None:
        """RPC-006 (c): ``fork``, our refusal of a statement of a Submit for another statement of its issuer
        we hold at its seq (EQUIVOCATION: the held one, then the refused one), carries our Mandate and our
        Stamp that named the held one too: our signed word that we took it, and so take no statement at
        its seq -- nor anything answering one -- ever. An offerer reads from it that no Accept of its
        offers after the refused statement can bind it here (ESC-013 (i)); the pair alone is its signers'
        and anyone answering for us can replay it (tests/test_asked31_successor_word.py). The refusal names
        that Stamp's ledger seq too (``stamp_seq``), as (b)'s: the held half came in a Submit its issuer
        chose, and a Stamp naming many statements takes the evidence past the trailer's budget."""
        if not isinstance(fork, Equivocation) or len(fork.evidence) != 2:
            return
        held = self.verifier.statements
        digest = parse_envelope(fork.evidence[0]).digest
        stamp_digest = self._stamp_of(digest)
        stamp = held.get(stamp_digest) if stamp_digest is not None else None
        if stamp is None and stamp_digest is not None:
            stamp = self._archived_stamp(digest)
        mandate = held.get(self.mandate_digest)
        if stamp is not None and mandate is not None:
            fork.evidence = (*fork.evidence, mandate.envelope, stamp.envelope)
            fork.stamp_seq = stamp.header.seq  # past the trailer's budget, where to fetch it

    def _check_claimable(self, accept: VerifiedStatement, now_ms: int) -> None:
        """ESC-019: no contract naming this escrow is recognised (stamped, bonded) when a party could sign
        no claim of it through its claim window: its last deadline plus the claim window at or after the
        end of either party's Mandates' validity held here (a renewal submitted before the Accept counts,
        Verifier.claimable_until). A party without MND-019's guard otherwise agreed to a deadline its
        counterparty set past its Mandate, delivered, and could never claim (MND-003 refuses its claim):
        the counterparty kept the Delivery and its bond (tests/test_attack21.py). ESC-020: nor when the
        last Ruling it may have to sign of the contract falls at or after the end of its own Mandate's
        validity (Verifier.escrow_outlived): bonded, the claim went unstamped and both bonds stayed
        locked for good (tests/test_attack22.py)."""
        offer = self.verifier.statements.get(accept.statement.accept.offer)
        if (
            offer is None
            or offer.body not in ("offer", "counter")
            or not self._is_us(proposal_of(offer).terms.escrow)
        ):
            return  # the verifier reports what is wrong with it; another escrow's contract is its own
        # ESC-019, then ESC-020: nor one we could not sign about until its last Ruling (our own Mandate)
        refusal = self.verifier.contract_outlives(offer, accept) or self.verifier.escrow_outlived(
            offer, self.mandate_digest
        )
        if refusal is not None:
            raise refusal

    def _own_defect_first(self, vs: VerifiedStatement, now_ms: int) -> None:
        """ERR-002 (SPEC 11.4): before ``vs`` is refused under one of our own rules of section 9 -- WIT-004,
        CMT-008, ESC-014, ESC-019, ESC-020, NEG-010, ESC-015, CMT-005 (a), CMT-013 (a), the newcomer quota
        (ESC-017) -- raise the code of the first step of section 11 it fails (21-31, with the Stamp we
        would give it now), if any: a revoked key's late Accept is KEY_REVOKED, not UNWITNESSED, as at
        every other verifier, and a fork keeps its code."""
        self.verifier.witness.set_provisional(self.did, vs.digest, now_ms)
        try:
            self.verifier.check(vs)
        finally:
            self.verifier.witness.clear_provisional()

    def _check_arbitrable(self, vs: VerifiedStatement, now_ms: int) -> None:
        """The escrow takes (stamps) a claim or a revoke only while the contract can still be
        disputed or exited in its own view (CMT-005, NEG-010): once stamped, it binds every party.

        A claim is taken within its item's claim window, once per claimant and item, and after a
        Revoke only on an obligation the Revoke left owed (CMT-003): a Revoke discharges what falls
        due after its notice, never what was already due.
        """
        # The verifier's view, not the open set: a settled contract is no longer open here, and must
        # not be reopened by a claim or revoke that no ruling would ever end.
        neg = self.verifier.negotiations.find(vs.header.negotiation_id)  # forgotten: read back
        if neg is None or neg.contract is None or not self._is_us(neg.contract.escrow):
            return  # not one of ours
        c = neg.contract
        if vs.body_message.contract != c.id:
            return  # the verifier reports what is wrong with it
        if vs.body == "revoke":
            if neg.state not in _REVOCABLE:
                raise IllegalTransition(
                    f"the contract is {neg.state.value}: the escrow takes no revoke now",
                    requirement="NEG-010",
                )
            return
        if c.accept.digest in self.forked_accepts and vs.issuer == c.accept.issuer:
            raise IllegalTransition(
                "the claimant's chain forks at its Accept of this contract: it answered the offer "
                "otherwise to the offerer, who could not take the contract",
                requirement="ESC-015",
            )
        items = c.gives(c.other(vs.issuer))
        index = vs.statement.breach_claim.item_index
        if index >= len(items):
            return  # the verifier reports it
        deadline = items[index].deadline_ms
        until = revoke_until(c)
        if not (
            neg.state in _CLAIMABLE or (neg.state is State.REVOKED and until is not None and deadline < until)
        ):
            raise IllegalTransition(
                f"the contract is {neg.state.value}: the escrow takes no claim on this item now",
                requirement="CMT-005",
            )
        if not deadline < now_ms <= deadline + CLAIM_WINDOW_MS:
            raise IllegalTransition(
                "a claim is stamped after the item's deadline and within the claim window",
                requirement="CMT-005",
            )
        if (c.other(vs.issuer), index) in c.claims.values():
            raise IllegalTransition(
                "this item was already claimed: one claim per claimant and item", requirement="CMT-005"
            )

    def _stamp(
        self,
        accepted: Sequence[VerifiedStatement],
        now_ms: int,
        mark: int,
        unsaved_mark: int,
        *,
        tail: int = 0,
    ) -> None:
        """WIT-001: one Stamp per Submit naming the evidence just accepted (a new one at 256 digests or
        past :data:`MAX_STAMP_EVIDENCE_BYTES`, WIT-001 (a); the last leaving ``tail`` bytes of room for a
        binding kept unstamped after it, ESC-006 (a)), placed before that evidence in the transcript and
        the journal, so that a replay holds it first."""
        starts = stamp_starts([len(vs.envelope) for vs in accepted], tail)
        stamps = [
            self._sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in chunk]), b"", now_ms)
            for chunk in (accepted[a:b] for a, b in itertools.pairwise([*starts, len(accepted)]))
        ]
        n = len(stamps)
        if self._unanchored:
            self._anchor(accepted, dict(zip(starts, stamps, strict=True)))
        if not n:
            return
        # _sign appended each Stamp last: move each before the first statement of its chunk.
        keep_transcript = self._archive is None
        if keep_transcript:
            del self._transcript[-n:]
        del self._unsaved[-n:]
        for k in reversed(range(n)):
            if keep_transcript:
                self._transcript.insert(mark + starts[k], stamps[k].envelope)
            self._unsaved.insert(unsaved_mark + starts[k], stamps[k])

    def _anchor(self, accepted: Sequence[VerifiedStatement], stamps: dict[int, VerifiedStatement]) -> None:
        """KEY-007 (a): note, for each binding refused ``KEY_REVOKED`` taken in this Submit, what comes
        right before it in the escrow's order -- the Stamp naming it (``stamps``: by the index of the first
        statement each names), or the evidence that Stamp names before it (:attr:`ShownBinding.after`)."""
        for i, vs in enumerate(accepted):
            if vs.digest not in self._unanchored:
                continue
            before = stamps[i] if i in stamps else accepted[i - 1]
            self._shown[vs.digest] = self._shown[vs.digest]._replace(after=before.digest)
            if self._archive is not None:
                self._shown_after.setdefault(before.envelope, []).append(vs.envelope)
        self._unanchored.clear()

    # -- rules --------------------------------------------------------------------

    def _take(self, vs: VerifiedStatement) -> None:
        """Book a statement the verifier just accepted, then what another key of the escrow settled of the
        contract it names that our ledger takes as settled now (ESC-023 (f))."""
        self._book_one(vs)
        nid = vs.header.negotiation_id
        if nid and self.succeeds:  # only a successor's ledger has a sibling (ESC-022 (d))
            neg = self.verifier.negotiations.by_id.get(nid)
            if neg is not None:
                book_settled_elsewhere(neg, self._book, self.verifier.statements)

    def _book_one(self, vs: VerifiedStatement) -> None:
        if vs.issuer == self.did:
            self._ledger[self._ledger_size] = vs
            self._ledger_size += 1
            self._head = vs.digest
            self._book.apply(vs)
            if vs.body == "deposit":
                self._deposited.add(vs.statement.deposit.party)
            elif vs.body == "checkpoint":  # ESC-013 (i): our word that no Accept binds these offers
                self._note_vouched(vs)
            nid = vs.header.negotiation_id
            if nid:
                signed = self._signed_about.get(nid)
                if signed is None:  # what we signed about it before it was forgotten, if it was
                    signed = self._signed_about[nid] = self._signed_about_contract(nid)
                signed.append(vs.header.seq)
            return
        body = vs.body
        if body in ("accept", "counter", "reject") and vs.header.negotiation_id in self._contracts:
            self._drop_cut_back(vs.header.negotiation_id)
        if body in ("offer", "counter"):
            if self._is_us(proposal_of(vs).terms.escrow):
                self._named.add(vs.header.negotiation_id)
            return
        if body not in ("accept", "breach_claim"):
            return
        neg = self.verifier.negotiations.get(vs.header.negotiation_id)
        c = neg.contract
        displaced = c is None or not self._is_us(c.escrow)
        if neg.id in self._contracts and neg.replaced is not None and displaced:
            # An Accept another escrow witnessed took precedence over the contract we held (NEG-017). We
            # sign nothing about a contract naming another escrow (checking our own statement against it
            # raised WRONG_PARTY in every Submit naming it and in the tick, killing the ticker thread).
            self._drop_displaced(neg, neg.replaced)
        if c is not None and self._is_us(c.escrow) and c.accept.digest == vs.digest:
            self._accept_of[c.offer.digest] = vs.digest
            self._accept_nonces[(vs.issuer, vs.header.nonce)] = vs.digest
            self._dealings.update(c.parties)  # ESC-017: its parties and their principals
            for answered in (c.offer, c.accept):
                record = self.verifier.mandates.get(answered.mandate_digest)
                if record is not None:
                    self._dealings.add(record.principal)
        if c is None or not self._is_us(c.escrow) or neg.id in self._contracts:
            return
        # A contract opens here when it forms, and again when a claim on an obligation a Revoke left
        # owed arrives after its bonds were settled: that claim still needs its ruling (CMT-002).
        if vs.body == "accept" or vs.digest in c.pending_claims:
            self._contracts[neg.id] = neg
            if not c.bonds_required:  # CMT-008 counts only these
                for p in c.parties:
                    self._open_by_party[p] += 1

    def _drop_cut_back(self, nid: bytes) -> None:
        """NEG-021 at an escrow: an answer just taken, lower in its key's chain than the answer held to an
        offer naming no escrow earlier in the line, cut the line back past the contract we held (a party's
        Counter naming us, say, and our witnessed Accept of it). That contract counts as one a witnessed
        Accept displaced (NEG-021 (a)): ESC-016 -- what we locked for it is refunded at once, and nothing
        else is signed about it. Before, it stayed among our open contracts with no contract in its
        negotiation: the Submit failed an assertion half-way, and so did every start of a journal holding
        the answer (tests/test_attack25_escrow_cut_back.py)."""
        neg = self.verifier.negotiations.get(nid)
        c = neg.contract
        if c is not None and self._is_us(c.escrow):
            return  # ours still (the answer was higher, superseded; or the table's)
        for shadow in (neg.displaced or {}).values():
            old = shadow.contract
            if old is not None and self._accept_of.get(old.offer.digest) == old.accept.digest:
                self._drop_displaced(self._contracts[nid], old)
                return

    def _drop_displaced(self, neg: Negotiation, old: Contract) -> None:
        """The contract ``old`` we held in ``neg`` was displaced by a witnessed Accept of an offer naming
        another escrow (NEG-017): it leaves the open set, its timer and the funding index, as it counted,
        and what we locked for it is refunded once that Accept is stamped (:meth:`_refund_displaced`)."""
        del self._contracts[neg.id]
        self._displaced[old.id] = (neg.id, old)
        for p in old.parties:
            if not old.bonds_required:
                self._open_by_party[p] -= 1
            waiting = self._waiting_funds.get(p)
            if waiting is not None:
                waiting.discard(neg.id)
                if not waiting:
                    del self._waiting_funds[p]
        if self._due.pop(neg.id, None) is not None:  # its heap entry stays, skipped when popped
            self._stale_timers += 1

    def _refund_displaced(self, now_ms: int) -> None:
        """ESC-016: Refund, in full, each bond we locked and have not settled for a contract another
        escrow's witnessed Accept displaced. Nobody can perform that contract any more, and every
        verifier holding the Accept takes our statements about it as superseded (NEG-018): locked, the
        bonds would stay locked for good. Called after the Stamp of the Accept (a Submit stamps its
        evidence first), so the Refund follows it in our ledger and transcript. What is still locked is
        our Book's, replayed from our own chain: a Refund journaled is never signed again after a restart,
        and one the restart finds missing is signed then."""
        while self._displaced:
            cid, (nid, old) = next(iter(self._displaced.items()))
            for party in old.parties:
                bond = self._book.bonds.get((cid, party))
                if bond is not None and bond.settled_by is None:
                    msg = commitment_pb2.Refund(contract=cid, party=party, amount=bond.amount)
                    self._sign("refund", msg, nid, now_ms)
            del self._displaced[cid]

    def _evaluate(self, nid: bytes, now_ms: int) -> None:
        """Sign whatever the rules make due for one contract now, then schedule its next deadline."""
        neg = self._contracts.get(nid)
        if neg is None:
            return
        while (action := self._next_action(neg, now_ms)) is not None:
            self._sign(action[0], action[1], neg.id, now_ms)
        self._schedule(neg)

    def _schedule(self, neg: Negotiation) -> None:
        """After a contract's due actions are signed: drop it once settled, else remember what can make
        more due -- its next deadline (the timer heap) and its unfunded bonds (the funding index)."""
        nid, c = neg.id, neg.contract
        assert c is not None
        if _settled(neg):
            self._close(neg)
            return
        if neg.state is State.ACCEPTED:
            for p in c.parties:  # an unfunded bond: its party's next Deposit re-evaluates the contract
                if c.bond(p) and p not in c.locked:
                    self._waiting_funds.setdefault(p, set()).add(nid)
        due = self._next_due(neg)
        if due is not None and due < self._due.get(nid, due + 1):
            self._due[nid] = due
            heapq.heappush(self._timers, (due, nid))

    def _close(self, neg: Negotiation) -> None:
        """A contract settled (:func:`_settled`): it leaves the open set, its timer and the funding
        index (nothing there can make anything due for it: :meth:`_evaluate` skips what is not open)."""
        nid, c = neg.id, neg.contract
        assert c is not None
        del self._contracts[nid]
        for p in c.parties:
            if not c.bonds_required:
                self._open_by_party[p] -= 1
            waiting = self._waiting_funds.get(p)
            if waiting is not None:
                waiting.discard(nid)
                if not waiting:
                    del self._waiting_funds[p]
        if self._due.pop(nid, None) is not None:  # its heap entry stays, skipped when popped
            self._stale_timers += 1
            if self._stale_timers > len(self._due) + 1024:
                self._timers = [(due, n) for n, due in self._due.items()]
                heapq.heapify(self._timers)
                self._stale_timers = 0
        if self._archive is not None:
            self._settled.append(nid)

    def _note_if_settled(self, nid: bytes) -> None:
        """A negotiation a Submit named that may be over for good (:meth:`forget_contract` decides): a
        contract settled -- back in memory from the archive, checking a statement of it brought it back
        -- or a negotiation naming us with no contract (an offer shown under ESC-013, answered or not)."""
        neg = self.verifier.negotiations.by_id.get(nid)
        if neg is None or nid in self._contracts:
            return
        if neg.contract is None or not self._is_us(neg.contract.escrow) or _settled(neg):
            self._settled.append(nid)

    def drain_settled(self) -> list[bytes]:
        """The negotiation ids of contracts settled (or brought back from the archive, settled) since
        the last call, with an archive: the caller passes each to :meth:`forget_contract` once every
        statement it took and signed so far is durable in the archive (write-ahead)."""
        out, self._settled = self._settled, []
        return out

    def forget_contract(self, negotiation_id: bytes, now_ms: int) -> bool:
        """Let a contract that is over for good leave memory; the archive answers for it from then on.

        Over for good: its bonds settled and no claim pending (it left the open set), and, after a
        Revoke, its clock past the claim window of every obligation the Revoke left owed (until then
        a claim may still be taken and reopen it, CMT-003: it stays, and :meth:`tick` hands it back
        once that window closed). A negotiation naming us with no contract (offers shown under ESC-013)
        is over once no Accept of its offers can be recognised by our clock any more: past the latest
        offer's bonding cutoff plus the tolerance (WIT-004, ESC-010; until then it stays likewise).
        Its negotiation and statements leave the verifier (read back on
        demand: replay memory RPL-001/RPL-002, chain links, the negotiation rebuilt from its
        statements in the order they were taken), with our ledger entries about it and the Stamps
        that named nothing else still held, our stamps of its evidence in the witness index, our Book's
        record of its bonds, and what answers a Submit about it: the seqs signed about it (ESC-008),
        its Accept by offer and by nonce (ESC-012, ESC-015), that it names us (ESC-011). Each of them is
        read back from the archive when asked for (a Stamp is recorded right before what it names), and
        a negotiation read back has its stamps put back first, so it is rebuilt as it was taken.

        Only what the archive holds durably may be forgotten (the caller's write-ahead). Returns
        whether the contract was forgotten now.
        """
        neg = self.verifier.negotiations.by_id.get(negotiation_id)
        if self._archive is None or not self.forget or neg is None or negotiation_id in self._contracts:
            return False
        c = neg.contract
        old = self.succeeds
        if c is not None and c.escrow == old != "" and self._taken_over_rows is None:
            return False  # the old key's contract, its statements in no archive of ours yet (ESC-023)
        if any(nid == negotiation_id for nid, _ in self._displaced.values()):
            return False  # a contract displaced there awaits its Refunds (ESC-016)
        if c is None or not self._is_us(c.escrow):
            # An offer naming us shown under ESC-013, answered or not, or a line that went on to a contract
            # naming another escrow (a Counter naming it accepted, or an Accept it witnessed displacing
            # ours, once the bonds we locked for ours are refunded, ESC-016): nothing for us to do but
            # recognise no Accept of our offer after the answer we took (ESC-014) -- none is, once past
            # its cutoff. Kept for good, fresh keys showing us such lines would grow our memory for free.
            if negotiation_id not in self._named and not self._named_in_archive(negotiation_id):
                return False
            until: int | None = _recognisable_until(neg)
        elif not _settled(neg):
            return False
        else:
            until = _claims_close(neg)
        if until is not None and now_ms <= until:
            if until < self._linger_due.get(negotiation_id, until + 1):
                self._linger_due[negotiation_id] = until
                heapq.heappush(self._linger, (until, negotiation_id))
            return False
        self._linger_due.pop(negotiation_id, None)
        # Settled, or displaced -- by a witnessed Accept or a lower answer (NEG-017, NEG-021) -- and refunded
        # (ESC-016): its bonds move no balance any more, and what answers a Submit about it is read back.
        formed = [ended for ended in _formed_here(neg) if self._is_us(ended.escrow)]
        for ended in formed:
            for p in ended.parties:
                self._book.bonds.pop((ended.id, p), None)
        verifier = self.verifier
        held, witness = verifier.statements, verifier.witness
        dropped = verifier.forget_negotiation(negotiation_id)
        for seq in self._signed_about.pop(negotiation_id, ()):
            ours = self._ledger.pop(seq, None)
            if ours is not None and verifier.forget_statement(ours.digest) is not None:
                dropped.append(ours)
        # A contract of the key we succeed (ESC-023): that key's ledger statements about it, too.
        for theirs in self._predecessor_about.pop(negotiation_id, ()):
            if verifier.forget_statement(theirs.digest) is not None:
                dropped.append(theirs)
        stampers = (self.did, old) if old else (self.did,)
        evidence = [vs.digest for vs in dropped if vs.issuer not in stampers]
        stamps = {witness.stamp_of(by, digest) for by in stampers for digest in evidence}
        for digest in stamps:
            stamp = dict.get(held, digest) if digest is not None else None
            if stamp is None or stamp.issuer not in stampers or stamp.body != "stamp":
                continue
            if not any(dict.__contains__(held, d) for d in stamp.statement.stamp.statements):
                verifier.forget_statement(stamp.digest)
                if stamp.issuer == self.did:
                    self._ledger.pop(stamp.header.seq, None)
        # What answers a Submit about it is read back from the archive from now on (_stamp_of,
        # _signed_about_contract, _accept_of_offer, _accept_with_nonce, _named_in_archive,
        # _predecessor_news).
        for by in stampers:
            witness.forget_stamps(by, evidence)
        for by, digest in self._rewitnessed.pop(negotiation_id, ()):  # read back for it
            witness.forget_stamps(by, [digest])
        self._named.discard(negotiation_id)
        for ended in formed:
            accept = ended.accept
            if self._accept_of.get(ended.offer.digest) == accept.digest:
                del self._accept_of[ended.offer.digest]
            if self._accept_nonces.get((accept.issuer, accept.header.nonce)) == accept.digest:
                del self._accept_nonces[(accept.issuer, accept.header.nonce)]
        self.forgotten += 1
        return True

    # -- what a forgotten contract is answered with, read back from the archive -------

    def _forgotten(self, digest: bytes) -> bool:
        """Whether ``digest`` is a statement we took and forgot (the archive holds it, memory not)."""
        return (
            self._archive is not None
            and not dict.__contains__(self.verifier.statements, digest)
            and digest in self.verifier.statements
        )

    def _archived_stamp(self, digest: bytes, by: str = "") -> VerifiedStatement | None:
        """Our Stamp -- or ``by``'s, the key we succeed (ESC-023) -- that named the evidence ``digest``,
        from the archive (recorded right before it)."""
        by = by or self.did
        envelope = self._archive.recorded_before(by, digest) if self._archive is not None else None
        stamp = verify_statement(envelope) if envelope is not None else None
        if stamp is None or stamp.body != "stamp" or digest not in stamp.statement.stamp.statements:
            return None
        return stamp

    def _stamp_of(self, digest: bytes) -> bytes | None:
        """The digest of our Stamp that named ``digest`` (WIT-006), forgotten or not."""
        stamp = self.verifier.witness.stamp_of(self.did, digest)
        if stamp is not None or not self._forgotten(digest):
            return stamp
        found = self._archived_stamp(digest)
        return None if found is None else found.digest

    def _bring_back(self, negotiation_id: bytes) -> Negotiation | None:
        """A forgotten negotiation, rebuilt as the verifier does (``Verifier._restore``) once our
        stamps of its statements are back in the witness index: it is rebuilt as it was taken."""
        verifier = self.verifier
        archive = verifier.archive
        if archive is None:
            return None
        back: list[tuple[str, bytes]] = []
        # Ours, and the key's we succeed for a contract of its we took over (ESC-023).
        stampers = (self.did, self.succeeds) if self._taken_over_rows is not None else (self.did,)
        witness = verifier.witness
        for envelope in archive.negotiation(negotiation_id):
            vs = verify_statement(envelope)
            if vs.issuer in stampers:
                continue
            for by in stampers:
                if witness.recorded_stamp_time(by, vs.digest) is not None:
                    break  # one of us stamped it (each piece of evidence is stamped once, WIT-006)
                stamp = self._archived_stamp(vs.digest, by)
                if stamp is not None:
                    witness.record_stamp(by, vs.digest, stamp.header.issued_at_ms, stamp.digest)
                    back.append((by, vs.digest))
        if back:
            self._rewitnessed.setdefault(negotiation_id, []).extend(back)
        return verifier._restore(negotiation_id)

    def _drop_rewitnessed(self) -> None:
        """Drop the stamps :meth:`_bring_back` put back for negotiations that did not stay in memory."""
        if not self._rewitnessed:
            return
        by_id = self.verifier.negotiations.by_id
        for nid, stamped in self._rewitnessed.items():
            if nid not in by_id:
                for by, digest in stamped:
                    self.verifier.witness.forget_stamps(by, [digest])
        self._rewitnessed = {nid: d for nid, d in self._rewitnessed.items() if nid in by_id}

    def _signed_about_contract(self, negotiation_id: bytes) -> list[int]:
        """The ledger seqs of what we signed about a negotiation's contract (ESC-008), forgotten or not."""
        signed = self._signed_about.get(negotiation_id)
        if signed is not None:
            return signed
        archive = self.verifier.archive
        if self._archive is None or archive is None:
            return []
        headers = (
            decode_statement(decode_envelope(env).payload).header
            for env in archive.negotiation(negotiation_id)
        )
        return [header.seq for header in headers if header.issuer == self.did]  # verified when taken

    def _contract_accept(self, vs: VerifiedStatement) -> VerifiedStatement | None:
        """``vs`` if it is an Accept; else the held Accept of the Offer or Counter ``vs`` that formed a
        contract naming us (:meth:`_accept_of_offer`), or None. No digest, no lookup: the empty one,
        looked up, asked the journal (a query a Submit) for what no statement is named."""
        if vs.body == "accept":
            return vs
        accept = self._accept_of_offer(vs)
        return self.verifier.statements.get(accept) if accept else None

    def _accept_of_offer(self, offer: VerifiedStatement) -> bytes:
        """The digest of the Accept of the held Offer or Counter ``offer`` that formed a contract naming
        us (ESC-012), forgotten or not; b"" if none."""
        accept = self._accept_of.get(offer.digest)
        if accept is not None:
            return accept
        if offer.body not in ("offer", "counter") or not self._forgotten(offer.digest):
            return b""
        neg = self.verifier.negotiations.find(offer.header.negotiation_id)
        for c in _formed_here(neg) if neg is not None else ():  # the latest first, as _accept_of kept it
            if self._is_us(c.escrow) and c.offer.digest == offer.digest:
                return c.accept.digest
        return b""

    def _accept_with_nonce(self, issuer: str, nonce: bytes) -> bytes | None:
        """The digest of ``issuer``'s Accept of a contract we bond carrying ``nonce`` (ESC-015),
        forgotten or not; None if none."""
        accept = self._accept_nonces.get((issuer, nonce))
        archive = self.verifier.archive
        if accept is not None or self._archive is None or archive is None:
            return accept
        digest = self.verifier.replay.archived(archive, issuer, nonce)  # past its own revocations (KEY-013)
        if digest is None or not self._forgotten(digest):
            return None
        vs = self.verifier.statements.get(digest)
        if vs is None or vs.body != "accept":
            return None
        neg = self.verifier.negotiations.find(vs.header.negotiation_id)
        c = neg.contract if neg is not None else None
        return digest if c is not None and self._is_us(c.escrow) and c.accept.digest == digest else None

    def _named_in_archive(self, negotiation_id: bytes) -> bool:
        """ESC-011 for a forgotten negotiation: whether an Offer or Counter of it we took names us."""
        archive = self.verifier.archive
        if self._archive is None or archive is None:
            return False
        for envelope in archive.negotiation(negotiation_id):
            vs = verify_statement(envelope)
            if vs.body in ("offer", "counter") and self._is_us(proposal_of(vs).terms.escrow):
                return True
        return False

    def _next_action(self, neg: Negotiation, now_ms: int) -> tuple[str, Any] | None:
        return due_action(
            neg, now_ms, self.verifier, self._book.available, self.currency, bonds=self._book.bonds
        )

    def _next_due(self, neg: Negotiation) -> int | None:
        """The next time at which time alone can make something due for this contract."""
        c = neg.contract
        assert c is not None
        times = [c.ruling_due_ms(d) for d in c.pending_claims]
        if neg.state in (State.ACCEPTED, State.BONDED, State.PERFORMING):
            times.append(c.last_deadline_ms + CLAIM_WINDOW_MS + 1)
        if neg.state is State.ACCEPTED and c.bonds_required:  # not bonded yet: lapses past its cutoff
            times.append(c.bond_cutoff_ms + 1)
        if neg.state is State.REVOKED and c.revokes:
            times += [due for _, due in revoke_releases(c)]
        return min(times) if times else None

    # -- signing ------------------------------------------------------------------

    def _sign(
        self,
        body: str,
        message: Any,
        negotiation_id: bytes,
        now_ms: int,
        *,
        audience: str = "",
        refs: Sequence[bytes] = (),
    ) -> VerifiedStatement:
        """Check the statement unsigned, in context, then sign it, record it and book it.

        Statements about a contract are public (empty audience) so that both
        parties' verifiers, each acting for its own key (STM-005), accept them:
        a party needs the other's BondLock to know the contract is BONDED.
        """
        cand = self.signer.candidate(
            body,
            message,
            audience=audience,
            negotiation_id=negotiation_id,
            mandate=self.mandate_digest,
            issued_at_ms=now_ms,
            refs=refs,
        )
        seq, prev = self._ledger_size, self._head
        if (cand.issuer, cand.header.seq, cand.header.prev) != (self.did, seq, prev):
            raise RuntimeError(
                f"the signer's chain is not this escrow's ledger (its next seq {cand.header.seq}, "
                f"ledger expects {seq}): the key must sign for nothing but this escrow"
            )
        # The very bytes to be signed, nonce and lifetime included, checked in context before the
        # signature (refused: nothing signed, the chain not advanced); the signature adds nothing to
        # check, so the signed statement is recorded as checked, as a peer's own are (MND-011).
        self.verifier.check(cand)
        vs = self.signer.sign_candidate(cand)
        self.verifier.record(vs)
        if self._archive is None:
            self._transcript.append(vs.envelope)
        self._unsaved.append(vs)
        self._take(vs)
        return vs


# -- the rules, as pure functions (the audit runs the same ones) --------------------------


def _compact(*owners: object) -> None:
    """Give each dict and set held by ``owners`` and the protocol's objects they hold (one level down) a
    table sized for what it holds now: Python's never shrink when entries are deleted."""
    seen: set[int] = set()
    for owner in owners:
        for value in [*vars(owner).values(), *(v for o in vars(owner).values() for v in _attrs(o))]:
            if id(value) in seen:
                continue
            seen.add(id(value))
            if type(value) is set:
                kept = set(value)
                value.clear()
                value.update(kept)
            elif type(value) is dict or type(value) is HeldStatements:
                items = dict(value)
                dict.clear(value)
                dict.update(value, items)


def _attrs(value: object) -> Iterable[object]:
    """The attributes of ``value`` when it is an object of the protocol's (not an archive's or a signer's,
    which other threads may read), else none."""
    if not type(value).__module__.startswith("a2a_coop.protocol.") or not hasattr(value, "__dict__"):
        return ()
    return vars(value).values()


def stamp_starts(sizes: Sequence[int], tail: int = 0) -> list[int]:
    """WIT-001 and (a): where each Stamp's statements start among evidence of these envelope ``sizes``, in
    order -- a new Stamp at :data:`MAX_STAMP_DIGESTS` statements, or where the next would take its
    envelopes past :data:`MAX_STAMP_EVIDENCE_BYTES` (the evidence's size is its sender's choice: 256
    envelopes of 64 KiB made one entry of 16 MiB, which no transcript read could carry). The last Stamp's
    evidence leaves ``tail`` bytes of that room: a binding of a negotiation the Submit ended on is kept
    unstamped after it, in its entry (KEY-007 (a), ESC-006 (a))."""
    starts: list[int] = []
    count = size = 0
    for i, n in enumerate(sizes):
        if not starts or count == MAX_STAMP_DIGESTS or size + n > MAX_STAMP_EVIDENCE_BYTES:
            starts.append(i)
            count = size = 0
        count += 1
        size += n
    if starts and size + tail > MAX_STAMP_EVIDENCE_BYTES:  # a Stamp more: the last ones, with the tail
        last = starts[-1]
        while size + tail > MAX_STAMP_EVIDENCE_BYTES and last < len(sizes) - 1:
            size -= sizes[last]
            last += 1
        if last > starts[-1]:
            starts.append(last)
    return starts


def _rows(archive: EscrowArchive, rows: tuple[int, int]) -> Iterator[bytes]:
    """The envelopes of ``archive``'s statements at the positions ``rows`` (first, last), in order."""
    first, last = rows
    for position, _, envelope in archive.statements(since_rowid=first - 1):
        if position > last:
            return
        yield envelope


def _succeeds(setup: Sequence[bytes], mandate_digest: bytes) -> str:
    """The key the escrow's Mandate (``mandate_digest``, among ``setup``) names in ``succeeds``, or ""."""
    for data in setup:
        vs = verify_statement(data)
        if vs.digest == mandate_digest and vs.body == "mandate":
            return str(vs.statement.mandate.succeeds)
    return ""


def next_evidence(statements: Sequence[VerifiedStatement], i: int, escrow: str) -> VerifiedStatement | None:
    """The statement after ``statements[i]`` in a transcript that is not a Stamp by ``escrow`` (a Submit's
    evidence runs on past the Stamp of its next 256 digests), or None."""
    for j in range(i + 1, len(statements)):
        vs = statements[j]
        if vs.issuer != escrow or vs.body != "stamp":
            return vs
    return None


def _settled(neg: Negotiation) -> bool:
    """Whether nothing is left for the escrow to do about a contract: it ended, each locked bond was
    settled, and no claim waits for its ruling."""
    c = neg.contract
    assert c is not None
    return neg.state in TERMINAL_STATES and not open_bonds_of(c) and not c.pending_claims


def _formed_here(neg: Negotiation) -> list[Contract]:
    """The contracts that were ``neg``'s contract, the latest first: its contract, then those a witnessed
    Accept or a lower answer displaced (NEG-017, NEG-021), each kept with its own moves from the Accept
    that formed it (:meth:`Negotiation._keep_displaced`) -- not one formed on a cut-off line, whose Accept
    was taken superseded and formed nothing here."""
    shadows = reversed(list((neg.displaced or {}).values()))
    displaced = [
        s.contract
        for s in shadows
        if s.contract is not None and s.history[:1] and s.history[0][3] == s.contract.accept.digest
    ]
    return [neg.contract, *displaced] if neg.contract is not None else displaced


def _recognisable_until(neg: Negotiation) -> int:
    """Until when an Accept of an offer in a negotiation with no contract may still be recognised by
    our own clock (WIT-004: witnessed by the offer's expiry plus the tolerance) and bonded (ESC-010:
    the bonding cutoff): the latest offer's cutoff plus the tolerance. An Accept an offerer's Ack
    witnessed in time is still recognised later; it is read back then."""
    return max(o.header.expires_at_ms for o in neg.offers) + BOND_GRACE_MS + CLOCK_TOLERANCE_MS


def _claims_close(neg: Negotiation) -> int | None:
    """Until when a claim may still be taken under a settled contract (CMT-005): after a Revoke, the
    end of the claim window of the last obligation it left owed; otherwise (FULFILLED, BREACHED,
    EXPIRED: no claim is taken in those states) None."""
    c = neg.contract
    assert c is not None
    if neg.state is not State.REVOKED:
        return None
    until = revoke_until(c)
    if until is None:
        return None
    owed = [item.deadline_ms for p in c.parties for item in c.gives(p) if item.deadline_ms < until]
    return max(owed) + CLAIM_WINDOW_MS if owed else None


def due_action(
    neg: Negotiation,
    now_ms: int,
    verifier: Verifier,
    available: Mapping[str, int],
    currency: str,
    *,
    bonds: Mapping[tuple[bytes, str], Bond] | None = None,
) -> tuple[str, Any] | None:
    """The one statement the rules of section 9.2 make due next for a contract at ``now_ms``, if any.

    Args:
        neg: the contract's negotiation, as the escrow's verifier holds it.
        now_ms: the escrow's clock.
        verifier: the escrow's verifier (its witness index and statements).
        available: each party's available balance.
        currency: the escrow's currency; contracts in another get no locks.
        bonds: the escrow's own ledger's bonds (its Book's): a bond it holds locked that another key of
            the same escrow -- a sibling successor, ESC-022 (d) -- released or refunded is still forfeited
            on an upheld claim (CMT-002; the Forfeit prevails, NEG-012).
    """
    c = neg.contract
    assert c is not None
    state = neg.state
    for claim, (accused, item) in c.pending_claims.items():  # CMT-002
        if now_ms >= c.ruling_due_ms(claim):
            return "ruling", ruling_for(c, claim, accused, item, verifier)
    # NEG-012, until the bonding cutoff (ESC-010): funds that arrive later lock nothing.
    if state is State.ACCEPTED and c.proposal.terms.currency == currency and now_ms <= c.bond_cutoff_ms:
        for p in c.parties:
            bond = c.bond(p)
            if bond and p not in c.locked and available.get(p, 0) >= bond:
                return "bond_lock", commitment_pb2.BondLock(contract=c.id, party=p, amount=bond)
    if state in (State.ACCEPTED, State.BONDED, State.PERFORMING):
        # CMT-006; and a contract that was not bonded by its cutoff can never be (ESC-010).
        ended = now_ms > c.last_deadline_ms + CLAIM_WINDOW_MS or c.unbonded_at_cutoff(now_ms)
        if ended and not c.pending_claims:
            return "ruling", commitment_pb2.Ruling(contract=c.id, decision=_LAPSE)
        return None
    open_bonds = open_bonds_of(c)
    if state is State.BREACHED:
        return _after_breach(c, open_bonds) or _forfeit_held(c, bonds)
    if state is State.REVOKED:
        return _after_revoke(c, open_bonds, now_ms) or _forfeit_held(c, bonds, revoked=True)
    if not open_bonds:
        return None
    first = open_bonds[0]
    if state is State.FULFILLED:  # CMT-001
        return "release", commitment_pb2.Release(contract=c.id, party=first, amount=c.locked[first])
    if state is State.EXPIRED:  # CMT-004
        return "refund", commitment_pb2.Refund(contract=c.id, party=first, amount=c.locked[first])
    return None


def _forfeit_held(
    c: Contract, bonds: Mapping[tuple[bytes, str], Bond] | None, *, revoked: bool = False
) -> tuple[str, Any] | None:
    """CMT-002, CMT-003, ESC-022 (d): a Forfeit of a bond our own ledger holds locked, with a claim upheld
    against it -- or, ``revoked`` (REVOKED), its owner's effective Revoke under forfeit_bond terms --, that
    the view holds settled by another key of the escrow's Release or Refund (a sibling successor that never
    held the claim or the Revoke lapsed the contract and refunded it): the Forfeit prevails (NEG-012), and
    without it the accused (or the revoker) keeps in our ledger the bond the other party won."""
    if bonds is None:
        return None
    state = State.REVOKED if revoked else State.BREACHED
    for p in c.parties:
        bond = bonds.get((c.id, p))
        if bond is None or bond.settled_by is not None or p not in c.settled or p in c.forfeited:
            continue
        cause = _forfeit_cause(c, state, p)
        if cause is not None:
            return "forfeit", commitment_pb2.Forfeit(
                contract=c.id, party=p, amount=bond.amount, beneficiary=c.other(p), cause=cause
            )
    return None


_SETTLING: Final = frozenset({State.FULFILLED, State.BREACHED, State.REVOKED, State.EXPIRED})
_SETTLEMENT_BODIES: Final = frozenset({"release", "forfeit", "refund"})
_SETTLEMENT_EVENTS: Final = frozenset({Event.RELEASE, Event.FORFEIT, Event.REFUND})


def book_settled_elsewhere(neg: Negotiation, book: Book, held: Mapping[bytes, VerifiedStatement]) -> None:
    """ESC-023 (f): each bond of ``neg``'s contract ``book`` holds locked that the view holds settled by
    another key of the escrow (a sibling successor, ESC-022 (d): our own settlement would be booked), once
    our rules would settle it the same way -- the contract ended, no claim pending, and no Forfeit of ours
    due for it (:func:`_forfeit_held` signs that one: it prevails) -- is booked settled by that statement,
    credited to no one here (:meth:`Book.settle_elsewhere`). The escrow and its audit (AUD-006) call this
    after each statement they take, so both books agree."""
    c = neg.contract
    if c is None or not c.settled or neg.state not in _SETTLING or c.pending_claims:
        return
    for party in c.settled:
        bond = book.bonds.get((c.id, party))
        if bond is None or bond.settled_by is not None:
            continue
        if party not in c.forfeited and _forfeit_cause(c, neg.state, party) is not None:
            continue  # released or refunded there, forfeited here (NEG-012)
        for _, event, _, digest in neg.history:
            vs = held.get(digest) if event in _SETTLEMENT_EVENTS else None
            if vs is None or vs.body not in _SETTLEMENT_BODIES or vs.body_message.party != party:
                continue
            if party not in c.forfeited or vs.body == "forfeit":  # the Forfeit prevails (NEG-012)
                book.settle_elsewhere(c.id, party, digest)
                break


def _forfeit_cause(c: Contract, state: State, party: str) -> bytes | None:
    """What makes our Forfeit of ``party``'s bond due (CMT-002, CMT-003): a claim upheld against it, or in
    REVOKED its own effective Revoke under forfeit_bond terms; else None."""
    for d, (who, _) in c.claims.items():
        if who == party and c.rulings.get(d) == _UPHOLD:
            return d
    if state is State.REVOKED and c.proposal.terms.revocation.forfeit_bond:
        for d, revoker in c.revokes.items():
            if revoker == party:
                return d
    return None


def ruling_for(
    c: Contract, claim: bytes, accused: str, item: int, verifier: Verifier
) -> commitment_pb2.Ruling:
    """CMT-002: upheld unless a Delivery of the item by the accused is timely by witnessed time (WIT-003)."""
    statements, witness = verifier.statements, verifier.witness
    for digest, (by, index) in c.deliveries.items():
        if (by, index) == (accused, item) and witness.delivery_timely(c, statements[digest]):
            return commitment_pb2.Ruling(contract=c.id, claim=claim, decision=_DISMISS, evidence=digest)
    return commitment_pb2.Ruling(contract=c.id, claim=claim, decision=_UPHOLD)


def _after_breach(c: Contract, open_bonds: list[str]) -> tuple[str, Any] | None:
    """After an upheld claim: Forfeit each bond a claim was upheld against, to the other party;
    Release a bond no claim accuses any more (CMT-002, CMT-007)."""
    for p in open_bonds:
        upheld = [d for d, (who, _) in c.claims.items() if who == p and c.rulings.get(d) == _UPHOLD]
        if upheld:
            return "forfeit", commitment_pb2.Forfeit(
                contract=c.id, party=p, amount=c.locked[p], beneficiary=c.other(p), cause=upheld[0]
            )
    for p in open_bonds:
        if not any(accused == p for accused, _ in c.pending_claims.values()):
            return "release", commitment_pb2.Release(contract=c.id, party=p, amount=c.locked[p])
    return None


def revoke_until(c: Contract) -> int | None:
    """When the contract's effective Revoke ends its obligations: the Revoke's stamp time plus
    notice_ms (SPEC 9.3). Obligations due before it stay owed, and claimable; None without a Revoke."""
    if not c.revokes:
        return None
    return c.stamped_ms[next(iter(c.revokes))] + c.proposal.terms.revocation.notice_ms


def revoke_releases(c: Contract) -> list[tuple[str, int]]:
    """For each party whose locked bond a revoke will release: from when (SPEC 9.3).

    Obligations due before the Revoke's *stamp* time plus notice_ms stay owed (WIT-005: the
    revoker does not choose when its revoke took effect); the bond is released once they are all
    receipted, or once the last of them is past its deadline plus the claim window -- and not while
    a claim on one of them is pending. The revoker's bond under forfeit_bond terms is never released.
    """
    until = revoke_until(c)
    assert until is not None
    forfeits = c.proposal.terms.revocation.forfeit_bond
    out = []
    accused = {who for who, _ in c.pending_claims.values()}
    for p in open_bonds_of(c):
        if forfeits and p == c.revokes[next(iter(c.revokes))]:
            continue  # the revoker's bond is forfeited, never released (CMT-003)
        if p in accused:
            continue  # a claim on an obligation still owed comes first (CMT-002)
        owed = [(i, it.deadline_ms) for i, it in enumerate(c.gives(p)) if it.deadline_ms < until]
        if all((p, i) in c.receipted for i, _ in owed):
            out.append((p, 0))
        else:
            out.append((p, max(deadline for _, deadline in owed) + CLAIM_WINDOW_MS + 1))
    return out


def _after_revoke(c: Contract, open_bonds: list[str], now_ms: int) -> tuple[str, Any] | None:
    """CMT-003, then the release rule for REVOKED."""
    revoke, revoker = next(iter(c.revokes.items()))
    if revoker in open_bonds and c.proposal.terms.revocation.forfeit_bond:
        amount, other = c.locked[revoker], c.other(revoker)
        return "forfeit", commitment_pb2.Forfeit(
            contract=c.id, party=revoker, amount=amount, beneficiary=other, cause=revoke
        )
    for p, due in revoke_releases(c):
        if due <= now_ms:
            return "release", commitment_pb2.Release(contract=c.id, party=p, amount=c.locked[p])
    return None


def open_bonds_of(c: Contract) -> list[str]:
    """Parties whose bond is locked and not yet settled, proposer first."""
    return [p for p in c.parties if p in c.locked and p not in c.settled]
