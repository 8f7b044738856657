"""Benchmark 1 (paper Fig. 6c): whole-model time with 6 space experts vs the space-MoE off.

40 real text tokens, every expert forced into use (token i -> expert i mod 6), at the default
shape and at a paper-proportioned shape; DDIM sampling with classifier-free guidance (one batch)
and a training step (fwd + bwd + AdamW). The paper: 6 experts made inference 24% slower, i.e. a
time ratio of 1 / (1 - 0.24) = 1.32.
"""

from __future__ import annotations

import copy

import torch

from raphael.benchmarks.common import (
    bench_model_config,
    build,
    count_flops,
    coverage,
    ddim,
    force_all_experts,
    synthetic_text,
)
from raphael.benchmarks.timing import Result, interleaved, median, ratio
from raphael.nn.attention import CrossAttention
from raphael.nn.guidance import guided_denoiser

PAPER_RATIO = 1 / (1 - 0.24)
TOKENS = 40
SHARPEN = 8.0


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    return [run_shape(shape, device, quick) for shape in ("default", "paper")]


def run_shape(shape: str, device: str = "cpu", quick: bool = False) -> Result:
    res = Result(f"moe_overhead[{shape}]", device)
    cfg_on = bench_model_config(shape, quick)
    cfg_off = bench_model_config(shape, quick, space_moe={"enabled": False})
    nets = {"experts6": build(cfg_on, device), "experts0": build(cfg_off, device)}
    force_all_experts(nets["experts6"])
    C, side = cfg_on.in_channels, 32
    B_sample, B_train = (2, 4) if quick else (4, 16)
    steps = 2 if quick else 4
    text_cfg = synthetic_text(B_sample, TOKENS, device, uncond=True)
    text_train = synthetic_text(B_train, TOKENS, device)

    x = torch.randn(B_train, C, side, side, device=device)
    t = torch.randint(0, 1000, (B_train,), device=device)

    @torch.no_grad()
    def coverage_of(net):
        """Coverage of the forced routes (one training-mode forward)."""
        return coverage(net.train()(x, t, text_train).aux, text_train, cfg_on.space_moe.alpha,
                        cfg_on.space_moe.num_experts)

    @torch.no_grad()
    def flops_of(net) -> int:
        """The work the formula requires: FLOPs of one forward."""
        return count_flops(lambda: net(x, t, text_train))

    res.figures["coverage"] = cov = coverage_of(nets["experts6"])
    flops = {n: flops_of(m) for n, m in nets.items()}  # with and without the space-MoE
    res.figures.update({f"forward_gflop_{n}": f / 1e9 for n, f in flops.items()})
    res.figures["flop_ratio"] = round(flops["experts6"] / flops["experts0"], 4)

    def sample_fn(n):
        return lambda: ddim(guided_denoiser(nets[n].eval(), text_cfg, 4.5), (B_sample, C, side, side), steps, device)

    opts = {n: torch.optim.AdamW(nets[n].parameters(), lr=1e-4) for n in nets}

    def train_fn(n):
        def f():
            out = nets[n].train()(x, t, text_train)
            loss = out.sample.square().mean() + 0.01 * (out.aux.balance_space + out.aux.balance_time)
            loss.backward()
            opts[n].step()
            opts[n].zero_grad(set_to_none=True)
        return f

    # Sharper maps, a stand-in for trained cross-attention (untrained maps are near uniform, so every
    # region covers almost every position): the same net with the cross-attention logits scaled by
    # SHARPEN. Every expert is still in use; only the regions shrink. Sampling only; not a target.
    sharp = copy.deepcopy(nets["experts6"])
    for m in sharp.modules():
        if isinstance(m, CrossAttention):
            m.to_q.weight.data.mul_(SHARPEN)
    force_all_experts(sharp)
    nets["experts6_sharp"] = sharp
    cov_sharp = coverage_of(sharp)
    res.figures["sharp_maps"] = {"logit_scale": SHARPEN, "position_share_mean": cov_sharp.get("position_share_mean"),
                                 "experts_used": cov_sharp["experts_used"],
                                 "flop_ratio": round(flops_of(sharp) / flops["experts0"], 4)}

    reps = 3 if quick else 7
    ts = interleaved({"sample/experts6": sample_fn("experts6"), "sample/experts0": sample_fn("experts0")},
                     repeats=reps, warmup=1, device=device)
    tsh = interleaved({"sample/experts6_sharp": sample_fn("experts6_sharp"), "sample/experts0": sample_fn("experts0")},
                      repeats=reps, warmup=1, device=device)
    res.figures["sharp_maps"]["ratio_sampling"] = round(ratio(tsh, "sample/experts6_sharp", "sample/experts0"), 4)
    tt = interleaved({"train/experts6": train_fn("experts6"), "train/experts0": train_fn("experts0")},
                     repeats=reps, warmup=1, device=device)
    res.times = {**ts, **tt, "sample/experts6_sharp": tsh["sample/experts6_sharp"],
                 "sample/experts0 (vs sharp)": tsh["sample/experts0"]}
    r_s, r_t = ratio(ts, "sample/experts6", "sample/experts0"), ratio(tt, "train/experts6", "train/experts0")
    res.figures.update({
        "shape": {"channels": cfg_on.channels, "channel_mult": cfg_on.channel_mult,
                  "transformer_blocks": 2 * sum(cfg_on.transformer_depth) + cfg_on.mid_transformer_depth,
                  "side": side, "in_channels": C},
        "text_tokens": TOKENS, "sample_batch": B_sample, "ddim_steps": steps, "train_batch": B_train,
        "sample_s_per_step_experts6": median(ts["sample/experts6"]) / steps,
        "sample_s_per_step_experts0": median(ts["sample/experts0"]) / steps,
        "train_step_s_experts6": median(tt["train/experts6"]),
        "train_step_s_experts0": median(tt["train/experts0"]),
        "ratio_sampling": round(r_s, 4), "ratio_training": round(r_t, 4), "paper_ratio": round(PAPER_RATIO, 4),
    })
    res.target("ratio_sampling", r_s, f"<= {PAPER_RATIO:.2f}", r_s <= PAPER_RATIO)
    res.target("ratio_training", r_t, f"<= {PAPER_RATIO:.2f}", r_t <= PAPER_RATIO)
    res.notes.append(f"experts in use {cov['experts_used']:.0%}; mean share of positions an expert computes "
                     f"{cov.get('position_share_mean', 0):.2f} (alpha {cfg_on.space_moe.alpha}, untrained maps)")
    return res
