"""FID feature extractors that are not a task's own.

``TorchScriptInception``: Inception-V3 features from a local TorchScript file (the
``inception-2015-12-05.pt`` that StyleGAN2-ADA / clean-fid distribute: called as
``net(uint8 images at 299x299, return_features=True)`` -> (B, 2048)); used with
``fid.feature=inception fid.inception_weights=PATH``. A task's own feature network (the shapes task:
``shapes_cnn``, raphael.tasks.shapes.feature_cnn) comes from ``task.feature_network``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from raphael.run.errors import ConfigError


class TorchScriptInception(nn.Module):
    """Inception-V3 pool features (2048) from a local TorchScript file; uint8 (B, 3, H, W) input."""

    num_features = 2048

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"fid.inception_weights={str(path)!r} is not a file. Pass a local TorchScript Inception-V3 "
                "feature extractor (e.g. inception-2015-12-05.pt, called as net(uint8 images, "
                "return_features=True) -> (B, 2048)), or use the offline default fid.feature=shapes_cnn."
            )
        try:
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as err:  # noqa: BLE001 - any failure here means the file is not usable
            raise ConfigError(
                f"fid.inception_weights={str(path)!r} could not be loaded as TorchScript "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Export the "
                "Inception-V3 feature extractor with torch.jit.save, or use fid.feature=shapes_cnn."
            ) from None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
            x = x.round().clamp(0, 255).to(torch.uint8)
        out = self.net(x, return_features=True)
        if out.ndim != 2 or out.shape[-1] != self.num_features:
            raise ConfigError(f"fid.inception_weights: the network returned features of shape "
                              f"{tuple(out.shape)}, expected (B, {self.num_features}).")
        return out
