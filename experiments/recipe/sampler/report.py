"""Report of experiments/recipe/sampler/run.sh: results/*.json (raphael.evaluate) -> results.md and results.png.

One row per checkpoint, prompt set, eta, DDIM steps and guidance weight (corrected alignment on the 64 prompts
with its 95% CI half-width, the 64 held-out compositions, objects counted right, every attribute right, clean
pixels), then the mean over budget=cpu's three seeds of each setting.

    python experiments/recipe/sampler/report.py
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGULAR_KEYS = ("count_right", "all_right", "clean")


def load() -> list[dict]:
    """One record per (json file, guidance row)."""
    out = []
    for path in sorted((HERE / "results").glob("*.json")):
        run = json.loads(path.read_text())
        prompts, ckpt, _ = path.stem.split("_", 2)  # tune|report, cpu|main, rest
        seed = path.stem.split("_")[2] if ckpt == "cpu" else "-"
        for row in run["results"]:
            out.append({
                "set": prompts, "ckpt": ckpt, "seed": seed, "eta": run["settings"]["eta"],
                "steps": run["settings"]["steps"], "guidance": row["guidance"],
                "alignment": row["alignment_regular"]["overall"]["mean"],
                "ci": row["alignment_regular"]["overall"]["ci_half"],
                **{key: row["alignment_regular"][key]["mean"] for key in REGULAR_KEYS},
                "held-out": row["alignment_holdout"]["overall"]["mean"],
            })
    return sorted(out, key=lambda r: (r["set"] != "tune", r["ckpt"], r["seed"], r["eta"], r["steps"], r["guidance"]))


def table(records: list[dict]) -> list[str]:
    lines = ["| prompts | checkpoint | eta | steps | guidance | alignment | held-out | count right | all right | clean |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        name = f"budget=cpu {r['seed']}" if r["ckpt"] == "cpu" else "main job (0074d30)"
        lines.append(f"| {r['set']} | {name} | {r['eta']:g} | {r['steps']} | {r['guidance']:g} | "
                     f"{r['alignment']:.3f} ± {r['ci']:.3f} | {r['held-out']:.3f} | {r['count_right']:.3f} | "
                     f"{r['all_right']:.3f} | {r['clean']:.4f} |")
    return lines


def seed_means(records: list[dict]) -> dict[tuple, list[dict]]:
    groups = defaultdict(list)
    for r in records:
        if r["ckpt"] == "cpu":
            groups[(r["set"], r["eta"], r["steps"], r["guidance"])].append(r)
    return groups


def plot(groups: dict[tuple, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(groups, key=lambda k: (k[0] != "tune", k[1], k[2], k[3]))
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, key in enumerate(keys):
        values = [r["alignment"] for r in groups[key]]
        ax.bar(i, statistics.mean(values), color="tab:blue" if key[0] == "tune" else "tab:orange", alpha=0.6)
        ax.plot([i] * len(values), values, "k.", ms=5)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{s}\neta {e:g}\n{n} st, g {g:g}" for s, e, n, g in keys], fontsize=7)
    ax.set_ylim(0.6, 0.9)
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("corrected alignment (64 prompts)")
    ax.set_title("budget=cpu's 3 checkpoints: sampler settings (blue: tuning prompts, orange: reported prompts)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    records = load()
    groups = seed_means(records)
    lines = ["# Sampler settings on trained checkpoints (issue 11)", "",
             "Written by `python experiments/recipe/sampler/report.py` from `results/*.json` (`bash experiments/recipe/sampler/run.sh`).",
             "Corrected alignment, mean ± 95% CI half-width over 64 prompts; `tune` = prompt_seed 1, `report` = prompt_seed 0.",
             "", "## Mean over budget=cpu's three seeds", "",
             "| prompts | eta | steps | guidance | alignment (seeds) | mean | held-out mean |", "|---|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda k: (k[0] != "tune", k[1], k[2], k[3])):
        rs = groups[key]
        values = [r["alignment"] for r in rs]
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | {key[3]:g} | {' / '.join(f'{v:.3f}' for v in values)} | "
                     f"{statistics.mean(values):.3f}{spread} | {statistics.mean(r['held-out'] for r in rs):.3f} |")
    lines += ["", "## Every evaluation", "", *table(records), ""]
    (HERE / "results.md").write_text("\n".join(lines))
    plot(groups, HERE / "results.png")
    print("\n".join(lines[:20]))


if __name__ == "__main__":
    main()
