package dev.engram.runtime;

import dev.engram.api.Attention;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * The whole memory of one sequence: per layer its attention (with any cache) and its long-term
 * memory, plus the position reached. It snapshots to one byte array and restores bit-exactly; a
 * snapshot that does not fit (other layer count, provider or shape) is refused before anything changes.
 */
public final class SequenceStack {
    private static final byte[] MAGIC = "ENGRAMSQ".getBytes(StandardCharsets.US_ASCII);
    private static final int FORMAT_VERSION = 1;

    /** One layer's state. */
    public record Layer(Attention attention, Optional<LongTermMemory> memory) {
    }

    private final List<Layer> layers;
    private long position;

    public SequenceStack(List<Layer> layers) {
        this.layers = List.copyOf(layers);
    }

    public List<Layer> layers() {
        return layers;
    }

    /** Tokens this sequence has consumed. */
    public long position() {
        return position;
    }

    public void advance(int tokens) {
        position += tokens;
    }

    public void reset() {
        for (Layer l : layers) {
            l.attention().reset();
            l.memory().ifPresent(LongTermMemory::reset);
        }
        position = 0;
    }

    /** Bytes of state across all layers. */
    public long stateBytes() {
        long total = 0;
        for (Layer l : layers) {
            total += l.attention().stateBytes() + l.memory().map(LongTermMemory::stateBytes).orElse(0L);
        }
        return total;
    }

    public byte[] snapshot() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC);
            out.writeInt(FORMAT_VERSION);
            out.writeLong(position);
            out.writeInt(layers.size());
            for (Layer l : layers) {
                writeBlock(out, l.attention().snapshot().toBytes());
                out.writeBoolean(l.memory().isPresent());
                if (l.memory().isPresent()) {
                    writeBlock(out, l.memory().get().snapshot().toBytes());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] body = bytes.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(body);
        return ByteBuffer.allocate(body.length + 4).put(body).putInt((int) crc.getValue()).array();
    }

    /**
     * The state now, held in memory: the layers' own snapshots, with no outer serialisation, checksum or
     * rollback copy. The runtime evaluates an incomplete segment from one and puts it back afterwards, once
     * per decoded token, so this path does no more than the providers' snapshot and restore.
     */
    Checkpoint checkpoint() {
        List<Snapshot> attentions = new ArrayList<>(layers.size());
        List<Snapshot> memories = new ArrayList<>(layers.size());
        for (Layer l : layers) {
            attentions.add(l.attention().snapshot());
            memories.add(l.memory().map(LongTermMemory::snapshot).orElse(null));
        }
        return new Checkpoint(position, attentions, memories);
    }

    /** Puts back a {@link #checkpoint()} of this same stack (so no provider can refuse it). */
    void rollback(Checkpoint c) {
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            l.attention().restore(c.attentions().get(i));
            if (c.memories().get(i) != null) {
                l.memory().orElseThrow().restore(c.memories().get(i));
            }
        }
        position = c.position();
    }

    /** A {@link #checkpoint()}: per layer the attention's and the memory's snapshot (null: no memory). */
    record Checkpoint(long position, List<Snapshot> attentions, List<Snapshot> memories) {
    }

    private static void writeBlock(DataOutputStream out, byte[] block) throws IOException {
        out.writeInt(block.length);
        out.write(block);
    }

    /**
     * Restores every layer from {@code bytes}. All layer snapshots are parsed and checked first; if
     * any layer then refuses its snapshot, the layers already restored are rolled back.
     */
    public void restore(byte[] bytes) {
        if (bytes.length < MAGIC.length + 20) {
            throw new SnapshotException("sequence snapshot is " + bytes.length + " bytes; too short");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        if (ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt() != (int) crc.getValue()) {
            throw new SnapshotException("sequence snapshot checksum does not match: the snapshot is damaged");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes, 0, bytes.length - 4);
        List<Snapshot> attentions = new ArrayList<>();
        List<Snapshot> memories = new ArrayList<>();
        long newPosition;
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new SnapshotException("not an Engram sequence snapshot (magic is not ENGRAMSQ)");
            }
            int version = in.getInt();
            if (version != FORMAT_VERSION) {
                throw new SnapshotException("sequence snapshot format is " + version + "; this Engram reads " + FORMAT_VERSION);
            }
            newPosition = in.getLong();
            int count = in.getInt();
            if (count != layers.size()) {
                throw new SnapshotException("sequence snapshot has " + count + " layers; this model has " + layers.size());
            }
            for (int i = 0; i < count; i++) {
                attentions.add(Snapshot.fromBytes(readBlock(in)));
                boolean hasMemory = in.get() != 0;
                if (hasMemory != layers.get(i).memory().isPresent()) {
                    throw new SnapshotException("sequence snapshot layer " + i + (hasMemory ? " has" : " has no")
                            + " long-term memory; the configured layer " + (hasMemory ? "has none" : "has one"));
                }
                memories.add(hasMemory ? Snapshot.fromBytes(readBlock(in)) : null);
            }
            if (in.hasRemaining()) {
                throw new SnapshotException("sequence snapshot has " + in.remaining() + " trailing bytes");
            }
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("sequence snapshot is truncated", e);
        }
        byte[] before = snapshot();
        try {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                l.attention().restore(attentions.get(i));
                if (memories.get(i) != null) {
                    l.memory().orElseThrow().restore(memories.get(i));
                }
            }
            position = newPosition;
        } catch (RuntimeException e) {
            restore(before);
            throw e;
        }
    }

    private static byte[] readBlock(ByteBuffer in) {
        int length = in.getInt();
        if (length < 0 || length > in.remaining()) {
            throw new SnapshotException("sequence snapshot block of " + length + " bytes exceeds the "
                    + in.remaining() + " bytes left");
        }
        byte[] block = new byte[length];
        in.get(block);
        return block;
    }
}
