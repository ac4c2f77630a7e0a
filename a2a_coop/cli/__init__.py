"""The ``a2a-coop`` command line (:func:`main`); ``python -m a2a_coop.cli`` runs it too.

Modules: :mod:`.main` (arguments and dispatch), one module per command group
(:mod:`.offline`, :mod:`.peer`, :mod:`.escrow`, :mod:`.demo`), and the private
helpers they share (:mod:`._common`, :mod:`._inputs`, :mod:`._runtime`).
"""

from a2a_coop.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
