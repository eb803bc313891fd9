package dev.engram.memory.lsh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LshAttentionPropertiesTest {
    private static final LshAttentionProvider PROVIDER = new LshAttentionProvider();

    private static Attention attention(LayerSpec spec, Map<String, ?> config, Map<String, Tensor> weights) {
        return PROVIDER.create(Fixtures.context(PROVIDER, spec, config, weights));
    }

    @ParameterizedTest(name = "N={0} dk={1} causal={2}")
    @CsvSource({"1, 4, true", "5, 4, true", "17, 8, true", "17, 8, false", "64, 16, true", "33, 16, false"})
    void oneRoundAndOneChunkEqualsFullAttentionWithTheSelfMask(int n, int dk, boolean causal) {
        LayerSpec spec = new LayerSpec(2, 2, dk, 3, 8);
        Attention a = attention(spec, Map.of("rounds", 1, "chunk", 64, "causal", causal, "seed", n), Map.of());
        Tensor q = Fixtures.gaussian(n * 31L, 2, n, dk);
        Tensor v = Fixtures.gaussian(n * 37L, 2, n, 3);
        Tensor out = a.attend(Segment.of(0, q, null, v));
        double[][][] expected = new double[2][][];
        for (int h = 0; h < 2; h++) {
            expected[h] = PlainReference.fullHead(Fixtures.rows(q, h), Fixtures.rows(v, h), causal);
        }
        assertTrue(Fixtures.maxAbsDiff(out, expected) < 1e-5, "lsh with one chunk must be full attention");
    }

    @Test
    void severalRoundsOfOneChunkAlsoEqualFullAttention() {
        LayerSpec spec = new LayerSpec(1, 1, 8, 4, 8);
        Attention a = attention(spec, Map.of("rounds", 4, "chunk", 32, "seed", 3), Map.of());
        Tensor q = Fixtures.gaussian(5, 1, 30, 8);
        Tensor v = Fixtures.gaussian(6, 1, 30, 4);
        Tensor out = a.attend(Segment.of(0, q, null, v));
        double[][][] expected = {PlainReference.fullHead(Fixtures.rows(q, 0), Fixtures.rows(v, 0), true)};
        assertTrue(Fixtures.maxAbsDiff(out, expected) < 1e-5);
    }

    /**
     * Values are one-hot positions (dv = N), so row i of the output is token i's attention distribution.
     * Its support must lie in the union over rounds of "own chunk or previous chunk of that round", computed
     * here from the reference's own hashing and sorting, and never after i when causal.
     */
    @ParameterizedTest(name = "rounds={0} chunk={1} N={2} causal={3}")
    @CsvSource({"1, 4, 40, true", "1, 5, 37, false", "3, 4, 40, true", "2, 8, 61, false", "1, 2, 9, true"})
    void everyTokenAttendsOnlyWithinItsOwnOrThePreviousChunk(int rounds, int chunk, int n, boolean causal) {
        int dk = 6;
        int buckets = 8;
        LayerSpec spec = new LayerSpec(1, 1, dk, n, 8);
        Tensor rot = Fixtures.gaussian(rounds * 100L + n, 1, dk, rounds, buckets / 2);
        Attention a = attention(spec, Map.of("rounds", rounds, "chunk", chunk, "buckets", buckets, "causal", causal),
                Map.of(LshAttentionProvider.ROTATIONS, rot));
        Tensor q = Fixtures.gaussian(n * 13L + rounds, 1, n, dk);
        Tensor v = Tensor.zeros(1, n, n);
        for (int i = 0; i < n; i++) {
            v.set(1f, 0, i, i);
        }
        Tensor out = a.attend(Segment.of(0, q, null, v));
        float[][] qr = Fixtures.rows(q, 0);
        float[][][][] r4 = PlainReference.rotations(rot.toArray(), 1, dk, rounds, buckets / 2);
        int npad = (n + chunk - 1) / chunk * chunk;
        List<List<Integer>> orders = new java.util.ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            orders.add(PlainReference.sortedOrder(qr, r4, 0, r, npad));
        }
        int outsideChecked = 0;
        for (int i = 0; i < n; i++) {
            Set<Integer> allowed = new HashSet<>();
            for (int r = 0; r < rounds; r++) {
                allowed.addAll(PlainReference.window(orders.get(r), i, chunk, n));
            }
            double total = 0;
            for (int j = 0; j < n; j++) {
                float w = out.get(0, i, j);
                total += w;
                if (!allowed.contains(j)) {
                    assertEquals(0f, w, "token " + i + " gave weight to " + j + " outside its chunks");
                    outsideChecked++;
                }
                if (causal && j > i) {
                    assertEquals(0f, w, "token " + i + " attended to the later token " + j);
                }
            }
            assertEquals(1.0, total, 1e-5, "row " + i + " is a distribution");
        }
        assertTrue(outsideChecked > 0, "the case must have tokens outside some windows, or it checks nothing");
    }

    @Test
    void paddingIsNeverAttendedAndOutputsMatchTheReference() {
        // N = 13 with chunk 4 pads to 16; the reference treats padding as absent.
        LayerSpec spec = new LayerSpec(2, 2, 4, 3, 8);
        Map<String, Object> config = Map.of("rounds", 3, "chunk", 4, "causal", false, "seed", 99);
        Attention a = attention(spec, config, Map.of());
        Tensor q = Fixtures.gaussian(1, 2, 13, 4);
        Tensor v = Fixtures.gaussian(2, 2, 13, 3);
        Tensor out = a.attend(Segment.of(0, q, null, v));
        int buckets = PlainReference.defaultBuckets(16, 4);
        assertEquals(8, buckets);
        float[][][][] rot = PlainReference.rotations(99, 2, 4, 3, buckets / 2);
        double[][][] expected = new double[2][][];
        for (int h = 0; h < 2; h++) {
            expected[h] = PlainReference.lshHead(Fixtures.rows(q, h), Fixtures.rows(v, h), rot, h, 3, 4, false);
        }
        assertTrue(Fixtures.maxAbsDiff(out, expected) < 1e-5);
    }

    @Test
    void defaultBucketRule() {
        assertEquals(2, LshAttention.defaultBuckets(64, 64));
        assertEquals(4, LshAttention.defaultBuckets(128, 64));
        assertEquals(4, LshAttention.defaultBuckets(192, 64));
        assertEquals(32, LshAttention.defaultBuckets(1024, 64));
        assertEquals(2048, LshAttention.defaultBuckets(65536, 64));
        assertEquals(16, LshAttention.defaultBuckets(40, 4)); // 2 * 40 / 4 = 20 -> 16
    }

    @Test
    void lengthsVaryBetweenSegmentsAndEachSegmentStandsAlone() {
        LayerSpec spec = new LayerSpec(1, 1, 4, 2, 8);
        Map<String, Object> config = Map.of("rounds", 2, "chunk", 4);
        Attention reused = attention(spec, config, Map.of());
        for (int n : new int[] {9, 3, 17, 9}) {
            Tensor q = Fixtures.gaussian(n, 1, n, 4);
            Tensor v = Fixtures.gaussian(n + 1, 1, n, 2);
            Tensor expected = attention(spec, config, Map.of()).attend(Segment.of(0, q, null, v)).copy();
            assertTrue(expected.bitEquals(reused.attend(Segment.of(100, q, null, v))), "N = " + n);
        }
    }

    @Test
    void theSameSeedGivesTheSameRotationsAndAPinnedStream() {
        Rotations a = Rotations.generate(42, 1, 2, 1, 4);
        Rotations b = Rotations.generate(42, 1, 2, 1, 4);
        double[] proj = new double[2];
        float[] x = {0.3f, -1.1f};
        assertEquals(a.bucket(x, 0, 0, 0, proj), b.bucket(x, 0, 0, 0, proj));
        // The stream is Commons Math's Well19937c Gaussian stream; PlainReference draws it independently.
        float[][][][] ref = PlainReference.rotations(42, 1, 2, 1, 2);
        for (int i = 0; i < 16; i++) {
            float[] y = {(float) Math.cos(i), (float) Math.sin(i)};
            assertEquals(PlainReference.bucket(y, ref, 0, 0), a.bucket(y, 0, 0, 0, proj));
        }
    }

    @Test
    void rotationsWeightNeedsExplicitBuckets() {
        LayerSpec spec = new LayerSpec(1, 1, 4, 2, 8);
        Map<String, Tensor> weights = new HashMap<>();
        weights.put("rotations", Tensor.zeros(1, 4, 4, 4));
        ConfigException e = assertThrows(ConfigException.class,
                () -> Fixtures.context(PROVIDER, spec, Map.of(), weights));
        assertTrue(e.getMessage().contains("rotations"), e.getMessage());
        // with explicit buckets the same weight is accepted
        Fixtures.context(PROVIDER, spec, Map.of("buckets", 8), weights);
    }

    @Test
    void badConfigNamesTheKey() {
        ConfigException odd = assertThrows(ConfigException.class,
                () -> PROVIDER.configSchema().parse("test", Map.of("buckets", 7)));
        assertTrue(odd.getMessage().contains("'buckets' is 7"), odd.getMessage());
        ConfigException chunk = assertThrows(ConfigException.class,
                () -> PROVIDER.configSchema().parse("test", Map.of("chunk", 0)));
        assertTrue(chunk.getMessage().contains("'chunk' is 0"), chunk.getMessage());
    }

    /**
     * Why {@code lsh} does not declare CAUSAL: with several chunks, changing only the last token moves it in
     * the sorted order and shifts earlier tokens across chunk boundaries, so an earlier output changes.
     */
    @Test
    void aLaterTokenCanChangeAnEarlierOutputThroughTheChunking() {
        LayerSpec spec = new LayerSpec(1, 1, 4, 2, 8);
        Map<String, Object> config = Map.of("rounds", 1, "chunk", 2, "buckets", 4, "causal", true);
        assertTrue(!PROVIDER.supports(dev.engram.api.Capability.CAUSAL, PROVIDER.configSchema().parse("t", config)));
        boolean changed = false;
        for (long seed = 0; seed < 50 && !changed; seed++) {
            Tensor q = Fixtures.gaussian(seed, 1, 12, 4);
            Tensor v = Fixtures.gaussian(seed + 1000, 1, 12, 2);
            Tensor a = attention(spec, config, Map.of()).attend(Segment.of(0, q, null, v)).copy();
            Tensor q2 = q.copy();
            for (int d = 0; d < 4; d++) {
                q2.set(-q.get(0, 11, d), 0, 11, d);
            }
            Tensor b = attention(spec, config, Map.of()).attend(Segment.of(0, q2, null, v));
            for (int i = 0; i < 11; i++) {
                changed |= a.get(0, i, 0) != b.get(0, i, 0);
            }
        }
        assertTrue(changed, "expected the chunking to leak a later token into an earlier output");
    }

    @Test
    void groupedQueryHeadsAreRefused() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> Fixtures.context(PROVIDER, new LayerSpec(4, 2, 4, 4, 8), Map.of(), Map.of()));
        assertTrue(e.getMessage().contains("kvHeads"));
    }
}
