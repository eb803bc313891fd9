package dev.engram.runtime.text;

import java.util.Arrays;

/**
 * The generic {@link Tokenizer.StreamDecoder}: decodes a window of the ids, from one already-printed id of
 * context to the newest, and emits what is new in it. Decoders whose output for a prefix of the ids is a prefix of
 * the output for all of them (every decoder this package supports, except at a trailing incomplete UTF-8
 * sequence, which shows as U+FFFD and is held back) stream exactly the text {@code decode} gives for the whole
 * sequence. The context id keeps what depends on position right (a SentencePiece "▁" is a space except at the
 * start); the window slides whenever nothing is held back, so a push decodes a few ids, not all of them.
 */
final class PrefixStreamDecoder implements Tokenizer.StreamDecoder {
    private static final char REPLACEMENT = '\uFFFD';
    /** A UTF-8 sequence is at most 4 bytes: at most 3 trailing bytes can still be completed. */
    private static final int MAX_HELD = 3;

    private final Tokenizer tokenizer;
    private int[] ids = new int[16];
    private int count;
    /** The window is ids [start, count); {@code emitted} is the part of its text already returned (or context). */
    private int start;
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
        String all = window();
        int stable = all.length();
        int held = 0;
        while (stable > 0 && held < MAX_HELD && all.charAt(stable - 1) == REPLACEMENT) {
            stable--;
            held++;
        }
        String fresh = advance(all.substring(0, stable));
        if (held == 0 && emitted.equals(all)) {
            // Everything so far is printed and ends on a whole character: the newest id is the next window's context.
            start = count - 1;
            emitted = window();
        }
        return fresh;
    }

    @Override
    public String finish() {
        String rest = advance(window());
        count = 0;
        start = 0;
        emitted = "";
        return rest;
    }

    private String window() {
        return tokenizer.decode(Arrays.copyOfRange(ids, start, count));
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
