#!/usr/bin/env bash
# bench/failover.sh [KILLS] : the failover time of `vtsyncd run` under kill -9.
# Three daemons on one configuration (fake Vtiger, throwaway PostgreSQL unless VTSYNC_TEST_POSTGRES is set);
# the holder of the Contacts lease is SIGKILLed KILLS times (default 10) at varying points of its cycle
# and restarted. Prints `failover_ms p50=... max=...`: from the kill to the first pull request of the new
# holder, read from the fake's request log. Env: BUILD_DIR (default build), VTSYNC_FAILOVER_POLL (default
# 1s, the poll interval). Prints figures only; asserts nothing about speed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
bin="$build/tests/ha/vtsync_ha_failover_bench"
if [ ! -x "$bin" ] || [ ! -x "$build/vtsyncd" ] || [ ! -x "$build/fake-vtiger" ]; then
  cmake --build "$build" --target vtsync_ha_failover_bench vtsyncd fake-vtiger >&2
fi
if [ -z "${VTSYNC_TEST_POSTGRES:-}" ]; then
  # shellcheck source=../scripts/lib/pg.sh
  source scripts/lib/pg.sh
  pg_start >&2
  trap pg_stop EXIT
fi
out=$(VTSYNC_FAILOVER_KILLS="${1:-10}" "$bin" --gtest_filter='HaE2e.FailoverTime' 2>&1) || {
  echo "$out" >&2
  exit 1
}
grep -E '^failover_ms' <<<"$out"
