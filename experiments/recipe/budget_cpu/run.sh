#!/usr/bin/env bash
# budget=cpu (issue 11): experiment=raphael, seeds 0, 1, 2, each trained for 20 CPU core-minutes
# (conf/budget/cpu.yaml: one torch thread, 19 minutes of training, then one validation), two seeds side
# by side on the 2 cores, then the third. Each job is a Hydra multirun job whose evaluate_after callback
# evaluates its last.ckpt with raphael.evaluate: 64 training-distribution prompts + 64 held-out
# compositions, guidance 1.0 (the default) and 4.5, 25 DDIM steps. Then: python report.py.
#
#   bash experiments/recipe/budget_cpu/run.sh              # about 45 minutes wall
#   SEEDS="0 1" EXPERIMENT=space_moe bash experiments/recipe/budget_cpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/recipe/budget_cpu
PY=${PYTHON:-.venv/bin/python}
EXPERIMENT=${EXPERIMENT:-raphael}
SEEDS=${SEEDS:-0 1 2}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
[ -f data/shapes/dataset.json ] || "$PY" -m raphael.data.shards make-shapes --out data/shapes --num 8000 --val 512

job() {  # one seed: a one-job multirun, so the evaluate_after callback evaluates it
  "$PY" -m raphael.train -m experiment="$EXPERIMENT" budget=cpu seed="$1" logger=csv task_name=budget_cpu \
    hydra.sweep.dir="outputs/budget_cpu/$EXPERIMENT/seed$1" hydra.sweep.subdir=. \
    hydra/callbacks=evaluate_after hydra.callbacks.evaluate_after.results_dir="$HERE/results" \
    'hydra.callbacks.evaluate_after.overrides=["guidance=[1.0,4.5]","num_prompts=64","num_holdout=64","batch_size=64","fid.enabled=false","device=cpu"]' \
    > "$HERE/logs/${EXPERIMENT}_seed$1.log" 2>&1
}

mkdir -p "$HERE/logs" "$HERE/results"
running=0
for seed in $SEEDS; do
  job "$seed" &
  running=$((running + 1))
  if [ "$running" -eq 2 ]; then wait -n; running=$((running - 1)); fi
done
wait
"$PY" "$HERE/report.py"
