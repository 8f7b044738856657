"""The LightningModule: one training recipe for every denoiser the suite builds.

The loss is `raphael.diffusion.DiffusionObjective`: the denoising loss plus the terms the network declares
(RAPHAEL: edge.weight * focal edge loss (t < T_c) + balance_coef * (space + time balance)); the module knows none.
The frozen text encoder (and the optional VAE) are held outside the module's parameters: they load
from their folders, stay out of checkpoints and out of the EMA copy's gradients.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from raphael.diffusion import (
    DiffusionObjective,
    GuidanceRule,
    SamplerSettings,
    ddim_sample,
    make_sample_scheduler,
    make_train_scheduler,
)
from raphael.nn import build_model, model_config
from raphael.nn.guidance import guided_denoiser
from raphael.nn.text_encoder import TextEncoding, attach_emphasis, encode_with_uncond
from raphael.optim.grad_clip import clip_gradients, optimizer_kwargs_for_precision
from raphael.optim.lr_schedule import BudgetLR, BudgetSchedule, trainer_progress


def _as_config(value) -> DictConfig:
    return value if isinstance(value, DictConfig) else OmegaConf.create(value)


def load_vae(path: str):
    """A diffusers AutoencoderKL from a local folder (latent diffusion); frozen."""
    from diffusers import AutoencoderKL  # only for latent diffusion (vae.path)

    if not Path(path).is_dir():
        raise FileNotFoundError(
            f"vae.path={path!r} is not a folder. Point vae.path at a local diffusers AutoencoderKL folder "
            "(config.json + weights), or leave it null for pixel-space diffusion."
        )
    return AutoencoderKL.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)


class RaphaelModule(L.LightningModule):
    def __init__(
        self,
        model: DictConfig | dict,
        text_encoder: DictConfig | dict,
        diffusion: DictConfig | dict,
        optim: DictConfig | dict,
        vae: DictConfig | dict | None = None,
        image_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # raphael.train logs the resolved run config; Lightning would log str() of each node over it
        self.seed = seed
        self.validated_at: int | None = None
        self.model_cfg = model_config(model)  # the network's config dataclass (raphael.nn.config)
        self.diffusion_cfg = _as_config(diffusion)
        self.optim_cfg = _as_config(optim)
        self.image_size = image_size
        vae_cfg = _as_config(vae or {"path": None, "scaling_factor": None})

        # Frozen helpers live in __dict__, not in _modules: no checkpoint bloat, no EMA of frozen weights.
        object.__setattr__(self, "text_encoder", hydra.utils.instantiate(_as_config(text_encoder)))
        object.__setattr__(self, "vae", load_vae(vae_cfg.path) if vae_cfg.path else None)
        self.latent_scale = (
            float(vae_cfg.scaling_factor or self.vae.config.scaling_factor) if self.vae is not None else 1.0
        )

        self.net = build_model(self.model_cfg, self.text_encoder.dim)
        if self.model_cfg.compile:  # one graph where the dispatch never reads the device (model.dispatch.mode)
            dispatch = getattr(self.model_cfg, "dispatch", None)
            self.net.compile(fullgraph=dispatch is not None and dispatch.mode != "exact")
        self.train_scheduler = make_train_scheduler(self.diffusion_cfg, clip_sample=self.vae is None)
        self.sampler_settings = SamplerSettings.from_config(self.diffusion_cfg.get("sampler"))
        self.sample_scheduler = make_sample_scheduler(self.train_scheduler, self.sampler_settings)
        self.objective = DiffusionObjective(self.train_scheduler, **(self.diffusion_cfg.get("loss") or {}))

    # ----------------------------------------------------------------------------------- helpers
    @property
    def compute_device(self) -> torch.device:
        """Where the network computes: its parameters' device. Under trainer=fsdp Lightning never moves the
        LightningModule itself (FSDP places the shards), so `self.device` still says cpu there."""
        return next(self.net.parameters()).device

    def _frozen_to_device(self) -> None:
        device = self.compute_device
        for frozen in (self.text_encoder, self.vae):
            if frozen is not None and next(frozen.parameters()).device != device:
                frozen.to(device)

    def encode_text(self, captions: list[str]) -> TextEncoding:
        self._frozen_to_device()
        return self.text_encoder(captions)

    @torch.no_grad()
    def to_latent(self, images: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return images
        self._frozen_to_device()
        return self.vae.encode(images).latent_dist.sample() * self.latent_scale

    @torch.no_grad()
    def from_latent(self, latents: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return latents
        return self.vae.decode(latents / self.latent_scale).sample.clamp(-1, 1)

    def drop_captions(self, captions: list[str]) -> list[str]:
        """Classifier-free guidance training: replace a `cond_drop` share of captions by the empty one."""
        keep = torch.rand(len(captions)) >= self.diffusion_cfg.cond_drop
        return [c if k else "" for c, k in zip(captions, keep.tolist())]

    # ----------------------------------------------------------------------------------- losses
    def compute_losses(self, batch: dict, captions: list[str], x0: torch.Tensor, t: torch.Tensor,
                       noise: torch.Tensor) -> tuple[dict, object]:
        text = self.encode_text(captions)
        if batch.get("text_emphasis") is not None:  # key-word emphasis (raphael.callbacks.knowledge), 0 for dropped captions
            text = attach_emphasis(text, batch["text_emphasis"], captions, batch["caption"])
        return self.objective(self.net, x0, text, t, noise, batch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # Every random draw of a step (t, noise, caption dropout, gate noise) is a function of
        # (seed, rank, step, micro-batch): a resumed run repeats the uninterrupted one (docs/reliability.md).
        micro = batch_idx % self.trainer.accumulate_grad_batches if self._trainer is not None else 0
        step_seed = hash((self.seed, self.global_rank, self.global_step, micro)) & (2**63 - 1)
        device = self.compute_device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(step_seed)
            return self._training_step(batch)

    def _training_step(self, batch: dict) -> torch.Tensor:
        x = batch["image"]
        x0 = self.to_latent(x)
        t, noise = self.objective.draw(x0)
        losses, out = self.compute_losses(batch, self.drop_captions(batch["caption"]), x0, t, noise)
        if out.aux.dispatch_overflow is not None:  # rows the MoE layers dropped at capacity (dispatch.mode=capacity)
            self.log("train/dispatch_overflow", out.aux.dispatch_overflow.float(), batch_size=x.shape[0])
        self.last_losses = {k: v.detach() for k, v in losses.items()}  # read by callbacks.guards
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items() if k != "loss"}, prog_bar=False, batch_size=x.shape[0])
        self.log("train/loss", losses["loss"].detach(), prog_bar=True, batch_size=x.shape[0])
        if "skipped" in batch:
            self.log("data/skipped", batch["skipped"].float().sum(), reduce_fx="sum", on_step=False, on_epoch=True)
        return losses["loss"]

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Moves the batch dict's tensors and nothing else: Lightning's default walks every caption, key and
        meta dict of the batch at every step (~1.6 ms of a ~0.27 s budget=cpu step, experiments/recipe/loop_speed/)."""
        if not isinstance(batch, dict):
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        """Denoising loss at fixed, evenly spread timesteps and fixed noise: comparable across runs."""
        x = batch["image"]
        steps = self.train_scheduler.config.num_train_timesteps
        t = torch.linspace(0, steps - 1, x.shape[0], device=x.device).long()
        x0 = self.to_latent(x)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(batch_idx)).to(x0.device)
        losses, out = self.compute_losses(batch, batch["caption"], x0, t, noise)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, batch_size=x.shape[0], sync_dist=True)
        return {"loss": losses["loss"], "aux": out.aux, "t": t}

    def on_validation_epoch_end(self) -> None:
        self.validated_at = self.global_step  # raphael.train validates once more if training ended elsewhere

    def latent_hw(self, hw) -> tuple[int, int]:
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if self.vae is not None else 1
        return hw[0] // factor, hw[1] // factor

    # ----------------------------------------------------------------------------------- sampling
    @property
    def sample_eta(self) -> float:
        """The run's `diffusion.sample_eta`; 0 (deterministic DDIM) for checkpoints written before it existed."""
        return float(self.diffusion_cfg.get("sample_eta", 0.0))

    @torch.no_grad()
    def generate(
        self,
        captions: list[str],
        guidance: float | None = None,
        steps: int | None = None,
        seed: int = 0,
        size: tuple[int, int] | None = None,
        on_step=None,
        eta: float | None = None,
        sampler: dict | None = None,
    ) -> torch.Tensor:
        """Images in [-1, 1], (B, 3, H, W), by DDIM with classifier-free guidance; `eta` None: `sample_eta`;
        `sampler`: overrides of the run's `diffusion.sampler` (guidance rescale, interval, x0 clipping)."""
        was_training = self.net.training
        self.net.eval()
        h, w = size or (self.image_size, self.image_size)
        self._frozen_to_device()
        text = encode_with_uncond(self.text_encoder, captions)
        shape = (len(captions), self.net.in_channels, *self.latent_hw((h, w)))
        weight = self.diffusion_cfg.guidance if guidance is None else guidance
        settings, scheduler = self.sampler_settings, self.sample_scheduler
        if sampler:
            settings = SamplerSettings.from_config(dataclasses.asdict(settings), sampler)
            scheduler = make_sample_scheduler(self.train_scheduler, settings)
        rule = GuidanceRule(weight, settings, scheduler.alphas_cumprod, scheduler.config.prediction_type)
        x = ddim_sample(
            guided_denoiser(self.net, text, rule),
            shape,
            scheduler,
            steps=steps or self.diffusion_cfg.sample_steps,
            generator=torch.Generator().manual_seed(seed),
            device=text.states.device,
            on_step=on_step,
            eta=self.sample_eta if eta is None else eta,
            clipped_eps=settings.clipped_eps,
        )
        self.net.train(was_training)
        return self.from_latent(x).clamp(-1, 1)

    # ----------------------------------------------------------------------------------- optim
    def configure_optimizers(self):
        overrides = {}
        if self._trainer is not None and self.optim_cfg.optimizer.get("fused"):
            overrides = optimizer_kwargs_for_precision(self.trainer, self.trainer.gradient_clip_val)
        optimizer = hydra.utils.instantiate(self.optim_cfg.optimizer)(
            [p for p in self.net.parameters() if p.requires_grad], **overrides
        )
        multiplier = BudgetSchedule(
            self.optim_cfg.warmup_steps,
            decay=self.optim_cfg.get("decay", "none"),
            floor=self.optim_cfg.get("decay_floor", 0.0),
        )
        progress = trainer_progress(self.trainer) if self._trainer is not None else None
        schedule = BudgetLR(optimizer, multiplier, progress)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """bf16 and FSDP clip here (raphael.optim.grad_clip: Lightning refuses both with a fused optimizer); fp16 and
        no-clipping runs take Lightning's path."""
        if not clip_gradients(self.trainer, self, optimizer, gradient_clip_val, gradient_clip_algorithm):
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
