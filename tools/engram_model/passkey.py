"""The synthetic passkey task: a random passkey planted in long filler, asked for at the end.

Vocabulary (32 ids, fixed; tokenizer.json has the same table):
    0-9    the digits "0".."9" (passkey tokens; written space-separated in text)
    10     <bos>                    start of a sequence
    11     <passkey-is>             marker: "the passkey is", followed by the passkey digits and "."
    12     <what-is-the-passkey>    marker: the question; the model must answer with the passkey digits
    13     <unk>
    14     "."
    15-31  filler words: the grass is green sky blue sun yellow here we go there and back again it day
Sequence (T tokens, the question ends the sequence):
    <bos> filler ... <passkey-is> d1 .. dK . filler ... <what-is-the-passkey> d1 .. dK
Filler is the classic repeated text "the grass is green . the sky is blue . the sun is yellow . here we go .
there and back again ." started at a random offset (it is predictable, so the only unpredictable tokens
are the passkey digits). The passkey block starts at a uniformly random position (or a given depth in
[0, 1]) between the <bos> and the question. Training loss and accuracy count only the K answer digits.
"""
import math

import numpy as np

DIGITS = [str(d) for d in range(10)]
BOS, KEY, ASK, UNK, DOT = 10, 11, 12, 13, 14
WORDS = ["the", "grass", "is", "green", "sky", "blue", "sun", "yellow", "here", "we", "go", "there", "and",
         "back", "again", "it", "day"]
VOCAB = DIGITS + ["<bos>", "<passkey-is>", "<what-is-the-passkey>", "<unk>", "."] + WORDS
assert len(VOCAB) == 32
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
FILLER_TEXT = "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again ."
FILLER = np.array([TOKEN_ID[w] for w in FILLER_TEXT.split()], dtype=np.int64)


def filler(rng, n):
    start = rng.integers(len(FILLER))
    reps = (start + n) // len(FILLER) + 1
    return np.tile(FILLER, reps)[start:start + n]


TURN_MAX = 2 * len(FILLER)  # the longest filler turn of a conversation-shaped sequence (two cycles, 48 tokens)


def turns_filler(rng, n):
    """``n`` filler tokens as a conversation gives them: turns of 1..TURN_MAX tokens, each a run of the filler text
    that starts at its beginning (half the turns, as a user's message would) or at a random offset, so the text
    jumps where a turn ends. The plain layout's filler is one run, continuous across the passkey block; a model
    that leans on that continuity misreads a passkey said in a turn of its own (models/README.md, stages 17-18)."""
    runs, total = [], 0
    while total < n:
        size = int(rng.integers(1, TURN_MAX + 1))
        start = 0 if rng.random() < 0.5 else int(rng.integers(len(FILLER)))
        runs.append(np.tile(FILLER, (start + size) // len(FILLER) + 1)[start:start + size])
        total += size
    return np.concatenate(runs)[:n] if runs else FILLER[:0]


def sample(rng, length, digits=5, depth=None, turns=False):
    """One sequence of ``length`` tokens: (ids int64 [length], passkey int64 [digits], key position).
    ``turns``: the filler before and after the passkey block comes in conversation turns (turns_filler) instead
    of one continuous run; False draws exactly the random stream of the plain layout (the Java twin's)."""
    key_block = digits + 2  # <passkey-is> d.. .
    ask_block = digits + 1  # <what-is-the-passkey> d..
    room = length - 1 - key_block - ask_block
    if room < 0:
        raise ValueError(f"length {length} is too short for a {digits}-digit passkey")
    # floor(x + 0.5), Java's Math.round, not Python's round (half to even): the Java twin places the same depth
    # at the same position (depth 0.25 at room 82 is position 21 in both)
    pos = int(rng.integers(room + 1)) if depth is None else int(math.floor(depth * room + 0.5))
    passkey = rng.integers(0, 10, size=digits)
    ids = np.empty(length, dtype=np.int64)
    ids[0] = BOS
    body = np.concatenate([turns_filler(rng, pos), turns_filler(rng, room - pos)]) if turns else filler(rng, room)
    ids[1:1 + pos] = body[:pos]
    k = 1 + pos
    ids[k] = KEY
    ids[k + 1:k + 1 + digits] = passkey
    ids[k + 1 + digits] = DOT
    rest = room - pos
    ids[k + 2 + digits:k + 2 + digits + rest] = body[pos:]
    ids[length - ask_block] = ASK
    ids[length - digits:] = passkey
    return ids, passkey, k


def batch(rng, size, length, digits=5, depth=None, turns=False):
    """ids [size, length], answer mask [size, length] (True where the token is an answer digit, i.e. the
    targets of the logits one position earlier), passkeys [size, digits]. ``turns``: as in sample()."""
    ids = np.empty((size, length), dtype=np.int64)
    keys = np.empty((size, digits), dtype=np.int64)
    for i in range(size):
        ids[i], keys[i], _ = sample(rng, length, digits, depth, turns)
    mask = np.zeros((size, length), dtype=bool)
    mask[:, length - digits:] = True
    return ids, mask, keys


def render(ids):
    """Text of a token sequence (space-separated tokens)."""
    return " ".join(VOCAB[int(i)] for i in ids)


def tokenizer_json():
    """A Hugging Face tokenizers JSON (WordLevel model, whitespace pre-tokenizer; the three markers and
    <unk> are special added tokens, so they are matched before splitting)."""
    added = [{"id": TOKEN_ID[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in ["<bos>", "<passkey-is>", "<what-is-the-passkey>", "<unk>"]]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": dict(TOKEN_ID), "unk_token": "<unk>"},
    }


class JavaSplittableRandom:
    """java.util.SplittableRandom(seed) (SplitMix64 with the golden gamma), as far as passkey.sample uses a
    random source: ``integers(high)`` and ``integers(low, high, size)`` draw one nextInt(bound) per value, in
    order. With it, sample() here and PasskeyTask.sample(new SplittableRandom(seed), ...) in the Java demo lay
    out the same sequence (cli/src/test/resources/passkey-golden.json holds both sides to that)."""
    _GOLDEN_GAMMA = 0x9E3779B97F4A7C15
    _MASK = (1 << 64) - 1

    def __init__(self, seed):
        self._seed = seed & self._MASK

    def next_int(self):
        self._seed = (self._seed + self._GOLDEN_GAMMA) & self._MASK
        z = self._seed
        z = ((z ^ (z >> 33)) * 0x62A9D9ED799705F5) & self._MASK
        z = (((z ^ (z >> 28)) * 0xCB24D0A5C88C35B3) & self._MASK) >> 32
        return z - (1 << 32) if z >= 1 << 31 else z  # Java's (int) cast

    def next_bounded(self, bound):
        """nextInt(bound): RandomSupport.boundedNextInt (power of two: low bits; else rejection on r >>> 1)."""
        if bound <= 0:
            raise ValueError(f"bound {bound}: must be positive")
        r = self.next_int()
        m = bound - 1
        if bound & m == 0:
            return r & m
        u = (r & 0xFFFFFFFF) >> 1
        while True:
            r = u % bound
            if u + m - r < 1 << 31:  # no int overflow in u + m - r
                return r
            u = (self.next_int() & 0xFFFFFFFF) >> 1

    def integers(self, low, high=None, size=None):
        if high is None:
            low, high = 0, low
        if size is None:
            return low + self.next_bounded(high - low)
        return np.array([low + self.next_bounded(high - low) for _ in range(size)], dtype=np.int64)


def golden_cases():
    """Fixed (seed, length, depth) cases and the sequences sample() gives with JavaSplittableRandom(seed): the
    fixture that the Java PasskeyTaskTest compares PasskeyTask against."""
    cases = []
    for seed, length, depth in [(1, 64, 0.0), (2, 64, 1.0), (3, 80, 0.3), (42, 128, 0.5), (7, 512, 0.9),
                                (-5, 96, 0.25), (123456789, 200, 0.75), (9, 33, 0.0)]:
        ids, key, k = sample(JavaSplittableRandom(seed), length, 5, depth)
        cases.append({"seed": seed, "length": length, "depth": depth, "digits": 5, "ids": [int(i) for i in ids],
                      "passkey": [int(d) for d in key], "keyPosition": int(k)})
    return cases
