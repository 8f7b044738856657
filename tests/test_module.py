"""The LightningModule's losses and sampling."""

from __future__ import annotations

import torch

from raphael.diffusion import DiffusionObjective
from raphael.nn.denoiser import LossTerm
from raphael.nn.raphael_losses import edge_loss


def _batch(b: int = 4, size: int = 16) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.rand(b, 3, size, size, generator=g) * 2 - 1,
        "edge": (torch.rand(b, 1, size, size, generator=g) > 0.8).float(),
        "caption": ["a large red circle on the left"] * b,
    }


def test_edge_loss_is_zero_when_every_t_is_at_or_above_t_c():
    logits = [torch.randn(3, 1, 8, 8, requires_grad=True) for _ in range(2)]
    target = (torch.rand(3, 1, 8, 8) > 0.5).float()
    t = torch.tensor([500, 700, 999])
    loss = edge_loss(logits, target, t, t_c=500)
    assert loss.item() == 0.0
    loss.backward()  # still connected to the graph (DDP needs every head to get a gradient)
    assert all(lg.grad is not None for lg in logits)
    assert edge_loss(logits, target, torch.tensor([0, 700, 999]), t_c=500).item() > 0


def test_edge_loss_averages_only_selected_samples():
    logits = torch.randn(2, 1, 4, 4)
    target = torch.zeros(2, 1, 4, 4)
    both = edge_loss([logits], target, torch.tensor([0, 0]), t_c=500)
    first = edge_loss([logits[:1]], target[:1], torch.tensor([0]), t_c=500)
    mixed = edge_loss([logits], target, torch.tensor([0, 999]), t_c=500)
    assert torch.allclose(mixed, first) and not torch.allclose(both, first)


def test_compute_losses_logs_every_term_and_backpropagates(tiny_module):
    batch = _batch()
    t = torch.tensor([10, 200, 600, 900])
    losses, out = tiny_module.compute_losses(batch, batch["caption"], batch["image"], t, torch.randn(4, 3, 16, 16))
    assert set(losses) == {"denoise", "edge", "balance", "balance_space", "balance_time", "loss"}
    cfg = tiny_module.model_cfg  # the network's own weights; balance_space / balance_time are logged, not added twice
    assert torch.equal(losses["loss"], losses["denoise"] + cfg.edge.weight * losses["edge"] + cfg.balance_coef * losses["balance"])
    assert torch.equal(losses["balance"], losses["balance_space"] + losses["balance_time"])
    assert out.sample.shape == (4, 3, 16, 16)
    losses["loss"].backward()
    # zero-initialised output layers make most upstream gradients exactly 0 at init: check connectivity
    grads = {n: p.grad for n, p in tiny_module.net.named_parameters() if p.requires_grad}
    missing = [n for n, g in grads.items() if g is None and ".experts." not in n]
    assert not missing, missing


def test_the_objective_adds_the_terms_a_network_declares_with_their_weights(tiny_module):
    """A network with a term of its own (weight 2) and a logged one (weight None): the objective needs no change."""
    net = tiny_module.net
    net.loss_terms = lambda out, batch, t: {"toy": LossTerm(out.sample.abs().mean(), 2.0),
                                            "watched": LossTerm(out.sample.amax(), None)}
    batch, t = _batch(), torch.tensor([10, 200, 600, 900])
    text = tiny_module.encode_text(batch["caption"])
    losses, out = DiffusionObjective(tiny_module.train_scheduler)(net, batch["image"], text, t, torch.randn(4, 3, 16, 16), batch)
    assert set(losses) == {"denoise", "toy", "watched", "loss"}
    assert torch.equal(losses["loss"], losses["denoise"] + 2.0 * losses["toy"])


def test_caption_dropout_rate(tiny_module):
    torch.manual_seed(0)
    dropped = tiny_module.drop_captions(["x"] * 4000)
    share = sum(c == "" for c in dropped) / 4000
    assert abs(share - tiny_module.diffusion_cfg.cond_drop) < 0.02


def test_generate_with_guidance_returns_images_in_range(tiny_module):
    images = tiny_module.generate(["a red circle", "a blue square"], guidance=4.5, steps=2, seed=0)
    assert images.shape == (2, 3, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and torch.isfinite(images).all()
    again = tiny_module.generate(["a red circle", "a blue square"], guidance=4.5, steps=2, seed=0)
    assert torch.equal(images, again)


def test_one_batch_guidance_equals_two_passes(tiny_module):
    from raphael.benchmarks.guidance import two_pass_denoiser
    from raphael.diffusion import ddim_sample
    from raphael.nn.guidance import guided_denoiser
    from raphael.nn.text_encoder import encode_with_uncond

    text = encode_with_uncond(tiny_module.text_encoder, ["a red circle", "a small green star"])
    net = tiny_module.net.eval()
    kwargs = dict(shape=(2, 3, 16, 16), scheduler=tiny_module.sample_scheduler, steps=2)
    one = ddim_sample(guided_denoiser(net, text, 3.0), generator=torch.Generator().manual_seed(1), **kwargs)
    two = ddim_sample(two_pass_denoiser(net, text, 3.0), generator=torch.Generator().manual_seed(1), **kwargs)
    assert torch.allclose(one, two, atol=1e-5)


def test_sample_eta_adds_fresh_noise_and_follows_the_run_config(tiny_module):
    """ddim_sample passes eta to the scheduler (eta=1 draws fresh noise at every step, so the image depends on
    it); generate() takes the run's diffusion.sample_eta unless told otherwise."""
    from raphael.diffusion import ddim_sample
    from raphael.nn.guidance import guided_denoiser
    from raphael.nn.text_encoder import encode_with_uncond

    with torch.no_grad():  # the output layer starts at zero: every x0 prediction, hence every sample, would be 0
        for p in tiny_module.net.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    captions = ["a red circle", "a small green star"]
    denoise = guided_denoiser(tiny_module.net.eval(), encode_with_uncond(tiny_module.text_encoder, captions), 1.0)
    kwargs = dict(shape=(2, 3, 16, 16), scheduler=tiny_module.sample_scheduler, steps=3)
    ddim, ddpm_like = (ddim_sample(denoise, generator=torch.Generator().manual_seed(1), eta=eta, **kwargs)
                       for eta in (0.0, 1.0))
    assert not torch.allclose(ddim, ddpm_like)
    tiny_module.diffusion_cfg.sample_eta = 1.0
    images = tiny_module.generate(captions, steps=3, seed=1)
    assert torch.equal(images, tiny_module.generate(captions, steps=3, seed=1, eta=1.0))
    assert not torch.allclose(images, tiny_module.generate(captions, steps=3, seed=1, eta=0.0))


def test_latent_diffusion_through_a_local_autoencoder(tmp_path):
    """vae.path: images are encoded to latents for training and decoded after sampling; edges stay in pixels."""
    from conftest import compose_train
    from diffusers import AutoencoderKL

    from raphael.module import RaphaelModule

    vae_dir = tmp_path / "vae"
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8), layers_per_block=1,
        norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    ).save_pretrained(vae_dir)
    cfg = compose_train("experiment=raphael", "model.in_channels=4", f"vae.path={vae_dir}")
    module = RaphaelModule(cfg.model, cfg.text_encoder, cfg.diffusion, cfg.optim, cfg.vae, image_size=16)
    assert module.latent_hw((16, 16)) == (8, 8)
    batch = _batch()
    losses, out = module.compute_losses(batch, batch["caption"], module.to_latent(batch["image"]),
                                        torch.tensor([10, 200, 600, 900]), torch.randn(4, 4, 8, 8))
    assert out.sample.shape == (4, 4, 8, 8) and torch.isfinite(losses["loss"])
    images = module.generate(["a red circle"], steps=2)
    assert images.shape == (1, 3, 16, 16)


def test_missing_vae_folder_is_a_clear_error(tmp_path):
    import pytest

    from raphael.module import load_vae

    with pytest.raises(FileNotFoundError, match="vae.path"):
        load_vae(str(tmp_path / "nope"))
