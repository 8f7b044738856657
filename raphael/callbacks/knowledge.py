"""ERNIE-ViLG 2.0 knowledge enhancement (`experiment=ernie_knowledge`), see docs/peers.md.

Two parts, each on a random share `prob` of the training samples (independent draws, from (seed, step)):

- Region-weighted denoising loss: weight 1 + w_l (`region_weight`) inside the key objects' boxes, 1 outside,
  as `batch["loss_weight"]` (B, 1, h, w) at the network's (latent) resolution; `raphael.diffusion.loss.DenoisingLoss`
  normalises by the weight sum. Boxes: shapes `meta["objects"][i]["bbox"]` ([x0, y0, x1, y1] in pixels,
  x1/y1 exclusive), real shards `meta["boxes"]` (same format), scaled from the rendered size
  (`meta["width"]`/`meta["height"]` if present, else the batch image size) to the latent size.
- Key-word attention emphasis: cross-attention logits of image tokens to key-word tokens multiplied by
  1 + w_a (`attn_emphasis`), as `batch["text_emphasis"]` (B, L) of multipliers (1 elsewhere), aligned to the
  text encoder's tokens by the tokenizer's character offsets. Key words: `meta["key_words"]` (a word list),
  else the words of `meta["pos"]` ([[word, tag], ...]) tagged NOUN/PROPN/ADJ, else the caption's words in the
  vocabulary `words`, else the task's `key_words(caption)` (shapes: the attribute words it uses).

The callback only fills the batch on training steps: validation losses stay unweighted and comparable.
The module carries the emphasis into the network (`TextEncoding.text_emphasis`, via `raphael.nn.text_encoder.attach_emphasis`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from raphael.tasks import Task

KEY_POS_TAGS = ("NOUN", "PROPN", "ADJ")


# ----------------------------------------------------------------------------- regions
def sample_boxes(meta: dict) -> list[Sequence[float]]:
    if meta.get("boxes") is not None:
        return list(meta["boxes"])
    return [o["bbox"] for o in meta.get("objects", []) if o.get("bbox") is not None]


def region_loss_weight(metas: Sequence[dict], selected: Tensor, image_hw: tuple[int, int],
                       latent_hw: tuple[int, int], region_weight: float) -> Tensor:
    """(B, 1, h, w): 1 + region_weight inside the boxes of selected samples, 1 everywhere else.
    Boxes in pixels of the rendered image ([x0, y0, x1, y1], x1/y1 exclusive) are scaled to the latent
    grid (floor of the start, ceil of the end: a box never vanishes)."""
    h, w = latent_hw
    weight = torch.ones(len(metas), 1, h, w)
    for b, meta in enumerate(metas):
        if not bool(selected[b]):
            continue
        src_h = float(meta.get("height") or image_hw[0])
        src_w = float(meta.get("width") or image_hw[1])
        for x0, y0, x1, y1 in sample_boxes(meta):
            r0, r1 = math.floor(y0 * h / src_h), math.ceil(y1 * h / src_h)
            c0, c1 = math.floor(x0 * w / src_w), math.ceil(x1 * w / src_w)
            weight[b, 0, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)] = 1.0 + region_weight
    return weight


# ----------------------------------------------------------------------------- key words
def key_words_of(meta: dict | None, fallback: Iterable[str]) -> set[str]:
    meta = meta or {}
    if meta.get("key_words") is not None:
        return {str(w).lower() for w in meta["key_words"]}
    if meta.get("pos") is not None:
        return {str(word).lower() for word, tag in meta["pos"] if str(tag).upper() in KEY_POS_TAGS}
    return {w.lower() for w in fallback}


def key_token_mask(tokenizer, captions: Sequence[str], key_words: Sequence[set[str]],
                   max_length: int = 77) -> Tensor:
    """bool (B, L): tokens (in the text encoder's tokenisation: padding=longest, truncation at max_length)
    whose character span overlaps a key word of their caption. Special tokens and padding are False."""
    tok = tokenizer(list(captions), padding="longest", truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_tensors="pt")
    offsets = tok["offset_mapping"]  # (B, L, 2)
    mask = torch.zeros(offsets.shape[:2], dtype=torch.bool)
    for b, (caption, words) in enumerate(zip(captions, key_words)):
        spans = [m.span() for m in re.finditer(r"[A-Za-z]+", caption) if m.group().lower() in words]
        for i, (s, e) in enumerate(offsets[b].tolist()):
            if e > s and any(s < ke and e > ks for ks, ke in spans):
                mask[b, i] = True
    return mask


def emphasis_multipliers(key_mask: Tensor, selected: Tensor, attn_emphasis: float) -> Tensor:
    """float (B, L): 1 + attn_emphasis on key tokens of selected samples, 1 elsewhere."""
    return 1.0 + attn_emphasis * (key_mask & selected[:, None].bool()).float()


# ----------------------------------------------------------------------------- the callback
class KnowledgeEnhancement(Callback):
    """Adds `loss_weight` and `text_emphasis` to every training batch (see the module docstring)."""

    def __init__(self, region_weight: float = 0.1, attn_emphasis: float = 0.01, prob: float = 0.5,
                 words: Sequence[str] | None = None, seed: int = 0, task: Task | None = None):
        if region_weight < 0 or attn_emphasis < -1 or not 0.0 <= prob <= 1.0:
            raise ValueError(f"knowledge: region_weight={region_weight} must be >= 0, attn_emphasis="
                             f"{attn_emphasis} > -1, prob={prob} in [0, 1].")
        self.region_weight, self.attn_emphasis, self.prob = float(region_weight), float(attn_emphasis), float(prob)
        self.words = list(words) if words else None
        self.task = task or Task()
        self.seed = int(seed)

    def enhance(self, batch: dict, tokenizer, max_length: int, latent_hw: tuple[int, int], step: int) -> dict:
        metas = batch.get("meta") or [{} for _ in batch["caption"]]
        B = len(batch["caption"])
        gen = torch.Generator().manual_seed(hash((self.seed, 7919, int(step))) & (2**63 - 1))
        sel_region = torch.rand(B, generator=gen) < self.prob
        sel_attn = torch.rand(B, generator=gen) < self.prob
        if self.region_weight > 0:
            batch["loss_weight"] = region_loss_weight(metas, sel_region, tuple(batch["image"].shape[-2:]),
                                                      latent_hw, self.region_weight).to(batch["image"].device)
        if self.attn_emphasis != 0:
            keys = [key_words_of(m, self.words or self.task.key_words(caption))
                    for m, caption in zip(metas, batch["caption"])]
            mask = key_token_mask(tokenizer, batch["caption"], keys, max_length)
            batch["text_emphasis"] = emphasis_multipliers(mask, sel_attn, self.attn_emphasis)
        return batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        enc = pl_module.text_encoder
        self.enhance(batch, enc.tokenizer, enc.max_length, pl_module.latent_hw(batch["image"].shape[-2:]),
                     trainer.global_step)
