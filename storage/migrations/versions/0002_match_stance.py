"""match stance, score and explanation; analyst labels

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


def downgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("explanation")
        batch_op.drop_column("score")
        batch_op.drop_column("stance")
