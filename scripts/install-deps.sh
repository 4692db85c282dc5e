#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test cellscope:
# libhdf5 (with pkg-config), a C/C++ compiler (zarrs builds its vendored blosc and zstd),
# tmux (end-to-end UI test) and Python anndata (fixture read-back).
# Idempotent: installs only what is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

need_apt=()
pkg-config --exists hdf5 2>/dev/null || need_apt+=(libhdf5-dev pkg-config)
command -v c++ >/dev/null || need_apt+=(g++)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c "import anndata" 2>/dev/null; then
  echo "installing Python anndata (used by tests to read back what cellscope writes)"
  python3 -m pip install -q anndata 2>/dev/null || python3 -m pip install -q --break-system-packages anndata
fi

for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$comp"
  fi
done
