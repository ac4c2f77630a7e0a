"""``python -m conformance ARGS``: the same command as ``a2a-coop conformance ARGS`` (SPEC.md section 18).

The package's tools have their own modules (``python -m conformance.offline``, ``.registry``,
``.mutants``, ``.generate_vectors``, ``.audit_eval``); this one runs the suite itself, so that the
package name alone does what a user tries first.
"""

from __future__ import annotations

import sys

from a2a_coop.cli import main

if __name__ == "__main__":
    sys.exit(main(["conformance", *sys.argv[1:]]))
