#!/usr/bin/env bash
# scripts/demo runs to its end without input, shows every step, and leaves nothing running; interrupted
# midway (SIGINT to its process group, as Ctrl-C does), it also stops everything it started.
# Usage: demo_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
export VTSYNC_DEMO_BUILD_DIR=$2 VTSYNC_DEMO_CONTACTS=${VTSYNC_DEMO_CONTACTS:-600}
out=$(mktemp -d /tmp/vtsync-demo-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Checks that nothing the demo printed as started is still there: its vtsyncd and fake Vtiger pids, and any
# process or directory of its PostgreSQL and its working directory.
check_nothing_left() {
  local log=$1 what=$2 pid dir
  for pid in $(sed -n 's/.*(pid \([0-9]*\)).*/\1/p; s/.* pid \([0-9]*\)[,)].*/\1/p' "$log" | sort -u); do
    kill -0 "$pid" 2>/dev/null && fail "$what: pid $pid is still running: $(tr '\0' ' ' </proc/"$pid"/cmdline)"
  done
  for dir in $(grep -oE '/tmp/vtsync-(pg|demo)\.[A-Za-z0-9]+' "$log" | sort -u); do
    pgrep -f -- "$dir" >/dev/null && fail "$what: a process of $dir is still running: $(pgrep -af -- "$dir")"
    [ -e "$dir" ] && fail "$what: $dir was not removed"
  done
  return 0
}

# 1. The whole tour.
start=$(date +%s)
if ! timeout 240 "$src/scripts/demo" --no-build >"$out/full.log" 2>&1; then
  fail "scripts/demo exited non-zero"
fi
echo "scripts/demo ran in $(($(date +%s) - start)) s"
for expected in \
  "== 1. Start a throwaway PostgreSQL" \
  "vtiger: ok (logged in as admin)" \
  "backfill complete: $VTSYNC_DEMO_CONTACTS rows" \
  "$VTSYNC_DEMO_CONTACTS contacts and 300 accounts are in PostgreSQL" \
  "The next poll brought it in" \
  "ada.lovelace@example.org | Chief Analyst" \
  "Vtiger created it as 12x" \
  "| Grace     | Hopper   | grace.hopper@example.org | Arlington" \
  "\"phone\": \"+1 555 0100\"" \
  "| failed      | MANDATORY_FIELDS_MISSING: lastname does not have a value" \
  "| Smith    | synced" \
  "1 failed change(s) queued again" \
  "is gone from vtiger.contacts" \
  "HTTP/1.1 200 OK" \
  "\"ready\":true" \
  "vtsync_records_pushed_total{module=\"Contacts\",op=\"create\"} 2" \
  "MODULE           CURSOR" \
  "Next: point vtsync at your own Vtiger" \
  "nothing of the demo is left running."; do
  grep -qF -- "$expected" "$out/full.log" || fail "the demo's output lacks: $expected"
done
check_nothing_left "$out/full.log" "after the tour"

# 2. Ctrl-C while the daemon runs.
setsid "$src/scripts/demo" --no-build >"$out/int.log" 2>&1 &
demo=$!
for _ in $(seq 1 600); do
  grep -q "A change made in Vtiger" "$out/int.log" && break
  kill -0 "$demo" 2>/dev/null || break
  sleep 0.1
done
grep -q "A change made in Vtiger" "$out/int.log" || fail "the demo did not reach its daemon step"
kill -INT -- "-$demo" 2>/dev/null || true
rc=0
wait "$demo" || rc=$?
[ "$rc" -ne 0 ] || fail "interrupted, the demo exited 0"
grep -qF "nothing of the demo is left running." "$out/int.log" || fail "interrupted, the demo did not clean up"
check_nothing_left "$out/int.log" "after Ctrl-C"

if [ "$failures" -ne 0 ]; then
  echo "--- the tour's output"; cat "$out/full.log"
  echo "--- the interrupted run's output"; cat "$out/int.log"
  exit 1
fi
echo "the demo ran to its end and cleaned up, also when interrupted"
