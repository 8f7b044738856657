#!/usr/bin/env bash
# The wording experiment (issue 25): in-grammar / held-out compositions / held-out wordings, before and after the
# caption language of raphael/tasks/shapes/wording.py. One torch thread, nothing else of ours running.
#   BEFORE_CKPT: the main job's checkpoint trained on the old captions (the lead's run at 8aad39c)
#   bash experiments/recipe/wording/run.sh            # trains "after" if missing, evaluates both, writes results.json
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PY:-python}
RUNS=${RUNS:-/work/runs}
BEFORE_CKPT=${BEFORE_CKPT:-$RUNS/before/checkpoints/last.ckpt}
AFTER_DIR=${AFTER_DIR:-$RUNS/after25}
# the main job (= make run) on the new shards; the shards are rewritten when the generator's fingerprint changes
[ -f "$AFTER_DIR/checkpoints/last.ckpt" ] || $PY -m raphael.train experiment=space_moe hydra.run.dir="$AFTER_DIR"
# 128 prompts per set, the validation's sampler (guidance 1.0, 25 DDIM steps, eta 1), no FID
EVAL="guidance=[1.0] num_prompts=128 num_holdout=128 num_wording=128 prompt_seed=0 seed=0 fid.enabled=false"
for arm in before after; do
  ckpt=$BEFORE_CKPT; [ $arm = after ] && ckpt=$AFTER_DIR/checkpoints/last.ckpt
  $PY -m raphael.evaluate ckpt="$ckpt" $EVAL label=$arm hydra.run.dir="$RUNS/eval25_$arm" \
    out_json=experiments/recipe/wording/eval_$arm.json
done
$PY experiments/recipe/wording/report.py experiments/recipe/wording/eval_before.json experiments/recipe/wording/eval_after.json
