package dev.engram.spi.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Both kernel implementations against plain double-precision sums and Math.exp, and against each other, bit for
 * bit. Sizes cover whole vectors, leftover columns, four column blocks at once (the single-row paths: 69 is
 * 4 x 16 + 5 and 37 is 4 x 8 + 5) and rows outside a block of four.
 */
class FloatKernelsTest {
    /** FixedExp against Math.exp, in float ulps of the exact value. */
    private static final int EXP_ULPS = 2;
    /** A float32 sum of up to a few hundred terms against the double reference, relative to the sum of |terms|. */
    private static final double SUM_TOLERANCE = 1e-5;

    private static final FloatKernels SCALAR = new ScalarFloatKernels();
    private static final FloatKernels PANAMA = new PanamaFloatKernels();

    @Test
    void testJvmRunsTheSimdKernels() {
        // The surefire argLine adds jdk.incubator.vector, as the engram launcher does: the fast path is what runs
        // in every other module's tests. Without it this fails instead of silently testing the fallback only.
        assertTrue(FloatKernels.get().description().startsWith("panama"), FloatKernels.get().description());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 4, 7, 9})
    void scoresEqualAPlainSumAndAgreeBitForBit(int rows) {
        for (int cols : new int[] {5, 37, 53, 69}) { // below one vector; whole vectors, leftovers, four blocks
            scoresAtWidth(rows, cols);
        }
    }

    private void scoresAtWidth(int rows, int cols) {
        Random random = new Random(rows);
        int dim = 19;
        float[] q = gaussian(random, 5 + rows * dim);
        float[][] keys = new float[dim][];
        for (int d = 0; d < dim; d++) {
            keys[d] = gaussian(random, cols + 3);
        }
        float[][] scalar = filled(rows, cols + 3, 9f);
        float[][] panama = filled(rows, cols + 3, 9f);
        SCALAR.scores(q, 5, rows, dim, keys, cols, scalar);
        PANAMA.scores(q, 5, rows, dim, keys, cols, panama);
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < cols; t++) {
                double sum = 0;
                double magnitude = 0;
                for (int d = 0; d < dim; d++) {
                    sum += (double) q[5 + r * dim + d] * keys[d][t];
                    magnitude += Math.abs((double) q[5 + r * dim + d] * keys[d][t]);
                }
                assertEquals(sum, scalar[r][t], SUM_TOLERANCE * magnitude, "row " + r + " col " + t);
            }
            assertEquals(9f, scalar[r][cols], "past cols is not written");
            assertArrayEquals(scalar[r], panama[r], "row " + r + ", cols " + cols);
        }
    }

    /**
     * The tiled layout gives the transposed layout's scores bit for bit, in both implementations, for every tile
     * width (the plain loops at 4, 8 and 16; the SIMD ones at their own), including a last tile only partly
     * filled: whole tiles are written, the rest of {@code out} is not.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 9})
    void tiledScoresEqualTheTransposedScoresBitForBit(int rows) {
        FloatKernels[] kernels = {new ScalarFloatKernels(4), new ScalarFloatKernels(8), SCALAR, PANAMA};
        for (FloatKernels kernel : kernels) {
            for (int cols : new int[] {1, 5, 16, 37, 69}) {
                int tile = kernel.keyTile();
                int tiles = (cols + tile - 1) / tile;
                Random random = new Random(1000 + rows * 100 + cols);
                int dim = 19;
                float[] q = gaussian(random, 5 + rows * dim);
                float[][] byDim = new float[dim][];
                float[] tiled = new float[tiles * tile * dim];
                java.util.Arrays.fill(tiled, Float.NaN); // slots past cols: never read into a score before cols
                for (int d = 0; d < dim; d++) {
                    byDim[d] = gaussian(random, cols);
                    for (int t = 0; t < cols; t++) {
                        tiled[FloatKernels.tiledKeyIndex(tile, dim, t, d)] = byDim[d][t];
                    }
                }
                float[][] expected = filled(rows, cols, 0f);
                SCALAR.scores(q, 5, rows, dim, byDim, cols, expected);
                float[][] got = filled(rows, tiles * tile + 2, 9f);
                kernel.tiledScores(q, 5, rows, dim, tiled, cols, got);
                for (int r = 0; r < rows; r++) {
                    assertArrayEquals(expected[r], java.util.Arrays.copyOf(got[r], cols),
                            kernel.description() + " tile " + tile + " row " + r + " cols " + cols);
                    assertEquals(9f, got[r][tiles * tile], "past the last tile is not written");
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new ScalarFloatKernels(12));
    }

    /** Round to nearest, ties to even, by hand-worked bit patterns; infinities and NaN kept. */
    @Test
    void bfloat16RoundsToNearestEvenAndWidensExactly() {
        assertEquals((short) 0x3F80, FloatKernels.toBfloat16(1f));
        assertEquals(1f, FloatKernels.fromBfloat16((short) 0x3F80));
        // 1 + 2^-8 lies halfway between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81): ties go to the even one
        assertEquals((short) 0x3F80, FloatKernels.toBfloat16(Float.intBitsToFloat(0x3F808000)));
        // (1 + 2^-7) + 2^-8 lies halfway between 0x3F81 (odd) and 0x3F82 (even)
        assertEquals((short) 0x3F82, FloatKernels.toBfloat16(Float.intBitsToFloat(0x3F818000)));
        assertEquals((short) 0x3F81, FloatKernels.toBfloat16(Float.intBitsToFloat(0x3F808001))); // above half: up
        assertEquals((short) 0xBF80, FloatKernels.toBfloat16(-1f));
        assertEquals(Float.POSITIVE_INFINITY, FloatKernels.fromBfloat16(FloatKernels.toBfloat16(Float.POSITIVE_INFINITY)));
        assertEquals(Float.POSITIVE_INFINITY, FloatKernels.fromBfloat16(FloatKernels.toBfloat16(Float.MAX_VALUE)));
        assertTrue(Float.isNaN(FloatKernels.fromBfloat16(FloatKernels.toBfloat16(Float.intBitsToFloat(0x7FFFFFFF)))));
        Random random = new Random(5);
        for (int i = 0; i < 1000; i++) { // never more than half a bfloat16 ulp (2^-8 relative) away
            float x = (float) random.nextGaussian();
            float y = FloatKernels.fromBfloat16(FloatKernels.toBfloat16(x));
            assertTrue(Math.abs(y - x) <= Math.abs(x) * 0x1p-8f, x + " -> " + y);
            assertEquals(y, FloatKernels.fromBfloat16(FloatKernels.toBfloat16(y)), "a bfloat16 value is kept as it is");
        }
    }

    /**
     * Over bfloat16 storage both kernels give, bit for bit, what the float kernels give over the widened values.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 5, 9})
    void bfloat16KernelsEqualTheFloatKernelsOverTheWidenedValues(int rows) {
        for (FloatKernels kernel : new FloatKernels[] {SCALAR, PANAMA}) {
            for (int width : new int[] {6, 37, 69}) { // key/value dimension: below a vector, leftovers, four blocks
                Random random = new Random(2000 + rows * 100 + width);
                int cols = width; // tokens
                int tile = kernel.keyTile();
                int tiles = (cols + rows + tile - 1) / tile;
                float[] q = gaussian(random, 3 + rows * width);
                short[] halfKeys = new short[tiles * tile * width];
                float[] wideKeys = new float[halfKeys.length];
                for (int i = 0; i < halfKeys.length; i++) {
                    halfKeys[i] = FloatKernels.toBfloat16((float) random.nextGaussian());
                    wideKeys[i] = FloatKernels.fromBfloat16(halfKeys[i]);
                }
                float[][] expected = filled(rows, tiles * tile, 0f);
                float[][] got = filled(rows, tiles * tile, 0f);
                kernel.tiledScores(q, 3, rows, width, wideKeys, cols, expected);
                kernel.tiledScores(q, 3, rows, width, halfKeys, cols, got);
                for (int r = 0; r < rows; r++) {
                    assertArrayEquals(expected[r], got[r], kernel.description() + " scores row " + r);
                }
                int valueRows = cols + rows + 4;
                short[] halfValues = new short[2 + valueRows * width];
                float[] wideValues = new float[halfValues.length];
                for (int i = 0; i < halfValues.length; i++) {
                    halfValues[i] = FloatKernels.toBfloat16((float) random.nextGaussian());
                    wideValues[i] = FloatKernels.fromBfloat16(halfValues[i]);
                }
                float[][] weights = new float[rows][];
                for (int r = 0; r < rows; r++) {
                    weights[r] = gaussian(random, valueRows);
                }
                float[][] wantSums = filled(rows, width, 0f);
                float[][] gotSums = filled(rows, width, 0f);
                kernel.causalWeightedSum(weights, rows, wideValues, 2, cols, width, wantSums);
                kernel.causalWeightedSum(weights, rows, halfValues, 2, cols, width, gotSums);
                for (int r = 0; r < rows; r++) {
                    assertArrayEquals(wantSums[r], gotSums[r], kernel.description() + " sums row " + r);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 5, 8})
    void causalWeightedSumsSeeOneMoreRowPerQueryAndAgreeBitForBit(int rows) {
        for (int dim : new int[] {6, 37, 69}) {
            weightedSumsAtWidth(rows, dim);
        }
    }

    private void weightedSumsAtWidth(int rows, int dim) {
        Random random = new Random(100 + rows);
        int count = 21;
        float[][] weights = new float[rows][];
        for (int r = 0; r < rows; r++) {
            weights[r] = gaussian(random, count + rows + 4);
        }
        float[][] values = new float[count + rows + 4][];
        int offset = 3; // the value rows start inside the array, each dim floats after the one before
        float[] flat = gaussian(random, offset + values.length * dim);
        for (int t = 0; t < values.length; t++) {
            values[t] = java.util.Arrays.copyOfRange(flat, offset + t * dim, offset + (t + 1) * dim);
        }
        float[][] scalar = filled(rows, dim + 2, 9f);
        float[][] panama = filled(rows, dim + 2, 9f);
        SCALAR.causalWeightedSum(weights, rows, flat, offset, count, dim, scalar);
        PANAMA.causalWeightedSum(weights, rows, flat, offset, count, dim, panama);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < dim; j++) {
                double sum = 0;
                double magnitude = 0;
                for (int t = 0; t < count + r; t++) { // row r sees count + r value rows, and no more
                    sum += (double) weights[r][t] * values[t][j];
                    magnitude += Math.abs((double) weights[r][t] * values[t][j]);
                }
                assertEquals(sum, scalar[r][j], SUM_TOLERANCE * magnitude, "row " + r + " dim " + j);
            }
            assertEquals(9f, scalar[r][dim], "past dim is not written");
            assertArrayEquals(scalar[r], panama[r], "row " + r + ", dim " + dim);
        }
    }

    /**
     * Half-widths from below one vector to several and a remainder (3, 8, 16, 19, 32, 45): the turn as written out
     * (x0 c - x1 n, x1 c + x0 n, each product rounded), the same bits from both implementations, in place as out of
     * place, and nothing outside the row written.
     */
    @ParameterizedTest
    @ValueSource(ints = {3, 8, 16, 19, 32, 45})
    void rotateHalvesTurnsEachPairAsWrittenAndAgreesBitForBit(int half) {
        Random random = new Random(11 + half);
        float[] src = gaussian(random, 5 + 2 * half + 3);
        float[] cos = new float[2 + half];
        float[] sin = new float[2 + half];
        for (int i = 0; i < half; i++) {
            double angle = random.nextDouble() * 2 * Math.PI;
            cos[2 + i] = (float) Math.cos(angle);
            sin[2 + i] = (float) Math.sin(angle);
        }
        float[] scalar = new float[7 + 2 * half + 2];
        java.util.Arrays.fill(scalar, 9f);
        float[] panama = scalar.clone();
        SCALAR.rotateHalves(src, 5, scalar, 7, cos, sin, 2, half);
        PANAMA.rotateHalves(src, 5, panama, 7, cos, sin, 2, half);
        assertArrayEquals(scalar, panama);
        for (int i = 0; i < half; i++) {
            float x0 = src[5 + i];
            float x1 = src[5 + i + half];
            float c = cos[2 + i];
            float n = sin[2 + i];
            assertEquals(x0 * c - x1 * n, scalar[7 + i], 0f, "first half, pair " + i);
            assertEquals(x1 * c + x0 * n, scalar[7 + i + half], 0f, "second half, pair " + i);
            // a turn keeps the pair's length (to float rounding)
            double before = Math.hypot(x0, x1);
            assertEquals(before, Math.hypot(scalar[7 + i], scalar[7 + i + half]), 1e-5 * (1 + before), "length, pair " + i);
        }
        for (int j : new int[] {0, 6, 7 + 2 * half, 7 + 2 * half + 1}) {
            assertEquals(9f, panama[j], "outside the row is not written: " + j);
        }
        float[] inPlace = src.clone();
        PANAMA.rotateHalves(inPlace, 5, inPlace, 5, cos, sin, 2, half);
        for (int i = 0; i < 2 * half; i++) {
            assertEquals(scalar[7 + i], inPlace[5 + i], 0f, "in place, element " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
    void addProductAddsIntoOutThroughEveryStrideAndAgreesBitForBit(int layout) {
        boolean transposed = (layout & 1) != 0;
        boolean padded = (layout & 2) != 0; // out's and b's rows further apart than width: columns of a wider matrix
        Random random = new Random(7 + layout);
        int rows = 7; // a block of four rows, then three alone
        int reduce = 11;
        // 45, 61 or 77 columns: at 16 lanes two, three (a pair and one left) or four whole vectors (a lone row's
        // block of four), at 8 lanes five, seven or nine (pairs and one left; a lone row's blocks of four and one)
        int width = new int[] {45, 61, 77}[layout >> 2];
        int outRow = padded ? width + 6 : width;
        int bRow = padded ? width + 9 : width;
        int aRow = transposed ? 1 : reduce;
        int aCol = transposed ? rows : 1;
        float[] a = gaussian(random, 3 + rows * reduce);
        float[] b = gaussian(random, 2 + reduce * bRow);
        float[] start = gaussian(random, 4 + rows * outRow + 5);
        float[] scalar = start.clone();
        float[] panama = start.clone();
        SCALAR.addProduct(scalar, 4, outRow, a, 3, aRow, aCol, b, 2, bRow, rows, reduce, width);
        PANAMA.addProduct(panama, 4, outRow, a, 3, aRow, aCol, b, 2, bRow, rows, reduce, width);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < outRow; j++) {
                int o = 4 + r * outRow + j;
                if (j >= width) {
                    assertEquals(start[o], scalar[o], "between rows is not written");
                    continue;
                }
                double sum = start[o];
                double magnitude = Math.abs(sum);
                for (int c = 0; c < reduce; c++) {
                    double term = (double) a[3 + r * aRow + c * aCol] * b[2 + c * bRow + j];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertEquals(sum, scalar[o], SUM_TOLERANCE * magnitude, "r " + r + " j " + j);
            }
        }
        assertEquals(start[3], scalar[3], "before outOffset is not written");
        assertEquals(start[4 + rows * outRow], scalar[4 + rows * outRow], "past the last row is not written");
        assertArrayEquals(scalar, panama);
        if (!padded) { // the short form is the strided one with rows width apart
            float[] shortForm = start.clone();
            PANAMA.addProduct(shortForm, 4, a, 3, aRow, aCol, b, 2, rows, reduce, width);
            assertArrayEquals(panama, shortForm);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 15, 16, 17, 100})
    void expMinusMaxGivesSoftmaxNumeratorsAndTheirSum(int count) {
        Random random = new Random(count);
        float[] s = gaussian(random, count + 2);
        for (int t = 0; t < s.length; t++) {
            s[t] *= 20f; // exp's range, far below and at the max
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t < count; t++) {
            max = Math.max(max, s[t]);
        }
        float[] scalar = s.clone();
        float[] panama = s.clone();
        float scalarSum = SCALAR.expMinusMax(scalar, count);
        float panamaSum = PANAMA.expMinusMax(panama, count);
        double expected = 0;
        for (int t = 0; t < count; t++) {
            double e = Math.exp(s[t] - max); // the float difference, as the kernel is defined
            double tolerance = e < Float.MIN_NORMAL ? Float.MIN_NORMAL : EXP_ULPS * Math.ulp((float) e); // flushed to 0
            assertEquals(e, scalar[t], tolerance, "t " + t);
            expected += e;
        }
        assertEquals(expected, scalarSum, 1e-6 * expected);
        assertEquals(expected, panamaSum, 1e-6 * expected, "the sum is added in another order: within rounding");
        assertEquals(s[count], scalar[count], "past count is not written");
        assertArrayEquals(scalar, panama, "the numerators are the same bits");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 15, 16, 17, 33, 100, 1000})
    void vectorMaxIsTheLargestScoreBeforeCount(int count) {
        Random random = new Random(count);
        for (int trial = 0; trial < 40; trial++) {
            float[] s = gaussian(random, count + 3);
            float shift = trial % 4 == 0 ? -1000f : trial % 4 == 1 ? 1000f : 0f; // all negative, all positive, mixed
            for (int t = 0; t < s.length; t++) {
                s[t] = s[t] * 20f + shift;
                if (random.nextInt(5) == 0) {
                    s[t] = Float.NEGATIVE_INFINITY; // a masked key
                }
            }
            if (count > 0 && trial % 3 == 0) {
                s[trial % 2 == 0 ? 0 : count - 1] = shift + 500f; // the maximum at either end
            }
            s[count] = Float.MAX_VALUE; // past count: never read
            float expected = Float.NEGATIVE_INFINITY;
            for (int t = 0; t < count; t++) {
                expected = Math.max(expected, s[t]);
            }
            assertEquals(expected, PanamaFloatKernels.maxOf(s, count), "trial " + trial);
            assertEquals(expected, ScalarFloatKernels.maxOf(s, count), "trial " + trial);
        }
    }

    @Test
    void elu1IsXPlusOneAboveZeroAndExpBelow() {
        Random random = new Random(3);
        float[] src = gaussian(random, 2 + 70);
        src[2] = 0f;
        src[3] = -0f;
        src[4] = -30f;
        src[5] = -100f;
        float[] scalar = new float[1 + 70];
        float[] panama = new float[1 + 70];
        SCALAR.elu1(src, 2, scalar, 1, 69);
        PANAMA.elu1(src, 2, panama, 1, 69);
        for (int i = 0; i < 69; i++) {
            float x = src[2 + i];
            double expected = x > 0 ? x + 1.0 : Math.exp(x);
            double tolerance = expected < Float.MIN_NORMAL ? Float.MIN_NORMAL : EXP_ULPS * Math.ulp((float) expected);
            assertEquals(expected, scalar[1 + i], tolerance, "x " + x);
        }
        assertEquals(0f, scalar[0], "before dstOffset is not written");
        assertEquals(0f, scalar[70], "past count is not written");
        assertArrayEquals(scalar, panama, "the same bits, the tail (69 = 4 x 16 + 5) included");
    }

    @Test
    void fixedExpIsWithinTwoUlpsOfExpAcrossItsRange() {
        double worst = 0;
        for (int i = 0; i <= 2_000_000; i++) {
            float x = FixedExp.LOWEST * i / 2_000_000f;
            double exact = Math.exp(x);
            double ulps = Math.abs(FixedExp.exp(x) - exact) / Math.ulp((float) exact);
            worst = Math.max(worst, ulps);
        }
        assertTrue(worst <= EXP_ULPS, "worst " + worst + " ulps");
        assertEquals(1f, FixedExp.exp(0f));
        assertEquals(1f, FixedExp.exp(-0f));
        assertEquals(0f, FixedExp.exp(Math.nextDown(FixedExp.LOWEST)), "below the normal range");
        assertEquals(0f, FixedExp.exp(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(FixedExp.exp(Float.NaN)));
    }

    @Test
    void simdExpHandlesTheEdgesAsTheScalarOne() {
        float[] edges = {0f, -0f, FixedExp.LOWEST, Math.nextDown(FixedExp.LOWEST), Math.nextUp(FixedExp.LOWEST), -1e-30f,
                -0.34657359f, -0.6931472f, -1f, -50f, -1000f, Float.NEGATIVE_INFINITY, Float.NaN, -3e38f, -1e-45f, -87f};
        float[] values = new float[32];
        for (int i = 0; i < values.length; i++) {
            values[i] = edges[i % edges.length];
        }
        float[] scalar = new float[32];
        float[] panama = new float[32];
        SCALAR.elu1(values, 0, scalar, 0, 32);
        PANAMA.elu1(values, 0, panama, 0, 32);
        assertArrayEquals(scalar, panama);
    }

    @Test
    void choiceFollowsThePropertyAndTheModule() {
        assertInstanceOf(ScalarFloatKernels.class, KernelChoice.choose("scalar", true));
        assertInstanceOf(ScalarFloatKernels.class, KernelChoice.choose("auto", false));
        assertInstanceOf(PanamaFloatKernels.class, KernelChoice.choose("AUTO", true));
        assertInstanceOf(PanamaFloatKernels.class, KernelChoice.choose("panama", true));
        IllegalStateException missing = assertThrows(IllegalStateException.class, () -> KernelChoice.choose("panama", false));
        assertTrue(missing.getMessage().contains("--add-modules jdk.incubator.vector"), missing.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> KernelChoice.choose("avx", true));
        assertEquals("-Dengram.kernels is 'avx'; valid values: auto, scalar, panama", unknown.getMessage());
    }

    @Test
    void theSimdExpKeepsItsBitsOnceCompiled() {
        // interpreted, the Vector API runs its Java fallback; after a few thousand calls C2 has compiled these
        // kernels to SIMD instructions: the values must not change (they did with the API's own EXP)
        Random random = new Random(5);
        float[] src = new float[1024];
        for (int i = 0; i < src.length; i++) {
            src[i] = -90f + 95f * random.nextFloat();
        }
        float[] edges = {0f, -0f, FixedExp.LOWEST, Math.nextDown(FixedExp.LOWEST), Math.nextUp(FixedExp.LOWEST),
                Float.NEGATIVE_INFINITY, Float.NaN, -3e38f, -1e-45f, -Float.MIN_NORMAL, -0.34657359f, -87f};
        System.arraycopy(edges, 0, src, 100, edges.length); // the edge lanes, compiled too
        float[] scalar = new float[src.length];
        SCALAR.elu1(src, 0, scalar, 0, src.length);
        float[] panama = new float[src.length];
        float[] finite = src.clone();
        for (int i = 0; i < finite.length; i++) {
            if (!Float.isFinite(finite[i])) {
                finite[i] = -1f; // softmax inputs are finite (the engine checks q, k, v)
            }
        }
        float[] numerators = finite.clone();
        float[] expected = finite.clone();
        SCALAR.expMinusMax(expected, expected.length);
        for (int call = 0; call < 3000; call++) {
            PANAMA.elu1(src, 0, panama, 0, src.length);
            System.arraycopy(finite, 0, numerators, 0, finite.length);
            PANAMA.expMinusMax(numerators, numerators.length);
            if (call % 500 == 0 || call == 2999) {
                assertArrayEquals(scalar, panama, "elu1, call " + call);
                assertArrayEquals(expected, numerators, "expMinusMax, call " + call);
            }
        }
    }

    private static float[] gaussian(Random random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return a;
    }

    private static float[][] filled(int rows, int cols, float value) {
        float[][] a = new float[rows][cols];
        for (float[] row : a) {
            java.util.Arrays.fill(row, value);
        }
        return a;
    }
}
