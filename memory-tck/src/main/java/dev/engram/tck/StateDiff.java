package dev.engram.tck;

import dev.engram.api.Snapshot;
import dev.engram.api.StateWriter;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/** Says where two serialised snapshots differ, by the state's own field names where the provider gave them. */
final class StateDiff {
    private StateDiff() {
    }

    /**
     * The first difference between {@code expected} and {@code actual} (both {@link Snapshot#toBytes()}), or null
     * when they are equal. {@code layout} is the actual snapshot's payload layout ({@link StateWriter#layout()});
     * it is used only when it covers the actual payload exactly.
     */
    static String describe(byte[] expected, byte[] actual, List<StateWriter.Field> layout) {
        if (Arrays.equals(expected, actual)) {
            return null;
        }
        Snapshot e = Snapshot.fromBytes(expected);
        Snapshot a = Snapshot.fromBytes(actual);
        if (!e.provider().equals(a.provider()) || e.stateVersion() != a.stateVersion() || !e.spec().equals(a.spec())) {
            return "the snapshot headers differ: expected " + e.provider() + " v" + e.stateVersion() + " " + e.spec()
                    + " but was " + a.provider() + " v" + a.stateVersion() + " " + a.spec();
        }
        byte[] pe = e.payload();
        byte[] pa = a.payload();
        int at = Arrays.mismatch(pe, pa);
        String sizes = pe.length == pa.length ? "" : " (payloads of " + pe.length + " and " + pa.length + " bytes)";
        boolean usable = !layout.isEmpty() && layout.get(layout.size() - 1).start() + layout.get(layout.size() - 1).length() == pa.length;
        if (!usable) {
            return "the state differs at payload byte " + at + sizes;
        }
        for (int i = 0; i < layout.size(); i++) {
            StateWriter.Field f = layout.get(i);
            if (at < f.start() || at >= f.start() + f.length()) {
                continue;
            }
            String name = "state " + f.describe(i) + ", value " + (i + 1) + " of " + layout.size();
            return name + " differs" + detail(f, pe, pa, at) + sizes;
        }
        return "the state differs after its last value (payload byte " + at + ")" + sizes;
    }

    private static String detail(StateWriter.Field f, byte[] pe, byte[] pa, int at) {
        int offset = at - f.start();
        switch (f.kind()) {
            case "floats", "longs", "ints" -> {
                int width = f.kind().equals("longs") ? Long.BYTES : Integer.BYTES;
                if (offset < Integer.BYTES) {
                    return " in length: expected " + readInt(pe, f.start()) + " but was " + readInt(pa, f.start());
                }
                int element = (offset - Integer.BYTES) / width;
                int pos = f.start() + Integer.BYTES + element * width;
                return " at element " + element + ": expected " + value(pe, pos, width, f.kind()) + " but was "
                        + value(pa, pos, width, f.kind());
            }
            case "int", "boolean" -> {
                return ": expected " + value(pe, f.start(), Integer.BYTES, "ints") + " but was "
                        + value(pa, f.start(), Integer.BYTES, "ints");
            }
            default -> {
                return ": expected " + value(pe, f.start(), Long.BYTES) + " but was " + value(pa, f.start(), Long.BYTES);
            }
        }
    }

    private static String readInt(byte[] b, int pos) {
        return pos + Integer.BYTES <= b.length ? String.valueOf(ByteBuffer.wrap(b, pos, Integer.BYTES).getInt()) : "(absent)";
    }

    private static String value(byte[] b, int pos, int width) {
        return value(b, pos, width, width == Float.BYTES ? "floats" : "longs");
    }

    private static String value(byte[] b, int pos, int width, String kind) {
        if (pos + width > b.length) {
            return "(absent)";
        }
        ByteBuffer buf = ByteBuffer.wrap(b, pos, width);
        return switch (kind) {
            case "floats" -> String.valueOf(buf.getFloat());
            case "ints" -> String.valueOf(buf.getInt());
            default -> String.valueOf(buf.getLong());
        };
    }
}
