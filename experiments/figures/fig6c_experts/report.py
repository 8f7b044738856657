"""Fig. 6c report: results/<budget>/*.json -> results_<budget>.md, tradeoff_<budget>.png and
speed_<budget>.png (alignment and samples/s vs number of space experts).

    python experiments/figures/fig6c_experts/report.py --budget small
"""

from __future__ import annotations

import argparse
from pathlib import Path

from raphael.metrics.report import figure_report, load_results, to_frame

HERE = Path(__file__).resolve().parent


def num_experts(run: dict) -> int:
    moe = run["model"]["space_moe"]
    return int(moe["num_experts"]) if moe["enabled"] else 0


def speed_plot(runs: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = to_frame(runs, {"experts": num_experts})
    per = df.groupby("experts").agg(alignment=("alignment", "max"), samples_per_s=("samples_per_s", "mean"))
    base = per["samples_per_s"].get(0)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    ax[0].plot(per.index, per["alignment"], marker="o")
    ax[0].set_xlabel("space experts (0 = space-MoE off)")
    ax[0].set_ylabel("best alignment over guidance")
    ax[1].plot(per.index, per["samples_per_s"], marker="o")
    ax[1].set_xlabel("space experts (0 = space-MoE off)")
    ax[1].set_ylabel("samples / s (sampling, CFG)")
    if base:
        for x, y in zip(per.index, per["samples_per_s"]):
            ax[1].annotate(f"{100 * (base / y - 1):+.0f}% time", (x, y), textcoords="offset points",
                           xytext=(3, 4), fontsize=7)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="small")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    runs = load_results(args.results or HERE / "results" / args.budget)
    for run in runs:
        run["label"] = f"experts={num_experts(run)}"
    title = f"Fig. 6c: number of space experts ({args.budget} budget)"
    text = figure_report(
        runs, by="label", title=title, out_md=args.out / f"results_{args.budget}.md",
        out_png=args.out / f"tradeoff_{args.budget}.png",
        notes="Driver `experiments/figures/fig6c_experts/run.sh`; full RAPHAEL model, model.space_moe.num_experts swept, "
              "0 = model.space_moe.enabled=false. samples_per_s = generated images per second of DDIM sampling "
              "with classifier-free guidance (two network passes per step), on the machine of the run.",
        order=[f"experts={n}" for n in sorted({num_experts(r) for r in runs})])
    if runs:
        speed_plot(runs, args.out / f"speed_{args.budget}.png", title)
        text += f"\n![alignment and speed vs experts](speed_{args.budget}.png)\n"
        (args.out / f"results_{args.budget}.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
