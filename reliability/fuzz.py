"""Fuzz every decoder and every RPC: ``python -m reliability fuzz [--inputs N] [--seed S]``.

Two kinds of input, half each:

* **structure-aware** -- hypothesis draws protobuf messages from the .proto descriptors themselves
  (every field of every message, nested to depth 3, with boundary integers: 0, 2^31, 2^32 - 1,
  2^53 - 1, 2^53, 2^63, 2^64 - 1). For the statement path the drawn Statement is then *signed by a
  real key* (mallory's, who holds a mandate bob accepts) and, half the time, its header is made to
  extend mallory's chain and name bob, so that it gets past the envelope and signature checks into
  the header, body, mandate and negotiation rules;
* **mutation-based** -- valid envelopes and requests from a real trade (offer, accept, delivery,
  receipt, the escrow's stamp and locks, and the requests that carried them), with 1 to 4 byte-level
  mutations (bit flips, random bytes, insertions, deletions, truncation, duplication, splices), the
  mutated statement payloads signed again half the time.

Targets: the decoders (``decode_envelope``, ``verify_statement``, ``envelope_from_json`` and every
request message's parser) in this process, and every RPC of CooperationService and EscrowService on
a real bob (:class:`~a2a_coop.runtime.node.PeerNode`) and escrow
(:class:`~a2a_coop.runtime.node.EscrowNode`), each with its journal, served over gRPC on 127.0.0.1.

What counts: an input is **typed** when it is answered (a decoder returns or raises a
:class:`~a2a_coop.protocol.errors.CoopError`, or protobuf's DecodeError for a message parser; an RPC
answers OK, or fails with the SPEC code in its ErrorInfo, or with INVALID_ARGUMENT /
RESOURCE_EXHAUSTED from the transport for a request that does not parse or is too big, RPC-007/008);
**untyped_errors** are anything else (another exception, an RPC failing INTERNAL or UNKNOWN);
**hangs** are inputs that took longer than ``--hang-s`` (or hit the RPC deadline); **crashes** are
inputs after which the server no longer answers its health check. All three must stay 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import grpc
from google.protobuf import descriptor, message_factory
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import service_pb2, statement_pb2
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.envelope import decode_envelope, envelope_from_json, envelope_to_json, sign_payload
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.trade import contract_evidence, proposal, relay_escrow_answers, settle_with_escrow
from a2a_coop.transport import CooperationClient, EscrowClient, serve
from a2a_coop.transport.errors import DOMAIN, STATUS_DETAILS_KEY

NAME: Final = "fuzz"
DEFAULT_INPUTS: Final = 10_000
DEFAULT_HANG_S: Final = 2.0
RPC_DEADLINE_S: Final = 5.0
RPC_SHARE: Final = 0.4  # of the inputs, what goes to the RPCs (the rest to the decoders in-process)
DRAWN_SHARE: Final = 0.5  # of each part, what hypothesis draws (the rest are mutations: far cheaper)
BOUNDARY_INTS: Final = (
    0,
    1,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53 - 1,
    2**53,
    2**63 - 1,
    2**63,
    2**64 - 1,
)
TYPED_TRANSPORT: Final = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED})
COOP: Final = "/a2acoop.v1.CooperationService/"
ESCROW: Final = "/a2acoop.v1.EscrowService/"
# method path -> request message class: every RPC of both services, read from the descriptors so that
# an RPC added to service.proto is fuzzed without anyone remembering to list it here
RPCS: Final[dict[str, type[Message]]] = {
    f"/{svc.full_name}/{m.name}": message_factory.GetMessageClass(m.input_type)
    for svc in (
        service_pb2.DESCRIPTOR.services_by_name["CooperationService"],
        service_pb2.DESCRIPTOR.services_by_name["EscrowService"],
    )
    for m in svc.methods
}


# --- outcomes ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Outcomes per target."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)  # the first untyped errors and hangs

    def add(self, target: str, outcome: str, data: bytes = b"", note: str = "") -> None:
        self.counts.setdefault(target, Counter())[outcome] += 1
        if outcome in ("untyped", "hang", "crash") and len(self.examples) < 20:
            self.examples.append(
                {"target": target, "outcome": outcome, "input": data[:96].hex(), "note": note}
            )

    def total(self, outcome: str | None = None) -> int:
        return sum(c[outcome] if outcome else sum(c.values()) for c in self.counts.values())


def _timed(tally: Tally, target: str, data: bytes, hang_s: float, call: Callable[[], str]) -> None:
    started = time.perf_counter()
    outcome, note = call(), ""
    if ":" in outcome:
        outcome, note = outcome.split(":", 1)
    if time.perf_counter() - started > hang_s and outcome != "crash":
        outcome = "hang"
    tally.add(target, outcome, data, note)


# --- decoders ------------------------------------------------------------------------------------


def _decoder(
    fn: Callable[[bytes], Any], *, allowed: tuple[type[BaseException], ...] = ()
) -> Callable[[bytes], str]:
    def run(data: bytes) -> str:
        try:
            fn(data)
        except CoopError:
            return "typed"
        except allowed:
            return "typed"
        except Exception as exc:  # the finding: an error that is not the SPEC's
            return f"untyped:{type(exc).__name__}: {exc}"[:300]
        return "ok"

    return run


def _json_envelope(data: bytes) -> Any:
    return envelope_from_json(data)


DECODERS: Final[dict[str, Callable[[bytes], str]]] = {
    "decode_envelope": _decoder(decode_envelope),
    "verify_statement": _decoder(verify_statement),
    "envelope_from_json": _decoder(_json_envelope),
    **{
        f"parse {cls.DESCRIPTOR.name}": _decoder(cls.FromString, allowed=(DecodeError,))
        for cls in RPCS.values()
    },
}


# --- structure-aware inputs: hypothesis from the descriptors ----------------------------------------

_FD = descriptor.FieldDescriptor
_UINT64 = st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(0, 2**64 - 1), st.integers(0, 1000))
_UINT32 = st.one_of(st.sampled_from((0, 1, 2**31, 2**32 - 1)), st.integers(0, 2**32 - 1))
_INT32 = st.integers(-(2**31), 2**31 - 1)
_BYTES = st.one_of(
    st.binary(max_size=80), st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16)
)
_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(("", "did:key:z6Mk", "credit", "code-review")))


def _scalar(f: descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    t = f.type
    if t in (_FD.TYPE_UINT64, _FD.TYPE_FIXED64):
        return _UINT64
    if t in (_FD.TYPE_UINT32, _FD.TYPE_FIXED32):
        return _UINT32
    if t in (_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64):
        return st.integers(-(2**63), 2**63 - 1)
    if t in (_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32):
        return _INT32
    if t == _FD.TYPE_ENUM:
        values = [v.number for v in f.enum_type.values]
        return st.one_of(st.sampled_from(values), _INT32)
    if t == _FD.TYPE_BOOL:
        return st.booleans()
    if t == _FD.TYPE_STRING:
        return _TEXT
    if t == _FD.TYPE_BYTES:
        return _BYTES
    if t in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
        return st.floats(allow_nan=False, width=32)
    raise TypeError(f"no strategy for field {f.full_name} of type {t}")


@st.composite
def messages(draw: st.DrawFn, desc: descriptor.Descriptor, depth: int = 0) -> Message:
    """A message of type ``desc`` with a random subset of its fields set (nested to depth 3)."""
    msg = message_factory.GetMessageClass(desc)()
    for f in desc.fields:
        if not draw(st.booleans()):
            continue
        if f.type == _FD.TYPE_MESSAGE:
            if depth >= 3:
                continue
            if f.message_type.GetOptions().map_entry:
                continue
            sub = messages(f.message_type, depth + 1)
            if f.is_repeated:
                for item in draw(st.lists(sub, max_size=2)):
                    getattr(msg, f.name).add().CopyFrom(item)
            else:
                getattr(msg, f.name).CopyFrom(draw(sub))
        elif f.is_repeated:
            getattr(msg, f.name).extend(draw(st.lists(_scalar(f), max_size=3)))
        else:
            setattr(msg, f.name, draw(_scalar(f)))
    return msg


# --- mutation-based inputs ---------------------------------------------------------------------------


def mutate(data: bytes, rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """1 to 4 byte-level mutations of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(out)
        if op == 0 and n:  # flip a bit
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # a random byte, often an extreme one
            out[rng.randrange(n)] = rng.choice((0x00, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:  # insert bytes
            i = rng.randint(0, n)
            out[i:i] = rng.randbytes(rng.choice((1, 2, 10, 64)))
        elif op == 3 and n:  # delete a range
            i = rng.randrange(n)
            del out[i : i + rng.randint(1, 16)]
        elif op == 4 and n:  # truncate
            del out[rng.randrange(n) :]
        elif op == 5 and n:  # duplicate a range
            i = rng.randrange(n)
            out[i:i] = out[i : i + rng.randint(1, 32)]
        elif op == 6 and corpus:  # splice with another valid input
            other = rng.choice(corpus)
            i, j = rng.randint(0, n), rng.randint(0, len(other))
            out = out[:i] + bytearray(other[j:])
        else:  # a varint at its maximum (ten bytes, all ones)
            i = rng.randint(0, n)
            out[i:i] = b"\xff" * 9 + b"\x01"
    return bytes(out)


# --- the live side: bob and an escrow, served; mallory, who traded with them ------------------------


@dataclass
class World:
    bob: PeerNode
    escrow: EscrowNode
    mallory: Peer
    mallory_id: Identity
    target: str
    channel: grpc.Channel
    corpus_envelopes: list[bytes]
    corpus_requests: dict[str, list[bytes]]


@contextmanager
def world(directory: Path) -> Iterator[World]:
    """Bob and an escrow, each with a journal, served on one loopback port; mallory (in memory) has
    traded with bob once through the escrow, so there is a corpus of valid envelopes and requests."""
    bob_id, mallory_id, escrow_id = (provision(directory, n) for n in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(escrow_id.key, escrow_id.mandate, escrow_id.journal_path)
    for who in (bob_id, mallory_id):
        escrow.deposit(who.did, 1_000_000)
    bob = PeerNode.open(bob_id.key, bob_id.mandate, bob_id.journal_path, context=[escrow_id.mandate])
    mallory = Peer(mallory_id.key, mallory_id.mandate, context=[escrow_id.mandate])
    server = serve(bob, escrow, max_workers=8)
    channel = grpc.insecure_channel(server.target)
    try:
        with CooperationClient(server.target) as cc, EscrowClient(server.target) as ec:
            terms = proposal(
                mallory,
                [("code-review", 500)],
                [("copy-editing", 450)],
                deadline_ms=wall_clock_ms() + 3_600_000,
                bond=100,
                escrow=escrow_id.did,
            )
            offer = mallory.propose(bob_id.did, terms)
            drive(mallory, cc.exchange, offer)
            neg = mallory.negotiation(offer.header.negotiation_id)
            relay_escrow_answers(mallory, cc, ec.submit(contract_evidence(mallory, neg)))
            settle_with_escrow(mallory, cc, ec, neg)
        envelopes = [vs.envelope for vs in mallory.verifier.statements.values()]
        requests = {
            COOP + "Exchange": [
                service_pb2.ExchangeRequest(envelope=e, context=mallory.send_context()).SerializeToString()
                for e in envelopes
            ],
            ESCROW + "Submit": [service_pb2.SubmitRequest(envelopes=envelopes[:4]).SerializeToString()],
            COOP + "GetLog": [service_pb2.GetLogRequest(from_seq=0, limit=5).SerializeToString()],
            ESCROW + "GetTranscript": [
                service_pb2.GetTranscriptRequest(from_seq=1, limit=3).SerializeToString()
            ],
            ESCROW + "GetBalance": [service_pb2.GetBalanceRequest(party=bob_id.did).SerializeToString()],
        }
        yield World(bob, escrow, mallory, mallory_id, server.target, channel, envelopes, requests)
    finally:
        channel.close()
        server.stop(None)
        bob.close()
        escrow.close()


def _rpc_outcome(w: World, method: str, request: bytes) -> str:
    try:
        if method.endswith("/Negotiate"):
            call = w.channel.stream_stream(method, request_serializer=None, response_deserializer=None)
            for _ in call(iter([request]), timeout=RPC_DEADLINE_S):
                pass
        else:
            unary = w.channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            unary(request, timeout=RPC_DEADLINE_S)
    except grpc.RpcError as err:
        code = err.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "hang"
        if code == grpc.StatusCode.UNAVAILABLE:
            return "crash:UNAVAILABLE" if not _healthy(w) else f"untyped:{code.name} {err.details()}"
        trailers = dict(err.trailing_metadata() or ())
        if STATUS_DETAILS_KEY in trailers and DOMAIN.encode() in trailers[STATUS_DETAILS_KEY]:
            return "typed"
        if code in TYPED_TRANSPORT:
            return "typed"
        return f"untyped:{code.name} {err.details()}"[:300]
    return "ok"


def _healthy(w: World) -> bool:
    try:
        stub = health_pb2_grpc.HealthStub(w.channel)
        status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=RPC_DEADLINE_S).status
    except grpc.RpcError:
        return False
    return bool(status == health_pb2.HealthCheckResponse.SERVING)


def _signed_statement(w: World, stmt: statement_pb2.Statement, fix_header: bool) -> bytes:
    """``stmt`` signed by mallory; with ``fix_header``, its header made to extend her chain and name bob
    (the body stays as drawn), so that it reaches the body and negotiation rules."""
    if fix_header:
        h, writer = stmt.header, w.mallory.writer
        h.version, h.issuer, h.seq, h.prev = 1, w.mallory.did, writer.next_seq, writer.prev
        h.audience = w.bob.peer.did
        h.mandate = w.mallory.mandate_vs.digest
        now = wall_clock_ms()
        h.issued_at_ms, h.expires_at_ms = now, now + 60_000
        h.not_before_ms = 0
        if len(h.nonce) != 16:
            h.nonce = random.randbytes(16)
    return sign_payload(stmt.SerializeToString(deterministic=True), w.mallory.key)


def _advance_if_taken(w: World, envelope: bytes, outcome: str) -> None:
    """Bob took a statement of mallory's chain: her writer moves on, so the next one extends it."""
    if outcome != "ok":
        return
    try:
        vs: VerifiedStatement = verify_statement(envelope)
    except CoopError:
        return
    if vs.issuer == w.mallory.did and vs.header.seq == w.mallory.writer.next_seq:
        w.mallory.writer.advance(vs)


# --- the campaign --------------------------------------------------------------------------------------


def _hypothesis(n: int, seed: int, strategy: st.SearchStrategy[Any], body: Callable[[Any], None]) -> None:
    if n <= 0:
        return

    @hypothesis_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def run(x: Any) -> None:
        body(x)

    run()


def run(
    inputs: int,
    seed: int,
    hang_s: float,
    directory: Path,
    *,
    rpc_share: float = RPC_SHARE,
    drawn_share: float = DRAWN_SHARE,
) -> dict[str, Any]:
    tally = Tally()
    rng = random.Random(seed)
    started = time.perf_counter()
    with world(directory) as w:
        corpus = w.corpus_envelopes
        all_requests = [r for rs in w.corpus_requests.values() for r in rs]
        rpc_inputs = int(inputs * rpc_share)
        dec_inputs = inputs - rpc_inputs

        # decoders: half hypothesis-drawn messages (statements, envelopes, requests), half mutations
        decoders = list(DECODERS.items())

        json_corpus = [json.dumps(envelope_to_json(e)).encode() for e in corpus]

        def decode_all(data: bytes) -> None:
            target, fn = decoders[len(data) % len(decoders)]
            if target == "envelope_from_json" and rng.random() < 0.7:  # mostly JSON-shaped input
                data = (
                    mutate(rng.choice(json_corpus), rng, json_corpus)
                    if rng.random() < 0.9
                    else json_corpus[0]
                )
            _timed(tally, target, data, hang_s, lambda: fn(data))

        drawn = st.one_of(
            messages(statement_pb2.Statement.DESCRIPTOR).map(lambda m: m.SerializeToString()),
            st.sampled_from(list(RPCS.values()))
            .flatmap(lambda cls: messages(cls.DESCRIPTOR))
            .map(lambda m: m.SerializeToString()),
            st.binary(max_size=200),
        )
        _hypothesis(int(dec_inputs * drawn_share), seed, drawn, decode_all)
        for _ in range(dec_inputs - tally.total()):
            base = rng.choice(corpus + all_requests)
            decode_all(mutate(base, rng, corpus))

        # RPCs: hypothesis-drawn statements signed by mallory to Exchange and Submit, drawn requests to
        # every method; then mutations of the trade's valid requests and envelopes
        before = tally.total()
        methods = list(RPCS)

        def statement_rpc(args: tuple[statement_pb2.Statement, bool, bool]) -> None:
            stmt, fix, to_escrow = args
            envelope = _signed_statement(w, stmt, fix)
            if to_escrow:
                method, req = ESCROW + "Submit", service_pb2.SubmitRequest(envelopes=[envelope])
            else:
                method, req = COOP + "Exchange", service_pb2.ExchangeRequest(envelope=envelope)
            data = req.SerializeToString()
            outcome: list[str] = []

            def call() -> str:
                outcome.append(_rpc_outcome(w, method, data))
                return outcome[-1]

            _timed(tally, method.rsplit("/", 1)[1], data, hang_s, call)
            if not to_escrow:
                _advance_if_taken(w, envelope, outcome[-1])

        def request_rpc(args: tuple[str, Message]) -> None:
            method, msg = args
            data = msg.SerializeToString()
            _timed(tally, method.rsplit("/", 1)[1], data, hang_s, lambda: _rpc_outcome(w, method, data))

        quarter = int(rpc_inputs * drawn_share / 2)
        _hypothesis(
            quarter,
            seed + 1,
            st.tuples(messages(statement_pb2.Statement.DESCRIPTOR), st.booleans(), st.booleans()),
            statement_rpc,
        )
        for i, method in enumerate(methods):  # every method its share, however the draws fall
            _hypothesis(
                max(1, quarter // len(methods)),
                seed + 2 + i,
                st.tuples(st.just(method), messages(RPCS[method].DESCRIPTOR)),
                request_rpc,
            )
        while tally.total() - before < rpc_inputs:
            if rng.random() < 0.5:  # a mutated valid request to its own method
                method = rng.choice(list(w.corpus_requests))
                data = mutate(rng.choice(w.corpus_requests[method]), rng, all_requests)
            else:  # a mutated valid envelope (its payload signed again half the time) in an Exchange
                envelope = mutate(rng.choice(corpus), rng, corpus)
                if rng.random() < 0.5:
                    with suppress(CoopError):
                        envelope = sign_payload(decode_envelope(envelope).payload, w.mallory.key)
                method = rng.choice((COOP + "Exchange", ESCROW + "Submit"))
                req: Message = (
                    service_pb2.ExchangeRequest(envelope=envelope)
                    if method.endswith("Exchange")
                    else service_pb2.SubmitRequest(envelopes=[envelope])
                )
                data = req.SerializeToString()
            _timed(tally, method.rsplit("/", 1)[1], data, hang_s, partial(_rpc_outcome, w, method, data))
        crashes = 0 if _healthy(w) else 1
        # the journals are still sound: bob's chain head is what he serves, his journal reopens
        _, head = CooperationClient(w.target).get_log(0, 1)
    seconds = time.perf_counter() - started
    with Journal.open(directory / "bob.db", lock=True) as journal:
        journal_ok = journal.chain_head(w.bob.peer.did)[0] == head + 1
    return {
        "campaign": NAME,
        "inputs": tally.total(),
        "rpcs": sum(sum(c.values()) for t, c in tally.counts.items() if not t[0].islower()),
        "crashes": crashes + tally.total("crash") + (0 if journal_ok else 1),
        "hangs": tally.total("hang"),
        "untyped_errors": tally.total("untyped"),
        "typed": tally.total("typed"),
        "accepted": tally.total("ok"),
        "seconds": round(seconds, 1),
        "seed": seed,
        "drawn_share": drawn_share,
        "targets": {t: dict(c) for t, c in sorted(tally.counts.items())},
        "examples": tally.examples,
    }


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"fuzz campaign: {summary['inputs']} inputs ({summary['rpcs']} as RPCs; seed {summary['seed']}), "
        f"{summary['seconds']} s; "
        "decoders in-process, RPCs to a journaled bob and escrow on 127.0.0.1",
        "",
        f"  {'target':<28} {'inputs':>8} {'accepted':>9} {'typed':>8} {'untyped':>8} {'hangs':>6}",
    ]
    for target, c in summary["targets"].items():
        total = sum(c.values())
        lines.append(
            f"  {target:<28} {total:>8} {c.get('ok', 0):>9} {c.get('typed', 0):>8} "
            f"{c.get('untyped', 0):>8} {c.get('hang', 0):>6}"
        )
    lines.append("")
    verdict = (
        "OK" if not (summary["crashes"] or summary["hangs"] or summary["untyped_errors"]) else "FINDINGS"
    )
    lines.append(
        f"{verdict}: crashes {summary['crashes']}, hangs {summary['hangs']}, "
        f"untyped_errors {summary['untyped_errors']}"
    )
    for ex in summary["examples"][:5]:
        lines.append(f"  {ex['outcome']} in {ex['target']}: {ex['note']} (input {ex['input'][:64]}...)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=DEFAULT_INPUTS, help=f"default {DEFAULT_INPUTS}")
    parser.add_argument("--seed", type=int, default=1, help="seeds hypothesis and the mutations (default 1)")
    parser.add_argument(
        "--hang-s", type=float, default=DEFAULT_HANG_S, help="an input slower than this hangs"
    )
    parser.add_argument(
        "--rpc-share",
        type=float,
        default=RPC_SHARE,
        help=f"the share of inputs sent as RPCs, the rest to the decoders in-process (default {RPC_SHARE})",
    )
    parser.add_argument(
        "--drawn-share",
        type=float,
        default=DRAWN_SHARE,
        help=f"the share hypothesis draws from the .proto messages, the rest mutated (default {DRAWN_SHARE})",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    with tempfile.TemporaryDirectory(prefix="a2acoop-fuzz-") as tmp:
        summary = run(
            args.inputs,
            args.seed,
            args.hang_s,
            Path(tmp),
            rpc_share=args.rpc_share,
            drawn_share=args.drawn_share,
        )
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if not (summary["crashes"] or summary["hangs"] or summary["untyped_errors"]) else 1


if __name__ == "__main__":
    sys.exit(main())
