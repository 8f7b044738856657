#!/usr/bin/env bash
# Learning curve of the default experiment (experiment=space_moe): oracle alignment against CPU
# core-seconds of training, BEFORE (the suite at BEFORE_REF) and AFTER
# (this checkout), trained side by side in one run with one torch thread and no data worker each, so
# one wall second of a run is one core-second. Each run stops after MINUTES minutes (Lightning
# max_time) and keeps a checkpoint every EVERY minutes; every checkpoint is then evaluated by
# raphael.evaluate on 64 training-distribution prompts + 64 held-out compositions (guidance 4.5, as
# issue 11 fixes, and 1.0, the default; 25 DDIM steps, fixed seeds). Then: python experiments/recipe/learning/report.py.
#
#   bash experiments/recipe/learning/run.sh                  # 16 + 16 core-minutes, about 30 min wall
#   MINUTES=06 EVERY=2 bash experiments/recipe/learning/run.sh  # the short check after a change (two digits)
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/recipe/learning
PY=${PYTHON:-$PWD/.venv/bin/python}
# BEFORE_REF's checkpoints must load in this checkout's raphael.evaluate (the model's modules as of 411bc0f, the
# patch stem, or later); cd943be (before issue 11) no longer does.
BEFORE_REF=${BEFORE_REF:-4dcccb9}
MINUTES=${MINUTES:-16}
EVERY=${EVERY:-4}
TAG=${TAG:-${MINUTES}min}
OUT=$PWD/outputs/learning/$TAG
mkdir -p "$OUT"
[ -d "$OUT/before-src" ] || git worktree add --detach "$OUT/before-src" "$BEFORE_REF"

ROOT=$PWD
train() {  # $1 = before|after, $2 = source folder; extra args go to raphael.train
  local name=$1 src=$2
  shift 2
  (cd "$src" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m raphael.train experiment=space_moe seed=0 \
    paths.data_dir="$ROOT/data" hydra.run.dir="$OUT/$name" logger=csv \
    data.num_workers=0 trainer.max_steps=1000000 "+trainer.max_time=00:00:$MINUTES:00" \
    trainer.limit_val_batches=0 callbacks.model_checkpoint.monitor=null \
    +callbacks.curve._target_=lightning.pytorch.callbacks.ModelCheckpoint \
    +callbacks.curve.dirpath="$OUT/$name/curve" +callbacks.curve.save_top_k=-1 \
    "+callbacks.curve.filename='step_{step:06d}'" +callbacks.curve.auto_insert_metric_name=false \
    +callbacks.curve.train_time_interval._target_=datetime.timedelta \
    +callbacks.curve.train_time_interval.minutes="$EVERY" "$@" > "$OUT/$name.log" 2>&1)
}

# the shards once, before the clock of either run starts
[ -f data/shapes/dataset.json ] || "$PY" -m raphael.data.shards make-shapes --out data/shapes --num 20000 --val 512
train before "$OUT/before-src" &
train after "$PWD" &
wait

mkdir -p "$HERE/results/$TAG"
for name in before after; do
  for ckpt in "$OUT/$name"/curve/step_*.ckpt "$OUT/$name/checkpoints/last.ckpt"; do
    [ -f "$ckpt" ] || continue
    json="$HERE/results/$TAG/${name}_$(basename "$ckpt" .ckpt).json"
    [ -f "$json" ] && continue
    start=$(stat -c %Y "$OUT/$name/.hydra/config.yaml")
    echo "$name,$(basename "$ckpt" .ckpt),$(( $(stat -c %Y "$ckpt") - start ))" >> "$HERE/results/$TAG/core_seconds.csv"
    "$PY" -m raphael.evaluate ckpt="$ckpt" "guidance=[1.0,4.5]" steps=25 num_prompts=64 num_holdout=64 \
      fid.enabled=false batch_size=64 device=cpu label="$name" out_json="$json" \
      hydra.run.dir="$OUT/eval/$name/$(basename "$ckpt" .ckpt)"
  done
done
"$PY" "$HERE/report.py" --tag "$TAG"
