#!/bin/sh
# Runs `systemd-analyze verify` on unit files and fails on any complaint: systemd-analyze exits 0 on
# warnings such as an unknown key, so its output must be empty too.
# Works without systemd as PID 1 (containers, CI); ExecStart= binaries must exist.
out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$@" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf 'systemd-analyze verify exited %s:\n%s\n' "$rc" "$out"
  exit 1
fi
echo "verified: $*"
