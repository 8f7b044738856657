"""Seconds per training step of the real loop (raphael.training.train: Lightning, every default callback, the CSV
logger) for experiment=raphael at budget=cpu, validation off, for each setting given, alternating the settings
`--rounds` times; median and mean of steps 30..N. One thread: run it pinned (taskset -c 1) with nothing beside it.

    OMP_NUM_THREADS=1 taskset -c 1 python experiments/recipe/loop_speed/step_time.py data.cache_decoded=false data.cache_decoded=true
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from raphael.benchmarks.common import compose_train_config
from raphael.training import train

ROOT = Path(__file__).resolve().parents[3]


def step_times(setting: str, steps: int, folder: Path) -> list[float]:
    cfg = compose_train_config(
        "experiment=raphael", "budget=cpu", "logger=csv", f"paths.root_dir={ROOT}", f"paths.output_dir={folder}",
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "trainer.val_check_interval=null",
        f"+callbacks.step_timer={{_target_: raphael.benchmarks.loop_overhead.StepTimer, path: '{folder}/steps.json'}}",
        *setting.split())
    train(cfg)
    stamps = json.loads((folder / "steps.json").read_text())[30:]
    return [b - a for a, b in zip(stamps, stamps[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="space-separated overrides per setting, e.g. data.cache_decoded=false")
    parser.add_argument("--steps", type=int, default=330)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for r in range(args.rounds):
        for setting in args.settings:
            with tempfile.TemporaryDirectory() as tmp:
                times = step_times(setting, args.steps, Path(tmp))
            rows.append((r, setting, statistics.median(times), statistics.fmean(times)))
            print(f"round {r} {setting}: median {rows[-1][2]:.4f} s, mean {rows[-1][3]:.4f} s", flush=True)
    print("\n| round | setting | median s/step | mean s/step |\n|---|---|---|---|")
    for r, setting, med, mean in rows:
        print(f"| {r} | {setting} | {med:.4f} | {mean:.4f} |")


if __name__ == "__main__":
    main()
