#!/usr/bin/env bash
# Exactly what produced the committed small-budget results (log: logs/small.log): run.sh, default plan.
# Two earlier launches were stopped (see docs/evaluation.md, "Budgets"): 80 steps/run was too slow for the
# shared CPU, and with 40 steps the EMA weights (decay 0.995 from budget=small) were still ~82% the random
# initialisation (0.995^40), so the sweep now passes optim.ema_decay=0.9.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUDGET=small SEEDS=0,1 bash experiments/figures/fig6b_modules/run.sh
