import math

import numpy as np
import pytest

from raphael.data.buckets import BucketBatcher, assign_bucket, bucket_sizes, fit_edge, fit_image


@pytest.mark.parametrize("base", [128, 256, 512])
def test_nine_buckets_of_about_base_squared_pixels(base):
    sizes = bucket_sizes(base)
    assert len(sizes) == 9 and (base, base) in sizes
    for h, w in sizes:
        assert h % 8 == 0 and w % 8 == 0
        assert abs(h * w / base**2 - 1) < 0.15
    ratios = [h / w for h, w in sizes]
    assert ratios == sorted(ratios) and math.isclose(min(ratios) * max(ratios), 1, rel_tol=0.1)


def test_small_base_dedupes():
    sizes = bucket_sizes(32)
    assert len(sizes) == len(set(sizes)) >= 5 and (32, 32) in sizes


def test_assign_bucket_nearest_log_ratio():
    assert assign_bucket(100, 100, 256) == (256, 256)
    assert assign_bucket(480, 640, 256) == (224, 296)  # 3:4
    assert assign_bucket(10, 1000, 256) == bucket_sizes(256)[0]  # extreme -> widest
    assert assign_bucket(1000, 10, 256) == bucket_sizes(256)[-1]
    with pytest.raises(ValueError):
        assign_bucket(0, 5, 32)


def test_fit_and_batcher():
    img = np.zeros((30, 60, 3), np.uint8)
    assert fit_image(img, (24, 40)).shape == (24, 40, 3)
    edge = fit_edge(np.ones((30, 60), np.float32), (24, 40))
    assert edge.shape == (24, 40) and edge.min() >= 0 and edge.max() <= 1
    samples = [
        {"image": np.zeros(s + (3,), np.uint8), "edge": None, "i": i}
        for i, s in enumerate([(64, 128), (32, 32), (60, 120), (40, 40), (100, 100), (30, 62)])
    ]
    batches = list(BucketBatcher(32, 2, partial=True)(iter(samples)))
    assert sorted(len(b) for b in batches) == [1, 1, 2, 2]
    for batch in batches:
        assert len({b["image"].shape for b in batch}) == 1
    full = list(BucketBatcher(32, 2, partial=False)(iter(samples)))
    assert [len(b) for b in full] == [2, 2]
