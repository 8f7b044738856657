"""Table of the wording experiment: in-grammar / held-out compositions / held-out wordings per arm, from the
metrics.json files raphael.evaluate wrote (one per arm, label = the arm), into results.json beside this file.

    python experiments/recipe/wording/report.py experiments/recipe/wording/eval_before.json experiments/recipe/wording/eval_after.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SETS = {"in_grammar": "alignment_regular", "held_out_compositions": "alignment_holdout",
        "held_out_wordings": "alignment_wording"}
ATTRIBUTES = ("color", "shape", "size", "position", "fill", "count_right")


def arm_figures(metrics: dict) -> dict:
    row = metrics["results"][0]
    out = {"ckpt": metrics["ckpt"], "guidance": row["guidance"], "settings": metrics["settings"]}
    for name, key in SETS.items():
        agg = row[key]
        out[name] = {"mean": agg["overall"]["mean"], "ci_half": agg["overall"]["ci_half"], "n": agg["overall"]["n"],
                     **{a: agg[a]["mean"] for a in ATTRIBUTES}}
    out["wording_ratio"] = out["held_out_wordings"]["mean"] / out["in_grammar"]["mean"]
    return out


def main(paths: list[str]) -> None:
    arms = {}
    for path in paths:
        metrics = json.loads(Path(path).read_text())
        arms[metrics["label"]] = arm_figures(metrics)
    print("| arm | in-grammar | held-out compositions | held-out wordings | wordings / in-grammar |")
    print("|---|---|---|---|---|")
    for label, f in arms.items():
        cells = [f"{f[s]['mean']:.3f} ± {f[s]['ci_half']:.3f}" for s in SETS]
        print(f"| {label} | " + " | ".join(cells) + f" | {f['wording_ratio']:.2f} |")
    print("\nper attribute (share of prompted objects with it right; count_right: share of images)")
    for label, f in arms.items():
        for s in SETS:
            print(f"  {label:8s} {s:22s} " + "  ".join(f"{a} {f[s][a]:.3f}" for a in ATTRIBUTES))
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(arms, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
