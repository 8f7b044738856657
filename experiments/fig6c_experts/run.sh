#!/usr/bin/env bash
# Fig. 6c: quality and sampling speed vs the number of space experts, 0 (space-MoE off) and 2, 4, 6, 8,
# full RAPHAEL model otherwise (paper: 6 experts, 24% slower than none). Each job trains, then
# evaluate_after evaluates it (alignment, FID and samples/s) into results/<budget>/. Then report.py.
#
#   BUDGET=small SEEDS=0 bash experiments/fig6c_experts/run.sh
#   BUDGET=paper SEEDS=0,1 bash experiments/fig6c_experts/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/fig6c_experts
BUDGET=${BUDGET:-small}
TAG=${TAG:-$BUDGET}   # results/<TAG>/ and outputs/.../<TAG>/ (e.g. TAG=smoke for a trial run)
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
SEEDS=${SEEDS:-0}
EXPERTS=${EXPERTS:-2,4,6,8}

if [ "$BUDGET" = small ]; then  # the fig6b small-budget sizes (docs/evaluation.md)
  TRAIN=(trainer.max_steps=40 trainer.val_check_interval=40 trainer.limit_val_batches=1 optim.warmup_steps=5 optim.ema_decay=0.9
         data.batch_size=16 data.num_workers=0 diffusion.sample_steps=8 callbacks.samples.num_prompts=4
         logger=csv)
  EVAL=${EVAL:-'["steps=8","num_prompts=8","num_holdout=4","batch_size=12","fid.num_real=512","device=cpu"]'}
else
  TRAIN=(budget=paper trainer=gpu)
  EVAL=${EVAL:-'["steps=50","num_prompts=1024","num_holdout=256","batch_size=256","fid.num_real=10000"]'}
fi

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
