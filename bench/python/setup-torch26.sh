#!/usr/bin/env bash
# Debian 13's python3-torch 2.6 (with its Python 3.13 and OpenBLAS 0.3.29) beside a Debian 12
# system, without installing anything into it: apt resolves trixie's packages against an empty
# dpkg status, downloads them into a private folder, and dpkg -x unpacks them there (no maintainer
# scripts). The wrapper runs trixie's python3.13 with trixie's own loader and libraries.
# Needs the trixie suite in apt's sources (pinned low is enough). About 200 MB download, 1 GB unpacked.
#
#   bash bench/python/setup-torch26.sh [/opt/trixie-torch]
#   PEFT_PYTHON=/opt/trixie-torch/python3 dotnet run -c Release --project bench/PeftSharp.Bench -- python-decoder --large
set -euo pipefail
DIR="${1:-/opt/trixie-torch}"
PACKAGES="python3-torch python3-numpy libopenblas0-pthread"
mkdir -p "$DIR/debs/partial" "$DIR/state" "$DIR/root"
: > "$DIR/state/status"
apt-get -q -y --download-only -t trixie \
  -o Dir::State::status="$DIR/state/status" -o Dir::Cache::archives="$DIR/debs" -o APT::Install-Recommends=false \
  install $PACKAGES
for deb in "$DIR"/debs/*.deb; do
  dpkg -x "$deb" "$DIR/root"
done
LIB="$DIR/root/usr/lib/x86_64-linux-gnu"
# What update-alternatives would do: the reference BLAS/LAPACK names resolve to OpenBLAS (pthread).
ln -sf openblas-pthread/libblas.so.3 "$LIB/libblas.so.3"
ln -sf openblas-pthread/liblapack.so.3 "$LIB/liblapack.so.3"
cat > "$DIR/python3" <<EOF
#!/bin/sh
# Debian 13's python3.13 + python3-torch 2.6, unpacked into $DIR/root (see bench/python/setup-torch26.sh).
export PYTHONHOME=$DIR/root/usr
exec $LIB/ld-linux-x86-64.so.2 --library-path $LIB:$LIB/openblas-pthread:$DIR/root/lib/x86_64-linux-gnu $DIR/root/usr/bin/python3.13 "\$@"
EOF
chmod +x "$DIR/python3"
"$DIR/python3" -c "import torch; print('torch', torch.__version__, 'at', '$DIR/python3')"
