package dev.engram.spi.kernel;

/**
 * The plain-loop kernels: what runs without the Vector API, and the reference {@link PanamaFloatKernels} is
 * tested against. Inner loops walk one array from 0 with no branch, the shape C2's auto-vectoriser handles;
 * each term is one {@link Math#fma}, in the order {@link FloatKernels} fixes.
 */
public final class ScalarFloatKernels implements FloatKernels {

    @Override
    public String description() {
        return "scalar";
    }

    @Override
    public void scores(float[] q, int qOffset, int rows, int dim, float[][] keysByDim, int cols, float[][] out) {
        for (int r = 0; r < rows; r++) {
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

    @Override
    public float expMinusMax(float[] s, int count) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t < count; t++) {
            max = Math.max(max, s[t]);
        }
        double sum = 0;
        for (int t = 0; t < count; t++) {
            float e = (float) Math.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        return (float) sum;
    }

    @Override
    public void causalWeightedSum(float[][] weights, int rows, float[][] values, int count, int dim, float[][] out) {
        for (int r = 0; r < rows; r++) {
            float[] o = out[r];
            float[] w = weights[r];
            java.util.Arrays.fill(o, 0, dim, 0f);
            for (int t = 0; t < count + r; t++) {
                float a = w[t];
                float[] v = values[t];
                for (int j = 0; j < dim; j++) {
                    o[j] = Math.fma(a, v[j], o[j]);
                }
            }
        }
    }

    @Override
    public void addProduct(float[] out, int outOffset, float[] a, int aOffset, int aRow, int aCol,
                           float[] b, int bOffset, int rows, int reduce, int width) {
        for (int r = 0; r < rows; r++) {
            int o = outOffset + r * width;
            int x = aOffset + r * aRow;
            for (int c = 0; c < reduce; c++) {
                float ac = a[x + c * aCol];
                int bRow = bOffset + c * width;
                for (int j = 0; j < width; j++) {
                    out[o + j] = Math.fma(ac, b[bRow + j], out[o + j]);
                }
            }
        }
    }

    @Override
    public void elu1(float[] src, int srcOffset, float[] dst, int dstOffset, int count) {
        for (int i = 0; i < count; i++) {
            float x = src[srcOffset + i];
            dst[dstOffset + i] = x > 0f ? x + 1f : (float) Math.exp(x);
        }
    }
}
