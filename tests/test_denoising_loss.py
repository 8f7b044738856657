"""The loss object: each prediction type's target and each weighting against its formula."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from raphael.diffusion import DenoisingLoss


def _parts(prediction_type: str, weighting: str = "none", gamma: float = 5.0):
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                              prediction_type=prediction_type)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    t = torch.tensor([0, 100, 500, 999])
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    return DenoisingLoss(scheduler, weighting, gamma), x0, noise, t, a


def test_targets_follow_each_prediction_type():
    loss, x0, noise, t, a = _parts("epsilon")
    assert torch.equal(loss.target(x0, noise, t), noise)
    loss, x0, noise, t, a = _parts("v_prediction")
    assert torch.allclose(loss.target(x0, noise, t), a.sqrt() * noise - (1 - a).sqrt() * x0, atol=1e-6)
    loss, x0, noise, t, a = _parts("sample")
    assert torch.equal(loss.target(x0, noise, t), x0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_min_snr_weights_match_the_formula(prediction_type):
    loss, _, _, t, a = _parts(prediction_type, "min_snr", gamma=5.0)
    snr = (a / (1 - a)).flatten().double()
    clipped = snr.clamp(max=5.0)
    expected = {"epsilon": clipped / snr, "v_prediction": clipped / (snr + 1), "sample": clipped}[prediction_type]
    assert torch.allclose(loss.weight(t).double(), expected, rtol=1e-4)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_min_snr_weighs_the_implied_x0_error_alike_for_every_target(prediction_type):
    """With min-SNR every target puts weight min(SNR, gamma) on the x0 error its prediction implies."""
    loss, x0, noise, t, a = _parts(prediction_type, "min_snr")
    x0_hat = x0 + 0.1  # a fixed x0 error; the equivalent noise / v predictions
    eps_hat = (loss.scheduler.add_noise(x0, noise, t) - a.sqrt() * x0_hat) / (1 - a).sqrt()
    pred = {"epsilon": eps_hat, "v_prediction": a.sqrt() * eps_hat - (1 - a).sqrt() * x0_hat,
            "sample": x0_hat}[prediction_type]
    per_sample = torch.stack([loss(pred[i:i + 1], x0[i:i + 1], noise[i:i + 1], t[i:i + 1]) for i in range(1, 4)])
    snr = (a / (1 - a)).flatten()[1:]
    assert torch.allclose(per_sample, 0.01 * snr.clamp(max=5.0), rtol=1e-3)


def test_no_weighting_is_plain_mse_and_position_weights_normalise():
    loss, x0, noise, t, _ = _parts("epsilon")
    pred = torch.zeros_like(noise)
    assert torch.allclose(loss(pred, x0, noise, t), (noise**2).mean())
    w = torch.ones(4, 1, 8, 8)
    w[..., :4, :] = 3.0
    expected = ((noise**2) * w).sum() / w.expand_as(noise).sum()
    assert torch.allclose(loss(pred, x0, noise, t, w), expected)


def test_draw_shapes_and_bad_values():
    loss, x0, *_ = _parts("epsilon")
    t, noise = loss.draw(x0)
    assert t.shape == (4,) and noise.shape == x0.shape and int(t.max()) < 1000
    with pytest.raises(ValueError, match="diffusion.loss.weighting"):
        DenoisingLoss(DDPMScheduler(), "snr")
    with pytest.raises(ValueError, match="diffusion.loss.t_sampling"):
        DenoisingLoss(DDPMScheduler(), t_sampling="lognormal")


def test_logit_normal_draws_follow_their_location():
    """t = floor(T * sigmoid(n)), n ~ N(mean, std): the median t sits at T * sigmoid(mean), all t in range."""
    x0 = torch.zeros(20000, 1)
    for mean in (0.0, 1.0):
        loss = DenoisingLoss(DDPMScheduler(num_train_timesteps=1000), t_sampling="logit_normal", t_mean=mean)
        torch.manual_seed(0)
        t, _ = loss.draw(x0)
        assert 0 <= int(t.min()) and int(t.max()) <= 999
        assert abs(t.float().median().item() - 1000 * torch.sigmoid(torch.tensor(mean)).item()) < 15
        # the middle half of the process gets more than half the draws (uniform: exactly half)
        assert ((t >= 250) & (t < 750)).float().mean() > (0.6 if mean == 0.0 else 0.3)
