package dev.engram.memory.infini;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

final class Fixtures {
    private Fixtures() {
    }

    static LongTermMemory memory(LayerSpec spec, boolean delta, double[] beta) {
        float[] b = new float[beta.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) beta[i];
        }
        return ProviderRegistry.of(List.of(new InfiniMemoryProvider())).newMemory("infini", 4, spec,
                Map.of("update", delta ? "delta" : "linear"), Map.of("beta", Tensor.of(b, b.length)));
    }

    /** Uniform values in [-scale, scale], rounded to float so both implementations see the same inputs. */
    static double[][][] random(SplittableRandom r, int a, int b, int c, double scale) {
        double[][][] x = new double[a][b][c];
        for (double[][] p : x) {
            for (double[] row : p) {
                for (int i = 0; i < c; i++) {
                    row[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
                }
            }
        }
        return x;
    }

    static Tensor tensor(double[][][] x) {
        int a = x.length;
        int b = x[0].length;
        int c = x[0][0].length;
        float[] data = new float[a * b * c];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                for (int k = 0; k < c; k++) {
                    data[(i * b + j) * c + k] = (float) x[i][j][k];
                }
            }
        }
        return Tensor.of(data, a, b, c);
    }

    /** Largest |actual - expected| / (1e-5 + 1e-4 |expected|); <= 1 means within tolerance. */
    static double worst(Tensor actual, double[][][] expected) {
        double worst = 0;
        float[] a = actual.toArray();
        int idx = 0;
        for (double[][] p : expected) {
            for (double[] row : p) {
                for (double e : row) {
                    worst = Math.max(worst, Math.abs(a[idx++] - e) / (1e-5 + 1e-4 * Math.abs(e)));
                }
            }
        }
        return worst;
    }
}
