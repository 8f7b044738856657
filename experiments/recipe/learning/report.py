"""Learning-curve report: results/<tag>/*.json (raphael.evaluate) + core_seconds.csv -> results_<tag>.md
(table) and curve_<tag>.png (alignment and held-out alignment against CPU core-seconds, before vs after).

    python experiments/recipe/learning/report.py --tag 20min
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
COLUMNS = ["overall", "count_right", "all_right", "clean", "lenient"]


def load(tag: str) -> list[dict]:
    folder = HERE / "results" / tag
    seconds = {}
    with open(folder / "core_seconds.csv") as f:
        for name, ckpt, core_s in csv.reader(f):
            seconds[f"{name}_{ckpt}"] = int(core_s)
    rows = []
    for path in sorted(folder.glob("*.json")):
        name, _, ckpt = path.stem.partition("_")
        for result in json.loads(path.read_text())["results"]:
            row = {"run": name, "checkpoint": ckpt, "core_s": seconds[path.stem], "guidance": result["guidance"]}
            for split, key in (("val", "alignment_regular"), ("holdout", "alignment_holdout")):
                for col in COLUMNS:
                    row[f"{split}/{col}"] = result[key][col]["mean"]
                row[f"{split}/ci"] = result[key]["overall"]["ci_half"]
            rows.append(row)
    return sorted(rows, key=lambda r: (r["guidance"], r["run"] != "before", r["core_s"]))


def table(rows: list[dict]) -> str:
    head = ["guidance", "run", "checkpoint", "core-s", "alignment (64 val)", "held-out (64)", "count right", "all right",
            "clean", "lenient (old metric)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            f"| {r['guidance']:g} | {r['run']} | {r['checkpoint']} | {r['core_s']} | {r['val/overall']:.3f} ± {r['val/ci']:.3f} | "
            f"{r['holdout/overall']:.3f} ± {r['holdout/ci']:.3f} | {r['val/count_right']:.2f} | "
            f"{r['val/all_right']:.2f} | {r['val/clean']:.2f} | {r['val/lenient']:.3f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, split in zip(axes, ("val", "holdout")):
        for guidance in sorted({r["guidance"] for r in rows}):
            for run, style in (("before", "o--"), ("after", "s-")):
                pts = [r for r in rows if r["run"] == run and r["guidance"] == guidance]
                ax.plot([r["core_s"] for r in pts], [r[f"{split}/overall"] for r in pts], style,
                        label=f"{run}, guidance {guidance:g}")
        ax.set_xlabel("CPU core-seconds of training")
        ax.set_title("64 validation prompts" if split == "val" else "64 held-out compositions")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("oracle alignment (corrected)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="20min")
    args = parser.parse_args(argv)
    rows = load(args.tag)
    text = f"# Learning curve ({args.tag})\n\n{table(rows)}\n"
    (HERE / f"results_{args.tag}.md").write_text(text)
    plot(rows, HERE / f"curve_{args.tag}.png")
    print(text)
    return text


if __name__ == "__main__":
    main()
