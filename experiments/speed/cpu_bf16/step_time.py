"""bf16 autocast against fp32 on the CPU (issue 24, part 6): the default training step, side by side.

    python experiments/speed/cpu_bf16/step_time.py [--batch 32] [--repeats 15] [--channels 32 64]

One thread, the two precisions interleaved step by step (the machine's drift hits both); medians and the ratio.
Writes experiments/speed/cpu_bf16/step_time.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from raphael.benchmarks.timing import interleaved, machine, median  # noqa: E402
from raphael.benchmarks.training import default_module, synthetic_batch, train_step_fn  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    args = p.parse_args()
    torch.set_num_threads(1)
    batch = synthetic_batch(args.batch)
    record = {"command": " ".join(sys.argv), "machine": machine(), "batch": args.batch, "widths": {}}
    for ch in args.channels:
        steps = {prec: train_step_fn(default_module(channels=ch), batch, prec) for prec in ("32", "bf16")}
        ts = interleaved(steps, repeats=args.repeats, warmup=2)
        rec = {f"s_per_step/{k}": round(median(v), 4) for k, v in ts.items()}
        rec["ratio_bf16_over_fp32"] = round(median([b / a for a, b in zip(ts["32"], ts["bf16"])]), 3)
        record["widths"][ch] = rec
        print(f"channels {ch}: {rec}", flush=True)
    out = Path(__file__).with_name("step_time.json")
    out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
