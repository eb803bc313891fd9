package dev.engram.api;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;

/**
 * Reads a snapshot payload written by {@link StateWriter}. Every read is bounds-checked: a short or
 * inconsistent payload is a {@link SnapshotException}, never an array overflow or a huge allocation.
 * Implementations read into fresh arrays and swap them in only when the whole payload parsed, so a
 * bad snapshot leaves the memory as it was.
 */
public final class StateReader {
    private final ByteBuffer in;

    public StateReader(byte[] payload) {
        this.in = ByteBuffer.wrap(payload);
    }

    public int readInt() {
        try {
            return in.getInt();
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("snapshot.payload is truncated", e);
        }
    }

    public long readLong() {
        try {
            return in.getLong();
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("snapshot.payload is truncated", e);
        }
    }

    public boolean readBoolean() {
        int v = readInt();
        if (v != 0 && v != 1) {
            throw new SnapshotException("snapshot.payload holds " + v + " where a boolean (0 or 1) belongs");
        }
        return v == 1;
    }

    public double readDouble() {
        return Double.longBitsToDouble(readLong());
    }

    /** Reads a float array written by {@link StateWriter#writeFloats}, requiring {@code expectedLength} values. */
    public float[] readFloats(String field, int expectedLength) {
        int length = readInt();
        if (length != expectedLength) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; expected " + expectedLength);
        }
        return readFloatsOfLength(field, length);
    }

    /** Reads a float array of any length up to {@code maxLength}. */
    public float[] readFloatsUpTo(String field, int maxLength) {
        int length = readInt();
        if (length < 0 || length > maxLength) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; valid: [0, " + maxLength + "]");
        }
        return readFloatsOfLength(field, length);
    }

    private float[] readFloatsOfLength(String field, int length) {
        if ((long) length * 4 > in.remaining()) {
            throw new SnapshotException("snapshot." + field + " claims " + length + " values but only "
                    + in.remaining() + " bytes remain");
        }
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = Float.intBitsToFloat(in.getInt());
        }
        return values;
    }

    /** Reads an int array written by {@link StateWriter#writeInts}, requiring {@code expectedLength} values. */
    public int[] readInts(String field, int expectedLength) {
        int length = readInt();
        if (length != expectedLength) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; expected " + expectedLength);
        }
        return readIntsOfLength(field, length);
    }

    /** Reads an int array of any length up to {@code maxLength}. */
    public int[] readIntsUpTo(String field, int maxLength) {
        int length = readInt();
        if (length < 0 || length > maxLength) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; valid: [0, " + maxLength + "]");
        }
        return readIntsOfLength(field, length);
    }

    private int[] readIntsOfLength(String field, int length) {
        if ((long) length * Integer.BYTES > in.remaining()) {
            throw new SnapshotException("snapshot." + field + " claims " + length + " values but only "
                    + in.remaining() + " bytes remain");
        }
        int[] values = new int[length];
        for (int i = 0; i < length; i++) {
            values[i] = in.getInt();
        }
        return values;
    }

    /** Reads a long array written by {@link StateWriter#writeLongs}, requiring {@code expectedLength} values. */
    public long[] readLongs(String field, int expectedLength) {
        int length = readInt();
        if (length != expectedLength) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; expected " + expectedLength);
        }
        if ((long) length * Long.BYTES > in.remaining()) {
            throw new SnapshotException("snapshot." + field + " claims " + length + " values but only "
                    + in.remaining() + " bytes remain");
        }
        long[] values = new long[length];
        for (int i = 0; i < length; i++) {
            values[i] = in.getLong();
        }
        return values;
    }

    public long[] readLongsUpTo(String field, int maxLength) {
        int length = readInt();
        if (length < 0 || length > maxLength || (long) length * 8 > in.remaining()) {
            throw new SnapshotException("snapshot." + field + " has " + length + " values; valid: [0, "
                    + Math.min(maxLength, in.remaining() / 8) + "]");
        }
        long[] values = new long[length];
        for (int i = 0; i < length; i++) {
            values[i] = in.getLong();
        }
        return values;
    }

    /** Whether the whole payload was read (a field written only in some configurations may follow otherwise). */
    public boolean atEnd() {
        return !in.hasRemaining();
    }

    /** Fails unless the whole payload was consumed (trailing bytes mean a layout mismatch). */
    public void requireEnd() {
        if (in.hasRemaining()) {
            throw new SnapshotException("snapshot.payload has " + in.remaining() + " unread bytes: layout mismatch");
        }
    }
}
