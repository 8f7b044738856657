#!/usr/bin/env bash
# Fig. 6b: FID vs alignment over the guidance weights {1.5, 3, 4.5, 6, 7.5, 9} for the full model and
# the module ablations (baseline, space-MoE only, time-MoE only, edge loss only, RAPHAEL = all three),
# seeds 0 and 1. One Hydra multirun: each job trains, then the evaluate_after callback evaluates its
# last.ckpt and copies the JSON to experiments/figures/fig6b_modules/results/. Then: python report.py.
#
#   BUDGET=cpu bash experiments/figures/fig6b_modules/run.sh   # 2-core CPU: budget=cpu, 20 core-minutes a run (one thread)
#   BUDGET=small bash experiments/figures/fig6b_modules/run.sh   # 2-core CPU smoke scale: 40 steps of batch 16
#   STEPS=700 BATCH=32 EMA=0.99 TAG=cpu700 EVAL=... bash experiments/figures/fig6b_modules/run.sh   # explicit sizes
#       (defaults come from experiments/figures/budgets.sh)
#   BUDGET=paper bash experiments/figures/fig6b_modules/run.sh   # GPUs: budget=paper, full evaluation
#   add hydra/launcher=submitit_slurm (+ hydra.launcher.* options) to run the jobs on SLURM.
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/figures/fig6b_modules
source experiments/figures/budgets.sh
SEEDS=${SEEDS:-0,1}

sweep() {
  "$PY" -m raphael.train -m "$@" "${TRAIN[@]}" \
    task_name=fig6b_modules \
    hydra.sweep.dir="outputs/fig6b_modules/$TAG/\${now:%Y-%m-%d_%H-%M-%S}" hydra.sweep.subdir='${hydra.job.num}' \
    hydra/callbacks=evaluate_after \
    hydra.callbacks.evaluate_after.results_dir="$HERE/results/$TAG" \
    "hydra.callbacks.evaluate_after.name_keys=[]" \
    "hydra.callbacks.evaluate_after.overrides=$EVAL"
}

# PLAN: multiruns in order, "experiments:seeds;...". Default: the headline pair (baseline, raphael) with
# every seed first, then the single-module ablations seed by seed, so a sweep cut short by the clock
# still holds the main comparison with its spread. Extra arguments go to every multirun.
if [ -z "${PLAN:-}" ]; then
  PLAN="baseline,raphael:$SEEDS"
  for s in ${SEEDS//,/ }; do PLAN="$PLAN;space_moe,time_moe,edge:$s"; done
fi
echo "[fig6b] budget $BUDGET, plan: $PLAN"
IFS=';' read -ra PLAN_STEPS <<< "$PLAN"
for step in "${PLAN_STEPS[@]}"; do
  sweep experiment="${step%%:*}" seed="${step##*:}" "$@"
done

"$PY" "$HERE/report.py" --budget "$TAG"
