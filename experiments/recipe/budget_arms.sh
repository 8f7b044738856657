#!/usr/bin/env bash
# Arms at budget=cpu (issue 11): each arm is a set of overrides on `experiment=$EXPERIMENT budget=cpu`,
# trained for 20 CPU core-minutes (one thread, pinned to one core: CORES="0 1" runs two arms side by side,
# CORES=1 one at a time on core 1 while core 0 does other work; nothing else may run on a core an arm
# uses), each a one-job Hydra multirun whose evaluate_after callback scores last.ckpt with raphael.evaluate
# (64 evaluation + 64 held-out prompts, 25 DDIM steps, guidance $GUIDANCE).
# The experiment folder ($1) holds arms.sh: `declare -A ARM=([name]="overrides" ...)` and optionally
# EXPERIMENT / GUIDANCE; results land in $1/results/<arm>/, logs in $1/logs/, runs in outputs/<folder>/.
#
#   ARMS="linear_2e-3" SEED=0 CORES=1 bash experiments/recipe/budget_arms.sh experiments/recipe/lr_decay
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=${1:?usage: budget_arms.sh experiments/<folder>}
NAME=$(basename "$HERE")
PY=${PYTHON:-.venv/bin/python}
SEED=${SEED:-0}
MINUTES=${MINUTES:-19}
EXPERIMENT=raphael
GUIDANCE="[1.0,2.0]"
# shellcheck source=/dev/null
source "$HERE/arms.sh"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ARMS=${ARMS:?ARMS="<arm> ..." (known: ${!ARM[*]})}
read -r -a CORE_LIST <<< "${CORES:-0 1}"

job() {  # $1 arm, $2 core
  # shellcheck disable=SC2086
  taskset -c "$2" "$PY" -m raphael.train -m experiment="$EXPERIMENT" budget=cpu seed="$SEED" logger=csv \
    task_name="$NAME" "callbacks.cpu_budget.duration=00:00:$MINUTES:00" ${ARM[$1]} \
    hydra.sweep.dir="outputs/$NAME/$1/seed$SEED" hydra.sweep.subdir=. \
    hydra/callbacks=evaluate_after hydra.callbacks.evaluate_after.results_dir="$HERE/results/$1" \
    'hydra.callbacks.evaluate_after.name_keys=[seed]' \
    "hydra.callbacks.evaluate_after.overrides=[\"guidance=$GUIDANCE\",\"num_prompts=64\",\"num_holdout=64\",\"batch_size=64\",\"fid.enabled=false\",\"device=cpu\"]" \
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
