"""Analysis tools: image grids, diffusion paths, the XGBoost path probe, plots."""
