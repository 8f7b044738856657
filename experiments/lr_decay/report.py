"""lr_decay report: results/<arm>/*.json (raphael.evaluate, one per seed) -> results.md: the corrected
alignment on the 64 evaluation prompts and the 64 held-out compositions per arm, seed and guidance, with
the steps each run reached in its 19 minutes, beside the budget=cpu constant-rate runs
(experiments/budget_cpu/results, lr 1e-3, no decay) for reference.

    python experiments/lr_decay/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

from raphael.metrics.report import steps_reached

HERE = Path(__file__).resolve().parent
BASELINE = HERE.parent / "budget_cpu" / "results"
KEYS = [("alignment_regular", "overall", "alignment"), ("alignment_holdout", "overall", "held-out"),
        ("alignment_regular", "count_right", "count right"), ("alignment_regular", "all_right", "all right")]


def rows(arm: str, files: list[Path]) -> list[str]:
    out = []
    for path in sorted(files):
        run = json.loads(path.read_text())
        for row in run["results"]:
            values = [row[group][key]["mean"] for group, key, _ in KEYS]
            ci = row["alignment_regular"]["overall"]["ci_half"]
            out.append(f"| {arm} | {run['run']['seed']} | {steps_reached(run['run']['run_dir'])} | {row['guidance']:g} | "
                       f"{values[0]:.3f} ± {ci:.3f} | " + " | ".join(f"{v:.3f}" for v in values[1:]) + " |")
    return out


def main() -> str:
    lines = ["| arm | seed | steps | guidance | " + " | ".join(k[2] for k in KEYS) + " |", "|" + "---|" * (4 + len(KEYS))]
    lines += rows("constant_1e-3 (budget_cpu)", list(BASELINE.glob("*.json")))
    for arm in sorted(p for p in (HERE / "results").iterdir() if p.is_dir()):
        lines += rows(arm.name, list(arm.glob("*.json")))
    text = ("# Learning-rate schedule at budget=cpu (experiment=raphael, 20 core-minutes per run)\n\n"
            "alignment: mean ± 95% CI half-width over the 64 evaluation prompts (25 DDIM steps).\n\n"
            + "\n".join(lines) + "\n")
    (HERE / "results.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
