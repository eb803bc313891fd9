package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.InvalidInputException;
import dev.engram.baselines.position.Alibi;
import dev.engram.baselines.position.Rope;
import dev.engram.baselines.position.RopeScaling;
import org.junit.jupiter.api.Test;

class PositionalEncodingTest {
    private static final float EPS = 1e-6f;

    @Test
    void ropeTurnsAPairByPositionTimesFrequency() {
        // dk = 2: one pair, frequency theta^0 = 1, so position 1 turns [1, 0] by 1 radian.
        Rope rope = new Rope(2, 10000.0);
        float[] x = {1f, 0f};
        float[] y = new float[2];
        rope.rotate(x, 0, y, 0, 1, 1);
        assertArrayEquals(new float[] {0.5403023f, 0.84147098f}, y, EPS);
        // Position 0 is the identity.
        rope.rotate(x, 0, y, 0, 0, 1);
        assertArrayEquals(new float[] {1f, 0f}, y, 0f);
    }

    /**
     * A table grown a position at a time (a segment in progress while decoding), past its first capacity, rotates
     * as one made at once, bit for bit; and each row still turns by position x frequency (checked on pair 0, whose
     * frequency is 1: cos and sin of the position itself).
     */
    @Test
    void aRopeTableGrownPositionByPositionEqualsOneMadeAtOnce() {
        int dim = 8;
        int count = 150;
        long start = 4096;
        float[] x = new float[count * dim];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(0.37 * i) + 0.5f;
        }
        Rope grown = new Rope(dim, 10000.0);
        float[] byStep = new float[x.length];
        for (int n = 1; n <= count; n++) {
            grown.prepare(start, n);
            grown.rotate(x, 0, byStep, 0, start, n);
        }
        float[] atOnce = new float[x.length];
        new Rope(dim, 10000.0).rotate(x, 0, atOnce, 0, start, count);
        assertArrayEquals(atOnce, byStep, 0f);
        for (int t = 0; t < count; t += 37) {
            double a = (double) (start + t);
            float x0 = x[t * dim];
            float x4 = x[t * dim + dim / 2];
            assertEquals(x0 * (float) Math.cos(a) - x4 * (float) Math.sin(a), byStep[t * dim], 1e-5, "row " + t);
        }
    }

    /**
     * The table's cos and sin come from the angle-addition identities (the class comment); checked against cos(p f)
     * and sin(p f) computed directly in double and rounded once: within one float32 unit of the value plus a few
     * units of the angle in double (the direct product p f is itself rounded to that, which near a zero of cos or
     * sin is more than a float32 unit of the value), at every pair and row, from position 0 to beyond 2^31; and a run
     * asked for again at another start (the next segment) gets that start's values, not the previous one's.
     */
    @Test
    void ropeTablesEqualTheDirectCosineAndSineToTheirRounding() {
        int dim = 64;
        int half = dim / 2;
        int count = 300;
        Rope rope = new Rope(dim, 10000.0);
        float[] x = new float[count * dim];
        for (int t = 0; t < count; t++) {
            java.util.Arrays.fill(x, t * dim, t * dim + half, 1f);
        }
        float[] y = new float[x.length];
        for (long start : new long[] {0, 256, 4096, 1_000_003, (1L << 31) + 17}) {
            rope.rotate(x, 0, y, 0, start, count);
            for (int t = 0; t < count; t++) {
                for (int i = 0; i < half; i++) {
                    double angle = (double) (start + t) * rope.frequency(i);
                    float cos = (float) Math.cos(angle);
                    float sin = (float) Math.sin(angle);
                    String where = "start " + start + ", row " + t + ", pair " + i;
                    double angleError = 4 * Math.ulp(angle);
                    assertEquals(cos, y[t * dim + i], Math.ulp(cos) + angleError, "cos at " + where);
                    assertEquals(sin, y[t * dim + i + half], Math.ulp(sin) + angleError, "sin at " + where);
                }
            }
        }
    }

    @Test
    void rotatingRowsFromAnOffsetLeavesTheEarlierRowsAndMatchesTheWholeRotation() {
        int dim = 8;
        int count = 40;
        long start = 777;
        float[] x = new float[count * dim];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.cos(0.11 * i) - 0.25f;
        }
        float[] whole = new float[x.length];
        new Rope(dim, 10000.0).rotate(x, 0, whole, 0, start, count);
        float[] part = new float[x.length];
        java.util.Arrays.fill(part, 9f);
        new Rope(dim, 10000.0).rotate(x, 0, part, 0, start, 31, count);
        for (int i = 0; i < x.length; i++) {
            assertEquals(i < 31 * dim ? 9f : whole[i], part[i], 0f, "value " + i);
        }
    }

    @Test
    void ropePairsDimensionIWithIPlusHalfNotWithItsNeighbour() {
        // dk = 4, theta = 4: pair (0, 2) has frequency 4^0 = 1, pair (1, 3) has 4^(-2/4) = 0.5.
        Rope rope = new Rope(4, 4.0);
        assertEquals(1.0, rope.frequency(0), 0);
        assertEquals(0.5, rope.frequency(1), 1e-15);
        float[] x = {1f, 0f, 0f, 0f};
        float[] y = new float[4];
        rope.rotate(x, 0, y, 0, 1, 1);
        // rotate-half: x[0] moves into x[2]; an interleaved implementation would move it into x[1].
        assertArrayEquals(new float[] {(float) Math.cos(1), 0f, (float) Math.sin(1), 0f}, y, EPS);
        float[] x1 = {0f, 1f, 0f, 0f};
        rope.rotate(x1, 0, y, 0, 2, 1);
        // pair (1, 3) at position 2 turns by 2 * 0.5 = 1 radian.
        assertArrayEquals(new float[] {0f, (float) Math.cos(1), 0f, (float) Math.sin(1)}, y, EPS);
    }

    @Test
    void ropeDotProductsDependOnlyOnTheDistance() {
        Rope rope = new Rope(8, 10000.0);
        float[] a = {0.3f, -1.2f, 0.7f, 0.1f, 2f, -0.4f, 0.5f, 1.1f};
        float[] b = {-0.6f, 0.2f, 1.4f, -0.9f, 0.3f, 0.8f, -1.5f, 0.25f};
        double near = dot(rotated(rope, a, 5), rotated(rope, b, 2));
        double far = dot(rotated(rope, a, 1005), rotated(rope, b, 1002));
        assertEquals(near, far, 1e-4);
    }

    @Test
    void ropeRejectsAnOddWidthAndABadTheta() {
        InvalidInputException odd = assertThrows(InvalidInputException.class, () -> new Rope(3, 10000.0));
        assertTrue(odd.getMessage().contains("keyDim") && odd.getMessage().contains("even"), odd.getMessage());
        InvalidInputException theta = assertThrows(InvalidInputException.class, () -> new Rope(4, 0.0));
        assertTrue(theta.getMessage().contains("ropeTheta") && theta.getMessage().contains("> 0"), theta.getMessage());
    }

    @Test
    void alibiSlopesAreTwoToTheMinusEightHPlusOneOverH() {
        float[] eight = Alibi.slopes(8);
        for (int h = 0; h < 8; h++) {
            assertEquals(1.0 / (1 << (h + 1)), eight[h], 0, "H = 8 gives 1/2, 1/4, ..., 1/256");
        }
        assertArrayEquals(new float[] {1f / 16, 1f / 256}, Alibi.slopes(2), 0f);
        assertEquals(Math.pow(2, -8.0 / 3), Alibi.slope(0, 3), 1e-15);
    }

    /**
     * Llama 3.1's "llama3" scaling by hand. dim 6, theta 1e6: frequencies 1, 0.01, 1e-4, wavelengths 2 pi = 6.28,
     * 628.3 and 62832. originalMaxPositions 1000, lowFreqFactor 1, highFreqFactor 4, factor 8: lowWavelength
     * 1000, highWavelength 250. Pair 0 (6.28 < 250) is kept: 1. Pair 2 (62832 > 1000) is divided: 1e-4 / 8 =
     * 1.25e-5. Pair 1 is in between: s = (1000 / 628.3185 - 1) / (4 - 1) = 0.1971831, frequency =
     * (1 - s) 0.01 / 8 + s 0.01 = 0.0029753524.
     */
    @Test
    void llama3ScalingKeepsHighFrequenciesDividesLowOnesAndBlendsBetween() {
        Rope rope = new Rope(6, 1e6, RopeScaling.llama3(8, 1, 4, 1000));
        assertEquals(1.0, rope.frequency(0), 1e-12);
        assertEquals(0.0029753524, rope.frequency(1), 1e-9);
        assertEquals(1.25e-5, rope.frequency(2), 1e-15);
        Rope plain = new Rope(6, 1e6, RopeScaling.NONE);
        assertEquals(0.01, plain.frequency(1), 1e-15);
        // The rotation uses the scaled frequency: pair 1 of position 100 turns by 100 * 0.0029753524 radians.
        float[] x = {0f, 1f, 0f, 0f, 0f, 0f};
        float[] y = rotated(rope, x, 100);
        assertEquals(Math.cos(0.29753524), y[1], 1e-6);
        assertEquals(Math.sin(0.29753524), y[4], 1e-6);
        InvalidInputException bad = assertThrows(InvalidInputException.class, () -> RopeScaling.llama3(8, 4, 4, 1000));
        assertTrue(bad.getMessage().contains("ropeHighFreqFactor"), bad.getMessage());
    }

    private static float[] rotated(Rope rope, float[] x, long position) {
        float[] y = new float[x.length];
        rope.rotate(x, 0, y, 0, position, 1);
        return y;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }
}
