"""Reading ``watchlist.yaml``: the one file a user edits.

Owns the file's schema (pydantic models), ``${VAR}`` / ``${VAR:-default}`` substitution,
durations, and turning every problem into a ``file:line:column: message`` the user can act
on — all problems of a file in one pass, not just the first. Does not own matching (it only
compiles each watch item's query through ``match.compile_match``) or any I/O beyond
reading the file and the environment.

The file is read with ruamel.yaml's round-trip loader: it keeps line/column for every node
(for error messages) and, when later commands write the file back, the user's comments and
``${VAR}`` references.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as dt_time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from monitor.errors import ConfigError, ConfigProblem
from monitor.match import And, CompiledItem, Matcher, Node, Not, Or, tokenize
from monitor.query import QueryError, never_matches, parse_query, parse_term_list
from monitor.sources import bing_news_rss, google_news_rss
from monitor.stance import STANCES, Stance
from monitor.state import DEFAULT_PRIMARY_SOURCES

DEFAULT_CONFIG = "watchlist.yaml"
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ID_RE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def parse_duration(value: object) -> timedelta:
    """``<n>s|m|h|d|w`` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(
        f"invalid duration {value!r}: use <number><unit>, unit one of s m h d w (e.g. 15m, 7d)"
    )


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+\s*[smhdw]\s*$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "<number><unit>, unit one of s m h d w (e.g. 15m, 7d), or seconds",
        }
    ),
]
Id = Annotated[str, Field(pattern=_ID_RE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_LISTEN_RE = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)?:)?(?P<port>\d{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or a bare ``PORT`` (which binds 127.0.0.1 only).
    Port 0 picks a free port (the daemon logs which)."""
    m = _LISTEN_RE.match(value.strip())
    port = int(m.group("port")) if m else -1
    if not m or not 0 <= port < 65536:
        raise ValueError(
            f"invalid listen address {value!r}: use PORT, HOST:PORT or [IPv6]:PORT, "
            "e.g. 127.0.0.1:8787"
        )
    host = (m.group("host") or "127.0.0.1").strip("[]")
    return host, port


_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def _host_name(v: str) -> str:
    d = v.strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(d):
        raise ValueError(
            f"{v!r} is not a host name: write the domain only, e.g. about.fb.com or sec.gov"
        )
    return d


HostName = Annotated[str, AfterValidator(_host_name)]


class HttpSettings(_Model):
    listen: str | None = None  # health, readiness, metrics and the web pages; off unless set
    # The web pages' token (bearer or login cookie); $MONITOR_WEB_TOKEN wins. Required when
    # the pages listen on anything but loopback. Write it as ${VAR} to keep it out of the file.
    token: str | None = None

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            parse_listen(v)
        return v or None


class RetentionSettings(_Model):
    # Entries that never matched are pruned this long after they were first seen (their
    # identity is kept so they never come back as new); None keeps them forever.
    entries: Duration | None = None

    @field_validator("entries")
    @classmethod
    def _min_retention(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(days=1):
            raise ValueError("retention.entries must be at least 1d")
        return v


class Settings(_Model):
    database: str = "monitor.db"
    timezone: str = "UTC"
    poll_interval: Duration = timedelta(minutes=15)
    alert_max_age: Duration = timedelta(days=7)
    # Adaptive polling: a feed is checked every half of its own publishing gap, between its
    # interval and max_poll_interval (which also caps a server's Cache-Control max-age).
    adaptive_polling: bool = True
    max_poll_interval: Duration = timedelta(hours=4)
    max_entries_per_poll: int = Field(default=500, ge=1, le=100_000)
    thesis_date: date | None = Field(
        default=None,
        description="Date of the thesis: entries dated before it are restatements, not events.",
    )
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()
    max_retry_age: Duration = timedelta(hours=72)
    primary_sources: list[HostName] = Field(
        default=list(DEFAULT_PRIMARY_SOURCES),
        description="Hosts whose event report alone confirms a catalyst (suffix match: "
        "sec.gov covers www.sec.gov).",
    )
    confirm_sources: int = Field(
        default=2,
        ge=1,
        description="Independent outlets (publisher domains, syndicated copies counted once) "
        "whose event reports of one story confirm a catalyst.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r}: use an IANA name such as America/New_York"
            ) from None
        return v

    @field_validator("poll_interval")
    @classmethod
    def _min_interval(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("poll_interval must be at least 1s")
        return v


class GoogleNewsSearch(_Model):
    query: str
    lang: str = "en-US"
    country: str | None = None


class BingNewsSearch(_Model):
    query: str
    market: str | None = None


class FeedConfig(_Model):
    """One feed: a ``url``, or a news search (``google_news`` / ``bing_news``) that is
    expanded to the provider's RSS URL by ``monitor.sources``."""

    id: Id
    url: str
    google_news: GoogleNewsSearch | None = None
    bing_news: BingNewsSearch | None = None
    interval: Duration | None = None
    enabled: bool = True
    tags: list[str] = []
    # For feeds whose items are a headline and little more (aggregators): fetch the linked
    # article of each new, short entry and match on its main text (monitor/fulltext.py).
    fetch_full_text: bool = False

    @model_validator(mode="before")
    @classmethod
    def _expand_search(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [k for k in ("url", "google_news", "bing_news") if data.get(k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of url, google_news, bing_news (got {', '.join(given)})")
        if not given:
            raise ValueError("a feed needs url, google_news or bing_news")
        search = data.get("google_news") or data.get("bing_news")
        if search is None:
            return data
        if not isinstance(search, dict) or not isinstance(search.get("query"), str):
            raise ValueError("a news search needs query: '<search terms>'")
        if data.get("google_news") is not None:
            url = google_news_rss(
                search["query"], str(search.get("lang") or "en-US"), search.get("country")
            )
        else:
            url = bing_news_rss(search["query"], search.get("market"))
        return {**data, "url": url}

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"feed url must start with http:// or https://, got {v!r}")
        return v


class MatchSpec(_Model):
    """``any`` OR-group AND every ``all`` term AND NOT any ``none`` term; each a phrase or @alias."""

    any: list[str] = []
    all: list[str] = []
    none: list[str] = []


def _str_or_other(v: Any) -> str:
    return "query" if isinstance(v, str) else "other"


# A query string or the any/all/none mapping; the discriminator keeps errors to the branch
# the user wrote (a mapping with a typo is not also reported as "not a string").
MatchField = Annotated[
    Annotated[str, Tag("query")] | Annotated[MatchSpec, Tag("other")],
    Discriminator(_str_or_other),
]
AliasField = Annotated[
    Annotated[str, Tag("query")] | Annotated[list[str], Tag("other")],
    Discriminator(_str_or_other),
]


class SourceFilter(_Model):
    """Feed ids or publisher names (shell wildcards, case-insensitive) to allow or deny."""

    allow: list[str] = []
    deny: list[str] = []


class WatchItem(_Model):
    id: Id
    name: str
    look_for: str = ""
    why: str = ""
    match: MatchField = Field(
        description="A query string (see docs/watchlist.md) or an any/all/none mapping."
    )
    exclude: str | None = Field(
        default=None, description="A query: an entry it matches is never a match of this item."
    )
    sources: SourceFilter = SourceFilter()
    min_score: int = Field(
        default=0,
        ge=0,
        description="Minimum score: each distinct term that fired counts 3 in the title, 1 elsewhere.",
    )
    alert_max_age: Duration | None = None
    known_facts: list[str] = Field(
        default=[],
        description="Queries for facts known at settings.thesis_date; a match that only restates them is a restatement.",
    )
    priority: Literal["normal", "high"] = "normal"
    expected_by: date | None = Field(
        default=None,
        description="The catalyst should have happened by the end of this day (in "
        "settings.timezone); after it, without confirmed or denied evidence, it is overdue.",
    )


class Webhook(_Model):
    url: str = ""
    format: Literal["json", "slack", "discord", "teams", "text", "apprise"] = Field(
        default="json",
        description="json (signed digest@1), slack, discord, teams, text (Markdown), or apprise "
        "(url is an Apprise URL; needs the 'apprise' extra).",
    )
    secret: str = ""

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: str) -> str:
        if v and not _valid_secret(v):
            raise ValueError(
                "secret must be 'whsec_' followed by a base64 key (run `monitor webhook-secret`)"
            )
        return v


class DigestConfig(_Model):
    id: Id
    schedule: str
    webhook: Webhook
    watch: list[str] | None = None
    immediate: bool = Field(
        default=True,
        description="Send immediate alerts (high-priority events, state changes) to this "
        "digest's webhook as well as the scheduled digest.",
    )
    quiet_hours: str | None = Field(
        default=None,
        description='"HH:MM-HH:MM" in settings.timezone: immediate alerts wait until it ends.',
    )
    max_alerts_per_hour: int | None = Field(
        default=None,
        ge=0,
        description="At most this many immediate alerts per hour; the rest wait for the digest.",
    )
    top_k: int | None = Field(
        default=None,
        ge=1,
        description="At most this many stories per watch item in chat formats (the rest are counted).",
    )
    send_empty: bool = Field(
        default=False, description="Send a heartbeat when nothing matched and no state changed."
    )

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            parse_quiet_hours(v)
        return v


_HHMM = r"([01]?\d|2[0-3]):([0-5]\d)"
_QUIET_RE = re.compile(rf"^\s*{_HHMM}\s*-\s*{_HHMM}\s*$")


def parse_quiet_hours(value: str) -> tuple[dt_time, dt_time]:
    """``"22:00-07:00"`` -> (22:00, 07:00); the span may cross midnight."""
    m = _QUIET_RE.match(value)
    if not m:
        raise ValueError(
            f"quiet_hours {value!r} must be HH:MM-HH:MM in settings.timezone, e.g. 22:00-07:00"
        )
    start = dt_time(int(m.group(1)), int(m.group(2)))
    end = dt_time(int(m.group(3)), int(m.group(4)))
    if start == end:
        raise ValueError(f"quiet_hours {value!r}: start and end are equal (an empty span)")
    return start, end


class Watchlist(_Model):
    version: Literal[1] = 1
    settings: Settings = Settings()
    aliases: dict[str, AliasField] = Field(
        default={},
        description="Named term lists (or queries) usable in any query as @name.",
    )
    stance_cues: dict[Literal["event", "plan", "denial", "delay", "restatement"], list[str]] = (
        Field(default={}, description="Extra stance cue phrases, added to the built-in lists.")
    )
    feeds: list[FeedConfig] = []
    watch: list[WatchItem] = Field(min_length=1)
    digests: list[DigestConfig] = []


def _valid_secret(v: str) -> bool:
    if not v.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(v[6:], validate=True)) >= 16
    except ValueError:
        return False


@dataclass(frozen=True)
class LoadedWatchlist:
    """A validated watchlist with where it came from and what it compiles to."""

    config: Watchlist
    path: Path
    revision: str
    database_url: str
    matcher: Matcher
    warnings: tuple[ConfigProblem, ...] = ()
    text: str = field(default="", repr=False)

    def feed(self, feed_id: str) -> FeedConfig | None:
        return self._feeds_by_id.get(feed_id)

    @cached_property
    def _feeds_by_id(self) -> dict[str, FeedConfig]:  # every refresh asks: O(1), not O(feeds)
        return {f.id: f for f in self.config.feeds}

    def digest(self, digest_id: str) -> DigestConfig | None:
        return next((d for d in self.config.digests if d.id == digest_id), None)

    def watch_ids_for(self, digest: DigestConfig) -> list[str]:
        return digest.watch if digest.watch is not None else [w.id for w in self.config.watch]


# --- loading ------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


class _Located:
    """Plain Python data from a ruamel tree, with the position of every node and key."""

    def __init__(self, file: str, text: str = "", line_offset: int = 0) -> None:
        self.file = file
        self.text = text
        self.line_offset = line_offset  # a part of ``text`` parsed alone starts this far down
        self.raw: dict[Path_, Any] = {}
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.problems: list[ConfigProblem] = []

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of ``path``, or of its nearest ancestor we know."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))

    def problem(
        self, path: Path_, message: str, *, key: bool = False, severity: str = "error"
    ) -> None:
        line, col = self.where(path, key=key)
        self.problems.append(ConfigProblem(self.file, line, col, message, severity))

    def at(self, path: Path_) -> Any:
        return self.raw.get(tuple(path))

    def offset_position(self, path: Path_, value: str, offset: int) -> tuple[int, int]:
        """The file line/column of character ``offset`` of the string scalar at ``path``.

        Walks the file from the scalar's start and pairs its characters with the value's,
        skipping what YAML adds around them (quotes, block indicators, indentation and
        folded line breaks), so it works for plain, quoted and block scalars alike.
        """
        line, col = self.where(path)
        lines = self.text.splitlines(keepends=True)
        if not lines or line > len(lines):
            return line, col
        p = sum(len(x) for x in lines[: line - 1]) + col - 1
        text = self.text
        for k in range(min(offset, len(value)) + 1):
            if k == len(value):
                break
            c = value[k]
            while p < len(text) and text[p] != c and not (c == " " and text[p] == "\n"):
                p += 1
            if k == offset:
                break
            p += 1
        p = min(p, len(text))
        before = text[:p]
        return before.count("\n") + 1, p - (before.rfind("\n") + 1) + 1

    def convert(self, node: Any, path: Path_, pos: tuple[int, int]) -> Any:
        """Plain data from a ruamel node, ``${VAR}`` substituted, every position noted."""
        return self.substituted(self.plain(node, path, pos), path)

    def plain(self, node: Any, path: Path_, pos: tuple[int, int]) -> Any:
        """The node as plain dicts, lists and scalars, strings as written (``${VAR}`` not
        yet substituted); notes the position of every value and key. What this returns and
        notes depends on the text alone, so it can be cached by the text's hash."""
        self.values[path] = pos
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for k in node:
                kl, kc = node.lc.key(k)
                vl, vc = node.lc.value(k)
                off = self.line_offset
                self.keys[(*path, str(k))] = (kl + 1 + off, kc + 1)
                out[str(k)] = self.plain(node[k], (*path, str(k)), (vl + 1 + off, vc + 1))
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for i, item in enumerate(node):
                il, ic = node.lc.item(i)
                items.append(self.plain(item, (*path, i), (il + 1 + self.line_offset, ic + 1)))
            return items
        if isinstance(node, str):
            return str(node)
        return node

    def substituted(self, data: Any, path: Path_) -> Any:
        """``data`` from :meth:`plain` with ``${VAR}`` substituted in every string (and
        each string noted in ``raw``), in document order."""
        if type(data) is dict:
            return {k: self.substituted(v, (*path, k)) for k, v in data.items()}
        if type(data) is list:
            return [self.substituted(v, (*path, i)) for i, v in enumerate(data)]
        if type(data) is str:
            value = self._substitute(data, path)
            self.raw[path] = value
            return value
        return data

    def _substitute(self, text: str, path: Path_) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            value = os.environ.get(name)
            if value is not None and (value != "" or default is None):
                return value
            if default is not None:
                return default
            self.problem(
                path,
                f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)",
            )
            return ""

        return _ENV_RE.sub(repl, text)


class _Constructor(RoundTripConstructor):
    """Round-trip loading, but dates stay text: pydantic parses them, so an impossible
    date (2026-13-01) is reported at its file:line:col instead of crashing the loader."""


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda self, node: self.construct_scalar(node),
)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Constructor = _Constructor
    y.allow_duplicate_keys = False
    return y


def resolve_database_url(value: str, base_dir: Path) -> str:
    """A SQLAlchemy URL; a bare or relative SQLite path resolves beside the watchlist."""
    env = os.environ.get("MONITOR_DATABASE_URL")
    if env:
        value = env
    if "://" not in value:
        p = Path(value).expanduser()
        return f"sqlite:///{p if p.is_absolute() else (base_dir / p).resolve()}"
    if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        rest = value[len("sqlite:///") :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return f"sqlite:///{(base_dir / rest).resolve()}"
    return value


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$MONITOR_CONFIG``, else ``./watchlist.yaml``."""
    return Path(explicit or os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG)


def load_watchlist(path: str | os.PathLike[str]) -> LoadedWatchlist:
    """Read, substitute, validate and compile a watchlist, or raise ConfigError with every problem.

    The YAML parse of a file read before is taken from the parse cache
    (:func:`cache_dir`); substitution, validation and compilation always run."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(name, 1, 1, f"cannot read watchlist: {exc.strerror or exc}")]
        ) from exc
    return load_watchlist_text(raw.decode("utf-8", errors="replace"), path, cache=True)


def load_watchlist_text(text: str, path: Path, *, cache: bool = False) -> LoadedWatchlist:
    """``load_watchlist`` of ``text`` as if read from ``path``; ``cache`` uses the parse
    cache (off by default: the editor's drafts are not worth keeping)."""
    name = str(path)
    loc = _Located(name, text)
    digest = hashlib.sha256(text.encode())
    parsed = _cached_parse(digest.hexdigest()) if cache else None
    if parsed is not None:
        plain, loc.values, loc.keys = parsed
    else:
        plain = _parse(loc, text, name)
        if cache:
            _store_parse(digest.hexdigest(), (plain, loc.values, loc.keys))
    data = loc.substituted(plain, ())

    config: Watchlist | None = None
    try:
        config = Watchlist.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            _report_pydantic(loc, err)
    # The checks below read the raw data, so they report even when the schema check failed.
    _check_semantics(loc, data)
    matcher = _compile(loc, data)

    errors = [p for p in loc.problems if p.severity == "error"]
    if errors or config is None:
        raise ConfigError(sorted(loc.problems, key=lambda p: (p.line, p.column)))
    revision = digest.hexdigest()[:12]
    return LoadedWatchlist(
        config=config,
        path=path,
        revision=revision,
        database_url=resolve_database_url(config.settings.database, path.resolve().parent),
        matcher=matcher,
        warnings=tuple(loc.problems),
        text=text,
    )


def _parse(loc: _Located, text: str, name: str) -> Any:
    """The YAML text as plain data (``_Located.plain``), or ConfigError."""
    try:
        tree = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = " ".join(s for s in (exc.context, exc.problem) if s) or str(exc)
        raise ConfigError([ConfigProblem(name, line, col, f"YAML syntax error: {msg}")]) from exc
    except YAMLError as exc:
        raise ConfigError([ConfigProblem(name, 1, 1, f"YAML error: {exc}")]) from exc
    if tree is None:
        raise ConfigError([ConfigProblem(name, 1, 1, "the watchlist is empty")])
    if not isinstance(tree, CommentedMap):
        raise ConfigError(
            [
                ConfigProblem(
                    name, 1, 1, "the watchlist must be a mapping of settings, feeds, watch, digests"
                )
            ]
        )
    return loc.plain(tree, (), (tree.lc.line + 1, tree.lc.col + 1))


# --- the parse cache ----------------------------------------------------------------------
#
# ruamel's round-trip parse is most of the cost of loading a large watchlist (~0.3-0.5
# CPU-s for 1,000 feeds, every `monitor poll`), and its result depends on the text alone.
# So the plain data and positions it gives are kept in a file named after the SHA-256 of
# (this module's source, ruamel's and Python's versions, the text): any edit of the file,
# or a new version of the code that reads it, gives another name, so a stale entry is
# never read. Only the parse is cached: ${VAR} substitution (the environment may differ),
# validation and compilation run on every load. An entry is written only when its data
# is made of plain types only (dict, list, str, int, float, bool, None), which ``marshal``
# stores exactly; anything else (a ruamel float that keeps its written form, a tagged
# value) is parsed every time. Every failure to read or write the cache is a miss.

_CACHE_KEEP = 16  # entries kept; the oldest are removed when a new one is written
_PLAIN_TYPES = (dict, list, str, int, float, bool, type(None))
_code_key: bytes | None = None


def cache_dir() -> Path | None:
    """Where parsed watchlists are kept: ``$MONITOR_CACHE_DIR`` (``none`` turns the cache
    off), else ``$XDG_CACHE_HOME/catalyst-monitor``, else ``~/.cache/catalyst-monitor``."""
    explicit = os.environ.get("MONITOR_CACHE_DIR")
    if explicit is not None:
        return None if explicit.strip().lower() in ("", "none", "off") else Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home.startswith("~"):  # no home directory known: no cache, rather than ./~
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "catalyst-monitor"


def _cache_file(text_sha: str) -> Path | None:
    global _code_key
    where = cache_dir()
    if where is None:
        return None
    if _code_key is None:
        import marshal
        import sys

        from ruamel.yaml import __version__ as ruamel_version

        try:
            with open(__file__, "rb") as fh:
                source = fh.read()
        except OSError:  # no source to key on (a frozen install): no cache
            return None
        _code_key = hashlib.sha256(
            source + f"|{ruamel_version}|{sys.version}|{marshal.version}".encode()
        ).digest()
    key = hashlib.sha256(_code_key + text_sha.encode()).hexdigest()
    return where / f"watchlist-{key}.marshal"


def _all_plain(value: Any) -> bool:
    todo = [value]
    while todo:
        v = todo.pop()
        t = type(v)
        if t is dict:
            todo.extend(v.values())
        elif t is list:
            todo.extend(v)
        elif t not in _PLAIN_TYPES:
            return False
    return True


def _cached_parse(
    text_sha: str,
) -> tuple[Any, dict[Path_, Any], dict[Path_, Any]] | None:
    import marshal

    target = _cache_file(text_sha)
    if target is None:
        return None
    try:
        entry = marshal.loads(target.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        type(entry) is not tuple
        or len(entry) != 5
        or entry[0] != "watchlist-parse-1"
        or entry[1] != text_sha
        or type(entry[2]) is not dict
        or type(entry[3]) is not dict
        or type(entry[4]) is not dict
    ):
        return None
    return entry[2], entry[3], entry[4]


def _store_parse(text_sha: str, parsed: tuple[Any, dict[Path_, Any], dict[Path_, Any]]) -> None:
    import marshal
    import tempfile

    target = _cache_file(text_sha)
    if target is None or not _all_plain(parsed[0]):
        return
    try:
        blob = marshal.dumps(("watchlist-parse-1", text_sha, *parsed))
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".watchlist-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, target)  # readers see the whole entry or none
        except BaseException:
            os.unlink(tmp)
            raise
        entries = sorted(target.parent.glob("watchlist-*.marshal"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-_CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except (OSError, ValueError):
        return


# Anchors (&name) and aliases (*name) where YAML allows them: before a node. An alias that
# is a whole value at the end of its line is replaced by the anchor's value.
_DEFINED_RE = re.compile(r"(?:^|[\s\[{,])&([^\s,\[\]{}]+)")
_ALIAS_USE_RE = re.compile(r"(?:^|[\s\[{,])\*[^\s,\[\]{}]")
_ALIAS_RE = re.compile(r"(?m)(?<=[:-] )\*([^\s,\[\]{}]+)(?=[ \t]*(?:#.*)?$)")
_MISSING = object()


def _anchored(node: Any) -> dict[str, Any]:
    """The anchors defined in a round-trip tree, as plain data."""
    out: dict[str, Any] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        anchor = getattr(n, "anchor", None)
        name = getattr(anchor, "value", None) if anchor is not None else None
        if name:
            out[name] = _plain(n)
        if isinstance(n, dict):
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return out


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return str(node) if isinstance(node, str) else node


@dataclass(frozen=True)
class CheckedItem:
    """One watch item checked alone: its model, its compiled rule and its warnings."""

    item: WatchItem
    compiled: CompiledItem
    warnings: tuple[ConfigProblem, ...]


def check_watch_item(
    current: LoadedWatchlist,
    new_text: str,
    block: str,
    block_line: int,
    index: int,
    indent: int,
    old_block: str = "",
    anchors: Mapping[str, Any] | None = None,
) -> CheckedItem | None:
    """Check watch item ``index`` of ``new_text`` (``current.text`` with that item's lines
    replaced by, or a new last item given as, ``block`` from line ``block_line``) without
    reading the rest of the file again: ``current`` is that rest, already checked, and
    ``anchors`` its YAML anchors as plain data (``watchlist_edit.anchors``).

    Raises ConfigError with the problems ``load_watchlist_text(new_text)`` would report
    (same messages, lines and columns); returns None when the item alone cannot tell, so
    the caller checks the whole text: a YAML error (the parser's message may depend on
    what follows), a block that is not exactly one mapping at the list's indentation,
    an alias of an anchor it cannot inline, an anchor added, dropped or changed (other
    items share it), or an edit that touches other items (a duplicate id, renaming an
    item a digest names).
    """
    known = anchors or {}
    defined = set(_DEFINED_RE.findall(block))
    if defined != set(_DEFINED_RE.findall(old_block)) or not defined <= set(known):
        return None  # an anchor other items may use is added or dropped here

    def inline(m: re.Match[str]) -> str:
        value = known.get(m.group(1), _MISSING)
        if m.group(1) in defined or value is _MISSING:
            return m.group(0)
        try:
            return json.dumps(value, ensure_ascii=False)  # a flow value: YAML reads JSON
        except (TypeError, ValueError):
            return m.group(0)

    # An alias of another item's anchor (``none: *not_muse``) becomes its value, written
    # on the same line: the data the whole file gives, every position as it was.
    block = _ALIAS_RE.sub(inline, block)
    if _ALIAS_USE_RE.search(block):
        return None
    content = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not content or not content[0].startswith(" " * indent + "- "):
        return None
    if any(len(ln) - len(ln.lstrip(" ")) <= indent for ln in content[1:]):
        return None
    try:
        seq = _yaml().load(block)
    except Exception:  # YAMLError, duplicate keys...: the whole text's check says it best
        return None
    if not isinstance(seq, CommentedSeq) or len(seq) != 1 or not isinstance(seq[0], CommentedMap):
        return None
    for name, value in _anchored(seq[0]).items():
        if name not in defined or value != known.get(name):
            return None  # the item changed what other items share with it
    name = str(current.path)
    loc = _Located(name, new_text, line_offset=block_line - 1)
    il, ic = seq.lc.item(0)
    data = loc.convert(seq[0], ("watch", index), (il + block_line, ic + 1))
    new_id = data.get("id")
    others = current.config.watch
    old_id = others[index].id if index < len(others) else None
    if any(w.id == new_id for j, w in enumerate(others) if j != index):
        return None  # monitor check reports it at whichever of the two comes second
    renamed = old_id is not None and new_id != old_id
    if renamed and any(old_id in (d.watch or ()) for d in current.config.digests):
        return None  # the digest naming it is reported, elsewhere in the file
    model: WatchItem | None = None
    try:
        model = WatchItem.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            _report_pydantic(loc, {**err, "loc": ("watch", index, *err["loc"])})
    compiled = _compile_item(loc, index, data, current.matcher.aliases)
    problems = sorted(loc.problems, key=lambda p: (p.line, p.column))
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    if model is None or compiled is None:
        return None
    return CheckedItem(model, compiled, tuple(problems))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``watchlist.yaml`` (for editors: yaml-language-server, VS Code)."""
    schema = Watchlist.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Catalyst Monitor watchlist.yaml"
    return schema


def render_problem(problem: ConfigProblem, text: str) -> str:
    """``file:line:col: message`` followed by the offending line and a caret under the spot."""
    lines = text.splitlines()
    out = str(problem)
    if 1 <= problem.line <= len(lines):
        src = lines[problem.line - 1].rstrip()
        col = max(1, min(problem.column, len(src) + 1))
        width = max(1, min(problem.length, len(src) - col + 1))
        gutter = f"{problem.line:5d} | "
        pad = "".join(c if c == "\t" else " " for c in src[: col - 1])
        out += f"\n{gutter}{src}\n{' ' * (len(gutter) - 2)}| {pad}{'^' * width}"
    return out


def _report_pydantic(loc: _Located, err: Any) -> None:
    # Drop the union tags of MatchField/AliasField ("query"/"other") from the location.
    path = tuple(p for p in err["loc"] if p not in ("query", "other"))
    kind = err["type"]
    where = ".".join(str(p) for p in path) or "(top level)"
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(loc, path[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        msg = f"unknown key {key!r} in {'.'.join(map(str, path[:-1])) or 'the top level'}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        elif allowed:
            msg += f" (allowed: {', '.join(sorted(allowed))})"
        loc.problem(path, msg, key=True)
    elif kind == "missing":
        loc.problem(
            path[:-1],
            f"{'.'.join(map(str, path[:-1])) or 'the watchlist'}: missing required key {path[-1]!r}",
        )
    elif kind == "string_pattern_mismatch" and path and path[-1] == "id":
        loc.problem(
            path,
            f"{where}: invalid id {err.get('input')!r}: use lower-case letters, digits, '-', '_' or '.'",
        )
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        loc.problem(path, f"{where}: {msg}")


def _allowed_keys(loc: _Located, parent: Path_) -> list[str]:
    """The keys the model at ``parent`` accepts, for did-you-mean hints."""
    model: type[BaseModel] | None = Watchlist
    for part in parent:
        if isinstance(part, int) or model is None:
            continue
        f = model.model_fields.get(part)
        if f is None:
            return []
        model = _model_of(f.annotation)
    return list(model.model_fields) if model else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def _items(data: Any, section: str) -> list[tuple[int, dict[str, Any]]]:
    seq = data.get(section) if isinstance(data, dict) else None
    if not isinstance(seq, list):
        return []
    return [(i, item) for i, item in enumerate(seq) if isinstance(item, dict)]


def _check_semantics(loc: _Located, data: Any) -> None:
    """Checks that span several keys: unique ids, references, cron, webhooks.

    Reads the raw data defensively, so it runs even when the schema check failed and a
    user sees every problem of the file at once.
    """
    for section in ("feeds", "watch", "digests"):
        seen: dict[str, int] = {}
        for i, item in _items(data, section):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in seen:
                loc.problem(
                    (section, i, "id"),
                    f"duplicate {section} id {ident!r} (already used by item {seen[ident] + 1} of {section})",
                )
            else:
                seen[ident] = i
    watch_ids = [w["id"] for _, w in _items(data, "watch") if isinstance(w.get("id"), str)]
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    try:
        tz = ZoneInfo(str(settings.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")  # the bad name itself is reported by the schema check
    for i, d in _items(data, "digests"):
        did = d.get("id", f"#{i + 1}")
        watch = d.get("watch")
        for j, wid in enumerate(watch if isinstance(watch, list) else []):
            if isinstance(wid, str) and wid not in watch_ids:
                hint = difflib.get_close_matches(wid, watch_ids, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                loc.problem(
                    ("digests", i, "watch", j),
                    f"digest {did!r} names unknown watch item {wid!r}{extra}",
                )
        schedule = d.get("schedule")
        if isinstance(schedule, str):
            try:
                cron_trigger(schedule, tz)
            except ValueError as exc:
                loc.problem(
                    ("digests", i, "schedule"),
                    f"digest {did!r}: invalid cron schedule {schedule!r}: {exc}",
                )
        hook = d.get("webhook")
        if not isinstance(hook, dict):
            continue
        url = hook.get("url")
        url = url.strip() if isinstance(url, str) else ""
        if not url:
            loc.problem(
                ("digests", i, "webhook", "url"),
                f"digest {did!r}: webhook url is empty, so deliveries are disabled "
                "(digests are still built, recorded and logged)",
                severity="warning",
            )
        elif hook.get("format") == "apprise":
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S", url):
                loc.problem(
                    ("digests", i, "webhook", "url"),
                    f"digest {did!r}: with format apprise the url is an Apprise URL "
                    "(e.g. mailto://user:pass@example.com, ntfy://topic, json://host/path)",
                )
            elif importlib.util.find_spec("apprise") is None:
                loc.problem(
                    ("digests", i, "webhook", "format"),
                    f"digest {did!r}: format apprise needs the Apprise package: "
                    "pip install 'catalyst-monitor[apprise]' (deliveries fail until then)",
                    severity="warning",
                )
        elif not re.match(r"^https?://[^\s/]+", url):
            loc.problem(
                ("digests", i, "webhook", "url"),
                f"digest {did!r}: webhook url must start with http:// or https://",
            )
        elif not hook.get("secret"):
            loc.problem(
                ("digests", i, "webhook", "secret"),
                f"digest {did!r}: no signing secret, so deliveries will not be signed",
                severity="warning",
            )


def _compile(loc: _Located, data: Any) -> Matcher:
    """Aliases, then every watch item's query; each problem is reported where it is."""
    aliases = _compile_aliases(loc, data)
    items = []
    for i, w in _items(data, "watch"):
        compiled = _compile_item(loc, i, w, aliases)
        if compiled is not None:
            items.append(compiled)
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    thesis = settings.get("thesis_date")
    if isinstance(thesis, str):
        try:
            thesis = date.fromisoformat(thesis)
        except ValueError:
            thesis = None
    cues = data.get("stance_cues") if isinstance(data.get("stance_cues"), dict) else {}
    extra = {
        k: [str(x) for x in v] for k, v in cues.items() if k in STANCES and isinstance(v, list)
    }
    stance = Stance.build(extra, thesis if isinstance(thesis, date) else None)
    return Matcher(tuple(items), stance, aliases)


def _compile_item(
    loc: _Located, i: int, w: dict[str, Any], aliases: dict[str, Node]
) -> CompiledItem | None:
    """Watch item ``i``'s query, exclude and known facts (None when its match failed)."""
    wid = str(w.get("id", ""))
    query = _compile_match(loc, ("watch", i, "match"), w.get("match"), aliases)
    exclude = _compile_query(loc, ("watch", i, "exclude"), w.get("exclude"), aliases)
    facts: list[Node] = []
    raw_facts = w.get("known_facts")
    for j, fact in enumerate(raw_facts if isinstance(raw_facts, list) else []):
        node = _compile_query(loc, ("watch", i, "known_facts", j), fact, aliases)
        if node is not None:
            facts.append(node)
    if query is None:
        return None
    why = never_matches(query)
    if why:
        loc.problem(
            ("watch", i, "match"),
            f"watch item {wid!r} can never match: {why}",
            severity="warning",
        )
    raw_sources = w.get("sources")
    sources: dict[str, Any] = raw_sources if isinstance(raw_sources, dict) else {}
    min_score = w.get("min_score", 0)
    try:
        max_age = parse_duration(w["alert_max_age"]) if w.get("alert_max_age") else None
    except ValueError:
        max_age = None  # reported by the schema check
    return CompiledItem(
        wid,
        query,
        exclude=exclude,
        sources_allow=tuple(str(x) for x in sources.get("allow") or ()),
        sources_deny=tuple(str(x) for x in sources.get("deny") or ()),
        min_score=min_score if isinstance(min_score, int) else 0,
        alert_max_age=max_age,
        known_facts=(facts[0] if len(facts) == 1 else Or(tuple(facts))) if facts else None,
    )


def _compile_aliases(loc: _Located, data: Any) -> dict[str, Node]:
    """Every alias as a query tree; aliases may use earlier or later aliases, not themselves."""
    raw = data.get("aliases") if isinstance(data.get("aliases"), dict) else {}
    done: dict[str, Node] = {}
    failed: set[str] = set()

    def build(name: str, stack: tuple[str, ...]) -> None:
        if name in done or name in failed:
            return
        value = raw[name]
        refs = re.findall(r"@([A-Za-z0-9_][A-Za-z0-9_.-]*)", str(value))
        for ref in refs:
            if ref in stack or ref == name:
                loc.problem(
                    ("aliases", name),
                    f"alias @{name} refers to itself through {' -> @'.join((name, *stack[stack.index(ref) if ref in stack else 0 :], ref))}",
                )
                failed.add(name)
                return
            if ref in raw:
                build(ref, (*stack, name))
        node = _compile_query(loc, ("aliases", name), value, done, as_list=isinstance(value, list))
        if node is None:
            failed.add(name)
        else:
            done[name] = node

    for name in raw:
        build(name, ())
    return done


def _compile_match(loc: _Located, path: Path_, spec: Any, aliases: dict[str, Node]) -> Node | None:
    if isinstance(spec, str):
        return _compile_query(loc, path, spec, aliases)
    if not isinstance(spec, dict):
        return None
    groups: dict[str, list[Node]] = {}
    ok = True
    for key in ("any", "all", "none"):
        terms = spec.get(key, [])
        groups[key] = []
        for j, t in enumerate(terms if isinstance(terms, list) else []):
            if not isinstance(t, str):
                continue
            node = _compile_query(loc, (*path, key, j), t, aliases, as_list=True)
            if node is None:
                ok = False
            else:
                groups[key].append(node)
    if not groups["any"] and not groups["all"]:
        if ok and set(spec) <= {"any", "all", "none"}:  # else the unknown key is the news
            loc.problem(path, "match needs an 'any' or an 'all' list (or both)")
        return None
    if not ok:
        return None
    parts: list[Node] = []
    if groups["any"]:
        parts.append(Or(tuple(groups["any"])))
    parts.extend(groups["all"])
    if groups["none"]:
        parts.append(Not(Or(tuple(groups["none"]))))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _compile_query(
    loc: _Located,
    path: Path_,
    value: Any,
    aliases: dict[str, Node],
    *,
    as_list: bool = False,
) -> Node | None:
    """A query string (or, with ``as_list``, a list element / list of phrases) as a tree."""
    if value is None:
        return None
    try:
        if isinstance(value, list):
            nodes: list[Node] = []
            for j, t in enumerate(value):
                sub = _compile_query(loc, (*path, j), t, aliases, as_list=True)
                if sub is None:
                    return None
                nodes.append(sub)
            if not nodes:
                loc.problem(path, "an empty list matches nothing")
                return None
            return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))
        if not isinstance(value, str):
            return None
        if as_list and not value.strip().startswith("@"):
            if not tokenize(value.rstrip("*")):
                loc.problem(path, f"term {value!r} has no letters or digits to match")
                return None
            (node,) = parse_term_list([value], aliases)
            return node
        return parse_query(value, aliases)
    except QueryError as exc:
        line, col = loc.offset_position(path, value if isinstance(value, str) else "", exc.offset)
        loc.problems.append(
            ConfigProblem(loc.file, line, col, f"{_dotted(path)}: {exc.message}", length=exc.length)
        )
        return None


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_dow(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3's terms.

    Crontab counts 0 (or 7) = Sunday, 1 = Monday; APScheduler 3's ``from_crontab`` passes
    numbers through in its own scheme (0 = Monday), which would shift every digest by a
    day. Numbers, ranges and steps are expanded into day names, which both agree on.
    """
    out: list[str] = []
    for part in field.split(","):
        base, _, step_s = part.partition("/")
        step = int(step_s) if step_s.isdigit() and int(step_s) > 0 else None
        if step_s and step is None:
            raise ValueError(f"invalid day-of-week step in {part!r}")
        if base == "*" and step is None:
            return "*"
        if base == "*":
            lo, hi = 0, 6
        elif re.fullmatch(r"\d+-\d+", base):
            lo, hi = (int(x) for x in base.split("-"))
        elif base.isdigit():
            lo = hi = int(base)
            if step is not None:
                hi = 6
        else:
            out.append(part)  # names ("mon-fri"): the same in both
            continue
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
            raise ValueError(f"day-of-week {part!r} out of range 0-7 (0 and 7 are Sunday)")
        out.extend(_DOW_NAMES[d] for d in range(lo, hi + 1, step or 1))
    return ",".join(dict.fromkeys(out))


def cron_trigger(expr: str, tz: ZoneInfo) -> Any:
    """APScheduler's CronTrigger for a crontab expression in ``tz``.

    Five fields as in crontab (minute hour day-of-month month day-of-week), or six with
    seconds first (as Quartz and Spring write it) for schedules finer than a minute.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first"
        )
    second, minute, hour, day, month, dow = fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_dow(dow),
        timezone=tz,
    )
