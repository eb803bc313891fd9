"""The ∞-former paper's sorting-by-frequency task (Martins et al., arXiv 2109.00301, section 4.1).

Vocabulary (22 ids, fixed; tokenizer.json has the same table):
    0-19   the 20 symbols, written "a".."t"
    20     <sep>    ends the input; the answer follows
    21     <bos>    starts a sequence
Sequence of an input of L symbols (L + 22 tokens):
    <bos> x_1 .. x_L <sep> y_1 .. y_20
Each sequence draws two distributions over the 20 symbols, p_initial and p_final, from integer weights
uniform in 1..9 (normalised by their sum). Symbol j (j = 0..L-1) is drawn from (1 - r) p_initial + r p_final,
r = (j + 1) / L: first the component (final with probability (j + 1) / L, i.e. nextInt(L) < j + 1), then the
symbol from that component's integer weights (nextInt(sum of weights), walked through the cumulative
weights). Only integers are compared, so Python and Java draw identical sequences for the same seed.
Answer y_1..y_20: the 20 symbols in decreasing order of their count among x_1..x_L; **ties (equal counts):
the smaller symbol id first**. Every symbol appears in the answer exactly once.

Metric: accuracy per output position (the paper's: the share of (sequence, position) pairs whose output
symbol equals the answer's symbol there) and the share of whole answers exactly right.

Random sources: ``JavaSplittableRandom`` (the Java twin cli/.../demo/SortingTask.java with
java.util.SplittableRandom gives the same sequences; cli/src/test/resources/sorting-golden.json holds both
to it) or a numpy Generator (``integers(high)`` is all this module asks of a random source).
``training_batch`` is a vectorised numpy sampler of the same distribution for training (not the same
stream as ``sample``).
"""
import numpy as np

from .passkey import JavaSplittableRandom

SYMBOLS = 20
SEP, BOS = 20, 21
VOCAB = [chr(ord("a") + i) for i in range(SYMBOLS)] + ["<sep>", "<bos>"]
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
MAX_WEIGHT = 9
EXTRA = 2 + SYMBOLS  # <bos>, <sep> and the answer around the L input symbols


def sequence_length(length):
    """Tokens of a whole sequence with ``length`` input symbols."""
    return length + EXTRA


def answer(symbols):
    """The 20 symbol ids by decreasing count in ``symbols``; equal counts: smaller id first."""
    counts = np.bincount(np.asarray(symbols, dtype=np.int64), minlength=SYMBOLS)
    return np.array(sorted(range(SYMBOLS), key=lambda s: (-counts[s], s)), dtype=np.int64)


def draw_symbols(rng, length):
    """(x [length], weights_initial [20], weights_final [20]) from a random source with integers(high)."""
    if length < 1:
        raise ValueError(f"length {length}: must be >= 1")
    w_init = np.array([1 + int(rng.integers(MAX_WEIGHT)) for _ in range(SYMBOLS)], dtype=np.int64)
    w_final = np.array([1 + int(rng.integers(MAX_WEIGHT)) for _ in range(SYMBOLS)], dtype=np.int64)
    cum = [np.cumsum(w_init), np.cumsum(w_final)]
    x = np.empty(length, dtype=np.int64)
    for j in range(length):
        c = cum[1] if int(rng.integers(length)) < j + 1 else cum[0]
        u = int(rng.integers(int(c[-1])))
        x[j] = int(np.searchsorted(c, u, side="right"))  # first symbol whose cumulative weight exceeds u
    return x, w_init, w_final


def sample(rng, length):
    """One whole sequence of ``length`` input symbols: (ids int64 [length + 22], answer int64 [20])."""
    x, _, _ = draw_symbols(rng, length)
    y = answer(x)
    ids = np.concatenate([[BOS], x, [SEP], y]).astype(np.int64)
    return ids, y


def prompt_length(length):
    """Tokens up to and including <sep>: the prompt greedy decoding starts from."""
    return length + 2


def training_batch(rng, size, length):
    """ids [size, length + 22] and the answer mask (True at the 20 answer tokens), drawn vectorised from the
    task's distribution with a numpy Generator."""
    w_init = rng.integers(1, MAX_WEIGHT + 1, size=(size, SYMBOLS))
    w_final = rng.integers(1, MAX_WEIGHT + 1, size=(size, SYMBOLS))
    p_init = w_init / w_init.sum(-1, keepdims=True)
    p_final = w_final / w_final.sum(-1, keepdims=True)
    r = (np.arange(length) + 1) / length
    use_final = rng.random((size, length)) < r[None, :]
    p = np.where(use_final[..., None], p_final[:, None, :], p_init[:, None, :])  # [size, length, 20]
    u = rng.random((size, length, 1))
    x = np.minimum((np.cumsum(p, axis=-1) <= u).sum(-1), SYMBOLS - 1)
    counts = np.stack([np.bincount(row, minlength=SYMBOLS) for row in x])
    # decreasing count, ties by smaller id: sort by key count * 32 - id descending (ids < 32)
    y = np.argsort(-(counts * 32 - np.arange(SYMBOLS)[None, :]), axis=-1, kind="stable")
    ids = np.concatenate([np.full((size, 1), BOS), x, np.full((size, 1), SEP), y], axis=1).astype(np.int64)
    mask = np.zeros(ids.shape, dtype=bool)
    mask[:, -SYMBOLS:] = True
    return ids, mask


def render(ids):
    return " ".join(VOCAB[int(i)] for i in ids)


def tokenizer_json():
    """A Hugging Face tokenizers JSON (WordLevel, whitespace split; <sep> and <bos> are special tokens)."""
    added = [{"id": TOKEN_ID[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in ["<sep>", "<bos>"]]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": dict(TOKEN_ID), "unk_token": "<bos>"},
    }


def golden_cases():
    """Fixed (seed, length) cases and what sample() gives with JavaSplittableRandom(seed): the fixture
    cli/src/test/resources/sorting-golden.json that the Java SortingTaskTest compares SortingTask against."""
    cases = []
    for seed, length in [(1, 1), (2, 20), (3, 64), (42, 100), (-7, 256), (123456789, 513)]:
        x, w_init, w_final = draw_symbols(JavaSplittableRandom(seed), length)
        cases.append({"seed": seed, "length": length, "weightsInitial": [int(w) for w in w_init],
                      "weightsFinal": [int(w) for w in w_final], "symbols": [int(s) for s in x],
                      "answer": [int(s) for s in answer(x)]})
    return cases
