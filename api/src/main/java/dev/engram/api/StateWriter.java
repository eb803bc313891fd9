package dev.engram.api;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Builds a snapshot payload. Floats are written as raw bits, so a restore is bit-exact. */
public final class StateWriter {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final DataOutputStream out = new DataOutputStream(bytes);

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
        for (int i = 0; i < length; i++) {
            writeInt(Float.floatToRawIntBits(values[offset + i]));
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
