"""Path probe: word positions, path extraction, the XGBoost CV on synthetic paths, the entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from test_routing import CONF, build_tiny_module

from raphael.analysis.diffusion_paths import (
    collect_paths,
    make_prompts,
    path_of,
    read_list,
    space_layer_names,
    token_positions,
    word_token_positions,
)
from raphael.analysis.probe import path_overlap, probe_paths
from raphael.run.validation import ConfigError


@pytest.fixture(scope="module")
def tiny_module():
    return build_tiny_module()


def test_make_prompts_finds_the_slot_and_fixes_the_article():
    [p] = make_prompts(["aesthetic"], ["a {word} painting with an aesthetic frame"])
    assert p.text == "an aesthetic painting with an aesthetic frame"
    assert p.text[p.start:p.end] == "aesthetic" and p.start == 3
    [q] = make_prompts(["blue"], ["a hollow {word} triangle next to a blue circle"])
    assert q.start == q.text.index("blue")
    with pytest.raises(ConfigError, match="exactly once"):
        make_prompts(["x"], ["no slot here"])


def test_word_token_positions_from_offsets():
    # [CLS] a  fire  hydra ##nt  on  [SEP]
    offsets = [(0, 0), (0, 1), (2, 6), (7, 12), (12, 14), (15, 17), (0, 0)]
    assert word_token_positions(offsets, 2, 14) == [2, 3, 4]
    assert word_token_positions(offsets, 7, 14) == [3, 4]
    with pytest.raises(ValueError):
        word_token_positions(offsets, 40, 45)


def test_token_positions_with_the_real_tokenizer(tiny_module):
    prompts = make_prompts(["fire hydrant", "illuminate"], ["a {word} in the snow, red", "{word}!"])
    tok = tiny_module.text_encoder.tokenizer
    positions = token_positions(tok, prompts, 77)
    for p, pos in zip(prompts, positions):
        ids = tok(p.text)["input_ids"]
        assert tok.decode([ids[i] for i in pos]) == p.word


def test_path_of_first_and_all_subwords():
    routes = torch.tensor([[-1, -1, -1], [0, 1, 2], [3, 1, 0], [3, 2, 0], [5, 5, 5]])
    assert path_of(routes, [1, 2, 3], "first") == [0, 1, 2]
    # per layer majority: layer0 3 (twice), layer1 tie 1/2 -> 1 (first), layer2 0 (twice)
    assert path_of(routes, [1, 2, 3], "all") == [3, 1, 0]
    assert path_of(routes, [4], "all") == [5, 5, 5]
    with pytest.raises(ConfigError, match="subwords"):
        path_of(routes, [1], "mean")


def test_gate_paths_equal_sampled_paths(tiny_module):
    prompts = make_prompts(["red", "fire hydrant", "striped"], ["a {word} circle", "on the left a {word} one"])
    layers = space_layer_names(tiny_module.net)
    assert len(layers) == 5
    gates = collect_paths(tiny_module, prompts, "gates", "all")
    sampled = collect_paths(tiny_module, prompts, "sampling", "all", steps=1, guidance=2.0)
    assert gates[layers].equals(sampled[layers])
    assert list(gates.tokens[gates.word == "fire hydrant"])[0] == "fire hydra ##nt"


def test_probe_separable_paths_near_perfect():
    rng = np.random.default_rng(0)
    words = np.repeat([f"w{i}" for i in range(8)], 10)
    base = rng.permutation(36)[:8]
    paths = np.stack([[b // 6, b % 6, 0] for b in base])[np.repeat(np.arange(8), 10)]
    res = probe_paths(paths, words, num_experts=6, seed=0, xgb_params={"n_estimators": 20})
    assert res.accuracy_mean > 0.98 and res.num_words == 8 and res.chance_uniform == 1 / 8
    assert res.distinct_paths == 8 and res.words_sharing_a_path == 0


def test_probe_random_paths_near_chance():
    rng = np.random.default_rng(1)
    words = np.repeat([f"w{i}" for i in range(8)], 20)
    paths = rng.integers(0, 6, size=(len(words), 5))
    res = probe_paths(paths, words, num_experts=6, seed=0, xgb_params={"n_estimators": 20})
    assert res.accuracy_mean < 0.3  # chance 0.125
    assert abs(res.chance_majority - 1 / 8) < 1e-9


def test_probe_needs_enough_prompts_per_word():
    with pytest.raises(ConfigError, match="folds=5"):
        probe_paths(np.zeros((6, 2), int), ["a"] * 3 + ["b"] * 3, num_experts=2)


def test_path_overlap_counts_shared_paths():
    paths = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [2, 2]])
    stats = path_overlap(paths, np.array(["a", "a", "b", "b", "c"]))
    assert stats == {"distinct_paths": 3, "distinct_word_paths": 2, "words_sharing_a_path": 2,
                     "mean_paths_per_word": 4 / 3}


def test_word_lists_ship_with_enough_templates():
    from raphael.tasks.shapes.scenes import COLORS, FILLS, POSITIONS, SHAPES

    assert len(read_list("adjectives.txt")) == 100 and len(read_list("verbs.txt")) == 50
    assert len(read_list("coco.txt")) == 80
    assert read_list("shapes_colors.txt") == list(COLORS) and read_list("shapes_shapes.txt") == list(SHAPES)
    assert read_list("shapes_fills.txt") == list(FILLS) and read_list("shapes_positions.txt") == list(POSITIONS)
    for name in ("adjectives", "verbs", "coco", "shapes_colors", "shapes_shapes", "shapes_fills", "shapes_positions"):
        assert len(read_list(f"templates_{name}.txt")) >= 10


def compose_probe(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("probe", overrides=list(overrides), return_hydra_config=False)


def save_checkpoint(module, path):
    import lightning as L

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)


def test_probe_entry_point_end_to_end(tiny_module, tmp_path):
    from raphael.probe import run_probe

    ckpt = tmp_path / "tiny.ckpt"
    save_checkpoint(tiny_module, ckpt)
    cfg = compose_probe(f"ckpt={ckpt}", "words=shapes", f"out_dir={tmp_path}/out", "xgb.n_estimators=5")
    cfg.words.groups = {"colors": cfg.words.groups.colors}  # one group keeps the test small
    figures = run_probe(cfg)
    saved = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert saved["trained"]["num_words"] == 8 and saved["untrained"]["num_rows"] == 88
    assert 0 <= figures["trained"]["accuracy_mean"] <= 1
    # the shuffled-label control: the same paths with the words permuted, beside each model's own figure
    assert 0 <= saved["trained"]["shuffled_accuracy_mean"] <= 1 and saved["untrained"]["shuffled_accuracy_std"] >= 0
    for name in ("confusion_trained.png", "paths_untrained.png", "paths_trained.csv"):
        assert (tmp_path / "out" / name).is_file()


def test_probe_config_errors_name_the_field():
    from raphael.probe import validate_probe_config

    with pytest.raises(ConfigError, match="mode='fast'"):
        validate_probe_config(compose_probe("ckpt=x", "mode=fast"))
    with pytest.raises(ConfigError, match="folds=1"):
        validate_probe_config(compose_probe("ckpt=x", "folds=1"))
