"""Benchmark 2: space-MoE dispatch against the work its formula fixes.

The floor: each expert on the positions its routed tokens cover = R (position, expert) rows through
one expert-sized FFN, i.e. one dense Linear-GELU-Linear over R rows (one matmul pair). The naive
per-token loop (`space_moe_reference`) runs an expert over every position for every token. 77 text
tokens, routes forced to cover every expert; outputs of the fast path and the loop are asserted equal.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from raphael.benchmarks.common import force_all_experts
from raphael.benchmarks.timing import Result, interleaved, median, ratio
from raphael.nn.layers import FeedForward
from raphael.nn.moe import SpaceMoE
from raphael.nn.routers.base import route_weights


def space_moe_reference(moe: SpaceMoE, h: Tensor, text_states: Tensor, text_mask: Tensor,
                        attn_map: Tensor, routes: Tensor | None = None) -> Tensor:
    """Naive per-token loop of the space-MoE: the baseline the dispatch is timed against and the
    reference the tests check it with. `routes` overrides the gate's routes
    (so a training-mode gate's noise can be matched)."""
    probs = moe.gate.probs(text_states)
    if moe.gate.grad == "none":
        probs = probs.detach()
    if routes is None:
        routes = probs.argmax(-1)
    out = torch.zeros_like(h)
    for b in range(h.shape[0]):
        real = [i for i in range(text_states.shape[1]) if bool(text_mask[b, i])]
        n_y = max(len(real), 1)
        for i in real:
            col = attn_map[b, :, i]
            region = (col >= moe.alpha * col.max()).to(h.dtype)
            r = int(routes[b, i])
            g = route_weights(probs[b, i], routes[b, i], moe.gate.grad)
            out[b] = out[b] + g * region[:, None] * moe.experts[r](h[b]) / n_y
    return out


def make_inputs(B: int, N: int, L: int, D: int, DY: int, device: str, sharpness: float = 4.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, N, D, generator=g).to(device)
    y = torch.randn(B, L, DY, generator=g).to(device)
    mask = torch.ones(B, L, dtype=torch.bool, device=device)
    M = (torch.randn(B, N, L, generator=g) * sharpness).softmax(-1).to(device)
    return h, y, mask, M


# (batch, positions, width): the embedded default's 16x16 level at width 64, and a paper width (384,
# raphael_3b's first transformer level is 768 wide) where the expert FFNs dominate the fixed costs.
SHAPES = {"embedded": (4, 256, 64), "paper_width": (2, 256, 384)}
QUICK_SHAPES = {"embedded": (2, 64, 32)}


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    out = []
    for name, (B, N, D) in (QUICK_SHAPES if quick else SHAPES).items():
        out.append(run_shape(name, B, N, D, device, quick))
        backends = ("index", "grouped_mm") if device == "cuda" else ("index",)
        for backend in backends:  # bf16 on the CPU too: AVX-512 BF16 / AMX machines run it natively
            out.append(run_shape(name, B, N, D, device, quick, backend, torch.bfloat16))
    return out


def run_shape(shape: str, B: int, N: int, D: int, device: str = "cpu", quick: bool = False,
              backend: str | None = None, dtype: torch.dtype = torch.float32) -> Result:
    L, E = 77, 6
    tag = f"{shape},{device}" + ("" if backend is None else f",{backend},{str(dtype).replace('torch.', '')}")
    res = Result(f"dispatch[{tag}]", device)
    torch.manual_seed(0)
    moe = SpaceMoE(D, E, alpha=0.2, text_dim=384, ffn_mult=4).to(device).eval()
    if backend is not None:
        moe.backend = backend
    force_all_experts(moe)
    h, y, mask, M = make_inputs(B, N, L, D, 384, device)
    with torch.no_grad():
        gate = moe.gate(y, mask)
        C = moe.combine_weights(gate, mask, M)
    active = C > 0
    rows = int(active.sum())
    floor = FeedForward(D, 4 * D).to(device).eval()
    xr = torch.randn(rows, D, device=device)
    if dtype != torch.float32:  # every input in the weights' dtype, the gate's text states and map included
        moe, floor, h, xr, y, M = moe.to(dtype), floor.to(dtype), h.to(dtype), xr.to(dtype), y.to(dtype), M.to(dtype)

    f_fast = functools.partial(moe, h, y, mask, M)
    f_naive = functools.partial(space_moe_reference, moe, h, y, mask, M, routes=gate.routes)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=3e-2, atol=3e-2)
    with torch.no_grad():
        torch.testing.assert_close(f_fast().output.float(), f_naive().float(), **tol)  # equal outputs, asserted
        t1 = interleaved({"fast": f_fast, "floor": lambda: floor(xr)}, repeats=5 if quick else 15, warmup=3,
                         device=device, min_time=0.02 if quick else 0.1)
        t2 = interleaved({"fast": f_fast, "naive": f_naive}, repeats=3 if quick else 5, warmup=1, device=device)
    res.times = {"fast_vs_floor/fast": t1["fast"], "fast_vs_floor/floor": t1["floor"],
                 "fast_vs_naive/fast": t2["fast"], "fast_vs_naive/naive": t2["naive"]}
    r_floor, r_naive = ratio(t1, "fast", "floor"), ratio(t2, "naive", "fast")
    share = active.float().mean(dim=(0, 1))
    res.figures.update({
        "shape": {"batch": B, "positions": N, "dim": D, "ffn_hidden": 4 * D, "text_tokens": L, "experts": E},
        "dtype": str(dtype).replace("torch.", ""), "backend": getattr(moe, "backend", "index"),
        "rows_position_expert": rows, "rows_dense_all_experts": B * N * E,
        "position_share_per_expert": [round(float(s), 4) for s in share],
        "experts_used": int((share > 0).sum()),
        "fast_s": median(t1["fast"]), "floor_s": median(t1["floor"]), "naive_s": median(t2["naive"]),
        "ratio_fast_over_floor": round(r_floor, 4), "speedup_over_naive": round(r_naive, 2),
        "outputs_equal": True,
    })
    res.target("ratio_fast_over_floor", r_floor, "<= 1.25", r_floor <= 1.25)
    res.target("speedup_over_naive", r_naive, ">= 10", r_naive >= 10)
    return res
