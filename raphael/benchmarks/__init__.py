"""Benchmarks of the RAPHAEL suite (`python -m raphael.bench`), one module per benchmark.

Each module has `run(device, quick) -> list[Result]`; `timing` holds the shared helpers
(interleaved side-by-side medians, machine description). See docs/performance.md.
"""

# the benchmark names (`--only`), in run order: each is the module raphael.benchmarks.<name>
BENCHMARKS = ("moe_overhead", "dispatch", "guidance", "checkpointing", "data", "end_to_end", "loop_overhead")
