"""Issue 8: the web pages are usable on a phone screen and readable without colour.

Debian's Chromium (the ``browser`` fixture of tests/test_ui_browser.py: it skips naming the
package without Chromium, and fails under ``CI=true``) opens every page of a real daemon
(``monitor run --http``, the same ``Daemon`` as test_ui_browser.py) whose store holds every
kind of state the pages colour: catalyst states (reported, overdue, no signal) and their
history, stances, a failing feed next to a healthy one, a digest delivery the webhook
refused, a story labelled relevant, the rule editor's preview with adds and drops, and an
error banner (a wrong login token).

At 390 and 320 px wide every page must have no horizontal scroll (wide tables scroll inside
their own ``.table-wrap``), every link, button and field at least 24 px tall (links inside a
sentence excepted, as WCAG 2.5.8 does) and not overlapped by another, and no text under
12 px. Without colour: every element the stylesheet colours by state also says the state in
words (or an icon with a text alternative), fields have labels, charts have text, and text
has at least 4.5:1 contrast (3:1 when large) against what is behind it, opacity included.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests import test_ui_browser as ub
from tests.support import FeedFile, Item, Receiver, write_watchlist

pytestmark = pytest.mark.timeout(600)

browser = ub.browser  # Debian's Chromium through Playwright; skips (fails in CI) without it
PHONES = {"390": {"width": 390, "height": 844}, "320": {"width": 320, "height": 640}}
API = "api-broadening"
OVERDUE_ITEM = """\
  - id: launch-date
    name: Launch by October
    match:
      any: ["Muse launch"]
    expected_by: 2026-10-31
"""
# The words each coloured state must show (the class suffix, unless named here).
CATALYST_STATES = {"no_signal", "expected", "reported", "confirmed", "denied", "delayed", "overdue"}
HEALTH_WORDS = {"new": "not polled", "gone": "gone"}


@pytest.fixture(scope="module")
def phone_world(
    make_httpserver: HTTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ub.Daemon]:
    """One daemon for the module: a good feed, a failing feed, a refusing webhook."""
    server = make_httpserver
    tmp = tmp_path_factory.mktemp("phone")
    feed = FeedFile(server, "/phone-wire.xml", title="Test wire")
    server.expect_request("/phone-broken.xml").respond_with_data("down", status=500)
    receiver = Receiver(statuses=[500] * 50)  # every delivery attempt is refused
    hook = receiver.install(server, "/phone-hook")
    now = datetime.now(UTC).replace(microsecond=0)
    feed.items = [
        Item(
            "p1",
            "Meta opens Muse Spark API to all developers",
            "The Muse Spark API leaves its waitlist; pricing per million tokens.",
            published=now - timedelta(hours=3),
        ),
        Item(
            "p2",
            "Meta's Muse Spark API comes to Europe",
            "Developers in the EU can call the Muse Spark API from today.",
            published=now - timedelta(hours=2),
        ),
        Item(
            "p3",
            "Muse developer platform reaches general availability",
            "Meta's developer platform for Muse opens to every company.",
            published=now - timedelta(hours=1),
        ),
    ]
    config = write_watchlist(
        tmp / "watchlist.yaml",
        [
            ("wire", server.url_for("/phone-wire.xml")),
            ("broken-wire-with-a-long-name", server.url_for("/phone-broken.xml")),
        ],
        hook_url=hook,
        poll_interval="1s",
        extra_watch=OVERDUE_ITEM,
        settings_extra=f"  max_poll_interval: 1s\n  http:\n    token: {ub.TOKEN}\n",
    )
    daemon = ub.Daemon(config)
    try:
        daemon.wait_for("/metrics", f'catalyst_monitor_matches{{watch_item="{API}"}} 2.0')
        daemon.wait_for("/feeds", "✕ failing")
        # A digest run (as cron would) that the webhook refuses: a delivery to retry.
        sent = subprocess.run(
            [*ub.MONITOR, "digest", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert receiver.received, sent.stdout + sent.stderr
        daemon.wait_for("/digests", 'id="delivery-')
        # A report labelled relevant (the label tag and the pressed button).
        body = daemon.get(f"/catalysts/{API}").text
        match_id = re.findall(r'id="match-(\d+)"', body)[0]
        r = httpx.post(
            daemon.base + "/labels",
            data={"match_id": match_id, "story": "1", "verdict": "relevant"},
            headers={"Authorization": f"Bearer {ub.TOKEN}"},
            timeout=30,
        )
        assert r.status_code < 400, r.text
        yield daemon
    finally:
        daemon.stop()
        server.clear()


def pages(browser: Any, daemon: ub.Daemon, viewport: dict[str, int]) -> Iterator[tuple[str, Any]]:
    """Every page, loaded and settled, as (name, Playwright page)."""
    anon = browser.new_context(viewport=viewport, is_mobile=True, has_touch=True)
    page = anon.new_page()
    page.set_default_timeout(30_000)
    page.goto(daemon.base + "/login")
    yield "login", page
    page.fill("#token", "wrong")
    page.click("#login")
    page.wait_for_selector(".banner.error")
    yield "login (wrong token)", page
    anon.close()

    context = browser.new_context(viewport=viewport, is_mobile=True, has_touch=True)
    context.set_extra_http_headers({"Authorization": f"Bearer {ub.TOKEN}"})
    page = context.new_page()
    page.set_default_timeout(30_000)
    for name, path, ready in (
        ("board", "/", "article.card:not([aria-busy])"),
        ("stories", f"/catalysts/{API}", "#stories .story"),
        ("editor (form)", f"/catalysts/{API}/edit", "#count-matches"),
        ("new item", "/catalysts/new", "#rule-form"),
        ("search", "/search?q=Muse", "#results"),
        ("feeds", "/feeds", "#feed-wire"),
        ("digests", "/digests", "#deliveries tbody tr"),
        ("digest preview", "/digests/daily/preview?format=slack", ".digest-preview"),
    ):
        page.goto(daemon.base + path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        yield name, page
        if name == "stories":
            # A label through htmx (its "done" banner), then a story muted (dimmed).
            page.locator("#stories .story button.label-relevant").first.click()
            page.wait_for_selector("#stories .label-done")
            yield "stories (labelled)", page
            page.locator("#stories .story button.mute").first.click()
            page.wait_for_selector("#stories .story.is-muted")
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            yield "stories (a muted story)", page
            page.locator("#stories .story.is-muted button.mute").click()  # as it was
            page.wait_for_selector("#stories .story.is-muted", state="detached")

    # The editor's live preview with entries it would add and drop.
    page.goto(daemon.base + f"/catalysts/{API}/edit?mode=yaml")
    page.wait_for_selector("#count-matches")
    box = page.locator("#rule-yaml")
    edited = box.input_value().replace('"Muse Spark API", ', "")
    edited = edited.replace('"Muse API"]', '"Muse API", "developer platform"]')
    box.fill(edited)
    box.dispatch_event("input")
    page.wait_for_function(
        "() => document.querySelector('#count-adds') && "
        "document.querySelector('#count-adds').textContent.trim() !== '0' && "
        "document.querySelector('#count-drops').textContent.trim() !== '0'"
    )
    page.wait_for_load_state("networkidle")
    yield "editor (preview with adds and drops)", page
    # A rule with an error: the checker's messages in place of the preview.
    box.fill(edited.replace("priority: high", "priority: urgent"))
    box.dispatch_event("input")
    page.wait_for_selector("#rule-errors .problem-error")
    page.wait_for_load_state("networkidle")
    yield "editor (a rule error)", page
    context.close()


LAYOUT_JS = r"""
(width) => {
  const problems = [];
  const say = el => {
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\s+/).join('.') : '';
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
    return `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls}> "${text.slice(0, 40)}"`;
  };
  const visible = el => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden]');
  // A phone lays out at the device's width (meta viewport); a page wider than that scrolls
  // sideways (or is zoomed out), so the page must be no wider than the phone.
  const iw = width;
  if (window.innerWidth !== width || document.documentElement.clientWidth !== width)
    problems.push(`viewport is ${window.innerWidth}px (layout ${document.documentElement.clientWidth}px), not the phone's ${width}px`);
  const sw = document.scrollingElement.scrollWidth;
  if (sw > iw) {
    // The outermost elements that stick out past the viewport, not inside a scroller.
    const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    const wide = [...document.body.querySelectorAll('*')].filter(el => {
      if (!visible(el) || el.getBoundingClientRect().right <= iw + 0.5) return false;
      for (let p = el.parentElement; p; p = p.parentElement) if (scrolls(p)) return false;
      return true;
    });
    const outer = wide.filter(el => !wide.includes(el.parentElement));
    problems.push(`page is ${sw}px wide in a ${iw}px viewport, too wide: `
      + outer.slice(0, 5).map(say).join(', '));
  }
  // Table columns squeezed until words break mid-word (overflow-wrap: anywhere lets them):
  // the table should keep readable columns and scroll inside its .table-wrap instead.
  // (Words up to 20 letters; longer tokens, URLs and ids, may break.)
  const ctx = document.createElement('canvas').getContext('2d');
  for (const cell of document.querySelectorAll('main td, main th')) {
    if (!visible(cell)) continue;
    const s = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    for (const el of [cell, ...cell.querySelectorAll('*')]) {
      const es = getComputedStyle(el);
      ctx.font = `${es.fontWeight} ${es.fontSize} ${es.fontFamily}`;
      const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(' ');
      const word = own.split(/[\s\-\/·,:()]+/).filter(w => w.length <= 20)
        .sort((a, b) => ctx.measureText(b).width - ctx.measureText(a).width)[0];
      if (word && ctx.measureText(word).width > room + 1) {
        problems.push(`table column ${room.toFixed(0)}px wide breaks the word "${word}": ${say(cell)}`);
        break;
      }
    }
  }
  // Text size.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || el.closest('svg')) continue;
    seen.add(el);
    if (!visible(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 12) problems.push(`text is ${size}px (< 12px): ${say(el)}`);
  }
  // Targets: at least 24px tall, except a link inside a sentence (WCAG 2.5.8 "inline").
  const targets = [...document.querySelectorAll(
    'header a, header button, main a, main button, main summary, '
    + 'main input:not([type=hidden]), main select, main textarea')].filter(visible);
  const block = el => {
    let b = el.parentElement;
    while (b && getComputedStyle(b).display.startsWith('inline')) b = b.parentElement;
    return b;
  };
  const inSentence = el => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    const b = block(el);
    let text = b.innerText;
    for (const a of b.querySelectorAll('a, button')) text = text.replace(a.innerText, '');
    return text.replace(/[^A-Za-z0-9]/g, '').length >= 20;
  };
  for (const el of targets) {
    const r = el.getBoundingClientRect();
    if (r.height < 23.5 && !inSentence(el))
      problems.push(`target is ${r.height.toFixed(1)}px tall (< 24px): ${say(el)}`);
  }
  // Overlap: no two targets share area; nothing else covers a target's centre.
  // (A link wrapped over two lines is two boxes: compare the boxes, not their hull.)
  const boxes = new Map(targets.map(el => [el, [...el.getClientRects()]]));
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) {
      const a = targets[i], b = targets[j];
      if (a.contains(b) || b.contains(a)) continue;
      let worst = null;
      for (const ra of boxes.get(a)) for (const rb of boxes.get(b)) {
        const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (w > 1 && h > 1 && (!worst || w * h > worst[0] * worst[1])) worst = [w, h];
      }
      if (worst) problems.push(`targets overlap by ${worst[0].toFixed(0)}x${worst[1].toFixed(0)}px: ${say(a)} and ${say(b)}`);
    }
  }
  for (const el of targets) {
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getClientRects()[0];  // a link wrapped over lines: its first line
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (hit && !(el === hit || el.contains(hit) || (hit.control && hit.control === el)))
      problems.push(`target is covered by ${say(hit)}: ${say(el)}`);
  }
  window.scrollTo(0, 0);
  return problems;
}
"""


@pytest.mark.parametrize("width", sorted(PHONES))
def test_every_page_fits_a_phone_with_big_enough_targets_and_text(
    browser: Any, phone_world: ub.Daemon, width: str
) -> None:
    problems = []
    for name, page in pages(browser, phone_world, PHONES[width]):
        problems += [
            f"{name} ({width}px): {p}" for p in page.evaluate(LAYOUT_JS, PHONES[width]["width"])
        ]
    assert not problems, "\n".join(problems)


STATUS_JS = r"""
() => {
  const out = [];
  const pseudo = (el, which) => {
    const c = getComputedStyle(el, which).content;
    return c && c !== 'none' && c !== 'normal' ? c : '';
  };
  const sel = '.state, .health, .banner, .problem, .tag, .passed, .priority, .stance, '
    + '.counts dt, mark, [aria-pressed="true"], [aria-current], .story.is-muted';
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length) continue;
    const s = getComputedStyle(el), parent = getComputedStyle(el.parentElement);
    out.push({
      tag: el.tagName.toLowerCase(),
      classes: [...el.classList],
      text: el.innerText.trim(),
      label: el.getAttribute('aria-label') || '',
      before: pseudo(el, '::before'),
      after: pseudo(el, '::after'),
      // Cues that survive without colour, against the parent's text.
      weight: parseInt(s.fontWeight), parentWeight: parseInt(parent.fontWeight),
      decoration: s.textDecorationLine,
      borderBottom: parseFloat(s.borderBottomWidth) * (s.borderBottomStyle === 'none' ? 0 : 1),
      borderLeft: parseFloat(s.borderLeftWidth) * (s.borderLeftStyle === 'none' ? 0 : 1),
      pressed: el.getAttribute('aria-pressed') === 'true',
      current: el.hasAttribute('aria-current'),
    });
  }
  return out;
}
"""

A11Y_JS = r"""
() => {
  const problems = [];
  const say = el => `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.name ? ' name=' + el.name : ''}>`;
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const named = (el.labels && [...el.labels].some(l => l.innerText.trim()))
      || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) problems.push(`field without a label: ${say(el)}`);
  }
  for (const el of document.querySelectorAll('img')) {
    if (!el.hasAttribute('alt')) problems.push(`image without alt: ${el.src}`);
  }
  for (const el of document.querySelectorAll('svg')) {
    if (el.getAttribute('aria-hidden') === 'true' || el.parentElement.closest('svg')) continue;
    const title = el.querySelector(':scope > title');
    if (el.getAttribute('role') !== 'img' || !(el.getAttribute('aria-label') || (title && title.textContent.trim())))
      problems.push(`chart without role=img and a text alternative: ${el.outerHTML.slice(0, 80)}`);
  }
  // Contrast of every piece of visible text against what is behind it.
  const rgba = c => {
    const p = c.match(/[\d.]+/g).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (fg, bg) => [0, 1, 2].map(i => fg[i] * fg[3] + bg[i] * (1 - fg[3])).concat([1]);
  const lum = c => {
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const behind = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((bg, l) => over(l, bg), [255, 255, 255, 1]);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || el.closest('svg, option, title')) continue;
    seen.add(el);
    if (!el.getClientRects().length) continue;
    const s = getComputedStyle(el);
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
    const bg = behind(el);
    const fg = rgba(s.color);
    const seenFg = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
    const [hi, lo] = [lum(seenFg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need)
      problems.push(`contrast ${ratio.toFixed(2)}:1 (< ${need}:1) of ${s.color} on rgb(${bg.slice(0, 3).map(Math.round)}) `
        + `(opacity ${opacity}): <${el.tagName.toLowerCase()}.${[...el.classList].join('.')}> "${el.innerText.trim().slice(0, 40)}"`);
  }
  return problems;
}
"""


def status_problems(items: list[dict[str, Any]]) -> list[str]:
    """What each coloured status element says besides its colour."""
    problems = []
    for x in items:
        classes = x["classes"]
        words = " ".join([x["text"], x["label"], x["before"], x["after"]])
        what = f"<{x['tag']} class={'.'.join(classes)}> {x['text'][:50]!r}"
        if not re.search(r"[A-Za-z]{2,}", words):
            problems.append(f"no words, only colour: {what}")
            continue
        for c in classes:
            suffix = c.split("-", 1)[-1]
            if (
                c.startswith("state-")
                and suffix in CATALYST_STATES
                and suffix.replace("_", " ") not in words.lower()
            ):
                problems.append(f"state {suffix!r} not in its words: {what}")
            if c.startswith("health-") and HEALTH_WORDS.get(suffix, suffix) not in words.lower():
                problems.append(f"health {suffix!r} not in its words: {what}")
            if (
                c in ("problem-error", "problem-warning", "is-muted")
                and suffix not in words.lower()
            ):
                problems.append(f"severity {suffix!r} not in its words: {what}")
        if "banner" in classes and ("error" in classes or "ok" in classes):
            # The two differ only by the colour of their left rule unless they say so.
            kind = "error" if "error" in classes else "ok"
            if not x["before"]:
                problems.append(f"{kind} banner without an icon and text alternative: {what}")
        cue = x["weight"] >= 600 or "underline" in x["decoration"] or x["borderBottom"] >= 2
        own = x["weight"] > x["parentWeight"] or "underline" in x["decoration"]
        if x["tag"] == "mark" and not (own or x["borderBottom"] >= 2):
            problems.append(f"highlighted words marked by colour only: {what}")
        if x["pressed"] and not (x["weight"] > x["parentWeight"] or x["borderBottom"] >= 2):
            problems.append(f"pressed button shown by colour only: {what}")
        if x["current"] and not cue:
            problems.append(f"current page shown by colour only: {what}")
    return problems


def test_states_are_words_fields_are_labelled_and_text_has_contrast(
    browser: Any, phone_world: ub.Daemon
) -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for name, page in pages(browser, phone_world, PHONES["390"]):
        items = page.evaluate(STATUS_JS)
        seen.update(c for x in items for c in x["classes"])
        problems += [f"{name}: {p}" for p in status_problems(items)]
        problems += [f"{name}: {p}" for p in page.evaluate(A11Y_JS)]
        # Windows' high-contrast mode (forced colours) replaces every colour: the words stay.
        page.emulate_media(forced_colors="active")
        problems += [
            f"{name} (forced colours): {p}" for p in status_problems(page.evaluate(STATUS_JS))
        ]
        page.emulate_media(forced_colors="none")
    assert not problems, "\n".join(problems)
    # The pages did show every kind of coloured state this test is about.
    for kind in (
        "state-reported",
        "state-overdue",
        "health-ok",
        "health-failing",
        "stance",
        "tag",
        "label-relevant",
        "passed",
        "priority",
        "is-muted",
        "problem-error",
    ):
        assert kind in seen, f"no {kind} element on any page: the world is missing a state"
    assert any(c.startswith("state-") and c in {"state-pending", "state-failed"} for c in seen)
    assert {"banner", "error", "ok"} <= seen


def test_the_checks_catch_a_page_that_relies_on_colour_or_overflows(
    browser: Any, phone_world: ub.Daemon
) -> None:
    """The same checks on a page broken on purpose (styles injected into the real board)."""
    context = browser.new_context(viewport=PHONES["320"], is_mobile=True, has_touch=True)
    context.set_extra_http_headers({"Authorization": f"Bearer {ub.TOKEN}"})
    page = context.new_page()
    page.goto(phone_world.base + "/")
    page.wait_for_selector("article.card:not([aria-busy])")
    page.add_style_tag(
        content=".card { min-width: 30rem } .card .reason { font-size: 10px } "
        "* { padding-top: 0 !important; padding-bottom: 0 !important; min-height: 0 !important;"
        " line-height: 1 !important } .muted { color: #aaa }"
    )
    page.evaluate("document.querySelector('.state').textContent = ''")
    layout = "\n".join(page.evaluate(LAYOUT_JS, 320))
    assert "page is" in layout and "wide in a 320px viewport" in layout
    assert "(< 12px)" in layout
    assert "(< 24px)" in layout
    a11y = "\n".join(page.evaluate(A11Y_JS))
    assert "contrast" in a11y
    words = status_problems(page.evaluate(STATUS_JS))
    assert any("no words, only colour" in p for p in words)
    context.close()
