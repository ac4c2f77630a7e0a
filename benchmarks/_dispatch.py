"""``python -m PACKAGE NAME [options]``: the one dispatcher of ``python -m benchmarks`` and
``python -m reliability``, each a table of entries (a module with ``main(argv) -> int``, imported
only when run, and a one-line description)."""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Dispatcher:
    """Runs ``ENTRY [options]`` from ``entries`` (name -> (module, description)).

    Attributes:
        prog: how the user calls it, e.g. ``python -m benchmarks``.
        kind: what an entry is called in messages, e.g. ``benchmark``.
        entries: name -> (module, one-line description).
        epilogue: the usage text's last paragraph (what every entry prints).
    """

    prog: str
    kind: str
    entries: Mapping[str, tuple[str, str]]
    epilogue: str

    def usage(self) -> str:
        width = max(map(len, self.entries))
        rows = "\n".join(f"  {name:<{width}}  {desc}" for name, (_, desc) in self.entries.items())
        return (
            f"usage: {self.prog} NAME [options]\n\n"
            f"available {self.kind}s:\n{rows}\n\n"
            f"Run `{self.prog} NAME --help` for a {self.kind}'s options. {self.epilogue}"
        )

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the named entry with the rest of ``argv``; its exit code. ``--help`` (also ``help``,
        ``list``) prints the usage (exit 0); no name or an unknown one is a usage error (exit 2, on
        stderr)."""
        args = list(sys.argv[1:] if argv is None else argv)
        if args and args[0] in ("-h", "--help", "help", "list"):
            print(self.usage())
            return 0
        if not args:
            print(f"{self.prog}: name a {self.kind}\n\n{self.usage()}", file=sys.stderr)
            return 2
        name, rest = args[0], args[1:]
        if name not in self.entries:
            near = difflib.get_close_matches(name, list(self.entries), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            print(f"{self.prog}: unknown {self.kind} {name!r}{hint}\n\n{self.usage()}", file=sys.stderr)
            return 2
        module = importlib.import_module(self.entries[name][0])
        code: int = module.main(rest)
        return code
