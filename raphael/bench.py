"""Benchmarks: `python -m raphael.bench [--quick] [--out PATH] [--only NAME[,NAME]] [--threads N]`.

Runs each benchmark of raphael.benchmarks on the CPU (and on CUDA when present), prints a Rich
table of the figures against their targets and writes one JSON file with the machine it ran on.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import torch

from raphael.benchmarks import BENCHMARKS
from raphael.benchmarks.report import render
from raphael.benchmarks.timing import loadavg, machine


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m raphael.bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small shapes and few repeats (a smoke run)")
    p.add_argument("--out", default="experiments/speed/bench/results.json", help="JSON output path")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {list(BENCHMARKS)}")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared, loaded 2-core machine a second intra-op "
                        "thread waits behind other tenants and makes CPU timings erratic)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: every available device)")
    return p.parse_args(argv)


def table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="raphael.bench")
    for col in ("benchmark", "device", "figure", "value", "target", "met"):
        t.add_column(col)
    for r in results:
        for key, tg in r["targets"].items():
            t.add_row(r["name"], r["device"], key, f"{tg['value']:.4g}", tg["target"],
                      "[green]yes[/green]" if tg["met"] else "[red]no[/red]")
        if not r["targets"]:  # headline rates of the benchmarks without a target
            for key, v in r["figures"].items():
                if "per_s" in key or key.startswith("mfu"):
                    t.add_row(r["name"], r["device"], key, f"{v:.4g}", "-", "-")
    Console().print(t)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"error: --only {unknown} unknown; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"error: --threads {args.threads} is not valid: an integer >= 1", file=sys.stderr)
        return 2
    if args.device is not None and not (args.device == "cpu" or args.device.startswith("cuda")):
        print(f"error: --device {args.device!r} is not valid: cpu, cuda or cuda:N", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    devs = [args.device] if args.device else ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    record = {"command": " ".join(["python -m raphael.bench", *(argv if argv is not None else sys.argv[1:])]),
              "quick": args.quick, "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "results": []}
    for name in names:
        mod = importlib.import_module(f"raphael.benchmarks.{name}")
        for dev in devs:
            t0 = time.perf_counter()
            print(f"[bench] {name} on {dev} ...", flush=True)
            for res in mod.run(dev, quick=args.quick):
                record["results"].append({**res.to_dict(), "wall_s": round(time.perf_counter() - t0, 1)})
    record["loadavg_end"] = loadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    out.with_suffix(".md").write_text(render(record))
    table(record["results"])
    print(f"[bench] wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
