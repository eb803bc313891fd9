package dev.engram.conformance;

import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.spi.WeightSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Seeded random tensors, weights and segments for the contract suites. */
public final class SeededData {
    private SeededData() {
    }

    /** Normal(0, scale^2) values from {@code seed}; the same seed gives the same tensor everywhere. */
    public static Tensor normal(long seed, float scale, int... shape) {
        Tensor t = Tensor.zeros(shape);
        SplittableRandom random = new SplittableRandom(seed);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (gaussian(random) * scale);
        }
        return t;
    }

    private static double gaussian(SplittableRandom random) {
        double u1 = random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** One seeded random tensor per weight spec (required and optional alike). */
    public static Map<String, Tensor> weights(List<WeightSpec> specs, long seed) {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (WeightSpec spec : specs) {
            weights.put(spec.name(), normal(seed ^ spec.name().hashCode(), 0.5f, spec.shape()));
        }
        return weights;
    }

    /** The q [H,N,dk], k [G,N,dk], v [G,N,dv], h [N,e] and local output [H,N,dv] of one random segment. */
    public record Inputs(Tensor q, Tensor k, Tensor v, Tensor h, Tensor local) {
        public Inputs copy() {
            return new Inputs(q.copy(), k.copy(), v.copy(), h.copy(), local.copy());
        }
    }

    public static Inputs inputs(LayerSpec spec, int tokens, long seed) {
        return new Inputs(
                normal(seed * 7 + 1, 1f, spec.heads(), tokens, spec.keyDim()),
                normal(seed * 7 + 2, 1f, spec.kvHeads(), tokens, spec.keyDim()),
                normal(seed * 7 + 3, 1f, spec.kvHeads(), tokens, spec.valueDim()),
                normal(seed * 7 + 4, 1f, tokens, spec.modelDim()),
                normal(seed * 7 + 5, 1f, spec.heads(), tokens, spec.valueDim()));
    }
}
