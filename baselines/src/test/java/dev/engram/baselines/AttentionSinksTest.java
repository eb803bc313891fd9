package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code window} with {@code sinks: N} (StreamingLLM): a query of a segment starting at S sees the sequence's first N
 * tokens, the {@code window} tokens before S (those not already sinks), and its segment up to itself; positions are
 * places in that cache (sinks 0..N-1, then the rest in order), so a key's rotary angle is its place, not its
 * position in the text. Expected outputs are computed here from that definition in double (grouped heads,
 * rotate-half RoPE), over several segments so the window has moved far past the sinks.
 */
class AttentionSinksTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 8, 8, 16);
    private static final int SEG = 5;
    private final ProviderRegistry registry = ProviderRegistry.load();

    @Test
    void queriesSeeTheSinksTheWindowAndTheirSegmentAtTheirPlacesInTheCache() {
        for (int[] wn : new int[][] {{3, 2}, {0, 1}, {7, 4}, {4, 6}}) {
            int w = wn[0];
            int n = wn[1];
            Attention a = registry.newAttention("window", 0, SPEC, Map.of("window", w, "sinks", n), Map.of());
            List<SeededData.Inputs> parts = new ArrayList<>();
            for (int s = 0; s < 6; s++) {
                parts.add(SeededData.inputs(SPEC, SEG, 40 + s));
                Tensor out = a.attend(Segment.of((long) SEG * s, parts.get(s).q(), parts.get(s).k(), parts.get(s).v()));
                for (int h = 0; h < 4; h++) {
                    for (int i = 0; i < SEG; i++) {
                        double[] want = expected(parts, s, i, h, w, n);
                        for (int d = 0; d < 8; d++) {
                            float got = out.array()[out.offset() + (h * SEG + i) * 8 + d];
                            assertEquals(want[d], got, 2e-6 + 2e-5 * Math.abs(want[d]),
                                    "window " + w + " sinks " + n + " segment " + s + " head " + h + " row " + i);
                        }
                    }
                }
            }
        }
    }

    /** The visible tokens of query (segment s, row i) in cache order: sinks, window, the segment up to the query. */
    private static List<Long> visible(int s, int i, int w, int n) {
        long start = (long) SEG * s;
        List<Long> tokens = new ArrayList<>();
        for (long j = 0; j < Math.min(n, start); j++) {
            tokens.add(j);
        }
        for (long j = Math.max(Math.min(n, start), start - w); j < start; j++) {
            tokens.add(j);
        }
        for (long j = start; j <= start + i; j++) {
            tokens.add(j);
        }
        return tokens;
    }

    private static double[] expected(List<SeededData.Inputs> parts, int s, int i, int h, int w, int n) {
        int g = h / 2;
        List<Long> tokens = visible(s, i, w, n);
        int place = tokens.size() - 1; // the query's own place in the cache
        double[] q = rotate(row(parts.get(s).q(), h, i), place);
        double[] logits = new double[tokens.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < tokens.size(); t++) {
            long j = tokens.get(t);
            double[] k = rotate(row(parts.get((int) (j / SEG)).k(), g, (int) (j % SEG)), t);
            double dot = 0;
            for (int d = 0; d < 8; d++) {
                dot += q[d] * k[d];
            }
            logits[t] = dot / Math.sqrt(8);
            max = Math.max(max, logits[t]);
        }
        double[] num = new double[8];
        double den = 0;
        for (int t = 0; t < tokens.size(); t++) {
            long j = tokens.get(t);
            double e = Math.exp(logits[t] - max);
            float[] v = row(parts.get((int) (j / SEG)).v(), g, (int) (j % SEG));
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
        System.arraycopy(t.array(), t.offset() + (head * SEG + i) * 8, r, 0, 8);
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
    void noSinksIsTheWindowOfBeforeAndItsSnapshotIsUnchanged() {
        Attention plain = registry.newAttention("window", 0, SPEC, Map.of("window", 3), Map.of());
        Attention zero = registry.newAttention("window", 0, SPEC, Map.of("window", 3, "sinks", 0), Map.of());
        for (int s = 0; s < 3; s++) {
            SeededData.Inputs in = SeededData.inputs(SPEC, SEG, 70 + s);
            Tensor a = plain.attend(Segment.of((long) SEG * s, in.q(), in.k(), in.v())).copy();
            Tensor b = zero.attend(Segment.of((long) SEG * s, in.q(), in.k(), in.v()));
            assertTrue(a.bitEquals(b), "segment " + s);
        }
        assertEquals(plain.snapshot(), zero.snapshot());
    }

    @Test
    void aSnapshotWithSinksRestoresOnlyIntoTheSameSinks() {
        Attention a = registry.newAttention("window", 0, SPEC, Map.of("window", 3, "sinks", 2), Map.of());
        for (int s = 0; s < 3; s++) {
            SeededData.Inputs in = SeededData.inputs(SPEC, SEG, 90 + s);
            a.attend(Segment.of((long) SEG * s, in.q(), in.k(), in.v()));
        }
        Snapshot snap = a.snapshot();
        Attention noSinks = registry.newAttention("window", 0, SPEC, Map.of("window", 3), Map.of());
        assertThrows(dev.engram.api.SnapshotException.class, () -> noSinks.restore(snap));
        Attention same = registry.newAttention("window", 0, SPEC, Map.of("window", 3, "sinks", 2), Map.of());
        same.restore(snap);
        assertEquals(snap, same.snapshot());
    }

    @Test
    void sinksAndASlidingWindowExcludeEachOther() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> registry.newAttention("window", 0, SPEC, Map.of("window", 3, "sliding", true, "sinks", 2), Map.of()));
        assertTrue(e.getMessage().contains("'sinks' is 2 with sliding: true"), e.getMessage());
    }
}
