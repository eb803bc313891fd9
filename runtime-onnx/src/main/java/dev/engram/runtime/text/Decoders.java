package dev.engram.runtime.text;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The decoder steps of tokenizer.json, each as the Rust library's {@code decode_chain}. */
final class Decoders {
    private Decoders() {
    }

    /** All tokens to bytes through the byte-level alphabet (a token with a character outside it: its UTF-8), lossy UTF-8. */
    static List<String> byteLevel(List<String> tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String t : tokens) {
            byte[] mapped = new byte[t.length()];
            boolean all = true;
            for (int i = 0; i < t.length(); i++) {
                int b = ByteLevel.byteOf(t.charAt(i));
                if (b < 0) {
                    all = false;
                    break;
                }
                mapped[i] = (byte) b;
            }
            byte[] out = all ? mapped : t.getBytes(StandardCharsets.UTF_8);
            bytes.write(out, 0, out.length);
        }
        return List.of(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
    }

    /** {@code <0xXX>} tokens to bytes; each run of them becomes its UTF-8 text, or one U+FFFD per byte if invalid. */
    static List<String> byteFallback(List<String> tokens) {
        List<String> out = new ArrayList<>();
        ByteArrayOutputStream run = new ByteArrayOutputStream();
        for (String t : tokens) {
            int b = byteToken(t);
            if (b >= 0) {
                run.write(b);
                continue;
            }
            flush(run, out);
            out.add(t);
        }
        flush(run, out);
        return out;
    }

    private static int byteToken(String t) {
        if (t.length() == 6 && t.startsWith("<0x") && t.endsWith(">")) {
            try {
                return Integer.parseInt(t.substring(3, 5), 16);
            } catch (NumberFormatException e) {
                return -1;
            }
        }
        return -1;
    }

    private static void flush(ByteArrayOutputStream run, List<String> out) {
        if (run.size() == 0) {
            return;
        }
        byte[] b = run.toByteArray();
        try {
            out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString());
        } catch (CharacterCodingException e) {
            for (int i = 0; i < b.length; i++) {
                out.add("\uFFFD");
            }
        }
        run.reset();
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters from each token. */
    static List<String> strip(List<String> tokens, String content, int start, int stop) {
        int c = content.codePointAt(0);
        List<String> out = new ArrayList<>(tokens.size());
        for (String t : tokens) {
            int from = 0;
            for (int i = 0; i < start && from < t.length() && t.codePointAt(from) == c; i++) {
                from += Character.charCount(c);
            }
            int to = t.length();
            for (int i = 0; i < stop && to > from && t.codePointBefore(to) == c; i++) {
                to -= Character.charCount(c);
            }
            out.add(t.substring(from, to));
        }
        return out;
    }

    /** The end-of-word suffix becomes a space, except on the last token, where it is removed. */
    static List<String> bpeSuffix(List<String> tokens, String suffix) {
        List<String> out = new ArrayList<>(tokens.size());
        for (int i = 0; i < tokens.size(); i++) {
            out.add(tokens.get(i).replace(suffix, i == tokens.size() - 1 ? "" : " "));
        }
        return out;
    }
}
