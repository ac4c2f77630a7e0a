"""The live conformance suite: cases run against an agent over gRPC (``a2a-coop conformance``).

:mod:`.model` (cases, levels, the catalogue), :mod:`.context` (the connection, identities, the
shadow verifier, the transcript), :mod:`.flows` (shared building blocks), :mod:`.runner`,
:mod:`.report` (JSON, JUnit XML, HTML, matrix), :mod:`.progress`, and the cases in
:mod:`.cases` (one module per area; see its docstring to add one).
"""
