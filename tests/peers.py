"""In-process peers for tests: a Party's key and mandate behind the real Peer, on a fixed clock with
deterministic nonces, so the same script signs the same statements on every run."""

from __future__ import annotations

import itertools
from typing import Any

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, derive


def make_peer(party: Party, clock: FixedClock, **kw: Any) -> Peer:
    """``party``'s agent as a Peer (pass ``context``, ``strategy``, ``journal`` as for Peer)."""
    counter = itertools.count()
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"nonce/{party.name}/{next(counter)}", 16),
        **kw,
    )


def fresh_key(i: int, clock: FixedClock, principal: Any = None) -> tuple[Any, Any]:
    """Mallory's ``i``-th fresh key (a testing Signer) and the Mandate ``principal`` (by default a
    fresh principal of its own) grants it for a day: what a key costs an attacker."""
    key = Signer(f"mallory/{i}", clock)
    boss = principal if principal is not None else Signer(f"mallory-principal/{i}", clock)
    caps = identity_pb2.Mandate(
        agent=key.did,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    return key, boss.sign("mandate", caps, ttl_ms=DAY_MS)
