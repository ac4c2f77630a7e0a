"""Generate (or check) the Python code for proto/a2acoop/v1/*.proto.

The generated modules live in ``a2a_coop/_proto/a2acoop/v1`` and are checked in,
so users need no protoc. protoc writes absolute imports (``from a2acoop.v1 import
x_pb2``); we rewrite them to point inside our package, deterministically, so
the check below is byte-exact.

    python tools/gen_proto.py          # regenerate
    python tools/gen_proto.py --check  # exit 1 if checked-in code has drifted

The generator is pinned (grpcio-tools in the ``dev`` extra) because protoc's
output changes between releases.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "a2a_coop" / "_proto"
PACKAGE_DIR = Path("a2acoop") / "v1"
_IMPORT = re.compile(rb"^from a2acoop\.v1 import ", re.MULTILINE)


def generate(dest: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc  # dev-only dependency

    dest.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={dest}",
        f"--pyi_out={dest}",
        f"--grpc_python_out={dest}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in (dest / PACKAGE_DIR).glob("*_pb2_grpc.py"):
        if b"Stub" not in path.read_bytes():  # protoc writes a stub module even for service-less files
            path.unlink()
    for path in (dest / PACKAGE_DIR).glob("*_pb2*.py*"):
        path.write_bytes(_IMPORT.sub(b"from a2a_coop._proto.a2acoop.v1 import ", path.read_bytes()))
    for pkg in (dest / "a2acoop", dest / PACKAGE_DIR):
        (pkg / "__init__.py").write_text("")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "a2acoop").rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code differs")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        fresh = _files(fresh_root)
        if ns.check:
            current = _files(OUT_ROOT)
            if fresh == current:
                print(f"proto drift check: {len(fresh)} generated files match")
                return 0
            for name in sorted(set(fresh) | set(current)):
                a, b = current.get(name, b""), fresh.get(name, b"")
                if a != b:
                    diff = difflib.unified_diff(
                        a.decode().splitlines(),
                        b.decode().splitlines(),
                        f"checked-in/{name}",
                        f"regenerated/{name}",
                        lineterm="",
                        n=1,
                    )
                    print("\n".join(list(diff)[:40]))
            print("proto drift: run `python tools/gen_proto.py` and commit the result", file=sys.stderr)
            return 1
        target = OUT_ROOT / "a2acoop"
        if target.exists():
            for p in sorted(target.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
        for name, data in fresh.items():
            out = OUT_ROOT / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        print(f"wrote {len(fresh)} files under {OUT_ROOT.relative_to(ROOT)}")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
