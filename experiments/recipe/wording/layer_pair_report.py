"""The table of layer_pair.sh: per guidance, each arm's alignment (regular + held-out compositions), held-out
wordings, their ratio (per seed, then averaged) and all-right, mean ± sd over seeds, and the lever minus the default
paired by seed with its 95% Student-t interval; the steps each run reached. Reads the claims driver's result
JSONs (<folder>/results/<arm>/seed<k>.json) and copies each run's evaluation to results/ beside this file.

    python experiments/recipe/wording/layer_pair_report.py outputs/layer_pair --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raphael.metrics.alignment import mean_ci

ARMS = {"default": "raphael", "layer-2": "text_layer_penultimate"}  # name in the table -> the claims driver's arm
KEYS = ("alignment", "held-out", "wordings", "ratio", "all right")
HERE = Path(__file__).resolve().parent


def rows(evaluation: dict) -> dict[float, dict[str, float]]:
    out = {}
    for r in evaluation["results"]:
        align, words = r["alignment"]["overall"]["mean"], r["alignment_wording"]["overall"]["mean"]
        out[r["guidance"]] = {"alignment": align, "held-out": r["alignment_holdout"]["overall"]["mean"],
                              "wordings": words, "ratio": words / align, "all right": r["alignment"]["all_right"]["mean"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2])
    args = parser.parse_args()
    tables = {}
    for arm, driver_arm in ARMS.items():
        for seed in args.seeds:
            record = json.loads((args.folder / "results" / driver_arm / f"seed{seed}.json").read_text())
            kept = HERE / "results" / f"layer_pair_{arm}_seed{seed}.json"
            kept.parent.mkdir(exist_ok=True)
            kept.write_text(json.dumps(record["evaluation"], indent=1))
            tables[arm, seed] = rows(record["evaluation"])
            print(f"{arm} seed {seed}: {record['steps']} steps (commit {record['commit'][:7]})")
    print(f"\nseeds {args.seeds}; cells mean ± sd over seeds; difference = layer-2 minus default, paired by seed, "
          "mean [95% interval]\n")
    print("| guidance | arm | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    names = list(ARMS)
    for g in tables[names[0], args.seeds[0]]:
        for arm in ARMS:
            cells = [mean_ci(tables[arm, s][g][k] for s in args.seeds) for k in KEYS]
            print(f"| {g:g} | {arm} | " + " | ".join(f"{c['mean']:.3f} ± {c['std']:.3f}" for c in cells) + " |")
        diffs = [mean_ci(tables[names[1], s][g][k] - tables[names[0], s][g][k] for s in args.seeds) for k in KEYS]
        print(f"| {g:g} | difference | " + " | ".join(
            f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" for d in diffs) + " |")


if __name__ == "__main__":
    main()
