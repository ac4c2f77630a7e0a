"""The simulation engine (issue 13): model mode and crypto mode make the same trades; model mode leaves
out the cryptography and nothing else, and is reachable only through the engine."""

from __future__ import annotations

import gc
import random
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from itertools import starmap
from types import FrameType, FunctionType

import pytest

from a2a_coop.protocol.errors import CoopError, SignatureInvalid
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.peer import Peer, PeerVerifier
from a2a_coop.runtime.strategy import WithholdingStrategy
from benchmarks._heap import collector_paused
from reference_agents import build
from reference_agents.engine import MODES, Engine, EngineError, ModelPeer, Outcome, TrustingVerifier

MIX = ("honest", "reciprocal", "reneger", "honest", "reciprocal", "reneger")


def _schedule(n: int, trades: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [tuple(rng.sample(range(n), 2)) for _ in range(trades)]  # type: ignore[misc]


def _run(mode: str, seed: int) -> tuple[list[Outcome], Engine]:
    strategies = [
        build(kind, **({"seed": str(seed + i)} if kind == "reciprocal" else {})) for i, kind in enumerate(MIX)
    ]
    strategies.append(WithholdingStrategy(every=3))
    engine = Engine(strategies, mode=mode, seed=seed)
    return [engine.trade(i, j) for i, j in _schedule(len(strategies), 40, seed)], engine


@pytest.mark.parametrize("seed", [0, 7])
def test_model_and_crypto_mode_make_the_same_trades(seed: int) -> None:
    model, model_engine = _run("model", seed)
    crypto, crypto_engine = _run("crypto", seed)
    assert model == crypto
    # Not vacuous: contracts formed, and some sides delivered while others withheld.
    assert all(o.contract for o in crypto)
    sides = [d for o in crypto for d in o.delivered]
    assert True in sides and False in sides
    # The very same statements, down to their digests: only the signatures differ.
    for m, c in zip(model_engine.agents, crypto_engine.agents, strict=True):
        assert m.peer.writer.next_seq == c.peer.writer.next_seq
        assert m.peer.writer.prev == c.peer.writer.prev


def _made_here(obj: object) -> bool:
    """An instance of one of this project's classes (its protobuf messages too), or a frame or function
    of its code."""
    if isinstance(obj, FrameType):
        return any(f"/{pkg}/" in obj.f_code.co_filename for pkg in ("a2a_coop", "reference_agents"))
    module = getattr(obj, "__module__", None) if isinstance(obj, FunctionType) else type(obj).__module__
    return (module or "").startswith(("a2a_coop", "a2acoop", "reference_agents"))


def _ours(obj: object) -> bool:
    """Garbage our code left: made here, or holding what was (a dict or list in a cycle with a statement
    in it). A cycle some other thread of the test process made holds neither."""
    return _made_here(obj) or any(_made_here(ref) for ref in gc.get_referents(obj))


def _cyclic_garbage(work: Callable[[], object]) -> list[str]:
    """The types of our objects that ``work`` left in reference cycles: garbage only a pass of the
    cyclic collector frees (none runs meanwhile)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a pass finds unreachable goes to gc.garbage, not freed
    try:
        with collector_paused():
            work()
            gc.collect()
        return sorted({type(obj).__name__ for obj in gc.garbage if _ours(obj)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_a_trade_makes_no_reference_cycle() -> None:
    """Reference counting frees all a trade discards, in both modes (benchmarks/population.py pauses the
    collector's automatic passes during a round on the strength of this). The engine itself, peers and
    all, is one: it lives as long as the simulation."""
    for mode in MODES:
        strategies = [build(kind) for kind in MIX] + [WithholdingStrategy(every=3)]
        engine = Engine(strategies, mode=mode, seed=3)
        trades = partial(list, starmap(engine.trade, _schedule(len(strategies), 40, 3)))
        assert _cyclic_garbage(trades) == [], mode
        assert engine.trades == 40

    # The check sees a cycle left behind: a peer dropped (its verifier calls back into it), or plain
    # containers in a cycle with a statement of ours.
    assert "ExposureBook" in _cyclic_garbage(engine.agents.pop)
    held = next(iter(engine.agents[0].peer.verifier.statements.values()))
    assert _cyclic_garbage(lambda: (loop := [held]).append(loop)) == ["list"]


def test_the_statements_a_trade_leaves_held_cost_the_collector_no_header_and_no_dict() -> None:
    """Every statement a peer holds after trades in crypto mode, its own and its counterparties'; expect
    none to keep its Header message (the checks and the runtime read the header fields kept), and each
    one's kept reads to be no object the cyclic collector tracks, but an Offer's or Counter's (its terms,
    kept for the mandate checks, hold the proposal): every full collection walks what a long-lived peer
    holds, and these were two tracked objects a statement held."""
    strategies = [build(kind) for kind in MIX] + [WithholdingStrategy(every=3)]
    engine = Engine(strategies, mode="crypto", seed=5)
    for i, j in _schedule(len(strategies), 30, 5):
        engine.trade(i, j)
    held = [vs for agent in engine.agents for vs in agent.peer.verifier.statements.values()]
    bodies = {vs.body for vs in held}
    assert {"offer", "accept", "delivery", "receipt", "mandate"} <= bodies
    for vs in held:
        assert "header" not in vs.__dict__, vs.body
        assert gc.is_tracked(vs.__dict__) == (vs.body in ("offer", "counter")), vs.body
    assert vs.header == vs.statement.header and "header" in vs.__dict__  # kept once something reads it


def test_a_different_seed_changes_the_trades() -> None:
    assert _run("model", 0)[0] != _run("model", 1)[0]


def test_crypto_mode_signs_and_model_mode_does_not() -> None:
    _, crypto = _run("crypto", 0)
    _, model = _run("model", 0)
    theirs = crypto.agents[0].peer
    signed = [vs for vs in theirs.verifier.statements.values() if vs.issuer == theirs.did]
    assert signed and all(verify_statement(vs.envelope).digest == vs.digest for vs in signed)
    mine = model.agents[0].peer
    unsigned = [vs for vs in mine.verifier.statements.values() if vs.issuer == mine.did]
    assert unsigned
    for vs in unsigned:
        with pytest.raises(SignatureInvalid):
            verify_statement(vs.envelope)


def test_a_runtime_peer_refuses_what_model_mode_produced() -> None:
    """Model mode's statements verify nowhere: a Peer built with the runtime's defaults refuses them."""
    engine = Engine([build("honest"), build("honest")], mode="model")
    a, b = engine.agents
    offer = a.peer.propose(b.peer.did, a.party.proposal())
    plain = Peer(b.party.agent.key, b.party.mandate_vs.envelope)
    assert type(plain.verifier) is PeerVerifier
    with pytest.raises(SignatureInvalid):
        plain.exchange(offer.envelope, a.peer.send_context())


def test_model_mode_still_runs_the_protocol_checks() -> None:
    """No signature check, but the contextual ones hold: a replayed Offer is refused as in crypto mode."""
    for mode in MODES:
        engine = Engine([build("honest"), build("honest")], mode=mode)
        a, b = engine.agents
        assert isinstance(b.peer.verifier, TrustingVerifier) == (mode == "model")
        assert isinstance(b.peer, ModelPeer) == (mode == "model")
        offer = a.peer.propose(b.peer.did, a.party.proposal())
        b.peer.exchange(offer.envelope, a.peer.send_context())
        with pytest.raises(CoopError) as err:
            b.peer.exchange(offer.envelope, a.peer.send_context())
        assert err.value.code == "REPLAYED", mode


def test_unknown_mode_is_a_typed_error() -> None:
    with pytest.raises(EngineError, match="choose one of: crypto, model"):
        Engine([build("honest")], mode="fast")


def test_axelrod_is_not_imported_by_reference_agents_the_engine_or_the_cli() -> None:
    code = (
        "import sys, reference_agents, reference_agents.engine, reference_agents.axelrod_adapter, "
        "a2a_coop.cli.main, a2a_coop.cli.agents; "
        "reference_agents.build('reciprocal'); "
        "sys.exit('axelrod' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_axelrod_strategy_without_axelrod_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    import reference_agents
    from a2a_coop.cli import main
    from reference_agents import axelrod_adapter

    monkeypatch.setitem(sys.modules, "axelrod", None)  # import axelrod raises ImportError
    axelrod_adapter.axelrod_module.cache_clear()
    try:
        with pytest.raises(
            reference_agents.UnknownAgent, match=r"pip install -e '\.\[sim\]' in the a2a-coop checkout"
        ):
            reference_agents.build("axelrod:TitForTat")
        files = ["--key", "k", "--mandate", "m", "--journal", "j"]
        assert main(["agent", "run", "--strategy", "axelrod:TitForTat", *files]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "[sim]" in err
        assert main(["sim", "axelrod-check", "--strategies", "3"]) == 2
        err = capsys.readouterr().err  # the error alone: no "round robin: ..." header before it
        assert "[sim]" in err and len(err.strip().splitlines()) == 1
    finally:
        axelrod_adapter.axelrod_module.cache_clear()


def test_agent_list_describes_the_hosted_axelrod_family(capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    assert main(["agent", "list"]) == 0
    out = capsys.readouterr().out
    assert "axelrod:NAME" in out and "deliver = cooperate" in out


def test_crypto_mode_verifies_each_trade_statement_at_its_receiver_and_each_mandate_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every statement a trade signs is verified in full by the peer it is sent to; the agents' Mandates
    are verified once, when the engine is built, not again at each first meeting (SetupVerifier)."""
    import a2a_coop.runtime.peer as peer_module
    import reference_agents.engine as engine_module

    verified: list[bytes] = []

    def counting(data: bytes, **kw: object) -> object:
        verified.append(data)
        return verify_statement(data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "verify_statement", counting)
    monkeypatch.setattr(peer_module, "verify_statement", counting)
    strategies = [build(kind) for kind in MIX]
    engine = Engine(strategies, mode="crypto", seed=5)
    mandates = {a.party.mandate_vs.envelope for a in engine.agents}
    assert sorted(verified) == sorted(mandates)  # at setup: each Mandate, once
    verified.clear()
    for i, j in _schedule(len(strategies), 30, 5):  # every agent meets several others for the first time
        engine.trade(i, j)
    signed = {
        vs.envelope
        for a in engine.agents
        for vs in a.peer.verifier.statements.values()
        if vs.issuer == a.peer.did
    }
    assert signed and not mandates & set(verified)
    assert sorted(verified) == sorted(signed)  # each trade statement, once, by its receiver
