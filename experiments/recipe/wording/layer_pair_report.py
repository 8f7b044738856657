"""The table of layer_pair.sh: per guidance, each arm's alignment (regular + held-out compositions), held-out
wordings, their ratio and all-right, and the lever minus the default; the steps each run reached.

    python experiments/recipe/wording/layer_pair_report.py outputs/layer_pair [--seed 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raphael.metrics.report import steps_reached

ARMS = ("default", "layer-2")


def rows(run_dir: Path) -> dict[float, dict[str, float]]:
    results = json.loads((run_dir / "eval" / "metrics.json").read_text())["results"]
    out = {}
    for r in results:
        align, words = r["alignment"]["overall"]["mean"], r["alignment_wording"]["overall"]["mean"]
        out[r["guidance"]] = {"alignment": align, "held-out": r["alignment_holdout"]["overall"]["mean"],
                              "wordings": words, "ratio": words / align, "all right": r["alignment"]["all_right"]["mean"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    dirs = {arm: args.folder / f"{arm}_seed{args.seed}" for arm in ARMS}
    tables = {arm: rows(d) for arm, d in dirs.items()}
    print("steps reached: " + ", ".join(f"{arm} {steps_reached(d)}" for arm, d in dirs.items()))
    keys = ["alignment", "held-out", "wordings", "ratio", "all right"]
    print("| guidance | arm | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for g in tables[ARMS[0]]:
        for arm in ARMS:
            print(f"| {g:g} | {arm} | " + " | ".join(f"{tables[arm][g][k]:.3f}" for k in keys) + " |")
        print(f"| {g:g} | difference | " + " | ".join(f"{tables[ARMS[1]][g][k] - tables[ARMS[0]][g][k]:+.3f}"
                                                  for k in keys) + " |")


if __name__ == "__main__":
    main()
