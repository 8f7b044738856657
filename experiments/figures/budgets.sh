# Sourced by the figure drivers (run.sh): the Python to use, and per BUDGET the training overrides
# (TRAIN) and the evaluate_after overrides (EVAL). Every size can be changed from the environment.
#   small: sized for a 2-core CPU (STEPS steps of batch BATCH, EMA decay EMA, one validation at the end)
#   cpu:   budget=cpu (conf/budget/cpu.yaml: 20 CPU core-minutes per run, one torch thread, so two runs
#          share the 2 cores side by side) and 64 + 64 prompts at the paper's guidance weights
#   paper: budget=paper trainer=gpu and a full evaluation
BUDGET=${BUDGET:-small}
TAG=${TAG:-$BUDGET}   # results/<TAG>/, outputs/<figure>/<TAG>/, results_<TAG>.md
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python

if [ "$BUDGET" = small ]; then
  STEPS=${STEPS:-40}
  BATCH=${BATCH:-16}
  EMA=${EMA:-0.9}   # 40-step runs: decay 0.995 would leave the EMA weights ~82% random init
  TRAIN=(trainer.max_steps=$STEPS trainer.val_check_interval=$STEPS trainer.limit_val_batches=1
         optim.warmup_steps=$((STEPS / 8)) optim.ema_decay=$EMA
         data.batch_size=$BATCH data.num_workers=0 diffusion.sample_steps=8 callbacks.samples.num_prompts=4
         logger=csv)
  EVAL=${EVAL:-'["steps=8","num_prompts=8","num_holdout=4","batch_size=12","fid.num_real=512","device=cpu"]'}
elif [ "$BUDGET" = cpu ]; then
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  TRAIN=(budget=cpu logger=csv)
  EVAL=${EVAL:-'["num_prompts=64","num_holdout=64","batch_size=64","fid.num_real=1024","device=cpu"]'}
else
  TRAIN=(budget=paper trainer=gpu)
  EVAL=${EVAL:-'["steps=50","num_prompts=1024","num_holdout=256","batch_size=256","fid.num_real=10000"]'}
fi
