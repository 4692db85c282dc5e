#!/usr/bin/env bash
# GPU check of the `cuda` build, in two steps:
#
#   scripts/gpu_check.sh bundle      # on a development machine, after
#                                    # CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda
#   scripts/gpu_check.sh run         # on the GPU machine, from the repository root with gpu-bundle/
#   scripts/gpu_check.sh dry-run     # here, with the CPU build: the same steps, device path on the CPU
#
# `bundle` packs (into gpu-bundle.tar.xz, to carry) the stripped binary and the non-system shared libraries it needs (libhdf5 and
# friends; not the CUDA libraries, which the GPU machine's python3 provides as NVIDIA's wheels)
# into gpu-bundle/. `run` writes a synthetic 200,000-cell file, trains masked and Barlow Twins for
# one epoch (a fixed number of steps) on the GPU and on the CPU from the same seed, and prints
# cells/s for each, the relative loss difference, the GPU memory used and the embedding rate.
# It exits non-zero when a run fails or the losses differ by more than LOSS_RTOL. Budget: < 10 min.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${1:-run}"
BUNDLE="$ROOT/gpu-bundle"
CELLS="${CELLS:-200000}"
GENES="${GENES:-2000}"
BATCH="${BATCH:-4096}"
# Relative difference allowed between the GPU and CPU epoch losses (both f32; sums differ).
LOSS_RTOL="${LOSS_RTOL:-0.01}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK"

bundle() {
  local bin="${CUDA_BIN:-$ROOT/target-cuda/release/cellscope}"
  [ -x "$bin" ] || { echo "error: $bin missing: build it first (see the header)" >&2; exit 1; }
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib"
  cp "$bin" "$BUNDLE/cellscope" && strip "$BUNDLE/cellscope"
  # Libraries outside the C runtime and the CUDA/driver ones, which the GPU machine has.
  ldd "$bin" | awk '/=> \// {print $3}' |
    grep -vE '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux)[.-]' |
    grep -vE 'lib(cuda|cublas|cublasLt|curand|nvrtc|cudart)\.' |
    while read -r lib; do cp -L "$lib" "$BUNDLE/lib/"; done
  # The device tool carries at most 64 MiB: ship it compressed (the kernels' PTX packs well).
  tar -C "$ROOT" -cJf "$ROOT/gpu-bundle.tar.xz" gpu-bundle && rm -rf "$BUNDLE"
  du -h "$ROOT/gpu-bundle.tar.xz"
}

# Writes $WORK/synth.h5ad: with anndata when present, else (or with PLAIN_H5PY=1) a minimal CSR
# .h5ad through h5py.
write_data() {
  local out="$WORK/synth.h5ad"
  if [ -z "${PLAIN_H5PY:-}" ] && python3 -c "import anndata, scipy, pandas" 2>/dev/null; then
    python3 "$ROOT/scripts/synth_h5ad.py" --n-cells "$CELLS" --n-genes "$GENES" --out "$out" >/dev/null
  else
    python3 - "$out" "$CELLS" "$GENES" <<'PY'
import sys
import h5py
import numpy as np
out, n, g = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
types = rng.integers(0, 8, n)
base = rng.normal(-3.0, 1.2, g)
shift = rng.normal(0.0, 1.5, (8, g)) * (rng.random((8, g)) < 0.08)
data, indices, indptr = [], [], [0]
for lo in range(0, n, 20000):
    hi = min(n, lo + 20000)
    counts = rng.poisson(np.exp(base + shift[types[lo:hi]]))
    r, c = np.nonzero(counts)
    data.append(counts[r, c].astype(np.float32)); indices.append(c.astype(np.int32))
    indptr.extend((np.cumsum(np.bincount(r, minlength=hi - lo)) + indptr[-1]).tolist())
s = h5py.string_dtype()
with h5py.File(out, "w") as f:
    f.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    x = f.create_group("X")
    x.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": (n, g)})
    x["data"], x["indices"] = np.concatenate(data), np.concatenate(indices)
    x["indptr"] = np.asarray(indptr, dtype=np.int64)
    for name, index in (("obs", [f"cell_{i}" for i in range(n)]), ("var", [f"gene_{j:04d}" for j in range(g)])):
        d = f.create_group(name)
        d.attrs.update({"encoding-type": "dataframe", "encoding-version": "0.2.0", "_index": "_index"})
        d.attrs.create("column-order", np.array([], dtype=s), dtype=s)
        d.create_dataset("_index", data=np.array(index, dtype=object), dtype=s)
        d["_index"].attrs.update({"encoding-type": "string-array", "encoding-version": "0.2.0"})
PY
  fi
  echo "$out"
}

# train LABEL METHOD DEVICE PATH: one epoch; prints the run directory.
train() {
  local label="$1" method="$2" device="$3" path="$4" cfg="$WORK/$1.toml"
  cat >"$cfg" <<EOF
[model]
device = "$device"
path = "$path"
[train]
method = "$method"
epochs = 1
batch_size = $BATCH
patience = 0
seed = 0
out_dir = "$WORK/runs-$label"
[data]
memory_budget_mb = 8192
EOF
  "$BIN" --config "$cfg" train "$DATA" --method "$method" >"$WORK/$label.log" 2>&1 ||
    { echo "error: $label failed:" >&2; tail -20 "$WORK/$label.log" >&2; exit 1; }
  ls -d "$WORK/runs-$label"/*/
}

# Summary field of a run directory.
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/summary.json'))[sys.argv[2]])" "$1" "$2"; }

check() {
  local gpu_device="$1" gpu_path="$2"
  DATA="$(write_data)"
  echo "data: $DATA ($CELLS cells x $GENES genes); batch $BATCH, one epoch"
  local status=0 mem_log="$WORK/gpu-mem.log"
  if command -v nvidia-smi >/dev/null; then
    (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) >"$mem_log" &
    MEM_PID=$!
  fi
  for method in masked barlow; do
    local dev cpu
    dev="$(train "$method-gpu" "$method" "$gpu_device" "$gpu_path")"
    cpu="$(train "$method-cpu" "$method" cpu fast)"
    echo "$method: $(field "$dev" path_reason)"
    python3 - "$dev" "$cpu" "$method" "$LOSS_RTOL" <<'PY' || status=1
import json, sys
dev, cpu, method, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
a, b = (json.load(open(d + "/summary.json")) for d in (dev, cpu))
gap = abs(a["last_val_loss"] - b["last_val_loss"]) / max(abs(b["last_val_loss"]), 1e-12)
print(f"  {method}: {a['device']} {a['cells_per_sec']:,.0f} cells/s, cpu {b['cells_per_sec']:,.0f} cells/s; "
      f"val loss {a['last_val_loss']:.6f} vs {b['last_val_loss']:.6f} (relative {gap:.2e}, limit {tol})")
sys.exit(0 if gap <= tol else 1)
PY
  done
  if [ -n "${MEM_PID:-}" ]; then
    kill "$MEM_PID" 2>/dev/null || true
    echo "GPU memory used (peak): $(sort -n "$mem_log" | tail -1) MiB"
  fi
  local cfg="$WORK/masked-gpu.toml"
  echo "embedding: $("$BIN" --config "$cfg" bench embed)"
  [ "$status" = 0 ] && echo "gpu check: OK" || echo "gpu check: MISMATCH (see above)"
  return "$status"
}

case "$MODE" in
  bundle) bundle ;;
  run)
    BIN="$BUNDLE/cellscope"
    [ -x "$BIN" ] || [ ! -f "$ROOT/gpu-bundle.tar.xz" ] || tar -C "$ROOT" -xJf "$ROOT/gpu-bundle.tar.xz"
    [ -x "$BIN" ] || { echo "error: no $BIN: run 'scripts/gpu_check.sh bundle' first" >&2; exit 1; }
    CU_LIB="$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')"
    export LD_LIBRARY_PATH="$BUNDLE/lib:$CU_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    check cuda auto
    ;;
  dry-run)
    BIN="${CPU_BIN:-$ROOT/target/release/cellscope}"
    [ -x "$BIN" ] || { echo "error: no $BIN (cargo build --release)" >&2; exit 1; }
    check cpu device
    ;;
  *) echo "usage: $0 bundle|run|dry-run" >&2; exit 2 ;;
esac
