package dev.engram.memory.lsh;

import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.spi.LayerContext;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import java.util.Map;
import java.util.SplittableRandom;

/** Small helpers shared by the tests and the case generator. */
final class Fixtures {
    private Fixtures() {
    }

    static Tensor gaussian(long seed, int... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            double u1 = random.nextDouble();
            double u2 = random.nextDouble();
            // rounded to 4 decimals so the JSON cases stay short and exactly representable as written
            a[i] = (float) (Math.round(Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2) * 1e4) / 1e4);
        }
        return t;
    }

    static float[][] rows(Tensor t3, int head) {
        Tensor h = t3.select(head);
        float[][] out = new float[h.dim(0)][h.dim(1)];
        for (int i = 0; i < out.length; i++) {
            out[i] = h.select(i).toArray();
        }
        return out;
    }

    static float[][][] heads(Tensor t3) {
        float[][][] out = new float[t3.dim(0)][][];
        for (int h = 0; h < out.length; h++) {
            out[h] = rows(t3, h);
        }
        return out;
    }

    static LayerContext context(Provider p, LayerSpec spec, Map<String, ?> config, Map<String, Tensor> weights) {
        return ProviderRegistry.context(p, 0, spec, config, weights);
    }

    static double maxAbsDiff(Tensor actual, double[][][] expected) {
        double worst = 0;
        for (int h = 0; h < expected.length; h++) {
            for (int i = 0; i < expected[h].length; i++) {
                for (int e = 0; e < expected[h][i].length; e++) {
                    worst = Math.max(worst, Math.abs(actual.get(h, i, e) - expected[h][i][e]));
                }
            }
        }
        return worst;
    }
}
