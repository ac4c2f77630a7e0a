"""Hosted Axelrod strategies (issue 13, item 2): they play through a2a-coop exactly as axelrod.Match
plays them, and a round robin ranks them as axelrod.Tournament does. Needs the extra ``sim``; importing
axelrod takes about 10 s, so all of these are slow (``python -m pytest -m slow tests/test_axelrod.py``)."""

from __future__ import annotations

import json

import pytest

axl = pytest.importorskip("axelrod")

from reference_agents import build  # noqa: E402
from reference_agents.axelrod_adapter import AxelrodStrategy, axelrod_game, trade_game  # noqa: E402
from reference_agents.engine import Engine  # noqa: E402
from reference_agents.tournament import MoranRun, axelrod_moran, check, deterministic, spearman  # noqa: E402

pytestmark = pytest.mark.slow

DETERMINISTIC = ["Alternator", "Grudger", "TitForTat", "SuspiciousTitForTat", "FirstByNydegger", "Predator"]


def _ours(x: str, y: str, turns: int, mode: str, seed: int = 0) -> list[tuple[str, str]]:
    engine = Engine(
        [
            AxelrodStrategy(player=x, turns=turns, seed=seed),
            AxelrodStrategy(player=y, turns=turns, seed=seed + 1),
        ],
        mode=mode,
    )
    for turn in range(turns):
        engine.trade(turn % 2, 1 - turn % 2)
    engine.trade(0, 1)  # opens turn turns + 1, which closes turn `turns` in the history
    strategy = engine.agents[0].peer.strategy
    assert isinstance(strategy, AxelrodStrategy)
    return strategy.history(engine.agents[1].peer.did)[:turns]


@pytest.mark.parametrize("mode", ["crypto", "model"])
def test_deterministic_strategies_play_through_trades_exactly_as_axelrod_match(mode: str) -> None:
    by_name = {s.__name__: s for s in axl.strategies}
    for i, x in enumerate(DETERMINISTIC):
        for y in DETERMINISTIC[i:]:
            match = axl.Match([by_name[x](), by_name[y]()], turns=12, game=axelrod_game())
            expected = [(str(a), str(b)) for a, b in match.play()]
            assert _ours(x, y, 12, mode) == expected, (x, y)


def test_a_stochastic_strategy_is_reproducible_from_its_seed() -> None:
    first = _ours("Random", "TitForTat", 30, "model", seed=5)
    assert first == _ours("Random", "TitForTat", 30, "model", seed=5)
    assert first != _ours("Random", "TitForTat", 30, "model", seed=6)


def test_hosted_strategies_are_built_by_name() -> None:
    s = build("axelrod:Grudger", seed="3", turns="50")
    assert isinstance(s, AxelrodStrategy) and s.name == "Grudger" and (s.seed, s.turns) == (3, 50)


def test_the_trade_game_is_a_prisoners_dilemma() -> None:
    r, s, t, p = trade_game()
    assert t > r > p > s and 2 * r > t + s
    assert axelrod_game().RPST() == (r, p, s, t)


def test_spearman() -> None:
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)


def test_a_small_round_robin_ranks_like_axelrod_tournament() -> None:
    result = check(turns=20, names=DETERMINISTIC, mode="model")
    assert result.trades == 15 * 20
    assert result.ours == pytest.approx(result.theirs)  # deterministic: the very same scores
    assert result.spearman == pytest.approx(1.0)


def test_axelrod_check_command_20_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's check: >= 20 strategies (stochastic ones among them), Spearman >= 0.95."""
    from a2a_coop.cli import main

    assert (
        main(
            ["sim", "axelrod-check", "--strategies", "20", "--turns", "50", "--seed", "0", "--mode", "model"]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["strategies"] == 20 and summary["trades"] == 190 * 50
    assert summary["spearman"] >= 0.95


def test_unknown_axelrod_strategy_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    assert main(["sim", "axelrod-check", "--names", "TitForTat,titfortwotats"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no Axelrod strategy 'titfortwotats'" in err


def test_moran_process_over_hosted_strategies_is_seeded() -> None:
    population = [x for x in deterministic(DETERMINISTIC)[:3] for _ in range(3)]
    runs = [MoranRun(list(population), 10, seed=s).run(20) for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert all(sum(c.values()) == 9 for c in runs[0])
    assert len(axelrod_moran(population, 10, 5, seed=1).populations) == 6


def test_agent_run_serves_a_hosted_axelrod_strategy_over_grpc(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """`agent run --strategy axelrod:Defector` as its own process: it accepts a fair offer (a contract
    forms) and then withholds its item -- the hosted Axelrod strategy, not serve's default, decided."""
    from pathlib import Path

    from a2a_coop.cli import main
    from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening

    assert isinstance(tmp_path, Path)
    alice, bob = provision(tmp_path, "alice"), provision(tmp_path, "bob")
    argv = ["agent", "run", "--strategy", "axelrod:Defector", *bob.files()]
    server = start_server("bob", argv, tmp_path / "bob.log")
    try:
        wait_listening(server, 600)  # it imports axelrod when it builds the strategy: slow on a busy machine
        offer = ["offer", *alice.files(), "--to", server.target, "--give", "work:500", "--want", "work:500"]
        code = main([str(a) for a in offer])
        captured = capsys.readouterr()
    finally:
        stop_process(server.popen)
    # The contract formed (accepted), and the trade stopped there: bob never delivered.
    assert code == 3 and "PERFORMING" in captured.out + captured.err
