"""`python -m conformance.generate_vectors [--check] [--out DIR]`: see :mod:`conformance.generate_vectors`."""

import sys

from conformance.generate_vectors import main

if __name__ == "__main__":
    sys.exit(main())
