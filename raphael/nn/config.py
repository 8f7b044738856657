"""Structured model config (the `cfg.model` group), see docs/interfaces.md.

Defaults are the embedded default (`conf/model/raphael.yaml`). `validate()` raises a
`ValueError` naming the field, the value and what is allowed, before any training starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

GATE_GRADS = ("switch", "straight_through", "none")
TIME_ROUTERS = ("learned", "fixed_uniform", "fixed_intervals")
EDGE_SOURCES = ("pooled", "all_tokens")
EXPERT_SCOPES = ("block", "denoiser")
EXPERT_INITS = ("from_scratch", "branch_from_checkpoint")


@dataclass
class SpaceMoEConfig:
    enabled: bool = True
    num_experts: int = 6
    alpha: float = 0.2


@dataclass
class TimeMoEConfig:
    enabled: bool = True
    num_experts: int = 4
    router: str = "learned"
    # inner boundaries t_1 < ... < t_{E-1} for router=fixed_intervals (expert e serves
    # t in [t_e, t_{e+1})); null = equal noise mass under the DDPM linear schedule.
    boundaries: list[int] | None = None
    # warm start: for this fraction of the training budget every t goes to expert 0, then expert 0
    # (weights and optimizer state) is copied into the others; 0 = separate experts from the start (the paper)
    shared_until: float = 0.0


@dataclass
class GateConfig:
    grad: str = "switch"
    noise_std: float = 0.01
    hidden: int = 64


@dataclass
class EdgeConfig:
    enabled: bool = True
    t_c: int = 500
    weight: float = 1.0
    source: str = "pooled"
    hidden: int = 32
    # channels of the head's input for source=all_tokens (the text encoder's max_length)
    max_tokens: int = 77


@dataclass
class ModelConfig:
    arch: str = "raphael"
    in_channels: int = 3
    out_channels: int | None = None  # None: same as in_channels
    channels: int = 16
    # space-to-depth stem: the U-Net runs on (H/p, W/p) with in_channels*p*p inputs, pixels restored by
    # pixel-shuffle (simple diffusion, DiT); 1 = pixel resolution
    patch_size: int = 1
    channel_mult: list[int] = field(default_factory=lambda: [1, 1, 2])
    num_res_blocks: int = 1
    transformer_depth: list[int] = field(default_factory=lambda: [0, 1, 1])
    mid_transformer_depth: int = 1
    head_dim: int = 16
    ffn_mult: int = 4
    space_moe: SpaceMoEConfig = field(default_factory=SpaceMoEConfig)
    time_moe: TimeMoEConfig = field(default_factory=TimeMoEConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    balance_coef: float = 0.01
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    checkpointing: bool = False
    compile: bool = False
    num_train_timesteps: int = 1000
    norm_groups: int = 8
    # time experts as per-block FFNs (block, RAPHAEL) or whole U-Nets per interval (denoiser, eDiff-I);
    # branch_from_checkpoint copies a trained model (expert_init_ckpt) into every expert (docs/peers.md)
    expert_scope: str = "block"
    expert_init: str = "from_scratch"
    expert_init_ckpt: str | None = None

    # ------------------------------------------------------------------ helpers
    @classmethod
    def from_any(cls, cfg: Any) -> ModelConfig:
        """Build from a ModelConfig, a dict or an OmegaConf DictConfig (unknown keys are an error)."""
        if isinstance(cfg, ModelConfig):
            return cfg
        if not isinstance(cfg, dict):
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(cfg, resolve=True)
        cfg = {k: v for k, v in dict(cfg).items() if k != "_target_"}
        subs = {"space_moe": SpaceMoEConfig, "time_moe": TimeMoEConfig, "gate": GateConfig, "edge": EdgeConfig}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(
                f"model config: unknown field(s) {unknown}; allowed fields are {sorted(known)}."
            )
        kwargs = {}
        for k, v in cfg.items():
            if k in subs and isinstance(v, dict):
                sub_known = {f.name for f in dataclasses.fields(subs[k])}
                bad = sorted(set(v) - sub_known)
                if bad:
                    raise ValueError(
                        f"model.{k}: unknown field(s) {bad}; allowed fields are {sorted(sub_known)}."
                    )
                v = subs[k](**v)
            kwargs[k] = v
        return cls(**kwargs)

    def validate(self, num_train_timesteps: int | None = None) -> ModelConfig:
        """Check every field; raises ValueError naming field, value and allowed values."""
        T = int(num_train_timesteps if num_train_timesteps is not None else self.num_train_timesteps)

        def fail(name: str, value: Any, allowed: str) -> None:
            raise ValueError(f"model.{name} = {value!r} is not allowed: {allowed}. Fix it in conf/model/ or on "
                             f"the command line (e.g. model.{name}=...).")

        if self.channels <= 0:
            fail("channels", self.channels, "a positive integer")
        if not self.channel_mult or any(m <= 0 for m in self.channel_mult):
            fail("channel_mult", self.channel_mult, "a non-empty list of positive integers")
        if len(self.transformer_depth) != len(self.channel_mult):
            fail("transformer_depth", self.transformer_depth,
                 f"one entry per level, i.e. a list of length len(channel_mult) = {len(self.channel_mult)}")
        if any(d < 0 for d in self.transformer_depth) or self.mid_transformer_depth < 0:
            fail("transformer_depth", self.transformer_depth, "non-negative depths")
        if self.patch_size < 1:
            fail("patch_size", self.patch_size, "an integer >= 1 (1 = no patchify)")
        if self.num_res_blocks < 1:
            fail("num_res_blocks", self.num_res_blocks, "an integer >= 1")
        if self.head_dim <= 0:
            fail("head_dim", self.head_dim, "a positive integer")
        if self.ffn_mult <= 0:
            fail("ffn_mult", self.ffn_mult, "a positive integer")
        for mult in self.channel_mult:
            if (self.channels * mult) % self.norm_groups:
                fail("channels", self.channels,
                     f"channels * channel_mult must be divisible by norm_groups = {self.norm_groups}")
        depths = [*self.transformer_depth, self.mid_transformer_depth]
        for mult, depth in zip([*self.channel_mult, self.channel_mult[-1]], depths):
            width = self.channels * mult
            if depth and self.head_dim > width:
                fail("head_dim", self.head_dim,
                     f"at most the narrowest transformer width ({width} = channels * {mult})")
            heads = max(1, width // self.head_dim)
            if depth and width % heads:
                fail("head_dim", self.head_dim,
                     f"a divisor of every transformer width (width {width} = channels * {mult} does not split "
                     f"into {heads} heads)")
        if self.space_moe.enabled:
            if self.space_moe.num_experts <= 0:
                fail("space_moe.num_experts", self.space_moe.num_experts,
                     "an integer >= 1 while space_moe.enabled is true (set space_moe.enabled=false for none)")
            if not (0.0 < float(self.space_moe.alpha) <= 1.0):
                fail("space_moe.alpha", self.space_moe.alpha, "a number in (0, 1]")
        if self.time_moe.enabled:
            if self.time_moe.num_experts <= 0:
                fail("time_moe.num_experts", self.time_moe.num_experts,
                     "an integer >= 1 while time_moe.enabled is true (set time_moe.enabled=false for none)")
            if not (0.0 <= float(self.time_moe.shared_until) < 1.0):
                fail("time_moe.shared_until", self.time_moe.shared_until,
                     "a fraction of the training budget in [0, 1) (0 = separate experts from the start)")
            if self.time_moe.router not in TIME_ROUTERS:
                fail("time_moe.router", self.time_moe.router, f"one of {list(TIME_ROUTERS)}")
            b = self.time_moe.boundaries
            if self.time_moe.router == "fixed_intervals" and b is not None:
                ok = (len(b) == self.time_moe.num_experts - 1 and all(0 < x < T for x in b)
                      and all(x < y for x, y in zip(b, b[1:])))
                if not ok:
                    fail("time_moe.boundaries", list(b),
                         f"{self.time_moe.num_experts - 1} strictly increasing integers in (0, {T}) "
                         "(num_experts - 1 inner boundaries), or null for equal noise mass")
        if self.expert_scope not in EXPERT_SCOPES:
            fail("expert_scope", self.expert_scope, f"one of {list(EXPERT_SCOPES)}")
        if self.expert_scope == "denoiser" and not self.time_moe.enabled:
            fail("expert_scope", self.expert_scope,
                 "'block' while time_moe.enabled is false (denoiser experts are assigned by the time router)")
        if self.expert_scope == "denoiser" and self.time_moe.router == "learned":
            fail("time_moe.router", self.time_moe.router,
                 "fixed_uniform or fixed_intervals with expert_scope=denoiser (hand-assigned intervals)")
        if self.expert_init not in EXPERT_INITS:
            fail("expert_init", self.expert_init, f"one of {list(EXPERT_INITS)}")
        if self.expert_init == "branch_from_checkpoint" and not self.expert_init_ckpt:
            fail("expert_init_ckpt", self.expert_init_ckpt,
                 "a path to a trained .ckpt when expert_init=branch_from_checkpoint")
        if self.gate.grad not in GATE_GRADS:
            fail("gate.grad", self.gate.grad, f"one of {list(GATE_GRADS)}")
        if self.gate.noise_std < 0:
            fail("gate.noise_std", self.gate.noise_std, "a number >= 0")
        if self.gate.hidden <= 0:
            fail("gate.hidden", self.gate.hidden, "a positive integer")
        if self.balance_coef < 0:
            fail("balance_coef", self.balance_coef, "a number >= 0")
        if self.edge.source not in EDGE_SOURCES:
            fail("edge.source", self.edge.source, f"one of {list(EDGE_SOURCES)}")
        if not (0 <= self.edge.t_c <= T):
            fail("edge.t_c", self.edge.t_c, f"an integer in [0, T] with T = num_train_timesteps = {T}")
        if self.edge.weight < 0:
            fail("edge.weight", self.edge.weight, "a number >= 0")
        return self

    @property
    def num_levels(self) -> int:
        return len(self.channel_mult)

    @property
    def size_multiple(self) -> int:
        """H and W must be divisible by this."""
        return self.patch_size * 2 ** (len(self.channel_mult) - 1)
