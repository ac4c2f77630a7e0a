"""Benchmarks for a2a-coop: ``python -m benchmarks NAME [options]``.

Each benchmark is a module in this package with a ``main(argv) -> int`` that
prints a readable table and, as its last line, one JSON object. Register new
ones in :data:`benchmarks.__main__.BENCHMARKS`. Speed targets live here, never
in the test suite (the tests only smoke-run a benchmark with ``--quick``).
"""
