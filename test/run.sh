#!/usr/bin/env bash
# The whole test suite, from a clean clone, as root on Debian 12:
# sets up the test environment (packages, bun, test user, local registries,
# fixture images), installs the npm dependencies, builds dist/tspod, runs bun test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) == 0 ]] || { echo "test/run.sh: run as root (it sets up users, devices and a local registry)" >&2; exit 2; }
bash test/env/setup.sh
echo "[test] npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "[test] build"
bun run build
echo "[test] typecheck"
npx --no-install tsc --noEmit -p .
echo "[test] bun test"
# the failures again at the end, with their messages (a CI log keeps its last lines)
report=$(mktemp /tmp/tspod-junit.XXXXXX)
trap 'rm -f "$report"' EXIT
rc=0
bun test --timeout 120000 --reporter=junit --reporter-outfile="$report" "$@" || rc=$?
if [[ $rc != 0 && -s $report ]]; then bun test/env/failures.ts "$report" || true; fi
exit $rc
