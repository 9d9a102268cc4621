"""``monitor feeds import FILE.opml`` and ``monitor feeds export``: OPML in and out.

Owns reading OPML subscription lists (the format every feed reader exports: Feedly,
Miniflux, Inoreader, NetNewsWire, newsboat) into ``feeds:`` of ``watchlist.yaml`` through
``monitor.watchlist_edit`` (validated, comments and ``${VAR}`` kept, atomic), and writing
the watchlist's feeds as OPML 2.0. Folders become tags, both ways.

The ``feeds`` command group may also be created by another module (``monitor feeds add``);
``register`` adds to it if it exists (see ``cli_ops.subgroup``).
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from monitor.cli_ops import subgroup
from monitor.errors import ConfigError, ConfigProblem
from monitor.watchlist import config_path, load_watchlist

MAX_OPML_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Subscription:
    title: str
    url: str
    tags: tuple[str, ...]


def read_opml(path: Path) -> list[Subscription]:
    """Every outline with an ``xmlUrl``, with the folder titles above it as tags.

    OPML never needs a DTD: a document with one is refused (no entity tricks).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, f"cannot read OPML: {exc.strerror or exc}")]
        ) from exc
    if len(data) > MAX_OPML_BYTES:
        raise ConfigError([ConfigProblem(str(path), 1, 1, "OPML file larger than 5 MiB")])
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, "OPML with a DOCTYPE/ENTITY is not accepted")]
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        raise ConfigError(
            [ConfigProblem(str(path), line, col + 1, f"not well-formed OPML: {exc}")]
        ) from exc
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, "not an OPML document (no <opml><body>)")]
        )
    found: list[Subscription] = []

    def walk(node: ET.Element, folders: tuple[str, ...]) -> None:
        for child in node.findall("outline"):
            label = (child.get("title") or child.get("text") or "").strip()
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            if url:
                cats = tuple(
                    c.strip("/ ") for c in (child.get("category") or "").split(",") if c.strip("/ ")
                )
                found.append(Subscription(label or url, url, tuple(dict.fromkeys(folders + cats))))
            walk(child, folders + ((label,) if label and not url else ()))

    walk(body, ())
    return found


def slug(text: str) -> str:
    """A feed id from a title: lower-case ASCII words joined by '-', at most 48 characters."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:48].strip("-")
    return s or "feed"


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from monitor.watchlist_edit import add_feeds  # only here: ruamel's writer side

    path = config_path(args.config)
    wl = load_watchlist(path)
    subs = read_opml(Path(args.file))
    have_urls = {f.url for f in wl.config.feeds}
    ids = {f.id for f in wl.config.feeds}
    new: list[dict[str, Any]] = []
    skipped_dup, skipped_bad = [], []
    for sub in subs:
        if not re.match(r"^https?://[^\s/]+", sub.url):
            skipped_bad.append(sub)
            continue
        if sub.url in have_urls:
            skipped_dup.append(sub)
            continue
        base = slug(sub.title)
        fid, n = base, 2
        while fid in ids:
            fid, n = f"{base}-{n}", n + 1
        ids.add(fid)
        have_urls.add(sub.url)
        item: dict[str, Any] = {"id": fid, "url": sub.url}
        if sub.tags:
            item["tags"] = list(sub.tags)
        new.append(item)
    for sub in skipped_bad:
        print(f"skipped (not an http(s) URL): {sub.title}: {sub.url}", file=sys.stderr)
    if args.dry_run:
        for item in new:
            print(f"would add {item['id']}: {item['url']}")
    elif new:
        _, added = add_feeds(path, new)
        for item in new:
            if item["id"] in added:
                print(f"added {item['id']}: {item['url']}")
    verb = "would add" if args.dry_run else "added"
    print(
        f"{path}: {verb} {len(new)} feed(s); {len(skipped_dup)} already listed, "
        f"{len(skipped_bad)} skipped",
        file=sys.stderr,
    )
    return 0


def opml_text(feeds: list[tuple[str, str, list[str]]], title: str) -> str:
    """OPML 2.0: folders by each feed's first tag, untagged feeds at the top level."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for fid, url, tags in feeds:
        parent = body
        if tags:
            if tags[0] not in folders:
                folders[tags[0]] = ET.SubElement(body, "outline", text=tags[0], title=tags[0])
            parent = folders[tags[0]]
        attrs = {"type": "rss", "text": fid, "title": fid, "xmlUrl": url}
        if len(tags) > 1:
            attrs["category"] = ",".join("/" + t for t in tags[1:])
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def cmd_feeds_export(args: argparse.Namespace) -> int:
    wl = load_watchlist(config_path(args.config))
    feeds = [(f.id, f.url, list(f.tags)) for f in wl.config.feeds if f.enabled or args.all]
    text = opml_text(feeds, f"Catalyst Monitor feeds ({wl.path.name})")
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(feeds)} feed(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    feeds = subgroup(sub, "feeds", "manage the watchlist's feeds", common)
    p = feeds.add_parser(
        "import", parents=[common], help="add the feeds of an OPML file to watchlist.yaml"
    )
    p.add_argument("file", metavar="FILE.opml")
    p.add_argument("--dry-run", action="store_true", help="print what would be added")
    p.set_defaults(fn=cmd_feeds_import)
    p = feeds.add_parser("export", parents=[common], help="write the watchlist's feeds as OPML")
    p.add_argument("-o", "--output", metavar="FILE", help="default: stdout")
    p.add_argument("--all", action="store_true", help="include disabled feeds")
    p.set_defaults(fn=cmd_feeds_export)
