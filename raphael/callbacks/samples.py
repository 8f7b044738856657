"""Sample grid at every validation: prompts as captions, oracle alignment, attention and edge maps."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

from raphael.analysis.images import save_grid, to_uint8
from raphael.tasks import Task

# oracle reading -> logged name (val/<name>, val/<name>_holdout for the held-out compositions and val/<name>_wording
# for the held-out wordings), for the keys the task's oracle reports
SCORE_LOGS = {"overall": "alignment", "count_right": "count_right", "all_right": "all_right", "clean": "clean",
              "lenient": "alignment_lenient"}


def wandb_loggers(trainer) -> list:
    return [lg for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"]


class SampleGridCallback(L.Callback):
    """After each validation, with the (EMA) weights: when the task has an oracle and the validation data is
    the task's, sample `score_prompts` fixed evaluation prompts, `holdout_prompts` held-out compositions and
    `wording_prompts` held-out wordings (the first evaluation prompts' scenes in words kept out of training; same
    noise seeds, so paired with them) (guidance `diffusion.guidance`, `diffusion.sample_steps` DDIM steps) and log
    the oracle's reading (`val/alignment`, `val/alignment_holdout`, `val/alignment_wording`, count, all-right,
    clean share, the lenient score); save the first
    `num_prompts` as `samples/step_XXXXXX.png` and log them to W&B with the prompts as captions. Also logs, for the first
    validation sample, the pooled token's attention map, the predicted edges and the target edges."""

    def __init__(self, num_prompts: int = 16, seed: int = 0, guidance: float | None = None,
                 score_prompts: int = 64, holdout_prompts: int = 64, task: Task | None = None,
                 wording_prompts: int = 64) -> None:
        self.task = task or Task()
        self.num_prompts = num_prompts
        self.score_prompts, self.holdout_prompts = score_prompts, holdout_prompts
        self.wording_prompts = wording_prompts
        self.seed = seed
        self.guidance = guidance
        self._batch: dict | None = None
        self._example: dict | None = None
        self.last_grid: Path | None = None  # the progress line of each validation says where it went

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if batch_idx != 0:
            return
        n = min(self.num_prompts, len(batch["caption"]))
        self._batch = {"caption": batch["caption"][:n], "meta": batch.get("meta", [None] * n)[:n]}
        aux = outputs["aux"]
        first = next((b for b in aux.blocks if b.edge_logits is not None), None)
        last = aux.blocks[-1] if aux.blocks else None  # arch=sd_unet reports no blocks
        # the pooled token (CLS for BERT-like encoders, EOS for CLIP) is what the edge head reads
        pooled = int(pl_module.encode_text(batch["caption"][:1]).pooled_index[0]) if last is not None else 0
        self._example = {
            "image": batch["image"][0].detach().cpu(),
            "edge_target": batch["edge"][0, 0].detach().cpu(),
            "edge_pred": torch.sigmoid(first.edge_logits[0, 0]).cpu() if first is not None else None,
            "attn": last.attn_map[0, :, pooled].reshape(last.hw).cpu() if last is not None else None,
            "caption": batch["caption"][0],
            "t": int(outputs["t"][0]),
        }

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._batch is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        out_dir = Path(trainer.default_root_dir) / "samples"
        out_dir.mkdir(parents=True, exist_ok=True)
        step = trainer.global_step
        metas = self._batch["meta"]
        if self.task.has_oracle and self.score_prompts and metas and all(self.task.can_score(m) for m in metas):
            captions, pixels = self._score(trainer, pl_module)
        else:  # data without an oracle: the grid of the first validation captions, unscored
            captions = self._batch["caption"]
            pixels = to_uint8(pl_module.generate(captions, guidance=self.guidance, seed=self.seed))
        path = save_grid(pixels, out_dir / f"step_{step:06d}.png", captions=captions)
        for wandb_logger in wandb_loggers(trainer):
            wandb_logger.log_image("samples", [Image.fromarray(p) for p in pixels], step=step, caption=captions)
            if self._example is not None:
                self._log_example(wandb_logger, step)
        self.last_grid = path

    def _score(self, trainer, pl_module) -> tuple[list[str], np.ndarray]:
        """Sample the fixed evaluation prompts (the training distribution), the held-out compositions and wordings,
        log the oracle's reading of each set, and return the first `num_prompts` for the grid."""
        size = pl_module.image_size
        sets = {"": self.task.prompts(self.score_prompts, self.seed, size)}
        if self.holdout_prompts:
            sets["_holdout"] = self.task.prompts(self.holdout_prompts, self.seed, size, held_out=True)
        if self.wording_prompts:
            sets["_wording"] = self.task.prompts(self.wording_prompts, self.seed, size, wording=True)
        sets = {suffix: prompts for suffix, prompts in sets.items() if prompts}
        grid = None
        for suffix, prompts in sets.items():
            captions = [c for c, _ in prompts]
            images = torch.cat([pl_module.generate(captions[i:i + 64], guidance=self.guidance, seed=self.seed + i)
                                for i in range(0, len(captions), 64)])
            pixels = to_uint8(images)
            details = [self.task.score(img, meta) for img, (_, meta) in zip(pixels, prompts)]
            for key, name in ((k, n) for k, n in SCORE_LOGS.items() if k in self.task.score_keys):
                pl_module.log(f"val/{name}{suffix}", float(np.mean([d[key] for d in details])), rank_zero_only=True)
            if grid is None:
                grid = (captions[: self.num_prompts], pixels[: self.num_prompts])
        return grid

    def _log_example(self, wandb_logger, step: int) -> None:
        ex = self._example
        maps = {"attention (pooled token)": ex["attn"], "predicted edges": ex["edge_pred"],
                "target edges": ex["edge_target"]}
        names = ["image", *(n for n, m in maps.items() if m is not None)]
        panels = [to_uint8(ex["image"][None])[0], *(_heat(maps[n], ex["image"].shape[-2:]) for n in names[1:])]
        wandb_logger.log_image(
            "attention_edges",
            [Image.fromarray(p) for p in panels],
            step=step,
            caption=[f"{n} | t={ex['t']} | {ex['caption']}" for n in names],
        )


def _heat(values: torch.Tensor, size) -> np.ndarray:
    """A [0, 1]-normalised map resized to `size`, as an RGB uint8 image."""
    v = values.float()
    v = (v - v.min()) / (v.max() - v.min()).clamp(min=1e-8)
    v = torch.nn.functional.interpolate(v[None, None], size=tuple(size), mode="nearest")[0, 0]
    gray = (v.numpy() * 255).astype(np.uint8)
    return np.stack([gray] * 3, axis=-1)
