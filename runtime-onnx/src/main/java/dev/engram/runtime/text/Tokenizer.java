package dev.engram.runtime.text;

import java.util.OptionalInt;

/**
 * Text to token ids and back. A model package's {@code tokenizer.json} is read by {@link TokenizerJson}
 * (Hugging Face tokenizers format: WordLevel and BPE models); a package without one gets the
 * {@link ByteTokenizer} fallback. Implementations are immutable and thread-safe; a {@link StreamDecoder}
 * belongs to one thread.
 */
public interface Tokenizer {
    /** {@code encode(text, true)}. */
    default int[] encode(String text) {
        return encode(text, true);
    }

    /**
     * The token ids of {@code text}.
     *
     * @param addSpecialTokens apply the tokenizer's post-processor (for example a leading {@code <s>}); pass false
     *                         when the text continues a sequence that already has them
     */
    int[] encode(String text, boolean addSpecialTokens);

    /** {@code decode(ids, false)}: special tokens are kept, so that encode then decode can round-trip. */
    default String decode(int[] ids) {
        return decode(ids, false);
    }

    /** The text of {@code ids}; ids the tokenizer does not know are left out (as Hugging Face tokenizers do). */
    String decode(int[] ids, boolean skipSpecialTokens);

    /** One more than the largest id this tokenizer can produce or decode. */
    int vocabSize();

    /** The id of one token given by its exact string (an added token or a vocabulary entry), if there is one. */
    OptionalInt tokenId(String token);

    /**
     * The id of the token that stands for text the vocabulary cannot spell (a WordLevel or BPE {@code unk_token}),
     * if the tokenizer has one. Text mapped to it is not lost silently: callers report {@link #unknownTokens}.
     */
    default OptionalInt unknownTokenId() {
        return OptionalInt.empty();
    }

    /** How many of {@code ids} are {@link #unknownTokenId()} (0 for a tokenizer without one). */
    default int unknownTokens(int[] ids) {
        OptionalInt unk = unknownTokenId();
        if (unk.isEmpty()) {
            return 0;
        }
        int n = 0;
        for (int id : ids) {
            n += id == unk.getAsInt() ? 1 : 0;
        }
        return n;
    }

    /** One line for the CLI: what kind of tokenizer and its size. */
    String description();

    /**
     * Incremental decoding for streaming output: text appears as soon as it is stable. The default
     * decodes a sliding window of the ids (the newest plus one already-printed id of context) on each push and
     * returns what was added, holding back a trailing U+FFFD (an incomplete UTF-8 sequence that a later byte may
     * complete).
     */
    default StreamDecoder streamDecoder() {
        return new PrefixStreamDecoder(this);
    }

    /** Decodes a stream of ids piece by piece; not thread-safe. */
    interface StreamDecoder {
        /** Feeds one id; returns the text that became stable (possibly empty). */
        String push(int id);

        /** Ends the stream; returns whatever was held back. */
        String finish();
    }
}
