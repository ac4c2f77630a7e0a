"""The ``a2a-coop`` command line: keygen, verify, inspect, demo, version.

Exit codes are part of the interface: 0 valid, 1 invalid, 2 usage or I/O
errors (and never a traceback for a user mistake). Most tests call ``main()``
in process; one checks the import footprint in a fresh interpreter.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_run import one_line_error, run_cli

from a2a_coop import __version__
from a2a_coop.cli import build_parser, main
from a2a_coop.cli._common import iso, parse_time
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.errors import MalformedEnvelope
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.keyfile import KEY_FILE_TYPE, KeyFileError, parse_key_file, read_key_file
from a2a_coop.runtime.node import read_envelope_file
from a2a_coop.testing import EPOCH_MS, FixedClock, Party, full_trade

ROOT = Path(__file__).resolve().parent.parent


def _transcript(path: Path, envelopes: list[bytes], **extra: Any) -> Path:
    path.write_text(json.dumps({"envelopes": [envelope_to_json(e) for e in envelopes], **extra}))
    return path


@pytest.fixture
def trade() -> tuple[Party, Party, list[VerifiedStatement]]:
    return full_trade(FixedClock())


def _all_envelopes(trade: tuple[Party, Party, list[VerifiedStatement]]) -> list[bytes]:
    alice, bob, statements = trade
    return [*alice.setup, *bob.setup, *(s.envelope for s in statements)]


# --- keygen ------------------------------------------------------------------------------------


@pytest.mark.req("KEY-006", "KEY-001")
def test_keygen_writes_an_owner_only_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keygen --out creates a 0600 file whose seed yields the did it prints."""
    path = tmp_path / "alice.key"
    code, out, err = run_cli(capsys, "keygen", "--out", str(path))
    assert code == 0, err
    did = out.strip()
    assert did.startswith("did:key:z6Mk")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["type"] == KEY_FILE_TYPE and doc["did"] == did
    assert len(base64.b64decode(doc["seed"])) == 32
    assert read_key_file(path).did == did


@pytest.mark.req("KEY-006")
def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Running keygen twice on one path would destroy a key; expect exit 2 and the first key intact."""
    path = tmp_path / "alice.key"
    assert run_cli(capsys, "keygen", "--out", str(path))[0] == 0
    before = path.read_text()
    code, out, err = run_cli(capsys, "keygen", "--out", str(path))
    assert code == 2
    assert "refusing to overwrite" in err and out == ""
    assert path.read_text() == before


@pytest.mark.req("KEY-006")
def test_keygen_to_stdout_draws_fresh_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --out the key file JSON goes to stdout; two runs give two different keys (CSPRNG)."""
    docs = []
    for _ in range(2):
        code, out, _ = run_cli(capsys, "keygen")
        assert code == 0
        docs.append(json.loads(out))
    assert docs[0]["seed"] != docs[1]["seed"]
    assert parse_key_file(docs[0]).did == docs[0]["did"]


@pytest.mark.req("KEY-006")
def test_keygen_into_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unwritable path is an I/O error; expect exit 2 with one line on stderr."""
    code, _, err = run_cli(capsys, "keygen", "--out", str(tmp_path / "no" / "such" / "dir.key"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1


@pytest.mark.req("KEY-006")
def test_key_file_must_match_its_did() -> None:
    """A hand-edited key file whose did does not follow from its seed is refused."""
    a, b = Keypair.from_seed(b"\x01" * 32), Keypair.from_seed(b"\x02" * 32)
    doc = {"type": KEY_FILE_TYPE, "did": b.did, "seed": base64.b64encode(a.seed).decode()}
    with pytest.raises(KeyFileError):
        parse_key_file(doc)
    bad_docs: list[Any] = [{"type": "other"}, {"type": KEY_FILE_TYPE, "did": a.did, "seed": "AAAA"}, []]
    for bad in bad_docs:
        with pytest.raises(KeyFileError):
            parse_key_file(bad)
    # What is wrong with the seed, in words (not base64's "Incorrect padding")
    with pytest.raises(KeyFileError, match="no seed in it"):
        parse_key_file({"type": KEY_FILE_TYPE, "did": a.did})
    with pytest.raises(KeyFileError, match="seed is not base64"):
        parse_key_file({"type": KEY_FILE_TYPE, "did": a.did, "seed": "abc"})


# --- verify: input forms -------------------------------------------------------------------------


@pytest.mark.req("ENV-001", "TIM-005")
def test_verify_binary_envelopes_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """Two binary envelope files (mandate, then offer) form one transcript; expect exit 0 and two lines."""
    mandate, offer = tmp_path / "mandate.bin", tmp_path / "offer.bin"
    mandate.write_bytes(alice.setup[0])
    offer.write_bytes(alice.offer(bob).envelope)
    code, out, _ = run_cli(capsys, "verify", str(mandate), str(offer))
    assert code == 0, out
    lines = out.splitlines()
    assert " mandate " in lines[0] and " offer " in lines[1]
    assert lines[-1] == "valid: 2 statements (sparse chains, freshness off (offline evidence))"


@pytest.mark.req("MND-002", "ERR-001")
def test_verify_reports_code_requirement_and_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """An offer without its mandate: expect exit 1 and the code, requirement and envelope position."""
    offer = tmp_path / "offer.bin"
    offer.write_bytes(alice.offer(bob).envelope)
    code, out, _ = run_cli(capsys, "verify", str(offer))
    assert code == 1
    assert out.startswith("invalid: MANDATE_UNKNOWN [MND-002] ")
    assert out.rstrip().endswith(f"(envelope 1 of {offer})")


@pytest.mark.req("ENV-001")
def test_verify_dsse_json_envelope(tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party) -> None:
    """A DSSE JSON envelope file is accepted like its binary form."""
    path = tmp_path / "mandate.json"
    path.write_text(json.dumps(envelope_to_json(alice.setup[0])))
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 0, out
    assert "mandate" in out


@pytest.mark.req("ENV-010")
def test_verify_refuses_a_member_name_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """A JSON envelope file naming "payload" twice (a valid mandate, then another payload) is refused
    as invalid JSON, exit 2: a plain parser would verify whichever value it kept."""
    good = json.dumps(envelope_to_json(alice.setup[0]))
    other = envelope_to_json(alice.offer(bob).envelope)["payload"]
    path = tmp_path / "twice.json"
    path.write_text(good[:-1] + f', "payload": "{other}"}}')
    code, _, err = run_cli(capsys, "verify", str(path))
    assert code == 2
    assert "member name 'payload' appears twice" in err


def test_read_envelope_file_refuses_a_member_name_twice(tmp_path: Path, alice: Party) -> None:
    """The runtime's file reader (--mandate, --escrow-mandate) applies ENV-010 to the text too."""
    good = json.dumps(envelope_to_json(alice.setup[0]))
    path = tmp_path / "twice.json"
    path.write_text(good[:-1] + f', "payloadType": "{envelope_to_json(alice.setup[0])["payloadType"]}"}}')
    with pytest.raises(MalformedEnvelope, match="appears twice"):
        read_envelope_file(path)
    (tmp_path / "ok.json").write_text(good)
    assert read_envelope_file(tmp_path / "ok.json") == alice.setup[0]


@pytest.mark.req("ENV-006", "ENV-001")
def test_verify_tampered_dsse_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party) -> None:
    """A DSSE JSON envelope whose payload was edited after signing: expect SIGNATURE_INVALID [ENV-006]."""
    doc = envelope_to_json(alice.setup[0])
    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[-1] ^= 1
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 1
    assert out.startswith("invalid: SIGNATURE_INVALID [ENV-006]")


@pytest.mark.req("ENV-004")
def test_verify_transcript_entry_that_is_not_an_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party
) -> None:
    """A transcript whose second entry is not valid base64: expect MALFORMED_ENVELOPE at envelope 2."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"envelopes": [envelope_to_json(alice.setup[0]), "%%% not base64"]}))
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 1
    assert out.splitlines()[-1].startswith("invalid: MALFORMED_ENVELOPE")
    assert out.rstrip().endswith(f"(envelope 2 of {path})")


@pytest.mark.req("NEG-011", "CHN-001")
def test_verify_transcript_of_a_full_trade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trade: tuple[Party, Party, list[VerifiedStatement]]
) -> None:
    """Mandates, offer, accept, deliveries, receipts as one JSON transcript; expect one line per statement."""
    path = _transcript(tmp_path / "trade.json", _all_envelopes(trade), mode="complete")
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 9
    assert [line.split()[2] for line in lines[:8]] == [
        "mandate", "mandate", "offer", "accept", "delivery", "delivery", "receipt", "receipt",
    ]  # fmt: skip
    assert lines[-1].startswith("valid: 8 statements (complete chains")


@pytest.mark.req("CHN-002")
def test_verify_complete_mode_from_file_or_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """A gap in Alice's chain is fine in sparse mode and CHAIN_GAP in complete mode (file or --complete)."""
    offers = [alice.offer(bob).envelope for _ in range(3)]
    envelopes = [*alice.setup, offers[0], offers[2]]
    sparse = _transcript(tmp_path / "sparse.json", envelopes)
    complete = _transcript(tmp_path / "complete.json", envelopes, mode="complete")
    assert run_cli(capsys, "verify", str(sparse))[0] == 0
    code, out, _ = run_cli(capsys, "verify", str(complete))
    assert code == 1 and "invalid: CHAIN_GAP [CHN-002]" in out
    code, out, _ = run_cli(capsys, "verify", "--complete", str(sparse))
    assert code == 1 and "invalid: CHAIN_GAP [CHN-002]" in out


# --- verify: freshness -------------------------------------------------------------------------


@pytest.mark.req("TIM-001", "TIM-005")
def test_verify_at_applies_freshness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """Without --at an old offer is valid evidence; --at past expiry + skew makes it EXPIRED."""
    offer = alice.offer(bob)
    path = _transcript(tmp_path / "t.json", [*alice.setup, offer.envelope])
    assert run_cli(capsys, "verify", str(path))[0] == 0
    limit = offer.header.expires_at_ms + 30_000
    code, out, _ = run_cli(capsys, "verify", "--at", str(limit), str(path))
    assert code == 0 and f"freshness at {iso(limit)}" in out
    code, out, _ = run_cli(capsys, "verify", "--at", str(limit + 1), str(path))
    assert code == 1 and out.splitlines()[-1].startswith("invalid: EXPIRED [TIM-001]")
    code, out, _ = run_cli(capsys, "verify", "--at", "2030-01-01T00:00:00Z", str(path))
    assert code == 1 and "EXPIRED" in out
    code, out, _ = run_cli(capsys, "verify", "--at", "2025-12-31T23:59:00+00:00", str(path))
    assert code == 1 and "ISSUED_IN_FUTURE [TIM-003]" in out


@pytest.mark.req("TIM-005")
def test_verify_at_now_uses_the_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Statements made just now are fresh at `--at now`."""
    clock = FixedClock(time.time_ns() // 1_000_000)
    alice, bob = Party("alice", clock), Party("bob", clock)
    path = _transcript(tmp_path / "t.json", [*alice.setup, alice.offer(bob).envelope])
    code, out, _ = run_cli(capsys, "verify", "--at", "now", str(path))
    assert code == 0, out


@pytest.mark.req("TIM-005", "TIM-001")
def test_verify_transcript_now_ms_and_at_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """A transcript's now_ms applies when --at is absent; --at overrides it."""
    offer = alice.offer(bob)
    late = offer.header.expires_at_ms + 30_001
    path = _transcript(tmp_path / "t.json", [*alice.setup, offer.envelope], now_ms=late)
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 1 and "EXPIRED" in out
    assert run_cli(capsys, "verify", "--at", str(offer.header.issued_at_ms), str(path))[0] == 0


@pytest.mark.req("TIM-005")
def test_parse_time_forms() -> None:
    """--at takes Unix ms, ISO 8601 with or without offset (UTC assumed), or 'now'."""
    assert parse_time("1767225600000") == EPOCH_MS
    assert parse_time("2026-01-01T00:00:00Z") == EPOCH_MS
    assert parse_time("2026-01-01T01:00:00+01:00") == EPOCH_MS
    assert parse_time("2026-01-01T00:00:00.250") == EPOCH_MS + 250
    assert abs(parse_time("now") - time.time() * 1000) < 60_000
    assert iso(EPOCH_MS + 7) == "2026-01-01T00:00:00.007Z"


@pytest.mark.req("TIM-005")
def test_bad_at_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party) -> None:
    """An --at value that is no time: expect exit 2 from argument parsing."""
    path = tmp_path / "m.bin"
    path.write_bytes(alice.setup[0])
    code, _, err = run_cli(capsys, "verify", "--at", "next tuesday", str(path))
    assert code == 2 and "next tuesday" in err


# --- verify: JSON output, vector files, proofs ----------------------------------------------------


@pytest.mark.req("ERR-001")
def test_verify_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trade: tuple[Party, Party, list[VerifiedStatement]]
) -> None:
    """--json prints one object: result, statements (seq, issuer, body, digest) and the error, if any."""
    envelopes = _all_envelopes(trade)
    path = _transcript(tmp_path / "t.json", envelopes)
    code, out, _ = run_cli(capsys, "verify", "--json", str(path))
    report = json.loads(out)
    assert code == 0 and report["result"] == "valid"
    t = report["transcript"]
    assert t["error"] is None and t["now_ms"] is None and t["mode"] == "sparse"
    assert [s["body"] for s in t["statements"]][2:4] == ["offer", "accept"]
    assert all(len(s["digest"]) == 64 for s in t["statements"])

    bad = _transcript(tmp_path / "bad.json", envelopes[2:])
    code, out, _ = run_cli(capsys, "verify", "--json", str(bad))
    report = json.loads(out)
    assert code == 1 and report["result"] == "invalid"
    assert report["transcript"]["error"] == {
        "code": "MANDATE_UNKNOWN",
        "requirement": "MND-002",
        "detail": report["transcript"]["error"]["detail"],
        "file": str(bad),
        "envelope": 1,
    }


@pytest.mark.req("ERR-002")
def test_verify_vector_file_with_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A vector file is run, not verified as a transcript; a vector with the wrong expectation fails."""
    doc = json.loads((ROOT / "conformance" / "vectors" / "statements.json").read_text())
    group = doc["testGroups"][1]
    test = next(t for t in group["tests"] if t["result"] == "invalid")
    doc["testGroups"] = [{**group, "tests": [test, {**test, "tcId": 9999, "error": "REPLAYED"}]}]
    doc["numberOfTests"] = 2
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run_cli(capsys, "verify", "--vectors", str(path))
    assert code == 1
    assert f"{path}: 1/2 vectors as expected" in out
    assert "FAIL statements-9999-" not in out and "FAIL vectors-9999-" in out
    assert "expected REPLAYED at" in out
    code, out, _ = run_cli(capsys, "verify", "--vectors", "--json", str(path))
    assert json.loads(out)["vectors"][0]["failures"][0]["tcId"] == 9999


@pytest.mark.parametrize("with_a_vector_file", [False, True], ids=["alone", "beside-a-vector-file"])
def test_verify_vectors_given_evidence_says_what_it_is_and_which_command_reads_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trade: tuple[Party, Party, list[VerifiedStatement]],
    with_a_vector_file: bool,
) -> None:
    """`verify --vectors evidence.json` (what `export` writes, not a vector file) verified the evidence and
    exited 0, which read as "every vector as expected": it is now one line saying what the file is and
    the command that verifies it, exit 2, whatever vector file is beside it."""
    path = _transcript(tmp_path / "evidence.json", _all_envelopes(trade))
    vectors = [str(ROOT / "conformance" / "vectors" / "canaries.json")] if with_a_vector_file else []
    code, out, err = run_cli(capsys, "verify", "--vectors", *vectors, str(path))
    assert (code, out) == (2, "")
    one_line_error(
        err, f"{path} is evidence (8 statements), not a test vector file", f"a2a-coop verify {path}`"
    )
    code, out, _ = run_cli(capsys, "verify", str(path))  # verified without --vectors, as the line says
    assert code == 0 and "valid: 8 statements" in out


@pytest.mark.req("CHN-004")
def test_verify_equivocation_proof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped proof verifies; a 'proof' of one statement twice does not."""
    shipped = ROOT / "conformance" / "vectors" / "equivocation-proof.json"
    code, out, _ = run_cli(capsys, "verify", str(shipped))
    assert code == 0 and "valid equivocation proof" in out
    doc = json.loads(shipped.read_text())
    doc["second"] = doc["first"]
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps(doc))
    code, out, _ = run_cli(capsys, "verify", str(fake))
    assert code == 1 and "invalid equivocation proof" in out


# --- verify: usage errors -----------------------------------------------------------------------


@pytest.mark.req("ERR-001")
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"not json at all", "invalid JSON"),  # text, not a corrupt protobuf
        (b'\xef\xbb\xbf{"envelopes": [', "invalid JSON"),  # a byte order mark before broken JSON
        (b"\n[1, 2", "invalid JSON"),
        (b"[" * 5_000 + b"]" * 5_000, "nested too deeply"),  # once a RecursionError traceback
        (b"", "is empty"),
        (b"null", "JSON is neither"),
        (b'{"type": "a2a-coop/ed25519-seed", "did": "d", "seed": "s"}', "a key file is neither"),
        (b'{"hello": "world"}', "neither an envelope"),
        (b'{"envelopes": "nope"}', "must be a list"),
        (b'{"envelopes": [], "mode": "partial"}', "mode must be"),
        (b'{"envelopes": [], "now_ms": "soon"}', "now_ms must be"),
        (b'{"testGroups": [], "schema": "other/1"}', "unsupported vector schema"),
    ],
)
def test_verify_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    """Files that are not what verify (and inspect) read are usage errors: exit 2, one stderr line, no
    traceback."""
    path = tmp_path / "input.json"
    path.write_bytes(content)
    for command in ("verify", "inspect"):
        code, out, err = run_cli(capsys, command, str(path))
        assert code == 2 and out == "", command
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.req("ERR-001")
def test_missing_file_and_missing_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file and a missing subcommand both exit 2 without a traceback; bare `a2a-coop`
    prints the whole help (every command), as it ran none."""
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "absent.bin"))
    assert code == 2 and "absent.bin" in err and "Traceback" not in err
    code, out, err = run_cli(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: a2a-coop") and all(c in err for c in ("keygen", "offer", "status", "demo"))
    assert "Exit codes" in err
    assert run_cli(capsys, "verify")[0] == 2


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    assert main([*command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


def test_help_explains_what_a_newcomer_needs(capsys: pytest.CaptureFixture[str]) -> None:
    """offer has a description (with its exit codes); item and duration formats, --tick-ms's default
    and verify --complete are explained; claim's journal must exist (it is not created)."""
    offer = _help(capsys, "offer")
    assert "Offer a trade to the peer at --to" in offer and "Exit 1 when an offer was rejected" in offer
    assert "CATEGORY:VALUE, e.g. code-review:500" in offer and "declared value" in offer
    assert "500ms, 30s, 5m, 1h or 2d" in offer
    assert "(default 500)" in _help(capsys, "escrow", "serve")
    assert "complete log from seq 0" in _help(capsys, "verify")
    claim = _help(capsys, "claim")
    assert "must exist" in claim and "created if new" not in claim
    assert "status lists them" in claim
    assert "principal.db" in _help(capsys, "mandate")


# --- inspect, version, demo -----------------------------------------------------------------------


@pytest.mark.req("STM-012", "ENV-001")
def test_inspect_valid_envelope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party, bob: Party
) -> None:
    """inspect shows keyid, digest, header times in ISO 8601 UTC and the body in text format."""
    offer = alice.offer(bob)
    path = tmp_path / "offer.bin"
    path.write_bytes(offer.envelope)
    code, out, _ = run_cli(capsys, "inspect", str(path))
    assert code == 0
    assert f"keyid {alice.did}" in out
    assert offer.digest.hex() in out
    assert f"issued_at:      {iso(offer.header.issued_at_ms)} ({offer.header.issued_at_ms})" in out
    assert "2026-01-01T00:00:00.000Z" in out
    assert f"audience:       {bob.did}" in out
    assert "body:         offer" in out and 'category: "code-review"' in out
    assert "verify:       ok" in out


@pytest.mark.req("ENV-006")
def test_inspect_does_not_require_a_valid_signature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alice: Party
) -> None:
    """A tampered signature is still dumped, with the code it fails with; garbage is named as such."""
    doc = envelope_to_json(alice.setup[0])
    sig = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    sig[0] ^= 1
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"envelopes": [doc, "AAAA"]}))
    garbage = tmp_path / "g.bin"
    garbage.write_bytes(b"\xff" * 20)
    code, out, _ = run_cli(capsys, "inspect", str(path), str(garbage))
    assert code == 1  # dumped, but what failed its checks fails the command
    assert "verify:       FAILED SIGNATURE_INVALID [ENV-006]" in out
    assert "body:         mandate" in out and f'agent: "{alice.did}"' in out
    assert "not an envelope" in out


@pytest.mark.req("CHN-004")
def test_inspect_vector_file_and_proof(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect walks every vector of a vector file, and both envelopes of a proof."""
    vectors = ROOT / "conformance" / "vectors" / "chains.json"
    proof = ROOT / "conformance" / "vectors" / "equivocation-proof.json"
    code, out, _ = run_cli(capsys, "inspect", str(vectors), str(proof))
    assert code == 0
    assert "== chains-1-" in out and "envelope 0 of tcId 1" in out
    assert "first envelope of" in out and "second envelope of" in out


@pytest.mark.req("VER-001")
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """version and --version print the package version and the protocol version, on one line."""
    code, out, _ = run_cli(capsys, "version")
    assert code == 0 and __version__ in out and "protocol version 1" in out
    assert run_cli(capsys, "--version") == (0, out, "") and out.count("\n") == 1


@pytest.mark.req("CMT-002", "TIM-005")
def test_offline_demo_writes_a_transcript_verify_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """demo --offline runs the trades in this process and writes a transcript; `verify` on it exits 0.
    Its waits are on its fixed clock, and it says so: "waiting 30 s for the escrow's ruling" printed a
    countdown a newcomer took for real, over in a blink (newuser17)."""
    code, out, _ = run_cli(capsys, "demo", "--offline", "--out", str(tmp_path), "--trades", "2")
    assert code == 0, out
    assert "waiting 30 s for the escrow's ruling (on the demo's clock: no real wait) ..." in out, out
    transcript = tmp_path / "transcript.json"
    assert transcript.exists()
    assert run_cli(capsys, "verify", str(transcript))[0] == 0


def test_offline_demo_never_overwrites_what_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo --offline --out .` in a folder holding the user's transcript.json once overwrote it;
    expect exit 2, one line, and the file untouched."""
    mine = tmp_path / "transcript.json"
    mine.write_text("my own transcript")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "demo", "--offline", "--out", ".")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not an a2a-coop demo directory" in err
    assert mine.read_text() == "my own transcript" and sorted(p.name for p in tmp_path.iterdir()) == [
        "transcript.json"
    ]


def test_gitignore_names_the_demos_default_directory() -> None:
    """The demo writes ./a2a-coop-demo by default; git should not offer to commit it."""
    default = build_parser().parse_args(["demo"]).out
    assert f"{default}/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.req("ERR-001")
def test_cli_import_is_light() -> None:
    """The CLI must start without loading the transport stack (grpc, trio)."""
    code = (
        "import sys, a2a_coop.cli.main, a2a_coop.cli.offline\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'trio'))\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_peer_command_loads_no_sparse_algebra_until_a_trust_score_is_computed() -> None:
    """scipy.sparse costs every command that builds a peer some 0.2 s of CPU to load; only the trust
    aggregation needs it, so it loads there (and the aggregation still works)."""
    code = (
        "import sys, a2a_coop.cli.peer\n"
        "before = 'scipy.sparse' in sys.modules\n"
        "from a2a_coop.protocol.trust import RatingTable, aggregate\n"
        "view = aggregate(RatingTable.from_ratings([]), ['did:key:seed'], 0)\n"
        "print(before, 'scipy.sparse' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.req("ERR-001")
@pytest.mark.parametrize("content", ["[]", '{"envelopes": []}'], ids=["bare-list", "empty-transcript"])
def test_verify_of_a_transcript_with_no_envelope_is_not_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    """An empty transcript proves nothing; expect exit 1 and NOTHING_TO_VERIFY, never 'valid'."""
    path = tmp_path / "empty.json"
    path.write_text(content)
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 1 and out.startswith("invalid: NOTHING_TO_VERIFY")
    code, out, _ = run_cli(capsys, "verify", "--json", str(path))
    assert code == 1 and json.loads(out)["result"] == "invalid"


def _commands(parser: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and action of the CLI with its parser, depth first."""
    import argparse

    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(((*path, name), sub))
                out += _commands(sub, (*path, name))
    return out


def test_every_command_says_what_it_does_in_its_help() -> None:
    """A newcomer reads `a2a-coop COMMAND --help` first: `export`, `escrow` and `escrow ledger` showed
    only their options. Expect a description on every command and action except `version`."""
    bare = [
        " ".join(path) for path, p in _commands(build_parser()) if not p.description and path != ("version",)
    ]
    assert not bare, f"commands without a description: {bare}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("serve", "--port", "99999"), "is not a port number"),
        (("demo", "--trades", "0"), "is not a positive integer"),
        (("escrow", "serve", "--fund", "DID=-5"), "is not DID=AMOUNT"),
        (("verify", "--no-such-flag", "x"), "unrecognized arguments"),
    ],
)
def test_a_bad_flag_or_value_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    """A bad flag or flag value: exit 2 and one line naming the error and where the help is -- not the
    command's whole usage block first (up to 16 lines for serve)."""
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert (
        message in err and len(err.strip().splitlines()) == 1 and "--help" in err and "Traceback" not in err
    )
