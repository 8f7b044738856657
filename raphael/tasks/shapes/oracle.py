"""Shapes oracle: recover the objects of a (rendered or generated) shapes image by analysis,
and score how well an image shows what a prompt asked for.

``parse`` finds foreground pixels (far enough from the plain background), splits them into
8-connected components (ignoring specks), and for each component reads
- color: nearest palette color to the median of its most saturated half,
- shape: the shape template (``shapes.shape_mask``) with the best IoU against the hole-filled
  component in its bbox,
- size: bbox side relative to sqrt(H * W), split half way between small and large,
- position: bbox centre (near the middle on both axes = center, else the dominant offset),
- fill: the share of the component's interior that is painted (solid ~1, outlined ~0,
  striped in between).
It is exact on clean renders and degrades gracefully on blurry or noisy samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from raphael.tasks.shapes.scenes import (
    ATTRIBUTES,
    BACKGROUND,
    CENTER_RADIUS,
    COLORS,
    SHAPES,
    SIZE_THRESHOLD,
    shape_mask,
)

_PALETTE_NAMES = list(COLORS)
_PALETTE = np.array([COLORS[c] for c in _PALETTE_NAMES], dtype=np.float32)
_BG = np.array(BACKGROUND, dtype=np.float32)
_EIGHT = np.ones((3, 3), dtype=bool)


def to_uint8_hwc(image) -> np.ndarray:
    """uint8 (H, W, 3) from: uint8 HxWx3 / HxW arrays, float arrays or tensors in [-1, 1]
    (CHW or HWC, optionally with a leading batch dim of 1), or a PIL image."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.float().numpy() if image.dtype != torch.uint8 else image.numpy()
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"image: expected (H, W, 3) or (3, H, W), got shape {array.shape}")
    if array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype != np.uint8:
        array = np.nan_to_num(array.astype(np.float32), nan=0.0)
        array = np.clip((array + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def _classify_fill(component: np.ndarray, filled: np.ndarray) -> str:
    interior = ndimage.binary_erosion(filled, border_value=0)
    n = int(interior.sum())
    if n == 0:
        return "solid"
    painted = float((component & interior).sum()) / n
    if painted > 0.75:
        return "solid"
    if painted < 0.2:
        return "outlined"
    return "striped"


def _classify_shape(filled: np.ndarray) -> str:
    def iou(shape: str) -> float:
        template = shape_mask(shape, *filled.shape)
        return (template & filled).sum() / max(1, (template | filled).sum())

    return max(SHAPES, key=iou)  # the first of equally good templates, as SHAPES orders them


def _classify_position(cx: float, cy: float) -> str:
    dx, dy = cx - 0.5, cy - 0.5
    if abs(dx) < CENTER_RADIUS and abs(dy) < CENTER_RADIUS:
        return "center"
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "top" if dy < 0 else "bottom"


def parse(
    image,
    bg_threshold: float = 60.0,
    max_color_distance: float = 130.0,
    min_area_fraction: float = 0.004,
) -> list[dict]:
    """Objects found in ``image``: dicts with color, shape, size, position, fill, bbox
    ([x0, y0, x1, y1], x1/y1 exclusive) and area. Specks smaller than ``min_area_fraction``
    of the image and blobs no palette color is within ``max_color_distance`` of are ignored."""
    rgb = to_uint8_hwc(image).astype(np.float32)
    h, w = rgb.shape[:2]
    dist_bg = np.linalg.norm(rgb - _BG, axis=-1)
    labels, _ = ndimage.label(dist_bg > bg_threshold, structure=_EIGHT)
    min_area = max(3, int(round(min_area_fraction * h * w)))
    objects = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        component = labels[box] == index
        area = int(component.sum())
        if area < min_area:
            continue
        strength = dist_bg[box][component]
        core = rgb[box][component][strength >= np.median(strength)]
        color_distance = np.linalg.norm(_PALETTE - np.median(core, axis=0), axis=-1)
        if color_distance.min() > max_color_distance:
            continue
        y0, x0 = box[0].start, box[1].start
        y1, x1 = box[0].stop, box[1].stop
        filled = ndimage.binary_fill_holes(component)
        side = max(y1 - y0, x1 - x0) / (h * w) ** 0.5
        objects.append(
            {
                "color": _PALETTE_NAMES[int(color_distance.argmin())],
                "shape": _classify_shape(filled),
                "size": "large" if side > SIZE_THRESHOLD else "small",
                "position": _classify_position((x0 + x1) / 2 / w, (y0 + y1) / 2 / h),
                "fill": _classify_fill(component, filled),
                "bbox": [int(x0), int(y0), int(x1), int(y1)],
                "area": area,
            }
        )
    return objects


def match_objects(prompted: Sequence[dict], parsed: Sequence[dict]) -> list[tuple[int, int]]:
    """Optimal one-to-one matching (prompted index, parsed index) maximising agreeing attributes."""
    if not prompted or not parsed:
        return []
    agree = np.array(
        [[sum(p[a] == q[a] for a in ATTRIBUTES) for q in parsed] for p in prompted], dtype=np.float64
    )
    rows, cols = linear_sum_assignment(agree, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols)]


def clean_fraction(image, max_distance: float = 60.0) -> float:
    """Share of pixels within ``max_distance`` (RGB) of the background or of a palette colour.

    A render is 1.0; pure noise or a grey, noisy background is far below: the gate that stops a
    noisy canvas from being read as one full-image object (docs/evaluation.md)."""
    rgb = to_uint8_hwc(image).astype(np.float32).reshape(-1, 1, 3)
    references = np.concatenate([_BG[None], _PALETTE])[None]
    return float((np.linalg.norm(rgb - references, axis=-1).min(axis=1) <= max_distance).mean())


CLEAN_GATE = 0.9  # an image with fewer clean pixels than this scores 0


def alignment_details(image, meta: dict, parsed: list[dict] | None = None) -> dict:
    """The oracle's reading of ``image`` against the prompt in ``meta``.

    ``overall`` (the headline): matched attributes / (5 x max(prompted, parsed objects)), so objects
    nobody asked for cost credit, and 0 unless ``clean`` (the share of pixels near the background or a
    palette colour) is at least CLEAN_GATE. Per attribute: matched hits / max(prompted, parsed), gated
    the same way. ``lenient``: the earlier score (mean over prompted attributes, no count penalty, no
    gate). ``objects``: share of prompted objects with every attribute right; ``count_right``: parsed
    count == prompted count; ``all_right``: count right, clean and every attribute of every object
    right. Also ``clean``, ``num_prompted``, ``num_parsed``."""
    prompted = meta["objects"]
    parsed = parse(image) if parsed is None else parsed
    clean = clean_fraction(image)
    n, m = len(prompted), len(parsed)
    out: dict = {a: 0.0 for a in ATTRIBUTES}
    out.update(clean=clean, num_prompted=n, num_parsed=m, count_right=float(n == m))
    if n == 0:
        score = float(m == 0 and clean >= CLEAN_GATE)
        out.update({a: score for a in ATTRIBUTES}, overall=score, lenient=1.0, objects=1.0, all_right=score)
        return out
    gate = float(clean >= CLEAN_GATE)
    hits = [[prompted[i][a] == parsed[j][a] for a in ATTRIBUTES] for i, j in match_objects(prompted, parsed)]
    hits_per_attr = {a: sum(row[k] for row in hits) for k, a in enumerate(ATTRIBUTES)}
    perfect = sum(all(row) for row in hits)
    out.update({a: gate * hits_per_attr[a] / max(n, m) for a in ATTRIBUTES})  # keys already first, in order
    out["overall"] = float(np.mean([out[a] for a in ATTRIBUTES]))
    out["lenient"] = float(np.mean([hits_per_attr[a] / n for a in ATTRIBUTES]))
    out["objects"] = perfect / n
    out["all_right"] = gate * float(perfect == n == m)
    return out


def alignment(image, meta: dict) -> float:
    """The headline score in [0, 1]: ``alignment_details(...)["overall"]``."""
    return float(alignment_details(image, meta)["overall"])
