"""``python -m monitor`` and the ``monitor`` console script.

Kept light on purpose: parse workers are spawned, and spawn re-imports the main module
(as ``__mp_main__``) in every worker. Importing ``monitor.cli`` here at module level would
load SQLAlchemy, httpx, rich and pydantic into each worker (~50 MB apiece) for nothing.
"""

import sys


def main() -> int:
    from monitor.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
