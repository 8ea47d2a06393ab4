#!/usr/bin/env bash
# Installs the Python side of `peft bench` (suite "python"): Debian's PyTorch and a real
# multithreaded BLAS, so the comparison with PeftSharp is fair. Not needed by the test suite.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  echo "python3-torch is already installed: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  exit 0
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch python3-numpy libopenblas0-pthread
/usr/bin/python3 -c "import torch; print('installed torch', torch.__version__, 'threads', torch.get_num_threads())"
