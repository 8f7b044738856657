"""Shared timing helpers: interleaved side-by-side medians, machine description, a Result record.

Absolute times on a shared CPU are noisy; every benchmark times its variants *interleaved* in one
process (round-robin: A, B, A, B, ...) after warm-up, and reports medians and the median of the
per-round ratios, which cancels most of the load that other processes put on the machine.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch


def sync(device: torch.device | str | None = None) -> None:
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1,
                device: torch.device | str | None = None, min_time: float = 0.0) -> dict[str, list[float]]:
    """Run every fn `warmup` times, then `repeats` rounds of all fns in turn (order rotated each
    round). Returns per-call wall times in seconds, keyed like `fns`. With `min_time`, one sample
    is the mean of as many back-to-back calls as fill `min_time` seconds (calibrated on one call),
    so millisecond kernels are not at the mercy of single scheduler time slices."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    sync(device)
    inner = {}
    for n in names:
        t0 = time.perf_counter()
        fns[n]()
        sync(device)
        inner[n] = max(1, math.ceil(min_time / max(time.perf_counter() - t0, 1e-9))) if min_time else 1
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            sync(device)
            t0 = time.perf_counter()
            for _ in range(inner[n]):
                fns[n]()
            sync(device)
            times[n].append((time.perf_counter() - t0) / inner[n])
    return times


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median of the per-round ratios num/den (rounds are side by side, so load cancels)."""
    return median([a / b for a, b in zip(times[num], times[den])])


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """CPU model, core count, torch build, GPU (if any) and the load average now."""
    cpu = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "loadavg": loadavg(),
            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@dataclass
class Result:
    """One benchmark's outcome: figures (name -> number), targets (name -> {value, target, met}),
    free-form notes, and the raw per-round times."""

    name: str
    device: str
    figures: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=dict)
    loadavg: list[float] = field(default_factory=loadavg)

    def target(self, key: str, value: float, target: str, met: bool) -> None:
        self.targets[key] = {"value": round(float(value), 4), "target": target, "met": bool(met)}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["times"] = {k: [round(x, 6) for x in v] for k, v in self.times.items()}
        return d
