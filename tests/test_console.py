"""What `python -m raphael.train` prints to a log file: progress lines, one [val] line per validation, each
INFO line once, no third-party warnings, and the closing summary with the next commands."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def test_a_run_in_a_log_file_prints_what_a_person_needs_and_nothing_else(tmp_path):
    from bad_shards import write_good_shards
    from train_harness import run, train_command

    url = write_good_shards(tmp_path / "shards", num_shards=1, per_shard=8)
    run_dir = tmp_path / "run"
    proc = run(train_command(tmp_path, url, run_dir, "trainer.max_steps=4", "trainer.val_check_interval=4",
                             "trainer.limit_val_batches=1", "callbacks.log_lines.every_n_steps=2",
                             f"+data.val_urls='{url}'"), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "[train] step 2/4" in proc.stdout and "[train] step 4/4" in proc.stdout
    assert "[val] step 4: val/loss" in proc.stdout
    assert out.count("GPU available") == 1 and out.count("max_steps=4` reached") == 1  # each INFO line once
    for noise in ("litlogger", "LeafSpec", "anonymous setting", "ckpt_path=None", 'ckpt_path="last"', "Warning"):
        assert noise not in out, noise
    assert f"checkpoint   {run_dir}/checkpoints/last.ckpt" in proc.stdout
    assert f"python -m raphael.evaluate ckpt={run_dir}/checkpoints/last.ckpt" in proc.stdout
