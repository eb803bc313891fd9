package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static GenerationParams params(double temperature, int topK, double topP, long seed) {
        return new GenerationParams(1, temperature, topK, topP, seed, Set.of());
    }

    private static float[] randomLogits(SplittableRandom r, int v) {
        float[] l = new float[v];
        for (int i = 0; i < v; i++) {
            l[i] = (float) (r.nextGaussian() * 3);
        }
        return l;
    }

    private static double[] softmax(float[] logits, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp((logits[i] - max) / t);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static int[] counts(Sampler s, float[] logits, int draws) {
        int[] c = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            c[s.next(logits)]++;
        }
        return c;
    }

    /**
     * Each count is Binomial(N, p): it must lie within 5 standard deviations of N p. An unbiased sampler misses that
     * with probability below 6e-7 per token (the seed is fixed, so the test is deterministic anyway); a sampler
     * that applied the temperature wrongly (T^2, 1/T, none) is off by dozens of deviations for these logits.
     */
    private static void assertFrequencies(double[] p, int[] counts, int draws, String what) {
        for (int i = 0; i < p.length; i++) {
            double sd = Math.sqrt(draws * p[i] * (1 - p[i]));
            assertTrue(Math.abs(counts[i] - draws * p[i]) <= 5 * sd + 1e-9,
                    what + ": token " + i + " drawn " + counts[i] + " times; expected " + draws * p[i] + " +- 5 * " + sd);
        }
    }

    @Test
    void topKOneIsArgmaxAtAnyTemperature() {
        SplittableRandom r = new SplittableRandom(1);
        for (int trial = 0; trial < 200; trial++) {
            float[] l = randomLogits(r, 50);
            Sampler s = new Sampler(params(0.5 + 3 * r.nextDouble(), 1, 1.0, trial), 50);
            assertEquals(Sampler.argmax(l), s.next(l), "trial " + trial);
        }
    }

    @Test
    void aTinyTopPIsArgmax() {
        SplittableRandom r = new SplittableRandom(2);
        for (int trial = 0; trial < 200; trial++) {
            float[] l = randomLogits(r, 50);
            Sampler s = new Sampler(params(2.0, 0, 1e-9, trial), 50);
            assertEquals(Sampler.argmax(l), s.next(l), "trial " + trial);
        }
    }

    @Test
    void greedyIsArgmaxWithTheLowestIdOnTies() {
        Sampler s = new Sampler(GenerationParams.greedy(1), 4);
        assertEquals(1, s.next(new float[] {0f, 3f, 3f, -1f}));
    }

    @Test
    void temperatureSamplingFollowsSoftmaxOfLogitsOverT() {
        float[] logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
        int draws = 200_000;
        for (double t : new double[] {0.7, 1.0, 2.0}) {
            int[] c = counts(new Sampler(params(t, 0, 1.0, 42), logits.length), logits, draws);
            assertFrequencies(softmax(logits, t), c, draws, "T=" + t);
        }
        // the bound is tight enough to tell temperatures apart: T = 0.7 samples are not T = 1 samples
        int[] c = counts(new Sampler(params(0.7, 0, 1.0, 42), logits.length), logits, draws);
        double[] wrong = softmax(logits, 1.0);
        assertTrue(Math.abs(c[0] - draws * wrong[0]) > 5 * Math.sqrt(draws * wrong[0] * (1 - wrong[0])));
    }

    @Test
    void topKAndTopPRenormaliseOverTheKeptTokens() {
        float[] logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
        int draws = 100_000;
        double[] p = softmax(logits, 1.0);
        // top-k 2: only tokens 0 and 1, in proportion p0 : p1
        int[] k2 = counts(new Sampler(params(1.0, 2, 1.0, 7), 5), logits, draws);
        assertEquals(draws, k2[0] + k2[1]);
        double p0 = p[0] / (p[0] + p[1]);
        assertFrequencies(new double[] {p0, 1 - p0}, new int[] {k2[0], k2[1]}, draws, "top-k 2");
        // top-p: the smallest prefix (by probability) whose mass reaches topP. p = .55 .20 .12 .07 .03 (rounded):
        // topP = 0.80 keeps tokens 0, 1, 2 (0.55 + 0.20 < 0.80 <= 0.87)
        assertTrue(p[0] + p[1] < 0.80 && p[0] + p[1] + p[2] >= 0.80, "test premise");
        int[] nucleus = counts(new Sampler(params(1.0, 0, 0.80, 9), 5), logits, draws);
        assertEquals(0, nucleus[3] + nucleus[4]);
        double kept = p[0] + p[1] + p[2];
        assertFrequencies(new double[] {p[0] / kept, p[1] / kept, p[2] / kept}, new int[] {nucleus[0], nucleus[1], nucleus[2]},
                draws, "top-p 0.8");
    }

    @Test
    void theSameSeedGivesTheSameDraws() {
        float[] logits = {1f, 1f, 1f, 1f};
        Sampler a = new Sampler(params(1.0, 0, 1.0, 5), 4);
        Sampler b = new Sampler(params(1.0, 0, 1.0, 5), 4);
        for (int i = 0; i < 100; i++) {
            assertEquals(a.next(logits), b.next(logits));
        }
    }

    @Test
    void logitBiasAndPenaltiesFollowOpenAisFormulaUnderGreedyDecoding() {
        // logits [3, 2.5, 0]: greedy picks 0. With frequency 0.4 and presence 0.2, after choosing 0 once its logit is
        // 3 - 0.4 - 0.2 = 2.4 < 2.5, so 1 comes next; then 1 is at 2.5 - 0.6 = 1.9 and 0 (2.4) wins again; 0 twice:
        // 3 - 0.8 - 0.2 = 2.0 > 1.9, so 0 again; then 0 at 3 - 1.2 - 0.2 = 1.6 < 1.9: 1.
        float[] logits = {3f, 2.5f, 0f};
        Sampler s = new Sampler(params(0, 0, 1, 0).withPenalties(0.4, 0.2), 3);
        int[] picks = new int[5];
        for (int i = 0; i < picks.length; i++) {
            picks[i] = s.next(logits);
        }
        assertArrayEquals(new int[] {0, 1, 0, 0, 1}, picks);
        assertArrayEquals(new float[] {3f, 2.5f, 0f}, logits, "the caller's logits are never written");

        // a bias of +3.5 on token 2 makes it the argmax (3.5 > 3); -100 on token 0 rules it out
        Sampler biased = new Sampler(params(0, 0, 1, 0).withLogitBias(java.util.Map.of(2, 3.5, 0, -100.0)), 3);
        assertEquals(2, biased.next(logits));
        Sampler banned = new Sampler(params(0, 0, 1, 0).withLogitBias(java.util.Map.of(0, -100.0)), 3);
        assertEquals(1, banned.next(logits));
    }

    @Test
    void aNegativePresencePenaltyRepeatsAndBiasWorksWhenSampling() {
        // temperature 1 with a +100 bias: token 1's probability is within e^-90 of 1, so every draw is 1
        Sampler s = new Sampler(params(1, 0, 1, 7).withLogitBias(java.util.Map.of(1, 100.0)), 3);
        for (int i = 0; i < 50; i++) {
            assertEquals(1, s.next(new float[] {3f, 2.5f, 0f}));
        }
        // greedy, presence -2: the first choice (0) is pushed further up, so it repeats even against a close rival
        Sampler sticky = new Sampler(params(0, 0, 1, 0).withPenalties(0, -2), 2);
        assertEquals(0, sticky.next(new float[] {1f, 0.9f}));
        assertEquals(0, sticky.next(new float[] {1f, 2.5f}), "1 + 2 = 3 > 2.5");
    }

    @Test
    void outOfRangePenaltiesAndBiasesAreRefusedByName() {
        var e = assertThrows(dev.engram.api.InvalidInputException.class, () -> params(0, 0, 1, 0).withPenalties(2.5, 0));
        assertTrue(e.getMessage().contains("frequencyPenalty"), e.getMessage());
        e = assertThrows(dev.engram.api.InvalidInputException.class, () -> params(0, 0, 1, 0).withPenalties(0, Double.NaN));
        assertTrue(e.getMessage().contains("presencePenalty"), e.getMessage());
        e = assertThrows(dev.engram.api.InvalidInputException.class,
                () -> params(0, 0, 1, 0).withLogitBias(java.util.Map.of(1, 101.0)));
        assertTrue(e.getMessage().contains("logitBias[1]"), e.getMessage());
        GenerationParams outside = params(0, 0, 1, 0).withLogitBias(java.util.Map.of(3, 1.0));
        e = assertThrows(dev.engram.api.InvalidInputException.class, () -> new Sampler(outside, 3));
        assertTrue(e.getMessage().contains("logitBias") && e.getMessage().contains("[0, 2]"), e.getMessage());
    }
}
