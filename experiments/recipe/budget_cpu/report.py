"""budget=cpu report: results/*.json (raphael.evaluate, one per seed) -> results.md: the corrected
alignment on the 64 training-distribution prompts and the 64 held-out compositions per seed and
guidance, mean and sd over seeds, with the steps each run reached in its 19 minutes.

    python experiments/recipe/budget_cpu/report.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from raphael.metrics.report import steps_reached

HERE = Path(__file__).resolve().parent
KEYS = [("alignment_regular", "overall", "alignment"), ("alignment_holdout", "overall", "held-out"),
        ("alignment_regular", "count_right", "count right"), ("alignment_regular", "all_right", "all right"),
        ("alignment_regular", "lenient", "lenient")]


def main() -> str:
    runs = [json.loads(p.read_text()) for p in sorted((HERE / "results").glob("*.json"))]
    lines = ["| experiment | seed | steps | guidance | " + " | ".join(k[2] for k in KEYS) + " |",
             "|" + "---|" * (4 + len(KEYS))]
    by_guidance: dict[tuple[str, float], list[list[float]]] = {}
    for run in sorted(runs, key=lambda r: (r["run"]["experiment"], r["run"]["seed"])):
        for row in run["results"]:
            values = [row[group][key]["mean"] for group, key, _ in KEYS]
            by_guidance.setdefault((run["run"]["experiment"], row["guidance"]), []).append(values)
            lines.append(f"| {run['run']['experiment']} | {run['run']['seed']} | {steps_reached(run['run']['run_dir'])} | "
                         f"{row['guidance']:g} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    for (experiment, guidance), rows in sorted(by_guidance.items()):
        cols = list(zip(*rows))
        sd = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols]
        lines.append(f"| **{experiment}** | mean ± sd (n={len(rows)}) | | {guidance:g} | "
                     + " | ".join(f"**{statistics.mean(c):.3f}** ± {s:.3f}" for c, s in zip(cols, sd)) + " |")
    text = "# budget=cpu: 20 CPU core-minutes per run\n\n" + "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
