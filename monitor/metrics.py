"""Process metrics in Prometheus form: what this process did since it started.

Owns the counters and histograms the pipeline bumps at a few points (a poll recorded,
bytes fetched, a delivery attempt) with the standard ``prometheus_client`` library, in its
default registry (which also carries the library's process and Python metrics). Figures
that belong to the database rather than to one process (outbox depth, the oldest
undelivered digest, consecutive errors per feed, matches per watch item) are read at scrape
time by ``monitor.web``, so every replica reports the same truth. Nothing here does I/O.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

# The *_created series double the output and no dashboard reads them.
disable_created_metrics()

POLLS = Counter(
    "catalyst_monitor_polls_total",
    "Feed refreshes by outcome (ok, unchanged, error, storage-error).",
    ["outcome"],
)
FETCH_SECONDS = Histogram(
    "catalyst_monitor_fetch_duration_seconds",
    "Time of one feed refresh: fetch, parse, match and store.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FETCH_BYTES = Counter(
    "catalyst_monitor_fetch_bytes_total", "Feed body bytes received (after decompression)."
)
NEW_ENTRIES = Counter("catalyst_monitor_entries_total", "New entries stored.")
NEW_MATCHES = Counter("catalyst_monitor_new_matches_total", "New matches recorded by this process.")
DELIVERIES = Counter(
    "catalyst_monitor_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, pending = will retry, failed = gave up).",
    ["outcome"],
)

for _outcome in ("ok", "unchanged", "error", "storage-error"):
    POLLS.labels(_outcome)  # every series exists from the start (rate() needs a zero)
for _outcome in ("delivered", "pending", "failed"):
    DELIVERIES.labels(_outcome)


def poll_recorded(outcome: str, elapsed: float, new_entries: int, new_matches: int) -> None:
    POLLS.labels(outcome).inc()
    FETCH_SECONDS.observe(elapsed)
    NEW_ENTRIES.inc(new_entries)
    NEW_MATCHES.inc(new_matches)


def bytes_fetched(n: int) -> None:
    FETCH_BYTES.inc(n)


def delivery_attempted(outcome: str) -> None:
    DELIVERIES.labels(outcome).inc()
