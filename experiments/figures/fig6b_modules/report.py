"""Fig. 6b report: results/<budget>/*.json -> results_<budget>.md (tables) + tradeoff_<budget>.png.

    python experiments/figures/fig6b_modules/report.py --budget small
"""

from __future__ import annotations

import argparse
from pathlib import Path

from raphael.metrics.report import figure_report, load_results

HERE = Path(__file__).resolve().parent
ORDER = ["baseline", "space_moe", "time_moe", "edge", "raphael"]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="small")
    parser.add_argument("--results", type=Path, default=None, help="folder of evaluation JSON files")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    results = args.results or HERE / "results" / args.budget
    runs = load_results(results)
    settings = runs[0]["settings"] if runs else {}
    notes = (
        f"Budget `{args.budget}`; driver `experiments/figures/fig6b_modules/run.sh`. Evaluation: "
        f"{settings.get('num_prompts')} training-distribution prompts + {settings.get('num_holdout')} held-out "
        f"compositions, DDIM {settings.get('steps')} steps, guidance {settings.get('guidance')}, FID with the "
        f"{settings.get('fid_feature')} features against {settings.get('fid_num_real')} rendered images. "
        "alignment = oracle fraction of prompted attributes present (all prompts); alignment_regular / "
        "alignment_holdout split by prompt set."
    )
    text = figure_report(runs, by="label", title=f"Fig. 6b: modules ablation ({args.budget} budget)",
                         out_md=args.out / f"results_{args.budget}.md",
                         out_png=args.out / f"tradeoff_{args.budget}.png", notes=notes, order=ORDER)
    print(text)
    return text


if __name__ == "__main__":
    main()
