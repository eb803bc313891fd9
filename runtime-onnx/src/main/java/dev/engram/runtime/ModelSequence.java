package dev.engram.runtime;

import dev.engram.api.SnapshotException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * One sequence that an {@link Engine} feeds: its layers' state ({@link SequenceStack}, always at a
 * segment boundary) plus the tokens of the segment not yet complete. Segments are aligned to
 * absolute positions (0, S, 2S, ...), so feeding a text in one call or in pieces gives the same
 * segments and the same results bit for bit. Not thread-safe; one thread at a time.
 */
public final class ModelSequence {
    private static final byte[] MAGIC = "ENGRAMMS".getBytes(StandardCharsets.US_ASCII);
    private static final int FORMAT_VERSION = 1;

    final Engine owner;
    final SequenceStack stack;
    final int[] pending;
    int pendingCount;
    /** The stack's snapshot at the current boundary, taken when a partial segment is first evaluated. */
    SequenceStack.Checkpoint boundary;
    /** The segment in progress's keys and values where every layer has PARTIAL_ROWS; null until first needed. */
    SegmentRows rows;

    ModelSequence(Engine owner, SequenceStack stack, int segmentLength) {
        this.owner = owner;
        this.stack = stack;
        this.pending = new int[segmentLength];
    }

    /** Tokens consumed, including those of the segment in progress. */
    public long position() {
        return stack.position() + pendingCount;
    }

    /** Tokens of the segment in progress: in no layer's state yet; they enter it when the segment is full. */
    public int pendingTokens() {
        return pendingCount;
    }

    /** Every layer's state; at the last segment boundary. */
    public SequenceStack stack() {
        return stack;
    }

    /** The state a snapshot holds: every layer's memory and cache, and the pending tokens. */
    public long stateBytes() {
        return stack.stateBytes() + 4L * pendingCount;
    }

    /**
     * {@link #stateBytes()} plus the keys and values held for decoding inside the segment (one segment's worth per
     * layer, allocated on the first token decoded row by row; derived, not in snapshots): what the sequence keeps
     * in memory, for budgets.
     */
    public long residentBytes() {
        return stateBytes() + (rows == null ? 0 : rows.bytes());
    }

    public void reset() {
        stack.reset();
        pendingCount = 0;
        boundary = null;
        clearRows();
    }

    /** The pending tokens have no evaluated rows any more (a new segment started, or the state was replaced). */
    void clearRows() {
        if (rows != null) {
            rows.held = 0;
        }
    }

    /** Pending tokens whose keys and values are held for decoding. */
    int rowsHeld() {
        return rows == null ? 0 : rows.held;
    }

    /** The whole state: every layer's memory and cache, the position, and the tokens of the segment in progress. */
    public byte[] snapshot() {
        byte[] layers = stack.snapshot();
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 4 + 4 + 4 * pendingCount + 4 + layers.length + 4);
        b.put(MAGIC).putInt(FORMAT_VERSION).putInt(pendingCount);
        for (int i = 0; i < pendingCount; i++) {
            b.putInt(pending[i]);
        }
        b.putInt(layers.length).put(layers);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** Restores {@link #snapshot()}'s bytes; a damaged or mismatching snapshot changes nothing. */
    public void restore(byte[] bytes) {
        if (bytes.length < MAGIC.length + 16) {
            throw new SnapshotException("model sequence snapshot is " + bytes.length + " bytes; too short");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        if (in.getInt(bytes.length - 4) != (int) crc.getValue()) {
            throw new SnapshotException("model sequence snapshot checksum does not match: the snapshot is damaged");
        }
        int[] tokens;
        byte[] layers;
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new SnapshotException("not an Engram model sequence snapshot (magic is not ENGRAMMS)");
            }
            int version = in.getInt();
            if (version != FORMAT_VERSION) {
                throw new SnapshotException("model sequence snapshot format is " + version + "; this Engram reads " + FORMAT_VERSION);
            }
            int count = in.getInt();
            if (count < 0 || count >= pending.length) {
                throw new SnapshotException("model sequence snapshot has " + count + " pending tokens; valid: 0 to "
                        + (pending.length - 1) + " (segment length " + pending.length + ")");
            }
            tokens = new int[count];
            for (int i = 0; i < count; i++) {
                tokens[i] = in.getInt();
                owner.checkToken(tokens[i], "snapshot pending token " + i);
            }
            int length = in.getInt();
            if (length < 0 || length != in.remaining() - 4) {
                throw new SnapshotException("model sequence snapshot's layer block is " + length + " bytes; "
                        + (in.remaining() - 4) + " remain");
            }
            layers = new byte[length];
            in.get(layers);
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("model sequence snapshot is truncated", e);
        }
        stack.restore(layers);
        System.arraycopy(tokens, 0, pending, 0, tokens.length);
        pendingCount = tokens.length;
        boundary = null;
        clearRows();
    }
}
