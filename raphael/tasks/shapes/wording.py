"""The caption language of the shapes task: how a scene's objects are put into words, and the held-out wordings.

A caption = a sentence *frame* ("a picture of {list}", "draw {list}", "there are {count} {noun}: {list}", "{a}
above {b}", ...) around one *object phrase* per object; an object phrase = a phrase *order* (which attribute comes
where: "a {size} {fill} {color} {shape} {pos}", "a {shape} ({size}, {color}, {fill}) {pos}", ...) filled with a
*wording* of each attribute value (red: red / scarlet / crimson; left: on the left / near the left edge / ...),
then optional filler and punctuation and a random letter case. Every object phrase states all five attributes of
its object, and every attribute wording names exactly one canonical value, so the oracle can score every
attribute, and `read_objects(caption)` reads the objects back (a longest-match scan of the wordings; the tests
check it on every frame, order and wording).

The wording split, the language twin of the held-out (colour, shape) compositions: the frames, orders and
wordings marked held out (`HELD_OUT_FRAMES`, `HELD_OUT_ORDERS`, `HELD_OUT_WORDS`) never appear in a training
caption (`describe(..., held_out=False)`); `describe(..., held_out=True)` writes the evaluation prompts of
`val/alignment_wording` with a held-out frame, held-out orders and, for every value that has one, a held-out
wording. It is independent of the held-out pairs: it changes the words, not the scenes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------------------------------------
# Attribute wordings: canonical value -> phrases (training and held-out ones together; HELD_OUT_WORDS says which)

COLOR_WORDS = {
    "red": ["red", "scarlet", "crimson"],
    "orange": ["orange", "tangerine"],
    "yellow": ["yellow", "lemon", "golden"],
    "green": ["green", "emerald", "grass green"],
    "cyan": ["cyan", "aqua", "turquoise"],
    "blue": ["blue", "cobalt", "royal blue"],
    "purple": ["purple", "amethyst", "violet"],
    "pink": ["pink", "rose", "hot pink"],
}
SHAPE_WORDS = {
    "circle": ["circle", "disc"],
    "square": ["square", "box"],
    "triangle": ["triangle"],
    "diamond": ["diamond", "lozenge", "rhombus"],
}
SIZE_WORDS = {"small": ["small", "tiny", "mini", "little"], "large": ["large", "big", "giant", "huge"]}
# an adjective, before the noun ("a hollow red circle") or after "that is" / a comma
FILL_ADJ = {
    "solid": ["solid", "filled", "filled-in"],
    "outlined": ["outlined", "empty", "outline-only", "hollow"],
    "striped": ["striped", "banded", "stripy"],
}
# a phrase after the noun ("a red circle with stripes")
FILL_WITH = {
    "solid": ["with a solid fill", "filled in", "fully coloured in"],
    "outlined": ["with only an outline", "drawn in outline", "with just an outline"],
    "striped": ["with stripes", "with horizontal stripes", "with stripes across it"],
}
POSITION_WORDS = {  # prepositional phrases
    "left": ["on the left", "at the left", "to the left", "near the left edge", "on the left side",
             "on the left-hand side"],
    "right": ["on the right", "at the right", "to the right", "on the right-hand side", "on the right side",
              "near the right edge"],
    "top": ["at the top", "on top", "near the top edge", "at the top of the picture", "up top", "in the upper part"],
    "bottom": ["at the bottom", "in the lower part", "down at the bottom", "at the bottom of the picture",
               "near the bottom edge"],
    "center": ["in the center", "in the middle", "at the center", "in the middle of the picture", "in the centre"],
}
POSITION_NOUNS = {  # bare, for the terse list order "red circle, big, solid, left"
    "left": ["left", "left side"],
    "right": ["right", "right side"],
    "top": ["top", "top side"],
    "bottom": ["bottom", "bottom side"],
    "center": ["center", "middle"],
}
# attribute -> the tables that word it (the slot names of the orders below)
SLOT_TABLES = {"color": COLOR_WORDS, "shape": SHAPE_WORDS, "size": SIZE_WORDS, "fill": FILL_ADJ,
               "with": FILL_WITH, "pos": POSITION_WORDS, "posn": POSITION_NOUNS}
SLOT_ATTRIBUTE = {"color": "color", "shape": "shape", "size": "size", "fill": "fill", "with": "fill",
                  "pos": "position", "posn": "position"}

# the held-out wordings: at most one per value, so training keeps >= 2 wordings of each value it holds one out of
HELD_OUT_WORDS = frozenset({
    "crimson", "golden", "turquoise", "violet",  # colours (half the families)
    "rhombus", "little", "huge",  # a shape, both sizes
    "hollow", "stripy", "fully coloured in",  # fills
    "on the left-hand side", "near the right edge", "in the upper part", "near the bottom edge", "in the centre",
})

HELD_OUT_WORD_SHARE = 0.5  # in a held-out prompt, the chance that a value with a held-out wording gets it

# ---------------------------------------------------------------------------------------------
# Phrase orders: one object phrase; each states all five attributes once ({fill} or {with}, {pos} or {posn})

ORDERS = {
    "size_fill_color_shape_pos": "a {size} {fill} {color} {shape} {pos}",
    "fill_last": "a {size} {color} {shape} {pos}, {fill}",
    "pos_first": "{pos} a {fill} {color} {shape}, {size}",
    "with_fill": "a {color} {shape} {with}, {size}, {pos}",
    "terse": "{color} {shape}, {size}, {fill}, {posn}",
    "in_color": "a {fill} {shape} in {color}, {size}, {pos}",
    "that_is": "a {size} {color} {shape} that is {fill}, {pos}",
    "shape_commas": "a {size} {shape}, {color}, {with}, {pos}",
    "color_size": "a {color} {size} {shape} {pos} {with}",
    "brackets": "a {shape} ({size}, {color}, {fill}) {pos}",
    "which_is": "a {size} {shape} which is {color} and {fill}, {pos}",
    # held out
    "shape_pos_first": "a {shape} {pos}, {size} and {color}, {with}",
    "fill_size_first": "a {fill} {size} {color} {shape} {pos}",
}
HELD_OUT_ORDERS = frozenset({"shape_pos_first", "fill_size_first"})

# ---------------------------------------------------------------------------------------------
# Sentence frames: {list} the object phrases joined, {count} their number (a word or digits), {noun} what they are,
# {be} is / are; relation frames ({first} / {rest}) take the objects in their own order


@dataclass(frozen=True)
class Frame:
    variants: tuple[str, ...]
    min_objects: int = 1
    relation: str | None = None  # None | next_to | above | below: the order of the objects (see _relation_order)


FRAMES = {
    "list": Frame(("{list}",)),
    "picture_of": Frame(("a picture of {list}", "an image of {list}", "a drawing of {list}",
                         "a photo of {list}")),
    "imperative": Frame(("draw {list}", "paint {list}", "show {list}", "please draw {list}",
                         "make a picture of {list}", "generate {list}")),
    "there_be": Frame(("there {be} {list}", "in this picture there {be} {list}", "there {be} {list} in the image")),
    "count": Frame(("{count} {noun}: {list}", "{count} {noun} - {list}", "a picture of {count} {noun}: {list}",
                    "there {be} {count} {noun}: {list}")),
    "relative": Frame(("an image that shows {list}", "a scene which contains {list}", "a white canvas with {list}")),
    "on_white": Frame(("{list} on a white background", "{list}, on a plain white background")),
    "next_to": Frame(("{first} next to {rest}", "{first} beside {rest}"), 2, "next_to"),
    "above": Frame(("{first} above {rest}",), 2, "above"),
    "below": Frame(("{first} below {rest}",), 2, "below"),
    # held out
    "question": Frame(("can you draw {list}?", "could you show me {list}?")),
    "the_picture_shows": Frame(("the picture shows {list}", "the picture shows {list} and nothing else")),
    "along_with": Frame(("{first}, along with {rest}", "{first} together with {rest}"), 2, "next_to"),
}
HELD_OUT_FRAMES = frozenset({"question", "the_picture_shows", "along_with"})
# text that only a held-out frame writes (the tests scan training shards for it)
HELD_OUT_FRAME_MARKERS = ("can you draw", "could you show me", "the picture shows", "along with", "together with")

COUNT_WORDS = ["one", "two", "three", "four", "five"]
COUNT_NOUNS = [("shape", "shapes"), ("object", "objects"), ("thing", "things"), ("item", "items")]
JOINERS = ("and", "oxford", "semicolons", "and_all", "sentences")


@dataclass
class Caption:
    """A caption and its meaning: the objects in the order the caption mentions them, and which frame,
    orders and wordings wrote it."""

    text: str
    objects: list[dict]
    frame: str
    orders: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    held_out: bool = False

    def record(self) -> dict:
        return {"frame": self.frame, "orders": self.orders, "held_out": self.held_out}


# ---------------------------------------------------------------------------------------------
# Writing


def _choose(rng: np.random.Generator, options):
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _split(names, held: frozenset, held_out: bool) -> list:
    """The held-out members of `names` when `held_out` (all of them if none is), else the training ones."""
    train = [n for n in names if n not in held]
    chosen = [n for n in names if n in held] if held_out else train
    return chosen or train


def _object_phrase(obj: dict, order: str, rng: np.random.Generator, held_out: bool, words: list[str]) -> str:
    """The object in `order`; with `held_out`, each value that has a held-out wording gets it half the time (a
    prompt mixes new words with known ones, as people write them)."""
    values = {}
    for slot in re.findall(r"{(\w+)}", ORDERS[order]):
        value = obj[SLOT_ATTRIBUTE[slot]]
        new_word = held_out and rng.random() < HELD_OUT_WORD_SHARE
        values[slot] = _choose(rng, _split(SLOT_TABLES[slot][value], HELD_OUT_WORDS, new_word))
        words.append(values[slot])
    return ORDERS[order].format(**values)


SEPARATORS = {"semicolons": "; ", "and_all": " and ", "sentences": ". "}  # joiners that put one mark between all


def _join(parts: list[str], joiner: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    if joiner == "oxford" and len(parts) > 2:
        return ", ".join(parts[:-1]) + ", and " + parts[-1]
    if joiner in SEPARATORS:
        return SEPARATORS[joiner].join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _relation_order(objects: list[dict], relation: str) -> list[dict] | None:
    """The objects in the order a relation frame names them, or None when it does not apply: 'above' names the
    top-most object first, then the one right under it, which must not overlap it vertically; 'below' likewise
    from the bottom; 'next_to' keeps the given order."""
    if relation == "next_to":
        return objects
    ordered = sorted(objects, key=lambda o: o["bbox"][1] + o["bbox"][3], reverse=relation == "below")  # by centre y
    a, b = ordered[:2]
    upper, lower = (a, b) if relation == "above" else (b, a)
    return ordered if upper["bbox"][3] <= lower["bbox"][1] else None


def _article(text: str) -> str:
    """'a' -> 'an' before a vowel."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _case(text: str, rng: np.random.Generator) -> str:
    """Mostly lower case, sometimes a capital first letter, Title Case or UPPER CASE."""
    style = rng.random()
    if style < 0.55:
        return text
    if style < 0.85:
        return text[:1].upper() + text[1:]
    if style < 0.95:
        return re.sub(r"\b[a-z]", lambda m: m.group().upper(), text)
    return text.upper()


def describe(objects: list[dict], rng: np.random.Generator, held_out: bool = False) -> Caption:
    """A caption of `objects` (canonical attribute dicts with bboxes) with its meaning. `held_out=False`: only
    training frames, orders and wordings; True: a held-out frame, held-out orders, and held-out wordings for about
    half of the values that have one (`HELD_OUT_WORD_SHARE`), training wordings for the rest."""
    order = [objects[i] for i in rng.permutation(len(objects))]
    names = _split(FRAMES, HELD_OUT_FRAMES, held_out)
    for _ in range(50):
        name = _choose(rng, names)
        frame = FRAMES[name]
        if len(order) < frame.min_objects:
            continue
        mentioned = _relation_order(order, frame.relation) if frame.relation else order
        if mentioned is not None:
            break
    else:  # pragma: no cover - 'list' (or 'question') applies to any scene
        name, frame, mentioned = names[0], FRAMES[names[0]], order
    orders = [_choose(rng, _split(ORDERS, HELD_OUT_ORDERS, held_out)) for _ in mentioned]
    words: list[str] = []
    phrases = [_object_phrase(o, k, rng, held_out, words) for o, k in zip(mentioned, orders)]
    n = len(mentioned)
    noun = _choose(rng, COUNT_NOUNS)[0 if n == 1 else 1]
    text = _choose(rng, frame.variants).format(
        list=_join(phrases, _choose(rng, JOINERS)), first=phrases[0], rest=_join(phrases[1:], "and"),
        count=_choose(rng, [COUNT_WORDS[n - 1], str(n)]), noun=noun, be="is" if n == 1 else "are")
    if not text.endswith("?"):
        text += _choose(rng, ["", "", ".", "!" if name == "imperative" else "."])
    text = _case(_article(text), rng)
    return Caption(text, [_canonical(o) for o in mentioned], name, orders, words, held_out)


def _canonical(obj: dict) -> dict:
    return {a: obj[a] for a in ("color", "shape", "size", "position", "fill")}


# ---------------------------------------------------------------------------------------------
# Reading back

_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))


def lexicon() -> dict[tuple[str, ...], tuple[str, str]]:
    """Every attribute wording (as tokens) -> (attribute, canonical value); a wording that could mean two
    things is an error."""
    entries: dict[tuple[str, ...], tuple[str, str]] = {}
    for slot, table in SLOT_TABLES.items():
        for value, phrases in table.items():
            for phrase in phrases:
                meaning = (SLOT_ATTRIBUTE[slot], value)
                if entries.setdefault(_tokens(phrase), meaning) != meaning:
                    raise ValueError(f"wording {phrase!r} means both {entries[_tokens(phrase)]} and {meaning}")
    return entries


_LEXICON = lexicon()
_LONGEST = max(len(k) for k in _LEXICON)


def find_wordings(caption: str) -> Iterator[tuple[tuple[str, str], int, int]]:
    """((attribute, value), start, end) of each attribute wording in the caption, left to right, longest match
    first, never across a punctuation mark ('(big, red, filled) in the lower part' is 'filled' then 'in the lower
    part', not 'filled in')."""
    for part in re.finditer(r"[^,;:.()?!]+", caption):
        found = [(m.group(), part.start() + m.start(), part.start() + m.end())
                 for m in _TOKEN.finditer(part.group().lower())]
        i = 0
        while i < len(found):
            for length in range(min(_LONGEST, len(found) - i), 0, -1):
                meaning = _LEXICON.get(tuple(t for t, _, _ in found[i:i + length]))
                if meaning is not None:
                    yield meaning, found[i][1], found[i + length - 1][2]
                    i += length
                    break
            else:
                i += 1


def read_objects(caption: str) -> list[dict]:
    """The objects a caption states, in the order it states them: a left-to-right, longest-match scan of the
    attribute wordings; an object is complete when all five attributes are named. Raises ValueError when an
    attribute comes twice before its object is complete or the last object is left incomplete."""
    objects, current = [], {}
    for (attribute, value), _, _ in find_wordings(caption):
        if attribute in current:
            raise ValueError(f"{caption!r}: {attribute} named twice for one object ({current[attribute]}, {value})")
        current[attribute] = value
        if len(current) == 5:
            objects.append(_canonical(current))  # in the attribute order of the metadata
            current = {}
    if current:
        raise ValueError(f"{caption!r}: an object is left incomplete: {current}")
    return objects


FUNCTION_WORDS = frozenset({"a", "an", "the", "on", "at", "in", "of", "to", "with", "only", "just", "near",
                            "up", "down", "drawn", "across", "it", "hand", "side", "edge", "part", "picture"})


def key_words() -> set[str]:
    """The content words of every attribute wording (what knowledge enhancement emphasises)."""
    return {w for phrase in _LEXICON for token in phrase for w in re.findall(r"[a-z]+", token)
            if w not in FUNCTION_WORDS}


def drop_filler_words(caption: str, rng: random.Random, p: float = 0.3, share: float = 0.5) -> str:
    """Word dropout that keeps the meaning (a training augmentation, `data.caption_augment`): in a `share` of the
    captions, each word that is no part of an attribute wording (articles, frame words, joiners, fillers) is
    dropped with probability `p`; every attribute wording stays, in its place."""
    if rng.random() >= share:
        return caption
    spans = [(start, end) for _, start, end in find_wordings(caption)]
    kept = [m.group() for m in re.finditer(r"\S+", caption)
            if any(start < m.end() and m.start() < end for start, end in spans) or rng.random() >= p]
    return " ".join(kept) or caption
