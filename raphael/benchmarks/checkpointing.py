"""Benchmark 4: activation checkpointing (`model.checkpointing=true`) on a deep block stack.

The paper-proportioned shape (16 transformer blocks, 2 ResBlocks per level), training fwd + bwd.
Memory: the peak of one training step above the parameters. On CPU by torch's MemTracker
(torch.distributed._tools.mem_tracker, a dispatch mode that follows every storage: activations,
gradients, temporaries); on CUDA by `torch.cuda.max_memory_allocated` above the memory before the step.
Time: both settings on one model in one process, interleaved (the flag is toggled).
"""

from __future__ import annotations

import functools

import torch

from raphael.benchmarks.common import bench_model_config, build, synthetic_text
from raphael.benchmarks.timing import Result, interleaved, median, ratio


def _step(net, checkpointing: bool, x, t, text) -> None:
    """One training step (fwd + bwd) with activation checkpointing on or off."""
    net.checkpointing = checkpointing
    out = net(x, t, text)
    (out.sample.square().mean() + 0.01 * out.aux.balance_space).backward()
    net.zero_grad(set_to_none=True)


def measure_memory(net, x, t, text, checkpointing: bool, device: str) -> dict:
    """Peak memory of one training step. CUDA: max_memory_allocated. CPU: torch's MemTracker (a
    dispatch mode that follows every tensor storage, by kind: parameters, gradients, activations,
    temporaries). Returns {"step": peak minus the parameters, "total": peak, "by_kind": {...}}."""
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _step(net, checkpointing, x, t, text)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"step": int(peak - base), "total": int(peak), "by_kind": {}}
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    tracker.track_external(net)
    with tracker:
        _step(net, checkpointing, x, t, text)
    snap = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    kinds = {str(k).split(".")[-1]: int(v) for k, v in snap.items()}
    return {"step": int(kinds["Total"] - params), "total": int(kinds["Total"]), "by_kind": kinds}


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    res = Result("checkpointing[paper-proportioned, 16 blocks]", device)
    cfg = bench_model_config("paper", quick)
    net = build(cfg, device).train()
    B = 2 if quick else 8
    x = torch.randn(B, cfg.in_channels, 32, 32, device=device)
    t = torch.randint(0, 1000, (B,), device=device)
    text = synthetic_text(B, 40, device)
    _step(net, False, x, t, text)  # lazy initialisations out of the way
    # memory is deterministic (the same tensors every step): one measurement per setting
    mem = {key: measure_memory(net, x, t, text, flag, device) for key, flag in (("off", False), ("on", True))}
    steps = {key: functools.partial(_step, net, flag, x, t, text) for key, flag in (("on", True), ("off", False))}
    ts = interleaved(steps, repeats=3 if quick else 7, warmup=1, device=device)
    m_on, m_off = mem["on"]["step"], mem["off"]["step"]
    mem_ratio, time_ratio = m_on / max(m_off, 1), ratio(ts, "on", "off")
    res.times = ts
    res.figures.update({"batch": x.shape[0], "latent": list(x.shape[1:]), "blocks": 16,
                        "peak_step_bytes_off": m_off, "peak_step_bytes_on": m_on,
                        "peak_step_mib_off": round(m_off / 2**20, 1), "peak_step_mib_on": round(m_on / 2**20, 1),
                        "memory": mem, "total_ratio": round(mem["on"]["total"] / mem["off"]["total"], 4), "step_s_on": median(ts["on"]), "step_s_off": median(ts["off"]),
                        "memory_ratio": round(mem_ratio, 4), "time_ratio": round(time_ratio, 4),
                        "memory_method": "cuda max_memory_allocated" if device == "cuda" else
                        "torch MemTracker peak minus parameters"})
    res.target("memory_ratio", mem_ratio, "<= 0.60", mem_ratio <= 0.60)
    res.target("time_ratio", time_ratio, "<= 1.40", time_ratio <= 1.40)
    return [res]
