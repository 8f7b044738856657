"""Evaluation metrics: oracle alignment with confidence intervals (``alignment``), the offline FID
feature extractors (``fid_features``), FID against rendered shapes (``fid``), the post-training
evaluation hook for sweeps (``sweep``) and the sweep report helpers (``report``). See docs/evaluation.md.
"""
