"""Evaluate a checkpoint: `python -m raphael.evaluate ckpt=PATH` (conf/evaluate.yaml, docs/evaluation.md).

At every guidance weight: DDIM samples for the task's prompt set (shapes: training distribution + held-out
compositions), the task oracle's alignment (mean, 95% CI, per attribute, held-out separately; none for a
task without an oracle), FID against the task's reference images through an offline feature network,
samples/s; writes metrics.json, one sample grid per guidance weight and the FID-vs-alignment trade-off plot
into the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from raphael.analysis.images import save_grid, to_uint8
from raphael.diffusion import SamplerSettings
from raphael.metrics.alignment import aggregate_details
from raphael.metrics.fid import ReferenceFID
from raphael.metrics.fid_features import TorchScriptInception
from raphael.metrics.report import plot_guidance_curves, plot_tradeoff
from raphael.run.checkpoints import load_module
from raphael.run.console import quiet_third_party
from raphael.run.errors import ConfigError, check, is_int
from raphael.run.summary import next_commands
from raphael.run.validation import user_errors, validate_eta, validate_guidance
from raphael.tasks import Task


def validate_eval_config(cfg: DictConfig) -> None:
    validate_guidance("guidance", cfg.guidance)
    validate_eta("eta", cfg.get("eta"), allow_none=True)
    SamplerSettings.from_config(None, sampler_overrides(cfg), prefix="sampler.")
    allowed = ("inception", *hydra.utils.get_class(cfg.task._target_).feature_networks)
    check(cfg, [
        ("guidance", OmegaConf.is_list(cfg.guidance) or isinstance(cfg.guidance, list | tuple),
         "give a non-empty list, e.g. guidance=[1.5,4.5]"),
        *[(name, is_int(cfg[name], 1), "an integer >= 1") for name in ("steps", "batch_size", "grid_size")],
        *[(name, is_int(cfg[name], 0), "an integer >= 0")
          for name in ("num_prompts", "num_holdout", "num_wording", "seed", "prompt_seed")],
        ("num_prompts", cfg.num_prompts != 0 or cfg.num_holdout != 0,
         "at least 1 when num_holdout=0, else there is nothing to evaluate (e.g. 64)"),
        ("fid.feature", not cfg.fid.enabled or cfg.fid.feature in allowed,
         f"allowed values for task={cfg.task._target_} are {', '.join(allowed)}"),
    ])


def sampler_overrides(cfg: DictConfig) -> dict:
    """The `sampler` keys set on the command line (null: the training run's `diffusion.sampler` value)."""
    node = OmegaConf.to_container(cfg.get("sampler") or {}, resolve=True)
    return {k: v for k, v in node.items() if v is not None}


def training_run_info(ckpt: str | Path) -> dict:
    """experiment, seed, overrides and holdout pairs of the run that wrote `<run>/checkpoints/x.ckpt`
    (read from its `.hydra/` folder); empty fields when the checkpoint lives elsewhere."""
    run_dir = Path(ckpt).resolve().parent.parent
    info = {"run_dir": str(run_dir), "experiment": None, "seed": None, "overrides": [], "holdout_pairs": None}
    config, overrides = run_dir / ".hydra" / "config.yaml", run_dir / ".hydra" / "overrides.yaml"
    if config.is_file():
        cfg = OmegaConf.load(config)
        info["seed"] = cfg.get("seed")
        info["experiment"] = cfg.get("experiment_name") if isinstance(cfg.get("experiment_name"), str) else None
        holdout = OmegaConf.select(cfg, "data.holdout_pairs")
        info["holdout_pairs"] = OmegaConf.to_container(holdout) if holdout is not None else None
    if overrides.is_file():
        info["overrides"] = [str(o) for o in OmegaConf.load(overrides)]
        chosen = [o.split("=", 1)[1] for o in info["overrides"] if o.startswith("experiment=")]
        info["experiment"] = chosen[-1] if chosen else info["experiment"]
    return info


def build_task(cfg: DictConfig, run: dict) -> Task:
    """`cfg.task`; a task with held-out compositions gets `holdout_pairs` (else the training run's)."""
    holdout = cfg.holdout_pairs or run.get("holdout_pairs")
    extra = {"holdout_pairs": holdout} if holdout and "holdout_pairs" in cfg.task else {}
    return hydra.utils.instantiate(cfg.task, **extra, _convert_="all")


def prompt_sets(cfg: DictConfig, task: Task, image_size: int) -> dict[str, list[tuple[str, dict]]]:
    sets = {"regular": task.prompts(int(cfg.num_prompts), int(cfg.prompt_seed), image_size)}
    if int(cfg.num_holdout) > 0:
        sets["holdout"] = task.prompts(int(cfg.num_holdout), int(cfg.prompt_seed), image_size, held_out=True)
    if int(cfg.num_wording) > 0:  # the regular prompts' scenes in held-out wordings; apart from "alignment"
        sets["wording"] = task.prompts(int(cfg.num_wording), int(cfg.prompt_seed), image_size, wording=True)
    sets = {name: items for name, items in sets.items() if items}
    if not sets:
        raise ConfigError(f"task {task.name!r} gave no prompt (num_prompts={cfg.num_prompts}, "
                          f"num_holdout={cfg.num_holdout}): nothing to evaluate.")
    return sets


def feature_network(cfg: DictConfig, task: Task, log=print) -> torch.nn.Module:
    if cfg.fid.feature == "inception":
        if not cfg.fid.inception_weights:
            raise ConfigError("fid.feature='inception' needs fid.inception_weights=PATH (a local TorchScript "
                              "Inception-V3 file; nothing is downloaded), or use the task's own feature network.")
        return TorchScriptInception(cfg.fid.inception_weights).eval()
    options = OmegaConf.to_container(cfg.fid.get("cnn") or {})
    return task.feature_network(str(cfg.fid.feature), cfg.fid.cache_dir, options, log=log)


def evaluate(cfg: DictConfig, output_dir: str | Path, log=print) -> dict:
    """Run the whole evaluation; returns (and writes) the metrics dict."""
    validate_eval_config(cfg)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else str(cfg.device)
    module = load_module(cfg.ckpt, map_location=device)  # in eval mode, on `device`
    run = training_run_info(cfg.ckpt)
    task = build_task(cfg, run)
    size = int(module.image_size)
    sets = prompt_sets(cfg, task, size)
    prompts = [(name, caption, meta) for name, items in sets.items() for caption, meta in items]
    label = cfg.label or run["experiment"] or Path(cfg.ckpt).stem

    fid = None
    if cfg.fid.enabled:
        held_out_share = len(sets.get("holdout", [])) / len(prompts)
        real = task.reference_images(int(cfg.fid.num_real), int(cfg.fid.real_seed), size, held_out_share)
        if real is None:
            log(f"[evaluate] task {task.name!r} has no reference images: no FID")
        else:
            fid = ReferenceFID(feature_network(cfg, task, log), real)

    bs = int(cfg.batch_size)
    batches = [prompts[i : i + bs] for i in range(0, len(prompts), bs)]
    guidance = [float(w) for w in cfg.guidance]
    eta = module.sample_eta if cfg.get("eta") is None else float(cfg.eta)
    sampler = sampler_overrides(cfg)
    sampler_settings = SamplerSettings.from_config(dataclasses.asdict(module.sampler_settings), sampler)
    results, grids = [], {}
    module.generate([prompts[0][1]], guidance=guidance[0], steps=1, seed=0)  # warm-up: keep first-call costs out of samples/s
    bar = tqdm(total=len(guidance) * len(batches), desc=f"evaluate {label}", unit="batch", mininterval=5,
               disable=None)  # None: no bar in a log file (the per-guidance lines say it)
    for w in guidance:
        details = {name: [] for name in sets}
        pixels_all, gen_seconds = [], 0.0
        if fid is not None:
            fid.reset()
        for b, batch in enumerate(batches):
            start = time.perf_counter()
            images = module.generate([c for _, c, _ in batch], guidance=w, steps=int(cfg.steps),
                                     seed=int(cfg.seed) + 1009 * b, eta=eta, sampler=sampler)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            gen_seconds += time.perf_counter() - start
            pixels = to_uint8(images)
            pixels_all.append(pixels)
            if task.has_oracle:
                for (name, _, meta), image in zip(batch, pixels):
                    details[name].append(task.score(image, meta))
            if fid is not None:
                fid.update(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())
            bar.update(1)
        everything = [d for name in sets if name != "wording" for d in details[name]]
        keys = task.score_keys
        row = {
            "guidance": w,
            "fid": fid.compute() if fid is not None else None,
            "alignment": aggregate_details(everything, keys) if everything else None,
            **{f"alignment_{name}": aggregate_details(details[name], keys) if details.get(name) else None
               for name in ("regular", "holdout", "wording")},
            "samples_per_s": len(prompts) / gen_seconds,
            "generate_seconds": gen_seconds,
        }
        results.append(row)
        grid = np.concatenate(pixels_all)[: int(cfg.grid_size)]
        grid_captions = [caption for _, caption, _ in prompts[: len(grid)]]
        grids[str(w)] = str(save_grid(grid, output_dir / "grids" / f"guidance_{w:g}.png", captions=grid_captions))
        fid_text = "n/a" if row["fid"] is None else f"{row['fid']:.2f}"
        alignment_text = "no oracle"
        if row["alignment"] is not None:
            a = row["alignment"]["overall"]
            hold, words = (row[k]["overall"]["mean"] if row[k] else float("nan")
                           for k in ("alignment_holdout", "alignment_wording"))
            alignment_text = f"{a['mean']:.3f} ± {a['ci_half']:.3f} (held-out {hold:.3f}, wordings {words:.3f})"
        log(f"[evaluate] {label} guidance {w:g}: alignment {alignment_text}, FID {fid_text}, "
            f"{row['samples_per_s']:.2f} samples/s")
    bar.close()

    metrics = {
        "label": label,
        "ckpt": str(cfg.ckpt),
        "run": run,
        "model": dataclasses.asdict(module.model_cfg),
        "settings": {
            "guidance": guidance, "steps": int(cfg.steps), "sampler": "ddim", "eta": eta,
            "sampler_settings": dataclasses.asdict(sampler_settings),
            "num_prompts": int(cfg.num_prompts), "num_holdout": int(cfg.num_holdout), "num_wording": int(cfg.num_wording),
            "prompt_seed": int(cfg.prompt_seed), "seed": int(cfg.seed), "batch_size": bs,
            "task": task.name, "holdout_pairs": getattr(task, "holdout_pairs", None), "image_size": size,
            "device": device,
            "fid_feature": cfg.fid.feature if cfg.fid.enabled else None,
            "fid_num_real": int(cfg.fid.num_real) if cfg.fid.enabled else None,
        },
        "results": results,
        "grids": grids,
    }
    # numpy scalars as numbers, anything else json cannot write as text
    text = json.dumps(metrics, indent=1, default=lambda value: value.item() if hasattr(value, "item") else str(value))
    path = output_dir / "metrics.json"
    path.write_text(text)
    if cfg.get("out_json"):
        Path(cfg.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out_json).write_text(text)
    if all(r["fid"] is not None and math.isfinite(r["fid"]) and r["alignment"] for r in results):
        curve = {"guidance": guidance, "fid": [r["fid"] for r in results],
                 "alignment": [r["alignment"]["overall"]["mean"] for r in results],
                 "alignment_err": [r["alignment"]["overall"]["ci_half"] for r in results],
                 "all_right": [r["alignment"]["all_right"]["mean"] for r in results]}
        metrics["plot"] = str(plot_tradeoff({label: curve}, output_dir / "tradeoff.png",
                                            title=f"{label}: FID vs alignment over guidance"))
        metrics["plot_guidance"] = str(plot_guidance_curves({label: curve}, output_dir / "guidance.png",
                                                            title=f"{label}: guidance trade-off"))
    if cfg.get("wandb") and cfg.wandb.enabled:
        log_wandb(cfg, metrics, output_dir)
    log(f"[evaluate] wrote {path}; grids: {', '.join(grids.values())}")
    log(next_commands(cfg.ckpt, skip="evaluate"))
    return metrics


def log_wandb(cfg: DictConfig, metrics: dict, output_dir: Path) -> None:
    import wandb

    run = wandb.init(project=cfg.wandb.project, name=f"eval-{metrics['label']}", dir=str(output_dir),
                     mode="offline" if cfg.wandb.offline else "online", job_type="evaluate",
                     config={"settings": metrics["settings"], "run": metrics["run"]})
    columns = ["guidance", "fid", "alignment", "alignment_ci", "alignment_holdout", "alignment_wording", "samples_per_s"]
    table = wandb.Table(columns=columns)
    for r in metrics["results"]:
        hold = r["alignment_holdout"]["overall"]["mean"] if r["alignment_holdout"] else None
        words = r["alignment_wording"]["overall"]["mean"] if r["alignment_wording"] else None
        overall = r["alignment"]["overall"] if r["alignment"] else {"mean": None, "ci_half": None}
        table.add_data(r["guidance"], r["fid"], overall["mean"], overall["ci_half"], hold, words, r["samples_per_s"])
    payload = {"eval/results": table}
    payload.update({f"eval/grid_{w}": wandb.Image(p, caption=f"guidance {w}") for w, p in metrics["grids"].items()})
    if metrics.get("plot"):
        payload["eval/tradeoff"] = wandb.Image(metrics["plot"])
    run.log(payload)
    run.finish()


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    quiet_third_party()
    with user_errors():
        metrics = evaluate(cfg, HydraConfig.get().runtime.output_dir)
    scores = [r["alignment"]["overall"]["mean"] for r in metrics["results"] if r["alignment"]]
    return max(scores) if scores else None  # a sweep optimises the best alignment; none without an oracle


if __name__ == "__main__":
    main()
