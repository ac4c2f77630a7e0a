"""Time windows and replay protection (SPEC TIM-*, RPL-*)."""

from __future__ import annotations

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import Expired, IssuedInFuture, NonceReused, NotYetValid, Replayed
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS, MAX_SKEW_MS, ReplayCache, check_time_window
from a2a_coop.protocol.statements import Header
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party, derive

T = 1_000_000_000
SKEW = DEFAULT_SKEW_MS


def _header(issued: int = T, expires: int = T + 60_000, not_before: int = 0, nonce: bytes = b"") -> Header:
    return Header(
        issuer="did:key:zissuer",
        issued_at_ms=issued,
        expires_at_ms=expires,
        not_before_ms=not_before,
        nonce=nonce or derive("nonce", 16),
    )


@pytest.mark.req("TIM-004")
def test_default_skew_is_30_seconds_and_at_most_5_minutes() -> None:
    """The SPEC fixes the default skew at 30 s and forbids more than 300 s; expect the same constants
    and a refusal of a larger skew."""
    assert DEFAULT_SKEW_MS == 30_000
    assert MAX_SKEW_MS == 300_000
    assert Verifier().skew_ms == DEFAULT_SKEW_MS
    check_time_window(_header(), T, skew_ms=MAX_SKEW_MS)
    with pytest.raises(ValueError, match="TIM-004"):
        check_time_window(_header(), T, skew_ms=MAX_SKEW_MS + 1)
    with pytest.raises(ValueError):
        check_time_window(_header(), T, skew_ms=-1)
    assert Verifier(skew_ms=MAX_SKEW_MS).skew_ms == MAX_SKEW_MS
    with pytest.raises(ValueError, match="TIM-004"):
        Verifier(skew_ms=MAX_SKEW_MS + 1)  # refused when configured, not on the first statement


@pytest.mark.req("TIM-001")
def test_statement_is_still_valid_at_exactly_expiry_plus_skew() -> None:
    """A statement arrives exactly expires_at_ms + skew; expect it to pass."""
    h = _header()
    check_time_window(h, h.expires_at_ms + SKEW)


@pytest.mark.req("TIM-001")
def test_statement_one_millisecond_after_expiry_plus_skew_is_expired() -> None:
    """A statement arrives expires_at_ms + skew + 1; expect EXPIRED."""
    h = _header()
    with pytest.raises(Expired) as err:
        check_time_window(h, h.expires_at_ms + SKEW + 1)
    assert err.value.requirement == "TIM-001"


@pytest.mark.req("TIM-001", "TIM-004")
def test_expiry_boundary_moves_with_the_configured_skew() -> None:
    """With a skew of 0, a statement is valid at expires_at_ms and expired 1 ms later."""
    h = _header()
    check_time_window(h, h.expires_at_ms, skew_ms=0)
    with pytest.raises(Expired):
        check_time_window(h, h.expires_at_ms + 1, skew_ms=0)


@pytest.mark.req("TIM-002")
def test_not_before_boundary() -> None:
    """not_before_ms = T + 100 s: at T + 70 s (now + skew = not_before) it passes; at T + 70 s - 1 ms
    it is NOT_YET_VALID."""
    h = _header(not_before=T + 100_000, expires=T + 200_000)
    check_time_window(h, T + 100_000 - SKEW)
    with pytest.raises(NotYetValid) as err:
        check_time_window(h, T + 100_000 - SKEW - 1)
    assert err.value.requirement == "TIM-002"


@pytest.mark.req("TIM-003")
def test_issued_in_future_boundary() -> None:
    """A statement issued at T arrives at T - skew (passes) and at T - skew - 1 (ISSUED_IN_FUTURE)."""
    h = _header()
    check_time_window(h, T - SKEW)
    with pytest.raises(IssuedInFuture) as err:
        check_time_window(h, T - SKEW - 1)
    assert err.value.requirement == "TIM-003"


@pytest.mark.req("TIM-003", "TIM-002", "TIM-001", "ERR-002")
def test_freshness_faults_are_reported_in_spec_order() -> None:
    """A header whose issued_at is in the future and whose not_before is later still: expect
    ISSUED_IN_FUTURE (TIM-003 first). With issued_at in the past: NOT_YET_VALID (TIM-002 before TIM-001)."""
    future = _header(issued=T + 100_000, not_before=T + 150_000, expires=T + 200_000)
    with pytest.raises(IssuedInFuture):
        check_time_window(future, T)
    pending = _header(issued=T, not_before=T + 150_000, expires=T + 200_000)
    with pytest.raises(NotYetValid):
        check_time_window(pending, T)


@pytest.mark.req("TIM-005", "TIM-001")
def test_offline_verification_applies_freshness_only_at_a_reference_time(alice: Party, bob: Party) -> None:
    """An auditor checks a year-old offer: without a reference time it is evidence and passes; with
    the current time it is EXPIRED; with a reference time inside its window it passes."""
    offer = alice.offer(bob)
    year_later = offer.header.expires_at_ms + 365 * 86_400_000
    auditor = Verifier()
    auditor.accept(alice.setup[0], now_ms=None)
    auditor.check(offer, now_ms=None)
    with pytest.raises(Expired):
        auditor.check(offer, now_ms=year_later)
    auditor.check(offer, now_ms=offer.header.issued_at_ms)


# --- replay ------------------------------------------------------------------------------------


@pytest.mark.req("RPL-002")
def test_same_statement_twice_is_replayed() -> None:
    """A statement is accepted and arrives again; expect REPLAYED."""
    cache = ReplayCache()
    h = _header()
    cache.check(h, b"d" * 32)
    cache.add(h, b"d" * 32)
    with pytest.raises(Replayed) as err:
        cache.check(h, b"d" * 32)
    assert err.value.requirement == "RPL-002"
    assert len(cache) == 1


@pytest.mark.req("RPL-001")
def test_different_statement_with_a_remembered_nonce_is_refused() -> None:
    """An issuer reuses a nonce for a different statement; expect NONCE_REUSED."""
    cache = ReplayCache()
    h = _header()
    cache.add(h, b"a" * 32)
    with pytest.raises(NonceReused) as err:
        cache.check(h, b"b" * 32)
    assert err.value.requirement == "RPL-001"
    other_issuer = _header()
    other_issuer.issuer = "did:key:zsomeone-else"
    cache.check(other_issuer, b"b" * 32)  # nonces are per issuer


@pytest.mark.req("RPL-001", "RPL-002")
def test_cache_remembers_past_expiry_plus_skew() -> None:
    """Entries are kept at least until expires_at_ms + skew (RPL-001); without an archive, for good: only
    ``forget`` (once an archive holds the statement) drops them."""
    cache = ReplayCache()
    h = _header()
    cache.add(h, b"d" * 32)
    with pytest.raises(Replayed):
        cache.check(h, b"d" * 32)
    with pytest.raises(NonceReused):
        cache.check(h, b"e" * 32)
    with pytest.raises(Expired):
        check_time_window(h, h.expires_at_ms + SKEW + 1)  # the time window refuses it from then on
    cache.forget(h, b"d" * 32)
    assert len(cache) == 0
    cache.check(h, b"d" * 32)


@pytest.mark.req("RPL-002", "ERR-002")
def test_replay_of_an_accepted_statement_reports_replayed_not_nonce_reused(alice: Party, bob: Party) -> None:
    """Bob's verifier sees Alice's offer twice; expect REPLAYED (RPL-002 is checked before RPL-001)."""
    v = Verifier(me=bob.did)
    v.accept(alice.setup[0])
    offer = alice.offer(bob)
    v.accept(offer.envelope, now_ms=alice.clock.now_ms)
    with pytest.raises(Replayed):
        v.accept(offer.envelope, now_ms=alice.clock.now_ms)


@pytest.mark.req("RPL-001")
def test_verifier_refuses_a_second_statement_with_a_used_nonce() -> None:
    """Alice's buggy runtime signs two offers with one nonce; expect Bob's verifier to refuse the second
    with NONCE_REUSED."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    nonce = derive("fixed-nonce", 16)
    first = alice.offer(bob, nonce=nonce)
    second = alice.offer(bob, nonce=nonce)
    v = Verifier(me=bob.did)
    v.accept(alice.setup[0])
    v.accept(first.envelope, now_ms=clock.now_ms)
    with pytest.raises(NonceReused):
        v.accept(second.envelope, now_ms=clock.now_ms)


@pytest.mark.req("TIM-007", "TIM-001")
def test_a_live_receiver_takes_statements_that_live_400_days() -> None:
    """A statement addressed to Bob and valid for 400 days, received live; expect it accepted: 400 days
    is the lifetime every receiver must take (a year-long mandate or escrow ledger entry fits it)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    lifetime = 400 * 24 * 3600 * 1000
    ack = alice.sign("ack", commitment_pb2.Ack(statement=bytes(32)), audience=bob.did, ttl_ms=lifetime)
    assert ack.header.expires_at_ms - ack.header.issued_at_ms == lifetime == 34_560_000_000
    receiver = Verifier(me=bob.did)
    receiver.accept(alice.setup[0])
    assert receiver.accept(ack.envelope, clock.now_ms).body == "ack"
