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
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from monitor.errors import ConfigError, ConfigProblem
from monitor.match import CompiledItem, Matcher, compile_match, tokenize
from monitor.sources import bing_news_rss, google_news_rss

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


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Id = Annotated[str, Field(pattern=_ID_RE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    any: list[str] = []
    all: list[str] = []
    none: list[str] = []


class WatchItem(_Model):
    id: Id
    name: str
    look_for: str = ""
    why: str = ""
    match: MatchSpec
    priority: Literal["normal", "high"] = "normal"


class Webhook(_Model):
    url: str = ""
    format: Literal["json"] = "json"
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


class Watchlist(_Model):
    version: Literal[1] = 1
    settings: Settings = Settings()
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

    def __init__(self, file: str) -> None:
        self.file = file
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

    def convert(self, node: Any, path: Path_, pos: tuple[int, int]) -> Any:
        self.values[path] = pos
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for k in node:
                kl, kc = node.lc.key(k)
                vl, vc = node.lc.value(k)
                self.keys[(*path, str(k))] = (kl + 1, kc + 1)
                out[str(k)] = self.convert(node[k], (*path, str(k)), (vl + 1, vc + 1))
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for i, item in enumerate(node):
                il, ic = node.lc.item(i)
                items.append(self.convert(item, (*path, i), (il + 1, ic + 1)))
            return items
        if isinstance(node, str):
            return self._substitute(str(node), path)
        return node

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


def _yaml() -> YAML:
    y = YAML(typ="rt")
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
    """Read, substitute, validate and compile a watchlist, or raise ConfigError with every problem."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(name, 1, 1, f"cannot read watchlist: {exc.strerror or exc}")]
        ) from exc
    return load_watchlist_text(raw.decode("utf-8", errors="replace"), path)


def load_watchlist_text(text: str, path: Path) -> LoadedWatchlist:
    name = str(path)
    loc = _Located(name)
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
    data = loc.convert(tree, (), (tree.lc.line + 1, tree.lc.col + 1))

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
    revision = hashlib.sha256(text.encode()).hexdigest()[:12]
    return LoadedWatchlist(
        config=config,
        path=path,
        revision=revision,
        database_url=resolve_database_url(config.settings.database, path.resolve().parent),
        matcher=matcher,
        warnings=tuple(loc.problems),
        text=text,
    )


def _report_pydantic(loc: _Located, err: Any) -> None:
    path = tuple(err["loc"])
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
    """Every watch item's query; a term that cannot match anything is reported where it is."""
    items = []
    for i, w in _items(data, "watch"):
        spec = w.get("match")
        if not isinstance(spec, dict):
            continue
        lists: dict[str, list[str]] = {}
        for key in ("any", "all", "none"):
            terms = spec.get(key, [])
            lists[key] = [t for t in terms if isinstance(t, str)] if isinstance(terms, list) else []
            for j, t in enumerate(lists[key]):
                if not tokenize(t.rstrip("*")):
                    loc.problem(
                        ("watch", i, "match", key, j),
                        f"term {t!r} has no letters or digits to match",
                    )
        if not lists["any"] and not lists["all"]:
            loc.problem(("watch", i, "match"), "match needs an 'any' or an 'all' list (or both)")
            continue
        try:
            query = compile_match(lists["any"], lists["all"], lists["none"])
        except ValueError:
            continue  # reported above, term by term
        items.append(CompiledItem(str(w.get("id", "")), query))
    return Matcher(tuple(items))


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
