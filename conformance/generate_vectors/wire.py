"""A small protobuf wire-format codec, for the encodings the library refuses to produce.

a2a-coop only emits canonical protobuf (SPEC 6.2, STM-002). To pin that verifiers reject
everything else (non-minimal varints, duplicated, split or reordered fields, explicit defaults,
unknown fields out of place), vectors :func:`decode` a canonical payload into (field number, wire
type, value) triples, edit them and :func:`encode` them again. Only wire types 0 (varint) and 2
(length-delimited) are supported: a2a-coop messages use no others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Field = tuple[int, int, "int | bytes"]  # (field number, wire type, value)


def varint(n: int, width: int = 0) -> bytes:
    """Varint encoding of n, padded with continuation bytes to ``width`` (non-minimal) if given."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n or len(out) + 1 < width:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def decode(data: bytes) -> list[Field]:
    """The fields of a message, in the order they are encoded (nothing is merged or checked)."""
    out: list[Field] = []
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            value, i = _read_varint(data, i)
            out.append((num, wt, value))
        elif wt == 2:
            size, i = _read_varint(data, i)
            out.append((num, wt, data[i : i + size]))
            i += size
        else:
            raise ValueError(f"wire type {wt} not used by a2a-coop messages")
    return out


def encode(fields: Sequence[Field], *, widths: dict[int, int] | None = None) -> bytes:
    """Encode fields in the given order; ``widths`` pads the varint of field position i."""
    out = bytearray()
    for pos, (num, wt, value) in enumerate(fields):
        width = (widths or {}).get(pos, 0)
        out += varint(num << 3 | wt)
        if isinstance(value, int):
            out += varint(value, width)
        else:
            out += varint(len(value), width) + value
    return bytes(out)


def edit_header(payload: bytes, edit: Callable[[list[Field]], bytes]) -> bytes:
    """Replace the Statement's header (field 1) by ``edit(header fields)``."""
    top = decode(payload)
    return encode([(n, w, edit(decode(v)) if n == 1 and isinstance(v, bytes) else v) for n, w, v in top])


def position(fields: list[Field], number: int) -> int:
    """Index of the first field with this field number."""
    return next(i for i, (n, _, _) in enumerate(fields) if n == number)
