"""Exact resume: the data stream, the module's randomness, and (slow) a SIGKILLed run resumed by
`ckpt_path=last` that ends with the losses and weights of an uninterrupted run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bad_shards import write_good_shards  # noqa: E402
from conftest import EMA_ON  # noqa: E402

from raphael.data.datamodule import ShardDataModule  # noqa: E402
from raphael.data.stepstream import SegmentPipeline, StepStream  # noqa: E402
from raphael.run.rundir import find_last_checkpoint, run_dir_of, wandb_run_id  # noqa: E402


def keys_by_step(dm: ShardDataModule, start: int, steps: int, workers: int) -> list[list[str]]:
    """What a DataLoader with `workers` workers hands out from step `start`: round-robin over workers."""
    stream = StepStream(SegmentPipeline(dm), dm.seed, start_step=start, num_slots=workers, segment_batches=3)
    iters = [stream._endless(rank=0, worker=w) for w in range(workers)]
    return [next(iters[i % workers])["key"] for i in range(steps)]


def test_the_batch_of_a_step_does_not_depend_on_where_the_run_started(tmp_path):
    url = write_good_shards(tmp_path / "shards")
    dm = ShardDataModule(urls=url, image_size=8, batch_size=2, num_workers=0, shuffle_buffer=4, seed=3)
    dm.setup("fit")
    for workers in (1, 2):
        full = keys_by_step(dm, 0, 10, workers)
        for k in (1, 4, 7):
            assert keys_by_step(dm, k, 10 - k, workers) == full[k:], (workers, k)
    other = ShardDataModule(urls=url, image_size=8, batch_size=2, num_workers=0, shuffle_buffer=4, seed=4)
    other.setup("fit")
    assert keys_by_step(other, 0, 10, 1) != keys_by_step(dm, 0, 10, 1)  # the order is the seed's


def test_an_epoch_cut_short_leaves_the_endless_stream_to_the_next_epoch():
    # limit_train_batches stops an epoch early and its iterator is closed; the next epoch goes on from there
    stream = StepStream(lambda seed: iter(range(10**6)), seed=0, segment_batches=5)
    first = iter(stream)
    assert [next(first) for _ in range(3)] == [0, 1, 2]
    first.close()
    second = iter(stream)
    assert [next(second) for _ in range(3)] == [3, 4, 0]  # step 5 opens segment 1: a fresh pipeline


def test_the_module_draws_t_noise_and_dropout_from_seed_and_step(tiny_module):
    batch = {"image": torch.rand(2, 3, 16, 16) * 2 - 1, "edge": torch.zeros(2, 1, 16, 16), "caption": ["a", "b"]}

    # no trainer attached: global_step is 0, so two calls from different global RNG states agree
    torch.manual_seed(0)
    a = tiny_module.training_step(batch, 0).item()
    torch.manual_seed(123)
    b = tiny_module.training_step(batch, 0).item()
    assert a == b
    tiny_module.seed = 1
    assert tiny_module.training_step(batch, 0).item() != a


def test_ckpt_path_last_finds_the_newest_run_and_prefers_the_current_run_dir(tmp_path):
    exp = tmp_path / "outputs" / "train" / "space_moe"
    old, new = exp / "2026-01-01_00-00-00", exp / "2026-01-02_00-00-00"
    for run in (old, new):
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    import os

    os.utime(old / "checkpoints" / "last.ckpt", (1, 1))
    assert find_last_checkpoint(str(exp / "fresh"), str(exp)) == new / "checkpoints" / "last.ckpt"
    assert find_last_checkpoint(str(old), str(exp)) == old / "checkpoints" / "last.ckpt"
    (old / "checkpoints" / "interrupted.ckpt").write_bytes(b"y")  # Ctrl-C after the last periodic save
    assert find_last_checkpoint(str(old), str(exp)).name == "interrupted.ckpt"
    assert run_dir_of(new / "checkpoints" / "last.ckpt") == new.resolve()


def test_the_wandb_run_id_is_kept_in_the_run_dir(tmp_path):
    first = wandb_run_id(tmp_path)
    assert first and wandb_run_id(tmp_path) == first
    assert wandb_run_id(tmp_path / "other") != first


# ------------------------------------------------------------------ end to end (subprocesses)
@pytest.mark.slow
def test_a_killed_run_resumed_with_ckpt_path_last_equals_an_uninterrupted_run(tmp_path):
    import json

    from train_harness import load, run, train_command

    url = write_good_shards(tmp_path / "shards")
    steps, kill_at = 6, 3
    common = ["experiment=raphael", f"trainer.max_steps={steps}", "trainer.deterministic=true",
              "+callbacks.single_thread={_target_: train_harness.SingleThread}", EMA_ON]

    def record(name):
        return f"+callbacks.recorder={{_target_: train_harness.LossRecorder, path: {tmp_path}/{name}.jsonl}}"

    whole = run(train_command(tmp_path, url, tmp_path / "outputs/train/raphael/whole", *common, record("whole")))
    assert whole.returncode == 0, whole.stderr[-3000:]

    run_dir = tmp_path / "outputs/train/raphael/broken"
    killed = run(train_command(tmp_path, url, run_dir, *common, record("broken"),
                               f"+callbacks.kill={{_target_: train_harness.KillAtStep, step: {kill_at}}}"))
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL: nothing ran after the kill
    assert load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == kill_at
    first_id = (run_dir / "wandb_run_id").read_text().strip()
    (whole_dir := tmp_path / "outputs/train/raphael/whole").joinpath("checkpoints", "last.ckpt").touch()
    (run_dir / "checkpoints" / "last.ckpt").touch()  # the broken run is the newest: `last` must pick it

    resumed = run(train_command(tmp_path, url, tmp_path / "outputs/train/raphael/relaunch", *common,
                                record("broken"), "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"writing into {run_dir}" in resumed.stdout

    def losses(name):
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        return {r["step"]: (r["loss"], r["keys"]) for r in rows}

    assert losses("broken") == losses("whole") and len(losses("whole")) == steps  # same data, same losses
    a, b = load(whole_dir / "checkpoints" / "last.ckpt"), load(run_dir / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == steps
    for key in ("state_dict", "current_model_state"):  # EMA weights and raw weights
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    opt_a, opt_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"]) for i in opt_a)
    assert a["lr_schedulers"] == b["lr_schedulers"]
    # the metrics history survives the resume: the same steps as the uninterrupted run, each once
    def csv_steps(folder):
        import csv

        rows = list(csv.DictReader(open(folder / "csv" / "metrics.csv")))
        return sorted((int(r["step"]), r.get("train/loss_step") or r.get("train/loss") or "") for r in rows
                      if r.get("train/loss_step") or r.get("train/loss"))

    assert csv_steps(run_dir) == csv_steps(whole_dir) and len(csv_steps(whole_dir)) == steps
    # one W&B run: the resumed launch reused the id kept in the run dir
    assert (run_dir / "wandb_run_id").read_text().strip() == first_id
    assert {p.name.rsplit("-", 1)[-1] for p in (run_dir / "wandb").glob("offline-run-*")} == {first_id}
