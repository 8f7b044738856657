# Arms of the learning-rate schedule study (run with experiments/recipe/budget_arms.sh experiments/recipe/lr_decay).
declare -A ARM=(
  [constant_1e-3]="optim.decay=none optim.optimizer.lr=1e-3"
  [linear_1e-3]="optim.decay=linear optim.optimizer.lr=1e-3"
  [linear_2e-3]="optim.decay=linear optim.optimizer.lr=2e-3"
  [linear_3e-3]="optim.decay=linear optim.optimizer.lr=3e-3"
  [cosine_2e-3]="optim.decay=cosine optim.optimizer.lr=2e-3"
  [linear_2e-3_b16]="optim.decay=linear optim.optimizer.lr=2e-3 data.batch_size=16"
  [linear_2e-3_b64]="optim.decay=linear optim.optimizer.lr=2e-3 data.batch_size=64"
  [linear_2e-3_w24]="optim.decay=linear optim.optimizer.lr=2e-3 model.channels=24"
)
