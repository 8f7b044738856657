"""Grids for people: 32x32 samples upscaled (nearest) to at least 128 px, the prompt beneath each."""

import numpy as np
from PIL import Image

from raphael.analysis.images import save_grid


def test_grid_upscales_each_sample_and_writes_its_prompt_beneath(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    path = save_grid(pixels, tmp_path / "grid.png", captions=["a large red circle on the left"] * 3, pad=2)
    grid = np.asarray(Image.open(path))
    first = grid[2:2 + 128, 2:2 + 128]
    assert np.array_equal(first, pixels[0].repeat(4, axis=0).repeat(4, axis=1))  # nearest, 4x: 128 px
    caption_band = grid[2 + 128:2 + 128 + 30, 2:2 + 128]
    assert (caption_band < 128).any()  # dark text on white
    assert grid.shape[1] == 2 * (128 + 2) + 2  # two columns for three images


def test_grid_without_captions_keeps_the_images_only(tmp_path):
    pixels = np.zeros((1, 200, 200, 3), dtype=np.uint8)
    grid = np.asarray(Image.open(save_grid(pixels, tmp_path / "g.png", pad=0)))
    assert grid.shape == (200, 200, 3)  # already >= 128 px: no upscaling, no caption band
