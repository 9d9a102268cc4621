"""SQLAlchemy 2 typed models. They never leave ``storage``: the Store returns our records.

Datetimes are stored as naive UTC and come back timezone-aware (``UTCDateTime``), the same
on SQLite and PostgreSQL. Relationships are ``lazy="raise"``: every query says what it loads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    table,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a hand-written query
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class FeedRow(Base):
    """A feed from the watchlist, with its validators, schedule, lease and health."""

    __tablename__ = "feeds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    config_url: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 410 Gone: not polled until the watchlist gives a new URL or `monitor feeds enable`.
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Median seconds between the feed's recent entries (monitor.schedule.update_gap).
    update_gap: Mapped[float | None] = mapped_column(Float)


class EntryRow(Base):
    """One story-level entry, stored once however many feeds carried it."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_link: Mapped[str | None] = mapped_column(Text)
    # sha256 of canonical_link: the cross-feed identity (an index on a hash, not on a URL of
    # any length, works the same on SQLite and PostgreSQL's btree size limit).
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_id: Mapped[str] = mapped_column(String(64))  # the feed that first carried it
    guid: Mapped[str] = mapped_column(Text)  # as that feed gave it
    link: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(JSON)
    author: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Set when retention dropped the text of an entry that never matched; the row (its
    # link hash) and its sightings (GUID hashes) stay so it is never taken for new again.
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sightings: Mapped[list[SightingRow]] = relationship(back_populates="entry", lazy="raise")


class SightingRow(Base):
    """One feed carrying one entry: its own GUID and link, as that feed gave them."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("feed_id", "guid_hash", name="uq_sightings_feed_guid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str] = mapped_column(Text)
    guid_hash: Mapped[str] = mapped_column(String(64))  # sha256 of guid: GUIDs are unique per feed
    link: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)

    entry: Mapped[EntryRow] = relationship(back_populates="sightings", lazy="raise")


class MatchRow(Base):
    """An entry matching a watch item, with the watchlist revision that decided it."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("entry_id", "watch_id", name="uq_matches_entry_watch"),
        Index("ix_matches_watch_created", "watch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    watch_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str] = mapped_column(String(64))
    matched_terms: Mapped[list[str]] = mapped_column(JSON)
    snippet: Mapped[str] = mapped_column(Text)
    alert: Mapped[bool] = mapped_column(Boolean)
    stance: Mapped[str] = mapped_column(String(16), default="event", server_default="event")
    score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    explanation: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LabelRow(Base):
    """An analyst's verdict: is this entry evidence for this watch item (relevant) or noise?"""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("entry_id", "watch_id", name="uq_labels_entry_watch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    watch_id: Mapped[str] = mapped_column(String(64))
    match_id: Mapped[int | None] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RevisionRow(Base):
    """Each distinct watchlist text the service has run with."""

    __tablename__ = "watchlist_revisions"

    revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)


class DigestRow(Base):
    """A digest's schedule: when it is next due. Claimed by compare-and-set on next_run_at."""

    __tablename__ = "digests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    schedule: Mapped[str] = mapped_column(Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    """The outbox: one built digest for one webhook, written before the first POST."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    match_count: Mapped[int] = mapped_column(Integer)
    window_since: Mapped[datetime] = mapped_column(UTCDateTime)
    window_until: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    # Who holds the claim on the next attempt (host:pid), so a restarted daemon can take
    # back the claim of one that died mid-POST instead of waiting for it to expire.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # 'digest' (a scheduled digest) or 'alert' (an immediate alert, monitor/alerts.py).
    kind: Mapped[str] = mapped_column(String(16), default="digest", server_default="digest")


class DeliveryMatchRow(Base):
    """Which matches a delivery carried, so no match goes out twice in the same digest."""

    __tablename__ = "delivery_matches"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AttemptRow(Base):
    """One POST of a delivery and how it ended."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)


class CatalystStateRow(Base):
    """A watch item's current catalyst state (monitor/state.py) and its evidence."""

    __tablename__ = "catalyst_states"

    watch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence: Mapped[list[int]] = mapped_column(JSON)  # match ids
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalystTransitionRow(Base):
    """One change of a watch item's catalyst state; written once, never updated."""

    __tablename__ = "catalyst_transitions"
    __table_args__ = (
        Index("ix_catalyst_transitions_watch_at", "watch_id", "at"),
        Index("ix_catalyst_transitions_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    watch_id: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence: Mapped[list[int]] = mapped_column(JSON)  # match ids


class MatchSnapshotRow(Base):
    """The exact text a match was decided on, kept with the match (the evidence trail)."""

    __tablename__ = "match_snapshots"

    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))  # sha256 of title + "\n" + summary
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertLogRow(Base):
    """One immediate alert queued for one digest; the unique key is the dedup rule: a story
    alerts again only with more confirming sources or in another state."""

    __tablename__ = "alert_log"
    __table_args__ = (
        UniqueConstraint(
            "digest_id",
            "watch_id",
            "story_key",
            "confirming_sources",
            "state",
            name="uq_alert_log_key",
        ),
        Index("ix_alert_log_digest_sent", "digest_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest_id: Mapped[str] = mapped_column(String(64))
    watch_id: Mapped[str] = mapped_column(String(64))
    story_key: Mapped[str] = mapped_column(String(80))
    confirming_sources: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Each indexed entry's folded tokens per field, as ``monitor.backtest.encode_fields`` writes
# them (migration 0008): the rule editor's preview reads them instead of tokenizing again.
# Not mapped (like the search index it is written with): created by its migration.
ENTRY_TOKENS = table("entry_tokens", column("entry_id", Integer), column("fields", Text))
