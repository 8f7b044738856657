"""Classifier-free guidance as the sampler applies it (raphael.diffusion.guidance): each lever against its formula.

Levers: the space guidance is rescaled in (x0 / eps / v), the rescale phi (Lin et al. 2024), the interval of
timesteps with guidance (Kynkaanniemi et al. 2024), static / dynamic clipping of the predicted x0 (Saharia et
al. 2022) and re-deriving the noise from the clipped x0; the caption-drop rate is tests/test_module.py's.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from raphael.diffusion import GuidanceRule, SamplerSettings, ddim_sample, make_sample_scheduler
from raphael.diffusion.guidance import PARAMETERISATIONS, convert, rescale
from raphael.nn.guidance import guided_denoiser
from raphael.run.errors import ConfigError

KINDS = PARAMETERISATIONS


def _train_scheduler(prediction_type: str = "sample", clip_sample: bool = True) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type=prediction_type, clip_sample=clip_sample)


def _state(t_values=(999, 700, 300, 39)):
    """x0, eps, x_t = add_noise(x0, eps, t) and t for a few images, plus the schedule's alphas_cumprod."""
    scheduler = _train_scheduler()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(len(t_values), 3, 8, 8, generator=g), torch.randn(len(t_values), 3, 8, 8, generator=g)
    t = torch.tensor(t_values)
    return x0, eps, scheduler.add_noise(x0, eps, t), t, scheduler.alphas_cumprod


def _as(kind, x0, eps, t, ab):
    a = ab[t].view(-1, 1, 1, 1).double()
    return {"sample": x0, "epsilon": eps, "v_prediction": (a.sqrt() * eps - (1 - a).sqrt() * x0).float()}[kind]


@pytest.mark.parametrize("source", KINDS)
@pytest.mark.parametrize("target", KINDS)
def test_conversion_between_parameterisations_follows_x_t(source, target):
    """x0, eps and v of the same (x0, eps) pair map onto each other through x_t (v as DenoisingLoss's target)."""
    x0, eps, xt, t, ab = _state(t_values=(700, 300, 39, 5))  # sqrt(a) ~ 5e-5 at t = 999: eps -> x0 ill-posed
    got = convert(_as(source, x0, eps, t, ab), xt, ab, t, source, target)
    assert torch.allclose(got, _as(target, x0, eps, t, ab), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("space", KINDS)
def test_plain_guidance_is_the_same_in_every_space(space):
    """x0, eps and v are affine in each other at fixed x_t: extrapolating any of them gives one guided x0."""
    x0_c, eps, xt, t, ab = _state()
    x0_c, xt = x0_c.double(), xt.double()  # float64 as GuidanceRule converts: sqrt(a) ~ 5e-5 at t = 999
    x0_u = x0_c.roll(1, dims=-1) * 0.5
    w = 4.5
    c, u = convert(x0_c, xt, ab, t, "sample", space), convert(x0_u, xt, ab, t, "sample", space)
    guided_x0 = convert(u + w * (c - u), xt, ab, t, space, "sample")
    assert torch.allclose(guided_x0, x0_u + w * (x0_c - x0_u), atol=1e-6)


def test_rescale_matches_the_formula_and_diffusers():
    g = torch.Generator().manual_seed(1)
    cond, guided = torch.randn(3, 3, 8, 8, generator=g), 4 * torch.randn(3, 3, 8, 8, generator=g)
    assert torch.equal(rescale(guided, cond, 0.0), guided)
    full = rescale(guided, cond, 1.0)
    assert torch.allclose(full.std(dim=(1, 2, 3)), cond.std(dim=(1, 2, 3)), rtol=1e-5)
    k = cond.std(dim=(1, 2, 3), keepdim=True) / guided.std(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(rescale(guided, cond, 0.7), 0.7 * k * guided + 0.3 * guided, rtol=1e-5)


@pytest.mark.slow  # diffusers' guiders module imports most of diffusers (~7 s)
def test_rescale_equals_diffusers_rescale_noise_cfg():
    from diffusers.guiders.guider_utils import rescale_noise_cfg

    g = torch.Generator().manual_seed(2)
    cond, guided = torch.randn(2, 4, 8, 8, generator=g), 3 * torch.randn(2, 4, 8, 8, generator=g)
    assert torch.allclose(rescale(guided, cond, 0.7), rescale_noise_cfg(guided, cond, 0.7), rtol=1e-5)


@pytest.mark.parametrize("space", KINDS)
def test_rule_rescales_in_its_space_and_answers_in_the_network_s(space):
    """A sample-predicting network, guidance rescaled in `space`: the answer (x0) seen in `space` is the rescale
    formula applied to the guided and cond predictions of that space."""
    x0_c, _, xt, t, ab = _state(t_values=(700, 500, 300, 100))
    x0_u = 0.3 * x0_c.flip(-1)
    settings = SamplerSettings(guidance_space=space, guidance_rescale=0.7)
    out = GuidanceRule(3.0, settings, ab, "sample")(x0_c, x0_u, xt, t)
    c, u = convert(x0_c, xt, ab, t, "sample", space), convert(x0_u, xt, ab, t, "sample", space)
    expected = rescale(u + 3.0 * (c - u), c, 0.7)
    assert torch.allclose(convert(out, xt, ab, t, "sample", space), expected, atol=1e-3, rtol=1e-3)


def test_rule_without_rescale_is_the_plain_mix_and_spaces_differ_only_with_rescale():
    x0_c, _, xt, t, ab = _state(t_values=(700, 500, 300, 100))
    x0_u = 0.3 * x0_c.flip(-1)
    plain = [GuidanceRule(3.0, SamplerSettings(guidance_space=s), ab, "sample")(x0_c, x0_u, xt, t) for s in KINDS]
    for out in plain:
        assert torch.equal(out, x0_u + 3.0 * (x0_c - x0_u))
    rescaled = [GuidanceRule(3.0, SamplerSettings(guidance_space=s, guidance_rescale=1.0), ab, "sample")(
        x0_c, x0_u, xt, t) for s in KINDS]
    assert not torch.allclose(rescaled[0], rescaled[1], atol=1e-2)


def test_interval_guides_only_inside_and_skips_the_uncond_rows_outside():
    rule = GuidanceRule(4.0, SamplerSettings(guidance_interval=(200, 800)), torch.ones(1000), "sample")
    assert [rule.weight_at(torch.tensor([t])) for t in (0, 199, 200, 799, 800, 999)] == [1, 1, 4, 4, 1, 1]

    class Text:  # rows: 2 cond (state 1) then 2 uncond (state 0)
        def __init__(self, states):
            self.states = states

        def rows(self, index):
            return Text(self.states[index])

    sizes = []

    def net(x, t, text):  # predicts each row's text state; records the batch of each call
        sizes.append(x.shape[0])
        return type("Out", (), {"sample": text.states.view(-1, 1, 1, 1).expand_as(x), "aux": None})()

    x = torch.zeros(2, 1, 2, 2)
    denoise = guided_denoiser(net, Text(torch.tensor([1.0, 1.0, 0.0, 0.0])), rule)
    inside, _ = denoise(x, torch.tensor([500, 500]))
    outside, _ = denoise(x, torch.tensor([900, 900]))
    assert sizes == [4, 2]  # outside the interval the uncond rows are not run
    assert torch.equal(inside, torch.full_like(x, 4.0))  # 0 + 4 (1 - 0)
    assert torch.equal(outside, torch.ones_like(x))


def test_static_and_dynamic_clipping_follow_saharia_and_skip_latents():
    x0 = torch.tensor([0.2, -3.0, 1.5, 0.9]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    x0[1] *= 0.5
    xt, t = torch.zeros_like(x0), 500
    for clip, ratio, top in (("static", 0.995, 1.5), ("dynamic", 0.5, 1.5), ("dynamic", 1.0, 2.0)):
        scheduler = make_sample_scheduler(_train_scheduler(), SamplerSettings(x0_clip=clip, dynamic_ratio=ratio,
                                                                              dynamic_max=top))
        scheduler.set_timesteps(25)
        got = scheduler.step(x0, t, xt, eta=0.0).pred_original_sample
        if clip == "static":
            expected = x0.clamp(-1, 1)
        else:  # s = clamp(quantile(|x0|, ratio), 1, max) per image; x0 -> clamp(x0, -s, s) / s
            s = torch.quantile(x0.abs().flatten(1), ratio, dim=1).clamp(1, top).view(-1, 1, 1, 1)
            expected = torch.maximum(torch.minimum(x0, s), -s) / s
        assert torch.allclose(got, expected, atol=1e-6), clip
    latent = make_sample_scheduler(_train_scheduler(clip_sample=False), SamplerSettings(x0_clip="dynamic"))
    assert not latent.config.clip_sample and not latent.config.thresholding


@pytest.mark.parametrize("clipped_eps", [False, True])
def test_clipped_eps_rederives_the_noise_from_the_clipped_x0(clipped_eps):
    """One DDIM step (eta 0) of a sample predictor whose x0 leaves [-1, 1]:
    x_prev = sqrt(a') clip(x0) + sqrt(1 - a') eps, eps from x0 (false) or from clip(x0) (true)."""
    scheduler = make_sample_scheduler(_train_scheduler(), SamplerSettings(x0_clip="static"))
    x0 = torch.tensor([0.5, -2.5, 3.0, 0.0]).view(1, 1, 2, 2)
    xt = torch.tensor([0.1, -0.4, 0.7, 1.2]).view(1, 1, 2, 2)
    seen = []
    out = ddim_sample(lambda x, t: (seen.append(int(t[0])) or x0, None), (1, 1, 2, 2), scheduler, steps=25,
                      clipped_eps=clipped_eps, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 1, 2, 2) and len(seen) == 25
    t, t_prev = seen[3], seen[4]
    ab = scheduler.alphas_cumprod
    a, a_prev = ab[t], ab[t_prev]
    step = scheduler.step(x0, t, xt, eta=0.0, use_clipped_model_output=clipped_eps).prev_sample
    basis = x0.clamp(-1, 1) if clipped_eps else x0
    eps = (xt - a.sqrt() * basis) / (1 - a).sqrt()
    assert torch.allclose(step, a_prev.sqrt() * x0.clamp(-1, 1) + (1 - a_prev).sqrt() * eps, atol=1e-5)


def test_settings_validate_and_merge_overrides():
    base = SamplerSettings.from_config({"guidance_rescale": 0.7, "guidance_interval": [200, 800]})
    assert base.guidance_interval == (200, 800) and base.x0_clip == "static"
    merged = SamplerSettings.from_config(base.__dict__, {"x0_clip": "dynamic", "guidance_rescale": None})
    assert merged.x0_clip == "dynamic" and merged.guidance_rescale == 0.7
    assert SamplerSettings.from_config(None) == SamplerSettings()  # checkpoints without the node: the old sampler
    for bad, field in (({"x0_clip": "soft"}, "x0_clip"), ({"guidance_rescale": 2}, "guidance_rescale"),
                       ({"guidance_interval": [5, 5]}, "guidance_interval"), ({"dynamic_max": 0.5}, "dynamic_max"),
                       ({"colour": 1}, "diffusion.sampler")):
        with pytest.raises(ConfigError, match=field):
            SamplerSettings.from_config(bad)
