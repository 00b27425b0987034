#!/usr/bin/env bash
# The repository stands alone: no tracked file may refer to the sibling folder of the development machine
# (the recordings the tests use are copied into tests/fixtures/vtiger-8.2). Usage: stands_alone.sh SOURCE_DIR
set -euo pipefail
cd "$1"
sibling='shared'
# the sibling folder, by a relative or absolute path, in any tracked file (the name is spelled apart here)
pattern="\.\./${sibling}([/\"' ]|\$)|/work/${sibling}"
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "stands_alone: $1 is not a git checkout: cannot list tracked files" >&2
  exit 1
fi
if hits=$(git grep -n -I -E "$pattern" -- . ':!tests/fixtures'); then
  echo "stands_alone: these tracked files refer to a folder outside the repository:" >&2
  echo "$hits" >&2
  exit 1
fi
[ -f tests/fixtures/vtiger-8.2/INDEX.md ] || { echo "stands_alone: tests/fixtures/vtiger-8.2 is missing" >&2; exit 1; }
echo "stands_alone: no tracked file refers outside the repository"
