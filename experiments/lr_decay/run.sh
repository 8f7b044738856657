#!/usr/bin/env bash
# The learning-rate schedule at budget=cpu (issue 11): experiment=raphael, 20 CPU core-minutes per run
# (one thread, pinned to one core: CORES="0 1" runs two arms side by side, CORES=1 one at a time on core 1
# while core 0 does other work; nothing else may run on a core an arm uses), each arm a one-job Hydra multirun whose
# evaluate_after callback scores last.ckpt with raphael.evaluate (64 evaluation + 64 held-out prompts,
# guidance 1.0 and 2.0, 25 DDIM steps). Arms: ARM_<name> "overrides"; results/<name>_seed<k>.json.
# Then: python experiments/lr_decay/report.py
#
#   ARMS="linear_1e-3 linear_2e-3" SEED=0 bash experiments/lr_decay/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/lr_decay
PY=${PYTHON:-.venv/bin/python}
SEED=${SEED:-0}
MINUTES=${MINUTES:-19}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

declare -A ARM=(
  [constant_1e-3]="optim.decay=none optim.optimizer.lr=1e-3"
  [linear_1e-3]="optim.decay=linear optim.optimizer.lr=1e-3"
  [linear_2e-3]="optim.decay=linear optim.optimizer.lr=2e-3"
  [linear_3e-3]="optim.decay=linear optim.optimizer.lr=3e-3"
  [cosine_2e-3]="optim.decay=cosine optim.optimizer.lr=2e-3"
  [linear_2e-3_b16]="optim.decay=linear optim.optimizer.lr=2e-3 data.batch_size=16"
  [linear_2e-3_b64]="optim.decay=linear optim.optimizer.lr=2e-3 data.batch_size=64"
  [linear_2e-3_w24]="optim.decay=linear optim.optimizer.lr=2e-3 model.channels=24"
)
ARMS=${ARMS:-linear_1e-3 linear_2e-3}
read -r -a CORE_LIST <<< "${CORES:-0 1}"

job() {  # $1 arm, $2 core
  # shellcheck disable=SC2086
  taskset -c "$2" "$PY" -m raphael.train -m experiment=raphael budget=cpu seed="$SEED" logger=csv task_name=lr_decay \
    "trainer.max_time=00:00:$MINUTES:00" ${ARM[$1]} \
    hydra.sweep.dir="outputs/lr_decay/$1/seed$SEED" hydra.sweep.subdir=. \
    hydra/callbacks=evaluate_after hydra.callbacks.evaluate_after.results_dir="$HERE/results/$1" \
    'hydra.callbacks.evaluate_after.name_keys=[seed]' \
    'hydra.callbacks.evaluate_after.overrides=["guidance=[1.0,2.0]","num_prompts=64","num_holdout=64","batch_size=64","fid.enabled=false","device=cpu"]' \
    > "$HERE/logs/$1_seed$SEED.log" 2>&1
}

mkdir -p "$HERE/logs" "$HERE/results"
slot=0
for arm in $ARMS; do
  [ -n "${ARM[$arm]:-}" ] || { echo "unknown arm $arm (known: ${!ARM[*]})" >&2; exit 2; }
  job "$arm" "${CORE_LIST[$slot]}" &
  slot=$(( (slot + 1) % ${#CORE_LIST[@]} ))
  if [ "$slot" -eq 0 ]; then wait; fi
done
wait
