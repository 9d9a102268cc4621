"""Run a command and record the peak of the RSS summed over its whole process tree.

Usage: ``python bench/treerss.py OUT_FILE LABEL -- CMD ...``. Every 20 ms it sums
``VmRSS`` of the command and all its descendants (from ``/proc/*/stat`` parent links) and,
when the command ends, appends ``LABEL<TAB>peak KiB`` to OUT_FILE; it exits with the
command's status.
``/usr/bin/time``'s "maximum resident set size" is the largest single process, which
undercounts a parent with worker processes; this is the number the 200 MB target is about.
The sampler's own memory is not counted (its CPU, well under 1 %, is).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def _tree_rss_kib(root: int) -> int:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


def main(argv: list[str]) -> int:
    out, label, sep, cmd = argv[1], argv[2], argv[3], argv[4:]
    assert sep == "--" and cmd, __doc__
    proc = subprocess.Popen(cmd)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(0.02)
    with open(out, "a") as fh:
        fh.write(f"{label}\t{peak}\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
