"""The shapes caption language (raphael.tasks.shapes.wording): every frame, order and wording reads back to the
objects it describes, and the held-out wordings never reach a training shard."""

from __future__ import annotations

import json
import re
import tarfile

import numpy as np
import pytest

from raphael.tasks.shapes import ShapesTask, scenes, wording
from raphael.tasks.shapes.shards import shards_are_current, write_shapes_shards

ALL_WORDINGS = {(slot, value, phrase) for slot, table in wording.SLOT_TABLES.items()
                for value, phrases in table.items() for phrase in phrases}


def captions(held_out: bool, num: int = 1500, seed: int = 7) -> list[wording.Caption]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num):
        objects = scenes.sample_layout(rng, (32, 32))
        out.append(wording.describe(objects, rng, held_out))
    return out


def held_out_text(text: str) -> list[str]:
    """The held-out wordings and frame markers in a caption (whole words, any case)."""
    lowered = text.lower()
    found = [w for w in wording.HELD_OUT_WORDS if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", lowered)]
    return found + [m for m in wording.HELD_OUT_FRAME_MARKERS if m in lowered]


def same_objects(read: list[dict], objects: list[dict]) -> bool:
    """The same objects, in any order (a caption mentions them in its own order)."""
    canonical = sorted(str(wording._canonical(o)) for o in objects)
    return sorted(str(wording._canonical(o)) for o in read) == canonical


@pytest.fixture(scope="module")
def both() -> dict[bool, list[wording.Caption]]:
    return {held: captions(held) for held in (False, True)}


def test_every_caption_reads_back_to_its_objects_in_order(both):
    for caption in both[False] + both[True]:
        assert wording.read_objects(caption.text) == caption.objects, caption.text


def test_every_frame_order_and_wording_is_written_and_read(both):
    written = both[False] + both[True]
    assert {c.frame for c in written} == set(wording.FRAMES)
    assert {o for c in written for o in c.orders} == set(wording.ORDERS)
    used = {w for c in written for w in c.words}
    assert {phrase for _, _, phrase in ALL_WORDINGS} <= used
    # each wording alone, in each order it fits, reads back as its value
    lexicon = wording.lexicon()
    for slot, value, phrase in ALL_WORDINGS:
        assert lexicon[tuple(wording._tokens(phrase))] == (wording.SLOT_ATTRIBUTE[slot], value)


def test_the_language_is_varied_and_unambiguous():
    assert len(wording.FRAMES) - len(wording.HELD_OUT_FRAMES) >= 10
    assert len(wording.ORDERS) - len(wording.HELD_OUT_ORDERS) >= 10
    assert wording.HELD_OUT_FRAMES <= set(wording.FRAMES) and wording.HELD_OUT_ORDERS <= set(wording.ORDERS)
    phrases = {phrase for _, _, phrase in ALL_WORDINGS}
    assert wording.HELD_OUT_WORDS <= phrases
    for slot, table in wording.SLOT_TABLES.items():  # the oracle's vocabulary, each value still in training words
        attribute = wording.SLOT_ATTRIBUTE[slot]
        canonical = {"color": scenes.COLORS, "shape": scenes.SHAPES, "size": scenes.SIZES,
                     "position": scenes.POSITIONS, "fill": scenes.FILLS}[attribute]
        assert set(table) == set(canonical)
        for value, options in table.items():
            assert [p for p in options if p not in wording.HELD_OUT_WORDS], (slot, value)
    assert all(len(v) >= 2 for v in wording.COLOR_WORDS.values())
    wording.lexicon()  # raises if a wording could mean two things


def test_captions_have_counts_in_words_and_digits_and_mixed_case(both):
    texts = [c.text for c in both[False]]
    assert any(re.search(r"\b[123] (shape|object|thing|item)", t.lower()) for t in texts)
    assert any(re.search(r"\b(one|two|three) (shape|object|thing|item)", t.lower()) for t in texts)
    assert any(t[:1].isupper() for t in texts) and any(t.isupper() for t in texts) and any(t.islower() for t in texts)
    assert len(set(texts)) == len(texts)


def test_training_captions_hold_no_held_out_wording_and_held_out_ones_do(both):
    for caption in both[False]:
        assert not held_out_text(caption.text), caption.text
        assert caption.frame not in wording.HELD_OUT_FRAMES and not set(caption.orders) & wording.HELD_OUT_ORDERS
    for caption in both[True]:
        assert caption.frame in wording.HELD_OUT_FRAMES and set(caption.orders) <= wording.HELD_OUT_ORDERS
    assert np.mean([bool(set(c.words) & wording.HELD_OUT_WORDS) for c in both[True]]) > 0.9


def test_no_held_out_wording_reaches_a_training_shard(tmp_path):
    write_shapes_shards(tmp_path, num=300, val=40, image_size=32, shard_size=200, progress=False)
    seen = 0
    for shard in sorted(tmp_path.glob("*.tar")):
        with tarfile.open(shard) as tar:
            members = {m.name: tar.extractfile(m).read().decode() for m in tar if m.name.endswith((".txt", ".json"))}
        for name, text in members.items():
            if name.endswith(".txt"):
                meta = json.loads(members[name[:-4] + ".json"])
                assert meta["caption"] == text and not held_out_text(text), text
                assert meta["wording"]["held_out"] is False and meta["template"] not in wording.HELD_OUT_FRAMES
                assert not set(meta["wording"]["orders"]) & wording.HELD_OUT_ORDERS
                assert same_objects(wording.read_objects(text), meta["objects"]), text
                seen += 1
    assert seen == 340
    assert shards_are_current(tmp_path, image_size=32) and not shards_are_current(tmp_path, image_size=32, seed=1)


def test_wording_prompts_are_the_regular_scenes_in_held_out_words():
    task = ShapesTask()
    regular, words = task.prompts(32, 0, 32), task.prompts(32, 0, 32, wording=True)
    assert [m["objects"] for _, m in regular] == [m["objects"] for _, m in words]
    for caption, meta in words:
        assert meta["wording"]["held_out"] and meta["template"] in wording.HELD_OUT_FRAMES
        assert same_objects(wording.read_objects(caption), meta["objects"]), caption
    assert words == task.prompts(32, 0, 32, wording=True)  # deterministic
    assert task.prompts(4, 0, 32, held_out=True, wording=False) != task.prompts(4, 0, 32, wording=True)


def test_key_words_cover_the_new_wordings():
    task = ShapesTask()
    assert set(task.key_words("A crimson rhombus, little, stripy, near the bottom edge")) == {
        "crimson", "rhombus", "little", "stripy", "bottom"}
    assert set(task.key_words("a large red circle on the left")) == {"large", "red", "circle", "left"}


def test_word_dropout_keeps_every_attribute_wording(both):
    import random

    rng = random.Random(0)
    changed = 0
    for caption in both[False] + both[True]:
        dropped = wording.drop_filler_words(caption.text, rng, p=0.5, share=1.0)
        assert wording.read_objects(dropped) == caption.objects, (caption.text, dropped)
        changed += dropped != caption.text
    assert changed > 0.9 * len(both[False] + both[True])
    assert wording.drop_filler_words("a red circle", rng, share=0.0) == "a red circle"
