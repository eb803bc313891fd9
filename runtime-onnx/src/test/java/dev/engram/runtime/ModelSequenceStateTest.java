package dev.engram.runtime;

import static dev.engram.runtime.EngineTest.MIXED;
import static dev.engram.runtime.EngineTest.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A sequence's whole state as one thing: fork, checkpoint/rollback and save/load on the tiny model, with window
 * attention (which copies itself) and the test memories (which are copied through their snapshots). Expected values
 * come from sequences fed the same tokens straight through, never from the operation under test.
 */
class ModelSequenceStateTest {
    /** Segments of 4: 10 tokens are two complete segments and 2 pending. */
    static Engine rows;
    /** The same layers, but one memory without PARTIAL_ROWS: a segment in progress runs on forks of the boundary. */
    static Engine recompute;

    @org.junit.jupiter.api.io.TempDir
    static java.nio.file.Path dir;

    static Engine load(String yaml, Integer segmentLength) throws IOException {
        java.nio.file.Path f = java.nio.file.Files.createTempFile(dir, "config", ".yaml");
        java.nio.file.Files.writeString(f, yaml);
        EngineLoader loader = new EngineLoader().config(f).systemOverrides(false);
        if (segmentLength != null) {
            loader.segmentLength(segmentLength);
        }
        return loader.load(EngineTest.TINY);
    }

    @BeforeAll
    static void open() throws IOException {
        rows = load(MIXED, null);
        recompute = load(MIXED.replace("\"1\": {memory: gate-memory}", "\"1\": {memory: {provider: gate-memory, partialRows: false}}"), null);
    }

    @AfterAll
    static void close() {
        rows.close();
        recompute.close();
    }

    private static float[] feed(Engine e, ModelSequence s, int[]... parts) {
        float[] last = null;
        for (int[] p : parts) {
            last = e.ingest(s, p);
        }
        return last;
    }

    /**
     * Fork mid-segment, then feed the fork and the original different tokens, one at a time and interleaved: each
     * gives, bit for bit, what a sequence fed its own tokens straight through gives.
     */
    @Test
    void aForkAndItsOriginalDivergeIndependentlyAndEachEqualsAStraightRun() {
        for (Engine e : List.of(rows, recompute)) {
            int[] past = tokens(10, 1);
            int[] mine = tokens(7, 2);
            int[] theirs = tokens(7, 3);
            ModelSequence original = e.newSequence();
            e.ingest(original, Arrays.copyOf(past, 9));
            e.ingest(original, new int[] {past[9]}); // rows held for the segment in progress
            ModelSequence fork = original.fork();
            assertEquals(10, fork.position());
            assertEquals(2, fork.pendingTokens());
            float[][] originalOut = new float[mine.length][];
            float[][] forkOut = new float[theirs.length][];
            for (int i = 0; i < mine.length; i++) {
                forkOut[i] = e.ingest(fork, new int[] {theirs[i]});
                originalOut[i] = e.ingest(original, new int[] {mine[i]});
            }
            for (int[] own : List.of(mine, theirs)) {
                ModelSequence straight = e.newSequence();
                e.ingest(straight, Arrays.copyOf(past, 9));
                e.ingest(straight, new int[] {past[9]});
                float[][] got = own == mine ? originalOut : forkOut;
                for (int i = 0; i < own.length; i++) {
                    assertArrayEquals(e.ingest(straight, new int[] {own[i]}), got[i], (own == mine ? "original" : "fork")
                            + " token " + i + (e == rows ? " (row by row)" : " (re-run)"));
                }
                assertArrayEquals(straight.snapshot(), (own == mine ? original : fork).snapshot());
            }
        }
    }

    /** Rollback mid-segment puts back the state and the segment in progress: the same tokens give the same logits. */
    @Test
    void rollbackIsBitExactAndTheCheckpointStaysValid() {
        for (Engine e : List.of(rows, recompute)) {
            ModelSequence s = e.newSequence();
            feed(e, s, tokens(6, 4), new int[] {7});
            byte[] atCheckpoint = s.snapshot();
            ModelSequence.Checkpoint c = s.checkpoint();
            assertEquals(7, c.position());
            int[] next = tokens(9, 5);
            float[] first = feed(e, s, Arrays.copyOf(next, 1), Arrays.copyOfRange(next, 1, 9));
            byte[] after = s.snapshot();
            for (int attempt = 0; attempt < 2; attempt++) {
                s.rollback(c);
                assertEquals(7, s.position());
                assertArrayEquals(atCheckpoint, s.snapshot());
                assertArrayEquals(first, feed(e, s, Arrays.copyOf(next, 1), Arrays.copyOfRange(next, 1, 9)), "attempt " + attempt);
                assertArrayEquals(after, s.snapshot());
            }
            ModelSequence other = (e == rows ? recompute : rows).newSequence();
            assertEquals("the checkpoint belongs to a sequence of another engine; roll back to a checkpoint of this"
                    + " sequence or of a fork of it", assertThrows(IllegalArgumentException.class, () -> other.rollback(c))
                    .getMessage());
        }
    }

    /**
     * save then load into a new sequence: the same state bytes, and the same logits for what follows (bit for bit at a
     * segment boundary; to float rounding for the first token inside a segment, whose pending rows are re-run).
     */
    @Test
    void saveAndLoadRoundTrip() {
        int[] past = tokens(10, 6);
        int[] next = tokens(6, 7);
        for (int cut : new int[] {8, 10}) {
            ModelSequence s = rows.newSequence();
            rows.ingest(s, Arrays.copyOf(past, cut));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            s.save(out);
            ModelSequence loaded = rows.newSequence();
            loaded.load(new ByteArrayInputStream(out.toByteArray()));
            assertEquals(cut, loaded.position());
            assertArrayEquals(out.toByteArray(), loaded.snapshot());
            float[] want = rows.ingest(s, next);
            float[] got = rows.ingest(loaded, next);
            for (int v = 0; v < want.length; v++) {
                assertEquals(want[v], got[v], cut % 4 == 0 ? 0f : 1e-5f, "logit " + v + " after " + cut);
            }
            assertArrayEquals(s.snapshot(), loaded.snapshot(), "the state after the same tokens");
        }
    }

    /** Every refusal names what does not match, and the sequence keeps its state. */
    @Test
    void damagedTruncatedAndForeignStreamsAreRefusedAndChangeNothing() throws IOException {
        ModelSequence source = rows.newSequence();
        rows.ingest(source, tokens(10, 8));
        byte[] good = source.snapshot();
        ModelSequence target = rows.newSequence();
        rows.ingest(target, tokens(5, 9));
        byte[] before = target.snapshot();

        byte[] flipped = good.clone();
        flipped[flipped.length - 40] ^= 0x10; // in the last layer's payload
        assertRefused(target, flipped, before, "sequence snapshot checksum does not match its contents");
        for (int at : new int[] {30, 60, 120}) { // in the model name and the strategies: damage, not "another model"
            byte[] header = good.clone();
            header[at] ^= 0x01;
            assertRefused(target, header, before, "the stream is damaged");
        }
        assertRefused(target, Arrays.copyOf(good, good.length - 7), before, "truncated");
        assertRefused(target, Arrays.copyOf(good, 5), before, "truncated (at magic)");
        assertRefused(target, new Snapshot("x", 1, rows.manifest().architecture().layerSpec(), new byte[0]).toBytes(),
                before, "sequence snapshot holds a 'layer' state; expected 'sequence'");
        byte[] newer = good.clone();
        java.nio.ByteBuffer.wrap(newer).putInt(8, 3);
        assertRefused(target, newer, before, "sequence snapshot format version is 3; valid: 2 (this Engram's state format):"
                + " it was written by a newer Engram");

        try (Engine recut = load(MIXED, 8)) {
            ModelSequence other = recut.newSequence();
            byte[] otherBefore = other.snapshot();
            assertRefused(other, good, otherBefore, "sequence snapshot was saved with segment length 4; this engine runs 8");
        }
        try (Engine window5 = load(MIXED.replace("window: 3", "window: 5"), null)) {
            ModelSequence other = window5.newSequence();
            assertRefused(other, good, other.snapshot(), "sequence snapshot layer 0 attention 'window' was saved with"
                    + " window 3 (this engine: 5): load it into an engine with the same configuration");
        }
        assertRefused(recompute.newSequence(), good, recompute.newSequence().snapshot(), "layer 1 memory 'gate-memory'"
                + " was saved with partialRows true (this engine: false)");
        try (Engine noMemory = load("layers: {default: {attention: {provider: window, window: 3}}}", null)) {
            ModelSequence other = noMemory.newSequence();
            assertRefused(other, good, other.snapshot(), "sequence snapshot layer 0 memory was saved with provider"
                    + " 'addend-memory'; this engine runs 'none'");
        }
    }

    private static void assertRefused(ModelSequence s, byte[] bytes, byte[] before, String message) {
        SnapshotException e = assertThrows(SnapshotException.class, () -> s.restore(bytes));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertArrayEquals(before, s.snapshot(), "a refused load changed the state");
    }

    /**
     * A sequence snapshot in the format before the state stream (ENGRAMMS version 1 around ENGRAMSQ version 1 around
     * ENGRAMSS version 1 provider snapshots), built here byte by byte from the providers' snapshots, loads into the
     * same state as the sequence it was taken from.
     */
    @Test
    void aVersionOneSequenceSnapshotIsStillRead() throws IOException {
        ModelSequence s = rows.newSequence();
        int[] t = tokens(10, 10);
        rows.ingest(s, t);
        ByteArrayOutputStream stack = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(stack);
        d.writeBytes("ENGRAMSQ");
        d.writeInt(1);
        d.writeLong(8);
        d.writeInt(s.stack().layers().size());
        for (SequenceStack.Layer l : s.stack().layers()) {
            byte[] a = legacy(l.attention().snapshot());
            d.writeInt(a.length);
            d.write(a);
            d.writeBoolean(l.memory().isPresent());
            if (l.memory().isPresent()) {
                byte[] m = legacy(l.memory().get().snapshot());
                d.writeInt(m.length);
                d.write(m);
            }
        }
        byte[] stackBytes = withCrc(stack.toByteArray());
        ByteArrayOutputStream seq = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(seq);
        o.writeBytes("ENGRAMMS");
        o.writeInt(1);
        o.writeInt(2);
        o.writeInt(t[8]);
        o.writeInt(t[9]);
        o.writeInt(stackBytes.length);
        o.write(stackBytes);
        byte[] old = withCrc(seq.toByteArray());

        ModelSequence loaded = rows.newSequence();
        loaded.restore(old);
        assertEquals(10, loaded.position());
        assertArrayEquals(s.snapshot(), loaded.snapshot());
        old[old.length / 3] ^= 1;
        assertTrue(assertThrows(SnapshotException.class, () -> rows.newSequence().restore(old)).getMessage()
                .contains("checksum"));
    }

    /** A provider snapshot in the version 1 layout. */
    private static byte[] legacy(Snapshot s) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeBytes("ENGRAMSS");
        d.writeInt(1);
        byte[] name = s.provider().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        d.writeInt(name.length);
        d.write(name);
        d.writeInt(s.stateVersion());
        d.writeInt(s.spec().heads());
        d.writeInt(s.spec().kvHeads());
        d.writeInt(s.spec().keyDim());
        d.writeInt(s.spec().valueDim());
        d.writeInt(s.spec().modelDim());
        d.writeInt(s.payload().length);
        d.write(s.payload());
        return withCrc(b.toByteArray());
    }

    private static byte[] withCrc(byte[] body) {
        CRC32C crc = new CRC32C();
        crc.update(body);
        return java.nio.ByteBuffer.allocate(body.length + 4).put(body).putInt((int) crc.getValue()).array();
    }
}
