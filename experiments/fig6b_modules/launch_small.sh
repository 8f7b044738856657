#!/usr/bin/env bash
# Exactly what produced the committed small-budget results (log: logs/small.log).
# A first launch of run.sh trained baseline seed 0 (40 steps, the run.sh settings) but its evaluation
# failed (run-dir paths with ',' were not quoted for Hydra; fixed in raphael.metrics.sweep), and it was
# stopped to fix that. Its checkpoint is evaluated here with the very overrides evaluate_after uses, then
# run.sh runs every other (experiment, seed) in the default order.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
CKPT=$(ls -d outputs/fig6b_modules/small/2026-11-22_00-38-25/0_*)/checkpoints/last.ckpt
"$PY" -m raphael.evaluate "ckpt='$CKPT'" "hydra.run.dir='$(dirname "$(dirname "$CKPT")")/eval'" \
  steps=8 num_prompts=8 num_holdout=4 batch_size=12 fid.num_real=512 device=cpu \
  out_json=experiments/fig6b_modules/results/small/baseline_seed0.json
PLAN="raphael:0;baseline,raphael:1;space_moe,time_moe,edge:0;space_moe,time_moe,edge:1" \
  BUDGET=small bash experiments/fig6b_modules/run.sh
