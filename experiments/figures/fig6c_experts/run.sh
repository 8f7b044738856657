#!/usr/bin/env bash
# Fig. 6c: quality and sampling speed vs the number of space experts, 0 (space-MoE off) and 2, 4, 6, 8,
# full RAPHAEL model otherwise (paper: 6 experts, 24% slower than none). Each job trains, then
# evaluate_after evaluates it (alignment, FID and samples/s) into results/<budget>/. Then report.py.
#
#   BUDGET=cpu bash experiments/figures/fig6c_experts/run.sh   # 2-core CPU: budget=cpu, 20 core-minutes a run (one thread)
#   BUDGET=small SEEDS=0 bash experiments/figures/fig6c_experts/run.sh
#   BUDGET=paper SEEDS=0,1 bash experiments/figures/fig6c_experts/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/figures/fig6c_experts
source experiments/figures/budgets.sh
SEEDS=${SEEDS:-0}
EXPERTS=${EXPERTS:-2,4,6,8}

sweep() {
  "$PY" -m raphael.train -m experiment=raphael seed="$SEEDS" "${TRAIN[@]}" task_name=fig6c_experts \
    hydra.sweep.dir="outputs/fig6c_experts/$TAG/\${now:%Y-%m-%d_%H-%M-%S}" hydra.sweep.subdir='${hydra.job.num}' \
    hydra/callbacks=evaluate_after \
    hydra.callbacks.evaluate_after.results_dir="$HERE/results/$TAG" \
    "hydra.callbacks.evaluate_after.name_keys=[model.space_moe.enabled,model.space_moe.num_experts]" \
    "hydra.callbacks.evaluate_after.overrides=$EVAL" "$@"
}

[ "${SKIP_ZERO:-0}" = 1 ] || sweep model.space_moe.enabled=false "$@"   # 0 experts
sweep model.space_moe.num_experts="$EXPERTS" "$@"
"$PY" "$HERE/report.py" --budget "$TAG"
