"""Many counterparties at once against one peer: ``python -m reliability load [--clients N] [--seconds S]``.

Bob runs as ``a2a-coop serve`` in his own process on 127.0.0.1 (with ``--max-rate``/``--max-in-flight``
when given); ``--clients`` client peers, each its own identity and mandate, trade with him from
threads of this process for ``--seconds``, each sequentially: offer, his accept and delivery, our
delivery, his receipt (unbonded trades: the load is on bob, not on an escrow). A request he refuses
for its rate (RATE_LIMITED, RPC-012) is retried after the hint he gives -- that is documented
back-pressure, counted apart, not an error.

Reported: ``errors`` (trades that failed or did not end FULFILLED: must be 0), ``p50_ms``/``p99_ms``
(one trade, retries included), ``trades_per_s`` (all clients), ``rss_mb`` (bob's resident memory at
the end), ``rate_limited`` (requests refused with a retry hint and retried).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from a2a_coop.cli.demo import provision, start_server, stop_process, wait_listening
from a2a_coop.protocol.errors import CoopError, RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.trade import proposal
from a2a_coop.transport import CooperationClient, TransportError

NAME: Final = "load"
DEFAULT_CLIENTS: Final = 64
DEFAULT_SECONDS: Final = 60.0
BIG: Final = {"max_per_deal": 10**6, "budget_per_period": 10**12, "max_outstanding": 10**12}


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class Client:
    def __init__(self, peer: Peer, target: str, bob: str) -> None:
        self.peer, self.target, self.bob = peer, target, bob
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.rate_limited = 0

    def send(self, client: CooperationClient, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        while True:
            try:
                return client.exchange(envelope, context)
            except RateLimited as exc:
                self.rate_limited += 1
                time.sleep(max(exc.retry_after_ms, 1) / 1000)

    def run(self, until: float) -> None:
        with CooperationClient(self.target, timeout_s=30) as client:
            first = True  # one trade at least, however late a loaded machine let this thread start
            while first or time.monotonic() < until:
                first = False
                terms = proposal(
                    self.peer,
                    [("code-review", 500)],
                    [("copy-editing", 450)],
                    deadline_ms=wall_clock_ms() + 3_600_000,
                )
                started = time.perf_counter()
                offer = self.peer.propose(self.bob, terms)
                try:
                    drive(self.peer, lambda e, c: self.send(client, e, c), offer)
                except (CoopError, TransportError) as exc:
                    self.errors.append(str(exc)[:200])
                    continue
                if self.peer.negotiation(offer.header.negotiation_id).state is not State.FULFILLED:
                    self.errors.append("not FULFILLED")
                    continue
                self.latencies_ms.append((time.perf_counter() - started) * 1000)


def run(clients: int, seconds: float, directory: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    bob = provision(directory, "bob", **BIG)
    ids = [provision(directory, f"client{i}", **BIG) for i in range(clients)]
    server = wait_listening(start_server("bob", ["serve", *bob.files(), *extra], directory / "bob.log"), 60)
    try:
        workers = [Client(Peer(i.key, i.mandate), server.target, bob.did) for i in ids]
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=w.run, args=(until,)) for w in workers]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)
        took = time.monotonic() - started
        rss = _rss_mb(server.popen.pid)
    finally:
        stop_process(server.popen)
    latencies = sorted(x for w in workers for x in w.latencies_ms)
    errors = [e for w in workers for e in w.errors]

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0

    return {
        "campaign": NAME,
        "errors": len(errors),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
        "p99_ms": pct(0.99),
        "trades_per_s": round(len(latencies) / took, 1),
        "rss_mb": rss,
        "trades": len(latencies),
        "rate_limited": sum(w.rate_limited for w in workers),
        "clients": clients,
        "seconds": seconds,
        "serve_options": list(extra),
        "error_examples": errors[:5],
    }


def render(s: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"load campaign: {s['clients']} client peers trading with one bob for {s['seconds']} s, 127.0.0.1"
            + (f" (serve {' '.join(s['serve_options'])})" if s["serve_options"] else ""),
            "",
            f"  {'trades':<28} {s['trades']:>8}",
            f"  {'trades/s':<28} {s['trades_per_s']:>8}",
            f"  {'p50 / p99 ms per trade':<28} {s['p50_ms']:>8} / {s['p99_ms']}",
            f"  {'errors':<28} {s['errors']:>8}",
            f"  {'rate-limited and retried':<28} {s['rate_limited']:>8}",
            f"  {'bob RSS MB':<28} {s['rss_mb']:>8}",
            "",
            "OK: no errors" if not s["errors"] else f"FINDINGS: {s['error_examples']}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help=f"default {DEFAULT_CLIENTS}")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help=f"default {DEFAULT_SECONDS:g}")
    parser.add_argument("--max-rate", type=int, default=0, help="bob's serve --max-rate (default 0: none)")
    parser.add_argument(
        "--max-in-flight", type=int, default=0, help="bob's serve --max-in-flight (default 0)"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    extra = [f"--max-rate={args.max_rate}", f"--max-in-flight={args.max_in_flight}"]
    extra = [e for e in extra if not e.endswith("=0")]
    with tempfile.TemporaryDirectory(prefix="a2acoop-load-") as tmp:
        summary = run(args.clients, args.seconds, Path(tmp), extra)
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if not summary["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
