package dev.engram.runtime.text;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.UnaryOperator;

/**
 * A tokenizer read from Hugging Face {@code tokenizer.json}, with the same pipeline as the Rust library:
 * added tokens that are not normalized are split out of the raw text; each remaining piece is normalized and
 * the normalized added tokens are split out of it; the rest is pre-tokenized into words and each word goes
 * through the model (WordLevel or BPE); the post-processor adds the template's special tokens. Decoding maps
 * ids to token strings (added tokens first) and runs the decoder chain, or joins the tokens with spaces when
 * there is no decoder. Built by {@link TokenizerJson}.
 */
final class HfTokenizer implements Tokenizer {
    /** Splits one piece of text into words (possibly transformed, e.g. byte-level); empty words are dropped later. */
    interface PreTokenizer {
        void split(String piece, List<String> out);
    }

    /** Words to ids. */
    interface Model {
        void tokenize(String word, Ids out);

        /** -1 if absent. */
        int id(String token);

        /** null if absent. */
        String token(int id);

        /** Largest id + 1. */
        int size();

        /** The id of the model's unk_token, or -1 if it has none. */
        default int unknownId() {
            return -1;
        }

        String describe();
    }

    /** The decoder chain: token strings to token strings; the result is concatenated. */
    interface Decoder {
        List<String> decodeChain(List<String> tokens);
    }

    /** What {@code added_tokens} holds. */
    record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized,
                      boolean special) {
    }

    /** Matches a set of added tokens in text: leftmost-longest, with single_word, lstrip and rstrip. */
    static final class AddedMatcher {
        private final Map<Character, List<AddedToken>> byFirst = new HashMap<>();
        /** content as matched (the normalized content for normalized tokens) */
        private final Map<AddedToken, String> text = new HashMap<>();

        AddedMatcher(List<AddedToken> tokens, UnaryOperator<String> normalize) {
            for (AddedToken t : tokens) {
                String s = normalize.apply(t.content());
                if (s.isEmpty()) {
                    continue;
                }
                text.put(t, s);
                byFirst.computeIfAbsent(s.charAt(0), k -> new ArrayList<>()).add(t);
            }
            byFirst.values().forEach(l -> l.sort((a, b) -> Integer.compare(text.get(b).length(), text.get(a).length())));
        }

        boolean isEmpty() {
            return byFirst.isEmpty();
        }

        /** Appends to {@code out} the pieces of {@code s}: Integer ids for matched tokens, Strings for the text between. */
        void split(String s, List<Object> out) {
            int offset = 0; // start of the text not yet emitted
            int i = 0;
            while (i < s.length()) {
                List<AddedToken> candidates = byFirst.get(s.charAt(i));
                AddedToken match = null;
                if (candidates != null) {
                    for (AddedToken t : candidates) {
                        if (s.startsWith(text.get(t), i)) {
                            match = t;
                            break;
                        }
                    }
                }
                if (match == null) {
                    i++;
                    continue;
                }
                int start = i;
                int stop = i + text.get(match).length();
                if (match.singleWord()) {
                    boolean wordBefore = start > 0 && Chars.isWordChar(s.codePointBefore(start));
                    boolean wordAfter = stop < s.length() && Chars.isWordChar(s.codePointAt(stop));
                    if (wordBefore || wordAfter) {
                        i = stop; // the matcher has moved past this match (non-overlapping search)
                        continue;
                    }
                }
                if (match.lstrip()) {
                    int j = start;
                    while (j > offset && Chars.isWhitespace(s.codePointBefore(j))) {
                        j -= Character.charCount(s.codePointBefore(j));
                    }
                    start = j;
                }
                if (match.rstrip()) {
                    while (stop < s.length() && Chars.isWhitespace(s.codePointAt(stop))) {
                        stop += Character.charCount(s.codePointAt(stop));
                    }
                }
                if (offset < start) {
                    out.add(s.substring(offset, start));
                }
                out.add(match.id());
                offset = stop;
                i = stop;
            }
            if (offset < s.length()) {
                out.add(s.substring(offset));
            }
        }
    }

    private final List<AddedToken> addedTokens;
    private final Map<Integer, AddedToken> addedById = new HashMap<>();
    private final Map<String, AddedToken> addedByContent = new HashMap<>();
    private final AddedMatcher raw;
    private final AddedMatcher normalizedMatcher;
    private final UnaryOperator<String> normalizer;
    private final PreTokenizer preTokenizer;
    private final Model model;
    private final UnaryOperator<int[]> postProcessor;
    private final Decoder decoder;
    private final String description;
    private final int vocabSize;
    private final Map<String, Integer> postProcessorIds;

    /**
     * @param normalizer    null for none
     * @param preTokenizer  null for none (each piece is one word)
     * @param postProcessor null for none
     * @param postProcessorIds every id the post-processor inserts, by the tokenizer.json field that gives it
     * @param decoder       null: tokens joined with spaces
     */
    HfTokenizer(List<AddedToken> addedTokens, UnaryOperator<String> normalizer, PreTokenizer preTokenizer, Model model,
                UnaryOperator<int[]> postProcessor, Map<String, Integer> postProcessorIds, Decoder decoder, String description) {
        this.addedTokens = List.copyOf(addedTokens);
        this.normalizer = normalizer == null ? UnaryOperator.identity() : normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.postProcessor = postProcessor;
        this.postProcessorIds = Map.copyOf(postProcessorIds);
        this.decoder = decoder;
        this.description = description;
        int size = model.size();
        for (AddedToken t : this.addedTokens) {
            addedById.put(t.id(), t);
            addedByContent.put(t.content(), t);
            size = Math.max(size, t.id() + 1);
        }
        this.vocabSize = size;
        this.raw = new AddedMatcher(this.addedTokens.stream().filter(t -> !t.normalized()).toList(), UnaryOperator.identity());
        this.normalizedMatcher = new AddedMatcher(this.addedTokens.stream().filter(AddedToken::normalized).toList(), this.normalizer);
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        Ids ids = new Ids();
        walk(text, ids::add, w -> model.tokenize(w, ids));
        int[] out = ids.toArray();
        return addSpecialTokens && postProcessor != null ? postProcessor.apply(out) : out;
    }

    /** The words the model sees for {@code text} (added tokens left out), for tests and diagnostics. */
    List<String> words(String text) {
        List<String> out = new ArrayList<>();
        walk(text, id -> { }, out::add);
        return out;
    }

    /** Added tokens to {@code addedToken}, every non-empty pre-tokenized word to {@code word}, in text order. */
    private void walk(String text, java.util.function.IntConsumer addedToken, java.util.function.Consumer<String> word) {
        List<Object> pieces = new ArrayList<>();
        raw.split(text, pieces);
        List<Object> normalized = new ArrayList<>();
        List<String> words = new ArrayList<>();
        for (Object p : pieces) {
            if (p instanceof Integer id) {
                addedToken.accept(id);
                continue;
            }
            normalized.clear();
            String n = normalizer.apply((String) p);
            if (normalizedMatcher.isEmpty()) {
                normalized.add(n);
            } else {
                normalizedMatcher.split(n, normalized);
            }
            for (Object q : normalized) {
                if (q instanceof Integer id) {
                    addedToken.accept(id);
                    continue;
                }
                String piece = (String) q;
                if (piece.isEmpty()) {
                    continue;
                }
                words.clear();
                if (preTokenizer == null) {
                    words.add(piece);
                } else {
                    preTokenizer.split(piece, words);
                }
                for (String w : words) {
                    if (!w.isEmpty()) {
                        word.accept(w);
                    }
                }
            }
        }
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            AddedToken a = addedById.get(id);
            String t = a != null ? a.content() : model.token(id);
            if (t == null || (skipSpecialTokens && a != null && a.special())) {
                continue;
            }
            tokens.add(t);
        }
        if (decoder == null) {
            return String.join(" ", tokens);
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public OptionalInt unknownTokenId() {
        int id = model.unknownId();
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public OptionalInt tokenId(String token) {
        AddedToken a = addedByContent.get(token);
        if (a != null) {
            return OptionalInt.of(a.id());
        }
        int id = model.id(token);
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /**
     * Every id the post-processor inserts (a template's special tokens, Bert's cls and sep), by the field that gives
     * it, for the range check against the model's vocabulary: they need not be in the vocabulary or added tokens.
     */
    Map<String, Integer> postProcessorIds() {
        return postProcessorIds;
    }

    /** Every id this tokenizer can produce or decode (model vocabulary and added tokens), for range checks. */
    int maxId() {
        return vocabSize - 1;
    }

    /** A token string for messages. */
    String tokenString(int id) {
        AddedToken a = addedById.get(id);
        return a != null ? a.content() : model.token(id);
    }

    List<AddedToken> addedTokens() {
        return addedTokens;
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public String toString() {
        return description;
    }
}
