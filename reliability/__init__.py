"""Reliability campaigns: ``python -m reliability NAME``; each prints a table and, last, one JSON object.

A campaign attacks the runtime the way its worst day would (malformed and hostile inputs, power cuts,
kills, load) and counts what must never happen. Each has a CI-sized form the test suite runs
(bounded, loopback only, stopping by itself); the full-size command is in RELIABILITY.md.
"""
