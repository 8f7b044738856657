"""Space-MoE and time-MoE of RAPHAEL (arXiv 2305.18295; the math as built: docs/model.md).

Dispatch first, then the two MoE layers; their routers are parts (raphael.nn.routers). Each layer returns a
NamedTuple (output, routes, probs, balance_loss), st-moe-pytorch style.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DISPATCH_BACKENDS
from .layers import FeedForward, expert_capacity, one_hot
from .routers import GateResult, RouterContext, assigned_gate, build_router

# ----------------------------------------------------------------------------- dispatch


def grouped_mm_available(x: Tensor) -> bool:
    """torch._grouped_mm: CUDA, bf16, compute capability >= 9.0 (Hopper), the torch build has it."""
    return (hasattr(torch, "_grouped_mm") and x.is_cuda and x.dtype == torch.bfloat16
            and torch.cuda.get_device_capability(x.device) >= (9, 0))


def dispatch_static(x: Tensor, combine: Tensor, experts: nn.ModuleList, capacity: int | None) -> tuple[Tensor, Tensor]:
    """out[n] = sum_e combine[n, e] * experts[e](x[n]) with shapes fixed by (N, capacity), not by the routing.

    x (N, ...) rows (positions, or whole samples for the time-MoE), combine (N, E). capacity None: every expert
    runs on every row (masked dense); else on the `capacity` rows of largest combine[:, e] (top-k), so rows
    past an expert's capacity are dropped. Returns (out, overflow): overflow = routed rows dropped, a device
    tensor (read it when logging, never in the step)."""
    N = x.shape[0]
    out = x.new_zeros(N, *x.shape[1:-1], experts[0][-1].out_features)
    overflow = combine.new_zeros((), dtype=torch.long)
    expand = (-1, *([1] * (x.dim() - 1)))
    for e, expert in enumerate(experts):
        w = combine[:, e].to(x.dtype)
        if capacity is None or capacity >= N:
            out = out + expert(x) * w.view(expand)
            continue
        rows = torch.topk(w, capacity, sorted=False).indices
        out = out.index_add(0, rows, expert(x.index_select(0, rows)) * w.index_select(0, rows).view(expand))
        overflow = overflow + ((w != 0).sum() - capacity).clamp(min=0)
    return out, overflow


def _active_rows(combine: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, experts, counts) of the nonzero entries of combine (N, E), sorted by expert then row.
    One nonzero (one host sync for its size); counts stay on the device."""
    E = combine.shape[1]
    idx = (combine != 0).T.nonzero()
    return idx[:, 1], idx[:, 0], torch.bincount(idx[:, 0], minlength=E)


def _grouped_ffn(x: Tensor, experts: nn.ModuleList, counts: Tensor, expert_of_row: Tensor) -> Tensor:
    """All experts in two grouped matmuls (rows sorted by expert): Linear-GELU-Linear per group."""
    offs = counts.cumsum(0).to(torch.int32)
    w1 = torch.stack([e[0].weight for e in experts]).transpose(1, 2).to(x.dtype)  # (E, D, H)
    w2 = torch.stack([e[2].weight for e in experts]).transpose(1, 2).to(x.dtype)  # (E, H, D)
    b1 = torch.stack([e[0].bias for e in experts]).to(x.dtype)
    b2 = torch.stack([e[2].bias for e in experts]).to(x.dtype)
    hidden = F.gelu(torch._grouped_mm(x, w1, offs=offs) + b1.index_select(0, expert_of_row))
    return torch._grouped_mm(hidden, w2, offs=offs) + b2.index_select(0, expert_of_row)


def dispatch_by_combine(x: Tensor, combine: Tensor, experts: nn.ModuleList, backend: str = "auto") -> Tensor:
    """out[n] = sum_e combine[n, e] * experts[e](x[n]), each expert evaluated once, on the rows
    where combine[:, e] > 0 only. x (N, D), combine (N, E).

    One nonzero over the (N, E) mask and one host read of the E group sizes per call, none per
    expert; rows are gathered once (index_select), each expert's weighted output is scatter-added
    in place. backend: `index` (a loop over the E experts), `grouped_mm` (torch._grouped_mm: all
    experts in two grouped matmuls; CUDA bf16 on Hopper), `auto` (= index: grouped_mm stacks and casts every
    expert's weights on each call, 3.5x slower on an H200 at the paper's size, docs/performance.md).
    """
    if backend not in DISPATCH_BACKENDS:
        raise ValueError(f"space-MoE backend = {backend!r} is not allowed: one of {list(DISPATCH_BACKENDS)}")
    N = combine.shape[0]
    rows, expert_of_row, counts = _active_rows(combine)
    weights = combine[rows, expert_of_row].to(x.dtype)[:, None]
    out = x.new_zeros(N, experts[0][-1].out_features)
    if rows.numel() == 0:
        return out
    xs = x.index_select(0, rows)
    if backend == "grouped_mm":
        return out.index_add_(0, rows, _grouped_ffn(xs, experts, counts, expert_of_row) * weights)
    sizes = counts.tolist()
    for e, (rows_e, xs_e, weights_e) in enumerate(zip(rows.split(sizes), xs.split(sizes), weights.split(sizes))):
        if sizes[e]:
            out.index_add_(0, rows_e, experts[e](xs_e) * weights_e)
    return out


# ----------------------------------------------------------------------------- layers
class MoEResult(NamedTuple):
    output: Tensor  # (B, n_x, D)
    routes: Tensor  # long: space-MoE (B, L), -1 at padding; image-token MoE (B, N, k); time-MoE (B,)
    probs: Tensor  # float: space-MoE (B, L, E); time-MoE (B, E_t)
    balance_loss: Tensor  # scalar
    overflow: Tensor | None = None  # long scalar: routed rows dropped at capacity (dispatch.mode=capacity)


class ExpertLayer(nn.Module):
    """What the MoE layers share: the gate, the FFN experts behind it and how they run (model.dispatch: exact,
    capacity or dense, raphael.nn.config.DispatchConfig)."""

    def __init__(self, gate: nn.Module, dim: int, num_experts: int, ffn_mult: int, dispatch: str,
                 capacity_factor: float):
        super().__init__()
        self.num_experts, self.dispatch, self.capacity_factor = num_experts, dispatch, capacity_factor
        self.gate = gate
        self.experts = nn.ModuleList([FeedForward(dim, ffn_mult * dim) for _ in range(num_experts)])
        self.backend = "auto"  # exact dispatch: auto | index | grouped_mm (see dispatch_by_combine)

    def run_experts(self, x: Tensor, combine: Tensor) -> tuple[Tensor, Tensor | None]:
        """(out, overflow): out[n] = sum_e combine[n, e] * experts[e](x[n]) over the rows of x; overflow the rows
        dropped at capacity (None in exact mode, which drops none)."""
        if self.dispatch == "exact":
            return dispatch_by_combine(x, combine, self.experts, self.backend), None
        rows = x.shape[0]  # capacity: each expert on its heaviest rows; dense (capacity None): on every row
        capacity = expert_capacity(rows, self.num_experts, self.capacity_factor) if self.dispatch == "capacity" else None
        return dispatch_static(x, combine, self.experts, capacity)


def region_masks(attn_map: Tensor, text_mask: Tensor, alpha: float) -> Tensor:
    """Mhat (B, n_x, L): 1 where M[j, i] >= alpha * max_j' M[j', i], 0 at padding tokens."""
    peak = attn_map.amax(dim=1, keepdim=True)
    return ((attn_map >= alpha * peak) & text_mask[:, None, :]).to(attn_map.dtype)


class SpaceMoE(ExpertLayer):
    """RAPHAEL's space-MoE: out_j = (1/n_y) sum_i g_i Mhat_i[j] e_{r_i}(h_j) over the real text tokens i.

    Fast dispatch: C[b, j, e] = sum_{i: r_i = e} g_i Mhat_i[j] / n_y (one einsum), then each
    expert runs once on the rows where C[..., e] > 0 (bounded by the number of experts).
    """

    routes_text = True  # its routes are the text tokens' (the path probe reads them)

    def __init__(self, dim: int, num_experts: int, alpha: float = 0.2, text_dim: int | None = None,
                 ffn_mult: int = 4, gate_hidden: int = 64, noise_std: float = 0.01, grad: str = "switch",
                 dispatch: str = "exact", capacity_factor: float = 2.0, router: str = "text_token"):
        gate = build_router("space", router, RouterContext(num_experts, gate_hidden, noise_std, grad, text_dim or dim))
        super().__init__(gate, dim, num_experts, ffn_mult, dispatch, capacity_factor)
        self.alpha = alpha

    def combine_weights(self, gate: GateResult, text_mask: Tensor, attn_map: Tensor) -> Tensor:
        n_y = text_mask.sum(1).clamp(min=1).to(gate.weights.dtype)
        w = gate.weights / n_y[:, None]  # (B, L), 0 at padding
        # Mhat_i[j] * w_i in one pass: w is 0 at padding, so the text mask needs no separate op
        peak = attn_map.amax(dim=1, keepdim=True)
        weighted = torch.where(attn_map >= self.alpha * peak, w[:, None, :], w.new_zeros(()))  # (B, n_x, L)
        onehot = one_hot(gate.routes.clamp(min=0), self.num_experts, w.dtype)
        return torch.bmm(weighted, onehot)

    def forward(self, h: Tensor, text_states: Tensor, text_mask: Tensor, attn_map: Tensor) -> MoEResult:
        gate = self.gate(text_states, text_mask)
        C = self.combine_weights(gate, text_mask, attn_map)  # (B, n_x, E)
        B, N, D = h.shape
        out, overflow = self.run_experts(h.reshape(B * N, D), C.reshape(B * N, -1).to(h.dtype))
        return MoEResult(out.reshape(B, N, D), gate.routes, gate.probs, gate.balance_loss, overflow)


class ImageTokenMoE(ExpertLayer):
    """The space-MoE slot routed by image tokens (raphael.nn.routers.image_token): out_j = sum_e C[j, e] e(h_j)
    + the shared experts (DiT-MoE's always-on FFNs, `space_moe.shared_experts`). Same call as SpaceMoE; the text
    is not read, so the layer has no text routes for the path probe."""

    routes_text = False

    def __init__(self, dim: int, num_experts: int, router: str, ctx: RouterContext, ffn_mult: int = 4,
                 shared_experts: int = 0, dispatch: str = "exact", capacity_factor: float = 2.0):
        super().__init__(build_router("image", router, ctx), dim, num_experts, ffn_mult, dispatch, capacity_factor)
        self.shared = nn.ModuleList([FeedForward(dim, ffn_mult * dim) for _ in range(shared_experts)])

    def forward(self, h: Tensor, text_states: Tensor, text_mask: Tensor, attn_map: Tensor) -> MoEResult:
        plan = self.gate(h)
        B, N, D = h.shape
        x = h.reshape(B * N, D)
        out, overflow = self.run_experts(x, plan.combine.reshape(B * N, -1).to(h.dtype))
        for expert in self.shared:
            out = out + expert(x)
        return MoEResult(out.reshape(B, N, D), plan.routes, plan.probs, plan.balance_loss, overflow)


class TimeMoE(ExpertLayer):
    """One expert per sample, chosen from t; dispatch groups the samples by expert.

    `shared=True` (the warm start, `time_moe.shared_until`): every t goes to expert 0 with weight 1 and
    the gate is idle, until `split()` copies expert 0 into the others. The flag is a buffer, so a
    checkpoint taken in either phase samples as it trained."""

    def __init__(self, dim: int, num_experts: int, router: str = "learned", ffn_mult: int = 4,
                 gate_hidden: int = 64, noise_std: float = 0.01, grad: str = "switch",
                 num_train_timesteps: int = 1000, boundaries: list[int] | None = None, shared: bool = False,
                 dispatch: str = "exact", capacity_factor: float = 2.0):
        gate = build_router("time", router, RouterContext(num_experts, gate_hidden, noise_std, grad,
                                                          num_train_timesteps=num_train_timesteps, boundaries=boundaries))
        super().__init__(gate, dim, num_experts, ffn_mult, dispatch, capacity_factor)
        self.register_buffer("shared", torch.tensor(bool(shared)))
        self._register_load_state_dict_pre_hook(self._default_shared)

    @staticmethod
    def _default_shared(state_dict, prefix, *args) -> None:
        state_dict.setdefault(prefix + "shared", torch.tensor(False))  # checkpoints from before the warm start

    @torch.no_grad()
    def split(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """End the shared phase: copy expert 0 into every other expert; returns (source, copy) pairs."""
        pairs = [(src, dst) for e in range(1, self.num_experts)
                 for src, dst in zip(self.experts[0].parameters(), self.experts[e].parameters())]
        for src, dst in pairs:
            dst.copy_(src)
        self.shared.fill_(False)
        return pairs

    def route(self, t: Tensor) -> GateResult:
        warm = assigned_gate(torch.zeros(t.shape[0], dtype=torch.long, device=t.device), self.num_experts)
        if self.dispatch != "exact":  # both, selected on the device: reading the flag would be a host sync
            gate = self.gate(t)
            return GateResult(*(torch.where(self.shared, w, g.to(w.dtype) if g.is_floating_point() else g)
                                for w, g in zip(warm, gate)))
        return warm if bool(self.shared) else self.gate(t)

    def forward(self, h: Tensor, t: Tensor) -> MoEResult:
        gate = self.route(t)
        if self.dispatch != "exact":
            combine = one_hot(gate.routes, self.num_experts, gate.weights.dtype) * gate.weights[:, None]
            out, overflow = self.run_experts(h, combine)
            return MoEResult(out, gate.routes, gate.probs, gate.balance_loss, overflow)
        order = torch.argsort(gate.routes, stable=True)
        counts = torch.bincount(gate.routes, minlength=self.num_experts).tolist()
        outs = [self.experts[e](h.index_select(0, idx)) for e, idx in enumerate(order.split(counts)) if len(idx)]
        grouped = torch.cat(outs, 0) * gate.weights.index_select(0, order).to(h.dtype)[:, None, None]
        out = torch.empty_like(grouped).index_copy(0, order, grouped)
        return MoEResult(out, gate.routes, gate.probs, gate.balance_loss)
