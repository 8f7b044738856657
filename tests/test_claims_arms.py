"""Every arm of the claims driver (experiments/claims/arms.py) composes and passes the config checks on top of
budget=cpu, and the plan only names arms that exist: a typo in an arm fails here, not after hours of runs."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pytest
from conftest import compose_train

from raphael.run.validation import validate_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.claims.arms import ARMS, BASE_STAGE, EVAL_GUIDANCE, PLAN  # noqa: E402

STAGES = [(arm, ARMS[arm][0]) for arm in sorted(ARMS)] + [(f"{arm} (base)", o) for arm, o in sorted(BASE_STAGE.items())]


@pytest.mark.parametrize("overrides", [o for _, o in STAGES], ids=[name for name, _ in STAGES])
def test_arm_composes_and_validates(overrides):
    cfg = compose_train("budget=cpu", *overrides, tiny=False)
    validate_config(cfg)
    hydra.utils.instantiate(cfg.callbacks.cpu_budget)  # a budget override (e.g. half of it) has the Timer's format


def test_every_arm_has_a_guidance_and_every_base_an_arm():
    assert all(claim in EVAL_GUIDANCE for _, claim in ARMS.values())
    assert set(BASE_STAGE) <= set(ARMS)


def test_plan_names_known_arms_once():
    assert {arm for arm, _ in PLAN} <= set(ARMS)
    assert len(PLAN) == len(set(PLAN))
