"""Sample images from a checkpoint: `python -m raphael.sample ckpt=PATH prompt="a red circle on the left"`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from raphael.analysis.images import save_grid, to_uint8
from raphael.checkpoints import load_module
from raphael.console import quiet_third_party
from raphael.errors import check, is_int
from raphael.summary import next_commands
from raphael.validation import user_errors, validate_eta, validate_guidance


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    quiet_third_party()
    with user_errors():
        if cfg.guidance is not None:
            validate_guidance("guidance", cfg.guidance)
        validate_eta("eta", cfg.get("eta"), allow_none=True)
        check(cfg, [("num", is_int(cfg.num, 1), "how many images: an integer >= 1"),
                    ("steps", is_int(cfg.steps, 1), "DDIM steps: an integer >= 1 (25 is the default)"),
                    ("seed", is_int(cfg.seed, 0), "an integer >= 0")])
        module = load_module(cfg.ckpt, model=cfg.get("model"))  # +model.x=... : must match the ckpt
        images = module.generate([cfg.prompt] * cfg.num, guidance=cfg.guidance, steps=cfg.steps, seed=cfg.seed,
                                 eta=cfg.get("eta"))
        path = save_grid(to_uint8(images), cfg.out, captions=[cfg.prompt] * cfg.num)
    guidance = module.diffusion_cfg.guidance if cfg.guidance is None else cfg.guidance
    eta = module.sample_eta if cfg.get("eta") is None else cfg.eta
    print(f"wrote {path} ({cfg.num} samples of {cfg.prompt!r}, guidance {guidance:g}, {cfg.steps} DDIM steps, eta {eta:g})")
    print(next_commands(cfg.ckpt, skip="sample", prompt=cfg.prompt))


if __name__ == "__main__":
    main()
