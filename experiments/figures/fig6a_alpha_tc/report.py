"""Fig. 6a report: results/<budget>/{alpha,t_c}/*.json -> results_<budget>_{alpha,t_c}.md + plots.

    python experiments/figures/fig6a_alpha_tc/report.py --budget small
"""

from __future__ import annotations

import argparse
from pathlib import Path

from raphael.metrics.report import figure_report, load_results

HERE = Path(__file__).resolve().parent
AXES = {"alpha": ("space_moe", "alpha"), "t_c": ("edge", "t_c")}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="small")
    parser.add_argument("--results", type=Path, default=None, help="folder holding alpha/ and t_c/")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    root = args.results or HERE / "results" / args.budget
    texts = []
    for axis, (part, field) in AXES.items():
        runs = load_results(root / axis)
        if not runs:
            print(f"[fig6a] no runs for {axis} under {root / axis}; skipped")
            continue
        for run in runs:  # the value the model was built with (from the checkpoint's config)
            run["label"] = f"{axis}={run['model'][part][field]}"
        texts.append(figure_report(
            runs, by="label", title=f"Fig. 6a: {axis} sweep, full RAPHAEL model ({args.budget} budget)",
            out_md=args.out / f"results_{args.budget}_{axis}.md", out_png=args.out / f"tradeoff_{args.budget}_{axis}.png",
            notes=f"Driver `experiments/figures/fig6a_alpha_tc/run.sh`; model.{part}.{field} swept, everything else the "
                  "RAPHAEL defaults (alpha 0.2, T_c 500).",
            order=sorted({r["label"] for r in runs}, key=lambda s: float(s.split("=")[1]))))
    print("\n\n".join(texts))
    return "\n\n".join(texts)


if __name__ == "__main__":
    main()
