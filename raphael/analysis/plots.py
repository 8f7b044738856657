"""Pictures of routing: path picture (Fig. 4 analogue), time expert vs timestep (Fig. 9), load entropy,
probe confusion matrix. Each function writes one PNG and returns its path (Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def path_picture(frame: pd.DataFrame, layers: list[str], num_experts: int, path, max_words: int = 20) -> Path:
    """Layers on x, experts on y, one line per word (its most frequent path over the templates).
    Lines are offset a little vertically so that words sharing a path stay visible."""
    words = list(dict.fromkeys(frame["word"]))[:max_words]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(layers), 1.5 + 0.5 * num_experts))
    cmap = plt.cm.tab10 if len(words) <= 10 else plt.cm.tab20
    colors = cmap(np.arange(len(words)) % cmap.N)
    x = np.arange(len(layers))
    for k, word in enumerate(words):
        rows = frame.loc[frame["word"] == word, layers]
        modal = rows.value_counts().index[0]
        offset = (k - (len(words) - 1) / 2) * 0.3 / max(len(words), 1)
        ax.plot(x, np.asarray(modal) + offset, "-o", color=colors[k], label=word, lw=1.5, ms=4)
    ax.set_xticks(x, layers, rotation=30)
    ax.set_yticks(range(num_experts), [f"e{e}" for e in range(num_experts)])
    ax.set_ylim(-0.5, num_experts - 0.5)
    ax.set_xlabel("space-MoE layer (forward order)")
    ax.set_ylabel("expert")
    ax.set_title("diffusion paths (most frequent path per word)")
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def time_expert_heatmap(pairs: pd.DataFrame, num_experts: dict[str, int], path, num_train_timesteps: int = 1000,
                        t_bins: int = 10) -> Path:
    """Per block: share of samples of each timestep bin that go to each time expert (Fig. 9 analogue)."""
    blocks = list(dict.fromkeys(pairs["block"]))
    fig, axes = plt.subplots(1, len(blocks), figsize=(3.2 * len(blocks), 2.8), squeeze=False)
    edges = np.linspace(0, num_train_timesteps, t_bins + 1)
    for ax, block in zip(axes[0], blocks):
        rows = pairs[pairs["block"] == block]
        E = num_experts[block]
        counts, _, _ = np.histogram2d(rows["expert"], rows["t"], bins=[np.arange(E + 1) - 0.5, edges])
        share = counts / np.maximum(counts.sum(0, keepdims=True), 1)
        im = ax.imshow(share, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="viridis",
                       extent=(0, num_train_timesteps, -0.5, E - 0.5))
        ax.set_yticks(range(E), [f"e{e}" for e in range(E)])
        ax.set_xlabel("timestep t")
        ax.set_title(block)
    axes[0, 0].set_ylabel("time expert")
    fig.colorbar(im, ax=axes[0].tolist(), label="share of samples in the t bin")
    return _save(fig, path)


def load_entropy_over_training(history: pd.DataFrame, path) -> Path:
    """Normalised load entropy (1 = balanced) of each MoE layer against the training step."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, rows in history.groupby("name", sort=False):
        style = "-o" if name.startswith("space") else "--s"
        ax.plot(rows["step"], rows["entropy"], style, label=name, ms=3)
    ax.set_xlabel("global step")
    ax.set_ylabel("load entropy / log(E)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix_picture(matrix: np.ndarray, labels: list[str], path, title: str = "") -> Path:
    """Row-normalised confusion matrix of the cross-validated predictions; tick labels when few classes."""
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    n = len(labels)
    size = min(4 + 0.18 * n, 16)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    if n <= 40:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted word")
    ax.set_ylabel("true word")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true word's prompts")
    return _save(fig, path)
