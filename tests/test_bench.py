"""The benchmark harness's pieces (no timing here: the figures live in experiments/speed/bench/), the
space-MoE dispatch backends against the naive reference, and (slow) a --quick smoke run of the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from raphael.benchmarks.common import bench_model_config, coverage, force_all_experts, synthetic_text
from raphael.benchmarks.dispatch import space_moe_reference
from raphael.benchmarks.timing import Result, interleaved, machine, ratio
from raphael.nn.moe import SpaceMoE, dispatch_by_combine, grouped_mm_available


def test_interleaved_runs_every_variant_each_round_and_ratio_pairs_rounds():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls.count("a") == calls.count("b") == 5  # warm-up, calibration, 3 rounds
    assert len(times["a"]) == len(times["b"]) == 3
    assert ratio({"x": [2.0, 4.0, 9.0], "y": [1.0, 1.0, 3.0]}, "x", "y") == 3.0


def test_result_and_machine_records_are_json():
    r = Result("x", "cpu")
    r.target("speedup", 2.0, ">= 1.5", True)
    json.dumps({"r": r.to_dict(), "m": machine()})
    assert r.targets["speedup"]["met"] is True


def test_paper_proportioned_shape_keeps_the_3b_layout():
    cfg = bench_model_config("paper", quick=True)
    assert cfg.channel_mult == [1, 2, 4] and cfg.transformer_depth == [0, 3, 4]
    assert 2 * sum(cfg.transformer_depth) + cfg.mid_transformer_depth == 16
    assert cfg.space_moe.num_experts == 6 and cfg.time_moe.num_experts == 4 and cfg.in_channels == 4


def tiny_moe(E=3, D=8):
    torch.manual_seed(0)
    return SpaceMoE(D, E, alpha=0.2, text_dim=12, ffn_mult=2, gate_hidden=8).double().eval()


def tiny_inputs(B=2, N=10, L=7, D=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    h = torch.randn(B, N, D, generator=g, dtype=dtype)
    y = torch.randn(B, L, 12, generator=g, dtype=dtype)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 5:] = False
    M = (torch.randn(B, N, L, generator=g, dtype=dtype) * 3).masked_fill(~mask[:, None], -1e9).softmax(-1)
    return h, y, mask, M


def test_forced_routes_use_every_expert_and_coverage_reports_it():
    moe = tiny_moe()
    force_all_experts(moe)
    h, y, mask, M = tiny_inputs()
    routes = moe(h, y, mask, M).routes
    assert set(routes[routes >= 0].tolist()) == {0, 1, 2}
    assert routes[0].tolist()[:3] == [0, 1, 2]

    class Blk:
        space_routes, attn_map = routes, M

    class Aux:
        blocks = [Blk]

    cov = coverage(Aux, synthetic_text(2, 7)._replace(mask=mask), 0.2, 3)
    assert cov["experts_used"] == 1.0 and len(cov["position_share_per_expert"]) == 3
    assert all(0 < s <= 1 for s in cov["position_share_per_expert"])


def test_index_backend_equals_the_naive_loop_and_bad_backend_is_named():
    moe = tiny_moe()
    moe.backend = "index"
    h, y, mask, M = tiny_inputs()
    torch.testing.assert_close(moe(h, y, mask, M).output, space_moe_reference(moe, h, y, mask, M))
    with pytest.raises(ValueError, match="grouped_mm"):
        dispatch_by_combine(h.reshape(-1, 8), torch.ones(20, 3, dtype=h.dtype), moe.experts, backend="fast")
    empty = dispatch_by_combine(h.reshape(-1, 8), torch.zeros(20, 3, dtype=h.dtype), moe.experts)
    assert empty.shape == (20, 8) and not empty.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="grouped_mm backend: CUDA only")
def test_grouped_mm_backend_equals_the_reference_on_cuda_bf16():
    x = torch.zeros(1, device="cuda", dtype=torch.bfloat16)
    if not grouped_mm_available(x):
        pytest.skip("torch._grouped_mm needs a compute capability >= 9.0 GPU")
    moe = tiny_moe(E=4, D=16).float().cuda()
    h, y, mask, M = (t.cuda() for t in tiny_inputs(B=2, N=32, L=7, D=16, dtype=torch.float32))
    ref = space_moe_reference(moe, h, y, mask, M)
    moe = moe.to(torch.bfloat16)
    moe.backend = "grouped_mm"
    fast = moe(h.bfloat16(), y.bfloat16(), mask, M.bfloat16()).output
    torch.testing.assert_close(fast.float(), ref, rtol=5e-2, atol=5e-2)
    h1 = h.bfloat16().requires_grad_(True)
    moe(h1, y.bfloat16(), mask, M.bfloat16()).output.sum().backward()
    assert h1.grad is not None and torch.isfinite(h1.grad.float()).all()


@pytest.mark.slow
def test_bench_cli_quick_run_writes_json_with_machine_and_targets(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "raphael.bench", "--quick", "--only", "dispatch",
                           "--device", "cpu", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["machine"]["cores"] and record["results"]
    res = record["results"][0]
    assert res["figures"]["outputs_equal"] is True
    assert {"ratio_fast_over_floor", "speedup_over_naive"} <= set(res["targets"])


def test_bench_cli_rejects_an_unknown_benchmark():
    from raphael.bench import main

    assert main(["--only", "nope"]) == 2
