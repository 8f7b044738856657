"""The GPU check (issue 24): one JSON with the figures a researcher with a GPU needs to trust the research path.

Stages, each time-boxed and written to the JSON as it finishes (a stage that fails records its error and the
next one runs):
  default_step  the embedded default's training step (batch 32) in each dispatch mode, fp32 / bf16, eager /
                torch.compile: milliseconds a step (median), host-sync-free modes included
  paper_step    model=raphael_3b (d_y 1024, latents 4x64x64), bf16 autocast, activation checkpointing, fused AdamW:
                seconds a step, TFLOP a step (FlopCounter, recompute included), MFU against the dense bf16 peak,
                peak memory, per dispatch mode
  sampling      the paper-size model, 25 DDIM steps with classifier-free guidance: images/s
  fsdp, bench_dispatch, main_job   the suite's own entry points: trainer=fsdp for a few steps, `raphael.bench
                --device cuda --only dispatch`, and the main job on trainer=gpu with the time left (its val/alignment,
                to hold against the CPU's)
`--quick` runs the CPU-possible parts at test size (tests/test_gpu_check.py); `check.sh` runs the whole thing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from raphael.benchmarks.common import bench_model_config, count_flops, ddim  # noqa: E402
from raphael.benchmarks.end_to_end import PEAK_BF16  # noqa: E402
from raphael.benchmarks.timing import machine, median  # noqa: E402
from raphael.benchmarks.training import default_module, synthetic_batch, train_step_fn  # noqa: E402
from raphael.nn import RaphaelUNetConfig, build_model, model_config  # noqa: E402
from raphael.nn.guidance import guided_denoiser  # noqa: E402
from raphael.nn.text_encoder import TextEncoding  # noqa: E402


def timed(fn, steps: int, warmup: int, device: str) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out


def peak() -> float | None:
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


# ------------------------------------------------------------------------------------------------ stages
def default_step(device: str, quick: bool, text_encoder: str | None) -> dict:
    """ms a training step of the embedded default, per (dispatch mode, precision, compile)."""
    B, steps = (4, 3) if quick else (32, 60)
    variants = [("exact", "32", False), ("exact", "bf16", False), ("capacity", "bf16", False),
                ("dense", "bf16", False), ("capacity", "bf16", True), ("dense", "bf16", True)]
    steps = 30
    if quick:
        variants = [("exact", "32", False), ("capacity", "32", False)]
    batch = synthetic_batch(B, device)
    out = {"batch": B, "steps_timed": steps}
    for mode, precision, compiled in variants:
        name = f"{mode}/{precision}" + ("/compile" if compiled else "")
        try:
            module = default_module(text_encoder, dispatch={"mode": mode},
                                    **({"channels": 8, "head_dim": 8} if quick else {})).to(device)
            if compiled:
                module.net.compile(fullgraph=True)
            fn = train_step_fn(module, batch, precision)
            ts = timed(fn, steps, warmup=3 if not compiled else 5, device=device)
            out[name] = {"ms_per_step": round(1000 * median(ts), 2), "min_ms": round(1000 * min(ts), 2)}
        except Exception as err:  # noqa: BLE001 - one variant's failure is a finding, the others still run
            out[name] = {"error": f"{type(err).__name__}: {str(err)[:400]}"}
        print(f"[check] default_step {name}: {out[name]}", flush=True)
    return out


def paper_net(device: str, quick: bool, mode: str, text_dim: int):
    if quick:
        cfg = bench_model_config("paper", quick=True, dispatch={"mode": mode})
    else:
        raw = OmegaConf.load(ROOT / "conf" / "model" / "raphael_3b.yaml")
        raw.pop("defaults", None)
        raw.dispatch = {"mode": mode}
        cfg = model_config(OmegaConf.merge(OmegaConf.structured(RaphaelUNetConfig), raw))
    torch.manual_seed(0)
    with torch.device(device):  # build on the GPU: initialising 2.9e9 parameters on the host takes minutes
        return build_model(cfg, text_dim)


def paper_inputs(B: int, side: int, text_dim: int, device: str, tokens: int = 77):
    g = torch.Generator(device=device).manual_seed(0)
    text = TextEncoding(torch.randn(B, tokens, text_dim, device=device, generator=g),
                        torch.ones(B, tokens, dtype=torch.bool, device=device),
                        torch.zeros(B, dtype=torch.long, device=device),
                        torch.zeros(B, tokens, dtype=torch.long, device=device))
    x = torch.randn(B, 4, side, side, device=device, generator=g)
    t = torch.randint(0, 1000, (B,), device=device, generator=g)
    edge = (torch.rand(B, 1, side, side, device=device, generator=g) > 0.8).float()
    return x, t, text, edge


def paper_train_step(net, opt, inputs, device: str):
    """fwd (bf16 autocast on the GPU) + bwd + clipping + AdamW: the shape of the module's step."""
    x, t, text, _ = inputs

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            o = net(x, t, text, edge_size=tuple(x.shape[-2:]))
            loss = (o.sample.float() - x).square().mean() + 0.01 * (o.aux.balance_space + o.aux.balance_time)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def paper_step(device: str, quick: bool) -> dict:
    """model=raphael_3b's training step: s a step, TFLOP, MFU, peak memory, per dispatch mode."""
    text_dim, side, batches = (64, 16, [2]) if quick else (1024, 64, [8, 32])
    out = {"text_dim": text_dim, "latent": [4, side, side]}
    for mode in ("exact", "capacity"):
        net = opt = None
        try:
            net = paper_net(device, quick, mode, text_dim).train()
            out["parameters"] = sum(p.numel() for p in net.parameters())
            opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=device == "cuda")
            for B in batches:
                step = paper_train_step(net, opt, paper_inputs(B, side, text_dim, device), device)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                ts = timed(step, 2 if quick else 5, warmup=1 if quick else 2, device=device)
                flops = count_flops(step)
                s = median(ts)
                rec = {"s_per_step": round(s, 4), "tflop_per_step": round(flops / 1e12, 4),
                       "achieved_tflops": round(flops / s / 1e12, 1)}
                if device == "cuda":
                    rec["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
                    if peak():
                        rec["mfu"] = round(flops / s / peak(), 4)
                out[f"{mode}/batch{B}"] = rec
                print(f"[check] paper_step {mode} batch {B}: {rec}", flush=True)
        except Exception as err:  # noqa: BLE001
            out[f"{mode}/error"] = f"{type(err).__name__}: {str(err)[:400]}"
            print(f"[check] paper_step {mode}: {out[f'{mode}/error']}", flush=True)
        net = opt = None
        if device == "cuda":
            torch.cuda.empty_cache()
    return out


def sampling(device: str, quick: bool) -> dict:
    """The paper-size model: DDIM with classifier-free guidance (one 2B-row call a step), images/s."""
    text_dim, side, B, steps = (64, 16, 2, 2) if quick else (1024, 64, 32, 25)
    net = paper_net(device, quick, "exact", text_dim).eval()
    _, _, text, _ = paper_inputs(2 * B, side, text_dim, device)
    denoise = guided_denoiser(net, text, 4.5)
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        ts = timed(lambda: ddim(denoise, (B, 4, side, side), steps, device), 1 if quick else 2, warmup=1,
                   device=device)
    return {"images": B, "ddim_steps": steps, "guidance": 4.5, "s": round(median(ts), 3),
            "images_per_s": round(B / median(ts), 2)}


def command(cmd: list[str], timeout: int) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        rc, tail = p.returncode, (p.stdout + p.stderr)[-3000:]
    except subprocess.TimeoutExpired as err:
        rc, tail = "timeout", str(err.stdout or "")[-3000:]
    return {"command": " ".join(cmd), "rc": rc, "wall_s": round(time.perf_counter() - t0, 1), "tail": tail}


def fsdp(out_dir: Path, text_encoder: str | None) -> dict:
    """trainer=fsdp (one GPU) for 20 steps of experiment=raphael at test size."""
    return command([sys.executable, "-m", "raphael.train", "experiment=raphael", "debug=default", "trainer=fsdp",
                    "trainer.devices=1", "trainer.max_steps=20", "trainer.val_check_interval=20", "logger=csv",
                    f"hydra.run.dir={out_dir / 'fsdp'}", *encoder_override(text_encoder)], 300)


def bench_dispatch(out_dir: Path) -> dict:
    return command([sys.executable, "-m", "raphael.bench", "--device", "cuda", "--only", "dispatch",
                    "--out", str(out_dir / "bench_dispatch.json")], 300)


def main_job(out_dir: Path, text_encoder: str | None, timeout: int) -> dict:
    """The main job (`make run`'s command) on trainer=gpu; its val/alignment against the CPU's."""
    run = out_dir / "main_job"
    res = command([sys.executable, "-m", "raphael.train", "experiment=space_moe", "trainer=gpu", "logger=csv",
                   "data.num_workers=4", f"hydra.run.dir={run}", *encoder_override(text_encoder)], timeout)
    metrics = run / "csv" / "metrics.csv"
    if metrics.is_file():
        import pandas as pd

        df = pd.read_csv(metrics)
        for key in ("val/alignment", "val/alignment_holdout", "step"):
            if key in df:
                res[key] = float(df[key].dropna().iloc[-1])
    return res


def encoder_override(text_encoder: str | None) -> list[str]:
    return [f"text_encoder.path={text_encoder}"] if text_encoder else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="experiments/speed/gpu/check.json")
    p.add_argument("--quick", action="store_true", help="test size, CPU-possible stages only")
    p.add_argument("--stages", default="fsdp,default_step,paper_step,sampling,bench_dispatch,main_job")
    p.add_argument("--text-encoder", default=None, help="a local text encoder folder (default: the bundled MiniLM)")
    p.add_argument("--budget-s", type=int, default=480, help="the whole check's time: the main job gets what is left")
    args = p.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    record = {"command": " ".join(["python experiments/speed/gpu/check.py", *(argv or sys.argv[1:])]),
              "machine": machine(), "device": device, "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None, "stages": {}}
    started = time.perf_counter()
    stages = {"default_step": lambda: default_step(device, args.quick, args.text_encoder),
              "paper_step": lambda: paper_step(device, args.quick),
              "sampling": lambda: sampling(device, args.quick),
              "fsdp": lambda: fsdp(out_path.parent, args.text_encoder),
              "bench_dispatch": lambda: bench_dispatch(out_path.parent),
              "main_job": lambda: main_job(out_path.parent, args.text_encoder,
                                           max(30, int(args.budget_s - (time.perf_counter() - started))))}
    for name in args.stages.split(","):
        if name in ("fsdp", "bench_dispatch", "main_job") and device != "cuda":
            continue  # trainer=gpu / fsdp / the CUDA benchmark need a GPU
        t0 = time.perf_counter()
        try:
            record["stages"][name] = stages[name]()
        except Exception:  # noqa: BLE001 - the JSON keeps what ran
            record["stages"][name] = {"error": traceback.format_exc()[-2000:]}
        record["stages"][name]["stage_wall_s"] = round(time.perf_counter() - t0, 1)
        out_path.write_text(json.dumps(record, indent=1, default=str))
        print(f"[check] {name} done in {record['stages'][name]['stage_wall_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    sys.exit(main())
