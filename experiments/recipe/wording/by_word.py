"""Which held-out wordings cost alignment: on the held-out-wording prompts, each prompted object's attribute hit rate
split by whether that attribute was written in a held-out wording or a training one (same prompts, frames and orders
held out in both groups), and each wording's own hit rate, per checkpoint. Writes by_word.json beside this file.

    python experiments/recipe/wording/by_word.py NAME=CKPT [NAME=CKPT ...] [--num 128] [--guidance 3]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from raphael.analysis.images import to_uint8
from raphael.run.checkpoints import load_module
from raphael.tasks.shapes import ShapesTask, wording
from raphael.tasks.shapes.oracle import ATTRIBUTES, match_objects, parse


def object_wordings(caption: str) -> dict[str, dict[str, str]]:
    """position -> {attribute: the wording used}: a scene's positions are distinct, so the position names the object."""
    objects, current = [], {}
    for (attribute, value), start, end in wording.find_wordings(caption):
        current[attribute] = (caption[start:end].lower(), value)
        if len(current) == 5:
            objects.append(current)
            current = {}
    return {o["position"][1]: {a: phrase for a, (phrase, _) in o.items()} for o in objects}


def hit_rates(ckpt: str, num: int, guidance: float, batch: int = 32) -> dict:
    module = load_module(ckpt)
    prompts = ShapesTask().prompts(num, 0, int(module.image_size), wording=True)
    counts = defaultdict(lambda: [0, 0])  # (attribute, held-out?) -> [hits, objects]
    by_phrase = defaultdict(lambda: [0, 0])  # (attribute, wording) -> [hits, objects]
    drawn = defaultdict(lambda: defaultdict(int))  # (attribute, held-out wording) -> value drawn -> objects
    held = {" ".join(wording._tokens(w)) for w in wording.HELD_OUT_WORDS}
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        with torch.no_grad():
            images = to_uint8(module.generate([c for c, _ in chunk], guidance=guidance, seed=start))
        for image, (caption, meta) in zip(images, chunk):
            words = object_wordings(caption)
            prompted, parsed = meta["objects"], parse(image)
            matched = dict(match_objects(prompted, parsed))
            for i, obj in enumerate(prompted):
                for attribute in ATTRIBUTES:
                    phrase = " ".join(wording._tokens(words[obj["position"]][attribute]))
                    is_held = phrase in held
                    hit = i in matched and parsed[matched[i]][attribute] == obj[attribute]
                    counts[(attribute, is_held)][0] += hit
                    counts[(attribute, is_held)][1] += 1
                    by_phrase[(attribute, phrase)][0] += hit
                    by_phrase[(attribute, phrase)][1] += 1
                    if is_held:
                        drawn[(attribute, phrase)][parsed[matched[i]][attribute] if i in matched else "none"] += 1
    rates = {f"{a} {'held-out' if h else 'training'} wording": {"hit_rate": hits / n, "objects": n}
             for (a, h), (hits, n) in sorted(counts.items())}
    return {**rates, "by_wording": {f"{a}: {w}{' (held out)' if w in held else ''}": {"hit_rate": hits / n, "objects": n}
                                    for (a, w), (hits, n) in sorted(by_phrase.items())},
            "drawn_for_held_out": {f"{a}: {w}": dict(sorted(v.items(), key=lambda kv: -kv[1]))
                                   for (a, w), v in sorted(drawn.items())}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ckpts", nargs="+", help="NAME=CKPT")
    parser.add_argument("--num", type=int, default=128)
    parser.add_argument("--guidance", type=float, default=3.0, help="the default sampler's (conf/diffusion/ddpm.yaml)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {}
    for item in args.ckpts:
        name, ckpt = item.split("=", 1)
        out[name] = hit_rates(ckpt, args.num, args.guidance)
        rates = {key: value for key, value in out[name].items() if "hit_rate" in value} | out[name]["by_wording"]
        for key, value in rates.items():
            print(f"{name:8s} {key:32s} {value['hit_rate']:.3f} ({value['objects']} objects)")
        for key, value in out[name]["drawn_for_held_out"].items():
            print(f"{name:8s} {key:32s} drawn as {value}")
    path = Path(__file__).with_name("by_word.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
