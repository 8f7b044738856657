"""Evaluation metrics: confidence intervals of per-image oracle scores (``alignment``), FID with a
reference set (``fid``), the Inception feature extractor (``fid_features``; a task brings its own), the
post-training evaluation hook for sweeps (``sweep``) and the sweep report helpers (``report``).
See docs/evaluation.md.
"""
