#!/bin/bash
# Warm cycles of `monitor poll` (nothing changed on the server), another tree's code and
# this one's alternated, one `/usr/bin/time` row per run, then a Markdown table of medians.
#
#   BASE_DIR=/tmp/warm-base BASE_STATE=/tmp/work-warm/state-base \
#   STATE=/tmp/work-warm/state/monitor REPS=8 OUT=/tmp/warm-ab.tsv bench/warm_ab.sh
#
# BASE_DIR is a worktree with its own .venv (e.g. `git worktree add --detach /tmp/warm-base
# main`); BASE_STATE and STATE are two copies of the state of a finished
# `bench/poll_cycle.py` cold+warm run whose nginx still serves the feeds. Every run must
# end with "N unchanged, 0 errors" (all 304), or it is reported as bad.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-/tmp/warm-ab.tsv}; REPS=${REPS:-6}
: "${BASE_DIR:?}" "${BASE_STATE:?}" "${STATE:?}"
: > "$OUT"
for i in $(seq 1 "$REPS"); do
  for which in base branch; do
    if [ $which = base ]; then MON=$BASE_DIR/.venv/bin/monitor; S=$BASE_STATE;
    else MON=$HERE/.venv/bin/monitor; S=$STATE; fi
    /usr/bin/time -o "$OUT.time" -f '%e %U %S %M' "$MON" poll -q --log-level WARNING \
      --workers 1 --config "$S/watchlist.yaml" 2> "$OUT.err"
    read -r wall user sys rss < "$OUT.time"
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" $which "$i" "$wall" "$user" "$sys" "$rss" \
      "$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT"
    grep -q " unchanged, 0 errors" "$OUT.err" || echo "bad run ($which): $(tail -1 "$OUT.err")" >&2
  done
done
python3 - "$OUT" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    w, _, wall, u, s, rss, load = line.split("\t")
    rows[w].append((float(wall), float(u) + float(s), int(rss) / 1024, float(load)))
print("| code | runs | wall s median (min-max) | CPU s median (min-max) | max RSS MiB | load avg |")
print("|---|---:|---:|---:|---:|---:|")
for w in ("base", "branch"):
    r = rows[w]
    walls, cpus = [x[0] for x in r], [x[1] for x in r]
    print(
        f"| {w} | {len(r)} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) "
        f"| {statistics.median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f}) "
        f"| {statistics.median(x[2] for x in r):.0f} | {statistics.median(x[3] for x in r):.1f} |"
    )
PY
