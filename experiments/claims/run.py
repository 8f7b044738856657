"""The paper's claims at budget=cpu (issue 29): every (arm, seed) trains for 20 CPU core-minutes, then
raphael.evaluate scores its last checkpoint; results/<arm>/seed<k>.json holds the evaluation plus what
the run cost (steps reached, training CPU and wall seconds, the commit).

    python experiments/claims/run.py                    # the whole plan, in the order of the claims
    python experiments/claims/run.py --only fig6b       # one claim's arms
    python experiments/claims/run.py --slots 1 --cores 1 --arms raphael_alone --seeds 0
    python experiments/claims/run.py --arms raphael text_layer_penultimate --seeds 2 \
        --results outputs/pair/results --runs outputs/pair/runs   # a side-by-side pair kept off the claims page

Resumable: an arm whose results JSON exists is skipped, so an interrupted driver loses only the runs in
flight (their folders are cleared and they train again). Jobs run one torch thread each, pinned to one
core (`--cores`), `--slots` at a time; the budget counts each training process's own CPU seconds
(conf/budget/cpu.yaml), so two jobs side by side, or a busy neighbour, do not change a run's budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from experiments.claims.arms import ARMS, BASE_CKPT, BASE_STAGE, EVAL_GUIDANCE, PLAN  # noqa: E402
from raphael.metrics.report import steps_reached  # noqa: E402

RESULTS, RUNS = HERE / "results", ROOT / "outputs" / "claims"  # the claims page's; --results / --runs: elsewhere
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline",
       "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "raphael", "conf"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def machine() -> dict:
    """Where and when the run trained: a CPU second buys a different number of steps on another machine, so a
    comparison across sessions needs to know it changed."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)  # one boot = one machine of one session
    return {"cpu": cpu, "cores": os.cpu_count(), "booted": time.strftime("%Y-%m-%d %H:%M", time.gmtime(booted)),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def result_path(arm: str, seed: int, results: Path = RESULTS) -> Path:
    return results / arm / f"seed{seed}.json"


def run_timed(cmd: list[str], log: Path, core: str) -> tuple[int, float, float]:
    """(exit status, CPU seconds of the process and its children, wall seconds)."""
    start = time.perf_counter()
    with open(log, "a") as out:
        proc = subprocess.Popen(["taskset", "-c", core, *cmd], cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def train_stage(overrides: list[str], seed: int, run_dir: Path, log: Path, core: str) -> dict | None:
    """One raphael.train run at budget=cpu: its steps, CPU and wall seconds, or None when it failed."""
    train = [sys.executable, "-m", "raphael.train", "budget=cpu", f"seed={seed}", "logger=csv",
             "task_name=claims", *overrides, f"hydra.run.dir={run_dir}"]
    code, cpu, wall = run_timed(train, log, core)
    return None if code != 0 else {"steps": steps_reached(run_dir), "train_cpu_s": cpu, "train_wall_s": wall}


def job(arm: str, seed: int, core: str, results: Path = RESULTS, runs: Path = RUNS) -> None:
    overrides, claim = ARMS[arm]
    run_dir = runs / arm / f"seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a run in flight when the driver stopped starts again
    (results.parent / "logs").mkdir(parents=True, exist_ok=True)
    log = results.parent / "logs" / f"{arm}_seed{seed}.log"
    log.write_text("")
    where = machine()
    stages = {}
    if arm in BASE_STAGE:  # a two-stage arm: train its base, then the arm from the base's last checkpoint
        stages["base"] = train_stage(BASE_STAGE[arm], seed, run_dir / "base", log, core)
        if stages["base"] is None:
            print(f"[claims] {arm} seed {seed}: the base stage failed, see {log}", flush=True)
            return
        base = (run_dir / "base" / "checkpoints" / "last.ckpt").relative_to(ROOT)  # the driver's jobs run in ROOT
        overrides = [o.replace(BASE_CKPT, str(base)) for o in overrides]
    stages["main"] = train_stage(overrides, seed, run_dir, log, core)
    if stages["main"] is None:
        print(f"[claims] {arm} seed {seed}: training failed, see {log}", flush=True)
        return
    evaluate = [sys.executable, "-m", "raphael.evaluate", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}",
                f"hydra.run.dir={run_dir / 'eval'}", f"guidance={EVAL_GUIDANCE[claim]}", "num_prompts=64",
                "num_holdout=64", "num_wording=64", "batch_size=64", "device=cpu"]
    code, eval_cpu, eval_wall = run_timed(evaluate, log, core)
    if code != 0:
        print(f"[claims] {arm} seed {seed}: evaluation failed (exit {code}), see {log}", flush=True)
        return
    record = {"arm": arm, "claim": claim, "seed": seed, "overrides": overrides, "commit": commit(),
              "machine": where, **{k: sum(st[k] for st in stages.values()) for k in ("steps", "train_cpu_s", "train_wall_s")},
              "eval_cpu_s": eval_cpu,
              "run_dir": str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir),
              **({"stages": stages} if len(stages) > 1 else {}),
              "evaluation": json.loads((run_dir / "eval" / "metrics.json").read_text())}
    path = result_path(arm, seed, results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(record, indent=1))
    path.with_suffix(".tmp").replace(path)  # atomic: a half-written result never counts as done
    first = record["evaluation"]["results"][-1]
    print(f"[claims] {arm} seed {seed}: {record['steps']} steps in {record['train_cpu_s']:.0f} CPU s "
          f"({record['train_wall_s']:.0f} s wall), "
          f"alignment {first['alignment']['overall']['mean']:.3f} at guidance {first['guidance']:g}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="claims to run (default: all, in PLAN order)")
    parser.add_argument("--arms", nargs="*", help="arms to run (default: the plan's)")
    parser.add_argument("--seeds", nargs="*", type=int, help="seeds to run (default: the plan's)")
    parser.add_argument("--slots", type=int, default=2, help="jobs side by side")
    parser.add_argument("--cores", default="0 1", help="cores, one per slot, in turn")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where each run's result JSON goes "
                        "(default: the claims page's; its logs go beside it)")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the runs' folders go")
    parser.add_argument("--dry-run", action="store_true", help="list the jobs left and stop")
    args = parser.parse_args()
    results, runs = args.results.resolve(), args.runs.resolve()
    queue = [(arm, seed) for arm, seed in PLAN
             if (not args.only or ARMS[arm][1] in args.only) and (not args.arms or arm in args.arms)
             and (args.seeds is None or seed in args.seeds) and not result_path(arm, seed, results).exists()]
    if args.arms:
        queue += [(a, s) for a in args.arms for s in (args.seeds or [0]) if (a, s) not in queue
                  and not result_path(a, s, results).exists()]
    print(f"[claims] {len(queue)} jobs to run: " + ", ".join(f"{a}/{s}" for a, s in queue), flush=True)
    if args.dry_run:
        return
    cores = args.cores.split()
    running: dict[str, subprocess.Popen] = {}
    for arm, seed in queue:
        while len(running) >= args.slots:  # wait for a free core
            for core, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[core]
            time.sleep(5)
        core = next(c for c in cores if c not in running)
        running[core] = subprocess.Popen([sys.executable, __file__, "--job", arm, str(seed), core, str(results),
                                          str(runs)], cwd=ROOT)
    for proc in running.values():
        proc.wait()


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--job":
        job(sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]), Path(sys.argv[6]))
    else:
        main()
