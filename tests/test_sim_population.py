"""The population simulator (issue 13): individuals keep their identities, escrow accounts and
reputation across rounds; the dynamics act on the trades they play; sweeps give the same result per
seed wherever they run; the reports are self-contained."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from reference_agents import evolve, report, sweep
from reference_agents.population import Population
from reference_agents.progress import Progress, plain
from reference_agents.sim import SimError

SMALL = ("honest", "reciprocal", "reneger")


def _population(world: str) -> Population:
    pop = Population(world, seed=5)
    for kind in ("honest", "honest", "reneger"):
        pop.add(kind)
    return pop


def test_a_breach_follows_the_reneger_to_a_third_party_in_the_verifiable_world() -> None:
    """A and B (honest) trade both ways; the reneger R then breaches B. Expect: the escrow forfeits
    R's bond to B; B's attestation reaches the population's pool; A, who trusts B for their fulfilled
    trades, scores R below 0.5 and its trust policy refuses R's offer -- R never traded with A. Under
    cheap talk the same offer forms a contract and R cheats A too."""
    pop = _population("verifiable")
    a, b, r = pop.members
    first = pop.play_round([(0, 1), (1, 0)])
    assert [t.state for t in first] == ["FULFILLED", "FULFILLED"]
    breach = pop.play_round([(2, 1)])
    assert breach[0].state == "BREACHED" and breach[0].payoffs == (0.5, 0.0)  # bond = the trade's value
    score = a.peer.reputation.score(r.did)
    assert score.score < 0.5
    third = pop.play_round([(2, 0)])
    assert third[0].contract is False and third[0].payoffs == (0.0, 0.0)
    assert r.opportunities == 2 and r.payoff == 0.5 and a.payoff == b.payoff == pytest.approx(1.0)

    cheap = _population("cheap-talk")
    cheap.play_round([(0, 1), (1, 0)])
    cheap.play_round([(2, 1)])
    cheated = cheap.play_round([(2, 0)])
    assert cheated[0].contract and cheated[0].payoffs == (1.5, -1.0)


def test_a_newborn_is_a_fresh_identity_that_trusts_its_parents_principal() -> None:
    pop = _population("verifiable")
    parent = pop.members[0]
    child = pop.add("honest", parent)
    assert child.did not in {m.did for m in pop.members[:3]} and child.parent == parent.name
    assert parent.principal in child.peer.trust.seeds  # type: ignore[union-attr]
    assert pop.escrow.get_balance(child.did)[0] > 0
    with pytest.raises(SimError):
        pop.add("saint")


@pytest.mark.parametrize("dynamics", ["moran", "replicator"])
def test_a_run_is_reproducible_from_its_seed(dynamics: str) -> None:
    """Two runs from one seed: identical details (history, payoffs, shares); another seed differs."""
    runs = [
        evolve.run("verifiable", seed, dynamics=dynamics, types=SMALL, population=6, steps=4).details()
        for seed in (3, 3, 4)
    ]
    assert runs[0] == runs[1]
    assert runs[0]["history"] != runs[2]["history"] or runs[0]["payoff_table"] != runs[2]["payoff_table"]
    doc = runs[0]
    assert set(doc["shares"]) == set(SMALL) and sum(doc["shares"].values()) == pytest.approx(1)
    assert doc["history"][0] == {"honest": 0.3333, "reciprocal": 0.3333, "reneger": 0.3333}
    assert doc["welfare"]["offers"] > 0 and 0 <= doc["welfare"]["agreement_rate"] <= 1
    # NegMAS's fair-division distances of the contracts played (reference_agents.welfare)
    assert {"pareto_distance", "nash_distance", "kalai_distance", "ks_distance"} <= set(doc["welfare"])
    assert all(doc["welfare"][k] >= 0 for k in ("pareto_distance", "nash_distance"))


def test_the_cheap_talk_world_pays_the_reneger() -> None:
    """Same types, same seed: the reneger earns more per trade than the honest agent under cheap talk,
    less in the verifiable world (its bond pays its victims; it is refused once known)."""
    table = {
        w: evolve.run(w, 1, dynamics="replicator", types=SMALL, population=6, steps=4).payoff_table()
        for w in ("verifiable", "cheap-talk")
    }
    assert table["cheap-talk"]["reneger"]["honest"] > table["cheap-talk"]["honest"]["honest"]  # type: ignore[operator]
    assert table["verifiable"]["reneger"]["honest"] < table["verifiable"]["honest"]["honest"]  # type: ignore[operator]


def test_bad_sizes_are_sim_errors() -> None:
    with pytest.raises(SimError):
        evolve.run("verifiable", 0, types=SMALL, population=2)
    with pytest.raises(SimError):
        evolve.run("verifiable", 0, dynamics="wright-fisher")
    with pytest.raises(SimError):
        sweep.grid(seeds=[], types=SMALL)
    with pytest.raises(SimError):
        sweep.sweep([], processes=0)


@pytest.mark.parametrize("dt", ["nan", "inf", "-1", "0"])
def test_a_replicator_step_that_is_no_positive_number_is_a_usage_error(
    dt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sim evolve --dynamics replicator --dt nan` (or inf) passed the `dt <= 0` check, then ended in a
    ZeroDivisionError or ValueError traceback; `sim sweep --dt nan` likewise. Now one line, exit 2."""
    from a2a_coop.cli import main

    evolve_argv = ["sim", "evolve", "--world", "cheap-talk", "--types", ",".join(SMALL), "--population", "6"]
    sweep_argv = ["sim", "sweep", "--worlds", "cheap-talk", "--seeds", "0", "--types", ",".join(SMALL)]
    for argv in (evolve_argv, sweep_argv):
        assert main([*argv, "--dynamics", "replicator", "--steps", "2", "--dt", dt]) == 2
        err = capsys.readouterr().err
        assert "dt a finite number > 0" in err or "dt must be a finite number > 0" in err, err
    with pytest.raises(SimError):
        evolve.run("verifiable", 0, types=SMALL, population=6, dynamics="replicator", dt=float("nan"))


def test_the_table_models_replicator_takes_its_time_step(capsys: pytest.CaptureFixture[str]) -> None:
    """`sim evolve --model table --dynamics replicator --dt X` ran with dt 0.1 whatever X was; and
    `--model table --bond B` ran with the table's bond (the trade's value) whatever B was: refused."""
    from a2a_coop.cli import main

    argv = ["sim", "evolve", "--world", "cheap-talk", "--model", "table", "--dynamics", "replicator"]
    argv += ["--types", ",".join(SMALL), "--rounds", "2", "--steps", "3"]
    shares = []
    for dt in ("0.1", "0.9"):
        assert main([*argv, "--dt", dt]) == 0
        shares.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["shares"])
    assert shares[0] != shares[1]
    assert main([*argv, "--bond", "2"]) == 2
    assert "--bond applies to --model population" in capsys.readouterr().err


def _specs() -> list[sweep.RunSpec]:
    return sweep.grid(seeds=[0, 1], dynamics=["moran"], populations=[6], steps=[6], types=SMALL)


def test_a_sweep_gives_the_same_result_per_seed_whatever_the_number_of_processes() -> None:
    """Also with the equivocator's unsafe signer in the population: its double sales (refused by
    the escrow in the verifiable world, paid for under cheap talk) replay identically."""
    forking = sweep.grid(
        seeds=[1], dynamics=["moran"], populations=[8], steps=[16], types=(*SMALL, "equivocator")
    )
    specs = [*_specs(), *forking]
    one = sweep.sweep(specs, processes=1)
    two = sweep.sweep(specs, processes=2)
    assert one == two and [r["seed"] for r in one] == [0, 1, 0, 1, 1, 1]
    summary = sweep.summarize(one)
    assert [(s["world"], s["runs"]) for s in summary[:2]] == [("verifiable", 2), ("cheap-talk", 2)]
    outcomes = {r["world"]: set(r["outcomes"]) for r in one[4:]}
    assert "FORK_REFUSED_BY_ESCROW" in outcomes["verifiable"] and "DOUBLE_SOLD" in outcomes["cheap-talk"]


# Ray leaves its log files open at shutdown (its own handles, garbage-collected later): not ours to close.
RAY_LEAVES_FILES_OPEN = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.slow
@RAY_LEAVES_FILES_OPEN
def test_a_sweep_on_ray_gives_the_same_result_per_seed() -> None:
    """A local Ray instance (what --ray ADDRESS joins): the same results as in this process."""
    pytest.importorskip("ray")
    specs = _specs()
    assert sweep.sweep(specs, ray_address="local") == sweep.sweep(specs, processes=1)


@pytest.mark.slow
@RAY_LEAVES_FILES_OPEN
def test_a_failed_run_on_ray_loses_no_other_run() -> None:
    """On Ray too, a run that fails (here, one asking for an agent type nobody wrote) is reported with
    its own error, and every other run completes with the result it has in this process."""
    pytest.importorskip("ray")
    good = _specs()
    bad = dataclasses.replace(good[0], seed=7, types=("no-such-agent",))
    with pytest.raises(sweep.SweepIncomplete) as caught:
        sweep.sweep([good[0], bad, *good[1:]], ray_address="local")
    assert caught.value.results == sweep.sweep(good, processes=1)
    assert [(spec, error.split(":")[0]) for spec, error in caught.value.failures] == [(bad, "SimError")]


def test_the_report_is_one_self_contained_page_with_both_worlds(tmp_path: Path) -> None:
    results = sweep.sweep(_specs())
    data, page = report.write(tmp_path / "r", results, sweep.summarize(results))
    assert json.loads(data.read_text())["runs"] == json.loads(json.dumps(results))
    text = page.read_text()
    assert text.count("<svg") == 2 and "verifiable: moran" in text and "cheap-talk: moran" in text
    assert "Payoff table, verifiable" in text and "agreement_rate" in text and "nash_distance" in text
    assert "How the offers ended" in text and "FULFILLED" in text
    # Nothing to fetch: no scripts, stylesheets or images from anywhere (the SVG namespace is a name).
    assert "<script" not in text and "<link" not in text and "src=" not in text and "url(" not in text


def test_progress_is_plain_lines_off_a_terminal_and_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    with Progress("runs", 4, stream=stream) as p:
        for n in range(1, 5):
            p.update(n, f"seed {n}")
    assert stream.getvalue().splitlines()[-1] == "runs: 4/4 (100 %) seed 4"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("CI", "true")
    assert plain(Tty())
    monkeypatch.setenv("CI", "")
    assert not plain(Tty())
    pytest.importorskip("rich")
    tty = Tty()
    with Progress("runs", 3, stream=tty) as p:
        for n in range(1, 4):
            p.update(n)
    assert "3/3" in tty.getvalue() and "\x1b[" in tty.getvalue()  # a live bar, not plain lines


def test_sim_evolve_and_sweep_print_one_json_line_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from a2a_coop.cli import main

    argv = ["sim", "evolve", "--world", "cheap-talk", "--seed", "2", "--types", ",".join(SMALL)]
    assert main([*argv, "--population", "6", "--steps", "6", "--report-dir", str(tmp_path / "e")]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["steps"] == 6 and doc["generations"] == 1 and set(doc["shares"]) == set(SMALL)
    assert (tmp_path / "e" / "report.html").exists()
    sw = ["sim", "sweep", "--seeds", "0-1", "--dynamics", "moran", "--population", "6", "--steps", "6"]
    assert main([*sw, "--types", ",".join(SMALL), "--worlds", "verifiable"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [s["runs"] for s in out["summary"]] == [2]
    huge = ["--seeds", "0-99999999999999999999"]  # an OverflowError traceback, once
    for bad in (["--seeds", "x"], ["--seeds", "3-1"], huge, ["--worlds", "utopia"], ["--processes", "0"]):
        assert main([*sw, *bad]) == 2, bad
        assert capsys.readouterr().err.strip(), bad


def test_sim_report_merges_results_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from a2a_coop.cli import main

    results = sweep.sweep(_specs())
    report.write(tmp_path / "a", results[:2], sweep.summarize(results[:2]))
    report.write(tmp_path / "b", results[2:], sweep.summarize(results[2:]))
    files = [str(tmp_path / d / "results.json") for d in "ab"]
    assert main(["sim", "report", *files, "--out", str(tmp_path / "all")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["summary"]
    assert [s["world"] for s in summary] == ["verifiable", "cheap-talk"]
    assert (tmp_path / "all" / "report.html").read_text().count("<svg") == 2
    (tmp_path / "bad.json").write_text("[]")
    assert main(["sim", "report", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")]) == 2
    assert "not a results.json" in capsys.readouterr().err
    assert main(["sim", "report", str(tmp_path / "absent.json"), "--out", str(tmp_path / "x")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_runs_of_other_types_or_another_dt_are_never_merged(tmp_path: Path) -> None:
    """sim report may be given several sweeps' results: runs of other types (or, under the replicator,
    another dt) are summed in rows of their own -- merged, the row read every run's shares by the first
    run's types -- and the report heads each section with what tells it apart."""
    kinds = (*SMALL, "nash")

    def one_run(dynamics: str, steps: int, types: tuple[str, ...], **dt: float) -> list[dict[str, Any]]:
        spec = sweep.grid(
            seeds=[0],
            worlds=["verifiable"],
            dynamics=[dynamics],
            populations=[6],
            steps=[steps],
            types=types,
            **dt,
        )
        return sweep.sweep(spec)

    results = [
        *one_run("moran", 4, SMALL),
        *one_run("moran", 4, kinds),
        *one_run("replicator", 2, SMALL, dt=0.5),
        *one_run("replicator", 2, SMALL, dt=0.1),
    ]
    rows = sweep.summarize(results)
    assert [(r["dynamics"], r["dt"], tuple(r["shares_mean"]), r["runs"]) for r in rows] == [
        ("moran", None, SMALL, 1),
        ("moran", None, kinds, 1),
        ("replicator", 0.5, SMALL, 1),
        ("replicator", 0.1, SMALL, 1),
    ]
    _, page = report.write(tmp_path / "r", results, rows)
    html_text = page.read_text()
    assert "types honest, reciprocal, reneger, nash</h2>" in html_text and ", dt 0.5, types" in html_text


def test_the_bond_decides_what_a_breach_pays_the_breacher() -> None:
    """Bond = the trade's value: the reneger's breach pays it what fulfilling would (0.5), its victim
    nothing. Bond = 2x: the breach costs the reneger 0.5, its victim gains 0.5 over its cost."""
    for bond, expected in ((1.0, (0.5, 0.0)), (2.0, (-0.5, 1.0))):
        pop = Population("verifiable", seed=5, bond=bond)
        pop.add("reneger"), pop.add("honest")
        assert pop.play_round([(0, 1)])[0].payoffs == expected
    with pytest.raises(SimError):
        Population("verifiable", seed=5, bond=-1)


def test_a_feint_after_a_clean_record_is_forgiven_twice() -> None:
    """The README's point 5: the feinter fulfils three contracts with the honest agent, then withholds.
    Expect the honest agent's view of it to stay at or above 0.5 through two breaches (it keeps
    trading) and to fall below at the third (ATT-008 counts the net record)."""
    pop = Population("verifiable", seed=7)
    h, f = pop.add("honest"), pop.add("feinter")
    states, scores = [], []
    for _ in range(6):
        states.append(pop.play_round([(0, 1)])[0].state)
        scores.append(round(h.peer.reputation.score(f.did).score, 3))
    assert states == ["FULFILLED"] * 3 + ["BREACHED"] * 3
    assert scores[3] > scores[4] >= 0.5 > scores[5]


def test_a_failed_run_loses_no_other_run_of_the_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run's bug (here, seed 1 made to fail) ended a whole sweep with a traceback, with no
    results.json and no report. Expect the other runs to complete, the report written for them, one line
    naming the failed run and its error, and exit 1."""
    from a2a_coop.cli import main

    real = sweep.run_spec

    def failing(spec: sweep.RunSpec) -> dict[str, object]:
        if spec.seed == 1:
            raise RuntimeError("a simulator bug")
        return real(spec)

    monkeypatch.setattr(sweep, "run_spec", failing)
    with pytest.raises(sweep.SweepIncomplete) as caught:
        sweep.sweep(_specs(), processes=1)
    assert [r["seed"] for r in caught.value.results] == [0, 0]
    assert [(spec.seed, error) for spec, error in caught.value.failures] == [
        (1, "RuntimeError: a simulator bug")
    ] * 2
    sw = ["sim", "sweep", "--seeds", "0-1", "--dynamics", "moran", "--population", "6", "--steps", "6"]
    argv = [*sw, "--types", ",".join(SMALL), "--worlds", "verifiable", "--report-dir", str(tmp_path / "r")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "run verifiable moran N=6 steps=6 seed=1 failed: RuntimeError: a simulator bug" in err
    assert "Traceback" not in err
    assert [r["seed"] for r in json.loads((tmp_path / "r" / "results.json").read_text())["runs"]] == [0]
