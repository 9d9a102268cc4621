"""``python -m monitor`` and the ``monitor`` console script.

Kept light on purpose: parse workers are spawned, and spawn re-imports the main module
(as ``__mp_main__``) in every worker. Importing ``monitor.cli`` here at module level would
load SQLAlchemy, httpx, rich and pydantic into each worker (~50 MB apiece) for nothing.
"""

import sys


def main() -> int:
    from monitor import cli

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
