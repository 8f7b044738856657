"""WebDataset shards in the img2dataset layout: KEY.png (or .jpg), KEY.txt, KEY.json, plus
KEY.edge.png, the edge target computed when the shard is written.

CLI::

    python -m raphael.data.shards add-edges --in 'coco/{00000..00099}.tar' --out coco_edges
    python -m raphael.data.shards make-shapes ...   (the shapes task's writer: raphael.tasks.shapes.shards)
"""

from __future__ import annotations

import argparse
import glob
import io
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import braceexpand
import numpy as np
import torch
import webdataset as wds
from hydra.utils import get_method
from PIL import Image, ImageOps
from tqdm import tqdm

from raphael.data.edges import HEDNetwork, canny_edges, hed_edges

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
            scale = 255.0 / (65535.0 if array.max() > 255 else 255.0)
            pil = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), mode="L")
        if pil.mode == "P" and "transparency" in pil.info:
            pil = pil.convert("RGBA")
        if pil.mode in ("RGBA", "LA", "PA", "RGBa"):
            rgba = pil.convert("RGBA")
            pil = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(pil.convert("RGB"))


def decode_edge(data: bytes) -> np.ndarray:
    """float32 (H, W) edge map in [0, 1] from an encoded grayscale PNG."""
    with Image.open(io.BytesIO(data)) as pil:
        return np.asarray(pil.convert("L"), dtype=np.float32) / 255.0


def image_field(sample: dict) -> str | None:
    """The sample key holding the image (``png``, ``jpg``, ...), not the edge map."""
    return next((ext for ext in IMAGE_EXTENSIONS if ext in sample), None)


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


# The command predates the task split: `make-shapes` is the shapes task's own CLI, reached by name so that
# data/ imports no task (raphael/tasks/shapes/shards.py).
MAKE_SHAPES = "raphael.tasks.shapes.shards.main"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["make-shapes"]:
        return get_method(MAKE_SHAPES)(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m raphael.data.shards", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("make-shapes", help="write procedural shapes shards (python -m raphael.tasks.shapes.shards)")
    edges = sub.add_parser("add-edges", help="add KEY.edge.png to existing img2dataset shards")
    edges.add_argument("--in", dest="inp", required=True, help="shard pattern (braces/glob)")
    edges.add_argument("--out", required=True, help="output folder")
    edges.add_argument("--edges", choices=["canny", "hed"], default="canny")
    edges.add_argument("--hed-weights", default=None, help="local HED weights file (with --edges hed)")
    edges.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stats = add_edges(args.inp, args.out, args.edges, args.hed_weights, progress=not args.quiet)
    print(f"add-edges: {stats['written']} samples in {stats['shards']} shards to {args.out}, {stats['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
