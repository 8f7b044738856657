#!/usr/bin/env bash
# Path probe experiment (paper Sec. 3.1 / App. 7.5): train the shapes model (or take a checkpoint),
# probe the shapes vocabulary and the paper's three word lists, write results.md.
#   experiments/figures/path_probe/run.sh                  # trains `experiment=raphael` at BUDGET (default cpu) first
#   experiments/figures/path_probe/run.sh PATH/last.ckpt   # probes an existing checkpoint
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
HERE=experiments/figures/path_probe
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
CKPT=${1:-}
if [ -z "$CKPT" ]; then
  RUN=outputs/train/path_probe_model
  $PY -m raphael.train experiment=raphael budget="${BUDGET:-cpu}" seed=0 hydra.run.dir=$RUN
  CKPT=$RUN/checkpoints/last.ckpt
fi
for WORDS in shapes adjectives verbs coco; do
  $PY -m raphael.probe ckpt="$CKPT" words=$WORDS seed=0 hydra.run.dir=$HERE/results/$WORDS
done
# cross-check of the fast path at full size: paths recorded during real 3-step DDIM sampling
$PY -m raphael.probe ckpt="$CKPT" words=shapes mode=sampling steps=3 control=false seed=0 \
  hydra.run.dir=$HERE/results/shapes_sampling
$PY $HERE/report.py --ckpt "$CKPT" --results $HERE/results --out $HERE/results.md
