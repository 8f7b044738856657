import numpy as np
import pytest

from raphael.tasks.shapes import scenes as shapes
from raphael.tasks.shapes import wording
from raphael.tasks.shapes.scenes import (
    COLORS,
    DEFAULT_HOLDOUT,
    FILLS,
    POSITIONS,
    SHAPES,
    SIZES,
    eval_prompts,
    make_sample,
    sample_seed,
)


def test_vocabulary_sizes():
    assert len(COLORS) >= 6 and len(SHAPES) >= 4 and len(wording.FRAMES) >= 8
    assert {"circle", "square", "triangle"} <= set(SHAPES)
    assert set(SIZES) == {"small", "large"}
    assert {"left", "right", "top", "bottom", "center"} <= set(POSITIONS)
    assert set(FILLS) == {"solid", "outlined", "striped"}


def test_deterministic_and_seed_dependent():
    a_img, a_meta = make_sample(123)
    b_img, b_meta = make_sample(123)
    c_img, _ = make_sample(124)
    assert np.array_equal(a_img, b_img) and a_meta == b_meta
    assert not np.array_equal(a_img, c_img)
    assert a_img.dtype == np.uint8 and a_img.shape == (32, 32, 3)


def test_meta_contract_and_no_overlap():
    for i in range(200):
        img, meta = make_sample(
            sample_seed(0, "train", i), image_size=(24, 40), holdout_pairs=DEFAULT_HOLDOUT
        )
        assert img.shape == (24, 40, 3)
        assert set(meta) >= {"objects", "caption", "template", "wording", "seed"}
        assert 1 <= len(meta["objects"]) <= 3
        owner = np.zeros(img.shape[:2], dtype=int)
        for k, o in enumerate(meta["objects"], start=1):
            assert o["color"] in COLORS and o["shape"] in SHAPES and o["size"] in SIZES
            assert o["position"] in POSITIONS and o["fill"] in FILLS
            assert [o["color"], o["shape"]] not in DEFAULT_HOLDOUT
            x0, y0, x1, y1 = o["bbox"]
            assert 0 <= x0 < x1 <= 40 and 0 <= y0 < y1 <= 24
            mask = shapes.shape_mask(o["shape"], y1 - y0, x1 - x0)
            assert not (owner[y0:y1, x0:x1][mask] > 0).any(), "objects overlap"
            owner[y0:y1, x0:x1][mask] = k
        assert len({o["position"] for o in meta["objects"]}) == len(meta["objects"])


def test_captions_mention_every_attribute_with_varied_templates():
    used = set()
    for i in range(300):
        _, meta = make_sample(sample_seed(1, "train", i))
        used.add(meta["template"])
        read = wording.read_objects(meta["caption"])  # every attribute of every object, in some wording
        assert sorted(map(str, read)) == sorted(str(wording._canonical(o)) for o in meta["objects"])
    assert len(used) >= 8


def test_num_objects_configurable():
    for i in range(20):
        _, meta = make_sample(i, num_objects=(2, 2))
        assert len(meta["objects"]) == 2
    with pytest.raises(ValueError, match="num_objects"):
        make_sample(0, num_objects=(0, 2))


def test_eval_prompts():
    seen = eval_prompts(50, seed=0, holdout_pairs=DEFAULT_HOLDOUT)
    assert len(seen) == 50 and seen == eval_prompts(50, seed=0, holdout_pairs=DEFAULT_HOLDOUT)
    holdout = {tuple(p) for p in DEFAULT_HOLDOUT}
    for caption, meta in seen:
        assert caption == meta["caption"]
        assert all((o["color"], o["shape"]) not in holdout for o in meta["objects"])
    unseen = eval_prompts(50, seed=0, holdout_pairs=DEFAULT_HOLDOUT, holdout_only=True)
    for _, meta in unseen:
        assert any((o["color"], o["shape"]) in holdout for o in meta["objects"])


def test_split_seeds_are_disjoint():
    assert sample_seed(0, "train", 5) != sample_seed(0, "val", 5) != sample_seed(0, "eval", 5)
    with pytest.raises(ValueError, match="split"):
        sample_seed(0, "nope", 0)
