"""Fig. 9: do the time experts specialise by noise level? Per time-MoE block, the share of each timestep bin
that each expert takes, and one number: the normalised mutual information between expert and timestep bin
(0: the expert says nothing about the noise level; 1: each bin has its own expert)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import normalized_mutual_info_score

from raphael.analysis.routing_records import RoutingStats


@torch.no_grad()
def time_routes_on_grid(module, t_values: Sequence[int], batch_size: int = 100) -> RoutingStats:
    """The time experts every t in `t_values` takes. The time gates read t alone, so a blank image and an
    empty caption stand in for a batch; eval mode: no gate noise."""
    net, was_training = module.net, module.net.training
    net.eval()
    stats = RoutingStats()
    hw = module.latent_hw((module.image_size, module.image_size))
    for start in range(0, len(t_values), batch_size):
        t = torch.as_tensor(list(t_values[start:start + batch_size]), dtype=torch.long, device=module.compute_device)
        text = module.encode_text([""] * len(t))
        x = torch.zeros(len(t), net.in_channels, *hw, device=t.device)
        stats.add(net(x, t, text).aux, t)
    net.train(was_training)
    return stats


def specialisation(pairs: pd.DataFrame, num_train_timesteps: int, bins: int = 10) -> pd.DataFrame:
    """Rows (block, nmi, experts_used): `pairs` holds (block, t, expert) rows (RoutingStats.time_pairs)."""
    edges = np.linspace(0, num_train_timesteps, bins + 1)[1:-1]
    rows = []
    for block, part in pairs.groupby("block", sort=False):
        t_bin = np.digitize(part["t"].to_numpy(), edges)
        rows.append({"block": block, "nmi": float(normalized_mutual_info_score(t_bin, part["expert"].to_numpy())),
                     "experts_used": int(part["expert"].nunique())})
    return pd.DataFrame(rows, columns=["block", "nmi", "experts_used"])
