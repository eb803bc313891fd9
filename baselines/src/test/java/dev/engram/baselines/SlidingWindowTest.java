package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code window} with {@code sliding: true}: query position p sees keys p - window < j <= p, across segments. The
 * expected outputs are computed here from that definition in double (grouped heads, rotate-half rope).
 */
class SlidingWindowTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 8, 8, 16);
    private final ProviderRegistry registry = ProviderRegistry.load();

    @Test
    void windowOneSeesOnlyItselfAndWindowThreeTheTwoBefore() {
        for (int w : new int[] {1, 3}) {
            Attention a = registry.newAttention("window", 0, SPEC, Map.of("window", w, "sliding", true), Map.of());
            SeededData.Inputs[] parts = {SeededData.inputs(SPEC, 5, 1), SeededData.inputs(SPEC, 5, 2)};
            for (int s = 0; s < 2; s++) {
                Tensor out = a.attend(Segment.of(5L * s, parts[s].q(), parts[s].k(), parts[s].v()));
                for (int h = 0; h < 4; h++) {
                    for (int i = 0; i < 5; i++) {
                        double[] want = expected(parts, s, i, h, w);
                        float[] got = new float[8];
                        for (int d = 0; d < 8; d++) {
                            got[d] = out.array()[out.offset() + (h * 5 + i) * 8 + d];
                        }
                        for (int d = 0; d < 8; d++) {
                            assertEquals(want[d], got[d], 2e-6 + 2e-5 * Math.abs(want[d]),
                                    "window " + w + " segment " + s + " head " + h + " row " + i);
                        }
                        if (w == 1) { // softmax over one key: exactly its value
                            float[] v = new float[8];
                            System.arraycopy(parts[s].v().array(), parts[s].v().offset() + ((h / 2) * 5 + i) * 8, v, 0, 8);
                            assertArrayEquals(v, got, 0f);
                        }
                    }
                }
            }
        }
    }

    /** out for query (segment s, row i, head h) from the definition, keys rotated at their own positions. */
    private static double[] expected(SeededData.Inputs[] parts, int s, int i, int h, int w) {
        int g = h / 2;
        long p = 5L * s + i;
        double[] q = rotate(row(parts[s].q(), h, i), p);
        double[] num = new double[8];
        double den = 0;
        double max = Double.NEGATIVE_INFINITY;
        double[] logits = new double[10];
        for (long j = Math.max(0, p - w + 1); j <= p; j++) {
            double[] k = rotate(row(parts[(int) (j / 5)].k(), g, (int) (j % 5)), j);
            double dot = 0;
            for (int d = 0; d < 8; d++) {
                dot += q[d] * k[d];
            }
            logits[(int) j] = dot / Math.sqrt(8);
            max = Math.max(max, logits[(int) j]);
        }
        for (long j = Math.max(0, p - w + 1); j <= p; j++) {
            double e = Math.exp(logits[(int) j] - max);
            float[] v = row(parts[(int) (j / 5)].v(), g, (int) (j % 5));
            for (int d = 0; d < 8; d++) {
                num[d] += e * v[d];
            }
            den += e;
        }
        for (int d = 0; d < 8; d++) {
            num[d] /= den;
        }
        return num;
    }

    private static float[] row(Tensor t, int head, int i) {
        float[] r = new float[8];
        System.arraycopy(t.array(), t.offset() + (head * 5 + i) * 8, r, 0, 8);
        return r;
    }

    /** Rotate-half RoPE at {@code position}, theta 10000: the plain reference's ({@link ReferenceAttention#rope}). */
    private static double[] rotate(float[] x, long position) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return ReferenceAttention.rope(d, Math.toIntExact(position), 10000.0);
    }

    @Test
    void slidingNeedsAWindowOfAtLeastOne() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> registry.newAttention("window", 0, SPEC, Map.of("window", 0, "sliding", true), Map.of()));
        assertTrue(e.getMessage().contains("'window' is 0 with sliding: true"), e.getMessage());
    }
}
