"""A key signs in one journal (``KEY.chain``, a2a_coop.cli._runtime.claim_chain): a mistyped ``--journal``
for a key that already signed elsewhere would start its chain again at seq 0 -- a fork every counterparty
holding both can prove, and that burns the key (ATT-013, ATT-017). The principal's ``mandate`` command
shows it without a network: the principal's key signs each Mandate into its journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop.cli._runtime import CHAIN_HOME_TYPE, chain_home
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.keyfile import generate_keypair, write_key_file


@pytest.fixture
def principal(tmp_path: Path) -> Path:
    path = tmp_path / "p.key"
    write_key_file(path, generate_keypair())
    return path


AGENT = "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"


def _mandate(
    capsys: pytest.CaptureFixture[str], principal: Path, journal: Path, out: Path
) -> tuple[int, str]:
    code, _, err = run_cli(
        capsys, "mandate", "--principal", principal, "--agent", AGENT, "--journal", journal, "--out", out
    )
    return code, err


def _seqs(journal: Path) -> int:
    with Journal.open(journal, lock=False) as j:
        return sum(1 for _ in j.statements())


def test_a_key_that_signed_in_one_journal_is_refused_a_new_one(
    tmp_path: Path, principal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "p.db"
    assert _mandate(capsys, principal, home, tmp_path / "m1.json")[0] == 0
    doc = json.loads(chain_home(principal).read_text())
    assert doc["type"] == CHAIN_HOME_TYPE and doc["journal"] == str(home.resolve())
    typo = tmp_path / "p2.db"
    code, err = _mandate(capsys, principal, typo, tmp_path / "m2.json")
    assert code == 2
    one_line_error(err, f"signs in {home.resolve()}", "seq 0", f"use --journal {home.resolve()}")
    assert not typo.exists() and not (tmp_path / "m2.json").exists()  # nothing signed, nothing left
    assert _mandate(capsys, principal, home, tmp_path / "m3.json")[0] == 0  # its own journal: fine
    assert _seqs(home) == 2


def test_a_chain_whose_journal_is_gone_is_not_started_again_unless_its_home_is_deleted(
    tmp_path: Path, principal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "p.db"
    assert _mandate(capsys, principal, home, tmp_path / "m1.json")[0] == 0
    for path in tmp_path.glob("p.db*"):
        path.unlink()
    code, err = _mandate(capsys, principal, tmp_path / "new.db", tmp_path / "m2.json")
    assert code == 2
    one_line_error(err, "which is gone", f"delete {chain_home(principal)}")
    chain_home(principal).unlink()  # the user's word that none of its statements ever left
    assert _mandate(capsys, principal, tmp_path / "new.db", tmp_path / "m2.json")[0] == 0


def test_a_journal_moved_with_its_chain_becomes_the_home(
    tmp_path: Path, principal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "p.db"
    assert _mandate(capsys, principal, home, tmp_path / "m1.json")[0] == 0
    moved = tmp_path / "elsewhere.db"
    home.rename(moved)
    assert _mandate(capsys, principal, moved, tmp_path / "m2.json")[0] == 0  # it holds the chain
    assert json.loads(chain_home(principal).read_text())["journal"] == str(moved.resolve())
    assert _seqs(moved) == 2


def test_a_failed_first_run_leaves_no_home_behind(
    tmp_path: Path, principal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command that fails before signing leaves neither its new journal nor a home naming it: the
    next run, on another journal, is not refused for a chain that never began."""
    nowhere = tmp_path / "no-such-directory" / "first.db"
    code, err = _mandate(capsys, principal, nowhere, tmp_path / "m0.json")  # refused after the claim
    assert code == 2
    one_line_error(err, "no directory")
    assert not chain_home(principal).exists()
    assert _mandate(capsys, principal, tmp_path / "second.db", tmp_path / "m.json")[0] == 0


def test_a_journal_refused_as_in_use_does_not_become_the_home(
    tmp_path: Path, principal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """newuser16: `serve --key dave.key --journal bob.db` while bob serves on bob.db is refused (in use),
    but dave.key.chain was left naming bob.db, and every later command on dave's own journal was then
    refused as a fork ("signs in bob.db ... use --journal bob.db"). A failed command now undoes a home
    naming a journal the key signed nothing in, whether or not that journal exists."""
    other = tmp_path / "bob.db"
    with Journal.open(other):  # another process's journal, held (its lock taken)
        code, err = _mandate(capsys, principal, other, tmp_path / "m0.json")
        assert code == 2
        one_line_error(err, "in use")
    assert not chain_home(principal).exists()
    assert _mandate(capsys, principal, tmp_path / "p.db", tmp_path / "m.json")[0] == 0
    assert json.loads(chain_home(principal).read_text())["journal"] == str((tmp_path / "p.db").resolve())
