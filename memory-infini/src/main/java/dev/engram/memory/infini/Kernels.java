package dev.engram.memory.infini;

/**
 * The float32 loops of the fast path. Every innermost loop walks contiguous floats with no branch and
 * no call, the shape C2's superword pass turns into SIMD code; the outer loops are register-blocked
 * (2 output rows x 4 reduction steps) so each loaded row of the right-hand side feeds eight
 * multiply-adds. Nothing here allocates.
 */
final class Kernels {
    private Kernels() {
    }

    /** sigma(x) = ELU(x) + 1: x + 1 for x > 0, exp(x) otherwise. Always positive. */
    static float sigma(float x) {
        return x > 0f ? x + 1f : (float) Math.exp(x);
    }

    /** {@code dst[0..count)} = sigma({@code src[offset..offset+count)}). */
    static void features(float[] src, int offset, float[] dst, int count) {
        for (int i = 0; i < count; i++) {
            dst[i] = sigma(src[offset + i]);
        }
    }

    /**
     * out[r, :] += sum over c &lt; reduce of a[aOff + r * aRow + c * aCol] * b[bOff + c * width + :], for
     * r &lt; rows; out rows start at {@code outOff} with stride {@code width}. With aRow = dk, aCol = 1 it
     * is the read sigma(Q) M; with aRow = 1, aCol = dk it is the write sigma(K)^T V.
     */
    static void accumulate(float[] out, int outOff, float[] a, int aOff, int aRow, int aCol,
                           float[] b, int bOff, int rows, int reduce, int width) {
        int r = 0;
        for (; r + 1 < rows; r += 2) {
            int o0 = outOff + r * width;
            int o1 = o0 + width;
            int x0 = aOff + r * aRow;
            int x1 = x0 + aRow;
            int c = 0;
            for (; c + 3 < reduce; c += 4) {
                int y = c * aCol;
                float a0 = a[x0 + y], a1 = a[x0 + y + aCol], a2 = a[x0 + y + 2 * aCol], a3 = a[x0 + y + 3 * aCol];
                float b0 = a[x1 + y], b1 = a[x1 + y + aCol], b2 = a[x1 + y + 2 * aCol], b3 = a[x1 + y + 3 * aCol];
                int r0 = bOff + c * width;
                int r1 = r0 + width;
                int r2 = r1 + width;
                int r3 = r2 + width;
                for (int j = 0; j < width; j++) {
                    float m0 = b[r0 + j], m1 = b[r1 + j], m2 = b[r2 + j], m3 = b[r3 + j];
                    out[o0 + j] += a0 * m0 + a1 * m1 + a2 * m2 + a3 * m3;
                    out[o1 + j] += b0 * m0 + b1 * m1 + b2 * m2 + b3 * m3;
                }
            }
            for (; c < reduce; c++) {
                float a0 = a[x0 + c * aCol];
                float b0 = a[x1 + c * aCol];
                int r0 = bOff + c * width;
                for (int j = 0; j < width; j++) {
                    float m0 = b[r0 + j];
                    out[o0 + j] += a0 * m0;
                    out[o1 + j] += b0 * m0;
                }
            }
        }
        for (; r < rows; r++) {
            int o0 = outOff + r * width;
            int x0 = aOff + r * aRow;
            int c = 0;
            for (; c + 3 < reduce; c += 4) {
                int y = c * aCol;
                float a0 = a[x0 + y], a1 = a[x0 + y + aCol], a2 = a[x0 + y + 2 * aCol], a3 = a[x0 + y + 3 * aCol];
                int r0 = bOff + c * width;
                int r1 = r0 + width;
                int r2 = r1 + width;
                int r3 = r2 + width;
                for (int j = 0; j < width; j++) {
                    out[o0 + j] += a0 * b[r0 + j] + a1 * b[r1 + j] + a2 * b[r2 + j] + a3 * b[r3 + j];
                }
            }
            for (; c < reduce; c++) {
                float a0 = a[x0 + c * aCol];
                int r0 = bOff + c * width;
                for (int j = 0; j < width; j++) {
                    out[o0 + j] += a0 * b[r0 + j];
                }
            }
        }
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
