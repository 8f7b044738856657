"""The shapes task: procedural scenes of 1-3 objects (`scenes`), their caption language and held-out wordings
(`wording`), the oracle that reads them back (`oracle`) and the attribute CNN that is its FID feature network
(`feature_cnn`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from raphael.tasks import Task
from raphael.tasks.shapes import scenes, wording
from raphael.tasks.shapes.feature_cnn import CNNRecipe, load_shapes_cnn
from raphael.tasks.shapes.oracle import alignment_details


class ShapesTask(Task):
    """`holdout_pairs`: the (color, shape) pairs kept out of training (null: scenes.DEFAULT_HOLDOUT)."""

    name = "shapes"
    # what alignment_details reports per image, in the order the tables show it
    score_keys = ("overall", *scenes.ATTRIBUTES, "objects", "count_right", "all_right", "clean", "lenient")
    feature_networks = ("shapes_cnn",)

    def __init__(self, holdout_pairs: Sequence[Sequence[str]] | None = None,
                 num_objects: Sequence[int] = (1, 3)) -> None:
        self.holdout_pairs = [list(p) for p in (scenes.DEFAULT_HOLDOUT if holdout_pairs is None else holdout_pairs)]
        self.num_objects = tuple(num_objects)
        self.words = wording.key_words()  # the content words of every attribute wording

    def prompts(self, num: int, seed: int, image_size: int, held_out: bool = False,
                wording: bool = False) -> list[tuple[str, dict]]:
        """`wording=True`: the regular prompts' scenes in the held-out wordings (raphael.tasks.shapes.wording)."""
        if held_out and not self.holdout_pairs:
            return []
        return scenes.eval_prompts(num, seed, self.holdout_pairs, held_out, image_size, self.num_objects, wording)

    def score(self, image, meta: dict) -> dict:
        return alignment_details(image, meta)

    def can_score(self, meta) -> bool:
        return isinstance(meta, dict) and "objects" in meta

    def reference_images(self, num: int, seed: int, image_size: int, held_out_share: float = 0.0) -> Tensor:
        """`num` renders with the prompts' regular/held-out mix, from seeds no prompt set uses."""
        n_hold = round(num * held_out_share)
        prompts = (self.prompts(num - n_hold, seed + 1000, image_size)
                   + self.prompts(n_hold, seed + 1000, image_size, held_out=True))  # none when n_hold = 0
        renders = np.stack([scenes.render(m["objects"], image_size) for _, m in prompts])
        return torch.from_numpy(renders).permute(0, 3, 1, 2)

    def key_words(self, caption: str) -> list[str]:
        return [w for w in re.findall(r"[a-z]+", caption.lower()) if w in self.words]

    def feature_network(self, name: str, cache_dir: str, options: dict, log=print) -> nn.Module:
        if name != "shapes_cnn":
            return super().feature_network(name, cache_dir, options, log)
        return load_shapes_cnn(cache_dir, CNNRecipe(**options), log=log)
