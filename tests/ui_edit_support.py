"""A watchlist with comments, an anchor and a seeded store, for the rule editor's and
search's route tests (real file, real SQLite or PostgreSQL, the real app)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette

from monitor.types import EntryData, FeedSpec, FeedUpdate, IncomingEntry
from monitor.ui.app import ui_middleware, ui_routes
from monitor.ui.context import UIContext
from monitor.watchlist import load_watchlist
from storage.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

WATCHLIST = """\
# My thesis: the top comment stays.
version: 1
settings:
  database: {database}
  timezone: UTC
feeds:
  - id: wire # the only feed
    url: {feed_url}
aliases:
  arrival: [launches, rolls out, opens]
watch:
  # --- API (a heading comment of the first item) -----------------------------
  - id: api-broadening
    name: API broadening
    # a comment inside the item
    match:
      any: ["Muse Spark API", "Muse API"]
      none: &noise ["private preview"]
    priority: high

  # --- glasses ---------------------------------------------------------------
  - id: glasses-rollout
    name: Glasses rollout
    match: '"Ray-Ban Meta" AND Muse'
    exclude: Bellamy
    expected_by: 2026-12-31 # end of year

  - id: voice
    name: Muse voice
    match:
      any: [Muse voice]
      none: *noise
# after the list: a comment about digests
digests: []
"""


@dataclass
class EditApp:
    app: Starlette
    store: Store
    ctx: UIContext
    path: Path
    saved: list[int] = field(default_factory=list)


def edit_app(
    tmp_path: Path,
    *,
    token: str | None = None,
    database: str = "monitor.db",
    feed_url: str = "http://127.0.0.1:9/wire.xml",
    text: str | None = None,
) -> EditApp:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text or WATCHLIST.format(database=database, feed_url=feed_url))
    wl = load_watchlist(path)
    store = Store.open(wl.database_url)
    saved: list[int] = []
    ctx = UIContext.start(store, wl, token=token, on_saved=lambda: saved.append(1))
    app = Starlette(routes=ui_routes(ctx), middleware=ui_middleware(ctx))
    return EditApp(app, store, ctx, path, saved)


def seed(store: Store, entries: Sequence[EntryData], feed: str = "wire") -> None:
    """Store entries as a refresh of ``feed`` does (ids in the given order)."""
    store.sync_config([FeedSpec(feed, f"http://{feed}")], {}, "r1", "", T0)
    incoming = tuple(IncomingEntry(e, None, ()) for e in entries)
    store.ingest(FeedUpdate(feed, T0, T0 + timedelta(minutes=15), 200, entries=incoming))


def entry(i: int, title: str, summary: str = "", link: str | None = None) -> EntryData:
    return EntryData(
        f"g{i}",
        link or f"https://news.example.com/{i}",
        title,
        summary,
        published=T0 - timedelta(hours=100 - i),
    )
