"""match stance, score and explanation; analyst labels; search index for backtests; search index for backtests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Matches recorded before this revision had no stance: they were all treated as
    # evidence, so "event" keeps their meaning.
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stance", sa.String(length=16), nullable=False, server_default="event")
        )
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("explanation", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "watch_id", name="uq_labels_entry_watch"),
    )
    # The backtest prefilter: each entry's folded tokens (see storage/backtest.py).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE search_index (entry_id INTEGER PRIMARY KEY "
            "REFERENCES entries(id) ON DELETE CASCADE, tsv tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_search_index_tsv ON search_index USING GIN (tsv)")
    else:
        # Contentless FTS5: the tokens are already folded by our tokenizer; rowid = entry id.
        op.execute(
            "CREATE VIRTUAL TABLE search_index USING fts5(tokens, "
            "tokenize='unicode61 remove_diacritics 0', content='')"
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS search_index")
    op.drop_table("labels")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("explanation")
        batch_op.drop_column("score")
        batch_op.drop_column("stance")
