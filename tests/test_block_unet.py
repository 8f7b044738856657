from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from raphael.benchmarks.common import compose_train_config
from raphael.nn import ExpertEnsembleConfig, RaphaelUNetConfig, SDUNetConfig, build_model, model_config
from raphael.nn.block import TransformerBlock
from raphael.nn.config import SpaceMoEConfig, TimeMoEConfig
from raphael.nn.denoiser import DenoiserOutput
from raphael.nn.edge_head import EdgeHead
from raphael.nn.layers import FeedForward
from raphael.nn.text_encoder import TextEncoding

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
DY = 12


def tiny_cfg(**over) -> dict:
    cfg = dict(_target_=RaphaelUNetConfig._target_, channels=8, patch_size=1, channel_mult=[1, 2], transformer_depth=[1, 1], mid_transformer_depth=1, head_dim=8,
               ffn_mult=2, gate=dict(hidden=8, noise_std=0.01, grad="switch"),
               edge=dict(enabled=True, hidden=8, source="pooled"))
    cfg.update(over)
    return cfg


def text(B=2, L=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    return TextEncoding(torch.randn(B, L, DY, generator=g), mask, torch.zeros(B, dtype=torch.long),
                        torch.zeros(B, L, dtype=torch.long))


def test_block_shapes_and_both_moes_off_is_one_ffn():
    blk = TransformerBlock(16, DY, head_dim=8, ffn_mult=2)
    h, y = torch.randn(2, 12, 16), text()
    out, aux = blk(h, torch.tensor([3, 900]), y.states, y.mask, "b", (3, 4))
    assert out.shape == h.shape and aux.attn_map.shape == (2, 12, 5) and aux.hw == (3, 4)
    assert aux.space_routes.shape == (2, 5) and aux.space_probs.shape == (2, 5, 6)
    assert aux.time_routes.shape == (2,) and aux.time_probs.shape == (2, 4)
    base = TransformerBlock(16, DY, head_dim=8, space_moe=SpaceMoEConfig(enabled=False),
                            time_moe=TimeMoEConfig(enabled=False))
    assert sum(isinstance(m, FeedForward) for m in base.modules()) == 1
    out, aux = base(h, torch.tensor([3, 900]), y.states, y.mask)
    assert out.shape == h.shape and aux.space_routes is None and aux.time_routes is None
    assert aux.balance_space is None and aux.balance_time is None


@pytest.mark.parametrize("source", ["pooled", "all_tokens"])
def test_edge_head_shapes(source):
    head = EdgeHead(source, hidden=8, max_tokens=7)
    y = text()
    M = torch.rand(2, 4 * 6, 5).softmax(-1)
    assert head(M, y.mask, y.pooled_index, (4, 6), (16, 24)).shape == (2, 1, 16, 24)
    assert len([m for m in head.net if isinstance(m, torch.nn.Conv2d)]) == 5


def test_edge_head_runs_only_on_supervised_rows_in_training():
    """t >= t_c rows (which the edge loss does not read) are 0 in training, and the rows it reads
    and their gradients are those of the head run on every row; eval mode runs every row."""
    torch.manual_seed(0)
    head, y = EdgeHead(hidden=8, t_c=500), text()
    M, t = torch.rand(2, 4 * 6, 5).softmax(-1), torch.tensor([100, 700])
    head.eval()
    full = head(M, y.mask, y.pooled_index, (4, 6), (8, 12), t)
    full[0].sum().backward()
    grads = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    head.train()
    part = head(M, y.mask, y.pooled_index, (4, 6), (8, 12), t)
    assert (part[1] == 0).all() and (full[1] != 0).any()
    torch.testing.assert_close(part[0], full[0])
    part.sum().backward()
    for p, g in zip(head.parameters(), grads):
        torch.testing.assert_close(p.grad, g)
    none = head(M, y.mask, y.pooled_index, (4, 6), (8, 12), torch.tensor([600, 700]))
    assert none.shape == (2, 1, 8, 12) and (none == 0).all()  # no row below t_c: nothing to run


def test_unet_non_square_contract():
    torch.manual_seed(0)
    net = build_model(tiny_cfg(), DY)
    x, t = torch.randn(2, 3, 16, 8), torch.tensor([1, 999])
    out = net(x, t, text(), edge_size=(32, 16))
    assert isinstance(out, DenoiserOutput) and out.sample.shape == x.shape
    names = [b.name for b in out.aux.blocks]
    assert names == ["down0.0", "down1.0", "mid.0", "up1.0", "up0.0"]
    assert [b.hw for b in out.aux.blocks] == [(16, 8), (8, 4), (8, 4), (8, 4), (16, 8)]
    for b in out.aux.blocks:
        assert b.attn_map.shape == (2, b.hw[0] * b.hw[1], 5)
        torch.testing.assert_close(b.attn_map.sum(-1), torch.ones(2, b.hw[0] * b.hw[1]))
        assert b.edge_logits.shape == (2, 1, 32, 16)
        assert (b.space_routes[0, 3:] == -1).all() and b.time_routes.shape == (2,)
    assert out.aux.balance_space.dim() == 0 and out.aux.balance_time.dim() == 0
    assert (out.sample == 0).all()  # zero-initialised output conv
    out.sample.sum().backward()
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 3, 15, 8), t[:1], text(B=1))


def test_unet_parts_off():
    net = build_model(tiny_cfg(space_moe=dict(enabled=False), time_moe=dict(enabled=False),
                               edge=dict(enabled=False)), DY)
    out = net(torch.randn(1, 3, 8, 8), torch.tensor([5]), text(B=1))
    assert all(b.edge_logits is None and b.space_routes is None for b in out.aux.blocks)
    assert float(out.aux.balance_space) == 0 and float(out.aux.balance_time) == 0
    assert net.text_routes(text(B=1)).shape == (1, 5, 0)
    for router in ["fixed_uniform", "fixed_intervals"]:
        net = build_model(tiny_cfg(time_moe=dict(router=router)), DY)
        out = net(torch.randn(2, 3, 8, 8), torch.tensor([5, 995]), text())
        assert out.aux.blocks[0].time_routes.tolist() == [0, 3]


def test_text_routes_equal_recorded_routes():
    torch.manual_seed(0)
    net = build_model(tiny_cfg(), DY).eval()
    y = text(B=3, L=6)
    # make the pooled routes non-trivial: random gates
    for blk in net.transformer_blocks():
        torch.nn.init.normal_(blk.block.space_moe.gate.net[-1].weight, std=3.0)
    out = net(torch.randn(3, 3, 8, 8), torch.tensor([1, 500, 999]), y)
    recorded = torch.stack([b.space_routes for b in out.aux.blocks], -1)
    fast = net.text_routes(y)
    assert fast.shape == (3, 6, 5) and torch.equal(fast, recorded)


def test_checkpointing_same_outputs_and_grads():
    torch.manual_seed(0)
    plain = build_model(tiny_cfg(), DY).train()
    ckpt = build_model(tiny_cfg(checkpointing=True), DY).train()
    ckpt.load_state_dict(plain.state_dict())
    for blk in plain.modules():  # non-zero output so grads reach every layer
        if isinstance(blk, torch.nn.Conv2d) and blk is plain.out[-1]:
            torch.nn.init.normal_(blk.weight, std=0.1)
    ckpt.load_state_dict(plain.state_dict())
    x, t, y = torch.randn(2, 3, 8, 8), torch.tensor([3, 700]), text()
    results = []
    for net in (plain, ckpt):
        torch.manual_seed(1)  # same gate noise
        out = net(x, t, y, edge_size=(8, 8))
        loss = out.sample.square().mean() + sum(b.edge_logits.mean() for b in out.aux.blocks) + out.aux.balance_space
        loss.backward()
        results.append((out.sample.detach(), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(results[0][0], results[1][0])
    assert results[0][1].keys() == results[1][1].keys()
    for n in results[0][1]:
        torch.testing.assert_close(results[0][1][n], results[1][1][n], msg=n)


def test_guided_denoiser_runs_cond_and_uncond_in_one_batch():
    from conftest import concat_text

    from raphael.nn.guidance import guided_denoiser

    torch.manual_seed(0)
    net = build_model(tiny_cfg(), DY).eval()
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 20])
    cond, uncond = text(L=5), text(L=3, seed=1)
    with torch.no_grad():
        both = concat_text(cond, uncond)
        e1 = guided_denoiser(net, both, guidance=1.0)(x, t)[0]
        ec = net(x, t, cond).sample
        eu = net(x, t, uncond).sample
        e3 = guided_denoiser(net, both, guidance=3.0)(x, t)[0]
    torch.testing.assert_close(e1, ec, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(e3, eu + 3.0 * (ec - eu), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name, schema", [("raphael", RaphaelUNetConfig), ("sd_unet", SDUNetConfig),
                                          ("expert_ensemble", ExpertEnsembleConfig)])
def test_each_model_yaml_is_its_dataclass_and_states_only_differences(name, schema):
    """conf/model/<name>.yaml composes to its dataclass's defaults: the defaults live in the dataclass only."""
    cfg = compose_train_config(f"model={name}").model
    assert model_config(cfg) == schema()
    assert set(OmegaConf.load(CONF / f"{name}.yaml")) == {"defaults"}


def test_a_config_saved_before_the_dataclasses_is_migrated():
    old = {"arch": "raphael", "expert_scope": "denoiser", "channels": 8, "time_moe": {"router": "fixed_uniform"}}
    cfg = model_config(old)
    assert isinstance(cfg, ExpertEnsembleConfig) and cfg.channels == 8 and cfg.time_moe.router == "fixed_uniform"
    sd = model_config({"arch": "sd_unet", "channels": 24, "space_moe": {"enabled": False}, "edge": {"enabled": False}})
    assert sd == SDUNetConfig()


def test_paper_size_parameter_count():
    cfg = compose_train_config("model=raphael_3b").model
    with torch.device("meta"):
        net = build_model(cfg, 1024)
    blocks = net.transformer_blocks()
    assert len(blocks) == 16
    assert all(len(b.block.space_moe.experts) == 6 and len(b.block.time_moe.experts) == 4 for b in blocks)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - 3.0e9) / 3.0e9 < 0.10, n


@pytest.mark.parametrize("over, field", [
    (dict(space_moe=dict(alpha=0.0)), "space_moe.alpha"),
    (dict(space_moe=dict(alpha=1.5)), "space_moe.alpha"),
    (dict(edge=dict(t_c=1001)), "edge.t_c"),
    (dict(edge=dict(t_c=-1)), "edge.t_c"),
    (dict(space_moe=dict(num_experts=0)), "space_moe.num_experts"),
    (dict(time_moe=dict(num_experts=-1)), "time_moe.num_experts"),
    (dict(time_moe=dict(router="random")), "time_moe.router"),
    (dict(gate=dict(grad="gumbel")), "gate.grad"),
    (dict(edge=dict(source="everything")), "edge.source"),
    (dict(time_moe=dict(router="fixed_intervals", boundaries=[500, 100, 900])), "time_moe.boundaries"),
])
def test_validate_errors_name_field_and_allowed(over, field):
    with pytest.raises(ValueError) as err:
        model_config(tiny_cfg(**over)).validate()
    msg = str(err.value)
    assert f"model.{field}=" in msg and "is not valid: " in msg


def test_validate_accepts_edges_and_disabled_moe():
    model_config(tiny_cfg(space_moe=dict(alpha=1.0), edge=dict(t_c=1000))).validate()
    model_config(tiny_cfg(space_moe=dict(enabled=False, num_experts=0))).validate()
    model_config(tiny_cfg(edge=dict(t_c=50))).validate(num_train_timesteps=50)
    with pytest.raises(ValueError, match="edge.t_c"):
        model_config(tiny_cfg(edge=dict(t_c=51))).validate(num_train_timesteps=50)
    with pytest.raises(ConfigKeyError, match="widht"):
        model_config(tiny_cfg(widht=3))
    with pytest.raises(ValueError, match="model._target_"):
        build_model(dict(_target_="nope"), DY)


def test_patch_stem_runs_the_unet_at_a_lower_resolution_and_restores_pixels():
    torch.manual_seed(0)
    net = build_model(tiny_cfg(patch_size=2), DY)
    x, t = torch.randn(2, 3, 16, 8), torch.tensor([1, 999])
    out = net(x, t, text(), edge_size=(16, 8))
    assert out.sample.shape == x.shape
    assert [b.hw for b in out.aux.blocks] == [(8, 4), (4, 2), (4, 2), (4, 2), (8, 4)]
    assert all(b.edge_logits.shape == (2, 1, 16, 8) for b in out.aux.blocks)
    assert net.size_multiple == 4
    with pytest.raises(ValueError, match="patch_size"):
        net(torch.randn(1, 3, 16, 6), t[:1], text(B=1))
    with pytest.raises(ValueError, match="model.patch_size"):
        model_config(tiny_cfg(patch_size=0)).validate()
