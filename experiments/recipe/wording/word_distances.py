"""How far is a held-out word's state from its own value's training words, against other values' words? The
question behind one more denoiser-side lever of issue 25, conditioning augmentation (noise on the caption states in
training, StackGAN's): it can carry an unseen word to its value only if the word's state lies nearer that value's
training words than other values'. At the default layer of the bundled MiniLM, for every one-word held-out wording:
the distance (relative to the nearest word's own norm) to the nearest training wording of its value and to the
nearest training wording of another value, beside its hit rate on the main job (by_word.json). The same for every
one-word training wording, itself left out, as the reference. Writes word_distances.json beside this file.

    python experiments/recipe/wording/word_distances.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch
from encoder_layers import TABLES, word_state  # this folder (the script's) is on sys.path

from raphael.nn.text_encoder import FrozenTextEncoder
from raphael.tasks.shapes import wording

HERE = Path(__file__).resolve().parent


def distances(encoder: FrozenTextEncoder) -> list[dict]:
    rows = []
    for attribute, table in TABLES.items():
        words = {value: [w for w in ws if " " not in w and "-" not in w] for value, ws in table.items()}
        states = {w: word_state(encoder, attribute, w) for ws in words.values() for w in ws}
        training = {w: v for v, ws in words.items() for w in ws if w not in wording.HELD_OUT_WORDS}
        for value, ws in words.items():
            for w in ws:
                rel = {x: ((states[w] - states[x]).norm() / states[x].norm()).item() for x in training if x != w}
                own = {x: d for x, d in rel.items() if training[x] == value}
                other = {x: d for x, d in rel.items() if training[x] != value}
                if not own:
                    continue
                near_own, near_other = min(own, key=own.get), min(other, key=other.get)
                rows.append({"attribute": attribute, "word": w, "value": value,
                             "held_out": w in wording.HELD_OUT_WORDS,
                             "own": [near_own, round(own[near_own], 3)],
                             "other": [near_other, training[near_other], round(other[near_other], 3)],
                             "nearer_own": own[near_own] < other[near_other]})
    return rows


def main() -> None:
    torch.set_num_threads(1)
    rows = distances(FrozenTextEncoder())
    hits = json.loads((HERE / "by_word.json").read_text())["main_job"]["by_wording"]
    for r in rows:
        seen = hits.get(f"{r['attribute']}: {r['word']}" + (" (held out)" if r["held_out"] else ""))
        r["main_job_hit_rate"] = round(seen["hit_rate"], 3) if seen else None
    for held in (True, False):
        part = [r for r in rows if r["held_out"] == held]
        print(f"{'held-out' if held else 'training (left out)'} words: {sum(r['nearer_own'] for r in part)} of "
              f"{len(part)} nearer a training word of their own value; median distance to it "
              f"{statistics.median(r['own'][1] for r in part):.2f}, to another value's "
              f"{statistics.median(r['other'][2] for r in part):.2f}")
    for r in rows:
        if r["held_out"]:
            print(f"  {r['word']} ({r['value']}): own {r['own'][0]} {r['own'][1]:.2f}, other {r['other'][0]} "
                  f"({r['other'][1]}) {r['other'][2]:.2f}; main job hit rate {r['main_job_hit_rate']}")
    (HERE / "word_distances.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
