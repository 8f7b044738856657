"""Diffusion paths of words: one space-MoE expert id per layer, read from recorded routes or from the gates.

A word's path is the route of its token in every space-MoE layer (forward order). Two ways to get it:
- `mode="gates"` (fast, default): `net.text_routes(text)`; exact because the text gate sees only the
  token state, and in eval mode it adds no noise.
- `mode="sampling"`: real DDIM sampling with a `RoutingRecorder` as `on_step`, routes taken from the
  recorded `aux` of the first step (they do not change with t).
Word positions come from the tokenizer's offsets: every sub-word token that overlaps the word's characters.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from raphael.analysis.routing_records import RoutingRecorder
from raphael.run.errors import ConfigError

WORDLIST_DIR = Path(__file__).resolve().parent.parent / "wordlists"
SUBWORDS = ("first", "all")
MODES = ("gates", "sampling")


# ----------------------------------------------------------------------------------- word lists
def read_list(name: str) -> list[str]:
    """Non-empty, non-comment lines of a file in raphael/wordlists/ (or an absolute/relative path)."""
    path = Path(name) if Path(name).is_file() else WORDLIST_DIR / name
    if not path.is_file():
        raise ConfigError(f"word list or template file {name!r} not found (looked in the working directory "
                          f"and {WORDLIST_DIR}); pass an existing .txt file, one entry per line.")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def with_article(text: str) -> str:
    """'a' -> 'an' before a vowel, as the shapes captions do."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


@dataclass(frozen=True)
class Prompt:
    word: str
    group: str
    template: int
    text: str
    start: int  # the word's character span in `text`
    end: int


def make_prompts(words: list[str], templates: list[str], group: str = "") -> list[Prompt]:
    """One prompt per (word, template); each template holds `{word}` exactly once."""
    out = []
    for k, tpl in enumerate(templates):
        if tpl.count("{word}") != 1:
            raise ConfigError(f"template {tpl!r} must contain '{{word}}' exactly once.")
        slot = tpl.index("{word}")
        for word in words:
            text = with_article(tpl.replace("{word}", word))
            # the article fix only moves the slot right: the first match from `slot` on is the word itself
            match = re.compile(rf"\b{re.escape(word)}\b").search(text, slot)
            out.append(Prompt(word, group, k, text, match.start(), match.end()))
    return out


# ----------------------------------------------------------------------------------- positions
def word_token_positions(offsets: list[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the tokens whose character span overlaps [start, end) (special tokens have (0, 0))."""
    found = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    if not found:
        raise ValueError(f"no token covers characters [{start}, {end}); was the prompt truncated?")
    return found


def token_positions(tokenizer, prompts: list[Prompt], max_length: int) -> list[list[int]]:
    """Sub-word positions of each prompt's word, via return_offsets_mapping (a fast tokenizer is needed)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("the path probe needs a fast (Rust) tokenizer for return_offsets_mapping; "
                          "point text_encoder.path at a folder with tokenizer.json.")
    enc = tokenizer([p.text for p in prompts], truncation=True, max_length=max_length,
                    return_offsets_mapping=True)
    return [word_token_positions(off, p.start, p.end) for off, p in zip(enc["offset_mapping"], prompts)]


# ----------------------------------------------------------------------------------- paths
def path_of(routes: torch.Tensor, positions: list[int], subwords: str = "first") -> list[int]:
    """A word's path from one prompt's routes (L, n_layers).

    subwords='first': the first sub-word's route in every layer. subwords='all': per layer the
    majority expert over the word's sub-words (ties: the expert of the earliest sub-word), so each
    prompt still gives one row and the CV folds stay stratified by word.
    """
    if subwords not in SUBWORDS:
        raise ConfigError(f"subwords={subwords!r} is not valid: allowed {list(SUBWORDS)}.")
    rows = routes[positions]  # (n_sub, n_layers)
    if (rows < 0).any():
        raise ValueError(f"positions {positions} include padding (route -1)")
    if subwords == "first" or len(positions) == 1:
        return rows[0].tolist()
    # most_common sorts stably, so of equally frequent experts the one met first (the earliest sub-word's) wins
    return [Counter(layer).most_common(1)[0][0] for layer in rows.T.tolist()]


def space_layer_names(net) -> list[str]:
    """Names of the blocks with a space-MoE, in forward order (the columns of a path)."""
    return [blk.name for blk in net.transformer_blocks() if blk.block.space_moe is not None and blk.block.space_moe.routes_text]


@torch.no_grad()
def routes_for(module, prompts: list[Prompt], mode: str = "gates", steps: int = 3, guidance: float = 1.0,
               seed: int = 0, batch_size: int = 64) -> list[torch.Tensor]:
    """Per prompt, the (L_i, n_layers) space routes of its tokens (padding cut off)."""
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} is not valid: allowed {list(MODES)} (gates = fast path).")
    module.net.eval()
    out: list[torch.Tensor] = []
    for start in range(0, len(prompts), batch_size):
        texts = [p.text for p in prompts[start:start + batch_size]]
        if mode == "gates":
            routes = module.net.text_routes(module.encode_text(texts)).cpu()
        else:
            recorder = RoutingRecorder()
            module.generate(texts, guidance=guidance, steps=steps, seed=seed, on_step=recorder)
            routes = recorder.token_routes(step=0)
        n_real = (routes[..., 0] >= 0).sum(1) if routes.shape[-1] else torch.zeros(len(texts), dtype=torch.long)
        out += [r[:n] for r, n in zip(routes, n_real.tolist())]
    return out


def collect_paths(module, prompts: list[Prompt], mode: str = "gates", subwords: str = "first", steps: int = 3,
                  guidance: float = 1.0, seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """A frame with one row per prompt: word, group, template, prompt, sub-word tokens and the path
    (columns named after the space-MoE blocks)."""
    layers = space_layer_names(module.net)
    if not layers:
        raise ConfigError("the checkpoint's model has no space-MoE layer that routes text tokens (model.space_moe."
                          "enabled=false, or an image-token router): there are no word paths to probe.")
    tokenizer = module.text_encoder.tokenizer
    positions = token_positions(tokenizer, prompts, module.text_encoder.max_length)
    routes = routes_for(module, prompts, mode, steps, guidance, seed, batch_size)
    rows = []
    for p, pos, r in zip(prompts, positions, routes):
        ids = tokenizer(p.text, truncation=True, max_length=module.text_encoder.max_length)["input_ids"]
        path = path_of(r, pos, subwords)
        rows.append({"word": p.word, "group": p.group, "template": p.template, "prompt": p.text,
                     "tokens": " ".join(tokenizer.convert_ids_to_tokens([ids[i] for i in pos])),
                     **dict(zip(layers, path))})
    return pd.DataFrame(rows)
