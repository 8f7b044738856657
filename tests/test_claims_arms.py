"""Every arm of the claims driver (experiments/claims/arms.py) composes and passes the config checks on top of
budget=cpu, and the plan only names arms that exist: a typo in an arm fails here, not after hours of runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import compose_train

from raphael.run.validation import validate_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.claims.arms import ARMS, EVAL_GUIDANCE, PLAN  # noqa: E402


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_arm_composes_and_validates(arm):
    overrides, claim = ARMS[arm]
    validate_config(compose_train("budget=cpu", *overrides, tiny=False))
    assert claim in EVAL_GUIDANCE


def test_plan_names_known_arms_once():
    assert {arm for arm, _ in PLAN} <= set(ARMS)
    assert len(PLAN) == len(set(PLAN))
