"""``python -m monitor`` and the ``monitor`` console script.

Kept light on purpose: parse workers are spawned, and spawn re-imports the main module
(as ``__mp_main__``) in every worker. Importing ``monitor.cli`` here at module level would
load SQLAlchemy, httpx, rich and pydantic into each worker (~50 MB apiece) for nothing.
"""

import sys


def main() -> int:
    # The imports make ~90,000 objects that live as long as the process (SQLAlchemy,
    # pydantic, httpx, our modules) and almost no garbage. Collecting while they load,
    # and scanning them again in every later full collection, cost ~0.14 CPU-s of a warm
    # `monitor poll` of 1,000 feeds (1.84 -> 1.70 CPU-s, medians of 16 alternated runs;
    # docs/notes/issue-5-warmer.md). So no collection runs during the imports, and what
    # they made is moved out of the collector's sight (gc.freeze); everything made after
    # that is collected as usual.
    import gc

    gc.disable()
    try:
        from monitor import cli
    finally:
        gc.freeze()
        gc.enable()

    code = cli.main()
    if cli.teardown_needless():
        # Everything is closed and written; skip the interpreter's module-by-module
        # teardown (see monitor.cli). Only here, in the console script: never in-process.
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
