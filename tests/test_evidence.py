"""`monitor evidence` and the snapshots behind it: stored data only, so the trail survives
link rot and rule edits. A real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.pipeline import Context
from tests.test_alerts import (  # noqa: F401
    World,
    item,
    run,
    world_factory,
)

HOSTILE = "Muse Spark API | <script>alert(1)</script> @everyone"


def test_evidence_md_and_csv_survive_rule_edits(
    world_factory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    w: World = world_factory()

    async def scenario(ctx: Context) -> None:
        w.wire.items = [item("w1", "https://www.reuters.com/tech/muse-api")]
        await w.poll(ctx)
        w.step(1)
        w.other.items = [
            item("o1", "https://www.ft.com/content/muse-api"),
            item("o2", "https://www.ft.com/content/other", title=HOSTILE),
        ]
        await w.poll(ctx)

    run(w, scenario)
    # The rule is edited afterwards: the item no longer matches anything of this.
    text = w.path.read_text().replace('any: ["Muse Spark API", "Muse API"]', 'any: ["Muse Ultra"]')
    w.path.write_text(text)
    assert main(["evidence", "api-broadening", "--config", str(w.path)]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Evidence: API broadening (`api-broadening`)")
    assert "State **confirmed**" in md
    assert "| no_signal → reported |" in md and "| reported → confirmed |" in md
    assert "outlets: reuters.com, ft.com" in md
    expected_hash = hashlib.sha256(
        f"{item('x', 'y').title}\n{item('x', 'y').summary}".encode()
    ).hexdigest()
    assert expected_hash[:16] in md
    # Feed text cannot break the table or inject HTML.
    line = next(x for x in md.splitlines() if "everyone" in x)
    assert "Muse Spark API \\| @everyone" in line  # the feed's HTML was stripped at parse
    assert len(re.findall(r"(?<!\\)\|", line)) == 7  # 6 cells, none added by the title

    assert main(["evidence", "api-broadening", "--config", str(w.path), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    kinds = [r["record"] for r in rows]
    assert kinds == ["transition", "transition", "match", "match", "match"]
    matches = [r for r in rows if r["record"] == "match"]
    assert {r["outlet"] for r in matches} == {"reuters.com", "ft.com"}
    assert all(len(r["text_sha256"]) == 64 for r in matches)
    assert next(r for r in matches if "@everyone" in r["title"])["stance"] == "event"
    story_of = {r["link"]: r["story"] for r in matches}
    assert (
        story_of["https://www.reuters.com/tech/muse-api"]
        == story_of["https://www.ft.com/content/muse-api"]
    )


def test_evidence_of_an_unknown_item(
    httpserver: HTTPServer,
    tmp_path: Path,
    world_factory,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    w: World = world_factory()
    assert main(["evidence", "nope", "--config", str(w.path)]) == 1
    err = capsys.readouterr().err
    assert "no watch item 'nope'" in err and "api-broadening" in err
    # A known item with nothing recorded yet: an empty trail, not an error.
    assert main(["evidence", "larger-model", "--config", str(w.path)]) == 0
    out = capsys.readouterr().out
    assert "State **no_signal** (never evaluated)" in out
    assert "Expected by 2026-11-30" in out and "No state changes recorded." in out
