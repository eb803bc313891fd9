package dev.engram.memory.continuous;

import org.apache.commons.math3.special.Erf;

/**
 * Sticky memories (docs/schemes.md section 2): D equal bins on [0, 1] weighted by the previous read's
 * Gaussians, M bins drawn by inverse CDF, sample points at the bins' left edges, sorted ascending.
 */
final class StickySampler {
    /** Beyond this many standard deviations Phi is 0 or 1 to double precision (Phi(-9) = 1.1e-19). */
    private static final double TAIL = 9.0;
    private static final double SQRT_HALF = Math.sqrt(0.5);

    private StickySampler() {
    }

    static double phi(double z) {
        if (z < -TAIL) {
            return 0.0;
        }
        if (z > TAIL) {
            return 1.0;
        }
        return 0.5 * Erf.erfc(-z * SQRT_HALF);
    }

    /**
     * Bin probabilities (unnormalised) p_j = sum over the reads of Phi((edge_{j+1} - mu) / sigma) -
     * Phi((edge_j - mu) / sigma), edge_j = j / D. {@code sigma2} is the read's variance.
     *
     * @param phiScratch D + 1 doubles
     */
    static void binWeights(float[] mu, float[] sigma2, int count, int bins, double[] p, double[] phiScratch) {
        java.util.Arrays.fill(p, 0, bins, 0.0);
        for (int r = 0; r < count; r++) {
            double m = mu[r];
            double sigma = Math.sqrt(sigma2[r]);
            // Only edges within TAIL sigmas need erfc; the others are exactly 0 or 1 at double precision.
            int lo = Math.max(0, (int) Math.floor((m - TAIL * sigma) * bins));
            int hi = Math.min(bins, (int) Math.ceil((m + TAIL * sigma) * bins));
            for (int k = lo; k <= hi; k++) {
                phiScratch[k] = phi(((double) k / bins - m) / sigma);
            }
            for (int j = lo; j < hi; j++) {
                p[j] += phiScratch[j + 1] - phiScratch[j];
            }
        }
    }

    /**
     * Draws one bin per uniform by inverse CDF (the first j whose cumulative probability exceeds u) and
     * counts the draws per bin; the sorted sample points are then every bin's left edge j / D repeated
     * counts[j] times, in bin order.
     */
    static void drawCounts(double[] p, int bins, double[] uniforms, int samples, int[] counts, double[] cumulative) {
        double total = 0;
        for (int j = 0; j < bins; j++) {
            total += p[j];
        }
        double running = 0;
        for (int j = 0; j < bins; j++) {
            running += total > 0 ? p[j] : 1.0;
            cumulative[j] = running / (total > 0 ? total : bins);
        }
        java.util.Arrays.fill(counts, 0, bins, 0);
        for (int i = 0; i < samples; i++) {
            counts[firstExceeding(cumulative, bins, uniforms[i])]++;
        }
    }

    /** Smallest j with cumulative[j] > u; the last bin when rounding left the total just below u. */
    static int firstExceeding(double[] cumulative, int bins, double u) {
        int lo = 0;
        int hi = bins - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cumulative[mid] > u) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }
}
