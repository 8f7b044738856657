"""Report of a budget_arms.sh experiment: <folder>/results/<arm>/*.json (raphael.evaluate, one per seed) ->
<folder>/results.md and results.png: the corrected alignment on the 64 evaluation prompts and the 64 held-out compositions per
arm, seed and guidance, with the steps each run reached in its 19 minutes, beside the budget=cpu reference
runs (experiments/recipe/budget_cpu/results: experiment=raphael, lr 1e-3, no decay, EMA 0.998).

    python experiments/recipe/budget_arms_report.py experiments/<folder> "<title>" [<reference results folder>]

The reference defaults to experiments/recipe/budget_cpu/results; a later folder names its own (e.g. the committed
budget=cpu recipe's runs) as the third argument.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from raphael.metrics.report import steps_reached

BASELINE = Path(__file__).resolve().parent / "budget_cpu" / "results"
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


def plot(folder: Path, groups: dict[str, list[Path]], guidance: float = 1.0) -> Path:
    """results.png: each run's alignment at `guidance` (64 evaluation prompts, 95% CI) and its held-out score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, means, cis, held = [], [], [], []
    for arm, files in groups.items():
        for path in sorted(files):
            run = json.loads(path.read_text())
            row = next(r for r in run["results"] if r["guidance"] == guidance)
            labels.append(f"{arm} s{run['run']['seed']}")
            means.append(row["alignment_regular"]["overall"]["mean"])
            cis.append(row["alignment_regular"]["overall"]["ci_half"])
            held.append(row["alignment_holdout"]["overall"]["mean"])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    y = range(len(labels))
    ax.barh(y, means, xerr=cis, color="#7a9cc6", label="64 evaluation prompts (95% CI)")
    ax.scatter(held, y, color="#c0504d", zorder=3, label="64 held-out compositions")
    ax.axvline(0.8, color="k", ls="--", lw=1, label="issue 11 bar (0.8)")
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"corrected alignment, guidance {guidance:g}, 25 DDIM steps")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = folder / "results.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(folder: Path, title: str, reference: Path | None = None) -> str:
    lines = ["| arm | seed | steps | guidance | " + " | ".join(k[2] for k in KEYS) + " |", "|" + "---|" * (4 + len(KEYS))]
    if reference is None:
        groups = {"reference: constant_1e-3 (budget_cpu)": list(BASELINE.glob("*.json"))}
    else:
        groups = {f"reference: {reference.parent.parent.name}/{reference.name}": list(reference.glob("*.json"))}
    groups |= {arm.name: list(arm.glob("*.json")) for arm in sorted(p for p in (folder / "results").iterdir() if p.is_dir())}
    for arm, files in groups.items():
        lines += rows(arm, files)
    plot(folder, groups)
    text = (f"# {title}\n\nalignment: mean ± 95% CI half-width over the 64 evaluation prompts (25 DDIM steps).\n\n"
            + "\n".join(lines) + "\n")
    (folder / "results.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]) if len(sys.argv) > 3 else None)
