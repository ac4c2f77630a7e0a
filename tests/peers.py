"""In-process peers for tests: a Party's key and mandate behind the real Peer, on a fixed clock with
deterministic nonces, so the same script signs the same statements on every run."""

from __future__ import annotations

import itertools
from typing import Any

from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party, derive


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
