#!/usr/bin/env bash
# Installs NVIDIA's CUDA 13.0 toolkit from its Python wheels into a venv (no apt, no GPU needed)
# and writes an env file with what candle's `cuda` build needs. Usage:
#
#   scripts/install-cuda-toolkit.sh [VENV]          # default VENV: .cuda-venv
#   source .cuda-venv/cuda-env.sh
#   CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda
#
# The wheels are pinned to 13.0 (the H200 test machine's driver 580 is CUDA 13.0; PTX from a newer
# nvcc may be refused by it). On a machine without an NVIDIA driver a link-time stub libcuda.so is
# generated from cudarc's list of driver symbols (as NVIDIA's toolkit ships in lib64/stubs); the
# real driver library is loaded at run time. Idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$ROOT/.cuda-venv}"
PY="${PYTHON:-python3}"

WHEELS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
echo "installing CUDA 13.0 wheels: ${WHEELS[*]}"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${WHEELS[@]}"

CU="$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"
[ -x "$CU/bin/nvcc" ] || { echo "error: no nvcc in $CU/bin" >&2; exit 1; }

# The wheels ship only versioned sonames (libcublas.so.13); the linker looks for libX.so.
for lib in "$CU"/lib/lib*.so.*; do
  base="${lib%%.so.*}.so"
  [ -e "$base" ] || ln -s "$(basename "$lib")" "$base"
done
# candle's build looks for lib64 under CUDA_ROOT.
[ -e "$CU/lib64" ] || ln -s lib "$CU/lib64"

# Link-time stub for the driver library when no driver is installed.
STUBS="$CU/lib/stubs"
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
  if [ ! -e "$STUBS/libcuda.so" ]; then
    echo "no NVIDIA driver here: generating a link-time stub libcuda.so"
    (cd "$ROOT" && cargo fetch -q)
    SYS="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | tail -1)"
    [ -f "$SYS" ] || { echo "error: cudarc's driver bindings not found after cargo fetch" >&2; exit 1; }
    mkdir -p "$STUBS"
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*\b' "$SYS" | sort -u |
      sed 's/.*/void &(void) {}/' >"$STUBS/libcuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUBS/libcuda.so" "$STUBS/libcuda_stub.c"
    ln -sf libcuda.so "$STUBS/libcuda.so.1"
    echo "stub: $(wc -l <"$STUBS/libcuda_stub.c") symbols from $SYS"
  fi
  LINK_STUBS="$STUBS"
else
  LINK_STUBS=""
fi

ENV_FILE="$VENV/cuda-env.sh"
cat >"$ENV_FILE" <<EOF
# Written by scripts/install-cuda-toolkit.sh: source before \`cargo build --features cuda\`.
export CUDA_ROOT="$CU"
export CUDA_PATH="$CU"
export PATH="$CU/bin:\$PATH"
export CUDA_COMPUTE_CAP=90
export CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH="$CU/lib${LINK_STUBS:+:$LINK_STUBS}\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export RUSTFLAGS="\${RUSTFLAGS:-} -L native=$CU/lib${LINK_STUBS:+ -L native=$LINK_STUBS}"
EOF
echo "nvcc: $("$CU/bin/nvcc" --version | tail -1)"
# Smoke test: compile and assemble a kernel for sm_90 (catches an nvvm/ptxas version mismatch).
SMOKE="$(mktemp -d)"
echo '__global__ void k(float *x) { x[threadIdx.x] *= 2.0f; }' >"$SMOKE/k.cu"
PATH="$CU/bin:$PATH" "$CU/bin/nvcc" -arch=sm_90 -cubin -o "$SMOKE/k.cubin" "$SMOKE/k.cu" ||
  { echo "error: nvcc cannot build an sm_90 kernel (mismatched toolkit wheels?)" >&2; exit 1; }
rm -rf "$SMOKE"
echo "wrote $ENV_FILE:"
cat "$ENV_FILE"
echo "next: source $ENV_FILE && CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda"
