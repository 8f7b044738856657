#!/usr/bin/env bash
# The sampler's noise scale (DDIM eta) and steps, and the guidance weight beside it, on trained checkpoints
# (issue 11): no training, only raphael.evaluate. Settings are chosen on the TUNING prompts (prompt_seed=1,
# 64 + 64 held-out); the reported prompts (prompt_seed=0) are read once, for the chosen setting and the one before.
# Checkpoints: budget=cpu's three seeds (experiments/recipe/cpu_model, arm beta2_logit_normal = budget=cpu as committed)
# and the main job's fresh-clone checkpoint at 0074d30 (copied to outputs/sampler/main_job_0074d30.ckpt).
# One thread per job, CORES="0 1" runs two evaluations side by side. Then: python experiments/recipe/sampler/report.py
#
#   bash experiments/recipe/sampler/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/recipe/sampler
PY=${PYTHON:-.venv/bin/python}
CPU=${CPU_RUNS:-outputs/cpu_model/beta2_logit_normal}
MAIN=${MAIN_CKPT:-outputs/sampler/main_job_0074d30.ckpt}
read -r -a CORE_LIST <<< "${CORES:-0 1}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$HERE/results" outputs/sampler

evaluate() {  # $1 core, $2 name, $3 ckpt, $4 prompt_seed, rest: overrides
  local core=$1 name=$2 ckpt=$3 prompt_seed=$4
  shift 4
  [ -f "$HERE/results/$name.json" ] && return
  taskset -c "$core" "$PY" -m raphael.evaluate ckpt="$ckpt" prompt_seed="$prompt_seed" num_prompts=64 num_holdout=64 \
    batch_size=64 fid.enabled=false device=cpu label="$name" out_json="$HERE/results/$name.json" \
    hydra.run.dir="outputs/sampler/$name" "$@" > "outputs/sampler/$name.log" 2>&1
}

jobs_list=()
for s in 0 1 2; do
  ckpt=$CPU/seed$s/checkpoints/last.ckpt
  jobs_list+=("tune_cpu_s${s}_eta0|$ckpt|1|guidance=[1.0,1.25]|eta=0.0"
              "tune_cpu_s${s}_eta0.5|$ckpt|1|guidance=[1.0]|eta=0.5"
              "tune_cpu_s${s}_eta1|$ckpt|1|guidance=[1.0,1.25,1.5]|eta=1.0"
              "tune_cpu_s${s}_eta0_steps50|$ckpt|1|guidance=[1.0]|eta=0.0|steps=50"
              "tune_cpu_s${s}_eta1_steps50|$ckpt|1|guidance=[1.0]|eta=1.0|steps=50"
              "report_cpu_s${s}_eta0|$ckpt|0|guidance=[1.0]|eta=0.0"
              "report_cpu_s${s}_eta1|$ckpt|0|guidance=[1.0]|eta=1.0")
done
jobs_list+=("tune_main_eta0|$MAIN|1|guidance=[1.0,1.25,1.5]|eta=0.0"
            "tune_main_eta1|$MAIN|1|guidance=[1.0,1.25,1.5]|eta=1.0")

slot=0
for job in "${jobs_list[@]}"; do
  IFS='|' read -r -a f <<< "$job"
  evaluate "${CORE_LIST[$slot]}" "${f[@]}" &
  slot=$(( (slot + 1) % ${#CORE_LIST[@]} ))
  if [ "$slot" -eq 0 ]; then wait; fi
done
wait
"$PY" "$HERE/report.py"
