package dev.engram.spi.kernel;

/**
 * The plain-loop kernels: what runs without the Vector API, and the reference {@link PanamaFloatKernels} is
 * tested against. Inner loops walk one array from 0 with no branch, the shape C2's auto-vectoriser handles;
 * each term is one {@link Math#fma}, in the order {@link FloatKernels} fixes.
 */
public final class ScalarFloatKernels implements FloatKernels {
    /** The plain loops' key tile when nothing else asks for one. */
    static final int DEFAULT_KEY_TILE = 16;
    private final int keyTile;

    public ScalarFloatKernels() {
        this(DEFAULT_KEY_TILE);
    }

    /** Plain loops over {@code keyTile}-token key tiles (the SIMD kernels' own width, where they call these). */
    ScalarFloatKernels(int keyTile) {
        if (keyTile < 4 || keyTile > 16 || Integer.bitCount(keyTile) != 1) {
            throw new IllegalArgumentException("keyTile " + keyTile + ": valid: 4, 8 or 16");
        }
        this.keyTile = keyTile;
    }

    @Override
    public String description() {
        return "scalar";
    }

    @Override
    public int keyTile() {
        return keyTile;
    }

    @Override
    public void tiledScores(float[] q, int qOffset, int rows, int dim, float[] keyTiles, int cols, float[][] out) {
        tiledScores(q, qOffset, rows, dim, keyTiles, null, cols, out);
    }

    @Override
    public void tiledScores(float[] q, int qOffset, int rows, int dim, short[] keyTiles, int cols, float[][] out) {
        tiledScores(q, qOffset, rows, dim, null, keyTiles, cols, out);
    }

    /**
     * Each score is its own chain over d, as {@link #scores} computes it; the keys are {@code floats}, or the
     * bfloat16 {@code halves} widened where those are given.
     */
    private void tiledScores(float[] q, int qOffset, int rows, int dim, float[] floats, short[] halves, int cols,
                             float[][] out) {
        int tiles = (cols + keyTile - 1) / keyTile;
        for (int r = 0; r < rows; r++) {
            float[] o = out[r];
            int row = qOffset + r * dim;
            for (int i = 0; i < tiles; i++) {
                int base = i * keyTile * dim;
                for (int lane = 0; lane < keyTile; lane++) {
                    float a = 0f;
                    for (int d = 0; d < dim; d++) {
                        int k = base + d * keyTile + lane;
                        a = Math.fma(q[row + d], halves == null ? floats[k] : FloatKernels.fromBfloat16(halves[k]), a);
                    }
                    o[i * keyTile + lane] = a;
                }
            }
        }
    }

    @Override
    public void scores(float[] q, int qOffset, int rows, int dim, float[][] keysByDim, int cols, float[][] out) {
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            float[] s0 = out[r];
            float[] s1 = out[r + 1];
            float[] s2 = out[r + 2];
            float[] s3 = out[r + 3];
            java.util.Arrays.fill(s0, 0, cols, 0f);
            java.util.Arrays.fill(s1, 0, cols, 0f);
            java.util.Arrays.fill(s2, 0, cols, 0f);
            java.util.Arrays.fill(s3, 0, cols, 0f);
            int row = qOffset + r * dim;
            for (int d = 0; d < dim; d++) {
                float a0 = q[row + d];
                float a1 = q[row + dim + d];
                float a2 = q[row + 2 * dim + d];
                float a3 = q[row + 3 * dim + d];
                float[] kd = keysByDim[d];
                for (int t = 0; t < cols; t++) {
                    float k = kd[t];
                    s0[t] = Math.fma(a0, k, s0[t]);
                    s1[t] = Math.fma(a1, k, s1[t]);
                    s2[t] = Math.fma(a2, k, s2[t]);
                    s3[t] = Math.fma(a3, k, s3[t]);
                }
            }
        }
        for (; r < rows; r++) {
            float[] o = out[r];
            java.util.Arrays.fill(o, 0, cols, 0f);
            int row = qOffset + r * dim;
            for (int d = 0; d < dim; d++) {
                float a = q[row + d];
                float[] kd = keysByDim[d];
                for (int t = 0; t < cols; t++) {
                    o[t] = Math.fma(a, kd[t], o[t]);
                }
            }
        }
    }

    /** Row by row: each output is its own chain over t, as {@link #causalWeightedSum} adds it. */
    @Override
    public void causalWeightedSum(float[][] weights, int rows, short[] values, int valueOffset, int count, int dim,
                                  float[][] out) {
        for (int r = 0; r < rows; r++) {
            float[] w = weights[r];
            float[] o = out[r];
            java.util.Arrays.fill(o, 0, dim, 0f);
            for (int t = 0; t < count + r; t++) {
                float a = w[t];
                int v = valueOffset + t * dim;
                for (int j = 0; j < dim; j++) {
                    o[j] = Math.fma(a, FloatKernels.fromBfloat16(values[v + j]), o[j]);
                }
            }
        }
    }

    /**
     * The largest of s[0, count) (negative infinity for none; NaN never wins), by four running maxima in a plain
     * loop. The vector kernels have their own ({@link PanamaFloatKernels#maxOf}), which gives the same value for
     * every softmax input (finite, or negative infinity where masked).
     */
    static float maxOf(float[] s, int count) {
        float m0 = Float.NEGATIVE_INFINITY;
        float m1 = Float.NEGATIVE_INFINITY;
        float m2 = Float.NEGATIVE_INFINITY;
        float m3 = Float.NEGATIVE_INFINITY;
        int t = 0;
        for (; t + 3 < count; t += 4) {
            m0 = s[t] > m0 ? s[t] : m0;
            m1 = s[t + 1] > m1 ? s[t + 1] : m1;
            m2 = s[t + 2] > m2 ? s[t + 2] : m2;
            m3 = s[t + 3] > m3 ? s[t + 3] : m3;
        }
        for (; t < count; t++) {
            m0 = s[t] > m0 ? s[t] : m0;
        }
        return Math.max(Math.max(m0, m1), Math.max(m2, m3)); // exact in any order
    }

    @Override
    public float expMinusMax(float[] s, int count) {
        float max = maxOf(s, count);
        float sum = 0f;
        for (int t = 0; t < count; t++) {
            float e = FixedExp.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        return sum;
    }

    /** The value rows all four of a block's rows see, four rows per value row read; then each row's own tail. */
    @Override
    public void causalWeightedSum(float[][] weights, int rows, float[] values, int valueOffset, int count, int dim,
                                  float[][] out) {
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            float[] w0 = weights[r];
            float[] w1 = weights[r + 1];
            float[] w2 = weights[r + 2];
            float[] w3 = weights[r + 3];
            float[] o0 = out[r];
            float[] o1 = out[r + 1];
            float[] o2 = out[r + 2];
            float[] o3 = out[r + 3];
            java.util.Arrays.fill(o0, 0, dim, 0f);
            java.util.Arrays.fill(o1, 0, dim, 0f);
            java.util.Arrays.fill(o2, 0, dim, 0f);
            java.util.Arrays.fill(o3, 0, dim, 0f);
            int shared = count + r;
            for (int t = 0; t < shared; t++) {
                float a0 = w0[t];
                float a1 = w1[t];
                float a2 = w2[t];
                float a3 = w3[t];
                int v = valueOffset + t * dim;
                for (int j = 0; j < dim; j++) {
                    float x = values[v + j];
                    o0[j] = Math.fma(a0, x, o0[j]);
                    o1[j] = Math.fma(a1, x, o1[j]);
                    o2[j] = Math.fma(a2, x, o2[j]);
                    o3[j] = Math.fma(a3, x, o3[j]);
                }
            }
            for (int i = 1; i < 4; i++) {
                addWeighted(weights[r + i], values, valueOffset, shared, shared + i, dim, out[r + i]);
            }
        }
        for (; r < rows; r++) {
            java.util.Arrays.fill(out[r], 0, dim, 0f);
            addWeighted(weights[r], values, valueOffset, 0, count + r, dim, out[r]);
        }
    }

    /** o[0..dim) += w[t] * (value row t) for t in [from, to), in order. */
    private static void addWeighted(float[] w, float[] values, int valueOffset, int from, int to, int dim, float[] o) {
        for (int t = from; t < to; t++) {
            float a = w[t];
            int v = valueOffset + t * dim;
            for (int j = 0; j < dim; j++) {
                o[j] = Math.fma(a, values[v + j], o[j]);
            }
        }
    }

    @Override
    public void rotateHalves(float[] src, int s, float[] dst, int d, float[] cos, float[] sin, int c0, int half) {
        rotatePairs(src, s, dst, d, cos, sin, c0, half, 0);
    }

    /** {@link #rotateHalves} over pairs [from, half) only: the SIMD version's lanes left over. */
    static void rotatePairs(float[] src, int s, float[] dst, int d, float[] cos, float[] sin, int c0, int half, int from) {
        for (int i = from; i < half; i++) {
            float x0 = src[s + i];
            float x1 = src[s + i + half];
            float c = cos[c0 + i];
            float n = sin[c0 + i];
            dst[d + i] = x0 * c - x1 * n;
            dst[d + i + half] = x1 * c + x0 * n;
        }
    }

    @Override
    public void addProduct(float[] out, int outOffset, int outRow, float[] a, int aOffset, int aRow, int aCol,
                           float[] b, int bOffset, int bRow, int rows, int reduce, int width) {
        for (int r = 0; r < rows; r++) {
            int o = outOffset + r * outRow;
            int x = aOffset + r * aRow;
            for (int c = 0; c < reduce; c++) {
                float ac = a[x + c * aCol];
                int bc = bOffset + c * bRow;
                for (int j = 0; j < width; j++) {
                    out[o + j] = Math.fma(ac, b[bc + j], out[o + j]);
                }
            }
        }
    }

    @Override
    public void elu1(float[] src, int srcOffset, float[] dst, int dstOffset, int count) {
        for (int i = 0; i < count; i++) {
            float x = src[srcOffset + i];
            dst[dstOffset + i] = x > 0f ? x + 1f : FixedExp.exp(x);
        }
    }
}
