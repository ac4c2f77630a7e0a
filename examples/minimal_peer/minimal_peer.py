"""A minimal a2a-coop responder written from SPEC.md on the generated protobuf stubs and PyNaCl.

It shares no code with the reference peer: no ``a2a_coop.protocol``, ``runtime`` or ``transport``
import (tests/test_minimal_peer.py checks the imports). Its job is to be a second, independent
conformance target, so that the conformance suite is not only ever run against the code it grew up
with. What it implements, and what it leaves out, is in README.md beside it.

    python examples/minimal_peer/minimal_peer.py --listen 127.0.0.1:0

prints ``listening on HOST:PORT as DID`` and serves ``a2acoop.v1.CooperationService`` until SIGINT
or SIGTERM. State lives in memory only.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
import nacl.exceptions
import nacl.signing
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from a2a_coop._proto.a2acoop.v1 import (
    commitment_pb2,
    envelope_pb2,
    identity_pb2,
    service_pb2,
    statement_pb2,
    trade_pb2,
)

# --- constants (SPEC section 0.5) ---------------------------------------------------------------

PAYLOAD_TYPE: Final = "application/vnd.a2acoop.statement.v1+protobuf"
MAX_ENVELOPE: Final = 65536
MAX_INT: Final = 2**53 - 1
SKEW_MS: Final = 30_000
L: Final = 2**252 + 27742317777372353535851937790883648493
DAY_MS: Final = 86_400_000
REPLY_TTL_MS: Final = DAY_MS
CHECKPOINT_TTL_MS: Final = DAY_MS
DOMAIN: Final = "a2acoop.v1"
SERVICE: Final = "a2acoop.v1.CooperationService"
B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PRINCIPAL_BODIES: Final = frozenset({"mandate", "key_rotation", "key_revocation", "checkpoint"})
NEGOTIATION_BODIES: Final = frozenset(
    {"offer", "counter", "accept", "reject", "withdraw", "bond_lock", "delivery", "receipt"}
    | {"breach_claim", "revoke", "release", "forfeit", "refund", "ruling"}
)
TRADE_BODIES: Final = frozenset({"offer", "counter", "accept", "reject", "withdraw"})

# The error registry (SPEC section 12): code -> gRPC status, for the codes this peer reports.
STATUS: Final = {
    "BODY_INVALID": "INVALID_ARGUMENT",
    "BODY_MISSING": "INVALID_ARGUMENT",
    "CHAIN_BROKEN": "INVALID_ARGUMENT",
    "ENVELOPE_TOO_LARGE": "RESOURCE_EXHAUSTED",
    "EQUIVOCATION": "INVALID_ARGUMENT",
    "EXPIRED": "FAILED_PRECONDITION",
    "HEADER_INVALID": "INVALID_ARGUMENT",
    "ILLEGAL_TRANSITION": "FAILED_PRECONDITION",
    "ISSUED_IN_FUTURE": "FAILED_PRECONDITION",
    "ISSUED_IN_PAST": "FAILED_PRECONDITION",
    "KEYID_MISMATCH": "UNAUTHENTICATED",
    "KEY_INVALID": "INVALID_ARGUMENT",
    "KEY_REVOKED": "PERMISSION_DENIED",
    "MALFORMED_ENVELOPE": "INVALID_ARGUMENT",
    "MALFORMED_STATEMENT": "INVALID_ARGUMENT",
    "MANDATE_UNKNOWN": "FAILED_PRECONDITION",
    "MANDATE_VIOLATION": "PERMISSION_DENIED",
    "NONCANONICAL_ENCODING": "INVALID_ARGUMENT",
    "NONCE_REUSED": "ALREADY_EXISTS",
    "NOT_YET_VALID": "FAILED_PRECONDITION",
    "REPLAYED": "ALREADY_EXISTS",
    "REQUEST_INVALID": "INVALID_ARGUMENT",
    "REQUEST_MALFORMED": "INVALID_ARGUMENT",
    "REVOCATION_UNAUTHORIZED": "PERMISSION_DENIED",
    "SIGNATURE_INVALID": "UNAUTHENTICATED",
    "SIGNATURE_NONCANONICAL": "UNAUTHENTICATED",
    "STALE_REFERENCE": "FAILED_PRECONDITION",
    "UNKNOWN_NEGOTIATION": "NOT_FOUND",
    "UNSUPPORTED_PAYLOAD_TYPE": "INVALID_ARGUMENT",
    "UNSUPPORTED_VERSION": "INVALID_ARGUMENT",
    "WRONG_AUDIENCE": "PERMISSION_DENIED",
    "WRONG_PARTY": "PERMISSION_DENIED",
}


class Refused(Exception):
    """A statement or request is rejected with a registry code (SPEC section 12)."""

    def __init__(self, code: str, detail: str, requirement: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.requirement = code, detail, requirement


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- identity (SPEC section 3) -----------------------------------------------------------------


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + B58.index(ch)  # ValueError for a character outside the alphabet
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def did_of(public_key: bytes) -> str:
    return "did:key:z" + b58encode(b"\xed\x01" + public_key)


def public_key_of(did: str) -> bytes:
    """KEY-001: did:key:z + base58btc(0xed 0x01 || 32 bytes), spelled canonically."""
    try:
        if not did.startswith("did:key:z"):
            raise ValueError
        raw = b58decode(did[len("did:key:z") :])
    except ValueError:
        raise Refused("KEY_INVALID", f"not an Ed25519 did:key: {did[:60]!r}", "KEY-001") from None
    if len(raw) != 34 or raw[:2] != b"\xed\x01" or did_of(raw[2:]) != did:
        raise Refused("KEY_INVALID", f"not an Ed25519 did:key: {did[:60]!r}", "KEY-001")
    return raw[2:]


# --- envelopes and statements (SPEC sections 5, 6, 11.1) ----------------------------------------


def pae(payload: bytes) -> bytes:
    t = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Verified:
    envelope: bytes
    digest: bytes
    stmt: statement_pb2.Statement
    body: str

    @property
    def header(self) -> statement_pb2.Header:
        return self.stmt.header


def _canonical(message: Any, data: bytes) -> bool:
    """Re-encoding without unknown fields gives the bytes back: the canonical form (section 6.2)."""
    message.DiscardUnknownFields()
    return bool(message.SerializeToString(deterministic=True) == data)


def verify(data: bytes) -> Verified:
    """Steps 1-19 of SPEC section 11 (the body rules of step 20 only as far as README.md says)."""
    if len(data) > MAX_ENVELOPE:
        raise Refused("ENVELOPE_TOO_LARGE", f"{len(data)} bytes", "ENV-008")
    try:
        env = envelope_pb2.Envelope.FromString(data)
    except DecodeError:
        raise Refused("MALFORMED_ENVELOPE", "not an Envelope", "ENV-004") from None
    if not _canonical(env, data):
        raise Refused("MALFORMED_ENVELOPE", "not the canonical encoding of an Envelope", "ENV-009")
    if len(env.signatures) != 1 or not env.payload:
        raise Refused("MALFORMED_ENVELOPE", "need one signature and a payload", "ENV-004")
    if env.payload_type != PAYLOAD_TYPE:
        raise Refused("UNSUPPORTED_PAYLOAD_TYPE", env.payload_type[:80], "ENV-003")
    keyid, sig = env.signatures[0].keyid, env.signatures[0].sig
    key = public_key_of(keyid)
    if len(sig) != 64:
        raise Refused("SIGNATURE_INVALID", "signature is not 64 bytes", "ENV-006")
    if int.from_bytes(sig[32:], "little") >= L:
        raise Refused("SIGNATURE_NONCANONICAL", "S >= L", "ENV-007")
    message = pae(env.payload)
    try:
        nacl.signing.VerifyKey(key).verify(message, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        raise Refused("SIGNATURE_INVALID", "signature does not verify", "ENV-006") from None
    try:
        stmt = statement_pb2.Statement.FromString(env.payload)
    except DecodeError:
        raise Refused("MALFORMED_STATEMENT", "payload is not a Statement", "STM-001") from None
    if not _canonical(statement_pb2.Statement.FromString(env.payload), env.payload):
        raise Refused("NONCANONICAL_ENCODING", "payload is not canonical", "STM-002")
    body = check_header(stmt, keyid)
    return Verified(data, hashlib.sha256(message).digest(), stmt, body)


def negotiation_id_for(issuer: str, nonce: bytes) -> bytes:
    return hashlib.sha256(b"a2a-coop/v1/negotiation\0" + issuer.encode() + b"\0" + nonce).digest()[:16]


def check_header(stmt: statement_pb2.Statement, keyid: str) -> str:
    """Steps 10-19 (STM-003..STM-013, NEG-013, MND-001); returns the body's name."""
    h = stmt.header
    if h.version != 1:
        raise Refused("UNSUPPORTED_VERSION", f"version {h.version}", "STM-003")
    if h.issuer != keyid:
        raise Refused("KEYID_MISMATCH", "header.issuer is not the signing key", "STM-004")
    if h.audience:
        public_key_of(h.audience)
    if (len(h.prev) != 32) if h.seq else bool(h.prev):
        raise Refused("HEADER_INVALID", "prev empty iff seq = 0, else 32 bytes", "STM-006")
    if len(h.nonce) != 16:
        raise Refused("HEADER_INVALID", "nonce must be 16 bytes", "STM-007")
    if not h.issued_at_ms or h.expires_at_ms <= h.issued_at_ms or h.not_before_ms >= h.expires_at_ms:
        raise Refused("HEADER_INVALID", "times out of order", "STM-008")
    if h.expires_at_ms > MAX_INT or h.seq > MAX_INT:
        raise Refused("HEADER_INVALID", "integer above 2^53 - 1", "STM-013")
    body: str | None = stmt.WhichOneof("body")
    if body is None:
        raise Refused("BODY_MISSING", "no body", "STM-010")
    if body in NEGOTIATION_BODIES:
        if len(h.negotiation_id) != 16:
            raise Refused("HEADER_INVALID", "negotiation_id must be 16 bytes", "STM-009")
        if body == "offer" and h.negotiation_id != negotiation_id_for(h.issuer, h.nonce):
            raise Refused("HEADER_INVALID", "an Offer's id derives from issuer and nonce", "NEG-013")
    elif h.negotiation_id:
        raise Refused("HEADER_INVALID", f"{body} takes no negotiation_id", "STM-009")
    if len(h.refs) > 64 or any(len(r) != 32 for r in h.refs):
        raise Refused("HEADER_INVALID", "refs: at most 64 digests", "STM-011")
    if (h.mandate and len(h.mandate) != 32) if body in PRINCIPAL_BODIES else len(h.mandate) != 32:
        raise Refused("HEADER_INVALID", "header.mandate must be a 32-byte digest", "MND-001")
    return body


# --- signing -------------------------------------------------------------------------------


def merkle_root(digests: list[bytes]) -> bytes:
    """RFC 6962 MTH; empty bytes for no digests (CHN-007)."""
    if not digests:
        return b""
    if len(digests) == 1:
        return hashlib.sha256(b"\0" + digests[0]).digest()
    k = 1
    while k * 2 < len(digests):
        k *= 2
    return hashlib.sha256(b"\1" + merkle_root(digests[:k]) + merkle_root(digests[k:])).digest()


class Signer:
    """A key and its chain (CHN-001): seq counts from 0, prev is the previous statement's digest."""

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self.key = key
        self.did = did_of(bytes(key.verify_key))
        self.chain: list[Verified] = []

    def sign(self, body: str, message: Any, *, at: int, ttl_ms: int, **header: Any) -> Verified:
        stmt = statement_pb2.Statement()
        h = stmt.header
        h.version, h.issuer, h.seq = 1, self.did, len(self.chain)
        h.prev = self.chain[-1].digest if self.chain else b""
        # Never earlier than our previous statement (CHN-005).
        h.issued_at_ms = max(at, self.chain[-1].header.issued_at_ms if self.chain else 0)
        h.expires_at_ms = h.issued_at_ms + ttl_ms
        h.nonce = os.urandom(16)
        for name, value in header.items():
            if name == "refs":
                h.refs.extend(value)
            else:
                setattr(h, name, value)
        getattr(stmt, body).CopyFrom(message)
        payload = stmt.SerializeToString(deterministic=True)
        sig = self.key.sign(pae(payload)).signature
        env = envelope_pb2.Envelope(payload=payload, payload_type=PAYLOAD_TYPE)
        env.signatures.add(keyid=self.did, sig=sig)
        data = env.SerializeToString(deterministic=True)
        vs = Verified(data, hashlib.sha256(pae(payload)).digest(), stmt, body)
        self.chain.append(vs)
        return vs


# --- the peer -------------------------------------------------------------------------------


@dataclass
class Negotiation:
    offer: Verified
    state: str = "PROPOSED"
    accept: Verified | None = None
    delivered: set[tuple[str, int]] = field(default_factory=set)  # (issuer, item index)
    receipted: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class Link:
    digest: bytes
    prev: bytes
    issued_at_ms: int


class MinimalPeer:
    """Verifies what it receives, accepts fair offers without an escrow, delivers, receipts."""

    def __init__(self, min_ratio: float = 0.8) -> None:
        principal = nacl.signing.SigningKey.generate()
        self.me = Signer(nacl.signing.SigningKey.generate())
        self.principal = Signer(principal)
        t = now_ms()
        mandate = identity_pb2.Mandate(
            agent=self.me.did,
            valid_from_ms=t - DAY_MS,
            valid_until_ms=t + 365 * DAY_MS,
            currency="credit",
            max_per_deal=MAX_INT,
            budget_per_period=MAX_INT,
            period_ms=30 * DAY_MS,
            max_outstanding=MAX_INT,
        )
        self.mandate = self.principal.sign("mandate", mandate, at=t - DAY_MS, ttl_ms=366 * DAY_MS)
        self.min_ratio = min_ratio
        self.lock = threading.Lock()
        self.held: dict[bytes, Verified] = {}
        self.mandates: dict[bytes, identity_pb2.Mandate] = {self.mandate.digest: mandate}
        # key -> (from when, from which seq, digest) of each self-revocation held: a key's own revocation
        # takes effect no earlier than its issued_at_ms and reaches none of its statements at a lower seq
        # (KEY-011)
        self.revoked: dict[str, list[tuple[int, int, bytes]]] = {}
        self.nonces: dict[tuple[str, bytes], bytes] = {}
        self.chains: dict[str, dict[int, Link]] = {}
        self.answers: dict[bytes, list[bytes]] = {}
        self.negotiations: dict[bytes, Negotiation] = {}
        self.exclusive: dict[tuple[str, bytes], bytes] = {}  # (proposer, key) -> negotiation id
        self.checkpoint: Verified | None = None

    # -- receiving --------------------------------------------------------------------

    def exchange(self, envelope: bytes, context: Iterable[bytes]) -> list[bytes]:
        with self.lock:
            vs = verify(envelope)
            if vs.digest in self.answers:
                return self.answers[vs.digest]  # a retry: the same answer, nothing signed (RPC-003)
            for env in context:
                c = verify(env)
                if c.digest not in self.held:
                    self.check(c, live=False)
                    self.record(c)
            self.check(vs, live=True)
            self.record(vs)
            answers = self.react(vs)
            if not answers and vs.header.audience == self.me.did and vs.body != "ack":
                ack = commitment_pb2.Ack(statement=vs.digest)
                answers = [
                    self._sign("ack", ack, **self._reply_header(vs.header.issuer, vs.header.issued_at_ms))
                ]
            out = ([self.mandate.envelope] if vs.body == "offer" else []) + [a.envelope for a in answers]
            self.answers[vs.digest] = out
            return out

    def check(self, vs: Verified, *, live: bool) -> None:
        """Steps 21-28 (as far as README.md says), without changing anything (ERR-003)."""
        h = vs.header
        if live and h.audience and h.audience != self.me.did:
            raise Refused("WRONG_AUDIENCE", "addressed to another key", "STM-005")
        reaching = [r for r in self.revoked.get(h.issuer, ()) if h.issued_at_ms >= r[0] and h.seq >= r[1]]
        for _, seq, digest in reaching:  # KEY-012: a fork of the key's own revocation is refused as one
            if h.seq == seq and vs.digest != digest:
                raise Refused("EQUIVOCATION", "at the seq of the key's own revocation", "CHN-004")
            if h.seq == seq + 1 and h.prev != digest:
                raise Refused("CHAIN_BROKEN", "prev is not the key's own revocation", "CHN-003")
        if reaching:
            raise Refused("KEY_REVOKED", "the signing key was revoked", "KEY-004")
        if h.mandate:
            self._check_mandate(vs)
        if live:
            self._check_time(vs)
        if vs.digest in self.held:
            raise Refused("REPLAYED", "already received", "RPL-002")
        # KEY-013: the key's own revocation joins no chain and holds no nonce, so neither refuses it
        own = vs.body == "key_revocation" and vs.stmt.key_revocation.key == h.issuer
        seen = self.nonces.get((h.issuer, h.nonce))
        if seen is not None and seen != vs.digest and not own:
            raise Refused("NONCE_REUSED", "nonce used before", "RPL-001")
        if not own:
            self._check_chain(vs)
        if h.negotiation_id:
            self._check_negotiation(vs)
        if vs.body == "key_revocation" and vs.stmt.key_revocation.key != h.issuer:
            raise Refused("REVOCATION_UNAUTHORIZED", "only the key itself revokes it here", "KEY-004")

    def _check_mandate(self, vs: Verified) -> None:
        h = vs.header
        m = self.mandates.get(h.mandate)
        if m is None:
            raise Refused("MANDATE_UNKNOWN", "mandate not held", "MND-002")
        if m.agent != h.issuer:
            raise Refused("MANDATE_VIOLATION", "the mandate names another agent", "MND-002")
        if not m.valid_from_ms <= h.issued_at_ms < m.valid_until_ms:
            raise Refused("MANDATE_VIOLATION", "issued outside the mandate's validity", "MND-003")
        if m.allowed_counterparties and h.audience and h.audience not in m.allowed_counterparties:
            raise Refused("MANDATE_VIOLATION", "counterparty not allowed", "MND-005")
        proposal = self._proposal_committed(vs)
        if proposal is None:
            return
        issuer_side = vs.body != "accept"
        items = proposal.gives if issuer_side else proposal.wants
        bond = proposal.terms.issuer_bond if issuer_side else proposal.terms.audience_bond
        value = sum(i.value for i in items) + bond
        if not m.min_per_deal <= value <= m.max_per_deal:
            raise Refused("MANDATE_VIOLATION", f"value {value} outside the per-deal caps", "MND-004")
        every = [*proposal.gives, *proposal.wants]
        if m.allowed_categories and any(i.category not in m.allowed_categories for i in every):
            raise Refused("MANDATE_VIOLATION", "category not allowed", "MND-006")
        if proposal.terms.currency != m.currency:
            raise Refused("MANDATE_VIOLATION", "currency differs from the mandate's", "MND-007")
        window = m.execution_window_end_ms or m.valid_until_ms
        if any(i.deadline_ms > window for i in every):
            raise Refused("MANDATE_VIOLATION", "a deadline lies past the mandate's window", "MND-008")

    def _proposal_committed(self, vs: Verified) -> trade_pb2.Offer | None:
        if vs.body == "offer":
            return vs.stmt.offer
        if vs.body == "counter":
            return vs.stmt.counter.proposal
        if vs.body == "accept":
            held = self.held.get(vs.stmt.accept.offer)
            return None if held is None else _proposal(held)
        return None

    def _check_time(self, vs: Verified) -> None:
        """TIM-003, TIM-002, TIM-001, then TIM-006 for what is addressed to us."""
        h, t = vs.header, now_ms()
        if t + SKEW_MS < h.issued_at_ms:
            raise Refused("ISSUED_IN_FUTURE", "issued ahead of our clock", "TIM-003")
        if h.not_before_ms and t + SKEW_MS < h.not_before_ms:
            raise Refused("NOT_YET_VALID", "not valid yet", "TIM-002")
        if t > h.expires_at_ms + SKEW_MS:
            raise Refused("EXPIRED", "expired", "TIM-001")
        if h.audience == self.me.did and t - SKEW_MS > h.issued_at_ms:
            raise Refused("ISSUED_IN_PAST", "dated further back than the skew", "TIM-006")

    def _check_chain(self, vs: Verified) -> None:
        """CHN-004, CHN-003, CHN-005 in a sparse view (CHN-006)."""
        h, links = vs.header, self.chains.get(vs.header.issuer, {})
        held = links.get(h.seq)
        if held is not None and held.digest != vs.digest:
            raise Refused("EQUIVOCATION", f"two statements at seq {h.seq}", "CHN-004")
        before, after = links.get(h.seq - 1), links.get(h.seq + 1)
        if (before is not None and h.prev != before.digest) or (
            after is not None and after.prev != vs.digest
        ):
            raise Refused("CHAIN_BROKEN", "prev does not link to the held neighbour", "CHN-003")
        lower = [s for s in links if s < h.seq]
        higher = [s for s in links if s > h.seq]
        if (lower and h.issued_at_ms < links[max(lower)].issued_at_ms) or (
            higher and h.issued_at_ms > links[min(higher)].issued_at_ms
        ):
            raise Refused("CHAIN_BROKEN", "issued_at_ms decreases along the chain", "CHN-005")

    def _check_negotiation(self, vs: Verified) -> None:
        """Section 8.8 for what this peer takes part in: an opening Offer, and Deliveries and Receipts
        of contracts it accepted; every other negotiation statement is ILLEGAL_TRANSITION here."""
        h = vs.header
        neg = self.negotiations.get(h.negotiation_id)
        if neg is None:
            if vs.body != "offer":
                raise Refused("UNKNOWN_NEGOTIATION", "no such negotiation", "NEG-002")
            if not h.audience or h.audience == h.issuer:
                raise Refused("WRONG_PARTY", "an Offer goes to another key", "NEG-003")
            return
        parties = (neg.offer.header.issuer, neg.offer.header.audience)
        if vs.body in TRADE_BODIES:
            if h.issuer not in parties or h.audience != parties[1 - parties.index(h.issuer)]:
                raise Refused("WRONG_PARTY", "trade statements go between the parties", "NEG-003")
            raise Refused("ILLEGAL_TRANSITION", f"{vs.body} in {neg.state}", "NEG-001")
        if neg.accept is None:
            raise Refused("ILLEGAL_TRANSITION", f"{vs.body} before any contract", "NEG-001")
        if vs.body == "delivery":
            d = vs.stmt.delivery
            if d.contract != neg.accept.digest:
                raise Refused("STALE_REFERENCE", "not this contract", "NEG-005")
            if h.issuer not in parties or h.audience != self.me.did:
                raise Refused("WRONG_PARTY", "a Delivery goes from a party to the other", "NEG-008")
            if h.issued_at_ms < neg.accept.header.issued_at_ms:
                raise Refused("ILLEGAL_TRANSITION", "delivered before the Accept", "NEG-014")
            if d.item_index >= len(_gives(neg, h.issuer)):
                raise Refused("BODY_INVALID", "no such item", "NEG-008")
            if (h.issuer, d.item_index) in neg.delivered:
                raise Refused("ILLEGAL_TRANSITION", "this item was delivered already", "CMT-013")
            return
        if vs.body == "receipt":
            delivery = self.held.get(vs.stmt.receipt.delivery)
            if (
                delivery is None
                or delivery.body != "delivery"
                or delivery.header.negotiation_id != neg.offer.header.negotiation_id
            ):
                raise Refused("STALE_REFERENCE", "not a Delivery of this contract", "NEG-005")
            if h.issuer != delivery.header.audience:
                raise Refused("WRONG_PARTY", "only the receiver receipts a Delivery", "NEG-008")
            if (delivery.header.issuer, delivery.stmt.delivery.item_index) in neg.receipted:
                raise Refused("ILLEGAL_TRANSITION", "this item was receipted already", "CMT-013")
            return
        raise Refused("ILLEGAL_TRANSITION", f"{vs.body} is not supported by this peer", "NEG-001")

    def record(self, vs: Verified) -> None:
        h = vs.header
        self.held[vs.digest] = vs
        if not (vs.body == "key_revocation" and vs.stmt.key_revocation.key == h.issuer):  # KEY-013
            self.nonces[(h.issuer, h.nonce)] = vs.digest
            self.chains.setdefault(h.issuer, {})[h.seq] = Link(vs.digest, h.prev, h.issued_at_ms)
        if vs.body == "mandate":
            self.mandates[vs.digest] = vs.stmt.mandate
        elif vs.body == "key_revocation":
            r = vs.stmt.key_revocation  # its own (KEY-004 here): from max(effective_ms, issued_at_ms) on
            self.revoked.setdefault(r.key, []).append((max(r.effective_ms, h.issued_at_ms), h.seq, vs.digest))
        elif vs.body == "offer" and h.negotiation_id not in self.negotiations:
            self.negotiations[h.negotiation_id] = Negotiation(vs)
        elif vs.body in ("delivery", "receipt"):
            neg = self.negotiations[h.negotiation_id]
            if vs.body == "delivery":
                neg.delivered.add((h.issuer, vs.stmt.delivery.item_index))
            else:
                d = self.held[vs.stmt.receipt.delivery]
                neg.receipted.add((d.header.issuer, d.stmt.delivery.item_index))
            items = len(neg.offer.stmt.offer.gives) + len(neg.offer.stmt.offer.wants)
            neg.state = "FULFILLED" if len(neg.receipted) == items else "PERFORMING"

    # -- answering ------------------------------------------------------------------------

    def _sign(self, body: str, message: Any, **header: Any) -> Verified:
        """Sign one of our statements and hold it, as we hold what we receive."""
        vs = self.me.sign(body, message, **header)
        self.record(vs)
        return vs

    def _reply_header(
        self, to: str, floor_ms: int, nid: bytes = b"", refs: tuple[bytes, ...] = ()
    ) -> dict[str, Any]:
        return {
            # Never before what we answer (NEG-014), nor before our own last statement (CHN-005).
            "at": max(now_ms(), floor_ms, self.me.chain[-1].header.issued_at_ms if self.me.chain else 0),
            "ttl_ms": REPLY_TTL_MS,
            "audience": to,
            "negotiation_id": nid,
            "refs": list(refs),
            "mandate": self.mandate.digest,
        }

    def react(self, vs: Verified) -> list[Verified]:
        if vs.body == "offer" and vs.header.audience == self.me.did:
            return self._answer_offer(vs)
        if vs.body == "delivery" and vs.header.audience == self.me.did:
            neg = self.negotiations[vs.header.negotiation_id]
            receipt = commitment_pb2.Receipt(delivery=vs.digest, rating=90)
            hdr = self._reply_header(
                vs.header.issuer, vs.header.issued_at_ms, neg.offer.header.negotiation_id
            )
            return [self._sign("receipt", receipt, **hdr)]
        return []

    def _answer_offer(self, offer: Verified) -> list[Verified]:
        p = offer.stmt.offer
        nid = offer.header.negotiation_id
        neg = self.negotiations[nid]
        why = ""
        offered = sum(i.value for i in p.gives) + p.terms.issuer_bond
        asked = sum(i.value for i in p.wants) + p.terms.audience_bond
        if p.terms.escrow or p.terms.issuer_bond or p.terms.audience_bond:
            why = "this peer trusts no escrow (MND-015) and takes no bonds"
        elif p.exclusive_key and (offer.header.issuer, p.exclusive_key) in self.exclusive:
            why = "the proposer already holds a contract under this exclusive_key (NEG-009)"
        elif offered < self.min_ratio * asked:
            why = "value offered is too low"
        hdr = self._reply_header(offer.header.issuer, offer.header.issued_at_ms, nid, (offer.digest,))
        if hdr["at"] > offer.header.expires_at_ms:
            neg.state = "EXPIRED"  # nothing can answer a lapsed offer (NEG-007): it gets an Ack
            return []
        if why:
            neg.state = "REJECTED"
            return [self._sign("reject", trade_pb2.Reject(offer=offer.digest, reason=why), **hdr)]
        accept = self._sign("accept", trade_pb2.Accept(offer=offer.digest), **hdr)
        neg.state, neg.accept = "ACCEPTED", accept
        if p.exclusive_key:
            self.exclusive[(offer.header.issuer, p.exclusive_key)] = nid
        out = [accept]
        for index, item in enumerate(p.wants):  # what we give: the offer's wants
            delivery = commitment_pb2.Delivery(
                contract=accept.digest,
                item_index=index,
                artifact_digest=hashlib.sha256(item.SerializeToString()).digest(),
            )
            hdr = self._reply_header(offer.header.issuer, accept.header.issued_at_ms, nid)
            out.append(self._sign("delivery", delivery, **hdr))
        neg.state = "PERFORMING" if p.wants else neg.state
        return out

    # -- reading --------------------------------------------------------------------------

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        if from_seq > MAX_INT:
            raise Refused("REQUEST_INVALID", "from_seq above 2^53 - 1", "RPC-011")
        with self.lock:
            public = [vs.envelope for vs in self.me.chain[from_seq:] if not vs.header.audience]
            return public[: limit or 1024], max(len(self.me.chain) - 1, 0)

    def head_checkpoint(self) -> Verified:
        """The Checkpoint at our chain's head, signed again only when the head moved or it ages (13.5)."""
        with self.lock:
            cp = self.checkpoint
            fresh = cp is not None and cp.header.expires_at_ms - now_ms() > 3_600_000
            if cp is None or not fresh or self.me.chain[-1] is not cp:
                root = merkle_root([vs.digest for vs in self.me.chain])
                cp = self._sign(
                    "checkpoint",
                    identity_pb2.Checkpoint(log_root=root),
                    at=now_ms(),
                    ttl_ms=CHECKPOINT_TTL_MS,
                    mandate=self.mandate.digest,
                )
                self.checkpoint = cp
            return cp


def _proposal(vs: Verified) -> trade_pb2.Offer:
    return vs.stmt.offer if vs.body == "offer" else vs.stmt.counter.proposal


def _gives(neg: Negotiation, party: str) -> Any:
    offer = neg.offer.stmt.offer
    return offer.gives if party == neg.offer.header.issuer else offer.wants


# --- gRPC (SPEC section 13) -----------------------------------------------------------------


def status_of(err: Refused) -> grpc.Status:
    """RPC-005: the registry's status, and a google.rpc.Status whose first detail is the ErrorInfo."""
    code = grpc.StatusCode[STATUS.get(err.code, "INVALID_ARGUMENT")]
    metadata = {"detail": err.detail, "origin": "remote", "evidence": "0"}
    if err.requirement:
        metadata["requirement"] = err.requirement
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=err.code, domain=DOMAIN, metadata=metadata))
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=str(err), details=[info]))


def _unary(parse: Any, answer: Callable[[Any], Any]) -> Callable[[bytes, grpc.ServicerContext], Any]:
    def handle(data: bytes, context: grpc.ServicerContext) -> Any:
        try:
            try:
                request = parse.FromString(data)
            except DecodeError:
                raise Refused("REQUEST_MALFORMED", "request does not parse", "RPC-007") from None
            return answer(request)
        except Refused as err:
            context.abort_with_status(status_of(err))
        except Exception:  # RPC-007: a fault of ours is INTERNAL, with no detail on the wire
            logging.exception("request failed")
            context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return handle


def handlers(peer: MinimalPeer) -> grpc.GenericRpcHandler[Any, Any]:
    def exchange(req: service_pb2.ExchangeRequest) -> service_pb2.ExchangeResponse:
        return service_pb2.ExchangeResponse(envelopes=peer.exchange(req.envelope, req.context))

    def negotiate(
        requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[service_pb2.NegotiateResponse]:
        for data in requests:
            try:
                req = service_pb2.NegotiateRequest.FromString(data)
                answers = peer.exchange(req.envelope, req.context)
            except DecodeError:
                context.abort_with_status(status_of(Refused("REQUEST_MALFORMED", "request does not parse")))
            except Refused as err:
                context.abort_with_status(status_of(err))
            yield service_pb2.NegotiateResponse(envelopes=answers)

    def get_log(req: service_pb2.GetLogRequest) -> service_pb2.GetLogResponse:
        envelopes, head = peer.get_log(req.from_seq, req.limit)
        return service_pb2.GetLogResponse(envelopes=envelopes, head_seq=head)

    def get_checkpoint(req: service_pb2.GetCheckpointRequest) -> service_pb2.GetCheckpointResponse:
        return service_pb2.GetCheckpointResponse(envelope=peer.head_checkpoint().envelope)

    def get_attestations(req: service_pb2.GetAttestationsRequest) -> service_pb2.GetAttestationsResponse:
        return service_pb2.GetAttestationsResponse()  # it attests nothing and holds no attestations

    def gossip(req: service_pb2.GossipRequest) -> service_pb2.GossipResponse:
        # It keeps no one else's Checkpoints; it answers with its own, after the Mandate it names.
        return service_pb2.GossipResponse(envelopes=[peer.mandate.envelope, peer.head_checkpoint().envelope])

    unary: dict[str, tuple[Any, Callable[[Any], Any]]] = {
        "Exchange": (service_pb2.ExchangeRequest, exchange),
        "GetLog": (service_pb2.GetLogRequest, get_log),
        "GetCheckpoint": (service_pb2.GetCheckpointRequest, get_checkpoint),
        "GetAttestations": (service_pb2.GetAttestationsRequest, get_attestations),
        "Gossip": (service_pb2.GossipRequest, gossip),
    }
    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(
            _unary(parse, fn), response_serializer=lambda m: m.SerializeToString()
        )
        for name, (parse, fn) in unary.items()
    }
    methods["Negotiate"] = grpc.stream_stream_rpc_method_handler(
        negotiate, response_serializer=lambda m: m.SerializeToString()
    )
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A minimal a2a-coop responder built from SPEC.md.")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen {args.listen!r} is not HOST:PORT")
    peer = MinimalPeer()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", MAX_ENVELOPE + 4096)],
    )
    server.add_generic_rpc_handlers([handlers(peer)])
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # newer grpcio raises where older ones return 0
        bound = 0
    if not bound:
        print(f"error: cannot listen on {args.listen}", file=sys.stderr)
        return 2
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    print(f"listening on {host}:{bound} as {peer.me.did}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
