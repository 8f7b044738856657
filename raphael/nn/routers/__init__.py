"""Routers as parts: the contract and registry with RAPHAEL's text-token router (base.py), the image-token
routers (token choice, expert choice), the time routers."""

from . import image_token, time  # noqa: F401  (registers the built-in routers)
from .base import ROUTERS, GateResult, RouterContext, SpaceRouter, assigned_gate, build_router, register

__all__ = ["ROUTERS", "GateResult", "RouterContext", "SpaceRouter", "assigned_gate", "build_router", "register"]
