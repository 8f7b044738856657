"""MuonAdamW: Muon takes the matrices, AdamW the rest, one schedule drives both, checkpoints round-trip."""

from __future__ import annotations

import copy

import torch
from torch import nn

from raphael.lr_schedule import BudgetLR, BudgetSchedule
from raphael.optimizers import MuonAdamW


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.LayerNorm(8))


def _step(net, opt):
    loss = net(torch.randn(2, 3, 4, 4)).pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()


def test_matrices_go_to_muon_and_the_rest_to_adamw():
    net = _net()
    opt = MuonAdamW(net.parameters(), lr=1e-2)
    muon = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    adamw = {id(p) for g in opt.adamw.param_groups for p in g["params"]}
    assert muon == {id(net[2].weight)}
    assert adamw == {id(p) for p in net.parameters()} - muon
    before = [p.detach().clone() for p in net.parameters()]
    _step(net, opt)
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))  # every parameter moved
    assert "momentum_buffer" in opt.muon.state[net[2].weight] and "exp_avg" in opt.adamw.state[net[0].weight]


def test_the_schedule_scales_both_and_the_state_round_trips():
    net = _net()
    opt = MuonAdamW(net.parameters(), lr=1e-2)
    sched = BudgetLR(opt, BudgetSchedule(warmup=4))
    _step(net, opt)
    sched.step()
    assert opt.muon.param_groups[0]["lr"] == opt.adamw.param_groups[0]["lr"] == 1e-2 * 2 / 4
    state = copy.deepcopy(opt.state_dict())  # as a checkpoint file holds it
    twin = _net()
    twin.load_state_dict(net.state_dict())
    opt2 = MuonAdamW(twin.parameters(), lr=1e-2)
    opt2.load_state_dict(state)
    assert opt2.muon.param_groups[0]["lr"] == opt.muon.param_groups[0]["lr"]
    torch.manual_seed(1)
    _step(net, opt)
    torch.manual_seed(1)
    _step(twin, opt2)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters()))
