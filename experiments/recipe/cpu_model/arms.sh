# Where the default model spends its time at budget=cpu (issue 11). Every arm starts from budget=cpu as committed
# at d29e758 (lr 3e-3 linear decay, warm-up 100, no EMA, batch 32) on the default model (patch 2, widths
# 32/32/64), runs with the on-disk text-state store (raphael/callbacks/text_states.py) unless it says otherwise,
# and names what it changes. Run with: ARMS="<arm> ..." CORES=<core> SEED=0 bash experiments/recipe/budget_arms.sh experiments/recipe/cpu_model
GUIDANCE="[1.0]"
declare -A ARM=(
  [base]="data.batch_size=32"   # budget=cpu as it is (the batch it already sets)
  # widths 16/32/64: the 16x16 ResBlocks (28% of the forward FLOPs, no attention) at half width
  [narrow_top]="model.channels=16 model.channel_mult=[1,2,4]"
  # the same, plus a transformer block (cross-attention, both MoEs) at 16x16, width 16
  [narrow_top_attn16]="model.channels=16 model.channel_mult=[1,2,4] model.transformer_depth=[1,1,1]"
  # batch 64: a step of 64 costs less than two of 32 (a fixed ~0.04 s a step: per-op dispatch, the optimizer)
  [b64]="data.batch_size=64"
  [b64_lr4e-3]="data.batch_size=64 optim.optimizer.lr=4e-3"
  # the two recipe arms of experiments/recipe/cpu_recipe that read above its no-EMA seed 0 (0.737, 0.738 vs 0.728), together
  [beta2_logit_normal]="optim.optimizer.betas=[0.9,0.99] diffusion.loss.t_sampling=logit_normal"
  # from budget=cpu as committed at 4ba32c6 (which holds the two above): one more step along each
  [beta2_0.95]="optim.optimizer.betas=[0.9,0.95]"
  [t_mean_0.3]="diffusion.loss.t_mean=0.3"
  # from budget=cpu as committed with the sampler's eta=1 (5d0f013), each against `committed` run beside it (the
  # machine's speed moves by 20% between evenings): a larger min-SNR cap, i.e. more weight on the low-noise steps
  # where stripes and outlines are drawn, fill being the attribute read worst
  [committed]="data.batch_size=32"
  [snr_gamma_10]="diffusion.loss.snr_gamma=10"
)
