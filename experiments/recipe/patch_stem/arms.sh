# The 2x2 patch stem (model.patch_size=2: the U-Net runs at 16x16 on space-to-depth pixels, pixel-shuffle out)
# at budget=cpu with the x0 target (issue 11). Every arm keeps the edge loss at weight 0.1 (experiments/recipe/edge_head)
# and names its whole shape, so the arms mean the same before and after patch2_w32 became the default.
# Run with: ARMS="<arm> ..." CORES="0 1" SEED=0 bash experiments/recipe/budget_arms.sh experiments/recipe/patch_stem
declare -A ARM=(
  [pixel]="model.patch_size=1 model.channels=16 model.edge.weight=0.1"
  [patch2_w16]="model.patch_size=2 model.channels=16 model.edge.weight=0.1"
  [patch2_w32]="model.patch_size=2 model.channels=32 model.edge.weight=0.1"
  [patch2_w48]="model.patch_size=2 model.channels=48 model.edge.weight=0.1"
  [patch2_w32_linear_3e-3]="model.patch_size=2 model.channels=32 model.edge.weight=0.1 optim.decay=linear optim.optimizer.lr=3e-3"
)
