# budget=cpu once the training loop stopped re-reading its data (issue 11): data.cache_decoded (each shard untarred and
# decoded once, then trained from memory), the batch moved tensor by tensor, no default_convert pass. Every arm is
# experiment=raphael at budget=cpu as committed with those changes, and names what it changes.
# Run with: ARMS="<arm> ..." CORES=<core> SEED=<s> bash experiments/recipe/budget_arms.sh experiments/recipe/loop_speed
GUIDANCE="[1.0]"
declare -A ARM=(
  [cached]="data.cache_decoded=true"       # budget=cpu as committed (cache_decoded is conf/data/shapes.yaml's default)
  [uncached]="data.cache_decoded=false"    # the loop as it was: every pass untars and decodes the shards again
  # with more steps in the budget, one more step along SD3's t draw: its centre toward the noisier half (budget=cpu's
  # value since 04:35 2026-11-23, after seeds 0 and 1; `cached` and `uncached` then inherit it: their seed 2 has it)
  [t_mean_0.3]="diffusion.loss.t_mean=0.3"
)
