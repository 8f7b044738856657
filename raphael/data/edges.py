"""Edge targets for the edge-supervision head: Canny (kornia, the default) and an HED network
that loads its weights from a local file (the paper's choice; weights cannot be downloaded here).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import kornia
import torch
import torch.nn.functional as F
from torch import nn

# tuned on 32x32 shapes renders: ~94% of object boundary pixels within 1 px of an edge,
# ~92% of edge pixels within 1 px of a boundary (larger images: kernel 5, sigma 1 work well)
CANNY_LOW = 0.1
CANNY_HIGH = 0.2
CANNY_KERNEL = 3
CANNY_SIGMA = 0.8


@contextmanager
def _one_thread_for_small(numel: int, limit: int = 1 << 22):
    """Small CPU tensors are several times faster on one thread (no oversubscription on a busy
    machine); the previous thread count is restored afterwards."""
    threads = torch.get_num_threads()
    if numel < limit and threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@torch.no_grad()
def canny_edges(
    images: torch.Tensor,
    low_threshold: float = CANNY_LOW,
    high_threshold: float = CANNY_HIGH,
    kernel_size: int = CANNY_KERNEL,
    sigma: float = CANNY_SIGMA,
) -> torch.Tensor:
    """Binary edge maps ``(B, 1, H, W)`` in {0, 1} of float ``(B, C, H, W)`` images in [0, 1].

    Canny runs on each channel separately and the maps are OR-ed, so edges between colors of
    similar luminance (yellow on white) are found too."""
    if images.ndim != 4:
        raise ValueError(f"images: expected (B, C, H, W), got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    if b == 0:
        return images.new_zeros(0, 1, h, w)
    x = images.float().clamp(0, 1).reshape(b * c, 1, h, w)
    with _one_thread_for_small(x.numel() if x.device.type == "cpu" else 1 << 30):
        _, edges = kornia.filters.canny(
            x, low_threshold, high_threshold, (kernel_size, kernel_size), (sigma, sigma), hysteresis=True
        )
    return (edges.reshape(b, c, h, w).amax(dim=1, keepdim=True) > 0).to(images.dtype)


# ---------------------------------------------------------------------------------------------
# HED (Xie & Tu 2015): VGG16 stages, a 1x1 side output per stage, upsampled and fused.

HED_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convs) per stage
CAFFE_BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)


class HEDNetwork(nn.Module):
    """Holistically-nested edge detection. ``forward(images (B, 3, H, W) in [0, 1]) ->
    (B, 1, H, W)`` edge probabilities. Parameter names: ``stages.{i}.{layer}``, ``side.{i}``,
    ``fuse``; ``load(path)`` reads such a state dict from a local file."""

    def __init__(self, weights: str | Path | None = None, caffe_input: bool = True):
        super().__init__()
        self.caffe_input = caffe_input  # BGR, 0-255, mean-subtracted, as the original weights
        stages, in_ch = [], 3
        for i, (ch, convs) in enumerate(HED_STAGES):
            layers: list[nn.Module] = [nn.MaxPool2d(2, 2, ceil_mode=True)] if i > 0 else []
            for _ in range(convs):
                layers += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = ch
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.side = nn.ModuleList(nn.Conv2d(ch, 1, 1) for ch, _ in HED_STAGES)
        self.fuse = nn.Conv2d(len(HED_STAGES), 1, 1)
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            self.load(weights)

    def load(self, path: str | Path) -> HEDNetwork:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"HED weights not found at {str(path)!r}. HED weights cannot be downloaded here: "
                "put a state dict (keys stages.*, side.*, fuse.*) at that path, or use --edges canny."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"HED weights {str(path)!r} do not fit HEDNetwork: missing keys {missing[:5]}, "
                f"unexpected keys {unexpected[:5]}"
            )
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        x = images.float()
        if self.caffe_input:
            x = x.flip(1) * 255.0 - self.mean
        sides = []
        for stage, side in zip(self.stages, self.side):
            x = stage(x)
            sides.append(F.interpolate(side(x), size=(h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


@torch.no_grad()
def hed_edges(images: torch.Tensor, network: HEDNetwork) -> torch.Tensor:
    """Soft HED edge maps ``(B, 1, H, W)`` in [0, 1] of ``(B, 3, H, W)`` images in [0, 1]."""
    network.eval()
    return network(images).clamp(0, 1).to(images.dtype)
