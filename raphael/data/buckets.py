"""Aspect-ratio buckets (multi-scale training, RAPHAEL Table 2: 9 buckets).

Nine height:width ratios from 1:2 to 2:1, each scaled so the bucket holds about base x base
pixels, sides rounded to multiples of 8. At small bases rounding can make two ratios land on
the same size; duplicates are dropped (base 32 has 5 distinct buckets, 64 has 7, >= 96 has 9).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

BUCKET_RATIOS: tuple[tuple[int, int], ...] = (  # (h, w)
    (1, 2), (4, 7), (2, 3), (3, 4), (1, 1), (4, 3), (3, 2), (7, 4), (2, 1),
)  # fmt: skip
MULTIPLE = 8


def _round_to(x: float, multiple: int = MULTIPLE) -> int:
    return max(multiple, int(round(x / multiple)) * multiple)


def bucket_sizes(base: int) -> list[tuple[int, int]]:
    """The (h, w) of each bucket for a base side, ordered from widest to tallest."""
    ratios = (math.sqrt(rh / rw) for rh, rw in BUCKET_RATIOS)
    return list(dict.fromkeys((_round_to(base * r), _round_to(base / r)) for r in ratios))  # drop duplicates


def assign_bucket(h: int, w: int, base: int) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest (in log space) to an h x w image's."""
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got h={h}, w={w}")
    target = math.log(h / w)
    return min(bucket_sizes(base), key=lambda s: abs(math.log(s[0] / s[1]) - target))


def fit_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 (H, W, 3) image to cover ``size`` = (h, w), then centre-crop it."""
    if image.shape[:2] == tuple(size):
        return image
    return np.asarray(_cover_crop(Image.fromarray(image), size, Image.Resampling.BICUBIC))


def fit_edge(edge: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Same geometry as ``fit_image`` for a float (H, W) edge map in [0, 1] (bilinear, so a
    resized map is soft)."""
    if edge.shape[:2] == tuple(size):
        return edge
    pil = Image.fromarray(edge.astype(np.float32), mode="F")
    return np.clip(np.asarray(_cover_crop(pil, size, Image.Resampling.BILINEAR)), 0.0, 1.0)


def fit_sample(sample: dict, size: tuple[int, int]) -> dict:
    """A decoded sample's image (and edge map, when it has one) fitted to ``size`` = (h, w), in place."""
    sample["image"] = fit_image(sample["image"], size)
    if sample.get("edge") is not None:
        sample["edge"] = fit_edge(sample["edge"], size)
    return sample


def _cover_crop(pil: Image.Image, size: tuple[int, int], resample) -> Image.Image:
    th, tw = size
    w, h = pil.size
    scale = max(th / h, tw / w)
    nw, nh = max(tw, round(w * scale)), max(th, round(h * scale))
    pil = pil.resize((nw, nh), resample)
    left, top = (nw - tw) // 2, (nh - th) // 2
    return pil.crop((left, top, left + tw, top + th))


class BucketBatcher:
    """WebDataset pipeline stage: takes decoded samples (dicts with ``image`` uint8 HxWx3 and
    optionally ``edge`` float HxW), resizes each to its bucket, and yields same-bucket batches
    (``collate(list_of_samples)``) of ``batch_size``; leftovers at the end are yielded as
    partial batches when ``partial`` is true."""

    def __init__(
        self,
        base: int,
        batch_size: int,
        collate: Callable[[list[dict]], object] | None = None,
        partial: bool = False,
    ):
        self.base, self.batch_size, self.partial = base, batch_size, partial
        self.collate = collate if collate is not None else (lambda samples: samples)

    def __call__(self, samples: Iterable[dict]) -> Iterator[object]:
        pending: dict[tuple[int, int], list[dict]] = {}
        for sample in samples:
            h, w = sample["image"].shape[:2]
            size = assign_bucket(h, w, self.base)
            fit_sample(sample, size)
            group = pending.setdefault(size, [])
            group.append(sample)
            if len(group) == self.batch_size:
                yield self.collate(group)
                pending[size] = []
        if self.partial:
            yield from (self.collate(group) for group in pending.values() if group)
