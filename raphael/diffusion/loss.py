"""The denoising loss as one object (EDM's `training/loss.py` manner): it owns the timestep draw, the
noise, the forward process, the prediction target and the per-sample weighting, so each of these is a
config value (`diffusion.prediction_type`, `diffusion.loss.*`) a sweep can vary.

Weightings (per sample, on the MSE to the target; SNR(t) = alpha_bar / (1 - alpha_bar)):
- `none`: 1 for every t.
- `min_snr`: min-SNR-gamma (Hang et al. 2023), expressed for each target so that all three weigh the
  implied x0 error by min(SNR, gamma): epsilon min(SNR, g) / SNR, v min(SNR, g) / (SNR + 1),
  sample (x0) min(SNR, g).

Timestep draws (`t_sampling`): `uniform` over 0..T-1 (DDPM), or `logit_normal` (Esser et al. 2024, SD3):
t = floor(T * sigmoid(n)), n ~ N(t_mean, t_std), which spends more samples on the middle of the process.

`DiffusionObjective`, the training objective as one object in the same manner: it draws t and noise, noises the
clean latents, runs the network and returns the named loss terms: `denoise`, the network's own
(`net.loss_terms`, each weighted from the network's config: RAPHAEL's edge and balance, none for the SD U-Net)
and `loss`, their weighted sum.
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler
from torch import Tensor

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
WEIGHTINGS = ("none", "min_snr")
T_SAMPLINGS = ("uniform", "logit_normal")


class DenoisingLoss:
    """`draw(x0)` -> (t, noise); `loss(prediction, x0, noise, t, position_weight)` -> scalar."""

    def __init__(self, scheduler: DDPMScheduler, weighting: str = "none", snr_gamma: float = 5.0,
                 t_sampling: str = "uniform", t_mean: float = 0.0, t_std: float = 1.0):
        self.t_sampling, self.t_mean, self.t_std = t_sampling, float(t_mean), float(t_std)
        self.scheduler = scheduler
        self.prediction_type = scheduler.config.prediction_type
        settings = {"loss.weighting": (weighting, WEIGHTINGS), "loss.t_sampling": (t_sampling, T_SAMPLINGS),
                    "prediction_type": (self.prediction_type, PREDICTION_TYPES)}
        for field, (value, allowed) in settings.items():
            if value not in allowed:
                raise ValueError(f"diffusion.{field} = {value!r} is not allowed: one of {list(allowed)}")
        self.weighting, self.snr_gamma = weighting, float(snr_gamma)
        alpha_bar = scheduler.alphas_cumprod.double()
        self.snr = (alpha_bar / (1 - alpha_bar)).float()

    @property
    def num_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    def draw(self, x0: Tensor) -> tuple[Tensor, Tensor]:
        """t (`t_sampling`) and Gaussian noise shaped like x0, from torch's global RNG (the module seeds it per step)."""
        T, B = self.num_timesteps, x0.shape[0]
        if self.t_sampling == "uniform":  # t first, then the noise, in either draw
            return torch.randint(0, T, (B,), device=x0.device), torch.randn_like(x0)
        u = torch.sigmoid(torch.randn(B, device=x0.device) * self.t_std + self.t_mean)  # logit_normal
        return (u * T).long().clamp(max=T - 1), torch.randn_like(x0)

    def target(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        if self.prediction_type == "v_prediction":
            return self.scheduler.get_velocity(x0, noise, t)
        if self.prediction_type == "sample":
            return x0
        return noise

    def weight(self, t: Tensor) -> Tensor:
        """Per-sample weights (B,)."""
        if self.weighting == "none":
            return torch.ones(t.shape, device=t.device)
        snr = self.snr.to(t.device)[t]
        clipped = snr.clamp(max=self.snr_gamma)
        if self.prediction_type == "epsilon":
            return clipped / snr
        if self.prediction_type == "v_prediction":
            return clipped / (snr + 1)
        return clipped

    def __call__(self, prediction: Tensor, x0: Tensor, noise: Tensor, t: Tensor,
                 position_weight: Tensor | None = None) -> Tensor:
        """Weighted MSE. `position_weight` (broadcastable to the input, e.g. ERNIE-ViLG 2.0's key-object
        regions) reweights positions inside each sample and is normalised by its sum."""
        err = (prediction.float() - self.target(x0, noise, t).float()) ** 2
        per_sample = self.weight(t).view(-1, *([1] * (err.dim() - 1)))
        if position_weight is None:
            return (err * per_sample).mean()
        position_weight = position_weight.expand_as(err)
        return (err * per_sample * position_weight).sum() / position_weight.sum()


class DiffusionObjective:
    def __init__(self, scheduler: DDPMScheduler, **loss_cfg) -> None:
        self.scheduler = scheduler
        self.denoising = DenoisingLoss(scheduler, **loss_cfg)

    def draw(self, x0: Tensor) -> tuple[Tensor, Tensor]:
        """(t, noise) for a training step."""
        return self.denoising.draw(x0)

    def __call__(self, net, x0: Tensor, text, t: Tensor, noise: Tensor, batch: dict) -> tuple[dict[str, Tensor], object]:
        """(named loss terms with the total under `loss`, the network's output). `batch` may carry `edge` (the
        edge targets, whose size the edge heads predict at) and `loss_weight` (per-position weights of the
        denoising loss, e.g. ERNIE-ViLG 2.0's key-object regions)."""
        xt = self.scheduler.add_noise(x0, noise, t)
        edge = batch.get("edge")
        out = net(xt, t, text, edge_size=None if edge is None else tuple(edge.shape[-2:]))
        losses = {"denoise": self.denoising(out.sample, x0, noise, t, batch.get("loss_weight"))}
        total = losses["denoise"]
        for name, (value, weight) in net.loss_terms(out, batch, t).items():
            losses[name] = value
            if weight is not None:
                total = total + weight * value
        losses["loss"] = total
        return losses, out
