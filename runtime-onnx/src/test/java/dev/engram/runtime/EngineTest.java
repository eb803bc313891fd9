package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.ReferenceModel.LayerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineTest {
    static final Path MODELS = Path.of("src/test/resources/models");
    static final Path TINY = MODELS.resolve("tiny");
    /** window 3 on both layers, addend-memory (model space) on layer 0, gate-memory (per head) on layer 1. */
    static final String MIXED = """
            layers:
              default: {attention: {provider: window, window: 3}}
              "0": {memory: addend-memory}
              "1": {memory: gate-memory}
            """;
    static final List<LayerConfig> MIXED_REF = List.of(new LayerConfig(3, "addend-memory"), new LayerConfig(3, "gate-memory"));

    @TempDir
    static Path dir;
    static Engine mixed;

    @BeforeAll
    static void open() throws IOException {
        mixed = load(MIXED, null);
    }

    @AfterAll
    static void close() {
        mixed.close();
    }

    static Engine load(String yaml, Integer segmentLength) throws IOException {
        Path f = Files.createTempFile(dir, "config", ".yaml");
        Files.writeString(f, yaml);
        EngineLoader loader = new EngineLoader().config(f).systemOverrides(false);
        if (segmentLength != null) {
            loader.segmentLength(segmentLength);
        }
        return loader.load(TINY);
    }

    static int[] tokens(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(ReferenceModel.V);
        }
        return t;
    }

    static void assertClose(double[] expected, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol, what + " [" + i + "]");
        }
    }

    @Test
    void everyTokensLogitsMatchThePlainReferenceForwardPass() {
        int[] t = tokens(11, 1); // segments of 4: 4 + 4 + a partial 3
        double[][] want = new ReferenceModel(MODELS, MIXED_REF, 4).logits(t);
        float[][] got = mixed.ingestAll(List.of(mixed.newSequence()), List.of(t)).get(0);
        for (int i = 0; i < t.length; i++) {
            assertClose(want[i], got[i], 1e-4, "token " + i);
        }
    }

    /**
     * Decoding one token at a time with segments of 8. Row by row, every token runs 1 row, the one that completes a
     * segment too: with EXACT_ROWS declared everywhere the segment runs into the state from the rows held (15 tokens:
     * 15 rows); without it, that token runs the segment's 8 again (7 + 8 + 7 = 22 rows); re-running the segment so far
     * instead costs 1 + 2 + .. + 7 = 28 rows per segment (28 + 8 + 28 = 64). All give the plain reference's logits and,
     * bit for bit, the state that input fed at once gives; a sequence restored mid-segment evaluates its pending rows
     * once and goes on.
     */
    @Test
    void decodingInsideASegmentRunsOnlyTheNewRowsAndMatchesTheReference() throws IOException {
        String recomputeYaml = MIXED.replace("\"1\": {memory: gate-memory}",
                "\"1\": {memory: {provider: gate-memory, partialRows: false}}");
        String notExactYaml = MIXED.replace("\"1\": {memory: gate-memory}",
                "\"1\": {memory: {provider: gate-memory, exactRows: false}}");
        assertTrue(recomputeYaml.contains("partialRows: false") && notExactYaml.contains("exactRows: false"));
        int[] t = tokens(15, 12);
        double[][] want = new ReferenceModel(MODELS, MIXED_REF, 8).logits(t);
        try (Engine rows = load(MIXED, 8); Engine notExact = load(notExactYaml, 8); Engine recompute = load(recomputeYaml, 8)) {
            assertTrue(rows.decodesRowByRow() && notExact.decodesRowByRow());
            assertEquals(false, recompute.decodesRowByRow(), "one layer's memory does not declare PARTIAL_ROWS");
            for (Engine e : List.of(rows, notExact, recompute)) {
                ModelSequence atOnce = e.newSequence(); // (the saved state names the configuration: one per engine)
                e.ingest(atOnce, t);
                ModelSequence s = e.newSequence();
                long before = e.rowsRun();
                for (int i = 0; i < t.length; i++) {
                    assertClose(want[i], e.ingest(s, new int[] {t[i]}), 1e-4, "token " + i);
                }
                String what = e == rows ? "row by row, exact rows" : e == notExact ? "row by row" : "re-run";
                assertEquals(e == rows ? 15 : e == notExact ? 22 : 64, e.rowsRun() - before, what);
                assertArrayEquals(atOnce.snapshot(), s.snapshot(), what + ": the state after the same tokens");
            }
            ModelSequence straight = rows.newSequence();
            rows.ingest(straight, java.util.Arrays.copyOf(t, 10));
            ModelSequence restored = rows.newSequence();
            restored.restore(straight.snapshot());
            float[] want11 = rows.ingest(straight, new int[] {t[10]});
            long before = rows.rowsRun();
            float[] got11 = rows.ingest(restored, new int[] {t[10]});
            for (int v = 0; v < want11.length; v++) {
                // 3 rows here against 1 there: equal up to ONNX Runtime's blocking by row count
                assertEquals(want11[v], got11[v], 1e-5, "logit " + v);
            }
            assertEquals(3, rows.rowsRun() - before, "the restored sequence's 2 pending rows, then the new one");
            before = rows.rowsRun();
            rows.ingest(restored, new int[] {t[11]});
            assertEquals(1, rows.rowsRun() - before, "then one row per token");
            // A fork mid-segment: its attentions hold no rows of the segment (HELD_ROWS), so its first token gives
            // them the segment so far, then its own rows only; the same bits as the sequence it was forked from.
            ModelSequence forked = straight.fork();
            for (int i = 11; i < 14; i++) {
                assertArrayEquals(rows.ingest(straight, new int[] {t[i]}), rows.ingest(forked, new int[] {t[i]}),
                        "token " + i + " on a fork");
            }
            assertArrayEquals(straight.snapshot(), forked.snapshot(), "a fork's state after the same tokens");
        }
    }

    @Test
    void aConfigFileIsLaidOverThePackagesOwnLayersAndAChangedAttentionIsAWarning() throws IOException {
        // the package (tiny): window 3 on every layer, gate-memory on layer 1. A memory-only file keeps both.
        try (Engine e = load("layers: {\"0\": {memory: none}}", null)) {
            assertEquals("window", e.plan().layers().get(0).attention().provider());
            assertEquals("gate-memory", e.plan().layers().get(1).memory().orElseThrow().provider());
            assertEquals(List.of(), e.warnings());
        }
        try (Engine e = load("layers: {default: {attention: {provider: window, window: 2}}}", null)) {
            assertEquals(2, e.plan().layers().get(1).attention().config().asMap().get("window"));
            assertEquals("gate-memory", e.plan().layers().get(1).memory().orElseThrow().provider(), "range 1's memory stays");
            assertEquals(1, e.warnings().size(), e.warnings().toString());
            assertTrue(e.warnings().get(0).endsWith(" gives layers [0, 1] the attention 'window' with window 2 (trained: 3):"
                    + " the model was not trained so, and its outputs will differ"), e.warnings().get(0));
        }
        try (Engine e = load("replaceLayers: true\nlayers: {default: {attention: {provider: window, window: 3}}}", null)) {
            assertTrue(e.plan().layers().get(1).memory().isEmpty(), "replaced: the package's range 1 is gone");
        }
    }

    @Test
    void fullAttentionAndNoMemoryMatchTheReferenceToo() throws IOException {
        try (Engine e = load("replaceLayers: true\nlayers: {default: {attention: full}}", null)) {
            int[] t = tokens(9, 2);
            double[][] want = new ReferenceModel(MODELS, List.of(new LayerConfig(-1, "none"), new LayerConfig(-1, "none")), 4)
                    .logits(t);
            float[] last = e.ingest(e.newSequence(), t);
            assertClose(want[8], last, 1e-4, "last token");
        }
    }

    @Test
    void fullAttentionInSegmentsEqualsOneShot() throws IOException {
        int[] t = tokens(12, 3);
        try (Engine segmented = load("replaceLayers: true\nlayers: {default: {attention: full}}", null);
             Engine oneShot = load("replaceLayers: true\nlayers: {default: {attention: full}}", 12)) {
            float[][] a = segmented.ingestAll(List.of(segmented.newSequence()), List.of(t)).get(0);
            float[][] b = oneShot.ingestAll(List.of(oneShot.newSequence()), List.of(t)).get(0);
            for (int i = 0; i < t.length; i++) {
                for (int v = 0; v < ReferenceModel.V; v++) {
                    assertEquals(b[i][v], a[i][v], 1e-5, "token " + i + " logit " + v);
                }
            }
        }
    }

    @Test
    void feedingInPiecesEqualsFeedingAtOnceBitForBit() {
        int[] t = tokens(19, 4);
        ModelSequence whole = mixed.newSequence();
        float[] once = mixed.ingest(whole, t);
        ModelSequence pieces = mixed.newSequence();
        float[] last = null;
        int[] cuts = {0, 1, 3, 4, 9, 10, 17, 19};
        for (int c = 0; c + 1 < cuts.length; c++) {
            last = mixed.ingest(pieces, java.util.Arrays.copyOfRange(t, cuts[c], cuts[c + 1]));
        }
        assertArrayEquals(once, last);
        assertArrayEquals(whole.snapshot(), pieces.snapshot());
        assertEquals(19, pieces.position());
        assertEquals(3, pieces.pendingTokens());
    }

    @Test
    void snapshotRestoreContinueEqualsAnUninterruptedRun() {
        int[] a = tokens(10, 5);
        int[] b = tokens(7, 6);
        ModelSequence straight = mixed.newSequence();
        mixed.ingest(straight, a);
        float[] want = mixed.ingest(straight, b);

        ModelSequence first = mixed.newSequence();
        mixed.ingest(first, a);
        byte[] snap = first.snapshot();
        mixed.ingest(first, tokens(5, 99)); // the original moves on; the snapshot must not
        ModelSequence restored = mixed.newSequence();
        restored.restore(snap);
        assertEquals(10, restored.position());
        assertArrayEquals(want, mixed.ingest(restored, b));
        assertArrayEquals(straight.snapshot(), restored.snapshot());
    }

    @Test
    void aBatchOfSequencesOfDifferentLengthsEqualsEachAlone() {
        int[] a = tokens(13, 7);
        int[] b = tokens(6, 8);
        int[] c = tokens(1, 9);
        List<float[][]> batched = mixed.ingestAll(List.of(mixed.newSequence(), mixed.newSequence(), mixed.newSequence()),
                List.of(a, b, c));
        int i = 0;
        for (int[] t : List.of(a, b, c)) {
            float[][] alone = mixed.ingestAll(List.of(mixed.newSequence()), List.of(t)).get(0);
            float[][] got = batched.get(i++);
            for (int r = 0; r < t.length; r++) {
                // a batch changes ONNX Runtime's kernel blocking, so allow float rounding
                for (int v = 0; v < ReferenceModel.V; v++) {
                    assertEquals(alone[r][v], got[r][v], 1e-5);
                }
            }
        }
    }

    @Test
    void greedyGenerationFollowsTheArgmaxOfAOneShotRun() {
        int[] prompt = tokens(6, 10);
        ModelSequence s = mixed.newSequence();
        List<Integer> streamed = new ArrayList<>();
        int[] out = mixed.generate(s, prompt, GenerationParams.greedy(7), streamed::add);
        assertEquals(7, out.length);
        assertEquals(streamed, java.util.Arrays.stream(out).boxed().toList());
        assertEquals(13, s.position(), "prompt and every emitted token are consumed");
        int[] all = new int[13];
        System.arraycopy(prompt, 0, all, 0, 6);
        System.arraycopy(out, 0, all, 6, 7);
        double[][] ref = new ReferenceModel(MODELS, MIXED_REF, 4).logits(all);
        for (int i = 0; i < 7; i++) {
            double[] row = ref[5 + i];
            int best = 0;
            for (int v = 1; v < row.length; v++) {
                best = row[v] > row[best] ? v : best;
            }
            assertEquals(best, out[i], "token " + i + " is the reference argmax");
        }
    }

    @Test
    void sampledGenerationIsReproducibleBySeedAndStopsAtStopTokens() {
        int[] prompt = tokens(5, 11);
        GenerationParams p = GenerationParams.sampled(12, 1.5, 0.9, 42);
        int[] a = mixed.generate(mixed.newSequence(), prompt, p, null);
        int[] b = mixed.generate(mixed.newSequence(), prompt, p, null);
        assertArrayEquals(a, b);
        int[] other = mixed.generate(mixed.newSequence(), prompt, GenerationParams.sampled(12, 1.5, 0.9, 43), null);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(other), "another seed, other tokens");
        int[] stopped = mixed.generate(mixed.newSequence(), prompt, p.withStopTokens(java.util.Set.of(a[3])), null);
        int firstStop = 0;
        while (a[firstStop] != a[3]) {
            firstStop++;
        }
        assertArrayEquals(java.util.Arrays.copyOf(a, firstStop), stopped);
    }

    @Test
    void badTokensAreRefusedBeforeAnythingRuns() {
        ModelSequence s = mixed.newSequence();
        mixed.ingest(s, tokens(3, 12));
        byte[] before = s.snapshot();
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> mixed.ingest(s, new int[] {1, 16}));
        assertEquals("tokens[0][1]: is 16; valid: [0, 15] (vocabSize 16)", e.getMessage());
        assertArrayEquals(before, s.snapshot());
        assertThrows(InvalidInputException.class, () -> mixed.ingest(List.of(s, s), List.of(new int[] {1}, new int[] {2})));
    }

    @Test
    void theLoaderAppliesTheModelsPositionalEncodingAndRefusesAnother() throws IOException {
        try (Engine e = load("layers: {default: {attention: {provider: window, window: 3}}}", null)) {
            assertEquals("rope", String.valueOf(e.plan().layers().get(0).attention().raw().get("positional")));
        }
        var ex = assertThrows(dev.engram.api.ConfigException.class,
                () -> load("layers: {default: {attention: {provider: full, positional: alibi}}}", null));
        assertTrue(ex.problems().stream().anyMatch(p -> p.equals("layer 0 attention 'full': 'positional' is 'alibi' but the "
                + "model was trained with 'rope' (engram.json architecture.positional.type); remove the key or set rope")), ex.getMessage());
    }

    @Test
    void thePackagesDefaultMemoryConfigurationIsUsedWithoutAConfigFile() {
        try (Engine e = EngineFactory.create().loader().load(TINY)) {
            assertTrue(e.plan().layers().get(0).memory().isEmpty());
            assertEquals("gate-memory", e.plan().layers().get(1).memory().orElseThrow().provider());
            assertEquals(4, e.segmentLength());
            assertEquals(dev.engram.runtime.config.SessionSettings.Device.CPU, e.device());
        }
    }
}
