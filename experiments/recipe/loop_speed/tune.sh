#!/usr/bin/env bash
# Scores each finished arm's last checkpoint on the TUNING prompts (prompt_seed=1: 64 + 64 held-out, guidance 1,
# the run's eta), where arms are compared; budget_arms.sh's own evaluation (prompt_seed=0) is the reported figure.
#   CORE=0 bash experiments/recipe/loop_speed/tune.sh <arm>/seed<s> ...
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
for run in "$@"; do
  arm=${run%/*} seed=${run#*/}
  out=experiments/recipe/loop_speed/tuning/$arm/raphael_$seed.json
  [ -f "$out" ] && continue
  mkdir -p "$(dirname "$out")"
  taskset -c "${CORE:-0}" "$PY" -m raphael.evaluate ckpt="outputs/loop_speed/$run/checkpoints/last.ckpt" prompt_seed=1 \
    "guidance=[1.0]" num_prompts=64 num_holdout=64 batch_size=64 fid.enabled=false device=cpu label="$arm" \
    out_json="$out" hydra.run.dir="outputs/loop_speed/$run/eval_tuning" > "outputs/loop_speed/$run/eval_tuning.log" 2>&1
done
