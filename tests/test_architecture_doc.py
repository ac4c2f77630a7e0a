"""docs/ARCHITECTURE.md maps every module of the package: a module added or renamed without it fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


def _modules() -> list[tuple[str, str]]:
    out = []
    for package in ("protocol", "runtime", "transport", "a2a", "cli"):
        for path in sorted((ROOT / "a2a_coop" / package).glob("*.py")):
            if path.stem not in ("__init__", "__main__"):
                out.append((package, path.stem))
    return out


def _section(package: str) -> str:
    """The doc's text about ``a2a_coop/<package>/``: from its bold heading to the next one."""
    start = DOC.index(f"**`a2a_coop/{package}/`**")
    nxt = DOC.find("**`a2a_coop/", start + 1)
    end = nxt if nxt != -1 else DOC.index("Beside the package")
    return DOC[start:end]


def test_every_module_of_the_package_is_in_the_architecture_map() -> None:
    missing = [
        f"a2a_coop/{package}/{name}.py"
        for package, name in _modules()
        if not re.search(rf"`{re.escape(name)}`", _section(package))
    ]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_the_map_names_no_module_that_is_gone() -> None:
    """The core's and the runtime's tables: every module they name exists."""
    for package in ("protocol", "runtime"):
        named = re.findall(r"^\| `([a-z_]+)` \|", _section(package), re.M)
        assert named, package
        gone = [n for n in named if not (ROOT / "a2a_coop" / package / f"{n}.py").exists()]
        assert not gone, f"docs/ARCHITECTURE.md names modules that do not exist: {package}: {gone}"


def test_the_layer_contracts_it_lists_are_the_ones_lint_imports_enforces() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    contracts = re.findall(r"^\[\[tool\.importlinter\.contracts\]\]", pyproject, re.M)
    listed = re.findall(r"^\d+\. \*\*", DOC.split("## Layers", 1)[1].split("## ", 1)[0], re.M)
    assert len(listed) == len(contracts), (len(listed), len(contracts))
