"""The error registry (SPEC section "Error registry", ERR-001)."""

from __future__ import annotations

import re

import grpc
import pytest

from a2a_coop.protocol import errors
from a2a_coop.protocol.errors import CoopError, Origin, by_code, registry

# Every code the SPEC plan allocates, with the check that raises it.
SPEC_CODES = {
    "MALFORMED_ENVELOPE", "ENVELOPE_TOO_LARGE", "UNSUPPORTED_PAYLOAD_TYPE", "MALFORMED_STATEMENT",
    "NONCANONICAL_ENCODING", "SIGNATURE_INVALID", "SIGNATURE_NONCANONICAL", "KEYID_MISMATCH",
    "KEY_INVALID", "KEY_NONCANONICAL", "KEY_SMALL_ORDER", "KEY_REVOKED", "UNSUPPORTED_VERSION",
    "HEADER_INVALID", "WRONG_AUDIENCE", "NOT_YET_VALID", "ISSUED_IN_FUTURE", "EXPIRED",
    "NONCE_REUSED", "REPLAYED", "CHAIN_GAP", "CHAIN_BROKEN", "EQUIVOCATION", "MANDATE_UNKNOWN",
    "MANDATE_VIOLATION", "BODY_MISSING", "BODY_INVALID", "COMMITMENT_MISMATCH",
    "ATTESTATION_INADMISSIBLE", "UNKNOWN_NEGOTIATION", "ILLEGAL_TRANSITION", "WRONG_PARTY",
    "STALE_REFERENCE", "REVOCATION_NOT_ALLOWED", "EXCLUSIVE_CONFLICT",
    # added by specification 0.2 (Appendix C)
    "REVOCATION_UNAUTHORIZED", "ISSUED_IN_PAST", "LOG_ROOT_MISMATCH", "UNWITNESSED", "LIMIT_EXCEEDED",
    # an RPC's request bytes that do not parse (RPC-007); a request field out of range (RPC-011);
    # per-peer back-pressure (RPC-012)
    "REQUEST_MALFORMED", "REQUEST_INVALID", "RATE_LIMITED",
}  # fmt: skip


def _leaves() -> list[type[CoopError]]:
    out, stack = [], [CoopError]
    while stack:
        cls = stack.pop()
        subs = cls.__subclasses__()
        stack.extend(subs)
        if not subs:
            out.append(cls)
    return out


@pytest.mark.req("ERR-001")
def test_registry_holds_exactly_the_spec_codes() -> None:
    """The SPEC allocates 43 codes; expect the registry to hold exactly those, no more, no fewer."""
    assert set(registry()) == SPEC_CODES


@pytest.mark.req("ERR-001")
def test_every_leaf_error_has_a_code_of_its_own() -> None:
    """Walk every CoopError leaf class; expect each to define its own UPPER_SNAKE code, none shared,
    and no category class (EncodingError, ...) to carry one."""
    leaves = _leaves()
    codes = [cls.code for cls in leaves]
    assert len(codes) == len(set(codes)), "two leaf classes share a code"
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", c) for c in codes)
    assert sorted(codes) == sorted(registry())
    assert all("code" in vars(cls) for cls in leaves)
    categories = (errors.EncodingError, errors.SignatureError, errors.StateError, errors.BodyError)
    for category in (*categories, errors.RequestError):
        assert category.code == "INTERNAL"
        assert category not in registry().values()


@pytest.mark.req("ERR-001")
@pytest.mark.parametrize("code", sorted(SPEC_CODES))
def test_every_code_maps_to_a_real_grpc_status(code: str) -> None:
    """A transport reports each code with a grpc.StatusCode; expect the name to exist in grpc and not
    be OK or UNKNOWN."""
    cls = registry()[code]
    status = grpc.StatusCode[cls.grpc_status]
    assert status not in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN)


@pytest.mark.req("ERR-001")
def test_registry_is_ordered_by_code_and_by_code_finds_each_class() -> None:
    """The SPEC table is generated in registry order; expect a stable (sorted) order and a lookup per code."""
    reg = registry()
    assert list(reg) == sorted(reg)
    for code, cls in reg.items():
        assert by_code(code) is cls
        assert cls.summary and cls.__doc__
    with pytest.raises(KeyError):
        by_code("NOT_A_CODE")


@pytest.mark.req("ERR-001")
def test_error_carries_code_requirement_origin_and_evidence() -> None:
    """A verifier raises an error with a requirement and evidence; expect all of it to survive and the
    message to lead with the code."""
    err = errors.Equivocation(
        "two at seq 3", requirement="CHN-004", origin=Origin.REMOTE, evidence=(b"a", b"b")
    )
    assert isinstance(err, errors.ChainError)
    assert isinstance(err, CoopError)
    assert (err.code, err.grpc_status, err.requirement) == ("EQUIVOCATION", "INVALID_ARGUMENT", "CHN-004")
    assert err.origin is Origin.REMOTE
    assert err.evidence == (b"a", b"b")
    assert str(err) == "EQUIVOCATION [CHN-004]: two at seq 3"


def test_error_without_detail_uses_its_summary() -> None:
    """An error raised with no detail; expect the class summary as its message and origin UNKNOWN."""
    err = errors.Replayed()
    assert err.detail == errors.Replayed.summary
    assert str(err) == f"REPLAYED: {errors.Replayed.summary}"
    assert err.origin is Origin.UNKNOWN
    assert err.requirement == ""


@pytest.mark.parametrize(
    "ms",
    [0, 1, 999, 86_399_999, 86_400_000, 951_782_400_000, 1_796_521_286_123, 4_107_542_399_999,
     253_402_300_799_999, -1, -86_400_001, -62_135_596_800_000],
)  # fmt: skip
def test_utc_text_matches_the_calendar(ms: int) -> None:
    """utc_text (the protocol core's, which imports no datetime) agrees with datetime on leap days,
    century years and both ends of years 1..9999, ms kept."""
    from datetime import UTC, datetime, timedelta

    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    want = dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d} UTC"
    assert errors.utc_text(ms) == want.rjust(len(want) + 4 - len(f"{dt.year}"), "0")


def test_utc_text_outside_the_calendar_falls_back_to_ms() -> None:
    """A time past year 9999 (a statement may expire as late as 2^53 - 1 ms) is shown as its ms."""
    assert errors.utc_text(2**53 - 1) == f"{2**53 - 1} ms after 1970"
    assert errors.utc_text(-62_135_596_800_001) == "-62135596800001 ms after 1970"
