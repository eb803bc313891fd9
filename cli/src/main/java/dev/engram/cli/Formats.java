package dev.engram.cli;

import dev.engram.cli.bench.ProcessMemory;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.text.ByteTokenizer;
import dev.engram.runtime.text.Tokenizer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Formatting shared by run, generate and inspect. */
final class Formats {
    private Formats() {
    }

    /** Token counts as written on the command line: "4096", "4K" (x1024), "1M"; {@code option} names the option in errors. */
    static java.util.List<Integer> tokenCounts(String option, java.util.List<String> given) {
        java.util.List<Integer> out = new java.util.ArrayList<>();
        for (String g : given) {
            String t = g.trim().toUpperCase(java.util.Locale.ROOT);
            long mult = t.endsWith("K") ? 1024 : t.endsWith("M") ? 1024 * 1024 : 1;
            try {
                long v = Long.parseLong(mult == 1 ? t : t.substring(0, t.length() - 1)) * mult;
                if (v < 1 || v > Integer.MAX_VALUE) {
                    throw new NumberFormatException();
                }
                out.add((int) v);
            } catch (NumberFormatException e) {
                throw dev.engram.api.InvalidInputException.outOfRange(option, g, "positive token counts like 1024 or 4K");
            }
        }
        return out;
    }

    static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format("%.2f MiB", bytes / 1048576.0);
    }

    /** "state 1.00 MiB (1048576 bytes), heap 20.00 MiB (after GC), RSS 221.00 MiB" */
    static String memory(ModelSequence sequence) {
        long state = sequence.stateBytes();
        System.gc();
        Runtime rt = Runtime.getRuntime();
        long heap = rt.totalMemory() - rt.freeMemory();
        return "memory state " + mib(state) + " (" + state + " bytes), JVM heap " + mib(heap) + " (after GC), process RSS "
                + mib(ProcessMemory.rssBytes());
    }

    /** A token for display: its text, quoted and escaped, or nothing where the tokenizer is a lossy byte fallback. */
    static String tokenText(Tokenizer t, int id) {
        if (t instanceof ByteTokenizer b && !b.lossless()) {
            return "";
        }
        return " " + quote(t.decode(new int[] {id}));
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (c == '"' || c == '\\') {
                sb.append('\\').appendCodePoint(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (Character.isISOControl(c)) {
                sb.append(String.format("\\u%04x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.append('"').toString();
    }

    /** A PrintStream over a PrintWriter (the progress bar writes to a PrintStream; picocli gives writers). */
    static PrintStream stream(PrintWriter w) {
        return new PrintStream(new OutputStream() {
            private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
            private final ByteBuffer in = ByteBuffer.allocate(4096);
            private final CharBuffer out = CharBuffer.allocate(4096);

            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public synchronized void write(byte[] b, int off, int len) {
                while (len > 0) {
                    int n = Math.min(len, in.remaining());
                    in.put(b, off, n);
                    off += n;
                    len -= n;
                    in.flip();
                    out.clear();
                    utf8.decode(in, out, false);
                    in.compact();
                    out.flip();
                    w.append(out);
                }
            }

            @Override
            public void flush() {
                w.flush();
            }
        }, true, StandardCharsets.UTF_8);
    }
}
