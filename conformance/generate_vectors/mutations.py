"""mutations.json: a typed mutation grammar over the valid transcripts the other families build.

Every valid transcript of statements.json, chains.json and rules.json -- the valid cases and the twins
of the invalid ones -- and every prefix of it is accepted in full by a conforming verifier. A
*mutation* changes one thing in such a prefix, at a named position, and says which SPEC code the first
rejection must have and where. The grammar (``Mutation.op`` and ``kind``):

    flip        one bit of the signature (R or S half), or of a named header field of the signed
                payload, the envelope not re-signed: the signature no longer covers the bytes
    field       one header field changed and the statement re-signed by its issuer: version, issuer,
                audience, prev, nonce, negotiation_id, mandate, refs, times, seq range, body removed
    resign      signed by another key: under the issuer's keyid, under the other key's keyid, or
                wholly re-issued by another key that cites the victim's mandate (impersonation)
    drop        one earlier envelope left out: the mandate a later one cites, or, in complete
                mode, the issuer's predecessor of a later statement
    reorder     the last statement moved before the mandate it cites, or (complete mode) before its
                issuer's predecessor
    replay      the last statement again, an earlier one again at the end, or the last statement
                re-signed with the nonce of an earlier statement of its issuer
    reencode    the same statement in a non-canonical payload (re-signed) or envelope encoding
    shift-time  the reference time moved just past an envelope's window (skew 30000 ms), or to the
                edge of it (valid: the window's boundaries)
    splice      the last statement's (seq, prev) taken from another issuer's chain, re-signed: kinds by
                what step 27 finds (a held seq, a broken link, time running backwards, a gap)

Each mutation's expected outcome is *derived* from the rules of SPEC sections 6 and 11 and what the
prefix holds (the issuer's chain, the mandates, the windows), not taken from the reference library;
the generator then runs every vector through the library (:func:`.output.self_check`), so a
disagreement stops generation as a bug in the grammar or in the library. The twin of each mutation is
the valid prefix it came from. Each test carries a ``mutation`` member ({op, kind, target, field,
bit, source}) that says what was done to which envelope of which source vector.

Mutations are deduplicated (two that yield the same transcript and reference time are one) and drawn
with a quota per (op, kind) from the shortest prefixes first, so the file stays small; everything is
deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, Envelope, pae, statement_digest
from a2a_coop.protocol.identity import GROUP_ORDER, Keypair
from a2a_coop.protocol.statements import Statement, encode_statement, negotiation_id_for
from a2a_coop.testing import derive
from a2a_coop.vectors import Vector, run_vector
from conformance.generate_vectors import wire
from conformance.generate_vectors._common import Group, Twin, make_envelope
from conformance.generate_vectors.output import document, numbered

FILE: Final = "mutations.json"
SKEW_MS: Final = 30_000
MAX_INT: Final = 2**53 - 1
MAX_PREFIX: Final = 6  # longer prefixes add bytes, not new kinds of defect

# (op, kind) -> how many vectors of that kind the file holds at most
QUOTAS: Final[dict[tuple[str, str], int]] = {
    ("flip", "signature-R"): 50,
    ("flip", "signature-S"): 40,
    ("flip", "signature-S-high"): 40,
    ("flip", "payload"): 140,
    ("field", "version"): 30,
    ("field", "issuer"): 40,
    ("field", "audience"): 30,
    ("field", "prev"): 60,
    ("field", "issued-before-prev"): 40,
    ("field", "nonce-offer"): 30,
    ("field", "negotiation_id"): 50,
    ("field", "mandate"): 60,
    ("field", "refs"): 30,
    ("field", "expires_at_ms"): 30,
    ("field", "issued_at_ms"): 20,
    ("field", "not_before_ms"): 20,
    ("field", "seq-range"): 20,
    ("field", "prev-at-zero"): 20,
    ("field", "body"): 30,
    ("resign", "wrong-key"): 50,
    ("resign", "other-keyid"): 50,
    ("resign", "impersonate"): 80,
    ("drop", "mandate"): 70,
    ("drop", "predecessor"): 70,
    ("reorder", "before-mandate"): 70,
    ("reorder", "before-predecessor"): 60,
    ("replay", "again"): 70,
    ("replay", "late"): 60,
    ("replay", "nonce"): 70,
    ("reencode", "padded-varint"): 25,
    ("reencode", "field-order"): 25,
    ("reencode", "duplicate-field"): 25,
    ("reencode", "explicit-default"): 25,
    ("reencode", "unknown-field-first"): 20,
    ("reencode", "reserved-field"): 20,
    ("reencode", "wrong-wire-type"): 20,
    ("reencode", "truncated-payload"): 20,
    ("reencode", "envelope-padded-length"): 20,
    ("reencode", "envelope-field-order"): 20,
    ("reencode", "envelope-two-signatures"): 20,
    ("reencode", "envelope-unknown-field"): 20,
    ("reencode", "envelope-payload-type"): 20,
    ("reencode", "envelope-truncated"): 20,
    ("shift-time", "future"): 60,
    ("shift-time", "expired"): 60,
    ("shift-time", "not-yet-valid"): 20,
    ("shift-time", "edge"): 30,
    ("splice", "held-seq"): 40,
    ("splice", "link"): 40,
    ("splice", "time"): 20,
    ("splice", "gap"): 20,
}

GROUPS: Final = {  # op -> (group type, flag)
    "flip": ("MutationFlip", "MutationFlip"),
    "field": ("MutationField", "MutationField"),
    "resign": ("MutationResign", "MutationResign"),
    "drop": ("MutationDrop", "MutationDrop"),
    "reorder": ("MutationReorder", "MutationReorder"),
    "replay": ("MutationReplay", "MutationReplay"),
    "reencode": ("MutationReencode", "MutationReencode"),
    "shift-time": ("MutationShiftTime", "MutationShiftTime"),
    "splice": ("MutationSplice", "MutationSplice"),
}

HEADER_FIELDS: Final = {  # header field name -> number (statement.proto)
    "version": 1,
    "issuer": 2,
    "audience": 3,
    "seq": 4,
    "prev": 5,
    "issued_at_ms": 6,
    "not_before_ms": 7,
    "expires_at_ms": 8,
    "nonce": 9,
    "negotiation_id": 10,
    "refs": 11,
    "mandate": 12,
}


# --- keys -------------------------------------------------------------------------------------------


@contextmanager
def recording_keys() -> Iterator[dict[str, Keypair]]:
    """Every Keypair made while open, by did: the issuers' keys, to re-sign their statements."""
    keys: dict[str, Keypair] = {}
    original = Keypair.__post_init__

    def post_init(self: Keypair) -> None:
        original(self)
        keys[self.did] = self

    setattr(Keypair, "__post_init__", post_init)  # noqa: B010 - a class attribute, restored below
    try:
        yield keys
    finally:
        setattr(Keypair, "__post_init__", original)  # noqa: B010


MALLORY: Final = Keypair.from_seed(derive("key/mallory-mutations"))


# --- transcripts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prefix:
    """A valid transcript (or a prefix of one): what a mutation starts from."""

    mode: str
    now_ms: int | None
    envelopes: tuple[bytes, ...]
    source: str
    statements: tuple[Statement, ...] = field(compare=False)
    digests: tuple[bytes, ...] = field(compare=False)

    @property
    def last(self) -> int:
        return len(self.envelopes) - 1

    def issuer(self, i: int) -> str:
        return self.statements[i].header.issuer

    def held(self, issuer: str, upto: int) -> dict[int, int]:
        """seq -> index of the issuer's statements among envelopes[:upto] in its chain: in a sparse view,
        not its KeyRevocations of itself (KEY-013: they join no chain)."""
        return {
            s.header.seq: i
            for i, s in enumerate(self.statements[:upto])
            if s.header.issuer == issuer and not self.out_of_chain(i)
        }

    def out_of_chain(self, i: int) -> bool:
        """KEY-013: whether statement ``i`` is a KeyRevocation of its issuer by itself read by a sparse
        view -- in no chain, holding no nonce, taken though it forks its issuer's chain or reuses a nonce."""
        s = self.statements[i]
        return (
            self.mode == "sparse"
            and s.WhichOneof("body") == "key_revocation"
            and s.key_revocation.key == s.header.issuer
        )


def _open(data: bytes) -> tuple[Statement, bytes]:
    env = Envelope.FromString(data)
    return Statement.FromString(env.payload), statement_digest(env.payload)


def _prefix(mode: str, now_ms: int | None, envelopes: Sequence[bytes], source: str) -> Prefix:
    opened = [_open(e) for e in envelopes]
    return Prefix(
        mode, now_ms, tuple(envelopes), source, tuple(s for s, _ in opened), tuple(d for _, d in opened)
    )


def _valid(mode: str, now_ms: int | None, envelopes: Sequence[bytes]) -> bool:
    v = Vector("t", "", mode, 0, "", (), (), now_ms, tuple(envelopes), "valid", None, None)
    return run_vector(v).passed


def prefixes(files: Sequence[tuple[str, Sequence[Group]]]) -> list[Prefix]:
    """Every distinct prefix (at most MAX_PREFIX envelopes) of every valid transcript of these files,
    shortest first; a sparse transcript that is also a complete log is used in both modes."""
    transcripts: dict[tuple[str, int | None, tuple[bytes, ...]], str] = {}
    for name, groups in files:
        for tc_id, group, case in numbered(groups):
            if case.error is None:
                transcripts.setdefault((group.mode, case.now_ms, tuple(case.envelopes)), f"{name}-{tc_id}")
            elif case.twin is not None:
                key = (group.mode, case.twin.now_ms, tuple(case.twin.envelopes))
                transcripts.setdefault(key, f"{name}-{tc_id}-twin")
    for (mode, now_ms, envs), source in list(transcripts.items()):
        head = envs[:MAX_PREFIX]
        new = mode == "sparse" and len(head) > 1 and ("complete", now_ms, head) not in transcripts
        if new and _valid("complete", now_ms, head):
            transcripts[("complete", now_ms, head)] = source
    seen: dict[tuple[str, int | None, tuple[bytes, ...]], str] = {}
    for (mode, now_ms, envs), source in transcripts.items():
        for n in range(1, min(len(envs), MAX_PREFIX) + 1):
            seen.setdefault((mode, now_ms, envs[:n]), source)
    out = [_prefix(mode, now_ms, envs, source) for (mode, now_ms, envs), source in seen.items()]
    out = [p for p in out if not _taken_by_its_stamp(p)]
    return sorted(out, key=lambda p: (len(p.envelopes), sum(map(len, p.envelopes))))


def _taken_by_its_stamp(p: Prefix) -> bool:
    """Whether the prefix's last statement is one a KeyRevocation before it covers -- of its issuer, or of
    its Mandate's principal, effective at or before its issued_at_ms -- taken only because its escrow's
    Stamp names its digest (KEY-009). Any change that re-signs it gives it another digest, which no Stamp
    names, and step 22 refuses it KEY_REVOKED before the step the grammar derives: such a prefix is no
    mutation source."""
    last = p.statements[p.last]
    effective: dict[str, int] = {}
    for s in p.statements[: p.last]:
        if s.WhichOneof("body") == "key_revocation":
            r = s.key_revocation
            effective[r.key] = min(r.effective_ms, effective.get(r.key, r.effective_ms))
    if not effective:
        return False
    keys = {last.header.issuer}
    for i, s in enumerate(p.statements[: p.last]):
        if p.digests[i] == last.header.mandate and s.WhichOneof("body") == "mandate":
            keys.add(s.header.issuer)
    return any(k in effective and last.header.issued_at_ms >= effective[k] for k in keys)


# --- mutants ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """What was done: ``op`` and ``kind`` of the grammar, to envelope ``target`` of ``source``."""

    op: str
    kind: str
    target: int
    source: str
    field: str = ""
    bit: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "kind": self.kind, "target": self.target}
        if self.field:
            out["field"] = self.field
        if self.bit is not None:
            out["bit"] = self.bit
        out["source"] = self.source
        return out


@dataclass(frozen=True)
class Mutant:
    mutation: Mutation
    comment: str
    envelopes: tuple[bytes, ...]
    now_ms: int | None
    error: str | None  # None: the mutation keeps the transcript valid (a boundary)
    requirements: tuple[str, ...]
    failed_index: int | None
    mode: str
    twin: Twin | None  # the valid prefix it came from; None for a valid mutant


def _choice(p: Prefix, salt: str, n: int) -> int:
    """A deterministic pseudo-random choice in range(n) for this prefix."""
    h = hashlib.sha256(salt.encode() + b"".join(p.digests)).digest()
    return int.from_bytes(h[:4], "big") % n


def _payload(data: bytes) -> bytes:
    return Envelope.FromString(data).payload


def _resign(key: Keypair, payload: bytes, keyid: str | None = None) -> bytes:
    sig = key.sign(pae(STATEMENT_PAYLOAD_TYPE, payload))
    return make_envelope(payload, STATEMENT_PAYLOAD_TYPE, [(keyid or key.did, sig)])


def _edited(p: Prefix, i: int, edit: Callable[[Statement], Any]) -> Statement:
    out = Statement()
    out.CopyFrom(p.statements[i])
    edit(out)
    return out


class _Builder:
    """The mutations of one prefix; ``keys`` re-sign its statements as their issuers."""

    def __init__(self, p: Prefix, keys: dict[str, Keypair], full: Callable[[str, str], bool]) -> None:
        self.p = p
        self.keys = keys
        self.full = full  # whether the file already holds enough of (op, kind): build no more

    def mutant(  # noqa: PLR0917 - one line per mutation reads best
        self,
        op: str,
        kind: str,
        comment: str,
        envelopes: Sequence[bytes],
        error: str | None,
        requirements: Sequence[str],
        *,
        target: int | None = None,
        field: str = "",
        bit: int | None = None,
        now_ms: int | str | None = "same",
        failed_index: int | None = None,
    ) -> Mutant:
        p = self.p
        t = p.last if target is None else target
        envs = tuple(envelopes)
        twin = (
            None
            if error is None
            else Twin(list(p.envelopes[: len(envs)] if op == "shift-time" else p.envelopes), p.now_ms)
        )
        return Mutant(
            Mutation(op, kind, t, p.source, field, bit),
            comment,
            envs,
            p.now_ms if now_ms == "same" else now_ms,  # type: ignore[arg-type]
            error,
            tuple(requirements),
            failed_index,
            p.mode,
            twin,
        )

    def resigned(self, stmt: Statement) -> bytes:
        """``stmt`` signed by the last statement's issuer (whose key the generator holds)."""
        return _resign(self.keys[self.p.issuer(self.p.last)], encode_statement(stmt))

    def head(self) -> tuple[bytes, ...]:
        return self.p.envelopes[:-1]

    # -- flip ------------------------------------------------------------------------------------

    def flips(self) -> Iterator[Mutant]:
        p, last = self.p, self.p.envelopes[-1]
        env = Envelope.FromString(last)
        sig = env.signatures[0].sig
        for kind, lo, hi in (
            ("signature-R", 0, 256),
            ("signature-S", 256, 504),
            ("signature-S-high", 509, 512),
        ):
            bit = lo + _choice(p, kind, hi - lo)
            flipped = bytearray(sig)
            flipped[bit // 8] ^= 1 << (bit % 8)
            s = int.from_bytes(flipped[32:], "little")
            code, req = (
                ("SIGNATURE_NONCANONICAL", "ENV-007")
                if s >= GROUP_ORDER
                else ("SIGNATURE_INVALID", "ENV-006")
            )
            data = make_envelope(env.payload, env.payload_type, [(env.signatures[0].keyid, bytes(flipped))])
            yield self.mutant(
                "flip",
                kind,
                f"bit {bit} of the signature flipped (S {'>=' if s >= GROUP_ORDER else '<'} L)",
                [*self.head(), data],
                code,
                [req],
                field="signature",
                bit=bit,
            )
        # a bit of one header field of the signed payload, the signature left as it was
        header = wire.decode(wire.decode(env.payload)[0][2])  # type: ignore[arg-type]
        present = [(n, v) for n, _, v in header]
        number, value = present[_choice(p, "payload-field", len(present))]
        name = next(k for k, v in HEADER_FIELDS.items() if v == number)
        offset = env.payload.find(value if isinstance(value, bytes) else wire.varint(value))
        size = len(value) if isinstance(value, bytes) else len(wire.varint(value))
        byte = offset + _choice(p, "payload-byte", max(size, 1))
        bit = byte * 8 + _choice(p, "payload-bit", 7)  # never the top bit: a varint keeps its length
        payload = bytearray(env.payload)
        payload[byte] ^= 1 << (bit % 8)
        data = make_envelope(
            bytes(payload), env.payload_type, [(env.signatures[0].keyid, env.signatures[0].sig)]
        )
        yield self.mutant(
            "flip",
            "payload",
            f"bit {bit % 8} of payload byte {byte} (header.{name}) flipped, not re-signed",
            [*self.head(), data],
            "SIGNATURE_INVALID",
            ["ENV-006"],
            field=f"header.{name}",
            bit=bit,
        )

    # -- field (re-signed) --------------------------------------------------------------------------

    def fields(self) -> Iterator[Mutant | None]:
        p = self.p
        t = p.last
        stmt = p.statements[t]
        h = stmt.header
        body = stmt.WhichOneof("body")

        def case(
            kind: str, what: str, edit: Callable[[Statement], Any], code: str, reqs: Sequence[str]
        ) -> Mutant | None:
            if self.full("field", kind):
                return None
            data = self.resigned(_edited(p, t, edit))
            return self.mutant(
                "field",
                kind,
                f"{what}, re-signed by the issuer",
                [*self.head(), data],
                code,
                reqs,
                field=f"header.{kind.split('-', maxsplit=1)[0]}",
            )

        def set_version(s: Statement) -> None:
            s.header.version = h.version ^ 2

        yield case(
            "version",
            f"header.version {h.version} -> {h.version ^ 2}",
            set_version,
            "UNSUPPORTED_VERSION",
            ["STM-003"],
        )

        def set_issuer(s: Statement) -> None:
            s.header.issuer = h.issuer[:-1] + chr(ord(h.issuer[-1]) ^ 1)

        yield case(
            "issuer",
            "one bit of header.issuer's last character flipped",
            set_issuer,
            "KEYID_MISMATCH",
            ["STM-004"],
        )

        def set_audience(s: Statement) -> None:
            s.header.audience = "did:key:z6MkNotAKey"

        yield case(
            "audience",
            "header.audience is not a did:key",
            set_audience,
            "KEY_INVALID",
            ["STM-005", "KEY-001"],
        )

        def set_expiry(s: Statement) -> None:
            s.header.expires_at_ms = h.issued_at_ms

        yield case(
            "expires_at_ms",
            "header.expires_at_ms equal to issued_at_ms",
            set_expiry,
            "HEADER_INVALID",
            ["STM-008"],
        )

        def clear_issued(s: Statement) -> None:
            s.header.issued_at_ms = 0

        yield case(
            "issued_at_ms", "header.issued_at_ms removed (0)", clear_issued, "HEADER_INVALID", ["STM-008"]
        )

        def set_not_before(s: Statement) -> None:
            s.header.not_before_ms = h.expires_at_ms

        yield case(
            "not_before_ms",
            "header.not_before_ms at expires_at_ms",
            set_not_before,
            "HEADER_INVALID",
            ["STM-008"],
        )

        def bad_ref(s: Statement) -> None:
            s.header.refs.append(bytes(31))

        yield case("refs", "a 31-byte digest appended to header.refs", bad_ref, "HEADER_INVALID", ["STM-011"])

        def no_body(s: Statement) -> None:
            s.ClearField(body)

        yield case("body", f"the {body} body removed", no_body, "BODY_MISSING", ["STM-010"])
        if h.seq:

            def big_seq(s: Statement) -> None:
                s.header.seq = MAX_INT + 1

            yield case("seq-range", "header.seq = 2^53", big_seq, "HEADER_INVALID", ["STM-013"])

            def seq_zero(s: Statement) -> None:
                s.header.seq = 0

            yield case("prev-at-zero", "header.seq = 0, prev kept", seq_zero, "HEADER_INVALID", ["STM-006"])
        if h.mandate:
            flipped = bytes([h.mandate[0] ^ 1]) + h.mandate[1:]

            def set_mandate(s: Statement) -> None:
                s.header.mandate = flipped

            yield case(
                "mandate",
                "one bit of header.mandate flipped (no such mandate)",
                set_mandate,
                "MANDATE_UNKNOWN",
                ["MND-002"],
            )
        if body == "offer":

            def set_nonce(s: Statement) -> None:
                s.header.nonce = bytes([h.nonce[0] ^ 1]) + h.nonce[1:]

            yield case(
                "nonce-offer",
                "one bit of an Offer's nonce flipped (its negotiation_id no longer derives from it)",
                set_nonce,
                "HEADER_INVALID",
                ["NEG-013"],
            )

            def set_nid(s: Statement) -> None:
                s.header.negotiation_id = bytes([h.negotiation_id[0] ^ 1]) + h.negotiation_id[1:]

            yield case(
                "negotiation_id",
                "one bit of an Offer's negotiation_id flipped",
                set_nid,
                "HEADER_INVALID",
                ["NEG-013"],
            )
        held = p.held(h.issuer, t)
        if h.seq and h.seq - 1 in held and not p.out_of_chain(t):
            flipped_prev = bytes([h.prev[-1] ^ 1])

            def set_prev(s: Statement) -> None:
                s.header.prev = h.prev[:-1] + flipped_prev

            yield case(
                "prev",
                "one bit of header.prev flipped (the predecessor is held)",
                set_prev,
                "CHAIN_BROKEN",
                ["CHN-003"],
            )
            before = p.statements[held[h.seq - 1]].header.issued_at_ms - 1

            def backdate(s: Statement) -> None:
                s.header.issued_at_ms, s.header.expires_at_ms = (
                    before,
                    before + h.expires_at_ms - h.issued_at_ms,
                )

            yield case(
                "issued-before-prev",
                "header.issued_at_ms 1 ms before the held predecessor's (same time to live)",
                backdate,
                "CHAIN_BROKEN",
                ["CHN-005"],
            )

    # -- resign --------------------------------------------------------------------------------------

    def resigns(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        stmt = p.statements[t]
        payload = _payload(p.envelopes[t])
        yield self.mutant(
            "resign",
            "wrong-key",
            "signed by another key under the issuer's keyid",
            [*self.head(), _resign(MALLORY, payload, keyid=stmt.header.issuer)],
            "SIGNATURE_INVALID",
            ["ENV-006"],
            field="signature",
        )
        yield self.mutant(
            "resign",
            "other-keyid",
            "signed by another key, its own keyid; header.issuer unchanged",
            [*self.head(), _resign(MALLORY, payload)],
            "KEYID_MISMATCH",
            ["STM-004"],
            field="signature",
        )
        h = stmt.header
        if h.mandate and h.audience != MALLORY.did:

            def impersonate(s: Statement) -> None:
                s.header.issuer = MALLORY.did
                if s.WhichOneof("body") == "offer":
                    s.header.negotiation_id = negotiation_id_for(MALLORY.did, s.header.nonce)

            data = _resign(MALLORY, encode_statement(_edited(p, t, impersonate)))
            yield self.mutant(
                "resign",
                "impersonate",
                "re-issued by another key that cites the issuer's mandate",
                [*self.head(), data],
                "MANDATE_VIOLATION",
                ["MND-002"],
                field="header.issuer",
            )

    # -- drop ------------------------------------------------------------------------------------------

    def drops(self) -> Iterator[Mutant]:
        """Leave out envelope j; the first later envelope that depends on it fails, if derivable."""
        p = self.p
        for j in range(p.last):
            dj = p.digests[j]
            sj = p.statements[j]
            issuers_before = {s.header.issuer for s in p.statements[:j]}
            for k in range(j + 1, len(p.envelopes)):
                sk = p.statements[k]
                payload = _payload(p.envelopes[k])
                same_issuer = sk.header.issuer == sj.header.issuer
                cites = dj in payload
                shares = (
                    bool(sj.header.negotiation_id) and sk.header.negotiation_id == sj.header.negotiation_id
                )
                stateful = sk.WhichOneof("body") in ("key_revocation", "ruling", "stamp", "lapse")
                if not (same_issuer or cites or shares or stateful):
                    continue
                envs = [*p.envelopes[:j], *p.envelopes[j + 1 : k + 1]]
                only_prev = payload.count(dj) == (1 if sk.header.prev == dj else 0)
                if sk.header.mandate == dj:
                    yield self.mutant(
                        "drop",
                        "mandate",
                        f"envelope {j} (the Mandate envelope {k} cites) left out",
                        envs,
                        "MANDATE_UNKNOWN",
                        ["MND-002"],
                        target=j,
                        failed_index=k - 1,
                    )
                elif same_issuer and only_prev and not shares and not stateful:
                    if p.mode == "sparse" or sj.header.issuer not in issuers_before:
                        continue  # a sparse view allows the gap, and a complete one may start anywhere
                    yield self.mutant(
                        "drop",
                        "predecessor",
                        f"envelope {j} (seq {sj.header.seq}) left out of its issuer's complete log",
                        envs,
                        "CHAIN_GAP",
                        ["CHN-002"],
                        target=j,
                        failed_index=k - 1,
                    )
                break

    # -- reorder ---------------------------------------------------------------------------------------

    def reorders(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        h = p.statements[t].header
        last = p.envelopes[t]
        if h.mandate and h.mandate in p.digests[:t]:
            m = p.digests.index(h.mandate)
            envs = [*p.envelopes[:m], last, *p.envelopes[m:t]]
            yield self.mutant(
                "reorder",
                "before-mandate",
                f"the last statement moved before its Mandate (envelope {m})",
                envs,
                "MANDATE_UNKNOWN",
                ["MND-002"],
                failed_index=m,
            )
        if p.mode != "complete" or not h.seq:
            return
        held = p.held(h.issuer, t)
        pred = held.get(h.seq - 1)
        if pred is None or h.seq - 2 not in held:
            return  # with no earlier statement held, a complete view may start at any seq
        envs = [*p.envelopes[:pred], last, *p.envelopes[pred:t]]
        if h.mandate and h.mandate not in p.digests[:pred]:
            code, reqs = "MANDATE_UNKNOWN", ["MND-002"]
        else:
            code, reqs = "CHAIN_GAP", ["CHN-002"]
        yield self.mutant(
            "reorder",
            "before-predecessor",
            f"the last statement moved before its predecessor (envelope {pred})",
            envs,
            code,
            reqs,
            failed_index=pred,
        )

    # -- replay ------------------------------------------------------------------------------------------

    def replays(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        revoking = {"key_revocation", "key_rotation"}
        if p.statements[t].WhichOneof("body") not in revoking:
            yield self.mutant(
                "replay",
                "again",
                "the last envelope sent twice",
                [*p.envelopes, p.envelopes[t]],
                "REPLAYED",
                ["RPL-002"],
                failed_index=t + 1,
            )
        later_revocation = [i for i, s in enumerate(p.statements) if s.WhichOneof("body") in revoking]
        first = later_revocation[0] if later_revocation else len(p.envelopes)
        if t >= 1 and first > t:
            j = _choice(p, "late", t)
            yield self.mutant(
                "replay",
                "late",
                f"envelope {j} sent again after the last one",
                [*p.envelopes, p.envelopes[j]],
                "REPLAYED",
                ["RPL-002"],
                target=j,
                failed_index=t + 1,
            )
        h = p.statements[t].header
        earlier = [
            s.header.nonce
            for i, s in enumerate(p.statements[:t])
            if s.header.issuer == h.issuer and s.header.nonce != h.nonce and not p.out_of_chain(i)
        ]
        if earlier and not p.out_of_chain(t):
            nonce = earlier[_choice(p, "nonce", len(earlier))]

            def reuse(s: Statement) -> None:
                s.header.nonce = nonce
                if s.WhichOneof("body") == "offer":
                    s.header.negotiation_id = negotiation_id_for(s.header.issuer, nonce)

            data = self.resigned(_edited(p, t, reuse))
            yield self.mutant(
                "replay",
                "nonce",
                "re-signed with the nonce of an earlier statement by its issuer",
                [*self.head(), data],
                "NONCE_REUSED",
                ["RPL-001"],
                field="header.nonce",
            )

    # -- reencode ---------------------------------------------------------------------------------------

    def reencodes(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        env = Envelope.FromString(p.envelopes[t])
        payload = env.payload
        key = self.keys[p.statements[t].header.issuer]
        top = wire.decode(payload)
        header = wire.decode(top[0][2])  # type: ignore[arg-type]

        def with_header(fields: Sequence[wire.Field], **kw: Any) -> bytes:
            return wire.encode([(1, 2, wire.encode(fields, **kw)), *top[1:]])

        def payload_case(kind: str, what: str, new: bytes, code: str, reqs: Sequence[str]) -> Mutant:
            return self.mutant(
                "reencode",
                kind,
                f"{what}, re-signed by the issuer",
                [*self.head(), _resign(key, new)],
                code,
                reqs,
                field="payload",
            )

        i6 = wire.position(header, 6)
        yield payload_case(
            "padded-varint",
            "header.issued_at_ms as a padded varint",
            with_header(header, widths={i6: len(wire.varint(header[i6][2])) + 1}),  # type: ignore[arg-type]
            "NONCANONICAL_ENCODING",
            ["STM-002"],
        )
        swapped = [header[1], header[0], *header[2:]]
        yield payload_case(
            "field-order",
            "header.issuer written before header.version",
            with_header(swapped),
            "NONCANONICAL_ENCODING",
            ["STM-002"],
        )
        i9 = wire.position(header, 9)
        yield payload_case(
            "duplicate-field",
            "header.nonce written twice",
            with_header([*header[: i9 + 1], header[i9], *header[i9 + 1 :]]),
            "NONCANONICAL_ENCODING",
            ["STM-002"],
        )
        if not any(n == 7 for n, _, _ in header):
            i8 = wire.position(header, 8)
            yield payload_case(
                "explicit-default",
                "header.not_before_ms written as an explicit 0",
                with_header([*header[:i8], (7, 0, 0), *header[i8:]]),
                "NONCANONICAL_ENCODING",
                ["STM-002"],
            )
        yield payload_case(
            "unknown-field-first",
            "an unknown field (1000) before the header",
            wire.encode([(1000, 0, 1)]) + payload,
            "NONCANONICAL_ENCODING",
            ["STM-016"],
        )
        yield payload_case(
            "reserved-field",
            "field 5 (in the gap below the bodies) after the header",
            wire.encode([top[0], (5, 0, 1), *top[1:]]),
            "MALFORMED_STATEMENT",
            ["STM-016"],
        )
        yield payload_case(
            "wrong-wire-type",
            "header.version with wire type 2",
            with_header([(1, 2, b"\x01"), *header[1:]]),
            "MALFORMED_STATEMENT",
            ["STM-015"],
        )
        yield payload_case(
            "truncated-payload",
            "the payload's last byte cut off",
            payload[:-1],
            "MALFORMED_STATEMENT",
            ["STM-014"],
        )
        sig = env.signatures[0]
        sig_bytes = wire.encode([(1, 2, sig.keyid.encode()), (2, 2, sig.sig)])
        parts = [(1, 2, payload), (2, 2, env.payload_type.encode()), (3, 2, sig_bytes)]

        def env_case(kind: str, what: str, data: bytes, code: str, reqs: Sequence[str]) -> Mutant:
            return self.mutant(
                "reencode",
                kind,
                f"{what} (signature untouched)",
                [*self.head(), data],
                code,
                reqs,
                field="envelope",
            )

        yield env_case(
            "envelope-padded-length",
            "the envelope's payload length as a padded varint",
            wire.encode(parts, widths={0: len(wire.varint(len(payload))) + 1}),
            "MALFORMED_ENVELOPE",
            ["ENV-009"],
        )
        yield env_case(
            "envelope-field-order",
            "the envelope's payload_type before its payload",
            wire.encode([parts[1], parts[0], parts[2]]),
            "MALFORMED_ENVELOPE",
            ["ENV-009"],
        )
        yield env_case(
            "envelope-two-signatures",
            "the signature given twice",
            wire.encode([*parts, parts[2]]),
            "MALFORMED_ENVELOPE",
            ["ENV-004"],
        )
        yield env_case(
            "envelope-unknown-field",
            "an unknown field (15) after the signature",
            wire.encode([*parts, (15, 0, 1)]),
            "MALFORMED_ENVELOPE",
            ["ENV-009"],
        )
        other = STATEMENT_PAYLOAD_TYPE.replace("protobuf", "json")
        yield env_case(
            "envelope-payload-type",
            f"payload_type {other!r}",
            make_envelope(payload, other, [(sig.keyid, sig.sig)]),
            "UNSUPPORTED_PAYLOAD_TYPE",
            ["ENV-003"],
        )
        yield env_case(
            "envelope-truncated",
            "the envelope's last byte cut off",
            p.envelopes[t][:-1],
            "MALFORMED_ENVELOPE",
            ["ENV-004"],
        )

    # -- shift-time ----------------------------------------------------------------------------------

    def shifts(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        h = p.statements[t].header
        candidates = [
            (
                "future",
                h.issued_at_ms - SKEW_MS - 1,
                f"now_ms {SKEW_MS} + 1 ms before the last statement's issued_at_ms",
            ),
            (
                "expired",
                h.expires_at_ms + SKEW_MS + 1,
                f"now_ms {SKEW_MS} + 1 ms after the last statement's expires_at_ms",
            ),
            (
                "edge",
                h.issued_at_ms - SKEW_MS,
                f"now_ms exactly {SKEW_MS} ms before the last statement's issued_at_ms",
            ),
            (
                "edge",
                h.expires_at_ms + SKEW_MS,
                f"now_ms exactly {SKEW_MS} ms after the last statement's expires_at_ms",
            ),
        ]
        if h.not_before_ms:
            candidates.append(
                (
                    "not-yet-valid",
                    h.not_before_ms - SKEW_MS - 1,
                    f"now_ms {SKEW_MS} + 1 ms before not_before_ms",
                )
            )
        for kind, now, what in candidates:
            if now < 0 or now == p.now_ms:
                continue
            verdict = _first_out_of_window(p.statements, now)
            if verdict is None:
                if kind == "edge":
                    yield self.mutant(
                        "shift-time",
                        "edge",
                        f"{what}: every envelope is inside its window",
                        p.envelopes,
                        None,
                        ["TIM-001", "TIM-003"],
                        now_ms=now,
                    )
                continue
            k, code, req = verdict
            if kind == "edge":
                continue
            yield self.mutant(
                "shift-time",
                kind,
                f"{what}: envelope {k} is outside its window",
                p.envelopes[: k + 1],
                code,
                [req],
                now_ms=now,
                target=k,
                field="now_ms",
            )

    # -- splice ---------------------------------------------------------------------------------------

    def splices(self) -> Iterator[Mutant]:
        p = self.p
        t = p.last
        stmt = p.statements[t]
        h = stmt.header
        if stmt.WhichOneof("body") == "checkpoint" or p.out_of_chain(t):
            return
        donors = [(s.header.seq, s.header.prev) for s in p.statements[:t] if s.header.issuer != h.issuer]
        donors = [d for d in dict.fromkeys(donors) if d != (h.seq, h.prev)]
        start = _choice(p, "splice", len(donors)) if donors else 0
        kinds_seen: set[str] = set()
        for seq, prev in donors[start:] + donors[:start]:  # one mutant per verdict, from a rotated start

            def splice(s: Statement, seq: int = seq, prev: bytes = prev) -> None:
                s.header.seq, s.header.prev = seq, prev

            new = _edited(p, t, splice)
            verdict = _chain_verdict(p, t, seq, prev, h.issued_at_ms, statement_digest(encode_statement(new)))
            if verdict is None:
                continue  # nothing of the issuer's chain is held near that seq: a sparse view accepts it
            code, req = verdict
            kind = SPLICE_KINDS[req]
            if kind in kinds_seen or self.full("splice", kind):
                continue
            kinds_seen.add(kind)
            yield self.mutant(
                "splice",
                kind,
                f"(seq, prev) taken from another issuer's statement at seq {seq}, re-signed",
                [*self.head(), self.resigned(new)],
                code,
                [req],
                field="header.seq,header.prev",
            )


SPLICE_KINDS: Final = {"CHN-004": "held-seq", "CHN-003": "link", "CHN-005": "time", "CHN-002": "gap"}


def _first_out_of_window(stmts: Sequence[Statement], now: int) -> tuple[int, str, str] | None:
    """The first statement outside its time window at ``now`` (TIM-003, TIM-002, TIM-001 in that order)."""
    for k, s in enumerate(stmts):
        h = s.header
        if h.issued_at_ms > now + SKEW_MS:
            return k, "ISSUED_IN_FUTURE", "TIM-003"
        if h.not_before_ms and h.not_before_ms > now + SKEW_MS:
            return k, "NOT_YET_VALID", "TIM-002"
        if now > h.expires_at_ms + SKEW_MS:
            return k, "EXPIRED", "TIM-001"
    return None


def _chain_verdict(  # noqa: PLR0917 - the candidate statement's chain fields
    p: Prefix, t: int, seq: int, prev: bytes, issued: int, digest: bytes
) -> tuple[str, str] | None:
    """Step 27 for a statement of envelope t's issuer at (seq, prev), against the prefix before t."""
    issuer = p.issuer(t)
    held = {
        s.header.seq: (p.digests[i], s.header.prev, s.header.issued_at_ms)
        for i, s in enumerate(p.statements[:t])
        if s.header.issuer == issuer and not p.out_of_chain(i)
    }
    if seq in held and held[seq][0] != digest:
        return "EQUIVOCATION", "CHN-004"
    if seq - 1 in held and prev != held[seq - 1][0]:
        return "CHAIN_BROKEN", "CHN-003"
    if seq + 1 in held and held[seq + 1][1] != digest:
        return "CHAIN_BROKEN", "CHN-003"
    below = [s for s in held if s < seq]
    above = [s for s in held if s > seq]
    if below and issued < held[max(below)][2]:
        return "CHAIN_BROKEN", "CHN-005"
    if above and issued > held[min(above)][2]:
        return "CHAIN_BROKEN", "CHN-005"
    if p.mode == "complete" and held and seq != max(held) + 1:
        return "CHAIN_GAP", "CHN-002"
    return None


# --- the file -----------------------------------------------------------------------------------------


def mutants(files: Sequence[tuple[str, Sequence[Group]]], keys: dict[str, Keypair]) -> list[Mutant]:
    """The mutants of every prefix, deduplicated, at most QUOTAS per (op, kind), shortest prefixes first."""
    taken: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, int | None, tuple[bytes, ...]]] = set()
    out: list[Mutant] = []
    ops = {op: [k for o, k in QUOTAS if o == op] for op, _ in QUOTAS}

    def full(op: str, kind: str) -> bool:
        return taken.get((op, kind), 0) >= QUOTAS[(op, kind)]

    for p in prefixes(files):
        b = _Builder(p, keys, full)
        for op, gen in (
            ("flip", b.flips),
            ("field", b.fields),
            ("resign", b.resigns),
            ("drop", b.drops),
            ("reorder", b.reorders),
            ("replay", b.replays),
            ("reencode", b.reencodes),
            ("shift-time", b.shifts),
            ("splice", b.splices),
        ):
            if all(full(op, k) for k in ops[op]):
                continue  # every kind of this op is full: do not build more
            for m in gen():
                if m is None:
                    continue
                kind = (m.mutation.op, m.mutation.kind)
                key = (m.mode, m.now_ms, m.envelopes)
                if full(*kind) or key in seen:
                    continue
                taken[kind] = taken.get(kind, 0) + 1
                seen.add(key)
                out.append(m)
    return out


def groups_and_members(
    files: Sequence[tuple[str, Sequence[Group]]], keys: dict[str, Keypair]
) -> tuple[list[Group], list[dict[str, Any]]]:
    """The groups of mutations.json (one per op and chain mode, in grammar order) and each test's
    ``mutation`` member, in file order."""
    by_group: dict[tuple[str, str], tuple[Group, list[dict[str, Any]]]] = {}
    for m in mutants(files, keys):
        op = m.mutation.op
        gtype, flag = GROUPS[op]
        group, members = by_group.setdefault((op, m.mode), (Group(gtype, m.mode), []))
        flags = (flag, "Boundary") if m.error is None else (flag,)
        group.add(
            f"{op}/{m.mutation.kind}: {m.comment}",
            list(m.requirements),
            list(m.envelopes),
            m.error,
            *flags,
            now_ms=m.now_ms,
            failed_index=m.failed_index,
            twin=m.twin,
        )
        members.append(m.mutation.to_json())
    order = [(op, mode) for op in GROUPS for mode in ("sparse", "complete") if (op, mode) in by_group]
    return [by_group[k][0] for k in order], [mm for k in order for mm in by_group[k][1]]


def mutations_file(
    files: Sequence[tuple[str, Sequence[Group]]], keys: dict[str, Keypair]
) -> tuple[dict[str, Any], list[Group]]:
    """The mutations.json document (each test with its ``mutation`` member) and its groups."""
    groups, members = groups_and_members(files, keys)
    doc = document(groups)
    doc["header"] = [
        *doc["header"],
        "Mutation vectors: each test's `mutation` member names the op and kind of the mutation grammar,",
        "the envelope it changed and the valid vector (or twin) it was derived from.",
    ]
    tests = [t for g in doc["testGroups"] for t in g["tests"]]
    for test, member in zip(tests, members, strict=True):
        test["mutation"] = member
    return doc, groups
