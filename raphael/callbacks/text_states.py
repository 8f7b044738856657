"""Encodes every training caption once before the first step, and keeps the states on disk beside the shards.

The text encoder is frozen, so a caption's states depend on the caption and the encoder alone. Without this
callback the encoder's in-memory cache fills during the first epoch, in the loader's batches (padding to the
longest caption of each), and every run pays it again: at budget=cpu about 75 s of a 19-minute run. Here, at
fit start, the captions of the local training shards are read (their .txt members only), the states stored
in `<shard folder>/text_states/<encoder identity>.pt` are loaded if the store holds every caption (else all are
encoded: a caption's last bits depend on the batch it was padded in, and a store is a function of its shards
alone), the captions still missing are encoded longest-first in batches of similar length, and when any were,
the store is rewritten with this run's captions (atomic replace, by rank 0). A store that cannot be read or
written is reported and skipped: the run then encodes as before.
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from raphael.data.shards import is_local


def shard_captions(shards: list[str]) -> list[str]:
    """The captions (.txt members, stripped, non-empty) of local tar shards, in order, duplicates kept
    once; a shard that cannot be read is skipped (the data pipeline reports it)."""
    seen: dict[str, None] = {}
    for shard in shards:
        try:
            with tarfile.open(shard) as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".txt"):
                        text = tar.extractfile(member).read().decode("utf-8", "replace").strip()
                        if text:
                            seen.setdefault(text)
        except (OSError, tarfile.TarError, EOFError):
            continue
    return list(seen)


class TextStateStore(Callback):
    def __init__(self, enabled: bool = True, batch_size: int = 32) -> None:
        self.enabled, self.batch_size = bool(enabled), int(batch_size)
        self.loaded = self.encoded = 0  # this fit's captions read from the store / encoded

    def on_fit_start(self, trainer: L.Trainer, pl_module) -> None:
        encoder = getattr(pl_module, "text_encoder", None)
        shards = [s for s in getattr(trainer.datamodule, "train_shards", []) or [] if is_local(s)]
        if not self.enabled or encoder is None or not getattr(encoder, "cache_size", 0) or not shards:
            return
        t0 = time.perf_counter()
        captions = ["", *shard_captions(shards)][: encoder.cache_size]  # "": every dropped caption (guidance)
        path = Path(shards[0]).parent / "text_states" / f"{encoder.identity()}.pt"
        getattr(pl_module, "_frozen_to_device", lambda: None)()
        self.loaded = self._load(encoder, path, set(captions))
        self.encoded = encoder.warm(captions, self.batch_size)
        if self.encoded and trainer.is_global_zero:
            self._save(encoder, captions, path)
        rank_zero_info(f"[text] {len(captions)} training captions: {self.loaded} states read from {path}, "
                       f"{self.encoded} encoded, in {time.perf_counter() - t0:.1f} s")

    @staticmethod
    def _load(encoder, path: Path, captions: set[str]) -> int:
        if not path.is_file():
            return 0
        try:
            record = torch.load(path, map_location=encoder.device, weights_only=True)
            if not captions <= set(record["captions"]):  # written for other shards: its states came from other
                return 0  # batches (padding, last bits), so all are encoded afresh, as for a clean folder
            return encoder.load_states(record, captions)
        except Exception as err:  # a damaged store costs the encoding, never the run
            rank_zero_warn(f"[text] could not read the text-state store {path} ({err}); encoding instead")
            return 0

    @staticmethod
    def _save(encoder, captions: list[str], path: Path) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            record = {k: v.cpu() if torch.is_tensor(v) else v for k, v in encoder.cached_states(captions).items()}
            torch.save(record, tmp)
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            rank_zero_warn(f"[text] could not write the text-state store {path} ({err}); later runs encode again")
