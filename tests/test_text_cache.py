"""The per-caption text cache gives what encoding the batch gives, and encodes each caption once."""

from __future__ import annotations

import pytest
import torch

from raphael.nn.text_encoder import FrozenTextEncoder


def test_cached_batches_equal_fresh_encoding_and_skip_the_encoder():
    plain = FrozenTextEncoder()
    cached = FrozenTextEncoder(cache_size=8)
    first = ["a red circle", "two small blue squares on the left and a pink diamond", ""]
    second = ["", "a red circle", "a large green triangle at the top"]
    cached(first)
    calls = []
    original = cached._encode
    cached._encode = lambda caps: calls.append(list(caps)) or original(caps)
    got, want = cached(second), plain(second)
    assert calls == [["a large green triangle at the top"]]  # only the new caption was encoded
    assert torch.equal(got.mask, want.mask) and torch.equal(got.input_ids, want.input_ids)
    assert torch.equal(got.pooled_index, want.pooled_index)
    assert torch.allclose(got.states[got.mask], want.states[want.mask], atol=1e-5)
    assert torch.all(got.states[~got.mask] == 0)


def test_cache_keeps_at_most_cache_size_captions():
    enc = FrozenTextEncoder(cache_size=2)
    enc(["a", "b", "c"])
    assert len(enc._cache) == 2


def test_warm_encodes_only_the_missing_captions_and_matches_fresh_encoding():
    enc = FrozenTextEncoder(cache_size=8)
    enc(["a red circle"])
    captions = ["a red circle", "", "two small blue squares on the left and a pink diamond", "a red circle"]
    assert enc.warm(captions, batch_size=2) == 2
    got, want = enc(captions), FrozenTextEncoder()(captions)
    assert torch.equal(got.mask, want.mask)
    assert torch.allclose(got.states[got.mask], want.states[want.mask], atol=1e-5)
    try:
        FrozenTextEncoder(cache_size=1).warm(["a", "b"])
    except ValueError as err:
        assert "text_encoder.cache_size = 1" in str(err)
    else:
        raise AssertionError("warm() past cache_size must say so")


def _store_run(shards, encoder):
    from types import SimpleNamespace

    from raphael.callbacks.text_states import TextStateStore

    trainer = SimpleNamespace(datamodule=SimpleNamespace(train_shards=shards), is_global_zero=True)
    store = TextStateStore()
    store.on_fit_start(trainer, SimpleNamespace(text_encoder=encoder, _frozen_to_device=lambda: None))
    return store


def test_text_state_store_is_written_once_and_read_back(tmp_path):
    from raphael.callbacks.text_states import shard_captions
    from raphael.tasks.shapes.shards import write_shapes_shards

    write_shapes_shards(tmp_path / "shapes", num=24, val=4, seed=0, shard_size=12, progress=False)
    shards = sorted(str(p) for p in (tmp_path / "shapes").glob("train-*.tar"))
    captions = shard_captions(shards)
    assert 1 < len(captions) <= 24 and all(captions)

    first = FrozenTextEncoder(cache_size=100)
    assert (_store_run(shards, first).encoded, len(first._cache)) == (len(captions) + 1, len(captions) + 1)
    stores = list((tmp_path / "shapes" / "text_states").glob("*.pt"))
    assert [p.stem for p in stores] == [first.identity()]
    assert set(first._cache) == {"", *captions}

    second = FrozenTextEncoder(cache_size=100)
    second._encode = lambda caps: (_ for _ in ()).throw(AssertionError(f"encoded {caps}"))  # all from disk
    assert _store_run(shards, second).loaded == len(captions) + 1
    got, want = second(captions), FrozenTextEncoder()(captions)
    assert torch.allclose(got.states[got.mask], want.states[want.mask], atol=1e-5)

    stores[0].write_bytes(b"not a torch file")  # a damaged store: reported, encoded again, rewritten
    with pytest.warns(UserWarning, match="could not read the text-state store"):
        third = _store_run(shards, FrozenTextEncoder(cache_size=100))
    assert (third.loaded, third.encoded) == (0, len(captions) + 1)
    assert torch.load(stores[0], weights_only=True)["captions"][0] == ""


def test_layer_picks_the_encoders_hidden_states():
    """text_encoder.layer: -1 is the last layer as before (same states, same store name); -2 the penultimate."""
    captions = ["a red circle", "two blue squares at the top"]
    last, penultimate = FrozenTextEncoder(), FrozenTextEncoder(layer=-2)
    ids = last.tokenizer(captions, padding="longest", return_tensors="pt")
    hidden = last.model(**ids, output_hidden_states=True).hidden_states
    assert torch.equal(last(captions).states, hidden[-1])
    assert torch.allclose(penultimate(captions).states, hidden[-2])
    assert not torch.allclose(hidden[-1], hidden[-2])
    assert penultimate.identity() != last.identity()
    with pytest.raises(ValueError, match=r"text_encoder.layer = 9 is out of range: this encoder has 6 layers"):
        FrozenTextEncoder(layer=9)


_WARM_IN_A_PROCESS = """
import sys, torch
from raphael.nn.text_encoder import FrozenTextEncoder
captions = [line for line in sys.stdin.read().split("\\n") if line]
enc = FrozenTextEncoder(cache_size=64)
enc.warm(captions, batch_size=4)
torch.save(enc.cached_states(captions)["states"], sys.argv[1])
"""


def test_warm_writes_the_same_states_whatever_the_process_string_hash(tmp_path):
    """Equal-length captions are batched in their given order: the batches (so their padding, so the states'
    last bits) must not follow the per-process string hash, or every fresh clone trains on other text states."""
    import os
    import subprocess
    import sys

    words = ["red", "blue", "green", "pink", "tiny", "huge", "left", "top", "a", "an", "two", "striped"]
    captions = [" ".join(words[(i + k) % len(words)] for k in range(2 + i % 4))[:18].ljust(18, "x")
                for i in range(24)]
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"states{seed}.pt"
        subprocess.run([sys.executable, "-c", _WARM_IN_A_PROCESS, str(out)], input="\n".join(captions), text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1"})
        outs.append(torch.load(out))
    assert torch.equal(outs[0], outs[1])


def test_a_store_written_for_other_shards_is_rebuilt_as_a_fresh_one(tmp_path):
    """Shards rewritten in the same folder (more samples, another image size) keep some captions: their stored
    states came from the old data's batches (other padding, other last bits), so the store is encoded afresh
    and equals the store a clean folder gets, bit for bit."""
    from raphael.tasks.shapes.shards import write_shapes_shards

    def store_of(folder, num):
        write_shapes_shards(folder, num=num, val=4, seed=0, shard_size=num, progress=False)
        _store_run(sorted(str(p) for p in folder.glob("train-*.tar")), FrozenTextEncoder(cache_size=200))
        return torch.load(next((folder / "text_states").glob("*.pt")), weights_only=True)

    store_of(tmp_path / "reused", 24)
    reused, fresh = store_of(tmp_path / "reused", 60), store_of(tmp_path / "fresh", 60)
    assert reused["captions"] == fresh["captions"]
    assert torch.equal(reused["states"], fresh["states"]) and torch.equal(reused["ids"], fresh["ids"])
