import json, re, collections, sys
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~")+1)) + list(range(ord("¡"), ord("¬")+1)) + list(range(ord("®"), ord("ÿ")+1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256+n); n += 1
    return dict(zip(bs, [chr(c) for c in cs])), bs
b2u, order = bytes_to_unicode()
corpus = ""
for f in sys.argv[2:]:
    corpus += open(f, encoding="utf-8").read()
words = re.findall(r" ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+", corpus)
counts = collections.Counter("".join(b2u[b] for b in w.encode("utf-8")) for w in words)
vocab = {b2u[b]: i for i, b in enumerate(order)}
splits = {w: list(w) for w in counts}
merges = []
for step in range(int(sys.argv[1])):
    pairs = collections.Counter()
    for w, c in counts.items():
        s = splits[w]
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += c
    if not pairs: break
    (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
    merges.append(f"{a} {b}")
    vocab.setdefault(a + b, len(vocab))
    for w in counts:
        s = splits[w]; i = 0; out = []
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i+1] == b:
                out.append(a + b); i += 2
            else:
                out.append(s[i]); i += 1
        splits[w] = out
n = len(vocab)
added = [
  {"id": n, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": True},
  {"id": n+1, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
  {"id": n+2, "content": "[WORD]", "single_word": True, "lstrip": False, "rstrip": True, "normalized": False, "special": False},
]
for a in added: vocab[a["content"]] = a["id"]
tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                 "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": merges}}
json.dump(tok, open("bpe.json", "w"), ensure_ascii=False)
print(len(vocab), len(merges))
