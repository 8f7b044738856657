"""FID through torchmetrics' FrechetInceptionDistance with a custom feature module (the task's own, or
``fid_features``): the real statistics (the task's reference images) are computed once per evaluation,
then every guidance weight's generated images are compared with them."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance


class ReferenceFID:
    """``update(fake uint8 batch)``, ``compute() -> float``, ``reset()`` keeps the real statistics."""

    def __init__(self, feature: nn.Module, real_images: torch.Tensor, batch_size: int = 256) -> None:
        self.metric = FrechetInceptionDistance(feature=feature, reset_real_features=False)
        for start in range(0, len(real_images), batch_size):
            self.metric.update(real_images[start : start + batch_size], real=True)

    @torch.no_grad()
    def update(self, fake_uint8: torch.Tensor) -> None:
        self.metric.update(fake_uint8, real=False)

    def compute(self) -> float:
        if self.metric.fake_features_num_samples < 2:
            return float("nan")  # a covariance needs two samples
        return float(self.metric.compute())

    def reset(self) -> None:
        self.metric.reset()
