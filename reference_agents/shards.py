"""The simulation engine spread over worker processes: :class:`ShardedEngine`, the results of
:class:`~reference_agents.engine.Engine` (crypto mode) whatever the number of processes.

A round's trades touch distinct agents (each agent in at most one), so they can run interleaved.
The agents are split in ``workers`` contiguous blocks, block ``w`` living in worker process ``w``:
its keys, principal and Mandate derive from the seed and its index, so each worker builds only its own
agents (:func:`~reference_agents.engine.build_agent`, each Mandate signed at the epoch: the same bytes
as the one-process engine's), and every worker verifies every agent's Mandate once into its
``setup`` (:class:`~reference_agents.engine.SetupVerifier`), as the one-process engine does.
Contiguous blocks, not ``k mod workers``: the populations cycle through their types, and with three
types on three workers ``k mod 3`` would put every agent of a type in one process.

A round runs in lockstep **phases**. Its offerer's worker runs each trade as the generator form of
:func:`~a2a_coop.runtime.peer.drive` (:func:`~a2a_coop.runtime.peer.drive_steps`: the same body),
which stops at each request ``(envelope, context)`` for the responder's ``exchange``. A request whose
responder lives in the same worker is answered at once; the others are batched per destination
worker. Each phase, every worker sends the coordinator one message -- per destination, the requests
for it and the answers to the requests it had from it, as bytes -- and the coordinator forwards each
worker what is addressed to it; a worker then steps its trades with their answers (or raises each
refusal, a :class:`~a2a_coop.protocol.errors.CoopError` that travels as its code and fields, into its
trade as ``drive`` would see it) and answers the requests it got by calling its responders'
``exchange``. The round ends when a phase carries nothing. Before each step of a trade, on either side,
the worker's clock is set to that trade's time in sequence: the round's start plus its index times
``TRADE_MS``, as the one-process engine's clock reads during that trade. So each peer sees the same
statements, at the same times, in the same order as on one process, and the outcomes come back in the
order of the round's pairs (tests/test_shards.py compares outcomes, every agent's statements and chain
heads, and the clock, for 1, 2 and 3 workers).

Workers are started with the ``spawn`` method (no state inherited but what is passed), stop when the
coordinator closes their pipe or goes away (end of file on the pipe), and an exception in a worker
comes to the coordinator as :class:`ShardError` with its traceback; a worker that dies or does not
answer within ``timeout_s`` is a :class:`ShardError` too, never a hang. Crypto mode only: model mode
hands the very statement objects between peers of one process (:class:`~reference_agents.engine.ModelWire`),
which across processes would have to be decoded again -- what model mode exists to leave out.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import pickle
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final, NoReturn

from a2a_coop.protocol.errors import CoopError, Origin, by_code
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import Steps, drive_steps
from a2a_coop.runtime.strategy import Strategy
from a2a_coop.testing import EPOCH_MS, FixedClock
from reference_agents.engine import (
    TRADE_MS,
    Agent,
    EngineError,
    ModelWire,
    Outcome,
    build_agent,
    check_round,
    make_offer,
    outcome_of,
)

# forkserver: each worker forked from a server process that imported this module once (a fresh,
# single-threaded process: nothing of the caller's state is inherited); spawn where there is none.
START_METHOD: Final = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
TIMEOUT_S: Final = 600.0  # the longest the coordinator waits for a worker's message


class ShardError(RuntimeError):
    """A worker process failed (its traceback in the message), died, or did not answer in time."""


# A refusal as it travels between processes: code, detail, requirement, origin, evidence, and the
# two numbers some codes carry (retry_after_ms, reach_ms).
Refusal = tuple[str, str, str, str, tuple[bytes, ...], int, int]


def refusal_fields(err: CoopError) -> Refusal:
    """``err`` as plain data (:func:`refusal_from` makes it again)."""
    return (
        err.code,
        err.detail,
        err.requirement,
        err.origin.value,
        tuple(err.evidence),
        getattr(err, "retry_after_ms", 0),
        getattr(err, "reach_ms", 0),
    )


def refusal_from(fields: Refusal) -> CoopError:
    """The :class:`CoopError` of ``fields``' code (:func:`~a2a_coop.protocol.errors.by_code`), with its
    detail, requirement, origin, evidence and hint: what the responder raised, as its class."""
    code, detail, requirement, origin, evidence, retry_after_ms, reach_ms = fields
    cls = CoopError if code == CoopError.code else by_code(code)
    out = cls(detail, requirement=requirement, origin=Origin(origin), evidence=evidence)
    if hasattr(out, "retry_after_ms"):
        out.retry_after_ms = retry_after_ms
    if hasattr(out, "reach_ms"):
        out.reach_ms = reach_ms
    return out


def blocks(agents: int, workers: int) -> list[int]:
    """The first agent of each worker's block, and ``agents`` at the end: worker ``w`` holds
    ``bounds[w] <= k < bounds[w + 1]``."""
    return [w * agents // workers for w in range(workers + 1)]


@dataclass
class _Trade:
    """A trade of this worker's round, on its offerer's side."""

    index: int  # in the round: its clock is the round's start + index * TRADE_MS
    now_ms: int
    offerer: Agent
    responder: int
    responder_did: str
    offer: VerifiedStatement
    steps: Steps
    request: tuple[bytes, Sequence[bytes]] | None = None


class _Worker:
    """One worker process's agents (a block) and its part of each round."""

    def __init__(
        self,
        conn: Connection,
        w: int,
        *,
        bounds: list[int],
        strategies: Sequence[Strategy],
        seed: int,
        tag: str,
    ) -> None:
        self.conn, self.w, self.bounds = conn, w, bounds
        self.clock = FixedClock()
        self.setup: dict[bytes, VerifiedStatement] = {}
        wire = ModelWire()  # unused in crypto mode
        self.agents = {
            k: build_agent(f"{tag}/{seed}/{k}", s, "crypto", self.clock, wire=wire, setup=self.setup)
            for k, s in enumerate(strategies, start=bounds[w])
        }
        self.dids: list[str] = []
        self.answers: dict[int, list[Any]] = {}  # by source worker: answers to its requests, to send

    def owner(self, k: int) -> int:
        w = 0
        while k >= self.bounds[w + 1]:
            w += 1
        return w

    def serve(self) -> None:
        """Answer the coordinator's messages until it says stop or goes away."""
        self.conn.send(("ready", [(a.peer.did, a.party.mandate_vs.envelope) for a in self.agents.values()]))
        while True:
            try:
                message = self.conn.recv()
            except EOFError:  # the coordinator is gone
                return
            kind = message[0]
            if kind == "stop":
                return
            if kind == "setup":  # every agent's did and Mandate; ours are verified already
                self.dids = message[1]
                for mandate in message[2]:
                    if mandate not in self.setup:
                        self.setup[mandate] = verify_statement(mandate)
                if message[3]:  # the collector off, as a one-process benchmark runs (benchmarks/_heap.py)
                    gc.collect()
                    gc.freeze()
                    gc.disable()
                self.conn.send(("ok",))
            elif kind == "round":
                self.conn.send(("outcomes", self.round(message[1], message[2])))
            elif kind == "query":
                self.conn.send(("answer", self.query(message[1])))
            else:
                raise ShardError(f"worker {self.w}: unknown message {kind!r}")

    def query(self, what: str) -> Any:
        if what == "heads":
            return {k: (a.peer.writer.next_seq, a.peer.writer.prev) for k, a in self.agents.items()}
        if what == "statements":  # each agent's statements (digest, envelope), in the order it took them
            return {
                k: [(d, vs.envelope) for d, vs in a.peer.verifier.statements.items()]
                for k, a in self.agents.items()
            }
        if what == "usage":  # CPU seconds so far, and what a pass of the cyclic collector frees now
            return (time.process_time(), gc.collect())
        raise ShardError(f"worker {self.w}: unknown query {what!r}")

    def round(self, base_ms: int, trades: Sequence[tuple[int, int, int]]) -> dict[int, tuple[bool, Any]]:
        """Run this worker's part of a round: ``trades`` are ``(index, offerer, responder)`` with the
        offerer ours. Returns each trade's ``(True, outcome)``, or ``(False, refusal)`` if its drive
        raised a :class:`CoopError` (the one-process engine's ``trade`` would have raised it)."""
        results: dict[int, tuple[bool, Any]] = {}
        running: dict[int, _Trade] = {}
        for index, i, j in trades:
            self.clock.now_ms = now = base_ms + index * TRADE_MS
            agent, did = self.agents[i], self.dids[j]
            offer = make_offer(agent, did, now)
            t = _Trade(index, now, agent, j, did, offer, drive_steps(agent.peer, offer))
            running[index] = t
            self._step(t, results, running, None)
        while True:
            out: dict[int, tuple[list[Any], list[Any]]] = {}  # destination: (requests, answers)
            for t in running.values():
                if t.request is not None:
                    out.setdefault(self.owner(t.responder), ([], []))[0].append(
                        (t.index, t.now_ms, t.responder, *t.request)
                    )
                    t.request = None
            for dest, answers in self.answers.items():
                out.setdefault(dest, ([], []))[1].extend(answers)
            self.answers = {}
            self.conn.send(("phase", {d: pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for d, v in out.items()}))
            message = self.conn.recv()
            if message[0] == "end":
                if running:
                    raise ShardError(f"worker {self.w}: the round ended with {len(running)} trades running")
                return results
            self._phase(message[1], results, running)

    def _phase(
        self,
        blobs: Sequence[tuple[int, bytes]],
        results: dict[int, tuple[bool, Any]],
        running: dict[int, _Trade],
    ) -> None:
        """Take a phase's messages (``(source worker, bytes)``): step our trades with their answers,
        then answer the requests for our responders."""
        answers: dict[int, list[Any]] = {}
        for source, blob in blobs:
            requests, replies = pickle.loads(blob)
            for index, reply in replies:
                self._step(running[index], results, running, reply)
            for index, now_ms, j, envelope, context in requests:
                self.clock.now_ms = now_ms
                answers.setdefault(source, []).append((index, self._exchange(j, envelope, context)))
        self.answers = answers

    def _exchange(self, j: int, envelope: bytes, context: Sequence[bytes]) -> tuple[bool, Any]:
        try:
            return True, self.agents[j].peer.exchange(envelope, context)
        except CoopError as refusal:
            return False, refusal_fields(refusal)

    def _step(
        self,
        t: _Trade,
        results: dict[int, tuple[bool, Any]],
        running: dict[int, _Trade],
        reply: tuple[bool, Any] | None,
    ) -> None:
        """Feed ``reply`` (None: start) into ``t``, then answer its requests at once while its responder is
        ours; leave it waiting on a remote one (``t.request``), or record how it ended."""
        while True:
            self.clock.now_ms = t.now_ms
            try:
                if reply is None:
                    request = next(t.steps)
                elif reply[0]:
                    request = t.steps.send(reply[1])
                else:
                    request = t.steps.throw(refusal_from(reply[1]))
            except StopIteration:
                results[t.index] = (True, outcome_of(t.offerer.peer, t.responder_did, t.offer))
                del running[t.index]
                return
            except CoopError as refusal:
                results[t.index] = (False, refusal_fields(refusal))
                del running[t.index]
                return
            if self.owner(t.responder) != self.w:
                t.request = request
                return
            reply = self._exchange(t.responder, *request)


def _worker_main(conn: Connection, w: int, **kw: Any) -> None:
    """A worker process: build its block of agents (``kw``: :class:`_Worker`'s), then serve; any exception
    goes to the coordinator, whole, which raises :class:`ShardError` with it."""
    try:
        _Worker(conn, w, **kw).serve()
    except BaseException:
        with contextlib.suppress(OSError):  # else the coordinator is gone: nobody to tell
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class ShardedEngine:
    """:class:`~reference_agents.engine.Engine`'s agents and trades (crypto mode) over ``workers``
    processes (see the module docstring): the same :meth:`trade` and :meth:`round`, the same outcomes,
    statements, chain heads and clock as the one-process engine for the same strategies, seed and tag.

    The strategies are pickled to the worker that holds them. ``collector=False`` runs the workers
    with the cyclic garbage collector off after setup, as the population benchmark runs its one
    process. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        *,
        workers: int,
        mode: str = "crypto",
        seed: int = 0,
        tag: str = "sim",
        collector: bool = True,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        if mode != "crypto":
            raise EngineError(
                f"a sharded engine runs in crypto mode only, not {mode!r} (reference_agents/shards.py)"
            )
        if not 1 <= workers <= len(strategies):
            raise EngineError(
                f"workers must be between 1 and the number of agents ({len(strategies)}), not {workers}"
            )
        self.mode, self.seed, self.workers, self.timeout_s = mode, seed, workers, timeout_s
        self.agents = len(strategies)
        self.bounds = blocks(self.agents, workers)
        self.trades = 0
        self.now_ms = EPOCH_MS
        self.closed = False
        ctx: Any = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":  # its workers start from this module imported, not the caller's main
            ctx.set_forkserver_preload([__name__])
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        try:
            for w in range(workers):
                ours, theirs = ctx.Pipe()
                block = list(strategies[self.bounds[w] : self.bounds[w + 1]])
                proc = ctx.Process(
                    target=_worker_main,
                    args=(theirs, w),
                    kwargs={"bounds": self.bounds, "strategies": block, "seed": seed, "tag": tag},
                    name=f"a2a-coop-shard-{w}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                self.conns.append(ours)
                self.procs.append(proc)
            ready = [self._recv(w, "ready") for w in range(workers)]
            self.dids = [did for block in ready for did, _ in block[1]]
            mandates = [m for block in ready for _, m in block[1]]
            for w in range(workers):
                self._send(w, ("setup", self.dids, mandates, not collector))
            for w in range(workers):
                self._recv(w, "ok")
        except BaseException:
            self.close()
            raise

    # -- the coordinator's side of the pipes ------------------------------------------------------

    def _send(self, w: int, message: Any) -> None:
        try:
            self.conns[w].send(message)
        except OSError as exc:
            self._fail(f"worker {w} is gone ({exc}); {self._exit_of(w)}")

    def _recv(self, w: int, kind: str) -> Any:
        conn, proc = self.conns[w], self.procs[w]
        ready = multiprocessing.connection.wait([conn, proc.sentinel], self.timeout_s)
        if not ready:
            proc.kill()  # stuck or stopped: it would not see a stop either
            self._fail(f"worker {w} sent nothing within {self.timeout_s} s")
        try:
            message = conn.recv() if conn in ready else None
        except (EOFError, OSError):
            message = None
        if message is None:
            starting = (
                " while starting (its stderr says why; a script making a ShardedEngine must guard its entry"
                " point with if __name__ == '__main__', as multiprocessing asks)"
                if kind == "ready"
                else ""
            )
            self._fail(f"worker {w} is gone{starting}: {self._exit_of(w)}")
        if message[0] == "error":
            self._fail(f"worker {w} failed:\n{message[1]}")
        if message[0] != kind:
            self._fail(f"worker {w} sent {message[0]!r} where {kind!r} was due")
        return message

    def _exit_of(self, w: int) -> str:
        self.procs[w].join(1.0)
        code = self.procs[w].exitcode
        return "still running" if code is None else f"exit code {code}"

    def _fail(self, why: str) -> NoReturn:
        self.close()
        raise ShardError(why)

    def close(self) -> None:
        """Stop the workers (idempotent). The engine is unusable after."""
        if self.closed:
            return
        self.closed = True
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for proc in self.procs:
            proc.join(2.0)
            if proc.is_alive():  # stuck, or stopped: SIGKILL ends a stopped process too
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()

    def __enter__(self) -> ShardedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- trades -----------------------------------------------------------------------------------

    def owner(self, k: int) -> int:
        return next(w for w in range(self.workers) if k < self.bounds[w + 1])

    def trade(self, i: int, j: int) -> Outcome:
        """Agent ``i`` offers agent ``j`` an even swap, as the one-process engine's ``trade``."""
        return self.round([(i, j)])[0]

    def round(self, pairs: Sequence[tuple[int, int]]) -> list[Outcome]:
        """Each pair ``(i, j)`` trades as the one-process engine's ``trade`` would, in order, the
        workers' trades interleaved: the outcomes, in the order of ``pairs``. No agent may be in two
        pairs. If a trade's drive raises a :class:`CoopError` (the one-process ``trade`` would raise it),
        the round's other trades still run and the first such error, in the order of ``pairs``, is
        raised after them."""
        if self.closed:
            raise EngineError("the sharded engine is closed")
        check_round(pairs, self.agents)
        if not pairs:
            return []
        per: list[list[tuple[int, int, int]]] = [[] for _ in range(self.workers)]
        for index, (i, j) in enumerate(pairs):
            per[self.owner(i)].append((index, i, j))
        for w in range(self.workers):
            self._send(w, ("round", self.now_ms, per[w]))
        while True:
            inbox: list[list[tuple[int, bytes]]] = [[] for _ in range(self.workers)]
            carried = False
            for w in range(self.workers):
                for dest, blob in self._recv(w, "phase")[1].items():
                    inbox[dest].append((w, blob))
                    carried = True
            if not carried:
                break
            for w in range(self.workers):
                self._send(w, ("phase", inbox[w]))
        results: dict[int, tuple[bool, Any]] = {}
        for w in range(self.workers):
            self._send(w, ("end",))
        for w in range(self.workers):
            results.update(self._recv(w, "outcomes")[1])
        self.now_ms += len(pairs) * TRADE_MS
        self.trades += len(pairs)
        for index in range(len(pairs)):
            ok, value = results[index]
            if not ok:
                raise refusal_from(value)
        return [results[index][1] for index in range(len(pairs))]

    def query(self, what: str) -> dict[int, Any]:
        """Every worker's answer to ``what``, merged: ``heads`` (each agent's next seq and chain head),
        ``statements`` (each agent's statements, digest and envelope, in the order it took them)."""
        merged: dict[int, Any] = {}
        for w in range(self.workers):
            self._send(w, ("query", what))
        for w in range(self.workers):
            merged.update(self._recv(w, "answer")[1])
        return dict(sorted(merged.items()))

    def usage(self) -> list[tuple[float, int]]:
        """Each worker's CPU seconds so far and the objects a pass of its cyclic collector frees now."""
        out = []
        for w in range(self.workers):
            self._send(w, ("query", "usage"))
        for w in range(self.workers):
            out.append(self._recv(w, "answer")[1])
        return out
