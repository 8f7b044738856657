"""Report of experiments/recipe/guidance/run.sh: results/*.json (raphael.evaluate) -> results.md, results.json, plots.

Each JSON is one sampler setting on one prompt set, named `<lever>__<setting>.json` (tuning prompts) or
`report__<setting>.json` (the reported prompts). One table per lever: per guidance weight, alignment over
all prompts (regular + held-out), the held-out compositions alone, the all-attributes-right rate and FID.

    python experiments/recipe/guidance/report.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from raphael.metrics.report import plot_guidance_curves

HERE = Path(__file__).resolve().parent
LEVERS = {
    "base": "today's sampler (x0 clipped to [-1, 1], plain guidance of the x0 prediction, DDIM eta 1, 25 steps)",
    "a": "(a) which prediction is guided: rescale measured in the x0 / eps / v prediction (plain guidance is "
         "the same in all three, tests/test_guidance_rule.py)",
    "b": "(b) clipping of the predicted x0: none, static, dynamic thresholding; noise re-derived from the clipped x0",
    "c": "(c) guidance rescale phi (Lin et al. 2024)",
    "d": "(d) guidance only for t in an interval (Kynkaanniemi et al. 2024)",
    "e": "(e) DDIM eta and steps under guidance",
    "f": "(f) caption-drop rate in training (one extra main-job run)",
    "best": "the levers combined",
    "report": "the reported prompts (prompt_seed 0), read once",
}


def row_of(r: dict) -> dict:
    a, hold = r["alignment"], r.get("alignment_holdout") or {}
    return {"guidance": r["guidance"], "alignment": a["overall"]["mean"], "ci": a["overall"]["ci_half"],
            "held_out": hold.get("overall", {}).get("mean"), "all_right": a["all_right"]["mean"],
            "clean": a["clean"]["mean"], "fid": r["fid"]}


def load(folder: Path) -> dict[str, dict[str, dict]]:
    """lever -> setting -> {settings, rows}"""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for path in sorted(folder.glob("*.json")):
        lever, _, setting = path.stem.partition("__")
        run = json.loads(path.read_text())
        out[lever][setting] = {"settings": run["settings"], "rows": [row_of(r) for r in run["results"]]}
    return out


def cell(r: dict) -> str:
    fid = "n/a" if r["fid"] is None else f"{r['fid']:.0f}" if r["fid"] >= 100 else f"{r['fid']:.1f}"
    return f"{r['alignment']:.3f} ({r['held_out']:.3f}) / {r['all_right']:.2f} / {fid}"


def lever_table(settings: dict[str, dict]) -> list[str]:
    weights = sorted({r["guidance"] for s in settings.values() for r in s["rows"]})
    lines = ["| setting | best w | " + " | ".join(f"w {w:g}" for w in weights) + " |",
             "|---|---|" + "---|" * len(weights)]
    for name, s in settings.items():
        by_w = {r["guidance"]: r for r in s["rows"]}
        best = max(s["rows"], key=lambda r: r["alignment"])
        cells = [f"**{cell(by_w[w])}**" if by_w.get(w) is best else cell(by_w[w]) if w in by_w else "" for w in weights]
        lines.append(f"| {name} | {best['guidance']:g} | " + " | ".join(cells) + " |")
    return lines


def main() -> str:
    data = load(HERE / "results")
    text = ["# Guidance levers (issue 28)", "",
            "Written by `python experiments/recipe/guidance/report.py` from `results/*.json` (`experiments/recipe/guidance/run.sh`).",
            "Cell: alignment over all prompts (held-out compositions alone) / all-attributes-right rate / FID; "
            "bold: the setting's best guidance weight. Tuning prompts (prompt_seed 1, 64 + 64 held-out) unless "
            "the table says otherwise.", ""]
    summary = {}
    for lever in [k for k in LEVERS if k in data] + sorted(set(data) - set(LEVERS)):
        text += [f"## {lever}: {LEVERS.get(lever, lever)}", "", *lever_table(data[lever]), ""]
        curves = {name: {"guidance": [r["guidance"] for r in s["rows"]],
                         "alignment": [r["alignment"] for r in s["rows"]],
                         "alignment_err": [r["ci"] for r in s["rows"]],
                         "all_right": [r["all_right"] for r in s["rows"]],
                         "fid": [r["fid"] for r in s["rows"]]} for name, s in data[lever].items()}
        plot_guidance_curves(curves, HERE / f"lever_{lever}.png", title=f"lever {lever}: {LEVERS.get(lever, '')}"[:110])
        summary[lever] = data[lever]
    (HERE / "results.md").write_text("\n".join(text))
    (HERE / "results.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(text))
    return "\n".join(text)


if __name__ == "__main__":
    main()
