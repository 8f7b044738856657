"""model.dispatch.mode on the CPU: the default training step (batch 32, one thread) in exact, capacity and dense dispatch,
interleaved step by step. `python experiments/speed/dispatch_modes/step_time.py` -> step_time.json beside it."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from raphael.benchmarks.timing import interleaved, median  # noqa: E402
from raphael.benchmarks.training import default_module, synthetic_batch, train_step_fn  # noqa: E402

torch.set_num_threads(1)
batch = synthetic_batch(32)
steps = {m: train_step_fn(default_module(dispatch={"mode": m}), batch, "32") for m in ("exact", "capacity", "dense")}
ts = interleaved(steps, repeats=12, warmup=2)
rec = {f"s_per_step/{k}": round(median(v), 4) for k, v in ts.items()}
for m in ("capacity", "dense"):
    rec[f"ratio_{m}_over_exact"] = round(median([b / a for a, b in zip(ts["exact"], ts[m])]), 3)
print(json.dumps(rec))
Path(__file__).with_name("step_time.json").write_text(json.dumps(rec, indent=1))
