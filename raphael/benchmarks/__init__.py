"""Benchmarks of the RAPHAEL suite (`python -m raphael.bench`), one module per benchmark.

Each module has `run(device, quick) -> list[Result]`; `timing` holds the shared helpers
(interleaved side-by-side medians, machine description). See docs/performance.md.
"""

BENCHMARKS = {
    "moe_overhead": "raphael.benchmarks.moe_overhead",
    "dispatch": "raphael.benchmarks.dispatch",
    "guidance": "raphael.benchmarks.guidance",
    "checkpointing": "raphael.benchmarks.checkpointing",
    "data": "raphael.benchmarks.data",
    "end_to_end": "raphael.benchmarks.end_to_end",
    "loop_overhead": "raphael.benchmarks.loop_overhead",
}
