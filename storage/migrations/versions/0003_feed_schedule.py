"""feeds: gone_at (410 Gone disables polling) and update_gap (the feed's own rhythm)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("gone_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("update_gap", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("update_gap")
        batch.drop_column("gone_at")
