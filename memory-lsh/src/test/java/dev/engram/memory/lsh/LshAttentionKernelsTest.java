package dev.engram.memory.lsh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.kernel.ParallelHeads;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code lsh} on the shared kernels ({@code FloatKernels}) and helper threads ({@link ParallelHeads}), at the shapes
 * the benchmark runs (dk = dv = 64, chunk 64, 4 rounds: windows of 128 keys, wider than one SIMD vector) and with
 * padding and several chunks: against the plain double-precision reference, and head by head against a one-head
 * layer, which never hands work to a helper.
 */
class LshAttentionKernelsTest {
    private static final LshAttentionProvider PROVIDER = new LshAttentionProvider();

    @ParameterizedTest(name = "N={0} chunk={1} buckets={2} causal={3}")
    @CsvSource({"128, 64, 4, true", "128, 64, 4, false", "300, 32, 8, true", "77, 16, 0, true", "200, 64, 2, false"})
    void matchesThePlainReferenceAtBenchmarkShapes(int n, int chunk, int buckets, boolean causal) {
        int heads = 4;
        int dk = 64;
        int dv = 64;
        int rounds = 4;
        LayerSpec spec = new LayerSpec(heads, heads, dk, dv, 256);
        Attention a = PROVIDER.create(Fixtures.context(PROVIDER, spec,
                Map.of("rounds", rounds, "chunk", chunk, "buckets", buckets, "causal", causal, "seed", 7), Map.of()));
        Tensor q = Fixtures.gaussian(n * 13L + chunk, heads, n, dk);
        Tensor v = Fixtures.gaussian(n * 17L + chunk, heads, n, dv);
        Tensor out = a.attend(Segment.of(0, q, null, v));
        int npad = (n + chunk - 1) / chunk * chunk;
        int b = buckets != 0 ? buckets : PlainReference.defaultBuckets(npad, chunk);
        float[][][][] rot = PlainReference.rotations(7, heads, dk, rounds, b / 2);
        double[][][] expected = new double[heads][][];
        for (int h = 0; h < heads; h++) {
            expected[h] = PlainReference.lshHead(Fixtures.rows(q, h), Fixtures.rows(v, h), rot, h, rounds, chunk, causal);
        }
        double worst = Fixtures.maxAbsDiff(out, expected);
        assertTrue(worst < 1e-5, "worst difference to the reference " + worst);
    }

    /**
     * Each head runs whole on one thread with its own scratch, so a head computed inside a parallel four-head call
     * gives the same bits as that head alone in a one-head layer (same queries, values and rotations).
     */
    @ParameterizedTest(name = "N={0} causal={1}")
    @CsvSource({"128, true", "190, false"})
    void aHeadGivesTheSameBitsAloneAsBesideOthersOnHelperThreads(int n, boolean causal) {
        assertEquals(2, ParallelHeads.helpers(), "the test JVM runs two helpers (surefire argLine)");
        int heads = 4;
        int dk = 64;
        int dv = 32;
        int rounds = 4;
        int buckets = 4;
        int chunk = 64;
        long multiplyAdds = (long) heads * rounds * n * Math.min(2L * chunk, n) * (dk + dv);
        assertTrue(multiplyAdds >= ParallelHeads.WORTH_A_HELPER, "the four-head call must be big enough for helpers");
        Map<String, Object> config = Map.of("rounds", rounds, "chunk", chunk, "buckets", buckets, "causal", causal);
        Tensor rotations = Fixtures.gaussian(3, heads, dk, rounds, buckets / 2);
        Tensor q = Fixtures.gaussian(n, heads, n, dk);
        Tensor v = Fixtures.gaussian(n + 1L, heads, n, dv);
        Attention all = PROVIDER.create(Fixtures.context(PROVIDER, new LayerSpec(heads, heads, dk, dv, 256), config,
                Map.of("rotations", rotations)));
        Tensor together = all.attend(Segment.of(0, q, null, v)).copy();
        LayerSpec one = new LayerSpec(1, 1, dk, dv, 256);
        for (int h = 0; h < heads; h++) {
            Attention alone = PROVIDER.create(Fixtures.context(PROVIDER, one, config,
                    Map.of("rotations", rotations.select(h).copy().reshape(1, dk, rounds, buckets / 2))));
            Tensor single = alone.attend(Segment.of(0, q.select(h).copy().reshape(1, n, dk),
                    null, v.select(h).copy().reshape(1, n, dv)));
            assertTrue(together.select(h).copy().reshape(1, n, dv).bitEquals(single), "head " + h);
        }
    }
}
