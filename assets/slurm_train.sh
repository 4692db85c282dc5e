#!/usr/bin/env bash
# Example SLURM batch job: pretrain with cellscope on a cluster node, headless.
# Submit:  sbatch assets/slurm_train.sh /path/to/atlas.h5ad
# Browse:  cellscope   (open the Runs tab in the directory that holds runs/), or
#          cellscope eval runs/<run>  /  tail -f runs/<run>/metrics.jsonl
#SBATCH --job-name=cellscope-pretrain
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --output=cellscope-%j.log
# SIGTERM 2 minutes before the time limit: cellscope finishes the batch and checkpoints.
#SBATCH --signal=TERM@120
# On a GPU partition, also:  #SBATCH --gres=gpu:1  and build with `cargo build --release --features cuda`.
set -euo pipefail
DATA=${1:?usage: sbatch slurm_train.sh DATA.h5ad [METHOD]}
METHOD=${2:-masked}
# Training threads come from the config: write a small one layered over the defaults.
CONFIG=$(mktemp --suffix=.toml)
printf '[train]\nthreads = %s\n' "${SLURM_CPUS_PER_TASK:-1}" > "$CONFIG"
# One readable line per epoch lands in cellscope-<jobid>.log; the run directory holds
# config.toml, metrics.jsonl and atomic checkpoints, so a stopped or killed job continues with
# `cellscope train --resume runs/<run>`.
cellscope train "$DATA" --method "$METHOD" --out runs --config "$CONFIG"
