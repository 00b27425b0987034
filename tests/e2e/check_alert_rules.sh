#!/usr/bin/env bash
# The alerting kit's rules (contrib/prometheus): promtool accepts them, and their unit tests pass.
# Fails (does not skip) when promtool is missing: scripts/install-deps installs Debian's prometheus.
set -euo pipefail
dir=${1:?usage: check_alert_rules.sh CONTRIB_PROMETHEUS_DIR}
if ! command -v promtool >/dev/null; then
  echo "promtool is not installed (scripts/install-deps installs Debian's prometheus package)" >&2
  exit 1
fi
promtool check rules "$dir/vtsync-alerts.yml"
cd "$dir" && promtool test rules vtsync-alerts.test.yml
