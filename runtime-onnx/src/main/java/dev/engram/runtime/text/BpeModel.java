package dev.engram.runtime.text;

import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model as the Rust tokenizers library runs it: a word starts as its characters (with
 * {@code continuing_subword_prefix} on all but the first and {@code end_of_word_suffix} on the last); a character
 * missing from the vocabulary becomes its {@code <0xXX>} byte tokens ({@code byte_fallback}), else
 * {@code unk_token} (consecutive ones fused with {@code fuse_unk}), else it is dropped. Then, repeatedly, the
 * adjacent pair with the lowest merge rank is merged (the leftmost one among equal ranks) until no pair has a
 * merge. {@code ignore_merges}: a word that is itself in the vocabulary is that one token.
 */
final class BpeModel implements HfTokenizer.Model {
    private static final int CACHE_LIMIT = 10_000;

    /** A merge: pair (left id, right id) -> rank and the merged token's id. */
    record Merge(int rank, int newId) {
    }

    private final Vocab vocab;
    private final Map<Long, Merge> merges;
    private final String unkToken;
    private final String prefix;
    private final String suffix;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final int[] byteIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    BpeModel(Map<String, Integer> vocab, Map<Long, Merge> merges, String unkToken, String prefix, String suffix,
             boolean fuseUnk, boolean byteFallback, boolean ignoreMerges) {
        this.vocab = new Vocab(vocab);
        this.merges = new HashMap<>(merges);
        this.unkToken = unkToken;
        this.prefix = prefix;
        this.suffix = suffix;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        for (int b = 0; b < 256; b++) {
            byteIds[b] = id(String.format("<0x%02X>", b));
        }
    }

    static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xffffffffL);
    }

    @Override
    public void tokenize(String word, Ids out) {
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = merge(word);
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(word, ids);
        }
        out.addAll(ids);
    }

    private int[] merge(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        Ids symbols = new Ids();
        int unk = -1; // a pending unk id (fused while fuse_unk)
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int end = i + Character.charCount(cp);
            String s = word.substring(i, end);
            if (i > 0 && prefix != null) {
                s = prefix + s;
            }
            if (end == word.length() && suffix != null) {
                s = s + suffix;
            }
            i = end;
            Integer id = vocab.get(s);
            if (id != null) {
                if (unk >= 0) {
                    symbols.add(unk);
                    unk = -1;
                }
                symbols.add(id);
                continue;
            }
            if (byteFallback && bytesKnown(s)) {
                // As the Rust library does: a pending unk is not flushed here, so it lands after these bytes.
                // Models were trained on that order, so it is kept.
                for (byte b : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                    symbols.add(byteIds[b & 0xff]);
                }
                continue;
            }
            if (unkToken != null) {
                Integer unkId = vocab.get(unkToken); // checked on load: present
                if (unk >= 0 && !fuseUnk) {
                    symbols.add(unk);
                }
                unk = unkId;
            }
            // no unk_token: the character is dropped, as the Rust library does
        }
        if (unk >= 0) {
            symbols.add(unk);
        }
        return mergeAll(symbols);
    }

    private boolean bytesKnown(String s) {
        for (byte b : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            if (byteIds[b & 0xff] < 0) {
                return false;
            }
        }
        return true;
    }

    /** Merges by rank with a priority queue over a linked list of symbols (lowest rank, then leftmost, first). */
    private int[] mergeAll(Ids symbols) {
        int n = symbols.size();
        int[] c = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] gone = new boolean[n];
        for (int i = 0; i < n; i++) {
            c[i] = symbols.get(i);
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        // entries: rank, pos, newId
        PriorityQueue<int[]> queue = new PriorityQueue<>((a, b) -> a[0] != b[0] ? Integer.compare(a[0], b[0]) : Integer.compare(a[1], b[1]));
        for (int i = 0; i + 1 < n; i++) {
            Merge m = merges.get(pair(c[i], c[i + 1]));
            if (m != null) {
                queue.add(new int[] {m.rank(), i, m.newId()});
            }
        }
        while (!queue.isEmpty()) {
            int[] top = queue.poll();
            int pos = top[1];
            if (gone[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            Merge current = merges.get(pair(c[pos], c[right]));
            if (current == null || current.newId() != top[2]) {
                continue; // expired entry
            }
            c[pos] = top[2];
            gone[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                Merge m = merges.get(pair(c[prev[pos]], c[pos]));
                if (m != null) {
                    queue.add(new int[] {m.rank(), prev[pos], m.newId()});
                }
            }
            if (next[pos] >= 0) {
                Merge m = merges.get(pair(c[pos], c[next[pos]]));
                if (m != null) {
                    queue.add(new int[] {m.rank(), pos, m.newId()});
                }
            }
        }
        Ids out = new Ids();
        for (int i = 0; i < n; i++) {
            if (!gone[i]) {
                out.add(c[i]);
            }
        }
        return out.toArray();
    }

    @Override
    public int unknownId() {
        return unkToken == null ? -1 : vocab.id(unkToken);
    }

    @Override
    public int id(String token) {
        return vocab.id(token);
    }

    @Override
    public String token(int id) {
        return vocab.token(id);
    }

    @Override
    public int size() {
        return vocab.size();
    }

    @Override
    public String describe() {
        return "BPE (" + vocab.entries() + " tokens, " + merges.size() + " merges"
                + (unkToken == null ? "" : ", unk '" + unkToken + "'") + (byteFallback ? ", byte_fallback" : "") + ")";
    }
}
