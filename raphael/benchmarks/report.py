"""Render a bench JSON record as Markdown: `python -m raphael.benchmarks.report results.json [out.md]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and v and isinstance(v[0], float):
        return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
    return str(v)


def render(record: dict) -> str:
    m = record["machine"]
    lines = [f"Command: `{record['command']}` (quick={record['quick']}), started {record['started']}.", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['torch_threads']} thread(s), "
             f"CUDA: {m['cuda']}{' (' + m['gpu'] + ')' if m.get('gpu') else ''}; load average at start "
             f"{m['loadavg']}, at end {record.get('loadavg_end')}.", "",
             "| benchmark | device | target figure | measured | target | met |", "|---|---|---|---|---|---|"]
    for r in record["results"]:
        for k, t in r["targets"].items():
            lines.append(f"| {r['name']} | {r['device']} | {k} | {t['value']:.4g} | {t['target']} | "
                         f"{'yes' if t['met'] else 'no'} |")
    for r in record["results"]:
        lines += ["", f"### {r['name']} ({r['device']}, load {r['loadavg']}, {r.get('wall_s', '?')} s)", ""]
        for k, v in r["figures"].items():
            if isinstance(v, dict):
                v = ", ".join(f"{a}={_fmt(b)}" for a, b in v.items())
            lines.append(f"- {k}: {_fmt(v)}")
        lines += [f"- note: {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = render(json.loads(Path(sys.argv[1]).read_text()))
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(text)
    else:
        print(text)
