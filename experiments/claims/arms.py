"""The arms of the claims (issue 29) and the order they run in: each arm is raphael.train overrides on top
of budget=cpu and the claim it belongs to. Arms shared between claims (raphael) run once."""

from __future__ import annotations

SEEDS = (0, 1, 2)
HALF_BUDGET = "callbacks.cpu_budget.duration=00:00:09:30"  # half of budget=cpu's 19 training minutes
BASE_CKPT = "BASE_CHECKPOINT"  # in a two-stage arm's overrides: the driver puts its base's last checkpoint here
SWEEP_SEEDS = (0, 1)  # sweep points off the paper's values (claims 5-6); the paper's point is `raphael`
EQUAL_STEPS = 3296  # the fewest steps any Fig. 6b arm reached in its 20 CPU minutes (raphael seed 1)

ARMS: dict[str, tuple[list[str], str]] = {
    # 1. Fig. 6b: each module helps
    "baseline": (["experiment=baseline"], "fig6b"),
    "space_moe": (["experiment=space_moe"], "fig6b"),
    "time_moe": (["experiment=time_moe"], "fig6b"),
    "edge": (["experiment=edge"], "fig6b"),
    "raphael": (["experiment=raphael"], "fig6b"),
    # 1b. the same arms stopped at EQUAL_STEPS (the lr decays over those steps), to tell "slower" from "worse";
    # raphael's own budget runs reached 3,296-3,402 steps and stand for it
    **{f"{arm}_steps": ([f"experiment={arm}", f"trainer.max_steps={EQUAL_STEPS}"], "fig6b_steps")
       for arm in ("baseline", "space_moe", "time_moe", "edge")},
    # the budget's own control: raphael seed 0 trained alone on the machine (beside no other job)
    "raphael_alone": (["experiment=raphael"], "budget"),
    # 2. learned vs hand-split time experts, everything else equal
    "time_uniform": (["experiment=raphael", "model.time_moe.router=fixed_uniform"], "time_split"),
    "time_equal_mass": (["experiment=raphael", "model.time_moe.router=fixed_intervals"], "time_split"),
    # 2b. the peers as they stand at the same CPU budget, the SD U-Net re-matched to the default's parameters, eDiff-I
    # in its own two stages (BASE_STAGE; counts and decisions: report.py NOTES["peers"])
    "ernie_mode": (["experiment=ernie_mode"], "peers"),
    "ernie_knowledge": (["experiment=ernie_knowledge"], "peers"),
    "sd_unet": (["experiment=sd_unet", "model.channels=44", "model.head_dim=11", "model.norm_groups=4"], "peers"),
    "ediffi": (["experiment=ediffi", HALF_BUDGET, f"model.expert_init_ckpt={BASE_CKPT}"], "peers"),
    # 2c. eDiff-I's own claim: its control is the base trained on for the rest of the budget (= the baseline, run again
    # on the machine the peers trained on)
    "baseline_rerun": (["experiment=baseline"], "ediffi_control"),
    # 3. the path probe at the paper's 16 space-MoE layers (its block layout at the default's widths; the default has 5)
    "paper_layout": (["experiment=raphael", "model.transformer_depth=[0,3,4]", "model.mid_transformer_depth=2"], "probe"),
    # 5. Fig. 6c: number of space experts (6 = raphael; 0 = the space-MoE off)
    **{f"experts{n}": (["experiment=raphael", f"model.space_moe.num_experts={n}"], "fig6c") for n in (2, 4, 8)},
    "experts0": (["experiment=raphael", "model.space_moe.enabled=false"], "fig6c"),
    # 6. Fig. 6a: alpha and T_c around the paper's (0.2, 500)
    **{f"alpha{a:g}": (["experiment=raphael", f"model.space_moe.alpha={a}"], "fig6a") for a in (0.05, 0.1, 0.4, 0.8)},
    **{f"tc{t}": (["experiment=raphael", f"model.edge.t_c={t}"], "fig6a") for t in (250, 750, 1000)},
    "tc0": (["experiment=raphael", "model.edge.enabled=false"], "fig6a"),
    # the paper's point (alpha 0.2, T_c 500) = raphael, run again beside the sweep: experts4 / experts8 seed 1 on a later
    # machine reached 11-13% fewer steps than seed 0 (raphael itself: 0.95x, n=2), so the sweep reads its centre there
    "raphael_rerun": (["experiment=raphael"], "fig6a"),
    # routers in the space-MoE slot (issue 27), 6 experts each: RAPHAEL's text-token router (= raphael), DiT-MoE's
    # top-1 token choice, EC-DiT's expert choice at one expert per token on average, and dense (one FFN, = top-1 of 1)
    "router_token_choice": (["experiment=raphael", "model.space_moe.router=token_choice", "model.space_moe.top_k=1"], "routers"),
    "router_expert_choice": (["experiment=raphael", "model.space_moe.router=expert_choice", "model.space_moe.top_k=1",
                              "model.space_moe.capacity_factor=1.0"], "routers"),
    "router_dense": (["experiment=raphael", "model.space_moe.router=token_choice", "model.space_moe.num_experts=1"], "routers"),
    # levers of the default's own issues, not claims: the text encoder's penultimate layer (issue 25), a higher
    # caption-drop rate for the unconditional branch guidance amplifies (issue 28)
    "text_layer_penultimate": (["experiment=raphael", "text_encoder.layer=-2"], "levers"),
    "cond_drop0.2": (["experiment=raphael", "diffusion.cond_drop=0.2"], "levers"),
}

# arms trained in two stages: first these overrides (the base), then the arm's own with BASE_CKPT = the base's last
# checkpoint. eDiff-I branches its 2 interval experts from a trained base denoiser (the baseline: plain FFN blocks, no
# space-MoE, no edge head, the ensemble's experts' own architecture); base and experts take half the budget each
BASE_STAGE: dict[str, list[str]] = {"ediffi": ["experiment=baseline", HALF_BUDGET]}

# Every arm conditions on the text encoder's last layer, the default when the claims ran (2026-12-04 to 06); the default
# has read the penultimate one since 1ec7d3b (issue 25). Pinned, each arm trains what its results hold, and a rerun
# compares the same designs; the lever arm sets its layer itself.
TEXT_LAYER = "text_encoder.layer=-1"


def pin_text_layer(overrides: list[str]) -> list[str]:
    if any(o.startswith("text_encoder.layer=") for o in overrides):
        return overrides
    return [*overrides[:1], TEXT_LAYER, *overrides[1:]]  # after the experiment, as the page prints it


ARMS = {arm: (pin_text_layer(overrides), claim) for arm, (overrides, claim) in ARMS.items()}
BASE_STAGE = {arm: pin_text_layer(overrides) for arm, overrides in BASE_STAGE.items()}

# guidance weights each claim's arms are evaluated at (Fig. 6b is a curve over guidance)
EVAL_GUIDANCE = {claim: "[1.0,1.5,3.0,4.5]" for claim in ("fig6b", "fig6b_steps", "budget", "levers")}
EVAL_GUIDANCE.update({claim: "[1.0,3.0]" for _, claim in ARMS.values() if claim not in EVAL_GUIDANCE})

# claim 1's reference pair with every seed first, then its single modules, then the other claims
PLAN: list[tuple[str, int]] = [
    *[(arm, s) for s in SEEDS for arm in ("raphael", "baseline")],
    *[(arm, s) for s in SEEDS for arm in ("space_moe", "time_moe", "edge")],
    *[(arm, s) for s in SEEDS for arm in ("time_uniform", "time_equal_mass")],
    *[(arm, s) for s in SEEDS for arm in ("ernie_mode", "ernie_knowledge", "sd_unet")],
    *[(f"{arm}_steps", s) for s in SWEEP_SEEDS for arm in ("baseline", "space_moe", "time_moe", "edge")],
    *[("paper_layout", s) for s in SEEDS],
    *[(f"experts{n}", s) for s in SWEEP_SEEDS for n in (0, 2, 4, 8)],
    *[("raphael_rerun", s) for s in SWEEP_SEEDS],
    *[(arm, s) for s in SWEEP_SEEDS for arm in ("alpha0.05", "alpha0.1", "alpha0.4", "alpha0.8",
                                                "tc0", "tc250", "tc750", "tc1000")],
    *[(arm, s) for s in SWEEP_SEEDS for arm in ("text_layer_penultimate", "cond_drop0.2")],
    *[(arm, s) for s in SEEDS for arm in ("router_token_choice", "router_expert_choice", "router_dense")],
    *[("ediffi", s) for s in SEEDS],
    ("raphael_rerun", 2),  # the peers' reference at 3 seeds on the machine every peer trained on
    *[("baseline_rerun", s) for s in SEEDS],
]
