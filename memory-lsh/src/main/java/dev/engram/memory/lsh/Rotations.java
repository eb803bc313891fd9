package dev.engram.memory.lsh;

import dev.engram.api.Tensor;
import org.apache.commons.math3.random.Well19937c;

/**
 * Random rotations for angular LSH (Reformer, arXiv 2001.04451 section 3) and the hash they define.
 *
 * <p>Layout [heads, dk, rounds, buckets/2], row-major. Generated rotations are the first
 * heads*dk*rounds*(buckets/2) values of {@code (float) new Well19937c(seed).nextGaussian()} in row-major
 * order. Commons Math specifies both the Well19937c stream and its Gaussian transform (Marsaglia's polar
 * method), so a seed gives the same rotations on every machine and every JVM.
 */
public final class Rotations {
    private final float[] r;
    private final int heads;
    private final int dk;
    private final int rounds;
    private final int half;

    private Rotations(float[] r, int heads, int dk, int rounds, int half) {
        this.r = r;
        this.heads = heads;
        this.dk = dk;
        this.rounds = rounds;
        this.half = half;
    }

    /** Standard normal rotations from {@code seed}. */
    public static Rotations generate(long seed, int heads, int dk, int rounds, int buckets) {
        int half = buckets / 2;
        float[] r = new float[heads * dk * rounds * half];
        Well19937c rng = new Well19937c(seed);
        for (int i = 0; i < r.length; i++) {
            r[i] = (float) rng.nextGaussian();
        }
        return new Rotations(r, heads, dk, rounds, half);
    }

    /** Rotations given as a weight of shape [heads, dk, rounds, buckets/2] (already validated). */
    public static Rotations of(Tensor weight) {
        return new Rotations(weight.toArray(), weight.dim(0), weight.dim(1), weight.dim(2), weight.dim(3));
    }

    public int buckets() {
        return 2 * half;
    }

    public int rounds() {
        return rounds;
    }

    /**
     * bucket(x) = argmax(concat(x R, -x R)) for head {@code head} and round {@code round}; the first maximum
     * wins, so a zero vector hashes to bucket 0. The projection is accumulated in double, in index order.
     *
     * @param proj scratch of at least buckets/2 doubles
     */
    public int bucket(float[] x, int xOffset, int head, int round, double[] proj) {
        java.util.Arrays.fill(proj, 0, half, 0.0);
        int base = (head * dk * rounds + round) * half;
        int stride = rounds * half;
        for (int d = 0; d < dk; d++) {
            double xd = x[xOffset + d];
            int o = base + d * stride;
            for (int j = 0; j < half; j++) {
                proj[j] += xd * r[o + j];
            }
        }
        int best = 0;
        double bestValue = proj[0];
        for (int j = 1; j < half; j++) {
            if (proj[j] > bestValue) {
                bestValue = proj[j];
                best = j;
            }
        }
        for (int j = 0; j < half; j++) {
            if (-proj[j] > bestValue) {
                bestValue = -proj[j];
                best = half + j;
            }
        }
        return best;
    }

    int heads() {
        return heads;
    }
}
