#!/usr/bin/env bash
# Sets the machine up (scripts/setup.sh), builds everything, runs the test suite and ends with the
# plain summary line `N passed, N failed` (`, N skipped` when tests were skipped). Exits non-zero
# when setup or the build fails or any test fails.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if ! bash scripts/setup.sh; then
  echo "setup failed"
  echo "0 passed, 1 failed"
  exit 1
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
dotnet test PeftSharp.slnx -c Release --nologo \
  --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" \
  --results-directory "$results"
status=$?

trx=$(find "$results" -name '*.trx' | head -n 1)
if [ -z "$trx" ]; then
  echo "no test results were produced (the build failed or no test ran)"
  echo "0 passed, 1 failed"
  exit 1
fi

counter() {
  local value
  value=$(grep -o "<Counters [^>]*>" "$trx" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*')
  echo "${value:-0}"
}
passed=$(counter passed)
failed=$(counter failed)
total=$(counter total)
executed=$(counter executed)
skipped=$((total - executed))
failed=$((failed + $(counter error) + $(counter timeout) + $(counter aborted)))

if [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; then
  echo "dotnet test exited with status $status"
  failed=1
fi

if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
