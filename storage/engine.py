"""Engines, schema migrations and the single-daemon lock.

Owns: creating the SQLAlchemy engine for a URL (SQLite in WAL mode with a busy timeout and
foreign keys; PostgreSQL through psycopg), bringing a fresh database to the current schema
with Alembic, refusing an out-of-date one, and the lock that keeps a second ``monitor run``
off the same SQLite file.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import AlreadyRunning, StorageError

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and Pygments beneath it) is imported only to read an unusual migration
# graph or to migrate: it was ~0.5 s of every `monitor poll`'s start-up, for a check that
# two reads do (the stored revision, and the head of storage/migrations/versions).

MIGRATIONS = Path(__file__).parent / "migrations"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory / non-SQLite URLs."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def make_engine(url: str) -> Engine:
    try:
        u = make_url(url)
    except Exception as exc:
        raise StorageError(f"invalid database URL {redact(url)!r}: {exc}") from exc
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below start transactions, not the driver.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute(
                "PRAGMA synchronous=NORMAL"
            )  # safe with WAL: a crash loses no commit's integrity
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a
            # read-then-write transaction never fails with SQLITE_BUSY_SNAPSHOT when another
            # process (`monitor poll` beside the daemon) committed in between.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


_REVISION_RE = re.compile(r"^revision(?:\s*:[^=\n]*)?\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_RE = re.compile(
    r"^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.M
)


def _head_from_files() -> str | None:
    """The single head of a linear chain of migration files, or None when the files are
    not that simple (then Alembic reads them)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION_RE.findall(source), _DOWN_RE.findall(source)
        if not rev and not down:
            continue  # __init__.py
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions[rev[0]] = down[0] or None
    heads = set(revisions) - {d for d in revisions.values() if d}
    return heads.pop() if len(heads) == 1 else None


def head_revision() -> str:
    head = _head_from_files()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert found is not None
    return found


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(rows) <= 1:
            return rows[0] if rows else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()


# Any constant: replicas starting together on PostgreSQL take this advisory lock so only
# one of them creates or migrates the schema; the others wait, then find it at head.
_SCHEMA_LOCK = 0x6361745F6D6F6E  # "cat_mon"


def _serialize_schema_changes(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
    # SQLite: the transaction began with BEGIN IMMEDIATE, which already excludes writers.


def upgrade(engine: Engine, target: str = "head") -> None:
    """Apply migrations up to ``target`` (``monitor db upgrade``), one process at a time."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        _serialize_schema_changes(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def ensure_schema(engine: Engine, url: str) -> None:
    """Create a fresh database at the current schema; refuse an out-of-date one."""
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot open database {redact(url)}: {exc.__class__.__name__}: {exc}"
        ) from exc
    head = head_revision()
    if current == head:
        return
    if current is None and not (tables - {"alembic_version"}):
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        try:
            with engine.begin() as conn:
                _serialize_schema_changes(conn)
                # Another replica may have created it while this one waited for the lock.
                if MigrationContext.configure(conn).get_current_revision() is None:
                    cfg = _alembic_config()
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create the schema in {redact(url)}: {exc}") from exc
        return
    raise StorageError(
        f"database {redact(url)} has schema revision {current or 'none'}, this version needs {head}: "
        "run `monitor db upgrade` (back the database up first)"
    )


class DaemonLock:
    """An exclusive lock beside a SQLite database file, held while ``monitor run`` runs.

    flock is released by the kernel when the process dies, even on SIGKILL, so a crash
    never leaves a stale lock behind.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held open for the daemon's lifetime
        except OSError as exc:  # a read-only filesystem, a missing permission
            raise StorageError(
                f"cannot create the daemon lock file {self.path}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise AlreadyRunning(
                f"another `monitor run` ({holder}) is already using {self.path.with_suffix('')}; "
                "stop it first, or point this one at another database"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
