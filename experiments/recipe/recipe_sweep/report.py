"""Recipe sweep report: results/*.json -> results.md (one row per prediction target and guidance).

    python experiments/recipe/recipe_sweep/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> str:
    lines = ["| prediction_type | guidance | alignment (64) | held-out (64) | count right | all right | clean | lenient |",
             "|---|---|---|---|---|---|---|---|"]
    for path in sorted((HERE / "results").glob("*.json")):
        run = json.loads(path.read_text())
        target = next((o.split("=", 1)[1] for o in run["run"]["overrides"]
                       if o.startswith("diffusion.prediction_type=")), "?")
        for row in run["results"]:
            r, h = row["alignment_regular"], row["alignment_holdout"]
            lines.append(f"| {target} | {row['guidance']:g} | {r['overall']['mean']:.3f} ± {r['overall']['ci_half']:.3f} | "
                         f"{h['overall']['mean']:.3f} | {r['count_right']['mean']:.2f} | {r['all_right']['mean']:.2f} | "
                         f"{r['clean']['mean']:.2f} | {r['lenient']['mean']:.3f} |")
    text = "# Prediction target at equal CPU time (experiment=space_moe, one thread)\n\n" + "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
