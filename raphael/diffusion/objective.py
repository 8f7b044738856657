"""The training objective as one object, in EDM's manner: it draws t and noise, noises the clean latents, runs
the network and returns the named loss terms: `denoise`, the network's own (`net.loss_terms`, each weighted from
the network's config: RAPHAEL's edge and balance, none for the SD U-Net) and `loss`, their weighted sum."""

from __future__ import annotations

from diffusers import DDPMScheduler
from torch import Tensor

from raphael.diffusion.loss import DenoisingLoss


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
