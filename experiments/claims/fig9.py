"""Claim 4 (Fig. 9): do the time experts specialise by noise level? For every trained claims checkpoint of
an arm with learned time experts, the expert each block's time gate picks for t = 0..999, the normalised
mutual information between expert and timestep bin per block, and the same on an untrained model of the
same architecture (weights initialised under the run's seed): the control the paper does not report.

    python experiments/claims/fig9.py                          # raphael, time_moe and paper_layout, every seed trained
    python experiments/claims/fig9.py --outputs /other/outputs/claims --arms raphael

Writes results/fig9/<arm>/seed<k>.json (per block: nmi, experts used, trained and untrained) and
fig9_<arm>_seed<k>.png (expert share per t bin per block, trained). Resumable: existing JSON is skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from raphael.analysis import plots  # noqa: E402
from raphael.analysis.time_specialisation import specialisation, time_routes_on_grid  # noqa: E402
from raphael.module import RaphaelModule  # noqa: E402
from raphael.run.checkpoints import load_module  # noqa: E402

T_BINS = 10


def read_routes(module) -> tuple:
    stats = time_routes_on_grid(module, range(module.net.cfg.num_train_timesteps))
    pairs = stats.time_pairs()
    return pairs, specialisation(pairs, module.net.cfg.num_train_timesteps, bins=T_BINS), stats.time_num_experts


def one(arm: str, seed: int, ckpt: Path) -> dict:
    trained = load_module(str(ckpt))
    pairs, table, num_experts = read_routes(trained)
    plots.time_expert_heatmap(pairs, num_experts, HERE / "results" / "fig9" / arm / f"seed{seed}.png",
                              trained.net.cfg.num_train_timesteps, T_BINS)
    L.seed_everything(seed, verbose=False)  # the untrained control starts where the run started
    _, control, _ = read_routes(RaphaelModule(**trained.hparams).eval())
    blocks = table.merge(control, on="block", suffixes=("", "_untrained"))
    return {"arm": arm, "seed": seed, "ckpt": str(ckpt), "t_bins": T_BINS, "blocks": blocks.to_dict("records"),
            "nmi_mean": float(blocks["nmi"].mean()), "nmi_mean_untrained": float(blocks["nmi_untrained"].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "claims", help="the claims' run folders")
    parser.add_argument("--arms", nargs="*", default=["raphael", "time_moe", "paper_layout"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for arm in args.arms:
        for seed in args.seeds:
            ckpt = args.outputs / arm / f"seed{seed}" / "checkpoints" / "last.ckpt"
            out = HERE / "results" / "fig9" / arm / f"seed{seed}.json"
            # a results JSON of the claims driver marks a finished run (last.ckpt of one in flight is partial)
            finished = (HERE / "results" / arm / f"seed{seed}.json").exists()
            if out.exists() or not ckpt.exists() or not finished:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            record = one(arm, seed, ckpt)
            out.write_text(json.dumps(record, indent=1))
            print(f"[fig9] {arm} seed {seed}: NMI(expert, t bin) {record['nmi_mean']:.3f} trained, "
                  f"{record['nmi_mean_untrained']:.3f} untrained", flush=True)


if __name__ == "__main__":
    main()
