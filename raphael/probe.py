"""XGBoost path probe: `python -m raphael.probe ckpt=PATH words=adjectives` (Hydra; conf/probe.yaml).

For every word and template a prompt; the word's path (one space expert per layer) from the gates
(mode=gates) or from real DDIM sampling (mode=sampling); stratified k-fold XGBoost accuracy, chance
levels, path overlap, and the same probe on an untrained model as a control. Writes probe.json,
paths.csv, confusion.png and paths.png into the run directory.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from raphael.analysis import plots
from raphael.analysis.diffusion_paths import (
    MODES,
    SUBWORDS,
    collect_paths,
    make_prompts,
    read_list,
    space_layer_names,
)
from raphael.analysis.probe import probe_paths
from raphael.module import RaphaelModule
from raphael.run.checkpoints import load_module
from raphael.run.console import quiet_third_party
from raphael.run.errors import ConfigError, check, is_int
from raphael.run.summary import next_commands
from raphael.run.validation import user_errors


def validate_probe_config(cfg: DictConfig) -> None:
    check(cfg, [
        ("mode", cfg.mode in MODES, f"allowed {list(MODES)}"),
        ("subwords", cfg.subwords in SUBWORDS, f"allowed {list(SUBWORDS)}"),
        ("folds", is_int(cfg.folds, 2), "cross-validation needs at least 2 folds (the paper: 5)"),
        ("steps", is_int(cfg.steps, 1), "at least one DDIM step (e.g. 3)"),
        ("words.groups", bool(cfg.words.get("groups")),
         "pick words=adjectives|verbs|coco|shapes or give groups of {words: FILE, templates: FILE}"),
    ])


def build_prompts(words_cfg: DictConfig) -> list:
    prompts = []
    for group, spec in words_cfg.groups.items():
        templates = read_list(spec.templates)
        if len(templates) < 10:
            raise ConfigError(f"words.groups.{group}.templates={spec.templates!r} has {len(templates)} templates; "
                              "the probe needs at least 10 per list.")
        prompts += make_prompts(read_list(spec.words), templates, group)
    return prompts


def probe_module(module, prompts, cfg: DictConfig, out_dir: Path, tag: str) -> dict:
    start = time.perf_counter()
    frame = collect_paths(module, prompts, cfg.mode, cfg.subwords, int(cfg.steps), float(cfg.guidance),
                          int(cfg.seed), int(cfg.batch_size))
    layers = space_layer_names(module.net)
    num_experts = int(module.model_cfg.space_moe.num_experts)
    probe = functools.partial(probe_paths, frame[layers].to_numpy(), num_experts=num_experts, folds=int(cfg.folds),
                              seed=int(cfg.seed), xgb_params=OmegaConf.to_container(cfg.xgb))
    result = probe(frame["word"].to_numpy())
    if cfg.get("shuffled", True):  # the same paths, the words permuted across prompts: what the probe reads from nothing
        shuffled = probe(np.random.default_rng(int(cfg.seed)).permutation(frame["word"].to_numpy()))
        result.shuffled_accuracy_mean, result.shuffled_accuracy_std = shuffled.accuracy_mean, shuffled.accuracy_std
    frame.to_csv(out_dir / f"paths_{tag}.csv", index=False)
    plots.confusion_matrix_picture(np.array(result.confusion), result.labels, out_dir / f"confusion_{tag}.png",
                                   f"{cfg.words.name} ({tag}): {result.accuracy_mean:.1%} CV accuracy")
    plots.path_picture(frame, layers, num_experts, out_dir / f"paths_{tag}.png")
    return {**result.summary(), "layers": layers, "num_experts": num_experts, "seconds": time.perf_counter() - start}


def print_table(figures: dict, words: str) -> None:
    table = Table(title=f"path probe: {words} ({figures['trained']['num_words']} words, "
                        f"{figures['trained']['num_rows']} prompts, {figures['trained']['num_layers']} layers)")
    for col in ("model", "CV accuracy", "shuffled words", "chance 1/K", "majority", "distinct paths", "word paths",
                "words sharing", "paths/word"):
        table.add_column(col, justify="right")
    for tag, f in figures.items():
        if not isinstance(f, dict) or "accuracy_mean" not in f:
            continue
        shuffled = f"{f['shuffled_accuracy_mean']:.1%}" if f.get("shuffled_accuracy_mean") is not None else "-"
        table.add_row(tag, f"{f['accuracy_mean']:.1%} ± {f['accuracy_std']:.1%}", shuffled, f"{f['chance_uniform']:.1%}",
                      f"{f['chance_majority']:.1%}", str(f["distinct_paths"]), str(f["distinct_word_paths"]),
                      str(f["words_sharing_a_path"]), f"{f['mean_paths_per_word']:.2f}")
    Console(width=max(Console().width, 130)).print(table)


def run_probe(cfg: DictConfig) -> dict:
    validate_probe_config(cfg)
    torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts = build_prompts(cfg.words)
    module = load_module(cfg.ckpt)
    figures = {"ckpt": str(cfg.ckpt), "words": cfg.words.name, "mode": cfg.mode, "subwords": cfg.subwords,
               "seed": int(cfg.seed), "folds": int(cfg.folds), "steps": int(cfg.steps),
               "trained": probe_module(module, prompts, cfg, out_dir, "trained")}
    if cfg.control:  # a fresh module from the checkpoint's hparams, weights initialised under `seed`, nothing loaded
        L.seed_everything(int(cfg.seed), verbose=False)
        figures["untrained"] = probe_module(RaphaelModule(**module.hparams).eval(), prompts, cfg, out_dir, "untrained")
    (out_dir / "probe.json").write_text(json.dumps(figures, indent=2))
    print_table(figures, cfg.words.name)
    print(f"wrote {out_dir / 'probe.json'} (path pictures and confusion matrices beside it)")
    print(next_commands(cfg.ckpt, skip="probe"))
    if cfg.wandb.enabled:
        log_to_wandb(figures, cfg, out_dir)
    return figures


def log_to_wandb(figures: dict, cfg: DictConfig, out_dir: Path) -> None:
    import wandb

    run = wandb.init(project=cfg.wandb.project, dir=str(out_dir), mode="offline", job_type="probe",
                     name=f"probe-{cfg.words.name}", config=OmegaConf.to_container(cfg, resolve=True))
    for tag in ("trained", "untrained"):
        if tag in figures:
            run.summary.update({f"{tag}/{k}": v for k, v in figures[tag].items() if isinstance(v, int | float)})
            run.log({f"{tag}/{name}": wandb.Image(str(out_dir / f"{name}_{tag}.png")) for name in ("paths", "confusion")})
    run.finish()


@hydra.main(version_base="1.3", config_path="../conf", config_name="probe")
def main(cfg: DictConfig) -> None:
    quiet_third_party()
    with user_errors():
        run_probe(cfg)


if __name__ == "__main__":
    main()
