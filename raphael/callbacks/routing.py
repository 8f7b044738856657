"""Routing records: which space expert each text token takes and which time expert each sample takes.

Reads only the `aux` record (docs/interfaces.md): during validation from `validation_step`'s outputs
{"loss", "aux", "t"}, counted by `raphael.analysis.routing_records.RoutingStats`. Files land in
`trainer.default_root_dir/routing/`, metrics and pictures also go to W&B when a WandbLogger is attached.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd

from raphael.analysis import plots
from raphael.analysis.diffusion_paths import collect_paths, make_prompts, space_layer_names
from raphael.analysis.routing_records import RoutingStats
from raphael.callbacks.samples import wandb_loggers


class RoutingCallback(L.Callback):
    """Routing dashboards over training, from the validation batches' aux records.

    Each validation (sanity check excluded): logs `routing/space_load_entropy/<block>`,
    `routing/time_load_entropy/<block>` and `routing/space_load/<block>/e<k>`; appends to
    routing/space_load.csv and routing/time_experts.csv; draws routing/load_entropy.png (over training),
    routing/time_experts_step_XXXXXX.png (Fig. 9 analogue) and routing/paths_step_XXXXXX.png (Fig. 4
    analogue: the gate-computed path of each word in `words`, prompt = `template` with the word).
    Cheap: bincounts of the validation batches plus one text-encoder call for the words.
    """

    def __init__(self, words: list[str] | None = None, template: str = "{word}", t_bins: int = 10,
                 max_batches: int | None = None) -> None:
        self.words = list(words) if words is not None else [
            "red", "blue", "green", "circle", "square", "triangle", "striped", "outlined", "left", "top"]
        self.template = template
        self.t_bins = t_bins
        self.max_batches = max_batches
        self.stats = RoutingStats()
        self.load_history: list[pd.DataFrame] = []
        self.time_history: list[pd.DataFrame] = []
        self.entropy_history: list[dict] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.stats = RoutingStats()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if trainer.sanity_checking or not isinstance(outputs, dict) or "aux" not in outputs:
            return
        if self.max_batches is not None and batch_idx >= self.max_batches:
            return
        self.stats.add(outputs["aux"], outputs["t"])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self.stats.space_counts and not self.stats.time_t:
            return
        for name, value in self.stats.entropies().items():
            pl_module.log(f"routing/{name}", value)
        load = self.stats.space_load()
        for row in load.itertuples():
            pl_module.log(f"routing/space_load/{row.block}/e{row.expert}", float(row.fraction))
        if trainer.is_global_zero:
            self.write(trainer, pl_module, load)

    # ------------------------------------------------------------------------------ files
    def write(self, trainer, pl_module, load: pd.DataFrame) -> dict[str, Path]:
        step = trainer.global_step
        out_dir = Path(trainer.default_root_dir) / "routing"
        out_dir.mkdir(parents=True, exist_ok=True)
        entropies = self.stats.entropies()
        load = load.assign(step=step, entropy=[entropies[f"space_load_entropy/{b}"] for b in load.block])
        self.load_history.append(load)
        time_pairs = self.stats.time_pairs().assign(step=step)
        self.time_history.append(time_pairs)
        files = {"space_load": out_dir / "space_load.csv", "time_experts": out_dir / "time_experts.csv"}
        pd.concat(self.load_history, ignore_index=True).to_csv(files["space_load"], index=False)
        pd.concat(self.time_history, ignore_index=True).to_csv(files["time_experts"], index=False)
        self.entropy_history += [{"step": step, "name": k, "entropy": v} for k, v in entropies.items()]
        files["load_entropy_png"] = plots.load_entropy_over_training(
            pd.DataFrame(self.entropy_history), out_dir / "load_entropy.png")
        if len(time_pairs):
            files["time_png"] = plots.time_expert_heatmap(
                time_pairs, self.stats.time_num_experts, out_dir / f"time_experts_step_{step:06d}.png",
                num_train_timesteps=pl_module.train_scheduler.config.num_train_timesteps, t_bins=self.t_bins)
        if load.size and self.words and space_layer_names(pl_module.net):
            files["paths_png"] = self._path_picture(pl_module, out_dir / f"paths_step_{step:06d}.png")
        for logger in wandb_loggers(trainer):
            images = {k: v for k, v in files.items() if str(v).endswith(".png")}
            for key, path in images.items():
                logger.log_image(f"routing/{key.removesuffix('_png')}", [str(path)], step=step)
        return files

    def _path_picture(self, pl_module, path: Path) -> Path:
        was_training = pl_module.net.training
        frame = collect_paths(pl_module, make_prompts(self.words, [self.template]), mode="gates")
        pl_module.net.train(was_training)
        layers = space_layer_names(pl_module.net)
        num_experts = int(pl_module.model_cfg.space_moe.num_experts)
        return plots.path_picture(frame, layers, num_experts, path)
