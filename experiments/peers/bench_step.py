"""CPU time of one training step (fwd + bwd + AdamW) per design: batch 32, 3x32x32, 18 MiniLM tokens, 1 thread.

    OMP_NUM_THREADS=1 /work/main/.venv/bin/python experiments/peers/bench_step.py

process_time (CPU seconds, stable on a shared machine), median of steps 2-4.
"""
import time, torch, sys
torch.set_num_threads(1)
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tests"))
from conftest import compose_train
from raphael.nn import build_model
from raphael.nn.text_encoder import FrozenTextEncoder
enc = FrozenTextEncoder()
text = enc(["a large red circle on the left and a small striped blue square at the top"] * 32)
print("tokens", text.states.shape[1])
for exp in ["baseline", "ernie_mode", "raphael", "sd_unet", "ediffi"]:
    extra = ["model.expert_init=from_scratch"] if exp == "ediffi" else []
    cfg = compose_train(f"experiment={exp}", *extra, tiny=False)
    net = build_model(cfg.model, enc.dim)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(32, 3, 32, 32); t = torch.randint(0, 1000, (32,))
    times = []
    for i in range(4):
        c0, w0 = time.process_time(), time.perf_counter()
        out = net(x, t, text, edge_size=(32, 32))
        loss = out.sample.square().mean() + sum(b.edge_logits.mean() for b in out.aux.blocks if b.edge_logits is not None)
        loss.backward(); opt.step(); opt.zero_grad()
        times.append(time.process_time() - c0); walls = locals().setdefault("walls", []); walls.append(time.perf_counter() - w0)
    print(exp, sum(p.numel() for p in net.parameters()), "cpu s/step (median of last 3):", round(sorted(times[1:])[1], 3), "wall s:", round(sorted(walls[-3:])[1], 3))
