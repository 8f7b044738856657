"""The optimiser's side of a step: the budget-aware learning-rate schedule and gradient clipping under mixed
precision and FSDP."""
