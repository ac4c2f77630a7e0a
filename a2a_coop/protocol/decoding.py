"""The decoding profile: which protobuf bytes parse, and which are canonical (SPEC.md 6.2, 5.1).

Theory of operation. Standard protobuf decoders disagree on the edges of the
wire format: a field with the wrong wire type is kept as unknown by some and
misread by others, a uint32 varint of 2^32 + 1 is truncated to 1, a padded
tag is an error in one library and accepted in another, unknown fields are
kept by some and dropped by others. Two verifiers built on two decoders would
then report different codes for one payload. So the SPEC fixes one profile,
and this module states it as code: :func:`check` walks the bytes against the
message schema (read from the generated descriptors) and decides

* **malformed** (:class:`Malformed`, SPEC STM-014 wire structure, STM-015
  known fields, STM-016 unknown field numbers): the bytes do not parse as the
  message under the profile; or
* **non-canonical** (the returned :class:`Defect`, STM-002 known fields,
  STM-016 unknown fields): they parse, but are not the one canonical encoding
  of what they parse to; or
* **canonical** (``None``).

The whole input is parsed before anything is reported non-canonical, so a
malformation anywhere outranks a non-canonical encoding anywhere (STM-001).

Unknown fields are checked at the wire level only (field number above every
number the message defines, wire type 0, 1, 2 or 5, shortest varints, after
the known fields in non-decreasing field-number order); the contents of an
unknown length-delimited field are opaque.

This is the slow, complete path. :func:`a2a_coop.protocol.statements.decode_statement`
and :func:`a2a_coop.protocol.envelope.verify_envelope` first try the upb
decoder's parse and re-encode, which agrees with this module for every
payload without unknown fields and without a 10-byte varint, and call
:func:`check` only when that fast check fails (or cannot be trusted) to
learn which code the bytes deserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from google.protobuf.descriptor import FieldDescriptor

# Field kinds of the profile. v1 messages use no other types; building a spec for a message with
# any other type (signed or fixed-width integers, floats, groups, maps) raises, so a revision that
# adds one must extend the profile first.
UINT64: Final = "uint64"
UINT32: Final = "uint32"
BOOL: Final = "bool"
ENUM: Final = "enum"
STRING: Final = "string"
BYTES: Final = "bytes"
MESSAGE: Final = "message"

_KINDS: Final = {
    FieldDescriptor.TYPE_UINT64: UINT64,
    FieldDescriptor.TYPE_UINT32: UINT32,
    FieldDescriptor.TYPE_BOOL: BOOL,
    FieldDescriptor.TYPE_ENUM: ENUM,
    FieldDescriptor.TYPE_STRING: STRING,
    FieldDescriptor.TYPE_BYTES: BYTES,
    FieldDescriptor.TYPE_MESSAGE: MESSAGE,
}
# The largest value each varint kind may hold (STM-015). Enums are non-negative int32 values.
_VARINT_MAX: Final = {UINT64: (1 << 64) - 1, UINT32: (1 << 32) - 1, BOOL: 1, ENUM: (1 << 31) - 1}

WIRE_VARINT: Final = 0
WIRE_FIXED64: Final = 1
WIRE_LEN: Final = 2
WIRE_FIXED32: Final = 5
MAX_TAG: Final = (1 << 32) - 1  # field number at most 2^29 - 1
MAX_VARINT_BYTES: Final = 10


class FieldSpec(NamedTuple):
    """One known field of a message, as the profile sees it."""

    name: str
    kind: str
    repeated: bool
    implicit: bool  # implicit presence: omitted when it holds its default
    oneof: str  # name of its oneof, or ""
    message: MessageSpec | None

    @property
    def wire_type(self) -> int:
        return WIRE_VARINT if self.kind in _VARINT_MAX else WIRE_LEN


@dataclass(frozen=True)
class MessageSpec:
    """The known fields of one message type, by field number."""

    name: str
    fields: dict[int, FieldSpec]
    max_number: int


def message_spec(descriptor: Any, _done: dict[str, MessageSpec] | None = None) -> MessageSpec:
    """The profile's view of a generated message type (and, recursively, of its sub-messages).

    ``descriptor`` is the message's ``DESCRIPTOR`` (a protobuf Descriptor of any backend).

    Raises:
        ValueError: the message uses a field type or shape the profile does not define.
    """
    done = {} if _done is None else _done
    if descriptor.full_name in done:
        return done[descriptor.full_name]
    fields: dict[int, FieldSpec] = {}
    spec = MessageSpec(descriptor.full_name, fields, max((f.number for f in descriptor.fields), default=0))
    done[descriptor.full_name] = spec
    for f in descriptor.fields:
        kind = _KINDS.get(f.type)
        if kind is None:
            raise ValueError(f"{descriptor.full_name}.{f.name}: field type {f.type} is not in the profile")
        if f.is_repeated and kind in _VARINT_MAX:
            raise ValueError(f"{descriptor.full_name}.{f.name}: repeated scalars are not in the profile")
        sub = None
        if kind == MESSAGE:
            if f.message_type.GetOptions().map_entry:
                raise ValueError(f"{descriptor.full_name}.{f.name}: map fields are not in the profile")
            sub = message_spec(f.message_type, done)
        oneof = f.containing_oneof.name if f.containing_oneof is not None else ""
        implicit = not f.is_repeated and not f.has_presence
        fields[f.number] = FieldSpec(f.name, kind, f.is_repeated, implicit, oneof, sub)
    return spec


class Malformed(Exception):
    """The bytes do not parse under the profile. ``requirement`` is the SPEC rule they break."""

    def __init__(self, requirement: str, detail: str) -> None:
        super().__init__(detail)
        self.requirement = requirement
        self.detail = detail


class Defect(NamedTuple):
    """Why bytes that parse are not canonical: the SPEC rule and a human-readable detail."""

    requirement: str
    detail: str


def varint_size(n: int) -> int:
    """Bytes in the shortest varint encoding of n >= 0."""
    return max(1, (n.bit_length() + 6) // 7)


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``pos``; it must end before ``end``.

    Raises:
        Malformed: truncated, longer than 10 bytes, or a value of 2^64 or more (STM-014).
    """
    value = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise Malformed("STM-014", f"offset {start}: varint runs past the end of its message")
        b = data[pos]
        pos += 1
        if pos - start == MAX_VARINT_BYTES and b > 1:
            raise Malformed("STM-014", f"offset {start}: varint longer than 10 bytes or at least 2^64")
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


class _Scan:
    """One walk over a message's bytes; ``defect`` keeps the first non-canonical finding."""

    def __init__(self, data: bytes, allow_unknown: bool) -> None:
        self.data = data
        self.allow_unknown = allow_unknown
        self.defect: Defect | None = None

    def note(self, requirement: str, detail: str) -> None:
        if self.defect is None:
            self.defect = Defect(requirement, detail)

    def varint(self, pos: int, end: int, what: str, requirement: str) -> tuple[int, int]:
        value, after = read_varint(self.data, pos, end)
        if after - pos != varint_size(value):
            self.note(requirement, f"offset {pos}: {what} is a padded varint ({after - pos} bytes, {value})")
        return value, after

    def message(self, spec: MessageSpec, pos: int, end: int, path: str) -> None:
        data = self.data
        prev = 0  # field number of the previous field (ascending order, STM-002 rule 1)
        oneofs: set[str] = set()
        while pos < end:
            at = pos
            tag, pos = read_varint(data, pos, end)
            if tag > MAX_TAG:
                raise Malformed("STM-014", f"offset {at}: field number {tag >> 3} above 2^29 - 1")
            number, wt = tag >> 3, tag & 7
            if number == 0:
                raise Malformed("STM-014", f"offset {at}: field number 0")
            if wt not in (WIRE_VARINT, WIRE_FIXED64, WIRE_LEN, WIRE_FIXED32):
                what = "a group" if wt in (3, 4) else f"wire type {wt}"
                raise Malformed("STM-014", f"offset {at}: field {number} is {what}")
            f = spec.fields.get(number)
            name = f"{path}.{f.name}" if f is not None else f"{path}.<{number}>"
            unknown_rule = "STM-016" if f is None else "STM-002"
            if pos - at != varint_size(tag):
                self.note(unknown_rule, f"offset {at}: the tag of {name} is a padded varint")
            if number < prev or (number == prev and f is not None and not f.repeated):
                # A pair out of order breaks STM-016 if either field is unknown (SPEC 6.2, U3).
                rule = "STM-016" if f is None or prev > spec.max_number else "STM-002"
                self.note(rule, f"offset {at}: {name} out of field-number order, or repeated")
            prev = number
            if f is None:
                pos = self.unknown(spec, number=number, wt=wt, at=at, pos=pos, end=end, name=name)
                continue
            if wt != f.wire_type:
                raise Malformed("STM-015", f"offset {at}: {name} ({f.kind}) has wire type {wt}")
            if f.oneof:
                if f.oneof in oneofs:
                    self.note("STM-002", f"offset {at}: {name}: a second member of oneof {f.oneof}")
                oneofs.add(f.oneof)
            if wt == WIRE_VARINT:
                value, pos = self.varint(pos, end, name, "STM-002")
                if value > _VARINT_MAX[f.kind]:
                    raise Malformed("STM-015", f"offset {at}: {name} = {value} is out of range for {f.kind}")
                if f.implicit and value == 0:
                    self.note("STM-002", f"offset {at}: {name} = 0 written explicitly (implicit presence)")
                continue
            size, pos = self.varint(pos, end, f"the length of {name}", "STM-002")
            if size > end - pos:
                raise Malformed("STM-014", f"offset {at}: {name} runs past the end of its message")
            stop = pos + size
            if f.kind == MESSAGE:
                assert f.message is not None
                self.message(f.message, pos, stop, name)
            else:
                if f.kind == STRING:
                    try:
                        data[pos:stop].decode("utf-8")
                    except UnicodeDecodeError:
                        raise Malformed("STM-015", f"offset {at}: {name} is not valid UTF-8") from None
                if f.implicit and size == 0:
                    self.note("STM-002", f"offset {at}: {name} empty but written (implicit presence)")
            pos = stop

    def unknown(
        self, spec: MessageSpec, *, number: int, wt: int, at: int, pos: int, end: int, name: str
    ) -> int:
        """Check an unknown field whose tag ends at ``pos``; the position after it."""
        if not self.allow_unknown:
            self.note("", f"offset {at}: unknown field {name}")
        elif number < spec.max_number:
            raise Malformed(
                "STM-016",
                f"offset {at}: field {number} is not one {spec.name} defines, and no later revision "
                f"may define it (it is below {spec.max_number}, VER-003)",
            )
        if wt == WIRE_VARINT:
            return self.varint(pos, end, f"the value of {name}", "STM-016")[1]
        if wt == WIRE_LEN:
            size, pos = self.varint(pos, end, f"the length of {name}", "STM-016")
        else:
            size = 8 if wt == WIRE_FIXED64 else 4
        if size > end - pos:
            raise Malformed("STM-014", f"offset {at}: {name} runs past the end of its message")
        return pos + size


def check(data: bytes, spec: MessageSpec, *, allow_unknown: bool = True) -> Defect | None:
    """Decide ``data`` under the decoding profile for the message ``spec``.

    Args:
        data: the encoded message.
        spec: its type, from :func:`message_spec`.
        allow_unknown: False for messages that may hold no unknown field (the Envelope, ENV-009);
            an unknown field is then a :class:`Defect` with an empty requirement.

    Returns:
        None if ``data`` is the canonical encoding of what it parses to, else the first
        non-canonical finding.

    Raises:
        Malformed: ``data`` does not parse under the profile (checked over all of ``data`` first).
    """
    scan = _Scan(data, allow_unknown)
    scan.message(spec, 0, len(data), spec.name.rsplit(".", 1)[-1])
    return scan.defect


def describe(data: bytes, spec: MessageSpec, *, allow_unknown: bool = True) -> str:
    """``"canonical"``, ``"malformed: ..."`` or ``"noncanonical: ..."``: for tools and tests."""
    try:
        defect = check(data, spec, allow_unknown=allow_unknown)
    except Malformed as exc:
        return f"malformed [{exc.requirement}]: {exc.detail}"
    return "canonical" if defect is None else f"noncanonical [{defect.requirement}]: {defect.detail}"
