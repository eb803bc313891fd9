package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.kernel.ParallelHeads;
import dev.engram.conformance.SeededData;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Segments of SIMD size (dk 64, dv 40: whole vectors and a leftover), big enough that their heads run on the
 * helper threads: against the double-precision reference, and a row attended alone (the calling thread only)
 * against the same row of the whole segment, bit for bit.
 */
class ThreadIndependenceTest {
    private static final double ABS = 2e-6;
    private static final double REL = 2e-5;

    @ParameterizedTest
    @EnumSource(PositionalEncoding.class)
    void parallelSimdPathMatchesTheReferenceAndARowAlone(PositionalEncoding positional) {
        assertEquals(2, ParallelHeads.helpers(), "the test JVM runs two helpers (surefire argLine)");
        // two heads per kv head (staged before the heads run), and one (each head stages its own)
        for (LayerSpec spec : new LayerSpec[] {new LayerSpec(4, 2, 64, 40, 8), new LayerSpec(4, 4, 64, 40, 8)}) {
            check(positional, spec);
        }
    }

    private void check(PositionalEncoding positional, LayerSpec spec) {
        int window = 128;
        double theta = 10000.0;
        Map<String, Object> config = Map.of("positional", positional.name().toLowerCase(), "ropeTheta", theta,
                "window", window);
        Attention attention = ProviderRegistry.load().newAttention("window", 0, spec, config, Map.of());
        int[] lengths = {128, 128, 77, 128};
        List<ReferenceAttention.Inputs> inputs = new ArrayList<>();
        for (int s = 0; s < lengths.length; s++) {
            SeededData.Inputs in = SeededData.inputs(spec, lengths[s], 17 * s + 5);
            inputs.add(new ReferenceAttention.Inputs(in.q(), in.k(), in.v()));
        }
        List<double[]> expected = ReferenceAttention.run(spec, positional, theta, window, inputs);
        long position = 0;
        for (int s = 0; s < inputs.size(); s++) {
            ReferenceAttention.Inputs in = inputs.get(s);
            Segment segment = Segment.of(position, in.q(), in.k(), in.v());
            int n = in.length();
            float[] lastRowAlone = attention.attendRows(segment, n - 1).toArray();
            float[] whole = attention.attend(segment).toArray();
            double[] want = expected.get(s);
            for (int i = 0; i < want.length; i++) {
                assertTrue(Math.abs(whole[i] - want[i]) <= ABS + REL * Math.abs(want[i]),
                        "segment " + s + " value " + i + ": fast " + whole[i] + ", reference " + want[i]);
            }
            int dv = spec.valueDim();
            for (int h = 0; h < spec.heads(); h++) {
                assertArrayEquals(java.util.Arrays.copyOfRange(whole, ((h + 1) * n - 1) * dv, (h + 1) * n * dv),
                        java.util.Arrays.copyOfRange(lastRowAlone, h * dv, (h + 1) * dv), "segment " + s + ", head " + h);
            }
            position += n;
        }
    }
}
