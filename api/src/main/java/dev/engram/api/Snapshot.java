package dev.engram.api;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.BufferUnderflowException;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * The saved state of one {@link SequenceState}: a header that says whose state it is, and the
 * provider's own payload.
 *
 * <p>Binary format (big-endian), version {@value #FORMAT_VERSION}:
 * <pre>
 *   magic "ENGRAMSS" (8 bytes) | format version (int) | provider name (int length + UTF-8)
 *   | provider state version (int) | heads, kvHeads, keyDim, valueDim, modelDim (5 ints)
 *   | payload length (int) | payload | CRC32C of everything before it (int)
 * </pre>
 *
 * @param provider      the provider's registered name
 * @param stateVersion  the version of the provider's payload layout
 * @param spec          the layer shape the state was made for
 * @param payload       the provider's own bytes. Not copied (a snapshot of a large cache can be megabytes and is
 *                      taken once per decoded token inside a segment), so it is read-only by contract: a snapshot
 *                      is a value, and {@link #equals}, {@link #hashCode} and {@link #toString} treat the payload by
 *                      content.
 */
public record Snapshot(String provider, int stateVersion, LayerSpec spec, byte[] payload) {
    public static final int FORMAT_VERSION = 1;
    private static final byte[] MAGIC = "ENGRAMSS".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_NAME_BYTES = 256;

    public Snapshot {
        Objects.requireNonNull(provider, "provider is null");
        Objects.requireNonNull(spec, "spec is null");
        Objects.requireNonNull(payload, "payload is null");
    }

    /** Equal when made by the same provider, state version and layer shape with the same payload bytes. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Snapshot s && s.provider.equals(provider) && s.stateVersion == stateVersion
                && s.spec.equals(spec) && java.util.Arrays.equals(s.payload, payload);
    }

    @Override
    public int hashCode() {
        return Objects.hash(provider, stateVersion, spec) * 31 + java.util.Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return "Snapshot[provider=" + provider + ", stateVersion=" + stateVersion + ", spec=" + spec + ", payload="
                + payload.length + " bytes]";
    }

    /** Fails unless this snapshot was made by {@code expectedProvider} at {@code expectedVersion} for {@code expectedSpec}. */
    public void requireCompatible(String expectedProvider, int expectedVersion, LayerSpec expectedSpec) {
        if (!provider.equals(expectedProvider)) {
            throw new SnapshotException("snapshot.provider is '" + provider + "'; this memory is '"
                    + expectedProvider + "': restore a snapshot into the provider that made it");
        }
        if (stateVersion != expectedVersion) {
            throw new SnapshotException("snapshot.stateVersion is " + stateVersion + "; provider '" + provider
                    + "' reads version " + expectedVersion);
        }
        if (!spec.equals(expectedSpec)) {
            throw new SnapshotException("snapshot.spec is " + spec + "; this memory's layer is " + expectedSpec);
        }
    }

    public byte[] toBytes() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(payload.length + 96);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC);
            out.writeInt(FORMAT_VERSION);
            byte[] name = provider.getBytes(StandardCharsets.UTF_8);
            out.writeInt(name.length);
            out.write(name);
            out.writeInt(stateVersion);
            out.writeInt(spec.heads());
            out.writeInt(spec.kvHeads());
            out.writeInt(spec.keyDim());
            out.writeInt(spec.valueDim());
            out.writeInt(spec.modelDim());
            out.writeInt(payload.length);
            out.write(payload);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        CRC32C crc = new CRC32C();
        byte[] body = bytes.toByteArray();
        crc.update(body);
        return ByteBuffer.allocate(body.length + 4).put(body).putInt((int) crc.getValue()).array();
    }

    /** Parses and verifies {@code bytes}; every defect is a {@link SnapshotException} that says what is wrong. */
    public static Snapshot fromBytes(byte[] bytes) {
        Objects.requireNonNull(bytes, "bytes is null");
        if (bytes.length < MAGIC.length + 4 + 4) {
            throw new SnapshotException("snapshot is " + bytes.length + " bytes; too short to be an Engram snapshot");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes);
        byte[] magic = new byte[MAGIC.length];
        in.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new SnapshotException("snapshot.magic is not ENGRAMSS: not an Engram snapshot");
        }
        int format = in.getInt();
        if (format > FORMAT_VERSION) {
            throw new SnapshotException("snapshot.formatVersion is " + format + "; valid: " + FORMAT_VERSION
                    + " (this Engram's snapshot format): the snapshot was written by a newer Engram; restore it with"
                    + " that version or newer");
        }
        if (format != FORMAT_VERSION) {
            throw new SnapshotException("snapshot.formatVersion is " + format + "; valid: " + FORMAT_VERSION
                    + " (this Engram's snapshot format): the header is damaged or not from Engram");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        int stored = ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt();
        if (stored != (int) crc.getValue()) {
            throw new SnapshotException("snapshot.checksum does not match its contents: the snapshot is damaged");
        }
        try {
            int nameLength = in.getInt();
            if (nameLength < 1 || nameLength > MAX_NAME_BYTES) {
                throw new SnapshotException("snapshot.provider length is " + nameLength + "; valid: [1, " + MAX_NAME_BYTES + "]");
            }
            byte[] name = new byte[nameLength];
            in.get(name);
            int stateVersion = in.getInt();
            LayerSpec spec;
            try {
                spec = new LayerSpec(in.getInt(), in.getInt(), in.getInt(), in.getInt(), in.getInt());
            } catch (InvalidInputException e) {
                throw new SnapshotException("snapshot.spec is invalid: " + e.getMessage(), e);
            }
            int payloadLength = in.getInt();
            if (payloadLength < 0 || payloadLength != in.remaining() - 4) {
                throw new SnapshotException("snapshot.payload length is " + payloadLength + "; the file holds "
                        + (in.remaining() - 4) + " payload bytes");
            }
            byte[] payload = new byte[payloadLength];
            in.get(payload);
            return new Snapshot(new String(name, StandardCharsets.UTF_8), stateVersion, spec, payload);
        } catch (BufferUnderflowException e) {
            throw new SnapshotException("snapshot is truncated", e);
        }
    }
}
