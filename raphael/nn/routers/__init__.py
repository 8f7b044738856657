"""Routers as parts: the contract and registry (base.py), RAPHAEL's text-token router, the time routers."""

from . import text_token, time  # noqa: F401  (registers the built-in routers)
from .base import ROUTERS, GateResult, RouterContext, SpaceRouter, assigned_gate, build_router, register

__all__ = ["ROUTERS", "GateResult", "RouterContext", "SpaceRouter", "assigned_gate", "build_router", "register"]
