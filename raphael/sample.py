"""Sample images from a checkpoint: `python -m raphael.sample ckpt=PATH prompt="a red circle on the left"`.

Any prompt a person types reaches the model as typed: the shell has removed its quotes by the time Hydra
reads `prompt=un cercle rouge à gauche`, and Hydra's override grammar refuses non-ASCII letters unquoted,
reads `prompt=3` as a number and `prompt=red,blue` as a sweep, so the entry point quotes the value for Hydra
first (`quote_prompt`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from raphael.analysis.images import save_grid, to_uint8
from raphael.run.checkpoints import load_module
from raphael.run.console import quiet_third_party
from raphael.run.errors import check, is_int
from raphael.run.summary import next_commands
from raphael.run.validation import check_overrides, hydra_quoted, user_errors, validate_eta, validate_guidance

PROMPT_KEYS = ("prompt",)


def quoted_for_hydra(value: str) -> bool:
    """Already written as Hydra wants it (`'prompt="..."'`, the form older docs gave): keep it."""
    if len(value) < 2 or value[0] not in "'\"" or value[-1] != value[0]:
        return False
    try:
        return isinstance(OverridesParser.create().parse_override(f"prompt={value}").value(), str)
    except Exception:  # noqa: BLE001 - Hydra cannot read it: quote it as text
        return False


def quote_prompt(argv: list[str]) -> list[str]:
    """The command line with each `prompt=` value quoted for Hydra's grammar (hydra_quoted), so that Hydra
    hands the model exactly the text typed. Words after it that are not overrides (the shell split a prompt
    typed without quotes) join it. A multirun (-m) is left as typed: there `prompt=a,b` sweeps."""
    if "-m" in argv or "--multirun" in argv:
        return argv
    args: list[str] = []
    prompts: dict[int, tuple[str, list[str]]] = {}  # index in args -> (key, words)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") in PROMPT_KEYS:
            prompts[len(args)] = (key, [value])
            args.append(arg)
        elif len(args) - 1 in prompts and not sep and not arg.startswith(("-", "~")):
            prompts[len(args) - 1][1].append(arg)
        else:
            args.append(arg)
    for i, (key, words) in prompts.items():
        value = " ".join(words)
        args[i] = f"{key}={value if quoted_for_hydra(value) else hydra_quoted(value)}"
    return args


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
    sys.argv[1:] = quote_prompt(sys.argv[1:])
    with user_errors():  # a misspelt key or an override Hydra cannot read: one paragraph instead of Hydra's error
        check_overrides(sys.argv[1:], Path(__file__).resolve().parents[1] / "conf", "sample")
    main()
