"""Do the text encoder's states put a held-out wording beside its value? A training-free proxy for the
"which encoder layer" lever of issue 25: for every layer of the bundled MiniLM, each one-word attribute wording
is written into a few neutral captions, its tokens' states are averaged, and the wording is assigned to the value
whose training wordings' mean state is nearest (cosine). Held-out wordings (never in a training caption) are the
test; each training wording, scored against the others of its value (itself left out), is the reference for how
tightly that layer groups synonyms at all. The row "pooled" does the same with the sentence embedding this MiniLM
was trained to give (the mean over all tokens of the last layer): not what conditions the network, which reads every
token's state. Writes encoder_layers.json beside this file.

    python experiments/recipe/wording/encoder_layers.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from raphael.nn.text_encoder import FrozenTextEncoder
from raphael.tasks.shapes import wording

# captions with one slot free, the other attributes in plain training words
CONTEXTS = {
    "color": ["a small solid {} circle on the left", "a large striped {} square at the top",
              "draw a tiny {} triangle in the middle", "there is a big outlined {} diamond at the bottom"],
    "shape": ["a small solid red {} on the left", "a large striped blue {} at the top",
              "draw a tiny green {} in the middle", "there is a big outlined pink {} at the bottom"],
    "size": ["a {} solid red circle on the left", "a {} striped blue square at the top",
             "draw a {} green triangle in the middle", "there is a {} outlined pink diamond at the bottom"],
    "fill": ["a small {} red circle on the left", "a large {} blue square at the top",
             "draw a tiny {} green triangle in the middle", "there is a big {} pink diamond at the bottom"],
}
TABLES = {"color": wording.COLOR_WORDS, "shape": wording.SHAPE_WORDS, "size": wording.SIZE_WORDS,
          "fill": wording.FILL_ADJ}


def word_state(encoder: FrozenTextEncoder, attribute: str, word: str, pooled: bool = False) -> torch.Tensor:
    """The mean, over the contexts, of the mean state of the word's own tokens (pooled: of all the caption's)."""
    captions = [c.format(word) for c in CONTEXTS[attribute]]
    encoded = encoder(captions)  # no cache (cache_size 0): every call encodes
    states = encoded.states
    if pooled:
        mask = encoded.mask[..., None].float()
        return ((states * mask).sum(1) / mask.sum(1)).mean(0)
    spans = encoder.tokenizer(captions, return_offsets_mapping=True)["offset_mapping"]
    rows = []
    for i, (caption, offsets) in enumerate(zip(captions, spans)):
        start = caption.index(word)
        tokens = [j for j, (a, b) in enumerate(offsets) if b > a and start <= a < start + len(word)]
        rows.append(states[i, tokens].mean(0))
    return torch.stack(rows).mean(0)


def nearest_value(state: torch.Tensor, prototypes: dict[str, torch.Tensor]) -> tuple[str, dict[str, float]]:
    """The value whose prototype is nearest, and the cosine to every prototype."""
    sims = {value: F.cosine_similarity(state, proto, dim=0).item() for value, proto in prototypes.items()}
    return max(sims, key=sims.get), sims


def score_layer(encoder: FrozenTextEncoder, pooled: bool = False) -> dict:
    held, reference = [], []
    for attribute, table in TABLES.items():
        words = {value: [w for w in ws if " " not in w and "-" not in w] for value, ws in table.items()}
        states = {w: word_state(encoder, attribute, w, pooled) for ws in words.values() for w in ws}
        training = {v: [x for x in xs if x not in wording.HELD_OUT_WORDS] for v, xs in words.items()}
        for value, ws in words.items():
            for w in ws:
                is_held = w in wording.HELD_OUT_WORDS
                others = {v: [states[x] for x in xs if x != w] for v, xs in training.items()}  # w itself left out
                protos = {v: torch.stack(rows).mean(0) for v, rows in others.items() if rows}
                if value not in protos:
                    continue
                guess, sims = nearest_value(states[w], protos)
                margin = sims[value] - max(s for v, s in sims.items() if v != value)
                (held if is_held else reference).append(
                    {"attribute": attribute, "word": w, "value": value, "nearest": guess, "margin": round(margin, 4)})
    return {"held_out_right": sum(r["nearest"] == r["value"] for r in held), "held_out": len(held),
            "held_out_margin": round(sum(r["margin"] for r in held) / len(held), 4),
            "training_right": sum(r["nearest"] == r["value"] for r in reference), "training": len(reference),
            "training_margin": round(sum(r["margin"] for r in reference) / len(reference), 4),
            "words": held + reference}


def main() -> None:
    torch.set_num_threads(1)
    encoder = FrozenTextEncoder()
    depth = encoder.model.config.num_hidden_layers
    out = {}
    for layer in [*range(depth + 1), "pooled"]:
        encoder.layer = depth if layer == "pooled" else layer  # hidden_states[depth] is the last layer (the default)
        out[str(layer)] = result = score_layer(encoder, pooled=layer == "pooled")
        held = ", ".join(f"{r['word']}->{r['nearest']}" for r in result["words"] if r["word"] in wording.HELD_OUT_WORDS)
        print(f"layer {layer}: held-out nearest their value {result['held_out_right']}/{result['held_out']} "
              f"(margin {result['held_out_margin']:+.3f}); training words, left out "
              f"{result['training_right']}/{result['training']} (margin {result['training_margin']:+.3f}); {held}")
    path = Path(__file__).with_name("encoder_layers.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
