"""Sweep reports: collect evaluation JSON files into a table (pandas), a Markdown summary and plots.

Every experiments/<figure>/report.py is a thin call into these helpers."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd


def load_results(folder: str | Path, pattern: str = "*.json") -> list[dict]:
    """Every evaluation JSON (raphael.evaluate's metrics.json) under ``folder``."""
    files = sorted(Path(folder).glob(pattern))
    return [json.loads(f.read_text()) | {"_file": str(f)} for f in files]


def steps_reached(run_dir: str | Path) -> int | None:
    """Training steps a run reached (its csv/metrics.csv), None without the file: a time-bounded run
    (trainer.max_time) reports how far it got."""
    path = Path(run_dir) / "csv" / "metrics.csv"
    if not path.is_file():
        return None
    with open(path) as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r.get("step")]
    return max(steps) + 1 if steps else None


def to_frame(runs: Sequence[dict], columns: dict[str, Callable[[dict], object]] | None = None) -> pd.DataFrame:
    """One row per (run, guidance weight). ``columns``: extra name -> function(run JSON) (sweep axes)."""
    return pd.DataFrame([{
        "label": run["label"],
        "seed": run.get("run", {}).get("seed"),
        **extra,
        "guidance": r["guidance"],
        "fid": r["fid"] if r["fid"] is not None else math.nan,
        "alignment": r["alignment"]["overall"]["mean"],
        "alignment_ci": r["alignment"]["overall"]["ci_half"],
        "alignment_regular": (r.get("alignment_regular") or {}).get("overall", {}).get("mean", math.nan),
        "alignment_holdout": (r.get("alignment_holdout") or {}).get("overall", {}).get("mean", math.nan),
        **{f"align_{a}": r["alignment"][a]["mean"] for a in ("color", "shape", "size", "position", "fill")},
        "samples_per_s": r["samples_per_s"],
    } for run in runs for extra in [{name: fn(run) for name, fn in (columns or {}).items()}]
        for r in run["results"]])


def seed_summary(df: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Mean and spread over seeds: for each value, `<value>` (mean), `<value>_sd` (std over seeds; NaN
    for one seed) and `n_seeds`."""
    g = df.groupby(list(keys), sort=False)
    out = pd.concat([g[list(values)].mean(), g[list(values)].std(ddof=1).add_suffix("_sd")], axis=1)
    out["n_seeds"] = g["seed"].nunique()
    return out.reset_index()


def fmt(mean: float, sd: float | None = None, digits: int = 3) -> str:
    """`mean ± sd`; `n/a` for a missing mean, the mean alone for a missing sd (None or NaN: pd.isna)."""
    if pd.isna(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if sd is None or pd.isna(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def markdown_table(summary: pd.DataFrame, keys: Sequence[str], values: Sequence[str],
                   digits: dict[str, int] | None = None) -> str:
    """Markdown table: the keys, then each value as `mean ± sd` (sd over seeds)."""
    digits = digits or {}
    header = [*keys, *values, "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [str(row[k]) for k in keys]
        cells += [fmt(row[v], row.get(f"{v}_sd"), digits.get(v, 3)) for v in values]
        cells.append(str(int(row["n_seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_tradeoff(curves: dict[str, dict], path: str | Path, title: str = "FID vs alignment") -> Path:
    """One curve per model: x = alignment (higher is better), y = FID (lower is better); points labelled
    by guidance weight; error bars from `alignment_err` / `fid_err` when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for label, c in curves.items():
        ax.errorbar(c["alignment"], c["fid"], xerr=c.get("alignment_err"), yerr=c.get("fid_err"),
                    marker="o", capsize=3, label=label)
        for x, y, w in zip(c["alignment"], c["fid"], c["guidance"]):
            ax.annotate(f"{w:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("oracle alignment (fraction of prompted attributes present) →")
    ax.set_ylabel("FID (shapes feature CNN) ↓")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_guidance_curves(curves: dict[str, dict], path: str | Path, title: str = "guidance trade-off") -> Path:
    """The guidance trade-off, one line per curve against the guidance weight: alignment (error bars from
    `alignment_err`), all-attributes-right rate (`all_right`, where given) and FID (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("alignment", "oracle alignment ↑", False), ("all_right", "all attributes right ↑", False),
              ("fid", "FID (shapes feature CNN) ↓", True)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (key, name, log) in zip(axes, panels):
        for label, c in curves.items():
            if c.get(key) is not None:
                ax.errorbar(c["guidance"], c[key], yerr=c.get(f"{key}_err"), marker="o", capsize=3, label=label)
        ax.set_xlabel("guidance weight")
        ax.set_ylabel(name)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves_from_summary(summary: pd.DataFrame, by: str) -> dict[str, dict]:
    """Per value of ``by``: the guidance curve of means, seed-std as error bars."""
    parts = ((str(name), part.sort_values("guidance")) for name, part in summary.groupby(by, sort=False))
    return {name: {
        "guidance": part["guidance"].tolist(),
        "fid": part["fid"].tolist(),
        "alignment": part["alignment"].tolist(),
        "fid_err": part["fid_sd"].fillna(0).tolist() if "fid_sd" in part else None,
        "alignment_err": part["alignment_sd"].fillna(0).tolist() if "alignment_sd" in part else None,
    } for name, part in parts}


VALUES = ("alignment", "alignment_regular", "alignment_holdout", "fid", "samples_per_s")
DIGITS = {"fid": 2, "samples_per_s": 2}


def figure_report(runs: Sequence[dict], by: str, title: str, out_md: str | Path, out_png: str | Path,
                  notes: str = "", order: Sequence[str] | None = None) -> str:
    """The standard sweep report: a Markdown file with (1) the summary per ``by`` value averaged over the
    guidance weights' best point and (2) the full table per (``by``, guidance), mean ± sd over seeds; and
    the FID-vs-alignment plot, one curve per ``by`` value. Returns the Markdown."""
    if not runs:
        raise SystemExit(f"no evaluation JSON found for {title!r}: run the driver (run.sh) first")
    df = to_frame(runs)
    if order is not None:
        rank = {str(k): i for i, k in enumerate(order)}
        df = df.sort_values(by=[by, "guidance"], key=lambda s: s.map(lambda v: rank.get(str(v), len(rank)))
                            if s.name == by else s, kind="stable")
    summary = seed_summary(df, [by, "guidance"], VALUES)
    # per run: its best-alignment guidance weight, then mean/sd of that over seeds
    best = df.loc[df.groupby([by, "seed"], sort=False)["alignment"].idxmax()]
    best_summary = seed_summary(best, [by], [*VALUES, "guidance"])
    plot_tradeoff(curves_from_summary(summary, by), out_png, title=title)
    seeds = sorted(df["seed"].dropna().unique().tolist())
    md = [f"# {title}", "", notes.strip(), "",
          f"Runs: {df.groupby(by, sort=False)['seed'].nunique().to_dict()} (seeds {seeds}); "
          "± is the standard deviation over training seeds (blank when one seed).", "",
          "## Best guidance weight per run (by alignment), averaged over seeds", "",
          markdown_table(best_summary, [by], [*VALUES, "guidance"], DIGITS), "",
          "## Every guidance weight", "",
          markdown_table(summary, [by, "guidance"], VALUES, DIGITS), "",
          f"![FID vs alignment]({Path(out_png).name})", ""]
    text = "\n".join(md)
    Path(out_md).write_text(text)
    return text
