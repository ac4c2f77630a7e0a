"""A snapshot is read back only by the build whose code made the objects it holds (a2a_coop.runtime.snapshot).

A snapshot names a fingerprint of the build (its release and the sources of the modules whose objects it
pickles); a node of another build ignores it and replays its whole journal. The fingerprint was read from
the files when the first snapshot was written -- at the first 6,000 rows, or at close: days after start,
maybe after a checkout replaced the sources under the running node (every dev build is 0.2.0.dev0). The
snapshot then named the new build and held the old one's objects: a Negotiation pickled before
``Negotiation.off_line`` existed, its held-off Counters in a ``higher`` attribute the new code never
reads, was loaded whole by the new build and read as holding none.

Here the old build is the package copied with ``off_line`` named ``higher``, run as an escrow process that
holds such a Counter; its sources become this build's under it before it closes and writes its snapshot.
This build's escrow restarting on that journal must hold what a full replay holds: Bob's Accept of that
Counter takes the line back (NEG-021 (d)) and both bonds lock.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from peers import escrow_node
from test_attack26_cut_back_accept import _bodies, _mirror_naming

import a2a_coop
from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.snapshot import META_ESCROW_SNAPSHOT
from a2a_coop.testing import FixedClock, Party

FUNDS = 1_000
# The old build: the layout before Negotiation.off_line (its held-off Counters under another name).
RENAMED = ("protocol/negotiation.py", "protocol/verifier.py")

# The old build's escrow: takes the story's batches, then the checkout puts this build's sources under it,
# then it closes (a snapshot at close).
_OLD_ESCROW = """
import json, shutil, sys
from pathlib import Path
from a2a_coop.protocol.identity import Keypair
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import derive

story = json.loads(Path(sys.argv[1]).read_text())
node = EscrowNode(
    Keypair.from_seed(derive("key/escrow")),
    bytes.fromhex(story["mandate"]),
    Path(story["journal"]),
    clock=lambda: story["now_ms"],
    durability="normal",
)
for did in story["funds"]:
    node.deposit(did, story["amount"])
for batch in story["batches"]:
    node.submit([bytes.fromhex(env) for env in batch])
neg = node.escrow.verifier.negotiations.by_id[bytes.fromhex(story["negotiation"])]
assert list(vars(neg)["higher"]) == [bytes.fromhex(story["held_off"])], vars(neg)
for rel in story["checkout"]:  # the new build's sources, under the running escrow
    shutil.copyfile(Path(story["new"]) / rel, Path(story["old"]) / rel)
node.close()
"""


def _old_build(root: Path) -> Path:
    """A copy of this package (sources only) as the old build: ``off_line`` named ``higher``."""
    here = Path(a2a_coop.__file__).parent
    copy = root / "a2a_coop"
    shutil.copytree(here, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in RENAMED:
        path = copy / rel
        text = path.read_text()
        assert "off_line" in text and ".higher" not in text
        path.write_text(text.replace("off_line", "higher"))
    return root


@pytest.mark.req("ESC-007", "NEG-021")
def test_a_snapshot_written_after_a_checkout_under_the_running_escrow_is_not_half_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    offer = bob.offer(alice, bob.proposal())  # naming no escrow
    clock.advance(1_000)
    mine = proposal_of(offer)
    plain = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    plain.terms.CopyFrom(mine.terms)
    kept = alice.counter(offer, plain)  # kept back: the lower answer
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror_naming(offer, party.did))  # naming E, both bonds
    clock.advance(1_000)
    path = tmp_path / "escrow.db"
    old = _old_build(tmp_path / "old")
    story = {
        "mandate": party.mandate_vs.envelope.hex(),
        "journal": str(path),
        "now_ms": clock.now_ms,
        "funds": [alice.did, bob.did],
        "amount": FUNDS,
        # E shown the Counter, then the lower answer Alice kept: it cuts the line back, the Counter held off.
        "batches": [
            [e.hex() for e in [*alice.setup, *bob.setup, offer.envelope, counter.envelope]],
            [kept.envelope.hex()],
        ],
        "negotiation": offer.negotiation_id.hex(),
        "held_off": counter.digest.hex(),
        "old": str(old / "a2a_coop"),
        "new": str(Path(a2a_coop.__file__).parent),
        "checkout": list(RENAMED),
    }
    (tmp_path / "story.json").write_text(json.dumps(story))
    ran = subprocess.run(
        [sys.executable, "-c", _OLD_ESCROW, str(tmp_path / "story.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(old), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    with Journal.open(path, durability="normal") as journal:
        assert journal.get_meta(META_ESCROW_SNAPSHOT) is not None  # the old build wrote one at close

    clock.advance(1_000)
    with caplog.at_level(logging.WARNING, logger="a2a_coop.runtime.snapshot"):
        node = escrow_node(party, clock, path)
    try:
        assert node.resumed_from is None, "the old build's snapshot was loaded"
        assert "of another build of a2a-coop: ignored, the whole journal replayed" in caplog.text
        neg = node.escrow.verifier.negotiations.by_id[offer.negotiation_id]
        assert neg.off_line is not None and counter.digest in neg.off_line
        accept = bob.accept(counter)
        answer = _bodies(node.submit([accept.envelope])[1:])
        assert answer.count("bond_lock") == 2, answer  # NEG-021 (d): the witnessed Accept takes the line back
    finally:
        node.close()
