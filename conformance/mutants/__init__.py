"""Fault-injected servers: the reference peer with exactly one deviation from SPEC.md each.

A conformance suite is only as good as the faults it catches. Each mutant here is a real gRPC server,
in its own process, running the reference peer with one fault injected at one documented seam
(:mod:`.faults`); :mod:`.catalog` says which requirement it breaks and what a suite should see,
:mod:`.probes` holds a direct probe per mutant that the reference peer passes and the mutant fails,
and :mod:`.killrate` runs a suite command over all of them::

    python -m conformance.mutants list
    python -m conformance.mutants serve NAME --listen 127.0.0.1:0 [--state-dir DIR]
    python -m conformance.mutants probe --target HOST:PORT
    python -m conformance.mutants killrate --suite-cmd "a2a-coop conformance --target {target}"
"""
