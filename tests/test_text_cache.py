"""The per-caption text cache gives what encoding the batch gives, and encodes each caption once."""

from __future__ import annotations

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
