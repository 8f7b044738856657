"""The prompts task: a user's prompt file and real shards, no oracle (`task=prompts`).

`raphael.evaluate task=prompts task.path=prompts.txt "task.real_urls='/data/coco/val-{000..009}.tar'"
fid.feature=inception fid.inception_weights=PATH` samples the file's prompts (one per line, blank lines and
`#` comments skipped) and reports FID against the shards' images (resized to cover the model's size, then
centre-cropped) and samples/s; no alignment, which needs an oracle.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from torch import Tensor

from raphael.data.buckets import fit_image
from raphael.data.shards import decode_rgb, expand_urls, image_field
from raphael.run.errors import ConfigError
from raphael.tasks import Task


class PromptsTask(Task):
    name = "prompts"

    def __init__(self, path: str | None = None, real_urls: str | None = None) -> None:
        self.path, self.real_urls = path, real_urls
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"task.path={path!r} is not a file: give a text file with one prompt per line.")
        lines = Path(path).read_text(encoding="utf-8").splitlines() if path else []
        self.lines = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if path is not None and not self.lines:
            raise ConfigError(f"task.path={path!r} holds no prompt: one prompt per line (# starts a comment).")
        if real_urls is not None and not expand_urls(str(real_urls)):
            raise ConfigError(f"task.real_urls={real_urls!r} matches no shard: a brace/glob pattern of .tar files.")

    def prompts(self, num: int, seed: int, image_size: int, held_out: bool = False,
                wording: bool = False) -> list[tuple[str, dict]]:
        """The file's first `num` prompts (the file order is the prompt set; `seed` does not reorder it)."""
        return [] if held_out or wording else [(line, {}) for line in self.lines[:num]]

    def reference_images(self, num: int, seed: int, image_size: int, held_out_share: float = 0.0) -> Tensor | None:
        """The first `num` images of `real_urls`, in shard order."""
        if self.real_urls is None:
            return None
        samples = wds.WebDataset(expand_urls(str(self.real_urls)), shardshuffle=False, empty_check=False)
        images = [fit_image(decode_rgb(s[image_field(s)]), (image_size, image_size))
                  for s in itertools.islice((s for s in samples if image_field(s)), num)]
        if len(images) < 2:
            raise ConfigError(f"task.real_urls={self.real_urls!r} holds {len(images)} image(s): FID needs at least 2.")
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
