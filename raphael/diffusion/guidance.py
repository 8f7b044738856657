"""Classifier-free guidance as the sampler applies it: which prediction is extrapolated and rescaled, at which
noise levels, and how the predicted clean image is kept in range (docs/evaluation.md, "Guidance settings").

The network's own rows are mixed here; `raphael.nn.guidance.guided_denoiser` runs it (cond and uncond rows in
one batch) and calls a `GuidanceRule` for the mix. Nothing here knows a network class.

Formulas, with a = alphas_cumprod[t], x = x_t, for one image's prediction in the three parameterisations:
    x0  = (x - sqrt(1-a) eps) / sqrt(a)        eps = (x - sqrt(a) x0) / sqrt(1-a)
    v   = sqrt(a) eps - sqrt(1-a) x0           x0  = sqrt(a) x - sqrt(1-a) v,   eps = sqrt(1-a) x + sqrt(a) v
Guidance  g = u + w (c - u)  (c, u: the cond and uncond predictions). Each parameterisation is affine in the
others for a fixed x_t, so plain guidance gives the same sample in every space; the space matters once the
guided prediction is rescaled (Lin et al. 2024, sec. 3.4: g' = phi * g * std(c) / std(g) + (1 - phi) * g,
std per image), which is why `guidance_space` is the space the rescale measures in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import Tensor

from raphael.run.errors import check, fail, is_number

PARAMETERISATIONS = ("sample", "epsilon", "v_prediction")  # diffusers' names (diffusion.prediction_type)
X0_CLIPS = ("none", "static", "dynamic")


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """`diffusion.sampler` (conf/diffusion/ddpm.yaml). The defaults here are the sampler before issue 28, for
    checkpoints written before the node existed; the config's values are the measured defaults."""

    guidance_space: str = "sample"            # the prediction guidance rescales in (x0 / eps / v)
    guidance_rescale: float = 0.0             # phi of Lin et al. 2024; 0 = plain guidance
    guidance_interval: tuple[int, int] = (0, 1000)  # guidance only for lo <= t < hi; weight 1 elsewhere
    x0_clip: str = "static"                   # none | static ([-1, 1]) | dynamic (Saharia et al. 2022)
    dynamic_ratio: float = 0.995              # dynamic: the per-image quantile of |x0| taken as s
    dynamic_max: float = 1.5                  # dynamic: s is clamped to [1, dynamic_max]
    clipped_eps: bool = False                 # re-derive the noise from the clipped x0 (diffusers' use_clipped_model_output)

    @classmethod
    def from_config(cls, node: Mapping | None = None, overrides: Mapping | None = None,
                    prefix: str = "diffusion.sampler.") -> SamplerSettings:
        """The run's node (None: the old sampler), then every non-null override on top; errors name `prefix`."""
        values = {k: v for k, v in dict(node or {}).items()}
        values.update({k: v for k, v in dict(overrides or {}).items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            fail(prefix.rstrip("."), unknown, f"known keys are {', '.join(sorted(known))}")
        if "guidance_interval" in values and values["guidance_interval"] is not None:
            values["guidance_interval"] = tuple(values["guidance_interval"])
        return cls(**values).validated(prefix)

    def validated(self, prefix: str = "diffusion.sampler.") -> SamplerSettings:
        interval = self.guidance_interval
        check(self, [
            ("guidance_space", self.guidance_space in PARAMETERISATIONS, f"allowed: {', '.join(PARAMETERISATIONS)}"),
            ("guidance_rescale", is_number(self.guidance_rescale, 0, 1), "a number in [0, 1] (Lin et al.: 0.7)"),
            ("guidance_interval", len(interval) == 2 and all(is_number(v, 0) for v in interval)
             and interval[0] < interval[1], "two timesteps [lo, hi) with 0 <= lo < hi, e.g. [0, 1000]"),
            ("x0_clip", self.x0_clip in X0_CLIPS, f"allowed: {', '.join(X0_CLIPS)}"),
            ("dynamic_ratio", is_number(self.dynamic_ratio, 0, 1, ends="(]"), "a quantile in (0, 1] (Imagen: 0.995)"),
            ("dynamic_max", is_number(self.dynamic_max, 1), "a number >= 1 (1 = static clipping)"),
            ("clipped_eps", isinstance(self.clipped_eps, bool), "true or false"),
        ], prefix=prefix)
        return self


def _scales(alphas_cumprod: Tensor, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    a = alphas_cumprod.to(like.device, torch.float64)[t.long()].view(-1, *([1] * (like.dim() - 1)))
    return a.sqrt(), (1 - a).sqrt()


def to_x0_eps(pred: Tensor, x: Tensor, s0: Tensor, s1: Tensor, kind: str) -> tuple[Tensor, Tensor]:
    """(x0, eps) implied by `pred` of parameterisation `kind` at x_t = x; s0 = sqrt(a), s1 = sqrt(1 - a)."""
    if kind == "sample":
        return pred, (x - s0 * pred) / s1
    if kind == "epsilon":
        return (x - s1 * pred) / s0, pred
    return s0 * x - s1 * pred, s1 * x + s0 * pred  # v_prediction


def from_x0_eps(x0: Tensor, eps: Tensor, s0: Tensor, s1: Tensor, kind: str) -> Tensor:
    return {"sample": x0, "epsilon": eps, "v_prediction": s0 * eps - s1 * x0}[kind]


def convert(pred: Tensor, x: Tensor, alphas_cumprod: Tensor, t: Tensor, source: str, target: str) -> Tensor:
    """`pred` (parameterisation `source`) as parameterisation `target`, in float64 (near t = T, sqrt(a) ~ 5e-5)."""
    if source == target:
        return pred
    s0, s1 = _scales(alphas_cumprod, t, pred)
    x0, eps = to_x0_eps(pred.double(), x.double(), s0, s1, source)
    return from_x0_eps(x0, eps, s0, s1, target).to(pred.dtype)


def rescale(guided: Tensor, cond: Tensor, phi: float) -> Tensor:
    """Lin et al. 2024, eq. 15-16: match the guided prediction's per-image std to the cond one's, mixed by phi."""
    dims = list(range(1, guided.dim()))
    factor = cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True)
    return phi * guided * factor + (1 - phi) * guided


class GuidanceRule:
    """The mix of cond and uncond network outputs at weight `weight` under `settings`; outputs stay in the
    network's parameterisation `prediction_type`. `weight_at(t)` is 1 outside the guidance interval, where
    the caller may skip the uncond rows."""

    def __init__(self, weight: float, settings: SamplerSettings, alphas_cumprod: Tensor, prediction_type: str):
        self.weight, self.settings = float(weight), settings
        self.alphas_cumprod, self.prediction_type = alphas_cumprod, prediction_type

    def weight_at(self, t: Tensor | int) -> float:
        step = int(t.flatten()[0]) if torch.is_tensor(t) else int(t)  # one timestep per sampling call
        lo, hi = self.settings.guidance_interval
        return self.weight if lo <= step < hi else 1.0

    def __call__(self, cond: Tensor, uncond: Tensor, x: Tensor, t: Tensor) -> Tensor:
        w = self.weight_at(t)
        guided = uncond + w * (cond - uncond)  # the same in every space (affine maps), so mixed as it comes
        if self.settings.guidance_rescale == 0 or w == 1.0:
            return guided
        space, own, ab, x64 = self.settings.guidance_space, self.prediction_type, self.alphas_cumprod, x.double()
        mixed = rescale(convert(guided.double(), x64, ab, t, own, space),
                        convert(cond.double(), x64, ab, t, own, space), self.settings.guidance_rescale)
        return convert(mixed, x64, ab, t, space, own).to(guided.dtype)
