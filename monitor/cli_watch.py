"""CLI commands about the watch criteria: ``monitor schema``.

``monitor check`` (in ``cli.py``) validates a file; ``schema`` prints the JSON Schema an
editor uses to flag mistakes while typing (see README, "Editing the watchlist").
"""

from __future__ import annotations

import argparse
import json
import sys

from monitor.watchlist import json_schema


def cmd_schema(args: argparse.Namespace) -> int:
    json.dump(json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "schema", parents=[common], help="print the JSON Schema of watchlist.yaml (for editors)"
    )
    p.set_defaults(fn=cmd_schema)
