"""Muon for the 2-D weight matrices, AdamW for everything else, as one optimizer (`optim=muon`).

torch.optim.Muon orthogonalises each matrix's momentum (Newton-Schulz) and takes 2-D parameters only; its
documentation pairs it with AdamW for biases, norms, convolutions and embeddings. Lightning's automatic
optimisation drives one optimizer, so `MuonAdamW` holds both and shares their parameter groups: the learning
rate schedule (raphael.lr_schedule) scales every group alike. With `adjust_lr_fn="match_rms_adamw"` (Moonshot,
"Muon is Scalable for LLM Training") Muon's updates have AdamW's RMS, so one `lr` serves both.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim import AdamW, Muon, Optimizer


class MuonAdamW(Optimizer):
    """`MuonAdamW(params, lr, ...)`: parameters with `ndim == 2` go to Muon, the rest to AdamW."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, weight_decay: float = 0.0,
                 momentum: float = 0.95, betas: tuple[float, float] = (0.9, 0.999), fused: bool | None = None,
                 adjust_lr_fn: str = "match_rms_adamw"):
        params = list(params)
        matrices = [p for p in params if p.ndim == 2]
        others = [p for p in params if p.ndim != 2]
        super().__init__([{"params": matrices}, {"params": others}], {"lr": lr})
        self.muon = Muon(matrices, lr=lr, weight_decay=weight_decay, momentum=momentum, adjust_lr_fn=adjust_lr_fn)
        self.adamw = AdamW(others, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=fused)
        # the children's groups are this optimizer's groups: a scheduler that sets group["lr"] reaches both
        self.param_groups = self.muon.param_groups + self.adamw.param_groups

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.adamw.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
