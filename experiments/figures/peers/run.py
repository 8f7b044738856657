"""Peer designs under the same harness (issue 8): train + evaluate every design, one job at a time.

    /work/main/.venv/bin/python experiments/figures/peers/run.py --steps 100 --extra 100 --batch 32 --seeds 0
    .venv/bin/python experiments/figures/peers/run.py --budget cpu --seeds 0 1 2   # every design at budget=cpu

Per seed, with S = --steps and M = --extra (every design sees (S + M) * batch samples):
  base              experiment=baseline, S steps (the trunk eDiff-I branches from)
  baseline          the base trained on for M more steps (expert_init=branch_from_checkpoint with the same
                    architecture = a plain weight copy, fresh optimizer): the samples-seen-matched control
  ediffi            experiment=ediffi: 2 whole-denoiser experts branched from the base, M steps
  ernie_mode        experiment=ernie_mode (fixed_uniform, n = 4), S + M steps from scratch
  ernie_knowledge   experiment=ernie_knowledge, S + M steps from scratch
  sd_unet           experiment=sd_unet, S + M steps from scratch
  raphael           experiment=raphael, S + M steps from scratch
  baseline_scratch  experiment=baseline, S + M steps from scratch (the from-scratch reference)
then `python -m raphael.evaluate` on each last.ckpt. Results: experiments/figures/peers/results/<name>_s<seed>.json
(train command, wall time, final val losses, parameter count) and <name>_s<seed>.eval.json (evaluate's JSON).
Run folders: outputs/peers/<name>_s<seed>/. `report.py` builds the table and the plot.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
PY = sys.executable

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline",
       "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def common(steps: int, batch: int, seed: int, run_dir: Path, budget: str | None = None) -> list[str]:
    if budget:  # the budget's optimiser, EMA, batch and time limit (each run stops at its max_time too)
        recipe = [f"budget={budget}"]
    else:
        recipe = [f"data.batch_size={batch}", "optim.warmup_steps=20", "optim.ema_decay=0.95"]
    return [f"seed={seed}", f"data.seed={seed}", *recipe, f"trainer.max_steps={steps}",
            f"trainer.val_check_interval={steps}", "trainer.limit_val_batches=4", "trainer.log_every_n_steps=10",
            "data.num_workers=0",
            "~callbacks.samples", "~callbacks.routing", "~callbacks.progress_bar", "~logger.wandb",
            f"hydra.run.dir={run_dir}"]


def last_val(run_dir: Path) -> dict:
    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    out = {}
    for row in rows:
        for k, v in row.items():
            if k.startswith("val/") and v not in ("", None):
                out[k] = float(v)
    return out


def run(cmd: list[str], log: Path) -> float:
    start = time.time()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    return time.time() - start


def train(name: str, experiment: str, steps: int, args, seed: int, extra: list[str]) -> Path:
    run_dir = ROOT / "outputs" / "peers" / f"{name}_s{seed}"
    result = HERE / "results" / f"{name}_s{seed}.json"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if result.is_file() and ckpt.is_file():
        print(f"[peers] {name} seed {seed}: done already", flush=True)
        return ckpt
    cmd = [PY, "-m", "raphael.train", f"experiment={experiment}", *common(steps, args.batch, seed, run_dir, args.budget),
           *extra]
    print(f"[peers] train {name} seed {seed}: {' '.join(cmd[2:])}", flush=True)
    wall = run(cmd, HERE / "logs" / f"{name}_s{seed}.train.log")
    import torch

    sd = torch.load(ckpt, map_location="cpu", weights_only=False)
    params = sum(v.numel() for k, v in sd["state_dict"].items() if k.startswith("net."))
    record = {"name": name, "experiment": experiment, "seed": seed, "steps": steps, "batch_size": args.batch,
              "command": " ".join(["python", *cmd[1:]]), "train_wall_s": wall, "params": params,
              "val": last_val(run_dir), "global_step": sd["global_step"]}
    result.write_text(json.dumps(record, indent=1))
    print(f"[peers] {name} seed {seed}: {wall:.0f} s, val {record['val']}", flush=True)
    return ckpt


def evaluate(name: str, ckpt: Path, seed: int, args) -> None:
    out = HERE / "results" / f"{name}_s{seed}.eval.json"
    if out.is_file() or args.no_eval:
        return
    cmd = [PY, "-m", "raphael.evaluate", f"ckpt={ckpt}", f"guidance=[{args.guidance}]", f"steps={args.eval_steps}",
           f"num_prompts={args.num_prompts}", f"num_holdout={args.num_holdout}", "batch_size=48",
           "fid.num_real=256", f"label={name}", f"out_json={out}", "seed=0",
           f"hydra.run.dir={ROOT / 'outputs' / 'peers' / 'eval' / f'{name}_s{seed}'}"]
    print(f"[peers] evaluate {name} seed {seed}", flush=True)
    wall = run(cmd, HERE / "logs" / f"{name}_s{seed}.eval.log")
    data = json.loads(out.read_text())
    data["eval_command"] = " ".join(["python", *cmd[1:]])
    data["eval_wall_s"] = wall
    out.write_text(json.dumps(data, indent=1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100, help="S: steps of the base model")
    p.add_argument("--extra", type=int, default=100, help="M: fine-tuning steps after branching")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--guidance", default="1.5,4.5")
    p.add_argument("--eval-steps", type=int, default=10)
    p.add_argument("--num-prompts", type=int, default=32)
    p.add_argument("--num-holdout", type=int, default=16)
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--budget", default=None, help="a conf/budget name (cpu): its recipe and time limit per run")
    args = p.parse_args()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "logs").mkdir(exist_ok=True)
    S, M = args.steps, args.extra
    for seed in args.seeds:
        want = lambda n: args.only is None or n in args.only  # noqa: E731
        base = train("base", "baseline", S, args, seed, [])
        jobs = [
            ("baseline", "baseline", M, ["model.expert_init=branch_from_checkpoint", f"model.expert_init_ckpt={base}"]),
            ("ediffi", "ediffi", M, [f"model.expert_init_ckpt={base}"]),
            ("ernie_mode", "ernie_mode", S + M, []),
            ("ernie_knowledge", "ernie_knowledge", S + M, []),
            ("sd_unet", "sd_unet", S + M, []),
            ("raphael", "raphael", S + M, []),
            ("baseline_scratch", "baseline", S + M, []),
        ]
        for name, experiment, steps, extra in jobs:
            if want(name):
                evaluate(name, train(name, experiment, steps, args, seed, extra), seed, args)


if __name__ == "__main__":
    main()
