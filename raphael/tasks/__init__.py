"""Tasks: what a dataset's prompts mean and how a sample is judged (docs/interfaces.md, "Task").

Evaluation (`raphael.evaluate`), the training sample grid (`callbacks/samples.py`) and ERNIE's key-word
emphasis (`raphael.callbacks.knowledge`) talk to a task, never to one dataset:

- `prompts(num, seed, image_size, held_out=False, wording=False) -> [(caption, meta)]`: fixed evaluation
  prompts; `held_out=True`: the compositions kept out of training; `wording=True`: the wordings kept out of
  training (each empty if the task has none);
- `score(image, meta) -> dict | None`: an oracle's per-image reading (keys `score_keys`, `overall` the
  headline); None without an oracle; `can_score(meta)`: whether a validation sample is this task's;
- `reference_images(num, seed, image_size, held_out_share) -> uint8 (N, 3, H, W) | None`: FID's real images;
- `key_words(caption) -> [word]`: the words knowledge enhancement emphasises;
- `feature_network(name, cache_dir, options, log)`: a task's own FID feature network (`feature_networks`).

Tasks are chosen with `task=` (conf/task/): `shapes` (raphael.tasks.shapes: the procedural scenes, their
oracle and attribute CNN) and `prompts` (raphael.tasks.prompts: a user's prompt file and real shards,
FID and samples/s only).
"""

from __future__ import annotations

from torch import Tensor, nn

from raphael.run.errors import ConfigError


class Task:
    """The defaults of a task without an oracle, held-out set, reference images or key words."""

    name = "task"
    score_keys: tuple[str, ...] = ()  # what score() reports, in the order tables show it; () = no oracle
    feature_networks: tuple[str, ...] = ()

    @property
    def has_oracle(self) -> bool:
        return bool(self.score_keys)

    def prompts(self, num: int, seed: int, image_size: int, held_out: bool = False,
                wording: bool = False) -> list[tuple[str, dict]]:
        return []

    def score(self, image, meta: dict) -> dict | None:
        return None

    def can_score(self, meta) -> bool:
        """Whether `meta` (a validation sample's) comes from this task's data: the sample grid scores then."""
        return False

    def reference_images(self, num: int, seed: int, image_size: int, held_out_share: float = 0.0) -> Tensor | None:
        return None

    def key_words(self, caption: str) -> list[str]:
        return []

    def feature_network(self, name: str, cache_dir: str, options: dict, log=print) -> nn.Module:
        raise ConfigError(f"fid.feature={name!r} is not valid for task {self.name!r}: allowed values are "
                          f"{', '.join(['inception', *self.feature_networks])}.")
