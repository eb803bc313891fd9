"""config.json -> the typed description the exporter needs, per model_type; every unsupported type, field value
or missing tensor is refused with a message naming it."""
from dataclasses import dataclass, field

from .checkpoint import ImportError_

SUPPORTED = ("gpt2", "llama", "mistral", "qwen2")


@dataclass
class Spec:
    model_type: str
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    model_dim: int
    vocab: int
    inner: int
    norm: str            # layernorm | rmsnorm
    eps: float
    mlp: str             # gelu_tanh | swiglu
    positional: dict     # the manifest's architecture.positional
    tied: bool
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    window: int = None   # mistral sliding_window -> window attention
    max_positions: int = None


class _Config:
    """Field access on config.json that names the field in every refusal."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.model_type = cfg.get("model_type")

    def _where(self, key):
        return f"config.json '{key}'"

    def int(self, key, default=None, minimum=1):
        v = self.cfg.get(key, default)
        if v is None or isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ImportError_(f"{self._where(key)} is {v!r}; valid: an integer >= {minimum}")
        return v

    def num(self, key, default=None):
        v = self.cfg.get(key, default)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ImportError_(f"{self._where(key)} is {v!r}; valid: a number > 0")
        return float(v)

    def one_of(self, key, default, valid):
        v = self.cfg.get(key, default)
        if v not in valid:
            raise ImportError_(f"{self._where(key)} is {v!r} for model_type {self.model_type!r}; supported: "
                               + ", ".join(repr(x) for x in valid))
        return v


def parse(cfg):
    mt = cfg.get("model_type")
    if mt not in SUPPORTED:
        raise ImportError_(f"config.json 'model_type' is {mt!r}; supported: {', '.join(SUPPORTED)}")
    c = _Config(cfg)
    if mt == "gpt2":
        return _gpt2(c)
    return _llama_family(c, mt)


def _gpt2(c):
    e = c.int("n_embd")
    h = c.int("n_head")
    if e % h:
        raise ImportError_(f"config.json 'n_embd' ({e}) is not a multiple of 'n_head' ({h})")
    c.one_of("activation_function", "gelu_new", ("gelu_new", "gelu_pytorch_tanh"))
    c.one_of("scale_attn_weights", True, (True,))
    c.one_of("scale_attn_by_inverse_layer_idx", False, (False,))
    c.one_of("add_cross_attention", False, (False,))
    inner = c.cfg.get("n_inner")
    inner = 4 * e if inner is None else c.int("n_inner")
    positions = c.int("n_positions", c.cfg.get("n_ctx", 1024))
    return Spec(model_type="gpt2", layers=c.int("n_layer"), heads=h, kv_heads=h, head_dim=e // h, model_dim=e,
                vocab=c.int("vocab_size"), inner=inner, norm="layernorm", eps=c.num("layer_norm_epsilon", 1e-5),
                mlp="gelu_tanh", positional={"type": "learned", "maxPositions": positions},
                tied=c.one_of("tie_word_embeddings", True, (True, False)), qkv_bias=True, o_bias=True, mlp_bias=True,
                max_positions=positions)


def _llama_family(c, mt):
    e = c.int("hidden_size")
    h = c.int("num_attention_heads")
    g = c.int("num_key_value_heads", h)
    if h % g:
        raise ImportError_(f"config.json 'num_key_value_heads' is {g}; valid: a divisor of num_attention_heads ({h})")
    head_dim = c.cfg.get("head_dim")
    if head_dim is None:
        if e % h:
            raise ImportError_(f"config.json 'hidden_size' ({e}) is not a multiple of 'num_attention_heads' ({h}) "
                               "and there is no 'head_dim'")
        head_dim = e // h
    else:
        head_dim = c.int("head_dim")
    if head_dim % 2:
        raise ImportError_(f"config.json head dim is {head_dim}; valid: an even number (rotary pairs)")
    c.one_of("hidden_act", "silu", ("silu",))
    prf = c.cfg.get("partial_rotary_factor", 1.0)
    if prf != 1.0:
        raise ImportError_(f"config.json 'partial_rotary_factor' is {prf!r}; supported: 1.0")
    positional = {"type": "rope", "theta": c.num("rope_theta", 10000.0)}
    rs = c.cfg.get("rope_scaling")
    if rs is not None:
        if not isinstance(rs, dict):
            raise ImportError_(f"config.json 'rope_scaling' is {rs!r}; valid: null or an object")
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "default":
            pass
        elif kind != "llama3":
            raise ImportError_(f"config.json 'rope_scaling.rope_type' is {kind!r}; supported: 'llama3' (or null)")
        else:
            sub = _Config(rs)
            sub._where = lambda key: f"config.json 'rope_scaling.{key}'"
            low, high = sub.num("low_freq_factor"), sub.num("high_freq_factor")
            if not high > low:
                raise ImportError_(f"config.json 'rope_scaling.high_freq_factor' is {high}; valid: > low_freq_factor ({low})")
            positional["scaling"] = {"type": "llama3", "factor": sub.num("factor"), "lowFreqFactor": low,
                                     "highFreqFactor": high,
                                     "originalMaxPositions": sub.int("original_max_position_embeddings")}
    window = None
    attention_bias = mlp_bias = False
    if mt == "llama":
        attention_bias = c.one_of("attention_bias", False, (True, False))
        mlp_bias = c.one_of("mlp_bias", False, (True, False))
    if mt == "mistral" and c.cfg.get("sliding_window") is not None:
        window = c.int("sliding_window")
    if mt == "qwen2":
        c.one_of("use_sliding_window", False, (False,))
    return Spec(model_type=mt, layers=c.int("num_hidden_layers"), heads=h, kv_heads=g, head_dim=head_dim,
                model_dim=e, vocab=c.int("vocab_size"), inner=c.int("intermediate_size"), norm="rmsnorm",
                eps=c.num("rms_norm_eps", 1e-6), mlp="swiglu", positional=positional,
                tied=c.one_of("tie_word_embeddings", False, (True, False)), qkv_bias=attention_bias or mt == "qwen2",
                o_bias=attention_bias, mlp_bias=mlp_bias, window=window,
                max_positions=c.cfg.get("max_position_embeddings"))
