#!/usr/bin/env bash
# Training, embedding and k-means speed of cellscope against PyTorch (masked autoencoder and
# Barlow Twins from torch_reference.py, BYOL from scripts/torch_byol.py) and scikit-learn, measured
# alternately (3 rounds by default) on the same machine; prints the load average of each round.
# Usage: scripts/bench_vs_torch.sh [rounds]   (from the repository root, after
#   `cargo build --release`). Needs ../shared/tools/{synth_h5ad,torch_reference}.py and a Python
#   with torch (TORCH_PY, default /work/venv-torch/bin/python) and scikit-learn (python3).
set -euo pipefail
rounds=${1:-3}
torch_py=${TORCH_PY:-/work/venv-torch/bin/python}
# torch_reference.py also imports anndata and scanpy: add the system site-packages if the venv lacks them.
export PYTHONPATH=${PYTHONPATH:-$(python3 -c "import site; print(site.getsitepackages()[0])")}
tools=${TOOLS:-../shared/tools}
work=${BENCH_WORK:-/tmp/cellscope-bench}
bin=./target/release/cellscope
mkdir -p "$work"
h5ad="$work/synth50k.h5ad"
[ -f "$h5ad" ] || python3 "$tools/synth_h5ad.py" --n-cells 50000 --n-genes 2000 --out "$h5ad"
python3 scripts/bench_kmeans_sklearn.py --write "$work/kmeans.npy"
for r in $(seq "$rounds"); do
  echo "== round $r: $(uptime)"
  grep -m1 "model name" /proc/cpuinfo
  $bin bench train
  "$torch_py" "$tools/torch_reference.py" --h5ad "$h5ad" --model mae --arch repo --threads 2 \
    --epochs 2 --out "$work/torch_mae.json" | tail -4
  "$torch_py" "$tools/torch_reference.py" --h5ad "$h5ad" --model bt --projector 256-256-512-512 \
    --threads 2 --epochs 2 --out "$work/torch_bt.json" | tail -4
  "$torch_py" scripts/torch_byol.py --tools "$tools" --h5ad "$h5ad" --max-cells 20000 --epochs 3 \
    --threads 2 | tail -1
  $bin bench kmeans --file "$work/kmeans.npy"
  python3 scripts/bench_kmeans_sklearn.py --read "$work/kmeans.npy"
done
