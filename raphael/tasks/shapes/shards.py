"""Shards of the shapes task: `write_shapes_shards` renders train / val samples into WebDataset shards
(raphael.data.shards' layout, edge targets included) with a `dataset.json`; `data.generate` in
conf/data/shapes.yaml calls it through `_target_` when the shards are missing.

CLI (also as `python -m raphael.data.shards make-shapes ...`)::

    python -m raphael.tasks.shapes.shards --out data/shapes --num 20000 [--val 512] [--seed 0]
        [--shard-size 1000] [--image-size 32] [--edges canny|hed --hed-weights PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import webdataset as wds
from tqdm import tqdm

from raphael.data.buckets import bucket_sizes
from raphael.data.shards import DATASET_JSON, EDGE_EXTENSION, encode_png, make_edge_fn
from raphael.run.errors import ConfigError
from raphael.tasks.shapes import scenes as shapes


def _shard_pattern(split: str, count: int) -> str:
    return f"{split}-{{000000..{max(0, count - 1):06d}}}.tar"


def generator_fingerprint(
    seed: int = 0,
    image_size: int | Sequence[int] = 32,
    holdout_pairs: Sequence[Sequence[str]] = tuple(shapes.DEFAULT_HOLDOUT),
    num_objects: Sequence[int] = (1, 3),
    probe: int = 32,
) -> str:
    """16 hex digits of what the scene and caption generator makes of these arguments: the metadata (captions
    included) and pixels of the first `probe` training and validation samples. It changes with any change of the
    generator's output, whatever the code change was, and not with comments or refactors."""
    digest = hashlib.sha256()
    n_obj = (int(num_objects[0]), int(num_objects[1]))
    for split in ("train", "val"):
        for index in range(probe):
            image, meta = shapes.make_sample(shapes.sample_seed(seed, split, index), image_size, n_obj,
                                             [list(p) for p in holdout_pairs], "exclude")
            digest.update(json.dumps(meta, sort_keys=True).encode())
            digest.update(image.tobytes())
    return digest.hexdigest()[:16]


def shards_are_current(out_dir: str | Path, **keywords) -> bool:
    """Whether `out_dir` holds what `write_shapes_shards(out_dir, **keywords)` would write now: its dataset.json
    names the same generator fingerprint, edges and canvases. The datamodule rewrites shards that are not
    (`write_shapes_shards.is_current`), so a change of the captions or scenes reaches every later run."""
    path = Path(out_dir) / DATASET_JSON
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    args = {k: keywords[k] for k in ("seed", "image_size", "holdout_pairs", "num_objects") if k in keywords}
    return (info.get("fingerprint") == generator_fingerprint(**args)
            and info.get("edges") == keywords.get("edges", "canny")
            and bool(info.get("aspect_buckets")) == bool(keywords.get("aspect_buckets", False)))


def write_shapes_shards(
    out_dir: str | Path,
    num: int = 20000,
    val: int = 512,
    seed: int = 0,
    image_size: int | Sequence[int] = 32,
    shard_size: int = 1000,
    holdout_pairs: Sequence[Sequence[str]] = tuple(shapes.DEFAULT_HOLDOUT),
    num_objects: Sequence[int] = (1, 3),
    edges: str = "canny",
    hed_weights: str | None = None,
    aspect_buckets: bool = False,
    progress: bool = True,
) -> dict:
    """Write ``num`` training samples to ``out_dir/train-%06d.tar`` and ``val`` validation
    samples (same distribution, disjoint seeds) to ``val-%06d.tar``, plus ``dataset.json``.
    Held-out (color, shape) pairs never appear in either. ``aspect_buckets``: render each
    sample on a random bucket canvas of ``bucket_sizes(image_size)`` instead of the square.
    Returns the dataset description written to ``dataset.json``."""
    if num < 1 or val < 0 or shard_size < 1:
        raise ValueError(f"need num >= 1, val >= 0, shard_size >= 1 (got {num}, {val}, {shard_size})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hw = shapes.as_hw(image_size)
    if aspect_buckets:
        if hw[0] != hw[1]:
            raise ValueError(f"aspect_buckets needs a square base image_size, got {hw}")
        sizes = bucket_sizes(hw[0])
    else:
        sizes = [hw]
    for size in sizes:
        shapes.check_canvas(size, num_objects)
    holdout = [list(p) for p in holdout_pairs]
    for color, shape in holdout:
        if color not in shapes.COLORS or shape not in shapes.SHAPES:
            raise ValueError(
                f"holdout pair {[color, shape]}: colors {list(shapes.COLORS)}, shapes {list(shapes.SHAPES)}"
            )
    edge_fn = make_edge_fn(edges, hed_weights)
    n_obj = (int(num_objects[0]), int(num_objects[1]))

    def write_split(split: str, count: int, chunk: int = 256) -> int:
        """Write ``count`` samples of ``split``; returns the number of shards."""
        if not count:
            return 0
        with wds.ShardWriter(str(out / f"{split}-%06d.tar"), maxcount=shard_size, verbose=0) as writer:
            for start in range(0, count, chunk):
                metas, images = [], []
                for index in range(start, min(count, start + chunk)):
                    s = shapes.sample_seed(seed, split, index)
                    hw = sizes[np.random.default_rng(s + 1).integers(len(sizes))] if len(sizes) > 1 else sizes[0]
                    image, meta = shapes.make_sample(s, hw, n_obj, holdout, "exclude")
                    metas.append(meta)
                    images.append(image)
                edge_maps: dict[int, np.ndarray] = {}
                for hw in {im.shape[:2] for im in images}:  # one batched edge pass per canvas size
                    idx = [i for i, im in enumerate(images) if im.shape[:2] == hw]
                    edge_maps.update(zip(idx, edge_fn(np.stack([images[i] for i in idx]))))
                for i, (image, meta) in enumerate(zip(images, metas)):
                    writer.write(
                        {
                            "__key__": f"{start + i:09d}",
                            "png": encode_png(image),
                            "txt": meta["caption"].encode("utf-8"),
                            "json": json.dumps(meta).encode("utf-8"),
                            EDGE_EXTENSION: encode_png(edge_maps[i]),
                        }
                    )
                bar.update(len(images))
        return math.ceil(count / shard_size)

    # disable=None: tqdm draws no bar when stderr is not a terminal (a log file)
    with tqdm(total=num + val, desc=f"shapes -> {out}", unit="img", disable=None if progress else True) as bar:
        n_train, n_val = write_split("train", num), write_split("val", val)
    info = {
        "name": "shapes",
        "count": {"train": num, "val": val},
        "shards": {"train": n_train, "val": n_val},
        "urls": {
            "train": _shard_pattern("train", n_train),
            "val": _shard_pattern("val", n_val) if val else None,
        },
        "image_size": list(hw),
        "aspect_buckets": [list(s) for s in sizes] if aspect_buckets else None,
        "holdout_pairs": holdout,
        "num_objects": list(n_obj),
        "seed": seed,
        "shard_size": shard_size,
        "edges": edges,
        "fingerprint": generator_fingerprint(seed, image_size, holdout, n_obj),  # shards_are_current reads it
        "fields": ["png", "txt", "json", EDGE_EXTENSION],
        "vocab": {
            "colors": shapes.COLORS,
            "shapes": list(shapes.SHAPES),
            "sizes": list(shapes.SIZES),
            "positions": list(shapes.POSITIONS),
            "fills": list(shapes.FILLS),
        },
    }
    (out / DATASET_JSON).write_text(json.dumps(info, indent=2))
    return info


write_shapes_shards.is_current = shards_are_current  # the datamodule asks a writer this before reusing shards


def _parse_size(text: str) -> int | tuple[int, int]:
    if "x" in text:
        h, w = text.lower().split("x")
        return int(h), int(w)
    return int(text)


def _parse_pairs(text: str) -> list[list[str]]:
    """'red:triangle,blue:circle' -> [['red', 'triangle'], ['blue', 'circle']]; '' -> []."""
    return [pair.split(":") for pair in text.split(",") if pair]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raphael.tasks.shapes.shards",
                                     description="write procedural shapes shards (train + val + dataset.json)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num", type=int, default=20000, help="training samples")
    parser.add_argument("--val", type=int, default=512, help="validation samples (disjoint seeds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per shard")
    parser.add_argument("--image-size", type=_parse_size, default=32, help="side, or HxW")
    parser.add_argument("--objects", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"))
    parser.add_argument("--holdout", type=_parse_pairs, default=shapes.DEFAULT_HOLDOUT,
                        help="held-out color:shape pairs, comma separated (default red:triangle,blue:circle,green:square)")
    parser.add_argument("--aspect-buckets", action="store_true", help="render on random aspect-ratio buckets")
    parser.add_argument("--edges", choices=["canny", "hed"], default="canny")
    parser.add_argument("--hed-weights", default=None, help="local HED weights file (with --edges hed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        for name, value, low in (("--num", args.num, 1), ("--val", args.val, 0), ("--shard-size", args.shard_size, 1)):
            if value < low:
                raise ConfigError(f"{name} {value} is not valid: an integer >= {low}")
        shapes.check_canvas(shapes.as_hw(args.image_size), args.objects)
    except ConfigError as err:
        parser.error(str(err))  # exit 2, usage + one line
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = write_shapes_shards(
        args.out, args.num, args.val, args.seed, args.image_size, args.shard_size, args.holdout,
        args.objects, args.edges, args.hed_weights, args.aspect_buckets, progress=not args.quiet,
    )  # fmt: skip
    print(f"wrote {info['count']} samples to {args.out}: train {info['urls']['train']}, val {info['urls']['val']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
