"""One config dataclass per network: the schema of the `model` group (docs/interfaces.md, "Configs").

`DenoiserConfig` holds what every network reads; `RaphaelUNetConfig` (the RAPHAEL U-Net: space-MoE,
time-MoE, edge head), `ExpertEnsembleConfig` (eDiff-I: one whole U-Net per time interval) and `SDUNetConfig`
(diffusers' UNet2DConditionModel) add their own. Each names its network in `_target_`, is stored in Hydra's
ConfigStore as `model/<name>_schema` and is the base of conf/model/<name>.yaml, which states only what
differs. `validate()` is the one check of a model config (rule tables, raphael.run.errors.check): it raises a
`ConfigError`, a `ValueError` naming the field, the value and what is allowed; `raphael.run.validation` runs it once
before any work, `build_model` builds the `_target_`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from raphael.nn.routers import ROUTERS
from raphael.run.errors import check as check_fields
from raphael.run.errors import fail

GATE_GRADS = ("switch", "straight_through", "none")
EDGE_SOURCES = ("pooled", "all_tokens")
EXPERT_INITS = ("from_scratch", "branch_from_checkpoint")
DISPATCH_MODES = ("exact", "capacity", "dense")  # what each costs and when to pick it: DispatchConfig
DISPATCH_BACKENDS = ("auto", "index", "grouped_mm")


# a model rule names its field as model.<field> (raphael.run.errors.check) and says where to change it
check = functools.partial(check_fields, prefix="model.", fix="Fix it in conf/model/ or on the command line.")


@dataclass
class SpaceMoEConfig:
    enabled: bool = True
    num_experts: int = 6
    alpha: float = 0.2
    # a registered router (raphael.nn.routers): text_token (RAPHAEL: text tokens over their image regions), or
    # an image-token router: token_choice (DiT-MoE: top_k experts per token) | expert_choice (EC-DiT: each expert
    # takes capacity_factor * top_k * N / num_experts tokens of each image)
    router: str = "text_token"
    top_k: int = 1  # image-token routers
    shared_experts: int = 0  # image-token routers: always-on FFNs beside the routed ones (DiT-MoE)
    capacity_factor: float = 1.0  # expert_choice


@dataclass
class TimeMoEConfig:
    enabled: bool = True
    num_experts: int = 4
    router: str = "learned"  # a registered time router (raphael.nn.routers): learned | fixed_uniform | fixed_intervals
    # inner boundaries t_1 < ... < t_{E-1} for router=fixed_intervals (expert e serves
    # t in [t_e, t_{e+1})); None = equal noise mass under the DDPM linear schedule.
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
class DispatchConfig:
    """How the MoE layers run their experts (docs/performance.md). exact: each expert on its routed rows (sizes
    read on the host, the CPU default); capacity: each expert on ceil(capacity_factor * rows / experts) rows,
    overflow dropped and logged (train/dispatch_overflow); dense: every expert on every row. capacity and dense
    never sync with the host (torch.compile(fullgraph=True), CUDA graphs); the edge heads then also run on every
    sample and mask the loss instead of selecting rows."""

    mode: str = "exact"
    capacity_factor: float = 2.0
    backend: str = "auto"  # exact mode: auto (= index) | index | grouped_mm


@dataclass
class EdgeConfig:
    enabled: bool = True
    t_c: int = 500
    # the paper gives none; 0.1 over 1.0 at budget=cpu: 0.581 vs 0.516 over 3 seeds (experiments/recipe/edge_head/)
    weight: float = 0.1
    source: str = "pooled"
    hidden: int = 32
    # channels of the head's input for source=all_tokens (the text encoder's max_length)
    max_tokens: int = 77


@dataclass
class DenoiserConfig:
    """What every network reads: the U-Net layout. Widths are channels * channel_mult per level."""

    _target_: str = ""
    in_channels: int = 3
    out_channels: int | None = None  # None: same as in_channels
    channels: int = 16
    channel_mult: list[int] = field(default_factory=lambda: [1, 1, 2])
    num_res_blocks: int = 1
    transformer_depth: list[int] = field(default_factory=lambda: [0, 1, 1])  # per level; 0 = no attention
    mid_transformer_depth: int = 1
    head_dim: int = 16
    norm_groups: int = 8
    num_train_timesteps: int = 1000
    compile: bool = False

    @property
    def size_multiple(self) -> int:
        """H and W must be divisible by this."""
        return 2 ** (len(self.channel_mult) - 1)

    def validate(self, num_train_timesteps: int | None = None) -> DenoiserConfig:
        check(self, [
            ("channels", self.channels > 0, "a positive integer"),
            ("channel_mult", bool(self.channel_mult) and min(self.channel_mult) > 0,
             "a non-empty list of positive integers"),
            ("transformer_depth", len(self.transformer_depth) == len(self.channel_mult),
             f"one entry per level, i.e. a list of length len(channel_mult) = {len(self.channel_mult)}"),
            ("transformer_depth", min([*self.transformer_depth, self.mid_transformer_depth]) >= 0,
             "non-negative depths"),
            ("num_res_blocks", self.num_res_blocks >= 1, "an integer >= 1"),
            ("head_dim", self.head_dim > 0, "a positive integer"),
            ("channels", all(self.channels * m % self.norm_groups == 0 for m in self.channel_mult),
             f"channels * channel_mult must be divisible by norm_groups = {self.norm_groups}"),
        ])
        depths = [*self.transformer_depth, self.mid_transformer_depth]
        for mult, depth in zip([*self.channel_mult, self.channel_mult[-1]], depths):
            width = self.channels * mult
            heads = max(1, width // self.head_dim)
            check(self, [
                ("head_dim", not depth or self.head_dim <= width,
                 f"at most the narrowest transformer width ({width} = channels * {mult})"),
                ("head_dim", not depth or width % heads == 0, f"a divisor of every transformer width (width "
                 f"{width} = channels * {mult} does not split into {heads} heads)"),
            ])
        return self


@dataclass
class RaphaelUNetConfig(DenoiserConfig):
    """The RAPHAEL U-Net (raphael/nn/unet.py); the defaults are the embedded default."""

    _target_: str = "raphael.nn.unet.RaphaelUNet"
    # the 2x2 patch stem at width 32 over the pixel model at width 16: at budget=cpu 0.658 vs 0.581 alignment,
    # 0.676 vs 0.613 held-out, 3 seeds each, 0.72x the step (experiments/recipe/patch_stem/)
    channels: int = 32
    # space-to-depth stem: the U-Net runs on (H/p, W/p) with in_channels*p*p inputs, pixels restored by
    # pixel-shuffle (simple diffusion, DiT); 1 = pixel resolution
    patch_size: int = 2
    ffn_mult: int = 4
    space_moe: SpaceMoEConfig = field(default_factory=SpaceMoEConfig)
    time_moe: TimeMoEConfig = field(default_factory=TimeMoEConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    balance_coef: float = 0.01
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    checkpointing: bool = False
    # branch_from_checkpoint copies a trained model (expert_init_ckpt) into every expert (docs/peers.md)
    expert_init: str = "from_scratch"
    expert_init_ckpt: str | None = None

    @property
    def size_multiple(self) -> int:
        return self.patch_size * super().size_multiple

    def validate(self, num_train_timesteps: int | None = None) -> RaphaelUNetConfig:
        super().validate(num_train_timesteps)
        T = int(num_train_timesteps if num_train_timesteps is not None else self.num_train_timesteps)
        sm, tm, b = self.space_moe, self.time_moe, self.time_moe.boundaries
        intervals_ok = (b is None or tm.router != "fixed_intervals" or (
            len(b) == tm.num_experts - 1 and all(0 < x < T for x in b) and all(x < y for x, y in zip(b, b[1:]))))
        check(self, [
            ("patch_size", self.patch_size >= 1, "an integer >= 1 (1 = no patchify)"),
            ("ffn_mult", self.ffn_mult > 0, "a positive integer"),
            ("space_moe.num_experts", not sm.enabled or sm.num_experts > 0,
             "an integer >= 1 while space_moe.enabled is true (set space_moe.enabled=false for none)"),
            ("space_moe.alpha", not sm.enabled or 0.0 < sm.alpha <= 1.0, "a number in (0, 1]"),
            ("space_moe.router", not sm.enabled or sm.router in {**ROUTERS["space"], **ROUTERS["image"]},
             f"one of {[*ROUTERS['space'], *ROUTERS['image']]}"),
            ("space_moe.top_k", not sm.enabled or 1 <= sm.top_k <= sm.num_experts, "an integer in [1, num_experts]"),
            ("space_moe.shared_experts", sm.shared_experts >= 0, "an integer >= 0"),
            ("space_moe.capacity_factor", sm.capacity_factor > 0, "a number > 0"),
            ("time_moe.num_experts", not tm.enabled or tm.num_experts > 0,
             "an integer >= 1 while time_moe.enabled is true (set time_moe.enabled=false for none)"),
            ("time_moe.shared_until", not tm.enabled or 0.0 <= tm.shared_until < 1.0,
             "a fraction of the training budget in [0, 1) (0 = separate experts from the start)"),
            ("time_moe.router", not tm.enabled or tm.router in ROUTERS["time"], f"one of {list(ROUTERS['time'])}"),
            ("time_moe.boundaries", not tm.enabled or intervals_ok,
             f"{tm.num_experts - 1} strictly increasing integers in (0, {T}) (num_experts - 1 inner boundaries), "
             "or null for equal noise mass"),
            ("expert_init", self.expert_init in EXPERT_INITS, f"one of {list(EXPERT_INITS)}"),
            ("expert_init_ckpt", self.expert_init != "branch_from_checkpoint" or bool(self.expert_init_ckpt),
             "a path to a trained .ckpt when expert_init=branch_from_checkpoint"),
            ("gate.grad", self.gate.grad in GATE_GRADS, f"one of {list(GATE_GRADS)}"),
            ("gate.noise_std", self.gate.noise_std >= 0, "a number >= 0"),
            ("gate.hidden", self.gate.hidden > 0, "a positive integer"),
            ("balance_coef", self.balance_coef >= 0, "a number >= 0"),
            ("dispatch.mode", self.dispatch.mode in DISPATCH_MODES, f"one of {list(DISPATCH_MODES)}"),
            ("dispatch.capacity_factor", self.dispatch.capacity_factor > 0, "a number > 0 (rows per expert = "
             "ceil(capacity_factor * rows / num_experts))"),
            ("dispatch.backend", self.dispatch.backend in DISPATCH_BACKENDS, f"one of {list(DISPATCH_BACKENDS)}"),
            ("edge.source", self.edge.source in EDGE_SOURCES, f"one of {list(EDGE_SOURCES)}"),
            ("edge.t_c", 0 <= self.edge.t_c <= T, f"an integer in [0, T] with T = num_train_timesteps = {T}"),
            ("edge.weight", self.edge.weight >= 0, "a number >= 0"),
        ])
        return self


@dataclass
class ExpertEnsembleConfig(RaphaelUNetConfig):
    """eDiff-I's expert ensemble (raphael/nn/expert_ensemble.py): `time_moe.num_experts` whole RAPHAEL U-Nets
    (the fields above, per-block time-MoE off inside them), each serving one hand-assigned time interval."""

    _target_: str = "raphael.nn.expert_ensemble.ExpertEnsemble"
    space_moe: SpaceMoEConfig = field(default_factory=lambda: SpaceMoEConfig(enabled=False))
    time_moe: TimeMoEConfig = field(default_factory=lambda: TimeMoEConfig(num_experts=2, router="fixed_intervals"))
    edge: EdgeConfig = field(default_factory=lambda: EdgeConfig(enabled=False))

    def validate(self, num_train_timesteps: int | None = None) -> ExpertEnsembleConfig:
        check(self, [
            ("time_moe.enabled", self.time_moe.enabled,
             "true for model=expert_ensemble (its time router assigns the experts)"),
            ("time_moe.router", self.time_moe.router != "learned",
             "fixed_uniform or fixed_intervals for model=expert_ensemble (hand-assigned intervals)"),
            ("time_moe.shared_until", self.time_moe.shared_until == 0.0,
             "0 for model=expert_ensemble (its experts branch from a checkpoint: expert_init)"),
        ])
        return super().validate(num_train_timesteps)


@dataclass
class SDUNetConfig(DenoiserConfig):
    """The Stable-Diffusion-style baseline (raphael/nn/sd_unet.py). Widths 24/24/48 and 2/2/4 heads match the
    parameter count of the pixel-space RAPHAEL model, the embedded default until issue 11 (patch_size 1,
    channels 16: 891,098 with MiniLM's d_y 384, -4.9%), not the patch-stem default (2,483,971; docs/peers.md)."""

    _target_: str = "raphael.nn.sd_unet.SDUNet"
    channels: int = 24
    head_dim: int = 12

    def validate(self, num_train_timesteps: int | None = None) -> SDUNetConfig:
        super().validate(num_train_timesteps)
        last = self.transformer_depth[-1]
        mid = self.mid_transformer_depth
        check(self, [("mid_transformer_depth", not (last and mid) or mid == last, f"transformer_depth[-1] = {last} "
                      "for model=sd_unet (diffusers shares the last level's depth with the mid block)")])
        return self


SCHEMAS: dict[str, type[DenoiserConfig]] = {
    "raphael": RaphaelUNetConfig, "expert_ensemble": ExpertEnsembleConfig, "sd_unet": SDUNetConfig}
BY_TARGET = {schema._target_: schema for schema in SCHEMAS.values()}
# `model/<name>_schema` in Hydra's ConfigStore: the base of conf/model/<name>.yaml
for _name, _schema in SCHEMAS.items():
    ConfigStore.instance().store(group="model", name=f"{_name}_schema", node=_schema)


def migrate(data: dict) -> dict:
    """A model config saved before the per-network dataclasses (one ModelConfig with `arch` and
    `expert_scope`) as today's: `_target_` from those two, and only the fields that network reads."""
    if "_target_" in data:
        return data
    data = dict(data)
    arch, scope = data.pop("arch", "raphael"), data.pop("expert_scope", "block")
    schema = SDUNetConfig if arch == "sd_unet" else ExpertEnsembleConfig if scope == "denoiser" else RaphaelUNetConfig
    known = {f.name for f in dataclasses.fields(schema)}
    return {"_target_": schema._target_, **{k: v for k, v in data.items() if k in known}}


def model_config(cfg: Any) -> DenoiserConfig:
    """The typed config of a `model` node: a DenoiserConfig as is; a dict or DictConfig merged onto the
    schema its `_target_` names (unknown keys and wrong types raise omegaconf's errors, naming the key)."""
    if isinstance(cfg, DenoiserConfig):
        return cfg
    data = migrate(OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg))
    schema = BY_TARGET.get(data["_target_"])
    if schema is None:
        fail("model._target_", data["_target_"], f"one of {sorted(BY_TARGET)} (a new network adds its config "
             "dataclass to raphael.nn.config.SCHEMAS)")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), data))
