#!/usr/bin/env bash
# Install nfields and everything it needs on a fresh Debian/Ubuntu machine (the README's first command).
#   - Debian package dataset-fashion-mnist: the Fashion-MNIST IDX files for data=fashion_mnist (offline);
#   - the package itself, editable, with its dev extras (pytest, ruff).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist \
    || echo "warning: could not install dataset-fashion-mnist; data=fashion_mnist will be unavailable" >&2
fi

python -m pip install --progress-bar off -e ".[dev]"
