"""kvCache bfloat16 in the trainable model (engram_model) against the independent reference (engram_ref)."""
import pytest
import torch

from engram_model import schemes
from engram_ref.lsh import CachedAttention


@pytest.mark.parametrize("positional", ["none", "alibi"])
def test_bfloat16_cache_matches_the_reference_and_differs_from_float32(positional):
    torch.manual_seed(3)
    heads, kv_heads, dk, dv = 4, 2, 8, 4
    model = schemes.WindowAttention(heads, kv_heads, dk, dv, None, positional, kv_cache="bfloat16")
    exact = schemes.WindowAttention(heads, kv_heads, dk, dv, None, positional)
    ref = CachedAttention(heads, kv_heads, None, positional, kv_cache="bfloat16")
    state = exact_state = None
    start, differs = 0, False
    for n in [5, 3, 6]:
        q, k, v = torch.randn(heads, n, dk), torch.randn(kv_heads, n, dk), torch.randn(kv_heads, n, dv)
        out, state = model(q[None], k[None], v[None], start, state)
        plain, exact_state = exact(q[None], k[None], v[None], start, exact_state)
        want = ref.forward(q, k, v)
        assert torch.allclose(out[0].double(), want, atol=1e-5, rtol=1e-4)
        differs |= not torch.equal(out, plain)
        start += n
    assert differs, "rounding the keys and values must change some output"
    assert model.config()["kvCache"] == "bfloat16" and "kvCache" not in exact.config()


def test_an_unknown_storage_is_refused_by_name():
    with pytest.raises(ValueError, match="kvCache"):
        schemes.WindowAttention(2, 1, 4, 4, None, "none", kv_cache="float16")
