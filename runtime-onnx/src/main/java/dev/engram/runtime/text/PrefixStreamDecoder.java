package dev.engram.runtime.text;

import java.util.Arrays;

/**
 * The generic {@link Tokenizer.StreamDecoder}: re-decodes every id so far and emits the new suffix. Decoders
 * whose output for a prefix of the ids is a prefix of the output for all of them (every decoder this package
 * supports, except at a trailing incomplete UTF-8 sequence, which shows as U+FFFD and is held back) stream
 * exactly the text {@code decode} gives for the whole sequence. Cost: one decode of the ids so far per push.
 */
final class PrefixStreamDecoder implements Tokenizer.StreamDecoder {
    private static final char REPLACEMENT = '\uFFFD';
    /** A UTF-8 sequence is at most 4 bytes: at most 3 trailing bytes can still be completed. */
    private static final int MAX_HELD = 3;

    private final Tokenizer tokenizer;
    private int[] ids = new int[16];
    private int count;
    private String emitted = "";

    PrefixStreamDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public String push(int id) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, 2 * count);
        }
        ids[count++] = id;
        String all = tokenizer.decode(Arrays.copyOf(ids, count));
        int stable = all.length();
        int held = 0;
        while (stable > 0 && held < MAX_HELD && all.charAt(stable - 1) == REPLACEMENT) {
            stable--;
            held++;
        }
        return advance(all.substring(0, stable));
    }

    @Override
    public String finish() {
        String rest = advance(tokenizer.decode(Arrays.copyOf(ids, count)));
        count = 0;
        emitted = "";
        return rest;
    }

    private String advance(String text) {
        if (text.startsWith(emitted)) {
            String fresh = text.substring(emitted.length());
            emitted = text;
            return fresh;
        }
        // Not prefix-stable (the decoder rewrote earlier text): what was printed stays printed; go on after it.
        String fresh = text.length() > emitted.length() ? text.substring(emitted.length()) : "";
        if (!fresh.isEmpty()) {
            emitted = text;
        }
        return fresh;
    }
}
