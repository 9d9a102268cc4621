"""`monitor feeds import FILE.opml` / `monitor feeds export`, through the real CLI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from monitor.cli import build_parser, main
from monitor.cli_opml import read_opml, slug
from monitor.watchlist import load_watchlist

WATCHLIST = """\
# My thesis watchlist: keep this comment
version: 1
settings:
  database: monitor.db
feeds:
  # the primary source
  - id: meta-newsroom
    url: https://about.fb.com/news/feed/
    tags: [primary]
watch:
  - id: api
    name: API
    look_for: API access.
    why: Revenue.
    match:
      any: ["Muse Spark API"]
digests:
  - id: daily
    schedule: "0 8 * * *"
    webhook:
      url: ${MONITOR_WEBHOOK_URL:-}
      secret: ${MONITOR_WEBHOOK_SECRET:-}
"""

OPML = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Feedly export</title></head>
  <body>
    <outline text="Tech" title="Tech">
      <outline type="rss" text="The Verge" title="The Verge" xmlUrl="https://www.theverge.com/rss/index.xml" htmlUrl="https://www.theverge.com/"/>
      <outline type="rss" text="Meta Newsroom" xmlUrl="https://about.fb.com/news/feed/"/>
      <outline type="rss" text="Ars Technica" xmlUrl="https://feeds.arstechnica.com/arstechnica/index" category="/ai,/science"/>
    </outline>
    <outline type="rss" text="The Verge" xmlUrl="https://www.theverge.com/rss/ai/index.xml"/>
    <outline type="rss" text="Zürich News — Tech" xmlUrl="https://news.example.ch/feed"/>
    <outline type="rss" text="Gopher" xmlUrl="gopher://old.example/feed"/>
  </body>
</opml>
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("MONITOR_WEBHOOK_URL", raising=False)
    wl = tmp_path / "watchlist.yaml"
    wl.write_text(WATCHLIST)
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML)
    return wl, opml


def test_import_adds_new_feeds_and_keeps_comments_and_variables(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wl, opml = files
    assert main(["feeds", "import", str(opml), "--config", str(wl)]) == 0
    _out, err = capsys.readouterr()
    assert "added 4 feed(s); 1 already listed, 1 skipped" in err
    assert "gopher://old.example/feed" in err
    text = wl.read_text()
    assert text.startswith("# My thesis watchlist: keep this comment\n")
    assert "  # the primary source\n" in text
    assert "url: ${MONITOR_WEBHOOK_URL:-}" in text and "${MONITOR_WEBHOOK_SECRET:-}" in text
    feeds = {f.id: f for f in load_watchlist(wl).config.feeds}
    assert set(feeds) == {
        "meta-newsroom",
        "the-verge",
        "the-verge-2",
        "ars-technica",
        "zurich-news-tech",
    }
    assert feeds["the-verge"].tags == ["Tech"]
    assert feeds["ars-technica"].tags == ["Tech", "ai", "science"]
    assert feeds["the-verge-2"].url == "https://www.theverge.com/rss/ai/index.xml"
    assert feeds["meta-newsroom"].tags == ["primary"]  # untouched

    # Importing the same file again adds nothing and leaves the file alone.
    before = wl.read_text()
    assert main(["feeds", "import", str(opml), "--config", str(wl)]) == 0
    assert "added 0 feed(s); 5 already listed" in capsys.readouterr().err
    assert wl.read_text() == before


def test_dry_run_writes_nothing(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wl, opml = files
    assert main(["feeds", "import", str(opml), "--dry-run", "--config", str(wl)]) == 0
    out, _ = capsys.readouterr()
    assert "would add the-verge: https://www.theverge.com/rss/index.xml" in out
    assert wl.read_text() == WATCHLIST


def test_export_round_trips_through_import(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wl, opml = files
    main(["feeds", "import", str(opml), "--config", str(wl)])
    capsys.readouterr()
    assert main(["feeds", "export", "--config", str(wl)]) == 0
    exported, _ = capsys.readouterr()
    root = ET.fromstring(exported)
    assert root.tag == "opml" and root.get("version") == "2.0"
    urls = {o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")}
    assert urls == {f.url for f in load_watchlist(wl).config.feeds}
    subs = {s.url: s for s in read_opml_text(exported, tmp_path)}
    assert subs["https://feeds.arstechnica.com/arstechnica/index"].tags == ("Tech", "ai", "science")
    assert subs["https://about.fb.com/news/feed/"].tags == ("primary",)


def read_opml_text(text: str, tmp_path: Path):
    p = tmp_path / "round.opml"
    p.write_text(text)
    return read_opml(p)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<opml><body><outline", "not well-formed OPML"),
        ("<rss/>", "not an OPML document"),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>',
            "DOCTYPE/ENTITY is not accepted",
        ),
    ],
)
def test_bad_opml_is_refused_with_its_location(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    wl, opml = files
    opml.write_text(content)
    assert main(["feeds", "import", str(opml), "--config", str(wl)]) == 2
    err = capsys.readouterr().err
    assert str(opml) in err and message in err
    assert wl.read_text() == WATCHLIST


def test_missing_file(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    wl, opml = files
    assert main(["feeds", "import", str(opml) + ".nope", "--config", str(wl)]) == 2
    assert "cannot read OPML" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("title", "expected"),
    [("The Verge", "the-verge"), ("Zürich — Tech!", "zurich-tech"), ("", "feed"), ("日本", "feed")],
)
def test_slug(title: str, expected: str) -> None:
    assert slug(title) == expected


def test_feeds_group_is_shared_with_other_modules() -> None:
    """A `feeds` group another module created keeps its actions when ours are added."""
    import argparse

    from monitor import cli_opml

    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    feeds = sub.add_parser("feeds").add_subparsers(dest="feeds_command")
    feeds.add_parser("add")
    cli_opml.register(sub, common)
    assert set(feeds.choices) == {"add", "import", "export"}
    # and the real parser has them
    real = build_parser()
    args = real.parse_args(["feeds", "export"])
    assert args.fn.__name__ == "cmd_feeds_export"
