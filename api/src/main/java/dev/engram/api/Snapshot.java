package dev.engram.api;

import java.nio.ByteBuffer;
import java.nio.BufferUnderflowException;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * The saved state of one {@link SequenceState}: a header that says whose state it is, and the
 * provider's own payload.
 *
 * <p>In bytes ({@link #toBytes()}) it is a {@link StateStream} of kind "layer" holding this one entry; a whole
 * sequence's file holds one entry per layer state in the same format.
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

    /** This snapshot alone as a {@link StateStream} of kind "layer" (one checksum over it all). */
    public byte[] toBytes() {
        return StateStream.toBytes(out -> {
            StateStream.Writer w = new StateStream.Writer(out, LAYER_KIND);
            w.writeSnapshot(this);
            w.finish();
        });
    }

    /**
     * Parses and verifies {@link #toBytes()}'s bytes; every defect is a {@link SnapshotException} that says what is
     * wrong. The format of Engram before state format 2 ("ENGRAMSS" version 1) is still read.
     */
    public static Snapshot fromBytes(byte[] bytes) {
        Objects.requireNonNull(bytes, "bytes is null");
        if (bytes.length >= LEGACY_MAGIC.length && java.util.Arrays.equals(bytes, 0, LEGACY_MAGIC.length, LEGACY_MAGIC, 0,
                LEGACY_MAGIC.length)) {
            return fromLegacyBytes(bytes);
        }
        StateStream.Reader r = new StateStream.Reader(new java.io.ByteArrayInputStream(bytes), LAYER_KIND, "snapshot");
        Snapshot s = r.readSnapshot("layer");
        r.finish(true);
        return s;
    }

    static final String LAYER_KIND = "layer";
    private static final byte[] LEGACY_MAGIC = "ENGRAMSS".getBytes(StandardCharsets.US_ASCII);
    private static final int LEGACY_VERSION = 1;

    /** The version 1 layout: magic, version, name, state version, spec, payload length, payload, CRC32C. */
    private static Snapshot fromLegacyBytes(byte[] bytes) {
        if (bytes.length < LEGACY_MAGIC.length + 4 + 4) {
            throw new SnapshotException("snapshot is " + bytes.length + " bytes; too short to be an Engram snapshot");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes);
        in.position(LEGACY_MAGIC.length);
        int format = in.getInt();
        if (format != LEGACY_VERSION) {
            throw new SnapshotException("snapshot (ENGRAMSS) format version is " + format + "; valid: "
                    + LEGACY_VERSION + " (the old provider snapshot format) or a state stream of format "
                    + StateStream.FORMAT_VERSION);
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        int stored = ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt();
        if (stored != (int) crc.getValue()) {
            throw new SnapshotException("snapshot checksum does not match its contents: the snapshot is damaged");
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
