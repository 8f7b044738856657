"""Benchmark 6: training images/s and sampling images/s of the default experiment.

Training: RaphaelModule.training_step + backward + AdamW at the default batch (64, 32x32, MiniLM
captions). Sampling: `module.generate` (DDIM, 25 steps, guidance 4.5, one CFG batch). FLOPs of one
training step by torch.utils.flop_counter.FlopCounterMode; on CUDA the bf16-autocast and
torch.compile variants and the model FLOPs utilisation (achieved FLOP/s over the GPU's dense bf16 peak).
"""

from __future__ import annotations

import torch

from raphael.benchmarks.common import count_flops
from raphael.benchmarks.timing import Result, interleaved, median
from raphael.benchmarks.training import default_module, synthetic_batch, train_step_fn

# dense bf16 peak FLOP/s (vendor datasheets, without sparsity)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    res = Result("end_to_end[default experiment]", device)
    B = 4 if quick else 64
    batch = synthetic_batch(B, device)
    variants = {"fp32": ("32", False)}
    if device == "cuda":
        variants.update({"bf16": ("bf16", False), "bf16+compile": ("bf16", True)})
    steps, modules = {}, {}
    for name, (precision, compiled) in variants.items():
        modules[name] = module = default_module().to(device)
        if compiled:
            module.net.compile()
        steps[name] = train_step_fn(module, batch, precision)
    flops = count_flops(steps["fp32"])
    ts = interleaved(steps, repeats=2 if quick else 5, warmup=2 if device == "cuda" else 1, device=device)
    res.times = {f"train/{k}": v for k, v in ts.items()}
    peak = peak_flops()
    for name in variants:
        s = median(ts[name])
        res.figures[f"train_images_per_s/{name}"] = B / s
        res.figures[f"train_step_s/{name}"] = s
        res.figures[f"achieved_tflops/{name}"] = flops / s / 1e12
        if peak:
            res.figures[f"mfu/{name}"] = flops / s / peak
    res.figures["train_batch"] = B
    res.figures["gflop_per_train_step"] = flops / 1e9

    n_img, n_steps = (2, 2) if quick else (16, 25)
    captions = synthetic_batch(n_img)["caption"]
    ts = interleaved({"sample": lambda: modules["fp32"].generate(captions, steps=n_steps, guidance=4.5, seed=0)},
                     repeats=2 if quick else 3, warmup=1, device=device)
    res.times["sample/fp32"] = ts["sample"]
    res.figures.update({"sample_images": n_img, "sample_ddim_steps": n_steps, "sample_guidance": 4.5,
                        "sample_images_per_s/fp32": n_img / median(ts["sample"])})
    if device == "cpu":
        res.notes.append("no GPU in this session: the bf16, compile and MFU variants run only when CUDA is present")
    return [res]
