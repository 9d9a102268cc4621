"""Records that cross a stage boundary: frozen dataclasses named after that boundary.

This module imports nothing of ours, so every stage and ``storage`` may import it. All
datetimes are timezone-aware UTC. Text fields are plain text (HTML already stripped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# --- fetch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET of one feed returned.

    ``body`` is None when the server answered 304 Not Modified. ``headers`` holds the
    response headers with lower-case names. ``permanent_url`` is set when a 301/308
    redirect moved the feed (the caller decides whether to store it).
    """

    feed_id: str
    url: str
    final_url: str
    status: int
    body: bytes | None
    headers: Mapping[str, str]
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# --- parse -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryData:
    """One feed entry, normalised.

    ``guid`` is the feed's own id for the entry (as given, or derived from the link or
    from title+date when the feed gives none); it is unique only within its feed.
    ``link`` is absolute. ``summary`` is the summary and content as plain text.
    ``published`` is UTC, or None when missing or absurd (in the future, before 1995).
    ``source`` is the publisher when the feed names one (aggregators), else None.
    """

    guid: str
    link: str | None
    title: str
    summary: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document. ``warnings`` are tolerated parser complaints (bozo)."""

    title: str | None
    link: str | None
    format: str
    entries: tuple[EntryData, ...]
    warnings: tuple[str, ...] = ()


# --- match -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The matcher's verdict that one entry matches one watch item, and why."""

    watch_id: str
    matched_terms: tuple[str, ...]
    snippet: str = ""
    score: int = 0
    stance: str = "event"  # event | plan | denial | delay | restatement
    explanation: str = ""
    alert: bool | None = None  # per-item alert_max_age verdict; None = the entry's


# --- storage -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store knows about one feed: its validators, schedule and health."""

    id: str
    url: str
    enabled: bool = True
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    next_check_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    entry_count: int = 0
    gone_at: datetime | None = None
    update_gap: float | None = None


@dataclass(frozen=True, slots=True)
class IncomingEntry:
    """An entry ready to be stored, with the matches the pure matcher found in it.

    ``alert`` is False when the entry was already older than ``alert_max_age`` when it
    was first seen: its matches are recorded but stay out of digests.
    """

    data: EntryData
    canonical_link: str | None
    matches: tuple[MatchResult, ...] = ()
    alert: bool = True


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """Everything one refresh of one feed writes, in one transaction.

    ``error`` is set when the refresh failed (then ``entries`` is empty).
    ``url`` is the feed's URL after a permanent redirect, when it moved; it is recorded
    on errors too (a 301 to a 404 still tells where the feed lives now).
    """

    feed_id: str
    checked_at: datetime
    next_check_at: datetime
    status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    title: str | None = None
    url: str | None = None
    entries: tuple[IncomingEntry, ...] = ()
    revision: str = ""
    gone: bool = False  # 410 Gone: stop polling until the URL changes or a re-enable
    update_gap: float | None = None  # seconds; None keeps the stored value

    @property
    def plain(self) -> bool:
        """Nothing but the schedule, status, validators or URL changes (a 304, or a 200
        with the same bytes as last time): no entries, error, 410, title or update gap.
        The store may write such refreshes in bulk (``Store.record_states``)."""
        return (
            not self.entries
            and self.error is None
            and not self.gone
            and self.title is None
            and self.update_gap is None
        )


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What a FeedUpdate changed: counts of new rows and the ids of new matches."""

    feed_id: str
    new_entries: int = 0
    new_sightings: int = 0
    new_match_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """A recorded match, joined with the entry it is about."""

    id: int
    entry_id: int
    watch_id: str
    title: str
    link: str | None
    guid: str
    feed_id: str
    source: str | None
    published: datetime | None
    first_seen: datetime
    matched_terms: tuple[str, ...]
    snippet: str
    revision: str
    alert: bool
    created_at: datetime
    stance: str = "event"
    score: int = 0
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class DigestState:
    """A digest's schedule as stored: when it is next due and when it last ran."""

    id: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest built by the pure builder, ready for the outbox.

    ``body`` is the exact JSON text that will be POSTed (and signed) on every attempt.
    """

    digest_id: str
    delivery_id: str
    generated_at: datetime
    since: datetime
    until: datetime
    match_ids: tuple[int, ...]
    body: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row: one digest to one webhook, with its attempt history summary.

    ``status`` is one of: pending (queued, retried until delivered), delivered,
    failed (gave up: non-retryable answer), disabled (no webhook URL configured).
    ``parts_sent`` counts the messages already sent when a format needs several
    (Slack, Discord, Teams); a retry resumes after them. ``kind`` is 'digest' or
    'alert'; an alert carries no delivery_matches, so it never takes a match out of the
    next digest.
    """

    id: str
    digest_id: str
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    match_count: int
    window_since: datetime
    window_until: datetime
    body: str = field(repr=False, default="")
    parts_sent: int = 0
    kind: str = "digest"  # 'digest' (scheduled) or 'alert' (immediate, alert@1 body)


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """The result of one POST of a delivery, as the outbox records it."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as the watchlist declares it, for ``Store.sync_feeds``."""

    id: str
    url: str
    enabled: bool = True


# --- catalyst state (issue 4) --------------------------------------------------------------

CATALYST_STATES = (
    "no_signal",
    "expected",
    "reported",
    "confirmed",
    "denied",
    "delayed",
    "overdue",
)


@dataclass(frozen=True, slots=True)
class CatalystState:
    """A watch item's catalyst state as stored, with the evidence behind it.

    ``state`` is one of ``CATALYST_STATES``. ``since`` is when the evidence that put it in
    this state was first seen (not when we computed it). ``reason`` is one human line
    ("2 independent outlets: reuters.com, ft.com"; "overdue; reported").
    ``evidence_match_ids`` are the match ids the verdict rests on.
    """

    watch_id: str
    state: str
    since: datetime | None
    reason: str = ""
    evidence_match_ids: tuple[int, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a watch item's catalyst state, as recorded (never updated)."""

    id: int
    watch_id: str
    from_state: str
    to_state: str
    at: datetime
    reason: str = ""
    evidence_match_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchSnapshot:
    """The text a match was decided on, as fetched: kept with the match (evidence trail)."""

    match_id: int
    title: str
    summary: str
    text_sha256: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An immediate alert ready for the outbox of one digest (``Store.queue_alerts``).

    The alert-log key (digest_id, watch_id, story_key, confirming_sources, state) says
    whether it was sent before (``story_ref``: a second key logged with it); ``not_before`` is when it may go (the end of the digest's
    quiet hours, or now); ``max_per_hour`` caps the digest's alerts (None: no cap).
    ``status`` is 'pending', or 'disabled' when the digest has no webhook URL.
    """

    digest_id: str
    watch_id: str
    story_key: str
    confirming_sources: int
    state: str
    delivery_id: str
    body: str
    not_before: datetime
    match_count: int = 0
    max_per_hour: int | None = None
    status: str = "pending"
    # A state-change alert is keyed by its transition (so every change alerts); it also
    # logs its story under this key, so the same story does not alert again as an event
    # until it gains a confirming source.
    story_ref: str | None = None
    # An event alert: the entries of its story. The store does not queue it while the
    # story is muted for the item (any of these entries labelled ``mute``): a muted story
    # neither alerts nor appears in digests. Empty for a state change, which is news about
    # the catalyst, not about one story.
    story_entries: tuple[int, ...] = ()
