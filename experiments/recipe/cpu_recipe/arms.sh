# The budget=cpu recipe on the patch-stem default (issue 11: experiment=raphael >= 0.8 on the evaluation prompts).
# Every arm starts from budget=cpu as committed at 4dcccb9 (lr 3e-3, linear decay, warm-up 100, EMA 0.998,
# batch 32) on the default model (patch 2, width 32, edge weight 0.1) and names what it changes.
# Run with: ARMS="<arm> ..." CORES=<core> SEED=0 bash experiments/recipe/budget_arms.sh experiments/recipe/cpu_recipe
# guidance 1.0 only: every earlier arm read far less at 2.0 (experiments/recipe/patch_stem: 0.43-0.45 against 0.71-0.72)
GUIDANCE="[1.0]"
declare -A ARM=(
  [w48]="model.channels=48"
  [b16]="data.batch_size=16"
  [noema]="callbacks.ema=null"
  [noema_9min]="callbacks.ema=null"   # run with MINUTES=09: half the budget, the slope of alignment in steps
  [noema_lr5e-3]="callbacks.ema=null optim.optimizer.lr=5e-3"
  [noema_beta2_0.99]="callbacks.ema=null optim.optimizer.betas=[0.9,0.99]"
  [noema_weight_none]="callbacks.ema=null diffusion.loss.weighting=none"
  [noema_gamma1]="callbacks.ema=null diffusion.loss.snr_gamma=1.0"
  [noema_logit_normal]="callbacks.ema=null diffusion.loss.t_sampling=logit_normal"
  [noema_muon]="callbacks.ema=null optim=muon"
)
