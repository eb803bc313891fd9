package dev.engram.spi.kernel;

/**
 * exp(x) for x &lt;= 0 in float32 by one fixed sequence of IEEE operations: Cephes' expf (range reduction by
 * ln 2 in two parts, a degree-5 polynomial, scaling by 2^n built from its bits). {@link PanamaFloatKernels}
 * runs the same steps lane by lane, so the scalar and SIMD kernels, interpreted or compiled, give the same
 * bits; {@code Math.exp} and the Vector API's own EXP do not (the API's Java fallback and its compiled SVML
 * call differ in the last bit). Within 2 float ulps of exp (FloatKernelsTest); 0 below {@link #LOWEST}, where
 * exp is under the smallest normal float; NaN stays NaN. The kernels only need x &lt;= 0: softmax's s - max,
 * and ELU's negative side.
 */
final class FixedExp {
    static final float LOWEST = -87.33654f;
    static final float LOG2E = 1.44269504088896341f;
    /** ln 2 = LN2_HI + LN2_LO, LN2_HI exact in 9 bits so n * LN2_HI is exact for |n| &lt;= 126. */
    static final float LN2_HI = 0.693359375f;
    static final float LN2_LO = -2.12194440e-4f;
    static final float P5 = 1.9875691500e-4f;
    static final float P4 = 1.3981999507e-3f;
    static final float P3 = 8.3334519073e-3f;
    static final float P2 = 4.1665795894e-2f;
    static final float P1 = 1.6666665459e-1f;
    static final float P0 = 5.0000001201e-1f;

    private FixedExp() {
    }

    static float exp(float x) {
        if (x < LOWEST) {
            return 0f;
        }
        int n = (int) (x * LOG2E - 0.5f); // x <= 0: rounds x / ln 2 to within 1/2, so |r| <= ln 2 / 2
        float fn = n;
        float r = Math.fma(fn, -LN2_HI, x);
        r = Math.fma(fn, -LN2_LO, r);
        float y = Math.fma(P5, r, P4);
        y = Math.fma(y, r, P3);
        y = Math.fma(y, r, P2);
        y = Math.fma(y, r, P1);
        y = Math.fma(y, r, P0);
        y = Math.fma(y, r * r, r) + 1f;
        return y * Float.intBitsToFloat((n + 127) << 23);
    }
}
