#!/usr/bin/env bash
# Classifier-free guidance levers on the main job's checkpoint (issue 28): raphael.evaluate only, one thread,
# one evaluation at a time. Settings are chosen on the TUNING prompts (prompt_seed=1, 64 + 64 held-out); the
# reported prompts (prompt_seed=0) are read once, for today's sampler and the chosen one (ROUND=report).
# Each job writes results/<lever>__<setting>.json; then python experiments/recipe/guidance/report.py.
#
#   CKPT=/work/runs/before/checkpoints/last.ckpt ROUND=screen bash experiments/recipe/guidance/run.sh
#   ROUND=screen|fix|full|report  (screen, fix: guidance 1, 3, 4.5, 7.5; full and report: 1, 1.5, 2, 3, 4.5, 6, 7.5, 9)
#   screen: each lever alone against today's sampler; fix: the others on top of the screen's fix
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=experiments/recipe/guidance
PY=${PYTHON:-.venv/bin/python}
CKPT=${CKPT:?the main job checkpoint, e.g. CKPT=outputs/.../checkpoints/last.ckpt}
ROUND=${ROUND:-screen}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline
mkdir -p "$HERE/results" outputs/guidance
SCREEN="[1.0,3.0,4.5,7.5]"
FULL="[1.0,1.5,2.0,3.0,4.5,6.0,7.5,9.0]"

evaluate() {  # $1 name, $2 prompt_seed, $3 guidance list, rest: overrides (sampler.*, eta, steps, ckpt)
  local name=$1 prompt_seed=$2 weights=$3
  shift 3
  [ -f "$HERE/results/$name.json" ] && return
  echo "[guidance] $(date -u +%H:%M:%S) $name"
  "$PY" -m raphael.evaluate ckpt="$CKPT" prompt_seed="$prompt_seed" num_prompts=64 num_holdout=64 batch_size=64 \
    device=cpu guidance="$weights" label="$name" out_json="$HERE/results/$name.json" \
    hydra.run.dir="outputs/guidance/$name" "$@" > "outputs/guidance/$name.log" 2>&1
}

case $ROUND in
screen)  # one lever at a time against today's sampler
  evaluate base__today 1 "$SCREEN"
  evaluate b__no_clip 1 "$SCREEN" sampler.x0_clip=none
  evaluate b__static_clipped_eps 1 "$SCREEN" sampler.clipped_eps=true
  evaluate b__dynamic 1 "$SCREEN" sampler.x0_clip=dynamic
  evaluate b__dynamic_clipped_eps 1 "$SCREEN" sampler.x0_clip=dynamic sampler.clipped_eps=true
  evaluate c__phi0.7 1 "$SCREEN" sampler.guidance_rescale=0.7
  evaluate c__phi1 1 "$SCREEN" sampler.guidance_rescale=1.0
  evaluate a__phi0.7_eps 1 "$SCREEN" sampler.guidance_rescale=0.7 sampler.guidance_space=epsilon
  evaluate a__phi0.7_v 1 "$SCREEN" sampler.guidance_rescale=0.7 sampler.guidance_space=v_prediction
  evaluate d__t0-800 1 "$SCREEN" "sampler.guidance_interval=[0,800]"
  ;;
fix)  # the other levers on top of the fix found in the screen (noise re-derived from the clipped x0)
  evaluate c__fix_phi0.3 1 "$SCREEN" sampler.clipped_eps=true sampler.guidance_rescale=0.3
  evaluate c__fix_phi0.7 1 "$SCREEN" sampler.clipped_eps=true sampler.guidance_rescale=0.7
  evaluate d__fix_t0-800 1 "$SCREEN" sampler.clipped_eps=true "sampler.guidance_interval=[0,800]"
  evaluate d__fix_t200-1000 1 "$SCREEN" sampler.clipped_eps=true "sampler.guidance_interval=[200,1000]"
  evaluate e__fix_eta0 1 "$SCREEN" sampler.clipped_eps=true eta=0.0
  evaluate e__fix_eta0.5 1 "$SCREEN" sampler.clipped_eps=true eta=0.5
  evaluate e__fix_steps50 1 "$SCREEN" sampler.clipped_eps=true steps=50
  ;;
full)  # the full curve: today's sampler, the fix, the fix with no guidance at the lowest noise levels
  evaluate full__today 1 "$FULL"
  evaluate full__fix 1 "$FULL" sampler.clipped_eps=true
  evaluate full__fix_t200-1000 1 "$FULL" sampler.clipped_eps=true "sampler.guidance_interval=[200,1000]"
  ;;
report)  # the reported prompts, once: today's sampler and the chosen one
  evaluate report__today 0 "$FULL"
  read -r -a best <<< "${BEST:?the chosen sampler overrides}"
  evaluate "report__${BEST_NAME:-best}" 0 "$FULL" "${best[@]}"
  ;;
*) echo "ROUND=screen|fix|full|report" >&2; exit 2 ;;
esac
"$PY" "$HERE/report.py" > /dev/null
