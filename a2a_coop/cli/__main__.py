"""``python -m a2a_coop.cli``: the same as the ``a2a-coop`` command."""

from a2a_coop.cli.main import main

raise SystemExit(main())
