"""CPU time of one training step (fwd + bwd + AdamW) per design: batch 32, 3x32x32, MiniLM tokens, 1 thread.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/figures/peers/bench_step.py

process_time (CPU seconds, steadier than wall time on a shared machine), median of steps 2-4.
"""

from __future__ import annotations

import statistics
import time

import torch

from raphael.benchmarks.common import compose_train_config
from raphael.nn import build_model
from raphael.nn.text_encoder import FrozenTextEncoder

DESIGNS = ["baseline", "ernie_mode", "raphael", "sd_unet", "ediffi"]


def step_times(net: torch.nn.Module, text, steps: int = 4) -> tuple[float, float]:
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x, t = torch.randn(32, 3, 32, 32), torch.randint(0, 1000, (32,))
    cpu, wall = [], []
    for _ in range(steps):
        c0, w0 = time.process_time(), time.perf_counter()
        out = net(x, t, text, edge_size=(32, 32))
        edges = sum(b.edge_logits.mean() for b in out.aux.blocks if b.edge_logits is not None)
        (out.sample.square().mean() + edges).backward()
        opt.step()
        opt.zero_grad()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu[1:]), statistics.median(wall[1:])


def main() -> None:
    torch.set_num_threads(1)
    encoder = FrozenTextEncoder()
    text = encoder(["a large red circle on the left and a small striped blue square at the top"] * 32)
    print("tokens", text.states.shape[1])
    for design in DESIGNS:
        extra = ["model.expert_init=from_scratch"] if design == "ediffi" else []
        net = build_model(compose_train_config(f"experiment={design}", *extra).model, encoder.dim)
        cpu, wall = step_times(net, text)
        params = sum(p.numel() for p in net.parameters())
        print(design, params, "cpu s/step (median of steps 2-4):", round(cpu, 3), "wall s:", round(wall, 3))


if __name__ == "__main__":
    main()
