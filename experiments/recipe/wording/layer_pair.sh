#!/usr/bin/env bash
# The penultimate-layer lever against the default, one pair on one machine at one commit, side by side (one core
# each, so neither run's CPU budget is bent by the other): the claims driver's arms `raphael` and
# `text_layer_penultimate`, their results kept off the claims page:
#   SEED=2 bash experiments/recipe/wording/layer_pair.sh   -> outputs/layer_pair/results/<arm>/seed$SEED.json
# then: python experiments/claims/pair_report.py outputs/layer_pair --arms raphael text_layer_penultimate \
#         --names default layer-2 --seeds 0 1 2 --keep experiments/recipe/wording/results/layer_pair
set -euo pipefail
cd "$(dirname "$0")/../../.."
.venv/bin/python experiments/claims/run.py --arms raphael text_layer_penultimate --seeds "${SEED:-2}" \
  --results outputs/layer_pair/results --runs outputs/layer_pair/runs
