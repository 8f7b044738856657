# Where the full model loses at budget=cpu, and the time experts' warm start (issue 11).
# Run with: ARMS="<arm> ..." CORES=1 SEED=0 bash experiments/recipe/budget_arms.sh experiments/recipe/time_experts
declare -A ARM=(
  [no_time_moe]="model.time_moe.enabled=false"
  [no_edge]="model.edge.enabled=false"
  [space_moe_only]="model.time_moe.enabled=false model.edge.enabled=false"
  [edge_weight_0.1]="model.edge.weight=0.1"
  [ema_0.995]="optim.ema_decay=0.995"
  [linear_3e-3_ema_0.995]="optim.decay=linear optim.optimizer.lr=3e-3 optim.ema_decay=0.995"
  [linear_3e-3_ema_0.995_shared_0.5]="optim.decay=linear optim.optimizer.lr=3e-3 optim.ema_decay=0.995 model.time_moe.shared_until=0.5"
  [shared_0.5]="model.time_moe.shared_until=0.5"
  [shared_0.75]="model.time_moe.shared_until=0.75"
)
