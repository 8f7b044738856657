#!/usr/bin/env bash
# Fig. 6a: the space-MoE threshold alpha in {0.1, 0.2, 0.4, 0.6} and the edge-loss cut-off T_c in
# {200, 500, 800, 1000} (paper's best: alpha 0.2, T_c 500), full RAPHAEL model, one axis at a time.
# Each job trains, then evaluate_after evaluates it (JSON -> results/<budget>/{alpha,t_c}/). Then report.py.
#
#   BUDGET=cpu bash experiments/figures/fig6a_alpha_tc/run.sh   # 2-core CPU: budget=cpu, 20 core-minutes a run (one thread)
#   BUDGET=small SEEDS=0 bash experiments/figures/fig6a_alpha_tc/run.sh     # 2-core CPU, one seed
#   BUDGET=paper SEEDS=0,1 bash experiments/figures/fig6a_alpha_tc/run.sh   # GPUs
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/figures/fig6a_alpha_tc
source experiments/figures/budgets.sh
SEEDS=${SEEDS:-0}
ALPHAS=${ALPHAS:-0.1,0.2,0.4,0.6}
TCS=${TCS:-200,500,800,1000}

sweep() {  # $1 = axis name, $2 = override key, $3 = values, rest = extra overrides
  local axis=$1 key=$2 values=$3; shift 3
  "$PY" -m raphael.train -m experiment=raphael seed="$SEEDS" "$key=$values" "${TRAIN[@]}" \
    task_name=fig6a_alpha_tc \
    hydra.sweep.dir="outputs/fig6a_alpha_tc/$TAG/$axis/\${now:%Y-%m-%d_%H-%M-%S}" hydra.sweep.subdir='${hydra.job.num}' \
    hydra/callbacks=evaluate_after \
    hydra.callbacks.evaluate_after.results_dir="$HERE/results/$TAG/$axis" \
    "hydra.callbacks.evaluate_after.name_keys=[$key]" \
    "hydra.callbacks.evaluate_after.overrides=$EVAL" "$@"
}

[ "${SKIP_ALPHA:-0}" = 1 ] || sweep alpha model.space_moe.alpha "$ALPHAS" "$@"
[ "${SKIP_TC:-0}" = 1 ] || sweep t_c model.edge.t_c "$TCS" "$@"
"$PY" "$HERE/report.py" --budget "$TAG"
