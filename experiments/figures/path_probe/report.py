"""Turn the probe runs under results/<words>/probe.json into results.md (a table plus the commands)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAPER = {"adjectives": "> 93%", "verbs": "97.5%", "coco": "94.3%", "shapes": "-"}


def row(name: str, fig: dict) -> str:
    t, u = fig["trained"], fig.get("untrained")
    control = f"{u['accuracy_mean']:.1%} ± {u['accuracy_std']:.1%}" if u else "-"
    control_paths = str(u["distinct_paths"]) if u else "-"
    return (f"| {name} | {fig['mode']} | {t['num_words']} | {t['num_rows']} "
            f"| **{t['accuracy_mean']:.1%} ± {t['accuracy_std']:.1%}** | {t['chance_uniform']:.1%} "
            f"| {t['chance_majority']:.1%} | {control} | {t['distinct_paths']} / {control_paths} "
            f"| {t['distinct_word_paths']} | {t['words_sharing_a_path']} | {t['mean_paths_per_word']:.2f} "
            f"| {PAPER.get(fig['words'], '-')} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", default="experiments/figures/path_probe/results")
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--out", default="experiments/figures/path_probe/results.md")
    parser.add_argument("--notes", default="", help="a markdown file appended as the discussion")
    args = parser.parse_args()
    runs = sorted(Path(args.results).glob("*/probe.json"))
    if not runs:
        raise SystemExit(f"no probe.json under {args.results}: run experiments/figures/path_probe/run.sh first")
    figures = {p.parent.name: json.loads(p.read_text()) for p in runs}
    layers = next(iter(figures.values()))["trained"]["layers"]
    lines = [
        "# Path probe: can XGBoost name a word from its diffusion path?",
        "",
        f"Checkpoint: `{args.ckpt}`. Paths have {len(layers)} entries (space-MoE layers {', '.join(layers)}), "
        f"{next(iter(figures.values()))['trained']['num_experts']} experts each. Stratified 5-fold CV, seed 0, "
        "one prompt per (word, template), first sub-word. Control: the same probe on an untrained model "
        "built from the checkpoint's hparams under the same seed.",
        "",
        "| list | mode | words | prompts | CV accuracy (trained) | chance 1/K | majority | untrained control "
        "| distinct paths (trained / untrained) | distinct word paths | words sharing a path | paths per word | paper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[row(name, fig) for name, fig in figures.items()],
        "",
        "Columns: *distinct word paths* counts each word's most frequent path; *words sharing a path* are words "
        "whose most frequent path is also another word's; *paths per word* is the mean number of distinct paths "
        "one word takes over its templates. Per-run files: `results/<words>/probe.json`, `paths_trained.csv`, "
        "`confusion_trained.png`, `paths_trained.png` (and `_untrained`).",
        "",
        "## Commands",
        "",
        "```",
        f"experiments/figures/path_probe/run.sh {args.ckpt}",
        *[f"python -m raphael.probe ckpt={args.ckpt} words={fig['words']} mode={fig['mode']} seed={fig['seed']}"
          f"{' steps=' + str(fig['steps']) if fig['mode'] == 'sampling' else ''}"
          f"{'' if 'untrained' in fig else ' control=false'}" for fig in figures.values()],
        f"python experiments/figures/path_probe/report.py --ckpt {args.ckpt}",
        "```",
    ]
    if args.notes:
        lines += ["", Path(args.notes).read_text().rstrip()]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
