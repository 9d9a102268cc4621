"""catalyst state: current state per watch item, its transitions, match snapshots, the
alert log and deliveries.kind

- catalyst_states: one row per watch item (its current verdict and the evidence behind it);
- catalyst_transitions: every change of state, never updated;
- match_snapshots: the exact text a match was decided on (title, summary, sha256, fetch
  time), written with the match, so the evidence survives link rot and rule edits;
- alert_log: which immediate alerts went to which digest, unique per (digest, watch item,
  story, confirming sources, state): the dedup key of immediate alerts;
- deliveries.kind: 'digest' (a scheduled digest) or 'alert' (an immediate alert).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalyst_states",
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("watch_id"),
    )
    op.create_table(
        "catalyst_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_catalyst_transitions_watch_at", "catalyst_transitions", ["watch_id", "at"])
    op.create_index("ix_catalyst_transitions_at", "catalyst_transitions", ["at"])
    op.create_table(
        "match_snapshots",
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("match_id"),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest_id", sa.String(length=64), nullable=False),
        sa.Column("watch_id", sa.String(length=64), nullable=False),
        sa.Column("story_key", sa.String(length=80), nullable=False),
        sa.Column("confirming_sources", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "digest_id",
            "watch_id",
            "story_key",
            "confirming_sources",
            "state",
            name="uq_alert_log_key",
        ),
    )
    op.create_index("ix_alert_log_digest_sent", "alert_log", ["digest_id", "sent_at"])
    # Every delivery written before this revision was a scheduled digest.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="digest")
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("kind")
    op.drop_index("ix_alert_log_digest_sent", table_name="alert_log")
    op.drop_table("alert_log")
    op.drop_table("match_snapshots")
    op.drop_index("ix_catalyst_transitions_at", table_name="catalyst_transitions")
    op.drop_index("ix_catalyst_transitions_watch_at", table_name="catalyst_transitions")
    op.drop_table("catalyst_transitions")
    op.drop_table("catalyst_states")
