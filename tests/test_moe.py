import pytest
import torch

from raphael.benchmarks.dispatch import space_moe_reference
from raphael.nn.moe import SpaceMoE, TimeMoE, region_masks
from raphael.nn.routers import RouterContext, build_router
from raphael.nn.routers.base import switch_balance_loss
from raphael.nn.routers.time import ddpm_linear_alphas_cumprod, equal_noise_mass_boundaries

D, DY, E = 8, 12, 4


def make_inputs(B=2, N=16, L=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, N, D, generator=g, dtype=dtype)
    y = torch.randn(B, L, DY, generator=g, dtype=dtype)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    M = torch.randn(B, N, L, generator=g, dtype=dtype).masked_fill(~mask[:, None, :], -1e9).softmax(-1)
    return h, y, mask, M


def make_moe(grad="switch", alpha=0.2, seed=0):
    torch.manual_seed(seed)
    return SpaceMoE(D, E, alpha=alpha, text_dim=DY, ffn_mult=2, gate_hidden=16, grad=grad).double().eval()


def grads(moe, h):
    out = {"h": h.grad.clone()}
    for name, p in moe.named_parameters():
        out[name] = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
    return out


@pytest.mark.parametrize("grad", ["switch", "straight_through", "none"])
def test_space_moe_fast_dispatch_equals_reference_forward_and_grads(grad):
    moe = make_moe(grad)
    h, y, mask, M = make_inputs()
    h1 = h.clone().requires_grad_(True)
    res = moe(h1, y, mask, M)
    res.output.square().sum().backward()
    g_fast = grads(moe, h1)
    moe.zero_grad()
    h2 = h.clone().requires_grad_(True)
    ref = space_moe_reference(moe, h2, y, mask, M)
    ref.square().sum().backward()
    g_ref = grads(moe, h2)
    torch.testing.assert_close(res.output, ref)
    for k in g_ref:
        torch.testing.assert_close(g_fast[k], g_ref[k], msg=k)


def test_space_moe_training_noise_matches_reference_with_same_routes():
    moe = make_moe().train()
    moe.gate.noise_std = 0.5
    h, y, mask, M = make_inputs()
    res = moe(h, y, mask, M)
    ref = space_moe_reference(moe, h, y, mask, M, routes=res.routes)
    torch.testing.assert_close(res.output, ref)


def test_space_moe_shapes_and_padding_routes():
    moe = make_moe()
    h, y, mask, M = make_inputs()
    res = moe(h, y, mask, M)
    assert res.output.shape == h.shape
    assert res.routes.shape == mask.shape and res.probs.shape == (*mask.shape, E)
    assert (res.routes[~mask] == -1).all() and (res.routes[mask] >= 0).all()
    assert res.balance_loss.dim() == 0


def test_route_depends_only_on_own_text_state():
    moe = make_moe()
    h, y, mask, M = make_inputs()
    base = moe(h, y, mask, M).routes
    y2 = y.clone()
    y2[:, 1:] = torch.randn_like(y2[:, 1:])  # change all other tokens
    h2, _, _, M2 = make_inputs(seed=5)  # another image / attention map
    other = moe(h2, y2, mask, M2).routes
    assert torch.equal(base[:, 0], other[:, 0])


def test_region_masks_follow_alpha():
    _, _, mask, M = make_inputs()
    top = region_masks(M, mask, alpha=1.0)
    expected = (M == M.amax(1, keepdim=True)) & mask[:, None, :]
    assert torch.equal(top.bool(), expected)
    assert (top.sum(1)[mask] == 1).all()
    everything = region_masks(M, mask, alpha=1e-12)
    assert torch.equal(everything.bool(), mask[:, None, :].expand_as(M))


def test_padding_not_counted_in_n_y():
    moe = make_moe()
    h, y, mask, M = make_inputs(B=1, L=3)
    out = moe(h, y, mask, M).output
    y_pad = torch.cat([y, torch.randn(1, 4, DY, dtype=y.dtype)], 1)
    mask_pad = torch.cat([mask, torch.zeros(1, 4, dtype=torch.bool)], 1)
    M_pad = torch.cat([M, torch.zeros(1, M.shape[1], 4, dtype=M.dtype)], 2)
    res = moe(h, y_pad, mask_pad, M_pad)
    torch.testing.assert_close(res.output, out)
    assert (res.routes[0, 3:] == -1).all()


def test_space_moe_evaluates_each_expert_once_on_active_rows_only():
    moe = make_moe(alpha=1.0)
    h, y, mask, M = make_inputs()
    calls = []
    for e, expert in enumerate(moe.experts):
        expert.register_forward_hook(lambda m, i, o, e=e: calls.append((e, i[0].shape[0])))
    res = moe(h, y, mask, M)
    experts_used = set(res.routes[mask].tolist())
    assert sorted(e for e, _ in calls) == sorted(experts_used)  # once each
    assert sum(n for _, n in calls) <= int(mask.sum())  # alpha=1: one argmax row per real token


def test_gate_grad_options():
    h, y, mask, M = make_inputs()
    for grad, expect in [("switch", True), ("straight_through", True), ("none", False)]:
        moe = make_moe(grad)
        moe(h, y, mask, M).output.sum().backward()
        gate_grads = [p.grad for p in moe.gate.parameters()]
        has = any(g is not None and g.abs().sum() > 0 for g in gate_grads)
        assert has == expect, grad
    # straight_through: forward equals g = 1
    st, none = make_moe("straight_through"), make_moe("none")
    torch.testing.assert_close(st(h, y, mask, M).output, none(h, y, mask, M).output)
    # none: the balance loss gives the gate nothing either
    moe = make_moe("none")
    assert not moe(h, y, mask, M).balance_loss.requires_grad


def test_switch_balance_loss_is_one_when_balanced():
    probs = torch.full((8, 4), 0.25)
    routes = torch.arange(8) % 4
    torch.testing.assert_close(switch_balance_loss(probs, routes), torch.tensor(1.0))
    mask = torch.tensor([True] * 4 + [False] * 4)
    routes_pad = torch.cat([torch.arange(4), torch.zeros(4, dtype=torch.long)])
    torch.testing.assert_close(switch_balance_loss(probs, routes_pad, mask), torch.tensor(1.0))


@pytest.mark.parametrize("router", ["learned", "fixed_uniform", "fixed_intervals"])
def test_time_moe_one_expert_per_sample(router):
    torch.manual_seed(0)
    moe = TimeMoE(D, 3, router=router, ffn_mult=2, gate_hidden=16).double()
    h = torch.randn(5, 7, D, dtype=torch.float64)
    t = torch.tensor([0, 10, 400, 700, 999])
    res = moe(h, t)
    assert res.output.shape == h.shape and res.routes.shape == (5,) and res.probs.shape == (5, 3)
    for b in range(5):
        r = int(res.routes[b])
        g = res.probs[b, r] if router == "learned" else 1.0
        torch.testing.assert_close(res.output[b], g * moe.experts[r](h[b]))
    if router != "learned":
        assert not list(moe.gate.parameters()) and float(res.balance_loss) == 0.0



def test_time_moe_shared_phase_uses_expert_zero_then_split_copies_it():
    torch.manual_seed(0)
    moe = TimeMoE(D, 3, ffn_mult=2, gate_hidden=16, shared=True).double()
    h, t = torch.randn(4, 5, D, dtype=torch.float64), torch.tensor([0, 300, 600, 999])
    res = moe(h, t)
    assert res.routes.tolist() == [0, 0, 0, 0] and float(res.balance_loss) == 0.0
    torch.testing.assert_close(res.output, moe.experts[0](h))
    assert not torch.equal(moe.experts[1][0].weight, moe.experts[0][0].weight)
    pairs = moe.split()
    assert len(pairs) == 2 * len(list(moe.experts[0].parameters())) and not bool(moe.shared)
    for e in (1, 2):
        for a, b in zip(moe.experts[0].parameters(), moe.experts[e].parameters()):
            assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    assert moe(h, t).routes.unique().numel() >= 1 and moe.state_dict()["shared"].item() is False


def test_time_moe_loads_a_state_dict_from_before_the_warm_start():
    old = {k: v for k, v in TimeMoE(D, 3, ffn_mult=2).state_dict().items() if k != "shared"}
    moe = TimeMoE(D, 3, ffn_mult=2, shared=True)
    moe.load_state_dict(old)
    assert not bool(moe.shared)

def test_fixed_uniform_block_boundaries():
    gate = build_router("time", "fixed_uniform", RouterContext(4, num_train_timesteps=1000))
    t = torch.tensor([0, 249, 250, 499, 500, 749, 750, 999])
    assert gate(t).routes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_fixed_intervals_boundaries_and_equal_noise_mass():
    gate = build_router("time", "fixed_intervals", RouterContext(3, boundaries=[100, 600]))
    assert gate(torch.tensor([0, 99, 100, 599, 600, 999])).routes.tolist() == [0, 0, 1, 1, 2, 2]
    ac = ddpm_linear_alphas_cumprod(1000)
    b = equal_noise_mass_boundaries(4, ac)
    assert len(b) == 3 and b == sorted(b) and 250 < b[0] < b[1] < b[2] < 1000  # noise mass grows with t
    mass = (1 - ac)
    parts = [mass[lo:hi].sum() for lo, hi in zip([0, *b], [*b, 1000])]
    assert max(parts) / min(parts) < 1.02
    assert equal_noise_mass_boundaries(4, None, 1000) == [250, 500, 750]


def test_learned_time_gate_noise_only_in_training():
    torch.manual_seed(0)
    gate = build_router("time", "learned", RouterContext(4, noise_std=10.0)).eval()
    t = torch.randint(0, 1000, (64,))
    assert torch.equal(gate(t).routes, gate(t).routes)
    gate.train()
    assert not torch.equal(gate(t).routes, gate.eval()(t).routes)
