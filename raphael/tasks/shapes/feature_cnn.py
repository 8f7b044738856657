"""The shapes task's FID feature network.

``ShapesAttributeCNN``: a small CNN trained to read the shapes attributes of every object (one
classification head per position slot and attribute); its penultimate layer (``num_features``
values) is the FID feature. Its training is a reproducible step (``train_shapes_cnn``: fixed
seed, freshly rendered images, deterministic kernels) whose weights are cached under the data
folder as ``fid/shapes_cnn_<hash>.pt``, the hash taken over the training recipe, so every
machine that runs the same recipe gets the same file and nobody downloads anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raphael.tasks.shapes.scenes import COLORS, FILLS, POSITIONS, SHAPES, SIZES, make_sample, sample_seed

# per position slot: color (+ "none" = no object there), then shape, size, fill of the object there
HEADS = {"color": len(COLORS) + 1, "shape": len(SHAPES), "size": len(SIZES), "fill": len(FILLS)}
_INDEX = {k: {v: i for i, v in enumerate(values)}
          for k, values in (("color", COLORS), ("shape", SHAPES), ("size", SIZES), ("fill", FILLS))}
FEATURE_SEED_BASE = 7_001  # base seed of the feature extractor's own renders (never an eval prompt)


@dataclass(frozen=True)
class CNNRecipe:
    """Everything that determines the trained weights; its hash names the cache file."""

    image_size: int = 32
    width: int = 16
    num_features: int = 64
    num_train: int = 3072
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    version: int = 1

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class ShapesAttributeCNN(nn.Module):
    """uint8 (B, 3, H, W) images (or float in [0, 1]) -> (B, num_features) features.
    ``logits(x)`` gives the attribute heads: {attribute: (B, num_positions, classes)}."""

    def __init__(self, image_size: int = 32, width: int = 32, num_features: int = 128) -> None:
        super().__init__()
        self.image_size = image_size
        self.num_features = num_features
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.GELU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
        )
        side = image_size // 8
        # no global pooling: where an object sits is one of the attributes
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * side * side, num_features), nn.GELU())
        self.heads = nn.ModuleDict({k: nn.Linear(num_features, len(POSITIONS) * n) for k, n in HEADS.items()})

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x * 2 - 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(self._prepare(images)))

    def logits(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.forward(images)
        return {k: h(f).view(len(f), len(POSITIONS), -1) for k, h in self.heads.items()}


def attribute_targets(meta: dict) -> dict[str, list[int]]:
    """Per position slot: color index (len(COLORS) = empty slot), shape/size/fill index (-100 = empty)."""
    out = {k: [len(COLORS) if k == "color" else -100] * len(POSITIONS) for k in HEADS}
    for obj in meta["objects"]:
        slot = POSITIONS.index(obj["position"])
        for key in out:
            out[key][slot] = _INDEX[key][obj[key]]
    return out


def render_set(num: int, image_size: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``num`` fresh renders (held-out pairs included: the extractor must see every composition)."""
    samples = [make_sample(sample_seed(FEATURE_SEED_BASE + seed, "train", i), image_size) for i in range(num)]
    targets = [attribute_targets(meta) for _, meta in samples]
    x = torch.from_numpy(np.stack([image for image, _ in samples])).permute(0, 3, 1, 2).contiguous()
    return x, {k: torch.tensor([target[k] for target in targets]) for k in HEADS}


@contextlib.contextmanager
def _deterministic():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


@torch.no_grad()
def slot_accuracy(model: ShapesAttributeCNN, x: torch.Tensor, y: dict[str, torch.Tensor]) -> dict[str, float]:
    """Accuracy of each head over the slots that have a target (color: every slot, incl. empty ones)."""
    logits = model.logits(x)
    return {k: float((logits[k].argmax(-1) == y[k])[y[k] != -100].float().mean()) for k in HEADS}


def train_shapes_cnn(recipe: CNNRecipe = CNNRecipe(), log=print) -> tuple[ShapesAttributeCNN, dict]:
    """Train the feature CNN from scratch, deterministically: same recipe -> same weights."""
    start = time.time()
    torch.manual_seed(recipe.seed)
    x, y = render_set(recipe.num_train, recipe.image_size, recipe.seed)
    x_val, y_val = render_set(512, recipe.image_size, recipe.seed + 1)
    model = ShapesAttributeCNN(recipe.image_size, recipe.width, recipe.num_features)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    steps = recipe.epochs * (recipe.num_train // recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(recipe.seed)
    with _deterministic():
        model.train()
        for _epoch in range(recipe.epochs):
            order = torch.randperm(recipe.num_train, generator=gen)
            for b in range(recipe.num_train // recipe.batch_size):
                idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
                logits = model.logits(x[idx])  # one cross-entropy per head over its slots; empty ones ignored
                loss = sum(F.cross_entropy(logits[k].flatten(0, 1), y[k][idx].flatten(), ignore_index=-100)
                           for k in HEADS)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        acc = slot_accuracy(model, x_val, y_val)
    info = {"recipe": asdict(recipe), "val_accuracy": acc, "train_seconds": round(time.time() - start, 1)}
    log(f"[fid] trained the shapes feature CNN in {info['train_seconds']} s; held-out slot accuracy "
        + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return model, info


def load_shapes_cnn(cache_dir: str | Path, recipe: CNNRecipe = CNNRecipe(), log=print) -> ShapesAttributeCNN:
    """The cached feature CNN for ``recipe`` (``<cache_dir>/shapes_cnn_<hash>.pt``), trained on first use."""
    path = Path(cache_dir) / f"shapes_cnn_{recipe.digest()}.pt"
    if path.is_file():
        model = ShapesAttributeCNN(recipe.image_size, recipe.width, recipe.num_features)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
        return model.eval().requires_grad_(False)
    model, info = train_shapes_cnn(recipe, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state_dict": model.state_dict(), **info}, tmp)
    os.replace(tmp, path)  # atomic: concurrent first uses never read half a file
    log(f"[fid] cached the feature CNN at {path}")
    return model.eval().requires_grad_(False)
