package dev.engram.memory.infini;

/**
 * The small float32 loops of the fast path; the matrix products and the feature map run on
 * {@link dev.engram.spi.kernel.FloatKernels} (SIMD where the JVM offers it). Every innermost loop walks
 * contiguous floats with no branch and no call, the shape C2's superword pass turns into SIMD code.
 * Nothing here allocates.
 */
final class Kernels {
    private Kernels() {
    }

    /**
     * Divides each of {@code rows} rows of {@code out} (width dv, from {@code outOff}) by
     * max(s_t . z, eps), s_t the row's features (width dk) in {@code s}, z at {@code z[zOff..]}.
     */
    static void normalise(float[] out, int outOff, float[] s, float[] z, int zOff, int rows, int dk, int dv, float eps) {
        for (int t = 0; t < rows; t++) {
            float denominator = 0f;
            int sRow = t * dk;
            for (int i = 0; i < dk; i++) {
                denominator += s[sRow + i] * z[zOff + i];
            }
            float inverse = 1f / Math.max(denominator, eps);
            int o = outOff + t * dv;
            for (int j = 0; j < dv; j++) {
                out[o + j] *= inverse;
            }
        }
    }

    /** z[zOff + i] += sum over t &lt; rows of s[t * dk + i]. */
    static void columnSums(float[] z, int zOff, float[] s, int rows, int dk) {
        for (int t = 0; t < rows; t++) {
            int sRow = t * dk;
            for (int i = 0; i < dk; i++) {
                z[zOff + i] += s[sRow + i];
            }
        }
    }

    /** dst[j] = v[vOff + j] - dst[j] for j &lt; count (the delta rule's V - retrieved, in place). */
    static void residual(float[] v, int vOff, float[] dst, int count) {
        for (int j = 0; j < count; j++) {
            dst[j] = v[vOff + j] - dst[j];
        }
    }
}
