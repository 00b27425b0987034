#!/usr/bin/env bash
# One version everywhere: CHANGELOG.md's newest heading, `vtsyncd --version`, and the package the README's
# install steps name. Usage: versions_agree.sh VTSYNCD SOURCE_DIR
set -euo pipefail
bin=$1; cd "$2"
changelog=$(grep -m1 -oE '^## \[[0-9]+\.[0-9]+\.[0-9]+\]' CHANGELOG.md | grep -oE '[0-9]+\.[0-9]+\.[0-9]+')
binary=$("$bin" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)
readme=$(sed -n '/install-steps:begin/,/install-steps:end/p' README.md | grep -oE 'vtsync_[0-9.]+_amd64\.deb' | head -n1)
echo "CHANGELOG $changelog, vtsyncd --version $binary, README $readme"
[ -n "$changelog" ] && [ "$binary" = "$changelog" ] && [ "$readme" = "vtsync_${changelog}_amd64.deb" ] || {
  echo "versions_agree: they differ" >&2; exit 1; }
