package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The fast path against {@link InfiniReference}: relative error within 1e-4 (plus 1e-5 absolute). */
class FastPathVersusReferenceTest {
    private static double run(int heads, int kvHeads, int dk, int dv, boolean delta, int segments, int minLength,
                              int maxLength, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] beta = new double[heads];
        for (int h = 0; h < heads; h++) {
            beta[h] = r.nextDouble() * 4 - 2;
        }
        LayerSpec spec = new LayerSpec(heads, kvHeads, dk, dv, 8);
        LongTermMemory fast = Fixtures.memory(spec, delta, beta);
        InfiniReference ref = new InfiniReference(heads, kvHeads, dk, dv, delta, 1e-6, beta);
        double worst = 0;
        long position = 0;
        for (int s = 0; s < segments; s++) {
            int n = minLength + r.nextInt(maxLength - minLength + 1);
            double[][][] q = Fixtures.random(r, heads, n, dk, 2);
            double[][][] k = Fixtures.random(r, kvHeads, n, dk, 2);
            double[][][] v = Fixtures.random(r, kvHeads, n, dv, 1);
            double[][][] local = Fixtures.random(r, heads, n, dv, 1);
            Segment segment = Segment.of(position, Fixtures.tensor(q), Fixtures.tensor(k), Fixtures.tensor(v));
            Readout readout = fast.read(segment);
            double[][][] expectedMemory = ref.read(q);
            worst = Math.max(worst, Fixtures.worst(((Readout.PerHead) readout).values(), expectedMemory));
            worst = Math.max(worst, Fixtures.worst(fast.combine(Fixtures.tensor(local), readout), ref.combine(local, expectedMemory)));
            fast.write(segment);
            ref.write(k, v);
            position += n;
        }
        return worst;
    }

    @ParameterizedTest(name = "H={0} G={1} dk={2} dv={3} delta={4} lengths {5}-{6}")
    @CsvSource({
            "1, 1, 4, 4, false, 3, 9",
            "1, 1, 4, 4, true, 3, 9",
            "4, 2, 8, 6, false, 1, 12",
            "4, 2, 8, 6, true, 1, 12",
            "6, 3, 16, 16, true, 1, 1",
            "8, 1, 32, 16, false, 5, 40",
            "8, 8, 16, 32, true, 5, 40",
            "3, 1, 5, 3, true, 1, 9",
            "2, 2, 7, 9, false, 1, 6",
            "4, 4, 64, 64, true, 30, 70",
            // SIMD-sized rows with a leftover column (dv 40), segments big enough for the parallel heads
            "4, 2, 64, 40, false, 100, 140",
            "4, 2, 64, 40, true, 100, 140"})
    void matchesTheReference(int heads, int kvHeads, int dk, int dv, boolean delta, int minLength, int maxLength) {
        double worst = run(heads, kvHeads, dk, dv, delta, 12, minLength, maxLength, 31L * heads + dk + (delta ? 1 : 0));
        assertTrue(worst <= 1, "worst error is " + worst + " times the tolerance");
    }

    @ParameterizedTest(name = "delta={0}")
    @CsvSource({"false", "true"})
    void tenThousandSegmentsStayFiniteAndMatchTheReference(boolean delta) {
        double worst = run(2, 1, 4, 4, delta, 10_000, 1, 3, 99);
        assertTrue(worst <= 1, "worst error over 10,000 segments is " + worst + " times the tolerance");
    }

    @Test
    void theFirstSegmentReadsExactlyZero() {
        LayerSpec spec = new LayerSpec(2, 1, 4, 4, 8);
        LongTermMemory m = Fixtures.memory(spec, false, new double[] {0, 0});
        SplittableRandom r = new SplittableRandom(1);
        Tensor q = Fixtures.tensor(Fixtures.random(r, 2, 3, 4, 5));
        Readout readout = m.read(Segment.of(0, q, null, null));
        for (float x : ((Readout.PerHead) readout).values().toArray()) {
            assertEquals(0f, x);
        }
    }

    @Test
    void aWriteThatWouldOverflowIsRefusedNamingLayerAndHeadAndChangesNothing() {
        LayerSpec spec = new LayerSpec(2, 2, 2, 2, 8);
        LongTermMemory m = Fixtures.memory(spec, false, new double[] {0, 0});
        Tensor ok = Tensor.of(new float[] {1, 1, 1, 1}, 2, 1, 2);
        m.write(Segment.of(0, null, ok, ok));
        byte[] before = m.snapshot().toBytes();
        Tensor k = Tensor.of(new float[] {1, 1, 3e38f, 3e38f}, 2, 1, 2);
        Tensor v = Tensor.of(new float[] {1, 1, 3e38f, 3e38f}, 2, 1, 2);
        NonFiniteStateException e = assertThrows(NonFiniteStateException.class, () -> m.write(Segment.of(1, null, k, v)));
        assertTrue(e.getMessage().startsWith("provider 'infini' layer 4: the write would make M of kv head 1 Infinity"),
                e.getMessage());
        assertArrayEquals(before, m.snapshot().toBytes());
    }
}
