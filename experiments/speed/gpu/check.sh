#!/usr/bin/env bash
# The GPU check (issue 24), for a person with one CUDA GPU and the project installed (`make install`):
#   bash experiments/speed/gpu/check.sh            -> experiments/speed/gpu/check.json (about 8 minutes on one H100/H200)
# Extra arguments go to check.py (--text-encoder DIR for a local encoder folder, --stages, --main-timeout S).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: no CUDA GPU visible to torch')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" experiments/speed/gpu/check.py "$@"
