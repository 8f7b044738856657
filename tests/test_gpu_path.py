"""The research-scale path, tested on the CPU (issue 24): mixed precision with clipping and the fused optimizer,
wrapped layers (FSDP's auto-wrap, checkpoint wrappers), and the dispatch modes whose shapes do not depend on
the routing (no host sync, so a compiled / CUDA-graph step can take them)."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from conftest import compose_train
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from torch.utils._python_dispatch import TorchDispatchMode

from raphael.nn import build_model, model_config
from raphael.nn.layers import FeedForward
from raphael.nn.moe import dispatch_by_combine, dispatch_static
from raphael.nn.text_encoder import TextEncoding
from raphael.nn.unet import ResBlock, SpatialTransformer

CONF = Path(__file__).resolve().parents[1] / "conf"
DY = 12


def tiny_net(mode: str = "exact", ensemble: bool = False, **over):
    cfg = dict(_target_="raphael.nn.unet.RaphaelUNet", channels=8, patch_size=1, channel_mult=[1, 2],
               transformer_depth=[1, 1], mid_transformer_depth=1, head_dim=8, ffn_mult=2,
               gate=dict(hidden=8), edge=dict(enabled=True, hidden=8), dispatch=dict(mode=mode, capacity_factor=6.0))
    if ensemble:
        cfg.update(_target_="raphael.nn.expert_ensemble.ExpertEnsemble",
                   time_moe=dict(enabled=True, num_experts=2, router="fixed_intervals"))
    cfg.update(over)
    torch.manual_seed(0)
    return build_model(model_config(cfg), DY)


def text(B=4, L=5):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    return TextEncoding(torch.randn(B, L, DY, generator=g), mask, torch.zeros(B, dtype=torch.long),
                        torch.zeros(B, L, dtype=torch.long))


def plain_name(name: str) -> str:
    """A parameter's name without the wrappers' own module levels (FSDP, checkpoint wrappers)."""
    return name.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")


def step(net, seed=0):
    """One training forward + loss + backward; (sample, grads by name)."""
    net.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([10, 300, 700, 990])
    out = net(x, t, text(), edge_size=(8, 8))
    edge = torch.stack([b.edge_logits for b in out.aux.blocks if b.edge_logits is not None]).square().mean()
    (out.sample.square().mean() + edge + 0.01 * out.aux.balance_space + 0.01 * out.aux.balance_time).backward()
    return out.sample.detach(), {plain_name(n): p.grad.clone() for n, p in net.named_parameters()
                                 if p.grad is not None}


def assert_same_step(a, b, atol=1e-5):
    (sa, ga), (sb, gb) = a, b
    torch.testing.assert_close(sa, sb, atol=atol, rtol=1e-4)
    for k in ga.keys() | gb.keys():  # an expert no row reached: no gradient, or (FSDP's flat buffers) zeros
        g, ref = ga.get(k), gb.get(k)
        g, ref = (torch.zeros_like(ref) if g is None else g), (torch.zeros_like(g) if ref is None else ref)
        torch.testing.assert_close(g, ref, atol=atol, rtol=1e-4, msg=k)


# ----------------------------------------------------------------------------------------- mixed precision
@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from raphael.tasks.shapes.shards import write_shapes_shards

    out = tmp_path_factory.mktemp("shapes")
    write_shapes_shards(out, num=32, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    return out


@pytest.mark.parametrize("trainer", ["default", "gpu"])
def test_bf16_mixed_run_trains_with_clipping_and_the_fused_optimizer(trainer, shards, tmp_path):
    """trainer=gpu's precision (bf16-mixed) on the CPU, clipping at 1.0 and fused AdamW as configured: Lightning's
    mixed-precision plugin refused the pair at the first step."""
    from raphael.training import train

    cfg = compose_train("experiment=space_moe", f"trainer={trainer}", "trainer.accelerator=cpu",
                        "trainer.precision=bf16-mixed", f"paths.root_dir={tmp_path}",
                        f"paths.output_dir={tmp_path / 'run'}", f"data.urls='{shards}/train-{{000000..000001}}.tar'",
                        f"data.val_urls={shards}/val-000000.tar", "data.generate=null", "logger=csv",
                        "+trainer.fast_dev_run=true")
    assert cfg.optim.optimizer.fused and cfg.trainer.gradient_clip_val == 1.0
    with open_dict(cfg):
        cfg.pop("hydra")
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


def test_clipping_clips_with_a_fused_optimizer_and_no_loss_scaler():
    from types import SimpleNamespace

    from raphael.optim.grad_clip import clip_gradients

    net = FeedForward(4, 8)
    net(torch.randn(16, 4)).square().sum().mul(100).backward()
    opt = torch.optim.AdamW(net.parameters(), fused=True)
    trainer = SimpleNamespace(precision_plugin=SimpleNamespace(), strategy=SimpleNamespace(model=net))
    assert clip_gradients(trainer, net, opt, 0.5, "norm")
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
    assert norm == pytest.approx(0.5, rel=1e-4)
    scaled = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=object()), strategy=trainer.strategy)
    assert not clip_gradients(scaled, net, opt, 0.5, "norm")  # fp16: Lightning unscales first, then clips


def test_value_clipping_clips_each_gradient_whether_named_or_lightnings_enum():
    """trainer.gradient_clip_algorithm=value reaches the module as Lightning's GradClipAlgorithmType.VALUE."""
    from types import SimpleNamespace

    from lightning.pytorch.utilities.enums import GradClipAlgorithmType

    from raphael.optim.grad_clip import clip_gradients

    for algorithm in ("value", GradClipAlgorithmType.VALUE):
        torch.manual_seed(0)
        net = FeedForward(4, 8)
        net(torch.randn(16, 4)).square().sum().mul(100).backward()
        largest = max(p.grad.abs().max() for p in net.parameters())
        trainer = SimpleNamespace(precision_plugin=SimpleNamespace(), strategy=SimpleNamespace(model=net))
        assert clip_gradients(trainer, net, torch.optim.AdamW(net.parameters()), 0.5, algorithm)
        assert largest > 0.5 and max(p.grad.abs().max() for p in net.parameters()) == 0.5  # clamped, not rescaled


# ----------------------------------------------------------------------------------------- wrapped layers
@pytest.fixture(scope="module")
def gloo():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def fsdp_wrapped(net):
    """`net` wrapped as trainer=fsdp wraps it: conf/trainer/fsdp.yaml's auto-wrap policy, on the CPU."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    policy = instantiate(OmegaConf.load(CONF / "trainer" / "fsdp.yaml").strategy.auto_wrap_policy)
    return FSDP(net, auto_wrap_policy=policy, device_id=torch.device("cpu"), use_orig_params=True)


@pytest.mark.parametrize("ensemble", [False, True], ids=["unet", "expert_ensemble"])
def test_fsdp_auto_wrapped_network_steps_like_the_plain_one(ensemble, gloo):
    plain = tiny_net(ensemble=ensemble)
    wrapped = fsdp_wrapped(copy.deepcopy(plain))
    inner = [m for m in wrapped.modules() if type(m).__name__ == "FullyShardedDataParallel"]
    assert len(inner) > 1, "the policy wrapped the ResBlocks and transformer blocks"
    assert_same_step(step(wrapped), step(plain))  # use_orig_params: the original parameters and their names
    assert len(wrapped.module.transformer_blocks()) == len(plain.transformer_blocks()) > 0
    assert float(wrapped.clip_grad_norm_(1.0)) > 0  # the root's norm over every shard (raphael.optim.grad_clip)


def test_checkpoint_wrapped_layers_step_like_the_plain_ones():
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing

    plain = tiny_net()
    wrapped = copy.deepcopy(plain)
    apply_activation_checkpointing(wrapped, check_fn=lambda m: isinstance(m, (ResBlock, SpatialTransformer)))
    assert not any(isinstance(m, SpatialTransformer) for stage in wrapped.down for m in stage)
    assert_same_step(step(wrapped), step(plain))


# ----------------------------------------------------------------------------------------- sync-free dispatch
@pytest.mark.parametrize("mode", ["dense", "capacity"])
def test_sync_free_dispatch_steps_like_the_exact_one(mode):
    """capacity_factor 6 = the experts' count: no row overflows, so every mode is the same function."""
    exact, static = tiny_net("exact"), tiny_net(mode)
    static.load_state_dict(exact.state_dict())
    assert_same_step(step(static), step(exact))
    torch.manual_seed(0)
    out = static(torch.randn(4, 3, 8, 8), torch.tensor([10, 300, 700, 990]), text(), edge_size=(8, 8))
    assert int(out.aux.dispatch_overflow) == 0 if mode == "capacity" else out.aux.dispatch_overflow is not None


def test_capacity_dispatch_drops_and_counts_overflow():
    experts = torch.nn.ModuleList([FeedForward(4, 8) for _ in range(2)])
    x = torch.randn(6, 4)
    combine = torch.tensor([[1.0, 0], [0.5, 0], [0.2, 0], [0, 1.0], [0, 0.0], [0, 0.0]])
    out, overflow = dispatch_static(x, combine, experts, capacity=2)
    assert int(overflow) == 1  # expert 0 had 3 rows for 2 places: its lightest (row 2) was dropped
    kept = combine.clone()
    kept[2, 0] = 0
    torch.testing.assert_close(out, dispatch_by_combine(x, kept, experts, "index"))
    dense, none = dispatch_static(x, combine, experts, capacity=None)
    torch.testing.assert_close(dense, dispatch_by_combine(x, combine, experts, "index"))
    assert int(none) == 0


class HostSyncs(TorchDispatchMode):
    """Counts the operators that read a device value on the host (nonzero's size, .item(), bool(), .tolist())."""

    SYNCS = {"aten::nonzero", "aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::masked_select",
             "aten::unique", "aten::_unique2", "aten::repeat_interleave"}

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.name in self.SYNCS:
            self.seen.append(func._schema.name)
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        self._tolist = torch.Tensor.tolist
        torch.Tensor.tolist = lambda t: (self.seen.append("tolist"), self._tolist(t))[1]
        return super().__enter__()

    def __exit__(self, *exc):
        torch.Tensor.tolist = self._tolist
        return super().__exit__(*exc)


@pytest.mark.parametrize("mode", ["capacity", "dense"])
def test_a_training_step_of_the_sync_free_modes_never_reads_the_device(mode):
    net = tiny_net(mode, time_moe=dict(enabled=True, num_experts=4, shared_until=0.5))
    with HostSyncs() as counter:
        step(net)
    assert counter.seen == []
    with HostSyncs() as exact:  # the counter sees the exact dispatch's reads
        step(tiny_net("exact"))
    assert "aten::nonzero" in exact.seen and "tolist" in exact.seen


def test_dispatch_benchmark_runs_in_bf16():
    """`raphael.bench --only dispatch` in bf16 fed the gate float32 text states (a dtype error on the GPU)."""
    from raphael.benchmarks.dispatch import run_shape

    res = run_shape("embedded", 2, 16, 16, "cpu", quick=True, backend="index", dtype=torch.bfloat16)
    assert res.figures["outputs_equal"] and res.figures["dtype"] == "bfloat16"


def test_the_sync_free_step_compiles_as_one_graph():
    """torch.compile(fullgraph=True) refuses any graph break (a host read would be one)."""
    net = tiny_net("capacity")
    ref = step(copy.deepcopy(net))
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    net.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([10, 300, 700, 990])
    out = compiled(x, t, text(), edge_size=(8, 8))
    torch.testing.assert_close(out.sample, ref[0], atol=1e-5, rtol=1e-4)
    out.sample.square().mean().backward()  # the backward graph too
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_the_gpu_check_runs_its_cpu_parts_at_test_size(tmp_path):
    """experiments/speed/gpu/check.py --quick: the step, paper-layout step and sampling stages on the CPU, one JSON."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).resolve().parents[1] / "experiments"
                                                  / "speed" / "gpu" / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(["--quick", "--out", str(tmp_path / "check.json")]) == 0
    stages = json.loads((tmp_path / "check.json").read_text())["stages"]
    assert set(stages) == {"default_step", "paper_step", "sampling"}  # fsdp, bench, main job: CUDA only
    assert stages["default_step"]["capacity/32"]["ms_per_step"] > 0
    assert stages["paper_step"]["capacity/batch2"]["tflop_per_step"] > 0 and stages["sampling"]["images_per_s"] > 0
