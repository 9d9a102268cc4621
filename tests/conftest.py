"""Shared fixtures: the shared corpus, and databases (a SQLite file and the real PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository (feeds, seeds, bench): $CATALYST_SHARED overrides."""
    for candidate in (os.environ.get("CATALYST_SHARED"), REPO.parent / "shared", "/work/shared"):
        if candidate and (Path(candidate) / "feeds").is_dir():
            return Path(candidate)
    pytest.skip("the shared corpus (../shared) is not here: set CATALYST_SHARED to its path")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:  # report why, so a developer can point the tests at a server
        return f"{exc.__class__.__name__}: {exc}"


def _require_pg() -> None:
    """Skip without PostgreSQL, saying how to point the tests at one; in CI, fail instead."""
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {problem}")
        pytest.skip(f"no PostgreSQL at {PG_URL} ({problem}); set MONITOR_TEST_PG to a server's URL")


@contextlib.contextmanager
def private_pg_schema() -> Iterator[str]:
    """A URL of the real PostgreSQL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    _require_pg()
    with private_pg_schema() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema in the real PostgreSQL (for tests that only make sense there)."""
    _require_pg()
    with private_pg_schema() as url:
        yield url
