"""Image conversions and grids shared by sampling, callbacks and evaluation."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def save_grid(pixels: np.ndarray, path: str | Path, cols: int | None = None, pad: int = 2,
              captions: Sequence[str] | None = None, min_side: int = 128, caption_lines: int = 6) -> Path:
    """Tile (B, H, W, 3) uint8 images into one PNG a person can read: each image upscaled (nearest) so its
    side is at least `min_side` px, its caption (the prompt) beneath it, `cols` per row (default: about
    square). The pixels themselves are untouched: every sample pixel becomes a k x k block."""
    b, h, w, _ = pixels.shape
    scale = max(1, math.ceil(min_side / min(h, w)))
    big = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    font = ImageFont.load_default()
    char_w, line_h = 6, 11  # PIL's default bitmap font
    text_h = caption_lines * line_h + 4 if captions is not None else 0
    cols = cols or math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    cell_h = h + text_h
    grid = np.full((rows * (cell_h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, img in enumerate(big):
        r, c = divmod(i, cols)
        grid[pad + r * (cell_h + pad) : pad + r * (cell_h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    canvas = Image.fromarray(grid)
    if captions is not None:
        draw = ImageDraw.Draw(canvas)
        for i, caption in enumerate(captions[:b]):
            r, c = divmod(i, cols)
            lines = textwrap.wrap(str(caption), width=max(8, w // char_w), max_lines=caption_lines, placeholder=" ...")
            draw.multiline_text((pad + c * (w + pad) + 1, pad + r * (cell_h + pad) + h + 2), "\n".join(lines),
                                fill=(0, 0, 0), font=font, spacing=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
