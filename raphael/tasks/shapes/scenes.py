"""Procedural compositional dataset "shapes": vocabulary, layout, rendering and captions.

Every sample is a pure function of one integer seed (``make_sample(seed, ...)``): a plain
background with 1 to 3 non-overlapping objects, each with a color, shape, size, position and
fill, and a caption drawn from several templates and synonyms. The metadata always stores the
canonical attribute values (docs/interfaces.md), so the oracle (``raphael.tasks.shapes.oracle``) can
score an image against the prompt whatever wording the caption used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from raphael.errors import ConfigError

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
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    for obj in objects:
        x0, y0, x1, y1 = obj["bbox"]
        paint = fill_pattern(shape_mask(obj["shape"], y1 - y0, x1 - x0), obj["fill"])
        region = image[y0:y1, x0:x1]
        region[paint] = COLORS[obj["color"]]
    return image


# ---------------------------------------------------------------------------------------------
# Captions: canonical value -> wordings

SIZE_WORDS = {"small": ["small", "tiny", "little"], "large": ["large", "big"]}
SHAPE_WORDS = {"circle": ["circle"], "square": ["square"], "triangle": ["triangle"], "diamond": ["diamond"]}
POSITION_WORDS = {
    "left": ["on the left", "at the left"],
    "right": ["on the right", "at the right"],
    "top": ["at the top", "on top"],
    "bottom": ["at the bottom"],
    "center": ["in the center", "in the middle"],
}
FILL_ADJ = {"solid": ["solid", "filled"], "outlined": ["outlined", "hollow"], "striped": ["striped"]}
FILL_WITH = {"solid": "a solid fill", "outlined": "only an outline", "striped": "stripes"}


def _words(o: dict, rng: np.random.Generator) -> dict[str, str]:
    def pick(options: list[str]) -> str:
        return options[rng.integers(len(options))]

    return {
        "size": pick(SIZE_WORDS[o["size"]]),
        "color": o["color"],
        "shape": pick(SHAPE_WORDS[o["shape"]]),
        "pos": pick(POSITION_WORDS[o["position"]]),
        "posn": o["position"],  # the bare noun
        "fill": pick(FILL_ADJ[o["fill"]]),
        "with": FILL_WITH[o["fill"]],
    }


# per-object phrase styles: every style states all five attributes, in a different order
PHRASES = [
    "a {size} {fill} {color} {shape} {pos}",
    "a {size} {color} {shape} {pos}, {fill}",
    "{pos} a {fill} {color} {shape}, {size}",
    "a {color} {shape} with {with}, {size}, {pos}",
    "{color} {shape}, {size}, {fill}, {posn}",
    "a {fill} {shape} in {color}, {size}, {pos}",
]


def _article(text: str) -> str:
    """'a' -> 'an' before a vowel."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _join_and(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _by_height(objects: list[dict]) -> list[dict]:
    return sorted(objects, key=lambda o: (o["bbox"][1] + o["bbox"][3]) / 2)


def _strictly_above(a: dict, b: dict) -> bool:
    return a["bbox"][3] <= b["bbox"][1]


# each template: (name, function(objects, rng) -> caption or None when it does not apply)
def _t_list(style: int):
    def make(objects, rng):
        return _join_and([PHRASES[style].format(**_words(o, rng)) for o in objects])

    return make


def _t_there_is(objects, rng):
    parts = [
        "{pos} there is a {size} {color} {shape} that is {fill}".format(**_words(o, rng)) for o in objects
    ]
    return ", and ".join(parts)


def _t_next_to(objects, rng):
    if len(objects) < 2:
        return None
    ps = [PHRASES[0].format(**_words(o, rng)) for o in objects]
    return f"{ps[0]} next to {_join_and(ps[1:])}"


def _t_vertical(word: str):
    """'{a} above {b}' counted from the top, '{a} below {b}' from the bottom: a and b are the two objects
    nearest that edge and must not overlap vertically; a third object follows as ', and {c}'."""

    def make(objects, rng):
        if len(objects) < 2:
            return None
        objs = _by_height(objects)[:: 1 if word == "above" else -1]
        upper, lower = objs[:2] if word == "above" else objs[1::-1]
        if not _strictly_above(upper, lower):
            return None
        ps = [PHRASES[0].format(**_words(o, rng)) for o in objs]
        return f"{ps[0]} {word} {ps[1]}" + (f", and {ps[2]}" if len(ps) > 2 else "")

    return make


def _t_count(objects, rng):
    n = ["one shape", "two shapes", "three shapes", "four shapes", "five shapes"][len(objects) - 1]
    return f"{n}: " + "; ".join(PHRASES[4].format(**_words(o, rng)) for o in objects)


TEMPLATES = [
    ("list_adj", _t_list(0)),
    ("list_fill_last", _t_list(1)),
    ("list_pos_first", _t_list(2)),
    ("list_with", _t_list(3)),
    ("list_in_color", _t_list(5)),
    ("there_is", _t_there_is),
    ("next_to", _t_next_to),
    ("above", _t_vertical("above")),
    ("below", _t_vertical("below")),
    ("count", _t_count),
]


def make_caption(objects: list[dict], rng: np.random.Generator) -> tuple[str, int]:
    """(caption, template index); objects are mentioned in a random order."""
    order = [objects[i] for i in rng.permutation(len(objects))]
    for _ in range(50):
        index = int(rng.integers(len(TEMPLATES)))
        text = TEMPLATES[index][1](order, rng)
        if text is not None:
            return _article(text), index
    return _article(TEMPLATES[0][1](order, rng)), 0  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Samples and prompts


def make_meta(
    seed: int,
    image_size: int | Sequence[int] = 32,
    num_objects: tuple[int, int] = (1, 3),
    holdout_pairs: Sequence[Sequence[str]] = (),
    holdout_mode: str = "exclude",
) -> dict:
    """Metadata of one sample (objects with bboxes, caption, template, seed): no pixels."""
    rng = np.random.default_rng(seed)
    hw = as_hw(image_size)
    objects = sample_layout(rng, hw, tuple(num_objects), holdout_pairs, holdout_mode)
    caption, template = make_caption(objects, rng)
    return {
        "objects": objects,
        "caption": caption,
        "template": template,
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
) -> list[tuple[str, dict]]:
    """Evaluation prompts as (caption, meta). ``holdout_only=False``: the training distribution
    (held-out pairs excluded; seeds disjoint from train/val); ``True``: every prompt contains at
    least one held-out (color, shape) pair. Deterministic in ``seed``."""
    mode = "only" if holdout_only else "exclude"
    out = []
    for i in range(num):
        meta = make_meta(sample_seed(seed, "eval", i), image_size, num_objects, holdout_pairs, mode)
        out.append((meta["caption"], meta))
    return out
