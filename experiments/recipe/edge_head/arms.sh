# The edge head at budget=cpu after it runs only on the rows its loss reads (issue 11).
# Run with: ARMS="<arm> ..." CORES=0 SEED=0 bash experiments/recipe/budget_arms.sh experiments/recipe/edge_head
declare -A ARM=(
  [default]="model.edge.weight=1.0"
  [weight_0.1]="model.edge.weight=0.1"
  [hidden_16]="model.edge.hidden=16"
  [hidden_16_weight_0.1]="model.edge.hidden=16 model.edge.weight=0.1"
)
