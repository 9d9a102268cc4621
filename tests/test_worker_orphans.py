"""Parse workers ignore SIGTERM (the parent drains them), so they must not outlive a parent
that was SIGKILLed: they exit once re-parented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

SCRIPT = """
import os, sys
from monitor.scheduler import parse_executor
pool = parse_executor(2)
pool.submit(os.getpid).result()  # the workers are started and initialised
print(" ".join(map(str, sorted(pool._processes))), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent, now init, reaps it).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_exit_when_the_parent_is_killed() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert pids and proc.pid not in pids
    assert all(_alive(p) for p in pids)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for p in left:  # do not leak them into the rest of the run
        os.kill(p, signal.SIGKILL)
    assert left == [], f"workers {left} outlived their SIGKILLed parent"


LATE = """
import sys
from monitor.prepare import ignore_stop_signals
ignore_stop_signals(int(sys.argv[1]))  # as a worker whose parent died while it started
sys.stdin.read()  # blocks until the orphan watch ends the process (stdin stays open)
sys.exit(3)
"""


def test_a_worker_whose_parent_died_while_it_started_exits() -> None:
    """The initializer is told its parent's pid by the parent: a worker already
    re-parented when it runs (its parent SIGKILLed during the spawn) must exit, not
    watch its new parent forever."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)  # a pid that is certainly not the worker's parent any more
    proc = subprocess.Popen(
        [sys.executable, "-c", LATE, str(gone.pid)],
        stdin=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the worker kept watching a parent that was not its own") from None
    assert code == 0
