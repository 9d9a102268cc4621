"""The rule editor: form and YAML modes, errors as `monitor check` prints them, the live
preview's counts, saving (only the item's block changes, backup, conflicts), and a
running daemon applying a rule saved through the page."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from pytest_httpserver import HTTPServer

from monitor.backtest import run_backtest, update_index
from monitor.watchlist import load_watchlist
from monitor.watchlist_edit import find_block, revision_of, splice_item, watch_blocks
from tests.support import FeedFile, Item
from tests.ui_edit_support import WATCHLIST, EditApp, edit_app, entry, seed
from tests.ui_support import client

TOKEN = "edit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _previews_answer_when_done(monkeypatch: pytest.MonkeyPatch) -> None:
    """A preview's request waits for its run up to ``ANSWER_WAIT`` (0.12 s), then answers
    "counting" and the page asks again. These tests read the counts from one answer, so
    they wait as long as the run takes (on a loaded machine a tiny store's run may take
    longer than 0.15 s); the "counting" path has its own test below."""
    from monitor.ui import editor

    monkeypatch.setattr(editor, "ANSWER_WAIT", 30.0)


def _yaml_of(page: str) -> str:
    m = re.search(r'<textarea id="rule-yaml" name="yaml"[^>]*>(.*?)</textarea>', page, re.S)
    assert m, page
    return html.unescape(m.group(1))


def _revision(page: str) -> str:
    m = re.search(r'name="revision" value="(\w+)"', page)
    assert m
    return m.group(1)


def _form(page: str) -> dict[str, str]:
    """The form's fields as a browser would post them (inputs, textareas, selects, radios)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"<input ([^>]*)>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if "name" not in attrs:
            continue
        if attrs.get("type") == "radio" and "checked" not in m.group(1):
            continue
        out[attrs["name"]] = html.unescape(attrs.get("value", ""))
    for m in re.finditer(r'<textarea[^>]*name="(\w+)"[^>]*>(.*?)</textarea>', page, re.S):
        out[m.group(1)] = html.unescape(m.group(2))
    for m in re.finditer(r'<select name="(\w+)">(.*?)</select>', page, re.S):
        sel = re.search(r'<option value="(\w+)" selected', m.group(2))
        out[m.group(1)] = sel.group(1) if sel else ""
    return out


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- pages ----------------------------------------------------------------------------------


def test_the_editor_shows_the_item_as_a_form_and_as_its_exact_yaml_block(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app)
    r = c.get("/catalysts/api-broadening/edit")
    assert r.status_code == 200
    assert (
        'id="rule-form"' in r.text and 'hx-post="/catalysts/api-broadening/edit/preview"' in r.text
    )
    assert 'hx-trigger="input changed delay:400ms"' in r.text
    assert 'id="save"' in r.text and 'id="preview"' in r.text
    form = _form(r.text)
    assert form["name"] == "API broadening"
    assert form["match_kind"] == "lists"
    assert form["match_any"] == "Muse Spark API\nMuse API"
    assert form["priority"] == "high"
    assert form["revision"] == revision_of(ui.path.read_text())

    y = c.get("/catalysts/api-broadening/edit?mode=yaml")
    assert y.status_code == 200
    text = ui.path.read_text()
    block = find_block(text, "api-broadening")
    assert block is not None
    assert _yaml_of(y.text) == block.text(text)
    assert "# a comment inside the item" in _yaml_of(y.text)
    assert "heading comment" not in _yaml_of(y.text)  # belongs to what precedes the item

    g = c.get("/catalysts/glasses-rollout/edit")
    assert _form(g.text)["match"] == '"Ray-Ban Meta" AND Muse'
    assert _form(g.text)["expected_by"] == "2026-12-31"


def test_unknown_item_is_a_404_page(tmp_path: Path) -> None:
    c = client(edit_app(tmp_path).app)
    r = c.get("/catalysts/nope/edit")
    assert r.status_code == 404 and "no watch item &#39;nope&#39;" in r.text


def test_new_item_page(tmp_path: Path) -> None:
    c = client(edit_app(tmp_path).app)
    r = c.get("/catalysts/new")
    assert r.status_code == 200 and "New watch item" in r.text
    assert 'hx-post="/catalysts/new/preview"' in r.text


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/catalysts/api-broadening/edit"),
        ("GET", "/catalysts/new"),
        ("POST", "/catalysts/api-broadening/edit/preview"),
        ("POST", "/catalysts/api-broadening/edit"),
        ("POST", "/catalysts/new"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_every_editor_route_needs_the_token(
    tmp_path: Path, method: str, url: str, headers: dict[str, str]
) -> None:
    ui = edit_app(tmp_path, token=TOKEN)
    before = ui.path.read_text()
    r = client(ui.app).request(method, url, headers=headers, data={"mode": "form", "name": "x"})
    assert r.status_code == 401
    assert ui.path.read_text() == before and not ui.saved


# --- saving ---------------------------------------------------------------------------------


def test_saving_the_form_changes_only_the_items_block(tmp_path: Path) -> None:
    ui = edit_app(tmp_path, token=TOKEN)
    c = client(ui.app, headers=AUTH, follow_redirects=False)
    old = ui.path.read_text()
    form = _form(c.get("/catalysts/glasses-rollout/edit").text)
    form.update(name="Glasses rollout (EU)", expected_by="2027-03-31", min_score="2")
    form["action"] = "save"
    r = c.post("/catalysts/glasses-rollout/edit", data=form)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/catalysts/glasses-rollout?flash=Saved")
    new = ui.path.read_text()
    expected = old.replace("name: Glasses rollout\n", "name: Glasses rollout (EU)\n").replace(
        "    expected_by: 2026-12-31 # end of year\n",
        "    expected_by: 2027-03-31 # end of year\n    min_score: 2\n",
    )
    assert new == expected
    assert (tmp_path / "watchlist.yaml.bak").read_text() == old
    assert ui.saved == [1]
    check = _check(ui.path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK (3 watch items" in check.stderr
    wl = load_watchlist(ui.path)
    item = next(w for w in wl.config.watch if w.id == "glasses-rollout")
    assert item.min_score == 2 and str(item.expected_by) == "2027-03-31"


def test_saving_lists_from_the_form(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    old = ui.path.read_text()
    form = _form(c.get("/catalysts/api-broadening/edit").text)
    form.update(match_any="Muse Spark API\nMuse API\nMuse developer platform", action="save")
    r = c.post("/catalysts/api-broadening/edit", data=form)
    assert r.status_code == 303, r.text
    assert ui.path.read_text() == old.replace(
        'any: ["Muse Spark API", "Muse API"]',
        'any: ["Muse Spark API", "Muse API", "Muse developer platform"]',
    )
    assert _check(ui.path).returncode == 0


def test_changing_a_shared_anchor_in_the_form_is_refused(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    old = ui.path.read_text()
    form = _form(c.get("/catalysts/api-broadening/edit").text)
    form.update(match_none="private preview\nwaitlist", action="save")
    r = c.post("/catalysts/api-broadening/edit", data=form)
    assert r.status_code == 422
    assert "YAML anchor &amp;noise" in r.text and "edit it in YAML mode" in r.text
    assert ui.path.read_text() == old


def test_saving_yaml_mode_writes_exactly_the_block(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    old = ui.path.read_text()
    page = c.get("/catalysts/api-broadening/edit?mode=yaml").text
    block = _yaml_of(page)
    edited = block.replace(
        '    match:\n      any: ["Muse Spark API", "Muse API"]',
        "    # now a query\n    match:\n      any: [\"Muse API\", 'Muse developer*']",
    )
    assert edited != block
    r = c.post(
        "/catalysts/api-broadening/edit",
        data={"mode": "yaml", "yaml": edited.replace("\n", "\r\n"), "revision": _revision(page)},
    )
    assert r.status_code == 303, r.text
    assert ui.path.read_text() == old.replace(block, edited)
    assert (tmp_path / "watchlist.yaml.bak").read_text() == old
    assert _check(ui.path).returncode == 0


def test_a_new_item_is_appended_after_the_last(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    old = ui.path.read_text()
    form = _form(c.get("/catalysts/new").text)
    form.update(
        id="pricing",
        name="Muse pricing",
        match_kind="query",
        match='"Muse API" AND (price OR pricing)',
        priority="high",
        action="save",
    )
    r = c.post("/catalysts/new", data=form)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/catalysts/pricing?flash=")
    new = ui.path.read_text()
    blocks = watch_blocks(new)
    assert [b.watch_id for b in blocks] == ["api-broadening", "glasses-rollout", "voice", "pricing"]
    added = blocks[-1].text(new)
    assert added == (
        "  - id: pricing\n    name: Muse pricing\n    priority: high\n"
        "    match: '\"Muse API\" AND (price OR pricing)'\n"
    )
    assert new.replace("\n" + added, "", 1) == old
    assert _check(ui.path).returncode == 0


def test_switching_modes_keeps_the_edit(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app)
    old = ui.path.read_text()
    form = _form(c.get("/catalysts/glasses-rollout/edit").text)
    form.update(name="Renamed", action="to-yaml")
    r = c.post("/catalysts/glasses-rollout/edit", data=form)
    assert r.status_code == 200
    assert "    name: Renamed\n" in _yaml_of(r.text)
    back = c.post(
        "/catalysts/glasses-rollout/edit",
        data={
            "mode": "yaml",
            "yaml": _yaml_of(r.text),
            "revision": form["revision"],
            "action": "to-form",
        },
    )
    assert _form(back.text)["name"] == "Renamed"
    assert ui.path.read_text() == old  # switching never writes


# --- invalid edits: the same messages as `monitor check`, nothing written --------------------


CASES = {
    "bad query syntax": ("form", {"match_kind": "query", "match": "Muse AND (WhatsApp"}),
    "unknown alias": ("form", {"match_kind": "query", "match": "Muse AND @nope"}),
    "bad date": ("form", {"expected_by": "2026-13-01"}),
    "yaml syntax": ("yaml", {"yaml": "  - id: glasses-rollout\n    name: [unclosed\n"}),
    "duplicate id": ("form", {"id": "api-broadening"}),
    "negative min_score": ("form", {"min_score": "-1"}),
    "unknown key": (
        "yaml",
        {"yaml": "  - id: glasses-rollout\n    name: G\n    nmae: x\n    match: Muse\n"},
    ),
    "bad exclude (yaml)": (
        "yaml",
        {
            "yaml": "  - id: glasses-rollout\n    name: G\n    match: Muse\n    exclude: 'a AND (b'\n"
        },
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_edits_show_check_messages_and_write_nothing(tmp_path: Path, case: str) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    old = ui.path.read_text()
    mode, change = CASES[case]
    page = c.get(f"/catalysts/glasses-rollout/edit{'?mode=yaml' if mode == 'yaml' else ''}").text
    data = _form(page)
    data.update(change)
    data["action"] = "save"
    # What monitor check says about the same file text (written elsewhere, path swapped).
    if mode == "yaml":
        candidate, _ = splice_item(old, "glasses-rollout", change["yaml"])
    else:
        from monitor.ui.editor import form_from
        from monitor.watchlist_edit import form_block

        block = form_block(old, "glasses-rollout", form_from(data))
        candidate, _ = splice_item(old, "glasses-rollout", block)
    other = tmp_path / "check" / "watchlist.yaml"
    other.parent.mkdir()
    other.write_text(candidate)
    check = _check(other)
    assert check.returncode == 1
    expected = [
        ln.replace(str(other), str(ui.path))
        for ln in check.stdout.splitlines()
        if ln.startswith(str(other)) and ": warning:" not in ln
    ]
    assert expected

    preview = c.post("/catalysts/glasses-rollout/edit/preview", data=data)
    assert preview.status_code == 200
    errors = re.search(
        r'<div id="rule-errors".*?</div>\n  </div>|<div id="rule-errors".*', preview.text, re.S
    )
    assert errors
    for line in expected:
        assert str(escape(line)) in preview.text, (line, preview.text)
    assert "count-matches" not in preview.text

    r = c.post("/catalysts/glasses-rollout/edit", data=data)
    assert r.status_code == 422
    for line in expected:
        assert str(escape(line)) in r.text
    assert ui.path.read_text() == old
    assert not (tmp_path / "watchlist.yaml.bak").exists()
    assert not ui.saved
    if mode == "yaml":  # the user's input is kept
        assert _yaml_of(r.text) == change["yaml"]
    else:
        assert str(escape(next(iter(change.values())))) in r.text


def test_errors_say_where_in_the_item(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app)
    page = c.get("/catalysts/glasses-rollout/edit?mode=yaml").text
    block = _yaml_of(page)
    bad = block.replace("match: '\"Ray-Ban Meta\" AND Muse'", "match: 'Muse AND (Ray'")
    r = c.post(
        "/catalysts/glasses-rollout/edit/preview",
        data={"mode": "yaml", "yaml": bad, "revision": _revision(page)},
    )
    assert "line 3, column" in r.text and "of this item" in r.text


def test_a_concurrent_edit_is_a_conflict_and_nothing_is_overwritten(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    c = client(ui.app, follow_redirects=False)
    form = _form(c.get("/catalysts/glasses-rollout/edit").text)
    meanwhile = ui.path.read_text().replace("# My thesis", "# Someone else's edit. My thesis")
    ui.path.write_text(meanwhile)
    form.update(name="Mine", action="save")
    r = c.post("/catalysts/glasses-rollout/edit", data=form)
    assert r.status_code == 409
    assert 'id="conflict"' in r.text and "changed since this editor loaded it" in r.text
    assert 'value="Mine"' in r.text  # the input is kept
    assert ui.path.read_text() == meanwhile
    assert not ui.saved
    p = c.post("/catalysts/glasses-rollout/edit/preview", data=form)
    assert "saving will be refused" in p.text


# --- the live preview -----------------------------------------------------------------------


def test_preview_counts_what_the_draft_adds_and_drops(tmp_path: Path, db_url: str) -> None:
    ui = edit_app(tmp_path, database=db_url)  # SQLite file and PostgreSQL
    seed(
        ui.store,
        [
            entry(1, "Muse API opens to every developer"),  # both rules
            entry(2, "Muse Spark API in private preview only"),  # vetoed by none
            entry(3, "Muse developer platform launches"),  # only the draft
            entry(4, "Muse Spark API pricing announced"),  # only the saved rule
            entry(5, "<script>alert(1)</script> Muse developer tools", link="javascript:alert(1)"),
            entry(6, "Nothing about it"),
        ],
    )
    c = client(ui.app)
    page = c.get("/catalysts/api-broadening/edit?mode=yaml").text
    block = _yaml_of(page)
    draft = block.replace(
        'any: ["Muse Spark API", "Muse API"]', 'any: ["Muse API", "Muse developer"]'
    )
    r = c.post(
        "/catalysts/api-broadening/edit/preview",
        data={"mode": "yaml", "yaml": draft, "revision": _revision(page)},
    )
    assert r.status_code == 200
    assert '<span id="count-matches">3</span>' in r.text  # 1, 3, 5
    assert '<span id="count-adds">2</span>' in r.text  # 3, 5
    assert '<span id="count-drops">1</span>' in r.text  # 4
    assert 'id="adds-entry-3"' in r.text and 'id="adds-entry-5"' in r.text
    assert 'id="drops-entry-4"' in r.text
    assert "<mark>Muse developer</mark> platform launches" in r.text
    assert "<script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "javascript:" not in r.text

    # The same numbers as the backtest machinery with the live matcher.
    wl = load_watchlist(ui.path)
    update_index(ui.store)
    saved = run_backtest(ui.store, wl.matcher.items[0], wl.matcher, None)
    assert set(saved.hits) == {1, 4}
    # The unchanged rule: nothing added or dropped.
    same = c.post(
        "/catalysts/api-broadening/edit/preview",
        data={"mode": "yaml", "yaml": block, "revision": _revision(page)},
    )
    assert '<span id="count-matches">2</span>' in same.text
    assert '<span id="count-adds">0</span>' in same.text
    assert '<span id="count-drops">0</span>' in same.text


def _counts(text: str) -> tuple[int, int, int]:
    got = [
        re.search(rf'<span id="count-{k}">(\d+)</span>', text) for k in ("matches", "adds", "drops")
    ]
    assert all(got), text
    return tuple(int(m.group(1)) for m in got if m)  # type: ignore[return-value]


def test_preview_caches_follow_new_entries_and_each_draft(tmp_path: Path) -> None:
    """The preview keeps parsed entries and what each rule branch matched between
    keystrokes: entries stored after a preview are counted by the next one, and every
    draft of a run of keystrokes counts what a fresh engine (and the live matcher) counts."""
    from monitor.ui import editor

    ui = edit_app(tmp_path)
    seed(
        ui.store,
        [
            entry(1, "Muse API opens to every developer"),
            entry(2, "Muse Spark API in private preview only"),
            entry(3, "Muse developer platform launches"),
            entry(4, "Muse Spark API pricing announced"),
        ],
    )
    c = client(ui.app)
    page = c.get("/catalysts/api-broadening/edit?mode=yaml").text
    block, rev = _yaml_of(page), _revision(page)
    old_any = 'any: ["Muse Spark API", "Muse API"]'
    drafts = [
        block,
        block.replace(old_any, 'any: ["Muse Spark API", "Muse API", "Muse d"]'),
        block.replace(old_any, 'any: ["Muse Spark API", "Muse API", "Muse developer"]'),
        block.replace(old_any, 'any: ["Muse API", "Muse developer"]'),
        block.replace(old_any, 'any: ["Muse API", "Muse developer*", pricing]'),
        block.replace('none: &noise ["private preview"]', 'none: &noise ["private"]'),
    ]

    def preview(yaml: str) -> tuple[int, int, int]:
        r = c.post(
            "/catalysts/api-broadening/edit/preview",
            data={"mode": "yaml", "yaml": yaml, "revision": rev},
        )
        assert r.status_code == 200, r.text
        return _counts(r.text)

    warm = [preview(d) for d in drafts]
    editor._ENGINES.clear()
    assert [preview(d) for d in drafts] == warm  # fresh engine per run of keystrokes
    cold = []
    for d in drafts:
        editor._ENGINES.clear()
        cold.append(preview(d))
    assert cold == warm
    assert warm[0] == (2, 0, 0) and warm[3] == (2, 1, 1)

    # New entries after the caches are warm: counted by the next preview.
    before = preview(drafts[3])
    seed(
        ui.store,
        [
            entry(7, "Muse developer kit ships"),  # the draft only
            entry(8, "Muse API and Muse Spark API"),  # both
            entry(9, "Muse Spark API private preview"),  # neither (none)
        ],
    )
    after = preview(drafts[3])
    assert after == (before[0] + 2, before[1] + 1, before[2])
    wl = load_watchlist(ui.path)
    saved = run_backtest(ui.store, wl.matcher.items[0], wl.matcher, None)
    assert preview(block) == (len(saved.hits), 0, 0) == (3, 0, 0)


def test_preview_of_a_new_item_counts_everything_as_added(tmp_path: Path) -> None:
    ui = edit_app(tmp_path)
    seed(ui.store, [entry(1, "Muse voice arrives"), entry(2, "Muse pricing")])
    c = client(ui.app)
    form = _form(c.get("/catalysts/new").text)
    form.update(id="p", name="P", match_kind="query", match="Muse AND (voice OR pricing)")
    r = c.post("/catalysts/new/preview", data=form)
    assert '<span id="count-matches">2</span>' in r.text
    assert '<span id="count-adds">2</span>' in r.text
    assert '<span id="count-drops">0</span>' in r.text


# --- a running daemon applies a rule saved through the page ----------------------------------


def test_a_running_daemon_applies_a_rule_saved_through_the_page(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    from tests.test_daemon import Daemon

    feed = FeedFile(httpserver, "/wire.xml")
    feed.items = [Item("w1", "Zorblax quarterly notes", "Nothing to see.")]
    url = httpserver.url_for("/wire.xml")
    text = WATCHLIST.format(database="monitor.db", feed_url=url).replace(
        "  timezone: UTC\n", "  timezone: UTC\n  poll_interval: 1s\n"
    )
    ui = edit_app(tmp_path, text=text)
    d = Daemon(ui.path, tmp_path / "daemon.log").start()
    try:
        d.wait_log("poll feed=wire outcome=ok")
        d.wait_log("daemon.start")
        c = client(ui.app, follow_redirects=False)
        form = _form(c.get("/catalysts/new").text)
        form.update(id="zorblax", name="Zorblax", match_kind="query", match="Zorblax AND launch*")
        form["action"] = "save"
        assert c.post("/catalysts/new", data=form).status_code == 303
        d.wait_log("watchlist.reloaded")
        feed.items = [*feed.items, Item("w2", "Zorblax launches its glasses", "Out today.")]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = ui.store.recorded_matches("zorblax", None)
            if got:
                break
            time.sleep(0.2)
        assert len(got) == 1
        (entry_id,) = got
        assert ui.store.entries_by_id([entry_id])[0][2].title == "Zorblax launches its glasses"
    finally:
        assert d.stop() == 0


def test_a_far_behind_index_is_built_in_the_background_and_the_preview_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.ui import editor

    monkeypatch.setattr(editor, "BACKGROUND_INDEX", 1)
    ui = edit_app(tmp_path)
    seed(ui.store, [entry(1, "Muse API opens"), entry(2, "Muse API pricing"), entry(3, "x")])
    c = client(ui.app)
    page = c.get("/catalysts/api-broadening/edit?mode=yaml").text
    data = {"mode": "yaml", "yaml": _yaml_of(page), "revision": _revision(page)}
    r = c.post("/catalysts/api-broadening/edit/preview", data=data)
    assert "Building the search index: 3 entries to go" in r.text
    assert 'hx-trigger="load delay:2s"' in r.text  # it asks again by itself
    eng = editor.engine(ui.store)
    assert eng.indexing is not None
    eng.indexing.join(30)
    r = c.post("/catalysts/api-broadening/edit/preview", data=data)
    assert '<span id="count-matches">2</span>' in r.text


# --- the start-up warm-up ------------------------------------------------------------------


def _warm_store(tmp_path: Path) -> EditApp:
    ui = edit_app(tmp_path)
    seed(
        ui.store,
        [
            entry(1, "Muse Spark API opens to everyone"),
            entry(2, "Muse API in private preview"),
            entry(3, "Ray-Ban Meta glasses get Muse"),
            entry(4, "Muse voice mode launches"),
            entry(5, "Ray-Ban Meta and Muse, says Bellamy"),
            entry(6, "Unrelated weather report"),
        ],
    )
    update_index(ui.store)
    return ui


def test_the_start_up_warm_up_runs_every_saved_rule_as_the_preview_would(
    tmp_path: Path,
) -> None:
    from monitor.ui import editor

    ui = _warm_store(tmp_path)
    editor._ENGINES.clear()
    eng = editor.engine(ui.store)
    assert not eng.saved and not eng.docs
    editor.start_warmup(ui.ctx, pause=0).join(30)
    wl = load_watchlist(ui.path)
    watermark = ui.store.index_watermark()
    assert watermark == 6
    assert {k[1] for k in eng.saved} == {"api-broadening", "glasses-rollout", "voice"}
    for item in wl.matcher.items:
        run = eng.saved[(wl.revision, item.watch_id, watermark)]
        live = run_backtest(ui.store, item, wl.matcher, None)
        assert sorted(run.hits) == sorted(live.hits), item.watch_id
    assert sorted(eng.docs) == [1, 2, 3, 4, 5]  # every candidate parsed, not entry 6
    # The preview finds the warm result: nothing is read or parsed again.
    loads: list[int] = []
    real = eng._load
    eng._load = lambda ids: (loads.extend(ids), real(ids))[1]  # type: ignore[method-assign]
    c = client(ui.app)
    page = c.get("/catalysts/glasses-rollout/edit?mode=yaml").text
    if eng.warming is not None:
        eng.warming.join(30)
    data = {"mode": "yaml", "yaml": _yaml_of(page), "revision": _revision(page)}
    r = c.post("/catalysts/glasses-rollout/edit/preview", data=data)
    assert _counts(r.text) == (1, 0, 0)
    assert loads == []


def test_the_pages_shorten_the_gil_switch_interval(tmp_path: Path) -> None:
    """Requests' threads wait for the GIL behind previews and warm-ups at most 1 ms a
    time (not Python's default 5 ms): the pages set it when they start, never longer."""
    from monitor.ui import editor

    old = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        (tmp_path / "a").mkdir()
        edit_app(tmp_path / "a")  # (builds the app: the editor's routes)
        assert sys.getswitchinterval() == pytest.approx(editor.SWITCH_INTERVAL)
        sys.setswitchinterval(0.0005)
        (tmp_path / "b").mkdir()
        edit_app(tmp_path / "b")
        assert sys.getswitchinterval() == pytest.approx(0.0005)  # a shorter one is kept
    finally:
        sys.setswitchinterval(old)


def test_the_start_up_warm_up_freezes_what_it_loaded_only_when_it_is_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After warming a large cache the warm-up takes what is alive out of the garbage
    collector's full passes (``gc.freeze``, after a collection); a small one is left alone."""
    import gc

    from monitor.ui import editor

    ui = _warm_store(tmp_path)
    editor._ENGINES.clear()
    before = gc.get_freeze_count()
    editor.start_warmup(ui.ctx, pause=0).join(30)
    assert len(editor.engine(ui.store).docs) == 5 and gc.get_freeze_count() == before
    monkeypatch.setattr(editor, "FREEZE_OVER", 5)
    editor._ENGINES.clear()
    try:
        editor.start_warmup(ui.ctx, pause=0).join(30)
        eng = editor.engine(ui.store)
        assert len(eng.docs) == 5 and gc.get_freeze_count() > before
        tracked = {id(o) for o in gc.get_objects()}  # (frozen objects are not listed)
        assert not any(id(doc) in tracked for _, _, doc in eng.docs.values())
    finally:
        gc.unfreeze()


def test_the_start_up_warm_up_never_blocks_a_preview_and_stops_with_the_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.ui import editor

    monkeypatch.setattr(editor, "WARM_SLICE", 1)
    ui = _warm_store(tmp_path)
    editor._ENGINES.clear()
    eng = editor.engine(ui.store)
    # One entry, then a long pause: the warm-up is mid-way when the preview comes.
    thread = editor.start_warmup(ui.ctx, pause=600)
    while not eng.docs:
        thread.join(0.05)
    assert thread.is_alive() and len(eng.docs) == 1 and not eng.saved
    c = client(ui.app)
    page = c.get("/catalysts/voice/edit?mode=yaml").text
    if eng.warming is not None:
        eng.warming.join(30)
    data = {"mode": "yaml", "yaml": _yaml_of(page), "revision": _revision(page)}
    r = c.post("/catalysts/voice/edit/preview", data=data)
    assert _counts(r.text) == (1, 0, 0)  # answered while the warm-up still waits
    assert thread.is_alive()
    ui.ctx.close()  # the pages stop: so does the warm-up, at once
    thread.join(30)
    assert not thread.is_alive()
    assert {k[1] for k in eng.saved} == {"voice"}  # (the page's own warm-up or preview)


# --- previews that must read many entries first ----------------------------------------------


def test_a_preview_waits_for_its_run_until_a_deadline_counted_from_its_arrival(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait is counted from when the request arrived: a request whose draft took long
    to check (a whole-file check) waits only ``MIN_WAIT`` more before saying "counting"."""
    from monitor.ui import editor

    monkeypatch.setattr(editor, "ANSWER_WAIT", 20.0)
    ui = _warm_store(tmp_path)
    editor._ENGINES.clear()
    eng = editor.engine(ui.store)
    gate = threading.Event()
    real = eng.prepare

    def held(*args: Any, **kw: Any) -> bool:
        if threading.current_thread().name == "ui-preview-run":
            gate.wait(30)
        return real(*args, **kw)

    eng.prepare = held  # type: ignore[method-assign]
    wl = ui.ctx.watchlist()
    [item] = [i for i in wl.matcher.items if i.watch_id == "voice"]
    try:
        t = time.perf_counter()
        got = eng.deferred(wl, "voice", item, arrived=time.monotonic() - 20.0)
        assert got is not None and time.perf_counter() - t < 10  # "counting", not 20 s
        t = time.perf_counter()  # the poll, too
        assert eng.deferred(wl, "voice", item, arrived=time.monotonic() - 20.0) is not None
        assert time.perf_counter() - t < 10
    finally:
        gate.set()
    assert eng.job is not None
    eng.job.thread.join(30)
    assert eng.deferred(wl, "voice", item) is None  # done: shown at once


def test_a_preview_whose_run_takes_long_answers_counting_then_the_exact_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every preview runs in the background; its request waits ``ANSWER_WAIT`` s at most,
    then answers "counting" (the page asks again ``POLL_DELAY_MS`` later). Here the test
    holds the background run: the request answers at once all the same."""
    from monitor.ui import editor

    monkeypatch.setattr(editor, "ANSWER_WAIT", 0.05)
    ui = _warm_store(tmp_path)
    editor._ENGINES.clear()
    eng = editor.engine(ui.store)
    gate, holding = threading.Event(), threading.Event()
    real = eng.prepare

    def held(*args: Any, **kw: Any) -> bool:  # a background run waits for the test
        if threading.current_thread().name == "ui-preview-run" and holding.is_set():
            gate.wait(30)
        return real(*args, **kw)

    eng.prepare = held  # type: ignore[method-assign]
    c = client(ui.app)
    page = c.get("/catalysts/api-broadening/edit?mode=yaml").text
    block, rev = _yaml_of(page), _revision(page)
    if eng.warming is not None:
        eng.warming.join(30)  # (the page's own warm-up ran the saved rule)
    url = "/catalysts/api-broadening/edit/preview"
    wide = block.replace('any: ["Muse Spark API", "Muse API"]', "any: [Muse]")
    holding.set()
    t = time.perf_counter()
    r = c.post(url, data={"mode": "yaml", "yaml": wide, "revision": rev})
    assert r.status_code == 200 and time.perf_counter() - t < 10  # (the run is held 30 s)
    assert (
        'id="counting"' in r.text and f'hx-trigger="load delay:{editor.POLL_DELAY_MS}ms"' in r.text
    )
    assert "count-matches" not in r.text
    job = eng.job
    assert job is not None and job.thread.is_alive()
    # Another draft meanwhile: the background run is cancelled, this one gets its own run.
    narrow = block.replace('any: ["Muse Spark API", "Muse API"]', 'any: ["Muse Spark API"]')
    holding.clear()
    monkeypatch.setattr(editor, "ANSWER_WAIT", 30.0)
    r = c.post(url, data={"mode": "yaml", "yaml": narrow, "revision": rev})
    assert _counts(r.text) == (1, 0, 0)
    assert job.cancel.is_set()
    monkeypatch.setattr(editor, "ANSWER_WAIT", 0.05)
    gate.set()
    job.thread.join(30)
    assert not job.thread.is_alive()
    # The wide draft again: counting until its run is done, then exact.
    gate.clear()
    holding.set()
    r = c.post(url, data={"mode": "yaml", "yaml": wide, "revision": rev})
    assert 'id="counting"' in r.text
    gate.set()
    for _ in range(200):
        r = c.post(url, data={"mode": "yaml", "yaml": wide, "revision": rev})
        if 'id="counting"' not in r.text:
            break
    got = _counts(r.text)
    editor._ENGINES.clear()
    monkeypatch.setattr(editor, "ANSWER_WAIT", 30.0)
    fresh = c.post(url, data={"mode": "yaml", "yaml": wide, "revision": rev})
    assert got == _counts(fresh.text) == (4, 3, 0)


def test_the_start_up_warm_up_waits_for_the_pages_to_be_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from monitor.ui import editor

    ui = _warm_store(tmp_path)
    # ctx.db counts the pages' blocking work in flight
    inside = asyncio.run(ui.ctx.db(ui.ctx.idle_for))
    assert inside == 0.0 and ui.ctx.idle_for() > 0.0
    editor._ENGINES.clear()
    eng = editor.engine(ui.store)
    quiet = threading.Event()
    monkeypatch.setattr(ui.ctx, "idle_for", lambda: 10.0 if quiet.is_set() else 0.0)
    thread = editor.start_warmup(ui.ctx, pause=0)
    thread.join(0.5)
    assert thread.is_alive() and not eng.docs and not eng.saved  # the pages are busy
    quiet.set()
    thread.join(30)
    assert not thread.is_alive()
    assert {k[1] for k in eng.saved} == {"api-broadening", "glasses-rollout", "voice"}
