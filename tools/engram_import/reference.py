"""Independent plain-PyTorch forward passes of the imported architectures, written from their published descriptions
(not from the exporter): GPT-2 (Radford et al. 2019: GPT-1's decoder with pre-LayerNorm, a final LayerNorm, learned
positions, GELU in its tanh form, weights tied to the embedding; the released checkpoints' Conv1D layout stores
x W with W [in, out]) and the Llama family (Touvron et al. 2023: RMSNorm before each block, SwiGLU MLP
down(silu(gate x) * up x), rotary embeddings on q and k with Hugging Face's rotate-half pairing (dimension i with
i + d/2), grouped-query attention (Ainslie et al. 2023) where query head h reads kv head h // (H/G); Llama 3.1's
"llama3" frequency scaling; Mistral's sliding window (Jiang et al. 2023: token p attends to keys p - W < j <= p);
Qwen2's biases on q, k and v). float64 throughout; the whole sequence at once with a causal mask, no segments."""
import math

import torch


def _rope_frequencies(dim, theta, scaling):
    inv = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    if not scaling:
        return inv
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    out = []
    for f in inv.tolist():
        wavelength = 2 * math.pi / f
        if wavelength < old / high:
            out.append(f)
        elif wavelength > old / low:
            out.append(f / factor)
        else:
            smooth = (old / wavelength - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


def _rotate(x, inv):
    """x [heads, T, d]: as complex numbers x[i] + j x[i + d/2] turned by angle t * inv[i]."""
    d = x.shape[-1] // 2
    t = torch.arange(x.shape[-2], dtype=torch.float64)
    z = torch.complex(x[..., :d], x[..., d:]) * torch.polar(torch.ones(len(t), d, dtype=torch.float64),
                                                              torch.outer(t, inv))
    return torch.cat([z.real, z.imag], dim=-1)


def _attention(q, k, v, window=None):
    """q [H, T, d], k/v [G, T, d]; causal softmax(q k^T / sqrt(d)) v, optional sliding window."""
    H, T, d = q.shape
    G = k.shape[0]
    k = k.repeat_interleave(H // G, dim=0)
    v = v.repeat_interleave(H // G, dim=0)
    s = q @ k.transpose(1, 2) / math.sqrt(d)
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window is not None:
        allowed &= (i - j) < window
    s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def gpt2_logits(cfg, sd, ids):
    """cfg: config.json dict; sd: name -> tensor (the checkpoint's names); ids: list of token ids."""
    w = {k.removeprefix("transformer."): v.double() for k, v in sd.items()}
    e, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    T = len(ids)
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (e,), w[p + ".weight"], w[p + ".bias"], eps)
    gelu = lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        a = ln(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(T, H, e // H).transpose(0, 1) for t in a.split(e, dim=-1))
        o = _attention(q, k, v).transpose(0, 1).reshape(T, e)
        x = x + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = gelu(ln(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    head = w["lm_head.weight"] if not cfg.get("tie_word_embeddings", True) else w["wte.weight"]
    return ln(x, "ln_f") @ head.T


def llama_logits(cfg, sd, ids):
    """llama, mistral and qwen2 checkpoints."""
    w = {k: v.double() for k, v in sd.items()}
    e, H = cfg["hidden_size"], cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads", H)
    d = cfg.get("head_dim") or e // H
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    inv = _rope_frequencies(d, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"))
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None

    def rms(x, p):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w[p + ".weight"]

    def lin(x, p):
        y = x @ w[p + ".weight"].T
        return y + w[p + ".bias"] if p + ".bias" in w else y

    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, p + "input_layernorm")
        q = lin(h, p + "self_attn.q_proj").reshape(T, H, d).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj").reshape(T, G, d).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").reshape(T, G, d).transpose(0, 1)
        o = _attention(_rotate(q, inv), _rotate(k, inv), v, window).transpose(0, 1).reshape(T, H * d)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms(x, p + "post_attention_layernorm")
        x = x + lin(torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return rms(x, "model.norm") @ head.T


def logits(cfg, sd, ids):
    return gpt2_logits(cfg, sd, ids) if cfg["model_type"] == "gpt2" else llama_logits(cfg, sd, ids)
