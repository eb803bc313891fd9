package dev.engram.runtime.text;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

/**
 * The fallback for packages without {@code tokenizer.json}: text is UTF-8 encoded and each byte {@code b}
 * (0..255) becomes token id {@code b mod vocabSize} (so {@code b} itself when vocabSize >= 256); a token id
 * {@code t < 256} decodes to the byte {@code t}, ids >= 256 decode to U+FFFD, and malformed UTF-8 decodes to
 * U+FFFD. With vocabSize >= 256 this is exactly byte-level and lossless both ways; with a smaller vocabulary
 * encoding is lossy (bytes fold onto the vocabulary) and decoded text is the ids as bytes, usually control
 * characters.
 */
public final class ByteTokenizer implements Tokenizer {
    private final int vocab;

    /** @param vocabSize the model's vocabulary size, >= 1 */
    public ByteTokenizer(int vocabSize) {
        if (vocabSize < 1) {
            throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
        }
        this.vocab = vocabSize;
    }

    /** Whether encoding keeps every byte (vocabSize >= 256). */
    public boolean lossless() {
        return vocab >= 256;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = (bytes[i] & 0xff) % vocab;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        StreamDecoder d = streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            sb.append(d.push(id));
        }
        return sb.append(d.finish()).toString();
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    /** A one-character string whose UTF-8 form is one byte below the vocabulary size maps to that byte. */
    @Override
    public OptionalInt tokenId(String token) {
        byte[] b = token.getBytes(StandardCharsets.UTF_8);
        return b.length == 1 && (b[0] & 0xff) < vocab ? OptionalInt.of(b[0] & 0xff) : OptionalInt.empty();
    }

    @Override
    public String description() {
        return "byte fallback (no tokenizer.json): UTF-8 bytes, id = byte" + (lossless() ? "" : " mod " + vocab + " (lossy)");
    }

    @Override
    public StreamDecoder streamDecoder() {
        return new Utf8StreamDecoder();
    }

    /** Incremental decoding: a multi-byte character appears once its last byte arrives. */
    static final class Utf8StreamDecoder implements StreamDecoder {
        private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteBuffer in = ByteBuffer.allocate(8);
        private final CharBuffer out = CharBuffer.allocate(16);

        @Override
        public String push(int id) {
            if (id < 0 || id >= 256) {
                return finish() + "\uFFFD";
            }
            in.put((byte) id);
            in.flip();
            out.clear();
            utf8.decode(in, out, false);
            in.compact();
            out.flip();
            return out.toString();
        }

        @Override
        public String finish() {
            in.flip();
            out.clear();
            utf8.decode(in, out, true);
            utf8.flush(out);
            utf8.reset();
            in.clear();
            out.flip();
            return out.toString();
        }
    }
}
