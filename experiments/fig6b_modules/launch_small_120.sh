#!/usr/bin/env bash
# The second committed small-budget sweep (log: logs/small_120.log): the headline pair only (baseline and
# raphael, seeds 0 and 1) with 3x the training of the first sweep: 120 steps per run (EMA 0.95,
# warm-up 15) and a larger evaluation (16 + 8 held-out prompts x 6 guidance weights x 10 DDIM steps,
# FID against 512 renders). A 250-step version was started first and stopped after 110 steps of its
# first run (2.2 s/step at load ~5: it would not have finished the 4 runs in the session).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=small TAG=small_120 STEPS=120 EMA=0.95 SEEDS=0,1 PLAN="baseline,raphael:0,1" \
  EVAL='["steps=10","num_prompts=16","num_holdout=8","batch_size=24","fid.num_real=512","device=cpu"]' \
  bash experiments/fig6b_modules/run.sh
