"""Persistence for Catalyst Monitor: SQLAlchemy 2 models, the Store, Alembic migrations."""

from storage.store import Store

__all__ = ["Store"]
