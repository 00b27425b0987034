#!/usr/bin/env bash
# Every command README.md names exists: each `vtsyncd SUBCOMMAND` (in backticks or in a code block) answers
# `vtsyncd SUBCOMMAND --help` with exit 0, each scripts/NAME is an executable file, each docs/NAME.md is a
# file. And the reverse for subcommands: each one `vtsyncd --help` lists is named in the README.
# Usage: readme_names_exist.sh VTSYNCD SOURCE_DIR
set -euo pipefail
vtsyncd=$1
src=$2
readme=$src/README.md
[ -x "$vtsyncd" ] || { echo "no executable $vtsyncd" >&2; exit 1; }
[ -f "$readme" ] || { echo "no $readme" >&2; exit 1; }

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Code blocks (between ``` fences) and backtick spans; prose mentions such as "vtsyncd reads" are ignored.
code=$(awk '/^```/ { inside = !inside; next } inside' "$readme")
spans=$(grep -oE '`[^`]+`' "$readme" || true)
subcommands=$(
  {
    printf '%s\n' "$spans" | grep -oE '^`vtsyncd [a-z][a-z-]*' | sed 's/^`vtsyncd //'
    printf '%s\n' "$code" | grep -oE '(^|[;&|(]|sudo|\$) *vtsyncd [a-z][a-z-]*' | sed 's/.*vtsyncd //'
  } | sort -u
)
[ -n "$subcommands" ] || fail "README.md names no vtsyncd subcommand at all"
for sub in $subcommands; do
  if "$vtsyncd" "$sub" --help >/dev/null 2>&1; then
    echo "ok: vtsyncd $sub --help"
  else
    fail "README.md names 'vtsyncd $sub', but '$vtsyncd $sub --help' exits $?"
  fi
done

# The reverse: every subcommand of `vtsyncd --help` (except the documentation helpers) is in the README.
listed=$("$vtsyncd" --help | awk '/^[A-Za-z ]*[Ss][Uu][Bb][Cc][Oo][Mm][Mm][Aa][Nn][Dd][Ss]:/ { on = 1; next }
                                 /^[A-Za-z ]+:$/ { on = 0 }
                                 on && /^  [a-z]/ { print $1 }')
[ -n "$listed" ] || fail "could not read the subcommands from 'vtsyncd --help'"
for sub in $listed; do
  case "$sub" in config-sample | config-reference) continue ;; esac
  grep -qx -- "$sub" <<<"$subcommands" || fail "'vtsyncd $sub' exists but README.md does not name it"
done

for script in $(grep -oE '(^|[^a-z/.])scripts/[a-z][a-z-]*' "$readme" | sed 's/.*scripts\//scripts\//' | sort -u); do
  if [ -f "$src/$script" ] && [ -x "$src/$script" ]; then echo "ok: $script"; else fail "README.md names $script, which is not an executable file"; fi
done
for doc in $(grep -oE 'docs/[a-z][a-z-]*\.md' "$readme" | sort -u); do
  if [ -f "$src/$doc" ]; then echo "ok: $doc"; else fail "README.md names $doc, which does not exist"; fi
done

[ "$failures" -eq 0 ] || { echo "$failures problem(s) in README.md" >&2; exit 1; }
echo "README.md names only things that exist"
