"""The import graph keeps the layering of docs/design.md: it is checked, not just described."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [
    "errors",
    "types",
    "watchlist",
    "parse",
    "match",
    "digest",
    "schedule",
    "urls",
    "text",
    "sources",
    "stories",
    "glossary",
    "render",
    "aggregators",
    "prepare",
    "discover",
    "query",
    "stance",
    "backtest",
    "extract",
    "state",
    "alerts",
]
LEAVES = ["errors", "types"]
COMPOSITION_ROOTS = ["scheduler", "cli", "__main__"]  # and every cli_<area> module


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("monitor", "storage")}


@pytest.mark.parametrize("module", PURE)
def test_pure_stages_do_no_io_through_http_or_the_database(module: str) -> None:
    names = imports(ROOT / "monitor" / f"{module}.py")
    banned = {
        n
        for n in names
        if n.split(".")[0]
        in ("httpx", "sqlalchemy", "alembic", "storage", "apscheduler.schedulers")
    }
    assert banned == set(), f"monitor/{module}.py imports {banned}"


@pytest.mark.parametrize("module", LEAVES)
def test_leaves_import_nothing_of_ours(module: str) -> None:
    assert ours(imports(ROOT / "monitor" / f"{module}.py")) == set()


def test_storage_imports_only_types_and_errors_of_monitor() -> None:
    for path in (ROOT / "storage").rglob("*.py"):
        mine = {n for n in ours(imports(path)) if n.startswith("monitor")}
        assert mine <= {"monitor.types", "monitor.errors"}, f"{path} imports {mine}"


def test_only_composition_roots_import_storage() -> None:
    for path in (ROOT / "monitor").glob("*.py"):
        if path.stem in COMPOSITION_ROOTS or path.stem.startswith("cli_"):  # CLI modules
            continue
        assert not {n for n in imports(path) if n.startswith("storage")}, (
            f"{path.name} imports storage"
        )


def test_every_module_says_what_it_owns() -> None:
    for path in [*(ROOT / "monitor").glob("*.py"), *(ROOT / "storage").glob("*.py")]:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc) > 20, f"{path} has no module docstring"
