"""Three prompts written as a person would, scored by the shapes oracle: what the README's grids show.

    python experiments/recipe/wording/plain_words.py CKPT [OUT_DIR]

Each prompt is sampled as `python -m raphael.sample ckpt=CKPT prompt="..."` samples it (4 images, seed 0, the run's
guidance and eta), so the grids are the ones that command writes; each image is scored against the scene the
prompt means (written here by hand: the oracle reads objects, not sentences). Prints a markdown table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from raphael.analysis.images import save_grid, to_uint8
from raphael.run.checkpoints import load_module
from raphael.tasks.shapes.oracle import alignment_details


def obj(color, shape, size, position, fill):
    return {"color": color, "shape": shape, "size": size, "position": position, "fill": fill}


# sentences the caption generator never writes ("there's", "just the outline of", "I'd like", "over on the left",
# "up near the top", "coloured in", "along the bottom" are in none of its tables); the scene is what the oracle checks
PROMPTS = {
    "there's a big blue square over on the left, coloured in": [obj("blue", "square", "large", "left", "solid")],
    "just the outline of a little red circle up near the top": [obj("red", "circle", "small", "top", "outlined")],
    "I'd like a large stripy green triangle along the bottom and a small solid yellow diamond on the right": [
        obj("green", "triangle", "large", "bottom", "striped"), obj("yellow", "diamond", "small", "right", "solid")],
}


def main(ckpt: str, out_dir: str = "docs/plain_words", num: int = 4) -> None:
    module = load_module(ckpt)
    out = Path(out_dir)
    print("| prompt | alignment (mean of 4) | all attributes right | grid |\n|---|---|---|---|")
    for i, (prompt, objects) in enumerate(PROMPTS.items(), 1):
        images = to_uint8(module.generate([prompt] * num, seed=0))
        path = save_grid(images, out / f"prompt{i}.png", captions=[prompt] * num)
        scores = [alignment_details(img, {"objects": objects}) for img in images]
        overall = np.mean([s["overall"] for s in scores])
        right = sum(s["all_right"] for s in scores)
        print(f"| {prompt} | {overall:.3f} | {right:.0f} of {num} | `{path}` |")


if __name__ == "__main__":
    main(*sys.argv[1:])
