#!/usr/bin/env bash
# Fig. 6b: FID vs alignment over the guidance weights {1.5, 3, 4.5, 6, 7.5, 9} for the full model and
# the module ablations (baseline, space-MoE only, time-MoE only, edge loss only, RAPHAEL = all three),
# seeds 0 and 1. One Hydra multirun: each job trains, then the evaluate_after callback evaluates its
# last.ckpt and copies the JSON to experiments/fig6b_modules/results/. Then: python report.py.
#
#   BUDGET=small bash experiments/fig6b_modules/run.sh   # 2-core CPU, ~85 min (the committed results)
#   BUDGET=paper bash experiments/fig6b_modules/run.sh   # GPUs: budget=paper, full evaluation
#   add hydra/launcher=submitit_slurm (+ hydra.launcher.* options) to run the jobs on SLURM.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/fig6b_modules
BUDGET=${BUDGET:-small}
TAG=${TAG:-$BUDGET}   # results/<TAG>/, outputs/fig6b_modules/<TAG>/, results_<TAG>.md
STEPS=${STEPS:-40}    # small budget: training steps per run (EMA decay and warm-up follow)
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
SEEDS=${SEEDS:-0,1}

if [ "$BUDGET" = small ]; then
  # Sized by measurement for a shared 2-core CPU (docs/evaluation.md): 40 steps of batch 16 per run,
  # one validation at the end, CSV logging; evaluation 8 + 4 held-out prompts x 6 weights x 8 DDIM steps.
  EMA=${EMA:-0.9}
  TRAIN=(trainer.max_steps=$STEPS trainer.val_check_interval=$STEPS trainer.limit_val_batches=1
         optim.warmup_steps=$((STEPS / 8)) optim.ema_decay=$EMA
         data.batch_size=16 data.num_workers=0 diffusion.sample_steps=8 callbacks.samples.num_prompts=4
         logger=csv)
  EVAL=${EVAL:-'["steps=8","num_prompts=8","num_holdout=4","batch_size=12","fid.num_real=512","device=cpu"]'}
else
  TRAIN=(budget=paper trainer=gpu)
  EVAL=${EVAL:-'["steps=50","num_prompts=1024","num_holdout=256","batch_size=256","fid.num_real=10000"]'}
fi

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
IFS=';' read -ra STEPS <<< "$PLAN"
for step in "${STEPS[@]}"; do
  sweep experiment="${step%%:*}" seed="${step##*:}" "$@"
done

"$PY" "$HERE/report.py" --budget "$TAG"
