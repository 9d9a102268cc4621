"""entry_tokens: each indexed entry's folded tokens per field, for the rule editor's preview

The search index (0002) holds an entry's tokens only as a prefilter (FTS5 contentless, or a
tsvector): it cannot give them back. The preview must tokenize every candidate entry it
evaluates, and folding and tokenizing is most of the cost of a preview over thousands of
stored entries. ``entry_tokens`` keeps what ``update_index`` computes anyway: per entry, its
fields' tokens (``monitor.backtest.encode_fields``), written with the index row.

The search index is emptied here so that every entry is indexed again with its tokens (the
daemon and the pages catch the index up in the background; a backtest does it first).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE entry_tokens (entry_id INTEGER PRIMARY KEY "
        "REFERENCES entries(id) ON DELETE CASCADE, fields TEXT NOT NULL)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DELETE FROM search_index")
    else:  # a contentless FTS5 table is emptied with its 'delete-all' command
        op.execute("INSERT INTO search_index (search_index) VALUES ('delete-all')")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS entry_tokens")
