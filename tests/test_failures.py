"""Failures mid-run: atomic checkpoints, a non-finite loss, an unwritable or full output folder."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from raphael.callbacks.guards import NonFiniteLossError, NonFiniteLossGuard
from raphael.callbacks.interrupt import AtomicCheckpointIO, InterruptCheckpoint
from raphael.rundir import check_writable
from raphael.validation import ConfigError


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
    for key in ("state_dict", "current_model_state"):
        assert all(torch.isfinite(v).all() for v in last[key].values() if v.is_floating_point())


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
