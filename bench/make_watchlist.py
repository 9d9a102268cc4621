"""Write ``<state>/watchlist.yaml`` for the poll-cycle benchmark: one feed per URL.

Usage: ``python bench/make_watchlist.py STATE_DIR URLS_FILE``. The watch items are the
four phrases the peers match (``Muse Spark API``, ``Meta AI glasses``, ``larger Muse
model``, ``Hyperion data center``), so the numbers of matches can be compared with
``manifest.json``. The database is ``STATE_DIR/monitor.db``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PHRASES = ["Muse Spark API", "Meta AI glasses", "larger Muse model", "Hyperion data center"]


def main(argv: list[str]) -> int:
    state, urls_file = Path(argv[1]), Path(argv[2])
    state.mkdir(parents=True, exist_ok=True)
    urls = [u.strip() for u in urls_file.read_text().splitlines() if u.strip()]
    lines = [
        "version: 1",
        "settings:",
        "  database: monitor.db",
        "  poll_interval: 15m",
        "  alert_max_age: 36500d",
        "feeds:",
    ]
    for i, url in enumerate(urls, 1):
        lines += [f"  - id: f{i:05d}", f"    url: {json.dumps(url)}"]
    lines.append("watch:")
    for i, phrase in enumerate(PHRASES, 1):
        lines += [
            f"  - id: w{i}",
            f"    name: {json.dumps(phrase)}",
            "    match:",
            f"      any: [{json.dumps(phrase)}]",
        ]
    (state / "watchlist.yaml").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
