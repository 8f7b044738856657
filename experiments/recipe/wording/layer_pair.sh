#!/usr/bin/env bash
# The penultimate-layer lever against the default, one pair on one machine at one commit, side by side (one core
# each, so neither run's CPU budget is bent by the other), the claims driver's training and evaluation commands:
#   SEED=2 bash experiments/recipe/wording/layer_pair.sh   -> outputs/layer_pair/{default,layer-2}_seed$SEED/eval/metrics.json
# then: python experiments/recipe/wording/layer_pair_report.py outputs/layer_pair --seeds 0 1 2
set -euo pipefail
cd "$(dirname "$0")/../../.."
SEED=${SEED:-2}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline WANDB_SILENT=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
arm() {  # name core overrides...
  local name=$1 core=$2; shift 2
  local dir=outputs/layer_pair/${name}_seed${SEED}
  rm -rf "$dir"
  taskset -c "$core" .venv/bin/python -m raphael.train budget=cpu seed="$SEED" logger=csv task_name=claims \
    experiment=raphael "$@" hydra.run.dir="$dir" > "$dir.log" 2>&1
  taskset -c "$core" .venv/bin/python -m raphael.evaluate ckpt="$dir/checkpoints/last.ckpt" hydra.run.dir="$dir/eval" \
    'guidance=[1.0,1.5,3.0,4.5]' num_prompts=64 num_holdout=64 num_wording=64 batch_size=64 device=cpu >> "$dir.log" 2>&1
}
mkdir -p outputs/layer_pair
arm default 0 &
arm layer-2 1 text_encoder.layer=-2 &
wait
