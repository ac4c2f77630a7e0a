"""The conformance cases, one module per area; importing this package registers all of them.

How to add a case
=================

1. Pick the module of its area (``envelope``, ``header``, ``keys``, ``time``, ``replay``, ``chain``,
   ``negotiation``, ``mandate``, ``body``, ``rpc``, ``reads``, ``a2a``, ``initiator``,
   ``not_observable``) or add a new module ``conformance/suite/cases/<area>.py``: every module in
   this package is imported automatically (in name order), so a new module needs no edit anywhere
   else. Modules whose name starts with ``_`` are not imported.
2. Write a function that takes a :class:`~conformance.suite.context.Context` and returns an
   :class:`~conformance.suite.model.Outcome`, and decorate it with
   :func:`~conformance.suite.model.case`::

       from conformance.suite.context import Context
       from conformance.suite.flows import forge, target
       from conformance.suite.model import Outcome, case

       @case("stm.wrong-version", "Version 2 is refused UNSUPPORTED_VERSION", "STM-003", "VER-001")
       def wrong_version(ctx: Context) -> Outcome:
           '''Docstring: what the case sends and what it expects (``--explain`` prints it).'''
           alice = ctx.party()
           bad = forge(alice, "offer", ..., mutate=lambda s: setattr(s.header, "version", 2))
           ctx.expect_rejection(ctx.exchange(bad, alice.setup), "UNSUPPORTED_VERSION", what="...")
           return Outcome.passed()

   - The ID is ``area.short-name`` in lower case; it is stable: never rename or reuse one (reports,
     expected-failures files and replay commands name it). Registering an ID twice raises.
   - Name every SPEC requirement ID the case checks (conformance/requirements.json); the coverage
     test (tests/test_conformance_suite.py) fails if a MUST has no case, or a case names an ID SPEC.md
     does not state.
   - ``role=Role.INITIATOR, capability=Capability.CONTROL`` for cases that need the target to
     initiate: :func:`conformance.suite.initiator.initiate` serves the suite's side and asks the target
     through ConformanceControlService (it SKIPs when the target does not serve it);
     ``role=Role.A2A, capability=Capability.A2A`` for the A2A binding (``ctx.session.a2a_url``).
   - A requirement the wire cannot show still gets a case: ``not_observable(id, title, reason, *ids)``
     reports NOT-TESTED with the reason. Replacing one with a live case is welcome: delete the
     requirement from the ``not_observable`` call when a live case covers it.
   - End with ``Outcome.passed()``; break off with ``ctx.must(cond, reason)`` or
     ``raise CaseFailed(reason, level)``. FAIL is for a broken MUST only: a missed SHOULD is
     ``Level.NON_STRICT``, an optional capability the target does not offer is ``Outcome.skipped``,
     and what cannot be observed from outside the target is ``Outcome.not_tested(reason)``
     (or :func:`~conformance.suite.model.not_observable` for a case that is never observable).
3. Use only the context to talk to the target (``ctx.exchange``, ``ctx.send``, ``ctx.call``,
   ``ctx.raw``): it records the wire transcript, feeds what the target signs to the shadow
   verifier and to the audit recorder. Use ``ctx.party(name)`` for suite identities (derived from
   the run's seed and the case ID, so ``--seed`` replays them) and the builders of
   :mod:`conformance.suite.flows` (``open_negotiation``, ``form_contract``, ``forge``).
4. A case must be independent of every other case (fresh identities, its own negotiations) and
   quick (well under a second against a local target): ``python -m benchmarks conformance``
   reports the slowest.
5. Run it against the reference peer: ``a2a-coop conformance --target HOST:PORT --case ID``; the
   self-test (tests/test_conformance_suite.py) runs every case against the reference peer and
   expects no FAIL.
"""

from __future__ import annotations

import importlib
import pkgutil


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_all()
