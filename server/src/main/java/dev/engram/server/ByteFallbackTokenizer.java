package dev.engram.server;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The text fallback used until Engram reads {@code tokenizer.json}: text is UTF-8 encoded and each
 * byte {@code b} (0..255) becomes token id {@code b mod vocabSize}; a token id {@code t < 256} decodes
 * to the byte {@code t}, ids >= 256 decode to U+FFFD. With vocabSize >= 256 this is exactly byte-level
 * (lossless both ways); with a smaller vocabulary encoding is lossy (bytes fold onto the vocabulary)
 * and the decoded text is the ids as bytes, usually control characters: send token ids and read
 * {@code token_ids} in the response for such models.
 */
final class ByteFallbackTokenizer {
    private final int vocab;

    ByteFallbackTokenizer(int vocab) {
        this.vocab = vocab;
    }

    boolean lossless() {
        return vocab >= 256;
    }

    int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = (bytes[i] & 0xff) % vocab;
        }
        return ids;
    }

    String decode(int[] ids) {
        Decoder d = new Decoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            sb.append(d.push(id));
        }
        return sb.append(d.finish()).toString();
    }

    /** Incremental decoding: a multi-byte character appears once its last byte arrives. */
    static final class Decoder {
        private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteBuffer in = ByteBuffer.allocate(8);
        private final CharBuffer out = CharBuffer.allocate(16);

        String push(int id) {
            if (id >= 256) {
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

        String finish() {
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
