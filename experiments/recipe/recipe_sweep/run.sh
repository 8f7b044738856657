#!/usr/bin/env bash
# The prediction target at equal CPU time (issue 11), as one Hydra multirun of the suite itself:
# experiment=space_moe at budget=cpu's recipe but MINUTES minutes of training each (one thread) and EMA
# decay 0.99 (a first run kept budget=cpu's 0.998: after ~450 steps its EMA was still 40% the zero-output
# initialisation and every target read 0.000, grey images),
# diffusion.prediction_type = sample (x0), v_prediction, epsilon, all with min-SNR-5 weighting.
# evaluate_after scores each run on 64 + 64 held-out prompts at guidance 1.0 and 4.5. Then report.py.
#
#   bash experiments/recipe/recipe_sweep/run.sh            # 3 x 6 core-minutes, about 25 minutes wall
#   MINUTES=04 bash experiments/recipe/recipe_sweep/run.sh  # the committed 4-minute sweep
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/recipe/recipe_sweep
PY=${PYTHON:-.venv/bin/python}
MINUTES=${MINUTES:-06}   # two digits: trainer.max_time is DD:HH:MM:SS
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$HERE/results"
"$PY" -m raphael.train -m experiment=space_moe budget=cpu seed=0 logger=csv task_name=recipe_sweep \
  "trainer.max_time=00:00:$MINUTES:00" optim.ema_decay=0.99 diffusion.prediction_type=sample,v_prediction,epsilon \
  hydra.sweep.dir="outputs/recipe_sweep/${MINUTES}min" hydra.sweep.subdir='${hydra.job.num}' \
  hydra/callbacks=evaluate_after hydra.callbacks.evaluate_after.results_dir="$HERE/results" \
  "hydra.callbacks.evaluate_after.name_keys=[diffusion.prediction_type]" \
  'hydra.callbacks.evaluate_after.overrides=["guidance=[1.0,4.5]","num_prompts=64","num_holdout=64","batch_size=64","fid.enabled=false","device=cpu"]'
"$PY" "$HERE/report.py"
