"""WebDataset shards in the img2dataset layout: KEY.png (or .jpg), KEY.txt, KEY.json, plus
KEY.edge.png, the edge target computed when the shard is written.

CLI::

    python -m raphael.data.shards make-shapes --out data/shapes --num 20000 [--val 512] [--seed 0]
        [--shard-size 1000] [--image-size 32] [--edges canny|hed --hed-weights PATH]
    python -m raphael.data.shards add-edges --in 'coco/{00000..00099}.tar' --out coco_edges
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import braceexpand
import numpy as np
import torch
import webdataset as wds
from PIL import Image, ImageOps
from tqdm import tqdm

from raphael.data.buckets import bucket_sizes
from raphael.data.edges import HEDNetwork, canny_edges, hed_edges
from raphael.errors import ConfigError
from raphael.tasks.shapes import scenes as shapes

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff")
EDGE_EXTENSION = "edge.png"
DATASET_JSON = "dataset.json"


# ---------------------------------------------------------------------------------------------
# Encoding and decoding


def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_rgb(data: bytes) -> np.ndarray:
    """uint8 (H, W, 3) from encoded image bytes. Grayscale, palette, CMYK, 16-bit and
    alpha images are converted (alpha composited on white); zero-size images are errors."""
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()
        pil = ImageOps.exif_transpose(pil)
        if pil.width == 0 or pil.height == 0:
            raise ValueError(f"zero-size image ({pil.width}x{pil.height})")
        if pil.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            array = np.asarray(pil, dtype=np.float32)
            peak = max(float(array.max()), 1.0)
            scale = 255.0 / (65535.0 if peak > 255 else 255.0)
            pil = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), mode="L")
        if pil.mode == "P" and "transparency" in pil.info:
            pil = pil.convert("RGBA")
        if pil.mode in ("RGBA", "LA", "PA", "RGBa"):
            rgba = pil.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            pil = Image.alpha_composite(background, rgba)
        array = np.asarray(pil.convert("RGB"))
    if array.size == 0:
        raise ValueError("zero-size image")
    return array


def decode_edge(data: bytes) -> np.ndarray:
    """float32 (H, W) edge map in [0, 1] from an encoded grayscale PNG."""
    with Image.open(io.BytesIO(data)) as pil:
        return np.asarray(pil.convert("L"), dtype=np.float32) / 255.0


def image_field(sample: dict) -> str | None:
    """The sample key holding the image (``png``, ``jpg``, ...), not the edge map."""
    for ext in IMAGE_EXTENSIONS:
        if ext in sample:
            return ext
    return None


# ---------------------------------------------------------------------------------------------
# Edge targets at write time


def make_edge_fn(edges: str = "canny", hed_weights: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function uint8 (B, H, W, 3) -> uint8 (B, H, W) edge maps (0..255)."""
    if edges == "canny":
        detector: Callable[[torch.Tensor], torch.Tensor] = canny_edges
    elif edges == "hed":
        if not hed_weights:
            raise ValueError("edges='hed' needs hed_weights (--hed-weights PATH): a local weights file")
        network = HEDNetwork(hed_weights)
        detector = lambda x: hed_edges(x, network)  # noqa: E731
    else:
        raise ValueError(f"edges={edges!r}: allowed values are ['canny', 'hed']")

    def edge_fn(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
        out = detector(x)[:, 0]
        return (out.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()

    return edge_fn


# ---------------------------------------------------------------------------------------------
# Shapes shards


def _shard_pattern(split: str, count: int) -> str:
    last = max(0, count - 1)
    return f"{split}-{{{0:06d}..{last:06d}}}.tar"


def _write_split(
    out_dir: Path,
    split: str,
    num: int,
    seed: int,
    shard_size: int,
    sizes: list[tuple[int, int]],
    num_objects: tuple[int, int],
    holdout_pairs: Sequence[Sequence[str]],
    edge_fn: Callable[[np.ndarray], np.ndarray],
    bar: tqdm,
    chunk: int = 256,
) -> int:
    """Write ``num`` samples of ``split``; returns the number of shards."""
    writer = wds.ShardWriter(str(out_dir / f"{split}-%06d.tar"), maxcount=shard_size, verbose=0)
    try:
        for start in range(0, num, chunk):
            metas, images = [], []
            for index in range(start, min(num, start + chunk)):
                s = shapes.sample_seed(seed, split, index)
                hw = sizes[np.random.default_rng(s + 1).integers(len(sizes))] if len(sizes) > 1 else sizes[0]
                image, meta = shapes.make_sample(s, hw, num_objects, holdout_pairs, "exclude")
                meta["key"] = f"{index:09d}"
                metas.append(meta)
                images.append(image)
            edge_maps: dict[int, np.ndarray] = {}
            for hw in {im.shape[:2] for im in images}:  # one batched edge pass per canvas size
                idx = [i for i, im in enumerate(images) if im.shape[:2] == hw]
                for i, edge in zip(idx, edge_fn(np.stack([images[i] for i in idx]))):
                    edge_maps[i] = edge
            for i, (image, meta) in enumerate(zip(images, metas)):
                key = meta.pop("key")
                writer.write(
                    {
                        "__key__": key,
                        "png": encode_png(image),
                        "txt": meta["caption"].encode("utf-8"),
                        "json": json.dumps(meta).encode("utf-8"),
                        EDGE_EXTENSION: encode_png(edge_maps[i]),
                    }
                )
            bar.update(len(images))
    finally:
        writer.close()
    return max(1, math.ceil(num / shard_size)) if num else 0


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
    # disable=None: tqdm draws no bar when stderr is not a terminal (a log file)
    with tqdm(total=num + val, desc=f"shapes -> {out}", unit="img", disable=None if progress else True) as bar:
        n_train = _write_split(out, "train", num, seed, shard_size, sizes, n_obj, holdout, edge_fn, bar)
        n_val = (
            _write_split(out, "val", val, seed, shard_size, sizes, n_obj, holdout, edge_fn, bar) if val else 0
        )
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


# ---------------------------------------------------------------------------------------------
# URL patterns and edges for existing shards


def is_local(url: str) -> bool:
    return "://" not in url and not url.startswith("pipe:")


def expand_urls(pattern: str | Sequence[str]) -> list[str]:
    """Brace-expand (``{000000..000019}``) and glob a URL pattern; several patterns may be
    joined with ``::``. Remote URLs (``s3://``, ``pipe:``) are returned unexpanded by glob."""
    patterns = pattern.split("::") if isinstance(pattern, str) else list(pattern)
    urls: list[str] = []
    for p in patterns:
        for url in braceexpand.braceexpand(str(p)):
            if is_local(url) and any(c in url for c in "*?["):
                urls.extend(sorted(glob.glob(str(Path(url).expanduser()))))
            else:
                urls.append(str(Path(url).expanduser()) if is_local(url) else url)
    return urls


def add_edges(
    in_pattern: str,
    out_dir: str | Path,
    edges: str = "canny",
    hed_weights: str | None = None,
    progress: bool = True,
) -> dict:
    """Copy each shard of ``in_pattern`` to ``out_dir`` (same file name) with KEY.edge.png added.
    Samples whose image cannot be decoded, and unreadable shards, are skipped and counted."""
    urls = expand_urls(in_pattern)
    missing = [u for u in urls if is_local(u) and not Path(u).exists()]
    if not urls or len(missing) == len(urls):
        raise FileNotFoundError(f"--in {in_pattern!r} matches no shard")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    edge_fn = make_edge_fn(edges, hed_weights)
    stats = {"written": 0, "skipped": 0, "shards": 0}

    def count_and_continue(exn: Exception) -> bool:
        stats["skipped"] += 1
        log.warning("add-edges: skipped a bad sample or shard: %r", exn)
        return True

    bar = tqdm(desc=f"edges -> {out}", unit="img", disable=None if progress else True)
    for url in urls:
        source = wds.DataPipeline(
            wds.SimpleShardList([url]), wds.tarfile_to_samples(handler=count_and_continue)
        )
        with wds.TarWriter(str(out / Path(url).name)) as writer:
            for sample in source:
                field = image_field(sample)
                try:
                    if field is None:
                        raise ValueError(f"sample {sample.get('__key__')} has no image")
                    edge = edge_fn(decode_rgb(sample[field])[None])[0]
                except Exception as exn:  # one bad sample, keep going
                    count_and_continue(exn)
                    continue
                record = {k: v for k, v in sample.items() if not k.startswith("__") and k != EDGE_EXTENSION}
                record["__key__"] = sample["__key__"]
                record[EDGE_EXTENSION] = encode_png(edge)
                writer.write(record)
                stats["written"] += 1
                bar.update(1)
        stats["shards"] += 1
    bar.close()
    return stats


# ---------------------------------------------------------------------------------------------
# CLI


def _parse_size(text: str) -> int | tuple[int, int]:
    if "x" in text:
        h, w = text.lower().split("x")
        return int(h), int(w)
    return int(text)


def _parse_pairs(text: str) -> list[list[str]]:
    """'red:triangle,blue:circle' -> [['red', 'triangle'], ['blue', 'circle']]; '' -> []."""
    return [pair.split(":") for pair in text.split(",") if pair]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raphael.data.shards", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-shapes", help="write procedural shapes shards (train + val + dataset.json)")
    make.add_argument("--out", required=True, help="output folder")
    make.add_argument("--num", type=int, default=20000, help="training samples")
    make.add_argument("--val", type=int, default=512, help="validation samples (disjoint seeds)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--shard-size", type=int, default=1000, help="samples per shard")
    make.add_argument("--image-size", type=_parse_size, default=32, help="side, or HxW")
    make.add_argument("--objects", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"))
    make.add_argument(
        "--holdout",
        type=_parse_pairs,
        default=shapes.DEFAULT_HOLDOUT,
        help="held-out color:shape pairs, comma separated (default red:triangle,blue:circle,green:square)",
    )
    make.add_argument("--aspect-buckets", action="store_true", help="render on random aspect-ratio buckets")
    for p in (make, sub.add_parser("add-edges", help="add KEY.edge.png to existing img2dataset shards")):
        p.add_argument("--edges", choices=["canny", "hed"], default="canny")
        p.add_argument("--hed-weights", default=None, help="local HED weights file (with --edges hed)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.choices["add-edges"].add_argument(
        "--in", dest="inp", required=True, help="shard pattern (braces/glob)"
    )
    sub.choices["add-edges"].add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    if args.command == "make-shapes":
        try:
            for name, value, low in (("--num", args.num, 1), ("--val", args.val, 0), ("--shard-size", args.shard_size, 1)):
                if value < low:
                    raise ConfigError(f"{name} {value} is not valid: an integer >= {low}")
            shapes.check_canvas(shapes.as_hw(args.image_size), args.objects)
        except ConfigError as err:
            parser.error(str(err))  # exit 2, usage + one line
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "make-shapes":
        info = write_shapes_shards(
            args.out, args.num, args.val, args.seed, args.image_size, args.shard_size, args.holdout,
            args.objects, args.edges, args.hed_weights, args.aspect_buckets, progress=not args.quiet,
        )  # fmt: skip
        print(
            f"wrote {info['count']} samples to {args.out}: train {info['urls']['train']}, val {info['urls']['val']}"
        )
    else:
        stats = add_edges(args.inp, args.out, args.edges, args.hed_weights, progress=not args.quiet)
        print(
            f"add-edges: {stats['written']} samples in {stats['shards']} shards to {args.out}, {stats['skipped']} skipped"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
