package dev.engram.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotTest {
    private final LayerSpec spec = new LayerSpec(4, 2, 8, 8, 16);
    private final Snapshot snapshot = new Snapshot("infini", 3, spec,
            new StateWriter().writeInt(7).writeFloats(new float[] {1.5f, Float.MIN_VALUE, -0f}).toBytes());

    /** The payload layout is DataOutputStream's (big-endian raw bits), written here independently, across several chunks. */
    @Test
    void floatsAreWrittenAsDataOutputStreamWouldAndReadBackBitExactly() throws IOException {
        float[] values = new float[10_001];
        java.util.SplittableRandom random = new java.util.SplittableRandom(5);
        for (int i = 0; i < values.length; i++) {
            values[i] = Float.intBitsToFloat(random.nextInt()); // every bit pattern, NaN payloads included
        }
        values[3] = -0f;
        java.io.ByteArrayOutputStream expected = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream d = new java.io.DataOutputStream(expected)) {
            d.writeInt(42);
            d.writeInt(values.length - 2);
            for (int i = 1; i < values.length - 1; i++) {
                d.writeInt(Float.floatToRawIntBits(values[i]));
            }
            d.writeInt(-1);
        }
        byte[] payload = new StateWriter().writeInt(42).writeFloats(values, 1, values.length - 2).writeInt(-1).toBytes();
        assertArrayEquals(expected.toByteArray(), payload);
        StateReader r = new StateReader(payload);
        assertEquals(42, r.readInt());
        float[] back = r.readFloats("values", values.length - 2);
        for (int i = 0; i < back.length; i++) {
            assertEquals(Float.floatToRawIntBits(values[i + 1]), Float.floatToRawIntBits(back[i]), "value " + i);
        }
        assertEquals(-1, r.readInt());
    }

    @Test
    void roundTripsBitExactly() {
        Snapshot back = Snapshot.fromBytes(snapshot.toBytes());
        assertEquals("infini", back.provider());
        assertEquals(3, back.stateVersion());
        assertEquals(spec, back.spec());
        StateReader r = new StateReader(back.payload());
        assertEquals(7, r.readInt());
        float[] f = r.readFloats("values", 3);
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(f[2]));
        assertEquals(Float.MIN_VALUE, f[1]);
        r.requireEnd();
    }

    @Test
    void everyDamagedByteIsDetected() {
        byte[] good = snapshot.toBytes();
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= 0x01;
            assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(bad), "flipped byte " + i);
        }
    }

    @Test
    void truncationAndForeignBytesAreNamed() {
        byte[] good = snapshot.toBytes();
        assertTrue(assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(Arrays.copyOf(good, good.length - 9)))
                .getMessage().startsWith("snapshot is truncated"));
        assertTrue(assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(Arrays.copyOf(good, good.length - 2)))
                .getMessage().startsWith("snapshot is truncated (at its checksum)"));
        assertEquals("snapshot does not start with ENGRAMST: not an Engram state stream",
                assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(new byte[40])).getMessage());
        assertEquals("snapshot is truncated (at magic)",
                assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(new byte[3])).getMessage());
        byte[] longer = Arrays.copyOf(good, good.length + 1);
        assertEquals("snapshot has bytes after its checksum: the stream is damaged",
                assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(longer)).getMessage());
    }

    /**
     * The documented layout, built here byte by byte with DataOutputStream and CRC32C: magic, format version 2, kind
     * "layer", the entry (provider, state version, spec, payload), then the checksum of everything before it.
     */
    @Test
    void theBytesAreTheDocumentedStateStream() throws IOException {
        java.io.ByteArrayOutputStream expected = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream d = new java.io.DataOutputStream(expected)) {
            d.writeBytes("ENGRAMST");
            d.writeInt(2);
            d.writeInt(5);
            d.writeBytes("layer");
            d.writeInt(6);
            d.writeBytes("infini");
            d.writeInt(3);
            for (int x : new int[] {4, 2, 8, 8, 16}) {
                d.writeInt(x);
            }
            d.writeInt(snapshot.payload().length);
            d.write(snapshot.payload());
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(expected.toByteArray());
        new java.io.DataOutputStream(expected).writeInt((int) crc.getValue());
        assertArrayEquals(expected.toByteArray(), snapshot.toBytes());
    }

    /** The same snapshot with another format version, checksum recomputed, so the version is the only defect. */
    private byte[] withFormatVersion(int version) {
        byte[] bytes = snapshot.toBytes();
        java.nio.ByteBuffer.wrap(bytes).putInt(8, version);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        java.nio.ByteBuffer.wrap(bytes).putInt(bytes.length - 4, (int) crc.getValue());
        return bytes;
    }

    @Test
    void aSnapshotFromANewerFormatSaysSoAndWhatThisEngramReads() {
        assertEquals("snapshot format version is 3; valid: 2 (this Engram's state format): it was written by a newer"
                + " Engram; load it with that version or newer",
                assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(withFormatVersion(3))).getMessage());
        assertEquals("snapshot format version is 0; valid: 2 (this Engram's state format)",
                assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(withFormatVersion(0))).getMessage());
        assertEquals("infini", Snapshot.fromBytes(withFormatVersion(StateStream.FORMAT_VERSION)).provider(),
                "the helper changes nothing else");
    }

    /** A provider snapshot in the format before the state stream (ENGRAMSS version 1), built by hand, still reads. */
    @Test
    void aVersionOneSnapshotIsStillRead() throws IOException {
        java.io.ByteArrayOutputStream old = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream d = new java.io.DataOutputStream(old)) {
            d.writeBytes("ENGRAMSS");
            d.writeInt(1);
            d.writeInt(6);
            d.writeBytes("infini");
            d.writeInt(3);
            for (int x : new int[] {4, 2, 8, 8, 16}) {
                d.writeInt(x);
            }
            d.writeInt(snapshot.payload().length);
            d.write(snapshot.payload());
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(old.toByteArray());
        new java.io.DataOutputStream(old).writeInt((int) crc.getValue());
        assertEquals(snapshot, Snapshot.fromBytes(old.toByteArray()));
        byte[] damaged = old.toByteArray();
        damaged[30] ^= 1;
        assertTrue(assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(damaged)).getMessage().contains("checksum"));
    }

    @Test
    void compatibilityChecksNameWhatDiffers() {
        assertEquals("snapshot.provider is 'infini'; this memory is 'continuous': restore a snapshot into the provider that made it",
                assertThrows(SnapshotException.class, () -> snapshot.requireCompatible("continuous", 3, spec)).getMessage());
        assertEquals("snapshot.stateVersion is 3; provider 'infini' reads version 4",
                assertThrows(SnapshotException.class, () -> snapshot.requireCompatible("infini", 4, spec)).getMessage());
        LayerSpec other = new LayerSpec(4, 4, 8, 8, 16);
        assertTrue(assertThrows(SnapshotException.class, () -> snapshot.requireCompatible("infini", 3, other))
                .getMessage().startsWith("snapshot.spec is LayerSpec[heads=4, kvHeads=2"));
        snapshot.requireCompatible("infini", 3, spec);
    }

    @Test
    void aSnapshotIsAValueComparedByContent() {
        byte[] payload = new StateWriter().writeInt(7).toBytes();
        Snapshot a = new Snapshot("infini", 3, spec, payload);
        Snapshot b = new Snapshot("infini", 3, spec, payload.clone());
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertFalse(a.equals(new Snapshot("infini", 3, spec, new StateWriter().writeInt(8).toBytes())));
        assertFalse(a.equals(new Snapshot("infini", 4, spec, payload)));
        assertEquals("Snapshot[provider=infini, stateVersion=3, spec=" + spec + ", payload=4 bytes]", a.toString());
    }

    @Test
    void intArraysAndExactLengthLongArraysRoundTripAndAreChecked() {
        int[] ints = {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE};
        long[] longs = {5L, Long.MIN_VALUE};
        StateWriter w = new StateWriter().name("counts").writeInts(ints).writeLongs(longs);
        byte[] bytes = w.toBytes();
        // layout: an int count then 4 ints; an int count then 2 longs
        assertEquals(4 + 4 * 4 + 4 + 2 * 8, bytes.length);
        assertEquals("[Field[name=counts, kind=ints, start=0, length=20], Field[name=null, kind=longs, start=20, length=20]]",
                w.layout().toString());
        StateReader r = new StateReader(bytes);
        assertArrayEquals(ints, r.readInts("counts", 4));
        assertArrayEquals(longs, r.readLongs("positions", 2));
        r.requireEnd();
        SnapshotException e = assertThrows(SnapshotException.class, () -> new StateReader(bytes).readInts("counts", 3));
        assertEquals("snapshot.counts has 4 values; expected 3", e.getMessage());
        StateReader skipInts = new StateReader(bytes);
        skipInts.readIntsUpTo("counts", 4);
        e = assertThrows(SnapshotException.class, () -> skipInts.readLongs("positions", 3));
        assertEquals("snapshot.positions has 2 values; expected 3", e.getMessage());
        byte[] lying = new StateWriter().writeInt(1000).toBytes(); // claims 1000 ints, holds none
        e = assertThrows(SnapshotException.class, () -> new StateReader(lying).readInts("counts", 1000));
        assertEquals("snapshot.counts claims 1000 values but only 0 bytes remain", e.getMessage());
    }

    @Test
    void readerRefusesShortAndOversizedArrays() {
        byte[] payload = new StateWriter().writeInt(1_000_000).toBytes();
        SnapshotException e = assertThrows(SnapshotException.class,
                () -> new StateReader(payload).readFloatsUpTo("store", Integer.MAX_VALUE));
        assertEquals("snapshot.store claims 1000000 values but only 0 bytes remain", e.getMessage());
        assertEquals("snapshot.M has 1000000 values; expected 4",
                assertThrows(SnapshotException.class, () -> new StateReader(payload).readFloats("M", 4)).getMessage());
        assertEquals("snapshot.payload has 4 unread bytes: layout mismatch",
                assertThrows(SnapshotException.class, () -> new StateReader(payload).requireEnd()).getMessage());
    }

    @Test
    void filesAreWrittenAtomicallyAndReadBack(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("seq/layer-0.snap");
        SnapshotFiles.write(file, snapshot);
        assertArrayEquals(snapshot.toBytes(), Files.readAllBytes(file));
        SnapshotFiles.write(file, snapshot);
        assertEquals(snapshot.provider(), SnapshotFiles.read(file).provider());
        try (var files = Files.list(file.getParent())) {
            assertEquals(1, files.count(), "no temporary file is left behind");
        }
        assertFalse(Files.exists(dir.resolve("seq/missing.snap")));
    }

    @Test
    void aFailedRenameLeavesTheOldContentAndNoTemporaryFile(@TempDir Path dir) throws IOException {
        // The target is a non-empty directory: the temp file is written and forced, then the rename fails.
        Path target = dir.resolve("layer-0.snap");
        Files.createDirectories(target);
        Files.writeString(target.resolve("kept.txt"), "old content");
        java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
                () -> SnapshotFiles.write(target, snapshot));
        assertTrue(e.getMessage().startsWith("writing snapshot " + target + " failed ("), e.getMessage());
        assertTrue(e.getMessage().endsWith("); the previous file, if any, is unchanged"), e.getMessage());
        assertTrue(Files.isDirectory(target), "the old target is still there");
        assertEquals("old content", Files.readString(target.resolve("kept.txt")));
        try (var files = Files.list(dir)) {
            assertEquals(java.util.List.of(target), files.toList(), "no temporary file is left beside the target");
        }
    }
}
