"""Routing records read from `aux` (docs/interfaces.md): which space expert each text token takes and which
time expert each sample takes. `RoutingStats` accumulates counts (validation, RoutingCallback);
`RoutingRecorder` is an `on_step(t, aux)` hook for `module.generate(..., on_step=recorder)` (sampling,
the path probe and raphael.analysis.diffusion_paths).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import torch


def normalised_entropy(counts: np.ndarray) -> float:
    """Entropy of the load divided by log(E): 1 = every expert equally used, 0 = one expert takes all."""
    total = counts.sum()
    if total <= 0 or len(counts) < 2:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(len(counts)))


class RoutingStats:
    """Counts accumulated from aux records: space load per block, (t, time expert) pairs per block."""

    def __init__(self) -> None:
        self.space_counts: dict[str, np.ndarray] = {}
        self.time_t: dict[str, list[np.ndarray]] = defaultdict(list)
        self.time_expert: dict[str, list[np.ndarray]] = defaultdict(list)
        self.time_num_experts: dict[str, int] = {}

    def add(self, aux, t: torch.Tensor) -> None:
        """Add one aux record; only its first len(t) rows (the cond rows under guidance) count."""
        n = len(t)
        t_np = t.detach().cpu().numpy()
        for blk in aux.blocks:
            if blk.space_routes is not None:
                routes = blk.space_routes[:n].detach().cpu()
                E = blk.space_probs.shape[-1]
                counts = torch.bincount(routes[routes >= 0], minlength=E).numpy()
                self.space_counts[blk.name] = self.space_counts.get(blk.name, 0) + counts
            if blk.time_routes is not None:
                self.time_t[blk.name].append(t_np)
                self.time_expert[blk.name].append(blk.time_routes[:n].detach().cpu().numpy())
                self.time_num_experts[blk.name] = blk.time_probs.shape[-1]

    def space_load(self) -> pd.DataFrame:
        """Rows (block, expert, tokens, fraction)."""
        rows = []
        for block, counts in self.space_counts.items():
            total = max(int(counts.sum()), 1)
            rows += [{"block": block, "expert": e, "tokens": int(c), "fraction": c / total}
                     for e, c in enumerate(counts)]
        return pd.DataFrame(rows, columns=["block", "expert", "tokens", "fraction"])

    def time_pairs(self) -> pd.DataFrame:
        """Rows (block, t, expert): one per sample and block."""
        frames = [pd.DataFrame({"block": b, "t": np.concatenate(self.time_t[b]),
                                "expert": np.concatenate(self.time_expert[b])}) for b in self.time_t]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["block", "t", "expert"])

    def entropies(self) -> dict[str, float]:
        """{'space_load_entropy/<block>': H, 'time_load_entropy/<block>': H}."""
        out = {f"space_load_entropy/{b}": normalised_entropy(c) for b, c in self.space_counts.items()}
        for b, experts in self.time_expert.items():
            counts = np.bincount(np.concatenate(experts), minlength=self.time_num_experts[b])
            out[f"time_load_entropy/{b}"] = normalised_entropy(counts)
        return out


class RoutingRecorder:
    """`on_step(t, aux)` hook for sampling: keeps every step's space routes and time experts.

    Under guidance the aux record holds cond rows then uncond rows; `t` has the cond batch size,
    so the recorder keeps the first len(t) rows.
    """

    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.stats = RoutingStats()

    def __call__(self, t: torch.Tensor, aux) -> None:
        n = len(t)
        space = [b.space_routes[:n].detach().cpu() for b in aux.blocks if b.space_routes is not None]
        self.steps.append({
            "t": t.detach().cpu(),
            "space_routes": torch.stack(space, -1) if space else None,  # (B, L, n_space_layers)
            "space_blocks": [b.name for b in aux.blocks if b.space_routes is not None],
        })
        self.stats.add(aux, t)

    def token_routes(self, step: int = 0) -> torch.Tensor:
        """(B, L, n_space_layers) routes recorded at `step` (-1 at padding)."""
        if not self.steps:
            raise RuntimeError("nothing recorded: pass the recorder as generate(..., on_step=recorder)")
        record = self.steps[step]
        if record["space_routes"] is None:
            return torch.empty(len(record["t"]), 0, 0, dtype=torch.long)
        return record["space_routes"]
