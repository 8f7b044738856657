"""Metrics: feature CNN shapes, CI aggregation, FID plumbing, sweep report on fake run JSON."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_feature_cnn_forward_shapes():
    from raphael.tasks.shapes.feature_cnn import HEADS, ShapesAttributeCNN
    from raphael.tasks.shapes.scenes import POSITIONS

    net = ShapesAttributeCNN(image_size=16, width=4, num_features=8).eval()
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    assert net(images).shape == (3, 8)
    assert net(torch.rand(2, 3, 24, 24)).shape == (2, 8)  # float in [0, 1], resized
    logits = net.logits(images)
    assert {k: tuple(v.shape) for k, v in logits.items()} == {k: (3, len(POSITIONS), n) for k, n in HEADS.items()}


def test_feature_cnn_training_is_reproducible(tmp_path):
    from raphael.tasks.shapes.feature_cnn import CNNRecipe, load_shapes_cnn

    recipe = CNNRecipe(image_size=16, width=4, num_features=8, num_train=64, epochs=1, batch_size=32)
    a = load_shapes_cnn(tmp_path / "a", recipe, log=lambda *_: None)
    b = load_shapes_cnn(tmp_path / "b", recipe, log=lambda *_: None)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    cached = list((tmp_path / "a").glob("shapes_cnn_*.pt"))
    assert [p.name for p in cached] == [f"shapes_cnn_{recipe.digest()}.pt"]
    again = load_shapes_cnn(tmp_path / "a", recipe, log=lambda *_: pytest.fail("retrained a cached CNN"))
    assert torch.equal(next(iter(again.state_dict().values())), next(iter(a.state_dict().values())))


def test_attribute_targets_fill_the_right_slot():
    from raphael.tasks.shapes.feature_cnn import attribute_targets
    from raphael.tasks.shapes.scenes import COLORS, POSITIONS

    meta = {"objects": [{"color": "blue", "shape": "square", "size": "large", "position": "top", "fill": "solid"}]}
    y = attribute_targets(meta)
    top = POSITIONS.index("top")
    assert y["color"][top] == list(COLORS).index("blue")
    assert all(y["color"][i] == len(COLORS) for i in range(len(POSITIONS)) if i != top)
    assert y["shape"][top] == 1 and y["shape"].count(-100) == len(POSITIONS) - 1


def test_mean_ci_matches_student_t():
    from raphael.metrics.alignment import mean_ci

    ci = mean_ci([0.0, 1.0, 1.0, 0.0])
    assert ci["mean"] == 0.5 and ci["n"] == 4
    sem = np.std([0, 1, 1, 0], ddof=1) / 2
    assert ci["ci_half"] == pytest.approx(3.182446 * sem, rel=1e-5)
    assert ci["ci_low"] == pytest.approx(0.5 - ci["ci_half"]) and ci["ci_high"] == pytest.approx(0.5 + ci["ci_half"])
    assert mean_ci([0.7])["ci_half"] == 0.0
    assert math.isnan(mean_ci([])["mean"])


def test_aggregate_details_per_attribute():
    from raphael.metrics.alignment import aggregate_details
    from raphael.tasks.shapes import ShapesTask

    keys = ShapesTask.score_keys
    details = [dict.fromkeys(keys, 1.0) | {"color": 0.0}, dict.fromkeys(keys, 0.5)]
    agg = aggregate_details(details, keys)
    assert set(agg) == set(keys)
    assert agg["color"]["mean"] == 0.25 and agg["shape"]["mean"] == 0.75


def test_reference_fid_is_zero_on_identical_sets():
    from raphael.metrics.fid import ReferenceFID
    from raphael.tasks.shapes.feature_cnn import ShapesAttributeCNN

    torch.manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    fid = ReferenceFID(ShapesAttributeCNN(16, 4, 4).eval(), images)
    fid.update(images)
    assert fid.compute() == pytest.approx(0.0, abs=1e-3)
    fid.reset()
    fid.update(torch.full((12, 3, 16, 16), 255, dtype=torch.uint8) - images // 4)
    assert fid.compute() > 0.0


def fake_run(label: str, seed: int, shift: float) -> dict:
    def ci(mean):
        return {"mean": mean, "std": 0.1, "n": 4, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "ci_half": 0.05}

    attrs = ("overall", "color", "shape", "size", "position", "fill", "objects")
    results = [{"guidance": w, "fid": 10.0 - w + shift, "samples_per_s": 3.0,
                "alignment": {a: ci(0.1 * w + shift) for a in attrs},
                "alignment_regular": {a: ci(0.1 * w + shift) for a in attrs},
                "alignment_holdout": {a: ci(0.05 * w + shift) for a in attrs}} for w in (1.5, 4.5)]
    return {"label": label, "run": {"seed": seed, "overrides": [f"experiment={label}", f"seed={seed}"]},
            "settings": {"guidance": [1.5, 4.5], "steps": 2, "num_prompts": 4, "num_holdout": 2,
                         "fid_feature": "shapes_cnn", "fid_num_real": 8}, "results": results}


def test_fig6b_report_on_fake_runs(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for label in ("baseline", "raphael"):
        for seed in (0, 1):
            (results / f"{label}_seed{seed}.json").write_text(json.dumps(fake_run(label, seed, 0.01 * seed)))
    spec = importlib.util.spec_from_file_location("fig6b_report", ROOT / "experiments/figures/fig6b_modules/report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    text = report.main(["--results", str(results), "--out", str(tmp_path), "--budget", "test"])
    table = (tmp_path / "results_test.md").read_text()
    assert text == table
    assert "| label | guidance | alignment |" in table
    assert "| baseline | 1.5 | 0.155 ± 0.007 |" in table  # mean over seeds 0.15, 0.16 with their sd
    assert (tmp_path / "tradeoff_test.png").is_file()
