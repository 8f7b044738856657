#!/usr/bin/env bash
# The second committed small-budget sweep (log: logs/small_250.log): when the shared CPU freed up, the
# same plan with 250 training steps per run (EMA 0.98, warm-up 31) and a larger evaluation
# (16 + 8 held-out prompts x 6 guidance weights x 10 DDIM steps, FID against 512 renders).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=small TAG=small_250 STEPS=250 EMA=0.98 SEEDS=0,1 \
  EVAL='["steps=10","num_prompts=16","num_holdout=8","batch_size=24","fid.num_real=512","device=cpu"]' \
  bash experiments/fig6b_modules/run.sh
