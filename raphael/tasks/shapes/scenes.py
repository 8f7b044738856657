"""Procedural compositional dataset "shapes": vocabulary, layout, rendering and captions.

Every sample is a pure function of one integer seed (``make_sample(seed, ...)``): a plain
background with 1 to 3 non-overlapping objects, each with a color, shape, size, position and
fill, and a caption in the task's caption language (``raphael.tasks.shapes.wording``). The metadata always stores the
canonical attribute values (docs/interfaces.md), so the oracle (``raphael.tasks.shapes.oracle``) can
score an image against the prompt whatever wording the caption used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from raphael.run.errors import ConfigError
from raphael.tasks.shapes import wording

# ---------------------------------------------------------------------------------------------
# Vocabulary (canonical values; captions may use synonyms)

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (235, 205, 20),
    "green": (30, 160, 50),
    "cyan": (20, 190, 210),
    "blue": (35, 65, 220),
    "purple": (135, 45, 180),
    "pink": (245, 110, 190),
}
BACKGROUND: tuple[int, int, int] = (255, 255, 255)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom", "center")
FILLS: tuple[str, ...] = ("solid", "outlined", "striped")
ATTRIBUTES: tuple[str, ...] = ("color", "shape", "size", "position", "fill")

DEFAULT_HOLDOUT: list[list[str]] = [["red", "triangle"], ["blue", "circle"], ["green", "square"]]

# object side length as a fraction of sqrt(H * W) (the oracle splits small/large half way)
SIZE_FRACTION = {"small": 0.25, "large": 0.375}
SIZE_THRESHOLD = (SIZE_FRACTION["small"] + SIZE_FRACTION["large"]) / 2
# where an object sits: 'left' hugs the left border (vertically centred), 'top' the top border
# (horizontally centred), ..., 'center' is centred; the oracle classifies the bbox centre
CENTER_RADIUS = 0.15  # |centre - 0.5| below this on both axes (fraction of W, H) = 'center'
MARGIN = 0.03  # distance to the border, fraction of the side
JITTER = 0.04  # random offset, fraction of the side
GAP = 2  # min background pixels between two objects (their masks, dilated)

SPLIT_OFFSET = {"train": 0, "val": 1, "eval": 2, "test": 3}
SEEDS_PER_SPLIT = 1_000_000_000


def sample_seed(base_seed: int, split: str, index: int) -> int:
    """The seed of sample ``index`` of ``split``: disjoint across splits for index < 1e9."""
    if split not in SPLIT_OFFSET:
        raise ValueError(f"split={split!r}: allowed values are {sorted(SPLIT_OFFSET)}")
    if not 0 <= index < SEEDS_PER_SPLIT:
        raise ValueError(f"index={index} out of range [0, {SEEDS_PER_SPLIT})")
    return (base_seed * len(SPLIT_OFFSET) + SPLIT_OFFSET[split]) * SEEDS_PER_SPLIT + index


def as_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = (int(s) for s in image_size)
    return h, w


def object_side(size: str, hw: tuple[int, int]) -> int:
    h, w = hw
    side = int(round(SIZE_FRACTION[size] * (h * w) ** 0.5))
    return max(4, min(side, min(hw) - 2))


# ---------------------------------------------------------------------------------------------
# Shape masks (shared with the oracle, which matches templates against them)


def shape_mask(shape: str, h: int, w: int) -> np.ndarray:
    """Boolean (h, w) mask of ``shape`` filling an h x w box, sampled at pixel centres."""
    v = (np.arange(h) + 0.5) / h * 2 - 1
    u = (np.arange(w) + 0.5) / w * 2 - 1
    v, u = np.meshgrid(v, u, indexing="ij")
    eps = 1.0 / max(h, w)
    if shape == "circle":
        return u**2 + v**2 <= (1 + eps) ** 2
    if shape == "square":
        return np.ones((h, w), dtype=bool)
    if shape == "triangle":  # apex at the top, base at the bottom
        return np.abs(u) <= (v + 1) / 2 + eps
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1 + eps
    raise ValueError(f"shape={shape!r}: allowed values are {list(SHAPES)}")


def fill_pattern(mask: np.ndarray, fill: str) -> np.ndarray:
    """Which pixels of a solid shape mask get painted for a fill style."""
    if fill == "solid":
        return mask
    outline = mask & ~ndimage.binary_erosion(mask, border_value=0)
    if fill == "outlined":
        return outline
    if fill == "striped":  # horizontal stripes inside a closed outline (one connected object)
        rows = (np.arange(mask.shape[0]) % 2 == 0)[:, None]
        return outline | (mask & rows)
    raise ValueError(f"fill={fill!r}: allowed values are {list(FILLS)}")


# ---------------------------------------------------------------------------------------------
# Layout


def _axis_start(anchor: str, side: int, length: int, rng: np.random.Generator) -> int:
    """Start coordinate along one axis: 'low' border, 'high' border or 'mid'."""
    margin = max(1, int(round(MARGIN * length)))
    jitter = int(round(JITTER * length))
    if anchor == "low":
        start = margin + rng.integers(0, jitter + 1)
    elif anchor == "high":
        start = length - margin - side - rng.integers(0, jitter + 1)
    else:
        start = int(round((length - side) / 2)) + rng.integers(-jitter, jitter + 1)
    return int(np.clip(start, 0, length - side))


AXIS_ANCHORS = {  # position -> (x anchor, y anchor)
    "left": ("low", "mid"),
    "right": ("high", "mid"),
    "top": ("mid", "low"),
    "bottom": ("mid", "high"),
    "center": ("mid", "mid"),
}


def _bbox_for(position: str, size: str, hw: tuple[int, int], rng: np.random.Generator) -> list[int]:
    h, w = hw
    side = object_side(size, hw)
    ax, ay = AXIS_ANCHORS[position]
    x0 = _axis_start(ax, side, w, rng)
    y0 = _axis_start(ay, side, h, rng)
    return [x0, y0, x0 + side, y0 + side]


def _canvas_mask(obj: dict, hw: tuple[int, int]) -> np.ndarray:
    x0, y0, x1, y1 = obj["bbox"]
    canvas = np.zeros(hw, dtype=bool)
    canvas[y0:y1, x0:x1] = shape_mask(obj["shape"], y1 - y0, x1 - x0)
    return canvas


def _pick_identity(rng: np.random.Generator, holdout: set[tuple[str, str]], mode: str) -> tuple[str, str]:
    """(color, shape): mode 'exclude' avoids held-out pairs, 'only' draws one of them."""
    if mode == "only":
        pairs = sorted(holdout)
        return pairs[rng.integers(len(pairs))]
    colors = list(COLORS)
    while True:
        pair = (colors[rng.integers(len(colors))], SHAPES[rng.integers(len(SHAPES))])
        if mode == "any" or pair not in holdout:
            return pair


def sample_layout(
    rng: np.random.Generator,
    hw: tuple[int, int],
    num_objects: tuple[int, int] = (1, 3),
    holdout_pairs: Sequence[Sequence[str]] = (),
    holdout_mode: str = "exclude",
) -> list[dict]:
    """Draw the objects of one image (no pixels). ``holdout_mode``: exclude | only | any;
    with 'only' the first object is a held-out pair and the others are drawn freely."""
    holdout = {(c, s) for c, s in holdout_pairs}
    if holdout_mode == "only" and not holdout:
        raise ValueError("holdout_mode='only' needs at least one holdout pair")
    lo, hi = num_objects
    if not 1 <= lo <= hi <= len(POSITIONS):
        raise ValueError(f"num_objects={num_objects}: need 1 <= min <= max <= {len(POSITIONS)}")
    n = int(rng.integers(lo, hi + 1))
    for _attempt in range(100):
        objects: list[dict] = []
        occupied = np.zeros(hw, dtype=bool)  # masks of placed objects, dilated by GAP
        for position in (POSITIONS[i] for i in rng.permutation(len(POSITIONS))):
            if len(objects) == n:
                break
            first = holdout_mode == "only" and not objects
            mode = "only" if first else ("any" if holdout_mode == "only" else holdout_mode)
            color, shape = _pick_identity(rng, holdout, mode)
            fill = FILLS[rng.integers(len(FILLS))]
            for size in (SIZES[rng.integers(len(SIZES))], "small"):  # a small one may still fit
                obj = {
                    "color": color,
                    "shape": shape,
                    "size": size,
                    "position": position,
                    "fill": fill,
                    "bbox": _bbox_for(position, size, hw, rng),
                }
                mask = _canvas_mask(obj, hw)
                if not (mask & occupied).any():
                    objects.append(obj)
                    occupied |= ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=GAP)
                    break
        if len(objects) == n:
            return objects
    raise RuntimeError(f"could not place {n} objects on a {hw} canvas")  # pragma: no cover


def _fits(hw: tuple[int, int], n: int, trials: int = 20) -> bool:
    """Whether n objects can be placed on an hw canvas (every one of `trials` fixed layouts succeeds)."""
    try:
        for seed in range(trials):
            sample_layout(np.random.default_rng(seed), hw, (n, n))
    except RuntimeError:
        return False
    return True


def check_canvas(hw: tuple[int, int], num_objects: Sequence[int]) -> None:
    """Refuse a canvas too small for the most objects asked for, naming the smallest side that works."""
    n = int(num_objects[1])
    if _fits(hw, n):
        return
    side = max(hw)
    while not _fits((side, side), n):
        side += 2
    raise ConfigError(f"image size {hw[0]}x{hw[1]} cannot hold {n} objects (num_objects max = {n}): "
                      f"the smallest square canvas that does is {side}x{side}; use a larger image size "
                      "or fewer objects.")


# ---------------------------------------------------------------------------------------------
# Rendering


def render(objects: Sequence[dict], image_size: int | Sequence[int] = 32) -> np.ndarray:
    """uint8 (H, W, 3) image of the objects on the plain background (no anti-aliasing, so
    every pixel is the background or an exact palette color)."""
    h, w = as_hw(image_size)
    image = np.full((h, w, 3), BACKGROUND, dtype=np.uint8)
    for obj in objects:
        x0, y0, x1, y1 = obj["bbox"]
        paint = fill_pattern(shape_mask(obj["shape"], y1 - y0, x1 - x0), obj["fill"])
        image[y0:y1, x0:x1][paint] = COLORS[obj["color"]]
    return image


# ---------------------------------------------------------------------------------------------
# Captions (the language lives in raphael.tasks.shapes.wording)


def make_caption(objects: list[dict], rng: np.random.Generator, held_out_wording: bool = False) -> tuple[str, dict]:
    """(caption, wording record: frame, orders, held_out); objects are mentioned in a random order.
    `held_out_wording`: written with the held-out wordings (evaluation only, never in a shard)."""
    caption = wording.describe(objects, rng, held_out_wording)
    return caption.text, caption.record()


# ---------------------------------------------------------------------------------------------
# Samples and prompts


def make_meta(
    seed: int,
    image_size: int | Sequence[int] = 32,
    num_objects: tuple[int, int] = (1, 3),
    holdout_pairs: Sequence[Sequence[str]] = (),
    holdout_mode: str = "exclude",
    held_out_wording: bool = False,
) -> dict:
    """Metadata of one sample (objects with bboxes, caption, its wording record, seed): no pixels. The layout
    is drawn before the caption, so `held_out_wording` changes the words and not the scene."""
    rng = np.random.default_rng(seed)
    hw = as_hw(image_size)
    objects = sample_layout(rng, hw, tuple(num_objects), holdout_pairs, holdout_mode)
    caption, record = make_caption(objects, rng, held_out_wording)
    return {
        "objects": objects,
        "caption": caption,
        "template": record["frame"],
        "wording": record,
        "seed": int(seed),
        "image_size": list(hw),
    }


def make_sample(
    seed: int,
    image_size: int | Sequence[int] = 32,
    num_objects: tuple[int, int] = (1, 3),
    holdout_pairs: Sequence[Sequence[str]] = (),
    holdout_mode: str = "exclude",
) -> tuple[np.ndarray, dict]:
    """(uint8 HxWx3 image, meta) of one sample; the same seed gives the same sample."""
    meta = make_meta(seed, image_size, num_objects, holdout_pairs, holdout_mode)
    return render(meta["objects"], image_size), meta


def eval_prompts(
    num: int,
    seed: int,
    holdout_pairs: Sequence[Sequence[str]] = DEFAULT_HOLDOUT,
    holdout_only: bool = False,
    image_size: int | Sequence[int] = 32,
    num_objects: tuple[int, int] = (1, 3),
    held_out_wording: bool = False,
) -> list[tuple[str, dict]]:
    """Evaluation prompts as (caption, meta). ``holdout_only=False``: the training distribution
    (held-out pairs excluded; seeds disjoint from train/val); ``True``: every prompt contains at
    least one held-out (color, shape) pair. ``held_out_wording``: the same scenes written with the
    held-out wordings (the wording split). Deterministic in ``seed``."""
    mode = "only" if holdout_only else "exclude"
    metas = [make_meta(sample_seed(seed, "eval", i), image_size, num_objects, holdout_pairs, mode, held_out_wording)
             for i in range(num)]
    return [(meta["caption"], meta) for meta in metas]
