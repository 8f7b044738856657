import torch

from raphael.nn.attention import CrossAttention, SelfAttention


def test_self_attention_shape_and_matches_explicit_softmax():
    torch.manual_seed(0)
    attn = SelfAttention(16, head_dim=8)
    x = torch.randn(2, 10, 16)
    out = attn(x)
    assert out.shape == (2, 10, 16)
    q, k, v = attn.qkv(x).view(2, 10, 3, 2, 8).permute(2, 0, 3, 1, 4)
    ref = ((q @ k.transpose(-1, -2)) / 8**0.5).softmax(-1) @ v
    ref = attn.proj(ref.transpose(1, 2).reshape(2, 10, 16))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_cross_attention_map_rows_sum_to_one_and_padding_is_zero():
    torch.manual_seed(0)
    attn = CrossAttention(16, context_dim=12, head_dim=8)
    x, ctx = torch.randn(2, 9, 16), torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    res = attn(x, ctx, mask)
    assert res.output.shape == (2, 9, 16) and res.attn_map.shape == (2, 9, 5)
    torch.testing.assert_close(res.attn_map.sum(-1), torch.ones(2, 9))
    assert (res.attn_map[0, :, 3:] == 0).all()


def test_cross_attention_padding_does_not_change_output():
    torch.manual_seed(0)
    attn = CrossAttention(16, context_dim=12, head_dim=8)
    x, ctx = torch.randn(1, 9, 16), torch.randn(1, 3, 12)
    res = attn(x, ctx, torch.ones(1, 3, dtype=torch.bool))
    padded = torch.cat([ctx, torch.randn(1, 4, 12)], 1)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    res_p = attn(x, padded, mask)
    torch.testing.assert_close(res.output, res_p.output)
    torch.testing.assert_close(res.attn_map, res_p.attn_map[:, :, :3])


def test_cross_attention_all_padding_is_finite():
    attn = CrossAttention(8, context_dim=8, head_dim=8)
    res = attn(torch.randn(1, 4, 8), torch.randn(1, 3, 8), torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isfinite(res.output).all()
