"""Simulation engine: many agents, each a real :class:`~a2a_coop.runtime.peer.Peer`, trading in one
process, in one of two modes that produce the same trades.

* **crypto** -- every statement is signed (Ed25519) by its issuer and verified by its receiver, as
  between peers on a network: the stateless checks (:func:`~a2a_coop.protocol.statements.verify_statement`:
  signature, canonical encoding, header and body rules), then the contextual ones (chain, mandate,
  negotiation state machine, exposure). The agents' Mandates, signed by their principals when the
  engine is built, are verified then, once each (:class:`SetupVerifier`): the same bytes verify the same
  way for every peer, and a population of N agents would otherwise check each one again at every first
  meeting, up to N - 1 times. Every peer still runs every contextual check on them.
* **model** -- the same peers, policy guard, negotiation state machine and mandate checks, with the
  cryptography taken out: statements are not signed (a :class:`NullSigner` writes 64 zero bytes where
  the signature goes) and not signature-checked or re-decoded on receipt (a :class:`TrustingVerifier`
  takes the very statement its issuer's guard checked, from the in-process :class:`ModelWire`, and
  runs every contextual check on it). Nothing of the protocol logic is copied: both classes plug into
  the seams the runtime has (the key a Peer signs with, the verifier it builds), and only
  :class:`Engine` in model mode ever makes them. A Peer built any other way -- every runtime default --
  signs and verifies. Model mode exists to run large simulations fast; its statements verify nowhere.

A trade here is the one :func:`trade` makes: ``i`` offers ``j`` an even swap of one ``work`` item of
declared value ``VALUE`` each way, with no escrow and no bond, and both peers' strategies carry it as
far as they go (accept or not, deliver or withhold, receipt). Its outcome is who delivered. Both
modes give the same outcomes for the same strategies and seed (tests/test_engine.py).

A **round** (:meth:`Engine.round`) is trades among distinct agents, each agent in at most one. Its
trades touch disjoint agents, so :class:`~reference_agents.shards.ShardedEngine` can run them
interleaved over worker processes, with this engine's results bit for bit; it builds its agents and
trades with the same functions (:func:`build_agent`, :func:`make_offer`, :func:`outcome_of`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from a2a_coop.protocol.envelope import ParsedEnvelope, decode_envelope, statement_digest
from a2a_coop.protocol.identity import SIGNATURE_BYTES, Keypair
from a2a_coop.protocol.statements import VerifiedStatement, check_header, decode_statement, verify_statement
from a2a_coop.runtime.peer import Peer, PeerVerifier, drive
from a2a_coop.runtime.strategy import Strategy
from a2a_coop.testing import DAY_MS, FixedClock, Party, derive, service

MODES: Final = ("crypto", "model")
VALUE: Final = 500
BIG: Final = 10**15
# Caps no simulation reaches: the guard still checks every statement against them.
CAPS: Final = {"budget_per_period": BIG, "max_outstanding": BIG, "max_per_deal": BIG}
TRADE_MS: Final = 1_000  # the clock moves this much per trade


class EngineError(ValueError):
    """A bad engine parameter (unknown mode, too few agents) or a round with an agent in two trades."""


class NullSigner(Keypair):
    """Model mode only: a key that signs nothing (64 zero bytes). Its did is the real key's."""

    def sign(self, message: bytes) -> bytes:
        return bytes(SIGNATURE_BYTES)


class ModelWire:
    """Model mode only: statements travel between in-process peers as the objects their issuer's policy
    guard checked, looked up by envelope bytes (which carry no valid signature)."""

    def __init__(self) -> None:
        self.sent: dict[bytes, VerifiedStatement] = {}
        # Statements signed for real at setup (mandates), decoded and header-checked once for all
        # peers: each agent's mandate reaches every counterparty it meets.
        self.decoded: dict[bytes, VerifiedStatement] = {}


class TrustingVerifier(PeerVerifier):
    """Model mode only: every contextual check of a peer's verifier, and no signature check.

    A statement that came over the :class:`ModelWire` is taken as its issuer signed it; anything else
    (a mandate signed for real at setup) is decoded and its header and body rules checked, its
    signature not, once for every peer (the same bytes give the same statement).
    """

    def __init__(self, *, me: str, wire: ModelWire) -> None:
        super().__init__(me=me)
        self.wire = wire

    def verify(self, data: bytes, parsed: ParsedEnvelope | None = None) -> VerifiedStatement:
        vs = self.wire.sent.get(data)
        if vs is None:
            vs = self.wire.decoded.get(data)
        if vs is not None:
            return vs
        env = parsed.envelope if parsed is not None else decode_envelope(data)
        stmt = decode_statement(env.payload)
        body = check_header(stmt, env.signatures[0].keyid)
        vs = self.wire.decoded[data] = VerifiedStatement(data, statement_digest(env.payload), stmt, body)
        return vs

    def accept(
        self, data: bytes, now_ms: int | None = None, *, ours: bool = False, received_ms: int | None = None
    ) -> VerifiedStatement:
        return self.accept_statement(self.verify(data), now_ms, ours=ours, received_ms=received_ms)

    def record(self, vs: VerifiedStatement) -> None:
        super().record(vs)  # our own statement, just through the guard: it goes on the wire
        self.wire.sent[vs.envelope] = vs


class SetupVerifier(PeerVerifier):
    """Crypto mode only: a peer's verifier that takes the population's Mandates as the engine verified
    them at setup (``setup``: envelope -> statement, each checked by
    :func:`~a2a_coop.protocol.statements.verify_statement` once); any other bytes, in full."""

    def __init__(self, *, me: str, setup: dict[bytes, VerifiedStatement]) -> None:
        super().__init__(me=me)
        self.setup = setup

    def verify(self, data: bytes, parsed: ParsedEnvelope | None = None) -> VerifiedStatement:
        vs = self.setup.get(data)
        return vs if vs is not None else verify_statement(data, parsed=parsed)


class CryptoPeer(Peer):
    """Crypto mode: a Peer whose verifier takes the Mandates verified at setup (:class:`SetupVerifier`)."""

    def __init__(self, *args: object, setup: dict[bytes, VerifiedStatement], **kw: object) -> None:
        self.setup = setup
        super().__init__(*args, **kw)  # type: ignore[arg-type]

    def _make_verifier(self) -> PeerVerifier:
        return SetupVerifier(me=self.key.did, setup=self.setup)


class ModelPeer(Peer):
    """Model mode only: a Peer whose verifier trusts the :class:`ModelWire` (see the module docstring)."""

    def __init__(self, *args: object, wire: ModelWire, **kw: object) -> None:
        self.wire = wire
        super().__init__(*args, **kw)  # type: ignore[arg-type]

    def _make_verifier(self) -> PeerVerifier:
        return TrustingVerifier(me=self.key.did, wire=self.wire)


@dataclass
class Agent:
    name: str
    party: Party
    peer: Peer


@dataclass(frozen=True)
class Outcome:
    """One trade: whether a contract formed, and whether each side delivered everything it owed."""

    contract: bool
    delivered: tuple[bool, bool]  # (offerer, responder)


class Engine:
    """Agents with the given strategies, each a Peer on one shared fixed clock, in ``mode``.

    Keys, mandates and nonces derive from ``seed`` and each agent's index, so a run is reproducible bit
    for bit (in crypto mode, down to the envelopes).
    """

    def __init__(
        self, strategies: Sequence[Strategy], *, mode: str = "crypto", seed: int = 0, tag: str = "sim"
    ) -> None:
        if mode not in MODES:
            raise EngineError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
        self.mode, self.seed = mode, seed
        self.clock = FixedClock()
        self.wire = ModelWire()
        self.setup: dict[bytes, VerifiedStatement] = {}  # crypto mode: the Mandates, verified once
        self.agents = [self._agent(f"{tag}/{seed}/{i}", s) for i, s in enumerate(strategies)]
        self.trades = 0

    def _agent(self, name: str, strategy: Strategy) -> Agent:
        return build_agent(name, strategy, self.mode, self.clock, wire=self.wire, setup=self.setup)

    def trade(self, i: int, j: int) -> Outcome:
        """Agent ``i`` offers agent ``j`` an even swap (see the module docstring); both carry it out."""
        a, b = self.agents[i].peer, self.agents[j].peer
        offer = make_offer(self.agents[i], b.did, self.clock.now_ms)
        drive(a, b.exchange, offer)
        self.clock.advance(TRADE_MS)
        self.trades += 1
        return outcome_of(a, b.did, offer)

    def round(self, pairs: Sequence[tuple[int, int]]) -> list[Outcome]:
        """Each pair ``(i, j)`` trades as :meth:`trade` would, in order: the outcomes, in the order of
        ``pairs``. No agent may be in two pairs (the form :class:`~reference_agents.shards.ShardedEngine`
        spreads over processes, with the same results)."""
        check_round(pairs, len(self.agents))
        return [self.trade(i, j) for i, j in pairs]


def build_agent(
    name: str,
    strategy: Strategy,
    mode: str,
    clock: FixedClock,
    *,
    wire: ModelWire,
    setup: dict[bytes, VerifiedStatement],
) -> Agent:
    """The agent ``name`` (keys, principal and Mandate derived from it, the Mandate signed at the clock's
    time) on ``clock``, its nonces derived from its name; in crypto mode its Mandate verified into
    ``setup``."""
    party = Party(name, clock, mandate_caps=CAPS)
    counter = itertools.count()
    common = {
        "strategy": strategy,
        "clock": lambda: clock.now_ms,
        "nonce": lambda: derive(f"nonce/{name}/{next(counter)}", 16),
        "attest": False,
    }
    peer: Peer
    if mode == "model":
        key = NullSigner(party.agent.key.seed)
        peer = ModelPeer(key, party.mandate_vs.envelope, wire=wire, **common)
    else:
        mandate = party.mandate_vs.envelope
        setup[mandate] = verify_statement(mandate)
        peer = CryptoPeer(party.agent.key, mandate, setup=setup, **common)
    return Agent(name, party, peer)


def make_offer(offerer: Agent, responder: str, now_ms: int) -> VerifiedStatement:
    """The Offer a trade opens with, from ``offerer`` to the did ``responder``, at ``now_ms``."""
    item = service("work", value=VALUE, deadline_ms=now_ms + DAY_MS)
    proposal = offerer.party.proposal(gives=[item], wants=[item])
    return offerer.peer.propose(responder, proposal)


def outcome_of(offerer: Peer, responder: str, offer: VerifiedStatement) -> Outcome:
    """What the trade ``offer`` opened came to, as its offerer holds it."""
    c = offerer.negotiation(offer.negotiation_id).contract
    if c is None:
        return Outcome(False, (False, False))
    done = tuple(all((d, k) in c.delivered for k in range(len(c.items(d)))) for d in (offerer.did, responder))
    return Outcome(True, (done[0], done[1]))


def check_round(pairs: Sequence[tuple[int, int]], agents: int) -> None:
    """Raise :class:`EngineError` unless ``pairs`` name agents below ``agents``, none in two pairs."""
    named = [k for pair in pairs for k in pair]
    if any(not 0 <= k < agents for k in named):
        raise EngineError(f"a round names an agent outside 0..{agents - 1}")
    if len(set(named)) != len(named):
        raise EngineError("a round's trades need distinct agents: an agent is in two of them")
