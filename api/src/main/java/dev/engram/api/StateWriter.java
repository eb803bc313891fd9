package dev.engram.api;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Builds a snapshot payload. Floats are written as raw bits, so a restore is bit-exact. */
public final class StateWriter {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final DataOutputStream out = new DataOutputStream(bytes);
    private static final int CHUNK_FLOATS = 4096;
    private ByteBuffer chunk;

    public StateWriter writeInt(int value) {
        try {
            out.writeInt(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public StateWriter writeLong(long value) {
        try {
            out.writeLong(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public StateWriter writeBoolean(boolean value) {
        return writeInt(value ? 1 : 0);
    }

    public StateWriter writeDouble(double value) {
        return writeLong(Double.doubleToRawLongBits(value));
    }

    /** Writes the length, then {@code length} floats of {@code values} from {@code offset}. */
    public StateWriter writeFloats(float[] values, int offset, int length) {
        writeInt(length);
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
        return this;
    }

    public StateWriter writeFloats(float[] values) {
        return writeFloats(values, 0, values.length);
    }

    public StateWriter writeLongs(long[] values) {
        writeInt(values.length);
        for (long v : values) {
            writeLong(v);
        }
        return this;
    }

    public byte[] toBytes() {
        return bytes.toByteArray();
    }
}
