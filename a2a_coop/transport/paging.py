"""What a client takes of a server's pages (SPEC.md section 13.5, RPC-019) and of a cut answer (RPC-021).

Every client-side paging loop -- :meth:`~a2a_coop.transport.client.CooperationClient.log_pages`,
``get_attestations`` (blocking and trio), :func:`~a2a_coop.runtime.trade.fetch_ledger` and
:func:`~a2a_coop.runtime.trade.fetch_transcript` -- reads through one :class:`PageGuard`: each page
must move the read on (a seq past the last one, a page token never given before), and the whole read
stops at a total number of pages and of bytes. The server chooses every page, its seqs, its tokens and
its head; without the guard one that answers pages that never end, never advance or go back keeps the
client reading for ever, its memory growing with each page.

Every reader of an ``Exchange``, ``Negotiate`` or ``Submit`` answer -- the blocking and trio clients, the
conformance suite and its mutant probes -- joins the parts of a cut one through one :class:`CutAnswer`
(:func:`read_whole` for a blocking call): one that read the first part alone took the rest as never
signed -- an escrow's locks, a peer's Deliveries -- though the server recorded and answered them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, NoReturn

import grpc

from a2a_coop.transport.errors import TransportError
from a2a_coop.transport.limits import MAX_ANSWER_PARTS

# A read's default bound: this many pages (a reference page is 1024 entries: ten million of them)...
DEFAULT_MAX_PAGES: Final = 10_000
# ...and this many bytes of envelopes in all (64 full 4 MiB pages).
DEFAULT_MAX_READ_BYTES: Final = 256 * 1024 * 1024
# GetAttestations' default page bound (a page holds up to 1024 bundles).
DEFAULT_ATTESTATION_PAGES: Final = 1_000


class PagingViolation(TransportError):
    """A server's pages broke RPC-019: one did not move the read on (``OUT_OF_RANGE``), or the read
    passed its bound (``RESOURCE_EXHAUSTED``). A :class:`TransportError`: no rejection of ours."""

    requirement: ClassVar[str] = "RPC-019"


@dataclass(frozen=True)
class PageLimits:
    """A read's bound: at most ``max_pages`` pages and ``max_bytes`` bytes of envelopes in all."""

    max_pages: int = DEFAULT_MAX_PAGES
    max_bytes: int = DEFAULT_MAX_READ_BYTES

    def __post_init__(self) -> None:
        if self.max_pages < 1 or self.max_bytes < 1:
            raise ValueError("a read's page and byte bounds must be positive")


@dataclass
class PageGuard:
    """One paged read of ``what`` (said in its errors), checked page by page against ``limits``."""

    what: str
    limits: PageLimits = field(default_factory=PageLimits)
    pages: int = 0
    size: int = 0
    _tokens: set[bytes] = field(default_factory=set)
    _head: int = -1

    def page(self, envelopes: list[bytes]) -> None:
        """Count one page of ``envelopes``: past the bound, :class:`PagingViolation`."""
        self.pages += 1
        self.size += sum(map(len, envelopes))
        if self.pages > self.limits.max_pages or self.size > self.limits.max_bytes:
            raise PagingViolation(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.what}: more than {self.limits.max_pages} pages or {self.limits.max_bytes} bytes "
                "in one read; stopped (RPC-019)",
            )

    def head(self, head_seq: int) -> None:
        """The page's head seq: a ledger or chain only grows, so it never goes back."""
        if head_seq < self._head:
            self.violation(f"head_seq went back from {self._head} to {head_seq}")
        self._head = head_seq

    def seqs(self, seqs: list[int], from_seq: int, *, contiguous: bool = False) -> None:
        """The seqs of a page asked from ``from_seq``: strictly increasing from it (each the one before
        + 1 if ``contiguous``)."""
        last = from_seq - 1
        for seq in seqs:
            if seq <= last or (contiguous and seq != last + 1):
                self.violation(f"seq {seq} where the page asked from {from_seq} had reached {last}")
            last = seq

    def advance(self, from_seq: int, next_seq: int) -> None:
        """A page asked from ``from_seq`` that says to read on from ``next_seq``: it must be past it."""
        if next_seq <= from_seq:
            self.violation(f"next_seq {next_seq} does not advance past from_seq {from_seq}")

    def token(self, token: str) -> None:
        """A next page's token: never one given before in this read (kept as digests)."""
        digest = hashlib.sha256(token.encode()).digest()
        if digest in self._tokens:
            self.violation(f"page token {token!r:.40} given again")
        self._tokens.add(digest)

    def violation(self, why: str) -> NoReturn:
        raise PagingViolation(grpc.StatusCode.OUT_OF_RANGE, f"{self.what}: {why} (RPC-019)")


class CutAnswerViolation(PagingViolation):
    """A server's parts of a cut answer broke RPC-021: "more" with no envelope, or from elsewhere than
    where its parts reached (``INTERNAL``), or past :data:`MAX_ANSWER_PARTS` parts
    (``RESOURCE_EXHAUSTED``)."""

    requirement: ClassVar[str] = "RPC-021"


@dataclass
class CutAnswer:
    """One Exchange, Negotiate or Submit answer, joined part by part (RPC-021)."""

    envelopes: list[bytes] = field(default_factory=list)
    parts: int = 0

    def take(self, response: Any) -> int:
        """Join ``response`` (its ``envelopes`` and ``next_answer``), the next part: the ``answer_from``
        of the request for the part after it, 0 once the answer is whole. A server that says there is
        more without sending any, resumes elsewhere than where its parts reached, or goes past
        :data:`MAX_ANSWER_PARTS` parts fails the read (:class:`CutAnswerViolation`): it cannot hold its
        client for ever."""
        self.envelopes += response.envelopes
        self.parts += 1
        if not response.next_answer:
            return 0
        if response.next_answer != len(self.envelopes) or not response.envelopes:
            cut = f"an answer cut at {response.next_answer} (RPC-021)"
            raise CutAnswerViolation(grpc.StatusCode.INTERNAL, cut)
        if self.parts >= MAX_ANSWER_PARTS:
            raise CutAnswerViolation(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"an answer of over {self.parts} parts (RPC-021)"
            )
        return int(response.next_answer)


def read_whole(first: Any, again: Callable[[int], Any]) -> list[bytes]:
    """The whole answer the response ``first`` starts, the rest read by ``again(answer_from)`` -- the same
    request with ``answer_from`` set -- until a part ends it (RPC-021)."""
    answer = CutAnswer()
    start = answer.take(first)
    while start:
        start = answer.take(again(start))
    return answer.envelopes


@dataclass
class OpeningParts:
    """One ``GetTranscript`` read, from seq 0 its transcript's opening -- a successor's taken-over
    transcript, the old key's revocations, the Mandates -- joined part by part (ESC-006 (b)): no bound
    holds a predecessor's whole history, so the escrow serves it in parts of whole envelopes."""

    envelopes: list[bytes] = field(default_factory=list)
    opening_from: int = 0

    def take(self, from_seq: int, response: Any) -> bool:
        """Join ``response`` (its ``envelopes`` and ``next_opening``): True once the read is whole, else
        :attr:`opening_from` is that of the next part's request. A server that says the opening goes on
        without sending any of it, resumes elsewhere than where its parts reached, or sends more than
        :data:`DEFAULT_MAX_READ_BYTES` fails the read (:class:`PagingViolation`): it cannot hold its
        client for ever."""
        self.envelopes += response.envelopes
        if from_seq or not response.next_opening:
            return True
        if not response.envelopes or response.next_opening != self.opening_from + len(response.envelopes):
            cut = f"GetTranscript: an opening cut at {response.next_opening} (ESC-006 (b))"
            raise PagingViolation(grpc.StatusCode.OUT_OF_RANGE, cut)
        if sum(map(len, self.envelopes)) > DEFAULT_MAX_READ_BYTES:
            raise PagingViolation(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"GetTranscript: an opening of over {DEFAULT_MAX_READ_BYTES} bytes (ESC-006 (b))",
            )
        self.opening_from = int(response.next_opening)
        return False
