"""The table of a side-by-side pair run by the claims driver with --results (kept off the claims page): per
guidance, each arm's alignment (regular + held-out compositions), held-out wordings, their ratio (per seed, then
averaged) and all-right, mean ± sd over seeds, and the second arm minus the first paired by seed with its 95%
Student-t interval; then each arm's guidance gain (alignment at its best guidance minus at 1, paired by seed) and the
steps each run reached.

    python experiments/claims/pair_report.py outputs/layer_pair --arms raphael text_layer_penultimate \\
        --names default layer-2 --seeds 0 1 2 --keep experiments/recipe/wording/results/layer_pair

--keep PREFIX copies each run's evaluation to PREFIX_<name>_seed<k>.json (to commit beside the experiment).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raphael.metrics.alignment import mean_ci

KEYS = ("alignment", "held-out", "wordings", "ratio", "all right")


def rows(evaluation: dict) -> dict[float, dict[str, float]]:
    out = {}
    for r in evaluation["results"]:
        align, words = r["alignment"]["overall"]["mean"], r["alignment_wording"]["overall"]["mean"]
        out[r["guidance"]] = {"alignment": align, "held-out": r["alignment_holdout"]["overall"]["mean"],
                              "wordings": words, "ratio": words / align, "all right": r["alignment"]["all_right"]["mean"]}
    return out


def interval(ci: dict) -> str:
    return f"{ci['mean']:+.3f} [{ci['ci_low']:+.3f}, {ci['ci_high']:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the driver's --results folder's parent (it holds results/)")
    parser.add_argument("--arms", nargs=2, required=True, help="the reference arm, then the lever (driver names)")
    parser.add_argument("--names", nargs=2, help="what the table calls them (default: the arms)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--keep", type=Path, help="copy each evaluation to KEEP_<name>_seed<k>.json")
    args = parser.parse_args()
    names = args.names or args.arms
    tables = {}
    for arm, name in zip(args.arms, names):
        for seed in args.seeds:
            record = json.loads((args.folder / "results" / arm / f"seed{seed}.json").read_text())
            if args.keep:
                args.keep.parent.mkdir(parents=True, exist_ok=True)
                Path(f"{args.keep}_{name}_seed{seed}.json").write_text(json.dumps(record["evaluation"], indent=1))
            tables[name, seed] = rows(record["evaluation"])
            print(f"{name} seed {seed}: {record['steps']} steps (commit {record['commit'][:7]})")
    print(f"\nseeds {args.seeds}; cells mean ± sd over seeds; difference = {names[1]} minus {names[0]}, paired by "
          "seed, mean [95% interval]\n")
    print("| guidance | arm | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for g in tables[names[0], args.seeds[0]]:
        for name in names:
            cells = [mean_ci(tables[name, s][g][k] for s in args.seeds) for k in KEYS]
            print(f"| {g:g} | {name} | " + " | ".join(f"{c['mean']:.3f} ± {c['std']:.3f}" for c in cells) + " |")
        diffs = [mean_ci(tables[names[1], s][g][k] - tables[names[0], s][g][k] for s in args.seeds) for k in KEYS]
        print(f"| {g:g} | difference | " + " | ".join(interval(d) for d in diffs) + " |")
    print()
    for name in names:
        means = {g: mean_ci(tables[name, s][g]["alignment"] for s in args.seeds)["mean"] for g in tables[name, args.seeds[0]]}
        best = max(means, key=means.get)
        gain = {k: mean_ci(tables[name, s][best][k] - tables[name, s][1.0][k] for s in args.seeds)
                for k in ("alignment", "all right")}
        print(f"- {name}: best guidance {best:g}; alignment there minus at 1 {interval(gain['alignment'])}, "
              f"all right {interval(gain['all right'])} (paired by seed)")


if __name__ == "__main__":
    main()
