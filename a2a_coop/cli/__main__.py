"""``python -m a2a_coop.cli``: the same as the ``a2a-coop`` command."""

from a2a_coop.cli.main import main

if __name__ == "__main__":  # worker processes (spawn) import this module too
    raise SystemExit(main())
