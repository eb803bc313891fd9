package dev.engram.api;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Builds a snapshot payload. Floats are written as raw bits, so a restore is bit-exact.
 *
 * <p>The writer also keeps the payload's {@link #layout()}: which bytes each written value occupies, with the name
 * given by {@link #name} where the provider gives one. It is not part of the bytes; the test kit uses it to say
 * which piece of state differs ("field 'memory' element 17") instead of a byte offset.
 */
public final class StateWriter {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final DataOutputStream out = new DataOutputStream(bytes);
    private static final int CHUNK_FLOATS = 4096;
    private ByteBuffer chunk;
    private final java.util.List<Field> layout = new java.util.ArrayList<>();
    private String nextName;

    /**
     * One written value: {@code kind} is int, long, boolean, double, floats, ints or longs; {@code start} its first byte
     * in the payload, {@code length} its bytes (an array's count prefix included); {@code name} null unless given.
     */
    public record Field(String name, String kind, int start, int length) {
        /** "'memory' (floats)" or "field 2 (floats)". */
        public String describe(int index) {
            return (name != null ? "'" + name + "'" : "field " + index) + " (" + kind + ")";
        }
    }

    /** Names the next value written, for diagnostics only (the bytes do not change). */
    public StateWriter name(String field) {
        this.nextName = java.util.Objects.requireNonNull(field, "field is null");
        return this;
    }

    /** Every value written so far, in order. */
    public java.util.List<Field> layout() {
        return java.util.List.copyOf(layout);
    }

    private StateWriter record(String kind, int start) {
        layout.add(new Field(nextName, kind, start, bytes.size() - start));
        nextName = null;
        return this;
    }

    public StateWriter writeInt(int value) {
        int start = bytes.size();
        writeRawInt(value);
        return record("int", start);
    }

    private void writeRawInt(int value) {
        try {
            out.writeInt(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeRawLong(long value) {
        try {
            out.writeLong(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public StateWriter writeLong(long value) {
        int start = bytes.size();
        writeRawLong(value);
        return record("long", start);
    }

    public StateWriter writeBoolean(boolean value) {
        int start = bytes.size();
        writeRawInt(value ? 1 : 0);
        return record("boolean", start);
    }

    public StateWriter writeDouble(double value) {
        int start = bytes.size();
        writeRawLong(Double.doubleToRawLongBits(value));
        return record("double", start);
    }

    /** Writes the length, then {@code length} floats of {@code values} from {@code offset}. */
    public StateWriter writeFloats(float[] values, int offset, int length) {
        int start = bytes.size();
        writeRawInt(length);
        // Big-endian raw bits, exactly what DataOutputStream.writeInt gives, but a chunk per write: a snapshot
        // of a large cache is taken on every decoded token inside a segment, and four single-byte writes per
        // float made it the decode path's hot spot.
        if (chunk == null) {
            chunk = ByteBuffer.allocate(CHUNK_FLOATS * Float.BYTES);
        }
        for (int done = 0; done < length; ) {
            int n = Math.min(CHUNK_FLOATS, length - done);
            chunk.clear();
            for (int i = 0; i < n; i++) {
                chunk.putInt(Float.floatToRawIntBits(values[offset + done + i]));
            }
            bytes.write(chunk.array(), 0, n * Float.BYTES);
            done += n;
        }
        return record("floats", start);
    }

    public StateWriter writeFloats(float[] values) {
        return writeFloats(values, 0, values.length);
    }

    /** Writes the length, then the ints. */
    public StateWriter writeInts(int[] values) {
        int start = bytes.size();
        writeRawInt(values.length);
        for (int v : values) {
            writeRawInt(v);
        }
        return record("ints", start);
    }

    public StateWriter writeLongs(long[] values) {
        int start = bytes.size();
        writeRawInt(values.length);
        for (long v : values) {
            writeRawLong(v);
        }
        return record("longs", start);
    }

    public byte[] toBytes() {
        return bytes.toByteArray();
    }
}
