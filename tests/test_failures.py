"""Failures mid-run: atomic checkpoints, a non-finite loss, an unwritable or full output folder."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from raphael.callbacks.guards import NonFiniteLossError, NonFiniteLossGuard
from raphael.callbacks.interrupt import AtomicCheckpointIO, InterruptCheckpoint
from raphael.run.rundir import check_writable
from raphael.run.validation import ConfigError


# ------------------------------------------------------------------------------ atomic checkpoints
def test_a_crash_while_saving_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def crash(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp file left behind


# ------------------------------------------------------------------------------ non-finite loss
class NaNAtStep(L.LightningModule):
    """A tiny model whose loss terms (as module.compute_losses names them) turn NaN at `bad_step`."""

    def __init__(self, bad_step: int, term: str = "edge") -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 1)
        self.bad_step, self.term = bad_step, term

    def training_step(self, batch, batch_idx):
        denoise = self.net(batch[0]).pow(2).mean()
        edge = denoise * 0 + (float("nan") if self.global_step == self.bad_step else 0.0)
        losses = {"denoise": denoise, self.term: edge, "loss": denoise + edge}
        self.last_losses = {k: v.detach() for k, v in losses.items()}
        return losses["loss"]

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(32, 4))
        return torch.utils.data.DataLoader(data, batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def tiny_trainer(tmp_path, **kw) -> L.Trainer:
    ckpt = ModelCheckpoint(dirpath=tmp_path / "checkpoints", every_n_train_steps=1, save_last=True)
    return L.Trainer(default_root_dir=tmp_path, max_steps=6, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, plugins=[AtomicCheckpointIO()],
                     callbacks=[ckpt, NonFiniteLossGuard(), InterruptCheckpoint(tmp_path / "checkpoints")], **kw)


def test_a_nan_loss_stops_training_naming_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = tiny_trainer(tmp_path)
    module = NaNAtStep(bad_step=3)
    with pytest.raises(NonFiniteLossError, match=r"train/edge = nan at step 3"):
        trainer.fit(module)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 3  # steps 0..2 done and saved; step 3 never reached the weights
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()  # only Ctrl-C writes that one


def test_a_nan_gradient_is_caught_before_the_optimizer_step(tmp_path):
    class NaNGrad(NaNAtStep):
        def on_after_backward(self):
            if self.global_step == 2:
                self.net.weight.grad[0, 0] = float("inf")

    with pytest.raises(NonFiniteLossError, match=r"gradient of net.weight at step 2"):
        tiny_trainer(tmp_path).fit(NaNGrad(bad_step=99))


def test_a_huge_finite_gradient_is_not_called_non_finite(tmp_path):
    class HugeGrad(NaNAtStep):  # its norm overflows float32 (the guard's fused check fires), every value is finite
        def on_after_backward(self):
            if self.global_step == 2:
                self.net.weight.grad.fill_(1e20)

    trainer = tiny_trainer(tmp_path, gradient_clip_val=1.0)
    trainer.fit(HugeGrad(bad_step=99))
    assert trainer.global_step == 6


def test_ctrl_c_saves_an_interrupted_checkpoint(tmp_path):
    class Interrupted(NaNAtStep):
        def training_step(self, batch, batch_idx):
            if self.global_step == 2:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    with pytest.raises(SystemExit):  # Lightning's graceful shutdown: on_exception hooks, then exit
        tiny_trainer(tmp_path).fit(Interrupted(bad_step=99))
    saved = torch.load(tmp_path / "checkpoints" / "interrupted.ckpt", weights_only=False)
    assert saved["global_step"] == 2


# ------------------------------------------------------------------------------ output folder
def test_an_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not writable"):
        check_writable(blocker / "run")


def test_a_nearly_full_disk_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="MiB free"):
        check_writable(tmp_path / "run", min_free_bytes=2**62)
    check_writable(tmp_path / "run")  # the default threshold passes here


# ------------------------------------------------------------------------------ end to end (subprocesses)
def _harness():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import bad_shards
    import train_harness

    return bad_shards, train_harness


COMMON = ["experiment=raphael", "trainer.max_steps=8", "+callbacks.single_thread={_target_: train_harness.SingleThread}"]


@pytest.mark.slow
def test_python_m_raphael_train_stops_on_a_nan_with_a_clear_message(tmp_path):
    shards, harness = _harness()
    url = shards.write_good_shards(tmp_path / "shards")
    run_dir = tmp_path / "run"
    proc = harness.run(harness.train_command(
        tmp_path, url, run_dir, *COMMON, "+callbacks.nan={_target_: train_harness.NaNAtStep, step: 3}"))
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "train/edge = nan at step 3" in proc.stderr
    last = harness.load(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 3
    for key in ("state_dict", "current_model_state"):  # the raw weights are kept apart only with an EMA callback
        assert all(torch.isfinite(v).all() for v in last.get(key, {}).values() if v.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])  # Ctrl-C; what SLURM sends before preemption
def test_a_signal_saves_a_checkpoint_exits_cleanly_and_ckpt_path_last_resumes_from_it(tmp_path, signal_name):
    import signal
    import subprocess
    import time

    shards, harness = _harness()
    url = shards.write_good_shards(tmp_path / "shards")
    run_dir = tmp_path / "outputs" / "train" / "raphael" / "first"
    slow = "+callbacks.slow={_target_: train_harness.SlowSteps, seconds: 0.5}"  # time to send the signal
    proc = subprocess.Popen(harness.train_command(tmp_path, url, run_dir, *COMMON, "trainer.max_steps=100", slow),
                            cwd=harness.ROOT, env=harness.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]  # the graceful shutdown exits with 1 (docs/reliability.md)
    assert "Traceback" not in err, err[-3000:]
    saved = harness.load(run_dir / "checkpoints" / "interrupted.ckpt")
    assert 1 <= saved["global_step"] < 100
    assert "interrupted at step" in out

    resumed = harness.run(harness.train_command(
        tmp_path, url, tmp_path / "outputs" / "train" / "raphael" / "second", *COMMON,
        f"trainer.max_steps={saved['global_step'] + 2}", "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "interrupted.ckpt" in resumed.stdout
    assert harness.load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == saved["global_step"] + 2


# ------------------------------------------------------------------------------ damaged checkpoints
def _run_with_checkpoints(run_dir, damaged: str = "last.ckpt"):
    """A run folder with step_000002.ckpt and step_000004.ckpt whole and `damaged` cut in half, as a disk
    copy that stopped or a full disk leaves it (the atomic writer itself never does)."""
    import os

    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True)
    for i, name in enumerate(["step_000002.ckpt", "step_000004.ckpt", damaged]):
        torch.save({"state_dict": {"w": torch.ones(1000)}, "global_step": 2 * (i + 1)}, folder / name)
        os.utime(folder / name, (1000 + i, 1000 + i))  # written in this order
    whole = (folder / damaged).read_bytes()
    (folder / damaged).write_bytes(whole[: len(whole) // 2])
    return folder


@pytest.mark.parametrize("how", ["last", "path"])
def test_a_damaged_checkpoint_is_refused_naming_the_newest_intact_one(tmp_path, how):
    from omegaconf import OmegaConf

    from raphael.training import resolve_ckpt_path

    run_dir = tmp_path / "outputs" / "train" / "default" / "run"
    folder = _run_with_checkpoints(run_dir)
    cfg = OmegaConf.create({"ckpt_path": "last" if how == "last" else str(folder / "last.ckpt"),
                            "paths": {"log_dir": str(tmp_path / "outputs"), "output_dir": str(run_dir)},
                            "task_name": "train", "experiment_name": "default"})
    with pytest.raises(ConfigError) as err:
        resolve_ckpt_path(cfg)
    message = str(err.value)
    for words in (f"ckpt_path='{folder / 'last.ckpt'}' is not a readable checkpoint", "truncated",
                  "failed finding central directory", f"ckpt_path={folder / 'step_000004.ckpt'}"):
        assert words in message, (words, message)
    assert ("ckpt_path=last picked it" in message) == (how == "last")


def test_a_run_with_no_intact_checkpoint_says_to_start_afresh(tmp_path):
    from omegaconf import OmegaConf

    from raphael.training import resolve_ckpt_path

    folder = _run_with_checkpoints(tmp_path / "run")
    for name in ("step_000002.ckpt", "step_000004.ckpt"):
        (folder / name).write_bytes(b"not a zip")
    cfg = OmegaConf.create({"ckpt_path": str(folder / "last.ckpt")})
    with pytest.raises(ConfigError, match="No other checkpoint in .* can be read: start afresh with ckpt_path=null"):
        resolve_ckpt_path(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["last", "path"])
def test_python_m_raphael_train_refuses_a_truncated_checkpoint_with_exit_2(tmp_path, how):
    shards, harness = _harness()
    url = shards.write_good_shards(tmp_path / "shards", num_shards=1, per_shard=2)
    run_dir = tmp_path / "run"
    folder = _run_with_checkpoints(run_dir)
    ckpt = "last" if how == "last" else str(folder / "last.ckpt")
    proc = harness.run(harness.train_command(tmp_path, url, run_dir, f"ckpt_path={ckpt}"), timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for words in (f"ckpt_path='{folder / 'last.ckpt'}'", "truncated", f"ckpt_path={folder / 'step_000004.ckpt'}"):
        assert words in proc.stderr, (words, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1  # one paragraph


# ------------------------------------------------------------------------------ one run per directory
HOLD = ("import sys, time; from raphael.run.rundir import lock_run_dir; lock_run_dir(sys.argv[1]); "
        "print('held', flush=True); time.sleep(120)")


def test_a_run_dir_held_by_a_live_process_is_refused_and_freed_when_it_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from raphael.run.rundir import LOCK_FILE, hold_run_dir, lock_run_dir, release_run_dir

    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError) as err:
            lock_run_dir(run_dir)
        for words in (f"run directory '{run_dir}' is in use", f"pid {holder.pid} on host", str(run_dir / LOCK_FILE)):
            assert words in str(err.value), (words, str(err.value))
    finally:
        holder.send_signal(signal.SIGKILL)  # as a crash: nothing of the holder runs, the OS drops its lock
        holder.wait()
    assert lock_run_dir(run_dir) is True
    assert lock_run_dir(run_dir) is False  # this process holds it already (the entry point locked it first)
    with hold_run_dir(run_dir):
        pass
    assert str(os.getpid()) in (run_dir / LOCK_FILE).read_text()  # still this process's: the block did not take it
    release_run_dir(run_dir)
    with hold_run_dir(run_dir):  # a multirun's jobs, one after another in one process
        pass
    with hold_run_dir(run_dir):
        pass


def test_the_other_ranks_of_a_multi_process_run_do_not_take_the_lock(tmp_path, monkeypatch):
    from raphael.run.rundir import LOCK_FILE, lock_run_dir, run_dir_arg

    monkeypatch.setenv("LOCAL_RANK", "1")  # what Lightning's DDP launcher sets for the processes it starts
    assert lock_run_dir(tmp_path) is False and not (tmp_path / LOCK_FILE).exists()
    assert run_dir_arg(["seed=1", f'hydra.run.dir="{tmp_path}"']) == str(tmp_path)  # the form the launcher passes
    assert run_dir_arg(["-m", f"hydra.run.dir={tmp_path}"]) is None  # a multirun: each job has its own folder
    assert run_dir_arg(["hydra.run.dir=outputs/${now:%H}"]) is None  # left to the lock in raphael.training


@pytest.mark.slow
def test_a_second_launch_into_a_running_runs_folder_exits_2_and_a_killed_run_still_resumes(tmp_path):
    import signal
    import subprocess
    import time

    shards, harness = _harness()
    url = shards.write_good_shards(tmp_path / "shards")
    run_dir = tmp_path / "run"
    slow = "+callbacks.slow={_target_: train_harness.SlowSteps, seconds: 0.5}"
    first = subprocess.Popen(harness.train_command(tmp_path, url, run_dir, *COMMON, "trainer.max_steps=100", slow),
                             cwd=harness.ROOT, env=harness.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.5)
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    second = harness.run(harness.train_command(tmp_path, url, run_dir, *COMMON, "seed=1"), timeout=300)
    assert second.returncode == 2, second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    for words in (f"run directory '{run_dir}' is in use", f"pid {first.pid} on host", "hydra.run.dir="):
        assert words in second.stderr, (words, second.stderr)
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == overrides  # refused before Hydra wrote there
    assert first.poll() is None  # the first run goes on

    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    step = harness.load(run_dir / "checkpoints" / "last.ckpt")["global_step"]
    resumed = harness.run(harness.train_command(tmp_path, url, run_dir, *COMMON, f"trainer.max_steps={step + 2}",
                                                "ckpt_path=last"), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert harness.load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == step + 2


@pytest.mark.slow
def test_the_jobs_of_a_multirun_each_hold_their_own_folder(tmp_path):
    shards, harness = _harness()
    url = shards.write_good_shards(tmp_path / "shards", num_shards=1, per_shard=2)
    sweep = tmp_path / "sweep"
    command = harness.train_command(tmp_path, url, tmp_path / "unused", "trainer.max_steps=2", "seed=0,1",
                                    f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=job${hydra.job.num}")
    proc = harness.run([*command[:3], "--multirun", *command[3:]], timeout=600)  # python -m raphael.train -m ...
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.parent.parent.name for p in sweep.glob("*/checkpoints/last.ckpt")) == ["job0", "job1"]
