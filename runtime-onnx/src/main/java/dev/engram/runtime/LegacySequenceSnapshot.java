package dev.engram.runtime;

import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Reads the sequence snapshots Engram wrote before the state stream (state format 2): "ENGRAMMS" version 1, the
 * pending tokens and an "ENGRAMSQ" version 1 layer block, each with its own CRC32C, around version 1 provider
 * snapshots ("ENGRAMSS"). They carry no model name or strategy, so only the layer layout and each provider's own
 * header (name, state version, layer shape) are checked. Kept so that files saved by {@code engram run --save} and
 * server sessions from before the change still load; nothing writes this format any more.
 */
final class LegacySequenceSnapshot {
    static final byte[] MAGIC = "ENGRAMMS".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] STACK_MAGIC = "ENGRAMSQ".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;

    private LegacySequenceSnapshot() {
    }

    static void load(ModelSequence sequence, byte[] bytes) {
        ByteBuffer in = checked(bytes, "sequence snapshot (ENGRAMMS)");
        int[] tokens;
        byte[] layers;
        try {
            in.position(MAGIC.length);
            requireVersion(in.getInt(), "ENGRAMMS");
            int count = in.getInt();
            int segmentLength = sequence.segmentLength();
            if (count < 0 || count >= segmentLength) {
                throw new SnapshotException("sequence snapshot (ENGRAMMS version 1) has " + count + " pending tokens;"
                        + " valid: 0 to " + (segmentLength - 1) + " (segment length " + segmentLength + ")");
            }
            tokens = new int[count];
            for (int i = 0; i < count; i++) {
                tokens[i] = in.getInt();
                sequence.owner().checkToken(tokens[i], "snapshot pending token " + i);
            }
            int length = in.getInt();
            if (length < 0 || length != in.remaining() - 4) {
                throw new SnapshotException("sequence snapshot (ENGRAMMS version 1) layer block is " + length
                        + " bytes; " + (in.remaining() - 4) + " remain");
            }
            layers = new byte[length];
            in.get(layers);
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("sequence snapshot (ENGRAMMS version 1) is truncated", e);
        }
        sequence.install(readStack(sequence.stack(), layers), tokens);
    }

    private static SequenceStack.Saved readStack(SequenceStack stack, byte[] bytes) {
        ByteBuffer in = checked(bytes, "layer block (ENGRAMSQ)");
        if (!Arrays.equals(bytes, 0, STACK_MAGIC.length, STACK_MAGIC, 0, STACK_MAGIC.length)) {
            throw new SnapshotException("sequence snapshot (ENGRAMMS version 1) holds no ENGRAMSQ layer block");
        }
        List<Snapshot> attentions = new ArrayList<>();
        List<Snapshot> memories = new ArrayList<>();
        try {
            in.position(STACK_MAGIC.length);
            requireVersion(in.getInt(), "ENGRAMSQ");
            long position = in.getLong();
            int count = in.getInt();
            if (count != stack.layers().size()) {
                throw new SnapshotException("sequence snapshot has " + count + " layers; this model has " + stack.layers().size());
            }
            for (int i = 0; i < count; i++) {
                attentions.add(Snapshot.fromBytes(block(in)));
                boolean hasMemory = in.get() != 0;
                stack.requireMemoryLayout(i, hasMemory);
                memories.add(hasMemory ? Snapshot.fromBytes(block(in)) : null);
            }
            if (in.remaining() != 4) {
                throw new SnapshotException("sequence snapshot (ENGRAMSQ version 1) has " + (in.remaining() - 4) + " trailing bytes");
            }
            return new SequenceStack.Saved(position, attentions, memories);
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("sequence snapshot (ENGRAMSQ version 1) is truncated", e);
        }
    }

    /** The buffer over {@code bytes} once its trailing CRC32C matches. */
    private static ByteBuffer checked(byte[] bytes, String what) {
        if (bytes.length < 8 + 16) {
            throw new SnapshotException(what + " is " + bytes.length + " bytes; too short");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        if (ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt() != (int) crc.getValue()) {
            throw new SnapshotException(what + " checksum does not match: the snapshot is damaged");
        }
        return ByteBuffer.wrap(bytes);
    }

    private static void requireVersion(int version, String magic) {
        if (version != VERSION) {
            throw new SnapshotException("sequence snapshot (" + magic + ") format version is " + version + "; valid: "
                    + VERSION + " (the format before the state stream) or a state stream of format "
                    + dev.engram.api.StateStream.FORMAT_VERSION);
        }
    }

    private static byte[] block(ByteBuffer in) {
        int length = in.getInt();
        if (length < 0 || length > in.remaining() - 4) {
            throw new SnapshotException("sequence snapshot block of " + length + " bytes exceeds the " + (in.remaining() - 4)
                    + " bytes left");
        }
        byte[] block = new byte[length];
        in.get(block);
        return block;
    }
}
