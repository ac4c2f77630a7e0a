"""The protocol core: SPEC.md as code. Pure: no I/O, no clock, no randomness that is not passed in.

Everything here is a function of its arguments: statements and envelopes are
bytes, time is ``now_ms``, nonces and keys are given, and a rejection raises a
:class:`~a2a_coop.protocol.errors.CoopError` carrying its SPEC code and changes
nothing (ERR-003). So every rule can be tested exhaustively and every verdict
reproduced from the evidence alone. The import-linter contracts in
pyproject.toml keep it that way: nothing here imports an adapter, grpc,
sqlite3, trio, a2a-sdk or the OS.

Reading order: :mod:`.errors` (codes), :mod:`.identity` (did:key),
:mod:`.envelope` (DSSE), :mod:`.statements` and :mod:`.bodies` (the
stateless checks), :mod:`.chain`, :mod:`.freshness`, :mod:`.mandate`,
:mod:`.negotiation` (the state machine as a table), :mod:`.witness` (witnessed
time), :mod:`.claims`, :mod:`.merkle`, :mod:`.verifier` (section 11's procedure
over all of them), :mod:`.reputation` (what an attestation weighs), and the
reference escrow: :mod:`.ledger` (balances), :mod:`.escrow` (its rules) and
:mod:`.escrow_audit` (the offline audit that re-derives every decision); last,
:mod:`.audit` (what held statements prove about a counterparty's honesty, SPEC section 19).
"""
