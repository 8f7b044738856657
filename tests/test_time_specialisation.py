"""Fig. 9's number: the mutual information between time expert and timestep bin, on hand-built routes and on a
network's own time gates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_routing import build_tiny_module

from raphael.analysis.time_specialisation import specialisation, time_routes_on_grid


def test_one_expert_per_interval_reads_one_and_a_collapsed_gate_zero():
    t = np.arange(1000)
    pairs = pd.concat([pd.DataFrame({"block": "split", "t": t, "expert": t // 250}),
                       pd.DataFrame({"block": "collapsed", "t": t, "expert": 0})])
    table = specialisation(pairs, num_train_timesteps=1000, bins=4).set_index("block")
    assert table.loc["split", "nmi"] == pytest.approx(1.0)
    assert table.loc["collapsed", "nmi"] == pytest.approx(0.0)
    assert table.loc["split", "experts_used"] == 4 and table.loc["collapsed", "experts_used"] == 1


def test_grid_routes_cover_every_t_in_every_time_moe_block():
    module = build_tiny_module()
    stats = time_routes_on_grid(module, range(0, 1000, 7), batch_size=50)
    pairs = stats.time_pairs()
    blocks = pairs["block"].unique()
    assert len(blocks) >= 1
    for block in blocks:
        assert sorted(pairs[pairs.block == block]["t"]) == list(range(0, 1000, 7))
    table = specialisation(pairs, 1000)
    assert table["nmi"].between(0, 1).all()
