"""``python -m monitor`` is the ``monitor`` command."""

import sys

from monitor.cli import main

# Guarded: parse worker processes are spawned, and spawn re-imports the main module as
# ``__mp_main__``; unguarded, every worker would run the command again.
if __name__ == "__main__":
    sys.exit(main())
