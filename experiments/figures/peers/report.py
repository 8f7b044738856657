"""Table and trade-off plot of the peer-design runs (reads experiments/figures/peers/results/*.json).

    /work/main/.venv/bin/python experiments/figures/peers/report.py

Writes experiments/figures/peers/results/table.md and experiments/figures/peers/results/tradeoff.png. Numbers over seeds
are mean (and the spread min..max when there are several seeds); the seed count is in every row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ORDER = ["base", "baseline", "ediffi", "baseline_scratch", "ernie_mode", "ernie_knowledge", "sd_unet", "raphael"]
DESCR = {
    "base": "baseline trunk, S steps (what eDiff-I branches from)",
    "baseline": "baseline: trunk + M steps (samples-seen-matched control)",
    "ediffi": "eDiff-I: 2 whole-denoiser experts (equal noise mass) branched from the trunk + M steps",
    "baseline_scratch": "baseline (plain FFN blocks), S + M steps from scratch: the reference of the from-scratch rows",
    "ernie_mode": "ERNIE-ViLG 2.0 MoDE: fixed_uniform n=4 per-block FFN experts, from scratch",
    "ernie_knowledge": "ERNIE-ViLG 2.0 knowledge: region loss w_l=0.1 + key-word emphasis w_a=0.01, p=0.5",
    "sd_unet": "diffusers UNet2DConditionModel, width matched to RAPHAEL's params",
    "raphael": "RAPHAEL: space-MoE + learned time-MoE + edge loss",
}


def load() -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(RESULTS.glob("*_s*.json")):
        if path.name.endswith(".eval.json"):
            continue
        rec = json.loads(path.read_text())
        ev = path.with_name(path.stem + ".eval.json")
        rec["eval"] = json.loads(ev.read_text()) if ev.is_file() else None
        runs[rec["name"]].append(rec)
    return runs


def spread(values: list[float], fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def eval_rows(rec: dict) -> dict[float, dict]:
    return {r["guidance"]: r for r in (rec["eval"] or {}).get("results", [])}


def main() -> None:
    runs = load()
    names = [n for n in ORDER if n in runs] + sorted(set(runs) - set(ORDER))
    guidances = sorted({g for recs in runs.values() for r in recs for g in eval_rows(r)})
    head = ["design", "seeds (train / eval)", "steps (from scratch / after branch)", "samples seen", "params", "val/denoise",
            "train s"]
    for g in guidances:
        head += [f"align w={g:g}", f"held-out w={g:g}", f"FID w={g:g}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        recs = runs[n]
        r0 = recs[0]
        seen = r0["steps"] * r0["batch_size"] + (r0["batch_size"] * runs["base"][0]["steps"]
                                                 if n in ("baseline", "ediffi") and "base" in runs else 0)
        steps = f"{r0['steps']} after branch" if n in ("baseline", "ediffi") else f"{r0['steps']}"
        n_eval = sum(1 for r in recs if r["eval"])
        row = [n, f"{len(recs)} / {n_eval}", steps, str(seen), f"{r0['params']:,}",
               spread([r["val"].get("val/denoise") for r in recs], ".4f"),
               spread([r["train_wall_s"] for r in recs], ".0f")]
        for g in guidances:
            evs = [eval_rows(r).get(g) for r in recs]
            evs = [e for e in evs if e]
            ci = f" ± {evs[0]['alignment']['overall']['ci_half']:.3f}" if len(evs) == 1 else ""
            row += [spread([e["alignment"]["overall"]["mean"] for e in evs], ".3f") + ci,
                    spread([e["alignment_holdout"]["overall"]["mean"] for e in evs if e.get("alignment_holdout")],
                           ".3f"),
                    spread([e["fid"] for e in evs], ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    # paired differences of val/denoise, seed by seed, against the matching control
    def by_seed(name):
        return {r["seed"]: r["val"].get("val/denoise") for r in runs.get(name, [])}

    pairs = [("ediffi", "baseline")] + [(n, "baseline_scratch") for n in
                                         ("ernie_mode", "ernie_knowledge", "sd_unet", "raphael")]
    lines += ["", "Paired val/denoise difference to the control, per seed (negative = lower loss than the control):",
              "", "| design | control | " + " | ".join(f"seed {s}" for s in sorted({r['seed'] for recs in
                                                                                 runs.values() for r in recs}))
              + " |", "|---|---|" + "---|" * len({r["seed"] for recs in runs.values() for r in recs})]
    seeds_all = sorted({r["seed"] for recs in runs.values() for r in recs})
    for a, b in pairs:
        da, db = by_seed(a), by_seed(b)
        if not da or not db:
            continue
        cells = [f"{da[s] - db[s]:+.5f} ({100 * (da[s] - db[s]) / db[s]:+.1f}%)" if s in da and s in db else "-"
                 for s in seeds_all]
        lines.append(f"| {a} | {b} | " + " | ".join(cells) + " |")
    lines += ["", "Alignment: oracle score over 32 regular + 16 held-out prompts (± = 95% CI half-width over prompts "
              "when one seed); alignment and FID come from the evaluated seeds only (second column). FID: shapes feature CNN against 256 rendered images (small-sample FID: large "
              "and biased; compare rows, not to other tables).", "", "Designs:"] + [f"- `{n}`: {DESCR.get(n, n)}" for n in names]
    (RESULTS / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = {n: f"C{i}" for i, n in enumerate(names)}  # one colour per design in both panels
    ax = axes[0]
    for n in names:
        pts = defaultdict(list)
        for r in runs[n]:
            for g, e in eval_rows(r).items():
                pts[g].append((e["fid"], e["alignment"]["overall"]["mean"]))
        if not pts:
            continue
        gs = sorted(pts)
        xs = [sum(p[0] for p in pts[g]) / len(pts[g]) for g in gs]
        ys = [sum(p[1] for p in pts[g]) / len(pts[g]) for g in gs]
        ax.plot(xs, ys, "o-", label=n, color=colors[n])
        for g, x, y in zip(gs, xs, ys):
            ax.annotate(f"{g:g}", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("FID (shapes feature CNN, lower is better)")
    ax.set_ylabel("oracle alignment (higher is better)")
    ax.set_title("trade-off over guidance weight (labels = w)")
    ax.legend(fontsize=7)
    ax = axes[1]
    for n in names:
        xs = [r["params"] for r in runs[n]]
        ys = [r["val"].get("val/denoise") for r in runs[n]]
        ax.scatter(xs, ys, label=n, color=colors[n])
    ax.set_xscale("log")
    ax.set_xlabel("network parameters")
    ax.set_ylabel("val/denoise (fixed t and noise)")
    ax.set_title("denoising loss vs size")
    ax.legend(fontsize=7)
    seeds = sorted({r["seed"] for recs in runs.values() for r in recs})
    fig.suptitle(f"peer designs, equal samples seen, seeds {seeds}", fontsize=10)
    fig.tight_layout()
    fig.savefig(RESULTS / "tradeoff.png", dpi=120)
    print(f"wrote {RESULTS / 'table.md'} and {RESULTS / 'tradeoff.png'}")


if __name__ == "__main__":
    main()
