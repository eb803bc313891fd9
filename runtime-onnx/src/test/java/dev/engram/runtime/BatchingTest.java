package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Engine#forwardBatch}: sequences at different positions, some decoding one token, some ingesting chunks
 * that cross segment boundaries, in one call, against each sequence fed alone (a twin forked before the call, fed
 * by {@link Engine#ingest(ModelSequence, int[])}): logits and saved states equal bit for bit; and the logits against
 * the plain double-precision {@link ReferenceModel} of the whole token history (1e-4), so the equal pair is also right.
 * Both ways of evaluating a segment in progress: row by row and on forks.
 */
class BatchingTest {
    @TempDir
    static Path dir;

    static Engine load(String yaml) throws IOException {
        Path f = Files.createTempFile(dir, "config", ".yaml");
        Files.writeString(f, yaml);
        return new EngineLoader().config(f).systemOverrides(false).load(EngineTest.TINY);
    }

    /**
     * Rounds of steps for five sequences whose histories end at different places in their segments (segment length
     * s): each round's token counts per sequence. Mixes one-token decodes, a token that completes a segment, and
     * chunks crossing one or two boundaries.
     */
    static int[][] rounds(int s) {
        return new int[][] {
            {s + 5, 1, 1, 3, 2 * s},
            {1, 1, 1, 1, 1},
            {1, s, 2, 1, s - 1},
            {2, 1, s + 1, 1, 1},
        };
    }

    /** Tokens each sequence is fed alone before the batched rounds: positions 0, 1, s - 1, s + 2, 2s - 3. */
    static int[] histories(int s) {
        return new int[] {0, 1, s - 1, s + 2, 2 * s - 3};
    }

    /**
     * Runs {@link #rounds} through {@code forwardBatch} and the same tokens through twins fed alone; asserts
     * bit-equal logits per step and bit-equal saved states at the end. Returns every sequence's whole token history
     * and the batch's last logits per sequence, for further checks.
     */
    static List<int[]> batchEqualsAlone(Engine engine, long seed, List<float[]> lastLogits) {
        int s = engine.segmentLength();
        return batchEqualsAlone(engine, seed, histories(s), rounds(s), lastLogits);
    }

    /** {@link #batchEqualsAlone(Engine, long, List)} from the given histories, through the given rounds. */
    static List<int[]> batchEqualsAlone(Engine engine, long seed, int[] history, int[][] rounds, List<float[]> lastLogits) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        List<ModelSequence> batched = new ArrayList<>();
        List<ModelSequence> alone = new ArrayList<>();
        List<int[]> fed = new ArrayList<>();
        for (int h : history) {
            ModelSequence seq = engine.newSequence();
            int[] t = random.ints(h, 0, engine.vocabSize()).toArray();
            if (h > 0) {
                engine.ingest(seq, t);
            }
            batched.add(seq);
            alone.add(seq.fork());
            fed.add(t);
        }
        for (int[] round : rounds) {
            List<Engine.Step> steps = new ArrayList<>();
            List<int[]> chunks = new ArrayList<>();
            for (int b = 0; b < round.length; b++) {
                int[] chunk = random.ints(round[b], 0, engine.vocabSize()).toArray();
                steps.add(new Engine.Step(batched.get(b), chunk));
                chunks.add(chunk);
            }
            List<float[]> got = engine.forwardBatch(steps);
            for (int b = 0; b < round.length; b++) {
                float[] want = engine.ingest(alone.get(b), chunks.get(b));
                assertArrayEquals(want, got.get(b), "sequence " + b + " after " + history[b] + " tokens, round "
                        + Arrays.toString(round));
                int[] all = Arrays.copyOf(fed.get(b), fed.get(b).length + chunks.get(b).length);
                System.arraycopy(chunks.get(b), 0, all, fed.get(b).length, chunks.get(b).length);
                fed.set(b, all);
                if (lastLogits.size() <= b) {
                    lastLogits.add(got.get(b));
                } else {
                    lastLogits.set(b, got.get(b));
                }
            }
        }
        for (int b = 0; b < batched.size(); b++) {
            assertEquals(alone.get(b).position(), batched.get(b).position());
            assertArrayEquals(alone.get(b).snapshot(), batched.get(b).snapshot(), "saved state of sequence " + b);
        }
        return fed;
    }

    @Test
    void mixedBatchEqualsEachSequenceAloneRowByRow() throws IOException {
        try (Engine engine = load(EngineTest.MIXED)) {
            assertTrue(engine.decodesRowByRow());
            List<float[]> last = new ArrayList<>();
            List<int[]> fed = batchEqualsAlone(engine, 7, last);
            ReferenceModel ref = new ReferenceModel(EngineTest.MODELS, EngineTest.MIXED_REF, engine.segmentLength());
            for (int b = 0; b < fed.size(); b++) {
                double[][] want = ref.logits(fed.get(b));
                EngineTest.assertClose(want[want.length - 1], last.get(b), 1e-4, "sequence " + b + " vs reference");
            }
        }
    }

    /** The same batch with its sequences handed to the plugin helper threads (each with its own scratch). */
    @Test
    void mixedBatchOnTheHelperThreadsEqualsEachSequenceAlone() throws IOException {
        assertTrue(dev.engram.spi.kernel.ParallelHeads.slots(5) > 1, "the test JVM must have a plugin helper thread");
        Engine.sequencesOnHelpersForTests = true;
        try (Engine engine = load(EngineTest.MIXED)) {
            for (int seed : new int[] {7, 13, 21}) {
                batchEqualsAlone(engine, seed, new ArrayList<>());
            }
        } finally {
            Engine.sequencesOnHelpersForTests = false;
        }
    }

    @Test
    void mixedBatchEqualsEachSequenceAloneOnForks() throws IOException {
        try (Engine engine = load(EngineTest.MIXED.replace("\"1\": {memory: gate-memory}",
                "\"1\": {memory: {provider: gate-memory, partialRows: false}}"))) {
            assertEquals(false, engine.decodesRowByRow());
            List<float[]> last = new ArrayList<>();
            List<int[]> fed = batchEqualsAlone(engine, 11, last);
            ReferenceModel ref = new ReferenceModel(EngineTest.MODELS, EngineTest.MIXED_REF, engine.segmentLength());
            for (int b = 0; b < fed.size(); b++) {
                double[][] want = ref.logits(fed.get(b));
                EngineTest.assertClose(want[want.length - 1], last.get(b), 1e-4, "sequence " + b + " vs reference");
            }
        }
    }

    /**
     * Calls whose every sequence brings whole segments from a segment boundary (no held rows: each sequence's rows go
     * straight between ONNX Runtime's buffers and its scratch) between calls that hold rows, on the model thread and on
     * the helper threads; layer 1 has no memory after layer 0's model-space addend, so its zero addend, put once, must
     * not be left stale by the skipped puts. Bit-equal to each sequence alone, and the logits to the reference.
     */
    @Test
    void wholeSegmentsOfSeveralSequencesEqualEachAlone() throws IOException {
        String config = """
                layers:
                  default: {attention: {provider: window, window: 3}}
                  "0": {memory: addend-memory}
                  "1": {memory: none}
                """;
        try (Engine engine = load(config)) {
            int s = engine.segmentLength();
            int[] history = {0, s, 2 * s};
            int[][] rounds = {{s, 2 * s, s}, {1, 1, 1}, {s - 1, s - 1, s - 1}, {s, s, 2 * s}, {2, 1, 3}};
            ReferenceModel ref = new ReferenceModel(EngineTest.MODELS,
                    List.of(new ReferenceModel.LayerConfig(3, "addend-memory"), new ReferenceModel.LayerConfig(3, "none")), s);
            for (boolean helpers : new boolean[] {false, true}) {
                Engine.sequencesOnHelpersForTests = helpers;
                try {
                    long direct = engine.callsCopyingPerSequence();
                    List<float[]> last = new ArrayList<>();
                    List<int[]> fed = batchEqualsAlone(engine, helpers ? 5 : 3, history, rounds, last);
                    assertTrue(engine.callsCopyingPerSequence() >= direct + 2,
                            "the whole-segment rounds ran as calls without held rows");
                    for (int b = 0; b < fed.size(); b++) {
                        double[][] want = ref.logits(fed.get(b));
                        EngineTest.assertClose(want[want.length - 1], last.get(b), 1e-4, "sequence " + b + " vs reference");
                    }
                } finally {
                    Engine.sequencesOnHelpersForTests = false;
                }
            }
        }
    }

    @Test
    void everyRowsLogitsOfABatchEqualEachAlone() throws IOException {
        try (Engine engine = load(EngineTest.MIXED)) {
            int s = engine.segmentLength();
            ModelSequence a = engine.newSequence();
            ModelSequence b = engine.newSequence();
            engine.ingest(b, EngineTest.tokens(s + 1, 3));
            ModelSequence a2 = a.fork();
            ModelSequence b2 = b.fork();
            int[] ta = EngineTest.tokens(2 * s + 1, 4);
            int[] tb = EngineTest.tokens(3, 5);
            List<float[][]> got = engine.ingestAll(List.of(a, b), List.of(ta, tb));
            float[][] wantA = engine.ingestAll(List.of(a2), List.of(ta)).get(0);
            float[][] wantB = engine.ingestAll(List.of(b2), List.of(tb)).get(0);
            assertEquals(ta.length, got.get(0).length);
            for (int i = 0; i < ta.length; i++) {
                assertArrayEquals(wantA[i], got.get(0)[i], "a, token " + i);
            }
            for (int i = 0; i < tb.length; i++) {
                assertArrayEquals(wantB[i], got.get(1)[i], "b, token " + i);
            }
        }
    }

    @Test
    void aFailedBatchRefusesBeforeRunningAndChangesNothing() throws IOException {
        try (Engine engine = load(EngineTest.MIXED)) {
            ModelSequence a = engine.newSequence();
            engine.ingest(a, EngineTest.tokens(3, 1));
            byte[] before = a.snapshot();
            long rows = engine.rowsRun();
            InvalidInputException bad = assertThrows(InvalidInputException.class, () -> engine.forwardBatch(List.of(
                    new Engine.Step(a, new int[] {1}), new Engine.Step(engine.newSequence(), new int[] {1, 99}))));
            assertTrue(bad.getMessage().contains("tokens[1][1]"), bad.getMessage());
            assertThrows(InvalidInputException.class, () -> engine.forwardBatch(List.of(
                    new Engine.Step(a, new int[] {1}), new Engine.Step(a, new int[] {2}))));
            assertThrows(InvalidInputException.class, () -> engine.forwardBatch(List.of(new Engine.Step(null, new int[] {1}))));
            assertEquals(rows, engine.rowsRun(), "nothing ran");
            assertArrayEquals(before, a.snapshot());
            assertEquals(3, a.position(), "the tokens it had");
        }
    }
}
