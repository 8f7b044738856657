"""Claim 3 (Sec. 3.1, App. 7.5): the path probe on the claims' trained checkpoints. `paper_layout` has the
paper's 16 space-MoE layers at small width, `raphael` is the default (5 layers); every checkpoint is read on
the shapes vocabulary and the paper's three word lists, beside an untrained model of the same architecture
(weights initialised under the run's seed) and the same paths with the words shuffled across prompts.

    python experiments/claims/probe.py                           # paper_layout and raphael, every seed trained
    python experiments/claims/probe.py --outputs /other/outputs/claims --arms paper_layout

Each probe is `python -m raphael.probe ckpt=<run>/checkpoints/last.ckpt words=<list> seed=<k>`; its probe.json
lands in results/probe/<arm>/seed<k>/<list>.json. Resumable: existing JSON is skipped.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from experiments.claims.run import ENV  # noqa: E402

WORD_LISTS = ("shapes", "adjectives", "coco", "verbs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "claims", help="the claims' run folders")
    parser.add_argument("--arms", nargs="*", default=["paper_layout", "raphael"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--words", nargs="*", default=list(WORD_LISTS))
    args = parser.parse_args()
    for arm in args.arms:
        for seed in args.seeds:
            ckpt = args.outputs / arm / f"seed{seed}" / "checkpoints" / "last.ckpt"
            if not ckpt.exists() or not (HERE / "results" / arm / f"seed{seed}.json").exists():
                continue  # not trained, or still in flight (the driver writes its JSON when the run is done)
            for words in args.words:
                out = HERE / "results" / "probe" / arm / f"seed{seed}" / f"{words}.json"
                if out.exists():
                    continue
                run_dir = ROOT / "outputs" / "claims_probe" / arm / f"seed{seed}" / words
                cmd = [sys.executable, "-m", "raphael.probe", f"ckpt={ckpt}", f"words={words}", f"seed={seed}",
                       f"hydra.run.dir={run_dir}"]
                done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"[probe] {arm} seed {seed} {words}: failed (exit {done.returncode})\n{done.stderr[-2000:]}")
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(run_dir / "probe.json", out)
                print(f"[probe] {arm} seed {seed} {words}: done", flush=True)


if __name__ == "__main__":
    main()
