"""Routing records: which space expert each text token takes and which time expert each sample takes.

Reads only the `aux` record (docs/interfaces.md): during validation from `validation_step`'s outputs
{"loss", "aux", "t"}, during sampling through `RoutingRecorder`, a callable usable as
`module.generate(..., on_step=recorder)`. Files land in `trainer.default_root_dir/routing/`,
metrics and pictures also go to W&B when a WandbLogger is attached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch


def normalised_entropy(counts: np.ndarray) -> float:
    """Entropy of the load divided by log(E): 1 = every expert equally used, 0 = one expert takes all."""
    total = counts.sum()
    if total <= 0 or len(counts) < 2:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(len(counts)))


class RoutingStats:
    """Counts accumulated from aux records: space load per block, (t, time expert) pairs per block."""

    def __init__(self) -> None:
        self.space_counts: dict[str, np.ndarray] = {}
        self.time_t: dict[str, list[np.ndarray]] = defaultdict(list)
        self.time_expert: dict[str, list[np.ndarray]] = defaultdict(list)
        self.time_num_experts: dict[str, int] = {}

    def add(self, aux, t: torch.Tensor) -> None:
        """Add one aux record; only its first len(t) rows (the cond rows under guidance) count."""
        n = len(t)
        t_np = t.detach().cpu().numpy()
        for blk in aux.blocks:
            if blk.space_routes is not None:
                routes = blk.space_routes[:n].detach().cpu()
                E = blk.space_probs.shape[-1]
                counts = torch.bincount(routes[routes >= 0], minlength=E).numpy()
                self.space_counts[blk.name] = self.space_counts.get(blk.name, 0) + counts
            if blk.time_routes is not None:
                self.time_t[blk.name].append(t_np)
                self.time_expert[blk.name].append(blk.time_routes[:n].detach().cpu().numpy())
                self.time_num_experts[blk.name] = blk.time_probs.shape[-1]

    def space_load(self) -> pd.DataFrame:
        """Rows (block, expert, tokens, fraction)."""
        rows = []
        for block, counts in self.space_counts.items():
            total = max(int(counts.sum()), 1)
            rows += [{"block": block, "expert": e, "tokens": int(c), "fraction": c / total}
                     for e, c in enumerate(counts)]
        return pd.DataFrame(rows, columns=["block", "expert", "tokens", "fraction"])

    def time_pairs(self) -> pd.DataFrame:
        """Rows (block, t, expert): one per sample and block."""
        frames = [pd.DataFrame({"block": b, "t": np.concatenate(self.time_t[b]),
                                "expert": np.concatenate(self.time_expert[b])}) for b in self.time_t]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["block", "t", "expert"])

    def entropies(self) -> dict[str, float]:
        """{'space_load_entropy/<block>': H, 'time_load_entropy/<block>': H}."""
        out = {f"space_load_entropy/{b}": normalised_entropy(c) for b, c in self.space_counts.items()}
        for b, experts in self.time_expert.items():
            counts = np.bincount(np.concatenate(experts), minlength=self.time_num_experts[b])
            out[f"time_load_entropy/{b}"] = normalised_entropy(counts)
        return out


class RoutingRecorder:
    """`on_step(t, aux)` hook for sampling: keeps every step's space routes and time experts.

    Under guidance the aux record holds cond rows then uncond rows; `t` has the cond batch size,
    so the recorder keeps the first len(t) rows.
    """

    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.stats = RoutingStats()

    def __call__(self, t: torch.Tensor, aux) -> None:
        n = len(t)
        space = [b.space_routes[:n].detach().cpu() for b in aux.blocks if b.space_routes is not None]
        self.steps.append({
            "t": t.detach().cpu(),
            "space_routes": torch.stack(space, -1) if space else None,  # (B, L, n_space_layers)
            "space_blocks": [b.name for b in aux.blocks if b.space_routes is not None],
        })
        self.stats.add(aux, t)

    def token_routes(self, step: int = 0) -> torch.Tensor:
        """(B, L, n_space_layers) routes recorded at `step` (-1 at padding)."""
        if not self.steps:
            raise RuntimeError("nothing recorded: pass the recorder as generate(..., on_step=recorder)")
        routes = self.steps[step]["space_routes"]
        if routes is None:
            t = self.steps[step]["t"]
            return torch.empty(len(t), 0, 0, dtype=torch.long)
        return routes


def _wandb_loggers(trainer):
    return [lg for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"]


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
        from raphael.analysis import plots

        step = trainer.global_step
        out_dir = Path(trainer.default_root_dir) / "routing"
        out_dir.mkdir(parents=True, exist_ok=True)
        entropies = self.stats.entropies()
        load = load.assign(step=step, entropy=[entropies[f"space_load_entropy/{b}"] for b in load.block])
        self.load_history.append(load)
        time_pairs = self.stats.time_pairs().assign(step=step)
        self.time_history.append(time_pairs)
        history = pd.concat(self.load_history, ignore_index=True)
        files = {"space_load": out_dir / "space_load.csv", "time_experts": out_dir / "time_experts.csv"}
        history.to_csv(files["space_load"], index=False)
        pd.concat(self.time_history, ignore_index=True).to_csv(files["time_experts"], index=False)
        self.entropy_history += [{"step": step, "name": k, "entropy": v} for k, v in entropies.items()]
        files["load_entropy_png"] = plots.load_entropy_over_training(
            pd.DataFrame(self.entropy_history), out_dir / "load_entropy.png")
        if len(time_pairs):
            files["time_png"] = plots.time_expert_heatmap(
                time_pairs, self.stats.time_num_experts, out_dir / f"time_experts_step_{step:06d}.png",
                num_train_timesteps=pl_module.train_scheduler.config.num_train_timesteps, t_bins=self.t_bins)
        if load.size and self.words:
            files["paths_png"] = self._path_picture(pl_module, out_dir / f"paths_step_{step:06d}.png")
        for logger in _wandb_loggers(trainer):
            images = {k: v for k, v in files.items() if str(v).endswith(".png")}
            for key, path in images.items():
                logger.log_image(f"routing/{key.removesuffix('_png')}", [str(path)], step=step)
        return files

    def _path_picture(self, pl_module, path: Path) -> Path:
        from raphael.analysis import plots
        from raphael.analysis.paths import collect_paths, make_prompts, space_layer_names

        was_training = pl_module.net.training
        frame = collect_paths(pl_module, make_prompts(self.words, [self.template]), mode="gates")
        pl_module.net.train(was_training)
        layers = space_layer_names(pl_module.net)
        num_experts = int(pl_module.model_cfg.space_moe.num_experts)
        return plots.path_picture(frame, layers, num_experts, path)
