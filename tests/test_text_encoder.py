import shutil

import pytest
import torch
from conftest import concat_text
from torch import nn

from raphael.nn.text_encoder import FrozenTextEncoder, TextEncoding, default_text_encoder_path


@pytest.fixture(scope="module")
def minilm():
    return FrozenTextEncoder(max_length=16)


def test_minilm_shapes_mask_and_cls_pooling(minilm):
    enc = minilm(["a small red circle left of a blue square", "blue"])
    assert isinstance(enc, TextEncoding)
    B, L = enc.mask.shape
    assert minilm.dim == 384 and enc.states.shape == (B, L, 384) and enc.input_ids.shape == (B, L)
    assert enc.mask.dtype == torch.bool and enc.mask[0].all() and enc.mask[1].sum() == 3  # [CLS] blue [SEP]
    assert enc.pooled_index.tolist() == [0, 0]
    assert minilm.tokenizer is not None
    long = minilm(["word " * 40])
    assert long.states.shape[1] == 16  # truncated to max_length


def test_frozen_and_stays_in_eval(minilm):
    parent = nn.ModuleDict({"enc": minilm, "lin": nn.Linear(2, 2)})
    parent.train()
    assert not minilm.training and not minilm.model.training
    assert all(not p.requires_grad for p in minilm.parameters())
    x = minilm(["a red circle"])
    assert not x.states.requires_grad


def test_eos_pooling_is_last_real_token():
    enc = FrozenTextEncoder(max_length=16, pooled="eos")
    out = enc(["a red circle", "blue"])
    assert out.pooled_index.tolist() == (out.mask.sum(1) - 1).tolist()
    assert (out.input_ids[torch.arange(2), out.pooled_index] == enc.tokenizer.sep_token_id).all()


def test_missing_folder_names_the_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="text_encoder.path"):
        FrozenTextEncoder(path=str(tmp_path / "nope"))


def test_clip_folder_uses_text_tower_and_eos(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    src = default_text_encoder_path()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{src}/{name}", tmp_path / name)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=30522, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=16, patch_size=8),
        projection_dim=8,
    )
    CLIPModel(cfg).save_pretrained(tmp_path)
    enc = FrozenTextEncoder(path=str(tmp_path), max_length=16)
    assert enc.is_clip and enc.pooled == "eos" and enc.dim == 16
    out = enc(["a red circle", "blue"])
    assert out.states.shape[-1] == 16
    assert out.pooled_index.tolist() == (out.mask.sum(1) - 1).tolist()


def test_concat_text_pads_to_longest():
    a = TextEncoding(torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool), torch.zeros(2).long(),
                     torch.ones(2, 3).long())
    b = TextEncoding(torch.randn(1, 5, 4), torch.ones(1, 5, dtype=torch.bool), torch.zeros(1).long(),
                     torch.ones(1, 5).long())
    c = concat_text(a, b)
    assert c.states.shape == (3, 5, 4) and c.mask[:2, 3:].sum() == 0 and c.mask[2].all()
